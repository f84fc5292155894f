"""Shared helpers for the Stratus control-plane integration tests.

Everything here is plain Python (no fixtures): names, ARNs, zip packages,
error assertions and a small hand-written SigV4 signer for raw HTTP tests;
for the execution-engine tests, invoking and decoding results and logs, zips
with file modes, polling, and looking at the host's processes and sockets.
"""

import base64
import datetime
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile

import boto3
from botocore.config import Config

ACCOUNT = "000000000000"
REGION = "us-east-1"
ACCESS_KEY = "test"
SECRET_KEY = "test"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/other-role"
# The trust policy of a function's execution role, and the policy the suite's roles carry.
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
RUNTIME = "python3.12"
HANDLER = "app.handler"
HANDLER_SOURCE = "def handler(event, context):\n    return event\n"

LAST_MODIFIED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Fixed timestamp so identical file contents always give identical zip bytes.
_ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def make_client(endpoint, service="lambda", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                session_token=None, **config):
    """A boto3 client for the server: test credentials (or the given ones, with a session
    token for temporary credentials), us-east-1, no retries."""
    # `total_max_attempts` counts the first attempt; botocore's `max_attempts` counts retries.
    cfg = {"retries": {"total_max_attempts": 1}, "connect_timeout": 5, "read_timeout": 60}
    cfg.update(config)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=Config(**cfg),
    )


def unique_name(prefix="fn"):
    """A function/alias name that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def function_arn(name, qualifier=None):
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier is not None else arn


def make_zip(files=None):
    """Build a zip in memory. `files` maps archive names to str/bytes.

    The default package is `app.py` with `def handler(event, context): return event`.
    """
    if files is None:
        files = {"app.py": HANDLER_SOURCE}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, content in files.items():
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, content)
    return buf.getvalue()


def make_variant_zip(tag):
    """A valid handler package whose bytes (and hence CodeSha256) depend on `tag`."""
    return make_zip({"app.py": HANDLER_SOURCE + f"# variant {tag}\n"})


def make_symlink_zip(link_name="link.py", target="/etc/passwd"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("app.py", date_time=_ZIP_DATE), HANDLER_SOURCE)
        info = zipfile.ZipInfo(link_name, date_time=_ZIP_DATE)
        info.create_system = 3  # Unix, so external_attr carries the file mode
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return buf.getvalue()


def make_large_unzipped_zip(uncompressed_bytes):
    """A small zip that expands to `uncompressed_bytes` bytes (zeros compress well)."""
    buf = io.BytesIO()
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("app.py", date_time=_ZIP_DATE), HANDLER_SOURCE)
        info = zipfile.ZipInfo("blob.bin", date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            remaining = uncompressed_bytes
            while remaining > 0:
                n = min(remaining, len(chunk))
                out.write(chunk[:n])
                remaining -= n
    return buf.getvalue()


def code_sha256(data):
    """Lambda's CodeSha256: base64 of the raw SHA-256 digest of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def create_kwargs(name, zip_bytes=None, **overrides):
    kwargs = {
        "FunctionName": name,
        "Runtime": RUNTIME,
        "Role": ROLE,
        "Handler": HANDLER,
        "Code": {"ZipFile": zip_bytes if zip_bytes is not None else make_zip()},
    }
    kwargs.update(overrides)
    return kwargs


def create_function(client, name, zip_bytes=None, **overrides):
    return client.create_function(**create_kwargs(name, zip_bytes, **overrides))


def wait_active(client, name):
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )


def wait_updated(client, name):
    client.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )


def status_of(response):
    return response["ResponseMetadata"]["HTTPStatusCode"]


def strip_meta(response):
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def assert_error(exc, code, status, message=None, message_contains=None):
    """Assert a botocore ClientError's code (str or collection), HTTP status and message."""
    err = exc.response["Error"]
    got_status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
    codes = {code} if isinstance(code, str) else set(code)
    assert err.get("Code") in codes, f"expected {codes}, got {err} (HTTP {got_status})"
    assert got_status == status, f"expected HTTP {status}, got {got_status}: {err}"
    if message is not None:
        assert err.get("Message") == message
    if message_contains is not None:
        assert message_contains in (err.get("Message") or ""), err
    return err


def download(url, timeout=15):
    """GET a URL with no credentials; returns the body bytes (raises on non-2xx)."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def list_all_functions(client, **kwargs):
    """All ListFunctions entries, following NextMarker."""
    items, marker = [], None
    while True:
        page_args = dict(kwargs)
        if marker:
            page_args["Marker"] = marker
        page = client.list_functions(**page_args)
        items.extend(page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            return items


# --- raw HTTP --------------------------------------------------------------


def loopback(url, headers=None):
    """A `*.localhost` URL (an HTTP API's or a function URL's host name) as browsers and curl
    send it: to the loopback address, the host name in the Host header. Python's resolver
    leaves `*.localhost` to the system's, which may not resolve it."""
    parts = urllib.parse.urlsplit(url)
    headers = dict(headers or {})
    if not (parts.hostname or "").endswith(".localhost"):
        return url, headers
    if not any(k.lower() == "host" for k in headers):
        headers["Host"] = parts.netloc
    netloc = f"127.0.0.1:{parts.port}" if parts.port else "127.0.0.1"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), headers


def http_request(method, url, headers=None, body=None, timeout=15):
    """Send a raw request; return (status, headers, body bytes) without raising on 4xx/5xx."""
    url, headers = loopback(url, headers)
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def _uri_encode(value, safe="-_.~"):
    return urllib.parse.quote(value, safe=safe)


def sigv4_headers(
    method,
    url,
    body=b"",
    access_key=ACCESS_KEY,
    secret_key=SECRET_KEY,
    region=REGION,
    service="lambda",
    when=None,
    signed_body=None,
):
    """Headers for an AWS Signature Version 4 signed request, computed by hand.

    `when` defaults to now (UTC). `signed_body` (default: `body`) is the payload
    whose hash goes into the canonical request, so a test can sign one body and
    send another.
    """
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    datestamp = when.strftime("%Y%m%d")
    parts = urllib.parse.urlsplit(url)
    payload = body if signed_body is None else signed_body
    payload_hash = hashlib.sha256(payload or b"").hexdigest()

    headers = {"host": parts.netloc, "x-amz-date": amz_date}
    if body:
        headers["content-type"] = "application/json"
    signed = sorted(headers)
    canonical_headers = "".join(f"{k}:{headers[k].strip()}\n" for k in signed)
    signed_headers = ";".join(signed)

    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    canonical_query = "&".join(
        f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(query)
    )
    # Non-S3 services encode each path segment once more.
    canonical_uri = "/".join(_uri_encode(seg) for seg in (parts.path or "/").split("/"))
    canonical_request = "\n".join(
        [method, canonical_uri, canonical_query, canonical_headers, signed_headers, payload_hash]
    )
    scope = f"{datestamp}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )

    def _hmac(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = _hmac(f"AWS4{secret_key}".encode(), datestamp)
    key = _hmac(key, region)
    key = _hmac(key, service)
    key = _hmac(key, "aws4_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return headers


def json_body(raw):
    return json.loads(raw.decode() or "{}")


# --- invoking functions ----------------------------------------------------

# Invoke clients wait long enough for slow functions and never retry (a retry would hide a
# failed or duplicated invocation).
INVOKE_CONFIG = {"read_timeout": 60, "retries": {"total_max_attempts": 1},
                 "max_pool_connections": 32}

REPORT_RE = re.compile(
    r"^REPORT RequestId: (?P<id>\S+)\tDuration: (?P<duration>\d+\.\d{2}) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: (?P<max_memory>\d+) MB\t(?:Init Duration: (?P<init>\d+\.\d{2}) ms\t)?"
    # Newer AWS lines may end with more fields, e.g. "Status: error\tError Type: ...\t".
    r"(?P<extra>(?:[A-Za-z ]+: [^\t]*\t)*)$"
)
LOG_STREAM_RE = re.compile(r"^\d{4}/\d{2}/\d{2}/\[(?P<version>[^\]]+)\][0-9a-f]{32}$")


class Invocation:
    """What a synchronous Invoke returned, decoded: status, payload, error flag, version, log."""

    def __init__(self, resp):
        self.response = resp
        self.status = resp["StatusCode"]
        self.raw = resp["Payload"].read() if "Payload" in resp else b""
        self.function_error = resp.get("FunctionError")
        self.executed_version = resp.get("ExecutedVersion")
        self.request_id = resp["ResponseMetadata"]["RequestId"]
        self.headers = resp["ResponseMetadata"]["HTTPHeaders"]
        tail = resp.get("LogResult")
        self.log = base64.b64decode(tail).decode("utf-8", "replace") if tail is not None else None

    @property
    def payload(self):
        """The payload parsed as JSON (fails the test with the raw bytes if it is not JSON)."""
        try:
            return json.loads(self.raw)
        except ValueError as e:
            raise AssertionError(f"payload is not JSON ({e}): {self.raw[:500]!r}") from None

    @property
    def log_lines(self):
        return (self.log or "").splitlines()

    def report(self):
        """The REPORT line's fields as a dict (fails the test if there is none)."""
        return parse_report(self.log or "")

    def __repr__(self):
        return (
            f"Invocation(status={self.status}, function_error={self.function_error!r}, "
            f"version={self.executed_version!r}, payload={self.raw[:300]!r}, log={self.log!r})"
        )


def invoke(client, name, event=None, raw=None, tail=True, **kwargs):
    """Synchronous Invoke of `name` with `event` (JSON-encoded) or `raw` bytes; LogType Tail
    unless `tail` is false. Returns an `Invocation`."""
    if raw is None:
        raw = json.dumps(event if event is not None else {}).encode()
    if tail:
        kwargs.setdefault("LogType", "Tail")
    return Invocation(client.invoke(FunctionName=name, Payload=raw, **kwargs))


def parse_report(log):
    for line in log.splitlines():
        if line.startswith("REPORT "):
            m = REPORT_RE.match(line)
            assert m, f"REPORT line not in AWS's format: {line!r}"
            return m.groupdict()
    raise AssertionError(f"no REPORT line in the log:\n{log}")


def client_context(custom=None, env=None, client=None):
    """The base64 JSON an Invoke's ClientContext parameter carries."""
    ctx = {}
    if custom is not None:
        ctx["custom"] = custom
    if env is not None:
        ctx["env"] = env
    if client is not None:
        ctx["client"] = client
    return base64.b64encode(json.dumps(ctx).encode()).decode()


def make_zip_with_modes(files):
    """A zip whose entries carry Unix modes: `files` maps names to content or (content, mode).

    Entries without a mode get 0644; give an executable (a `bootstrap`) 0o755.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, spec in files.items():
            content, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | mode) << 16
            zf.writestr(info, content)
    return buf.getvalue()


def wait_until(predicate, timeout, interval=0.05, message="condition"):
    """Poll `predicate` until it returns a truthy value (returned) or `timeout` seconds pass.
    `message` says what was awaited; a callable is called at the failure (to show the state)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"{what}: not reached within {timeout}s")
        time.sleep(interval)


def _read_proc(pid, name):
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def function_processes(data_dir, function_names=()):
    """Host pids (with their command lines) of execution environments: launchers whose command
    line names `data_dir` (`stratus __jail ...`) and any process whose environment carries
    AWS_LAMBDA_FUNCTION_NAME of one of `function_names`."""
    data_dir = str(data_dir).encode()
    markers = [f"AWS_LAMBDA_FUNCTION_NAME={n}\0".encode() for n in function_names]
    # A launcher's command line carries its spec as JSON, the function's name included; with
    # names given, other functions' (still warm) environments on the same server don't count.
    spec_markers = [f'["AWS_LAMBDA_FUNCTION_NAME","{n}"]'.encode() for n in function_names]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        cmdline = _read_proc(entry, "cmdline")
        if b"__jail" in cmdline and data_dir in cmdline:
            if not spec_markers or any(m in cmdline for m in spec_markers):
                found.append((int(entry), cmdline[:200]))
            continue
        if markers:
            environ = _read_proc(entry, "environ") + b"\0"
            if any(m in environ for m in markers):
                found.append((int(entry), cmdline[:200]))
    return found


def listening_ports(pid):
    """TCP ports that process `pid` listens on in the host's network namespace (where this
    test runs): its socket inodes matched against /proc/net/tcp{,6} LISTEN entries."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def aws_cli_env(tmp_path, region="us-east-1"):
    """Environment for running the aws CLI against a test server: test credentials, no user
    config or credential files, no pager, no retries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_PAGER="",
        AWS_MAX_ATTEMPTS="1",
    )
    return env


def find_aws_cli():
    """The aws CLI on PATH or beside this Python, or None."""
    found = shutil.which("aws")
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "aws")
    return beside if os.path.exists(beside) else None


# --- object storage and asynchronous invocation ----------------------------

# S3 clients sign with SigV4 (also for presigned URLs) and use path-style addressing unless a
# test asks for virtual-host style.
S3_CONFIG = {"signature_version": "s3v4", "s3": {"addressing_style": "path"}}


def make_s3_client(endpoint, **config):
    """A boto3 S3 client for the server: SigV4, path-style, no retries, 60 s read timeout."""
    cfg = dict(S3_CONFIG)
    cfg.update(config)
    return make_client(endpoint, "s3", **cfg)


def unique_bucket(prefix="bkt"):
    """A valid bucket name that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def s3_error(exc):
    """(code, HTTP status) of a botocore ClientError from S3."""
    return exc.response["Error"].get("Code"), exc.response["ResponseMetadata"]["HTTPStatusCode"]


# A python function that records every invocation as one JSON object in a bucket, under
# `<RECORD_PREFIX><request id>/<ns>-<random>.json`: {request_id, function, version, event,
# time}. Environment: RECORD_BUCKET (required), RECORD_PREFIX, SLEEP_BEFORE (seconds to sleep
# before recording), FAIL=always (raise after recording). An event {"fail": true} raises too.
RECORDER_SOURCE = '''
import json, os, time, uuid

import boto3

S3 = boto3.client("s3")


def handler(event, context):
    delay = float(os.environ.get("SLEEP_BEFORE") or 0)
    if delay:
        time.sleep(delay)
    body = {
        "request_id": context.aws_request_id,
        "function": context.function_name,
        "version": context.function_version,
        "event": event,
        "time": time.time(),
    }
    key = "%s%s/%d-%s.json" % (os.environ.get("RECORD_PREFIX", ""), context.aws_request_id,
                                time.time_ns(), uuid.uuid4().hex)
    S3.put_object(Bucket=os.environ["RECORD_BUCKET"], Key=key, Body=json.dumps(body).encode())
    if os.environ.get("FAIL") == "always" or (isinstance(event, dict) and event.get("fail")):
        raise RuntimeError("intentional failure")
    return {"recorded": key, "request_id": context.aws_request_id}
'''


def recorder_zip():
    return make_zip({"app.py": RECORDER_SOURCE})


def recorder_kwargs(record_bucket, prefix="", **env):
    """CreateFunction overrides for a recorder writing to `record_bucket` under `prefix`."""
    variables = {"RECORD_BUCKET": record_bucket, "RECORD_PREFIX": prefix}
    variables.update({k: str(v) for k, v in env.items()})
    return {"Environment": {"Variables": variables}, "Timeout": 60}


class Records:
    """Reads what recorder functions wrote to a bucket (each object fetched once)."""

    def __init__(self, s3, bucket, prefix=""):
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self._seen = {}

    def keys(self):
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def all(self):
        """Every record under the prefix, in key order."""
        for key in self.keys():
            if key not in self._seen:
                raw = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                self._seen[key] = json.loads(raw)
        return [self._seen[k] for k in sorted(self._seen)]

    def wait_for(self, count, timeout, where=None, message=None):
        """Polls until at least `count` records (matching `where`, if given) exist; returns them."""
        def ready():
            found = [r for r in self.all() if where is None or where(r)]
            return found if len(found) >= count else None

        try:
            return wait_until(ready, timeout, interval=0.2,
                              message=message or f"{count} record(s) in {self.bucket}/{self.prefix}")
        except AssertionError as e:
            raise AssertionError(f"{e}; records so far: {json.dumps(self.all())[:3000]}") from None

    def assert_stays(self, count, duration, where=None):
        """Polls for `duration` seconds; fails as soon as more than `count` records exist."""
        deadline = time.monotonic() + duration
        while True:
            found = [r for r in self.all() if where is None or where(r)]
            assert len(found) <= count, (
                f"expected exactly {count} record(s), got {len(found)}: {json.dumps(found)[:3000]}"
            )
            if time.monotonic() >= deadline:
                return found
            time.sleep(0.25)


# Where each store keeps its state: the SQLite file in the data directory, or the schema in
# the server's PostgreSQL database.
STORE_FILES = {"meta": "meta.db", "iam": "iam.db", "usage": "usage.db", "tables": "tables.db",
               "topics": "topics.db", "queues": "queues.db", "objects": "objects/s3.db"}


def _sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def store_query(server, store, sql, params=()):
    """Runs `sql` (with `?` placeholders) against one store of `server` as the server's own
    process would see it, on SQLite or PostgreSQL; returns the rows as dicts of text (SQLite
    gives native values). For tests that must reach past the API: moving a clock, reading
    durable records."""
    database = server.env.get("STRATUS_DATABASE")
    if not database:
        import sqlite3
        db = sqlite3.connect(os.path.join(server.data_dir, STORE_FILES[store]), timeout=10)
        try:
            db.row_factory = sqlite3.Row
            with db:
                return [dict(r) for r in db.execute(sql, params)]
        finally:
            db.close()
    import subprocess
    parts = sql.split("?")
    assert len(parts) == len(params) + 1, "one parameter per ?"
    text = parts[0] + "".join(_sql_literal(p) + rest for p, rest in zip(params, parts[1:]))
    reads = text.lstrip().upper().startswith("SELECT")
    if reads:
        # As JSON, so numbers, text and NULL come back typed as SQLite's rows do.
        text = f"SELECT COALESCE(json_agg(r), '[]') FROM ({text}) r"
    out = subprocess.run(
        ["psql", database, "-v", "ON_ERROR_STOP=1", "-qtA",
         "-c", f'SET search_path TO "{store}"', "-c", text],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out) if reads else []


def allow_service(lambda_client, function, principal, source_arn=None, qualifier=None):
    """Grant a service principal (`s3.amazonaws.com`...) permission to invoke a function, as
    an AWS user must before S3, SNS or API Gateway may invoke it. Returns the statement id."""
    sid = unique_name("allow")
    kwargs = {"FunctionName": function, "StatementId": sid, "Action": "lambda:InvokeFunction",
              "Principal": principal}
    if source_arn:
        kwargs["SourceArn"] = source_arn
    if qualifier:
        kwargs["Qualifier"] = qualifier
    lambda_client.add_permission(**kwargs)
    return sid


def allow_bucket(lambda_client, function, bucket):
    """Let S3 invoke a function for one bucket's events (the function ARN may be qualified)."""
    return allow_service(lambda_client, function, "s3.amazonaws.com", f"arn:aws:s3:::{bucket}")


def allow_topic(lambda_client, function, topic_arn):
    """Let SNS invoke a function for one topic's messages."""
    return allow_service(lambda_client, function, "sns.amazonaws.com", topic_arn)


def allow_api(lambda_client, function, api_id, region=REGION, qualifier=None):
    """Let API Gateway invoke a function (or one of its aliases or versions) for any route and
    stage of one API."""
    source = f"arn:aws:execute-api:{region}:{ACCOUNT}:{api_id}/*"
    return allow_service(lambda_client, function, "apigateway.amazonaws.com", source, qualifier)


# A stack of one inline python function (named `function`) and its role; `properties` are more
# lines of the function's properties, indented as they are.
FUNCTION_STACK = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: %(function)s
      Runtime: %(runtime)s
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          def handler(event, context):
              return "ok"
%(properties)s
"""


def function_stack(function, properties="", runtime="python3.12"):
    return FUNCTION_STACK % {"function": function, "properties": properties, "runtime": runtime}


def wait_stack(cfn, stack, timeout=60):
    """The stack's status once no operation on it is in progress."""
    end = time.monotonic() + timeout
    while True:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            return status
        assert time.monotonic() < end, status
        time.sleep(0.2)
