//! The X-Ray trace header (`X-Amzn-Trace-Id`) and the lineage it carries for recursive loop
//! detection.
//!
//! Every invocation gets a trace header (`Root=...;Parent=...;Sampled=0`), handed to the
//! function as `Lambda-Runtime-Trace-Id` and set by its runtime as `_X_AMZN_TRACE_ID`. The
//! AWS SDKs send that value back as the `X-Amzn-Trace-Id` header of every call a function
//! makes; queues keep it as the `AWSTraceHeader` system attribute, topics and bucket
//! notifications pass it on to the invocations they cause. The `Lineage` field counts, per
//! function, how many invocations the chain has made of it: `Lineage=<hash>:<count>|...`,
//! where the hash names the function (the first 8 hex digits of the SHA-256 of its
//! unqualified ARN, so the header never spells out the name).

use sha2::{Digest, Sha256};

/// How many times a chain may invoke one function: the next invocation of a function set to
/// `Terminate` is stopped (AWS: "after approximately 16 invocations").
pub const MAX_HOPS: u32 = 16;

/// Headers longer than this are not read (a hostile header costs nothing to skip); the
/// invocation starts a lineage of its own.
const MAX_HEADER: usize = 4096;

/// The most functions one lineage names; past it, the functions named first are dropped.
const MAX_ENTRIES: usize = 32;

/// The lineage key of a function: 8 hex digits of the SHA-256 of its unqualified ARN.
pub fn function_key(unqualified_arn: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(unqualified_arn.as_bytes());
    let mut key = String::with_capacity(8);
    for b in &digest[..4] {
        key.push(HEX[usize::from(b >> 4)] as char);
        key.push(HEX[usize::from(b & 0xf)] as char);
    }
    key
}

/// A parsed trace header: the fields other than `Lineage` in their order, and the lineage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceHeader {
    root: Option<String>,
    sampled: Option<String>,
    lineage: Vec<(String, u32)>,
}

impl TraceHeader {
    /// Reads a header as a client sent it (percent-encoded or not: botocore quotes `|`).
    /// Unknown fields and malformed lineage entries are ignored; nothing here fails.
    pub fn parse(raw: &str) -> TraceHeader {
        let mut h = TraceHeader::default();
        if raw.len() > MAX_HEADER {
            return h;
        }
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        for field in decoded.split(';') {
            let Some((key, value)) = field.trim().split_once('=') else {
                continue;
            };
            match key {
                "Root" if valid_root(value) => h.root = Some(value.to_string()),
                "Sampled" if matches!(value, "0" | "1" | "?") => {
                    h.sampled = Some(value.to_string())
                }
                "Lineage" => h.lineage = parse_lineage(value),
                _ => {}
            }
        }
        h
    }

    /// How many times this chain has invoked the function `key` names.
    pub fn hops(&self, key: &str) -> u32 {
        self.lineage
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0, |(_, n)| *n)
    }

    /// The header for the next invocation of the function `key` names: the same root (a new
    /// one if there was none), a new parent, and that function's count one higher.
    pub fn next_hop(mut self, key: &str) -> String {
        match self.lineage.iter_mut().find(|(k, _)| k == key) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => {
                if self.lineage.len() >= MAX_ENTRIES {
                    self.lineage.remove(0);
                }
                self.lineage.push((key.to_string(), 1));
            }
        }
        use std::fmt::Write as _;
        let root = self.root.unwrap_or_else(new_root);
        let sampled = self.sampled.as_deref().unwrap_or("0");
        // Written into one string: this runs for every invocation.
        let mut out = String::with_capacity(128);
        let _ = write!(
            out,
            "Root={root};Parent={};Sampled={sampled};Lineage=",
            new_parent()
        );
        for (i, (k, n)) in self.lineage.iter().enumerate() {
            let sep = if i == 0 { "" } else { "|" };
            let _ = write!(out, "{sep}{k}:{n}");
        }
        out
    }
}

/// A fresh trace header, for an invocation that starts a trace.
pub fn new_header() -> String {
    format!("Root={};Parent={};Sampled=0", new_root(), new_parent())
}

/// `1-<8 hex digits of epoch seconds>-<24 hex digits>`, X-Ray's trace id.
fn new_root() -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let r = crate::ids::uuid().simple().to_string();
    format!("1-{now:08x}-{}", &r[..24])
}

fn new_parent() -> String {
    crate::ids::uuid().simple().to_string()[16..32].to_string()
}

fn valid_root(v: &str) -> bool {
    v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `hash:count` entries separated by `|`; entries that are not 8 hex digits and a number
/// are skipped.
fn parse_lineage(v: &str) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for entry in v.split('|').take(MAX_ENTRIES) {
        let Some((key, count)) = entry.split_once(':') else {
            continue;
        };
        let Ok(count) = count.parse::<u32>() else {
            continue;
        };
        if key.len() == 8
            && key.bytes().all(|b| b.is_ascii_hexdigit())
            && !out.iter().any(|(k, _)| k == key)
        {
            out.push((key.to_ascii_lowercase(), count));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

    #[test]
    fn each_hop_counts_one_more_for_its_function_and_keeps_the_root() {
        let key = function_key(ARN);
        assert_eq!(key.len(), 8);
        let first = TraceHeader::parse(&new_header());
        assert_eq!(first.hops(&key), 0);
        let root = first.root.clone().unwrap();
        let mut header = first.next_hop(&key);
        for n in 1..=20 {
            let parsed = TraceHeader::parse(&header);
            assert_eq!(parsed.hops(&key), n);
            assert_eq!(parsed.root.as_deref(), Some(root.as_str()));
            header = parsed.next_hop(&key);
        }
    }

    #[test]
    fn other_functions_keep_their_own_counts() {
        let (a, b) = (function_key(ARN), function_key(&format!("{ARN}2")));
        let h = TraceHeader::parse(&TraceHeader::default().next_hop(&a));
        let h = TraceHeader::parse(&h.next_hop(&b));
        let h = TraceHeader::parse(&h.next_hop(&a));
        assert_eq!((h.hops(&a), h.hops(&b)), (2, 1));
    }

    #[test]
    fn percent_encoded_headers_as_botocore_sends_them_are_read() {
        let h = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:3%7C68fd508a:5");
        assert_eq!(h.hops("a87bd80c"), 3);
        assert_eq!(h.hops("68fd508a"), 5);
        assert!(h
            .next_hop("a87bd80c")
            .contains("Sampled=1;Lineage=a87bd80c:4|68fd508a:5"));
    }

    #[test]
    fn hostile_headers_are_ignored_not_fatal() {
        for raw in [
            "",
            ";;;",
            "Lineage=",
            "Lineage=zzzzzzzz:1|a87bd80c:x|a87bd80c",
            "Lineage=a87bd80c:99999999999999999999",
            "Root=<script>;Lineage=a87bd80c:4294967295",
            "%ff%fe",
        ] {
            let h = TraceHeader::parse(raw);
            let next = h.clone().next_hop("a87bd80c");
            assert!(next.starts_with("Root=1-"), "{raw}: {next}");
        }
        let max = TraceHeader::parse("Lineage=a87bd80c:4294967295");
        assert!(max.next_hop("a87bd80c").ends_with("a87bd80c:4294967295"));
        let long = format!("Lineage=a87bd80c:20;{}", "x".repeat(MAX_HEADER));
        assert_eq!(TraceHeader::parse(&long).hops("a87bd80c"), 0);
        let many: Vec<String> = (0..100).map(|i| format!("{i:08x}:1")).collect();
        let h = TraceHeader::parse(&format!("Lineage={}", many.join("|")));
        assert_eq!(h.lineage.len(), MAX_ENTRIES);
    }
}
