//! Prometheus metrics: counters and histograms kept in memory since the process started, fed
//! by the same records as metering, and gauges read when scraped. Rendered in the text
//! exposition format 0.0.4.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::record::{Outcome, Record};

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the duration histogram's buckets.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];
/// Upper bounds (seconds) of the init-duration histogram's buckets.
const INIT_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last is above every bound.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    fn observe(&mut self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.sum += v;
    }
}

/// Everything counted for one function version.
struct Series {
    /// Invocations that ran, by outcome (indexed as [`Outcome::ALL`]; throttles are counted
    /// apart).
    outcomes: [u64; 5],
    throttles: u64,
    /// Invocations stopped as part of a recursive loop (AWS's `RecursiveInvocationsDropped`).
    recursive_drops: u64,
    cold_starts: u64,
    billed_gb_seconds: f64,
    duration: Histogram,
    init: Histogram,
}

impl Default for Series {
    fn default() -> Series {
        Series {
            outcomes: [0; 5],
            throttles: 0,
            recursive_drops: 0,
            cold_starts: 0,
            billed_gb_seconds: 0.0,
            duration: Histogram::new(DURATION_BUCKETS),
            init: Histogram::new(INIT_BUCKETS),
        }
    }
}

/// The process-lifetime counters.
#[derive(Default)]
pub struct Live {
    /// Function → version → series (nested so a lookup borrows the names, allocating nothing).
    series: Mutex<BTreeMap<String, BTreeMap<String, Series>>>,
}

impl Live {
    /// Runs `f` on the series of a function version, made if it is new.
    fn with_series(&self, function: &str, version: &str, f: impl FnOnce(&mut Series)) {
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if !all.contains_key(function) {
            all.insert(function.to_string(), BTreeMap::new());
        }
        let versions = all.get_mut(function).expect("just inserted");
        if !versions.contains_key(version) {
            versions.insert(version.to_string(), Series::default());
        }
        f(versions.get_mut(version).expect("just inserted"))
    }

    /// Counts an invocation stopped because its chain looped.
    pub fn recursion_dropped(&self, function: &str, version: &str) {
        self.with_series(function, version, |s| s.recursive_drops += 1);
    }

    pub fn observe(&self, r: &Record) {
        self.with_series(&r.function, &r.version, |s| Self::count(s, r));
    }

    fn count(s: &mut Series, r: &Record) {
        if !r.outcome.ran() {
            s.throttles += 1;
            return;
        }
        let i = Outcome::ALL
            .iter()
            .position(|o| *o == r.outcome)
            .unwrap_or(0);
        s.outcomes[i] += 1;
        s.cold_starts += u64::from(r.cold);
        s.billed_gb_seconds += r.gb_seconds();
        s.duration.observe(r.duration_ms / 1000.0);
        if let Some(init) = r.init_duration_ms {
            s.init.observe(init / 1000.0);
        }
    }
}

/// Environments of one function version, by state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentGauge {
    pub function: String,
    pub version: String,
    pub idle: usize,
    pub busy: usize,
}

/// What is read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub environments: Vec<EnvironmentGauge>,
    pub async_queue_depth: u64,
    pub async_oldest_event_age_seconds: f64,
    /// Records the metering writer could not take (its queue was full).
    pub dropped_records: u64,
    /// In a cluster, this node's id: every series then carries it as the `node` label, so
    /// the nodes' scrapes stay apart once collected. Unset on a single node, whose output
    /// stays as it was.
    pub node: Option<String>,
}

/// A label value, escaped as the format requires.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, fv: &[(&str, &str)], h: &Histogram) {
    let mut cumulative = 0;
    for (i, count) in h.counts.iter().enumerate() {
        cumulative += count;
        let le = h
            .bounds
            .get(i)
            .map_or("+Inf".to_string(), |b| b.to_string());
        let mut l = fv.to_vec();
        l.push(("le", &le));
        let _ = writeln!(out, "{name}_bucket{} {cumulative}", labels(&l));
    }
    let _ = writeln!(out, "{name}_sum{} {}", labels(fv), h.sum);
    let _ = writeln!(out, "{name}_count{} {cumulative}", labels(fv));
}

/// A counter family: name, help, and its value in a series.
type Counter = (&'static str, &'static str, fn(&Series) -> String);

/// The whole exposition.
pub fn render(live: &Live, g: &Gauges) -> String {
    let all = live.series.lock().unwrap_or_else(|p| p.into_inner());
    let rows: Vec<([(&str, &str); 2], &Series)> = all
        .iter()
        .flat_map(|(f, versions)| {
            versions
                .iter()
                .map(move |(v, s)| ([("function", f.as_str()), ("version", v.as_str())], s))
        })
        .collect();
    let mut out = String::new();
    family(
        &mut out,
        "stratus_invocations_total",
        "counter",
        "Invocations that ran, by outcome (throttled requests are in stratus_throttles_total).",
    );
    for (fv, s) in &rows {
        for (i, o) in Outcome::ALL.iter().enumerate().filter(|(_, o)| o.ran()) {
            let l = labels(&[fv[0], fv[1], ("outcome", o.as_str())]);
            let _ = writeln!(out, "stratus_invocations_total{l} {}", s.outcomes[i]);
        }
    }
    let counters: [Counter; 5] = [
        (
            "stratus_errors_total",
            "Invocations that ended in a function error, a timeout or a crash.",
            |s| errors(s).to_string(),
        ),
        (
            "stratus_throttles_total",
            "Invocation requests refused for lack of concurrency (not run, not charged).",
            |s| s.throttles.to_string(),
        ),
        (
            "stratus_recursive_invocations_dropped_total",
            "Invocations stopped because their chain of events looped (AWS's RecursiveInvocationsDropped).",
            |s| s.recursive_drops.to_string(),
        ),
        (
            "stratus_cold_starts_total",
            "Invocations that started a new execution environment.",
            |s| s.cold_starts.to_string(),
        ),
        (
            "stratus_billed_gb_seconds_total",
            "Billed duration times configured memory, in GB-seconds.",
            |s| s.billed_gb_seconds.to_string(),
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        for (fv, s) in &rows {
            let _ = writeln!(out, "{name}{} {}", labels(fv), value(s));
        }
    }
    family(
        &mut out,
        "stratus_duration_seconds",
        "histogram",
        "Duration of the invocations that ran.",
    );
    for (fv, s) in &rows {
        histogram(&mut out, "stratus_duration_seconds", fv, &s.duration);
    }
    family(
        &mut out,
        "stratus_init_duration_seconds",
        "histogram",
        "Init duration of cold starts.",
    );
    for (fv, s) in &rows {
        histogram(&mut out, "stratus_init_duration_seconds", fv, &s.init);
    }
    drop(rows);
    drop(all);
    render_gauges(&mut out, g);
    match &g.node {
        Some(node) => label_every_series(&out, "node", node),
        None => out,
    }
}

/// `text` with the label `name="value"` first on every sample line (comment lines are left
/// as they are). A sample line is `metric{labels} value` or `metric value`; metric names hold
/// neither `{` nor spaces, so the first of those ends the name.
fn label_every_series(text: &str, name: &str, value: &str) -> String {
    let label = format!("{name}=\"{}\"", escape(value));
    let mut out = String::with_capacity(text.len() + text.lines().count() * (label.len() + 3));
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            out.push_str(line);
        } else {
            match line.find(['{', ' ']) {
                Some(i) if line[i..].starts_with("{}") => {
                    let _ = write!(out, "{}{{{label}}}{}", &line[..i], &line[i + 2..]);
                }
                Some(i) if line[i..].starts_with('{') => {
                    let _ = write!(out, "{}{{{label},{}", &line[..i], &line[i + 1..]);
                }
                Some(i) => {
                    let _ = write!(out, "{}{{{label}}}{}", &line[..i], &line[i..]);
                }
                None => out.push_str(line),
            }
        }
        out.push('\n');
    }
    out
}

fn errors(s: &Series) -> u64 {
    Outcome::ALL
        .iter()
        .zip(s.outcomes)
        .filter(|(o, _)| o.is_error())
        .map(|(_, n)| n)
        .sum()
}

fn render_gauges(out: &mut String, g: &Gauges) {
    let mut running: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &g.environments {
        *running.entry(&e.function).or_default() += e.busy;
    }
    family(
        out,
        "stratus_concurrent_executions",
        "gauge",
        "Invocations of the function running now.",
    );
    for (function, n) in running {
        let _ = writeln!(
            out,
            "stratus_concurrent_executions{} {n}",
            labels(&[("function", function)])
        );
    }
    family(
        out,
        "stratus_environments",
        "gauge",
        "Execution environments by state (busy includes those starting).",
    );
    for e in &g.environments {
        for (state, n) in [("idle", e.idle), ("busy", e.busy)] {
            let l = labels(&[
                ("function", &e.function),
                ("version", &e.version),
                ("state", state),
            ]);
            let _ = writeln!(out, "stratus_environments{l} {n}");
        }
    }
    family(
        out,
        "stratus_async_queue_depth",
        "gauge",
        "Asynchronous events queued or running.",
    );
    let _ = writeln!(out, "stratus_async_queue_depth {}", g.async_queue_depth);
    family(
        out,
        "stratus_async_oldest_event_age_seconds",
        "gauge",
        "Age of the oldest queued asynchronous event (0 when the queue is empty).",
    );
    let _ = writeln!(
        out,
        "stratus_async_oldest_event_age_seconds {}",
        g.async_oldest_event_age_seconds
    );
    family(
        out,
        "stratus_metering_dropped_records_total",
        "counter",
        "Metering records lost because the writer's queue was full.",
    );
    let _ = writeln!(
        out,
        "stratus_metering_dropped_records_total {}",
        g.dropped_records
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Trigger;

    fn rec(function: &str, outcome: Outcome, ms: f64, init: Option<f64>) -> Record {
        Record {
            request_id: "r".into(),
            function: function.into(),
            version: "$LATEST".into(),
            alias: None,
            trigger: Trigger::Direct,
            start_ms: 0,
            duration_ms: ms,
            billed_ms: if outcome.ran() {
                crate::record::billed_ms(std::time::Duration::from_secs_f64(ms / 1000.0))
            } else {
                0
            },
            init_duration_ms: init,
            memory_mb: 2048,
            max_memory_mb: 10,
            architecture: "x86_64".into(),
            outcome,
            cold: init.is_some(),
        }
    }

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
    }

    #[test]
    fn counters_and_histograms_render() {
        let live = Live::default();
        live.observe(&rec("f", Outcome::Success, 3.0, Some(200.0)));
        live.observe(&rec("f", Outcome::Timeout, 2000.0, None));
        live.observe(&rec("f", Outcome::Throttled, 0.0, None));
        live.recursion_dropped("f", "$LATEST");
        let text = render(&live, &Gauges::default());
        let fv = "{function=\"f\",version=\"$LATEST\"";
        assert_eq!(
            line(
                &text,
                &format!("stratus_recursive_invocations_dropped_total{fv}}}")
            ),
            "1"
        );
        assert_eq!(
            line(
                &text,
                &format!("stratus_invocations_total{fv},outcome=\"success\"}}")
            ),
            "1"
        );
        assert_eq!(
            line(
                &text,
                &format!("stratus_invocations_total{fv},outcome=\"timeout\"}}")
            ),
            "1"
        );
        assert!(!text.contains("outcome=\"throttled\""));
        assert_eq!(line(&text, &format!("stratus_errors_total{fv}}}")), "1");
        assert_eq!(line(&text, &format!("stratus_throttles_total{fv}}}")), "1");
        assert_eq!(
            line(&text, &format!("stratus_cold_starts_total{fv}}}")),
            "1"
        );
        // (3 ms + 2000 ms) at 2 GB.
        assert_eq!(
            line(&text, &format!("stratus_billed_gb_seconds_total{fv}}}")),
            "4.006"
        );
        assert_eq!(
            line(
                &text,
                &format!("stratus_duration_seconds_bucket{fv},le=\"0.005\"}}")
            ),
            "1"
        );
        assert_eq!(
            line(
                &text,
                &format!("stratus_duration_seconds_bucket{fv},le=\"2.5\"}}")
            ),
            "2"
        );
        assert_eq!(
            line(
                &text,
                &format!("stratus_duration_seconds_bucket{fv},le=\"+Inf\"}}")
            ),
            "2"
        );
        assert_eq!(
            line(&text, &format!("stratus_duration_seconds_count{fv}}}")),
            "2"
        );
        assert_eq!(
            line(
                &text,
                &format!("stratus_init_duration_seconds_bucket{fv},le=\"0.1\"}}")
            ),
            "0"
        );
        assert_eq!(
            line(
                &text,
                &format!("stratus_init_duration_seconds_bucket{fv},le=\"0.25\"}}")
            ),
            "1"
        );
        assert!(text.contains("# TYPE stratus_duration_seconds histogram\n"));
    }

    #[test]
    fn a_node_label_goes_first_on_every_series_and_nowhere_else() {
        let live = Live::default();
        live.observe(&rec("f", Outcome::Success, 3.0, Some(200.0)));
        let g = Gauges {
            environments: vec![EnvironmentGauge {
                function: "f".into(),
                version: "1".into(),
                idle: 1,
                busy: 0,
            }],
            ..Gauges::default()
        };
        let plain = render(&live, &g);
        let labelled = render(
            &live,
            &Gauges {
                node: Some("n\"1".into()),
                ..g
            },
        );
        assert!(
            !plain.contains("node="),
            "a single node's output is unchanged"
        );
        assert_eq!(plain.lines().count(), labelled.lines().count());
        for (p, l) in plain.lines().zip(labelled.lines()) {
            if p.starts_with('#') {
                assert_eq!(p, l);
                continue;
            }
            assert!(l.contains("{node=\"n\\\"1\""), "{l}");
            // Removing the label gives the plain line back.
            let back = l
                .replace("{node=\"n\\\"1\",", "{")
                .replace("{node=\"n\\\"1\"}", "");
            assert_eq!(back, p);
        }
        assert_eq!(
            line(&labelled, "stratus_async_queue_depth{node=\"n\\\"1\"}"),
            "0"
        );
        assert_eq!(
            line(
                &labelled,
                "stratus_invocations_total{node=\"n\\\"1\",function=\"f\",version=\"$LATEST\",outcome=\"success\"}"
            ),
            "1"
        );
    }

    #[test]
    fn gauges_render_and_labels_escape() {
        let g = Gauges {
            environments: vec![
                EnvironmentGauge {
                    function: "a\"b\\c\nd".into(),
                    version: "1".into(),
                    idle: 2,
                    busy: 1,
                },
                EnvironmentGauge {
                    function: "a\"b\\c\nd".into(),
                    version: "2".into(),
                    idle: 0,
                    busy: 3,
                },
            ],
            async_queue_depth: 4,
            async_oldest_event_age_seconds: 1.5,
            dropped_records: 0,
            node: None,
        };
        let text = render(&Live::default(), &g);
        let f = r#"function="a\"b\\c\nd""#;
        assert_eq!(
            line(&text, &format!("stratus_concurrent_executions{{{f}}}")),
            "4"
        );
        assert_eq!(
            line(
                &text,
                &format!("stratus_environments{{{f},version=\"1\",state=\"idle\"}}")
            ),
            "2"
        );
        assert_eq!(
            line(
                &text,
                &format!("stratus_environments{{{f},version=\"2\",state=\"busy\"}}")
            ),
            "3"
        );
        assert_eq!(line(&text, "stratus_async_queue_depth "), "4");
        assert_eq!(
            line(&text, "stratus_async_oldest_event_age_seconds "),
            "1.5"
        );
    }
}
