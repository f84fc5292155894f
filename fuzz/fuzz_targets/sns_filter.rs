//! SNS filter policies: `policy NUL body`, the first byte of the policy choosing the scope
//! (`B` for MessageBody, anything else MessageAttributes; it is kept as part of the policy
//! text otherwise). A policy that parses is matched against the body and a fixed set of
//! message attributes of every type. Nothing may panic, and parsing must stay within AWS's
//! limits on keys and combinations.
//! Runs on a thread with the server's 2 MiB stack ([`stratus_fuzz::on_server_stack`]).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use stratus_fuzz::{fields, on_server_stack};
use stratus_topics::filter::{FilterPolicy, Scope};
use stratus_topics::message::MessageAttribute;

fn attributes() -> BTreeMap<String, MessageAttribute> {
    let a = |t: &str, s: Option<&str>, b: Option<&[u8]>| MessageAttribute {
        data_type: t.into(),
        string_value: s.map(str::to_string),
        binary_value: b.map(<[u8]>::to_vec),
    };
    BTreeMap::from([
        ("store".into(), a("String", Some("example_corp"), None)),
        ("price".into(), a("Number", Some("210.75"), None)),
        ("count".into(), a("Number.int", Some("-3"), None)),
        ("ip".into(), a("String", Some("10.0.0.7"), None)),
        ("ip6".into(), a("String", Some("2001:db8::1"), None)),
        (
            "tags".into(),
            a("String.Array", Some(r#"["a", 1, true, null]"#), None),
        ),
        ("blob".into(), a("Binary", None, Some(b"\x00\x01"))),
    ])
}

fuzz_target!(|data: &[u8]| {
    on_server_stack(|| {
        let f = fields(data);
        let (policy, body) = (&f[0], f.get(1).map_or("", String::as_str));
        let scope = if policy.starts_with('B') {
            Scope::MessageBody
        } else {
            Scope::MessageAttributes
        };
        let policy = policy.strip_prefix('B').unwrap_or(policy);
        let Ok(p) = FilterPolicy::parse(policy, scope) else {
            return;
        };
        let _ = p.matches(&attributes(), body);
    });
});
