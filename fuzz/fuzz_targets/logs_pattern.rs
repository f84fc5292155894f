//! CloudWatch Logs filter patterns: `pattern NUL message`. A pattern that parses is matched
//! against the message and against itself. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus_core::log_pattern::Pattern;
use stratus_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let f = fields(data);
    let Ok(p) = Pattern::parse(&f[0]) else {
        return;
    };
    let _ = p.matches(f.get(1).map_or("", String::as_str));
    let _ = p.matches(&f[0]);
});
