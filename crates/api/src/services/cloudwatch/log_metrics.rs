//! Metrics from logs into the metric store: the [`MetricSink`] the log store hands the values
//! of metric filters and embedded-metric-format lines to (the invoker hands the same sink its
//! asynchronous invocation metrics, `AWS/Lambda`'s `AsyncEventAge` and the like). `record` is called on the log
//! writer's path, so it only queues; a task writes the queued values in batches. A full queue
//! drops values (with a warning) rather than slowing a function's logging.

use std::sync::Arc;

use stratus_cloudwatch::stats::Sample;
use stratus_cloudwatch::store::{CloudWatchDb, Put};
use stratus_engine::logs::metrics::{MetricDatum, MetricSink};
use tokio::sync::mpsc;

/// Values waiting to be written.
const QUEUE: usize = 10_000;
/// Values written in one transaction at most.
const BATCH: usize = 500;

pub struct LogMetrics {
    tx: mpsc::Sender<MetricDatum>,
}

impl LogMetrics {
    /// The sink, and the writer task it feeds (spawned on the current runtime).
    pub fn start(store: Arc<CloudWatchDb>) -> Arc<LogMetrics> {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write(store, rx));
        Arc::new(LogMetrics { tx })
    }
}

impl MetricSink for LogMetrics {
    fn record(&self, data: Vec<MetricDatum>) {
        for d in data {
            if self.tx.try_send(d).is_err() {
                tracing::warn!("metric values from logs dropped: the writer is behind");
                return;
            }
        }
    }
}

fn put_of(d: MetricDatum) -> Put {
    let mut dims = d.dimensions;
    dims.sort();
    dims.dedup_by(|a, b| a.0 == b.0);
    Put {
        namespace: d.namespace,
        name: d.name,
        dims,
        unit: d.unit.unwrap_or_else(|| "None".to_string()),
        sample: Sample::one(d.timestamp, d.value),
    }
}

async fn write(store: Arc<CloudWatchDb>, mut rx: mpsc::Receiver<MetricDatum>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let puts: Vec<Put> = batch.drain(..).map(put_of).collect();
        let store = store.clone();
        let written = tokio::task::spawn_blocking(move || store.put_datapoints(&puts)).await;
        if let Ok(Err(e)) = written {
            tracing::warn!("writing metric values from logs: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datum_becomes_one_sample_with_sorted_unique_dimensions() {
        let put = put_of(MetricDatum {
            namespace: "App".into(),
            name: "Latency".into(),
            value: 12.5,
            unit: None,
            dimensions: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
            timestamp: 60_000,
        });
        assert_eq!(
            put.dims,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(put.unit, "None");
        assert_eq!(
            (put.sample.count, put.sample.sum, put.sample.ts_ms),
            (1.0, 12.5, 60_000)
        );
    }
}
