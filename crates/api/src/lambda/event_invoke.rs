//! Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s): how asynchronous invocations of a
//! function, version or alias are retried and where their results go.

use axum::extract::{Extension, Path, Query, State};
use serde_json::{json, Value};
use stratus_core::arn::function_arn;
use stratus_core::names::FunctionRef;
use stratus_core::{limits, Error, Result};
use stratus_store::meta::Tx;

use super::{function_not_found, function_ref, load, marker, QueryMap};
use crate::auth::Caller;
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{RawBody, Shared};

pub use stratus_invoke::settings::{EventInvokeConfig, KIND};

fn validate(tx: &Tx, region: &str, name: &str, cfg: &EventInvokeConfig) -> Result<()> {
    if let Some(n) = cfg.maximum_retry_attempts {
        super::check_range(n, "maximumRetryAttempts", 0, 2)?;
    }
    if let Some(n) = cfg.maximum_event_age_in_seconds {
        super::check_range(n, "maximumEventAgeInSeconds", 60, 21600)?;
    }
    let destinations = ["OnSuccess", "OnFailure"].iter().filter_map(|k| {
        cfg.destination_config
            .as_ref()?
            .get(k)?
            .get("Destination")?
            .as_str()
    });
    for d in destinations {
        if let Ok(r) = FunctionRef::parse(d) {
            if d.contains(":function:") {
                if r.name == name {
                    return Err(Error::invalid(
                        "You can't specify the function as a destination for itself.",
                    ));
                }
                if tx.function(&r.name)?.is_none() {
                    return Err(Error::invalid(format!(
                        "The destination ARN {d} is invalid."
                    )));
                }
            }
        }
        if !d.starts_with("arn:") {
            return Err(Error::invalid(format!(
                "The destination ARN {d} is invalid."
            )));
        }
    }
    let _ = region;
    Ok(())
}

fn render(cfg: &EventInvokeConfig, region: &str, name: &str, qualifier: &str) -> Value {
    let mut v = serde_json::to_value(cfg).unwrap_or_default();
    v["FunctionArn"] = json!(function_arn(region, name, Some(qualifier)));
    if v.get("DestinationConfig").is_none() {
        v["DestinationConfig"] = json!({ "OnSuccess": {}, "OnFailure": {} });
    }
    v
}

/// Now in epoch seconds, to the millisecond: a stored value read back may differ from the one
/// written in its last bit, which must not show at the precision clients parse (microseconds).
fn now_secs() -> f64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    ms as f64 / 1000.0
}

/// Writes a config: `merge` keeps unspecified settings (Update), otherwise they are removed (Put).
fn write(s: &Shared, c: &Caller, f: &str, q: &QueryMap, body: &[u8], merge: bool) -> ApiResult {
    let input: EventInvokeConfig = parse(body)?;
    let nothing = input.maximum_retry_attempts.is_none()
        && input.maximum_event_age_in_seconds.is_none()
        && input.destination_config.is_none();
    if nothing {
        return Err(Error::invalid(
            "You must specify at least one of error handling or destination setting.",
        )
        .into());
    }
    let r = function_ref(c, f, q)?;
    let qualifier = r.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
    let cfg = s.stores.meta.tx(|tx| {
        tx.function(&r.name)?
            .ok_or_else(|| function_not_found(&c.region, &r.name, None))?;
        load(tx, &c.region, &r.name, Some(&qualifier))?;
        let mut cfg = if merge {
            tx.document(&r.name, KIND, &qualifier)?.unwrap_or_default()
        } else {
            EventInvokeConfig::default()
        };
        if input.maximum_retry_attempts.is_some() || !merge {
            cfg.maximum_retry_attempts = input.maximum_retry_attempts;
        }
        if input.maximum_event_age_in_seconds.is_some() || !merge {
            cfg.maximum_event_age_in_seconds = input.maximum_event_age_in_seconds;
        }
        if input.destination_config.is_some() || !merge {
            cfg.destination_config = input.destination_config.clone();
        }
        validate(tx, &c.region, &r.name, &cfg)?;
        cfg.last_modified = now_secs();
        tx.put_document(&r.name, KIND, &qualifier, &cfg)?;
        Ok(cfg)
    })?;
    Ok(json(200, render(&cfg, &c.region, &r.name, &qualifier)))
}

pub async fn put_function_event_invoke_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    write(&s, &c, &f, &q, &body.0, false)
}

pub async fn update_function_event_invoke_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    write(&s, &c, &f, &q, &body.0, true)
}

pub async fn get_function_event_invoke_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let qualifier = r.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
    let cfg: EventInvokeConfig = s.stores.meta.tx(|tx| {
        tx.function(&r.name)?
            .ok_or_else(|| function_not_found(&c.region, &r.name, None))?;
        tx.document(&r.name, KIND, &qualifier)?.ok_or_else(|| {
            Error::not_found(format!(
                "The function {} doesn't have an EventInvokeConfig",
                function_arn(&c.region, &r.name, Some(&qualifier))
            ))
        })
    })?;
    Ok(json(200, render(&cfg, &c.region, &r.name, &qualifier)))
}

pub async fn delete_function_event_invoke_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let qualifier = r.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
    s.stores.meta.tx(|tx| {
        tx.function(&r.name)?
            .ok_or_else(|| function_not_found(&c.region, &r.name, None))?;
        if tx
            .document::<EventInvokeConfig>(&r.name, KIND, &qualifier)?
            .is_none()
        {
            return Err(Error::not_found(format!(
                "The function {} doesn't have an EventInvokeConfig",
                function_arn(&c.region, &r.name, Some(&qualifier))
            )));
        }
        tx.delete_document(&r.name, KIND, &qualifier)
    })?;
    Ok(no_content())
}

pub async fn list_function_event_invoke_configs(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = FunctionRef::parse(&f)?.resolve(&c.region, None)?;
    let limit = super::page_size_within(&q, 50, limits::MAX_PAGE)?;
    let after = marker::decode(q.get("Marker"))?;
    let all: Vec<(String, EventInvokeConfig)> = s.stores.meta.tx(|tx| {
        tx.function(&r.name)?
            .ok_or_else(|| function_not_found(&c.region, &r.name, None))?;
        tx.documents(&r.name, KIND)
    })?;
    let rest: Vec<&(String, EventInvokeConfig)> = all
        .iter()
        .filter(|(q, _)| after.is_empty() || q.as_str() > after.as_str())
        .collect();
    let page: Vec<Value> = rest
        .iter()
        .take(limit)
        .map(|(q, cfg)| render(cfg, &c.region, &r.name, q))
        .collect();
    let mut out = json!({ "FunctionEventInvokeConfigs": page });
    if rest.len() > limit {
        out["NextMarker"] = json!(marker::encode(&rest[limit - 1].0));
    }
    Ok(json(200, out))
}
