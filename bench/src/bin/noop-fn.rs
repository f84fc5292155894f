//! The no-op function of the benchmarks, built on the official `lambda_runtime` crate in the
//! shape its README shows (`#[tokio::main]`, `service_fn`, default features). It answers with
//! the event it got. Deployed as the `bootstrap` of a `provided.al2023` function, run by the
//! floor measurements, and served by `cargo lambda watch` for the peer.
//!
//! `BENCH_SLEEP_MS` (read once at start) makes every invocation sleep that long first: the
//! scale-out workload uses it to hold environments busy.

use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sleep = std::env::var("BENCH_SLEEP_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if let Some(d) = sleep {
            tokio::time::sleep(d).await;
        }
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
