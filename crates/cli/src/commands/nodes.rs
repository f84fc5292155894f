//! `stratus nodes [--json]`: the nodes of the cluster the endpoint belongs to, from
//! `/health`'s `cluster` section: address, uptime, heartbeat age, load and warm environments.

use http::Method;
use serde_json::Value;

use crate::client::{Client, Error};
use crate::table::Table;

#[derive(clap::Args)]
pub struct Args {
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(client: &Client, args: Args) -> Result<(), Error> {
    let resp = client
        .send("lambda", Method::GET, "/health", &[], Vec::new())
        .await?;
    let health: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| Error::other(format!("unexpected answer from the server: {e}")))?;
    let Some(cluster) = health.get("cluster") else {
        return Err(Error::other(format!(
            "{} is not part of a cluster (it was started without a cluster secret)",
            client.endpoint
        )));
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(cluster).unwrap_or_default()
        );
    } else {
        print!("{}", render(cluster));
    }
    Ok(())
}

/// A row per node, this one marked with `*`.
fn render(cluster: &Value) -> String {
    let me = cluster["node_id"].as_str().unwrap_or_default();
    let mut t = Table::new(&[
        "NODE",
        "ADDRESS",
        "UP",
        "HEARTBEAT",
        "IN FLIGHT",
        "IDLE",
        "WARM",
    ]);
    for n in cluster["nodes"].as_array().into_iter().flatten() {
        let id = n["id"].as_str().unwrap_or_default();
        let mark = if id == me { "*" } else { "" };
        let mut state = String::new();
        if n["draining"].as_bool() == Some(true) {
            state.push_str(" (draining)");
        }
        t.row(vec![
            format!("{id}{mark}{state}"),
            n["address"].as_str().unwrap_or_default().to_string(),
            seconds(n["uptime_ms"].as_i64().unwrap_or(0)),
            seconds(n["heartbeat_age_ms"].as_i64().unwrap_or(0)),
            n["in_flight"].as_u64().unwrap_or(0).to_string(),
            n["idle"].as_u64().unwrap_or(0).to_string(),
            warm(&n["environments"]),
        ]);
    }
    t.render()
}

fn seconds(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// `function:version×count` for each version with environments, or `-`.
fn warm(envs: &Value) -> String {
    let parts: Vec<String> = envs
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let n = e["idle"].as_u64().unwrap_or(0) + e["busy"].as_u64().unwrap_or(0);
            format!(
                "{}:{}×{n}",
                e["function"].as_str().unwrap_or_default(),
                e["version"].as_str().unwrap_or_default()
            )
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_render_with_their_load_and_warm_environments() {
        let cluster = serde_json::json!({
            "node_id": "b",
            "nodes": [
                {"id": "a", "address": "http://127.0.0.1:1", "uptime_ms": 61000,
                 "heartbeat_age_ms": 400, "draining": false, "in_flight": 2, "idle": 1,
                 "environments": [{"function": "f", "version": "$LATEST", "idle": 1, "busy": 2}]},
                {"id": "b", "address": "http://127.0.0.1:2", "uptime_ms": 5000,
                 "heartbeat_age_ms": 100, "draining": false, "in_flight": 0, "idle": 0,
                 "environments": []},
            ]
        });
        let out = render(&cluster);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[1].contains("http://127.0.0.1:1") && lines[1].contains("f:$LATEST×3"));
        assert!(lines[1].contains("61.0s"), "{out}");
        assert!(lines[2].starts_with("b*"), "{out}");
    }
}
