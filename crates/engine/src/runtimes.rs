//! The managed runtimes: bootstraps shipped inside the binary, installed once into the
//! runtime directory every environment sees at `/var/runtime`, and the host interpreters that
//! run them, resolved once (a version-manager shim costs tens of milliseconds per start).

use std::collections::HashMap;
use std::path::Path;

use stratus_core::runtime::{self, Kind};
use tokio::sync::Mutex;

const PYTHON_BOOTSTRAP: &str = include_str!("../runtimes/python/bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("../runtimes/node/bootstrap.mjs");

/// Writes the bootstraps into `dir`, readable by the unprivileged user functions run as
/// whatever the platform's umask.
pub fn install(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    for (name, text) in [
        ("bootstrap.py", PYTHON_BOOTSTRAP),
        ("bootstrap.mjs", NODE_BOOTSTRAP),
    ] {
        std::fs::write(dir.join(name), text)?;
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

/// How to start a runtime: program and arguments.
pub type Command = (String, Vec<String>);

#[derive(Default)]
pub struct Interpreters {
    resolved: Mutex<HashMap<String, Option<String>>>,
}

impl Interpreters {
    /// The command that starts `runtime_name`, given where the runtime and code directories
    /// appear inside the environment. `Err` carries AWS's error type and message.
    pub async fn command(
        &self,
        runtime_name: &str,
        runtime_dir: &str,
        task_root: &str,
        code_dir: &Path,
    ) -> Result<Command, (String, String)> {
        match runtime::kind(runtime_name) {
            Kind::Python => {
                // The host's python3 first: it is the one users install boto3 into. An exact
                // `pythonX.Y` is the fallback on hosts without a plain python3.
                let version = runtime_name.trim_start_matches("python");
                let bin = self
                    .resolve(
                        &["python3", &format!("python{version}")],
                        "import sys; print(sys.executable)",
                    )
                    .await;
                let bin = bin.ok_or_else(|| missing("python3"))?;
                Ok((
                    bin,
                    vec![
                        "-X".into(),
                        "utf8".into(),
                        format!("{runtime_dir}/bootstrap.py"),
                    ],
                ))
            }
            Kind::Node => {
                let bin = self
                    .resolve(&["node"], "")
                    .await
                    .ok_or_else(|| missing("node"))?;
                Ok((bin, vec![format!("{runtime_dir}/bootstrap.mjs")]))
            }
            Kind::Provided => {
                if !is_executable(&code_dir.join("bootstrap")) {
                    return Err((
                        "Runtime.InvalidEntrypoint".into(),
                        format!("Couldn't find valid bootstrap(s): [{task_root}/bootstrap /opt/bootstrap]"),
                    ));
                }
                Ok((format!("{task_root}/bootstrap"), vec![]))
            }
            Kind::Unsupported => Err((
                "Runtime.InvalidRuntime".into(),
                format!("The runtime {runtime_name} is not supported by this platform."),
            )),
        }
    }

    /// The first candidate found on PATH, resolved to the real interpreter by running `probe`
    /// (python) or following symlinks, cached.
    async fn resolve(&self, candidates: &[&str], probe: &str) -> Option<String> {
        let key = candidates.join("|");
        let mut cache = self.resolved.lock().await;
        if let Some(hit) = cache.get(&key) {
            return hit.clone();
        }
        let mut found = None;
        for path in candidates.iter().filter_map(|c| which(c)) {
            // A shim may exist for a version that is not installed: the probe tells.
            found = if probe.is_empty() {
                Some(path)
            } else {
                real_python(&path, probe).await
            };
            if found.is_some() {
                break;
            }
        }
        cache.insert(key, found.clone());
        found
    }
}

fn missing(what: &str) -> (String, String) {
    (
        "Runtime.InvalidEntrypoint".into(),
        format!("The host has no {what} interpreter on its PATH."),
    )
}

async fn real_python(path: &str, probe: &str) -> Option<String> {
    let out = tokio::process::Command::new(path)
        .arg("-c")
        .arg(probe)
        .output()
        .await
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn which(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .map(|p| p.display().to_string())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
