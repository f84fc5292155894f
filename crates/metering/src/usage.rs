//! Usage reports: the records of a window, grouped by function, version, day or hour, with
//! AWS's counts (`invocations` excludes throttles, as AWS's `Invocations` metric does; `errors`
//! are function errors, timeouts and crashes), GB-seconds, cost and duration percentiles.

use std::collections::BTreeMap;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::pricing::Prices;
use crate::record::Record;

/// How long the default window reaches back.
pub const DEFAULT_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Function,
    Version,
    Day,
    Hour,
}

impl GroupBy {
    const ALL: [GroupBy; 4] = [
        GroupBy::Function,
        GroupBy::Version,
        GroupBy::Day,
        GroupBy::Hour,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Function => "function",
            GroupBy::Version => "version",
            GroupBy::Day => "day",
            GroupBy::Hour => "hour",
        }
    }

    pub fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// A usage request: records that started in `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    pub from_ms: i64,
    pub to_ms: i64,
    pub group_by: GroupBy,
}

impl Query {
    /// From the request's query parameters (`from`, `to`: RFC 3339 or epoch milliseconds;
    /// `group_by`). Defaults: the 24 hours up to `now_ms`, by function. The error is the
    /// message for the caller.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        now_ms: i64,
    ) -> Result<Query, String> {
        let (mut from, mut to, mut group_by) = (None, None, GroupBy::Function);
        for (k, v) in params {
            match k {
                "from" => from = Some(parse_time("from", v)?),
                "to" => to = Some(parse_time("to", v)?),
                "group_by" => {
                    group_by = GroupBy::parse(v).ok_or_else(|| {
                        format!(
                            "Invalid group_by '{v}': must be one of function, version, day, hour"
                        )
                    })?
                }
                other => {
                    return Err(format!(
                        "Unknown parameter '{other}': expected from, to and group_by"
                    ))
                }
            }
        }
        // The window is half-open; by default it ends just after `now_ms`, so an invocation
        // that started in the same millisecond as the request is included.
        let to_ms = to.unwrap_or(now_ms + 1);
        let from_ms = from.unwrap_or(to_ms - DEFAULT_WINDOW_MS);
        if from_ms > to_ms {
            return Err(format!(
                "from ({}) must not be later than to ({})",
                format_ms(from_ms),
                format_ms(to_ms)
            ));
        }
        Ok(Query {
            from_ms,
            to_ms,
            group_by,
        })
    }
}

/// An RFC 3339 timestamp or epoch milliseconds.
fn parse_time(name: &str, v: &str) -> Result<i64, String> {
    let bad = || {
        format!("Invalid {name} '{v}': expected an RFC 3339 timestamp (2026-11-26T00:00:00Z) or epoch milliseconds")
    };
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = v.parse().map_err(|_| bad())?;
        // Within the years the formatter can write (0000-9999).
        return if ms <= 253_402_300_799_999 {
            Ok(ms)
        } else {
            Err(bad())
        };
    }
    let t = OffsetDateTime::parse(v, &Rfc3339).map_err(|_| bad())?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 in UTC: whole seconds when the time has no milliseconds.
pub fn format_ms(ms: i64) -> String {
    let t = utc(ms);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    match t.millisecond() {
        0 => format!("{base}Z"),
        m => format!("{base}.{m:03}Z"),
    }
}

/// The 50th, 95th and 99th percentiles (nearest rank), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Percentiles {
    fn of(mut values: Vec<f64>) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |p: f64| {
            let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
            round3(values[rank.clamp(1, values.len()) - 1])
        };
        Percentiles {
            p50: at(50.0),
            p95: at(95.0),
            p99: at(99.0),
        }
    }
}

/// `v` to 12 significant digits: sums of binary fractions print as `6e-7`, not as
/// `6.000000000000001e-7`. Zero stays exactly zero.
fn significant(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(11 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The sums of a group (or of the whole window).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Totals {
    pub invocations: u64,
    pub errors: u64,
    pub throttles: u64,
    pub timeouts: u64,
    pub cold_starts: u64,
    pub billed_ms: u64,
    pub gb_seconds: f64,
    pub request_cost: f64,
    pub compute_cost: f64,
    pub cost: f64,
    pub duration_ms: Percentiles,
    pub init_duration_ms: Percentiles,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub key: String,
    pub function: Option<String>,
    pub version: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub group_by: &'static str,
    pub currency: &'static str,
    pub prices: Prices,
    pub groups: Vec<Group>,
    pub total: Totals,
}

#[derive(Default)]
struct Acc {
    totals: Totals,
    compute_cost: f64,
    durations: Vec<f64>,
    inits: Vec<f64>,
}

impl Acc {
    fn add(&mut self, r: &Record, prices: &Prices) {
        let t = &mut self.totals;
        if !r.outcome.ran() {
            t.throttles += 1;
            return;
        }
        t.invocations += 1;
        t.errors += u64::from(r.outcome.is_error());
        t.timeouts += u64::from(r.outcome == crate::record::Outcome::Timeout);
        t.cold_starts += u64::from(r.cold);
        t.billed_ms += r.billed_ms;
        t.gb_seconds += r.gb_seconds();
        self.compute_cost += prices.cost(r).1;
        self.durations.push(r.duration_ms);
        self.inits.extend(r.init_duration_ms);
    }

    fn finish(self, prices: &Prices) -> Totals {
        let request_cost = self.totals.invocations as f64 * prices.request_per_million / 1e6;
        Totals {
            gb_seconds: significant(self.totals.gb_seconds),
            request_cost: significant(request_cost),
            compute_cost: significant(self.compute_cost),
            cost: significant(request_cost + self.compute_cost),
            duration_ms: Percentiles::of(self.durations),
            init_duration_ms: Percentiles::of(self.inits),
            ..self.totals
        }
    }
}

/// The group a record falls in: (key, function, version).
fn group_of(r: &Record, by: GroupBy) -> (String, Option<String>, Option<String>) {
    match by {
        GroupBy::Function => (r.function.clone(), Some(r.function.clone()), None),
        GroupBy::Version => (
            format!("{}:{}", r.function, r.version),
            Some(r.function.clone()),
            Some(r.version.clone()),
        ),
        GroupBy::Day => (format_ms(r.start_ms)[..10].to_string(), None, None),
        GroupBy::Hour => (format!("{}:00Z", &format_ms(r.start_ms)[..13]), None, None),
    }
}

/// Sums `records` (those of the query's window) into a report.
pub fn summarize(records: &[Record], q: &Query, prices: &Prices) -> Report {
    let mut groups: BTreeMap<(String, Option<String>, Option<String>), Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for r in records {
        groups
            .entry(group_of(r, q.group_by))
            .or_default()
            .add(r, prices);
        total.add(r, prices);
    }
    Report {
        from: format_ms(q.from_ms),
        to: format_ms(q.to_ms),
        group_by: q.group_by.as_str(),
        currency: "USD",
        prices: *prices,
        groups: groups
            .into_iter()
            .map(|((key, function, version), acc)| Group {
                key,
                function,
                version,
                totals: acc.finish(prices),
            })
            .collect(),
        total: total.finish(prices),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, Trigger};

    // 2026-11-26T17:30:00Z
    const T0: i64 = 1_795_714_200_000;

    fn rec(function: &str, version: &str, start_ms: i64, ms: f64, outcome: Outcome) -> Record {
        Record {
            request_id: format!("{function}-{start_ms}"),
            function: function.into(),
            version: version.into(),
            alias: None,
            trigger: Trigger::Direct,
            start_ms,
            duration_ms: if outcome.ran() { ms } else { 0.0 },
            billed_ms: if outcome.ran() {
                crate::record::billed_ms(std::time::Duration::from_secs_f64(ms / 1000.0))
            } else {
                0
            },
            init_duration_ms: None,
            memory_mb: 1024,
            max_memory_mb: 20,
            architecture: "x86_64".into(),
            outcome,
            cold: false,
        }
    }

    fn query(by: GroupBy) -> Query {
        Query {
            from_ms: T0 - 3_600_000,
            to_ms: T0 + 3_600_000,
            group_by: by,
        }
    }

    #[test]
    fn empty_window_costs_exactly_zero() {
        let r = summarize(&[], &query(GroupBy::Function), &Prices::default());
        assert!(r.groups.is_empty());
        assert_eq!(r.total, Totals::default());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["total"]["cost"], serde_json::json!(0.0));
        assert_eq!(json["total"]["duration_ms"]["p99"], serde_json::json!(0.0));
    }

    #[test]
    fn groups_count_and_charge_what_ran() {
        let mut cold = rec("a", "1", T0, 999.2, Outcome::Success);
        cold.cold = true;
        cold.init_duration_ms = Some(150.0);
        let records = vec![
            cold,
            rec("a", "$LATEST", T0 + 1, 10.0, Outcome::FunctionError),
            rec("a", "$LATEST", T0 + 2, 3000.0, Outcome::Timeout),
            rec("b", "$LATEST", T0 + 3, 0.0, Outcome::Throttled),
            rec("b", "$LATEST", T0 + 4, 0.4, Outcome::Crashed),
        ];
        let p = Prices::default();
        let r = summarize(&records, &query(GroupBy::Function), &p);
        assert_eq!(r.groups.len(), 2);
        let a = &r.groups[0];
        assert_eq!((a.key.as_str(), a.function.as_deref()), ("a", Some("a")));
        assert_eq!(a.version, None);
        let t = &a.totals;
        assert_eq!(
            (
                t.invocations,
                t.errors,
                t.timeouts,
                t.throttles,
                t.cold_starts
            ),
            (3, 2, 1, 0, 1)
        );
        assert_eq!(t.billed_ms, 1000 + 10 + 3000);
        assert!((t.gb_seconds - 4.01).abs() < 1e-9);
        assert!((t.request_cost - 3.0 * 0.2 / 1e6).abs() < 1e-15);
        assert!((t.compute_cost - 4.01 * p.x86_64_gb_second).abs() < 1e-12);
        assert!((t.cost - t.request_cost - t.compute_cost).abs() < 1e-15);
        assert_eq!(t.duration_ms.p50, 999.2);
        assert_eq!(t.duration_ms.p99, 3000.0);
        assert_eq!(t.init_duration_ms.p50, 150.0);
        let b = &r.groups[1].totals;
        assert_eq!((b.invocations, b.throttles, b.errors), (1, 1, 1));
        assert_eq!(b.billed_ms, 1);
        assert_eq!(r.total.invocations, 4);
        assert_eq!(r.total.throttles, 1);
        assert!((r.total.cost - (t.cost + b.cost)).abs() < 1e-15);
    }

    #[test]
    fn keys_by_version_day_and_hour() {
        let records = vec![
            rec("a", "1", T0, 1.0, Outcome::Success),
            rec("a", "$LATEST", T0 + 3_600_000, 1.0, Outcome::Success),
        ];
        let p = Prices::default();
        let keys = |by| {
            summarize(&records, &query(by), &p)
                .groups
                .into_iter()
                .map(|g| g.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(GroupBy::Version), ["a:$LATEST", "a:1"]);
        assert_eq!(keys(GroupBy::Day), ["2026-11-26"]);
        assert_eq!(
            keys(GroupBy::Hour),
            ["2026-11-26T17:00Z", "2026-11-26T18:00Z"]
        );
        let v = summarize(&records, &query(GroupBy::Version), &p);
        assert_eq!(v.groups[1].version.as_deref(), Some("1"));
        assert_eq!(v.from, "2026-11-26T16:30:00Z");
    }

    #[test]
    fn money_keeps_twelve_significant_digits() {
        assert_eq!(significant(3.0 * 0.2 / 1e6), 6e-7);
        assert_eq!(significant(6.2500125e-9), 6.2500125e-9);
        assert_eq!(significant(1234.56789012345), 1234.56789012);
        assert_eq!(significant(0.0), 0.0);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99), (50.0, 95.0, 99.0));
        let one = Percentiles::of(vec![7.0]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
    }

    #[test]
    fn parameters_parse_and_fail_clearly() {
        let now = T0;
        let q = Query::from_params([], now).unwrap();
        assert_eq!(
            (q.from_ms, q.to_ms, q.group_by),
            (now + 1 - DEFAULT_WINDOW_MS, now + 1, GroupBy::Function)
        );
        let q = Query::from_params(
            [
                ("from", "2026-11-26T00:00:00Z"),
                ("to", "1795714200000"),
                ("group_by", "hour"),
            ],
            now,
        )
        .unwrap();
        assert_eq!(q.from_ms, 1_795_651_200_000);
        assert_eq!(q.to_ms, T0);
        assert_eq!(q.group_by, GroupBy::Hour);
        let q = Query::from_params([("from", "2026-11-26T01:00:00+01:00")], now).unwrap();
        assert_eq!(q.from_ms, 1_795_651_200_000);
        for (params, needle) in [
            (vec![("group_by", "week")], "group_by"),
            (vec![("from", "yesterday")], "from"),
            (vec![("to", "-5")], "to"),
            (vec![("from", "99999999999999999999")], "from"),
            (
                vec![("from", "1795714200001"), ("to", "1795714200000")],
                "later",
            ),
            (vec![("groupBy", "day")], "groupBy"),
        ] {
            let e = Query::from_params(params, now).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn times_format_as_rfc3339() {
        assert_eq!(format_ms(T0), "2026-11-26T17:30:00Z");
        assert_eq!(format_ms(T0 + 5), "2026-11-26T17:30:00.005Z");
    }
}
