//! Subscription operations. Functions (`lambda`) and queues (`sqs`) are the protocols Stratus
//! delivers to; the other SNS protocols name services Stratus does not run, so subscribing
//! them is refused rather than accepted and never delivered.

use axum::response::Response;
use stratus_core::names::FunctionRef;
use stratus_core::Error;
use stratus_topics::attributes::subscription_view;
use stratus_topics::names::{invalid, parse_subscription_arn, subscription_not_found, topic_arn};
use stratus_topics::store::Subscription;

use super::form::Params;
use super::topics::topic_param;
use super::{after_token, check_topic_arn, next_token, xml, Ctx};

/// Subscriptions per List* page.
const PAGE: usize = 100;

/// SNS's protocols that Stratus cannot deliver to.
const NOT_OFFERED: &[&str] = &[
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "application",
    "firehose",
];

fn subscription_param<'p>(c: &Ctx, p: &'p Params) -> Result<&'p str, Error> {
    let arn = p.required("SubscriptionArn")?;
    let topic = parse_subscription_arn(arn).ok_or_else(|| invalid("SubscriptionArn"))?;
    check_topic_arn(c, topic, "SubscriptionArn")?;
    Ok(arn)
}

/// A `lambda` endpoint: a function, version or alias ARN (the function need not exist yet;
/// deliveries to a missing function are dropped, as on AWS).
fn check_lambda_endpoint(endpoint: Option<&str>) -> Result<&str, Error> {
    let e = endpoint.unwrap_or("");
    let is_arn = e.starts_with("arn:aws:lambda:") && e.contains(":function:");
    if is_arn && FunctionRef::parse(e).is_ok() {
        Ok(e)
    } else {
        Err(invalid("Lambda endpoint ARN"))
    }
}

/// An `sqs` endpoint: a queue ARN of this account (the queue need not exist yet; deliveries
/// to a missing queue are dropped).
fn check_sqs_endpoint(endpoint: Option<&str>) -> Result<&str, Error> {
    let e = endpoint.unwrap_or("");
    match stratus_queues::names::parse_queue_arn(e) {
        Some(_) => Ok(e),
        None => Err(invalid("SQS endpoint ARN")),
    }
}

pub fn subscribe(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let topic = topic_param(c, p, "TopicArn")?;
    let protocol = p.required("Protocol")?;
    if NOT_OFFERED.contains(&protocol) {
        return Err(invalid(format!(
            "Protocol Reason: {protocol} endpoints are not offered by this service; subscribe functions with the lambda protocol or queues with the sqs protocol"
        )));
    }
    if protocol != "lambda" && protocol != "sqs" {
        return Err(invalid(format!(
            "Amazon SNS does not support this protocol string: {protocol}"
        )));
    }
    let endpoint = match protocol {
        "sqs" => check_sqs_endpoint(p.get("Endpoint"))?,
        _ => check_lambda_endpoint(p.get("Endpoint"))?,
    };
    let arn = c
        .topics()
        .subscribe(topic, protocol, endpoint, &p.map("Attributes"))?;
    Ok(xml::ok("Subscribe", &c.request_id, |x| {
        x.leaf("SubscriptionArn", &arn);
    }))
}

pub fn unsubscribe(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = subscription_param(c, p)?;
    c.topics().unsubscribe(arn)?;
    Ok(xml::empty("Unsubscribe", &c.request_id))
}

fn write_list(action: &str, c: &Ctx, mut subs: Vec<Subscription>) -> Response {
    let more = subs.len() > PAGE;
    subs.truncate(PAGE);
    xml::ok(action, &c.request_id, |x| {
        x.open("Subscriptions");
        for s in &subs {
            x.open("member")
                .leaf("SubscriptionArn", &s.arn)
                .leaf("Owner", stratus_core::ACCOUNT_ID)
                .leaf("Protocol", &s.protocol)
                .leaf("Endpoint", &s.endpoint)
                .leaf("TopicArn", &s.topic_arn)
                .close("member");
        }
        x.close("Subscriptions");
        if let (true, Some(last)) = (more, subs.last()) {
            x.leaf("NextToken", &next_token(&last.arn));
        }
    })
}

pub fn list_subscriptions(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let after = after_token(p)?;
    let prefix = topic_arn(c.region, "");
    let subs = c
        .topics()
        .list_subscriptions(&prefix, None, &after, PAGE + 1)?;
    Ok(write_list("ListSubscriptions", c, subs))
}

pub fn list_subscriptions_by_topic(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let topic = topic_param(c, p, "TopicArn")?;
    let after = after_token(p)?;
    let subs = c
        .topics()
        .list_subscriptions("", Some(topic), &after, PAGE + 1)?;
    Ok(write_list("ListSubscriptionsByTopic", c, subs))
}

pub fn get_subscription_attributes(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = subscription_param(c, p)?;
    let s = c
        .topics()
        .subscription(arn)?
        .ok_or_else(subscription_not_found)?;
    let view = subscription_view(&s.arn, &s.topic_arn, &s.protocol, &s.endpoint, &s.attrs);
    Ok(xml::ok("GetSubscriptionAttributes", &c.request_id, |x| {
        x.entries("Attributes", &view);
    }))
}

pub fn set_subscription_attributes(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = subscription_param(c, p)?;
    let name = p.required("AttributeName")?;
    let value = p.get("AttributeValue").unwrap_or("");
    c.topics().set_subscription_attribute(arn, name, value)?;
    Ok(xml::empty("SetSubscriptionAttributes", &c.request_id))
}
