//! The data plane: unsigned HTTP requests to an API, in two forms on the platform's one port:
//! - path prefix: `http://HOST:PORT/_aws/execute-api/<apiId>/<stage-or-not>/<path>` (each API's
//!   `apiEndpoint`);
//! - Host name: any request whose Host is `<apiId>.execute-api.<anything>` (as on AWS,
//!   `https://<apiId>.execute-api.<region>.amazonaws.com`).
//!
//! The `$default` stage serves at the root; a named stage under `/<stage>/`. The route is chosen
//! by [`routing`](super::routing), the event built by [`events`](super::events), the function
//! invoked like any other trigger, and its result mapped by [`response`](super::response).
//! Gateway errors are AWS's: 404 Not Found, 413, 500 Internal Server Error, 503 Service
//! Unavailable (throttled), 504 Endpoint request timed out.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use stratus_core::limits;
use stratus_core::names::FunctionRef;
use stratus_engine::InvokeOutcome;
use stratus_invoke::{Call, Failure, Trigger};

use super::access_log::Record;
use super::authorize::{self, Gate, Granted};
use super::authorizers::Authorizer;
use super::events::{self, Context, HttpRequest};
use super::model::*;
use super::response;
use super::routing::{self, RouteKey};
use crate::cors::Cors;
use crate::Shared;

/// The path prefix of the path-prefix form.
pub const PREFIX: &str = "/_aws/execute-api/";
/// The largest request body an HTTP API accepts (AWS: 10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A gateway-generated response: `{"message": ...}`.
pub(super) fn gateway_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

fn not_found() -> Response {
    gateway_error(StatusCode::NOT_FOUND, "Not Found")
}

fn internal() -> Response {
    gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// An API's request id, shaped like AWS's (`JKJaXmPLvHcESHA=`).
fn request_id() -> String {
    let bytes: [u8; 10] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The path-prefix form: `/_aws/execute-api/<apiId>[/...]`.
pub async fn by_path(State(s): State<Shared>, req: Request) -> Response {
    let rest = req.uri().path().strip_prefix(PREFIX).unwrap_or("");
    let (api_id, path) = match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    };
    let host = host(&req).unwrap_or_default();
    serve(s, &api_id, path, (host, api_id.clone()), req).await
}

fn host(req: &Request) -> Option<String> {
    req.headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
}

/// The API a `<apiId>.execute-api.<anything>` Host names, if it does.
pub fn api_from_host(host: &str) -> Option<&str> {
    let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
    let (id, rest) = name.split_once('.')?;
    let is_api = rest
        .get(..12)
        .is_some_and(|p| p.eq_ignore_ascii_case("execute-api."))
        && !id.is_empty();
    is_api.then_some(id)
}

/// The Host-name form, ahead of every other route (see `crate::dispatch`): the request's
/// answer when its host names an API, else the request back.
#[allow(
    clippy::result_large_err,
    reason = "the request is handed back by move; a box would cost every request an allocation"
)]
pub fn by_host(s: &Shared, req: Request) -> Result<crate::Served, Request> {
    let Some(host) = host(&req) else {
        return Err(req);
    };
    let Some(api_id) = api_from_host(&host).map(str::to_string) else {
        return Err(req);
    };
    let path = req.uri().path().to_string();
    let name = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(n, _)| n)
        .to_string();
    let s = s.clone();
    Ok(Box::pin(async move {
        serve(s, &api_id, path, (name, api_id.clone()), req).await
    }))
}

/// Serves one request and stamps it with its `apigw-requestid`.
async fn serve(
    s: Shared,
    api_id: &str,
    path: String,
    domain: (String, String),
    req: Request,
) -> Response {
    let id = request_id();
    let mut log = Record::new(&id, api_id, req.method().as_str(), &path);
    let mut resp = handle(&s, api_id, path, domain, req, &id, &mut log).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("apigw-requestid", v);
    }
    log.status = resp.status().as_u16();
    log.response_length = http_body::Body::size_hint(resp.body()).exact();
    super::access_log::write(&s, log);
    resp
}

/// What the gateway decided to call for a request.
struct Plan {
    api: Api,
    stage: Stage,
    route: Route,
    key: RouteKey,
    path_parameters: std::collections::BTreeMap<String, String>,
    integration: Integration,
    /// The route's authorizer, as the served deployment froze it.
    authorizer: Option<Authorizer>,
}

enum Refusal {
    NotFound,
    /// The API exists but no route matches: a CORS preflight is then the gateway's to answer.
    NoRoute(Option<Cors>),
    Forbidden,
    Internal,
}

/// Splits a path into the stage that serves it (its index) and the path routes see.
fn pick_stage<'a>(
    stages: impl IntoIterator<Item = &'a Stage>,
    path: &str,
) -> Option<(usize, String)> {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let mut default = None;
    for (i, st) in stages.into_iter().enumerate() {
        if st.stage_name == DEFAULT_STAGE {
            default = Some(i);
        } else if !first.is_empty() && st.stage_name == first {
            let rest = &path.trim_start_matches('/')[first.len()..];
            let rest = if rest.is_empty() { "/" } else { rest };
            return Some((i, rest.to_string()));
        }
    }
    default.map(|i| (i, path.to_string()))
}

fn plan(s: &Shared, api_id: &str, method: &str, path: &str) -> Result<Plan, Refusal> {
    let served = match s.apigw.get(&s.stores.meta, api_id) {
        Ok(Some(served)) => served,
        Ok(None) => return Err(Refusal::NotFound),
        Err(_) => return Err(Refusal::Internal),
    };
    let (i, route_path) =
        pick_stage(served.stages.iter().map(|(st, _)| st), path).ok_or(Refusal::NotFound)?;
    let (stage, snapshot) = &served.stages[i];
    let api = &served.api;
    if api.disable_execute_api_endpoint {
        return Err(Refusal::Forbidden);
    }
    let no_route = || Refusal::NoRoute(api.cors_configuration.as_ref().and_then(Cors::from_json));
    let snapshot = snapshot.as_ref().ok_or_else(no_route)?;
    let m = routing::select(&snapshot.routes, |r| &r.route_key, method, &route_path)
        .ok_or_else(no_route)?;
    let target = m.route.target.as_deref().ok_or(Refusal::NotFound)?;
    let integration = target
        .strip_prefix("integrations/")
        .and_then(|id| {
            snapshot
                .integrations
                .iter()
                .find(|i| i.integration_id == id)
        })
        .cloned()
        .ok_or(Refusal::Internal)?;
    let authorizer = m.route.authorizer_id.as_deref().and_then(|id| {
        snapshot
            .authorizers
            .iter()
            .find(|a| a.authorizer_id == id)
            .cloned()
    });
    Ok(Plan {
        authorizer,
        route: m.route.clone(),
        key: m.key,
        path_parameters: m.path_parameters,
        api: api.clone(),
        stage: stage.clone(),
        integration,
    })
}

async fn handle(
    s: &Shared,
    api_id: &str,
    path: String,
    domain: (String, String),
    req: Request,
    id: &str,
    log: &mut Record,
) -> Response {
    let method = req.method().as_str().to_string();
    let plan = match plan(s, api_id, &method, &path) {
        Ok(p) => p,
        // As AWS documents: with CORS configured, the gateway answers a preflight that no
        // route takes (an `OPTIONS`, `ANY` or `$default` route gets it, as on AWS).
        Err(Refusal::NoRoute(Some(cors)))
            if crate::cors::is_preflight(req.method(), req.headers()) =>
        {
            return cors.preflight(req.headers())
        }
        Err(Refusal::NotFound | Refusal::NoRoute(_)) => return not_found(),
        Err(Refusal::Forbidden) => return gateway_error(StatusCode::FORBIDDEN, "Forbidden"),
        Err(Refusal::Internal) => return internal(),
    };
    let cors = plan
        .api
        .cors_configuration
        .as_ref()
        .and_then(Cors::from_json);
    log.stage = Some(plan.stage.stage_name.clone());
    log.route_key = Some(plan.route.route_key.clone());
    log.destination = plan
        .stage
        .access_log_settings
        .as_ref()
        .and_then(|a| Some((a.destination_arn.clone()?, a.format.clone()?)));
    let Some((http, parts)) = read_request(req, path, domain).await else {
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    if log.destination.is_some() {
        log.describe(&http);
    }
    let granted = match authorized(s, &plan, &http, &parts, id).await {
        Ok(g) => g,
        Err(denied) => {
            log.authorizer_error = Some(denied.error);
            log.error_message = denied
                .response
                .status()
                .canonical_reason()
                .map(str::to_string);
            return *denied.response;
        }
    };
    let event = build_event(&plan, &http, id, granted.as_ref());
    log.authorizer = granted;
    if event.len() > limits::MAX_SYNC_PAYLOAD {
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    }
    let started = std::time::Instant::now();
    let outcome = invoke(s, &plan, event).await;
    log.integration_latency = Some(started.elapsed().as_millis());
    note_integration(log, &outcome);
    let mut resp = respond(&plan, outcome, id);
    // The configuration's CORS headers replace the integration's own, as on AWS.
    if let Some(cors) = cors {
        cors.apply(&parts.headers, resp.headers_mut());
    }
    resp
}

/// Runs the route's authorization (none, JWT, a Lambda authorizer or IAM, which checks the
/// request as it was signed: `parts`).
async fn authorized(
    s: &Shared,
    plan: &Plan,
    http: &HttpRequest,
    parts: &Parts,
    id: &str,
) -> Result<Option<Granted>, authorize::Denied> {
    if plan.route.authorization_type == "NONE" {
        return Ok(None);
    }
    let route_path = http
        .raw_path
        .strip_prefix(&format!("/{}", plan.stage.stage_name))
        .filter(|_| plan.stage.stage_name != DEFAULT_STAGE)
        .unwrap_or(&http.raw_path);
    let route_arn =
        authorize::route_arn(&plan.api, &plan.stage.stage_name, &http.method, route_path);
    if plan.route.authorization_type == "AWS_IAM" {
        let signer = super::iam_auth::check(s, parts, &http.body, &route_arn)?;
        return Ok(Some(Granted::Iam(signer)));
    }
    let gate = Gate {
        api: &plan.api,
        route: &plan.route,
        authorizer: plan.authorizer.as_ref(),
        route_arn,
    };
    let ctx = context(plan, id, None);
    authorize::authorize(s, &gate, http, &ctx).await
}

/// The request as events see it, and its head as the client sent (and may have signed) it.
async fn read_request(
    req: Request,
    raw_path: String,
    domain: (String, String),
) -> Option<(HttpRequest, Parts)> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.ok()?;
    Some((describe(&parts, body, raw_path, domain), parts))
}

/// A request as events describe it, its body read: the `X-Forwarded-For` and
/// `X-Forwarded-Proto` headers added as the gateway (and a function URL) adds them.
pub(crate) fn describe(
    parts: &Parts,
    body: Bytes,
    raw_path: String,
    domain: (String, String),
) -> HttpRequest {
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "127.0.0.1".to_string(), |c| c.0.ip().to_string());
    let mut headers = parts.headers.clone();
    if let Ok(v) = HeaderValue::from_str(&source_ip) {
        headers.append("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    HttpRequest {
        method: parts.method.as_str().to_string(),
        raw_path,
        raw_query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body,
        source_ip,
        protocol: format!("{:?}", parts.version),
        domain_name: domain.0,
        domain_prefix: domain.1,
    }
}

fn context<'a>(plan: &'a Plan, id: &'a str, authorizer: Option<&'a Granted>) -> Context<'a> {
    let resource = match &plan.key {
        RouteKey::Default => "$default",
        RouteKey::Path { path, .. } => path.as_str(),
    };
    Context {
        api_id: &plan.api.api_id,
        stage: &plan.stage.stage_name,
        route_key: &plan.route.route_key,
        resource,
        request_id: id,
        time: time::OffsetDateTime::now_utc(),
        path_parameters: &plan.path_parameters,
        stage_variables: &plan.stage.stage_variables,
        authorizer,
    }
}

fn build_event(plan: &Plan, http: &HttpRequest, id: &str, granted: Option<&Granted>) -> Bytes {
    let ctx = context(plan, id, granted);
    if plan.integration.payload_format_version == "1.0" {
        Bytes::from(events::v1(http, &ctx).to_string())
    } else {
        events::v2_event(http, &ctx).to_bytes()
    }
}

/// How an invocation through the gateway ended.
enum Outcome {
    Done(InvokeOutcome),
    Throttled,
    Failed,
    TimedOut,
}

/// Invokes the integration's function. The invocation runs on its own task: when the
/// integration's timeout elapses first, the client gets 504 and the invocation still runs to
/// its end (or its own function timeout).
async fn invoke(s: &Shared, plan: &Plan, payload: Bytes) -> Outcome {
    let Some(target) = lambda_target(&plan.integration.integration_uri) else {
        return Outcome::Failed;
    };
    let region = target
        .region
        .clone()
        .unwrap_or_else(|| plan.api.region.clone());
    // The function's permissions decide whether this API may invoke it (AWS answers 500).
    let source = format!(
        "arn:aws:execute-api:{region}:{}:{}/{}/{}",
        stratus_core::ACCOUNT_ID,
        plan.api.api_id,
        plan.stage.stage_name,
        plan.route.route_key.replacen(' ', "", 1)
    );
    let principal = "apigateway.amazonaws.com";
    let (name, qualifier) = (&target.name, target.qualifier.as_deref());
    if !crate::lambda::policy::InvokePermissions::of(s)
        .allow(name, qualifier, principal, &source, &region)
    {
        return Outcome::Failed;
    }
    let limit = Duration::from_millis(u64::from(plan.integration.timeout_in_millis));
    match invoke_bounded(s, region, target, payload, limit).await {
        None => Outcome::TimedOut,
        Some(Ok(out)) => Outcome::Done(out),
        Some(Err(Failure::Throttled(_))) => Outcome::Throttled,
        Some(Err(e)) => {
            tracing::warn!(function = %plan.integration.integration_uri, error = %e, "HTTP API integration failed");
            Outcome::Failed
        }
    }
}

/// Invokes `target` for an HTTP API (an integration or an authorizer). The invocation runs
/// in the request's own task while the client waits (a task spawned per request cost a
/// wake-up and often a hop to the other worker); a request that stops waiting, at `limit` or
/// because its client left, hands what is left of it to a task of its own ([`Finish`]), so it
/// runs to its end, metered, as API Gateway does. `None`: the limit passed first.
pub(super) async fn invoke_bounded(
    s: &Shared,
    region: String,
    target: FunctionRef,
    payload: Bytes,
    limit: Duration,
) -> Option<Result<InvokeOutcome, Failure>> {
    let s = s.clone();
    let mut call = Finish(Some(Box::pin(async move {
        let call = Call {
            trigger: Trigger::HttpApi,
            region: &region,
            name: &target.name,
            qualifier: target.qualifier.as_deref(),
            payload,
            client_context: None,
            request_id: stratus_core::ids::uuid().to_string(),
            want_log: false,
            // Not a source recursive loop detection follows (as on AWS).
            trace: None,
        };
        s.invoker.invoke(call).await
    })));
    let ran = tokio::time::timeout(limit, call.0.as_mut()?).await.ok()?;
    call.0 = None;
    Some(ran)
}

/// An invocation that must run to its end: dropped unfinished, it goes on in a task of its own.
struct Finish<F: std::future::Future<Output = Result<InvokeOutcome, Failure>> + Send + 'static>(
    Option<std::pin::Pin<Box<F>>>,
);

impl<F: std::future::Future<Output = Result<InvokeOutcome, Failure>> + Send + 'static> Drop
    for Finish<F>
{
    fn drop(&mut self) {
        if let (Some(rest), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(rest);
        }
    }
}

/// The integration's status and error, for the access log.
fn note_integration(log: &mut Record, outcome: &Outcome) {
    let (status, error) = match outcome {
        Outcome::Done(out) if !out.ending.is_function_error() => (200, None),
        Outcome::Done(_) => (200, Some("The Lambda function returned an error")),
        Outcome::Failed => (500, Some("The Lambda function could not be invoked")),
        Outcome::Throttled => (429, Some("The Lambda function was throttled")),
        Outcome::TimedOut => (504, Some("The integration timed out")),
    };
    log.integration_status = Some(status);
    log.integration_error = error.map(str::to_string);
}

fn respond(plan: &Plan, outcome: Outcome, id: &str) -> Response {
    let out = match outcome {
        Outcome::Done(out) if !out.ending.is_function_error() => out,
        Outcome::Done(_) | Outcome::Failed => return internal(),
        Outcome::Throttled => {
            return gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Outcome::TimedOut => {
            return gateway_error(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out")
        }
    };
    let mapped = if plan.integration.payload_format_version == "1.0" {
        response::from_v1(&out.payload)
    } else {
        response::from_v2(&out.payload)
    };
    match mapped {
        Ok(m) => {
            let status = StatusCode::from_u16(m.status).unwrap_or(StatusCode::OK);
            let mut resp = Response::new(Body::from(m.body));
            *resp.status_mut() = status;
            for (name, value) in m.headers {
                resp.headers_mut().append(name, value);
            }
            resp
        }
        Err(why) => {
            tracing::warn!(request_id = id, reason = %why.0, "malformed Lambda proxy response");
            internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_select_apis() {
        assert_eq!(
            api_from_host("abc123.execute-api.localhost"),
            Some("abc123")
        );
        assert_eq!(
            api_from_host("abc123.execute-api.us-east-1.amazonaws.com:4566"),
            Some("abc123")
        );
        assert_eq!(api_from_host("127.0.0.1:4566"), None);
        assert_eq!(api_from_host("localhost"), None);
        assert_eq!(api_from_host("abc.lambda.localhost"), None);
        assert_eq!(api_from_host(".execute-api.x"), None);
        assert_eq!(api_from_host("abc.EXECUTE-API.localhost"), Some("abc"));
    }

    fn stage(name: &str) -> Stage {
        serde_json::from_value(serde_json::json!({
            "stageName": name, "autoDeploy": true, "createdDate": "", "lastUpdatedDate": "",
            "defaultRouteSettings": {}, "routeSettings": {}, "apiGatewayManaged": false
        }))
        .unwrap()
    }

    #[test]
    fn stages_by_first_segment_else_default() {
        let both = [stage("$default"), stage("dev")];
        let name = |(i, p): (usize, String)| (both[i].stage_name.clone(), p);
        let pick = |path| name(pick_stage(&both, path).unwrap());
        assert_eq!(pick("/dev/items/1"), ("dev".into(), "/items/1".into()));
        assert_eq!(pick("/dev"), ("dev".into(), "/".into()));
        assert_eq!(pick("/devx/1"), ("$default".into(), "/devx/1".into()));
        assert!(pick_stage(&[stage("dev")], "/items").is_none());
    }
}
