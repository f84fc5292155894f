//! ARNs and names of topics and subscriptions, and the errors SNS answers with.

use stratus_core::{Error, Kind, ACCOUNT_ID};

/// Longest topic name (`.fifo` included).
const MAX_NAME: usize = 256;

/// `InvalidParameter` (400) with SNS's `Invalid parameter: ...` wording.
pub fn invalid(what: impl std::fmt::Display) -> Error {
    Error::new(
        "InvalidParameter",
        Kind::InvalidInput,
        format!("Invalid parameter: {what}"),
    )
}

/// `ParameterValueInvalid` (400): SNS's code for bad message attribute values.
pub fn invalid_value(message: impl Into<String>) -> Error {
    Error::new("ParameterValueInvalid", Kind::InvalidInput, message)
}

pub fn topic_not_found() -> Error {
    Error::new("NotFound", Kind::NotFound, "Topic does not exist")
}

pub fn subscription_not_found() -> Error {
    Error::new("NotFound", Kind::NotFound, "Subscription does not exist")
}

pub fn resource_not_found() -> Error {
    Error::new(
        "ResourceNotFound",
        Kind::NotFound,
        "Resource does not exist",
    )
}

/// `arn:aws:sns:<region>:<account>:<name>`.
pub fn topic_arn(region: &str, name: &str) -> String {
    format!("arn:aws:sns:{region}:{ACCOUNT_ID}:{name}")
}

/// Checks a topic name: 1-256 of letters, digits, `-` and `_`, plus `.fifo` for FIFO topics.
pub fn validate_topic_name(name: &str, fifo: bool) -> Result<(), Error> {
    let stem = if fifo {
        name.strip_suffix(".fifo")
            .ok_or_else(|| invalid("Topic Name"))?
    } else {
        name
    };
    let ok = !stem.is_empty()
        && name.len() <= MAX_NAME
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid("Topic Name"))
    }
}

/// The parts of a topic ARN, or `None` if it is not one.
pub fn parse_topic_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:sns:")?;
    let mut parts = rest.splitn(3, ':');
    let region = parts.next()?;
    let account = parts.next()?;
    let name = parts.next()?;
    let valid = !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && validate_topic_name(name, name.ends_with(".fifo")).is_ok();
    valid.then_some((region, name))
}

/// The topic ARN of a subscription ARN (`<topic arn>:<uuid>`), or `None` if it is not one.
pub fn parse_subscription_arn(arn: &str) -> Option<&str> {
    let (topic, id) = arn.rsplit_once(':')?;
    parse_topic_arn(topic)?;
    uuid::Uuid::parse_str(id).ok()?;
    Some(topic)
}

/// A new subscription ARN under `topic_arn`.
pub fn new_subscription_arn(topic_arn: &str) -> String {
    format!("{topic_arn}:{}", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("orders_2-x", false).is_ok());
        assert!(validate_topic_name(&"a".repeat(256), false).is_ok());
        assert!(validate_topic_name(&"a".repeat(257), false).is_err());
        assert!(validate_topic_name("", false).is_err());
        assert!(validate_topic_name("has space", false).is_err());
        assert!(validate_topic_name("x.fifo", false).is_err());
        assert!(validate_topic_name("x.fifo", true).is_ok());
        assert!(validate_topic_name("x", true).is_err());
        assert_eq!(
            validate_topic_name("a/b", false).unwrap_err().message,
            "Invalid parameter: Topic Name"
        );
    }

    #[test]
    fn arns_round_trip() {
        let t = topic_arn("eu-west-1", "orders");
        assert_eq!(t, "arn:aws:sns:eu-west-1:000000000000:orders");
        assert_eq!(parse_topic_arn(&t), Some(("eu-west-1", "orders")));
        assert_eq!(
            parse_topic_arn("arn:aws:sqs:eu-west-1:000000000000:q"),
            None
        );
        assert_eq!(parse_topic_arn("arn:aws:sns:eu-west-1:12:q"), None);
        let s = new_subscription_arn(&t);
        assert_eq!(parse_subscription_arn(&s), Some(t.as_str()));
        assert_eq!(parse_subscription_arn(&t), None);
    }
}
