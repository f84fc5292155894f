//! `stratus logs N [--follow] [--since 10m]`: a function's log events through the CloudWatch
//! Logs API (FilterLogEvents), polled while following.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use http::Method;
use serde_json::json;

use super::function_path;
use crate::client::{Client, Error};

#[derive(clap::Args)]
pub struct Args {
    /// Function name.
    pub name: String,
    /// Keep printing new events until interrupted.
    #[arg(long, short)]
    pub follow: bool,
    /// How far back to start: 30s, 10m, 2h, 1d.
    #[arg(long, default_value = "10m")]
    pub since: String,
}

/// While following, each poll reaches this far behind the newest event seen: an invocation's
/// lines are stored when it ends, stamped with when they were printed, so a long invocation's
/// early lines can arrive after a shorter, later one's.
const SLACK_MS: i64 = 60_000;

pub async fn run(client: &Client, args: Args) -> Result<(), Error> {
    let since = parse_duration(&args.since)?;
    let group = log_group(client, &args.name).await?;
    let start = now_ms() - since.as_millis() as i64;
    let mut latest = start;
    // Events printed that the next poll can return again, by id, with their timestamps.
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut waiting_said = false;
    loop {
        let from = start.max(latest - SLACK_MS);
        seen.retain(|_, ts| *ts >= from);
        match print_since(client, &group, from, &mut seen).await {
            Ok(newest) => latest = latest.max(newest.unwrap_or(latest)),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                if !args.follow {
                    return Err(Error::other(format!(
                        "no logs yet for {}: the log group {group} appears once the function has run",
                        args.name
                    )));
                }
                if !waiting_said {
                    eprintln!("waiting for {group} (it appears once the function has run) ...");
                    waiting_said = true;
                }
            }
            Err(e) => return Err(e),
        }
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The function's log group: its `LoggingConfig.LogGroup`, else `/aws/lambda/<name>` (also
/// when the function is gone: its logs stay).
async fn log_group(client: &Client, name: &str) -> Result<String, Error> {
    let path = format!("{}/configuration", function_path(name));
    let default = format!("/aws/lambda/{name}");
    match client.lambda(Method::GET, &path, None).await {
        Ok(cfg) => Ok(cfg["LoggingConfig"]["LogGroup"]
            .as_str()
            .map_or(default, str::to_string)),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(default),
        Err(e) => Err(e),
    }
}

/// Prints the events from `start` on (all pages) not printed before; the newest timestamp.
async fn print_since(
    client: &Client,
    group: &str,
    start: i64,
    seen: &mut HashMap<String, i64>,
) -> Result<Option<i64>, Error> {
    let mut token: Option<String> = None;
    let mut newest: Option<i64> = None;
    loop {
        let mut req = json!({ "logGroupName": group, "startTime": start });
        if let Some(t) = &token {
            req["nextToken"] = json!(t);
        }
        let page = client.logs("FilterLogEvents", &req).await?;
        for e in page["events"].as_array().into_iter().flatten() {
            let ts = e["timestamp"].as_i64().unwrap_or(0);
            newest = newest.max(Some(ts));
            let id = e["eventId"].as_str().unwrap_or_default().to_string();
            if seen.insert(id, ts).is_some() {
                continue;
            }
            let msg = e["message"].as_str().unwrap_or_default();
            println!("{} {}", format_ms(ts), msg.trim_end_matches('\n'));
        }
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(newest),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn format_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
    );
    t.format(f).unwrap_or_default()
}

/// `30s`, `10m`, `2h`, `1d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::other(format!(
            "invalid duration {s:?}: use e.g. 30s, 10m, 2h or 1d"
        ))
    };
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("ten").is_err());
        assert_eq!(format_ms(0), "1970-01-01 00:00:00.000");
    }
}
