//! A template or stack request CloudFormation refuses: the error code and its message.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// CloudFormation's error code (`ValidationError`, `AlreadyExistsException`...).
    pub code: &'static str,
    pub message: String,
}

impl Error {
    /// A `ValidationError`, CloudFormation's answer to every bad template.
    pub fn validation(message: impl Into<String>) -> Self {
        Error {
            code: "ValidationError",
            message: message.into(),
        }
    }

    /// "Template format error: ..." (the structure of the template is wrong).
    pub fn format(message: impl fmt::Display) -> Self {
        Error::validation(format!("Template format error: {message}"))
    }

    /// "Template error: ..." (an intrinsic function is misused).
    pub fn template(message: impl fmt::Display) -> Self {
        Error::validation(format!("Template error: {message}"))
    }

    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
