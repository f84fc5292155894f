"""Fixtures: start the real `stratus` binary on a free port with a temp data dir.

The binary is taken from $STRATUS_BIN, else <repo>/target/release/stratus. These
fixtures never build it; build it first (`cargo build --release`).
"""

import json
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpers  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
START_DEADLINE_S = 30.0

# The runtimes' AWS SDKs, installed once before the suite (`stratus runtimes install`, run by
# `make integration`) into a directory every test server shares: servers never install them
# (the suite talks to nothing but loopback). A host may lack the python or node version a
# function names (the suite's default is python3.12): the nearest one runs it, as the operator
# of such a host would allow.
RUNTIME_SDK_DIR = Path(
    os.environ.get("STRATUS_TEST_RUNTIME_SDK_DIR", REPO_ROOT / "target" / "runtime-sdks")
).resolve()
RUNTIME_ENV = {
    "STRATUS_RUNTIME_SDK_DIR": str(RUNTIME_SDK_DIR),
    "STRATUS_RUNTIME_SDK_INSTALL": "false",
    "STRATUS_RUNTIME_FALLBACK": "nearest",
}
STOP_DEADLINE_S = 20.0


def stratus_binary():
    env_bin = os.environ.get("STRATUS_BIN")
    path = Path(env_bin) if env_bin else REPO_ROOT / "target" / "release" / "stratus"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"stratus binary not found at {path}: build it first with "
            "`cargo build --release` (or set STRATUS_BIN)",
            pytrace=False,
        )
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_for(data_dir):
    """With STRATUS_TEST_DATABASE set (a PostgreSQL URL), the suite runs on PostgreSQL: each
    data directory gets a database of its own, created on first use, so a server restarted
    on the same data directory finds its state again, as with SQLite."""
    admin = os.environ.get("STRATUS_TEST_DATABASE")
    if not admin:
        return None
    name = "t_" + hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:20]
    exists = subprocess.run(
        ["psql", admin, "-qtAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'],
                       check=True, capture_output=True)
    return admin.rsplit("/", 1)[0] + "/" + name


class StratusServer:
    """One `stratus serve` process on a data dir; can be stopped, killed and restarted."""

    def __init__(self, binary, data_dir, log_path, env=None, listen_host="127.0.0.1"):
        self.binary = Path(binary)
        # The address it listens on; clients always use 127.0.0.1 (a wildcard includes it).
        self.listen_host = listen_host
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        # Extra environment variables for the server (e.g. STRATUS_IDLE_TIMEOUT_SECS).
        self.env = {**RUNTIME_ENV, **(env or {})}
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"

    def start(self, same_port=False):
        """Starts the server (again), on a free port or, with `same_port`, on its last one
        (a restart behind a load balancer that knows the node by its address)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        database = database_for(self.data_dir)
        if database:
            self.env.setdefault("STRATUS_DATABASE", database)
        for _attempt in range(3):
            if not (same_port and self.port):
                self.port = free_port()
            with open(self.log_path, "ab") as log:
                log.write(f"\n=== starting on port {self.port} ===\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    [str(self.binary), "serve", "--listen", f"{self.listen_host}:{self.port}",
                     "--data-dir", str(self.data_dir)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env={**os.environ, **self.env},
                )
            outcome = self._wait_ready()
            if outcome == "ready":
                self._ensure_function_roles()
                return self
            if outcome == "exited" and "in use" in self.log_text().lower():
                continue  # lost a race for the port; try another one
            break
        self._force_kill()
        why = (
            f"exited with code {self.proc.returncode} before becoming ready"
            if outcome == "exited"
            else f"did not answer GET /health with 200 within {START_DEADLINE_S:.0f}s"
        )
        pytest.fail(f"stratus {why}; server log:\n{self.log_text()}", pytrace=False)

    def _wait_ready(self):
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return "ready"
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        return "timeout"

    def _ensure_function_roles(self):
        """Creates the execution roles the suite's functions use (helpers.ROLE, OTHER_ROLE),
        trusting Lambda and allowed everything: IAM is enforced by default, and a function's
        role must exist. Idempotent, so a restart on the same data dir keeps them."""
        iam = self.client("iam")
        for arn in (helpers.ROLE, helpers.OTHER_ROLE):
            name = arn.rsplit("/", 1)[1]
            try:
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=helpers.LAMBDA_TRUST)
            except ClientError as e:
                if e.response["Error"]["Code"] != "EntityAlreadyExists":
                    raise
            iam.attach_role_policy(RoleName=name, PolicyArn=helpers.ADMINISTRATOR_ACCESS)

    def health(self):
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as resp:
            return resp.status, json.loads(resp.read())

    def stop(self):
        """SIGTERM and wait; returns the exit code (fails the test if it hangs)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self._force_kill()
            pytest.fail(
                f"stratus did not exit within {STOP_DEADLINE_S:.0f}s of SIGTERM; "
                f"server log:\n{self.log_text()}",
                pytrace=False,
            )

    def kill(self):
        """SIGKILL (kill -9) and reap."""
        self._force_kill()

    def _force_kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_DEADLINE_S)

    def client(self, service="lambda", **kwargs):
        return helpers.make_client(self.url, service, **kwargs)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared server for the session: `.url` (endpoint) and `.data_dir`."""
    root = tmp_path_factory.mktemp("stratus-session")
    srv = StratusServer(stratus_binary(), root / "data", root / "server.log")
    srv.start()
    yield srv
    srv.stop()


class _ServerFactory:
    """Starts servers under `root`; kills them all at `close()`."""

    def __init__(self, root):
        self.root = Path(root)
        self.started = []

    def __call__(self, data_dir=None, env=None, listen_host="127.0.0.1"):
        n = len(self.started)
        data_dir = Path(data_dir) if data_dir is not None else self.root / f"data-{n}"
        srv = StratusServer(stratus_binary(), data_dir, self.root / f"server-{n}.log", env=env,
                            listen_host=listen_host)
        self.started.append(srv)
        return srv.start()

    def close(self):
        for srv in self.started:
            srv.kill()


@pytest.fixture
def server_factory(tmp_path):
    """Start a fresh server; pass `data_dir=` of an earlier one to restart on the same data,
    and `env={...}` for extra environment variables (e.g. STRATUS_ACCOUNT_CONCURRENCY)."""
    factory = _ServerFactory(tmp_path)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory):
    """Like `server_factory`, for servers shared by the tests of one module."""
    factory = _ServerFactory(tmp_path_factory.mktemp("stratus-module"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def lambda_client(server):
    return server.client()


@pytest.fixture(scope="session")
def unvalidated_client(server):
    """A client that skips botocore's client-side checks, so the server's own validation is tested."""
    return server.client(parameter_validation=False)


@pytest.fixture
def make_zip():
    return helpers.make_zip


def _function_factory(lambda_client):
    """Yields `create(name=None, zip_bytes=None, wait=True, **overrides)`, which creates a
    function (unique name unless given), waits until Active and returns the CreateFunction
    response; deletes every function it created afterwards."""
    names = []

    def create(name=None, zip_bytes=None, wait=True, **overrides):
        name = name or helpers.unique_name()
        resp = helpers.create_function(lambda_client, name, zip_bytes, **overrides)
        names.append(name)
        if wait:
            helpers.wait_active(lambda_client, name)
        return resp

    yield create
    for name in names:
        try:
            lambda_client.delete_function(FunctionName=name)
        except ClientError:
            pass


@pytest.fixture
def new_function(lambda_client):
    """Factory: create a function (unique name unless given), wait until Active, return the
    CreateFunction response. Functions are deleted after the test."""
    yield from _function_factory(lambda_client)


@pytest.fixture
def fn(new_function):
    """Name of a fresh, Active function with the default package."""
    return new_function()["FunctionName"]


# --- execution engine ------------------------------------------------------


@pytest.fixture(scope="session")
def invoke_client(server):
    """A Lambda client for Invoke: 60 s read timeout, no retries, room for 32 threads."""
    return server.client(**helpers.INVOKE_CONFIG)


@pytest.fixture(scope="session")
def server_health(server):
    """The shared server's GET /health document."""
    return server.health()[1]


@pytest.fixture
def require_namespaces(server_health):
    """Skips a test that needs environments isolated with namespaces."""
    mode = server_health.get("isolation")
    if mode != "namespaces":
        pytest.skip(
            f"needs namespace isolation, but the server reports isolation={mode!r} "
            "(run the tests as root on a host that allows namespaces)"
        )


@pytest.fixture
def require_memory_limits(server_health):
    """Skips a test that needs MemorySize enforced through a cgroup."""
    if not server_health.get("memory_limits"):
        pytest.skip("the server reports memory_limits=false: no usable cgroup hierarchy on this host")


RUST_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "rust-fn"
RUST_BUILD_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def rust_bootstrap():
    """The test function built on the official `lambda_runtime` crate (tests/fixtures/rust-fn),
    compiled once per session: the bytes of its executable, to ship as `bootstrap`."""
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.skip("cargo is not installed: cannot build the Rust test function")
    target_dir = REPO_ROOT / "target" / "fixtures"
    cmd = [cargo, "build", "--release", "--locked",
           "--manifest-path", str(RUST_FIXTURE / "Cargo.toml"), "--target-dir", str(target_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUST_BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"building the Rust test function took over {RUST_BUILD_TIMEOUT_S}s", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"building the Rust test function failed:\n{proc.stderr[-5000:]}", pytrace=False)
    return (target_dir / "release" / "stratus-test-rust-fn").read_bytes()


@pytest.fixture(scope="session")
def rust_streaming_bootstrap(rust_bootstrap):
    """The fixture's second executable, a function on `lambda_runtime::streaming` (built with
    the first)."""
    return (REPO_ROOT / "target" / "fixtures" / "release" / "streaming").read_bytes()


@pytest.fixture(scope="module")
def module_new_function(lambda_client):
    """Like `new_function`, for functions shared by the tests of one module (deleted after it)."""
    yield from _function_factory(lambda_client)
