//! How a deployment configuration moves a Lambda alias's traffic: all at once, a canary (a
//! share, then the rest after an interval), or linear steps (a share more every interval), and
//! the weight each gives the target version at a moment. Intervals are in minutes, each
//! `minute_ms` long (60000, shortened only for demonstrations and tests).

use serde_json::{json, Value};

/// A configuration's `trafficRoutingConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    AllAtOnce,
    Canary { percent: u32, minutes: u32 },
    Linear { percent: u32, minutes: u32 },
}

/// The predefined Lambda configurations, by name.
pub const PREDEFINED: &[(&str, Routing)] = &[
    ("CodeDeployDefault.LambdaAllAtOnce", Routing::AllAtOnce),
    ("CodeDeployDefault.LambdaCanary10Percent5Minutes", canary(5)),
    (
        "CodeDeployDefault.LambdaCanary10Percent10Minutes",
        canary(10),
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent15Minutes",
        canary(15),
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        canary(30),
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        linear(1),
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        linear(2),
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
        linear(3),
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
        linear(10),
    ),
];

const fn canary(minutes: u32) -> Routing {
    Routing::Canary {
        percent: 10,
        minutes,
    }
}

const fn linear(minutes: u32) -> Routing {
    Routing::Linear {
        percent: 10,
        minutes,
    }
}

/// The predefined configuration named `name`.
pub fn predefined(name: &str) -> Option<Routing> {
    PREDEFINED.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// AWS's message for a traffic routing configuration it refuses.
pub const INVALID: &str = "The traffic routing configuration is invalid.";

impl Routing {
    /// Reads a `trafficRoutingConfig` (absent: all at once); `Err` with the reason when its
    /// type and members disagree or a value is out of range.
    pub fn of(cfg: Option<&Value>) -> Result<Routing, String> {
        let Some(cfg) = cfg else {
            return Ok(Routing::AllAtOnce);
        };
        let member = |key: &str, pct: &str, int: &str| -> Result<(u32, u32), String> {
            let m = &cfg[key];
            let percent = m[pct].as_u64().filter(|p| (1..=99).contains(p));
            let minutes = m[int].as_u64().filter(|i| (1..=2880).contains(i));
            match (percent, minutes) {
                (Some(p), Some(i)) => Ok((p as u32, i as u32)),
                _ => Err(format!(
                    "{key} needs {pct} between 1 and 99 and {int} in minutes"
                )),
            }
        };
        match cfg["type"].as_str() {
            Some("AllAtOnce") | None => Ok(Routing::AllAtOnce),
            Some("TimeBasedCanary") => {
                let (percent, minutes) =
                    member("timeBasedCanary", "canaryPercentage", "canaryInterval")?;
                Ok(Routing::Canary { percent, minutes })
            }
            Some("TimeBasedLinear") => {
                let (percent, minutes) =
                    member("timeBasedLinear", "linearPercentage", "linearInterval")?;
                Ok(Routing::Linear { percent, minutes })
            }
            Some(other) => Err(format!("unknown traffic routing type {other}")),
        }
    }

    /// The `trafficRoutingConfig` AWS renders.
    pub fn to_json(&self) -> Value {
        match *self {
            Routing::AllAtOnce => json!({"type": "AllAtOnce"}),
            Routing::Canary { percent, minutes } => json!({
                "type": "TimeBasedCanary",
                "timeBasedCanary": {"canaryPercentage": percent, "canaryInterval": minutes},
            }),
            Routing::Linear { percent, minutes } => json!({
                "type": "TimeBasedLinear",
                "timeBasedLinear": {"linearPercentage": percent, "linearInterval": minutes},
            }),
        }
    }

    /// The target version's share of traffic, in percent, `elapsed_ms` after traffic began
    /// to move: 100 once the schedule is over.
    pub fn weight_at(&self, elapsed_ms: i64, minute_ms: i64) -> u32 {
        let elapsed = elapsed_ms.max(0);
        match *self {
            Routing::AllAtOnce => 100,
            Routing::Canary { percent, minutes } => {
                if elapsed < interval(minutes, minute_ms) {
                    percent
                } else {
                    100
                }
            }
            Routing::Linear { percent, minutes } => {
                let steps = elapsed / interval(minutes, minute_ms) + 1;
                (i64::from(percent) * steps).min(100) as u32
            }
        }
    }

    /// How long after traffic began to move the weight next changes, if it still will.
    pub fn next_change(&self, elapsed_ms: i64, minute_ms: i64) -> Option<i64> {
        if self.weight_at(elapsed_ms, minute_ms) >= 100 {
            return None;
        }
        let (Routing::Canary { minutes, .. } | Routing::Linear { minutes, .. }) = *self else {
            return None;
        };
        let step = interval(minutes, minute_ms);
        Some((elapsed_ms.max(0) / step + 1) * step)
    }
}

fn interval(minutes: u32, minute_ms: i64) -> i64 {
    (i64::from(minutes) * minute_ms.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_moves_its_share_then_the_rest() {
        let r = predefined("CodeDeployDefault.LambdaCanary10Percent5Minutes").unwrap();
        assert_eq!(r.weight_at(0, 1000), 10);
        assert_eq!(r.weight_at(4999, 1000), 10);
        assert_eq!(r.next_change(10, 1000), Some(5000));
        assert_eq!(r.weight_at(5000, 1000), 100);
        assert_eq!(r.next_change(5000, 1000), None);
    }

    #[test]
    fn linear_adds_a_share_every_interval() {
        let r = Routing::Linear {
            percent: 30,
            minutes: 2,
        };
        let w: Vec<u32> = [0, 1999, 2000, 4000, 6000]
            .iter()
            .map(|t| r.weight_at(*t, 1000))
            .collect();
        assert_eq!(w, vec![30, 30, 60, 90, 100]);
    }

    #[test]
    fn configs_are_read_and_rendered_alike() {
        let c = json!({"type": "TimeBasedCanary",
            "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 3}});
        let r = Routing::of(Some(&c)).unwrap();
        assert_eq!(r.to_json(), c);
        let bad = json!({"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 0}});
        assert!(Routing::of(Some(&bad)).is_err());
        assert_eq!(Routing::of(None).unwrap(), Routing::AllAtOnce);
    }
}
