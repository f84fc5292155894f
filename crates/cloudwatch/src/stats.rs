//! Statistics over the samples of one period: CloudWatch's five plain statistics and
//! percentiles (`p99`, `p99.9`), from raw values where there are some.

/// One observation: a single value (count 1), a value seen `count` times, or a statistic set
/// (PutMetricData's `StatisticValues`, which has no raw values and so no percentiles).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub ts_ms: i64,
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// `(value, count)` pairs; empty for a statistic set.
    pub values: Vec<(f64, f64)>,
}

impl Sample {
    /// One value seen once.
    pub fn one(ts_ms: i64, value: f64) -> Sample {
        Sample {
            ts_ms,
            count: 1.0,
            sum: value,
            min: value,
            max: value,
            values: vec![(value, 1.0)],
        }
    }
}

/// What one period's samples add up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucket {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    values: Vec<(f64, f64)>,
    /// Whether every sample carried its values (else percentiles are unknown).
    raw: bool,
}

impl Bucket {
    pub fn add(&mut self, s: &Sample) {
        if self.count == 0.0 {
            self.min = s.min;
            self.max = s.max;
            self.raw = true;
        } else {
            self.min = self.min.min(s.min);
            self.max = self.max.max(s.max);
        }
        self.count += s.count;
        self.sum += s.sum;
        // A statistic set whose minimum and maximum agree is as good as raw values (AWS's rule).
        if !s.values.is_empty() {
            self.values.extend_from_slice(&s.values);
        } else if s.min == s.max {
            self.values.push((s.min, s.count));
        } else {
            self.raw = false;
        }
    }

    /// A statistic by name (`Sum`, `p99`...); `None` when it cannot be computed.
    pub fn stat(&mut self, name: &str) -> Option<f64> {
        if self.count == 0.0 {
            return None;
        }
        match name {
            "SampleCount" => Some(self.count),
            "Sum" => Some(self.sum),
            "Average" => Some(self.sum / self.count),
            "Minimum" => Some(self.min),
            "Maximum" => Some(self.max),
            other => self.percentile(parse_percentile(other)?),
        }
    }

    /// The nearest-rank percentile over the (weighted) raw values; unknown without raw values
    /// or with a negative one, as on AWS.
    fn percentile(&mut self, p: f64) -> Option<f64> {
        if !self.raw || self.values.iter().any(|(v, _)| *v < 0.0) {
            return None;
        }
        self.values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = self.values.iter().map(|(_, c)| c).sum();
        let rank = (p / 100.0 * total).ceil().max(1.0);
        let mut seen = 0.0;
        for (v, c) in &self.values {
            seen += c;
            if seen >= rank {
                return Some(*v);
            }
        }
        self.values.last().map(|(v, _)| *v)
    }
}

/// The plain statistics AWS names.
pub const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// `pNN` or `pNN.N…` (0 to 100, at most 10 decimals) as a percentile.
pub fn parse_percentile(s: &str) -> Option<f64> {
    let n = s.strip_prefix('p')?;
    let (int, frac) = n.split_once('.').unwrap_or((n, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 3 || !digits(int) || frac.len() > 10 || !digits(frac) {
        return None;
    }
    if n.ends_with('.') {
        return None;
    }
    let p: f64 = n.parse().ok()?;
    (0.0..=100.0).contains(&p).then_some(p)
}

/// Samples gathered into periods of `period_ms` from `start_ms` (inclusive) to `end_ms`
/// (exclusive), keyed by each period's start; periods without samples are absent.
pub fn aggregate(
    samples: &[Sample],
    start_ms: i64,
    end_ms: i64,
    period_ms: i64,
) -> std::collections::BTreeMap<i64, Bucket> {
    let mut out = std::collections::BTreeMap::<i64, Bucket>::new();
    for s in samples {
        if s.ts_ms < start_ms || s.ts_ms >= end_ms {
            continue;
        }
        let at = start_ms + (s.ts_ms - start_ms) / period_ms * period_ms;
        out.entry(at).or_default().add(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_statistics_and_percentiles() {
        let samples: Vec<Sample> = (1..=100).map(|v| Sample::one(v, v as f64)).collect();
        let mut b = aggregate(&samples, 0, 1000, 1000).remove(&0).unwrap();
        assert_eq!(b.stat("SampleCount"), Some(100.0));
        assert_eq!(b.stat("Sum"), Some(5050.0));
        assert_eq!(b.stat("Average"), Some(50.5));
        assert_eq!(b.stat("Minimum"), Some(1.0));
        assert_eq!(b.stat("Maximum"), Some(100.0));
        assert_eq!(b.stat("p50"), Some(50.0));
        assert_eq!(b.stat("p99"), Some(99.0));
        assert_eq!(b.stat("p99.5"), Some(100.0));
        assert_eq!(b.stat("p100"), Some(100.0));
        assert_eq!(b.stat("Median"), None);
    }

    #[test]
    fn statistic_sets_have_no_percentiles_unless_flat() {
        let set = Sample {
            ts_ms: 0,
            count: 4.0,
            sum: 10.0,
            min: 1.0,
            max: 4.0,
            values: vec![],
        };
        let mut b = Bucket::default();
        b.add(&set);
        assert_eq!(b.stat("Average"), Some(2.5));
        assert_eq!(b.stat("p90"), None);
        let mut flat = Bucket::default();
        flat.add(&Sample {
            min: 2.0,
            max: 2.0,
            sum: 8.0,
            ..set
        });
        assert_eq!(flat.stat("p90"), Some(2.0));
    }

    #[test]
    fn periods_start_at_the_window_start() {
        let samples = [
            Sample::one(5, 1.0),
            Sample::one(64, 2.0),
            Sample::one(130, 3.0),
        ];
        let got = aggregate(&samples, 4, 124, 60);
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), vec![4, 64]);
    }

    #[test]
    fn percentile_names() {
        assert_eq!(parse_percentile("p99"), Some(99.0));
        assert_eq!(parse_percentile("p99.99"), Some(99.99));
        assert_eq!(parse_percentile("p0"), Some(0.0));
        for bad in ["p", "p101", "p9x", "P99", "p99.", "p.5", "p1000", "tm99"] {
            assert_eq!(parse_percentile(bad), None, "{bad}");
        }
    }
}
