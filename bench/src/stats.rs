//! Latency summaries. Every sample is kept (runs are bounded, so this is at most a few MB) and
//! sorted once; percentiles are nearest-rank.

use serde::Serialize;
use std::time::Duration;

/// Percentiles of a set of durations, in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub count: usize,
    pub min_us: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// `[upper bound µs, count]` pairs on a 1-2-5 scale; empty buckets are left out.
    pub histogram_us: Vec<(u64, usize)>,
}

fn us(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1000.0 * 10.0).round() / 10.0
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=1).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Upper bounds 1, 2, 5, 10, 20, 50 … µs.
fn bucket_bounds() -> impl Iterator<Item = u64> {
    (0..10u32).flat_map(|e| [1u64, 2, 5].map(|m| m * 10u64.pow(e)))
}

fn histogram(sorted: &[Duration]) -> Vec<(u64, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    for bound in bucket_bounds() {
        let start = i;
        while i < sorted.len() && sorted[i].as_micros() as u64 <= bound {
            i += 1;
        }
        if i > start {
            out.push((bound, i - start));
        }
        if i == sorted.len() {
            break;
        }
    }
    out
}

impl Summary {
    pub fn of(mut samples: Vec<Duration>) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        Summary {
            count: samples.len(),
            min_us: us(samples[0]),
            mean_us: us(total / samples.len() as u32),
            p50_us: us(percentile(&samples, 0.50)),
            p90_us: us(percentile(&samples, 0.90)),
            p95_us: us(percentile(&samples, 0.95)),
            p99_us: us(percentile(&samples, 0.99)),
            p999_us: us(percentile(&samples, 0.999)),
            max_us: us(*samples.last().expect("not empty")),
            histogram_us: histogram(&samples),
        }
    }
}

/// CPU time this process has used (user + system).
pub fn own_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let clk = 100; // USER_HZ on Linux
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / clk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_micros(*m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = Summary::of(ms(&(1..=100).collect::<Vec<_>>()));
        assert_eq!(s.count, 100);
        assert_eq!(s.p50_us, 50.0);
        assert_eq!(s.p99_us, 99.0);
        assert_eq!(s.max_us, 100.0);
        assert_eq!(s.min_us, 1.0);
    }

    #[test]
    fn histogram_counts_every_sample() {
        let s = Summary::of(ms(&[1, 3, 7, 150, 90_000]));
        let n: usize = s.histogram_us.iter().map(|(_, c)| c).sum();
        assert_eq!(n, 5);
        assert_eq!(s.histogram_us[0], (1, 1));
        assert_eq!(s.histogram_us.last().unwrap().0, 100_000);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Summary::of(vec![]).count, 0);
    }
}
