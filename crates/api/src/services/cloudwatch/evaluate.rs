//! The `alarm_evaluator` worker: every tick (a minute by default, the server's
//! `alarm_evaluation_ms`, shortened only for tests and demonstrations) each alarm's last
//! periods are read and compared, and a change of state goes through
//! [`super::alarms::transition`]. The periods read are the last complete ones, as
//! CloudWatch evaluates them; a metric-math alarm's queries are computed as GetMetricData
//! computes them. Before evaluating an alarm a node claims it (a conditional
//! UPDATE of its evaluation time), so in a cluster one node evaluates each alarm per tick.

use std::sync::Weak;
use std::time::Duration;

use serde_json::Value;
use stratus_cloudwatch::alarm::{evaluate, Point, Rule};
use stratus_cloudwatch::stats::aggregate;
use stratus_core::Error;

use super::input::dimensions;
use super::metrics::{read_query, series_of, Query, Source};
use super::{blocking, internal, Ctx};
use crate::AppState;
use stratus_cloudwatch::math::Series;

/// Runs until the application is dropped, evaluating every `tick`.
pub async fn run(state: Weak<AppState>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        if let Err(e) = evaluate_all(&state, tick).await {
            tracing::warn!(error = %e.message, "evaluating alarms");
        }
    }
}

/// Evaluates every alarm not evaluated within the last half tick (by this node or another).
pub async fn evaluate_all(state: &crate::Shared, tick: Duration) -> Result<(), Error> {
    let db = state.stores.cloudwatch.clone();
    let alarms = blocking(move || db.alarms().map_err(internal)).await?;
    let now = stratus_metering::now_ms();
    for (doc, evaluated) in alarms {
        if now - evaluated < tick.as_millis() as i64 / 2 {
            continue;
        }
        let Some(rule) = Rule::of(&doc) else {
            continue;
        };
        let name = doc["AlarmName"].as_str().unwrap_or("").to_string();
        let db = state.stores.cloudwatch.clone();
        let claimed = blocking(move || db.claim(&name, evaluated, now).map_err(internal)).await?;
        // One alarm that cannot be evaluated (an expression that fails on its data) must not
        // stop the others.
        if claimed {
            let name = doc["AlarmName"].as_str().unwrap_or("").to_string();
            if let Err(e) = evaluate_one(state, doc, &rule, now).await {
                tracing::warn!(alarm = %name, error = %e.message, "evaluating an alarm");
            }
        }
    }
    Ok(())
}

async fn evaluate_one(
    state: &crate::Shared,
    doc: Value,
    rule: &Rule,
    now: i64,
) -> Result<(), Error> {
    let period_ms = rule.period_s * 1000;
    let from = rule.window_start(now);
    let to = rule.window_end(now);
    let region = doc["AlarmArn"]
        .as_str()
        .and_then(|a| a.split(':').nth(3))
        .unwrap_or("us-east-1")
        .to_string();
    let ctx = Ctx {
        state: state.clone(),
        region,
    };
    let mut values = period_values(&ctx, &doc, rule, from, to).await?;
    let points: Vec<Point> = (0..rule.evaluation_periods as i64)
        .map(|k| {
            let at = from + k * period_ms;
            (at, values.remove(&at))
        })
        .collect();
    let current = doc["StateValue"]
        .as_str()
        .unwrap_or("INSUFFICIENT_DATA")
        .to_string();
    if let Some(change) = evaluate(rule, &current, &points, now) {
        let state = state.clone();
        blocking(move || super::alarms::transition(&state, doc, &change, now)).await?;
    }
    Ok(())
}

/// The alarm's value of each period in `[from, to)` that has one: its metric's statistic, or
/// for a metric-math alarm the values of the query it returns.
async fn period_values(
    ctx: &Ctx,
    doc: &Value,
    rule: &Rule,
    from: i64,
    to: i64,
) -> Result<Series, Error> {
    let mut source = Source::new(ctx, from, to);
    if let Some(metrics) = doc["Metrics"].as_array() {
        let queries: Vec<Query> = metrics
            .iter()
            .enumerate()
            .map(|(i, q)| read_query(q, "Metrics", i + 1))
            .collect::<Result<_, _>>()?;
        let returned = queries.iter().find(|q| q.return_data).map(|q| q.id.clone());
        let mut series = series_of(&mut source, &queries, |_| from, to).await?;
        return Ok(returned
            .and_then(|id| series.remove(&id))
            .unwrap_or_default());
    }
    let dims = dimensions(doc, "Dimensions")?;
    let (samples, _) = source
        .samples(
            doc["Namespace"].as_str().unwrap_or(""),
            doc["MetricName"].as_str().unwrap_or(""),
            &dims,
            doc["Unit"].as_str(),
        )
        .await?;
    Ok(aggregate(&samples, from, to, rule.period_s * 1000)
        .into_iter()
        .filter_map(|(at, mut b)| b.stat(&rule.statistic).map(|x| (at, x)))
        .collect())
}
