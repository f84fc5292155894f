//! `GET /_stratus/console/events/logs?function=<name>&filter=<pattern>`: a function's new log
//! events as server-sent events, so the page keeps one connection open rather than polling.
//! The server reads the log group once a second with FilterLogEvents, signed with the
//! session's key like every console call (so the tail shows only what the key may read), and
//! sends what is new. The stream ends when the session does, at shutdown, or after
//! [`MAX_LIFETIME`] (the browser's EventSource reconnects on its own).

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{refusal, refused};
use crate::inprocess::{self, Outgoing, SigningKey};
use crate::Shared;

const TICK: Duration = Duration::from_secs(1);
const MAX_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// How far back the tail starts, so the lines of an invocation just made show.
const BACKLOG_MS: i64 = 60_000;

#[derive(Deserialize)]
pub struct TailQuery {
    function: String,
    #[serde(default)]
    filter: String,
}

/// What the stream carries from one tick to the next.
struct Tail {
    state: Shared,
    headers: HeaderMap,
    group: String,
    filter: String,
    /// The newest timestamp sent, and the ids of the events sent at it.
    since: i64,
    seen_at_since: HashSet<String>,
    started: std::time::Instant,
    closing: tokio::sync::watch::Receiver<bool>,
    done: bool,
}

pub async fn logs(
    State(state): State<Shared>,
    Query(q): Query<TailQuery>,
    req: Request,
) -> Response {
    if let Err(why) = state.console.check(req.method(), req.headers()) {
        return refused(why);
    }
    if q.function.is_empty() || q.function.len() > 170 {
        return refusal(StatusCode::BAD_REQUEST, "Name a function to tail.");
    }
    let tail = Tail {
        closing: state.console.closing(),
        state,
        headers: req.headers().clone(),
        group: format!("/aws/lambda/{}", q.function),
        filter: q.filter,
        since: now_ms() - BACKLOG_MS,
        seen_at_since: HashSet::new(),
        started: std::time::Instant::now(),
        done: false,
    };
    Sse::new(events(tail))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One SSE event per tick that found new lines (`logs`, a JSON array of events), and a last
/// `end` event saying why the stream stopped.
fn events(tail: Tail) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(tail, |mut tail| async move {
        loop {
            if tail.done {
                return None;
            }
            if let Some(why) = tail.should_end() {
                tail.done = true;
                let e = Event::default()
                    .event("end")
                    .data(json!({ "message": why }).to_string());
                return Some((Ok(e), tail));
            }
            match tail.read().await {
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => {
                    let e = Event::default()
                        .event("logs")
                        .data(Value::Array(batch).to_string());
                    return Some((Ok(e), tail));
                }
                Err(message) => {
                    tail.done = true;
                    let e = Event::default()
                        .event("failure")
                        .data(json!({ "message": message }).to_string());
                    return Some((Ok(e), tail));
                }
            }
            let mut closing = tail.closing.clone();
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = closing.wait_for(|c| *c) => {}
            }
        }
    })
}

impl Tail {
    fn should_end(&self) -> Option<&'static str> {
        if *self.closing.borrow() {
            return Some("The server is shutting down.");
        }
        if self
            .state
            .console
            .check(&http::Method::GET, &self.headers)
            .is_err()
        {
            return Some("Your session has ended. Sign in again.");
        }
        if self.started.elapsed() > MAX_LIFETIME {
            return Some("reconnect");
        }
        None
    }

    /// The events since the last read (a missing log group is no events yet).
    async fn read(&mut self) -> Result<Vec<Value>, String> {
        let session = self
            .state
            .console
            .check(&http::Method::GET, &self.headers)
            .map_err(|_| "Your session has ended.".to_string())?;
        let (secret, token) = inprocess::secret_of(&self.state, &session.access_key)
            .ok_or("The session's key is no longer valid.")?;
        let key = SigningKey {
            access_key: session.access_key,
            secret,
            token,
            region: session.region,
        };
        let mut request = json!({
            "logGroupName": self.group,
            "startTime": self.since,
            "limit": 1000,
        });
        if !self.filter.is_empty() {
            request["filterPattern"] = json!(self.filter);
        }
        let (status, answer) = self.call(&key, request).await?;
        if status != 200 {
            let code = answer["__type"].as_str().unwrap_or_default();
            if code.ends_with("ResourceNotFoundException") {
                return Ok(Vec::new());
            }
            let message = answer["message"].as_str().unwrap_or("The log tail failed.");
            return Err(message.to_string());
        }
        Ok(self.fresh(answer))
    }

    async fn call(&self, key: &SigningKey, request: Value) -> Result<(u16, Value), String> {
        let outgoing = Outgoing {
            service: "logs",
            method: "POST",
            path: "/",
            headers: vec![
                ("content-type".into(), "application/x-amz-json-1.1".into()),
                (
                    "x-amz-target".into(),
                    "Logs_20140328.FilterLogEvents".into(),
                ),
            ],
            body: request.to_string().into(),
        };
        let req = inprocess::signed(&outgoing, &inprocess::default_host(&self.state), key)?;
        let resp = inprocess::send(&self.state, req).await;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// The events of `answer` not sent before, remembering the newest.
    fn fresh(&mut self, answer: Value) -> Vec<Value> {
        let Value::Array(mut found) = answer["events"].clone() else {
            return Vec::new();
        };
        found.sort_by_key(|e| e["timestamp"].as_i64().unwrap_or(0));
        let mut out = Vec::new();
        for event in found {
            let ts = event["timestamp"].as_i64().unwrap_or(0);
            let id = event["eventId"].as_str().unwrap_or_default().to_string();
            if ts < self.since || (ts == self.since && self.seen_at_since.contains(&id)) {
                continue;
            }
            if ts > self.since {
                self.since = ts;
                self.seen_at_since.clear();
            }
            self.seen_at_since.insert(id);
            out.push(event);
        }
        out
    }
}
