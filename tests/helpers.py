"""Shared helpers for the Stratus control-plane integration tests.

Everything here is plain Python (no fixtures): names, ARNs, zip packages,
error assertions and a small hand-written SigV4 signer for raw HTTP tests.
"""

import base64
import datetime
import hashlib
import hmac
import io
import json
import re
import stat
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
RUNTIME = "python3.12"
HANDLER = "app.handler"
HANDLER_SOURCE = "def handler(event, context):\n    return event\n"

LAST_MODIFIED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Fixed timestamp so identical file contents always give identical zip bytes.
_ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def make_client(endpoint, service="lambda", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                **config):
    """A boto3 client for the server: test credentials, us-east-1, no retries."""
    cfg = {"retries": {"max_attempts": 1}, "connect_timeout": 5, "read_timeout": 60}
    cfg.update(config)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
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


def http_request(method, url, headers=None, body=None, timeout=15):
    """Send a raw request; return (status, headers, body bytes) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
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
