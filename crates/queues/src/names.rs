//! Queue names, ARNs and URLs, and the errors SQS answers with. Error codes are the JSON
//! protocol's (`QueueDoesNotExist`); the API layer knows each one's Query-protocol name.

use stratus_core::{Error, Kind, ACCOUNT_ID};

/// Longest queue name (`.fifo` included).
const MAX_NAME: usize = 80;

/// `arn:aws:sqs:<region>:<account>:<name>`.
pub fn queue_arn(region: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}")
}

/// The region and name of a queue ARN of this account, if it is one.
pub fn parse_queue_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:sqs:")?;
    let mut parts = rest.splitn(3, ':');
    let region = parts.next()?;
    let account = parts.next()?;
    let name = parts.next()?;
    (account == ACCOUNT_ID && !region.is_empty() && valid_name(name)).then_some((region, name))
}

/// The name of a queue from its URL (`http://host/<account>/<name>`), if the URL is one of
/// this account's.
pub fn name_from_url(url: &str) -> Option<&str> {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let name = segments.next()?;
    let account = segments.next()?;
    (account == ACCOUNT_ID && !name.is_empty()).then_some(name)
}

/// 1-80 letters, digits, `-` and `_`, with `.fifo` at the end of a FIFO queue's name.
pub fn valid_name(name: &str) -> bool {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    !stem.is_empty()
        && name.len() <= MAX_NAME
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a new queue's name against its `FifoQueue` attribute, with AWS's messages.
pub fn check_name(name: &str, fifo: bool) -> Result<(), Error> {
    if fifo && (!name.ends_with(".fifo") || !valid_name(name)) {
        return Err(invalid_value(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
        ));
    }
    if !valid_name(name) || (!fifo && name.ends_with(".fifo")) {
        return Err(invalid_value(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    Ok(())
}

fn client(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(code, Kind::InvalidInput, message)
}

pub fn invalid_value(message: impl Into<String>) -> Error {
    client("InvalidParameterValue", message)
}

/// `Value <v> for parameter <p> is invalid. Reason: <why>`, SQS's usual wording.
pub fn invalid_parameter(value: impl std::fmt::Display, param: &str, why: &str) -> Error {
    invalid_value(format!(
        "Value {value} for parameter {param} is invalid. Reason: {why}"
    ))
}

pub fn missing(param: &str) -> Error {
    client(
        "MissingParameter",
        format!("The request must contain the parameter {param}."),
    )
}

pub fn queue_not_found() -> Error {
    client("QueueDoesNotExist", "The specified queue does not exist.")
}

pub fn queue_exists(attribute: &str) -> Error {
    client(
        "QueueNameExists",
        format!("A queue already exists with the same name and a different value for attribute {attribute}"),
    )
}

pub fn invalid_attribute_name(name: &str) -> Error {
    client("InvalidAttributeName", format!("Unknown Attribute {name}."))
}

pub fn invalid_attribute_value(name: &str, why: Option<&str>) -> Error {
    let message = match why {
        Some(why) => format!("Invalid value for the parameter {name}. Reason: {why}"),
        None => format!("Invalid value for the parameter {name}."),
    };
    client("InvalidAttributeValue", message)
}

pub fn receipt_handle_invalid(handle: &str) -> Error {
    client(
        "ReceiptHandleIsInvalid",
        format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
    )
}

pub fn message_not_inflight() -> Error {
    client(
        "MessageNotInflight",
        "The message referred to isn't in flight.",
    )
}

pub fn purge_in_progress(name: &str) -> Error {
    client(
        "PurgeQueueInProgress",
        format!("Only one PurgeQueue operation on {name} is allowed every 60 seconds."),
    )
}

pub fn resource_not_found(message: impl Into<String>) -> Error {
    Error::new("ResourceNotFoundException", Kind::InvalidInput, message)
}

pub fn unsupported(message: impl Into<String>) -> Error {
    client("UnsupportedOperation", message)
}

pub fn over_limit(message: impl Into<String>) -> Error {
    client("OverLimit", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_urls_and_arns() {
        assert!(valid_name("jobs-1_a"));
        assert!(valid_name("jobs.fifo"));
        assert!(!valid_name(".fifo"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(&"a".repeat(81)));
        assert!(check_name("q.fifo", false).is_err());
        assert!(check_name("q", true).is_err());
        assert!(check_name("q.fifo", true).is_ok());
        assert_eq!(
            name_from_url("http://localhost:4566/000000000000/jobs"),
            Some("jobs")
        );
        assert_eq!(name_from_url("http://h/111111111111/jobs"), None);
        let arn = queue_arn("eu-west-1", "jobs");
        assert_eq!(parse_queue_arn(&arn), Some(("eu-west-1", "jobs")));
        assert_eq!(
            parse_queue_arn("arn:aws:sns:eu-west-1:000000000000:t"),
            None
        );
    }
}
