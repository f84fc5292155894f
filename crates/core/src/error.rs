//! The AWS-shaped error every crate returns: what went wrong (a [`Kind`]), AWS's error code
//! and a message. It carries no HTTP status: each wire protocol's one renderer in the API layer
//! picks the status from the kind (and the few codes AWS answers differently), and writes the
//! body in its protocol's shape. So an error born deep in a store reads the same whichever
//! protocol it leaves through.

use serde_json::{Map, Value};

/// Which casing of the message member an exception uses on the wire (AWS is inconsistent:
/// `ResourceNotFoundException` sends `Message`, most others `message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageCase {
    Lower,
    Upper,
}

/// What kind of failure an error is: the renderers derive the HTTP status from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The request is malformed or a value is out of range.
    InvalidInput,
    /// The operation the request names does not exist.
    UnknownOperation,
    /// The resource the request names does not exist.
    NotFound,
    /// The resource exists, or is in a state that does not allow the operation.
    Conflict,
    /// A condition the request set (revision id, ETag) does not hold.
    PreconditionFailed,
    /// The request (or a part of it) is larger than allowed.
    TooLarge,
    /// A rate or concurrency limit refused the request.
    Throttled,
    /// The request's signature or credentials are missing or wrong.
    Unauthenticated,
    /// The caller is known but not allowed to do this.
    AccessDenied,
    /// The platform cannot serve the request now (a dependency is down).
    Unavailable,
    /// A fault of the platform; the cause is logged, never sent.
    Internal,
}

impl Kind {
    /// Whether the fault is the platform's rather than the caller's (AWS's `Service` /
    /// `Receiver` error type).
    pub fn is_fault(self) -> bool {
        matches!(self, Kind::Internal | Kind::Unavailable)
    }
}

/// An error with its kind, AWS's exception name and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: &'static str,
    pub kind: Kind,
    pub message: String,
    pub case: MessageCase,
    /// Extra modelled members (e.g. `Reason` on throttles).
    pub extra: Map<String, Value>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: &'static str, kind: Kind, message: impl Into<String>) -> Self {
        let case = match code {
            "ResourceNotFoundException"
            | "ServiceException"
            | "RecursiveInvocationException"
            | "SnapStartException"
            | "SnapStartNotReadyException"
            | "SnapStartTimeoutException"
            | "CodeVerificationFailedException"
            | "CodeSigningConfigNotFoundException"
            | "InvalidCodeSignatureException" => MessageCase::Upper,
            _ => MessageCase::Lower,
        };
        Error {
            code,
            kind,
            message: message.into(),
            case,
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", Kind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new("ResourceConflictException", Kind::Conflict, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            "InvalidParameterValueException",
            Kind::InvalidInput,
            message,
        )
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", Kind::InvalidInput, message)
    }
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(
            "PreconditionFailedException",
            Kind::PreconditionFailed,
            message,
        )
    }
    pub fn bad_content(message: impl Into<String>) -> Self {
        Self::new(
            "InvalidRequestContentException",
            Kind::InvalidInput,
            message,
        )
    }
    pub fn too_many(reason: &str) -> Self {
        Self::new(
            "TooManyRequestsException",
            Kind::Throttled,
            "Rate Exceeded.",
        )
        .with("Reason", reason)
    }
    /// An invocation stopped because its chain of events loops (Invoke's `400`).
    pub fn recursive_invocation() -> Self {
        Self::new(
            "RecursiveInvocationException",
            Kind::InvalidInput,
            "Lambda has detected your function being invoked in a recursive loop with other \
             Amazon Web Services resources and stopped your function's invocation.",
        )
        .with("Type", "User")
    }
    /// A platform fault. The message is generic; the cause is logged, never sent.
    pub fn service() -> Self {
        Self::new(
            "ServiceException",
            Kind::Internal,
            "An internal error occurred. Please try again.",
        )
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new("RequestEntityTooLargeException", Kind::TooLarge, message)
    }

    /// AWS's single-constraint validation message:
    /// `1 validation error detected: Value 'v' at 'member' failed to satisfy constraint: text`.
    pub fn constraint(value: impl std::fmt::Display, member: &str, text: &str) -> Self {
        Self::validation(constraint_message(&[(value.to_string(), member, text)]))
    }
}

/// Joins several constraint violations the way AWS does.
pub fn constraint_message(violations: &[(String, &str, &str)]) -> String {
    let n = violations.len();
    let head = if n == 1 {
        "1 validation error detected: ".to_string()
    } else {
        format!("{n} validation errors detected: ")
    };
    let body: Vec<String> = violations
        .iter()
        .map(|(v, m, t)| format!("Value '{v}' at '{m}' failed to satisfy constraint: {t}"))
        .collect();
    head + &body.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_message_matches_aws_format() {
        let e = Error::constraint(
            901,
            "timeout",
            "Member must have value less than or equal to 900",
        );
        assert_eq!(e.code, "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: \
             Member must have value less than or equal to 900"
        );
        let two = constraint_message(&[("a".into(), "x", "t1"), ("b".into(), "y", "t2")]);
        assert!(two.starts_with("2 validation errors detected: Value 'a'"));
        assert!(two.contains("; Value 'b' at 'y'"));
    }

    #[test]
    fn not_found_uses_upper_case_message_member() {
        assert_eq!(Error::not_found("x").case, MessageCase::Upper);
        assert_eq!(Error::conflict("x").case, MessageCase::Lower);
        let signing = Error::new("CodeVerificationFailedException", Kind::InvalidInput, "x");
        assert_eq!(signing.case, MessageCase::Upper, "as botocore models it");
        let restore = Error::new("SnapStartTimeoutException", Kind::Unavailable, "x");
        assert_eq!(restore.case, MessageCase::Upper);
    }
}
