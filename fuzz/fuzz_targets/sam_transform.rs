//! The SAM transform: the input, parsed as a JSON template, is transformed for a fixed stack.
//! Nothing may panic, whatever the template holds; the seeds are the crate's unit cases.
//! Runs on a thread with the server's 2 MiB stack ([`stratus_fuzz::on_server_stack`]).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus_fuzz::on_server_stack;
use stratus_sam::{transform, Context};

fuzz_target!(|data: &[u8]| {
    on_server_stack(|| {
        let Ok(template) = serde_json::from_slice::<serde_json::Value>(data) else {
            return;
        };
        let ctx = Context {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            stack_name: "fuzz".into(),
            partition: "aws".into(),
        };
        let _ = transform(&template, &ctx);
    });
});
