"""The peer: `cargo lambda watch` (cargo-lambda), serving the same `noop-fn` binary.

cargo-lambda is used from PATH when present, else from a bench-local root
(`bench/.tools/cargo-lambda`), where the suite installs it once: from its wheel on the Python
package registry (`pip install cargo-lambda` into a venv at that root; the wheel ships the
binary, so this takes seconds), else with `cargo install cargo-lambda --locked` (a long build).
Each install is bounded in time; when both fail or overrun, the suite runs without the peer
and says why.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import servers

VERSION = "1.9.2"
INSTALL_TIMEOUT_S = float(os.environ.get("BENCH_PEER_INSTALL_TIMEOUT_S", 15 * 60))
# The wheel is a download of a few MB: minutes mean the registry is out of reach.
WHEEL_TIMEOUT_S = 3 * 60


class PeerStatus:
    def __init__(self, available, reason="", binary=None, version=None, install_s=None):
        self.available = available
        self.reason = reason
        self.binary = binary
        self.version = version
        self.install_s = install_s

    def as_dict(self):
        return {
            "tool": "cargo-lambda watch", "available": self.available, "reason": self.reason,
            "binary": str(self.binary) if self.binary else None, "version": self.version,
            "install_s": self.install_s,
        }


def _version(binary):
    try:
        out = subprocess.run([str(binary), "lambda", "--version"], capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def locate(tools_dir):
    on_path = shutil.which("cargo-lambda")
    local = Path(tools_dir) / "cargo-lambda" / "bin" / "cargo-lambda"
    for candidate in [on_path, local]:
        if candidate and os.access(candidate, os.X_OK):
            v = _version(candidate)
            if v:
                return PeerStatus(True, binary=Path(candidate), version=v)
    return None


def ensure(tools_dir, install, log):
    """Finds cargo-lambda, installing it when allowed; never raises."""
    found = locate(tools_dir)
    if found:
        return found
    if not install:
        return PeerStatus(False, "cargo-lambda is not installed and this run does not install "
                          "it (run `bench/run` without --quick, or `bench/run --install-peer`)")
    root = Path(tools_dir) / "cargo-lambda"
    log_path = Path(tools_dir) / "cargo-lambda-install.log"
    root.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "wb") as out:
        log(f"installing cargo-lambda {VERSION} from its wheel into {root} (log {log_path})")
        how = "pip install cargo-lambda"
        reason = _install_wheel(root, out)
        if reason:
            log(f"{reason}; falling back to cargo install (one-time; limit "
                f"{INSTALL_TIMEOUT_S / 60:.0f} min)")
            shutil.rmtree(root, ignore_errors=True)
            how = "cargo install cargo-lambda"
            reason = _bounded(["cargo", "install", "cargo-lambda", "--locked", "--version",
                               VERSION, "--root", str(root)], out, INSTALL_TIMEOUT_S)
    took = time.monotonic() - started
    if reason:
        return PeerStatus(False, f"{how} {reason} (see {log_path})", install_s=took)
    found = locate(tools_dir)
    if not found:
        return PeerStatus(False, f"cargo-lambda installed by {how} but does not run",
                          install_s=took)
    found.install_s = took
    return found


def _install_wheel(root, out):
    """`pip install cargo-lambda==VERSION` into a venv at `root` (its `bin/cargo-lambda` is
    where `locate` looks). Returns why it failed, or None."""
    reason = _bounded([sys.executable, "-m", "venv", str(root)], out, WHEEL_TIMEOUT_S)
    if reason:
        return f"making a venv {reason}"
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet",
           "--only-binary", ":all:", f"cargo-lambda=={VERSION}"]
    reason = _bounded(pip, out, WHEEL_TIMEOUT_S)
    if reason:
        return f"pip install cargo-lambda {reason}"
    if not os.access(root / "bin" / "cargo-lambda", os.X_OK):
        return "the wheel has no cargo-lambda binary for this platform"
    return None


def _bounded(cmd, out, timeout_s):
    """Runs `cmd` with its output to `out`, killed after `timeout_s`. Returns why it failed,
    or None."""
    try:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        return f"could not start ({e})"
    try:
        rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return f"took longer than {timeout_s / 60:.0f} min on this machine; skipped"
    return f"failed (exit {rc})" if rc != 0 else None


class Watch:
    """`cargo lambda watch --release` serving `noop-fn` from the bench crate on a free port."""

    def __init__(self, status, bench_dir, work_dir, concurrency=1, pinned=False):
        self.status = status
        self.bench_dir = Path(bench_dir)
        self.log_path = Path(work_dir) / f"cargo-lambda-watch-{concurrency}.log"
        self.concurrency = concurrency
        self.pinned = pinned
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    function = "noop-fn"

    def start(self, deadline_s=120):
        self.port = servers.free_port()
        env = dict(os.environ)
        env["PATH"] = f"{self.status.binary.parent}:{env.get('PATH', '')}"
        cmd = servers.pin_prefix(self.pinned) + [
            str(self.status.binary), "lambda", "watch", "--release", "--ignore-changes",
            "--invoke-address", "127.0.0.1", "--invoke-port", str(self.port),
            "--concurrency", str(self.concurrency), "--bin", "noop-fn",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.bench_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        if not servers.wait_port(self.port, self.proc, deadline_s):
            self.stop()
            raise RuntimeError(f"cargo lambda watch did not listen; see {self.log_path}")
        return self

    def stop(self):
        return servers.stop_process(self.proc, 10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
