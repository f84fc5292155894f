//! Log capture. An environment's stdout and stderr share one pipe. A task reads it whenever
//! the function writes, into a buffer; at the end of an invocation the engine reads what is
//! left in the pipe itself, without waiting. A function's writes complete before it posts its
//! answer, so once the answer has arrived everything it printed for that invocation is either
//! in the buffer or in the pipe: no marker and no hand-off between tasks are needed, and a
//! function that prints nothing costs the reader no wake-up at all.
//! Finished invocation logs are appended to the environment's log stream ([`store`]): a file
//! on disk, or (when state is in PostgreSQL) rows written in batches by a background writer.

pub mod copy;
mod database;
mod files;
pub mod frame;
pub mod metrics;
pub mod store;

pub use store::{LogStore, StreamFile};

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use tokio::net::unix::pipe;

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
    /// What the reader task waits on and reads through.
    pipe: pipe::Receiver,
    /// The same pipe, read directly: tokio's `try_read` trusts its cached readiness, which lags
    /// behind the pipe until the reactor has polled, so the read after the answer bypasses it.
    direct: File,
    buf: Mutex<Captured>,
}

impl Output {
    /// Starts a task that reads `read` (the pipe's read end) whenever it has data.
    pub fn start(read: OwnedFd) -> io::Result<(Arc<Output>, tokio::task::JoinHandle<()>)> {
        let pipe = pipe::Receiver::from_owned_fd(read)?;
        let direct = File::from(pipe.as_fd().try_clone_to_owned()?);
        let out = Arc::new(Output {
            pipe,
            direct,
            buf: Mutex::new(Captured::default()),
        });
        let reader = out.clone();
        let task = tokio::spawn(async move {
            while reader.pipe.readable().await.is_ok() {
                match reader.read_pass() {
                    Pass::Drained => {}
                    // A function printing without pause: let the engine (and other tasks) in.
                    Pass::More => tokio::task::yield_now().await,
                    Pass::Closed => return,
                }
            }
        });
        Ok((out, task))
    }

    /// One bounded pass of the reader task, under the buffer's lock, through its thread's
    /// read buffer: one per worker thread rather than one per environment (16 MB at a
    /// thousand environments). A pass never waits, so no other task uses it meanwhile.
    fn read_pass(&self) -> Pass {
        thread_local! {
            static CHUNK: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; 16 * 1024].into());
        }
        CHUNK.with_borrow_mut(|chunk| self.read_pass_through(chunk))
    }

    fn read_pass_through(&self, chunk: &mut [u8]) -> Pass {
        let mut buf = self.buf.lock().unwrap();
        let mut taken = 0;
        while taken < READER_PASS {
            match self.pipe.try_read(chunk) {
                Ok(0) => return Pass::Closed,
                Ok(n) => {
                    buf.push(&chunk[..n]);
                    taken += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Pass::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Pass::Closed,
            }
        }
        Pass::More
    }

    /// Adds a platform line (START, a time-out notice) after everything the function has
    /// written so far: output still unread in the pipe (an init's last lines, say) goes first.
    pub fn append(&self, bytes: &[u8]) {
        let mut buf = self.buf.lock().unwrap();
        self.drain(&mut buf);
        buf.push(bytes);
    }

    /// Everything written so far: the buffer and what is still in the pipe. Called once the
    /// runtime has answered (or died), so the invocation's output is complete.
    pub fn collect(&self) -> Captured {
        let mut buf = self.buf.lock().unwrap();
        self.drain(&mut buf);
        std::mem::take(&mut *buf)
    }

    /// Reads what the pipe holds now into `buf`, without waiting, up to [`MAX_DRAIN`] bytes: a
    /// pipe holds no more than that, so everything written before the call is taken, while a
    /// process that keeps writing cannot hold the caller here. Usually the reader task has
    /// taken it all and this is one failed `read` into a small stack buffer (not
    /// `read_to_end`, which sizes its buffer with two more system calls first).
    fn drain(&self, buf: &mut Captured) {
        let mut small = [0u8; 1024];
        let mut large = Vec::new();
        let mut taken = 0;
        while taken < MAX_DRAIN {
            let chunk: &mut [u8] = if large.is_empty() {
                &mut small
            } else {
                &mut large
            };
            match (&self.direct).read(chunk) {
                Ok(0) => return,
                Ok(n) => {
                    buf.push(&chunk[..n]);
                    taken += n;
                    if n == small.len() && large.is_empty() {
                        large = vec![0u8; 64 * 1024];
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // `WouldBlock`: drained.
                Err(_) => return,
            }
        }
    }
}

/// The most a pipe can hold (Linux's default `pipe-max-size`).
const MAX_DRAIN: usize = 1024 * 1024;
/// What the reader task takes under the lock before letting others have it.
const READER_PASS: usize = 256 * 1024;

enum Pass {
    Drained,
    More,
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pipe_pair() -> (OwnedFd, std::fs::File) {
        let (read, write) = crate::sandbox::pipe().unwrap();
        (read, write.into())
    }

    #[tokio::test]
    async fn collect_takes_what_is_still_in_the_pipe() {
        let (read, mut write) = pipe_pair();
        let (out, _task) = Output::start(read).unwrap();
        out.append(b"START\n");
        write.write_all(b"printed\n").unwrap();
        // No yield: the reader task has not run, so the line is still in the pipe.
        let log = out.collect();
        assert_eq!(log.text, b"START\nprinted\n");
        assert!(
            out.collect().text.is_empty(),
            "collected text is not given twice"
        );
    }

    #[tokio::test]
    async fn a_writer_that_never_stops_does_not_hold_collect() {
        let (read, write) = pipe_pair();
        let (out, _task) = Output::start(read).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let writer = std::thread::spawn(move || {
            let mut write = write;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = write.write_all(&[b'y'; 4096]);
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Returns although the pipe is refilled as fast as it is read.
        let log = out.collect();
        assert!(!log.text.is_empty());
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = out.collect();
        writer.join().unwrap();
    }

    #[tokio::test]
    async fn the_reader_keeps_what_arrives_between_collections() {
        let (read, mut write) = pipe_pair();
        let (out, task) = Output::start(read).unwrap();
        write.write_all(b"early\n").unwrap();
        drop(write);
        task.await.unwrap();
        assert_eq!(
            out.collect().text,
            b"early\n",
            "read before the pipe closed"
        );
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
