//! Logs Insights: StartQuery, GetQueryResults, StopQuery and DescribeQueries. A query is
//! parsed when it is started (`MalformedQueryException` then), and runs on a blocking task
//! over the log store; its state and results are kept in memory (the most recent
//! [`MAX_KEPT`] queries), as on AWS, where results live for a while and then expire. The
//! language is `stratus_core::log_query`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::log_query::{Event as QueryEvent, Outcome, Query, QueryError, MAX_QUERY_LEN};
use stratus_core::{Error, Kind};
use stratus_engine::logs::store::Event;
use stratus_engine::Engine;

use super::events::event_id;
use super::{group_from_identifier, validate_group, LogsError, LogsResult};

/// How many queries are remembered; the oldest finished ones are forgotten first.
const MAX_KEPT: usize = 1000;
/// AWS's limit on queries running at once in an account.
const MAX_RUNNING: usize = 30;
const DEFAULT_LIMIT: usize = 10_000;

struct Entry {
    id: String,
    query_string: String,
    groups: Vec<String>,
    create_time: i64,
    status: &'static str,
    outcome: Option<Outcome>,
    cancelled: Arc<AtomicBool>,
}

fn queries() -> &'static Mutex<VecDeque<Entry>> {
    static QUERIES: OnceLock<Mutex<VecDeque<Entry>>> = OnceLock::new();
    QUERIES.get_or_init(Default::default)
}

fn with_queries<T>(f: impl FnOnce(&mut VecDeque<Entry>) -> T) -> T {
    let mut q = queries().lock().unwrap_or_else(|p| p.into_inner());
    f(&mut q)
}

fn malformed(e: QueryError) -> Error {
    let mut err = Error::new(
        "MalformedQueryException",
        Kind::InvalidInput,
        e.message.clone(),
    );
    err.extra.insert(
        "queryCompileError".into(),
        json!({
            "location": {"startCharOffset": e.start, "endCharOffset": e.end},
            "message": e.message,
        }),
    );
    err
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StartQuery {
    log_group_name: Option<String>,
    log_group_names: Option<Vec<String>>,
    log_group_identifiers: Option<Vec<String>>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    query_string: Option<String>,
    limit: Option<i64>,
}

impl StartQuery {
    fn groups(&self) -> Result<Vec<String>, Error> {
        let given = [
            self.log_group_name.is_some(),
            self.log_group_names.is_some(),
            self.log_group_identifiers.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(LogsError::invalid(
                "Exactly one of logGroupName, logGroupNames or logGroupIdentifiers must be specified.",
            ));
        }
        let names: Vec<String> = if let Some(n) = &self.log_group_name {
            vec![n.clone()]
        } else if let Some(names) = &self.log_group_names {
            names.clone()
        } else {
            let ids = self.log_group_identifiers.as_deref().unwrap_or_default();
            ids.iter().map(|i| group_from_identifier(i)).collect()
        };
        if names.is_empty() || names.len() > 50 {
            return Err(LogsError::constraint(
                format!("{names:?}"),
                "logGroupNames",
                "Member must have length between 1 and 50",
            ));
        }
        names.iter().try_for_each(|n| validate_group(n))?;
        Ok(names)
    }
}

pub(super) fn start(engine: &Arc<Engine>, req: StartQuery) -> LogsResult {
    let text = req
        .query_string
        .clone()
        .ok_or_else(|| LogsError::missing("queryString"))?;
    if text.len() > MAX_QUERY_LEN {
        return Err(LogsError::constraint(
            "...",
            "queryString",
            "Member must have length less than or equal to 10000",
        ));
    }
    let start = req
        .start_time
        .ok_or_else(|| LogsError::missing("startTime"))?;
    let end = req.end_time.ok_or_else(|| LogsError::missing("endTime"))?;
    if start < 0 || end < start {
        return Err(LogsError::invalid(
            "endTime must be greater than or equal to startTime",
        ));
    }
    let limit = match req.limit {
        None => DEFAULT_LIMIT,
        Some(n) => super::limit(Some(n), 10_000, DEFAULT_LIMIT)?,
    };
    let groups = req.groups()?;
    let query = Query::parse(&text).map_err(malformed)?;
    let store = engine.logs();
    for g in &groups {
        if !store.group_exists(g).map_err(LogsError::io)? {
            return Err(LogsError::named(
                "ResourceNotFoundException",
                format!(
                    "Log group '{g}' does not exist for account ID '{}'",
                    stratus_core::ACCOUNT_ID
                ),
            ));
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let cancelled = Arc::new(AtomicBool::new(false));
    with_queries(|q| {
        let running = q
            .iter()
            .filter(|e| matches!(e.status, "Scheduled" | "Running"))
            .count();
        if running >= MAX_RUNNING {
            return Err(LogsError::named(
                "LimitExceededException",
                format!("Account maximum query concurrency limit of [{MAX_RUNNING}] reached."),
            ));
        }
        while q.len() >= MAX_KEPT {
            let Some(i) = q
                .iter()
                .position(|e| !matches!(e.status, "Scheduled" | "Running"))
            else {
                break;
            };
            q.remove(i);
        }
        q.push_back(Entry {
            id: id.clone(),
            query_string: text,
            groups: groups.clone(),
            create_time: stratus_engine::logs::store::now_ms(),
            status: "Scheduled",
            outcome: None,
            cancelled: cancelled.clone(),
        });
        Ok(())
    })?;
    let engine = engine.clone();
    let task_id = id.clone();
    let window = (
        start.saturating_mul(1000),
        end.saturating_mul(1000).saturating_add(999),
    );
    let work = move || {
        execute(
            &engine, &task_id, &query, &groups, window, limit, &cancelled,
        )
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) => drop(h.spawn_blocking(work)),
        Err(_) => drop(std::thread::spawn(work)),
    }
    Ok(json!({ "queryId": id }))
}

fn set_status(id: &str, status: &'static str, outcome: Option<Outcome>) {
    with_queries(|q| {
        if let Some(e) = q.iter_mut().find(|e| e.id == id) {
            // A stopped query stays stopped.
            if e.status != "Cancelled" {
                e.status = status;
                e.outcome = outcome;
            }
        }
    });
}

fn execute(
    engine: &Engine,
    id: &str,
    query: &Query,
    groups: &[String],
    (start, end): (i64, i64),
    limit: usize,
    cancelled: &AtomicBool,
) {
    set_status(id, "Running", None);
    let store = engine.logs();
    let mut events: Vec<(String, String, Event)> = Vec::new();
    for g in groups {
        let streams = match store.streams(g) {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                tracing::error!(%e, "log query");
                return set_status(id, "Failed", None);
            }
        };
        for s in streams {
            if cancelled.load(Ordering::Relaxed) {
                return;
            }
            match store.events_between(g, &s.name, Some(start), Some(end)) {
                Ok(found) => events.extend(
                    found
                        .unwrap_or_default()
                        .into_iter()
                        .map(|e| (g.clone(), s.name.clone(), e)),
                ),
                Err(e) => {
                    tracing::error!(%e, "log query");
                    return set_status(id, "Failed", None);
                }
            }
        }
    }
    events
        .sort_by(|a, b| (a.2.timestamp, &a.1, a.2.offset).cmp(&(b.2.timestamp, &b.1, b.2.offset)));
    let ptrs: Vec<String> = events
        .iter()
        .map(|(g, s, e)| event_id(g, s, e.offset))
        .collect();
    let outcome = query.run(
        events.iter().zip(&ptrs).map(|((g, s, e), ptr)| QueryEvent {
            timestamp: e.timestamp,
            ingestion_time: e.ingestion_time,
            message: &e.message,
            stream: s,
            group: g,
            ptr,
        }),
        limit,
    );
    set_status(id, "Complete", Some(outcome));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct QueryRef {
    query_id: Option<String>,
}

fn no_query() -> Error {
    LogsError::named("ResourceNotFoundException", "Query does not exist.")
}

pub(super) fn results(req: QueryRef) -> LogsResult {
    let id = req.query_id.ok_or_else(|| LogsError::missing("queryId"))?;
    with_queries(|q| {
        let e = q.iter().find(|e| e.id == id).ok_or_else(no_query)?;
        let (rows, stats) = match &e.outcome {
            Some(o) => {
                let rows: Vec<Value> = o
                    .rows
                    .iter()
                    .map(|r| {
                        Value::Array(
                            r.iter()
                                .map(|(f, v)| json!({"field": f, "value": v}))
                                .collect(),
                        )
                    })
                    .collect();
                (rows, (o.matched, o.scanned, o.bytes))
            }
            None => (Vec::new(), (0, 0, 0)),
        };
        Ok(json!({
            "queryLanguage": "CWLI",
            "results": rows,
            "statistics": {
                "recordsMatched": stats.0 as f64,
                "recordsScanned": stats.1 as f64,
                "bytesScanned": stats.2 as f64,
            },
            "status": e.status,
        }))
    })
}

pub(super) fn stop(req: QueryRef) -> LogsResult {
    let id = req.query_id.ok_or_else(|| LogsError::missing("queryId"))?;
    with_queries(|q| {
        let e = q.iter_mut().find(|e| e.id == id).ok_or_else(no_query)?;
        let running = matches!(e.status, "Scheduled" | "Running");
        if running {
            e.status = "Cancelled";
            e.cancelled.store(true, Ordering::Relaxed);
        }
        Ok(json!({ "success": running }))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeQueries {
    log_group_name: Option<String>,
    status: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

const STATUSES: &[&str] = &[
    "Scheduled",
    "Running",
    "Complete",
    "Failed",
    "Cancelled",
    "Timeout",
    "Unknown",
];

pub(super) fn describe(req: DescribeQueries) -> LogsResult {
    if let Some(s) = &req.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(LogsError::constraint(
                s,
                "status",
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    STATUSES.join(", ")
                ),
            ));
        }
    }
    let max = match req.max_results {
        None => 1000,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(LogsError::constraint(
                n,
                "maxResults",
                "Member must have value between 1 and 1000",
            ))
        }
    };
    let start = super::index_token(req.next_token.as_deref())?;
    with_queries(|q| {
        let matching: Vec<&Entry> = q
            .iter()
            .rev()
            .filter(|e| req.status.as_deref().is_none_or(|s| s == e.status))
            .filter(|e| {
                req.log_group_name
                    .as_ref()
                    .is_none_or(|g| e.groups.contains(g))
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(max)
            .map(|e| {
                json!({
                    "queryLanguage": "CWLI",
                    "queryId": e.id,
                    "queryString": e.query_string,
                    "status": e.status,
                    "createTime": e.create_time,
                    "logGroupName": e.groups.first(),
                })
            })
            .collect();
        let mut out = json!({ "queries": page });
        if start + max < matching.len() {
            out["nextToken"] = json!(format!("i/{}", start + max));
        }
        Ok(out)
    })
}
