//! GetFunctionCodeSigningConfig. Stratus has no code-signing configurations, so every
//! function answers as an AWS function without one: an empty object. Terraform's provider
//! reads it on every refresh of `aws_lambda_function`, so it must not be an unknown operation.

use axum::extract::{Extension, Path, State};
use serde_json::json;
use stratus_core::names::FunctionRef;

use super::function_not_found;
use crate::auth::Caller;
use crate::wire::{json, ApiResult};
use crate::Shared;

pub async fn get_function_code_signing_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
) -> ApiResult {
    let name = FunctionRef::parse(&f)?.resolve(&c.region, None)?.name;
    s.stores.meta.tx(|tx| {
        tx.function(&name)?
            .ok_or_else(|| function_not_found(&c.region, &name, None))
    })?;
    Ok(json(200, json!({})))
}
