"""A single-node Garage (an S3-compatible store) on loopback, for the blob store's tests and
for `scripts/garage-dev`.

`Garage(root).start()` writes a config under `root` (its own metadata and data directories,
free ports), starts `garage server`, assigns the one node a layout, and creates a key and a
bucket. `.endpoint`, `.key_id`, `.secret`, `.bucket` and `.blob_store_url()` tell how to reach
it; `.stop()` ends the server (its data stays, so `.start()` again resumes the same store).
The binary is $GARAGE_BIN, else `garage` on PATH, else ~/.cargo/bin/garage.
"""

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

START_DEADLINE_S = 30.0
REGION = "garage"


def garage_binary():
    """The garage binary's path, or None when it is not installed."""
    env_bin = os.environ.get("GARAGE_BIN")
    if env_bin:
        return env_bin if os.access(env_bin, os.X_OK) else None
    found = shutil.which("garage")
    if found:
        return found
    cargo = Path.home() / ".cargo" / "bin" / "garage"
    return str(cargo) if os.access(cargo, os.X_OK) else None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Garage:
    def __init__(self, root, binary=None, bucket="stratus-blobs"):
        self.root = Path(root)
        self.binary = binary or garage_binary()
        if self.binary is None:
            raise RuntimeError("garage is not installed (cargo install garage --locked)")
        self.bucket = bucket
        self.config = self.root / "garage.toml"
        self.log_path = self.root / "garage.log"
        self.s3_port = _free_port()
        self.rpc_port = _free_port()
        self.admin_port = _free_port()
        # Garage's formats: a key id is GK + 24 hex digits, its secret 64 hex digits.
        self.key_id = "GK" + secrets.token_hex(12)
        self.secret = secrets.token_hex(32)
        self.proc = None
        self._configured = False

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.s3_port}"

    def blob_store_url(self, prefix=None):
        """The `--blob-store` URL for this Garage (credentials go in the environment)."""
        url = f"s3://{self.bucket}?endpoint={self.endpoint}&region={REGION}"
        return url + (f"&prefix={prefix}" if prefix else "")

    def env(self):
        """The variables a Stratus server needs to reach this Garage."""
        return {"AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": self.secret}

    def client(self):
        """A boto3 S3 client talking to Garage itself."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"

    def _write_config(self):
        (self.root / "meta").mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        self.config.write_text(f"""\
metadata_dir = "{self.root / 'meta'}"
data_dir = "{self.root / 'data'}"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{self.rpc_port}"
rpc_public_addr = "127.0.0.1:{self.rpc_port}"
rpc_secret = "{secrets.token_hex(32)}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{self.s3_port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{self.admin_port}"
""")

    def cli(self, *args, check=True):
        out = subprocess.run(
            [self.binary, "-c", str(self.config), *args],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"garage {' '.join(args)} failed: {out.stdout}{out.stderr}")
        return out

    def start(self):
        """Starts the server; the first start also lays out the node and makes the key and
        the bucket."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.config.exists():
            self._write_config()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config), "server"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "RUST_LOG": os.environ.get("GARAGE_LOG", "garage=warn")},
        )
        log.close()
        self._wait_for_rpc()
        if not self._configured:
            self._configure()
            self._configured = True
        self._wait_for_s3()
        return self

    def _wait_for_rpc(self):
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"garage exited at start-up:\n{self.log_text()}")
            if self.cli("status", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"garage did not start:\n{self.log_text()}")

    def _configure(self):
        node = self.cli("node", "id", "-q").stdout.strip().split("@")[0]
        self.cli("layout", "assign", "-z", "dc1", "-c", "1G", node)
        self.cli("layout", "apply", "--version", "1")
        self.cli("key", "import", "--yes", "-n", "stratus", self.key_id, self.secret)
        self.cli("bucket", "create", self.bucket)
        self.cli("bucket", "allow", "--read", "--write", "--owner", self.bucket,
                 "--key", self.key_id)

    def _wait_for_s3(self):
        """Until the S3 API answers a signed request (the layout takes a moment to apply)."""
        deadline = time.monotonic() + START_DEADLINE_S
        last = None
        while time.monotonic() < deadline:
            try:
                self.client().list_objects_v2(Bucket=self.bucket, MaxKeys=1)
                return
            except Exception as e:  # noqa: BLE001 - any failure means "not yet"
                last = e
                time.sleep(0.2)
        raise RuntimeError(f"garage's S3 API did not answer: {last}\n{self.log_text()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.proc = None

    def keys(self, prefix=""):
        """Every key in the bucket under `prefix`."""
        s3 = self.client()
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

