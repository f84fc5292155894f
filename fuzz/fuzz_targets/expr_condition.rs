//! ConditionExpression, FilterExpression and KeyConditionExpression: parse any text with the
//! fixture placeholders, evaluate what parses against the fixture item, and reduce it to a key
//! range as Query does. Nothing may panic or overflow the stack.
//! Runs on a thread with the server's 2 MiB stack ([`stratus_fuzz::on_server_stack`]).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus_fuzz::{on_server_stack, text, ITEM, KEY_SCHEMA, NAMES, VALUES};
use stratus_tables::expr::{eval, parse, Placeholders};
use stratus_tables::ops::read::key_condition;

fuzz_target!(|data: &[u8]| {
    on_server_stack(|| {
        let src = text(data);
        let mut ph = Placeholders::new(Some(&NAMES), Some(&VALUES)).expect("fixture placeholders");
        let Ok(cond) = parse::condition(&src, "ConditionExpression", &mut ph) else {
            return;
        };
        let _ = ph.check_unused("");
        let _ = eval::eval(&ITEM, &cond);
        let _ = key_condition(&cond, &KEY_SCHEMA);
    });
});
