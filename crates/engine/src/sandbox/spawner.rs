//! The threads every sandbox is made on, and every launcher started from.
//!
//! A launcher dies with its parent (its parent-death signal, so that no environment outlives
//! the platform), and Linux counts as that parent the *thread* that started it, not the
//! process: a launcher started from one of tokio's blocking threads was killed, with its
//! environment, when that thread retired after ten idle seconds. These threads live as long
//! as the platform. There are [`THREADS`] of them: making a sandbox waits on the kernel (its
//! namespace locks, the launcher's exec) for milliseconds, so a few run at once off the async
//! workers, and more would only queue on the same locks.

use std::cell::Cell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

/// Sandboxes made at once.
pub const THREADS: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

static JOBS: OnceLock<mpsc::Sender<Job>> = OnceLock::new();

thread_local! {
    static ON_SPAWNER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work` on a spawner thread, in the caller's tokio runtime, and waits for its result
/// without holding an async worker.
pub async fn run<T, F>(work: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    submit(move || {
        let _ = tx.send(work());
    })?;
    rx.await
        .map_err(|_| io::Error::other("a spawner thread dropped its work (it panicked)"))
}

/// Queues `work` for a spawner thread, in the caller's tokio runtime; a panic in it is
/// logged and the thread goes on.
pub fn submit(work: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let runtime = tokio::runtime::Handle::try_current().ok();
    let job: Job = Box::new(move || {
        let _entered = runtime.as_ref().map(|r| r.enter());
        if catch_unwind(AssertUnwindSafe(work)).is_err() {
            tracing::error!("a sandbox's set-up panicked");
        }
    });
    jobs()?
        .send(job)
        .map_err(|_| io::Error::other("the spawner threads are gone"))
}

/// Spawns `cmd` from a spawner thread: here if the caller is one, else by a round trip to one
/// (blocking the caller for the spawn, a `posix_spawn`).
pub fn spawn(mut cmd: tokio::process::Command) -> io::Result<tokio::process::Child> {
    if ON_SPAWNER.get() {
        return guarded_spawn(&mut cmd);
    }
    let (reply, answer) = mpsc::sync_channel(1);
    submit(move || {
        let _ = reply.send(guarded_spawn(&mut cmd));
    })?;
    answer
        .recv()
        .map_err(|_| io::Error::other("a spawner thread dropped a spawn"))?
}

/// tokio panics when it spawns outside a runtime; that is an error here.
fn guarded_spawn(cmd: &mut tokio::process::Command) -> io::Result<tokio::process::Child> {
    catch_unwind(AssertUnwindSafe(|| cmd.spawn()))
        .unwrap_or_else(|_| Err(io::Error::other("spawning outside a tokio runtime")))
}

fn jobs() -> io::Result<&'static mpsc::Sender<Job>> {
    if let Some(jobs) = JOBS.get() {
        return Ok(jobs);
    }
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for n in 0..THREADS {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("stratus-spawn-{n}"))
            .spawn(move || {
                ON_SPAWNER.set(true);
                loop {
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })?;
    }
    // A racing first caller's threads may have won: ours then end with their channel.
    Ok(JOBS.get_or_init(|| tx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn children_outlive_the_thread_that_asked_for_them() {
        // The child asks for SIGKILL when its parent goes; the asking thread then ends.
        let runtime = tokio::runtime::Handle::current();
        let asking = std::thread::spawn(move || {
            let _entered = runtime.enter();
            let mut cmd = tokio::process::Command::new("sleep");
            cmd.arg("5").kill_on_drop(true);
            // SAFETY: prctl with constant arguments, in the child before exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                    Ok(())
                });
            }
            spawn(cmd).unwrap()
        });
        let mut child = asking.join().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child died with the thread that asked for it"
        );
        child.kill().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_runs_in_the_runtime_and_a_panic_leaves_the_threads_working() {
        for _ in 0..THREADS {
            assert!(run(|| panic!("set-up failed")).await.is_err());
        }
        let mut child = run(|| spawn(tokio::process::Command::new("true")))
            .await
            .unwrap()
            .unwrap();
        assert!(child.wait().await.unwrap().success());
    }

    #[test]
    fn a_spawn_outside_a_runtime_is_an_error() {
        let err = spawn(tokio::process::Command::new("true")).unwrap_err();
        assert!(err.to_string().contains("outside a tokio runtime"), "{err}");
    }
}
