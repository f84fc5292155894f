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
