//! The event-invoke configuration of a function, version or alias: how its asynchronous
//! invocations are retried and where their outcomes go. The Lambda API stores it; the
//! dispatcher reads it for each attempt.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kind of document it is stored as, per qualifier.
pub const KIND: &str = "event-invoke-config";

/// The stored document, in AWS's member names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_config: Option<Value>,
    #[serde(default)]
    pub last_modified: f64,
}

impl EventInvokeConfig {
    /// Retries after the first attempt's function error (AWS's default is 2).
    pub fn max_retries(&self) -> u32 {
        self.maximum_retry_attempts.unwrap_or(2).max(0) as u32
    }

    /// How old an event may get before it is given up (AWS's default is 6 hours).
    pub fn max_age_ms(&self) -> i64 {
        self.maximum_event_age_in_seconds.unwrap_or(21_600) * 1000
    }

    /// The function ARN of the `OnSuccess` or `OnFailure` destination, if one is set
    /// (destinations of other types are accepted and ignored).
    pub fn destination(&self, success: bool) -> Option<&str> {
        let key = if success { "OnSuccess" } else { "OnFailure" };
        self.destination_config
            .as_ref()?
            .get(key)?
            .get("Destination")?
            .as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_aws_and_destinations_are_read_by_outcome() {
        let none = EventInvokeConfig::default();
        assert_eq!((none.max_retries(), none.max_age_ms()), (2, 21_600_000));
        assert_eq!(none.destination(true), None);
        let cfg: EventInvokeConfig = serde_json::from_value(serde_json::json!({
            "MaximumRetryAttempts": 0,
            "MaximumEventAgeInSeconds": 60,
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:dlq"}}
        }))
        .unwrap();
        assert_eq!((cfg.max_retries(), cfg.max_age_ms()), (0, 60_000));
        assert_eq!(cfg.destination(true), None);
        assert!(cfg.destination(false).unwrap().ends_with(":function:dlq"));
    }
}
