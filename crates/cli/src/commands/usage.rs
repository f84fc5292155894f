//! `stratus usage [--from] [--to] [--by function|version|day|hour] [--json]`: metered
//! invocations and their cost from `GET /_stratus/usage`, as a table.

use http::Method;
use serde_json::Value;

use crate::client::{aws_error, enc, Client, Error};
use crate::table::Table;

#[derive(clap::Args)]
pub struct Args {
    /// Start of the window (RFC 3339 time or date; the server's default if absent).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the window (RFC 3339 time or date; now if absent).
    #[arg(long)]
    pub to: Option<String>,
    /// Group by function, version, day or hour.
    #[arg(long, default_value = "function")]
    pub by: String,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(client: &Client, args: Args) -> Result<(), Error> {
    let mut query = vec![format!("group_by={}", enc(&args.by))];
    if let Some(f) = &args.from {
        query.push(format!("from={}", enc(f)));
    }
    if let Some(t) = &args.to {
        query.push(format!("to={}", enc(t)));
    }
    let path = format!("/_stratus/usage?{}", query.join("&"));
    let resp = client
        .send("lambda", Method::GET, &path, &[], Vec::new())
        .await?;
    if resp.status == 404 {
        return Err(Error::other(format!(
            "{} has no usage API (GET /_stratus/usage answered 404); is it an older stratus?",
            client.endpoint
        )));
    }
    if resp.status >= 300 {
        return Err(aws_error(&resp));
    }
    let report: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| Error::other(format!("unexpected answer from the server: {e}")))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// The report as a heading, a table with a row per group, and a total row.
pub fn render(report: &Value) -> String {
    let by = report["group_by"].as_str().unwrap_or("function");
    let currency = report["currency"].as_str().unwrap_or("USD");
    let mut out = format!(
        "Usage from {} to {}, by {by} ({currency})\n",
        report["from"].as_str().unwrap_or("?"),
        report["to"].as_str().unwrap_or("?"),
    );
    let cost_header = format!("COST {currency}>");
    let mut table = Table::new(&[
        &by.to_uppercase(),
        "INVOCATIONS>",
        "ERRORS>",
        "THROTTLES>",
        "TIMEOUTS>",
        "COLD>",
        "GB-SECONDS>",
        &cost_header,
        "P50 MS>",
        "P95 MS>",
        "P99 MS>",
    ]);
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    for g in &groups {
        table.row(cells(label(g, by), g));
    }
    table.row(cells("TOTAL".into(), &report["total"]));
    out.push_str(&table.render());
    if groups.is_empty() {
        out.push_str("No invocations in this window.\n");
    }
    out
}

fn label(g: &Value, by: &str) -> String {
    let s = |k: &str| g[k].as_str().unwrap_or_default().to_string();
    match by {
        "version" if !g["function"].is_null() => format!("{}:{}", s("function"), s("version")),
        _ => s("key"),
    }
}

fn cells(label: String, g: &Value) -> Vec<String> {
    let int = |k: &str| g[k].as_u64().unwrap_or(0).to_string();
    let ms = |k: &str| match g["duration_ms"][k].as_f64() {
        Some(v) => format!("{v:.1}"),
        None => "-".into(),
    };
    vec![
        label,
        int("invocations"),
        int("errors"),
        int("throttles"),
        int("timeouts"),
        int("cold_starts"),
        format!("{:.3}", g["gb_seconds"].as_f64().unwrap_or(0.0)),
        money(g["cost"].as_f64().unwrap_or(0.0)),
        ms("p50"),
        ms("p95"),
        ms("p99"),
    ]
}

/// Costs are tiny: show up to 10 decimals, without trailing zeros.
fn money(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{v:.10}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_groups_and_total() {
        let report: Value = serde_json::from_str(
            r#"{"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z","group_by":"function",
            "currency":"USD","prices":{},
            "groups":[{"key":"thumbs","function":"thumbs","version":null,"invocations":3,"errors":1,
              "throttles":0,"timeouts":0,"cold_starts":1,"billed_ms":300,"gb_seconds":0.0375,
              "request_cost":0.0000006,"compute_cost":0.000000625,"cost":0.000001225,
              "duration_ms":{"p50":95.5,"p95":120.0,"p99":120.0},"init_duration_ms":{"p50":80.0}}],
            "total":{"invocations":3,"errors":1,"throttles":0,"timeouts":0,"cold_starts":1,
              "billed_ms":300,"gb_seconds":0.0375,"request_cost":0.0000006,"compute_cost":0.000000625,
              "cost":0.000001225,"duration_ms":{"p50":95.5,"p95":120.0,"p99":120.0}}}"#,
        )
        .unwrap();
        let text = render(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Usage from 2026-01-01T00:00:00Z to 2026-01-02T00:00:00Z, by function (USD)"
        );
        assert!(lines[1].starts_with("FUNCTION  INVOCATIONS  ERRORS"));
        assert!(lines[2].starts_with("thumbs"));
        assert!(lines[2].contains("0.000001225"));
        assert!(lines[2].ends_with("95.5   120.0   120.0"));
        assert!(lines[3].starts_with("TOTAL "));
        // Columns line up: every row is as wide as the header up to the last column.
        assert_eq!(lines[1].len(), lines[2].len());
    }

    #[test]
    fn an_empty_window_costs_zero() {
        let report: Value = serde_json::from_str(
            r#"{"from":"a","to":"b","group_by":"day","currency":"USD","groups":[],
            "total":{"invocations":0,"cost":0.0,"gb_seconds":0.0,"duration_ms":{"p50":null}}}"#,
        )
        .unwrap();
        let text = render(&report);
        assert!(text.contains("TOTAL"));
        assert!(text.contains("No invocations in this window."));
        assert_eq!(money(0.0), "0");
    }
}
