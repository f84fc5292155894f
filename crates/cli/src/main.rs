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
    },
    /// Copy all state from one database to another (SQLite to PostgreSQL or back), verified
    /// by row counts and checksums; running it again changes nothing.
    Migrate {
        /// The source: `sqlite:<data dir>` or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// The target: `sqlite:<data dir>` or a postgres:// URL.
        #[arg(long)]
        to: String,
    },
    #[command(flatten)]
    Client(commands::ClientCommand),
}

fn main() -> ExitCode {
    // The environment launcher re-executes this binary; it must run before anything else.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__jail") {
        stratus_engine::sandbox::jail::run(args.get(2).map_or("", String::as_str));
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
        Command::Migrate { from, to } => match migrate(&from, &to) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:?}");
                ExitCode::FAILURE
            }
        },
        Command::Client(command) => commands::run(command, cli.endpoint),
    }
}

fn migrate(from: &str, to: &str) -> anyhow::Result<()> {
    let here = std::path::Path::new(".stratus");
    let from = stratus_db::Location::parse(Some(from), here)?;
    let to = stratus_db::Location::parse(Some(to), here)?;
    if let stratus_db::Location::Sqlite(dir) = &to {
        std::fs::create_dir_all(dir)?;
    }
    let stores = stratus_server::migrate::stores();
    let copies = stratus_server::migrate::migrate(&from, &to, &stores)?;
    print!("{}", stratus_server::migrate::render(&copies));
    println!("migrated {from} to {to}");
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
    runtime.block_on(stratus_server::run(cfg, shutdown_signal()))
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
