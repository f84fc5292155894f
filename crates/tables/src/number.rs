//! DynamoDB's number: a decimal of up to 38 significant digits with a magnitude between
//! 1E-130 and 9.99…E+125, compared numerically, added exactly and written back in its
//! shortest plain form ("1.50" → "1.5", "1e3" → "1000").

use std::cmp::Ordering;

use stratus_core::Error;

const MAX_DIGITS: usize = 38;
/// Scientific exponents allowed (the value is d.ddd × 10^exp).
const MAX_EXP: i32 = 125;
const MIN_EXP: i32 = -130;

/// `digits × 10^exp`, `digits` without leading or trailing zeros (empty for zero).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number {
    neg: bool,
    digits: Vec<u8>,
    exp: i32,
}

fn not_a_number() -> Error {
    Error::validation("A value provided cannot be converted into a number")
}

impl Number {
    pub fn zero() -> Number {
        Number {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// Parses DynamoDB's number text (sign, digits, optional point, optional exponent) and
    /// checks precision and range.
    pub fn parse(text: &str) -> Result<Number, Error> {
        let s = text;
        let (neg, rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exp_part) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let mut exp: i64 = match exp_part {
            Some(e) => {
                let body = e.strip_prefix('+').unwrap_or(e);
                if body.is_empty()
                    || !body
                        .trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                {
                    return Err(not_a_number());
                }
                body.parse::<i64>().unwrap_or(if body.starts_with('-') {
                    -100_000
                } else {
                    100_000
                })
            }
            None => 0,
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(not_a_number());
        }
        let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        exp -= frac.len() as i64;
        let exp = exp.clamp(-1_000_000, 1_000_000) as i32;
        let n = Number::normalised(neg, std::mem::take(&mut digits), exp);
        n.check()?;
        Ok(n)
    }

    fn normalised(neg: bool, mut digits: Vec<u8>, mut exp: i32) -> Number {
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            return Number::zero();
        }
        Number { neg, digits, exp }
    }

    /// The exponent of the leading digit.
    fn sci_exp(&self) -> i32 {
        self.exp + self.digits.len() as i32 - 1
    }

    /// Precision and range, with AWS's messages.
    pub fn check(&self) -> Result<(), Error> {
        if self.digits.is_empty() {
            return Ok(());
        }
        if self.digits.len() > MAX_DIGITS {
            return Err(Error::validation(
                "Attempting to store more than 38 significant digits in a Number",
            ));
        }
        if self.sci_exp() > MAX_EXP {
            return Err(Error::validation(
                "Number overflow. Attempting to store a number with magnitude larger than supported range",
            ));
        }
        if self.sci_exp() < MIN_EXP {
            return Err(Error::validation(
                "Number underflow. Attempting to store a number with magnitude smaller than supported range",
            ));
        }
        Ok(())
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Number of significant digits (for item size accounting).
    pub fn precision(&self) -> usize {
        self.digits.len()
    }

    fn cmp_magnitude(&self, other: &Number) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        self.sci_exp()
            .cmp(&other.sci_exp())
            .then_with(|| self.digits.cmp(&other.digits))
    }

    /// Digits of `self` aligned to exponent `exp` (`exp` ≤ `self.exp`), least significant first.
    fn aligned(&self, exp: i32) -> Vec<u8> {
        let mut v = vec![0u8; (self.exp - exp) as usize];
        v.extend(self.digits.iter().rev());
        v
    }

    pub fn add(&self, other: &Number) -> Result<Number, Error> {
        if self.is_zero() {
            return Ok(other.clone());
        }
        if other.is_zero() {
            return Ok(self.clone());
        }
        let exp = self.exp.min(other.exp);
        if (self.exp - exp) > 400 || (other.exp - exp) > 400 {
            // Too far apart to fit 38 digits either way.
            return Err(Error::validation(
                "Attempting to store more than 38 significant digits in a Number",
            ));
        }
        let (a, b) = (self.aligned(exp), other.aligned(exp));
        let (neg, digits) = if self.neg == other.neg {
            (self.neg, add_digits(&a, &b))
        } else if self.cmp_magnitude(other) != Ordering::Less {
            (self.neg, sub_digits(&a, &b))
        } else {
            (other.neg, sub_digits(&b, &a))
        };
        let n = Number::normalised(neg, digits.into_iter().rev().collect(), exp);
        n.check()?;
        Ok(n)
    }

    pub fn neg(&self) -> Number {
        let mut n = self.clone();
        if !n.is_zero() {
            n.neg = !n.neg;
        }
        n
    }

    pub fn sub(&self, other: &Number) -> Result<Number, Error> {
        self.add(&other.neg())
    }

    /// A byte string whose memcmp order is the numeric order (for keys in SQLite's index):
    /// a sign class, the biased exponent, then the digits; negatives are complemented and
    /// terminated so that a longer mantissa sorts below its prefix.
    pub fn key_bytes(&self) -> Vec<u8> {
        if self.is_zero() {
            return vec![2];
        }
        let e = (self.sci_exp() + 1000) as u16;
        let mut out = Vec::with_capacity(self.digits.len() + 4);
        if self.neg {
            out.push(1);
            out.extend((!e).to_be_bytes());
            out.extend(self.digits.iter().map(|d| 254 - (d + 1)));
            out.push(255);
        } else {
            out.push(3);
            out.extend(e.to_be_bytes());
            out.extend(self.digits.iter().map(|d| d + 1));
        }
        out
    }
}

fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0;
    for i in 0..a.len().max(b.len()) {
        let s = a.get(i).unwrap_or(&0) + b.get(i).unwrap_or(&0) + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out
}

/// `a - b` for `a ≥ b`, least significant first.
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i8;
    for (i, &ai) in a.iter().enumerate() {
        let mut d = ai as i8 - *b.get(i).unwrap_or(&0) as i8 - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out.push(d as u8);
    }
    out
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        match (self.is_zero() || !self.neg, other.is_zero() || !other.neg) {
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (true, true) => self.cmp_magnitude(other),
            (false, false) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Number {
    /// The plain form AWS returns: no exponent, no superfluous zeros.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut s = String::with_capacity(self.digits.len() + 8);
        if self.neg {
            s.push('-');
        }
        let digits: String = self.digits.iter().map(|d| (b'0' + d) as char).collect();
        if self.exp >= 0 {
            s.push_str(&digits);
            s.extend(std::iter::repeat_n('0', self.exp as usize));
        } else {
            let point = digits.len() as i32 + self.exp;
            if point > 0 {
                s.push_str(&digits[..point as usize]);
                s.push('.');
                s.push_str(&digits[point as usize..]);
            } else {
                s.push_str("0.");
                s.extend(std::iter::repeat_n('0', (-point) as usize));
                s.push_str(&digits);
            }
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn normalises_on_output() {
        assert_eq!(n("1.50").to_string(), "1.5");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("-0.00120").to_string(), "-0.0012");
        assert_eq!(n("007").to_string(), "7");
        assert_eq!(n("-0").to_string(), "0");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("12.5E-3").to_string(), "0.0125");
    }

    #[test]
    fn rejects_bad_text_and_range() {
        for bad in ["", "abc", "1..2", "1e", "--1", "1e+", "."] {
            assert!(Number::parse(bad).is_err(), "{bad}");
        }
        assert!(Number::parse(&"1".repeat(39)).is_err());
        assert!(Number::parse(&"1".repeat(38)).is_ok());
        assert!(Number::parse("1E126").is_err());
        assert!(Number::parse("9.9999999999999999999999999999999999999E+125").is_ok());
        assert!(Number::parse("1E-130").is_ok());
        assert!(Number::parse("1E-131").is_err());
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(n("0.1").add(&n("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(n("5").sub(&n("7.5")).unwrap().to_string(), "-2.5");
        assert_eq!(n("-5").add(&n("5")).unwrap().to_string(), "0");
        assert_eq!(n("999").add(&n("1")).unwrap().to_string(), "1000");
        assert_eq!(
            n("12345678901234567890123456789012345678")
                .add(&n("1"))
                .unwrap()
                .to_string(),
            "12345678901234567890123456789012345679"
        );
    }

    #[test]
    fn order_and_key_bytes_agree() {
        let vals = [
            "-1000", "-10", "-1.5", "-1", "-0.5", "-0.0001", "0", "0.0001", "0.5", "1", "1.5", "2",
            "10", "10.01", "1000",
        ];
        for w in vals.windows(2) {
            let (a, b) = (n(w[0]), n(w[1]));
            assert!(a < b, "{a} < {b}");
            assert!(a.key_bytes() < b.key_bytes(), "bytes {a} < {b}");
        }
        assert_eq!(n("1.0"), n("1"));
    }
}
