//! Metering on the invoke path, and the two unsigned read-outs of it: the usage report
//! (`GET /_stratus/usage`) and Prometheus metrics (`GET /metrics`). Every trigger runs its
//! invocations through [`run`], which records one metering record per invocation (throttles
//! included) and hands it to the batching writer without waiting.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use stratus_core::names::Qualifier;
use stratus_core::Result;
use stratus_engine::{InvokeOutcome, InvokeRequest, Status};
use stratus_metering::{metrics, Gauges, Outcome, Record, Trigger};

use crate::Shared;

/// Whether a request was made by a function: functions in their own network namespaces reach
/// the platform through the engine's endpoint proxy, which connects from
/// [`stratus_engine::FUNCTION_PEER`].
pub fn from_function(peer: Option<&ConnectInfo<SocketAddr>>) -> bool {
    peer.is_some_and(|c| c.0.ip() == IpAddr::V4(stratus_engine::FUNCTION_PEER))
}

fn outcome(status: Status) -> Outcome {
    match status {
        Status::Success => Outcome::Success,
        Status::FunctionError => Outcome::FunctionError,
        Status::Timeout => Outcome::Timeout,
        Status::Crashed => Outcome::Crashed,
    }
}

/// Runs one invocation through the engine and meters it. `qualifier` is what the caller named
/// (an alias is recorded as such; the version is the one that ran).
pub async fn run(
    s: &Shared,
    req: InvokeRequest,
    trigger: Trigger,
    qualifier: Option<&str>,
) -> Result<InvokeOutcome> {
    let start_ms = stratus_metering::now_ms();
    let alias = match Qualifier::parse(qualifier) {
        Qualifier::Alias(a) => Some(a),
        _ => None,
    };
    let mut record = Record {
        request_id: req.request_id.clone(),
        function: req.config.name.clone(),
        version: req.config.version.clone(),
        alias,
        trigger,
        start_ms,
        duration_ms: 0.0,
        billed_ms: 0,
        init_duration_ms: None,
        memory_mb: req.config.memory_size,
        max_memory_mb: 0,
        architecture: req
            .config
            .architectures
            .first()
            .cloned()
            .unwrap_or_else(|| "x86_64".into()),
        outcome: Outcome::Throttled,
        cold: false,
    };
    let result = s.engine.invoke(req).await;
    match &result {
        Ok(out) => {
            let ms = out.duration.as_secs_f64() * 1000.0;
            record.version.clone_from(&out.executed_version);
            record.duration_ms = ms;
            record.billed_ms = stratus_metering::billed_ms(out.duration);
            record.init_duration_ms = out.init_duration.map(|d| d.as_secs_f64() * 1000.0);
            record.max_memory_mb = out.max_memory_mb;
            record.outcome = outcome(out.status);
            record.cold = out.cold;
            s.meter.record(record);
        }
        // Throttled: recorded, not charged. Platform faults ran nothing and are not metered.
        Err(e) if e.code == "TooManyRequestsException" => s.meter.record(record),
        Err(_) => {}
    }
    result
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
    match s.meter.usage(q).await {
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
        .engine
        .environments()
        .into_iter()
        .map(|e| stratus_metering::EnvironmentGauge {
            function: e.function,
            version: e.version,
            idle: e.idle,
            busy: e.busy,
        })
        .collect();
    let (depth, oldest) = s.meta.tx(|tx| tx.queue_stats()).unwrap_or_else(|e| {
        tracing::error!(%e, "reading the async queue for metrics");
        (0, None)
    });
    let now = stratus_metering::now_ms();
    let gauges = Gauges {
        environments,
        async_queue_depth: depth,
        async_oldest_event_age_seconds: oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0),
        dropped_records: 0,
    };
    let body = s.meter.render_metrics(gauges);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}
