//! The AWS-shaped error every crate returns. The wire layer turns it into a status code, an
//! `x-amzn-ErrorType` header and a JSON body; nothing else needs to know how.

use serde_json::{Map, Value};

/// Which casing of the message member an exception uses on the wire (AWS is inconsistent:
/// `ResourceNotFoundException` sends `Message`, most others `message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageCase {
    Lower,
    Upper,
}

/// An error with AWS's exception name, HTTP status and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
    pub case: MessageCase,
    /// Extra modelled members (e.g. `Reason` on throttles).
    pub extra: Map<String, Value>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        let case = match code {
            "ResourceNotFoundException" | "ServiceException" => MessageCase::Upper,
            _ => MessageCase::Lower,
        };
        Error {
            code,
            status,
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
        Self::new("ResourceNotFoundException", 404, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new("ResourceConflictException", 409, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValueException", 400, message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", 400, message)
    }
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new("PreconditionFailedException", 412, message)
    }
    pub fn bad_content(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestContentException", 400, message)
    }
    pub fn too_many(reason: &str) -> Self {
        Self::new("TooManyRequestsException", 429, "Rate Exceeded.").with("Reason", reason)
    }
    /// A platform fault. The message is generic; the cause is logged, never sent.
    pub fn service() -> Self {
        Self::new(
            "ServiceException",
            500,
            "An internal error occurred. Please try again.",
        )
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new("RequestEntityTooLargeException", 413, message)
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
    }
}
