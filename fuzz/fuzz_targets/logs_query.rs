//! Logs Insights queries: `query NUL message NUL message ...`. A query that parses is run over
//! the messages (one event each, a second apart). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus_core::log_query::{Event, Query};
use stratus_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let f = fields(data);
    let Ok(q) = Query::parse(&f[0]) else {
        return;
    };
    let events = f[1..].iter().enumerate().map(|(i, m)| Event {
        timestamp: i as i64 * 1000,
        ingestion_time: i as i64 * 1000,
        message: m,
        stream: "s",
        group: "g",
        ptr: "p",
    });
    let _ = q.run(events, 100);
});
