//! How an invocation ended, as types: the engine says *what* happened (a throttle, a time-out,
//! an exit, a failed initialisation) and callers choose their wire answer from the variant,
//! never by comparing error-code strings.

use crate::env::Status;

/// Which concurrency limit refused an invocation: the `Reason` AWS gives with its 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The function's reserved concurrency is in use (or is 0).
    Reserved,
    /// The account's unreserved concurrency is in use.
    Account,
}

impl Throttle {
    /// AWS's `Reason` member of `TooManyRequestsException`.
    pub fn reason(self) -> &'static str {
        match self {
            Throttle::Reserved => "ReservedFunctionConcurrentInvocationLimitExceeded",
            Throttle::Account => "ConcurrentInvocationLimitExceeded",
        }
    }
}

/// Why the engine ran nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    /// No concurrency was free.
    #[error("throttled: {}", .0.reason())]
    Throttled(Throttle),
    /// The platform could not start an environment (the cause is logged where it happened).
    #[error("the platform could not start an execution environment")]
    Platform,
    /// AWS refuses the invocation with its own error (a SnapStart version not ready, or
    /// whose after-restore hook failed).
    #[error("{0}")]
    Rejected(stratus_core::Error),
}

/// How a failed initialisation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitFailure {
    /// The runtime reported an error (its `errorType`, such as `Runtime.ImportModuleError`,
    /// is in the payload), or there was no way to run it (`Runtime.InvalidEntrypoint`).
    Error,
    /// The runtime exited during initialisation: `Runtime.ExitError`.
    Exited,
    /// Initialisation outlasted its limit: `Runtime.InitTimeout`.
    TimedOut,
}

/// How an invocation that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Success,
    /// The handler returned an error, or a response over the limit
    /// (`Function.ResponseSizeTooLarge`); its `errorType` is in the payload.
    FunctionError,
    /// The function's timeout passed and the environment was killed: `Sandbox.Timedout`.
    TimedOut,
    /// The runtime exited (or its Runtime API went away) before answering: `Runtime.ExitError`.
    Exited,
    /// The environment never became ready; the handler did not run.
    InitFailed(InitFailure),
}

impl Ending {
    /// Whether the caller sees a function error (`X-Amz-Function-Error: Unhandled`).
    pub fn is_function_error(self) -> bool {
        self != Ending::Success
    }

    /// AWS's error type for the endings the platform (not the function) words.
    pub fn error_type(self) -> Option<&'static str> {
        match self {
            Ending::Success | Ending::FunctionError | Ending::InitFailed(InitFailure::Error) => {
                None
            }
            Ending::TimedOut => Some("Sandbox.Timedout"),
            Ending::Exited | Ending::InitFailed(InitFailure::Exited) => Some("Runtime.ExitError"),
            Ending::InitFailed(InitFailure::TimedOut) => Some("Runtime.InitTimeout"),
        }
    }

    /// An invocation's ending from the environment's status.
    pub(crate) fn of_invocation(status: Status) -> Ending {
        match status {
            Status::Success => Ending::Success,
            Status::FunctionError => Ending::FunctionError,
            Status::Timeout => Ending::TimedOut,
            Status::Crashed => Ending::Exited,
        }
    }

    /// A failed initialisation's ending from the status the start-up reported.
    pub(crate) fn of_init(status: Status) -> Ending {
        Ending::InitFailed(match status {
            Status::Timeout => InitFailure::TimedOut,
            Status::Crashed => InitFailure::Exited,
            Status::Success | Status::FunctionError => InitFailure::Error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_carry_aws_reasons() {
        assert_eq!(
            Ending::of_invocation(Status::Timeout).error_type(),
            Some("Sandbox.Timedout")
        );
        assert_eq!(
            Ending::of_invocation(Status::Crashed).error_type(),
            Some("Runtime.ExitError")
        );
        assert_eq!(
            Ending::of_init(Status::Timeout),
            Ending::InitFailed(InitFailure::TimedOut)
        );
        assert_eq!(
            Ending::of_init(Status::FunctionError).error_type(),
            None,
            "the runtime's own errorType is in the payload"
        );
        assert!(!Ending::Success.is_function_error());
        assert!(Ending::of_init(Status::Crashed).is_function_error());
        assert_eq!(
            Throttle::Reserved.reason(),
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        );
    }
}
