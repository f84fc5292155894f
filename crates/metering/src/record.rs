//! One metering record per invocation: what ran, how it was triggered, how long it took and
//! how it ended. Throttled invocations have a record too (they did not run: no duration, no
//! cost).

use serde::{Deserialize, Serialize};

/// What made the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A synchronous Invoke from outside the platform.
    Direct,
    /// An HTTP API route.
    Http,
    /// An object event from S3.
    S3,
    /// An `Event` invocation (and an asynchronous destination).
    Async,
    /// An Invoke made by a function.
    Function,
    /// An SNS subscription.
    Sns,
    /// An event source mapping's poller (a DynamoDB stream's batch).
    EventSourceMapping,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Direct => "direct",
            Trigger::Http => "http",
            Trigger::S3 => "s3",
            Trigger::Async => "async",
            Trigger::Function => "function",
            Trigger::Sns => "sns",
            Trigger::EventSourceMapping => "event-source-mapping",
        }
    }

    /// The trigger of a queued asynchronous event, from the name the queue stores (events
    /// queued by anything else, such as destinations, are asynchronous invocations).
    pub fn of_event(name: &str) -> Trigger {
        match name {
            "s3" => Trigger::S3,
            "sns" => Trigger::Sns,
            "function" => Trigger::Function,
            _ => Trigger::Async,
        }
    }

    pub fn parse(s: &str) -> Option<Trigger> {
        [
            Trigger::Direct,
            Trigger::Http,
            Trigger::S3,
            Trigger::Async,
            Trigger::Function,
            Trigger::Sns,
            Trigger::EventSourceMapping,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// How the invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    FunctionError,
    Timeout,
    Throttled,
    Crashed,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Success,
        Outcome::FunctionError,
        Outcome::Timeout,
        Outcome::Throttled,
        Outcome::Crashed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::FunctionError => "function_error",
            Outcome::Timeout => "timeout",
            Outcome::Throttled => "throttled",
            Outcome::Crashed => "crashed",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether the function ran (everything but a throttle): what is counted and charged.
    pub fn ran(self) -> bool {
        self != Outcome::Throttled
    }

    /// What AWS's `Errors` metric counts.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Outcome::FunctionError | Outcome::Timeout | Outcome::Crashed
        )
    }
}

/// One invocation, as metered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub request_id: String,
    pub function: String,
    /// The version that ran (`$LATEST` or a number).
    pub version: String,
    /// The alias the caller named, if any.
    pub alias: Option<String>,
    pub trigger: Trigger,
    /// When the invocation was received, in epoch milliseconds.
    pub start_ms: i64,
    pub duration_ms: f64,
    /// The duration rounded up to the millisecond (at least 1 ms when it ran; 0 when throttled).
    pub billed_ms: u64,
    /// Set on cold starts.
    pub init_duration_ms: Option<f64>,
    pub memory_mb: u32,
    pub max_memory_mb: u64,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    pub outcome: Outcome,
    pub cold: bool,
}

/// AWS's billed duration: rounded up to the next millisecond, never below 1 ms (from whole
/// microseconds, as the REPORT line's `Billed Duration` is).
pub fn billed_ms(duration: std::time::Duration) -> u64 {
    (duration.as_micros().div_ceil(1000) as u64).max(1)
}

impl Record {
    /// GB-seconds of the invocation: billed seconds times memory in GB (1 GB = 1024 MB).
    pub fn gb_seconds(&self) -> f64 {
        self.billed_ms as f64 / 1000.0 * f64::from(self.memory_mb) / 1024.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_rounds_up_to_the_millisecond() {
        use std::time::Duration;
        assert_eq!(billed_ms(Duration::from_micros(200)), 1);
        assert_eq!(billed_ms(Duration::ZERO), 1);
        assert_eq!(billed_ms(Duration::from_millis(12)), 12);
        assert_eq!(billed_ms(Duration::from_micros(12_001)), 13);
        assert_eq!(billed_ms(Duration::from_nanos(12_000_400)), 12);
    }

    #[test]
    fn names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Trigger::parse("http"), Some(Trigger::Http));
        assert_eq!(Trigger::of_event("destination"), Trigger::Async);
        assert_eq!(Trigger::of_event("s3"), Trigger::S3);
        assert!(Outcome::Timeout.is_error() && !Outcome::Throttled.is_error());
        assert!(!Outcome::Throttled.ran());
    }
}
