//! The AWS SDKs the managed runtimes carry, as AWS's do: boto3 for python, the AWS SDK for
//! JavaScript v3 for node. Installed by Stratus from the package registries (pinned) into a
//! directory it manages, one tree per python minor version and one for node, and mounted
//! read-only into each environment (see `super`). Never taken from the host's site-packages.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::discover::Found;

/// The pinned python SDK (boto3 pins the rest of its dependency tree by range).
pub const PYTHON_PACKAGES: &[(&str, &str)] = &[
    ("boto3", "1.44.18"),
    ("botocore", "1.44.18"),
    ("s3transfer", "0.19.3"),
];

/// The last boto3 that supports python 3.9 (later releases need 3.10).
pub const PYTHON_39_PACKAGES: &[(&str, &str)] = &[("boto3", "1.42.97"), ("botocore", "1.42.97")];

/// The pinned packages for python `major.minor`.
pub fn python_packages((major, minor): (u32, u32)) -> &'static [(&'static str, &'static str)] {
    if (major, minor) < (3, 10) {
        PYTHON_39_PACKAGES
    } else {
        PYTHON_PACKAGES
    }
}

/// The pinned AWS SDK for JavaScript v3: the clients of the services Stratus serves.
pub const NODE_SDK_VERSION: &str = "3.1178.0";
pub const NODE_PACKAGES: &[&str] = &[
    "client-s3",
    "client-dynamodb",
    "lib-dynamodb",
    "client-sqs",
    "client-sns",
    "client-lambda",
    "client-eventbridge",
    "client-scheduler",
    "client-sts",
    "client-iam",
    "client-cloudwatch-logs",
];

/// Written last into a complete tree: a tree without it is partial and is not used.
const MARKER: &str = "stratus-sdk.json";

/// Where python X.Y's SDK lives under `root` (what `pip --target` filled).
pub fn python_dir(root: &Path, (major, minor): (u32, u32)) -> PathBuf {
    root.join("python").join(format!("{major}.{minor}"))
}

/// npm's prefix for the node SDK under `root`; the packages are in its `node_modules`.
pub fn node_prefix(root: &Path) -> PathBuf {
    root.join("nodejs")
}

/// Whether a complete SDK tree is at `dir` (a python tree, or the node prefix).
pub fn installed(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
}

/// What `/health` says of a tree: the pinned versions, or `missing`.
pub fn describe(dir: &Path) -> serde_json::Value {
    std::fs::read_to_string(dir.join(MARKER))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| "missing".into())
}

/// How long one install may take.
const INSTALL_LIMIT_SECS: u64 = 600;

/// Installs boto3 for `python` into `python_dir(root, ...)`. Uses that interpreter's own pip,
/// or, when it has none, another python's pip for its version (the SDK is pure python) and
/// then compiles the files with `python` itself, so cold starts find bytecode.
pub fn install_python(root: &Path, python: &Found) -> Result<String, String> {
    let (a, b, _) = python.version;
    let dest = python_dir(root, (a, b));
    let packages = python_packages((a, b));
    let specs: Vec<String> = packages.iter().map(|(n, v)| format!("{n}=={v}")).collect();
    let what = format!("boto3 {} for python {a}.{b}", packages[0].1);
    install_into(&dest, &what, |tmp| {
        let own_pip = Command::new(&python.path)
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        let pip = if own_pip {
            python.path.clone()
        } else {
            "python3".into()
        };
        let mut cmd = Command::new(&pip);
        cmd.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-warn-script-location", "--no-input", "--target"])
        .arg(tmp);
        if !own_pip {
            cmd.args([
                "--python-version",
                &format!("{a}.{b}"),
                "--only-binary=:all:",
            ]);
        }
        cmd.args(&specs);
        run(cmd, "pip")?;
        if !own_pip {
            let mut compile = Command::new(&python.path);
            compile.args(["-m", "compileall", "-q"]).arg(tmp);
            run(compile, "compileall")?;
        }
        let versions: serde_json::Map<String, serde_json::Value> = packages
            .iter()
            .map(|(n, v)| (n.to_string(), (*v).into()))
            .collect();
        Ok(serde_json::Value::Object(versions))
    })
}

/// Installs the pinned `@aws-sdk/*` clients with npm into `node_prefix(root)`.
pub fn install_node(root: &Path, node: &Found) -> Result<String, String> {
    let dest = node_prefix(root);
    let what = format!("the AWS SDK for JavaScript {NODE_SDK_VERSION}");
    install_into(&dest, &what, |tmp| {
        // npm beside the node that runs the functions (a version manager's), else on PATH.
        let beside = Path::new(&node.path).with_file_name("npm");
        let npm = if beside.is_file() {
            beside
        } else {
            PathBuf::from("npm")
        };
        let mut cmd = Command::new(npm);
        cmd.args(["install", "--no-audit", "--no-fund", "--omit=dev"])
            .args(["--no-package-lock", "--loglevel=error", "--prefix"])
            .arg(tmp)
            .args(
                NODE_PACKAGES
                    .iter()
                    .map(|p| format!("@aws-sdk/{p}@{NODE_SDK_VERSION}")),
            );
        run(cmd, "npm")?;
        Ok(serde_json::json!({ "@aws-sdk": NODE_SDK_VERSION }))
    })
}

/// Fills a fresh temporary directory beside `dest`, marks it complete and renames it into
/// place, so a reader never sees a partial tree. Another installer that got there first wins.
fn install_into(
    dest: &Path,
    what: &str,
    fill: impl FnOnce(&Path) -> Result<serde_json::Value, String>,
) -> Result<String, String> {
    if installed(dest) {
        return Ok(format!("{what}: already installed in {}", dest.display()));
    }
    let parent = dest.parent().unwrap_or(dest);
    let fail = |e: std::io::Error| format!("installing {what}: {}: {e}", parent.display());
    std::fs::create_dir_all(parent).map_err(fail)?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("sdk");
    let tmp = parent.join(format!(".{name}.{}.partial", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(fail)?;
    let filled = fill(&tmp).map_err(|e| {
        format!("installing {what} from the package registry failed (an offline host cannot install it; functions then run without the SDK): {e}")
    });
    let versions = match filled {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let done =
        std::fs::write(tmp.join(MARKER), versions.to_string()).and_then(|()| readable_by_all(&tmp));
    if let Err(e) = done {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(fail(e));
    }
    if installed(dest) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Ok(format!("{what}: already installed in {}", dest.display()));
    }
    // A partial tree left by an interrupted older layout has no marker: replace it.
    let _ = std::fs::remove_dir_all(dest);
    match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(format!("{what}: installed in {}", dest.display())),
        Err(_) if installed(dest) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(format!("{what}: already installed in {}", dest.display()))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(fail(e))
        }
    }
}

/// Runs an installer, bounded in time; its last lines of error output explain a failure.
fn run(mut cmd: Command, name: &str) -> Result<(), String> {
    use std::io::Read;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name} could not be started: {e}"))?;
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(INSTALL_LIMIT_SECS);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("{name} took more than {INSTALL_LIMIT_SECS} s"));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(e) => break Err(format!("{name}: {e}")),
        }
    };
    let text = reader.join().unwrap_or_default();
    let status = status?;
    if status.success() {
        return Ok(());
    }
    let tail: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("Running pip as the 'root' user"))
        .map(|l| l.char_indices().nth(300).map_or(l, |(i, _)| &l[..i]))
        .collect();
    let tail = tail[tail.len().saturating_sub(4)..].join(" | ");
    Err(format!("{name} failed ({status}): {tail}"))
}

/// Directories 0755 and files at least 0644, whatever the installer's umask: functions run
/// as an unprivileged user.
fn readable_by_all(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            readable_by_all(&path)?;
        } else if kind.is_file() {
            let mode = entry.metadata()?.permissions().mode();
            if mode & 0o644 != 0o644 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | 0o644))?;
            }
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_install_leaves_nothing_and_says_why() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("python/3.99");
        let err =
            install_into(&dest, "boto3", |_| Err("pip failed: no network".into())).unwrap_err();
        assert!(
            err.contains("offline host") && err.contains("no network"),
            "{err}"
        );
        assert!(!dest.exists());
        assert_eq!(
            std::fs::read_dir(root.path().join("python"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(describe(&dest), serde_json::json!("missing"));
    }

    #[test]
    fn a_complete_install_is_marked_and_readable() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("nodejs");
        let msg = install_into(&dest, "sdk", |tmp| {
            std::fs::create_dir_all(tmp.join("node_modules/x")).unwrap();
            Ok(serde_json::json!({"x": "1"}))
        })
        .unwrap();
        assert!(msg.contains("installed in"), "{msg}");
        assert!(installed(&dest));
        assert_eq!(describe(&dest), serde_json::json!({"x": "1"}));
        let again = install_into(&dest, "sdk", |_| panic!("not run again")).unwrap();
        assert!(again.contains("already installed"), "{again}");
    }
}
