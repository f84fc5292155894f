//! DynamoDB JSON attribute values and items from raw bytes, as a request body's `Item` is read.
//! A value that decodes must encode to JSON that decodes to an equal value, with the same
//! size and (for key types) the same key bytes.
//! Runs on a thread with the server's 2 MiB stack ([`stratus_fuzz::on_server_stack`]).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stratus_fuzz::on_server_stack;
use stratus_tables::value::{item_from_json, item_size, item_to_json, Attr};

fuzz_target!(|data: &[u8]| {
    on_server_stack(|| {
        let Ok(json) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Ok(a) = Attr::from_json(&json) {
            let again = Attr::from_json(&a.to_json()).expect("an encoded value decodes");
            assert_eq!(a, again);
            assert_eq!(a.size(), again.size());
            assert_eq!(a.key_bytes(), again.key_bytes());
        }
        if let Ok(item) = item_from_json(&json) {
            let again = item_from_json(&item_to_json(&item)).expect("an encoded item decodes");
            assert_eq!(item, again);
            assert_eq!(item_size(&item), item_size(&again));
        }
    });
});
