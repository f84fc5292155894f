//! Expiring, HMAC-signed links to a stored code package: what GetFunction returns as
//! `Code.Location`, downloadable with no AWS credentials, as AWS's presigned S3 URLs are.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use stratus_core::{Error, Kind};

use crate::wire::{ApiError, ApiResult};
use crate::Shared;

/// How long a link stays valid (AWS: 10 minutes).
const VALID_SECS: u64 = 600;

fn sign(key: &[u8], hex: &str, expires: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{hex}:{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A link to the package `hex`, on the host the caller used to reach us.
pub fn link(key: &[u8], host: &str, hex: &str) -> String {
    let expires = now() + VALID_SECS;
    format!(
        "http://{host}/_stratus/code/{hex}.zip?expires={expires}&signature={}",
        sign(key, hex, expires)
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[derive(Deserialize)]
pub struct LinkQuery {
    expires: u64,
    signature: String,
}

pub async fn download(
    State(state): State<Shared>,
    Path(file): Path<String>,
    Query(q): Query<LinkQuery>,
) -> ApiResult {
    let denied = || {
        ApiError(Error::new(
            "AccessDenied",
            Kind::AccessDenied,
            "Request has expired or its signature is invalid",
        ))
    };
    let hex = file.strip_suffix(".zip").ok_or_else(denied)?;
    if q.expires < now() || sign(&state.config.url_key, hex, q.expires) != q.signature {
        return Err(denied());
    }
    let bytes = state.stores.code.read_zip(hex).await?;
    Ok(([(header::CONTENT_TYPE, "application/zip")], bytes).into_response())
}
