//! Recursive loop detection: an invocation whose trace header says its chain has already
//! invoked the function [`MAX_HOPS`] times is stopped, unless the function's recursion
//! configuration (`PutFunctionRecursionConfig`) is `Allow`. Every invocation that runs gets
//! the trace header with the function's count one higher (see [`stratus_core::trace`]).

use serde::{Deserialize, Serialize};
use stratus_core::arn::function_arn;
use stratus_core::trace::{function_key, TraceHeader, MAX_HOPS};

use crate::resolve::Resolved;
use crate::run::{Call, Failure};
use crate::Invoker;

/// The kind of document the configuration is stored as (one per function, qualifier `""`);
/// deleted with its function.
pub const KIND: &str = "recursion-config";

/// The stored document, in AWS's member name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecursionConfig {
    #[serde(rename = "RecursiveLoop")]
    pub recursive_loop: RecursiveLoop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecursiveLoop {
    Allow,
    Terminate,
}

impl RecursiveLoop {
    pub fn parse(v: &str) -> Option<RecursiveLoop> {
        match v {
            "Allow" => Some(RecursiveLoop::Allow),
            "Terminate" => Some(RecursiveLoop::Terminate),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecursiveLoop::Allow => "Allow",
            RecursiveLoop::Terminate => "Terminate",
        }
    }
}

impl Invoker {
    /// The function's setting (AWS's default, `Terminate`, when none is stored).
    pub fn recursive_loop(&self, function: &str) -> stratus_core::Result<RecursiveLoop> {
        let stored: Option<RecursionConfig> = self.meta.tx(|tx| tx.document(function, KIND, ""))?;
        Ok(stored.map_or(RecursiveLoop::Terminate, |c| c.recursive_loop))
    }

    /// The trace header `call` runs with, or [`Failure::RecursiveLoop`] if its chain has
    /// invoked the function too often and the function does not allow it. The setting is read
    /// only then, so an ordinary invocation costs no look-up.
    pub(crate) fn next_hop(&self, call: &Call<'_>, target: &Resolved) -> Result<String, Failure> {
        let incoming = TraceHeader::parse(call.trace.as_deref().unwrap_or(""));
        let key = function_key(&function_arn(call.region, call.name, None));
        let hops = incoming.hops(&key);
        if hops >= MAX_HOPS && self.recursive_loop(call.name)? == RecursiveLoop::Terminate {
            tracing::warn!(
                function = call.name,
                request_id = %call.request_id,
                trigger = call.trigger.as_str(),
                hops,
                "recursive loop detected: the invocation was stopped"
            );
            self.meter
                .recursion_dropped(call.name, &target.config.version);
            return Err(Failure::RecursiveLoop);
        }
        Ok(incoming.next_hop(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_document_has_aws_member_names() {
        let c = RecursionConfig {
            recursive_loop: RecursiveLoop::Allow,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"RecursiveLoop":"Allow"}"#
        );
        assert_eq!(
            RecursiveLoop::parse("Terminate"),
            Some(RecursiveLoop::Terminate)
        );
        assert_eq!(RecursiveLoop::parse("terminate"), None);
    }
}
