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
    /// Seconds an idle execution environment is kept warm before it is shut down.
    pub idle_timeout_secs: u64,
    /// `auto` (namespaces when the host allows them), `namespaces` (required), or `process`.
    pub isolation: String,
    /// In namespace isolation, start even when the host lacks a sandbox protection (user
    /// namespaces, seccomp, a cgroup controller): each missing one is logged at start-up and
    /// reported by `/health`. Without it the platform refuses to start on such a host.
    pub allow_weaker_sandbox: bool,
    /// What a function's network reaches in namespace isolation: `platform` (the platform's
    /// endpoint on its loopback, nothing else) or `none` (nothing but its Runtime API).
    pub network: String,
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
    /// `on`: every request is authorized by IAM policies, as on AWS; `off`: any valid
    /// signature may do anything (the single-developer mode).
    pub iam: String,
    /// Where state is kept: unset or `sqlite` for a SQLite file per store in the data
    /// directory, or a `postgres://user[:password]@host[:port]/database` URL.
    pub database: Option<String>,
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
            isolation: "auto".into(),
            allow_weaker_sandbox: false,
            network: "platform".into(),
            async_retry_delay_secs: 60,
            usage_retention_days: 30,
            pricing: stratus_metering::Prices::default(),
            log_retention_days: None,
            header_read_timeout_secs: 30,
            max_connections: 8192,
            ttl_sweep_secs: 60,
            iam: "on".into(),
            database: None,
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
        if let Some(v) = var("STRATUS_ISOLATION") {
            self.isolation = v;
        }
        if let Some(v) = var("STRATUS_NETWORK") {
            self.network = v;
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
        if let Some(v) = var("STRATUS_IAM") {
            self.iam = v;
        }
        if let Some(v) = var("STRATUS_DATABASE") {
            self.database = Some(v);
        }
        if let Some(v) = var("STRATUS_LOG_RETENTION_DAYS") {
            self.log_retention_days = Some(
                v.parse()
                    .with_context(|| format!("STRATUS_LOG_RETENTION_DAYS={v}"))?,
            );
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_defaults() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            "STRATUS_LISTEN" => Some("127.0.0.1:9000".into()),
            "STRATUS_IDLE_TIMEOUT_SECS" => Some("5".into()),
            "STRATUS_HEADER_READ_TIMEOUT_SECS" => Some("3".into()),
            "STRATUS_MAX_CONNECTIONS" => Some("100".into()),
            _ => None,
        })
        .unwrap();
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
    fn file_values_parse() {
        let cfg: Config =
            toml::from_str("listen = \"127.0.0.1:1234\"\nidle_timeout_secs = 30\n").unwrap();
        assert_eq!(cfg.listen.port(), 1234);
        assert_eq!(cfg.idle_timeout_secs, 30);
    }
}
