//! Reading and writing metrics: GetMetricStatistics, GetMetricData (metric stats and simple
//! math), ListMetrics, PutMetricData. `AWS/Lambda` is read from the metering records (its
//! asynchronous invocation metrics from the datapoints the invoker stored); every other
//! namespace from the datapoints PutMetricData stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use stratus_cloudwatch::UNITS;

use serde_json::{json, Value};
use stratus_cloudwatch::lambda;
use stratus_cloudwatch::stats::{aggregate, parse_percentile, Sample, STATISTICS};
use stratus_cloudwatch::store::Put;
use stratus_cloudwatch::Dims;
use stratus_core::Error;
use stratus_metering::Record;

use super::input::*;
use super::{blocking, internal, Ctx};

/// Most datapoints one GetMetricStatistics answers.
const MAX_DATAPOINTS: i64 = 1440;
const DAY_MS: i64 = 86_400_000;
/// How far back ListMetrics looks (metrics with no data for two weeks are not listed).
const LIST_WINDOW_MS: i64 = 14 * DAY_MS;
const PAGE: usize = 500;

/// The data of the metrics one request reads, in one time window: the metering records are
/// read once per request, the store once per metric.
pub struct Source<'a> {
    c: &'a Ctx,
    from_ms: i64,
    to_ms: i64,
    records: Option<Arc<Vec<Record>>>,
}

impl<'a> Source<'a> {
    pub fn new(c: &'a Ctx, from_ms: i64, to_ms: i64) -> Self {
        Source {
            c,
            from_ms,
            to_ms,
            records: None,
        }
    }

    /// The samples of one metric (only those of `unit`, if given), and the unit to report.
    pub async fn samples(
        &mut self,
        namespace: &str,
        name: &str,
        dims: &Dims,
        unit: Option<&str>,
    ) -> Result<(Vec<Sample>, String), Error> {
        if namespace == lambda::NAMESPACE && !lambda::is_stored(name) {
            let Some(own) = lambda::unit_of(name) else {
                return Ok((vec![], "None".into()));
            };
            if unit.is_some_and(|u| u != own) {
                return Ok((vec![], own.into()));
            }
            if self.records.is_none() {
                let meter = self.c.state.invoker.meter();
                let records = meter
                    .records(self.from_ms, self.to_ms)
                    .await
                    .map_err(internal)?;
                self.records = Some(Arc::new(records));
            }
            let records = self.records.clone().unwrap_or_default();
            let (name, dims) = (name.to_string(), dims.clone());
            let samples = blocking(move || Ok(lambda::samples(&records, &name, &dims))).await?;
            return Ok((samples, own.into()));
        }
        let db = self.c.state.stores.cloudwatch.clone();
        let (ns, n, d, from, to) = (
            namespace.to_string(),
            name.to_string(),
            dims.clone(),
            self.from_ms,
            self.to_ms,
        );
        let rows = blocking(move || db.samples(&ns, &n, &d, from, to).map_err(internal)).await?;
        let shown = unit
            .map(str::to_string)
            .or_else(|| rows.first().map(|(_, u)| u.clone()))
            .unwrap_or_else(|| "None".into());
        let samples = rows
            .into_iter()
            .filter(|(_, u)| unit.is_none_or(|want| want == u))
            .map(|(s, _)| s)
            .collect();
        Ok((samples, shown))
    }
}

/// Periods AWS accepts: 1, 5, 10, 20, 30, 60 or a multiple of 60 seconds.
fn check_period(period: i64, name: &str) -> Result<(), Error> {
    if [1, 5, 10, 20, 30].contains(&period) || (period >= 60 && period % 60 == 0) {
        return Ok(());
    }
    Err(invalid(format!(
        "The parameter {name} must be 1, 5, 10, 20, 30, 60, or any multiple of 60."
    )))
}

/// StartTime rounded down as CloudWatch does: to the period below a minute, else to the
/// minute (data under 15 days old), 5 minutes (under 63 days) or the hour.
pub fn round_start(start_ms: i64, period_s: i64, now_ms: i64) -> i64 {
    let age = now_ms - start_ms;
    let align_s = match period_s {
        p if p < 60 => p,
        _ if age <= 15 * DAY_MS => 60,
        _ if age <= 63 * DAY_MS => 300,
        _ => 3600,
    };
    start_ms - start_ms.rem_euclid(align_s * 1000)
}

fn check_window(start: i64, end: i64) -> Result<(), Error> {
    if start >= end {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    Ok(())
}

pub async fn get_metric_statistics(c: &Ctx, v: Value) -> Result<Value, Error> {
    let namespace = req_str(&v, "Namespace")?;
    let name = req_str(&v, "MetricName")?;
    let dims = dimensions(&v, "Dimensions")?;
    let start = req_time(&v, "StartTime")?;
    let end = req_time(&v, "EndTime")?;
    let period = req_int(&v, "Period")?;
    let unit = opt_str(&v, "Unit")?;
    let stats = strings(&v, "Statistics", 5)?;
    let extended = strings(&v, "ExtendedStatistics", 10)?;
    if stats.is_empty() == extended.is_empty() {
        return Err(combination(
            "Must specify either Statistics or ExtendedStatistics, but not both.",
        ));
    }
    for (i, s) in stats.iter().enumerate() {
        if !STATISTICS.contains(&s.as_str()) {
            return Err(invalid(format!(
                "The value {s} for parameter Statistics.member.{} is not a valid statistic.",
                i + 1
            )));
        }
    }
    for (i, s) in extended.iter().enumerate() {
        if parse_percentile(s).is_none() {
            return Err(invalid(format!(
                "The value {s} for parameter ExtendedStatistics.member.{} is not supported.",
                i + 1
            )));
        }
    }
    check_period(period, "Period")?;
    check_window(start, end)?;
    let start = round_start(start, period, stratus_metering::now_ms());
    let period_ms = period * 1000;
    let wanted = (end - start + period_ms - 1) / period_ms;
    if wanted > MAX_DATAPOINTS {
        return Err(combination(format!(
            "You have requested up to {wanted} datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        )));
    }
    let mut source = Source::new(c, start, end);
    let (samples, unit) = source.samples(namespace, name, &dims, unit).await?;
    let mut points = Vec::new();
    for (at, mut bucket) in aggregate(&samples, start, end, period_ms) {
        let mut p = json!({"Timestamp": secs(at), "Unit": unit});
        for s in &stats {
            if let Some(x) = bucket.stat(s) {
                p[s.as_str()] = json!(x);
            }
        }
        if !extended.is_empty() {
            let mut ext = serde_json::Map::new();
            for s in &extended {
                if let Some(x) = bucket.stat(s) {
                    ext.insert(s.clone(), json!(x));
                }
            }
            p["ExtendedStatistics"] = Value::Object(ext);
        }
        points.push(p);
    }
    Ok(json!({"Label": name, "Datapoints": points}))
}

/// One query of GetMetricData (or of a metric-math alarm's `Metrics`), read.
pub struct Query {
    pub id: String,
    pub label: Option<String>,
    pub return_data: bool,
    pub what: What,
}

pub enum What {
    Stat {
        namespace: String,
        name: String,
        dims: Dims,
        period: i64,
        stat: String,
        unit: Option<String>,
    },
    Expression(String),
}

/// Reads query `i` (from 1) of the list `list` (`MetricDataQueries`, `Metrics`).
pub fn read_query(q: &Value, list: &str, i: usize) -> Result<Query, Error> {
    let at = format!("{list}.member.{i}");
    let id = req_str(q, "Id").map_err(|_| missing(&format!("{at}.Id")))?;
    let id_ok = id.len() <= 255
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !id_ok {
        return Err(invalid(format!(
            "The value {id} for parameter {at}.Id is invalid: it must start with a lowercase letter and contain only letters, numbers and underscores."
        )));
    }
    let what = match (&q["MetricStat"], opt_str(q, "Expression")?) {
        (Value::Null, Some(e)) => What::Expression(e.to_string()),
        (Value::Object(_), None) => {
            let ms = &q["MetricStat"];
            let m = &ms["Metric"];
            let period =
                req_int(ms, "Period").map_err(|_| missing(&format!("{at}.MetricStat.Period")))?;
            check_period(period, &format!("{at}.MetricStat.Period"))?;
            let stat =
                req_str(ms, "Stat").map_err(|_| missing(&format!("{at}.MetricStat.Stat")))?;
            if !STATISTICS.contains(&stat) && parse_percentile(stat).is_none() {
                return Err(invalid(format!(
                    "The value {stat} for parameter {at}.MetricStat.Stat is not a valid statistic."
                )));
            }
            What::Stat {
                namespace: req_str(m, "Namespace")
                    .map_err(|_| missing(&format!("{at}.MetricStat.Metric.Namespace")))?
                    .to_string(),
                name: req_str(m, "MetricName")
                    .map_err(|_| missing(&format!("{at}.MetricStat.Metric.MetricName")))?
                    .to_string(),
                dims: dimensions(m, "Dimensions")?,
                period,
                stat: stat.to_string(),
                unit: opt_str(ms, "Unit")?.map(str::to_string),
            }
        }
        _ => {
            return Err(combination(format!(
                "Exactly one of {at}.MetricStat and {at}.Expression must be specified."
            )))
        }
    };
    Ok(Query {
        id: id.to_string(),
        label: opt_str(q, "Label")?.map(str::to_string),
        return_data: opt_bool(q, "ReturnData")?.unwrap_or(true),
        what,
    })
}

use stratus_cloudwatch::math::Series;

pub async fn get_metric_data(c: &Ctx, v: Value) -> Result<Value, Error> {
    let raw = list(&v, "MetricDataQueries")?;
    if raw.is_empty() {
        return Err(missing("MetricDataQueries"));
    }
    if raw.len() > 500 {
        return Err(invalid(
            "The collection MetricDataQueries must not have a size greater than 500.",
        ));
    }
    let start = req_time(&v, "StartTime")?;
    let end = req_time(&v, "EndTime")?;
    check_window(start, end)?;
    let ascending = match opt_str(&v, "ScanBy")? {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(invalid(format!(
                "The value {other} for parameter ScanBy is invalid."
            )))
        }
    };
    let max = opt_int(&v, "MaxDatapoints")?.unwrap_or(100_800).max(1) as usize;
    let queries: Vec<Query> = raw
        .iter()
        .enumerate()
        .map(|(i, q)| read_query(q, "MetricDataQueries", i + 1))
        .collect::<Result<_, _>>()?;
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = queries.iter().find(|q| !seen.insert(q.id.as_str())) {
        return Err(invalid(format!(
            "The values for parameter id in MetricDataQueries are not unique: {}",
            dup.id
        )));
    }
    let now = stratus_metering::now_ms();
    // The earliest of the queries' rounded starts: one read of the records serves them all.
    let window_start = queries
        .iter()
        .filter_map(|q| match &q.what {
            What::Stat { period, .. } => Some(round_start(start, *period, now)),
            _ => None,
        })
        .min()
        .unwrap_or(start);
    let mut source = Source::new(c, window_start, end);
    let mut series = series_of(
        &mut source,
        &queries,
        |period| round_start(start, period, now),
        end,
    )
    .await?;
    let mut results = Vec::new();
    let mut budget = max;
    for q in queries.iter().filter(|q| q.return_data) {
        let mut points: Vec<(i64, f64)> = series
            .remove(&q.id)
            .unwrap_or_default()
            .into_iter()
            .collect();
        if !ascending {
            points.reverse();
        }
        points.truncate(budget);
        budget -= points.len();
        let label = q.label.clone().unwrap_or_else(|| match &q.what {
            What::Stat { name, .. } => name.clone(),
            What::Expression(_) => q.id.clone(),
        });
        results.push(json!({
            "Id": q.id,
            "Label": label,
            "Timestamps": points.iter().map(|(t, _)| secs(*t)).collect::<Vec<_>>(),
            "Values": points.iter().map(|(_, x)| *x).collect::<Vec<_>>(),
            "StatusCode": "Complete",
        }));
    }
    Ok(json!({"MetricDataResults": results, "Messages": []}))
}

/// The series of every query by id: each metric query's statistic per period from
/// `from(period)` to `end`, then each expression over the series before it.
pub async fn series_of(
    source: &mut Source<'_>,
    queries: &[Query],
    from: impl Fn(i64) -> i64,
    end: i64,
) -> Result<BTreeMap<String, Series>, Error> {
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    for q in queries {
        if let What::Stat {
            namespace,
            name,
            dims,
            period,
            stat,
            unit,
        } = &q.what
        {
            let (samples, _) = source
                .samples(namespace, name, dims, unit.as_deref())
                .await?;
            let s = aggregate(&samples, from(*period), end, period * 1000)
                .into_iter()
                .filter_map(|(at, mut b)| b.stat(stat).map(|x| (at, x)))
                .collect();
            series.insert(q.id.clone(), s);
        }
    }
    for q in queries {
        if let What::Expression(e) = &q.what {
            let s = stratus_cloudwatch::math::evaluate(e, &series)
                .map_err(|m| invalid(format!("Error in expression '{}': {m}", q.id)))?;
            series.insert(q.id.clone(), s);
        }
    }
    Ok(series)
}

pub async fn list_metrics(c: &Ctx, v: Value) -> Result<Value, Error> {
    let namespace = opt_str(&v, "Namespace")?;
    let name = opt_str(&v, "MetricName")?;
    let mut filters = Vec::new();
    for (i, f) in list(&v, "Dimensions")?.iter().enumerate() {
        let n = req_str(f, "Name")
            .map_err(|_| missing(&format!("Dimensions.member.{}.Name", i + 1)))?;
        filters.push((n.to_string(), opt_str(f, "Value")?.map(str::to_string)));
    }
    let since = match opt_str(&v, "RecentlyActive")? {
        None => LIST_WINDOW_MS,
        Some("PT3H") => 3 * 3_600_000,
        Some(other) => {
            return Err(invalid(format!(
                "The value {other} for parameter RecentlyActive is invalid."
            )))
        }
    };
    let from = stratus_metering::now_ms() - since;
    let offset: usize = match opt_str(&v, "NextToken")? {
        None => 0,
        Some(t) => t.parse().map_err(|_| {
            stratus_core::Error::new(
                "InvalidNextToken",
                stratus_core::Kind::InvalidInput,
                "Invalid NextToken",
            )
        })?,
    };
    let mut all: Vec<(String, String, Dims)> = Vec::new();
    if namespace.is_none_or(|n| n == lambda::NAMESPACE) {
        let kinds = c
            .state
            .invoker
            .meter()
            .kinds(from)
            .await
            .map_err(internal)?;
        for (metric, dims) in lambda::list(&kinds) {
            all.push((lambda::NAMESPACE.into(), metric, dims));
        }
    }
    // Custom metrics, and AWS/Lambda's asynchronous invocation metrics.
    {
        let db = c.state.stores.cloudwatch.clone();
        all.extend(blocking(move || db.metrics(from).map_err(internal)).await?);
    }
    let matching: Vec<Value> = all
        .into_iter()
        .filter(|(ns, m, dims)| {
            namespace.is_none_or(|n| n == ns)
                && name.is_none_or(|n| n == m)
                && filters.iter().all(|(fname, fval)| {
                    dims.iter()
                        .any(|(k, val)| k == fname && fval.as_ref().is_none_or(|fv| fv == val))
                })
        })
        .map(|(ns, m, dims)| json!({"Namespace": ns, "MetricName": m, "Dimensions": dims_json(&dims)}))
        .collect();
    let page: Vec<Value> = matching.iter().skip(offset).take(PAGE).cloned().collect();
    let mut out = json!({"Metrics": page});
    if offset + PAGE < matching.len() {
        out["NextToken"] = json!((offset + PAGE).to_string());
    }
    Ok(out)
}

pub async fn put_metric_data(c: &Ctx, v: Value) -> Result<Value, Error> {
    let namespace = req_str(&v, "Namespace")?;
    if namespace.is_empty() || namespace.len() > 255 || namespace.starts_with("AWS/") {
        return Err(invalid(format!(
            "The value {namespace} for parameter Namespace is invalid."
        )));
    }
    let data = list(&v, "MetricData")?;
    if data.is_empty() {
        return Err(missing("MetricData"));
    }
    if data.len() > 1000 {
        return Err(invalid(
            "The collection MetricData must not have a size greater than 1000.",
        ));
    }
    let now = stratus_metering::now_ms();
    let mut puts = Vec::with_capacity(data.len());
    for (i, d) in data.iter().enumerate() {
        puts.push(read_datum(namespace, d, i + 1, now)?);
    }
    let db = c.state.stores.cloudwatch.clone();
    blocking(move || db.put_datapoints(&puts).map_err(internal)).await?;
    Ok(json!({}))
}

fn read_datum(namespace: &str, d: &Value, i: usize, now: i64) -> Result<Put, Error> {
    let at = format!("MetricData.member.{i}");
    let name = req_str(d, "MetricName").map_err(|_| missing(&format!("{at}.MetricName")))?;
    if name.is_empty() || name.len() > 255 {
        return Err(invalid(format!(
            "The value {name} for parameter {at}.MetricName is invalid."
        )));
    }
    let dims = dimensions(d, "Dimensions")?;
    let ts = opt_time(d, "Timestamp")?.unwrap_or(now);
    if ts < now - 14 * DAY_MS {
        return Err(invalid(format!(
            "The parameter {at}.Timestamp must specify a time within the past two weeks."
        )));
    }
    if ts > now + 2 * 3_600_000 {
        return Err(invalid(format!(
            "The parameter {at}.Timestamp must specify a time no more than two hours in the future."
        )));
    }
    let unit = opt_str(d, "Unit")?.unwrap_or("None");
    if !UNITS.contains(&unit) {
        return Err(invalid(format!(
            "The value {unit} for parameter {at}.Unit is invalid."
        )));
    }
    if let Some(r) = opt_int(d, "StorageResolution")? {
        if r != 1 && r != 60 {
            return Err(invalid(format!(
                "The value {r} for parameter {at}.StorageResolution is invalid."
            )));
        }
    }
    let sample = read_values(d, &at, ts)?;
    Ok(Put {
        namespace: namespace.to_string(),
        name: name.to_string(),
        dims,
        unit: unit.to_string(),
        sample,
    })
}

/// `Value`, `Values` (with `Counts`) or `StatisticValues`: exactly one.
fn read_values(d: &Value, at: &str, ts: i64) -> Result<Sample, Error> {
    let given: Vec<&str> = ["Value", "Values", "StatisticValues"]
        .into_iter()
        .filter(|k| !d[*k].is_null())
        .collect();
    match given.as_slice() {
        [] => Err(missing(&format!("{at}.Value"))),
        ["Value"] => Ok(Sample::one(ts, opt_f64(d, "Value")?.unwrap_or_default())),
        ["Values"] => {
            let values = list(d, "Values")?;
            let counts = list(d, "Counts")?;
            if values.len() > 150 {
                return Err(invalid(format!(
                    "The collection {at}.Values must not have a size greater than 150."
                )));
            }
            if !counts.is_empty() && counts.len() != values.len() {
                return Err(combination(format!(
                    "The parameters {at}.Values and {at}.Counts must be of the same size."
                )));
            }
            let num = |x: &Value| x.as_f64().ok_or_else(|| invalid(format!("The value {x} for parameter {at}.Values is invalid.")));
            let mut pairs = Vec::new();
            for (j, x) in values.iter().enumerate() {
                let count = counts.get(j).map(num).transpose()?.unwrap_or(1.0);
                pairs.push((num(x)?, count));
            }
            if pairs.is_empty() {
                return Err(missing(&format!("{at}.Values")));
            }
            Ok(Sample {
                ts_ms: ts,
                count: pairs.iter().map(|p| p.1).sum(),
                sum: pairs.iter().map(|p| p.0 * p.1).sum(),
                min: pairs.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
                max: pairs.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
                values: pairs,
            })
        }
        [_] => {
            let s = &d["StatisticValues"];
            let field = |k: &str| {
                opt_f64(s, k)?.ok_or_else(|| missing(&format!("{at}.StatisticValues.{k}")))
            };
            let (count, sum, min, max) = (field("SampleCount")?, field("Sum")?, field("Minimum")?, field("Maximum")?);
            if count <= 0.0 || min > max {
                return Err(invalid(format!(
                    "The parameter {at}.StatisticValues is invalid: SampleCount must be positive and Minimum no greater than Maximum."
                )));
            }
            Ok(Sample { ts_ms: ts, count, sum, min, max, values: vec![] })
        }
        [a, b, ..] => Err(combination(format!(
            "The parameters {at}.{a} and {at}.{b} are mutually exclusive and you have specified both."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_round_down_by_age_and_period() {
        let now = 100 * DAY_MS;
        let t = now - 3_600_000 + 34_567;
        assert_eq!(round_start(t, 60, now) % 60_000, 0);
        assert_eq!(round_start(t, 10, now), t - t % 10_000);
        let old = now - 20 * DAY_MS + 123_456;
        assert_eq!(round_start(old, 60, now) % 300_000, 0);
        let older = now - 70 * DAY_MS + 123_456;
        assert_eq!(round_start(older, 60, now) % 3_600_000, 0);
    }

    #[test]
    fn periods() {
        for ok in [1, 5, 10, 20, 30, 60, 300, 86_400] {
            assert!(check_period(ok, "Period").is_ok(), "{ok}");
        }
        for bad in [0, 2, 45, 90, -60] {
            assert_eq!(
                check_period(bad, "Period").unwrap_err().code,
                "InvalidParameterValue"
            );
        }
    }

    #[test]
    fn datum_values_are_exclusive() {
        let d = json!({"MetricName": "m", "Value": 1.0, "StatisticValues": {"SampleCount": 1.0, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0}});
        let e = read_values(&d, "MetricData.member.1", 0).unwrap_err();
        assert_eq!(e.code, "InvalidParameterCombination");
        let v = json!({"Values": [1.0, 3.0], "Counts": [2.0, 1.0]});
        let s = read_values(&v, "m", 0).unwrap();
        assert_eq!((s.count, s.sum, s.min, s.max), (3.0, 5.0, 1.0, 3.0));
        let uneven = json!({"Values": [1.0, 3.0], "Counts": [2.0]});
        assert_eq!(
            read_values(&uneven, "m", 0).unwrap_err().code,
            "InvalidParameterCombination"
        );
    }
}
