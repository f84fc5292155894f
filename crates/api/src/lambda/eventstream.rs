//! The `application/vnd.amazon.eventstream` framing the SDKs decode: each message is a
//! prelude (total length, headers length, the prelude's CRC32), headers (name, type 7 for a
//! string, value), the payload and the CRC32 of all that came before. Only what
//! `InvokeWithResponseStream` sends is written: event messages with string headers.

/// A header value's type byte for a string.
const STRING: u8 = 7;

/// One event message: `:event-type`, `:content-type`, `:message-type: event`, then `payload`.
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    let headers = [
        (":event-type", event_type),
        (":content-type", content_type),
        (":message-type", "event"),
    ];
    let headers_len: usize = headers.iter().map(|(n, v)| 1 + n.len() + 3 + v.len()).sum();
    let total = 12 + headers_len + payload.len() + 4;
    let mut m = Vec::with_capacity(total);
    // A payload is bounded by the response limits, far below 4 GiB.
    m.extend_from_slice(&(total as u32).to_be_bytes());
    m.extend_from_slice(&(headers_len as u32).to_be_bytes());
    m.extend_from_slice(&crc32fast::hash(&m).to_be_bytes());
    for (name, value) in headers {
        m.push(name.len() as u8);
        m.extend_from_slice(name.as_bytes());
        m.push(STRING);
        m.extend_from_slice(&(value.len() as u16).to_be_bytes());
        m.extend_from_slice(value.as_bytes());
    }
    m.extend_from_slice(payload);
    let crc = crc32fast::hash(&m);
    m.extend_from_slice(&crc.to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a message back the way a decoder does, checking both CRCs.
    fn decode(m: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
        let total = u32::from_be_bytes(m[0..4].try_into().unwrap()) as usize;
        let headers_len = u32::from_be_bytes(m[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, m.len());
        assert_eq!(
            u32::from_be_bytes(m[8..12].try_into().unwrap()),
            crc32fast::hash(&m[..8])
        );
        assert_eq!(
            u32::from_be_bytes(m[total - 4..].try_into().unwrap()),
            crc32fast::hash(&m[..total - 4])
        );
        let mut headers = Vec::new();
        let mut at = 12;
        while at < 12 + headers_len {
            let n = m[at] as usize;
            let name = String::from_utf8(m[at + 1..at + 1 + n].to_vec()).unwrap();
            at += 1 + n;
            assert_eq!(m[at], STRING);
            let len = u16::from_be_bytes([m[at + 1], m[at + 2]]) as usize;
            let value = String::from_utf8(m[at + 3..at + 3 + len].to_vec()).unwrap();
            at += 3 + len;
            headers.push((name, value));
        }
        (headers, m[12 + headers_len..total - 4].to_vec())
    }

    #[test]
    fn messages_carry_their_headers_payload_and_checksums() {
        let m = event("PayloadChunk", "application/octet-stream", b"hello\0");
        let (headers, payload) = decode(&m);
        assert_eq!(payload, b"hello\0");
        assert_eq!(headers[0], (":event-type".into(), "PayloadChunk".into()));
        assert_eq!(headers[2], (":message-type".into(), "event".into()));
        let (_, empty) = decode(&event("InvokeComplete", "application/json", b""));
        assert!(empty.is_empty());
    }

    #[test]
    fn a_known_frame() {
        // The prelude of an empty-payload message: 12 + headers + 4 bytes, its CRC over 8 bytes.
        let m = event("E", "t", b"");
        let headers_len = (1 + 11 + 3 + 1) + (1 + 13 + 3 + 1) + (1 + 13 + 3 + 5);
        assert_eq!(m.len(), 12 + headers_len + 4);
        assert_eq!(&m[4..8], &(headers_len as u32).to_be_bytes());
    }
}
