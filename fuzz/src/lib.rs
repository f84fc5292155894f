//! Fixtures shared by the fuzz targets: a small item with one attribute of every type, the
//! placeholders an expression may use, and helpers to split one input into several fields.

use std::sync::LazyLock;

use serde_json::{json, Value};
use stratus_tables::table::{KeyAttr, KeySchema};
use stratus_tables::value::{item_from_json, Item};

/// ExpressionAttributeNames the targets offer (the seeds use them).
pub static NAMES: LazyLock<Value> = LazyLock::new(|| {
    json!({"#pk": "pk", "#sk": "sk", "#a": "a", "#n": "n", "#l": "l", "#m": "m", "#s": "s",
           "#k": "status"})
});

/// ExpressionAttributeValues the targets offer: one of every type.
pub static VALUES: LazyLock<Value> = LazyLock::new(|| {
    json!({
        ":s": {"S": "hello"}, ":e": {"S": ""}, ":n": {"N": "5"}, ":z": {"N": "0"},
        ":big": {"N": "9.9999999999999999999999999999999999999E+125"},
        ":tiny": {"N": "1E-130"}, ":neg": {"N": "-1"},
        ":b": {"B": "AAEC"}, ":t": {"BOOL": true}, ":null": {"NULL": true},
        ":l": {"L": [{"N": "1"}, {"S": "x"}]}, ":m": {"M": {"a": {"N": "1"}}},
        ":ss": {"SS": ["a", "b"]}, ":ns": {"NS": ["1", "2"]}, ":bs": {"BS": ["AA=="]},
        ":ty": {"S": "N"}
    })
});

/// The item conditions are evaluated against and updates applied to (a copy of it).
pub static ITEM: LazyLock<Item> = LazyLock::new(|| {
    item_from_json(&json!({
        "pk": {"S": "a"}, "sk": {"N": "1"}, "s": {"S": "hello world"}, "n": {"N": "5"},
        "b": {"B": "AAEC"}, "t": {"BOOL": false}, "z": {"NULL": true},
        "l": {"L": [{"N": "1"}, {"S": "x"}, {"L": [{"M": {"a": {"N": "2"}}}]}]},
        "m": {"M": {"a": {"M": {"b": {"S": "c"}}}, "n": {"N": "-2.5"}, "l": {"L": []}}},
        "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": ["AA==", "AQ=="]}
    }))
    .expect("the fixture item is valid")
});

/// The key schema key conditions are checked against: `pk` (S) and `sk` (N).
pub static KEY_SCHEMA: LazyLock<KeySchema> = LazyLock::new(|| KeySchema {
    hash: KeyAttr {
        name: "pk".into(),
        ty: "S".into(),
    },
    range: Some(KeyAttr {
        name: "sk".into(),
        ty: "N".into(),
    }),
});

/// The input as text, invalid UTF-8 replaced (the protocols hand the parsers `&str`).
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Splits the input at NUL bytes into text fields, so seeds can be written by hand.
pub fn fields(data: &[u8]) -> Vec<String> {
    data.split(|b| *b == 0).map(text).collect()
}

/// The stack of the threads that run these parsers in the server: tokio's worker and
/// blocking threads get 2 MiB, a quarter of the main thread's, so deep recursion that the
/// fuzzer's own thread survives can still overflow there.
pub const SERVER_STACK: usize = 2 * 1024 * 1024;

/// Runs `f` on a thread with the server's stack size (a panic in it still aborts the run).
pub fn on_server_stack(f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(SERVER_STACK)
            .spawn_scoped(s, f)
            .expect("spawn a fuzz thread")
            .join()
            .expect("the fuzz thread panicked");
    });
}
