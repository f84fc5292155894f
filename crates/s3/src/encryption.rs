//! Server-side encryption as S3 reports it: a bucket's default encryption
//! (Put/Get/DeleteBucketEncryption) and the encryption each object was written with, which
//! every write and read answers in `x-amz-server-side-encryption`.
//!
//! Stratus keeps what was asked and answers it; it does not encrypt bytes itself beyond what
//! the blob store does (there is no KMS here). `aws:kms` and `aws:kms:dsse` are accepted and
//! kept with their key id so infrastructure tools that set them work unchanged — the bytes are
//! stored exactly as with `AES256`.

use s3s::dto::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use s3s::{s3_error, S3Result};
use serde::{Deserialize, Serialize};

/// SSE-S3: every S3 bucket's default since January 2023.
pub const AES256: &str = "AES256";
const KMS: &str = "aws:kms";
const KMS_DSSE: &str = "aws:kms:dsse";

/// An encryption setting: a bucket's default, or what one object was written with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sse {
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_key_enabled: Option<bool>,
}

impl Default for Sse {
    fn default() -> Sse {
        Sse {
            algorithm: AES256.into(),
            kms_key_id: None,
            bucket_key_enabled: None,
        }
    }
}

fn is_kms(algorithm: &str) -> bool {
    algorithm == KMS || algorithm == KMS_DSSE
}

impl Sse {
    /// The response fields of an object's encryption: the algorithm, the KMS key id (KMS
    /// only) and whether an S3 Bucket Key was used (only when it was).
    pub fn wire(&self) -> (Option<ServerSideEncryption>, Option<String>, Option<bool>) {
        let kms = is_kms(&self.algorithm);
        (
            Some(ServerSideEncryption::from(self.algorithm.clone())),
            self.kms_key_id.clone().filter(|_| kms),
            self.bucket_key_enabled.filter(|b| *b && kms),
        )
    }
}

/// Validates a PutBucketEncryption document as S3 does: exactly one rule with a default
/// algorithm S3 knows, and a KMS key only for a KMS algorithm.
pub fn from_configuration(c: &ServerSideEncryptionConfiguration) -> S3Result<Sse> {
    let [rule] = c.rules.as_slice() else {
        return Err(malformed_xml());
    };
    let Some(by_default) = &rule.apply_server_side_encryption_by_default else {
        return Err(malformed_xml());
    };
    let algorithm = by_default.sse_algorithm.as_str();
    if !matches!(algorithm, AES256 | KMS | KMS_DSSE) {
        return Err(malformed_xml());
    }
    if by_default.kms_master_key_id.is_some() && !is_kms(algorithm) {
        return Err(s3_error!(
            InvalidArgument,
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
        ));
    }
    Ok(Sse {
        algorithm: algorithm.to_string(),
        kms_key_id: by_default.kms_master_key_id.clone(),
        bucket_key_enabled: rule.bucket_key_enabled,
    })
}

/// GetBucketEncryption's document for a bucket's setting.
pub fn to_configuration(sse: &Sse) -> ServerSideEncryptionConfiguration {
    ServerSideEncryptionConfiguration {
        rules: vec![ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                kms_master_key_id: sse.kms_key_id.clone(),
                sse_algorithm: ServerSideEncryption::from(sse.algorithm.clone()),
            }),
            bucket_key_enabled: Some(sse.bucket_key_enabled.unwrap_or(false)),
        }],
    }
}

/// The encryption a new object gets: what its request asked for (`x-amz-server-side-encryption`
/// and its KMS headers), else the bucket's default, else SSE-S3.
pub fn for_new_object(
    requested: Option<&ServerSideEncryption>,
    kms_key_id: Option<&str>,
    bucket_key_enabled: Option<bool>,
    bucket_default: Option<Sse>,
) -> S3Result<Sse> {
    let Some(requested) = requested else {
        if kms_key_id.is_some() {
            return Err(kms_key_without_kms());
        }
        return Ok(bucket_default.unwrap_or_default());
    };
    let algorithm = requested.as_str();
    if !matches!(algorithm, AES256 | KMS | KMS_DSSE) {
        return Err(s3_error!(
            InvalidArgument,
            "The encryption method specified is not supported"
        ));
    }
    if kms_key_id.is_some() && !is_kms(algorithm) {
        return Err(kms_key_without_kms());
    }
    Ok(Sse {
        algorithm: algorithm.to_string(),
        kms_key_id: kms_key_id.map(str::to_string),
        bucket_key_enabled,
    })
}

/// S3's answer to a KMS key id on a request that does not ask for KMS encryption.
fn kms_key_without_kms() -> s3s::S3Error {
    s3_error!(
        InvalidArgument,
        "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
    )
}

fn malformed_xml() -> s3s::S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(algorithm: &str, key: Option<&str>) -> ServerSideEncryptionConfiguration {
        ServerSideEncryptionConfiguration {
            rules: vec![ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                    kms_master_key_id: key.map(str::to_string),
                    sse_algorithm: ServerSideEncryption::from(algorithm.to_string()),
                }),
                bucket_key_enabled: Some(true),
            }],
        }
    }

    #[test]
    fn bucket_settings_round_trip_and_are_validated() {
        let kms = from_configuration(&config("aws:kms", Some("k1"))).unwrap();
        assert_eq!(kms.kms_key_id.as_deref(), Some("k1"));
        assert_eq!(to_configuration(&kms), config("aws:kms", Some("k1")));
        let e = from_configuration(&config("AES256", Some("k1"))).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidArgument");
        let e = from_configuration(&config("rot13", None)).unwrap_err();
        assert_eq!(e.code().as_str(), "MalformedXML");
        let e = from_configuration(&ServerSideEncryptionConfiguration { rules: vec![] });
        assert_eq!(e.unwrap_err().code().as_str(), "MalformedXML");
    }

    #[test]
    fn a_new_object_takes_the_request_then_the_bucket_then_sse_s3() {
        let bucket = Sse {
            algorithm: KMS.into(),
            kms_key_id: Some("k".into()),
            bucket_key_enabled: Some(true),
        };
        assert_eq!(
            for_new_object(None, None, None, None).unwrap(),
            Sse::default()
        );
        assert_eq!(
            for_new_object(None, None, None, Some(bucket.clone())).unwrap(),
            bucket
        );
        let asked = ServerSideEncryption::from(AES256.to_string());
        assert_eq!(
            for_new_object(Some(&asked), None, None, Some(bucket)).unwrap(),
            Sse::default()
        );
        assert!(for_new_object(Some(&asked), Some("k"), None, None).is_err());
        let odd = ServerSideEncryption::from("rot13".to_string());
        assert!(for_new_object(Some(&odd), None, None, None).is_err());
    }

    #[test]
    fn wire_names_a_key_only_for_kms() {
        let (alg, key, bucket_key) = Sse {
            algorithm: AES256.into(),
            kms_key_id: Some("k".into()),
            bucket_key_enabled: Some(true),
        }
        .wire();
        assert_eq!(alg.unwrap().as_str(), AES256);
        assert_eq!((key, bucket_key), (None, None));
    }
}
