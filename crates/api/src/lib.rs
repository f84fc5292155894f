//! The HTTP front end of Stratus: SigV4 authentication, dispatch by the signing service, and
//! the AWS APIs themselves. Handlers turn HTTP into typed calls on the stores and the invoker
//! (`stratus_invoke`, which runs every invocation); neither sees HTTP.
//!
//! # Layout
//! - [`auth`]: SigV4 verification (header and presigned forms), root, user and session keys.
//! - [`authorize`]: the one authorization hook: each request's IAM action, evaluated.
//! - [`wire`]: the HTTP status of each error kind in each protocol, the REST-JSON error
//!   renderer, and the JSON helpers.
//! - [`lambda`]: the Lambda API (2015-03-31 and its dated siblings), one handler per operation.
//! - [`apigw`]: API Gateway v2 HTTP APIs: the management API and the unsigned data plane.
//! - [`function_url`]: Lambda function URLs: their control plane and the requests to them.
//! - [`cors`]: CORS preflights and response headers, for HTTP APIs and function URLs.
//! - [`objects`]: S3 requests handed to the object store, and object events queued for functions.
//! - [`code_url`]: the expiring links GetFunction hands out to download a package.
//! - [`function_credentials`]: each environment's credentials, a session of its role.
//! - [`metering`]: the usage report and Prometheus metrics (invocations are metered by the
//!   invoker, `stratus_invoke`, which every trigger calls).
//! - [`services`]: the protocol-per-service APIs answered on `POST /`, chosen by the signing
//!   service: the AWS JSON services (DynamoDB, CloudWatch Logs) through one `X-Amz-Target`
//!   table and renderer, and the Query protocol's (SNS, IAM, STS); SQS speaks both.
//! - [`s3_auth`]: S3's keys and authorization, plugged into s3s.
//! - [`console`]: the web console: its embedded page, sign-in sessions, and the proxy that
//!   signs the page's API calls with the session's key.
//! - [`inprocess`]: requests the server signs and sends to its own APIs (stacks, console).
//! - [`panic_guard`]: a panic in a handler becomes its protocol's internal error.
//! - [`workers`]: background workers restarted after a panic, and their states.

pub mod apigw;
pub mod auth;
pub mod authorize;
pub mod cluster;
pub mod code_url;
pub mod console;
pub mod cors;
pub mod expect_continue;
pub mod function_credentials;
pub mod function_url;
pub mod inprocess;
pub mod lambda;
pub mod memo;
pub mod metering;
pub mod objects;
pub mod panic_guard;
pub mod s3_auth;
pub mod services;
pub mod wire;
pub mod workers;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use stratus_store::code::CodeStore;
use stratus_store::meta::Meta;

use stratus_core::Kind;

use crate::wire::ApiError;

/// The AWS services answered on the signed routes (S3 is dispatched before them).
const SERVICES: &[&str] = &[
    "lambda",
    "apigateway",
    "execute-api",
    "dynamodb",
    "sns",
    "sqs",
    "logs",
    "events",
    "scheduler",
    "iam",
    "sts",
    "monitoring",
    "cloudformation",
    "codedeploy",
];

/// The largest request body accepted (CreateFunction's documented whole-request limit).
pub const MAX_BODY: usize = 70_167_211;

/// What every handler shares: a few handles.
pub struct AppState {
    /// Runs every invocation (resolution, metering, the asynchronous queue), and holds the
    /// engine and the meter the control plane and the read-outs use.
    pub invoker: Arc<stratus_invoke::Invoker>,
    /// The stores the APIs read and write.
    pub stores: Stores,
    /// What was fixed at start-up.
    pub config: ApiConfig,
    /// The supervised background workers, whose states `/health` reports.
    pub workers: Arc<workers::Workers>,
    /// What each HTTP API serves, memoised for its data plane.
    pub apigw: apigw::served::ServedCache,
    /// The functions' policies, as services' invocations check them.
    pub policies: Arc<lambda::policy::PolicyMemo>,
    /// The web console's sign-in sessions (in memory).
    pub console: console::Sessions,
}

/// The stores behind the APIs.
pub struct Stores {
    /// Functions, versions, aliases, HTTP APIs and the asynchronous queue.
    pub meta: Arc<Meta>,
    pub code: Arc<CodeStore>,
    /// Where code packages and object bytes live (reported by `/health`).
    pub blobs: Arc<stratus_blobs::BlobStore>,
    /// Where every store's state lives, and whether it answers (reported by `/health`).
    pub database: Arc<stratus_db::Health>,
    /// The object store, and the S3 protocol service in front of it.
    pub objects: Arc<stratus_s3::ObjectStore>,
    pub s3: s3s::service::S3Service,
    /// The DynamoDB-compatible table service.
    pub tables: Arc<stratus_tables::Tables>,
    /// Topics and subscriptions (the SNS API), in their own database.
    pub topics: stratus_topics::Topics,
    /// Event buses, rules, targets and schedules (EventBridge and its Scheduler).
    pub events: services::events::EventsService,
    /// Queues and their messages (the SQS API), in their own database.
    pub queues: Arc<stratus_queues::Queues>,
    /// Users, roles, policies and sessions (the IAM and STS APIs, and who a key belongs to).
    pub iam: Arc<stratus_iam::Iam>,
    /// Custom metrics, alarms and their history (the CloudWatch API).
    pub cloudwatch: Arc<stratus_cloudwatch::store::CloudWatchDb>,
    /// Lambda applications, deployment groups and deployments (the CodeDeploy API).
    pub deploy: services::codedeploy::CodeDeployService,
    /// Stacks (the CloudFormation API) and the executor that runs them.
    pub stacks: services::cloudformation::StacksService,
}

/// The settings the APIs answer with, fixed at start-up.
pub struct ApiConfig {
    /// The root access key → its secret key.
    pub secrets: HashMap<String, String>,
    /// Whether requests are authorized by IAM policies (`--iam on`), or any valid signature
    /// may do anything (`--iam off`).
    pub iam_enforced: bool,
    /// Key for signing code download links.
    pub url_key: [u8; 32],
    /// Account-wide concurrency limit.
    pub account_concurrency: u32,
    /// What `/health` reports.
    pub health: serde_json::Value,
    /// The port the server listens on: in-process requests (a stack's resources) are
    /// addressed to it, so the endpoints they are answered with (API and function URLs) work.
    pub port: u16,
}

pub type Shared = Arc<AppState>;

/// The whole HTTP surface on one router.
pub fn router(state: Shared) -> Router {
    with_edge_layers(routes(state.clone()), state)
}

/// Every route, without the layers that pick a service ahead of routing. Tests add routes
/// here (a handler that panics, say) and then wrap the result with [`with_edge_layers`].
pub fn routes(state: Shared) -> Router<Shared> {
    let signed = lambda::router()
        .merge(function_url::control::router())
        .merge(apigw::router())
        .merge(services::events::scheduler::router())
        .fallback(unknown_operation)
        .layer(middleware::from_fn_with_state(state, authenticate));
    Router::new()
        .route("/health", get(health))
        .route("/_stratus/usage", get(metering::usage))
        .route(
            stratus_cluster::channel::INVOKE_PATH,
            axum::routing::post(cluster::invoke),
        )
        .route("/metrics", get(metering::prometheus))
        .route("/_stratus/code/{file}", get(code_url::download))
        .route("/_aws/execute-api/{api}", any(apigw::data_plane::by_path))
        .route("/_aws/execute-api/{api}/", any(apigw::data_plane::by_path))
        .route(
            "/_aws/execute-api/{api}/{*path}",
            any(apigw::data_plane::by_path),
        )
        .route(
            "/_aws/lambda-url/{id}",
            any(function_url::data_plane::by_path),
        )
        .route(
            "/_aws/lambda-url/{id}/",
            any(function_url::data_plane::by_path),
        )
        .route(
            "/_aws/lambda-url/{id}/{*path}",
            any(function_url::data_plane::by_path),
        )
        .merge(console::router())
        .merge(signed)
}

/// The layers every request passes, outermost first: the request id, panic containment, then
/// the dispatch of what is not routed ([`dispatch`]: function URL hosts, HTTP API hosts,
/// S3). They wrap the router as one service, ahead of routing, rather than each route
/// (`Router::layer`): a layer on a router wraps every route's endpoint in a boxed service,
/// and each request then cloned the boxed stack under each layer it passed (~60 allocations
/// per request for the five there were); around the router a layer's clone copies an `Arc`.
pub fn with_edge_layers(routes: Router<Shared>, state: Shared) -> Router {
    let service = tower::ServiceBuilder::new()
        .layer(middleware::from_fn(request_id))
        .layer(middleware::from_fn(panic_guard::catch_panic))
        .layer(middleware::from_fn_with_state(state.clone(), dispatch))
        .service(routes.with_state(state));
    Router::new().fallback_service(service)
}

/// The answer to a request a dispatcher took away from routing.
pub type Served = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// Sends the requests that are not the router's to what serves them, in this order:
/// function URL hosts, HTTP API hosts, S3 (by its signature); the rest go on to routing.
/// One layer for the three, each handing the request back when it is not its own.
async fn dispatch(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let req = match function_url::data_plane::by_host(&s, req) {
        Ok(served) => return served.await,
        Err(req) => req,
    };
    let req = match apigw::data_plane::by_host(&s, req) {
        Ok(served) => return served.await,
        Err(req) => req,
    };
    match objects::dispatch(&s, req) {
        Ok(served) => served.await,
        Err(req) => next.run(req).await,
    }
}

/// The static facts of `/health` plus each background worker's state: `200` and `"ok"` while
/// every worker runs, `503` and `"degraded"` while one is down (restarting after a panic),
/// `503` and `"draining"` once a cluster node is shutting down (so a load balancer's health
/// check takes it out while it still answers).
async fn health(State(state): State<Shared>) -> Response {
    let mut body = state.config.health.clone();
    let draining = state.invoker.cluster().is_some_and(|c| c.is_draining());
    let running = state.workers.all_running();
    let ok = running && !draining;
    if let Some(map) = body.as_object_mut() {
        let status = match (draining, running) {
            (true, _) => "draining",
            (false, true) => "ok",
            (false, false) => "degraded",
        };
        map.insert("status".into(), status.into());
        map.insert("workers".into(), state.workers.to_json());
        map.insert("storage".into(), storage_health(&state).await);
        map.insert("runtimes".into(), state.invoker.engine().runtimes());
        map.insert("sandbox_pool".into(), state.invoker.engine().sandbox_pool());
        map.insert("snapstart".into(), state.invoker.engine().snapshots());
        if let Some(cluster) = state.invoker.cluster() {
            map.insert("cluster".into(), cluster.to_json());
        }
    }
    let status = if ok {
        http::StatusCode::OK
    } else {
        http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Each storage backend and whether it answers. Both checks are cached for a few seconds, so
/// polling `/health` costs the stores little.
async fn storage_health(state: &AppState) -> serde_json::Value {
    let blobs = &state.stores.blobs;
    let database = state.stores.database.clone();
    let location = database.location().clone();
    let reachable = tokio::task::spawn_blocking(move || database.reachable())
        .await
        .unwrap_or(false);
    serde_json::json!({
        "database": {
            "backend": location.kind(),
            "location": location.to_string(),
            "reachable": reachable,
        },
        "blobs": {
            "backend": blobs.kind(),
            "location": blobs.location(),
            "reachable": blobs.reachable().await,
        }
    })
}

async fn unknown_operation() -> ApiError {
    ApiError(stratus_core::Error::new(
        "UnknownOperationException",
        Kind::UnknownOperation,
        "Unknown operation",
    ))
}

/// Verifies the signature of every request that reaches a signed route, and hands the handler
/// the verified [`auth::Caller`]. The body is buffered here because the signature covers it.
async fn authenticate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body, MAX_BODY, BODY_IDLE_TIMEOUT).await {
        Ok(b) => b,
        Err(e) => return early_error(&parts, e.into_error()),
    };
    // The UnsubscribeUrl of SNS notifications works unsigned, as on AWS.
    if services::sns::is_unsubscribe_link(&parts) {
        return services::sns::unsubscribe_link(&state, &parts);
    }
    let keys = auth::RootThenIam {
        root: &state.config.secrets,
        iam: &state.stores.iam,
    };
    match auth::verify(&parts, &bytes, &keys) {
        Ok(caller) if !SERVICES.contains(&caller.service.as_str()) => {
            ApiError(stratus_core::Error::new(
                "UnrecognizedClientException",
                Kind::InvalidInput,
                format!(
                    "The service '{}' is not offered by this endpoint.",
                    caller.service
                ),
            ))
            .into_response()
        }
        Ok(caller) => {
            // The one authorization hook of the signed routes (S3 has its own, in s3s).
            if let Some(refusal) = authorize::check(&state, &caller, &parts, &bytes) {
                return refusal;
            }
            if services::answers(&caller.service) {
                // Boxed: this middleware's future is moved into a box for every signed
                // request, so the services' large state must not be inlined into it.
                return Box::pin(services::handle(&state, caller, parts, bytes)).await;
            }
            let mut req = Request::from_parts(parts, Body::from(bytes.clone()));
            req.extensions_mut().insert(caller);
            req.extensions_mut().insert(RawBody(bytes));
            next.run(req).await
        }
        // Each of these services words its signature errors in its own protocol.
        Err(e) => early_error(&parts, e),
    }
}

/// An error raised before a request reached its service (a bad signature, an unreadable
/// body), in the protocol of the service it is for: each service words these in its own.
fn early_error(parts: &http::request::Parts, e: stratus_core::Error) -> Response {
    services::early_error(parts, e).unwrap_or_else(|e| ApiError(e).into_response())
}

/// How long a request body may go without a byte arriving: a client that sends its headers
/// and then trickles (or withholds) the body would otherwise hold its connection, and a
/// handler, for ever. The header read time-out of the HTTP layer ends where the body starts.
pub const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    /// No bytes for the idle time-out.
    Stalled,
    /// The client went away or sent a malformed (for example truncated chunked) body.
    Broken,
}

impl BodyError {
    fn into_error(self) -> stratus_core::Error {
        match self {
            BodyError::TooLarge => stratus_core::Error::too_large(format!(
                "Request must be smaller than {MAX_BODY} bytes for the operation"
            )),
            // S3's words for the same condition; the other services document none.
            BodyError::Stalled => stratus_core::Error::new(
                "RequestTimeout",
                Kind::InvalidInput,
                "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
            ),
            BodyError::Broken => stratus_core::Error::new(
                "IncompleteBody",
                Kind::InvalidInput,
                "The request body ended before the length it announced.",
            ),
        }
    }
}

/// Buffers a body of at most `limit` bytes, giving up when no data arrives for `idle`.
pub async fn read_body(
    body: Body,
    limit: usize,
    idle: std::time::Duration,
) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
}

/// The request body, already buffered by authentication.
#[derive(Clone)]
pub struct RawBody(pub Bytes);

/// The id the request-id layer gave a request, for log lines about it. A copyable value,
/// written out as text only where it is shown (the response header, a log line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId(pub uuid::Uuid);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl RequestId {
    /// The id as a header value, written into a stack buffer (no intermediate string).
    pub fn header_value(&self) -> HeaderValue {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = self.0.hyphenated().encode_lower(&mut buf);
        HeaderValue::from_str(text).expect("a UUID is a valid header value")
    }
}

/// Gives every request an id (in its extensions, for logs) and every response an
/// `x-amzn-RequestId` (handlers that have a more meaningful id, such as Invoke's invocation id,
/// set their own first). The id comes from a counter, and becomes text only for the header:
/// this runs on every request, warm invokes included. It also closes the connection after an
/// unread `Expect: 100-continue` body ([`expect_continue`]), rather than a middleware of its own.
async fn request_id(req: Request, next: Next) -> Response {
    let id = RequestId(stratus_core::ids::request_id());
    let (mut req, watch) = expect_continue::watch(req);
    req.extensions_mut().insert(id);
    let mut resp = next.run(req).await;
    watch.finish(&mut resp);
    if !resp.headers().contains_key("x-amzn-RequestId") {
        resp.headers_mut()
            .insert("x-amzn-RequestId", id.header_value());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A body fed by the returned sender, one chunk per message.
    fn channel_body() -> (
        tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
        Body,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        (tx, Body::from_stream(stream))
    }

    #[tokio::test]
    async fn bodies_are_read_whole_within_the_limit() {
        let (tx, body) = channel_body();
        tx.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
        tx.send(Ok(Bytes::from_static(b"cd"))).await.unwrap();
        drop(tx);
        let got = read_body(body, 4, Duration::from_secs(5)).await.unwrap();
        assert_eq!(&got[..], b"abcd");
        let over = read_body(Body::from("abcde"), 4, Duration::from_secs(5)).await;
        assert_eq!(over.unwrap_err(), BodyError::TooLarge);
    }

    #[tokio::test]
    async fn a_stalled_or_broken_body_is_given_up() {
        let (tx, body) = channel_body();
        tx.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
        let stalled = read_body(body, 100, Duration::from_millis(50)).await;
        assert_eq!(stalled.unwrap_err(), BodyError::Stalled);
        drop(tx);
        let (tx, body) = channel_body();
        tx.send(Err(std::io::Error::other("reset"))).await.unwrap();
        let broken = read_body(body, 100, Duration::from_secs(5)).await;
        assert_eq!(broken.unwrap_err(), BodyError::Broken);
    }
}
