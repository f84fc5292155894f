//! Derived SigV4 signing keys, cached per (access key, day, region, service): a signature then
//! costs one HMAC instead of five. The derivation and the HMAC are `aws-sigv4`'s own
//! (`generate_signing_key`, `calculate_signature`); the comparison is `subtle`'s.
//!
//! Invalidation: the cache is consulted only after the access key has been looked up and
//! found active (a deleted or deactivated key is refused before), and an entry is used only
//! for the very secret it was derived from (a key whose secret changed derives afresh). The
//! cache is bounded; when full it is emptied (a new day's requests refill it within a request
//! per key).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use subtle::ConstantTimeEq;

/// Entries kept at most: more distinct (key, day, region, service) scopes than a server sees
/// in a day.
const MAX_ENTRIES: usize = 4096;

struct Entry {
    secret: Box<str>,
    key: [u8; 32],
}

/// The derived keys of one process.
#[derive(Default)]
pub struct SigningKeys {
    entries: Mutex<HashMap<String, Entry>>,
}

/// The process's cache, shared by every verifier (entries are bound to their secret).
pub fn shared() -> &'static SigningKeys {
    static KEYS: OnceLock<SigningKeys> = OnceLock::new();
    KEYS.get_or_init(SigningKeys::default)
}

/// The fields that select a signing key.
pub struct Scope<'a> {
    pub access_key: &'a str,
    /// `YYYYMMDD`.
    pub day: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl SigningKeys {
    /// Whether `signature` (lowercase hex) is the HMAC of `string_to_sign` under the key
    /// `secret` derives for `scope` (`time` is the request's, whose day is `scope.day`).
    pub fn matches(
        &self,
        secret: &str,
        scope: &Scope<'_>,
        time: SystemTime,
        string_to_sign: &str,
        signature: &str,
    ) -> bool {
        let key = self.key(secret, scope, time);
        let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
        expected.as_bytes().ct_eq(signature.as_bytes()).into()
    }

    fn key(&self, secret: &str, scope: &Scope<'_>, time: SystemTime) -> [u8; 32] {
        let id = format!(
            "{}/{}/{}/{}",
            scope.access_key, scope.day, scope.region, scope.service
        );
        if let Some(e) = self.lock().get(&id) {
            if bool::from(e.secret.as_bytes().ct_eq(secret.as_bytes())) {
                return e.key;
            }
        }
        // Derived outside the lock: four HMACs other requests need not wait for.
        let derived =
            aws_sigv4::sign::v4::generate_signing_key(secret, time, scope.region, scope.service);
        let mut key = [0u8; 32];
        key.copy_from_slice(derived.as_ref());
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            id,
            Entry {
                secret: secret.into(),
                key,
            },
        );
        key
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere cannot leave a half-written entry: use the map as it is.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn scope<'a>(day: &'a str, region: &'a str, service: &'a str) -> Scope<'a> {
        Scope {
            access_key: "AKID",
            day,
            region,
            service,
        }
    }

    // 2026-01-01 and 2026-01-02, noon.
    fn at(day: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_268_800 + day * 86_400)
    }

    #[test]
    fn the_cached_key_is_the_derived_one() {
        let keys = SigningKeys::default();
        let s = scope("20260101", "us-east-1", "lambda");
        let direct = aws_sigv4::sign::v4::generate_signing_key("sk", at(0), "us-east-1", "lambda");
        assert_eq!(keys.key("sk", &s, at(0)), direct.as_ref());
        assert_eq!(keys.key("sk", &s, at(0)), direct.as_ref(), "from the cache");
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn date_region_and_service_select_different_keys() {
        let keys = SigningKeys::default();
        let base = keys.key("sk", &scope("20260101", "us-east-1", "lambda"), at(0));
        let others = [
            keys.key("sk", &scope("20260102", "us-east-1", "lambda"), at(1)),
            keys.key("sk", &scope("20260101", "eu-west-1", "lambda"), at(0)),
            keys.key("sk", &scope("20260101", "us-east-1", "sqs"), at(0)),
        ];
        for k in others {
            assert_ne!(k, base);
        }
        assert_eq!(keys.len(), 4);
    }

    #[test]
    fn a_changed_secret_derives_afresh() {
        let keys = SigningKeys::default();
        let s = scope("20260101", "us-east-1", "lambda");
        let old = keys.key("old-secret", &s, at(0));
        let new = keys.key("new-secret", &s, at(0));
        assert_ne!(old, new);
        let direct =
            aws_sigv4::sign::v4::generate_signing_key("new-secret", at(0), "us-east-1", "lambda");
        assert_eq!(new, direct.as_ref());
        let sts = "AWS4-HMAC-SHA256\n20260101T120000Z\n20260101/us-east-1/lambda/aws4_request\nab";
        let sig = aws_sigv4::sign::v4::calculate_signature(old, sts.as_bytes());
        assert!(keys.matches("old-secret", &s, at(0), sts, &sig));
        assert!(!keys.matches("new-secret", &s, at(0), sts, &sig));
    }

    #[test]
    fn the_cache_is_bounded() {
        let keys = SigningKeys::default();
        for i in 0..MAX_ENTRIES + 10 {
            let region = format!("r-{i}");
            keys.key("sk", &scope("20260101", &region, "lambda"), at(0));
        }
        assert!(keys.len() <= MAX_ENTRIES);
    }
}
