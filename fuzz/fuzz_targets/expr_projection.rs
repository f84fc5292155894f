//! ProjectionExpression: parse any text with the fixture names and project the fixture item
//! onto what parses. Nothing may panic.
//! Runs on a thread with the server's 2 MiB stack ([`stratus_fuzz::on_server_stack`]).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus_fuzz::{on_server_stack, text, ITEM, NAMES};
use stratus_tables::expr::{eval, parse, Placeholders};

fuzz_target!(|data: &[u8]| {
    on_server_stack(|| {
        let src = text(data);
        let mut ph = Placeholders::new(Some(&NAMES), None).expect("fixture placeholders");
        let Ok(paths) = parse::projection(&src, &mut ph) else {
            return;
        };
        let _ = eval::project(&ITEM, &paths);
    });
});
