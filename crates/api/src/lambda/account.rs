//! GetAccountSettings.

use axum::extract::{Extension, State};
use serde_json::json;
use stratus_core::limits;

use crate::auth::Caller;
use crate::wire::{json, ApiResult};
use crate::Shared;

pub async fn get_account_settings(
    State(s): State<Shared>,
    Extension(_c): Extension<Caller>,
) -> ApiResult {
    let ((count, code_size), reserved) = s
        .stores
        .meta
        .tx(|tx| Ok((tx.function_count()?, tx.total_reserved("")?)))?;
    let total = u64::from(s.config.account_concurrency);
    Ok(json(
        200,
        json!({
            "AccountLimit": {
                "TotalCodeSize": 80_530_636_800u64,
                "CodeSizeUnzipped": limits::MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": limits::MAX_ZIPPED_BYTES,
                "ConcurrentExecutions": total,
                "UnreservedConcurrentExecutions": total.saturating_sub(reserved),
            },
            "AccountUsage": { "TotalCodeSize": code_size, "FunctionCount": count },
        }),
    ))
}
