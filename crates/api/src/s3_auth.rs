//! S3's side of identity and access. s3s verifies S3 signatures itself (streaming payloads
//! included); these two plug-ins give it the keys Stratus knows (the root key, users' keys,
//! STS sessions) and, once a request is authenticated, check its session token and its
//! authorization with the same evaluator the other services use.

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Result};
use stratus_core::sigv4::query_map;
use stratus_iam::store::KeyRecord;
use stratus_iam::{Decision, Iam, Kind, Policy};

/// Finds the secret of an access key: the configured root key, then the IAM store.
#[derive(Clone)]
pub struct IamAuth {
    pub root: (String, String),
    pub iam: Arc<Iam>,
}

impl IamAuth {
    fn record(&self, access_key: &str) -> Option<KeyRecord> {
        if access_key == self.root.0 {
            return Some(KeyRecord {
                secret: self.root.1.clone(),
                identity: crate::auth::root_identity(),
                token: None,
                expires: None,
                active: true,
            });
        }
        self.iam.resolve_key(access_key).ok().flatten()
    }
}

#[async_trait::async_trait]
impl S3Auth for IamAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.record(access_key) {
            Some(r) if r.active => Ok(SecretKey::from(r.secret)),
            _ => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

/// What the bucket owner's root user may always do, whatever the bucket policy denies (AWS's
/// "security precaution"): read, replace or delete the policy that locked it out.
const ROOT_KEEPS: [&str; 3] = [
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
];

/// Checks an authenticated S3 request's session token, then its authorization: the
/// caller's policies and the bucket's policy.
pub struct IamAccess {
    pub auth: IamAuth,
    pub enforced: bool,
    pub objects: Arc<stratus_s3::ObjectStore>,
}

#[async_trait::async_trait]
impl S3Access for IamAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(creds) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        let access_key = creds.access_key.clone();
        let Some(record) = self.auth.record(&access_key) else {
            return Err(s3_error!(InvalidAccessKeyId));
        };
        let query = query_map(cx.uri().query().unwrap_or(""));
        let token = cx
            .headers()
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok())
            .or_else(|| query.get("X-Amz-Security-Token").map(String::as_str));
        if crate::auth::check_token(&record, token).is_err() {
            return Err(s3_error!(
                InvalidToken,
                "The provided token is malformed or otherwise invalid."
            ));
        }
        if crate::auth::is_expired(&record) {
            return Err(S3Error::with_message(
                S3ErrorCode::ExpiredToken,
                "The provided token has expired.",
            ));
        }
        if !self.enforced {
            return Ok(());
        }
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(&**bucket), None),
            S3Path::Object { bucket, key } => (Some(&**bucket), Some(&**key)),
        };
        // The root user skips its (non-existent) identity policies, but not a bucket
        // policy's explicit deny: a request without a bucket, or to a bucket without a
        // policy, passes after one look-up.
        let bucket_policy = bucket
            .and_then(|b| self.objects.bucket_policy(b))
            .and_then(|doc| Policy::parse(&doc, Kind::Resource).ok());
        if record.identity.is_root() && bucket_policy.is_none() {
            return Ok(());
        }
        let mut target = stratus_iam::actions::s3(cx.s3_op().name(), bucket, key);
        if let Some(prefix) = query.get("prefix") {
            target.context.add("s3:prefix", prefix.as_str());
        }
        crate::authorize::add_source_ip(cx.extensions_mut(), &mut target.context);
        let identity = &record.identity;
        let decision = if identity.is_root() {
            if ROOT_KEEPS.contains(&target.action.as_str()) {
                return Ok(());
            }
            crate::authorize::decide_root(&target, bucket_policy.as_ref())
        } else {
            let session_key = record.token.is_some().then_some(access_key.as_str());
            crate::authorize::decide(
                &self.auth.iam,
                identity,
                session_key,
                &mut target,
                bucket_policy.as_ref(),
            )
            .map_err(|_| s3_error!(InternalError))?
        };
        if decision == Decision::Allow {
            return Ok(());
        }
        let message = crate::authorize::refusal(
            &self.auth.iam,
            identity,
            record.token.is_some().then_some(access_key.as_str()),
            &target,
            bucket_policy.as_ref(),
            decision,
        );
        Err(S3Error::with_message(S3ErrorCode::AccessDenied, message))
    }
}
