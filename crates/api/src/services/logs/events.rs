//! Log events: GetLogEvents (one stream, with AWS's forward and backward tokens),
//! FilterLogEvents (a group's streams interleaved by time, through a filter pattern) and
//! PutLogEvents.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_engine::logs::store::{now_ms, Event, StreamInfo};
use stratus_engine::logs::LogStore;

use super::{limit, validate_stream, GroupRef, LogsError, LogsResult, StreamRef};
use stratus_core::log_pattern::Pattern;

const MAX_EVENTS: i64 = 10_000;
/// Responses stop growing at about 1 MB, as on AWS.
const MAX_RESPONSE_BYTES: usize = 1_048_576;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetEvents {
    #[serde(flatten)]
    group: GroupRef,
    log_stream_name: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    #[serde(default)]
    start_from_head: bool,
}

/// Where a GetLogEvents page starts: `f/N` reads forward from event N, `b/N` reads the events
/// just before N. Positions index the stream's events within the requested time range.
enum Position {
    Forward(usize),
    Backward(usize),
}

fn position(
    token: Option<&str>,
    head: bool,
    total: usize,
) -> Result<Position, stratus_core::Error> {
    let bad = || LogsError::invalid("The specified nextToken is invalid.");
    match token {
        None if head => Ok(Position::Forward(0)),
        None => Ok(Position::Backward(total)),
        Some(t) => {
            let (dir, n) = t.split_once('/').ok_or_else(bad)?;
            let n: usize = n.parse().map_err(|_| bad())?;
            match dir {
                "f" => Ok(Position::Forward(n.min(total))),
                "b" => Ok(Position::Backward(n.min(total))),
                _ => Err(bad()),
            }
        }
    }
}

fn token(dir: char, n: usize) -> String {
    format!("{dir}/{n:056}")
}

pub(super) fn get(store: &LogStore, req: GetEvents) -> LogsResult {
    let limit = limit(req.limit, MAX_EVENTS, MAX_EVENTS as usize)?;
    let stream_ref = StreamRef {
        group: req.group,
        log_stream_name: req.log_stream_name,
    };
    let (group, stream) = stream_ref.names(store)?;
    // `endTime` is exclusive here (and inclusive in FilterLogEvents), as on AWS.
    let events: Vec<Event> = store
        .events_between(&group, &stream, req.start_time, req.end_time.map(|t| t - 1))
        .map_err(LogsError::io)?
        .ok_or_else(LogsError::no_stream)?;
    let (from, to) = match position(req.next_token.as_deref(), req.start_from_head, events.len())? {
        Position::Forward(n) => (n, fit(&events[n..], limit, false) + n),
        Position::Backward(n) => (n - fit(&events[..n], limit, true), n),
    };
    let page: Vec<Value> = events[from..to]
        .iter()
        .map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}))
        .collect();
    Ok(json!({
        "events": page,
        "nextForwardToken": token('f', to),
        "nextBackwardToken": token('b', from),
    }))
}

/// How many events from the front (or back) of `events` fit in one response.
fn fit(events: &[Event], limit: usize, from_back: bool) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    let mut visit = |e: &Event| {
        bytes += e.message.len() + 26;
        if n >= limit || (n > 0 && bytes > MAX_RESPONSE_BYTES) {
            return false;
        }
        n += 1;
        true
    };
    if from_back {
        for e in events.iter().rev() {
            if !visit(e) {
                break;
            }
        }
    } else {
        for e in events {
            if !visit(e) {
                break;
            }
        }
    }
    n
}

/// Whether `ts` is within `[start, end]` (either bound optional).
fn in_range(ts: i64, start: Option<i64>, end: Option<i64>) -> bool {
    start.is_none_or(|s| ts >= s) && end.is_none_or(|e| ts <= e)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FilterEvents {
    #[serde(flatten)]
    group: GroupRef,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

/// An event's place in a FilterLogEvents result: by time, then stream, then position.
type SortKey = (i64, String, u64);

pub(super) fn filter(store: &LogStore, req: FilterEvents) -> LogsResult {
    if req.log_stream_names.is_some() && req.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        ));
    }
    let limit = limit(req.limit, MAX_EVENTS, MAX_EVENTS as usize)?;
    let pattern = Pattern::parse(req.filter_pattern.as_deref().unwrap_or_default())
        .map_err(LogsError::invalid)?;
    let after = req.next_token.as_deref().map(decode_token).transpose()?;
    let group = req.group.existing(store)?;
    let mut infos: Vec<StreamInfo> = store
        .streams(&group)
        .map_err(LogsError::io)?
        .unwrap_or_default()
        .into_iter()
        .filter(|s| {
            req.log_stream_names
                .as_ref()
                .is_none_or(|names| names.contains(&s.name))
                && req
                    .log_stream_name_prefix
                    .as_deref()
                    .is_none_or(|p| s.name.starts_with(p))
        })
        .collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    // Streams with nothing ingested since `startTime` (less the 2 hours an event may be ahead
    // of its ingestion) hold nothing in the window: not read, as a follower polls often.
    let outside = |s: &StreamInfo| match (s.last_ingestion, req.start_time) {
        (None, _) => true,
        (Some(ingested), Some(start)) => ingested + 2 * HOUR_MS < start,
        _ => false,
    };
    let streams: Vec<String> = infos.iter().map(|s| s.name.clone()).collect();
    let mut matched: Vec<(SortKey, Event)> = Vec::new();
    for (name, info) in streams.iter().zip(&infos) {
        if outside(info) {
            continue;
        }
        let events = store
            .events_between(&group, name, req.start_time, req.end_time)
            .map_err(LogsError::io)?;
        // A stream deleted since it was listed has nothing to show.
        for e in events.unwrap_or_default() {
            let key = (e.timestamp, name.clone(), e.offset);
            if in_range(e.timestamp, req.start_time, req.end_time)
                && after.as_ref().is_none_or(|a| key > *a)
                && pattern.matches(&e.message)
            {
                matched.push((key, e));
            }
        }
    }
    matched.sort_by(|a, b| a.0.cmp(&b.0));
    let events: Vec<Event> = matched.iter().map(|(_, e)| e.clone()).collect();
    let n = fit(&events, limit, false);
    let page: Vec<Value> = matched[..n]
        .iter()
        .map(|((_, stream, _), e)| {
            json!({
                "logStreamName": stream,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion_time,
                "eventId": event_id(&group, stream, e.offset),
            })
        })
        .collect();
    let searched: Vec<Value> = streams
        .iter()
        .map(|s| json!({"logStreamName": s, "searchedCompletely": true}))
        .collect();
    let mut out = json!({ "events": page, "searchedLogStreams": searched });
    if n < matched.len() {
        out["nextToken"] = json!(encode_token(&matched[n - 1].0));
    }
    Ok(out)
}

/// A stable id for an event: its stream's hash and its offset, as digits like AWS's ids.
pub(super) fn event_id(group: &str, stream: &str, offset: u64) -> String {
    // FNV-1a: stable across runs and releases, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in group.bytes().chain([0]).chain(stream.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:020}{offset:020}")
}

fn encode_token(key: &SortKey) -> String {
    let raw = format!("{}\n{}\n{}", key.0, key.2, key.1);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_token(token: &str) -> Result<SortKey, stratus_core::Error> {
    let bad = || LogsError::invalid("The specified nextToken is invalid.");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = raw.splitn(3, '\n');
    let ts = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let offset = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let stream = parts.next().ok_or_else(bad)?.to_string();
    Ok((ts, stream, offset))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InputEvent {
    timestamp: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PutEvents {
    #[serde(flatten)]
    group: GroupRef,
    log_stream_name: Option<String>,
    log_events: Option<Vec<InputEvent>>,
}

/// PutLogEvents' batch limit: the messages' UTF-8 bytes plus 26 bytes per event.
const MAX_BATCH_BYTES: usize = 1_048_576;
/// What each event adds to the batch size besides its message.
const EVENT_OVERHEAD: usize = 26;

fn check_batch_size(events: &[(i64, String)]) -> Result<(), stratus_core::Error> {
    let size: usize = events.iter().map(|(_, m)| m.len() + EVENT_OVERHEAD).sum();
    if size > MAX_BATCH_BYTES {
        return Err(LogsError::invalid(format!(
            "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    Ok(())
}

pub(super) fn put(store: &LogStore, req: PutEvents) -> LogsResult {
    let input = req
        .log_events
        .ok_or_else(|| LogsError::missing("logEvents"))?;
    if input.is_empty() || input.len() > MAX_EVENTS as usize {
        return Err(LogsError::constraint(
            "[]",
            "logEvents",
            "Member must have length between 1 and 10000",
        ));
    }
    let mut events = Vec::with_capacity(input.len());
    for (i, e) in input.into_iter().enumerate() {
        let ts = e
            .timestamp
            .ok_or_else(|| LogsError::missing(&format!("logEvents.{}.member.timestamp", i + 1)))?;
        let msg = e
            .message
            .ok_or_else(|| LogsError::missing(&format!("logEvents.{}.member.message", i + 1)))?;
        if msg.is_empty() {
            return Err(LogsError::constraint(
                "",
                &format!("logEvents.{}.member.message", i + 1),
                "Member must have length greater than or equal to 1",
            ));
        }
        events.push((ts, msg));
    }
    check_batch_size(&events)?;
    if events.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(LogsError::invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    if events[events.len() - 1].0 - events[0].0 > DAY_MS {
        return Err(LogsError::invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let name = req
        .log_stream_name
        .ok_or_else(|| LogsError::missing("logStreamName"))?;
    validate_stream(&name)?;
    let group = req.group.existing(store)?;
    if !store.stream_exists(&group, &name).map_err(LogsError::io)? {
        return Err(LogsError::no_stream());
    }
    let retention = store
        .group(&group)
        .map_err(LogsError::io)?
        .and_then(|g| g.retention_days);
    let (accepted, rejected) = screen(&events, now_ms(), retention);
    if !accepted.is_empty() {
        store
            .put(&group, &name, &events[accepted.clone()])
            .map_err(|e| match e.kind() {
                // Deleted since it was checked.
                std::io::ErrorKind::NotFound => LogsError::no_stream(),
                _ => LogsError::io(e),
            })?;
    }
    let mut out = json!({ "nextSequenceToken": format!("{:056}", now_ms()) });
    if !rejected.is_empty() {
        out["rejectedLogEventsInfo"] = Value::Object(rejected);
    }
    Ok(out)
}

/// Splits a sorted batch into the range AWS accepts and `rejectedLogEventsInfo`: events more
/// than 14 days old or past the group's retention at the front, more than 2 hours ahead at
/// the back.
fn screen(
    events: &[(i64, String)],
    now: i64,
    retention_days: Option<u32>,
) -> (std::ops::Range<usize>, serde_json::Map<String, Value>) {
    let mut info = serde_json::Map::new();
    let too_old = events
        .iter()
        .take_while(|e| e.0 < now - 14 * DAY_MS)
        .count();
    let expired = retention_days.map_or(0, |d| {
        events
            .iter()
            .take_while(|e| e.0 < now - i64::from(d) * DAY_MS)
            .count()
    });
    let too_new = events
        .iter()
        .rev()
        .take_while(|e| e.0 > now + 2 * HOUR_MS)
        .count();
    if too_old > 0 {
        info.insert("tooOldLogEventEndIndex".into(), json!(too_old));
    }
    if expired > 0 {
        info.insert("expiredLogEventEndIndex".into(), json!(expired));
    }
    let start = too_old.max(expired);
    let end = events.len() - too_new;
    if too_new > 0 {
        info.insert("tooNewLogEventStartIndex".into(), json!(end));
    }
    (start..end.max(start), info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_over_one_mib_is_refused() {
        let fits = vec![(0, "x".repeat(MAX_BATCH_BYTES - EVENT_OVERHEAD))];
        assert!(check_batch_size(&fits).is_ok());
        let over = vec![
            (0, "x".repeat(MAX_BATCH_BYTES - EVENT_OVERHEAD)),
            (1, "y".into()),
        ];
        let e = check_batch_size(&over).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert_eq!(
            e.message,
            "Upload too large: 1048603 bytes exceeds limit of 1048576"
        );
    }

    #[test]
    fn tokens_survive_a_round_trip() {
        let key = (17, "a/b\nc".to_string(), 99);
        assert_eq!(decode_token(&encode_token(&key)).unwrap(), key);
    }

    #[test]
    fn screen_rejects_old_and_new_at_the_edges() {
        let now = 100 * DAY_MS;
        let events = vec![
            (now - 20 * DAY_MS, "old".to_string()),
            (now - 2 * DAY_MS, "expired".to_string()),
            (now, "ok".to_string()),
            (now + 3 * HOUR_MS, "new".to_string()),
        ];
        let (range, info) = screen(&events, now, Some(1));
        assert_eq!(range, 2..3);
        assert_eq!(info["tooOldLogEventEndIndex"], 1);
        assert_eq!(info["expiredLogEventEndIndex"], 2);
        assert_eq!(info["tooNewLogEventStartIndex"], 3);
    }
}
