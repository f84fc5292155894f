//! `stratus invoke N [--payload JSON | --payload @file] [--qualifier Q] [--log]`.

use std::io::Write;

use base64::Engine as _;
use http::Method;

use super::function_path;
use crate::client::{aws_error, enc, Client, Error};

#[derive(clap::Args)]
pub struct Args {
    /// Function name or ARN.
    pub name: String,
    /// The event: JSON text, or @file to read it from a file.
    #[arg(long)]
    pub payload: Option<String>,
    /// A version or alias.
    #[arg(long)]
    pub qualifier: Option<String>,
    /// Show the end of the invocation's log on stderr.
    #[arg(long)]
    pub log: bool,
}

/// Whether the function succeeded.
pub async fn run(client: &Client, args: Args) -> Result<bool, Error> {
    let payload = match args.payload.as_deref() {
        None => b"{}".to_vec(),
        Some(p) => match p.strip_prefix('@') {
            Some(file) => {
                std::fs::read(file).map_err(|e| Error::other(format!("reading {file}: {e}")))?
            }
            None => p.as_bytes().to_vec(),
        },
    };
    let mut path = format!("{}/invocations", function_path(&args.name));
    if let Some(q) = &args.qualifier {
        path.push_str(&format!("?Qualifier={}", enc(q)));
    }
    let mut headers = vec![("content-type", "application/json")];
    if args.log {
        headers.push(("x-amz-log-type", "Tail"));
    }
    let resp = client
        .send("lambda", Method::POST, &path, &headers, payload)
        .await?;
    if resp.status >= 300 {
        return Err(aws_error(&resp));
    }
    let header = |k: &str| resp.headers.get(k).and_then(|v| v.to_str().ok());
    if let Some(log) = header("x-amz-log-result") {
        if let Ok(text) = base64::engine::general_purpose::STANDARD.decode(log) {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&text);
            if !text.ends_with(b"\n") {
                let _ = writeln!(err);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&resp.body);
    let _ = writeln!(out);
    if let Some(kind) = header("x-amz-function-error") {
        eprintln!(
            "error: the function failed ({kind}); version {}",
            header("x-amz-executed-version").unwrap_or("?")
        );
        return Ok(false);
    }
    Ok(true)
}
