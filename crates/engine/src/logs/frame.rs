//! Records that span lines. A runtime writes a log record holding newlines (a traceback, a
//! `logging` record with a multi-line message) as one frame on its output:
//! `RS <byte length in decimal> RS <record> LF`, where RS is the ASCII record separator
//! (0x1E), at the start of a line. The frame becomes one event; every other line is an event
//! of its own, as on AWS, where the runtimes frame records on a telemetry descriptor and plain
//! writes to stdout arrive line by line (decision 0034). Anything that looks like a frame's
//! start but is not a whole frame is an ordinary line.

const RS: u8 = 0x1e;

/// Calls `f(offset, record)` for each record of `text`: frames whole, other text by line.
pub fn for_each_record<'a>(text: &'a [u8], mut f: impl FnMut(usize, &'a [u8])) {
    let mut at = 0;
    while at < text.len() {
        if let Some((start, end)) = frame_at(text, at) {
            f(at, &text[start..end]);
            at = end + usize::from(text.get(end) == Some(&b'\n'));
            continue;
        }
        let end = text[at..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |i| at + i);
        f(at, &text[at..end]);
        at = end + 1;
    }
}

/// The payload range of a whole frame starting at `at`, if one does.
fn frame_at(text: &[u8], at: usize) -> Option<(usize, usize)> {
    let rest = text.get(at..)?;
    if rest.first() != Some(&RS) {
        return None;
    }
    let digits = rest[1..]
        .iter()
        .take(10)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || rest.get(1 + digits) != Some(&RS) {
        return None;
    }
    let len: usize = std::str::from_utf8(&rest[1..1 + digits])
        .ok()?
        .parse()
        .ok()?;
    let start = at + digits + 2;
    let end = start.checked_add(len)?;
    (end <= text.len()).then_some((start, end))
}

/// `text` with frames replaced by their records, one per line (what an invocation's log tail
/// shows).
pub fn plain(text: Vec<u8>) -> Vec<u8> {
    if !text.contains(&RS) {
        return text;
    }
    let mut out = Vec::with_capacity(text.len());
    for_each_record(&text, |_, r| {
        out.extend_from_slice(r);
        out.push(b'\n');
    });
    if !text.ends_with(b"\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &[u8]) -> Vec<String> {
        let mut v = Vec::new();
        for_each_record(text, |_, r| v.push(String::from_utf8_lossy(r).into_owned()));
        v
    }

    #[test]
    fn frames_are_one_record_and_lines_are_each_one() {
        let text = b"a\n\x1e5\x1eb\nc\nd\ne\nf\n";
        assert_eq!(records(text), ["a", "b\nc\nd", "e", "f"]);
        assert_eq!(plain(text.to_vec()), b"a\nb\nc\nd\ne\nf\n");
    }

    #[test]
    fn broken_frames_are_plain_lines() {
        assert_eq!(records(b"\x1e99\x1eshort\nx"), ["\x1e99\x1eshort", "x"]);
        assert_eq!(records(b"\x1ex\x1ey"), ["\x1ex\x1ey"]);
        assert_eq!(
            records(b"\x1e99999999999999999999\x1e"),
            ["\x1e99999999999999999999\x1e"]
        );
        assert_eq!(records(b"\x1e"), ["\x1e"]);
    }
}
