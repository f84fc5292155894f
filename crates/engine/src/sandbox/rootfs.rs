//! The environment's root filesystem. A skeleton directory is prepared once when the platform
//! starts: the mount points, the symlinks of a usr-merged host (`/bin -> usr/bin`), and a
//! generated `/etc` (the sandbox user, hosts, resolver and name-service configuration, the CA
//! bundle, the time zone, the dynamic linker's cache). Each environment's pid 1 binds that
//! skeleton onto itself read-only, mounts into it what the environment gets (read-only binds of
//! the host's `/usr` and `/lib*`, its code, the runtime bootstraps, the interpreter's own
//! prefix; its own `/tmp`, `/proc`, `/dev` and a `/sys` with only the CPU topology) and pivots
//! into it, detaching the host's tree. Nothing else of the host is reachable: not `/root`,
//! `/home`, the data directory or the platform's configuration.

use std::collections::HashMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

/// The host's system trees every runtime needs, bound read-only (or recreated as the same
/// symlink when the host has merged them into `/usr`).
const SYSTEM_DIRS: [&str; 7] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// The sandbox user and group, as on AWS.
pub const SANDBOX_UID: u32 = 993;
pub const SANDBOX_GID: u32 = 990;
pub const SANDBOX_USER: &str = "sbx_user1051";

/// Host files copied into the generated `/etc` when the host has them: what the dynamic linker,
/// the resolver and TLS libraries read. Nothing here names a host account or secret.
const COPIED_ETC: [&str; 8] = [
    "ld.so.cache",
    "ld.so.conf",
    "protocols",
    "services",
    "mime.types",
    "host.conf",
    "resolv.conf",
    "ssl/openssl.cnf",
];

/// Where the host keeps its CA bundle (Debian's, then Red Hat's / Amazon Linux's).
const CA_BUNDLES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// The prepared skeleton, and the host directories each environment binds into it.
#[derive(Debug)]
pub struct Skeleton {
    pub root: PathBuf,
    /// Host system directories bound read-only at the same path.
    pub system: Vec<PathBuf>,
    /// Interpreter prefixes already given a mount point, by program path.
    exposed: Mutex<HashMap<String, Vec<PathBuf>>>,
}

/// The directories each environment mounts something on.
const MOUNT_POINTS: [&str; 7] = [
    "var/task",
    "var/runtime",
    "opt",
    "tmp",
    "proc",
    "dev",
    "sys",
];

impl Skeleton {
    /// Builds the skeleton under `dir` (replacing what a previous start left there).
    pub fn prepare(dir: &Path) -> io::Result<Skeleton> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        set_mode(dir, 0o755)?;
        for point in MOUNT_POINTS.iter().chain(&["etc"]) {
            mkdir(&dir.join(point))?;
        }
        let mut system = Vec::new();
        for host in SYSTEM_DIRS.iter().map(Path::new) {
            let inside = dir.join(host.strip_prefix("/").unwrap_or(host));
            match std::fs::symlink_metadata(host) {
                Ok(m) if m.file_type().is_symlink() => {
                    std::os::unix::fs::symlink(std::fs::read_link(host)?, &inside)?;
                }
                Ok(m) if m.is_dir() => {
                    mkdir(&inside)?;
                    system.push(host.to_path_buf());
                }
                _ => {}
            }
        }
        write_etc(&dir.join("etc"))?;
        Ok(Skeleton {
            root: dir.to_path_buf(),
            system,
            exposed: Mutex::default(),
        })
    }

    /// The host directories to bind read-only at their own path so that `program` runs: its
    /// prefix (`<prefix>/bin/<exe>`) when it lives outside the system directories, the prefix
    /// of the file it really is (a virtualenv's python is a link to a version manager's), and
    /// a virtualenv's base interpreter. Mount points and the links on the way are created in
    /// the skeleton the first time; later calls return the cached list.
    pub fn expose(&self, program: &str) -> io::Result<Vec<PathBuf>> {
        let mut cache = self.exposed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cache.get(program) {
            return Ok(hit.clone());
        }
        let mut binds: Vec<PathBuf> = Vec::new();
        for prefix in interpreter_prefixes(Path::new(program)) {
            let real = prefix.canonicalize()?;
            if real != prefix {
                self.link(&prefix, &real)?;
            }
            if !binds.iter().any(|b| real.starts_with(b)) {
                mkdir_all(&self.root, &real)?;
                binds.push(real);
            }
        }
        cache.insert(program.to_string(), binds.clone());
        Ok(binds)
    }

    /// Creates the directory `inside` (an absolute path inside the environment) in the
    /// skeleton, for something to be mounted on. A mount point within `/var/runtime` is part of
    /// the runtime directory instead (see `runtimes::install`).
    pub fn mount_point(&self, inside: &Path) -> io::Result<()> {
        if inside.starts_with("/var/runtime") {
            return Ok(());
        }
        mkdir_all(&self.root, inside)
    }

    /// Recreates, inside the skeleton, `path` as a symlink to `real` (its parents as plain
    /// directories), so a program started by its unresolved path finds itself.
    fn link(&self, path: &Path, real: &Path) -> io::Result<()> {
        let inside = self.inside(path);
        if let Some(parent) = path.parent() {
            mkdir_all(&self.root, parent)?;
        }
        match std::os::unix::fs::symlink(real, &inside) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    }

    fn inside(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }
}

/// Where the environment's own files appear: a program there (a custom runtime's
/// `/var/task/bootstrap`) names a path inside the environment, not a host prefix to expose.
const ENVIRONMENT_DIRS: [&str; 3] = ["/var/task", "/var/runtime", "/opt"];

/// Whether `path` lies in a directory every environment gets anyway.
fn is_system(path: &Path) -> bool {
    SYSTEM_DIRS
        .iter()
        .chain(ENVIRONMENT_DIRS.iter())
        .any(|d| path.starts_with(d))
}

/// The prefixes an interpreter needs: see [`Skeleton::expose`]. A prefix that would be a
/// top-level directory (`/root` for `/root/bin/python`) is narrowed to the program's own
/// directory, so nothing around the interpreter comes with it.
fn interpreter_prefixes(program: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut add = |exe: &Path| {
        if !exe.is_absolute() || is_system(exe) {
            return;
        }
        let dir = exe.parent().unwrap_or(exe);
        let prefix = match dir.parent() {
            Some(p) if p.components().count() > 2 => p,
            _ => dir,
        };
        if !found.iter().any(|f: &PathBuf| f == prefix) {
            found.push(prefix.to_path_buf());
        }
    };
    add(program);
    if let Ok(real) = program.canonicalize() {
        add(&real);
    }
    // A virtualenv names its base interpreter's bin directory in `pyvenv.cfg`.
    let cfg = program
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("pyvenv.cfg"));
    if let Some(text) = cfg.and_then(|c| std::fs::read_to_string(c).ok()) {
        for line in text.lines() {
            if let Some((key, value)) = line.split_once('=') {
                if key.trim() == "home" {
                    add(&Path::new(value.trim()).join("python"));
                }
            }
        }
    }
    // Symlinks whose targets are relative would be resolved relative to their real place.
    found.retain(|p| p.components().all(|c| !matches!(c, Component::ParentDir)));
    found
}

/// Creates `path` (absolute) and its parents inside `root`, each 0755.
fn mkdir_all(root: &Path, path: &Path) -> io::Result<()> {
    let mut at = root.to_path_buf();
    for part in path.components().skip(1) {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            // A link there would lead outside the skeleton.
            Ok(m) if m.file_type().is_symlink() => {
                return Err(io::Error::other(format!(
                    "{} is a link in the sandbox root",
                    at.display()
                )))
            }
            Ok(_) => {}
            Err(_) => mkdir(&at)?,
        }
    }
    Ok(())
}

fn mkdir(path: &Path) -> io::Result<()> {
    match std::fs::create_dir_all(path) {
        Ok(()) => set_mode(path, 0o755),
        Err(e) => Err(e),
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The generated `/etc`: AWS's sandbox user and no host account.
fn write_etc(etc: &Path) -> io::Result<()> {
    let write = |name: &str, text: &str| -> io::Result<()> {
        let path = etc.join(name);
        if let Some(parent) = path.parent() {
            mkdir(parent)?;
        }
        std::fs::write(&path, text)?;
        set_mode(&path, 0o644)
    };
    write(
        "passwd",
        &format!(
            "root:x:0:0:root:/root:/sbin/nologin\n\
             {SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_GID}::/home/{SANDBOX_USER}:/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/:/sbin/nologin\n"
        ),
    )?;
    write(
        "group",
        &format!("root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_GID}:\nnobody:x:65534:\n"),
    )?;
    write(
        "hosts",
        "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost ip6-localhost\n",
    )?;
    write(
        "nsswitch.conf",
        "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n",
    )?;
    write("hostname", "stratus\n")?;
    for name in COPIED_ETC {
        if let Ok(bytes) = std::fs::read(Path::new("/etc").join(name)) {
            write(name, &String::from_utf8_lossy(&bytes))?;
        }
    }
    copy_dir_entries(Path::new("/etc/ld.so.conf.d"), &etc.join("ld.so.conf.d"))?;
    copy_dir_entries(Path::new("/etc/alternatives"), &etc.join("alternatives"))?;
    if let Some(bundle) = CA_BUNDLES.iter().find(|b| Path::new(b).is_file()) {
        let pem = std::fs::read(bundle)?;
        for place in CA_BUNDLES {
            let path = etc.join(place.trim_start_matches("/etc/"));
            mkdir(path.parent().unwrap_or(etc))?;
            std::fs::write(&path, &pem)?;
            set_mode(&path, 0o644)?;
        }
        std::os::unix::fs::symlink("certs/ca-certificates.crt", etc.join("ssl/cert.pem"))?;
    }
    std::os::unix::fs::symlink("/usr/share/zoneinfo/UTC", etc.join("localtime"))
}

/// Copies the regular files and symlinks (as symlinks) of a host `/etc` directory.
fn copy_dir_entries(from: &Path, to: &Path) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    mkdir(to)?;
    for entry in entries.flatten() {
        let dst = to.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, dst)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dst)?;
            set_mode(&dst, 0o644)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skeleton_has_mount_points_and_a_generated_etc_without_host_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let skel = Skeleton::prepare(&dir.path().join("root")).unwrap();
        for point in MOUNT_POINTS {
            assert!(skel.root.join(point).is_dir(), "{point}");
        }
        let passwd = std::fs::read_to_string(skel.root.join("etc/passwd")).unwrap();
        assert!(passwd.contains("sbx_user1051:x:993:990:"), "{passwd}");
        assert_eq!(passwd.lines().count(), 3, "{passwd}");
        assert!(!skel.root.join("etc/shadow").exists());
        assert!(skel.system.iter().any(|d| d == Path::new("/usr")));
        // A usr-merged host's /bin is the same symlink inside.
        if std::fs::symlink_metadata("/bin")
            .unwrap()
            .file_type()
            .is_symlink()
        {
            assert!(std::fs::symlink_metadata(skel.root.join("bin"))
                .unwrap()
                .file_type()
                .is_symlink());
        }
    }

    #[test]
    fn an_interpreter_outside_usr_is_exposed_at_its_prefix_only() {
        let host = tempfile::tempdir().unwrap();
        let base = host.path().join("home/u/.pyenv/versions/3.11.7");
        std::fs::create_dir_all(base.join("bin")).unwrap();
        std::fs::write(base.join("bin/python3.11"), "").unwrap();
        let venv = host.path().join("work/venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::os::unix::fs::symlink(base.join("bin/python3.11"), venv.join("bin/python3")).unwrap();
        std::fs::write(
            venv.join("pyvenv.cfg"),
            format!("home = {}\n", base.join("bin").display()),
        )
        .unwrap();
        let skel = Skeleton::prepare(&host.path().join("root")).unwrap();
        let program = venv.join("bin/python3").display().to_string();
        let binds = skel.expose(&program).unwrap();
        let real = |p: &Path| p.canonicalize().unwrap();
        assert_eq!(binds, vec![real(&venv), real(&base)]);
        for b in &binds {
            assert!(skel.inside(b).is_dir());
        }
        // Nothing around the prefix: the version manager's other directories are not there.
        let versions = skel.inside(&real(&base)).parent().unwrap().to_path_buf();
        assert_eq!(std::fs::read_dir(versions).unwrap().count(), 1);
        assert!(skel.expose("/usr/bin/python3").unwrap().is_empty());
        // A custom runtime's bootstrap is the environment's own code.
        assert!(skel.expose("/var/task/bootstrap").unwrap().is_empty());
    }
}
