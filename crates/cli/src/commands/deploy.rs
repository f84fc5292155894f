//! `stratus deploy ./dir --name N ...`: zips a folder and creates the function, or updates its
//! code and configuration if it exists, then waits until the update is done.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use http::Method;
use serde_json::{json, Map, Value};

use super::{function_path, progress};
use crate::client::{Client, Error};
use crate::table::human_bytes;

/// The execution role of the functions the CLI creates: made on first use, trusting Lambda
/// and allowed everything (the CLI is the developer's shortcut; use the IAM API for roles
/// with narrower rights).
const ROLE: &str = "arn:aws:iam::000000000000:role/stratus-cli";
const ROLE_NAME: &str = "stratus-cli";
const ROLE_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Creates the CLI's execution role if it does not exist yet (IAM's Query protocol).
async fn ensure_role(client: &Client) -> Result<(), Error> {
    let form = |pairs: &[(&str, &str)]| {
        let mut f = form_urlencoded::Serializer::new(String::new());
        f.append_pair("Version", "2010-05-08");
        for (k, v) in pairs {
            f.append_pair(k, v);
        }
        f.finish().into_bytes()
    };
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let create = form(&[
        ("Action", "CreateRole"),
        ("RoleName", ROLE_NAME),
        ("AssumeRolePolicyDocument", LAMBDA_TRUST),
    ]);
    let resp = client
        .send("iam", Method::POST, "/", &headers, create)
        .await?;
    if resp.status == 409 {
        return Ok(());
    }
    if resp.status >= 300 {
        return Err(crate::client::aws_error(&resp));
    }
    let attach = form(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", ROLE_NAME),
        ("PolicyArn", ROLE_POLICY),
    ]);
    let resp = client
        .send("iam", Method::POST, "/", &headers, attach)
        .await?;
    if resp.status >= 300 {
        return Err(crate::client::aws_error(&resp));
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct Args {
    /// The folder holding the function's code (zipped as is, relative paths kept).
    pub dir: PathBuf,
    /// Function name.
    #[arg(long)]
    pub name: String,
    /// Runtime, e.g. python3.12, nodejs20.x, provided.al2023 (required to create).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Handler, e.g. app.handler (required to create, except for provided runtimes).
    #[arg(long)]
    pub handler: Option<String>,
    /// Memory in MB.
    #[arg(long)]
    pub memory: Option<u32>,
    /// Timeout in seconds.
    #[arg(long)]
    pub timeout: Option<u32>,
    /// An environment variable (repeatable); replaces all variables when given.
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
}

pub async fn run(client: &Client, args: Args) -> Result<(), Error> {
    let settings = settings(&args)?;
    progress(&format!("Zipping {} ...", args.dir.display()));
    let (zip, files) = zip_dir(&args.dir)?;
    progress(&format!(
        "  {files} files, {}",
        human_bytes(zip.len() as u64)
    ));
    let code = base64::engine::general_purpose::STANDARD.encode(&zip);
    let path = function_path(&args.name);
    let exists = match client
        .lambda(Method::GET, &format!("{path}/configuration"), None)
        .await
    {
        Ok(_) => true,
        Err(e) if e.code() == Some("ResourceNotFoundException") => false,
        Err(e) => return Err(e),
    };
    progress(&format!(
        "Uploading {} to {} ...",
        human_bytes(zip.len() as u64),
        client.endpoint
    ));
    let mut config = if exists {
        progress(&format!("Updating code of {} ...", args.name));
        let cfg = client
            .lambda(
                Method::PUT,
                &format!("{path}/code"),
                Some(&json!({ "ZipFile": code })),
            )
            .await?;
        if !settings.is_empty() {
            wait_until_done(client, &path).await?;
            progress(&format!("Updating configuration of {} ...", args.name));
            client
                .lambda(
                    Method::PUT,
                    &format!("{path}/configuration"),
                    Some(&Value::Object(settings)),
                )
                .await?;
        }
        cfg
    } else {
        let (Some(_), Some(_)) = (&args.runtime, &args.handler) else {
            return Err(Error::other(format!(
                "{} does not exist yet: --runtime and --handler are needed to create it",
                args.name
            )));
        };
        progress(&format!("Creating {} ...", args.name));
        ensure_role(client).await?;
        let mut body = settings;
        body.insert("FunctionName".into(), json!(args.name));
        body.insert("Role".into(), json!(ROLE));
        body.insert("Code".into(), json!({ "ZipFile": code }));
        client
            .lambda(
                Method::POST,
                "/2015-03-31/functions",
                Some(&Value::Object(body)),
            )
            .await?
    };
    progress("Waiting for the deployment to finish ...");
    let done = wait_until_done(client, &path).await?;
    if !done.is_null() {
        config = done;
    }
    let mut out = std::io::stdout().lock();
    let field = |k: &str| config[k].as_str().unwrap_or_default().to_string();
    let _ = writeln!(out, "name:      {}", field("FunctionName"));
    let _ = writeln!(out, "version:   {}", field("Version"));
    let _ = writeln!(out, "arn:       {}", field("FunctionArn"));
    let _ = writeln!(
        out,
        "code size: {}",
        human_bytes(config["CodeSize"].as_u64().unwrap_or(0))
    );
    let _ = writeln!(out, "sha256:    {}", field("CodeSha256"));
    Ok(())
}

/// The configuration members the flags set.
fn settings(args: &Args) -> Result<Map<String, Value>, Error> {
    let mut m = Map::new();
    if let Some(r) = &args.runtime {
        m.insert("Runtime".into(), json!(r));
    }
    if let Some(h) = &args.handler {
        m.insert("Handler".into(), json!(h));
    }
    if let Some(mb) = args.memory {
        m.insert("MemorySize".into(), json!(mb));
    }
    if let Some(s) = args.timeout {
        m.insert("Timeout".into(), json!(s));
    }
    if !args.env.is_empty() {
        let mut vars = Map::new();
        for kv in &args.env {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| Error::other(format!("--env {kv}: expected K=V")))?;
            vars.insert(k.into(), json!(v));
        }
        m.insert("Environment".into(), json!({ "Variables": vars }));
    }
    Ok(m)
}

/// Polls until the function is neither pending nor updating; its final configuration.
async fn wait_until_done(client: &Client, path: &str) -> Result<Value, Error> {
    for _ in 0..600 {
        let cfg = client
            .lambda(Method::GET, &format!("{path}/configuration"), None)
            .await?;
        let pending = cfg["State"] == "Pending" || cfg["LastUpdateStatus"] == "InProgress";
        if !pending {
            if cfg["State"] == "Failed" || cfg["LastUpdateStatus"] == "Failed" {
                let reason = cfg["LastUpdateStatusReason"]
                    .as_str()
                    .or(cfg["StateReason"].as_str())
                    .unwrap_or("unknown reason");
                return Err(Error::other(format!("deployment failed: {reason}")));
            }
            return Ok(cfg);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::other(
        "the deployment did not finish within a minute",
    ))
}

/// Zips `dir` (files and their relative paths; executable bits kept). Returns the bytes and
/// the number of files.
pub fn zip_dir(dir: &Path) -> Result<(Vec<u8>, usize), Error> {
    if !dir.is_dir() {
        return Err(Error::other(format!("{} is not a folder", dir.display())));
    }
    let io = |e: std::io::Error| Error::other(format!("zipping {}: {e}", dir.display()));
    let mut files = Vec::new();
    collect(dir, dir, &mut files).map_err(io)?;
    files.sort();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for rel in &files {
        let full = dir.join(rel);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&full).map_err(io)?.permissions(),
        );
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode & 0o777);
        let name = rel.to_string_lossy().replace('\\', "/");
        zip.start_file(name, opts)
            .map_err(|e| Error::other(format!("zipping: {e}")))?;
        zip.write_all(&std::fs::read(&full).map_err(io)?)
            .map_err(io)?;
    }
    let bytes = zip
        .finish()
        .map_err(|e| Error::other(format!("zipping: {e}")))?
        .into_inner();
    Ok((bytes, files.len()))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(root, &path, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}
