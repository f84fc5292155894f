//! `floor`: the physical floor under Stratus, measured with the same client.
//!
//! - `floor serve`: one hyper server with an Invoke endpoint
//!   (`POST /2015-03-31/functions/{name}/invocations`) and the Runtime API's `next`/`response`
//!   endpoints, joined by a queue: client → server → long-polling runtime → server → client,
//!   and nothing else (no signature check, no metadata, no logs, no sandbox). Prints
//!   `{"listening": "ADDR"}` once ready.
//! - `floor runtime --api ADDR`: a no-op runtime client loop on hyper (next → response).
//! - `floor exec --count N -- CMD…`: a bare fork+exec of a runtime, timed until it reaches
//!   `/next`, then until its first invocation is answered; no sandbox.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use stratus_bench::runtime_api as api;
use stratus_bench::stats::Summary;
use tokio::sync::{mpsc, oneshot};

/// A `floor serve` process exits by itself after this long, whatever happens to its parent.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);
const MAX_EXEC_COUNT: usize = 1000;

#[derive(Parser)]
#[command(about = "The physical floor: a minimal Runtime-API loop and a bare fork+exec")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Invoke and the Runtime API on one port.
    Serve {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// A no-op runtime: GET next, POST the event back as the response, forever.
    Runtime {
        /// The Runtime API's host:port.
        #[arg(long)]
        api: String,
    },
    /// Start CMD `--count` times; time each until `/next` and until its first response.
    Exec {
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// Extra environment for CMD, `KEY=VALUE` (the Runtime API address is added).
        #[arg(long = "env")]
        env: Vec<String>,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve { listen } => tokio::runtime::Runtime::new()?.block_on(serve_main(listen)),
        Command::Runtime { api } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(runtime_loop(api)),
        Command::Exec { count, env, cmd } => {
            if count == 0 || count > MAX_EXEC_COUNT {
                bail!("--count must be within 1..={MAX_EXEC_COUNT}");
            }
            tokio::runtime::Runtime::new()?.block_on(exec_main(count, env, cmd))
        }
    }
}

/// An invocation waiting for a runtime.
struct Invocation {
    payload: Bytes,
    reply: oneshot::Sender<Result<Bytes, Bytes>>,
}

/// The whole state of the floor server: a queue, the invocations in flight, a counter.
struct Floor {
    tx: mpsc::UnboundedSender<Invocation>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    in_flight: Mutex<HashMap<u64, oneshot::Sender<Result<Bytes, Bytes>>>>,
    seq: AtomicU64,
    /// Told of every `/next` call (used by `exec`).
    polled: mpsc::UnboundedSender<Instant>,
}

impl Floor {
    fn new() -> (Arc<Floor>, mpsc::UnboundedReceiver<Instant>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (polled, polls) = mpsc::unbounded_channel();
        let floor = Floor {
            tx,
            rx: tokio::sync::Mutex::new(rx),
            in_flight: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
            polled,
        };
        (Arc::new(floor), polls)
    }

    /// Queues an invocation and waits for the runtime's answer.
    async fn invoke(&self, payload: Bytes) -> Result<Bytes, Bytes> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Invocation { payload, reply }).is_err() {
            return Err(Bytes::from_static(b"queue closed"));
        }
        rx.await
            .unwrap_or_else(|_| Err(Bytes::from_static(b"runtime went away")))
    }
}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, body: Bytes) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("valid response")
}

async fn handle(floor: Arc<Floor>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_string();
    let resp = if req.method() == Method::GET && path == api::NEXT {
        next(&floor).await
    } else if req.method() == Method::POST && path.ends_with("/invocations") {
        let body = req.into_body().collect().await.map(|c| c.to_bytes());
        match floor.invoke(body.unwrap_or_default()).await {
            Ok(b) => respond(StatusCode::OK, b),
            Err(b) => {
                let mut r = respond(StatusCode::OK, b);
                r.headers_mut()
                    .insert("x-amz-function-error", "Unhandled".parse().expect("valid"));
                r
            }
        }
    } else if let Some(rest) = path.strip_prefix(api::INVOCATION_PREFIX) {
        result(&floor, rest, req).await
    } else if path == api::INIT_ERROR {
        respond(StatusCode::ACCEPTED, Bytes::from_static(b"{}"))
    } else {
        respond(StatusCode::NOT_FOUND, Bytes::from_static(b"{}"))
    };
    Ok(resp)
}

async fn next(floor: &Floor) -> Resp {
    let _ = floor.polled.send(Instant::now());
    let Some(inv) = floor.rx.lock().await.recv().await else {
        return respond(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new());
    };
    let id = floor.seq.fetch_add(1, Ordering::Relaxed);
    floor.in_flight.lock().unwrap().insert(id, inv.reply);
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 60_000;
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header(api::REQUEST_ID, id.to_string())
        .header(api::DEADLINE_MS, deadline.to_string())
        .header(
            api::FUNCTION_ARN,
            "arn:aws:lambda:us-east-1:000000000000:function:floor",
        )
        .header(api::TRACE_ID, "Root=1-00000000-000000000000000000000000")
        .body(Full::new(inv.payload))
        .expect("valid response")
}

/// `/invocation/{id}/response` and `/invocation/{id}/error`.
async fn result(floor: &Floor, rest: &str, req: Request<Incoming>) -> Resp {
    let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(id) = id.parse::<u64>() else {
        return respond(StatusCode::BAD_REQUEST, Bytes::from_static(b"{}"));
    };
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let Some(reply) = floor.in_flight.lock().unwrap().remove(&id) else {
        return respond(StatusCode::BAD_REQUEST, Bytes::from_static(b"{}"));
    };
    let _ = reply.send(if kind == "response" {
        Ok(body)
    } else {
        Err(body)
    });
    respond(
        StatusCode::ACCEPTED,
        Bytes::from_static(br#"{"status":"OK"}"#),
    )
}

async fn accept_loop(listener: tokio::net::TcpListener, floor: Arc<Floor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let floor = floor.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(floor.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn serve_main(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "{}",
        json!({ "listening": listener.local_addr()?.to_string() })
    );
    let (floor, _polls) = Floor::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = accept_loop(listener, floor) => {}
        _ = term.recv() => {}
        _ = tokio::time::sleep(MAX_LIFETIME) => {}
    }
    Ok(())
}

/// The no-op runtime: one keep-alive connection, next → response.
async fn runtime_loop(api_addr: String) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(&api_addr).await?;
    stream.set_nodelay(true)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    loop {
        let req = Request::get(api::NEXT)
            .header("host", &api_addr)
            .body(Full::new(Bytes::new()))?;
        let resp = send.send_request(req).await?;
        let id = resp
            .headers()
            .get(api::REQUEST_ID)
            .context("no request id")?
            .to_str()?
            .to_string();
        let event = resp.into_body().collect().await?.to_bytes();
        let req = Request::post(format!("{}{id}/response", api::INVOCATION_PREFIX))
            .header("host", &api_addr)
            .body(Full::new(event))?;
        let resp = send.send_request(req).await?;
        resp.into_body().collect().await?;
    }
}

async fn exec_main(count: usize, env: Vec<String>, cmd: Vec<String>) -> anyhow::Result<()> {
    let mut extra = Vec::new();
    for kv in &env {
        let (k, v) = kv.split_once('=').context("--env takes KEY=VALUE")?;
        extra.push((k.to_string(), v.to_string()));
    }
    let (mut spawn, mut to_next, mut to_first) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..count {
        let t = exec_once(&cmd, &extra).await?;
        spawn.push(t.0);
        to_next.push(t.1);
        to_first.push(t.2);
    }
    println!(
        "{}",
        json!({
            "command": cmd,
            "count": count,
            "spawn_call": Summary::of(spawn),
            "until_next": Summary::of(to_next),
            "until_first_response": Summary::of(to_first),
        })
    );
    Ok(())
}

/// One start on a fresh server (so a dying runtime's pending `/next` cannot take the next
/// run's invocation): times to `spawn()` returning, to `/next`, to the first response.
async fn exec_once(
    cmd: &[String],
    extra: &[(String, String)],
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (floor, mut polls) = Floor::new();
    let server = tokio::spawn(accept_loop(listener, floor.clone()));
    let mut vars = api::function_env(&addr, "floor");
    vars.extend(extra.iter().cloned());
    let t0 = Instant::now();
    let mut child = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .env_clear()
        .envs(vars)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", cmd[0]))?;
    let spawned = t0.elapsed();
    let polled = tokio::time::timeout(Duration::from_secs(10), polls.recv()).await;
    let Ok(Some(at)) = polled else {
        bail!("{} did not reach /next within 10 s", cmd[0]);
    };
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        floor.invoke(Bytes::from_static(br#"{"floor":true}"#)),
    )
    .await;
    if !matches!(answer, Ok(Ok(_))) {
        bail!("{} did not answer its first invocation", cmd[0]);
    }
    let first = t0.elapsed();
    let _ = child.start_kill();
    let _ = child.wait().await;
    server.abort();
    Ok((spawned, at.duration_since(t0), first))
}
