//! `loadgen`: SigV4-signed Invoke requests over HTTP/1.1 keep-alive connections. With
//! `--path` (and `--method`, `--service`, `--header`) it sends any other request shape instead:
//! an Event invoke, an HTTP API route, a DynamoDB operation.
//!
//! Closed loop: `--concurrency N` connections, each sending its next request as soon as the
//! previous one is answered, for `--duration` seconds or until `--count` requests in total
//! have been sent (after an optional `--warmup`, whose requests are not counted). All
//! connections are opened before the clock starts. `--endpoint a,b,c` spreads the connections
//! over several servers in turn (connection i goes to endpoint i mod n), as a round-robin
//! load balancer spreads its clients: the nodes of a cluster. With `--qualifiers a,b,c` it instead invokes
//! each qualifier once, in order, and reports each invocation (cold starts): each on a
//! connection of its own that has first carried an untimed DryRun of the unqualified function.
//!
//! `--dynamodb Operation` is short for that shape of a DynamoDB operation (JSON 1.0 on `POST /`,
//! `X-Amz-Target: DynamoDB_20120810.Operation`, signed for `dynamodb`).
//!
//! Prints one JSON object: counts, errors, throughput, a latency summary, and (with
//! `--log-tail`) what the REPORT lines of the returned logs said.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::json;
use stratus_bench::sign::{Shape, Signer};
use stratus_bench::stats::{own_cpu, Summary};

/// About 100 bytes of JSON, as in the performance notes.
const DEFAULT_PAYLOAD: &str =
    r#"{"id":"0123456789abcdef","kind":"bench","values":[1,2,3,4,5,6,7,8],"note":"stratus bench"}"#;

/// Upper bounds that keep every run finite whatever the flags say.
const MAX_DURATION_S: f64 = 600.0;
const MAX_COUNT: u64 = 10_000_000;
const MAX_CONCURRENCY: usize = 2000;

#[derive(Parser, Debug)]
#[command(about = "Signed Invoke load over keep-alive connections; prints JSON")]
struct Args {
    /// Base URL of the server (loopback only), e.g. http://127.0.0.1:4566; several,
    /// comma-separated, spread the connections over them in turn.
    #[arg(long)]
    endpoint: String,
    /// Function name.
    #[arg(long, default_value = "")]
    function: String,
    /// Send the payload as this DynamoDB operation (e.g. PutItem) instead of invoking.
    #[arg(long)]
    dynamodb: Option<String>,
    /// Qualifier (version or alias) for every request.
    #[arg(long)]
    qualifier: Option<String>,
    /// Invoke each of these qualifiers once, in order, on one connection.
    #[arg(long, value_delimiter = ',')]
    qualifiers: Vec<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Seconds to measure for.
    #[arg(long)]
    duration: Option<f64>,
    /// Requests to send in total (across connections).
    #[arg(long)]
    count: Option<u64>,
    /// Seconds of unmeasured requests before measuring.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Request body.
    #[arg(long, default_value = DEFAULT_PAYLOAD)]
    payload: String,
    /// Ask for the log tail (`X-Amz-Log-Type: Tail`) and parse its REPORT line.
    #[arg(long)]
    log_tail: bool,
    /// Send unsigned requests (for servers that do not check signatures).
    #[arg(long)]
    no_sign: bool,
    /// Sign every request instead of once a minute per connection.
    #[arg(long)]
    sign_every_request: bool,
    /// Runtime worker threads (1 = a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Send to this path (and query) instead of the function's Invoke URL.
    #[arg(long)]
    path: Option<String>,
    /// HTTP method.
    #[arg(long, default_value = "POST")]
    method: String,
    /// The service the signature is scoped to.
    #[arg(long, default_value = "lambda")]
    service: String,
    /// Extra request header, `name: value` (repeatable; signed with the rest).
    #[arg(long = "header")]
    headers: Vec<String>,
    #[arg(long, default_value = "test")]
    access_key: String,
    #[arg(long, default_value = "test")]
    secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
}

/// What one request came to.
struct Sample {
    latency: Duration,
    error: Option<String>,
    report: Option<Report>,
}

/// The numbers of a REPORT line, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Default)]
struct Report {
    duration_ms: f64,
    init_ms: Option<f64>,
    max_memory_mb: Option<f64>,
}

/// The fixed parts of every request.
struct Target {
    host: String,
    method: http::Method,
    service: String,
    /// Headers beyond `host` and `content-type`.
    extra: Vec<(String, String)>,
    url: String,
    path_and_query: String,
    body: Bytes,
    log_tail: bool,
    sign: bool,
    every_request: bool,
    timeout: Duration,
    creds: (String, String, String),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    check_bounds(&args)?;
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let out = rt.block_on(run(args))?;
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

fn check_bounds(a: &Args) -> anyhow::Result<()> {
    for endpoint in endpoints(a) {
        let host = endpoint
            .strip_prefix("http://")
            .context("--endpoint must be http://")?;
        if !(host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]"))
        {
            bail!("--endpoint must be a loopback address");
        }
    }
    if a.function.is_empty() && a.dynamodb.is_none() {
        bail!("give --function or --dynamodb");
    }
    if a.qualifiers.is_empty() && a.duration.is_none() && a.count.is_none() {
        bail!("give --duration, --count or --qualifiers");
    }
    if a.duration
        .is_some_and(|d| !(0.0..=MAX_DURATION_S).contains(&d))
        || !(0.0..=MAX_DURATION_S).contains(&a.warmup)
    {
        bail!("--duration and --warmup must be within 0..={MAX_DURATION_S} s");
    }
    if a.count.is_some_and(|c| c > MAX_COUNT) || a.qualifiers.len() as u64 > MAX_COUNT {
        bail!("at most {MAX_COUNT} requests");
    }
    if a.concurrency == 0 || a.concurrency > MAX_CONCURRENCY {
        bail!("--concurrency must be within 1..={MAX_CONCURRENCY}");
    }
    Ok(())
}

fn encode_qualifier(q: &str) -> String {
    q.replace('$', "%24")
}

/// The servers to send to, in the order connections are spread over them.
fn endpoints(a: &Args) -> Vec<&str> {
    a.endpoint.split(',').map(str::trim).collect()
}

fn target(a: &Args, qualifier: Option<&str>, endpoint: &str) -> Target {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut path_and_query = match a.dynamodb {
        Some(_) => "/".to_string(),
        None => format!("/2015-03-31/functions/{}/invocations", a.function),
    };
    if let Some(q) = qualifier {
        path_and_query.push_str(&format!("?Qualifier={}", encode_qualifier(q)));
    }
    if let Some(p) = &a.path {
        path_and_query = p.clone();
    }
    let mut extra: Vec<(String, String)> = a
        .headers
        .iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut service = a.service.clone();
    if let Some(op) = &a.dynamodb {
        service = "dynamodb".into();
        extra.push(("content-type".into(), "application/x-amz-json-1.0".into()));
        extra.push(("x-amz-target".into(), format!("DynamoDB_20120810.{op}")));
    }
    Target {
        host: host.to_string(),
        method: a.method.parse().unwrap_or(http::Method::POST),
        service,
        extra,
        url: format!("http://{host}{path_and_query}"),
        path_and_query,
        body: Bytes::from(a.payload.clone()),
        log_tail: a.log_tail,
        sign: !a.no_sign,
        every_request: a.sign_every_request,
        timeout: Duration::from_secs_f64(a.timeout),
        creds: (a.access_key.clone(), a.secret_key.clone(), a.region.clone()),
    }
}

/// A DryRun Invoke of the unqualified function: signed and sent as an invocation is, it
/// starts nothing (and looks at none of the versions a cold series times).
fn dry_run_target(a: &Args, endpoint: &str) -> Target {
    let mut t = target(a, None, endpoint);
    t.extra
        .push(("x-amz-invocation-type".into(), "DryRun".into()));
    t.log_tail = false;
    t
}

/// A target's signer (which may reuse one signature for all of a connection's requests).
fn signer_for(t: &Target) -> Signer {
    let signer = Signer::new(&t.creds.0, &t.creds.1, &t.creds.2, &t.service);
    if t.every_request {
        signer.every_request()
    } else {
        signer
    }
}

type Conn = SendRequest<Full<Bytes>>;

async fn connect(host: &str) -> anyhow::Result<Conn> {
    let stream = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("connecting to {host}"))?;
    stream.set_nodelay(true)?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// One connection's client: reconnects after a transport error.
struct Client {
    t: Arc<Target>,
    conn: Option<Conn>,
    signer: Signer,
}

impl Client {
    async fn open(t: Arc<Target>) -> anyhow::Result<Client> {
        let conn = connect(&t.host).await?;
        Ok(Client {
            signer: signer_for(&t),
            t,
            conn: Some(conn),
        })
    }

    /// Sends another shape of request on the same connection from now on.
    fn retarget(&mut self, t: Arc<Target>) {
        self.signer = signer_for(&t);
        self.t = t;
    }

    fn request(&mut self) -> anyhow::Result<http::Request<Full<Bytes>>> {
        let t = &self.t;
        let mut headers = vec![("host", t.host.clone())];
        if !t.extra.iter().any(|(k, _)| k == "content-type") {
            headers.push(("content-type", "application/json".to_string()));
        }
        for (k, v) in &t.extra {
            headers.push((k.as_str(), v.clone()));
        }
        if t.log_tail {
            headers.push(("x-amz-log-type", "Tail".to_string()));
        }
        let mut b = http::Request::builder()
            .method(t.method.clone())
            .uri(&t.path_and_query);
        for (k, v) in &headers {
            b = b.header(*k, v);
        }
        if t.sign {
            let shape = Shape {
                method: t.method.as_str(),
                url: &t.url,
                headers: &headers,
                body: &t.body,
            };
            for (k, v) in self.signer.headers(&shape)? {
                b = b.header(k, v);
            }
        }
        Ok(b.body(Full::new(t.body.clone()))?)
    }

    async fn invoke(&mut self) -> Sample {
        let started = Instant::now();
        let result = tokio::time::timeout(self.t.timeout, self.exchange()).await;
        let latency = started.elapsed();
        let (error, report) = match result {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                self.conn = None;
                (Some(format!("transport: {e}")), None)
            }
            Err(_) => {
                self.conn = None;
                (Some("timeout".to_string()), None)
            }
        };
        Sample {
            latency,
            error,
            report,
        }
    }

    async fn exchange(&mut self) -> anyhow::Result<(Option<String>, Option<Report>)> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.t.host).await?);
        }
        let req = self.request()?;
        let conn = self.conn.as_mut().expect("connected");
        conn.ready().await?;
        let resp = conn.send_request(req).await?;
        let status = resp.status();
        let function_error = resp.headers().contains_key("x-amz-function-error");
        let report = resp
            .headers()
            .get("x-amz-log-result")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_log_result);
        let body = resp.into_body().collect().await?.to_bytes();
        let error = if !status.is_success() {
            Some(format!(
                "status {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        } else if function_error {
            Some(format!(
                "function error: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        } else {
            None
        };
        Ok((error, report))
    }
}

/// The REPORT line of a base64 log tail.
fn parse_log_result(b64: &str) -> Option<Report> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let line = text.lines().rev().find(|l| l.starts_with("REPORT"))?;
    let field = |name: &str| -> Option<f64> {
        line.split('\t')
            .find_map(|f| f.trim().strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let duration_ms = field("Duration: ")?;
    Some(Report {
        duration_ms,
        init_ms: field("Init Duration: "),
        max_memory_mb: field("Max Memory Used: "),
    })
}

/// When a connection stops sending.
#[derive(Clone)]
struct Stop {
    deadline: Option<Instant>,
    remaining: Option<Arc<AtomicU64>>,
}

impl Stop {
    fn take_one(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match &self.remaining {
            Some(r) => r
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok(),
            None => true,
        }
    }
}

struct Worked {
    client: Client,
    samples: Vec<Sample>,
    first_start: Option<Instant>,
    last_end: Option<Instant>,
}

async fn work(mut client: Client, stop: Stop) -> Worked {
    let mut samples = Vec::new();
    let (mut first_start, mut last_end) = (None, None);
    while stop.take_one() {
        let at = Instant::now();
        first_start.get_or_insert(at);
        samples.push(client.invoke().await);
        last_end = Some(Instant::now());
    }
    Worked {
        client,
        samples,
        first_start,
        last_end,
    }
}

/// Runs every client until `stop`, returning the clients for another phase.
async fn phase(clients: Vec<Client>, stop: Stop) -> anyhow::Result<Vec<Worked>> {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(work(c, stop.clone())))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await?);
    }
    Ok(out)
}

async fn run(a: Args) -> anyhow::Result<serde_json::Value> {
    let cpu0 = own_cpu();
    if !a.qualifiers.is_empty() {
        return cold_series(&a).await;
    }
    let targets: Vec<Arc<Target>> = endpoints(&a)
        .into_iter()
        .map(|e| Arc::new(target(&a, a.qualifier.as_deref(), e)))
        .collect();
    let mut clients = Vec::with_capacity(a.concurrency);
    for i in 0..a.concurrency {
        clients.push(Client::open(targets[i % targets.len()].clone()).await?);
    }
    let mut warmup_requests = 0;
    if a.warmup > 0.0 {
        let stop = Stop {
            deadline: Some(Instant::now() + Duration::from_secs_f64(a.warmup)),
            remaining: None,
        };
        let worked = phase(clients, stop).await?;
        warmup_requests = worked.iter().map(|w| w.samples.len()).sum::<usize>();
        clients = worked.into_iter().map(|w| w.client).collect();
    }
    let stop = Stop {
        deadline: a
            .duration
            .map(|d| Instant::now() + Duration::from_secs_f64(d)),
        remaining: a.count.map(|c| Arc::new(AtomicU64::new(c))),
    };
    let worked = phase(clients, stop).await?;
    let start = worked.iter().filter_map(|w| w.first_start).min();
    let end = worked.iter().filter_map(|w| w.last_end).max();
    let elapsed = match (start, end) {
        (Some(s), Some(e)) => e.duration_since(s),
        _ => Duration::ZERO,
    };
    let samples: Vec<Sample> = worked.into_iter().flat_map(|w| w.samples).collect();
    let mut out = summarize(&samples, elapsed);
    out["concurrency"] = json!(a.concurrency);
    out["warmup_requests"] = json!(warmup_requests);
    out["loadgen_cpu_s"] = json!((own_cpu() - cpu0).as_secs_f64());
    out["endpoint"] = json!(a.endpoint);
    out["function"] = json!(a.function);
    Ok(out)
}

/// Counts, errors, throughput and latency of a set of samples.
fn summarize(samples: &[Sample], elapsed: Duration) -> serde_json::Value {
    let ok = samples.iter().filter(|s| s.error.is_none()).count();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for e in samples.iter().filter_map(|s| s.error.as_deref()) {
        let kind = e.chars().take(120).collect::<String>();
        *kinds.entry(kind).or_default() += 1;
    }
    let latency = Summary::of(samples.iter().map(|s| s.latency).collect());
    let ok_latency = Summary::of(
        samples
            .iter()
            .filter(|s| s.error.is_none())
            .map(|s| s.latency)
            .collect(),
    );
    let reports: Vec<(Duration, Report)> = samples
        .iter()
        .filter_map(|s| s.report.map(|r| (s.latency, r)))
        .collect();
    let report = (!reports.is_empty()).then(|| {
        let ms = |v: f64| Duration::from_secs_f64(v.max(0.0) / 1000.0);
        json!({
            "duration_us": Summary::of(reports.iter().map(|(_, r)| ms(r.duration_ms)).collect()),
            // What the platform adds around the function's own Duration.
            "overhead_us": Summary::of(reports.iter().map(|(l, r)| l.saturating_sub(ms(r.duration_ms))).collect()),
        })
    });
    let secs = elapsed.as_secs_f64();
    json!({
        "requests": samples.len(),
        "ok": ok,
        "errors": samples.len() - ok,
        "error_kinds": kinds,
        "elapsed_s": secs,
        "throughput_rps": if secs > 0.0 { ok as f64 / secs } else { 0.0 },
        "latency": latency,
        "ok_latency": ok_latency,
        "report": report,
    })
}

/// Invokes each qualifier once, in order, each on a connection of its own (see the DryRun).
async fn cold_series(a: &Args) -> anyhow::Result<serde_json::Value> {
    let mut rows = Vec::new();
    let mut samples = Vec::new();
    let started = Instant::now();
    for q in &a.qualifiers {
        let mut client = Client::open(Arc::new(dry_run_target(a, endpoints(a)[0]))).await?;
        // The connection is open and has carried a signed request before the clock starts:
        // only the invocation is timed, not this process's first request (~0.5 ms of page
        // faults and first-use set-up in the client) nor the connection's first.
        let dry = client.invoke().await;
        if let Some(e) = dry.error {
            bail!("the DryRun before the timed invocation failed: {e}");
        }
        client.retarget(Arc::new(target(a, Some(q), endpoints(a)[0])));
        let s = client.invoke().await;
        rows.push(json!({
            "qualifier": q,
            "latency_us": s.latency.as_secs_f64() * 1e6,
            "error": s.error,
            "report": s.report,
        }));
        samples.push(s);
    }
    let mut out = summarize(&samples, started.elapsed());
    out["invocations"] = json!(rows);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_report_lines() {
        let log = "START RequestId: x Version: 1\nEND RequestId: x\nREPORT RequestId: x\tDuration: 1.25 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 12 MB\tInit Duration: 30.50 ms\t\n";
        let b64 = base64::engine::general_purpose::STANDARD.encode(log);
        let r = parse_log_result(&b64).unwrap();
        assert_eq!(r.duration_ms, 1.25);
        assert_eq!(r.init_ms, Some(30.5));
        assert_eq!(r.max_memory_mb, Some(12.0));
        let warm = "REPORT RequestId: y\tDuration: 0.20 ms\tBilled Duration: 1 ms\t\n";
        let r = parse_log_result(&base64::engine::general_purpose::STANDARD.encode(warm)).unwrap();
        assert_eq!(r.init_ms, None);
    }

    #[test]
    fn count_stop_hands_out_exactly_n() {
        let stop = Stop {
            deadline: None,
            remaining: Some(Arc::new(AtomicU64::new(3))),
        };
        assert_eq!((0..10).filter(|_| stop.take_one()).count(), 3);
    }
}
