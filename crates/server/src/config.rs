//! Server configuration: one struct with a default for every field. Sources, lowest priority
//! first: built-in defaults, a TOML file, `STRATUS_*` environment variables, command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the one HTTP port listens on.
    pub listen: SocketAddr,
    /// Where everything is stored: metadata database, code packages, logs.
    pub data_dir: PathBuf,
    /// Access key accepted in SigV4 signatures. Defaults to `test` on loopback addresses.
    pub access_key: Option<String>,
    /// Secret key for `access_key`. Defaults to `test` on loopback addresses.
    pub secret_key: Option<String>,
    /// Account-wide limit on concurrent executions.
    pub account_concurrency: u32,
    /// Seconds an idle execution environment is kept warm before it is shut down (also how
    /// long pre-made sandboxes are kept for a runtime no cold start asks for).
    pub idle_timeout_secs: u64,
    /// Sandboxes prepared ahead of cold starts, per runtime a cold start asked for within the
    /// idle timeout (namespace isolation; 0 turns them off).
    pub premade_sandboxes: usize,
    /// `auto` (namespaces when the host allows them), `namespaces` (required), or `process`.
    pub isolation: String,
    /// In namespace isolation, start even when the host lacks a sandbox protection (user
    /// namespaces, seccomp, a cgroup controller): each missing one is logged at start-up and
    /// reported by `/health`. Without it the platform refuses to start on such a host.
    pub allow_weaker_sandbox: bool,
    /// What a function's network reaches in namespace isolation: `platform` (the platform's
    /// endpoint on its loopback, nothing else), `none` (nothing but its Runtime API) or `nat`
    /// (the platform's endpoint, and the outside through a NAT bridge the platform creates).
    pub network: String,
    /// The private IPv4 subnet of the `nat` mode's bridge (its first address is the gateway).
    pub nat_subnet: String,
    /// In the `nat` mode, when non-empty, the only destinations environments may reach:
    /// `CIDR` or `CIDR:port` entries.
    pub egress_allow: Vec<String>,
    /// In the `nat` mode, destinations environments may not reach (checked before
    /// `egress_allow`), in the same form.
    pub egress_deny: Vec<String>,
    /// Seconds before the first retry of a failed asynchronous invocation; the second retry
    /// waits twice as long (AWS: one minute, then two).
    pub async_retry_delay_secs: u64,
    /// Days metering records are kept in `usage.db` (0 keeps them forever).
    pub usage_retention_days: u32,
    /// The price table the usage report charges with (`[pricing]` in the file).
    pub pricing: stratus_metering::Prices,
    /// Days log events are kept in groups that set no retention policy (unset: never expire).
    pub log_retention_days: Option<u32>,
    /// Seconds a connection may take to send a request's headers (idle keep-alive connections
    /// included) before it is closed: what keeps idle or trickling sockets from piling up.
    pub header_read_timeout_secs: u64,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Seconds between sweeps that delete DynamoDB items whose time-to-live has passed.
    pub ttl_sweep_secs: u64,
    /// Seconds between sweeps that apply bucket lifecycle rules (expire objects, abort
    /// incomplete multipart uploads).
    pub lifecycle_sweep_secs: u64,
    /// How many seconds one "day" of a lifecycle rule lasts: 86400. Only tests shorten it, so
    /// that a rule of one day applies within seconds.
    pub lifecycle_day_secs: u64,
    /// How many milliseconds one minute of a `rate()` schedule lasts: 60000. Only tests
    /// shorten it, so that a `rate(1 minute)` rule fires within seconds.
    pub schedule_minute_ms: u64,
    /// How often CloudWatch alarms are evaluated, in milliseconds: 60000, as on AWS. Tests
    /// and demonstrations shorten it so that an alarm reacts within seconds.
    pub alarm_evaluation_ms: u64,
    /// How many milliseconds one minute of a CodeDeploy deployment configuration (its canary
    /// and linear intervals) and of a lifecycle hook's one-hour timeout lasts: 60000. For
    /// demonstrations and tests only, so that a rollout runs in seconds.
    pub minute_ms: u64,
    /// `on`: every request is authorized by IAM policies, as on AWS; `off`: any valid
    /// signature may do anything (the single-developer mode).
    pub iam: String,
    /// Where state is kept: unset or `sqlite` for a SQLite file per store in the data
    /// directory, or a `postgres://user[:password]@host[:port]/database` URL.
    pub database: Option<String>,
    /// Where code packages and object bytes are kept: `file://<dir>`, or
    /// `s3://<bucket>?endpoint=…&region=…[&prefix=…]` for any S3-compatible service. Unset:
    /// the data directory, as always.
    pub blob_store: BlobStoreUrl,
    /// This node's id in a cluster (and wherever a node must be named). Unset: a random id,
    /// made once and kept in the data directory's `node_id` file.
    pub node_id: Option<String>,
    /// The secret nodes of one cluster share: setting it turns cluster mode on (which needs
    /// a PostgreSQL `database`). It authenticates the internal channel between nodes.
    pub cluster_secret: Option<ClusterSecret>,
    /// The URL other nodes reach this one at (`http://host:port`). Unset: the listen address,
    /// unless that is a wildcard (`0.0.0.0`, `::`), which other machines cannot dial.
    pub advertise: Option<String>,
    /// Seconds a node stays in the cluster's list without a heartbeat (they come every
    /// second).
    pub cluster_lease_secs: u64,
    /// In a cluster, seconds a node keeps answering after SIGTERM while it drains: `/health`
    /// says `503 draining` (so a load balancer takes it out) and new invocations go to the
    /// other nodes; then the listener closes. A single node closes at once, as always.
    pub cluster_drain_secs: u64,
    /// In a cluster, the most execution environments (idle and busy) this node keeps before
    /// it passes invocations that find no idle environment to the next node; 0: no limit.
    pub max_environments: usize,
    /// The interpreter of a runtime identifier, when it is not found on its own
    /// (`[runtimes]` in the file: `"python3.12" = "/opt/python3.12/bin/python3.12"`).
    pub runtimes: std::collections::BTreeMap<String, PathBuf>,
    /// What runs a function whose runtime has no interpreter of its version here: `off` (the
    /// invocation fails with `Runtime.InvalidRuntime`) or `nearest` (the nearest version runs
    /// it, and its log stream's `INIT_START` line says so).
    pub runtime_fallback: String,
    /// Where the runtimes' AWS SDKs are installed (shared by data directories that name the
    /// same one). Unset: `<data_dir>/runtimes`.
    pub runtime_sdk_dir: Option<PathBuf>,
    /// Whether `serve` installs missing runtime SDKs from the package registries, in the
    /// background, at start-up (`stratus runtimes install` does it ahead of time).
    pub runtime_sdk_install: bool,
}

/// The cluster secret: its `Debug` never shows it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct ClusterSecret(pub String);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The blob store's URL, which may carry credentials: its `Debug` shows it redacted.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct BlobStoreUrl(pub String);

impl std::fmt::Debug for BlobStoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match stratus_blobs::Location::parse(&self.0, Path::new("<data_dir>")) {
            Ok(l) => f.write_str(&l.redacted()),
            Err(_) => f.write_str("<invalid>"),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:4566".parse().expect("valid default"),
            data_dir: PathBuf::from(".stratus"),
            access_key: None,
            secret_key: None,
            account_concurrency: 1000,
            idle_timeout_secs: 600,
            premade_sandboxes: 2,
            isolation: "auto".into(),
            allow_weaker_sandbox: false,
            network: "platform".into(),
            nat_subnet: "10.213.0.0/16".into(),
            egress_allow: Vec::new(),
            egress_deny: Vec::new(),
            async_retry_delay_secs: 60,
            usage_retention_days: 30,
            pricing: stratus_metering::Prices::default(),
            log_retention_days: None,
            header_read_timeout_secs: 30,
            max_connections: 8192,
            ttl_sweep_secs: 60,
            lifecycle_sweep_secs: 3600,
            lifecycle_day_secs: 86_400,
            schedule_minute_ms: 60_000,
            alarm_evaluation_ms: 60_000,
            minute_ms: 60_000,
            iam: "on".into(),
            database: None,
            blob_store: BlobStoreUrl::default(),
            node_id: None,
            cluster_secret: None,
            advertise: None,
            cluster_lease_secs: 5,
            cluster_drain_secs: 5,
            max_environments: 0,
            runtimes: Default::default(),
            runtime_fallback: "off".into(),
            runtime_sdk_dir: None,
            runtime_sdk_install: true,
        }
    }
}

impl Config {
    /// Loads the file (if any) and then the environment over the defaults.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.pricing.validate().map_err(anyhow::Error::msg)?;
        Ok(cfg)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("STRATUS_LISTEN") {
            self.listen = v.parse().with_context(|| format!("STRATUS_LISTEN={v}"))?;
        }
        if let Some(v) = var("STRATUS_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("STRATUS_ACCESS_KEY") {
            self.access_key = Some(v);
        }
        if let Some(v) = var("STRATUS_SECRET_KEY") {
            self.secret_key = Some(v);
        }
        if let Some(v) = var("STRATUS_ACCOUNT_CONCURRENCY") {
            self.account_concurrency = v
                .parse()
                .with_context(|| format!("STRATUS_ACCOUNT_CONCURRENCY={v}"))?;
        }
        if let Some(v) = var("STRATUS_IDLE_TIMEOUT_SECS") {
            self.idle_timeout_secs = v
                .parse()
                .with_context(|| format!("STRATUS_IDLE_TIMEOUT_SECS={v}"))?;
        }
        if let Some(v) = var("STRATUS_PREMADE_SANDBOXES") {
            self.premade_sandboxes = v
                .parse()
                .with_context(|| format!("STRATUS_PREMADE_SANDBOXES={v}"))?;
        }
        if let Some(v) = var("STRATUS_ISOLATION") {
            self.isolation = v;
        }
        if let Some(v) = var("STRATUS_NETWORK") {
            self.network = v;
        }
        if let Some(v) = var("STRATUS_NAT_SUBNET") {
            self.nat_subnet = v;
        }
        if let Some(v) = var("STRATUS_EGRESS_ALLOW") {
            self.egress_allow = comma_list(&v);
        }
        if let Some(v) = var("STRATUS_EGRESS_DENY") {
            self.egress_deny = comma_list(&v);
        }
        if let Some(v) = var("STRATUS_ALLOW_WEAKER_SANDBOX") {
            self.allow_weaker_sandbox = v
                .parse()
                .with_context(|| format!("STRATUS_ALLOW_WEAKER_SANDBOX={v}"))?;
        }
        if let Some(v) = var("STRATUS_ASYNC_RETRY_DELAY_SECS") {
            self.async_retry_delay_secs = v
                .parse()
                .with_context(|| format!("STRATUS_ASYNC_RETRY_DELAY_SECS={v}"))?;
        }
        if let Some(v) = var("STRATUS_USAGE_RETENTION_DAYS") {
            self.usage_retention_days = v
                .parse()
                .with_context(|| format!("STRATUS_USAGE_RETENTION_DAYS={v}"))?;
        }
        if let Some(v) = var("STRATUS_HEADER_READ_TIMEOUT_SECS") {
            self.header_read_timeout_secs = v
                .parse()
                .with_context(|| format!("STRATUS_HEADER_READ_TIMEOUT_SECS={v}"))?;
        }
        if let Some(v) = var("STRATUS_MAX_CONNECTIONS") {
            self.max_connections = v
                .parse()
                .with_context(|| format!("STRATUS_MAX_CONNECTIONS={v}"))?;
        }
        let prices = &mut self.pricing;
        for (name, slot) in [
            (
                "STRATUS_PRICING_REQUEST_PER_MILLION",
                &mut prices.request_per_million,
            ),
            (
                "STRATUS_PRICING_X86_64_GB_SECOND",
                &mut prices.x86_64_gb_second,
            ),
            (
                "STRATUS_PRICING_ARM64_GB_SECOND",
                &mut prices.arm64_gb_second,
            ),
        ] {
            if let Some(v) = var(name) {
                *slot = v.parse().with_context(|| format!("{name}={v}"))?;
            }
        }
        if let Some(v) = var("STRATUS_TTL_SWEEP_SECS") {
            self.ttl_sweep_secs = v
                .parse()
                .with_context(|| format!("STRATUS_TTL_SWEEP_SECS={v}"))?;
        }
        for (name, slot) in [
            (
                "STRATUS_LIFECYCLE_SWEEP_SECS",
                &mut self.lifecycle_sweep_secs,
            ),
            ("STRATUS_LIFECYCLE_DAY_SECS", &mut self.lifecycle_day_secs),
            ("STRATUS_SCHEDULE_MINUTE_MS", &mut self.schedule_minute_ms),
            ("STRATUS_ALARM_EVALUATION_MS", &mut self.alarm_evaluation_ms),
            ("STRATUS_MINUTE_MS", &mut self.minute_ms),
        ] {
            if let Some(v) = var(name) {
                *slot = v.parse().with_context(|| format!("{name}={v}"))?;
            }
        }
        if let Some(v) = var("STRATUS_IAM") {
            self.iam = v;
        }
        if let Some(v) = var("STRATUS_DATABASE") {
            self.database = Some(v);
        }
        if let Some(v) = var("STRATUS_BLOB_STORE") {
            self.blob_store = BlobStoreUrl(v);
        }
        if let Some(v) = var("STRATUS_NODE_ID") {
            self.node_id = Some(v);
        }
        if let Some(v) = var("STRATUS_CLUSTER_SECRET") {
            self.cluster_secret = Some(ClusterSecret(v));
        }
        if let Some(v) = var("STRATUS_ADVERTISE") {
            self.advertise = Some(v);
        }
        if let Some(v) = var("STRATUS_CLUSTER_LEASE_SECS") {
            self.cluster_lease_secs = v
                .parse()
                .with_context(|| format!("STRATUS_CLUSTER_LEASE_SECS={v}"))?;
        }
        if let Some(v) = var("STRATUS_CLUSTER_DRAIN_SECS") {
            self.cluster_drain_secs = v
                .parse()
                .with_context(|| format!("STRATUS_CLUSTER_DRAIN_SECS={v}"))?;
        }
        if let Some(v) = var("STRATUS_MAX_ENVIRONMENTS") {
            self.max_environments = v
                .parse()
                .with_context(|| format!("STRATUS_MAX_ENVIRONMENTS={v}"))?;
        }
        if let Some(v) = var("STRATUS_RUNTIME_FALLBACK") {
            self.runtime_fallback = v;
        }
        if let Some(v) = var("STRATUS_RUNTIME_SDK_DIR") {
            self.runtime_sdk_dir = Some(v.into());
        }
        if let Some(v) = var("STRATUS_RUNTIME_SDK_INSTALL") {
            self.runtime_sdk_install = v
                .parse()
                .with_context(|| format!("STRATUS_RUNTIME_SDK_INSTALL={v}"))?;
        }
        if let Some(v) = var("STRATUS_LOG_RETENTION_DAYS") {
            self.log_retention_days = Some(
                v.parse()
                    .with_context(|| format!("STRATUS_LOG_RETENTION_DAYS={v}"))?,
            );
        }
        Ok(())
    }

    /// The runtime settings the engine takes, checked: `data_dir` is the resolved data
    /// directory.
    pub fn runtime_settings(
        &self,
        data_dir: &Path,
    ) -> anyhow::Result<stratus_engine::runtimes::Settings> {
        let fallback_nearest = match self.runtime_fallback.as_str() {
            "off" => false,
            "nearest" => true,
            other => bail!("runtime_fallback must be \"off\" or \"nearest\", not {other:?}"),
        };
        for (id, path) in &self.runtimes {
            if stratus_engine::runtimes::discover::Wanted::parse(id).is_none() {
                bail!("[runtimes]: {id:?} is not a python or node runtime identifier (e.g. \"python3.12\", \"nodejs22.x\")");
            }
            if !path.is_absolute() {
                bail!(
                    "[runtimes]: the interpreter of {id} must be an absolute path, not {}",
                    path.display()
                );
            }
        }
        // Absolute: it is bound into environments from the launcher's own working directory.
        let sdk_root = match &self.runtime_sdk_dir {
            Some(dir) => std::path::absolute(dir)
                .with_context(|| format!("runtime_sdk_dir {}", dir.display()))?,
            None => data_dir.join("runtimes"),
        };
        Ok(stratus_engine::runtimes::Settings {
            interpreters: self.runtimes.clone(),
            fallback_nearest,
            sdk_root,
            install_sdks: self.runtime_sdk_install,
        })
    }

    /// Whether IAM policies are enforced (`iam = "on"`, the default).
    pub fn iam_enforced(&self) -> anyhow::Result<bool> {
        match self.iam.as_str() {
            "on" => Ok(true),
            "off" => Ok(false),
            other => bail!("iam must be \"on\" or \"off\", not {other:?}"),
        }
    }

    /// The accepted credentials; `test`/`test` only when listening on loopback.
    pub fn credentials(&self) -> anyhow::Result<(String, String)> {
        match (&self.access_key, &self.secret_key) {
            (Some(a), Some(s)) => Ok((a.clone(), s.clone())),
            (None, None) if self.listen.ip().is_loopback() => Ok(("test".into(), "test".into())),
            (None, None) => bail!(
                "refusing to listen on {} with the default test credentials: set access_key and secret_key (or STRATUS_ACCESS_KEY / STRATUS_SECRET_KEY)",
                self.listen
            ),
            _ => bail!("access_key and secret_key must be set together"),
        }
    }
}

/// What cluster mode needs, checked before anything is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMode {
    pub secret: String,
    /// The URL other nodes reach this one at.
    pub advertise: String,
    pub lease: std::time::Duration,
}

impl Config {
    /// Cluster mode, when a secret is set: it needs PostgreSQL (SQLite files cannot be
    /// shared) and an address other nodes can dial. `bound` is the address actually bound
    /// (the listen port may be 0).
    pub fn cluster_mode(&self, bound: SocketAddr) -> anyhow::Result<Option<ClusterMode>> {
        let Some(ClusterSecret(secret)) = &self.cluster_secret else {
            return Ok(None);
        };
        if secret.is_empty() {
            bail!(
                "cluster_secret is empty: give every node of the cluster the same non-empty secret"
            );
        }
        let postgres = self
            .database
            .as_deref()
            .is_some_and(|d| d.starts_with("postgres://") || d.starts_with("postgresql://"));
        if !postgres {
            bail!("cluster mode (a cluster_secret was given) needs a shared PostgreSQL database: set --database postgres://… (a SQLite data directory belongs to one node)");
        }
        if self.cluster_lease_secs < 2 {
            bail!("cluster_lease_secs must be at least 2 (heartbeats come every second)");
        }
        let advertise = match &self.advertise {
            Some(a) if a.starts_with("http://") => a.trim_end_matches('/').to_string(),
            Some(a) => bail!("advertise must be an http:// URL other nodes reach this one at, not {a:?}"),
            None if bound.ip().is_unspecified() => bail!(
                "listening on {bound}, which other nodes cannot dial: set advertise (--advertise http://<this host>:{})",
                bound.port()
            ),
            None => format!("http://{bound}"),
        };
        Ok(Some(ClusterMode {
            secret: secret.clone(),
            advertise,
            lease: std::time::Duration::from_secs(self.cluster_lease_secs),
        }))
    }

    /// This node's stable id: the configured one, or the one kept in `data_dir/node-id`
    /// (made at random the first time). It names the node in a cluster and as the holder of
    /// its async event leases, so a restarted node knows which leases were its own.
    pub fn node_id(&self, data_dir: &Path) -> anyhow::Result<String> {
        if let Some(id) = &self.node_id {
            return Ok(id.clone());
        }
        let path = data_dir.join(NODE_ID_FILE);
        match std::fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        // Written aside and renamed, so a crash never leaves a half-written id.
        let tmp = data_dir.join(format!("{NODE_ID_FILE}.tmp"));
        std::fs::write(&tmp, format!("{id}\n"))
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(id)
    }
}

/// The file in the data directory holding this node's id.
const NODE_ID_FILE: &str = "node-id";

/// A comma-separated list from an environment variable, blanks dropped.
fn comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_settings_come_from_the_file_and_the_environment() {
        let mut cfg: Config = toml::from_str(
            "runtime_fallback = \"nearest\"\n[runtimes]\n\"python3.12\" = \"/opt/py/bin/python3.12\"\n",
        )
        .unwrap();
        let s = cfg.runtime_settings(Path::new("/data")).unwrap();
        assert!(s.fallback_nearest && s.install_sdks);
        assert_eq!(s.sdk_root, Path::new("/data/runtimes"));
        assert_eq!(
            s.interpreters["python3.12"],
            Path::new("/opt/py/bin/python3.12")
        );
        cfg.apply_env(|k| match k {
            "STRATUS_RUNTIME_FALLBACK" => Some("off".into()),
            "STRATUS_RUNTIME_SDK_DIR" => Some("/cache/sdk".into()),
            "STRATUS_RUNTIME_SDK_INSTALL" => Some("false".into()),
            _ => None,
        })
        .unwrap();
        let s = cfg.runtime_settings(Path::new("/data")).unwrap();
        assert!(!s.fallback_nearest && !s.install_sdks);
        assert_eq!(s.sdk_root, Path::new("/cache/sdk"));
        cfg.runtime_fallback = "closest".into();
        let e = cfg
            .runtime_settings(Path::new("/d"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("runtime_fallback must be"), "{e}");
        cfg.runtime_fallback = "off".into();
        cfg.runtimes.insert("java21".into(), "/usr/bin/java".into());
        let e = cfg
            .runtime_settings(Path::new("/d"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a python or node runtime"), "{e}");
    }

    #[test]
    fn env_overrides_defaults() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            "STRATUS_LISTEN" => Some("127.0.0.1:9000".into()),
            "STRATUS_IDLE_TIMEOUT_SECS" => Some("5".into()),
            "STRATUS_HEADER_READ_TIMEOUT_SECS" => Some("3".into()),
            "STRATUS_MAX_CONNECTIONS" => Some("100".into()),
            "STRATUS_PREMADE_SANDBOXES" => Some("0".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(Config::default().premade_sandboxes, 2);
        assert_eq!(cfg.premade_sandboxes, 0);
        assert_eq!(cfg.header_read_timeout_secs, 3);
        assert_eq!(cfg.max_connections, 100);
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.idle_timeout_secs, 5);
        assert_eq!(cfg.data_dir, PathBuf::from(".stratus"));
    }

    #[test]
    fn sandbox_options_come_from_the_file_and_the_environment() {
        let mut cfg: Config =
            toml::from_str("allow_weaker_sandbox = true\nnetwork = \"none\"\n").unwrap();
        assert!(cfg.allow_weaker_sandbox);
        assert_eq!(cfg.network, "none");
        cfg.apply_env(|k| match k {
            "STRATUS_ALLOW_WEAKER_SANDBOX" => Some("false".into()),
            "STRATUS_NETWORK" => Some("platform".into()),
            _ => None,
        })
        .unwrap();
        assert!(!cfg.allow_weaker_sandbox);
        assert_eq!(cfg.network, "platform");
        let bad = cfg.apply_env(|k| (k == "STRATUS_ALLOW_WEAKER_SANDBOX").then(|| "yes".into()));
        assert!(bad.is_err());
    }

    #[test]
    fn nat_options_come_from_the_file_and_the_environment() {
        let mut cfg: Config = toml::from_str(
            "network = \"nat\"\nnat_subnet = \"10.9.0.0/20\"\negress_deny = [\"10.0.0.0/8\"]\n",
        )
        .unwrap();
        assert_eq!(cfg.network, "nat");
        assert_eq!(cfg.nat_subnet, "10.9.0.0/20");
        assert_eq!(cfg.egress_deny, vec!["10.0.0.0/8"]);
        assert!(cfg.egress_allow.is_empty());
        cfg.apply_env(|k| match k {
            "STRATUS_EGRESS_ALLOW" => Some(" 192.0.2.0/24:443, ,198.51.100.7 ".into()),
            "STRATUS_EGRESS_DENY" => Some("".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.egress_allow, vec!["192.0.2.0/24:443", "198.51.100.7"]);
        assert!(cfg.egress_deny.is_empty());
        assert_eq!(Config::default().nat_subnet, "10.213.0.0/16");
    }

    #[test]
    fn non_loopback_requires_credentials() {
        let mut cfg = Config {
            listen: "0.0.0.0:4566".parse().unwrap(),
            ..Config::default()
        };
        assert!(cfg.credentials().is_err());
        cfg.access_key = Some("a".into());
        cfg.secret_key = Some("b".into());
        assert_eq!(
            cfg.credentials().unwrap(),
            ("a".to_string(), "b".to_string())
        );
        assert_eq!(Config::default().credentials().unwrap().0, "test");
    }

    #[test]
    fn prices_come_from_the_file_and_the_environment() {
        let mut cfg: Config =
            toml::from_str("usage_retention_days = 7\n[pricing]\nrequest_per_million = 1.5\n")
                .unwrap();
        assert_eq!(cfg.usage_retention_days, 7);
        assert_eq!(cfg.pricing.request_per_million, 1.5);
        assert_eq!(
            cfg.pricing.x86_64_gb_second,
            stratus_metering::Prices::default().x86_64_gb_second
        );
        cfg.apply_env(|k| (k == "STRATUS_PRICING_ARM64_GB_SECOND").then(|| "0.5".into()))
            .unwrap();
        assert_eq!(cfg.pricing.arm64_gb_second, 0.5);
        assert!(toml::from_str::<Config>("[pricing]\nper_request = 1\n").is_err());
        assert_eq!(Config::default().usage_retention_days, 30);
    }

    #[test]
    fn the_blob_store_comes_from_the_file_and_the_environment_and_hides_secrets() {
        assert_eq!(
            Config::default().blob_store.0,
            "",
            "the data directory by default"
        );
        let mut cfg: Config = toml::from_str("blob_store = \"file:///srv/blobs\"\n").unwrap();
        assert_eq!(cfg.blob_store.0, "file:///srv/blobs");
        let url = "s3://b?endpoint=http://127.0.0.1:3900&region=garage&access_key_id=GK1&secret_access_key=hush";
        cfg.apply_env(|k| (k == "STRATUS_BLOB_STORE").then(|| url.into()))
            .unwrap();
        assert_eq!(cfg.blob_store.0, url);
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hush") && shown.contains("s3://b?"),
            "{shown}"
        );
    }

    #[test]
    fn cluster_mode_needs_postgres_and_a_dialable_address() {
        let bound: SocketAddr = "127.0.0.1:4600".parse().unwrap();
        let mut cfg = Config::default();
        assert_eq!(
            cfg.cluster_mode(bound).unwrap(),
            None,
            "off without a secret"
        );
        cfg.apply_env(|k| (k == "STRATUS_CLUSTER_SECRET").then(|| "s".into()))
            .unwrap();
        let err = cfg.cluster_mode(bound).unwrap_err().to_string();
        assert!(err.contains("PostgreSQL"), "{err}");
        assert!(
            !format!("{cfg:?}").contains("\"s\""),
            "the secret is never shown"
        );
        cfg.database = Some("postgres://u@db/stratus".into());
        let mode = cfg.cluster_mode(bound).unwrap().unwrap();
        assert_eq!(mode.advertise, "http://127.0.0.1:4600");
        assert_eq!(mode.lease, std::time::Duration::from_secs(5));
        assert_eq!(cfg.cluster_drain_secs, 5, "the default grace period");
        cfg.apply_env(|k| (k == "STRATUS_CLUSTER_DRAIN_SECS").then(|| "12".into()))
            .unwrap();
        assert_eq!(cfg.cluster_drain_secs, 12);
        assert!(cfg
            .apply_env(|k| (k == "STRATUS_CLUSTER_DRAIN_SECS").then(|| "soon".into()))
            .is_err());
        let wildcard: SocketAddr = "0.0.0.0:4600".parse().unwrap();
        assert!(cfg.cluster_mode(wildcard).is_err());
        cfg.advertise = Some("http://10.0.0.7:4600/".into());
        assert_eq!(
            cfg.cluster_mode(wildcard).unwrap().unwrap().advertise,
            "http://10.0.0.7:4600"
        );
        cfg.advertise = Some("10.0.0.7:4600".into());
        assert!(cfg.cluster_mode(wildcard).is_err());
    }

    #[test]
    fn the_node_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::default();
        let first = cfg.node_id(dir.path()).unwrap();
        assert_eq!(first.len(), 12);
        assert_eq!(cfg.node_id(dir.path()).unwrap(), first);
        let mut named = Config::default();
        named
            .apply_env(|k| (k == "STRATUS_NODE_ID").then(|| "n1".into()))
            .unwrap();
        assert_eq!(named.node_id(dir.path()).unwrap(), "n1");
    }

    #[test]
    fn file_values_parse() {
        let cfg: Config =
            toml::from_str("listen = \"127.0.0.1:1234\"\nidle_timeout_secs = 30\n").unwrap();
        assert_eq!(cfg.listen.port(), 1234);
        assert_eq!(cfg.idle_timeout_secs, 30);
    }
}
