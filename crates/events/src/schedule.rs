//! Schedule expressions: `rate(n unit)` and AWS's six-field `cron(min hour dom month dow year)`
//! for rules and schedules, and `at(yyyy-mm-ddThh:mm:ss)` for one-time schedules; each parsed
//! once and asked for the first fire time after an instant.
//!
//! Cron fields are AWS's: minutes 0-59, hours 0-23, day-of-month 1-31 (`?`, `L`, `nW`),
//! month 1-12 or JAN-DEC, day-of-week 1-7 (1 is Sunday) or SUN-SAT (`?`, `nL`, `n#k`), year
//! 1970-2199; `,` lists, `-` ranges, `/` steps, `*` all; one of the two day fields must be `?`.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, Weekday};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    /// Every `seconds`, counted from a start (a rule's creation, a schedule's start date).
    Rate {
        seconds: i64,
    },
    Cron(Box<Cron>),
    /// Once, at a local date-time (in the schedule's time zone).
    At(PrimitiveDateTime),
}

/// Why an expression was refused (the caller words the error as its API does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid;

/// The words of PutRule's refusal.
pub const RULE_MESSAGE: &str = "Parameter ScheduleExpression is not valid.";

#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    dom: DayOfMonth,
    months: Vec<bool>,
    dow: DayOfWeek,
    years: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfMonth {
    /// `?`: the day-of-week field decides.
    Unset,
    Days(Vec<bool>),
    /// `L`: the last day of the month.
    Last,
    /// `nW`: the weekday nearest day n, within the month.
    NearestWeekday(u8),
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfWeek {
    Unset,
    /// Indexed 1-7, 1 = Sunday.
    Days(Vec<bool>),
    /// `nL`: the last such weekday of the month.
    Last(u8),
    /// `n#k`: the k-th such weekday of the month.
    Nth(u8, u8),
}

const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2199;

impl Expression {
    /// Parses `rate(...)`, `cron(...)`, or with `allow_at`, `at(...)`.
    pub fn parse(text: &str, allow_at: bool) -> Result<Expression, Invalid> {
        let text = text.trim();
        if let Some(body) = inner(text, "rate") {
            return parse_rate(body);
        }
        if let Some(body) = inner(text, "cron") {
            return Cron::parse(body).map(|c| Expression::Cron(Box::new(c)));
        }
        if let Some(body) = inner(text, "at").filter(|_| allow_at) {
            let format =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            return PrimitiveDateTime::parse(body.trim(), format)
                .map(Expression::At)
                .map_err(|_| Invalid);
        }
        Err(Invalid)
    }

    /// The first fire time strictly after `after`, for a rate counted from `start`; `None` when
    /// there is none (a past `at()`, a cron whose years have all gone). Times are UTC: a
    /// schedule in another zone converts `at()` before asking (see [`Expression::at_utc`]).
    pub fn next_after(
        &self,
        after: OffsetDateTime,
        start: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        match self {
            Expression::Rate { seconds } => {
                let elapsed = (after - start).whole_seconds();
                let periods = if elapsed < 0 {
                    0
                } else {
                    elapsed / seconds + 1
                };
                start.checked_add(time::Duration::seconds(periods.checked_mul(*seconds)?))
            }
            Expression::Cron(c) => c.next_after(after),
            Expression::At(when) => {
                let when = when.assume_utc();
                (when > after).then_some(when)
            }
        }
    }

    /// Like [`Expression::next_after`], with cron fields and `at()` read as wall-clock time
    /// in `zone` (a rate is the same in every zone).
    pub fn next_after_in(
        &self,
        after: OffsetDateTime,
        start: OffsetDateTime,
        zone: &crate::zone::Zone,
    ) -> Option<OffsetDateTime> {
        let utc = |local: OffsetDateTime| {
            OffsetDateTime::from_unix_timestamp(zone.to_utc(local.unix_timestamp())).ok()
        };
        match self {
            Expression::Rate { .. } => self.next_after(after, start),
            Expression::Cron(c) => {
                let local =
                    OffsetDateTime::from_unix_timestamp(zone.to_local(after.unix_timestamp()))
                        .ok()?;
                utc(c.next_after(local)?)
            }
            Expression::At(when) => utc(when.assume_utc()).filter(|t| *t > after),
        }
    }

    /// Whether this is a one-time (`at()`) expression.
    pub fn is_once(&self) -> bool {
        matches!(self, Expression::At(_))
    }
}

fn inner<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
}

/// `rate(1 minute)`, `rate(5 minutes)`: singular for one, plural otherwise, as AWS requires.
fn parse_rate(body: &str) -> Result<Expression, Invalid> {
    let mut words = body.split_whitespace();
    let (Some(n), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(Invalid);
    };
    if !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid);
    }
    let n: i64 = n.parse().map_err(|_| Invalid)?;
    if n <= 0 {
        return Err(Invalid);
    }
    let (singular, seconds) = match unit {
        "minute" | "minutes" => ("minute", 60),
        "hour" | "hours" => ("hour", 3600),
        "day" | "days" => ("day", 86_400),
        _ => return Err(Invalid),
    };
    if (n == 1) != (unit == singular) {
        return Err(Invalid);
    }
    let seconds = n.checked_mul(seconds).ok_or(Invalid)?;
    Ok(Expression::Rate { seconds })
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    pub fn parse(body: &str) -> Result<Cron, Invalid> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [min, hour, dom, month, dow, year] = fields[..] else {
            return Err(Invalid);
        };
        let dom = parse_dom(dom)?;
        let dow = parse_dow(dow)?;
        // Exactly one of the day fields is `?`.
        if (dom == DayOfMonth::Unset) == (dow == DayOfWeek::Unset) {
            return Err(Invalid);
        }
        Ok(Cron {
            minutes: parse_field(min, 0, 59, &[])?,
            hours: parse_field(hour, 0, 23, &[])?,
            dom,
            months: parse_field(month, 1, 12, &MONTHS)?,
            dow,
            years: parse_field(year, FIRST_YEAR as u32, LAST_YEAR as u32, &[])?,
        })
    }

    /// The first minute strictly after `after` that the expression names (UTC). Each step
    /// moves at least one field forward, so the search ends within the year range.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let mut t =
            after.replace_second(0).ok()?.replace_nanosecond(0).ok()? + time::Duration::minutes(1);
        loop {
            let year = t.year();
            if year > LAST_YEAR {
                return None;
            }
            if year < FIRST_YEAR || !self.years[year as usize] {
                t = start_of(Date::from_calendar_date(year + 1, Month::January, 1).ok()?);
                continue;
            }
            if !self.months[u8::from(t.month()) as usize] {
                t = start_of(first_of_next_month(t.date())?);
                continue;
            }
            if !self.day_matches(t.date()) {
                t = start_of(t.date().next_day()?);
                continue;
            }
            if !self.hours[t.hour() as usize] {
                t = t.replace_minute(0).ok()? + time::Duration::hours(1);
                continue;
            }
            if !self.minutes[t.minute() as usize] {
                t += time::Duration::minutes(1);
                continue;
            }
            return Some(t);
        }
    }

    fn day_matches(&self, d: Date) -> bool {
        let last = last_day(d);
        match &self.dom {
            DayOfMonth::Days(set) => return set[d.day() as usize],
            DayOfMonth::Last => return d.day() == last,
            DayOfMonth::NearestWeekday(n) => return d.day() == nearest_weekday(d, *n),
            DayOfMonth::Unset => {}
        }
        let wd = d.weekday().number_from_sunday();
        match &self.dow {
            DayOfWeek::Days(set) => set[wd as usize],
            DayOfWeek::Last(n) => wd == *n && d.day() + 7 > last,
            DayOfWeek::Nth(n, k) => wd == *n && (d.day() - 1) / 7 + 1 == *k,
            DayOfWeek::Unset => false,
        }
    }
}

fn start_of(d: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_utc()
}

fn first_of_next_month(d: Date) -> Option<Date> {
    let (y, m) = if d.month() == Month::December {
        (d.year() + 1, Month::January)
    } else {
        (d.year(), d.month().next())
    };
    Date::from_calendar_date(y, m, 1).ok()
}

fn last_day(d: Date) -> u8 {
    d.month().length(d.year())
}

/// The weekday nearest day `n` of `d`'s month, not leaving the month (Quartz's `W`).
fn nearest_weekday(d: Date, n: u8) -> u8 {
    let last = last_day(d);
    let n = n.min(last);
    let Ok(target) = d.replace_day(n) else {
        return 0;
    };
    match target.weekday() {
        Weekday::Saturday if n == 1 => 3,
        Weekday::Saturday => n - 1,
        Weekday::Sunday if n == last => n - 2,
        Weekday::Sunday => n + 1,
        _ => n,
    }
}

fn parse_dom(field: &str) -> Result<DayOfMonth, Invalid> {
    match field {
        "?" => Ok(DayOfMonth::Unset),
        "L" => Ok(DayOfMonth::Last),
        f if f.ends_with('W') => {
            let n: u8 = number(&f[..f.len() - 1])?;
            if !(1..=31).contains(&n) {
                return Err(Invalid);
            }
            Ok(DayOfMonth::NearestWeekday(n))
        }
        f => parse_field(f, 1, 31, &[]).map(DayOfMonth::Days),
    }
}

fn parse_dow(field: &str) -> Result<DayOfWeek, Invalid> {
    let day = |s: &str| -> Result<u8, Invalid> {
        let n = value(s, &DAYS, 1)?;
        if (1..=7).contains(&n) {
            Ok(n as u8)
        } else {
            Err(Invalid)
        }
    };
    match field {
        "?" => Ok(DayOfWeek::Unset),
        "L" => Ok(DayOfWeek::Days((0..8).map(|i| i == 7).collect())),
        f if f.ends_with('L') => Ok(DayOfWeek::Last(day(&f[..f.len() - 1])?)),
        f if f.contains('#') => {
            let (d, k) = f.split_once('#').ok_or(Invalid)?;
            let k: u8 = number(k)?;
            if !(1..=5).contains(&k) {
                return Err(Invalid);
            }
            Ok(DayOfWeek::Nth(day(d)?, k))
        }
        f => parse_field(f, 1, 7, &DAYS).map(DayOfWeek::Days),
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, Invalid> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 4 {
        return Err(Invalid);
    }
    s.parse().map_err(|_| Invalid)
}

/// A number, or a name from `names` (numbered from `base`).
fn value(s: &str, names: &[&str], base: u32) -> Result<u32, Invalid> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + base);
    }
    number(s)
}

/// A list of `*`, `a`, `a-b`, with optional `/step`, as a membership table indexed by value.
fn parse_field(field: &str, lo: u32, hi: u32, names: &[&str]) -> Result<Vec<bool>, Invalid> {
    let mut set = vec![false; hi as usize + 1];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, number::<u32>(s)?),
            None => (item, 1),
        };
        if step == 0 {
            return Err(Invalid);
        }
        let (from, to) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a, names, lo)?, value(b, names, lo)?),
                // `a/step` runs from a to the end of the range.
                None if item.contains('/') => (value(r, names, lo)?, hi),
                None => {
                    let v = value(r, names, lo)?;
                    (v, v)
                }
            },
        };
        if from < lo || to > hi || from > to {
            return Err(Invalid);
        }
        for v in (from..=to).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn next(expr: &str, after: OffsetDateTime) -> OffsetDateTime {
        Expression::parse(expr, true)
            .unwrap()
            .next_after(after, after)
            .unwrap()
    }

    #[test]
    fn rates_need_a_positive_count_and_the_right_plural() {
        assert_eq!(
            Expression::parse("rate(1 minute)", false),
            Ok(Expression::Rate { seconds: 60 })
        );
        assert_eq!(
            Expression::parse("rate(5 minutes)", false),
            Ok(Expression::Rate { seconds: 300 })
        );
        assert_eq!(
            Expression::parse("rate(2 days)", false),
            Ok(Expression::Rate { seconds: 172_800 })
        );
        // A count whose period overflows is refused, not wrapped.
        assert_eq!(
            Expression::parse("rate(9223372036854775807 days)", false),
            Err(Invalid)
        );
        let huge = Expression::parse("rate(99999999999999 days)", false).unwrap();
        let t = datetime!(2026-01-01 00:00 UTC);
        // Its one period lies past the last representable date: no next time, no panic.
        assert_eq!(huge.next_after(t, t), None);
        for bad in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(-1 minute)",
            "rate(1 second)",
            "rate(minute)",
            "rate(1.5 hours)",
            "rate 1 minute",
        ] {
            assert_eq!(Expression::parse(bad, false), Err(Invalid), "{bad}");
        }
    }

    #[test]
    fn rates_fire_at_whole_periods_from_their_start() {
        let start = datetime!(2026-01-01 00:00:30 UTC);
        let e = Expression::parse("rate(1 minute)", false).unwrap();
        assert_eq!(
            e.next_after(start, start),
            Some(datetime!(2026-01-01 00:01:30 UTC))
        );
        assert_eq!(
            e.next_after(datetime!(2026-01-01 00:05:00 UTC), start),
            Some(datetime!(2026-01-01 00:05:30 UTC))
        );
    }

    #[test]
    fn cron_examples_from_the_docs() {
        let t = datetime!(2026-12-06 05:00:00 UTC); // a Sunday
                                                    // 10:15 UTC every day.
        assert_eq!(
            next("cron(15 10 * * ? *)", t),
            datetime!(2026-12-06 10:15 UTC)
        );
        // 18:00 Monday through Friday.
        assert_eq!(
            next("cron(0 18 ? * MON-FRI *)", t),
            datetime!(2026-12-07 18:00 UTC)
        );
        // 8:00 on the first day of the month.
        assert_eq!(
            next("cron(0 8 1 * ? *)", t),
            datetime!(2027-01-01 08:00 UTC)
        );
        // Every 10 minutes on weekdays.
        assert_eq!(
            next("cron(0/10 * ? * MON-FRI *)", t),
            datetime!(2026-12-07 00:00 UTC)
        );
        // Every 5 minutes between 8:00 and 17:55 on weekdays.
        assert_eq!(
            next(
                "cron(0/5 8-17 ? * MON-FRI *)",
                datetime!(2026-12-07 17:56 UTC)
            ),
            datetime!(2026-12-08 08:00 UTC)
        );
        // 9:00 on the first Monday of each month.
        assert_eq!(
            next("cron(0 9 ? * 2#1 *)", t),
            datetime!(2026-12-07 09:00 UTC)
        );
        // Nightly, as in the CLI example.
        assert_eq!(
            next("cron(0 3 * * ? *)", t),
            datetime!(2026-12-07 03:00 UTC)
        );
    }

    #[test]
    fn last_and_weekday_forms() {
        let t = datetime!(2027-02-01 00:00 UTC);
        assert_eq!(
            next("cron(0 0 L * ? *)", t),
            datetime!(2027-02-28 00:00 UTC)
        );
        // Last Friday of February 2027 is the 26th.
        assert_eq!(
            next("cron(0 0 ? * 6L *)", t),
            datetime!(2027-02-26 00:00 UTC)
        );
        // 2027-05-01 is a Saturday: 1W is Monday the 3rd.
        assert_eq!(
            next("cron(0 0 1W * ? *)", datetime!(2027-04-02 00:00 UTC)),
            datetime!(2027-05-03 00:00 UTC)
        );
        // 2027-08-15 is a Sunday: 15W is Monday the 16th.
        assert_eq!(
            next("cron(0 0 15W 8 ? *)", t),
            datetime!(2027-08-16 00:00 UTC)
        );
        // Years run out.
        let e = Expression::parse("cron(0 0 1 1 ? 2020)", false).unwrap();
        assert_eq!(e.next_after(t, t), None);
    }

    #[test]
    fn bad_cron_expressions_are_refused() {
        for bad in [
            "cron(0 3 * * * *)", // both day fields set
            "cron(0 3 ? * ? *)", // neither
            "cron(0 3 * * ?)",   // five fields
            "cron(60 3 * * ? *)",
            "cron(0 24 * * ? *)",
            "cron(0 3 32 * ? *)",
            "cron(0 3 ? 13 * *)",
            "cron(0 3 ? * 8 *)",
            "cron(0 3 ? * 2#6 *)",
            "cron(0/0 3 * * ? *)",
            "cron(0 3 * * ? 1969)",
            "cron(5-1 3 * * ? *)",
            "cron(x 3 * * ? *)",
            "cron()",
        ] {
            assert_eq!(Expression::parse(bad, false), Err(Invalid), "{bad}");
        }
        assert!(Expression::parse("cron(0 3 ? JAN-MAR SUN,SAT 2026-2030)", false).is_ok());
    }

    #[test]
    fn crons_and_ats_read_wall_clock_time_in_their_zone() {
        let Some(ny) = crate::zone::Zone::load("America/New_York") else {
            return; // no time-zone database on this machine
        };
        let t = datetime!(2026-07-15 00:00 UTC);
        let cron = Expression::parse("cron(0 3 * * ? *)", false).unwrap();
        // 03:00 in New York in July is 07:00 UTC; in January, 08:00 UTC.
        assert_eq!(
            cron.next_after_in(t, t, &ny),
            Some(datetime!(2026-07-15 07:00 UTC))
        );
        let t = datetime!(2026-01-15 00:00 UTC);
        assert_eq!(
            cron.next_after_in(t, t, &ny),
            Some(datetime!(2026-01-15 08:00 UTC))
        );
        let at = Expression::parse("at(2026-07-15T03:00:00)", true).unwrap();
        assert_eq!(
            at.next_after_in(t, t, &ny),
            Some(datetime!(2026-07-15 07:00 UTC))
        );
    }

    #[test]
    fn at_is_once_and_only_where_allowed() {
        assert_eq!(
            Expression::parse("at(2027-01-01T00:00:00)", false),
            Err(Invalid)
        );
        let e = Expression::parse("at(2027-01-01T00:00:00)", true).unwrap();
        assert!(e.is_once());
        let before = datetime!(2026-12-31 23:59 UTC);
        assert_eq!(
            e.next_after(before, before),
            Some(datetime!(2027-01-01 00:00 UTC))
        );
        let after = datetime!(2027-01-01 00:00 UTC);
        assert_eq!(e.next_after(after, after), None);
        assert_eq!(
            Expression::parse("at(2027-13-01T00:00:00)", true),
            Err(Invalid)
        );
    }
}
