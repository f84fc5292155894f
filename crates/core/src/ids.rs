//! Random identifiers (request ids, trace ids, environment ids).

/// A version-4 UUID from the thread's cryptographically secure generator (`rand`'s
/// `ThreadRng`, seeded from the OS): unlike `Uuid::new_v4`, no system call per id, which
/// matters on the invoke path (a request id and a trace id per invocation).
pub fn uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_version_4_and_distinct() {
        let (a, b) = (super::uuid(), super::uuid());
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }
}
