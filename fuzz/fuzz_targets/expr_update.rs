//! UpdateExpression: parse any text with the fixture placeholders and apply what parses to a
//! copy of the fixture item. Nothing may panic or overflow the stack.
//! Runs on a thread with the server's 2 MiB stack ([`stratus_fuzz::on_server_stack`]).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus_fuzz::{item, names, on_server_stack, text, values};
use stratus_tables::expr::{parse, update, Placeholders};

fuzz_target!(|data: &[u8]| {
    on_server_stack(|| {
        let src = text(data);
        let (names, values) = (names(), values());
        let mut ph = Placeholders::new(Some(&names), Some(&values)).expect("fixture placeholders");
        let Ok(actions) = parse::update(&src, &mut ph) else {
            return;
        };
        let _ = ph.check_unused("");
        let mut it = item();
        let _ = update::apply(&mut it, &actions);
    });
});
