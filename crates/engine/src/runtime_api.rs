//! The Lambda Runtime API (`/2018-06-01/runtime/...`), one server per environment. Each
//! environment has its own listening socket, so a caller is identified by the socket it
//! reached, never by its address. The engine hands invocations in through a channel; each
//! carries a reply channel that `/response` or `/error` completes.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderName, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use stratus_core::limits;
use tokio::sync::{mpsc, oneshot};

/// One invocation handed to the runtime.
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline_ms: i64,
    pub invoked_arn: String,
    pub trace_id: String,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub reply: oneshot::Sender<Reply>,
}

/// What the runtime answered.
#[derive(Debug)]
pub enum Reply {
    Response(Bytes),
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
    TooLarge,
    /// The runtime streams its response (`Lambda-Runtime-Function-Response-Mode: streaming`).
    Stream(crate::stream::Incoming),
}

/// How initialisation ended.
#[derive(Debug)]
pub enum InitSignal {
    /// The runtime asked for its first invocation.
    Ready,
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
}

struct Current {
    request_id: String,
    reply: oneshot::Sender<Reply>,
}

/// The state one environment's Runtime API serves.
pub struct Slot {
    // Boxed: the channel allocates a block of 32 slots up front, 32 boxes (256 bytes) rather
    // than 32 invocations (5 KB) for every environment.
    next: tokio::sync::Mutex<mpsc::Receiver<Box<Invocation>>>,
    current: Mutex<Option<Current>>,
    init: Mutex<Option<oneshot::Sender<InitSignal>>>,
    initialized: AtomicBool,
    /// SnapStart only (decision 0039): what `/restore/next` waits for, and what the first
    /// `/invocation/next` after it (or `/restore/error`) reports.
    snap: Option<SnapSlot>,
}

struct SnapSlot {
    go: tokio::sync::Mutex<Option<oneshot::Receiver<()>>>,
    restored: Mutex<Option<oneshot::Sender<InitSignal>>>,
}

/// The platform's side of a SnapStart environment's restore: `go` answers the runtime's
/// `/restore/next`; `done` says how its after-restore hooks ended.
pub struct Restore {
    pub go: oneshot::Sender<()>,
    pub done: oneshot::Receiver<InitSignal>,
}

impl Slot {
    /// A slot; `snap_start` adds the restore endpoints' state and returns its platform side.
    pub fn new(
        snap_start: bool,
    ) -> (
        Arc<Slot>,
        mpsc::Sender<Box<Invocation>>,
        oneshot::Receiver<InitSignal>,
        Option<Restore>,
    ) {
        let (tx, rx) = mpsc::channel(1);
        let (init_tx, init_rx) = oneshot::channel();
        let (snap, restore) = if snap_start {
            let (go_tx, go_rx) = oneshot::channel();
            let (done_tx, done_rx) = oneshot::channel();
            let snap = SnapSlot {
                go: tokio::sync::Mutex::new(Some(go_rx)),
                restored: Mutex::new(Some(done_tx)),
            };
            let restore = Restore {
                go: go_tx,
                done: done_rx,
            };
            (Some(snap), Some(restore))
        } else {
            (None, None)
        };
        let slot = Slot {
            next: tokio::sync::Mutex::new(rx),
            current: Mutex::new(None),
            init: Mutex::new(Some(init_tx)),
            initialized: AtomicBool::new(false),
            snap,
        };
        (Arc::new(slot), tx, init_rx, restore)
    }
}

/// Accepts and serves connections until the task is aborted.
pub async fn serve(listener: tokio::net::TcpListener, slot: Arc<Slot>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = slot.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(slot.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &'static str) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("valid response")
}

// `/next`'s header names, made once: a name given as a string that is not one of HTTP's
// standard ones (or not in lower case) is copied into a buffer of its own for every response.
const REQUEST_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-request-id");
const DEADLINE_MS: HeaderName = HeaderName::from_static("lambda-runtime-deadline-ms");
const INVOKED_FUNCTION_ARN: HeaderName =
    HeaderName::from_static("lambda-runtime-invoked-function-arn");
const TRACE_ID: HeaderName = HeaderName::from_static("lambda-runtime-trace-id");
const CLIENT_CONTEXT: HeaderName = HeaderName::from_static("lambda-runtime-client-context");
const COGNITO_IDENTITY: HeaderName = HeaderName::from_static("lambda-runtime-cognito-identity");

const ACCEPTED: &str = r#"{"status":"OK"}"#;
const INVALID_ID: &str = r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#;
const TOO_LARGE: &str = r#"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#;
const BAD_STATE: &str = r#"{"errorMessage":"State transition failed for runtime: init already completed","errorType":"InvalidStateTransition"}"#;
const BROKEN: &str =
    r#"{"errorMessage":"The response stream broke off","errorType":"InvalidRequest"}"#;
const RESTORE_STATE: &str = r#"{"errorMessage":"State transition from Ready to RestoreReady failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}"#;
const INTERNAL: &str =
    r#"{"errorMessage":"Internal Server Error","errorType":"InternalServerError"}"#;
const NOT_FOUND: &str = r#"{"errorMessage":"Not Found","errorType":"NotFound"}"#;

async fn handle(slot: Arc<Slot>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return Ok(reply(StatusCode::NOT_FOUND, NOT_FOUND));
    };
    let resp = match (req.method(), rest) {
        (&Method::GET, "invocation/next") => next(&slot).await,
        (&Method::POST, "init/error") => init_error(&slot, req).await,
        (&Method::GET, "restore/next") => restore_next(&slot).await,
        (&Method::POST, "restore/error") => restore_error(&slot, req).await,
        (&Method::POST, r) if r.starts_with("invocation/") => {
            let mut parts = r["invocation/".len()..].splitn(2, '/');
            match (parts.next(), parts.next()) {
                (Some(id), Some("response")) => result(&slot, id.to_string(), req, false).await,
                (Some(id), Some("error")) => result(&slot, id.to_string(), req, true).await,
                _ => reply(StatusCode::NOT_FOUND, NOT_FOUND),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, NOT_FOUND),
    };
    Ok(resp)
}

/// Long-polls for the next invocation; the first call marks the end of initialisation.
async fn next(slot: &Slot) -> Resp {
    if !slot.initialized.swap(true, Ordering::AcqRel) {
        if let Some(tx) = slot.init.lock().unwrap().take() {
            let _ = tx.send(InitSignal::Ready);
        }
    }
    // SnapStart: the first call after the restore says the after-restore hooks are done.
    if let Some(tx) = slot
        .snap
        .as_ref()
        .and_then(|s| s.restored.lock().unwrap().take())
    {
        let _ = tx.send(InitSignal::Ready);
    }
    let Some(inv) = slot.next.lock().await.recv().await else {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL);
    };
    let mut b = Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(REQUEST_ID, &inv.request_id)
        .header(DEADLINE_MS, inv.deadline_ms)
        .header(INVOKED_FUNCTION_ARN, &inv.invoked_arn)
        .header(TRACE_ID, &inv.trace_id);
    if let Some(cc) = &inv.client_context {
        b = b.header(CLIENT_CONTEXT, cc);
    }
    if let Some(ci) = &inv.cognito_identity {
        b = b.header(COGNITO_IDENTITY, ci);
    }
    *slot.current.lock().unwrap() = Some(Current {
        request_id: inv.request_id,
        reply: inv.reply,
    });
    b.body(Full::new(inv.payload)).expect("valid response")
}

/// Reads a body of at most the response limit. A larger one is still read to its end (and
/// dropped), so the runtime's connection stays usable; `Err` then says it was too large.
async fn read_body(req: Request<Incoming>) -> Result<Bytes, ()> {
    let mut body = req.into_body();
    let mut kept = Vec::new();
    let mut too_large = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Err(()) };
        if let Ok(data) = frame.into_data() {
            if kept.len() + data.len() > limits::MAX_SYNC_RESPONSE {
                too_large = true;
                kept = Vec::new();
            } else if !too_large {
                kept.extend_from_slice(&data);
            }
        }
    }
    if too_large {
        Err(())
    } else {
        Ok(Bytes::from(kept))
    }
}

fn error_type(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `/invocation/{id}/response` and `/invocation/{id}/error`.
async fn result(slot: &Slot, id: String, req: Request<Incoming>, is_error: bool) -> Resp {
    let current_matches = slot
        .current
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|c| c.request_id == id);
    if !current_matches {
        return reply(StatusCode::BAD_REQUEST, INVALID_ID);
    }
    if !is_error && crate::stream::is_streaming(req.headers()) {
        return match take_current(slot, &id) {
            Some(current) => stream_result(current, req).await,
            None => reply(StatusCode::BAD_REQUEST, INVALID_ID),
        };
    }
    let kind = error_type(&req);
    let body = read_body(req).await;
    let Some(current) = take_current(slot, &id) else {
        return reply(StatusCode::BAD_REQUEST, INVALID_ID);
    };
    match body {
        Err(()) => {
            let _ = current.reply.send(Reply::TooLarge);
            reply(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
        }
        Ok(body) => {
            let r = if is_error {
                Reply::Error {
                    error_type: kind,
                    body,
                }
            } else {
                Reply::Response(body)
            };
            let _ = current.reply.send(r);
            reply(StatusCode::ACCEPTED, ACCEPTED)
        }
    }
}

fn take_current(slot: &Slot, id: &str) -> Option<Current> {
    slot.current.lock().unwrap().take_if(|c| c.request_id == id)
}

/// A streamed `/response`: the environment gets the stream at once, and each chunk as it
/// arrives; the post is answered when the body has ended.
async fn stream_result(current: Current, req: Request<Incoming>) -> Resp {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (tx, pieces) = crate::stream::channel();
    let incoming = crate::stream::Incoming {
        content_type,
        pieces,
    };
    let _ = current.reply.send(Reply::Stream(incoming));
    match crate::stream::pump(req.into_body(), &tx).await {
        Some(end) => {
            let _ = tx.send(crate::stream::Piece::End(end)).await;
            reply(StatusCode::ACCEPTED, ACCEPTED)
        }
        // Broken off: dropping the sender tells the environment; the runtime is gone anyway.
        None => reply(StatusCode::BAD_REQUEST, BROKEN),
    }
}

async fn init_error(slot: &Slot, req: Request<Incoming>) -> Resp {
    let kind = error_type(&req);
    let body = read_body(req).await.unwrap_or_default();
    match slot.init.lock().unwrap().take() {
        Some(tx) => {
            slot.initialized.store(true, Ordering::Release);
            let _ = tx.send(InitSignal::Error {
                error_type: kind,
                body,
            });
            reply(StatusCode::ACCEPTED, ACCEPTED)
        }
        None => reply(StatusCode::FORBIDDEN, BAD_STATE),
    }
}

/// `GET /restore/next` (SnapStart): the end of the init (its before-snapshot hooks have run);
/// answered when the platform restores the environment for a cold start. Refused outside a
/// SnapStart environment, and after the init has ended.
async fn restore_next(slot: &Slot) -> Resp {
    let Some(snap) = &slot.snap else {
        return reply(StatusCode::FORBIDDEN, RESTORE_STATE);
    };
    let Some(go) = snap.go.lock().await.take() else {
        return reply(StatusCode::FORBIDDEN, RESTORE_STATE);
    };
    if slot.initialized.swap(true, Ordering::AcqRel) {
        return reply(StatusCode::FORBIDDEN, RESTORE_STATE);
    }
    if let Some(tx) = slot.init.lock().unwrap().take() {
        let _ = tx.send(InitSignal::Ready);
    }
    // Parked here until the platform restores it (or drops it, which ends the runtime anyway).
    match go.await {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .body(Full::new(Bytes::new()))
            .expect("valid response"),
        Err(_) => reply(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL),
    }
}

/// `POST /restore/error` (SnapStart): an after-restore hook failed.
async fn restore_error(slot: &Slot, req: Request<Incoming>) -> Resp {
    let kind = error_type(&req);
    let body = read_body(req).await.unwrap_or_default();
    let tx = slot
        .snap
        .as_ref()
        .and_then(|s| s.restored.lock().unwrap().take());
    match tx {
        Some(tx) => {
            let _ = tx.send(InitSignal::Error {
                error_type: kind,
                body,
            });
            reply(StatusCode::ACCEPTED, ACCEPTED)
        }
        None => reply(StatusCode::FORBIDDEN, RESTORE_STATE),
    }
}
