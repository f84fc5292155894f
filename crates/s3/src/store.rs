//! [`ObjectStore`]: buckets and objects over the metadata database and the blob files, and the
//! hook that turns committed writes into notification events.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use stratus_blobs::BlobStore;

use crate::blobs::Blobs;
use crate::db::{Db, ObjectRow};
use crate::notify::{self, EventSink, ObjectEvent};

pub struct ObjectStore {
    pub db: Db,
    pub blobs: Blobs,
    sink: OnceLock<Arc<dyn EventSink>>,
    sequencer: AtomicU64,
}

impl ObjectStore {
    /// Opens the store: metadata at `location` (on SQLite, `objects/s3.db` in its
    /// directory), the bytes in `blobs`, sweeping blobs a crash left unreferenced.
    pub async fn open(
        root: &Path,
        location: &stratus_db::Location,
        blobs: Arc<BlobStore>,
    ) -> std::io::Result<ObjectStore> {
        std::fs::create_dir_all(root)?;
        let db = Db::open(location).map_err(std::io::Error::other)?;
        let blobs = Blobs::new(blobs);
        let keep: HashSet<String> = db
            .tx(|tx| tx.all_blobs())
            .map_err(std::io::Error::other)?
            .into_iter()
            .collect();
        let swept = blobs.sweep(&keep).await.map_err(std::io::Error::other)?;
        if swept > 0 {
            tracing::info!(swept, "removed unreferenced object blobs");
        }
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        Ok(ObjectStore {
            db,
            blobs,
            sink: OnceLock::new(),
            sequencer: AtomicU64::new(start),
        })
    }

    /// Connects the notification sink (once, at start-up).
    pub fn set_sink(&self, sink: Arc<dyn EventSink>) {
        let _ = self.sink.set(sink);
    }

    pub fn sink(&self) -> Option<&Arc<dyn EventSink>> {
        self.sink.get()
    }

    /// The bytes of an object (for code packages stored in a bucket).
    pub async fn read_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        let row = self
            .db
            .tx(|tx| tx.object(bucket, key))
            .map_err(|e| e.to_string())?;
        match row.filter(|r| !r.delete_marker) {
            None => Ok(None),
            Some(r) => self
                .blobs
                .read_all(&r.blob)
                .await
                .map(Some)
                .map_err(|e| e.to_string()),
        }
    }

    /// Whether `bucket` exists; a database fault is an error, not a missing bucket.
    pub fn bucket_exists(&self, bucket: &str) -> Result<bool, String> {
        self.db
            .tx(|tx| tx.bucket_exists(bucket))
            .map_err(|e| e.to_string())
    }

    /// A bucket's policy (None without one, or for a bucket that does not exist).
    pub fn bucket_policy(&self, bucket: &str) -> Option<String> {
        self.db.tx(|tx| tx.bucket_policy(bucket)).ok().flatten()
    }

    /// Sends `event` (e.g. `ObjectCreated:Put`) on `row` (its `version`, in a bucket that
    /// has had versioning enabled) to every matching configuration, with the trace header of
    /// the request that caused it.
    #[allow(clippy::too_many_arguments)]
    pub fn notify(
        &self,
        event: &str,
        bucket: &str,
        key: &str,
        row: Option<&ObjectRow>,
        version: Option<&str>,
        region: &str,
        request_id: &str,
        trace: Option<&str>,
    ) {
        let Some(sink) = self.sink.get() else { return };
        let stored = self
            .db
            .tx(|tx| tx.notification(bucket))
            .ok()
            .flatten()
            .unwrap_or_default();
        let config = notify::NotificationConfig::parse(&stored);
        let full = format!("s3:{event}");
        let ev = ObjectEvent {
            name: event,
            bucket,
            key,
            size: row.map(|r| r.size),
            etag: row.map(|r| r.etag.as_str()),
            version_id: version,
            sequencer: format!("{:016X}", self.sequencer.fetch_add(1, Ordering::Relaxed)),
            region,
            request_id,
            source_ip: "127.0.0.1",
        };
        for t in config.targets.iter().filter(|t| t.matches(&full, key)) {
            let payload = notify::record(&ev, &t.id).to_string().into_bytes();
            sink.deliver(&t.arn, payload, region, trace);
        }
        // With EventBridge enabled, every event goes to the bus, configured or not.
        if config.event_bridge {
            if let Some(e) = notify::event_bridge_event(&ev) {
                sink.put_event(e, region);
            }
        }
    }
}
