//! Bucket configurations Stratus does not keep (website, public access block, ownership
//! controls, object lock, replication): reading one answers the error S3 gives a bucket
//! without it, which infrastructure tools read as "none".

use s3s::{S3Error, S3ErrorCode};

/// S3's "this bucket has no such configuration" error: `code`, `message`, 404.
pub fn not_configured(code: &'static str, message: &'static str) -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::from_bytes(code.as_bytes())
            .unwrap_or_else(|| S3ErrorCode::Custom(code.into())),
        message,
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_keep_their_names_and_answer_404() {
        for code in [
            "NoSuchCORSConfiguration",
            "ServerSideEncryptionConfigurationNotFoundError",
            "NoSuchPublicAccessBlockConfiguration",
        ] {
            let e = super::not_configured(code, "m");
            assert_eq!(e.code().as_str(), code);
            assert_eq!(e.status_code(), Some(http::StatusCode::NOT_FOUND));
        }
    }
}
