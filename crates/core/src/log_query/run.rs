//! Running a query over events: discovering each event's fields, then the commands in order.
//! Commands that look at one row at a time (`fields`, `filter`, `parse`, `display`) run as
//! events stream by; from the first `stats`, `sort` or `limit` on, over the rows kept.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::eval::{eval, truthy, Row, Val};
use super::parse::{Command, Expr, Parse};
use super::{Event, Outcome};

/// What a query shows when it names no fields.
const DEFAULT_FIELDS: &[&str] = &["@timestamp", "@message", "@logStream", "@log"];
/// How deep and how many JSON fields are discovered in one event.
const MAX_JSON_DEPTH: usize = 16;
const MAX_JSON_FIELDS: usize = 200;

fn row_wise(c: &Command) -> bool {
    matches!(
        c,
        Command::Fields(_) | Command::Filter(_) | Command::Parse { .. } | Command::Display(_)
    )
}

pub fn run<'a>(
    commands: &[Command],
    events: impl IntoIterator<Item = Event<'a>>,
    limit: usize,
) -> Outcome {
    let split = commands
        .iter()
        .position(|c| !row_wise(c))
        .unwrap_or(commands.len());
    let (streamed, rest) = commands.split_at(split);
    let mut out = Outcome::default();
    let mut rows = Vec::new();
    for e in events {
        out.scanned += 1;
        out.bytes += e.message.len() as u64;
        let mut row = discover(&e);
        if streamed.iter().all(|c| apply_row(c, &mut row)) {
            out.matched += 1;
            rows.push(row);
        }
    }
    let mut aggregated = false;
    for c in rest {
        match c {
            Command::Stats { aggs, by } => {
                rows = stats(&rows, aggs, by);
                aggregated = true;
            }
            Command::Sort(keys) => rows.sort_by(|a, b| {
                keys.iter()
                    .map(|(k, desc)| {
                        let o = a.get(k).order(b.get(k));
                        if *desc {
                            o.reverse()
                        } else {
                            o
                        }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            }),
            Command::Limit(n) => rows.truncate(*n),
            other => rows.retain_mut(|r| apply_row(other, r)),
        }
    }
    rows.truncate(limit);
    let columns = columns(commands, aggregated);
    out.rows = rows
        .iter()
        .map(|r| {
            let names: Vec<&str> = match &columns {
                Some(cols) => cols.iter().map(String::as_str).collect(),
                None => r.0.iter().map(|(n, _)| n.as_str()).collect(),
            };
            let mut cells: Vec<(String, String)> = names
                .into_iter()
                .filter_map(|n| r.get(n).text().map(|v| (n.to_string(), v)))
                .collect();
            if !aggregated {
                if let Some(p) = r.get("@ptr").text() {
                    cells.push(("@ptr".into(), p));
                }
            }
            cells
        })
        .collect();
    out
}

/// The columns shown: the last `display`, else every `fields` (after the last `stats`), else
/// the defaults; `None` after `stats` without them (its own columns).
fn columns(commands: &[Command], aggregated: bool) -> Option<Vec<String>> {
    let last_stats = commands
        .iter()
        .rposition(|c| matches!(c, Command::Stats { .. }));
    let after = &commands[last_stats.map_or(0, |i| i + 1)..];
    if let Some(Command::Display(names)) = after
        .iter()
        .rev()
        .find(|c| matches!(c, Command::Display(_)))
    {
        return Some(names.clone());
    }
    let fields: Vec<String> = after
        .iter()
        .filter_map(|c| match c {
            Command::Fields(list) => Some(list.iter().map(|(_, n)| n.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    if !fields.is_empty() {
        return Some(fields);
    }
    (!aggregated).then(|| DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect())
}

/// Applies a row-wise command; `false` drops the row.
fn apply_row(c: &Command, row: &mut Row) -> bool {
    match c {
        Command::Filter(e) => truthy(e, row),
        Command::Fields(list) => {
            for (e, name) in list {
                if !matches!(e, Expr::Field(f) if f == name) {
                    let v = eval(e, row);
                    row.set(name, v);
                }
            }
            true
        }
        Command::Parse { field, how, names } => {
            let text = row.get(field).text().unwrap_or_default();
            if let Some(values) = parse_values(how, names, &text) {
                for (n, v) in names.iter().zip(values) {
                    row.set(n, typed(v));
                }
            }
            true
        }
        _ => true,
    }
}

fn parse_values(how: &Parse, names: &[String], text: &str) -> Option<Vec<String>> {
    match how {
        Parse::Regex(re) => {
            let caps = re.captures(text)?;
            Some(
                names
                    .iter()
                    .map(|n| caps.name(n).map_or("", |m| m.as_str()).to_string())
                    .collect(),
            )
        }
        Parse::Glob(pieces) => glob_values(pieces, text),
    }
}

/// Matches `a*b*c` (pieces `a`, `b`, `c`) anywhere in `text`; each `*` captures up to the
/// next piece (the last, when its piece is empty, to the end).
fn glob_values(pieces: &[String], text: &str) -> Option<Vec<String>> {
    let first = &pieces[0];
    let mut at = text.find(first.as_str())? + first.len();
    let mut out = Vec::with_capacity(pieces.len() - 1);
    for piece in &pieces[1..] {
        let end = if piece.is_empty() {
            text.len()
        } else {
            at + text[at..].find(piece.as_str())?
        };
        out.push(text[at..end].to_string());
        at = end + piece.len();
    }
    Some(out)
}

fn typed(s: String) -> Val {
    match s.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && !s.trim().is_empty() => Val::Num(n),
        _ => Val::Str(s),
    }
}

/// An event's fields: the defaults, the fields of a JSON message, and the fields of the
/// Lambda platform's START, END and REPORT lines, as Logs Insights discovers them.
pub fn discover(e: &Event<'_>) -> Row {
    let mut row = Row(vec![
        ("@timestamp".into(), Val::Time(e.timestamp)),
        ("@message".into(), Val::Str(e.message.to_string())),
        ("@logStream".into(), Val::Str(e.stream.to_string())),
        (
            "@log".into(),
            Val::Str(format!("{}:{}", crate::ACCOUNT_ID, e.group)),
        ),
        ("@ingestionTime".into(), Val::Time(e.ingestion_time)),
        ("@ptr".into(), Val::Str(e.ptr.to_string())),
    ]);
    let msg = e.message.trim_end();
    if msg.trim_start().starts_with('{') {
        if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(msg) {
            flatten("", &v, 0, &mut row);
        }
    } else if let Some(rest) = msg.strip_prefix("REPORT RequestId: ") {
        report_fields(rest, &mut row);
    } else if let Some(rest) = msg
        .strip_prefix("START RequestId: ")
        .map(|r| ("START", r))
        .or_else(|| msg.strip_prefix("END RequestId: ").map(|r| ("END", r)))
    {
        row.set("@type", Val::Str(rest.0.into()));
        let id = rest.1.split_whitespace().next().unwrap_or_default();
        row.set("@requestId", Val::Str(id.into()));
    }
    row
}

fn report_fields(rest: &str, row: &mut Row) {
    row.set("@type", Val::Str("REPORT".into()));
    let mut parts = rest.split('\t');
    row.set(
        "@requestId",
        Val::Str(parts.next().unwrap_or_default().trim().into()),
    );
    for part in parts {
        let Some((key, value)) = part.split_once(": ") else {
            continue;
        };
        let mut words = value.split_whitespace();
        let Some(n) = words.next().and_then(|n| n.parse::<f64>().ok()) else {
            continue;
        };
        // Logs Insights gives memory in bytes (of 1000 × 1000 to the MB).
        let mb = words.next() == Some("MB");
        let name = match key {
            "Duration" => "@duration",
            "Billed Duration" => "@billedDuration",
            "Memory Size" => "@memorySize",
            "Max Memory Used" => "@maxMemoryUsed",
            "Init Duration" => "@initDuration",
            _ => continue,
        };
        row.set(name, Val::Num(if mb { n * 1_000_000.0 } else { n }));
    }
}

fn flatten(prefix: &str, v: &Value, depth: usize, row: &mut Row) {
    if row.0.len() >= MAX_JSON_FIELDS || depth > MAX_JSON_DEPTH {
        return;
    }
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| flatten(&key(k), v, depth + 1, row)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&key(&i.to_string()), v, depth + 1, row)),
        Value::String(s) => row.set(prefix, Val::Str(s.clone())),
        Value::Number(n) => row.set(prefix, n.as_f64().map_or(Val::Null, Val::Num)),
        Value::Bool(b) => row.set(prefix, Val::Bool(*b)),
        Value::Null => {}
    }
}

#[derive(Default)]
struct Acc {
    count: u64,
    values: Vec<f64>,
    distinct: HashSet<String>,
}

fn stats(rows: &[Row], aggs: &[(Expr, String)], by: &[(Expr, String)]) -> Vec<Row> {
    let mut order: Vec<Vec<Val>> = Vec::new();
    let mut groups: HashMap<Vec<Option<String>>, (usize, Vec<Acc>)> = HashMap::new();
    for row in rows {
        let key_vals: Vec<Val> = by.iter().map(|(e, _)| eval(e, row)).collect();
        let key: Vec<Option<String>> = key_vals.iter().map(Val::text).collect();
        let (_, accs) = groups.entry(key).or_insert_with(|| {
            order.push(key_vals.clone());
            (
                order.len() - 1,
                aggs.iter().map(|_| Acc::default()).collect(),
            )
        });
        for ((agg, _), acc) in aggs.iter().zip(accs.iter_mut()) {
            let Expr::Call(name, args) = agg else {
                continue;
            };
            let v = match args.first() {
                Some(Expr::Field(f)) if f == "*" => Val::Bool(true),
                Some(a) => eval(a, row),
                None => Val::Bool(true),
            };
            if v == Val::Null {
                continue;
            }
            acc.count += 1;
            if name == "count_distinct" {
                acc.distinct.extend(v.text());
            } else if let Some(n) = v.num() {
                acc.values.push(n);
            }
        }
    }
    let mut out: Vec<(usize, Row)> = groups
        .into_values()
        .map(|(i, accs)| {
            let mut row = Row::default();
            for ((_, name), v) in by.iter().zip(&order[i]) {
                row.set(name, v.clone());
            }
            for ((agg, name), acc) in aggs.iter().zip(accs) {
                row.set(name, finish(agg, acc));
            }
            (i, row)
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

fn finish(agg: &Expr, mut acc: Acc) -> Val {
    let Expr::Call(name, args) = agg else {
        return Val::Null;
    };
    let v = &mut acc.values;
    let n = v.len() as f64;
    match name.as_str() {
        "count" => Val::Num(acc.count as f64),
        "count_distinct" => Val::Num(acc.distinct.len() as f64),
        _ if v.is_empty() => Val::Null,
        "sum" => Val::Num(v.iter().sum()),
        "avg" => Val::Num(v.iter().sum::<f64>() / n),
        "min" => Val::Num(v.iter().copied().fold(f64::INFINITY, f64::min)),
        "max" => Val::Num(v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        "stddev" => {
            let mean = v.iter().sum::<f64>() / n;
            Val::Num((v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt())
        }
        "pct" | "percentile" => {
            let p = match args.get(1) {
                Some(Expr::Num(p)) => p.clamp(0.0, 100.0),
                _ => return Val::Null,
            };
            v.sort_by(f64::total_cmp);
            let rank = ((p / 100.0 * n).ceil() as usize).clamp(1, v.len());
            Val::Num(v[rank - 1])
        }
        _ => Val::Null,
    }
}
