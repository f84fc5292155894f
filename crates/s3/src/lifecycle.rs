//! Bucket lifecycle: the configuration (Put/Get/DeleteBucketLifecycleConfiguration, validated
//! as S3 does) and its application by a periodic [`sweep`]: current objects past an enabled
//! rule's expiration are deleted, and incomplete multipart uploads past
//! `DaysAfterInitiation` aborted — each through the same operation a client's
//! DeleteObject or AbortMultipartUpload runs, so the sweep never removes rows of its own.
//!
//! Days are counted as S3 counts them: the creation time plus the rule's days, rounded up to
//! the next midnight UTC. What "a day" lasts is a parameter of the sweep (a day in
//! production; tests shorten it), and midnights are multiples of it since the epoch.

use std::sync::Arc;

use s3s::dto::{
    AbortMultipartUploadInput, BucketLifecycleConfiguration, DeleteObjectInput, LifecycleRule,
    LifecycleRuleFilter,
};
use s3s::{s3_error, S3Request, S3Result, S3};

use crate::db::{BucketConfig, ObjectRow, UploadRow};
use crate::service::S3Front;
use crate::store::ObjectStore;

/// The most rules one configuration may have.
const MAX_RULES: usize = 1000;

/// Marks a request the lifecycle sweep made, so the deletion's event is S3's
/// `LifecycleExpiration:Delete` rather than a client's `ObjectRemoved:Delete`.
#[derive(Debug, Clone, Copy)]
pub struct ByLifecycle;

/// Whether a request is the lifecycle sweep's.
pub fn by_sweep<T>(req: &S3Request<T>) -> bool {
    req.extensions.get::<ByLifecycle>().is_some()
}

/// The event a DeleteObject request causes, given the client's event for the same deletion
/// (`ObjectRemoved:Delete` or `ObjectRemoved:DeleteMarkerCreated`): the sweep's deletions are
/// `LifecycleExpiration:` events instead.
pub fn removal_event(by_sweep: bool, client: &'static str) -> &'static str {
    if !by_sweep {
        return client;
    }
    match client {
        "ObjectRemoved:DeleteMarkerCreated" => "LifecycleExpiration:DeleteMarkerCreated",
        _ => "LifecycleExpiration:Delete",
    }
}

fn malformed_xml() -> s3s::S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

/// Validates a PutBucketLifecycleConfiguration document as S3 does, returning its rules.
pub fn validate(c: &BucketLifecycleConfiguration) -> S3Result<Vec<LifecycleRule>> {
    if c.rules.is_empty() || c.rules.len() > MAX_RULES {
        return Err(malformed_xml());
    }
    let mut ids = std::collections::HashSet::new();
    for rule in &c.rules {
        if let Some(id) = &rule.id {
            if id.len() > 255 {
                return Err(s3_error!(
                    InvalidArgument,
                    "ID length should not exceed allowed limit of 255"
                ));
            }
            if !ids.insert(id.as_str()) {
                return Err(s3_error!(
                    InvalidArgument,
                    "Rule ID must be unique. Found same ID for more than one rule"
                ));
            }
        }
        validate_rule(rule)?;
    }
    Ok(c.rules.clone())
}

fn validate_rule(rule: &LifecycleRule) -> S3Result<()> {
    if !matches!(rule.status.as_str(), "Enabled" | "Disabled") {
        return Err(malformed_xml());
    }
    // A rule selects objects with either the older top-level Prefix or a Filter, not both.
    if rule.prefix.is_some() && rule.filter.is_some() {
        return Err(malformed_xml());
    }
    if let Some(f) = &rule.filter {
        validate_filter(f)?;
    }
    let has_tags = rule.filter.as_ref().is_some_and(filters_on_tags);
    validate_expiration(rule)?;
    if let Some(abort) = &rule.abort_incomplete_multipart_upload {
        if abort.days_after_initiation.is_none_or(|d| d <= 0) {
            return Err(s3_error!(InvalidArgument, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"));
        }
        if has_tags {
            return Err(s3_error!(
                InvalidRequest,
                "AbortIncompleteMultipartUpload cannot be specified with Tags."
            ));
        }
    }
    if let Some(n) = &rule.noncurrent_version_expiration {
        if n.noncurrent_days.is_none_or(|d| d <= 0) {
            return Err(s3_error!(InvalidArgument, "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"));
        }
    }
    let any_action = rule.expiration.is_some()
        || rule.abort_incomplete_multipart_upload.is_some()
        || rule.noncurrent_version_expiration.is_some()
        || rule.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || rule
            .noncurrent_version_transitions
            .as_ref()
            .is_some_and(|t| !t.is_empty());
    if !any_action {
        return Err(s3_error!(
            InvalidRequest,
            "At least one action needs to be specified in a rule"
        ));
    }
    Ok(())
}

/// A Filter names exactly one predicate (several are combined with `And`).
fn validate_filter(f: &LifecycleRuleFilter) -> S3Result<()> {
    let given = [
        f.prefix.is_some(),
        f.tag.is_some(),
        f.and.is_some(),
        f.object_size_greater_than.is_some(),
        f.object_size_less_than.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(malformed_xml());
    }
    Ok(())
}

fn filters_on_tags(f: &LifecycleRuleFilter) -> bool {
    f.tag.is_some()
        || f.and
            .as_ref()
            .is_some_and(|a| a.tags.as_ref().is_some_and(|t| !t.is_empty()))
}

/// Expiration takes one of Days (positive), Date (a midnight UTC) or
/// ExpiredObjectDeleteMarker.
fn validate_expiration(rule: &LifecycleRule) -> S3Result<()> {
    let Some(e) = &rule.expiration else {
        return Ok(());
    };
    let given = [
        e.days.is_some(),
        e.date.is_some(),
        e.expired_object_delete_marker.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(malformed_xml());
    }
    if e.days.is_some_and(|d| d <= 0) {
        return Err(s3_error!(
            InvalidArgument,
            "'Days' for Expiration action must be a positive integer"
        ));
    }
    if let Some(date) = &e.date {
        let t = time::OffsetDateTime::from(date.clone());
        if t.time() != time::Time::MIDNIGHT {
            return Err(s3_error!(InvalidArgument, "'Date' must be at midnight GMT"));
        }
    }
    Ok(())
}

/// The kept rules of a bucket's configuration, as GetBucketLifecycleConfiguration answers.
pub fn to_configuration(rules: Vec<LifecycleRule>) -> BucketLifecycleConfiguration {
    BucketLifecycleConfiguration { rules }
}

/// `ms` rounded up to the next "midnight": a multiple of `day_ms`.
fn next_midnight(ms: i64, day_ms: i64) -> i64 {
    ms.div_euclid(day_ms) * day_ms
        + if ms.rem_euclid(day_ms) == 0 {
            0
        } else {
            day_ms
        }
}

/// When something created at `created_ms` expires under a rule of `days`.
pub fn expiry_ms(created_ms: i64, days: i32, day_ms: i64) -> i64 {
    next_midnight(created_ms + i64::from(days) * day_ms, day_ms)
}

/// The prefix a rule selects (the older top-level Prefix, or the filter's).
fn rule_prefix(rule: &LifecycleRule) -> &str {
    let from_filter = rule.filter.as_ref().and_then(|f| {
        f.prefix
            .as_deref()
            .or_else(|| f.and.as_ref().and_then(|a| a.prefix.as_deref()))
    });
    rule.prefix.as_deref().or(from_filter).unwrap_or("")
}

/// Whether a rule's filter selects `object` (prefix, tags, sizes).
pub fn selects(rule: &LifecycleRule, object: &ObjectRow) -> bool {
    if !object.key.starts_with(rule_prefix(rule)) {
        return false;
    }
    let Some(f) = &rule.filter else { return true };
    let has_tag = |k: &Option<String>, v: &Option<String>| {
        object
            .tags
            .iter()
            .any(|(tk, tv)| Some(tk) == k.as_ref() && Some(tv) == v.as_ref())
    };
    let size = object.size as i64;
    let (greater, less, tags_ok) = match &f.and {
        Some(a) => (
            a.object_size_greater_than,
            a.object_size_less_than,
            a.tags.iter().flatten().all(|t| has_tag(&t.key, &t.value)),
        ),
        None => (
            f.object_size_greater_than,
            f.object_size_less_than,
            f.tag.as_ref().is_none_or(|t| has_tag(&t.key, &t.value)),
        ),
    };
    tags_ok && greater.is_none_or(|g| size > g) && less.is_none_or(|l| size < l)
}

/// The first enabled rule under which `object` has expired by `now_ms`.
pub fn expired_by<'r>(
    rules: &'r [LifecycleRule],
    object: &ObjectRow,
    now_ms: i64,
    day_ms: i64,
) -> Option<&'r LifecycleRule> {
    rules
        .iter()
        .find(|r| due_ms(r, object, day_ms).is_some_and(|due| now_ms >= due) && selects(r, object))
}

/// When an enabled rule's `Expiration` (days or date) expires a current object, whatever
/// its filter says.
fn due_ms(rule: &LifecycleRule, object: &ObjectRow, day_ms: i64) -> Option<i64> {
    let e = rule.expiration.as_ref().filter(|_| enabled(rule))?;
    match (e.days, &e.date) {
        (Some(days), _) => Some(expiry_ms(object.last_modified_ms, days, day_ms)),
        (None, Some(date)) => Some(
            (time::OffsetDateTime::from(date.clone()).unix_timestamp_nanos() / 1_000_000) as i64,
        ),
        _ => None,
    }
}

/// The `x-amz-expiration` header of a current object: when the earliest enabled rule that
/// selects it expires it, and that rule's id, in S3's words
/// (`expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="..."`). Days are real days here,
/// whatever the sweep's test setting.
pub fn expiration_header(rules_json: Option<&str>, object: &ObjectRow) -> Option<String> {
    const DAY_MS: i64 = 86_400_000;
    let rules: Vec<LifecycleRule> = serde_json::from_str(rules_json?).ok()?;
    let (due, rule) = rules
        .iter()
        .filter(|r| selects(r, object))
        .filter_map(|r| Some((due_ms(r, object, DAY_MS)?, r)))
        .min_by_key(|(due, _)| *due)?;
    let date = time::OffsetDateTime::from_unix_timestamp(due.div_euclid(1000)).ok()?;
    let mut buf = Vec::new();
    s3s::dto::Timestamp::from(date)
        .format(s3s::dto::TimestampFormat::HttpDate, &mut buf)
        .ok()?;
    let date = String::from_utf8(buf).ok()?;
    let id = rule.id.as_deref().unwrap_or_default();
    Some(format!("expiry-date=\"{date}\", rule-id=\"{id}\""))
}

/// Whether a noncurrent version is past an enabled rule's `NoncurrentVersionExpiration`:
/// `NoncurrentDays` counted from when it became noncurrent (`since_ms`, its successor's
/// creation), and only beyond the `NewerNoncurrentVersions` newest noncurrent versions
/// (`newer` is how many noncurrent versions of its key are newer than it).
pub fn noncurrent_expired(
    rules: &[LifecycleRule],
    version: &ObjectRow,
    since_ms: i64,
    newer: usize,
    now_ms: i64,
    day_ms: i64,
) -> bool {
    rules.iter().any(|r| {
        let Some(n) = r
            .noncurrent_version_expiration
            .as_ref()
            .filter(|_| enabled(r))
        else {
            return false;
        };
        let Some(days) = n.noncurrent_days else {
            return false;
        };
        let kept = n.newer_noncurrent_versions.unwrap_or(0).max(0) as usize;
        newer >= kept && now_ms >= expiry_ms(since_ms, days, day_ms) && selects(r, version)
    })
}

/// Whether an enabled rule removes expired object delete markers (a current delete marker
/// with no noncurrent versions behind it) for `marker`'s key.
pub fn removes_lone_markers(rules: &[LifecycleRule], marker: &ObjectRow) -> bool {
    rules.iter().any(|r| {
        enabled(r)
            && r.expiration
                .as_ref()
                .is_some_and(|e| e.expired_object_delete_marker == Some(true))
            && marker.key.starts_with(rule_prefix(r))
    })
}

/// Whether any enabled rule acts on versions other than the current ones.
fn acts_on_history(rules: &[LifecycleRule]) -> bool {
    rules.iter().any(|r| {
        enabled(r)
            && (r.noncurrent_version_expiration.is_some()
                || r.expiration
                    .as_ref()
                    .is_some_and(|e| e.expired_object_delete_marker == Some(true)))
    })
}

/// Whether an incomplete upload is past an enabled rule's `DaysAfterInitiation`.
pub fn upload_abandoned(
    rules: &[LifecycleRule],
    upload: &UploadRow,
    now_ms: i64,
    day_ms: i64,
) -> bool {
    rules.iter().any(|r| {
        let days = r
            .abort_incomplete_multipart_upload
            .as_ref()
            .and_then(|a| a.days_after_initiation);
        match days.filter(|_| enabled(r)) {
            Some(days) => {
                upload.key.starts_with(rule_prefix(r))
                    && now_ms >= expiry_ms(upload.initiated_ms, days, day_ms)
            }
            None => false,
        }
    })
}

fn enabled(rule: &LifecycleRule) -> bool {
    rule.status.as_str() == "Enabled"
}

/// A bucket's kept rules (`None` without a configuration).
pub fn rules(
    store: &ObjectStore,
    bucket: &str,
) -> Result<Option<Vec<LifecycleRule>>, stratus_db::Error> {
    let config = store
        .db
        .tx(|tx| tx.bucket_config(BucketConfig::Lifecycle, bucket))?;
    Ok(config.flatten().and_then(|s| serde_json::from_str(&s).ok()))
}

/// What one sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub expired: usize,
    pub aborted: usize,
}

/// One pass over every bucket with a lifecycle configuration at `now_ms`, a day lasting
/// `day_ms`. Objects are listed a page at a time.
pub async fn sweep(store: &Arc<ObjectStore>, now_ms: i64, day_ms: i64) -> Result<Swept, String> {
    let configs = store
        .db
        .tx(|tx| tx.buckets_with_config(BucketConfig::Lifecycle))
        .map_err(|e| e.to_string())?;
    let front = S3Front(store.clone());
    let mut swept = Swept::default();
    for (bucket, json) in configs {
        let Ok(rules) = serde_json::from_str::<Vec<LifecycleRule>>(&json) else {
            continue;
        };
        swept.expired += expire_objects(&front, &bucket, &rules, now_ms, day_ms).await?;
        if acts_on_history(&rules) {
            swept.expired += expire_history(&front, &bucket, &rules, now_ms, day_ms).await?;
        }
        swept.aborted += abort_uploads(&front, &bucket, &rules, now_ms, day_ms).await?;
    }
    Ok(swept)
}

/// A request as the sweep makes it: no caller, no signature, marked [`ByLifecycle`].
fn sweep_request<T>(input: T, method: http::Method) -> S3Request<T> {
    let mut extensions = http::Extensions::new();
    extensions.insert(ByLifecycle);
    S3Request {
        input,
        method,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions,
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

async fn expire_objects(
    front: &S3Front,
    bucket: &str,
    rules: &[LifecycleRule],
    now_ms: i64,
    day_ms: i64,
) -> Result<usize, String> {
    let mut after = String::new();
    let mut expired = 0;
    loop {
        let page = front
            .0
            .db
            .tx(|tx| tx.list(bucket, "", &after, 1000))
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.key.clone();
        for object in page
            .iter()
            .filter(|o| expired_by(rules, o, now_ms, day_ms).is_some())
        {
            expired += usize::from(sweep_delete(front, bucket, &object.key, None).await);
        }
    }
    Ok(expired)
}

/// Permanently deletes the noncurrent versions past `NoncurrentVersionExpiration` and the
/// delete markers left with nothing behind them (`ExpiredObjectDeleteMarker`), through
/// DeleteObject with a version id. Versions are listed key by key, newest first, a page at a
/// time; what is due is collected first and deleted after the listing.
async fn expire_history(
    front: &S3Front,
    bucket: &str,
    rules: &[LifecycleRule],
    now_ms: i64,
    day_ms: i64,
) -> Result<usize, String> {
    let mut due: Vec<(String, String)> = Vec::new();
    let mut walk = HistoryWalk::default();
    let mut cursor: (String, Option<String>) = (String::new(), None);
    loop {
        let page = front
            .0
            .db
            .tx(|tx| {
                crate::versions::page(tx, bucket, "", None, &cursor.0, cursor.1.as_deref(), 1000)
            })
            .map_err(|e| e.to_string())?;
        for (row, latest) in page.entries {
            walk.visit(row, latest, rules, now_ms, day_ms, &mut due);
        }
        match page.next.filter(|_| page.truncated) {
            Some(next) => cursor = next,
            None => break,
        }
    }
    walk.finish(rules, &mut due);
    let mut expired = 0;
    for (key, version) in due {
        expired += usize::from(sweep_delete(front, bucket, &key, Some(version)).await);
    }
    Ok(expired)
}

/// Deletes `key` (or one version of it) as the sweep, through DeleteObject's own path; a
/// failure is logged and left for the next sweep.
async fn sweep_delete(front: &S3Front, bucket: &str, key: &str, version: Option<String>) -> bool {
    let input = DeleteObjectInput {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: version,
        ..Default::default()
    };
    let request = sweep_request(input, http::Method::DELETE);
    match front.delete_object(request).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(bucket, key, error = ?e, "lifecycle expiration failed");
            false
        }
    }
}

/// The state of a walk over one bucket's versions, key by key and newest first.
#[derive(Default)]
struct HistoryWalk {
    /// The key being walked, and its current version when that is a delete marker.
    key: Option<String>,
    lone_marker: Option<ObjectRow>,
    /// When the version last seen was written: when the next (older) one became noncurrent.
    successor_ms: i64,
    /// How many noncurrent versions of the key have been seen.
    noncurrent: usize,
}

impl HistoryWalk {
    fn visit(
        &mut self,
        row: ObjectRow,
        latest: bool,
        rules: &[LifecycleRule],
        now_ms: i64,
        day_ms: i64,
        due: &mut Vec<(String, String)>,
    ) {
        if self.key.as_deref() != Some(row.key.as_str()) {
            self.finish(rules, due);
            self.key = Some(row.key.clone());
            self.noncurrent = 0;
        }
        if latest {
            self.successor_ms = row.last_modified_ms;
            self.lone_marker = row.delete_marker.then(|| row.clone());
            return;
        }
        let since = self.successor_ms;
        self.successor_ms = row.last_modified_ms;
        self.noncurrent += 1;
        if noncurrent_expired(rules, &row, since, self.noncurrent - 1, now_ms, day_ms) {
            due.push((row.key.clone(), version_of(&row)));
        } else {
            // A version that stays keeps the marker in front of it.
            self.lone_marker = None;
        }
    }

    /// Ends the key being walked: its delete marker is due when nothing stays behind it.
    fn finish(&mut self, rules: &[LifecycleRule], due: &mut Vec<(String, String)>) {
        if let Some(marker) = self.lone_marker.take() {
            if removes_lone_markers(rules, &marker) {
                due.push((marker.key.clone(), version_of(&marker)));
            }
        }
    }
}

fn version_of(row: &ObjectRow) -> String {
    row.version_id
        .clone()
        .unwrap_or_else(|| crate::db::NULL_VERSION.to_string())
}

async fn abort_uploads(
    front: &S3Front,
    bucket: &str,
    rules: &[LifecycleRule],
    now_ms: i64,
    day_ms: i64,
) -> Result<usize, String> {
    let uploads = front
        .0
        .db
        .tx(|tx| tx.uploads(bucket))
        .map_err(|e| e.to_string())?;
    let mut aborted = 0;
    for u in uploads
        .iter()
        .filter(|u| upload_abandoned(rules, u, now_ms, day_ms))
    {
        let input = AbortMultipartUploadInput {
            bucket: bucket.to_string(),
            key: u.key.clone(),
            upload_id: u.upload_id.clone(),
            ..Default::default()
        };
        match front
            .abort_multipart_upload(sweep_request(input, http::Method::DELETE))
            .await
        {
            Ok(_) => aborted += 1,
            Err(e) => {
                tracing::warn!(bucket, upload = u.upload_id, error = ?e, "lifecycle abort failed")
            }
        }
    }
    Ok(aborted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::{AbortIncompleteMultipartUpload, ExpirationStatus, LifecycleExpiration, Tag};

    const DAY: i64 = 86_400_000;

    fn rule(id: &str, days: i32, prefix: &str) -> LifecycleRule {
        LifecycleRule {
            id: Some(id.into()),
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            filter: Some(LifecycleRuleFilter {
                prefix: Some(prefix.into()),
                ..Default::default()
            }),
            expiration: Some(LifecycleExpiration {
                days: Some(days),
                ..Default::default()
            }),
            abort_incomplete_multipart_upload: None,
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            transitions: None,
        }
    }

    fn config(rules: Vec<LifecycleRule>) -> BucketLifecycleConfiguration {
        to_configuration(rules)
    }

    fn message(c: BucketLifecycleConfiguration) -> String {
        let e = validate(&c).unwrap_err();
        format!("{}: {}", e.code().as_str(), e.message().unwrap_or(""))
    }

    #[test]
    fn validation_follows_s3() {
        assert!(validate(&config(vec![rule("a", 1, "logs/"), rule("b", 2, "")])).is_ok());
        assert_eq!(
            message(config(vec![rule("a", 0, "")])),
            "InvalidArgument: 'Days' for Expiration action must be a positive integer"
        );
        assert_eq!(
            message(config(vec![rule("a", 1, ""), rule("a", 2, "")])),
            "InvalidArgument: Rule ID must be unique. Found same ID for more than one rule"
        );
        let mut long = rule(&"x".repeat(256), 1, "");
        assert!(message(config(vec![long.clone()])).starts_with("InvalidArgument"));
        long.id = None;
        long.expiration = None;
        assert_eq!(
            message(config(vec![long])),
            "InvalidRequest: At least one action needs to be specified in a rule"
        );
        let mut noon = rule("n", 1, "");
        noon.expiration = Some(LifecycleExpiration {
            date: Some(s3s::dto::Timestamp::from(
                time::OffsetDateTime::UNIX_EPOCH + time::Duration::hours(12),
            )),
            ..Default::default()
        });
        assert_eq!(
            message(config(vec![noon])),
            "InvalidArgument: 'Date' must be at midnight GMT"
        );
        let mut odd = rule("s", 1, "");
        odd.status = ExpirationStatus::from("Sometimes".to_string());
        assert!(message(config(vec![odd])).starts_with("MalformedXML"));
        assert!(message(config(vec![])).starts_with("MalformedXML"));
    }

    #[test]
    fn the_sweeps_deletions_are_lifecycle_events() {
        let swept = sweep_request(DeleteObjectInput::default(), http::Method::DELETE);
        let (removed, marked) = ("ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated");
        assert!(by_sweep(&swept));
        assert_eq!(removal_event(true, removed), "LifecycleExpiration:Delete");
        assert_eq!(
            removal_event(true, marked),
            "LifecycleExpiration:DeleteMarkerCreated"
        );
        let mut client = swept.map_input(|i| i);
        client.extensions = http::Extensions::new();
        assert!(!by_sweep(&client));
        assert_eq!(removal_event(false, removed), removed);
        assert_eq!(removal_event(false, marked), marked);
        for name in ["Delete", "DeleteMarkerCreated"] {
            let event = format!("s3:LifecycleExpiration:{name}");
            assert!(crate::notify::EVENT_NAMES.contains(&event.as_str()));
        }
    }

    #[test]
    fn days_round_up_to_the_next_midnight() {
        let ten_thirty = 10 * DAY + DAY / 2;
        assert_eq!(expiry_ms(ten_thirty, 3, DAY), 14 * DAY);
        assert_eq!(expiry_ms(10 * DAY, 3, DAY), 13 * DAY);
        assert_eq!(expiry_ms(1500, 1, 1000), 3000);
    }

    #[test]
    fn expiry_selects_by_prefix_tags_and_size_and_skips_disabled_rules() {
        let object = ObjectRow {
            key: "logs/a".into(),
            size: 10,
            last_modified_ms: 0,
            tags: vec![("t".into(), "1".into())],
            ..Default::default()
        };
        let rules = vec![rule("other", 1, "tmp/"), rule("logs", 1, "logs/")];
        assert!(expired_by(&rules, &object, DAY - 1, DAY).is_none());
        assert_eq!(
            expired_by(&rules, &object, DAY, DAY).and_then(|r| r.id.as_deref()),
            Some("logs")
        );
        let mut disabled = rule("d", 1, "");
        disabled.status = ExpirationStatus::from_static(ExpirationStatus::DISABLED);
        assert!(expired_by(&[disabled], &object, 5 * DAY, DAY).is_none());
        let mut tagged = rule("t", 1, "");
        tagged.filter = Some(LifecycleRuleFilter {
            tag: Some(Tag {
                key: Some("t".into()),
                value: Some("2".into()),
            }),
            ..Default::default()
        });
        assert!(!selects(&tagged, &object));
        let mut big = rule("b", 1, "");
        big.filter = Some(LifecycleRuleFilter {
            object_size_greater_than: Some(10),
            ..Default::default()
        });
        assert!(!selects(&big, &object));
    }

    #[test]
    fn noncurrent_versions_expire_after_their_days_beyond_the_newest_kept() {
        let mut r = rule("nc", 1, "h/");
        r.expiration = None;
        r.noncurrent_version_expiration = Some(s3s::dto::NoncurrentVersionExpiration {
            noncurrent_days: Some(2),
            newer_noncurrent_versions: Some(1),
        });
        let rules = std::slice::from_ref(&r);
        let version = ObjectRow {
            key: "h/k".into(),
            ..Default::default()
        };
        // Noncurrent since day 0: due at day 2, and only behind one newer noncurrent version.
        assert!(!noncurrent_expired(rules, &version, 0, 1, 2 * DAY - 1, DAY));
        assert!(noncurrent_expired(rules, &version, 0, 1, 2 * DAY, DAY));
        assert!(!noncurrent_expired(rules, &version, 0, 0, 9 * DAY, DAY));
        let elsewhere = ObjectRow {
            key: "x/k".into(),
            ..Default::default()
        };
        assert!(!noncurrent_expired(rules, &elsewhere, 0, 1, 9 * DAY, DAY));
        assert!(!removes_lone_markers(rules, &version), "no marker rule");
        assert!(acts_on_history(rules));
        assert!(!acts_on_history(&[rule("plain", 1, "")]));
    }

    #[test]
    fn uploads_are_abandoned_after_days_after_initiation() {
        let mut r = rule("u", 1, "big/");
        r.expiration = None;
        r.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload {
            days_after_initiation: Some(2),
        });
        let upload = UploadRow {
            upload_id: "id".into(),
            bucket: "b".into(),
            key: "big/x".into(),
            initiated_ms: 0,
            attrs: Default::default(),
            tags: vec![],
        };
        assert!(!upload_abandoned(
            std::slice::from_ref(&r),
            &upload,
            2 * DAY - 1,
            DAY
        ));
        assert!(upload_abandoned(
            std::slice::from_ref(&r),
            &upload,
            2 * DAY,
            DAY
        ));
    }
}
