//! `stratus`: run the platform (`stratus serve`), and talk to a running one (`deploy`,
//! `invoke`, `ls`, `logs`, `usage`, ... in [`commands`], over the AWS APIs it serves).

mod client;
mod commands;
mod table;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stratus_server::Config;

#[derive(Parser)]
#[command(
    name = "stratus",
    version,
    about = "A self-hosted serverless platform that speaks AWS Lambda's protocols"
)]
struct Cli {
    /// The server to talk to [default: env STRATUS_ENDPOINT, else AWS_ENDPOINT_URL, else
    /// http://127.0.0.1:4566].
    #[arg(long, global = true)]
    endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum RuntimesCommand {
    /// Install the pinned AWS SDKs (boto3 for python, the AWS SDK for JavaScript v3 for node)
    /// from the package registries for every interpreter that serves a runtime here; what is
    /// already installed is kept.
    Install {
        /// A TOML configuration file [env STRATUS_CONFIG].
        #[arg(long, env = "STRATUS_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory (the SDKs go to <data dir>/runtimes unless runtime_sdk_dir says
        /// otherwise) [default: ./.stratus; env STRATUS_DATA_DIR].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Where to install the SDKs [env STRATUS_RUNTIME_SDK_DIR].
        #[arg(long)]
        sdk_dir: Option<PathBuf>,
    },
}

/// `ID=PATH` of `--runtime`.
fn runtime_pair(v: &str) -> Result<(String, PathBuf), String> {
    let (id, path) = v
        .split_once('=')
        .ok_or_else(|| format!("expected ID=PATH, not {v:?}"))?;
    Ok((id.trim().to_string(), PathBuf::from(path.trim())))
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: the AWS-compatible endpoint and the execution engine.
    Serve {
        /// Address to listen on [default: 127.0.0.1:4566; env STRATUS_LISTEN].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Data directory [default: ./.stratus; env STRATUS_DATA_DIR].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A TOML configuration file [env STRATUS_CONFIG].
        #[arg(long, env = "STRATUS_CONFIG")]
        config: Option<PathBuf>,
        /// Start even if the host lacks a sandbox protection (each is logged and shown by
        /// /health) [env STRATUS_ALLOW_WEAKER_SANDBOX].
        #[arg(long)]
        allow_weaker_sandbox: bool,
        /// Enforce IAM policies on every request: on or off [default: on; env STRATUS_IAM].
        #[arg(long, value_parser = ["on", "off"])]
        iam: Option<String>,
        /// Where state is kept: `sqlite` (a file per store in the data directory) or a
        /// postgres:// URL [default: sqlite; env STRATUS_DATABASE].
        #[arg(long)]
        database: Option<String>,
        /// Where code packages and object bytes are kept: file://<dir> or
        /// s3://<bucket>?endpoint=…&region=… [default: the data directory; env
        /// STRATUS_BLOB_STORE].
        #[arg(long)]
        blob_store: Option<String>,
        /// Join a cluster: the secret every node of it shares (needs a postgres:// database)
        /// [env STRATUS_CLUSTER_SECRET].
        #[arg(long)]
        cluster_secret: Option<String>,
        /// The URL other cluster nodes reach this one at [default: the listen address;
        /// env STRATUS_ADVERTISE].
        #[arg(long)]
        advertise: Option<String>,
        /// In a cluster, seconds a node keeps answering after SIGTERM while it drains
        /// (`/health` answers 503) before its listener closes [default: 5; env
        /// STRATUS_CLUSTER_DRAIN_SECS].
        #[arg(long)]
        cluster_drain_secs: Option<u64>,
        /// The interpreter of a runtime, as ID=PATH (e.g. python3.12=/opt/py/bin/python3.12);
        /// repeatable [config: [runtimes]].
        #[arg(long = "runtime", value_name = "ID=PATH", value_parser = runtime_pair)]
        runtimes: Vec<(String, PathBuf)>,
        /// Run a function whose runtime version is not on this host on the nearest version:
        /// off or nearest [default: off; env STRATUS_RUNTIME_FALLBACK].
        #[arg(long, value_parser = ["off", "nearest"])]
        runtime_fallback: Option<String>,
        /// Milliseconds one minute of a deployment configuration (and a lifecycle hook's
        /// timeout) lasts: for demonstrations and tests only [default: 60000; env
        /// STRATUS_MINUTE_MS].
        #[arg(long)]
        minute_ms: Option<u64>,
    },
    /// Manage the managed runtimes' AWS SDKs.
    Runtimes {
        #[command(subcommand)]
        action: RuntimesCommand,
    },
    /// Copy all state from one database to another (SQLite to PostgreSQL or back), the
    /// function logs of a SQLite data directory when moving to PostgreSQL, and every blob
    /// from one blob store to another; verified by counts and checksums, and running it
    /// again changes nothing.
    Migrate {
        /// The source database: `sqlite:<data dir>` or a postgres:// URL.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// The target database: `sqlite:<data dir>` or a postgres:// URL.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// The blob store to copy from: file://<dir> or s3://… [default: the --from data
        /// directory, when it is `sqlite:<dir>`].
        #[arg(long, requires = "to_blob_store")]
        from_blob_store: Option<String>,
        /// The blob store to copy every code package and object body to.
        #[arg(long)]
        to_blob_store: Option<String>,
    },
    #[command(flatten)]
    Client(commands::ClientCommand),
}

fn main() -> ExitCode {
    // The environment launcher re-executes this binary; it must run before anything else.
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__jail") => {
            stratus_engine::sandbox::jail::run(args.get(2).map_or("", String::as_str))
        }
        Some("__forker") => stratus_engine::sandbox::forker::run(),
        _ => {}
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            config,
            allow_weaker_sandbox,
            iam,
            database,
            blob_store,
            cluster_secret,
            advertise,
            cluster_drain_secs,
            runtimes,
            runtime_fallback,
            minute_ms,
        } => {
            let run = || {
                let mut cfg = Config::load(config.as_deref())?;
                if let Some(l) = listen {
                    cfg.listen = l;
                }
                if let Some(d) = data_dir {
                    cfg.data_dir = d;
                }
                cfg.allow_weaker_sandbox |= allow_weaker_sandbox;
                if let Some(mode) = iam {
                    cfg.iam = mode;
                }
                if database.is_some() {
                    cfg.database = database;
                }
                if let Some(url) = blob_store {
                    cfg.blob_store = stratus_server::config::BlobStoreUrl(url);
                }
                if let Some(s) = cluster_secret {
                    cfg.cluster_secret = Some(stratus_server::config::ClusterSecret(s));
                }
                if advertise.is_some() {
                    cfg.advertise = advertise;
                }
                if let Some(secs) = cluster_drain_secs {
                    cfg.cluster_drain_secs = secs;
                }
                cfg.runtimes.extend(runtimes);
                if let Some(f) = runtime_fallback {
                    cfg.runtime_fallback = f;
                }
                if let Some(ms) = minute_ms {
                    cfg.minute_ms = ms.max(1);
                }
                serve(cfg)
            };
            match run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("Error: {e:?}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate {
            from,
            to,
            from_blob_store,
            to_blob_store,
        } => {
            let blobs = to_blob_store.map(|to| (from_blob_store, to));
            match migrate(from.zip(to), blobs) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("Error: {e:?}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Runtimes {
            action:
                RuntimesCommand::Install {
                    config,
                    data_dir,
                    sdk_dir,
                },
        } => match install_runtimes(config, data_dir, sdk_dir) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("Error: {e:?}");
                ExitCode::FAILURE
            }
        },
        Command::Client(command) => commands::run(command, cli.endpoint),
    }
}

/// `stratus runtimes install`: one line per SDK; fails if any could not be installed.
fn install_runtimes(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    sdk_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut cfg = Config::load(config.as_deref())?;
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    if sdk_dir.is_some() {
        cfg.runtime_sdk_dir = sdk_dir;
    }
    let settings = cfg.runtime_settings(&std::path::absolute(&cfg.data_dir)?)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = rt.block_on(async {
        stratus_engine::runtimes::Runtimes::new(settings)
            .install_sdks()
            .await
    });
    let mut failed = false;
    for r in results {
        match r {
            Ok(line) => println!("{line}"),
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `stratus migrate`: the databases (with the logs) when `databases` names them, the blobs
/// when `blobs` names a target (its source defaulting to the source data directory).
fn migrate(
    databases: Option<(String, String)>,
    blobs: Option<(Option<String>, String)>,
) -> anyhow::Result<()> {
    let here = std::path::Path::new(".stratus");
    let locations = databases
        .as_ref()
        .map(|(from, to)| {
            anyhow::Ok((
                stratus_db::Location::parse(Some(from), here)?,
                stratus_db::Location::parse(Some(to), here)?,
            ))
        })
        .transpose()?;
    if locations.is_none() && blobs.is_none() {
        anyhow::bail!("name what to copy: --from and --to, and/or --to-blob-store");
    }
    if let Some((from, to)) = &locations {
        migrate_databases(from, to)?;
    }
    if let Some((from_blobs, to_blobs)) = blobs {
        let source_dir = match &locations {
            Some((stratus_db::Location::Sqlite(dir), _)) => Some(dir.clone()),
            _ => None,
        };
        let from_blobs = match (from_blobs, source_dir) {
            (Some(url), _) => url,
            (None, Some(dir)) => format!("file://{}", dir.display()),
            (None, None) => {
                anyhow::bail!("--from-blob-store is needed unless --from names a sqlite:<data dir>")
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(migrate_blob_stores(&from_blobs, &to_blobs))?;
    }
    Ok(())
}

/// Every store, then the logs (SQLite's stream files, when moving to PostgreSQL).
fn migrate_databases(from: &stratus_db::Location, to: &stratus_db::Location) -> anyhow::Result<()> {
    if let stratus_db::Location::Sqlite(dir) = to {
        std::fs::create_dir_all(dir)?;
    }
    let stores = stratus_server::migrate::stores();
    let copies = stratus_server::migrate::migrate(from, to, &stores)?;
    print!("{}", stratus_server::migrate::render(&copies));
    if let Some(logs) = stratus_server::migrate::migrate_logs(from, to)? {
        print!("{}", stratus_server::migrate::render_logs(&logs));
    }
    println!("migrated {from} to {to}");
    Ok(())
}

/// Every code package and object body, from one blob store to the other.
async fn migrate_blob_stores(from: &str, to: &str) -> anyhow::Result<()> {
    let here = std::path::Path::new(".stratus");
    let open = |url: &str| {
        stratus_blobs::BlobStore::open(url, here)
            .map_err(|e| anyhow::anyhow!("opening the blob store {url:?}: {e}"))
    };
    let (from, to) = (open(from)?, open(to)?);
    let copies = stratus_server::migrate::migrate_blobs(&from, &to).await?;
    print!("{}", stratus_server::migrate::render_blobs(&copies));
    println!(
        "migrated blobs from {} to {}",
        from.location(),
        to.location()
    );
    Ok(())
}

fn serve(cfg: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STRATUS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let signals = count_signals();
        stratus_server::run(cfg, nth_signal(signals.clone(), 1), nth_signal(signals, 2)).await
    })
}

/// Counts the SIGTERMs and SIGINTs received: the first starts a graceful shutdown, the
/// second cuts it short.
fn count_signals() -> tokio::sync::watch::Receiver<u32> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    let (tx, rx) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    rx
}

/// Resolves once `n` signals have been received.
async fn nth_signal(mut count: tokio::sync::watch::Receiver<u32>, n: u32) {
    let _ = count.wait_for(|c| *c >= n).await;
}
