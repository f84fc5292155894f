//! S3 on the shared port: requests whose SigV4 scope names the `s3` service (and unsigned or
//! SigV2 requests on bucket and object paths) go to the object store's protocol service (which
//! verifies their signatures itself, streaming payloads included). Object events go the other way: [`Notifier`] queues them as asynchronous
//! invocations, sends them to queues, publishes them to topics and puts them on the event bus.

use std::sync::{Arc, OnceLock, Weak};

use axum::extract::Request;
use axum::response::Response;
use stratus_core::names::FunctionRef;
use stratus_invoke::{EventQueue, NewEvent, Trigger};

use crate::Shared;

mod cors;
mod post_form;

/// An S3 request's answer from the object store (see `crate::dispatch`); any other request
/// back.
#[allow(
    clippy::result_large_err,
    reason = "the request is handed back by move; a box would cost every request an allocation"
)]
pub fn dispatch(s: &Shared, req: Request) -> Result<crate::Served, Request> {
    let (parts, body) = req.into_parts();
    if !is_s3(&parts) {
        return Err(Request::from_parts(parts, body));
    }
    let s = s.clone();
    Ok(Box::pin(async move { serve(&s, parts, body).await }))
}

/// Serves an S3 request, stamped with its S3 request ids.
async fn serve(s: &Shared, parts: http::request::Parts, body: axum::body::Body) -> Response {
    let id = s3_request_id(parts.extensions.get::<crate::RequestId>());
    let mut resp = if parts.method == http::Method::OPTIONS {
        cors::preflight(&s.stores.objects, &parts, &id)
    } else {
        let origin = cors::CrossOrigin::of(&parts);
        let mut resp = call_s3(s, parts, body, &id).await;
        if let Some(origin) = origin {
            origin.add_headers(&s.stores.objects, resp.headers_mut());
        }
        resp
    };
    let h = resp.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(&id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amzn-RequestId", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&host_id(&id)) {
        h.insert("x-amz-id-2", v);
    }
    resp
}

/// Runs a request through the S3 protocol service.
async fn call_s3(
    s: &Shared,
    parts: http::request::Parts,
    body: axum::body::Body,
    id: &str,
) -> Response {
    let is_head = parts.method == http::Method::HEAD;
    let is_post = parts.method == http::Method::POST;
    let (parts, body) = post_form::with_file_name(parts, body).await;
    let mut req = http::Request::from_parts(parts, s3s::Body::http_body_unsync(body));
    req.extensions_mut()
        .insert(stratus_s3::RequestId(id.to_string()));
    match s.stores.s3.call(req).await {
        Ok(resp) => with_request_id(resp, id, is_head, is_post).await,
        Err(e) => {
            tracing::error!(error = ?e, "S3 request failed");
            internal_error(id)
        }
    }
}

/// Whether a request is for S3: signed for the `s3` service (SigV4, by header or presigned
/// URL), signed with S3's older SigV2, or otherwise (unsigned, or with a signature too broken
/// to name a service) addressed to a path no other API has — a bucket or an object. So every
/// S3 path gets S3's XML errors, and an unsigned upload is refused before its body is read.
fn is_s3(parts: &http::request::Parts) -> bool {
    if let Some((service, _)) = crate::auth::scope(parts) {
        return service == "s3";
    }
    let sigv2_header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS "));
    let sigv2_query = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("AWSAccessKeyId=")));
    sigv2_header || sigv2_query || !other_api_path(parts.uri.path())
}

/// Paths the other APIs answer: the root (`POST /` of the JSON and query protocols), the
/// Lambda API's dated paths (`/2015-03-31/...`), API Gateway's `/v2/...`, and Stratus's own
/// (`/_stratus`, `/_aws`, `/health`, `/metrics`). A bucket name is 3 to 63 characters that
/// cannot begin with `_`, so none of these is a bucket.
fn other_api_path(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let dated = first.len() == 10
        && first.bytes().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    first.is_empty()
        || dated
        || first.starts_with('_')
        || matches!(first, "v2" | "health" | "metrics")
}

/// The id of an S3 request, in S3's form (16 upper-case hexadecimal digits): the one the
/// request-id layer gave it, folded, so the `x-amz-request-id` header, the `<RequestId>` of an
/// error body (authorization refusals included) and the server's own records of the request
/// name it alike. Folding keeps it unique: the high half is fixed per process, the low half
/// counts.
fn s3_request_id(layer: Option<&crate::RequestId>) -> String {
    let id = layer.map_or_else(stratus_core::ids::request_id, |r| r.0);
    let (high, low) = id.as_u64_pair();
    format!("{:016X}", high ^ low)
}

/// The `x-amz-id-2` of a response (and `HostId` of an error).
fn host_id(id: &str) -> String {
    format!("{id}/stratus")
}

/// The largest error body read back to add the request id (S3's are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Finishes the protocol service's response: an error body gets the `RequestId` and `HostId`
/// S3 puts in every error, and a 304 has no body at all.
async fn with_request_id(
    resp: http::Response<s3s::Body>,
    id: &str,
    is_head: bool,
    is_post: bool,
) -> Response {
    let status = resp.status();
    let (mut parts, body) = resp.into_parts();
    if status == http::StatusCode::NOT_MODIFIED {
        parts.headers.remove(http::header::CONTENT_LENGTH);
        parts.headers.remove(http::header::CONTENT_TYPE);
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    let condition = parts
        .headers
        .remove(stratus_s3::conditions::FAILED_CONDITION_HEADER);
    let body = axum::body::Body::new(body);
    // A HEAD that selected a range or a part is a 206, as the GET would be.
    if is_head
        && status == http::StatusCode::OK
        && parts.headers.contains_key(http::header::CONTENT_RANGE)
    {
        parts.status = http::StatusCode::PARTIAL_CONTENT;
    }
    if is_head || !(status.is_client_error() || status.is_server_error()) {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return internal_error(id);
    };
    let mut xml = with_condition(&bytes, condition).into_owned();
    if is_post {
        if let Some(refusal) = policy_refusal(&xml) {
            parts.status = http::StatusCode::FORBIDDEN;
            xml = refusal;
        }
    }
    let xml = add_request_id(&xml, id);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(xml))
}

/// Adds S3's `<Condition>` (the header whose precondition failed) to a 412's document.
fn with_condition(xml: &[u8], condition: Option<http::HeaderValue>) -> std::borrow::Cow<'_, [u8]> {
    let Some(condition) = condition.as_ref().and_then(|c| c.to_str().ok()) else {
        return xml.into();
    };
    let text = String::from_utf8_lossy(xml);
    match text.rfind("</Error>") {
        Some(end) => format!(
            "{}<Condition>{condition}</Condition>{}",
            &text[..end],
            &text[end..]
        )
        .into_bytes()
        .into(),
        None => xml.into(),
    }
}

/// Inserts `<RequestId>` and `<HostId>` at the end of an `<Error>` document (unchanged if it is
/// not one, or already has them), and S3's `<Message>` for its code if it has none.
pub(crate) fn add_request_id(xml: &[u8], id: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(xml);
    let Some(end) = text
        .rfind("</Error>")
        .filter(|_| !text.contains("<RequestId>"))
    else {
        return xml.to_vec();
    };
    let message = match text.contains("<Message>") {
        true => String::new(),
        false => format!("<Message>{}</Message>", default_message(error_code(&text))),
    };
    format!(
        "{}{message}<RequestId>{id}</RequestId><HostId>{}</HostId>{}",
        &text[..end],
        host_id(id),
        &text[end..]
    )
    .into_bytes()
}

/// A refused form upload's error document, reworded as S3 words it (see
/// [`post_form::policy_refusal`]).
fn policy_refusal(xml: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(xml).ok()?;
    let message = text.split_once("<Message>")?.1.split_once("</Message>")?.0;
    let message = quick_xml::escape::unescape(message).ok()?;
    let (code, message) = post_form::policy_refusal(error_code(text), &message)?;
    Some(
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{}</Message></Error>",
            quick_xml::escape::escape(&message)
        )
        .into_bytes(),
    )
}

fn error_code(xml: &str) -> &str {
    xml.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map_or("", |(code, _)| code)
}

/// S3's wording for the errors the protocol layer raises without a message.
fn default_message(code: &str) -> &'static str {
    match code {
        "SignatureDoesNotMatch" => "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        "AccessDenied" => "Access Denied",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "RequestTimeTooSkewed" => "The difference between the request time and the current time is too large.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "IncompleteBody" => "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        "MaxMessageLengthExceeded" => "Your request was too big.",
        "KeyTooLongError" => "Your key is too long",
        "MalformedXML" => "The XML you provided was not well-formed or did not validate against our published schema.",
        "InternalError" => "We encountered an internal error. Please try again.",
        _ => "The request could not be served.",
    }
}

/// S3's answer when the protocol service itself failed (or a handler panicked).
pub fn internal_error(id: &str) -> Response {
    s3_error(
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        default_message("InternalError"),
        id,
    )
}

/// The S3 error document for the errors raised outside the protocol service (which renders
/// its own, completed by [`with_request_id`]): `<Error>` with the code, the message, the
/// request id and the host id.
pub fn s3_error(status: http::StatusCode, code: &str, message: &str, id: &str) -> Response {
    use quick_xml::escape::escape;
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId><HostId>{}</HostId></Error>",
        escape(code),
        escape(message),
        escape(id),
        escape(host_id(id).as_str())
    );
    let mut resp = Response::new(axum::body::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = http::HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    resp
}

/// Object events → the invoker's asynchronous queue. The object store holds this as its
/// `EventSink`; it holds the queue as a trait object, so nothing points back at the
/// application state.
pub struct Notifier {
    queue: Arc<dyn EventQueue>,
    /// Whether S3 may invoke a function, by the function's permissions.
    permissions: crate::lambda::policy::InvokePermissions,
    /// Where events for queue configurations go.
    queues: Option<Arc<stratus_queues::Queues>>,
    /// The application state, for the events that go through other services (topics, the
    /// event bus). The store holding this sink is built before the state, so it is set
    /// afterwards, and weak so the state does not hold itself.
    state: OnceLock<Weak<crate::AppState>>,
}

impl Notifier {
    pub fn new(
        queue: Arc<dyn EventQueue>,
        permissions: crate::lambda::policy::InvokePermissions,
    ) -> Notifier {
        Notifier {
            queue,
            permissions,
            queues: None,
            state: OnceLock::new(),
        }
    }

    /// Connects the application state (once, at start-up, when it exists).
    pub fn set_state(&self, state: &Shared) {
        let _ = self.state.set(Arc::downgrade(state));
    }

    /// The application state, if connected and still running.
    fn state(&self) -> Option<Shared> {
        self.state.get()?.upgrade()
    }

    /// Publishes an object event to the topic `arn` names, as S3 does: the event as the
    /// message, "Amazon S3 Notification" as the subject.
    fn publish(&self, arn: &str, payload: &[u8]) {
        let Some(state) = self.state() else {
            tracing::warn!(topic = %arn, "object event to a topic dropped: not connected");
            return;
        };
        let region = arn.split(':').nth(3).unwrap_or("us-east-1");
        let published = crate::services::sns::publish::publish_for_service(
            &state,
            region,
            &state.stores.events.endpoint,
            arn,
            &String::from_utf8_lossy(payload),
            Some(stratus_s3::notify::SNS_SUBJECT),
        );
        if let Err(e) = published {
            tracing::warn!(topic = %arn, error = %e.message, "object event to a topic dropped");
        }
    }

    /// Delivers the events of queue configurations to `queues`.
    pub fn with_queues(mut self, queues: Arc<stratus_queues::Queues>) -> Notifier {
        self.queues = Some(queues);
        self
    }

    /// The queues store, if `arn` names a queue.
    fn queue_for(&self, arn: &str) -> Option<&stratus_queues::Queues> {
        stratus_queues::names::parse_queue_arn(arn)?;
        self.queues.as_deref()
    }
}

impl stratus_s3::notify::EventSink for Notifier {
    /// The function must exist and its permissions must let S3 invoke it for this bucket
    /// (the region checked is the function ARN's own); a queue must exist.
    fn accepts(&self, arn: &str, bucket: &str) -> bool {
        if let Some(queues) = self.queue_for(arn) {
            return queues.queue(arn).ok().flatten().is_some();
        }
        if stratus_s3::notify::is_topic_arn(arn) {
            return self
                .state()
                .is_some_and(|s| s.stores.topics.topic(arn).ok().flatten().is_some());
        }
        let Ok(r) = FunctionRef::parse(arn) else {
            return false;
        };
        if !self.queue.function_exists(&r.name, r.qualifier.as_deref()) {
            return false;
        }
        // S3 accepts only full ARNs here, so the region is always present.
        let Some(region) = r.region.as_deref() else {
            return false;
        };
        let source = format!("arn:aws:s3:::{bucket}");
        self.permissions.allow(
            &r.name,
            r.qualifier.as_deref(),
            "s3.amazonaws.com",
            &source,
            region,
        )
    }

    /// Queues the event in the function ARN's region (else the bucket request's), or sends
    /// it to the queue an ARN names, as the message body, or publishes it to the topic.
    fn deliver(&self, arn: &str, payload: Vec<u8>, region: &str, trace: Option<&str>) {
        if stratus_s3::notify::is_topic_arn(arn) {
            return self.publish(arn, &payload);
        }
        if let Some(queues) = self.queue_for(arn) {
            let mut m = stratus_queues::store::Outgoing {
                body: String::from_utf8_lossy(&payload).into_owned(),
                sender_id: "s3.amazonaws.com".into(),
                ..Default::default()
            };
            stratus_queues::message::with_trace_header(&mut m.system_attributes, trace);
            if let Err(e) = queues.send(arn, &m) {
                tracing::warn!(queue = %arn, error = %e, "object event to a queue dropped");
            }
            return;
        }
        let Ok(r) = FunctionRef::parse(arn) else {
            return;
        };
        let source = crate::lambda::policy::event_bucket_arn(&payload);
        let region = r.region.clone().unwrap_or_else(|| region.to_string());
        let (name, qualifier) = (r.name, r.qualifier);
        if !self.permissions.allow(
            &name,
            qualifier.as_deref(),
            "s3.amazonaws.com",
            &source,
            &region,
        ) {
            return;
        }
        let event = NewEvent {
            function: name,
            qualifier,
            payload,
            trigger: Trigger::S3,
            region,
            request_id: None,
            trace: trace.map(str::to_string),
        };
        if let Err(e) = self.queue.enqueue_all(vec![event]) {
            tracing::error!(%e, arn, "could not queue an object event");
        }
    }

    /// Puts the event on the default bus, where its rules match it and reach their targets
    /// before the object request answers.
    fn put_event(&self, event: serde_json::Value, region: &str) {
        let Some(state) = self.state() else {
            tracing::warn!("object event to EventBridge dropped: not connected");
            return;
        };
        let put = crate::services::events::put::put_service_event(&state, region, &event);
        if let Err(e) = put {
            tracing::warn!(error = %e.message, "object event to EventBridge dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_other_apis_are_not_s3() {
        for p in [
            "/",
            "/2015-03-31/functions",
            "/2019-09-25/functions/f/event-invoke-config",
            "/v2/apis",
            "/_stratus/usage",
            "/_aws/execute-api/x",
            "/health",
            "/metrics",
        ] {
            assert!(other_api_path(p), "{p}");
        }
        for p in ["/bucket", "/bucket/key", "/my-bucket/a/b?x", "/v2-bucket/k"] {
            assert!(!other_api_path(p), "{p}");
        }
    }

    #[test]
    fn s3_ids_come_from_the_request_id_layer() {
        let layer = crate::RequestId(stratus_core::ids::request_id());
        let id = s3_request_id(Some(&layer));
        assert_eq!(id.len(), 16);
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_eq!(
            id,
            s3_request_id(Some(&layer)),
            "the same request, the same id"
        );
        let next = crate::RequestId(stratus_core::ids::request_id());
        assert_ne!(id, s3_request_id(Some(&next)));
    }

    #[test]
    fn request_id_goes_inside_the_error() {
        let xml =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>m</Message></Error>";
        let out = String::from_utf8(add_request_id(xml, "ABC")).unwrap();
        assert!(out.ends_with(
            "<Message>m</Message><RequestId>ABC</RequestId><HostId>ABC/stratus</HostId></Error>"
        ));
        let bare = b"<Error><Code>AccessDenied</Code></Error>";
        let out = String::from_utf8(add_request_id(bare, "A")).unwrap();
        assert!(out.contains("<Message>Access Denied</Message><RequestId>A</RequestId>"));
        let odd = b"<Error><Code>Whatever</Code></Error>";
        let out = String::from_utf8(add_request_id(odd, "ABC")).unwrap();
        assert!(out.contains("<Message>The request could not be served.</Message>"));
        let again = add_request_id(out.as_bytes(), "ABC");
        assert_eq!(again, out.as_bytes(), "added once");
        assert_eq!(add_request_id(b"<Other/>", "A"), b"<Other/>");
    }
}
