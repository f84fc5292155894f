//! Finding the interpreter that serves a runtime identifier: `python3.12` needs a python 3.12,
//! `nodejs22.x` a node 22. Candidates come from the operator's configuration, the PATH and the
//! places version managers install to; each is run once (a version-manager shim may exist for
//! a version that is not installed, and only running it tells) and its version checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The language families Stratus runs with its own bootstraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    Node,
}

/// What a runtime identifier asks for: a language and a version (`3.12`, `22`), or any
/// version (`nodejs`, the identifier of the first node runtime).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wanted {
    pub language: Language,
    /// `(major, minor)` for python, `(major, 0)` for node.
    pub version: Option<(u32, u32)>,
}

impl Wanted {
    /// `python3.12` → python 3.12; `nodejs22.x` → node 22; anything else → `None`.
    pub fn parse(runtime: &str) -> Option<Wanted> {
        if let Some(v) = runtime.strip_prefix("python") {
            let (major, minor) = v.split_once('.')?;
            return Some(Wanted {
                language: Language::Python,
                version: Some((major.parse().ok()?, minor.parse().ok()?)),
            });
        }
        let rest = runtime.strip_prefix("nodejs")?;
        let version = match rest.split('.').next().unwrap_or("") {
            "" => None,
            major => Some((major.parse().ok()?, 0)),
        };
        Some(Wanted {
            language: Language::Node,
            version,
        })
    }

    /// How the version reads in messages: `python 3.12`, `node 22`.
    pub fn describe(&self) -> String {
        match (self.language, self.version) {
            (Language::Python, Some((a, b))) => format!("python {a}.{b}"),
            (Language::Node, Some((a, _))) => format!("node {a}"),
            (Language::Python, None) => "python".into(),
            (Language::Node, None) => "node".into(),
        }
    }

    fn matches(&self, found: &Found) -> bool {
        match self.version {
            None => true,
            Some(v) => self.key(found) == v,
        }
    }

    /// The part of a found version that must equal the wanted one.
    fn key(&self, found: &Found) -> (u32, u32) {
        match self.language {
            Language::Python => (found.version.0, found.version.1),
            Language::Node => (found.version.0, 0),
        }
    }
}

/// A working interpreter: the real executable and its full version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: String,
    pub version: (u32, u32, u32),
}

impl Found {
    pub fn version_text(&self) -> String {
        let (a, b, c) = self.version;
        format!("{a}.{b}.{c}")
    }
}

/// How long a candidate may take to say its version.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// Runs `program` and reads its real path and version, or `None` when it fails (a shim for
/// a version that is not installed, a broken link, a program that is no interpreter).
pub async fn probe(language: Language, program: &Path) -> Option<Found> {
    let script = match language {
        Language::Python => {
            "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"
        }
        Language::Node => "console.log(process.execPath); console.log(process.versions.node)",
    };
    let flag = match language {
        Language::Python => "-c",
        Language::Node => "-e",
    };
    let run = tokio::process::Command::new(program)
        .arg(flag)
        .arg(script)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PROBE_LIMIT, run).await.ok()?.ok()?;
    if !out.status.success() {
        return None;
    }
    parse_probe(&String::from_utf8_lossy(&out.stdout))
}

fn parse_probe(out: &str) -> Option<Found> {
    let mut lines = out.lines().map(str::trim);
    let path = lines.next().filter(|p| p.starts_with('/'))?.to_string();
    let mut parts = lines.next()?.split('.').map(|p| p.parse::<u32>().ok());
    let version = (
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    );
    Some(Found { path, version })
}

/// What each candidate said when it was run, kept for the platform's lifetime: the same
/// program is a candidate for many runtime identifiers (the `node` on PATH for every node
/// version, reached as `/usr/bin/node` and `/bin/node` on a usr-merged host; `python3` for
/// every python version), and running an interpreter costs tens of milliseconds of CPU (a
/// version manager's shim, a chain of shell scripts, more). Resolving every reported
/// runtime at start-up ran node 26 times on a host with one node.
#[derive(Default)]
pub struct Probes(Mutex<HashMap<ProbeKey, Option<Found>>>);

/// A program as the kernel runs it: its language, its real file and the name it was called
/// by (a multi-call shim, such as a version manager's, decides by that name what it runs).
type ProbeKey = (Language, PathBuf, std::ffi::OsString);

impl Probes {
    /// `probe`, once per program.
    pub async fn probe(&self, language: Language, program: &Path) -> Option<Found> {
        let real = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
        let name = program.file_name().unwrap_or_default().to_os_string();
        let key = (language, real, name);
        if let Some(said) = self.lock().get(&key) {
            return said.clone();
        }
        let said = probe(language, program).await;
        self.lock().insert(key, said.clone());
        said
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProbeKey, Option<Found>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The first candidate for `wanted` that runs and has its version.
pub async fn find(wanted: &Wanted, probes: &Probes) -> Option<Found> {
    for candidate in candidates(wanted) {
        if let Some(found) = probes.probe(wanted.language, &candidate).await {
            if wanted.matches(&found) {
                return Some(found);
            }
        }
    }
    None
}

/// Checks an operator-configured interpreter: `Err` says what is wrong with it.
pub async fn check_configured(wanted: &Wanted, path: &Path) -> Result<Found, String> {
    let found = probe(wanted.language, path)
        .await
        .ok_or_else(|| format!("the configured interpreter {} does not run", path.display()))?;
    if wanted.matches(&found) {
        Ok(found)
    } else {
        Err(format!(
            "the configured interpreter {} is {} {}, not {}",
            path.display(),
            match wanted.language {
                Language::Python => "python",
                Language::Node => "node",
            },
            found.version_text(),
            wanted.describe()
        ))
    }
}

/// Where an interpreter for `wanted` may be, most specific first.
fn candidates(wanted: &Wanted) -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut out = Vec::new();
    match (wanted.language, wanted.version) {
        (Language::Python, Some((a, b))) => {
            let exe = format!("python{a}.{b}");
            out.extend(on_path(&exe));
            let pyenv = std::env::var_os("PYENV_ROOT")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".pyenv")));
            if let Some(root) = pyenv {
                out.extend(versions_in(
                    &root.join("versions"),
                    &format!("{a}.{b}."),
                    &format!("bin/{exe}"),
                ));
            }
            if let Some(h) = &home {
                // uv's managed interpreters: cpython-3.12.1-linux-x86_64-gnu/bin/python3.12.
                let uv = h.join(".local/share/uv/python");
                out.extend(versions_in(
                    &uv,
                    &format!("cpython-{a}.{b}."),
                    &format!("bin/{exe}"),
                ));
            }
            for dir in ["/usr/local/bin", "/usr/bin"] {
                out.push(Path::new(dir).join(&exe));
            }
            out.extend(on_path("python3"));
        }
        (Language::Python, None) => out.extend(on_path("python3")),
        (Language::Node, version) => {
            if let Some((major, _)) = version {
                out.extend(on_path(&format!("node{major}")));
                let nvm = std::env::var_os("NVM_DIR")
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|h| h.join(".nvm")));
                if let Some(nvm) = nvm {
                    out.extend(versions_in(
                        &nvm.join("versions/node"),
                        &format!("v{major}."),
                        "bin/node",
                    ));
                }
                if let Some(h) = &home {
                    let fnm = h.join(".local/share/fnm/node-versions");
                    out.extend(versions_in(
                        &fnm,
                        &format!("v{major}."),
                        "installation/bin/node",
                    ));
                }
            }
            out.extend(on_path("node"));
            for dir in ["/usr/local/bin", "/usr/bin"] {
                out.push(Path::new(dir).join("node"));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| is_executable(p) && seen.insert(p.clone()));
    out
}

/// Every executable named `name` on PATH, in PATH order.
fn on_path(name: &str) -> Vec<PathBuf> {
    let Some(path) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    std::env::split_paths(&path).map(|d| d.join(name)).collect()
}

/// `<dir>/<entry>/<exe>` for each entry whose name starts with `prefix`, newest first.
fn versions_in(dir: &Path, prefix: &str, exe: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort_by_key(|n| std::cmp::Reverse(version_key(n)));
    names.into_iter().map(|n| dir.join(n).join(exe)).collect()
}

/// The numbers in a version-manager directory name, for ordering (`v22.11.0` → [22, 11, 0]).
fn version_key(name: &str) -> Vec<u32> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect()
}

pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The available interpreter closest to `wanted` (by minor version for python, major for
/// node; the newer of two equally close), among those `found`.
pub fn nearest<'a>(wanted: &Wanted, found: &'a [Found]) -> Option<&'a Found> {
    let (want_a, want_b) = wanted.version?;
    let distance = |f: &Found| {
        let (a, b) = wanted.key(f);
        let d = (i64::from(a) - i64::from(want_a)).abs() * 1000
            + (i64::from(b) - i64::from(want_b)).abs();
        (d, std::cmp::Reverse(f.version))
    };
    // A python 2 never stands in for a python 3 (the bootstrap is python 3).
    let same_major = |f: &&Found| wanted.language == Language::Node || f.version.0 == want_a;
    found.iter().filter(same_major).min_by_key(|f| distance(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_identifiers_name_a_language_and_version() {
        let py = Wanted::parse("python3.12").unwrap();
        assert_eq!(py.language, Language::Python);
        assert_eq!(py.version, Some((3, 12)));
        assert_eq!(py.describe(), "python 3.12");
        let node = Wanted::parse("nodejs22.x").unwrap();
        assert_eq!(
            (node.language, node.version),
            (Language::Node, Some((22, 0)))
        );
        assert_eq!(Wanted::parse("nodejs").unwrap().version, None);
        assert_eq!(
            Wanted::parse("nodejs4.3-edge").unwrap().version,
            Some((4, 0))
        );
        assert!(Wanted::parse("java21").is_none());
        assert!(Wanted::parse("python3.x").is_none());
    }

    #[test]
    fn probe_output_is_parsed_and_checked() {
        let f = parse_probe("/usr/bin/python3.11\n3.11.7\n").unwrap();
        assert_eq!(f.version, (3, 11, 7));
        assert_eq!(f.version_text(), "3.11.7");
        assert!(parse_probe("pyenv: python3.12: command not found\n").is_none());
        assert!(parse_probe("/x\n").is_none());
        let want = Wanted::parse("python3.11").unwrap();
        assert!(want.matches(&f));
        assert!(!Wanted::parse("python3.12").unwrap().matches(&f));
        let node = parse_probe("/usr/bin/node\n20.20.2\n").unwrap();
        assert!(Wanted::parse("nodejs20.x").unwrap().matches(&node));
        assert!(!Wanted::parse("nodejs22.x").unwrap().matches(&node));
    }

    #[test]
    fn the_nearest_version_is_chosen_newer_on_a_tie() {
        let at = |v: (u32, u32, u32)| Found {
            path: format!("/p{}.{}", v.0, v.1),
            version: v,
        };
        let found = [
            at((2, 7, 18)),
            at((3, 10, 1)),
            at((3, 11, 7)),
            at((3, 13, 0)),
        ];
        let pick = |r: &str| nearest(&Wanted::parse(r).unwrap(), &found).map(|f| f.version);
        assert_eq!(pick("python3.12"), Some((3, 13, 0)));
        assert_eq!(pick("python3.9"), Some((3, 10, 1)));
        assert_eq!(pick("python3.11"), Some((3, 11, 7)));
        assert_eq!(nearest(&Wanted::parse("python3.12").unwrap(), &[]), None);
        assert_eq!(
            nearest(&Wanted::parse("python3.12").unwrap(), &found[..1]),
            None
        );
    }

    /// A shell script that answers a probe as a python would and counts its runs.
    fn counting_interpreter(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join("python3.12");
        let runs = dir.join("runs");
        let script = format!(
            "#!/bin/sh\necho x >> {}\necho /opt/python/bin/python3.12\necho 3.12.4\n",
            runs.display()
        );
        std::fs::write(&exe, script).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A process another test forks while the script is open for writing holds it open
        // until it executes (ETXTBSY): run it until it runs, then start the count afresh.
        for _ in 0..100 {
            match std::process::Command::new(&exe).output() {
                Err(e) if e.raw_os_error() == Some(26) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break,
            }
        }
        let _ = std::fs::remove_file(&runs);
        exe
    }

    fn runs(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("runs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn a_program_reached_by_two_paths_runs_once() {
        let dir = tempfile::tempdir().unwrap();
        let exe = counting_interpreter(dir.path());
        // As `/bin/node` is `/usr/bin/node` on a usr-merged host.
        let other = dir.path().join("bin");
        std::fs::create_dir(&other).unwrap();
        std::os::unix::fs::symlink(&exe, other.join("python3.12")).unwrap();
        let probes = Probes::default();
        let first = probes.probe(Language::Python, &exe).await.unwrap();
        let again = probes
            .probe(Language::Python, &other.join("python3.12"))
            .await;
        assert_eq!(first.version, (3, 12, 4));
        assert_eq!(again, Some(first));
        assert_eq!(runs(dir.path()), 1);
    }

    #[tokio::test]
    async fn one_file_called_by_another_name_is_run_again() {
        // A multi-call shim decides by its name what it runs: `python3.11` and `python3.12`
        // linked to one version manager's binary are two programs.
        let dir = tempfile::tempdir().unwrap();
        let exe = counting_interpreter(dir.path());
        let alias = dir.path().join("python3.11");
        std::os::unix::fs::symlink(&exe, &alias).unwrap();
        let probes = Probes::default();
        probes.probe(Language::Python, &exe).await.unwrap();
        probes.probe(Language::Python, &alias).await.unwrap();
        assert_eq!(runs(dir.path()), 2);
    }

    #[test]
    fn version_manager_directories_are_listed_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        for v in ["3.12.1", "3.12.10", "3.13.0"] {
            std::fs::create_dir_all(dir.path().join(v).join("bin")).unwrap();
        }
        let got = versions_in(dir.path(), "3.12.", "bin/python3.12");
        assert_eq!(got[0], dir.path().join("3.12.10/bin/python3.12"));
        assert_eq!(got.len(), 2);
    }
}
