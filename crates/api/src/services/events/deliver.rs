//! An event to the targets of the rule (or schedule) it matched: each target's input is made
//! (`Input`, `InputPath`, `InputTransformer`), then sent by the target's kind:
//!
//! - Lambda: an asynchronous invocation in the durable queue (all of a request's in one
//!   transaction, at [`Delivery::commit`]); the function's own retry settings apply from there.
//!   A rule's target needs the function's permission for `events.amazonaws.com`, as on AWS.
//! - SNS: the topics' publish path, as a Publish of the input.
//! - SQS: [`SqsSender`], the hook a queue service installs in
//!   [`EventsService::sqs`](super::EventsService::sqs).
//!
//! A target that cannot be reached (a missing function or topic, a refused permission) sends
//! the event to the target's `DeadLetterConfig` queue when it has one, else it is logged.

use std::sync::Arc;

use serde_json::Value;
use stratus_core::names::FunctionRef;
use stratus_core::Error;
use stratus_events::store::{Rule, Target};
use stratus_events::transform::{payload, Context, InputTransformer};
use stratus_invoke::{EventQueue, NewEvent, Trigger};

use crate::Shared;

/// Where events for SQS targets (and dead-letter queues) are sent: the queue service's
/// `send(queue_arn, body, attributes)` entry point, installed with
/// `state.stores.events.sqs.set(...)` once such a service exists.
pub trait SqsSender: Send + Sync {
    fn send(
        &self,
        queue_arn: &str,
        body: &str,
        attributes: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), Error>;
}

/// The deliveries of one request or one fired schedule.
pub struct Delivery<'a> {
    state: &'a Shared,
    region: &'a str,
    /// Function invocations, queued together at commit.
    lambda: Vec<NewEvent>,
}

/// Who is sending: a rule (its function targets need an `events.amazonaws.com` permission)
/// or a Scheduler schedule (which sends with its execution role).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sender<'a> {
    Rule(&'a str),
    Schedule,
}

impl<'a> Delivery<'a> {
    pub fn new(state: &'a Shared, region: &'a str) -> Delivery<'a> {
        Delivery {
            state,
            region,
            lambda: Vec::new(),
        }
    }

    /// Queues every function invocation gathered: all durable, or none.
    pub fn commit(self) -> Result<(), Error> {
        self.state.invoker.enqueue_all(self.lambda)
    }

    /// Sends `input` to `arn` (a function, topic or queue); `Err` with the reason when the
    /// target cannot be reached.
    pub fn send(&mut self, arn: &str, input: String, sender: Sender<'_>) -> Result<(), String> {
        let service = arn.split(':').nth(2).unwrap_or("");
        match service {
            "lambda" => self.queue_invocation(arn, input, sender),
            "sns" => {
                let svc = &self.state.stores.events;
                crate::services::sns::publish::publish_for_service(
                    self.state,
                    self.region,
                    &svc.endpoint,
                    arn,
                    &input,
                    None,
                )
                .map(|_| ())
                .map_err(|e| e.message)
            }
            "sqs" => match self.state.stores.events.sqs.get() {
                Some(sqs) => sqs
                    .send(arn, &input, &Default::default())
                    .map_err(|e| e.message),
                None => Err("SQS targets are not connected to a queue service".into()),
            },
            other => Err(format!("targets of service '{other}' are not supported")),
        }
    }

    fn queue_invocation(
        &mut self,
        arn: &str,
        input: String,
        sender: Sender<'_>,
    ) -> Result<(), String> {
        let f = FunctionRef::parse(arn).map_err(|e| e.message)?;
        let region = f.region.clone().unwrap_or_else(|| self.region.to_string());
        if !self
            .state
            .invoker
            .function_exists(&f.name, f.qualifier.as_deref())
        {
            return Err(format!("function {arn} does not exist"));
        }
        if let Sender::Rule(rule_arn) = sender {
            let allowed = crate::lambda::policy::InvokePermissions::of(self.state).allow(
                &f.name,
                f.qualifier.as_deref(),
                "events.amazonaws.com",
                rule_arn,
                &region,
            );
            if !allowed {
                return Err(format!(
                    "events.amazonaws.com is not allowed to invoke {arn}"
                ));
            }
        }
        self.lambda.push(NewEvent {
            function: f.name,
            qualifier: f.qualifier,
            payload: input.into_bytes(),
            trigger: Trigger::Events,
            region,
            request_id: None,
            // EventBridge is not among the services recursive loop detection follows.
            trace: None,
        });
        Ok(())
    }

    /// Sends `event` to a target's dead-letter queue, if it names one, with AWS's
    /// attributes saying why.
    pub fn dead_letter(&self, target: &Target, input: &str, reason: &str, rule_arn: &str) {
        let Some(dlq) = target
            .rest
            .get("DeadLetterConfig")
            .and_then(|d| d.get("Arn"))
            .and_then(Value::as_str)
        else {
            tracing::warn!(target = %target.arn, reason, "event not delivered to its target");
            return;
        };
        let attributes = [
            ("ERROR_CODE", "ResourceNotFoundException"),
            ("ERROR_MESSAGE", reason),
            ("RULE_ARN", rule_arn),
            ("TARGET_ARN", target.arn.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sent: Result<(), String> = match self.state.stores.events.sqs.get() {
            Some(sqs) => sqs.send(dlq, input, &attributes).map_err(|e| e.message),
            None => Err("no queue service".into()),
        };
        if let Err(e) = sent {
            tracing::warn!(target = %target.arn, dlq, reason, error = %e, "event dropped: its dead-letter queue is unreachable");
        }
    }
}

/// Sends `event` to each of `rule`'s targets, transformed as each asks.
pub fn deliver(d: &mut Delivery<'_>, event: &Value, rule: &Rule, targets: &[Target]) {
    let ingestion = event["time"].as_str().unwrap_or_default().to_string();
    let ctx = Context {
        rule_arn: &rule.arn,
        rule_name: &rule.name,
        ingestion_time: &ingestion,
    };
    for target in targets {
        let input = target_input(target, event, &ctx);
        if let Err(reason) = d.send(&target.arn, input.clone(), Sender::Rule(&rule.arn)) {
            d.dead_letter(target, &input, &reason, &rule.arn);
        }
    }
}

/// What a target receives of `event`.
pub fn target_input(target: &Target, event: &Value, ctx: &Context<'_>) -> String {
    let s = |k: &str| target.rest.get(k).and_then(Value::as_str);
    let transformer: Option<InputTransformer> = target
        .rest
        .get("InputTransformer")
        .and_then(|t| serde_json::from_value(t.clone()).ok());
    payload(event, s("Input"), s("InputPath"), transformer.as_ref(), ctx)
}

/// Keeps the trait object type nameable for the service handle.
pub type SharedSqs = Arc<dyn SqsSender>;
