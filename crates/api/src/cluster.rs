//! The internal endpoint other nodes of a cluster forward invocations to
//! (`POST /_stratus/cluster/invoke`). A request must carry a valid HMAC of the cluster secret
//! (see `stratus_cluster::channel`); anything else is refused with `403` before its body is
//! parsed, and never reaches the engine. A node outside a cluster refuses every request.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use stratus_cluster::Forward;

use crate::Shared;

/// The largest forwarded invocation: the 6 MB payload as base64, and its envelope.
const MAX_FORWARD: usize = 9 * 1024 * 1024;

/// Runs an invocation another node placed here, and answers how it went.
pub async fn invoke(State(s): State<Shared>, req: Request) -> Response {
    let Some(cluster) = s.invoker.cluster() else {
        return refusal(StatusCode::FORBIDDEN, "this node is not part of a cluster");
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = crate::read_body(body, MAX_FORWARD, crate::BODY_IDLE_TIMEOUT).await else {
        return refusal(StatusCode::BAD_REQUEST, "unreadable request body");
    };
    if let Err(e) = cluster.verify(&parts.method, parts.uri.path(), &parts.headers, &bytes) {
        tracing::warn!(error = %e, "refused a request on the cluster endpoint");
        return refusal(StatusCode::FORBIDDEN, &e.to_string());
    }
    let forward: Forward = match serde_json::from_slice(&bytes) {
        Ok(f) => f,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, &format!("malformed forward: {e}")),
    };
    Json(s.invoker.run_forwarded(forward).await).into_response()
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "message": message }))).into_response()
}
