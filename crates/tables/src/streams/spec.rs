//! StreamSpecification on CreateTable and UpdateTable: enabling starts a new stream (a new
//! label and ARN), disabling ends it; AWS refuses enabling twice and disabling nothing.

use serde_json::{json, Value};
use stratus_core::Error;

use crate::store::Db;
use crate::table::{constraint, Table};
use crate::value::invalid;

const VIEW_TYPES: &[&str] = &["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"];

/// What a StreamSpecification asks: `Some(view type)` to enable, `None` to disable.
pub fn parse(spec: &Value) -> Result<Option<String>, Error> {
    let Some(enabled) = spec["StreamEnabled"].as_bool() else {
        return Err(Error::validation(
            "1 validation error detected: Value null at 'streamSpecification.streamEnabled' failed to satisfy constraint: Member must not be null",
        ));
    };
    let view = spec["StreamViewType"].as_str();
    if let Some(v) = view.filter(|v| !VIEW_TYPES.contains(v)) {
        return Err(constraint(
            v,
            "streamSpecification.streamViewType",
            "Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]",
        ));
    }
    match (enabled, view) {
        (true, Some(v)) => Ok(Some(v.to_string())),
        (true, None) => Err(invalid(
            "If stream is being enabled then UpdateViewType is required",
        )),
        (false, Some(_)) => Err(invalid(
            "If stream is being disabled, then UpdateViewType must not be specified",
        )),
        (false, None) => Ok(None),
    }
}

/// A stream label: the time as `YYYY-MM-DDTHH:MM:SS.mmm` (UTC), always after `previous`, so
/// a table's streams never share one.
fn label(now_ms: i64, previous: Option<&str>) -> String {
    let mut ms = now_ms;
    loop {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let l = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        );
        if previous.is_none_or(|p| l.as_str() > p) {
            return l;
        }
        ms += 1;
    }
}

/// Enables a new stream on `t` (stored in the same transaction as the definition).
fn enable(db: &mut Db, t: &mut Table, view: &str) -> Result<(), Error> {
    let now = super::now_ms();
    t.stream = Some(json!({"StreamEnabled": true, "StreamViewType": view}));
    t.stream_label = Some(label(now, t.stream_label.as_deref()));
    db.open_stream(t, view, now)
}

/// CreateTable's StreamSpecification, applied to the new table `t` (after it is stored).
pub fn on_create(db: &mut Db, t: &mut Table, req: &Value) -> Result<(), Error> {
    let Some(spec) = req.get("StreamSpecification").filter(|s| !s.is_null()) else {
        return Ok(());
    };
    match parse(spec)? {
        Some(view) => enable(db, t, &view),
        None => Ok(()),
    }
}

/// UpdateTable's StreamSpecification.
pub fn on_update(db: &mut Db, t: &mut Table, spec: &Value) -> Result<(), Error> {
    match (parse(spec)?, t.stream.is_some()) {
        (Some(_), true) => Err(Error::validation(format!(
            "Table already has an enabled stream: TableName: {}",
            t.name
        ))),
        (Some(view), false) => enable(db, t, &view),
        (None, false) => Err(Error::validation(format!(
            "Table has no stream to disable: TableName: {}",
            t.name
        ))),
        (None, true) => {
            t.stream = None;
            db.disable_streams(&t.name, super::now_ms())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifications_are_checked_as_aws_does() {
        let p = |v: Value| parse(&v).map_err(|e| e.message);
        assert_eq!(
            p(json!({"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"})),
            Ok(Some("KEYS_ONLY".into()))
        );
        assert_eq!(p(json!({"StreamEnabled": false})), Ok(None));
        assert!(p(json!({"StreamEnabled": true}))
            .unwrap_err()
            .contains("is required"));
        assert!(
            p(json!({"StreamEnabled": false, "StreamViewType": "KEYS_ONLY"}))
                .unwrap_err()
                .contains("must not be specified")
        );
        assert!(p(json!({"StreamEnabled": true, "StreamViewType": "ALL"}))
            .unwrap_err()
            .contains("enum value set"));
        assert!(p(json!({"StreamViewType": "KEYS_ONLY"}))
            .unwrap_err()
            .contains("must not be null"));
    }

    #[test]
    fn labels_are_iso_times_that_only_increase() {
        let l = label(1_700_000_000_123, None);
        assert_eq!(l, "2023-11-14T22:13:20.123");
        assert_eq!(
            label(1_700_000_000_123, Some(&l)),
            "2023-11-14T22:13:20.124"
        );
    }
}
