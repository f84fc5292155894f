"""The servers under test: `stratus serve`, the floor, and the peer (`cargo lambda watch`).

Every server listens on 127.0.0.1 on a free port, runs in its own session, and is stopped
(SIGTERM, then SIGKILL after a deadline) by the harness that started it.
"""

import json
import os
import resource
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 30.0

# The runtimes' AWS SDKs, installed once by the harness (`stratus runtimes install`) and shared
# by every server it starts, which install nothing themselves. A host without the python
# version a function names runs it on the nearest one.
RUNTIME_SDK_DIR = Path(__file__).resolve().parents[2] / "target" / "runtime-sdks"
RUNTIME_ENV = {
    "STRATUS_RUNTIME_SDK_DIR": str(RUNTIME_SDK_DIR),
    "STRATUS_RUNTIME_SDK_INSTALL": "false",
    "STRATUS_RUNTIME_FALLBACK": "nearest",
}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raise_nofile():
    """Children get the hard open-files limit: 500 environments need a few thousand fds."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pin_prefix(pinned):
    return ["taskset", "-c", "0"] if pinned else []


def wait_port(port, proc, deadline_s):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_process(proc, deadline_s=STOP_DEADLINE_S):
    """SIGTERM the process's group, wait, then SIGKILL it; returns the exit code."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=deadline_s)


class Stratus:
    """One `stratus serve` on a fresh data directory."""

    def __init__(self, binary, work_dir, name, env=None, pinned=False, wrapper=None):
        self.binary = Path(binary)
        self.dir = Path(work_dir) / name
        self.env = dict(env or {})
        self.pinned = pinned
        self.wrapper = list(wrapper or [])  # e.g. valgrind
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    @property
    def log_path(self):
        return self.dir / "server.log"

    def start(self, deadline_s=START_DEADLINE_S):
        self.dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("STRATUS_LOG", "warn")
        env.update(RUNTIME_ENV)
        env.update(self.env)
        for _ in range(3):
            self.port = free_port()
            cmd = pin_prefix(self.pinned) + self.wrapper + [
                str(self.binary), "serve", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.dir / "data"),
            ]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, start_new_session=True, preexec_fn=_raise_nofile,
                )
            if self._wait_healthy(deadline_s):
                return self
            if self.proc.poll() is None or "in use" not in self.log_text().lower():
                break
        self.stop()
        raise RuntimeError(f"stratus did not become healthy; log:\n{self.log_text()[-3000:]}")

    def _wait_healthy(self, deadline_s):
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        self.health = json.loads(resp.read())
                        return True
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        return False

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def fetch_health(self):
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self):
        return stop_process(self.proc)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Floor:
    """`floor serve` plus N runtime processes polling it: the minimal Runtime-API loop."""

    def __init__(self, floor_bin, runtime_cmd, n, pinned=False, runtime_env=None):
        self.floor_bin = str(floor_bin)
        self.runtime_cmd = runtime_cmd  # None = `floor runtime`
        self.n = n
        self.pinned = pinned
        self.runtime_env = dict(runtime_env or {})
        self.proc = None
        self.runtimes = []

    @property
    def url(self):
        return f"http://{self.addr}"

    def start(self):
        self.proc = subprocess.Popen(
            pin_prefix(self.pinned) + [self.floor_bin, "serve"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_raise_nofile,
        )
        line = self.proc.stdout.readline()
        self.addr = json.loads(line)["listening"]
        for _ in range(self.n):
            if self.runtime_cmd is None:
                cmd, env = [self.floor_bin, "runtime", "--api", self.addr], None
            else:
                cmd = list(self.runtime_cmd)
                env = function_env(self.addr)
                env.update(self.runtime_env)
            self.runtimes.append(subprocess.Popen(
                pin_prefix(self.pinned) + cmd, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            ))
        return self

    def stop(self):
        for r in self.runtimes:
            stop_process(r, 5)
        return stop_process(self.proc, 5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def function_env(api):
    """What a `lambda_runtime` function needs in its environment (as `floor` sets it)."""
    return {
        "AWS_LAMBDA_RUNTIME_API": api,
        "AWS_LAMBDA_FUNCTION_NAME": "floor",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/floor",
        "AWS_LAMBDA_LOG_STREAM_NAME": "floor",
        "AWS_REGION": "us-east-1",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
