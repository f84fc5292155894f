//! Bucket configurations Stratus does not keep (website, public access block, ownership
//! controls, object lock, replication): reading one answers the error S3 gives a bucket
//! without it, which infrastructure tools read as "none".
//!
//! Four more have a fixed state on every Stratus bucket: no transfer acceleration, the owner
//! pays, no server access logging, and the owner's FULL_CONTROL as the only grant. Writing
//! one of them succeeds when it restates that state (what Terraform and CloudFormation write
//! for a bucket declared without them) and is refused with `NotImplemented` otherwise, so a
//! setting is never accepted and then silently not honoured.

use s3s::dto::{
    AccelerateConfiguration, BucketAccelerateStatus, BucketCannedACL, BucketLoggingStatus, Payer,
    Permission, PutBucketAclInput,
};
use s3s::{S3Error, S3ErrorCode, S3Result};

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

/// `NotImplemented` (501) naming the setting Stratus does not offer.
fn unsupported(what: &str) -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::NotImplemented,
        format!("{what} is not supported by this server"),
    );
    e.set_status_code(http::StatusCode::NOT_IMPLEMENTED);
    e
}

/// PutBucketAccelerateConfiguration: `Suspended` (or no status) is the only state.
pub fn check_accelerate(c: &AccelerateConfiguration) -> S3Result<()> {
    match &c.status {
        Some(s) if s.as_str() != BucketAccelerateStatus::SUSPENDED => {
            Err(unsupported("Transfer acceleration"))
        }
        _ => Ok(()),
    }
}

/// PutBucketRequestPayment: the bucket owner pays.
pub fn check_request_payment(payer: &Payer) -> S3Result<()> {
    if payer.as_str() == Payer::BUCKET_OWNER {
        Ok(())
    } else {
        Err(unsupported("Requester Pays"))
    }
}

/// PutBucketLogging: an empty `BucketLoggingStatus` (logging off) is the only state.
pub fn check_logging(status: &BucketLoggingStatus) -> S3Result<()> {
    match status.logging_enabled {
        None => Ok(()),
        Some(_) => Err(unsupported("Server access logging")),
    }
}

/// PutBucketAcl: the canned ACL `private`, or a policy whose grants are the owner's
/// FULL_CONTROL alone, with no grant headers.
pub fn check_acl(input: &PutBucketAclInput, owner_id: &str) -> S3Result<()> {
    let headers = [
        &input.grant_full_control,
        &input.grant_read,
        &input.grant_read_acp,
        &input.grant_write,
        &input.grant_write_acp,
    ];
    let canned_ok = input
        .acl
        .as_ref()
        .is_none_or(|a| a.as_str() == BucketCannedACL::PRIVATE);
    let grants_ok = input.access_control_policy.as_ref().is_none_or(|p| {
        p.grants.as_deref().unwrap_or_default().iter().all(|g| {
            let owner = g.grantee.as_ref().and_then(|e| e.id.as_deref()) == Some(owner_id);
            let full =
                g.permission.as_ref().map(Permission::as_str) == Some(Permission::FULL_CONTROL);
            owner && full
        })
    });
    if canned_ok && grants_ok && headers.iter().all(|h| h.is_none()) {
        Ok(())
    } else {
        Err(unsupported(
            "An ACL granting more than the owner's FULL_CONTROL",
        ))
    }
}

#[cfg(test)]
mod tests {
    use s3s::dto::*;

    #[test]
    fn restating_the_fixed_state_is_accepted_and_anything_else_is_501() {
        let suspended = AccelerateConfiguration {
            status: Some(BucketAccelerateStatus::from_static(
                BucketAccelerateStatus::SUSPENDED,
            )),
        };
        assert!(super::check_accelerate(&suspended).is_ok());
        let enabled = AccelerateConfiguration {
            status: Some(BucketAccelerateStatus::from_static(
                BucketAccelerateStatus::ENABLED,
            )),
        };
        let e = super::check_accelerate(&enabled).unwrap_err();
        assert_eq!(e.status_code(), Some(http::StatusCode::NOT_IMPLEMENTED));
        assert!(super::check_request_payment(&Payer::from_static(Payer::BUCKET_OWNER)).is_ok());
        assert!(super::check_request_payment(&Payer::from_static(Payer::REQUESTER)).is_err());
        assert!(super::check_logging(&BucketLoggingStatus::default()).is_ok());
    }

    #[test]
    fn only_a_private_acl_is_accepted() {
        let mut input = PutBucketAclInput::builder()
            .bucket("b".into())
            .acl(Some(BucketCannedACL::from_static(BucketCannedACL::PRIVATE)))
            .build()
            .unwrap();
        assert!(super::check_acl(&input, "123").is_ok());
        input.acl = Some(BucketCannedACL::from_static(BucketCannedACL::PUBLIC_READ));
        assert!(super::check_acl(&input, "123").is_err());
        input.acl = None;
        input.grant_read = Some("uri=http://acs.amazonaws.com/groups/global/AllUsers".into());
        assert!(super::check_acl(&input, "123").is_err());
    }

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
