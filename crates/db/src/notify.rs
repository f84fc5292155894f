//! Change notifications between nodes sharing a PostgreSQL database: a store that keeps
//! derived copies (the invoker's resolved configurations, compiled policies) announces its
//! commits on a channel, and every node listening on it drops its copies. On SQLite there is
//! one node, whose own commits already tell it, so both calls do nothing there.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use crate::{Dialect, Error, Location, Tx};

/// How long a broken listening connection waits before reconnecting.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);
/// How long a listener waits without a notification before it checks its connection. A live
/// session loses no notification (PostgreSQL queues them for it), so only a connection that
/// died without a word can have lost one; the check finds that out.
const QUIET: Duration = Duration::from_secs(1);
/// How long the listening connection has to answer that check.
const PING: Duration = Duration::from_millis(500);
/// The longest a copy can stay stale after a lost notification: a quiet period, a check that
/// goes unanswered, and the wait before reconnecting, after which the listener calls back.
pub const FALLBACK: Duration = QUIET.saturating_add(PING).saturating_add(RECONNECT_AFTER);

impl Tx<'_> {
    /// Announces on `channel` that this transaction changed something; PostgreSQL delivers it
    /// to every listener when (and only if) the transaction commits.
    pub fn notify(&self, channel: &str) -> Result<(), Error> {
        if self.dialect() == Dialect::Sqlite {
            return Ok(());
        }
        self.query_opt(
            "SELECT pg_notify(?1, '')",
            crate::args![channel],
            |_| Ok(()),
        )
        .map(drop)
    }
}

/// Calls `changed` whenever another transaction notifies `channel`, and after every
/// reconnection, since notifications sent while disconnected are lost (a broken connection is
/// found within [`FALLBACK`]). Runs on a thread of its own for the life of the process; does
/// nothing on SQLite.
pub fn listen(
    location: &Location,
    channel: &str,
    changed: impl Fn() + Send + 'static,
) -> Result<(), Error> {
    let Location::Postgres(config) = location else {
        return Ok(());
    };
    let config = (**config).clone();
    let channel = channel.to_string();
    // Connect once here, so a wrong address fails at start-up, not later on a thread.
    let first = crate::pg::blocking(|| connect(&config, &channel))?;
    std::thread::Builder::new()
        .name(format!("listen-{channel}"))
        .spawn(move || {
            let mut client = first;
            loop {
                wait_for_notes(&mut client, &changed);
                client = reconnect(&config, &channel);
                // What was announced while disconnected is lost: assume a change.
                changed();
            }
        })
        .map_err(|e| {
            let cause = crate::Cause::Invalid(e.to_string());
            Error::new("starting a listener on", "a notification channel", cause)
        })?;
    Ok(())
}

/// Calls `changed` for each notification until the connection breaks (or stops answering).
/// A quiet period alone calls nothing: the copies stay while the session that would have
/// heard of a change is known to be alive.
fn wait_for_notes(client: &mut postgres::Client, changed: &impl Fn()) {
    loop {
        if !notes_until_quiet(client, changed) {
            return;
        }
        // Quiet for a while: the connection may be gone (a quiet iterator does not tell).
        if client.is_valid(PING).is_err() {
            return;
        }
    }
}

/// Calls `changed` for each notification until [`QUIET`] passes without one (true) or the
/// connection breaks (false).
fn notes_until_quiet(client: &mut postgres::Client, changed: &impl Fn()) -> bool {
    let mut notes = client.notifications();
    let mut it = notes.timeout_iter(QUIET);
    loop {
        match it.next() {
            Ok(Some(_)) => changed(),
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// A new listening connection, trying until the server answers.
fn reconnect(config: &crate::location::PgTarget, channel: &str) -> postgres::Client {
    loop {
        std::thread::sleep(RECONNECT_AFTER);
        match connect(config, channel) {
            Ok(c) => return c,
            Err(e) => tracing::warn!(error = %e, "storage: reconnecting"),
        }
    }
}

fn connect(config: &crate::location::PgTarget, channel: &str) -> Result<postgres::Client, Error> {
    let err = |e| {
        Error::new(
            "listening on",
            format!("channel {channel}"),
            crate::Cause::Postgres(e),
        )
    };
    let mut c = config.connect().map_err(err)?;
    c.batch_execute(&format!("LISTEN \"{channel}\""))
        .map_err(err)?;
    Ok(c)
}
