//! The managed runtimes: bootstraps shipped inside the binary (installed into the runtime
//! directory every environment sees at `/var/runtime`), the interpreter that serves each
//! runtime identifier (an honest version: see [`discover`]), and the AWS SDK each one carries
//! (see [`sdk`]).

pub mod discover;
pub mod sdk;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use discover::{Found, Language, Wanted};
use stratus_core::runtime::{self, Kind};
use tokio::sync::{Mutex, OnceCell};

const PYTHON_BOOTSTRAP: &str = include_str!("../../runtimes/python/bootstrap.py");
/// SnapStart's runtime hooks module, importable by function code (as on AWS).
const PYTHON_SNAPSHOT_RESTORE: &str = include_str!("../../runtimes/python/snapshot_restore_py.py");
const NODE_BOOTSTRAP: &str = include_str!("../../runtimes/node/bootstrap.mjs");

/// How long a cold start waits for the start-up install of its SDK before it runs without.
const INSTALL_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Where the node SDK appears inside an environment, as on AWS.
const NODE_SDK_INSIDE: &str = "/var/runtime/node_modules";

/// Writes the bootstraps into `dir`, readable by the unprivileged user functions run as
/// whatever the platform's umask, with the mount point of the node SDK.
pub fn install(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("node_modules"))?;
    for d in [dir.to_path_buf(), dir.join("node_modules")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    for (name, text) in [
        ("bootstrap.py", PYTHON_BOOTSTRAP),
        ("snapshot_restore_py.py", PYTHON_SNAPSHOT_RESTORE),
        ("bootstrap.mjs", NODE_BOOTSTRAP),
    ] {
        std::fs::write(dir.join(name), text)?;
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

/// What the operator chose about runtimes.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Interpreters configured per runtime identifier (`"python3.12" = "/opt/py/bin/python3.12"`).
    pub interpreters: BTreeMap<String, PathBuf>,
    /// Whether a runtime without its own interpreter runs on the nearest available one.
    pub fallback_nearest: bool,
    /// Where the SDK trees live (see [`sdk`]).
    pub sdk_root: PathBuf,
    /// Whether missing SDKs are installed in the background when the platform starts.
    pub install_sdks: bool,
}

/// What serves a runtime identifier on this host.
#[derive(Debug, Clone)]
pub enum Resolution {
    Exact(Found),
    /// Another version, because the operator allowed it; `why` says what was missing.
    Nearest {
        found: Found,
        why: String,
    },
    /// Nothing: `why` says what is missing.
    Unavailable(String),
}

/// How to start a runtime.
#[derive(Debug, Default)]
pub struct Launch {
    pub program: String,
    pub args: Vec<String>,
    /// Host directories bound read-only inside the environment (namespace isolation), and
    /// where.
    pub mounts: Vec<(PathBuf, String)>,
    /// Environment variables of the runtime (NODE_PATH).
    pub env: Vec<(String, String)>,
    /// The `INIT_START` line of the function's log stream: which interpreter ran.
    pub init_start: Option<String>,
}

/// The runtime identifiers `/health` reports (the ones AWS lets functions be created with).
fn reported() -> impl Iterator<Item = &'static str> {
    runtime::ALL.iter().copied().filter(|r| {
        matches!(runtime::kind(r), Kind::Python | Kind::Node) && !runtime::is_deprecated(r)
    })
}

pub struct Runtimes {
    settings: Settings,
    resolved: Mutex<HashMap<String, Resolution>>,
    /// Every interpreter of a language found on the host (for the nearest fallback).
    available: HashMap<Language, OnceCell<Vec<Found>>>,
    /// What each candidate interpreter said when run (each runs once).
    probes: discover::Probes,
    /// Set once the start-up work (resolving, installing missing SDKs) is done.
    prepared: tokio::sync::watch::Sender<bool>,
}

impl Runtimes {
    pub fn new(settings: Settings) -> Runtimes {
        Runtimes {
            settings,
            resolved: Mutex::default(),
            available: [Language::Python, Language::Node]
                .into_iter()
                .map(|l| (l, OnceCell::new()))
                .collect(),
            probes: discover::Probes::default(),
            prepared: tokio::sync::watch::channel(false).0,
        }
    }

    /// Resolves every reported runtime (so `/health` and the first cold starts need not), then,
    /// if allowed, installs the SDKs that are missing for the interpreters found. Run once in
    /// the background at start-up; cold starts that need an SDK wait for it.
    pub async fn prepare(self: Arc<Self>) {
        if self.settings.install_sdks {
            for result in self.install_sdks().await {
                match result {
                    Ok(msg) => tracing::info!("runtime SDK: {msg}"),
                    Err(e) => tracing::warn!("runtime SDK: {e}"),
                }
            }
        } else {
            self.interpreters_in_use().await;
        }
        self.prepared.send_replace(true);
    }

    /// Installs the SDK of every interpreter that serves a reported runtime, where missing
    /// (what `stratus runtimes install` runs): one line per SDK, or why it failed.
    pub async fn install_sdks(&self) -> Vec<Result<String, String>> {
        let (pythons, node) = self.interpreters_in_use().await;
        let root = self.settings.sdk_root.clone();
        let work = move || {
            let mut out: Vec<Result<String, String>> = pythons
                .values()
                .map(|python| sdk::install_python(&root, python))
                .collect();
            match node {
                Some(node) => out.push(sdk::install_node(&root, &node)),
                None => out.push(Ok("the node SDK: skipped, no node on this host".into())),
            }
            out
        };
        tokio::task::spawn_blocking(work)
            .await
            .unwrap_or_else(|e| vec![Err(format!("installing the SDKs: {e}"))])
    }

    /// Resolves every reported runtime: the python interpreters (one per minor version) and
    /// the node that serve them.
    async fn interpreters_in_use(&self) -> (BTreeMap<(u32, u32), Found>, Option<Found>) {
        let mut pythons = BTreeMap::new();
        let mut node = None;
        for id in reported() {
            match self.resolve(id).await {
                Resolution::Exact(f) | Resolution::Nearest { found: f, .. } => {
                    if runtime::kind(id) == Kind::Python {
                        pythons.insert((f.version.0, f.version.1), f);
                    } else {
                        node.get_or_insert(f);
                    }
                }
                Resolution::Unavailable(_) => {}
            }
        }
        (pythons, node)
    }

    /// What serves `runtime_id`, resolved once.
    pub async fn resolve(&self, runtime_id: &str) -> Resolution {
        if let Some(hit) = self.resolved.lock().await.get(runtime_id) {
            return hit.clone();
        }
        let resolution = self.resolve_uncached(runtime_id).await;
        if let Resolution::Nearest { found, why } = &resolution {
            tracing::warn!(runtime = runtime_id, interpreter = %found.path, version = %found.version_text(), "{why}: runtime_fallback = nearest runs it on another version");
        }
        self.resolved
            .lock()
            .await
            .insert(runtime_id.to_string(), resolution.clone());
        resolution
    }

    async fn resolve_uncached(&self, runtime_id: &str) -> Resolution {
        let Some(wanted) = Wanted::parse(runtime_id) else {
            return Resolution::Unavailable(format!("{runtime_id} is not a managed runtime"));
        };
        let why = match self.settings.interpreters.get(runtime_id) {
            Some(path) => match discover::check_configured(&wanted, path).await {
                Ok(found) => return Resolution::Exact(found),
                Err(why) => why,
            },
            None => match discover::find(&wanted, &self.probes).await {
                Some(found) => return Resolution::Exact(found),
                None => format!("no {} on this host", wanted.describe()),
            },
        };
        if !self.settings.fallback_nearest {
            return Resolution::Unavailable(why);
        }
        let all = self.available(wanted.language).await;
        match discover::nearest(&wanted, all) {
            Some(found) => Resolution::Nearest {
                found: found.clone(),
                why,
            },
            None => Resolution::Unavailable(why),
        }
    }

    /// Every interpreter of `language` on the host, one per version.
    async fn available(&self, language: Language) -> &[Found] {
        let cell = &self.available[&language];
        cell.get_or_init(|| async move {
            let ids: Vec<&str> = runtime::ALL
                .iter()
                .copied()
                .filter(|r| {
                    Wanted::parse(r).is_some_and(|w| w.language == language && w.version.is_some())
                })
                .collect();
            let mut out: Vec<Found> = Vec::new();
            for id in ids {
                let Some(wanted) = Wanted::parse(id) else {
                    continue;
                };
                if let Some(f) = discover::find(&wanted, &self.probes).await {
                    if !out.iter().any(|o| o.version == f.version) {
                        out.push(f);
                    }
                }
            }
            out
        })
        .await
    }

    /// `/health`'s list: each runtime identifier and what serves it.
    pub fn report(&self) -> serde_json::Value {
        let Ok(resolved) = self.resolved.try_lock() else {
            return serde_json::json!("resolving");
        };
        let list: Vec<serde_json::Value> = reported()
            .map(|id| match resolved.get(id) {
                None => serde_json::json!({ "runtime": id, "status": "resolving" }),
                Some(Resolution::Unavailable(why)) => {
                    serde_json::json!({ "runtime": id, "status": "unavailable", "reason": why })
                }
                Some(Resolution::Exact(f)) => self.served(id, f, None),
                Some(Resolution::Nearest { found, why }) => self.served(id, found, Some(why)),
            })
            .collect();
        serde_json::Value::Array(list)
    }

    fn served(&self, id: &str, f: &Found, fallback: Option<&String>) -> serde_json::Value {
        let mut v = serde_json::json!({
            "runtime": id,
            "status": if fallback.is_some() { "fallback" } else { "available" },
            "interpreter": f.path,
            "version": f.version_text(),
            "sdk": sdk::describe(&self.sdk_dir(runtime::kind(id), f)),
        });
        if let Some(why) = fallback {
            v["reason"] = format!("{why}; runtime_fallback = nearest").into();
        }
        v
    }

    fn sdk_dir(&self, kind: Kind, f: &Found) -> PathBuf {
        match kind {
            Kind::Python => sdk::python_dir(&self.settings.sdk_root, (f.version.0, f.version.1)),
            _ => sdk::node_prefix(&self.settings.sdk_root),
        }
    }

    /// The SDK tree for an interpreter, once any start-up install has had its chance.
    async fn sdk_for(&self, kind: Kind, f: &Found) -> Option<PathBuf> {
        let dir = self.sdk_dir(kind, f);
        if !sdk::installed(&dir) && self.settings.install_sdks {
            // Installing at start-up: this cold start waits for it (once).
            let mut done = self.prepared.subscribe();
            let _ = tokio::time::timeout(INSTALL_WAIT, done.wait_for(|d| *d)).await;
        }
        sdk::installed(&dir).then_some(dir)
    }

    /// How to start `runtime_name`, given where the runtime and code directories appear
    /// inside the environment (`isolated`: in its own mount namespace). `Err` carries AWS's
    /// error type and message.
    pub async fn command(
        &self,
        runtime_name: &str,
        runtime_dir: &str,
        task_root: &str,
        code_dir: &Path,
        isolated: bool,
    ) -> Result<Launch, (String, String)> {
        let kind = runtime::kind(runtime_name);
        match kind {
            Kind::Python | Kind::Node => {}
            Kind::Provided => {
                if !discover::is_executable(&code_dir.join("bootstrap")) {
                    return Err((
                        "Runtime.InvalidEntrypoint".into(),
                        format!("Couldn't find valid bootstrap(s): [{task_root}/bootstrap /opt/bootstrap]"),
                    ));
                }
                return Ok(Launch {
                    program: format!("{task_root}/bootstrap"),
                    ..Launch::default()
                });
            }
            Kind::Unsupported => {
                return Err((
                    "Runtime.InvalidRuntime".into(),
                    format!("The runtime {runtime_name} is not supported by this platform."),
                ))
            }
        }
        let (found, fallback) = match self.resolve(runtime_name).await {
            Resolution::Exact(f) => (f, None),
            Resolution::Nearest { found, why } => (found, Some(why)),
            Resolution::Unavailable(why) => return Err(refusal(runtime_name, &why)),
        };
        let sdk = self.sdk_for(kind, &found).await;
        let mut launch = match kind {
            Kind::Python => python(&found, sdk, runtime_dir, isolated),
            _ => node(&found, sdk, runtime_dir, task_root, isolated),
        };
        launch.init_start = Some(init_start(runtime_name, kind, &found, fallback.as_deref()));
        Ok(launch)
    }
}

/// The error of a runtime nothing on this host may serve, saying how to fix it.
fn refusal(runtime_name: &str, why: &str) -> (String, String) {
    let exe = match Wanted::parse(runtime_name) {
        Some(Wanted {
            language: Language::Node,
            version: Some((major, _)),
        }) => format!("node{major}"),
        Some(Wanted {
            language: Language::Python,
            version: Some((a, b)),
        }) => format!("python{a}.{b}"),
        _ => "the interpreter".into(),
    };
    (
        "Runtime.InvalidRuntime".into(),
        format!(
            "The runtime {runtime_name} is unavailable on this host: {why}. Install it (found as {exe} on PATH or in a version manager's directory), name it in the configuration file ([runtimes] \"{runtime_name}\" = \"/path/to/{exe}\") or with --runtime {runtime_name}=/path/to/{exe}, or let the nearest version run it with runtime_fallback = \"nearest\"."
        ),
    )
}

/// AWS's `INIT_START` line, naming the interpreter that runs the function (and, when it is
/// not the version asked for, why).
fn init_start(runtime_name: &str, kind: Kind, f: &Found, fallback: Option<&str>) -> String {
    let lang = if kind == Kind::Python {
        "python"
    } else {
        "nodejs"
    };
    let mut line = format!("INIT_START Runtime Version: {lang}:{}", f.version_text());
    if let Some(why) = fallback {
        line.push_str(&format!(
            " (Stratus: {runtime_name} requested, {why}; runtime_fallback = nearest)"
        ));
    }
    line
}

/// Python without the host's site-packages (`-S`: no `site`, `-s`: no user site); the
/// bootstrap builds sys.path as AWS's runtime has it, with the SDK tree at the place AWS's
/// python 3.11+ runtimes keep their bundled libraries.
fn python(f: &Found, sdk: Option<PathBuf>, runtime_dir: &str, isolated: bool) -> Launch {
    let (a, b, _) = f.version;
    let mut mounts = Vec::new();
    let sdk_path = match sdk {
        Some(host) if isolated => {
            let inside = format!("/var/lang/lib/python{a}.{b}/site-packages");
            mounts.push((host, inside.clone()));
            inside
        }
        Some(host) => host.display().to_string(),
        None => String::new(),
    };
    Launch {
        program: f.path.clone(),
        args: vec![
            "-X".into(),
            "utf8".into(),
            "-s".into(),
            "-S".into(),
            format!("{runtime_dir}/bootstrap.py"),
            sdk_path,
        ],
        mounts,
        ..Launch::default()
    }
}

/// Node with NODE_PATH as AWS sets it (layers, the SDK in /var/runtime/node_modules, the
/// runtime and task directories); the bootstrap extends it to ES module imports.
fn node(
    f: &Found,
    sdk: Option<PathBuf>,
    runtime_dir: &str,
    task_root: &str,
    isolated: bool,
) -> Launch {
    let major = f.version.0;
    let mut mounts = Vec::new();
    let modules = match sdk {
        Some(prefix) if isolated => {
            mounts.push((prefix.join("node_modules"), NODE_SDK_INSIDE.to_string()));
            NODE_SDK_INSIDE.to_string()
        }
        Some(prefix) => prefix.join("node_modules").display().to_string(),
        None => format!("{runtime_dir}/node_modules"),
    };
    let node_path = format!(
        "/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:{modules}:{runtime_dir}:{task_root}"
    );
    Launch {
        program: f.path.clone(),
        args: vec![format!("{runtime_dir}/bootstrap.mjs")],
        mounts,
        env: vec![("NODE_PATH".into(), node_path)],
        ..Launch::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(path: &str, v: (u32, u32, u32)) -> Found {
        Found {
            path: path.into(),
            version: v,
        }
    }

    #[test]
    fn python_runs_isolated_from_site_packages_with_the_sdk_mounted() {
        let f = found("/usr/bin/python3.12", (3, 12, 1));
        let l = python(&f, Some("/cache/python/3.12".into()), "/var/runtime", true);
        assert_eq!(l.args[2..4], ["-s", "-S"]);
        assert_eq!(l.args[4], "/var/runtime/bootstrap.py");
        assert_eq!(l.args[5], "/var/lang/lib/python3.12/site-packages");
        assert_eq!(
            l.mounts,
            vec![(
                PathBuf::from("/cache/python/3.12"),
                "/var/lang/lib/python3.12/site-packages".to_string()
            )]
        );
        let plain = python(&f, Some("/cache/python/3.12".into()), "/rt", false);
        assert_eq!(plain.args[5], "/cache/python/3.12");
        assert!(plain.mounts.is_empty());
        assert_eq!(python(&f, None, "/rt", true).args[5], "");
    }

    #[test]
    fn node_path_is_aws_order() {
        let f = found("/usr/bin/node", (20, 20, 2));
        let l = node(
            &f,
            Some("/cache/nodejs".into()),
            "/var/runtime",
            "/var/task",
            true,
        );
        assert_eq!(
            l.env,
            vec![(
                "NODE_PATH".to_string(),
                "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task".to_string()
            )]
        );
        assert_eq!(l.mounts[0].0, PathBuf::from("/cache/nodejs/node_modules"));
    }

    #[test]
    fn init_start_names_the_interpreter_and_a_fallback() {
        let f = found("/usr/bin/python3.11", (3, 11, 7));
        assert_eq!(
            init_start("python3.11", Kind::Python, &f, None),
            "INIT_START Runtime Version: python:3.11.7"
        );
        assert_eq!(
            init_start("python3.12", Kind::Python, &f, Some("no python 3.12 on this host")),
            "INIT_START Runtime Version: python:3.11.7 (Stratus: python3.12 requested, no python 3.12 on this host; runtime_fallback = nearest)"
        );
        let (kind, msg) = refusal("python3.12", "no python 3.12 on this host");
        assert_eq!(kind, "Runtime.InvalidRuntime");
        assert!(
            msg.contains("python3.12")
                && msg.contains("runtime_fallback")
                && msg.contains("[runtimes]"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn an_unavailable_runtime_is_refused_unless_fallback_is_allowed() {
        let mut settings = Settings::default();
        settings
            .interpreters
            .insert("python3.12".into(), "/nonexistent/python3.12".into());
        let strict = Runtimes::new(settings.clone());
        let e = strict
            .command("python3.12", "/rt", "/task", Path::new("/task"), false)
            .await
            .unwrap_err();
        assert_eq!(e.0, "Runtime.InvalidRuntime");
        assert!(
            e.1.contains("/nonexistent/python3.12 does not run"),
            "{}",
            e.1
        );
        assert!(matches!(
            strict.resolve("python3.12").await,
            Resolution::Unavailable(_)
        ));
    }
}
