//! Log capture. An environment's stdout and stderr share one pipe, read by one task into a
//! buffer. To know that everything a function printed before it answered has been read, the
//! engine writes a flush marker into the same pipe after the answer and waits until the reader
//! reaches it: pipe writes are ordered, so the buffer is then complete for that invocation.
//! The reader cuts the buffer at each marker and hands that segment to its waiter, so an
//! invocation's log can be collected after the next invocation has started writing (the START
//! line goes through the pipe too, see [`Output::write_line`]).
//! Finished invocation logs are appended to the environment's log stream on disk ([`store`]).

pub mod store;

pub use store::LogStore;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

const MARKER_HEAD: &[u8] = b"\x1estratus-flush:";
const MARKER_TAIL: u8 = b'\x1e';

/// Output captured for an invocation, with when each part of it arrived.
#[derive(Debug, Default)]
pub struct Captured {
    pub text: Vec<u8>,
    /// `(offset in text, epoch ms)` wherever the arrival time moved on.
    pub stamps: Vec<(usize, i64)>,
}

impl Captured {
    /// Appends bytes arriving now.
    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let now = store::now_ms();
        if self.stamps.last().is_none_or(|s| s.1 != now) {
            self.stamps.push((self.text.len(), now));
        }
        self.text.extend_from_slice(bytes);
    }

    /// When the byte at `offset` arrived.
    pub fn time_at(&self, offset: usize) -> Option<i64> {
        let i = self.stamps.partition_point(|s| s.0 <= offset);
        self.stamps.get(i.checked_sub(1)?).map(|s| s.1)
    }
}

/// The output of one environment.
pub struct Output {
    buf: Mutex<Captured>,
    waiters: Mutex<HashMap<u64, oneshot::Sender<Captured>>>,
    marker: Mutex<File>,
    seq: AtomicU64,
}

impl Output {
    /// Starts reading `read` in a task; `marker` is a non-blocking write handle on the same pipe.
    pub fn start(
        read: OwnedFd,
        marker: File,
    ) -> io::Result<(Arc<Output>, tokio::task::JoinHandle<()>)> {
        let out = Arc::new(Output {
            buf: Mutex::new(Captured::default()),
            waiters: Mutex::new(HashMap::new()),
            marker: Mutex::new(marker),
            seq: AtomicU64::new(0),
        });
        let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(read)?;
        let reader = out.clone();
        let task = tokio::spawn(async move {
            let mut chunk = vec![0u8; 64 * 1024];
            let mut pending = Vec::new();
            while let Ok(n) = rx.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&chunk[..n]);
                reader.absorb(&mut pending);
            }
        });
        Ok((out, task))
    }

    /// Moves complete text and markers out of `pending`, keeping a possibly split marker.
    fn absorb(&self, pending: &mut Vec<u8>) {
        loop {
            match find(pending, MARKER_HEAD) {
                Some(at) => {
                    let Some(end) = pending[at + MARKER_HEAD.len()..]
                        .iter()
                        .position(|b| *b == MARKER_TAIL)
                    else {
                        self.append(&pending[..at]);
                        pending.drain(..at);
                        return;
                    };
                    let id_bytes = &pending[at + MARKER_HEAD.len()..at + MARKER_HEAD.len() + end];
                    let id = std::str::from_utf8(id_bytes)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok());
                    self.append(&pending[..at]);
                    pending.drain(..at + MARKER_HEAD.len() + end + 1);
                    if let Some(tx) = id.and_then(|id| self.waiters.lock().unwrap().remove(&id)) {
                        let _ = tx.send(self.take());
                    }
                }
                None => {
                    // Keep a tail that could be the start of a marker split across reads.
                    let keep = (1..MARKER_HEAD.len())
                        .rev()
                        .find(|k| pending.ends_with(&MARKER_HEAD[..*k]))
                        .unwrap_or(0);
                    let cut = pending.len() - keep;
                    self.append(&pending[..cut]);
                    pending.drain(..cut);
                    return;
                }
            }
        }
    }

    pub fn append(&self, bytes: &[u8]) {
        self.buf.lock().unwrap().push(bytes);
    }

    /// Waits until everything written to the pipe so far has been read (bounded by `limit`),
    /// then takes what came before the marker.
    pub async fn flush(&self, limit: Duration) -> Captured {
        let (id, rx) = self.register();
        let marker = marker(id);
        if self.write_marker(marker.as_bytes()).await.is_err() {
            self.waiters.lock().unwrap().remove(&id);
            return self.take();
        }
        self.collect(id, rx, limit).await
    }

    /// Writes a flush marker now, without waiting for the reader: the returned [`Mark`]
    /// collects everything written to the pipe before this call, whatever is written after.
    /// `None` if the pipe is full (use [`Output::flush`]).
    pub fn mark(self: &Arc<Self>) -> Option<Mark> {
        let (id, rx) = self.register();
        if !self.try_write(marker(id).as_bytes()) {
            self.waiters.lock().unwrap().remove(&id);
            return None;
        }
        Some(Mark {
            output: self.clone(),
            id,
            rx,
        })
    }

    /// Writes a platform line (such as START) into the pipe, so it is ordered with the
    /// function's own output; into the buffer directly if the pipe is full.
    pub fn write_line(&self, line: &[u8]) {
        if !self.try_write(line) {
            self.append(line);
        }
    }

    /// One non-blocking write into the pipe; whether all of `bytes` went in. Writes of up to
    /// PIPE_BUF bytes are atomic, so they are never split by the function's own writes.
    fn try_write(&self, bytes: &[u8]) -> bool {
        matches!(self.marker.lock().unwrap().write(bytes), Ok(n) if n == bytes.len())
    }

    fn register(&self) -> (u64, oneshot::Receiver<Captured>) {
        let id = self.seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap().insert(id, tx);
        (id, rx)
    }

    async fn collect(&self, id: u64, rx: oneshot::Receiver<Captured>, limit: Duration) -> Captured {
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(segment)) => segment,
            _ => {
                self.waiters.lock().unwrap().remove(&id);
                self.take()
            }
        }
    }

    pub fn take(&self) -> Captured {
        std::mem::take(&mut *self.buf.lock().unwrap())
    }

    async fn write_marker(&self, bytes: &[u8]) -> io::Result<()> {
        for _ in 0..200 {
            let r = self.marker.lock().unwrap().write(bytes);
            match r {
                Ok(n) if n == bytes.len() => return Ok(()),
                Ok(_) => return Err(io::Error::other("short marker write")),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("log pipe stayed full"))
    }
}

/// A flush marker written into the pipe, waiting to be collected.
pub struct Mark {
    output: Arc<Output>,
    id: u64,
    rx: oneshot::Receiver<Captured>,
}

impl Mark {
    /// Everything written before the marker (bounded by `limit`).
    pub async fn collect(self, limit: Duration) -> Captured {
        self.output.collect(self.id, self.rx, limit).await
    }
}

fn marker(id: u64) -> String {
    format!("\x1estratus-flush:{id}\x1e")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output() -> Output {
        Output {
            buf: Mutex::new(Captured::default()),
            waiters: Mutex::new(HashMap::new()),
            marker: Mutex::new(tempfile::tempfile().unwrap()),
            seq: AtomicU64::new(0),
        }
    }

    #[test]
    fn markers_are_removed_and_complete_their_waiter() {
        let out = output();
        let (tx, mut rx) = oneshot::channel();
        out.waiters.lock().unwrap().insert(7, tx);
        let mut pending = b"hello\n\x1estratus-flush:7\x1eafter".to_vec();
        out.absorb(&mut pending);
        assert_eq!(
            rx.try_recv().unwrap().text,
            b"hello\n",
            "the segment before the marker"
        );
        assert_eq!(
            out.take().text,
            b"after",
            "what follows stays for the next one"
        );
    }

    #[test]
    fn split_marker_waits_for_the_rest() {
        let out = output();
        let mut pending = b"text\x1estratus-fl".to_vec();
        out.absorb(&mut pending);
        assert_eq!(out.take().text, b"text");
        pending.extend_from_slice(b"ush:1\x1e");
        out.absorb(&mut pending);
        assert!(out.take().text.is_empty());
        assert!(pending.is_empty());
    }

    #[test]
    fn captured_text_knows_when_each_part_arrived() {
        let mut c = Captured::default();
        assert_eq!(c.time_at(0), None);
        c.push(b"first\n");
        c.stamps[0].1 = 10;
        c.stamps.push((c.text.len(), 20));
        c.text.extend_from_slice(b"second\n");
        assert_eq!(c.time_at(0), Some(10));
        assert_eq!(c.time_at(5), Some(10));
        assert_eq!(c.time_at(6), Some(20));
    }
}
