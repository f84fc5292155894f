//! The price table. Defaults are AWS Lambda's published on-demand prices in us-east-1 at their
//! first tier (the first 6 billion GB-seconds a month); Stratus does not apply later tiers,
//! the free tier or Savings Plans.

use serde::{Deserialize, Serialize};

use crate::record::Record;

/// Prices in USD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prices {
    /// Per million requests.
    pub request_per_million: f64,
    /// Per GB-second of x86_64 duration.
    pub x86_64_gb_second: f64,
    /// Per GB-second of arm64 duration.
    pub arm64_gb_second: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            request_per_million: 0.20,
            x86_64_gb_second: 0.000_016_666_7,
            arm64_gb_second: 0.000_013_333_4,
        }
    }
}

impl Prices {
    /// Rejects prices that could not be meant (negative, NaN, infinite).
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("request_per_million", self.request_per_million),
            ("x86_64_gb_second", self.x86_64_gb_second),
            ("arm64_gb_second", self.arm64_gb_second),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!(
                    "pricing.{name} must be a non-negative number, not {v}"
                ));
            }
        }
        Ok(())
    }

    pub fn gb_second(&self, architecture: &str) -> f64 {
        match architecture {
            "arm64" => self.arm64_gb_second,
            _ => self.x86_64_gb_second,
        }
    }

    /// What one record costs: (request, compute). A throttle costs nothing.
    pub fn cost(&self, r: &Record) -> (f64, f64) {
        if !r.outcome.ran() {
            return (0.0, 0.0);
        }
        (
            self.request_per_million / 1_000_000.0,
            r.gb_seconds() * self.gb_second(&r.architecture),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, Trigger};

    fn rec(billed_ms: u64, memory_mb: u32, arch: &str, outcome: Outcome) -> Record {
        Record {
            request_id: "r".into(),
            function: "f".into(),
            version: "$LATEST".into(),
            alias: None,
            trigger: Trigger::Direct,
            start_ms: 0,
            duration_ms: billed_ms as f64,
            billed_ms,
            init_duration_ms: None,
            memory_mb,
            max_memory_mb: 0,
            architecture: arch.into(),
            outcome,
            cold: false,
        }
    }

    #[test]
    fn one_gb_second_costs_the_listed_price() {
        let p = Prices::default();
        let (req, compute) = p.cost(&rec(1000, 1024, "x86_64", Outcome::Success));
        assert!((req - 0.000_000_2).abs() < 1e-15);
        assert!((compute - 0.000_016_666_7).abs() < 1e-15);
        let (_, arm) = p.cost(&rec(2000, 512, "arm64", Outcome::FunctionError));
        assert!((arm - 0.000_013_333_4).abs() < 1e-15);
    }

    #[test]
    fn throttles_are_free_and_bad_prices_rejected() {
        assert_eq!(
            Prices::default().cost(&rec(0, 128, "x86_64", Outcome::Throttled)),
            (0.0, 0.0)
        );
        let bad = Prices {
            arm64_gb_second: -1.0,
            ..Prices::default()
        };
        assert!(bad.validate().unwrap_err().contains("arm64_gb_second"));
        assert!(Prices::default().validate().is_ok());
    }
}
