//! PutFunctionConcurrency, GetFunctionConcurrency, DeleteFunctionConcurrency.

use axum::extract::{Extension, Path, State};
use serde::Deserialize;
use serde_json::json;
use stratus_core::names::FunctionRef;
use stratus_core::{limits, Error, Result};

use super::function_not_found;
use crate::auth::Caller;
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{RawBody, Shared};

const UNQUALIFIED_ONLY: &str = "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.";

/// The unqualified function a path names (aliases and versions are refused).
pub(super) fn function(c: &Caller, f: &str) -> Result<String> {
    let r = FunctionRef::parse(f)?.resolve(&c.region, None)?;
    r.unqualified(UNQUALIFIED_ONLY)?;
    Ok(r.name)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    reserved_concurrent_executions: Option<i64>,
}

pub async fn put_function_concurrency(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: PutInput = parse(&body.0)?;
    let name = function(&c, &f)?;
    let n = input
        .reserved_concurrent_executions
        .ok_or_else(|| Error::invalid("ReservedConcurrentExecutions is required"))?;
    if n < 0 {
        return Err(Error::constraint(
            n,
            "reservedConcurrentExecutions",
            "Member must have value greater than or equal to 0",
        )
        .into());
    }
    let account = u64::from(s.config.account_concurrency);
    s.stores.meta.tx(|tx| {
        let mut row = tx.function(&name)?.ok_or_else(|| function_not_found(&c.region, &name, Some("$LATEST")))?;
        let others = tx.total_reserved(&name)?;
        if others + n as u64 + u64::from(limits::MIN_UNRESERVED) > account {
            return Err(Error::invalid(format!(
                "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{}].",
                limits::MIN_UNRESERVED
            )));
        }
        row.reserved_concurrency = Some(n as u32);
        tx.put_function(&row)
    })?;
    s.invoker.engine().set_reserved(&name, Some(n as u32));
    Ok(json(200, json!({ "ReservedConcurrentExecutions": n })))
}

pub async fn get_function_concurrency(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
) -> ApiResult {
    let name = function(&c, &f)?;
    let row = s.stores.meta.tx(|tx| {
        tx.function(&name)?
            .ok_or_else(|| function_not_found(&c.region, &name, None))
    })?;
    Ok(json(
        200,
        match row.reserved_concurrency {
            Some(n) => json!({ "ReservedConcurrentExecutions": n }),
            None => json!({}),
        },
    ))
}

pub async fn delete_function_concurrency(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
) -> ApiResult {
    let name = function(&c, &f)?;
    s.stores.meta.tx(|tx| {
        let mut row = tx
            .function(&name)?
            .ok_or_else(|| function_not_found(&c.region, &name, None))?;
        row.reserved_concurrency = None;
        tx.put_function(&row)
    })?;
    s.invoker.engine().set_reserved(&name, None);
    Ok(no_content())
}
