//! Background workers under supervision: the asynchronous dispatcher, the metering writer,
//! the idle-environment reaper, the log retention sweep. A worker that panics is logged,
//! marked down, and started again after a back-off, instead of vanishing while the process
//! keeps answering as if nothing had happened; `/health` reports each one's state.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// The first wait before a panicked worker is started again; doubled per quick repeat.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that ran this long before panicking starts again after the first back-off.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// What a worker is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    Running,
    /// It panicked and waits out its back-off before starting again.
    Restarting,
    /// It ended (the platform is stopping).
    Stopped,
}

impl WorkerState {
    fn as_str(self) -> &'static str {
        match self {
            WorkerState::Running => "running",
            WorkerState::Restarting => "restarting",
            WorkerState::Stopped => "stopped",
        }
    }
}

/// The registry of supervised workers.
#[derive(Default)]
pub struct Workers {
    states: Mutex<BTreeMap<&'static str, (WorkerState, u32)>>,
}

impl Workers {
    fn set(&self, name: &'static str, state: WorkerState) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let entry = states.entry(name).or_insert((state, 0));
        if state == WorkerState::Restarting {
            entry.1 += 1;
        }
        entry.0 = state;
    }

    /// Each worker's state, for `/health`.
    pub fn report(&self) -> BTreeMap<&'static str, WorkerState> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.iter().map(|(k, v)| (*k, v.0)).collect()
    }

    /// How many times `name` has panicked and been restarted.
    pub fn restarts(&self, name: &str) -> u32 {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.get(name).map_or(0, |v| v.1)
    }

    /// Whether every worker is running.
    pub fn all_running(&self) -> bool {
        self.report().values().all(|s| *s == WorkerState::Running)
    }

    /// The `workers` member of `/health`: name → state.
    pub fn to_json(&self) -> serde_json::Value {
        self.report()
            .into_iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// Runs `make()` as worker `name`: if the run panics it is logged and started again after
    /// a back-off; if it returns, the worker is stopped. Aborting the returned handle stops the
    /// worker too (the run is aborted with it).
    pub fn supervise<F, Fut>(self: &Arc<Self>, name: &'static str, mut make: F) -> JoinHandle<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let workers = self.clone();
        workers.set(name, WorkerState::Running);
        tokio::spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                workers.set(name, WorkerState::Running);
                let started = Instant::now();
                let mut run = AbortOnDrop(tokio::spawn(make()));
                match (&mut run.0).await {
                    Ok(()) => break,
                    Err(e) if e.is_cancelled() => break,
                    Err(e) => {
                        let panic = e.into_panic();
                        if started.elapsed() >= HEALTHY_RUN {
                            backoff = FIRST_BACKOFF;
                        }
                        tracing::error!(
                            worker = name,
                            panic = crate::panic_guard::panic_message(panic.as_ref()),
                            ?backoff,
                            "background worker panicked; restarting it"
                        );
                        workers.set(name, WorkerState::Restarting);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            workers.set(name, WorkerState::Stopped);
        })
    }
}

/// A task handle that aborts its task when dropped, so aborting the supervisor stops the
/// worker it runs.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_panicking_worker_is_restarted_and_reported() {
        let workers = Arc::new(Workers::default());
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let handle = workers.supervise("flaky", move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    panic!("run {n} fails");
                }
                std::future::pending::<()>().await;
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(workers.report()["flaky"], WorkerState::Restarting);
        assert!(!workers.all_running());
        // Restarted after 250 ms, then after 500 ms.
        for _ in 0..100 {
            if runs.load(Ordering::SeqCst) == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(workers.report()["flaky"], WorkerState::Running);
        assert_eq!(workers.restarts("flaky"), 2);
        assert_eq!(workers.to_json(), serde_json::json!({"flaky": "running"}));
        handle.abort();
        let _ = handle.await;
    }

    #[tokio::test]
    async fn aborting_the_supervisor_stops_the_worker() {
        let workers = Arc::new(Workers::default());
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let handle = workers.supervise("w", move || {
            let tx = tx.clone();
            async move {
                // Holds the sender until aborted.
                let _tx = tx;
                std::future::pending::<()>().await;
            }
        });
        tokio::task::yield_now().await;
        handle.abort();
        let _ = handle.await;
        // Every sender is gone once the worker's run is aborted too.
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_worker_that_returns_is_stopped() {
        let workers = Arc::new(Workers::default());
        workers.supervise("once", || async {}).await.unwrap();
        assert_eq!(workers.report()["once"], WorkerState::Stopped);
    }
}
