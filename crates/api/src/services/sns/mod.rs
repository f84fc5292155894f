//! Topics through SNS's Query protocol: form-encoded requests named by `Action`, XML
//! responses and errors. The state lives in `stratus-topics`; this module decodes, calls it,
//! and writes AWS's XML. Publishing queues one asynchronous invocation per matching function
//! subscriber before it answers (see [`publish`]).
//!
//! # Layout
//! - [`form`]: request decoding (SNS's `member` / `entry` encodings).
//! - [`xml`]: response and error documents.
//! - [`topics`]: topic operations and tags.
//! - [`subscriptions`]: subscription operations.
//! - [`publish`]: Publish, PublishBatch and delivery to functions.

pub mod form;
pub mod publish;
pub mod subscriptions;
pub mod topics;
pub mod xml;

use axum::body::Bytes;
use axum::response::Response;
use http::request::Parts;
use stratus_core::{Error, Kind};

use stratus_topics::names::{invalid, parse_topic_arn};

use crate::auth::Caller;
use crate::Shared;
use form::Params;

/// What every operation gets.
pub struct Ctx<'a> {
    pub state: &'a Shared,
    /// The operation, for error messages.
    pub action: String,
    pub region: &'a str,
    /// The platform's base URL as this request reached it (`http://host:port`).
    pub endpoint: String,
    pub request_id: String,
    /// The request's `X-Amzn-Trace-Id`: deliveries carry it on (recursive loop detection
    /// follows it).
    pub trace: Option<String>,
}

impl Ctx<'_> {
    /// The topics store.
    pub fn topics(&self) -> &stratus_topics::Topics {
        &self.state.stores.topics
    }
}

pub async fn handle(state: &Shared, caller: &Caller, parts: &Parts, body: Bytes) -> Response {
    let p = Params::decode(parts.uri.query().unwrap_or(""), &body);
    let action = p.get("Action").unwrap_or("").to_string();
    let ctx = Ctx {
        state,
        action: action.clone(),
        region: &caller.region,
        endpoint: endpoint(parts),
        request_id: uuid::Uuid::new_v4().to_string(),
        trace: parts
            .headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let result = match action.as_str() {
        "CreateTopic" => topics::create_topic(&ctx, &p),
        "DeleteTopic" => topics::delete_topic(&ctx, &p),
        "ListTopics" => topics::list_topics(&ctx, &p),
        "GetTopicAttributes" => topics::get_topic_attributes(&ctx, &p),
        "SetTopicAttributes" => topics::set_topic_attributes(&ctx, &p),
        "AddPermission" => topics::add_permission(&ctx, &p),
        "RemovePermission" => topics::remove_permission(&ctx, &p),
        "TagResource" => topics::tag_resource(&ctx, &p),
        "UntagResource" => topics::untag_resource(&ctx, &p),
        "ListTagsForResource" => topics::list_tags_for_resource(&ctx, &p),
        "Subscribe" => subscriptions::subscribe(&ctx, &p),
        "Unsubscribe" => subscriptions::unsubscribe(&ctx, &p),
        "ListSubscriptions" => subscriptions::list_subscriptions(&ctx, &p),
        "ListSubscriptionsByTopic" => subscriptions::list_subscriptions_by_topic(&ctx, &p),
        "GetSubscriptionAttributes" => subscriptions::get_subscription_attributes(&ctx, &p),
        "SetSubscriptionAttributes" => subscriptions::set_subscription_attributes(&ctx, &p),
        "Publish" => publish::publish(&ctx, &p),
        "PublishBatch" => publish::publish_batch(&ctx, &p),
        "" => Err(Error::new(
            "MissingAction",
            Kind::InvalidInput,
            "Missing Action parameter",
        )),
        other => Err(Error::new(
            "InvalidAction",
            Kind::UnknownOperation,
            format!("The action {other} is not valid for this web service."),
        )),
    };
    result.unwrap_or_else(|e| xml::error(&e, &ctx.request_id))
}

/// Whether this is an unsigned `GET /?Action=Unsubscribe&SubscriptionArn=...`: the link every
/// notification carries as `UnsubscribeUrl`. Like AWS's, it needs no credentials (the
/// subscription ARN, with its random id, is the secret).
pub fn is_unsubscribe_link(parts: &Parts) -> bool {
    let query = parts.uri.query().unwrap_or("");
    parts.method == http::Method::GET
        && parts.uri.path() == "/"
        && !parts.headers.contains_key(http::header::AUTHORIZATION)
        && !query.contains("X-Amz-Signature")
        && form_urlencoded::parse(query.as_bytes())
            .any(|(k, v)| k == "Action" && v == "Unsubscribe")
}

/// Answers an unsubscribe link.
pub fn unsubscribe_link(state: &Shared, parts: &Parts) -> Response {
    let p = Params::decode(parts.uri.query().unwrap_or(""), b"");
    let request_id = uuid::Uuid::new_v4().to_string();
    let ctx = Ctx {
        state,
        action: "Unsubscribe".into(),
        region: "",
        endpoint: endpoint(parts),
        request_id,
        trace: None,
    };
    subscriptions::unsubscribe(&ctx, &p).unwrap_or_else(|e| xml::error(&e, &ctx.request_id))
}

fn endpoint(parts: &Parts) -> String {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:4566");
    format!("http://{host}")
}

/// Checks a topic ARN parameter (or the topic part of a subscription ARN): well-formed (else
/// `InvalidParameter` naming `param`), in the request's region, and of this account (another
/// account's topic is `AuthorizationError`, as AWS answers without a policy granting access).
pub fn check_topic_arn(c: &Ctx, arn: &str, param: &str) -> Result<(), Error> {
    let (region, _) = parse_topic_arn(arn).ok_or_else(|| invalid(param))?;
    if !c.region.is_empty() && region != c.region {
        return Err(invalid(param));
    }
    let account = arn.split(':').nth(4).unwrap_or("");
    if account != stratus_core::ACCOUNT_ID {
        return Err(Error::new(
            "AuthorizationError",
            Kind::AccessDenied,
            format!(
                "User: arn:aws:iam::{}:root is not authorized to perform: SNS:{} on resource: {arn}",
                stratus_core::ACCOUNT_ID,
                c.action
            ),
        ));
    }
    Ok(())
}

/// A paging token: the last ARN of the previous page, opaque to the client.
pub fn next_token(last: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

/// Reads a paging token back; anything that is not one of ours is refused.
pub fn after_token(p: &Params) -> Result<String, Error> {
    use base64::Engine;
    match p.get("NextToken") {
        None | Some("") => Ok(String::new()),
        Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|s| s.starts_with("arn:aws:sns:"))
            .ok_or_else(|| stratus_topics::names::invalid("NextToken")),
    }
}
