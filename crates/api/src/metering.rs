//! The two unsigned read-outs of metering: the usage report (`GET /_stratus/usage`) and
//! Prometheus metrics (`GET /metrics`). Invocations are metered by the invoker
//! (`stratus_invoke`), through which every trigger runs them.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use stratus_metering::{metrics, Gauges};

use crate::Shared;

/// Whether a request was made by a function: functions in their own network namespaces reach
/// the platform through the engine's endpoint proxy, which connects from
/// [`stratus_engine::FUNCTION_PEER`].
pub fn from_function(peer: Option<&ConnectInfo<SocketAddr>>) -> bool {
    peer.is_some_and(|c| c.0.ip() == IpAddr::V4(stratus_engine::FUNCTION_PEER))
}

/// The usage API's error body.
fn error(status: u16, code: &'static str, message: &str) -> Response {
    let mut resp = crate::wire::json(status, json!({ "__type": code, "message": message }));
    resp.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    resp
}

/// `GET /_stratus/usage?from=&to=&group_by=`: invocations, errors, throttles, GB-seconds and
/// cost over a window (unsigned, like `/health`).
pub async fn usage(
    State(s): State<Shared>,
    params: std::result::Result<
        Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Response {
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => return error(400, "ValidationException", &e.body_text()),
    };
    let q = stratus_metering::Query::from_params(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        stratus_metering::now_ms(),
    );
    let q = match q {
        Ok(q) => q,
        Err(msg) => return error(400, "ValidationException", &msg),
    };
    match s.invoker.meter().usage(q).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => {
            tracing::error!(%e, "reading usage");
            error(500, "ServiceException", "An internal error occurred.")
        }
    }
}

/// `GET /metrics`: the Prometheus text exposition (unsigned).
pub async fn prometheus(State(s): State<Shared>) -> Response {
    let environments = s
        .invoker
        .engine()
        .environments()
        .into_iter()
        .map(|e| stratus_metering::EnvironmentGauge {
            function: e.function,
            version: e.version,
            idle: e.idle,
            busy: e.busy,
        })
        .collect();
    let (depth, oldest) = s.invoker.queue_stats().unwrap_or_else(|e| {
        tracing::error!(%e, "reading the async queue for metrics");
        (0, None)
    });
    let now = stratus_metering::now_ms();
    let gauges = Gauges {
        environments,
        async_queue_depth: depth,
        async_oldest_event_age_seconds: oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0),
        dropped_records: 0,
        node: s.invoker.cluster().map(|c| c.node_id().to_string()),
    };
    let body = s.invoker.meter().render_metrics(gauges);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}
