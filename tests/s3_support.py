"""Shared pieces of the S3 conformance tests: a client, fresh buckets emptied afterwards, and
AWS-shaped error assertions. Every bucket has a unique name, so tests never see each other's
data."""

import hashlib

import pytest
from botocore.exceptions import ClientError

from helpers import make_s3_client, unique_bucket


@pytest.fixture(scope="module")
def s3(server):
    return make_s3_client(server.url)


@pytest.fixture
def bucket(s3):
    """A fresh bucket, emptied and deleted after the test."""
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    yield name
    drop_bucket(s3, name)


def drop_bucket(s3, name):
    try:
        for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)
    except ClientError:
        pass


def quoted_md5(data):
    return f'"{hashlib.md5(data).hexdigest()}"'


def expect_error(call, code, status, **kwargs):
    """Calls `call(**kwargs)`, asserts it fails with S3's `code` and HTTP `status`, and returns
    the parsed error response."""
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    got = (e.value.response["Error"].get("Code"), e.value.response["ResponseMetadata"]["HTTPStatusCode"])
    assert got == (code, status), e.value.response
    return e.value.response


def signed_s3_headers(method, url, headers=None, payload_hash="UNSIGNED-PAYLOAD",
                      secret_key=None):
    """Headers signing an S3 request with SigV4 (header form), computed by hand so a test can
    send exactly what it wants: `payload_hash` is the `x-amz-content-sha256` value (the body's
    SHA-256 in hex, or UNSIGNED-PAYLOAD), `headers` are signed along."""
    import datetime
    import hmac
    import urllib.parse

    import helpers

    when = datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    day = when.strftime("%Y%m%d")
    parts = urllib.parse.urlsplit(url)
    signed = {k.lower(): v for k, v in (headers or {}).items()}
    signed.update({"host": parts.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash})
    names = sorted(signed)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in sorted(query)
    )
    canonical = "\n".join([
        method,
        urllib.parse.quote(parts.path or "/", safe="/-_.~"),
        canonical_query,
        "".join(f"{k}:{str(signed[k]).strip()}\n" for k in names),
        ";".join(names),
        payload_hash,
    ])
    scope = f"{day}/{helpers.REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key or helpers.SECRET_KEY}".encode()
    for part in (day, helpers.REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={helpers.ACCESS_KEY}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


def post_form(url, fields, filename, content):
    """A browser-style POST form upload of `content` with the signed `fields`."""
    import uuid

    from helpers import http_request

    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return http_request("POST", url, headers, b"".join(parts))
