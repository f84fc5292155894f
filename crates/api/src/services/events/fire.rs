//! The `event_scheduler` worker: fires scheduled rules and Scheduler schedules when due.
//!
//! Each rule and schedule stores its next fire time. Every tick the worker reads what is due,
//! claims each occurrence with a conditional UPDATE (the next fire time moves only if it still
//! holds the due time read, so in a cluster one node wins each occurrence), then delivers. The
//! next fire time is computed from now, not from the missed one: an occurrence missed while
//! the server was down fires once when it comes back, not once per missed period.

use std::sync::Weak;
use std::time::Duration;

use serde_json::{json, Value};
use stratus_events::store::now_ms;

use super::deliver::{deliver, Delivery};
use super::put::{envelope, iso};
use crate::AppState;

/// Most occurrences fired per tick (the rest wait for the next one).
const BATCH: usize = 100;

/// Runs until the application is dropped, checking every `tick`.
pub async fn run(state: Weak<AppState>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        let fired = tokio::task::spawn_blocking(move || fire_due(&state, now_ms())).await;
        if let Ok(Err(e)) = fired {
            tracing::warn!(error = %e.message, "firing schedules");
        }
    }
}

/// Fires every rule and schedule due at `now`.
pub fn fire_due(state: &crate::Shared, now: i64) -> Result<(), stratus_core::Error> {
    let svc = &state.stores.events;
    for (bus, name, due) in svc.store.due_rules(now, BATCH)? {
        let next = match svc.store.rule(&bus, &name) {
            Ok(rule) => svc.rule_next_fire(&rule, now),
            Err(_) => None,
        };
        let Some((rule, targets)) = svc.store.claim_rule(&bus, &name, due, next)? else {
            continue;
        };
        let region = rule
            .arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1")
            .to_string();
        let time = iso(super::from_ms(due));
        let event = envelope(
            &region,
            "aws.events",
            "Scheduled Event",
            json!({}),
            vec![Value::from(rule.arn.as_str())],
            &time,
        );
        let mut d = Delivery::new(state, &region);
        deliver(&mut d, &event, &rule, &targets);
        d.commit()?;
    }
    for (group, name, due) in svc.store.due_schedules(now, BATCH)? {
        let claimed = svc.store.claim_schedule(&group, &name, due, |s| {
            super::scheduler::next_fire(svc, &s.doc, now)
        })?;
        if let Some(s) = claimed {
            super::scheduler::send(state, &s)?;
        }
    }
    Ok(())
}

/// The first tick's wait, and the one after each: short enough that a schedule fires within
/// about a second of its time.
pub const TICK: Duration = Duration::from_millis(500);
