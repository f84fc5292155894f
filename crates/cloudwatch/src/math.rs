//! Metric math, the arithmetic subset: `+ - * /`, parentheses, numbers and the ids of other
//! queries (`100 * errors / invocations`), for GetMetricData and metric-math alarms alike.
//!
//! As in CloudWatch, two series combine only at the timestamps where both have a point (a
//! period one of them has no data for is missing from the result, and an alarm treats it as
//! `TreatMissingData` says), a number applies to every point, and a result that is not a
//! real number (a division by zero, `0 / 0`) is dropped rather than returned. Functions
//! (`SUM(...)`, `FILL(...)`) are refused.

use std::collections::BTreeMap;

/// Period start → value.
pub type Series = BTreeMap<i64, f64>;

const MAX_LEN: usize = 2048;
const MAX_DEPTH: usize = 32;

enum Val {
    Num(f64),
    Series(Series),
}

struct Parser<'a> {
    src: &'a [u8],
    at: usize,
    depth: usize,
    series: &'a BTreeMap<String, Series>,
}

/// Evaluates `expr` over the series computed so far, by query id.
pub fn evaluate(expr: &str, series: &BTreeMap<String, Series>) -> Result<Series, String> {
    if expr.len() > MAX_LEN {
        return Err(format!(
            "the expression is longer than {MAX_LEN} characters"
        ));
    }
    let mut p = Parser {
        src: expr.as_bytes(),
        at: 0,
        depth: 0,
        series,
    };
    let v = p.expr()?;
    p.skip_space();
    if p.at < p.src.len() {
        return Err(format!("unexpected '{}'", p.src[p.at] as char));
    }
    Ok(match v {
        Val::Series(s) => s,
        Val::Num(_) => Series::new(),
    })
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.src.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.src.get(self.at).copied()
    }

    fn expr(&mut self) -> Result<Val, String> {
        let mut left = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.at += 1;
            left = combine(left, self.term()?, op);
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Val, String> {
        let mut left = self.factor()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            self.at += 1;
            left = combine(left, self.factor()?, op);
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Val, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("the expression is nested too deeply".into());
        }
        let v = self.atom();
        self.depth -= 1;
        v
    }

    fn atom(&mut self) -> Result<Val, String> {
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                let v = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err("missing ')'".into());
                }
                self.at += 1;
                Ok(v)
            }
            Some(b'-') => {
                self.at += 1;
                Ok(combine(Val::Num(0.0), self.factor()?, b'-'))
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => self.number(),
            Some(c) if c.is_ascii_alphabetic() => self.name(),
            Some(c) => Err(format!("unexpected '{}'", c as char)),
            None => Err("the expression ends too soon".into()),
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &str {
        let start = self.at;
        while self.src.get(self.at).is_some_and(|c| f(*c)) {
            self.at += 1;
        }
        std::str::from_utf8(&self.src[start..self.at]).unwrap_or("")
    }

    fn number(&mut self) -> Result<Val, String> {
        let text = self.take_while(|c| c.is_ascii_digit() || c == b'.');
        text.parse()
            .map(Val::Num)
            .map_err(|_| format!("'{text}' is not a number"))
    }

    fn name(&mut self) -> Result<Val, String> {
        let id = self
            .take_while(|c| c.is_ascii_alphanumeric() || c == b'_')
            .to_string();
        if self.peek() == Some(b'(') {
            return Err(format!("the function {id} is not supported"));
        }
        self.series
            .get(&id)
            .cloned()
            .map(Val::Series)
            .ok_or_else(|| format!("unknown id '{id}'"))
    }
}

fn apply(a: f64, b: f64, op: u8) -> Option<f64> {
    let v = match op {
        b'+' => a + b,
        b'-' => a - b,
        b'*' => a * b,
        _ => a / b,
    };
    v.is_finite().then_some(v)
}

fn combine(a: Val, b: Val, op: u8) -> Val {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => Val::Num(apply(x, y, op).unwrap_or(f64::NAN)),
        (Val::Series(s), Val::Num(y)) => Val::Series(
            s.into_iter()
                .filter_map(|(t, x)| Some((t, apply(x, y, op)?)))
                .collect(),
        ),
        (Val::Num(x), Val::Series(s)) => Val::Series(
            s.into_iter()
                .filter_map(|(t, y)| Some((t, apply(x, y, op)?)))
                .collect(),
        ),
        (Val::Series(s), Val::Series(r)) => Val::Series(
            s.into_iter()
                .filter_map(|(t, x)| Some((t, apply(x, *r.get(&t)?, op)?)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(points: &[(i64, f64)]) -> Series {
        points.iter().copied().collect()
    }

    #[test]
    fn arithmetic_over_series() {
        let mut by_id = BTreeMap::new();
        by_id.insert("errors".to_string(), s(&[(0, 1.0), (60, 0.0), (120, 2.0)]));
        by_id.insert(
            "invocations".to_string(),
            s(&[(0, 4.0), (60, 0.0), (120, 8.0)]),
        );
        let rate = evaluate("100 * errors / invocations", &by_id).unwrap();
        assert_eq!(rate, s(&[(0, 25.0), (120, 25.0)]));
        assert_eq!(evaluate("-(errors + 1) * 2", &by_id).unwrap()[&0], -4.0);
        for bad in ["errors +", "SUM(errors)", "nope", "errors ) ", "1 $ 2"] {
            assert!(evaluate(bad, &by_id).is_err(), "{bad}");
        }
        let deep_ok = format!("{}errors{}", "(".repeat(20), ")".repeat(20));
        assert!(evaluate(&deep_ok, &by_id).is_ok());
        let deep = format!("{}errors{}", "(".repeat(1000), ")".repeat(1000));
        assert!(evaluate(&deep, &by_id).is_err());
    }

    #[test]
    fn division_by_zero_and_missing_points_leave_gaps() {
        let mut by_id = BTreeMap::new();
        by_id.insert("a".to_string(), s(&[(0, 1.0), (60, 0.0), (120, 5.0)]));
        by_id.insert("b".to_string(), s(&[(0, 0.0), (60, 0.0), (180, 1.0)]));
        // 1/0 and 0/0 are not numbers; 120 and 180 are in one series only.
        assert_eq!(evaluate("a / b", &by_id).unwrap(), Series::new());
        assert_eq!(
            evaluate("a + b", &by_id).unwrap(),
            s(&[(0, 1.0), (60, 0.0)])
        );
        assert_eq!(evaluate("a / 0", &by_id).unwrap(), Series::new());
        assert_eq!(evaluate("(a - 1) * 2 + 0.5", &by_id).unwrap()[&120], 8.5);
        assert_eq!(
            evaluate("7", &by_id).unwrap(),
            Series::new(),
            "no timestamps to carry it"
        );
    }
}
