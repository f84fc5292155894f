//! SigV4 request fields: any text as an `Authorization` header, as a presigned URL's query
//! string, and as an `X-Amz-Date`. Nothing may panic; what parses must point into the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus_core::sigv4::{parse_amz_date, parse_header, parse_query, query_map};
use stratus_fuzz::text;

fuzz_target!(|data: &[u8]| {
    let s = text(data);
    if let Ok(c) = parse_header(&s) {
        assert!(s.contains(c.access_key) && s.contains(c.signature));
        let _ = parse_amz_date(c.date);
    }
    let q = query_map(&s);
    if let Ok(c) = parse_query(&q) {
        assert!(c.expires.is_some());
        let _ = parse_amz_date(c.date);
    }
    let _ = parse_amz_date(&s);
});
