//! S3 on the shared port: requests whose SigV4 scope names the `s3` service go to the object
//! store's protocol service (which verifies their signatures itself, streaming payloads
//! included). Object events go the other way: [`Notifier`] queues them as asynchronous
//! invocations.

use std::sync::{OnceLock, Weak};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use stratus_core::names::FunctionRef;
use stratus_core::Error;

use crate::{dispatcher, AppState, Shared};

/// Sends S3-signed requests to the object store; everything else continues.
pub async fn dispatch(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let is_s3 = crate::auth::scope(&parts).is_some_and(|(service, _)| service == "s3");
    if !is_s3 {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase();
    let mut req = http::Request::from_parts(parts, s3s::Body::http_body_unsync(body));
    req.extensions_mut()
        .insert(stratus_s3::RequestId(id.clone()));
    let mut resp = match s.s3.call(req).await {
        Ok(resp) => resp.map(axum::body::Body::new),
        Err(e) => {
            tracing::error!(error = ?e, "S3 request failed");
            crate::wire::ApiError(Error::service()).into_response()
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(&id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amzn-RequestId", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&format!("{id}/stratus")) {
        h.insert("x-amz-id-2", v);
    }
    resp
}

/// Object events → the async invocation queue.
#[derive(Default)]
pub struct Notifier {
    state: OnceLock<Weak<AppState>>,
}

impl Notifier {
    pub fn connect(&self, state: &Shared) {
        let _ = self.state.set(std::sync::Arc::downgrade(state));
    }

    fn state(&self) -> Option<Shared> {
        self.state.get()?.upgrade()
    }
}

impl stratus_s3::notify::EventSink for Notifier {
    fn function_exists(&self, arn: &str) -> bool {
        let (Some(s), Ok(r)) = (self.state(), FunctionRef::parse(arn)) else {
            return false;
        };
        s.meta
            .tx(|tx| {
                crate::lambda::load(tx, "us-east-1", &r.name, r.qualifier.as_deref()).map(|_| true)
            })
            .unwrap_or(false)
    }

    fn deliver(&self, arn: &str, payload: Vec<u8>, region: &str) {
        let (Some(s), Ok(r)) = (self.state(), FunctionRef::parse(arn)) else {
            return;
        };
        let id = uuid::Uuid::new_v4().to_string();
        if let Err(e) = dispatcher::enqueue(
            &s,
            &r.name,
            r.qualifier.as_deref(),
            &payload,
            "s3",
            region,
            &id,
        ) {
            tracing::error!(%e, function = %r.name, "could not queue an object event");
        }
    }
}
