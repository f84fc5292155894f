//! Several Stratus nodes acting as one platform: they share the database and the blob store,
//! know each other through heartbeats in the database, and place each synchronous invocation
//! on the node most likely to hold a warm environment for it.
//!
//! # Layout
//! - [`membership`]: the `cluster` store's table of nodes, heartbeats, leases, and the live
//!   list each node keeps in memory.
//! - [`placement`]: rendezvous hashing of function and version over the live nodes.
//! - [`channel`]: the internal HTTP channel between nodes and its HMAC authentication.
//! - [`wire`]: the forwarded invocation and its answer.
//! - [`Cluster`]: the above together, as the invoker and the server hold it.

pub mod channel;
pub mod membership;
pub mod placement;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use stratus_db::{Error, Location};

pub use channel::{Refused, SendError};
pub use membership::{Load, Node, Running};
pub use wire::{Answer, Forward, Ran};

/// What a node needs to join a cluster.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node_id: String,
    /// The URL other nodes reach this one at (`http://host:port`).
    pub address: String,
    /// The shared secret that authenticates the internal channel.
    pub secret: String,
    /// How long a node stays in the list without a heartbeat.
    pub lease: Duration,
    /// The most execution environments this node keeps (idle and busy); a node with as many
    /// and none idle for a version is full, and its invocations spill to the next node. 0:
    /// no limit.
    pub max_environments: usize,
}

/// This node's part in the cluster.
pub struct Cluster {
    membership: membership::Membership,
    channel: channel::Channel,
    settings: Settings,
    /// Nodes that could not be reached, and when: skipped until the lease has passed.
    unreachable: Mutex<HashMap<String, Instant>>,
    /// Wakes the heartbeat task to re-read the list (a join or leave was announced).
    wake: tokio::sync::Notify,
    /// Called after a successful heartbeat with the ids of the live nodes just read.
    sweeper: OnceLock<Sweeper>,
    /// The list the sweeper last ran with, and when.
    swept: Mutex<Option<(Vec<String>, Instant)>>,
    /// Told what the other nodes run after every read of the list (admission counts it).
    others_running: OnceLock<OthersRunning>,
}

/// What receives the sum of the other nodes' running counts after each read of the list.
pub type OthersRunning = Box<dyn Fn(Running) + Send + Sync>;

/// What runs after each heartbeat with the live node ids (the async queue's release of the
/// leases of nodes that are gone).
pub type Sweeper = Box<dyn Fn(&[String]) + Send + Sync>;

/// How long a node must have been registered before it claims work others could release: by
/// then every live node has re-read the list (each does every heartbeat) and sees it.
pub const SETTLE: Duration = Duration::from_secs(2);

impl Cluster {
    /// Opens the membership store and the channel; the node joins at its first heartbeat.
    pub fn open(location: &Location, settings: Settings) -> Result<Arc<Cluster>, Error> {
        let membership = membership::Membership::open(
            location,
            &settings.node_id,
            &settings.address,
            settings.lease,
        )?;
        Ok(Arc::new(Cluster {
            membership,
            channel: channel::Channel::new(settings.secret.as_bytes()),
            settings,
            unreachable: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            sweeper: OnceLock::new(),
            swept: Mutex::new(None),
            others_running: OnceLock::new(),
        }))
    }

    pub fn node_id(&self) -> &str {
        &self.settings.node_id
    }

    /// See [`Settings::max_environments`].
    pub fn max_environments(&self) -> usize {
        self.settings.max_environments
    }

    /// The live nodes as last read.
    pub fn live(&self) -> Arc<Vec<Node>> {
        self.membership.live()
    }

    /// Whether this node has been in the list for [`SETTLE`]: every other live node's list
    /// shows it, so none takes it for dead.
    pub fn settled(&self) -> bool {
        self.live()
            .iter()
            .any(|n| n.id == self.settings.node_id && n.uptime_ms >= SETTLE.as_millis() as i64)
    }

    /// Sets what receives the other nodes' running counts after each read of the list
    /// (once; later calls are ignored).
    pub fn on_others_running(&self, receiver: OthersRunning) {
        let _ = self.others_running.set(receiver);
    }

    /// Hands the sum of the other live nodes' running counts, as just read, to the receiver.
    fn publish_others(&self) {
        if let Some(receive) = self.others_running.get() {
            receive(Running::of_others(&self.live(), &self.settings.node_id));
        }
    }

    /// Sets what runs after each successful heartbeat (once; later calls are ignored).
    pub fn on_sweep(&self, sweeper: Sweeper) {
        let _ = self.sweeper.set(sweeper);
    }

    /// Runs the sweeper with the list the heartbeat just read, when the list changed since
    /// its last run (a node that dies leaves it) or a lease has passed (what a change could
    /// not show: a holder this node never listed); a steady cluster skips the work.
    fn sweep(&self) {
        let Some(sweep) = self.sweeper.get() else {
            return;
        };
        let ids: Vec<String> = self.live().iter().map(|n| n.id.clone()).collect();
        {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            let due = match &*swept {
                Some((last, at)) => *last != ids || at.elapsed() >= self.settings.lease,
                None => true,
            };
            if !due {
                return;
            }
            *swept = Some((ids.clone(), Instant::now()));
        }
        sweep(&ids);
    }

    /// The ids of the nodes to try for `function` at `version`, best first, leaving out the
    /// ones found unreachable within the lease. This node is always among them (last, if its
    /// own heartbeat has not been read yet or it is draining), so there is always somewhere
    /// to run.
    pub fn candidates(&self, function: &str, version: &str) -> Vec<Node> {
        let live = self.live();
        // Draining shows in this node's own row only after the re-read that follows it.
        let draining_here = self.is_draining();
        let mut out: Vec<Node> = {
            let mut down = self.unreachable.lock().unwrap_or_else(|p| p.into_inner());
            down.retain(|_, since| since.elapsed() < self.settings.lease);
            placement::rank(&live, function, version)
                .into_iter()
                .filter(|n| !down.contains_key(&n.id))
                .filter(|n| !(draining_here && n.id == self.settings.node_id))
                .cloned()
                .collect()
        };
        if !out.iter().any(|n| n.id == self.settings.node_id) {
            out.push(self.placeholder());
        }
        out
    }

    /// This node, as a candidate before its own row has been read.
    fn placeholder(&self) -> Node {
        Node::unread(&self.settings.node_id, &self.settings.address)
    }

    /// Whether `node` is this one.
    pub fn is_local(&self, node: &Node) -> bool {
        node.id == self.settings.node_id
    }

    /// Asks `node` to run `call`. A node that cannot be reached is skipped by later
    /// placements until the lease has passed (by then it has left the list, or renewed).
    pub async fn forward(
        &self,
        node: &Node,
        call: &Forward,
        deadline: Duration,
    ) -> Result<Answer, SendError> {
        let body = Bytes::from(serde_json::to_vec(call).expect("a forward serializes"));
        let sent = self
            .channel
            .post(&node.address, channel::INVOKE_PATH, body, deadline)
            .await;
        let answer = match sent {
            Ok(a) => a,
            Err(e) => {
                if matches!(e, SendError::Unreachable(_)) {
                    tracing::warn!(node = %node.id, address = %node.address, %e, "node unreachable; skipping it");
                    self.unreachable
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(node.id.clone(), Instant::now());
                }
                return Err(e);
            }
        };
        serde_json::from_slice(&answer)
            .map_err(|e| SendError::Broken(format!("unreadable answer from {}: {e}", node.id)))
    }

    /// Checks a request received on the internal channel.
    pub fn verify(
        &self,
        method: &http::Method,
        path: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(), Refused> {
        self.channel.verify(method, path, headers, body)
    }

    /// Re-reads the node list on every join or leave another node announces (PostgreSQL);
    /// the heartbeat task does the reading.
    pub fn listen(self: &Arc<Self>, location: &Location) -> Result<(), Error> {
        let me = Arc::downgrade(self);
        stratus_db::listen(location, membership::CHANNEL, move || {
            if let Some(c) = me.upgrade() {
                c.wake.notify_one();
            }
        })
    }

    /// Heartbeats every second with the load `load` reports (then runs the sweeper with the
    /// list just read), and re-reads the list when woken; runs until aborted. A failed
    /// heartbeat is logged and the last list kept.
    pub async fn heartbeats(self: Arc<Self>, load: Arc<dyn Fn() -> Load + Send + Sync>) {
        let mut tick = tokio::time::interval(membership::HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let beat = tokio::select! {
                _ = tick.tick() => true,
                _ = self.wake.notified() => false,
            };
            let me = self.clone();
            let current = beat.then(|| load());
            let done = tokio::task::spawn_blocking(move || {
                match current {
                    Some(l) => me.membership.heartbeat(&l).map(|()| me.sweep()),
                    None => me.membership.refresh(),
                }
                .map(|()| me.publish_others())
            })
            .await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cluster heartbeat failed"),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => return,
            }
        }
    }

    /// Whether this node is draining (see [`Cluster::drain`]).
    pub fn is_draining(&self) -> bool {
        self.membership.is_draining()
    }

    /// Marks this node as draining in memory, without waiting for the database: `/health` and
    /// its own placement see it at once. [`Cluster::drain`] then tells the others.
    pub fn mark_draining(&self) {
        self.membership.mark_draining();
    }

    /// Starts draining: this node places its own calls elsewhere at once, and marks its row
    /// and announces it so the others stop placing work here. A failed write is logged: the
    /// others then learn it when the node leaves.
    pub async fn drain(self: &Arc<Self>) {
        self.write_row("announcing the drain", membership::Membership::drain)
            .await;
    }

    /// Deletes this node's row (a clean shutdown), so the others stop placing work here.
    pub async fn leave(self: &Arc<Self>) {
        self.write_row("leaving the cluster", membership::Membership::leave)
            .await;
    }

    /// Runs a write to this node's row off the async workers; a failure is logged (`what`
    /// failed), since the others learn the same when the node's lease runs out.
    async fn write_row<E: std::fmt::Display + Send + 'static>(
        self: &Arc<Self>,
        what: &'static str,
        write: fn(&membership::Membership) -> Result<(), E>,
    ) {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || write(&me.membership)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "{what} failed"),
            Err(e) => tracing::warn!(error = %e, "{what} failed"),
        }
    }

    /// What `/health` shows: this node's id and the live nodes.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "node_id": self.settings.node_id,
            "draining": self.is_draining(),
            "address": self.settings.address,
            "lease_secs": self.settings.lease.as_secs_f64(),
            "max_environments": self.settings.max_environments,
            "nodes": *self.live(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(id: &str) -> Settings {
        Settings {
            node_id: id.into(),
            address: format!("http://{id}"),
            secret: "s".into(),
            lease: Duration::from_secs(1),
            max_environments: 0,
        }
    }

    /// The sweeper gets the list each heartbeat read; a node counts as settled only once it
    /// has been listed for [`SETTLE`].
    #[test]
    fn a_heartbeat_sweeps_with_the_live_list_and_a_new_node_settles_later() {
        for b in stratus_db::testing::backends("cluster_sweep") {
            let a = Cluster::open(&b.location, settings("a")).unwrap();
            let c = Cluster::open(&b.location, settings("c")).unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let out = seen.clone();
            a.on_sweep(Box::new(move |ids| out.lock().unwrap().push(ids.to_vec())));
            c.membership.heartbeat(&Load::default()).unwrap();
            a.membership.heartbeat(&Load::default()).unwrap();
            a.sweep();
            a.sweep();
            assert_eq!(
                *seen.lock().unwrap(),
                [vec!["a".to_string(), "c".into()]],
                "{:?}: once while the list stays the same",
                b.location
            );
            c.membership.leave().unwrap();
            a.membership.refresh().unwrap();
            a.sweep();
            assert_eq!(seen.lock().unwrap().last().unwrap(), &["a".to_string()]);
            assert!(!a.settled(), "{:?}: just joined", b.location);
            std::thread::sleep(SETTLE + Duration::from_millis(100));
            a.membership.heartbeat(&Load::default()).unwrap();
            assert!(a.settled(), "{:?}: listed for {SETTLE:?}", b.location);
            // The same list again, a lease later: swept again.
            a.sweep();
            assert_eq!(seen.lock().unwrap().len(), 3, "{:?}", b.location);
            // A node whose list does not show it (its row was expired) is not settled.
            a.membership.leave().unwrap();
            a.membership.refresh().unwrap();
            assert!(!a.settled(), "{:?}: left", b.location);
        }
    }
}
