//! Invoke.

use crate::wire::ApiError;

pub async fn invoke() -> ApiError {
    ApiError(stratus_core::Error::service())
}
