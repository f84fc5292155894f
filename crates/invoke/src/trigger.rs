//! What made an invocation. The queue stores [`Trigger::as_str`] with each event, and metering
//! records [`Trigger::metered`], so both keep the names they have always had.

use stratus_metering::Trigger as Metered;

/// What made an invocation. Each new event source (queues, schedules, function URLs) adds a
/// variant here and calls the invoker; it resolves, meters and retries nothing itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// The Invoke API, called from outside the platform.
    Direct,
    /// The Invoke API, called by a function.
    Function,
    /// An HTTP API route.
    HttpApi,
    /// A function URL (metered with HTTP APIs, as HTTP requests).
    FunctionUrl,
    /// An S3 bucket notification.
    S3,
    /// An SNS subscription.
    Sns,
    /// An `Event` invocation (Invoke with `InvocationType: Event`, or InvokeAsync), run and
    /// retried by the asynchronous queue.
    Async,
    /// An asynchronous invocation's record sent to its `OnSuccess`/`OnFailure` function.
    Destination,
    /// A batch of an event source mapping (a DynamoDB stream's records), run synchronously
    /// by its poller.
    EventSourceMapping,
    /// An EventBridge rule's or schedule's target (an asynchronous invocation).
    Events,
}

impl Trigger {
    const ALL: [Trigger; 10] = [
        Trigger::Direct,
        Trigger::Function,
        Trigger::HttpApi,
        Trigger::FunctionUrl,
        Trigger::S3,
        Trigger::Sns,
        Trigger::Async,
        Trigger::Destination,
        Trigger::EventSourceMapping,
        Trigger::Events,
    ];

    /// The name stored with a queued event.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Direct => "direct",
            Trigger::Function => "function",
            Trigger::HttpApi => "http",
            Trigger::FunctionUrl => "function-url",
            Trigger::S3 => "s3",
            Trigger::Sns => "sns",
            Trigger::Async => "async",
            Trigger::Destination => "destination",
            Trigger::EventSourceMapping => "event-source-mapping",
            Trigger::Events => "events",
        }
    }

    /// The trigger a queued event was stored with; a name this version does not know (from a
    /// newer one) is run as an asynchronous invocation.
    pub fn of_stored(name: &str) -> Trigger {
        Trigger::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .unwrap_or(Trigger::Async)
    }

    /// The trigger usage reports and metrics group by (a destination is an asynchronous
    /// invocation there).
    pub fn metered(self) -> Metered {
        match self {
            Trigger::Direct => Metered::Direct,
            Trigger::Function => Metered::Function,
            Trigger::HttpApi | Trigger::FunctionUrl => Metered::Http,
            Trigger::S3 => Metered::S3,
            Trigger::Sns => Metered::Sns,
            Trigger::Async | Trigger::Destination | Trigger::Events => Metered::Async,
            Trigger::EventSourceMapping => Metered::EventSourceMapping,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_reports_keep_their_names() {
        for t in Trigger::ALL {
            assert_eq!(Trigger::of_stored(t.as_str()), t);
        }
        assert_eq!(Trigger::of_stored("queue-from-the-future"), Trigger::Async);
        assert_eq!(Trigger::HttpApi.metered().as_str(), "http");
        assert_eq!(Trigger::Destination.metered().as_str(), "async");
        assert_eq!(Trigger::Function.metered().as_str(), "function");
    }
}
