//! Additional checksums (`x-amz-checksum-crc32`, `-crc32c`, `-crc64nvme`, `-sha1`,
//! `-sha256`): computed while an upload streams in (only the algorithms the request names, in
//! a header, in `x-amz-sdk-checksum-algorithm` or as a declared trailer), checked against the
//! values the client sent, stored with the object, and returned to a read that asks for them
//! (`ChecksumMode: ENABLED`).

use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::{s3_error, S3Result};

use crate::db::Checksums;

/// The algorithms S3 knows, by their lower-case names (as in `x-amz-checksum-<name>`).
const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// The decoded length of each algorithm's value.
fn digest_len(name: &str) -> usize {
    match name {
        "crc32" | "crc32c" => 4,
        "crc64nvme" => 8,
        "sha1" => 20,
        _ => 32,
    }
}

/// The checksums one upload claims and asks for.
#[derive(Debug, Default)]
pub struct Claimed {
    /// Values sent in headers, by algorithm.
    pub values: Checksums,
    /// Algorithms named without a value yet: `x-amz-sdk-checksum-algorithm`, and the
    /// `x-amz-trailer` that will carry one after the body.
    pub named: Vec<String>,
}

impl Claimed {
    /// Notes an algorithm name (any case, with or without the `x-amz-checksum-` prefix).
    pub fn name(&mut self, name: &str) {
        let lower = name.to_ascii_lowercase();
        let bare = lower.trim_start_matches("x-amz-checksum-").trim();
        if ALGORITHMS.contains(&bare) && !self.named.iter().any(|n| n == bare) {
            self.named.push(bare.to_string());
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.values.get(name).is_some() || self.named.iter().any(|n| n == name)
    }

    /// A hasher computing every algorithm this upload names, and nothing else.
    pub fn hasher(&self) -> ChecksumHasher {
        ChecksumHasher {
            crc32: self.wants("crc32").then(Crc32::new),
            crc32c: self.wants("crc32c").then(Crc32c::new),
            crc64nvme: self.wants("crc64nvme").then(Crc64Nvme::new),
            sha1: self.wants("sha1").then(Sha1::new),
            sha256: self.wants("sha256").then(Sha256::new),
        }
    }

    /// Checks the computed checksums against the claimed ones (header values, else the
    /// trailer's, looked up with `trailer`): a malformed value is 400 `InvalidRequest`, a
    /// different one 400 `BadDigest`. Returns what to store.
    pub fn check(
        &self,
        computed: &s3s::dto::Checksum,
        trailer: impl Fn(&str) -> Option<String>,
    ) -> S3Result<Checksums> {
        let computed = Checksums::from(computed);
        for name in ALGORITHMS {
            let claimed = self
                .values
                .get(name)
                .map(str::to_string)
                .or_else(|| trailer(&format!("x-amz-checksum-{name}")));
            let Some(claimed) = claimed else { continue };
            if !well_formed(name, &claimed) {
                return Err(s3_error!(
                    InvalidRequest,
                    "Value for x-amz-checksum-{name} header is invalid."
                ));
            }
            if computed.get(name) != Some(claimed.as_str()) {
                return Err(s3_error!(
                    BadDigest,
                    "The {} you specified did not match the calculated checksum.",
                    name.to_ascii_uppercase()
                ));
            }
        }
        Ok(computed)
    }
}

fn well_formed(name: &str, value: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .is_ok_and(|d| d.len() == digest_len(name))
}

impl Checksums {
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "crc32" => self.crc32.as_deref(),
            "crc32c" => self.crc32c.as_deref(),
            "crc64nvme" => self.crc64nvme.as_deref(),
            "sha1" => self.sha1.as_deref(),
            "sha256" => self.sha256.as_deref(),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        ALGORITHMS.iter().all(|n| self.get(n).is_none())
    }
}

impl From<&s3s::dto::Checksum> for Checksums {
    fn from(c: &s3s::dto::Checksum) -> Checksums {
        Checksums {
            crc32: c.checksum_crc32.clone(),
            crc32c: c.checksum_crc32c.clone(),
            crc64nvme: c.checksum_crc64nvme.clone(),
            sha1: c.checksum_sha1.clone(),
            sha256: c.checksum_sha256.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn computed_for(claimed: &Claimed, data: &[u8]) -> s3s::dto::Checksum {
        let mut h = claimed.hasher();
        h.update(data);
        h.finalize()
    }

    #[test]
    fn only_named_algorithms_are_computed() {
        let mut c = Claimed::default();
        c.name("CRC32C");
        c.name("x-amz-checksum-sha1");
        c.name("md4");
        let out = computed_for(&c, b"hello");
        assert!(out.checksum_crc32c.is_some() && out.checksum_sha1.is_some());
        assert!(out.checksum_crc32.is_none() && out.checksum_sha256.is_none());
    }

    #[test]
    fn claims_are_checked() {
        // CRC32 of "hello" is 0x3610a686.
        let good = "NhCmhg==".to_string();
        let c = Claimed {
            values: Checksums {
                crc32: Some(good.clone()),
                ..Default::default()
            },
            named: Vec::new(),
        };
        let stored = c.check(&computed_for(&c, b"hello"), |_| None).unwrap();
        assert_eq!(stored.crc32.as_deref(), Some(good.as_str()));
        let e = c.check(&computed_for(&c, b"other"), |_| None).unwrap_err();
        assert_eq!(*e.code(), s3s::S3ErrorCode::BadDigest);
        let bad = Claimed {
            values: Checksums {
                crc32: Some("not base64!".into()),
                ..Default::default()
            },
            named: Vec::new(),
        };
        let e = bad
            .check(&computed_for(&bad, b"hello"), |_| None)
            .unwrap_err();
        assert_eq!(*e.code(), s3s::S3ErrorCode::InvalidRequest);
    }

    #[test]
    fn a_trailer_value_is_checked_too() {
        let mut c = Claimed::default();
        c.name("x-amz-checksum-crc32");
        let computed = computed_for(&c, b"hello");
        assert!(c
            .check(&computed, |n| (n == "x-amz-checksum-crc32")
                .then(|| "NhCmhg==".into()))
            .is_ok());
        assert!(c.check(&computed, |_| Some("AAAAAA==".into())).is_err());
    }
}
