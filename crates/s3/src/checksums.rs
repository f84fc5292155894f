//! Additional checksums (`x-amz-checksum-crc32`, `-crc32c`, `-crc64nvme`, `-sha1`,
//! `-sha256`): computed while an upload streams in (only the algorithms the request names, in
//! a header, in `x-amz-sdk-checksum-algorithm` or as a declared trailer), checked against the
//! values the client sent, stored with the object, and returned to a read that asks for them
//! (`ChecksumMode: ENABLED`).

use base64::Engine as _;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::{s3_error, S3Result};
use serde::{Deserialize, Serialize};

use crate::db::{Checksums, PartRow};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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
    B64.decode(value).is_ok_and(|d| d.len() == digest_len(name))
}

/// The checksum a multipart upload keeps, chosen by CreateMultipartUpload
/// (`x-amz-checksum-algorithm`, `x-amz-checksum-type`), and so the kind of checksum the object
/// it completes has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    /// The algorithm's lower-case name.
    pub algorithm: String,
    /// `FULL_OBJECT`: a checksum of all the bytes, combined from the parts' CRCs (CRC
    /// algorithms only). Otherwise `COMPOSITE`: a checksum of the parts' checksums, written
    /// with a `-<parts>` suffix.
    pub full_object: bool,
}

impl UploadChecksum {
    /// Reads CreateMultipartUpload's choice. CRC-64/NVME is always full-object and the SHAs
    /// always composite; the 32-bit CRCs are composite unless asked otherwise.
    pub fn from_request(
        algorithm: Option<&str>,
        kind: Option<&str>,
    ) -> S3Result<Option<UploadChecksum>> {
        let Some(algorithm) = algorithm else {
            return match kind {
                None => Ok(None),
                Some(_) => Err(s3_error!(
                    InvalidRequest,
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                )),
            };
        };
        let algorithm = algorithm.to_ascii_lowercase();
        if !ALGORITHMS.contains(&algorithm.as_str()) {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
            ));
        }
        let crc = algorithm.starts_with("crc");
        let full_object = match kind.map(str::to_ascii_uppercase).as_deref() {
            None => algorithm == "crc64nvme",
            Some("FULL_OBJECT") if crc => true,
            Some("COMPOSITE") if algorithm != "crc64nvme" => false,
            Some("FULL_OBJECT" | "COMPOSITE") => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The {} checksum type cannot be used with the {} checksum algorithm.",
                    kind.unwrap_or_default().to_ascii_uppercase(),
                    algorithm
                ))
            }
            Some(_) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Value for x-amz-checksum-type header is invalid."
                ))
            }
        };
        Ok(Some(UploadChecksum {
            algorithm,
            full_object,
        }))
    }

    /// `COMPOSITE` or `FULL_OBJECT`, as the wire says it.
    pub fn kind(&self) -> &'static str {
        if self.full_object {
            "FULL_OBJECT"
        } else {
            "COMPOSITE"
        }
    }

    /// Checks that a part is sent with this upload's algorithm, as S3 requires.
    pub fn check_part(&self, claimed: &Claimed) -> S3Result<()> {
        let named = ALGORITHMS.into_iter().find(|n| claimed.wants(n));
        if named == Some(self.algorithm.as_str()) {
            return Ok(());
        }
        Err(s3_error!(
            InvalidRequest,
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            self.algorithm,
            named.unwrap_or("null")
        ))
    }

    /// The completed object's checksums, from its parts' (each checked against the value
    /// the completion request gives for it, if any: a different one is `InvalidPart`). A
    /// composite upload needs every part's value in the request.
    pub fn of_object(&self, parts: &[&PartRow], sent: &[Option<String>]) -> S3Result<Checksums> {
        let mut digests = Vec::with_capacity(parts.len());
        for (part, sent) in parts.iter().zip(sent) {
            let stored = part.checksums.get(&self.algorithm);
            match (sent, stored) {
                (None, _) if !self.full_object => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {} in the request.",
                        self.algorithm,
                        part.part_number
                    ))
                }
                (Some(s), Some(v)) if s != v => return Err(crate::service::invalid_part()),
                _ => {}
            }
            let Some(digest) = stored.and_then(|v| B64.decode(v).ok()) else {
                return Ok(Checksums::default()); // a part copied without one: none to give
            };
            digests.push((digest, part.size));
        }
        let value = if self.full_object {
            combined_crc(&self.algorithm, &digests)
        } else {
            format!(
                "{}-{}",
                B64.encode(composite(&self.algorithm, &digests)),
                parts.len()
            )
        };
        let mut out = Checksums::default();
        out.set(&self.algorithm, value);
        Ok(out)
    }
}

/// The checksum of the parts' checksums (their raw digests, end to end).
fn composite(algorithm: &str, digests: &[(Vec<u8>, u64)]) -> Vec<u8> {
    fn hash<H: Checksum>(digests: &[(Vec<u8>, u64)]) -> Vec<u8> {
        let mut h = H::new();
        for (d, _) in digests {
            h.update(d);
        }
        h.finalize().as_ref().to_vec()
    }
    match algorithm {
        "crc32" => hash::<Crc32>(digests),
        "crc32c" => hash::<Crc32c>(digests),
        "crc64nvme" => hash::<Crc64Nvme>(digests),
        "sha1" => hash::<Sha1>(digests),
        _ => hash::<Sha256>(digests),
    }
}

/// The CRC of all the bytes, combined from each part's CRC and length (CRCs are linear, so
/// no byte is read again).
fn combined_crc(algorithm: &str, digests: &[(Vec<u8>, u64)]) -> String {
    use crc_fast::{checksum_combine, CrcAlgorithm};
    let (crc, width) = match algorithm {
        "crc32" => (CrcAlgorithm::Crc32IsoHdlc, 4),
        "crc32c" => (CrcAlgorithm::Crc32Iscsi, 4),
        _ => (CrcAlgorithm::Crc64Nvme, 8),
    };
    let value = |d: &[u8]| d.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut parts = digests.iter();
    let first = parts.next().map_or(0, |(d, _)| value(d));
    let all = parts.fold(first, |acc, (d, len)| {
        checksum_combine(crc, acc, value(d), *len)
    });
    B64.encode(&all.to_be_bytes()[8 - width..])
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

    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "crc32" => &mut self.crc32,
            "crc32c" => &mut self.crc32c,
            "crc64nvme" => &mut self.crc64nvme,
            "sha1" => &mut self.sha1,
            _ => &mut self.sha256,
        };
        *slot = Some(value);
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

    fn part(n: i32, data: &[u8], algorithm: &str) -> PartRow {
        let mut c = Claimed::default();
        c.name(algorithm);
        PartRow {
            part_number: n,
            blob: String::new(),
            size: data.len() as u64,
            etag: String::new(),
            last_modified_ms: 0,
            checksums: Checksums::from(&computed_for(&c, data)),
        }
    }

    #[test]
    fn full_object_crcs_are_the_crc_of_all_the_bytes() {
        let (a, b, c) = (vec![1u8; 5000], vec![7u8; 3], b"tail".to_vec());
        let whole = [a.clone(), b.clone(), c.clone()].concat();
        for algorithm in ["crc32", "crc32c", "crc64nvme"] {
            let parts = [
                part(1, &a, algorithm),
                part(2, &b, algorithm),
                part(3, &c, algorithm),
            ];
            let refs: Vec<&PartRow> = parts.iter().collect();
            let upload = UploadChecksum::from_request(Some(algorithm), Some("FULL_OBJECT"))
                .unwrap()
                .unwrap();
            let got = upload.of_object(&refs, &[None, None, None]).unwrap();
            let expected = part(0, &whole, algorithm).checksums;
            assert_eq!(got.get(algorithm), expected.get(algorithm), "{algorithm}");
        }
    }

    #[test]
    fn composite_checksums_hash_the_parts_digests() {
        let (a, b) = (b"first part".to_vec(), b"second".to_vec());
        let parts = [part(1, &a, "sha256"), part(2, &b, "sha256")];
        let refs: Vec<&PartRow> = parts.iter().collect();
        let upload = UploadChecksum::from_request(Some("SHA256"), None)
            .unwrap()
            .unwrap();
        assert!(!upload.full_object);
        let sent: Vec<Option<String>> = parts.iter().map(|p| p.checksums.sha256.clone()).collect();
        let got = upload.of_object(&refs, &sent).unwrap();
        let digests = [
            B64.decode(parts[0].checksums.sha256.as_ref().unwrap())
                .unwrap(),
            B64.decode(parts[1].checksums.sha256.as_ref().unwrap())
                .unwrap(),
        ]
        .concat();
        let expected = format!("{}-2", B64.encode(Sha256::checksum(&digests)));
        assert_eq!(got.sha256.as_deref(), Some(expected.as_str()));

        let e = upload
            .of_object(&refs, &[sent[0].clone(), None])
            .unwrap_err();
        assert_eq!(*e.code(), s3s::S3ErrorCode::InvalidRequest);
        let wrong = Some(parts[1].checksums.sha256.clone().unwrap());
        let e = upload
            .of_object(&refs, &[wrong, sent[1].clone()])
            .unwrap_err();
        assert_eq!(*e.code(), s3s::S3ErrorCode::InvalidPart);
    }

    #[test]
    fn checksum_types_follow_the_algorithm() {
        let kind = |a, t| UploadChecksum::from_request(a, t).map(|u| u.map(|u| u.kind()));
        assert_eq!(kind(Some("CRC32"), None).unwrap(), Some("COMPOSITE"));
        assert_eq!(kind(Some("CRC64NVME"), None).unwrap(), Some("FULL_OBJECT"));
        assert_eq!(
            kind(Some("CRC32C"), Some("FULL_OBJECT")).unwrap(),
            Some("FULL_OBJECT")
        );
        assert_eq!(kind(None, None).unwrap(), None);
        for (a, t) in [
            (Some("SHA1"), Some("FULL_OBJECT")),
            (Some("CRC64NVME"), Some("COMPOSITE")),
            (None, Some("COMPOSITE")),
            (Some("MD5"), None),
        ] {
            assert!(kind(a, t).is_err(), "{a:?} {t:?}");
        }
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
