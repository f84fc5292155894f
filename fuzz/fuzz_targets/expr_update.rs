//! UpdateExpression: parse any text with the fixture placeholders and apply what parses to a
//! copy of the fixture item. Nothing may panic or overflow the stack.
//! Runs on a thread with the server's 2 MiB stack ([`stratus_fuzz::on_server_stack`]).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus_fuzz::{on_server_stack, text, ITEM, NAMES, VALUES};
use stratus_tables::expr::{parse, update, Placeholders};

fuzz_target!(|data: &[u8]| {
    on_server_stack(|| {
        let src = text(data);
        let mut ph = Placeholders::new(Some(&NAMES), Some(&VALUES)).expect("fixture placeholders");
        let Ok(actions) = parse::update(&src, &mut ph) else {
            return;
        };
        let _ = ph.check_unused("");
        let mut it = ITEM.clone();
        let _ = update::apply(&mut it, &actions);
    });
});
