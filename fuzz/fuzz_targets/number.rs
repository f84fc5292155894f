//! DynamoDB numbers: two texts separated by a NUL byte. A number that parses must print in a
//! form that parses back to itself; its key bytes must order as the numbers do; sums and
//! differences must not panic and must agree with each other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus_fuzz::fields;
use stratus_tables::number::Number;

fn parsed(text: &str) -> Option<Number> {
    let n = Number::parse(text).ok()?;
    let shown = n.to_string();
    let again = Number::parse(&shown).expect("a printed number parses");
    assert_eq!(n, again, "{text} printed as {shown}");
    Some(n)
}

fuzz_target!(|data: &[u8]| {
    let f = fields(data);
    let a = parsed(&f[0]);
    let b = f.get(1).and_then(|t| parsed(t));
    let (Some(a), Some(b)) = (a, b) else {
        return;
    };
    assert_eq!(a.cmp(&b), a.key_bytes().cmp(&b.key_bytes()), "{a} vs {b}");
    if let (Ok(x), Ok(y)) = (a.add(&b), b.add(&a)) {
        assert_eq!(x, y, "{a} + {b}");
    }
    if let Ok(d) = a.sub(&b) {
        // (a - b) + b is a again whenever every step fits in 38 digits.
        if let Ok(back) = d.add(&b) {
            assert_eq!(back, a, "{a} - {b} + {b}");
        }
    }
});
