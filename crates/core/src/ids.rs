//! Random identifiers (request ids, trace ids, environment ids).

/// A version-4 UUID from the thread's cryptographically secure generator (`rand`'s
/// `ThreadRng`, seeded from the OS): unlike `Uuid::new_v4`, no system call per id, which
/// matters on the invoke path (a request id and a trace id per invocation).
pub fn uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// A request id: UUID-shaped (version 4 bits set) and unique within the process, made from a
/// random per-process prefix and a counter. Cheaper than [`uuid`] (no random draw per
/// request) for ids that only need to be distinct and unguessable across restarts, not secret.
pub fn request_id() -> uuid::Uuid {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(rand::random);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&prefix.to_be_bytes());
    // The counter is spread over the last 8 bytes; the variant bits taken from byte 8 leave
    // 62 bits of counter, more than a process will ever count.
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// `len` characters drawn from `alphabet` (ASCII) by the thread's generator: the tails of
/// AWS's short resource ids (`csc-...`, API Gateway's ids, CodeDeploy's `d-...`).
pub fn random_chars(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let (a, b) = (super::request_id(), super::request_id());
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 36);
    }

    #[test]
    fn ids_are_version_4_and_distinct() {
        let (a, b) = (super::uuid(), super::uuid());
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }
}
