"""Object storage durability: what the server acknowledged survives `kill -9`, and an upload
that fails part-way (a truncated body, a body that does not match its digest, a crash) never
replaces or damages the object it was overwriting."""

import base64
import hashlib
import os
import socket
import time
import urllib.parse
import urllib.request

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from helpers import ACCESS_KEY, REGION, SECRET_KEY, make_s3_client, s3_error, unique_bucket

MB = 1024 * 1024


def quoted_md5(data):
    return f'"{hashlib.md5(data).hexdigest()}"'


def restart(server_factory, srv):
    """kill -9 `srv` and start a new server on its data dir."""
    srv.kill()
    return server_factory(data_dir=srv.data_dir)


def assert_object(s3, bucket, key, data, **attrs):
    got = s3.get_object(Bucket=bucket, Key=key)
    body = got["Body"].read()
    assert len(body) == len(data), f"{key}: {len(body)} bytes, expected {len(data)}"
    assert body == data, f"{key}: content differs"
    for name, value in attrs.items():
        assert got.get(name) == value, f"{key}: {name}={got.get(name)!r}, expected {value!r}"
    return got


def send_truncated_put(url, declared, sent, kill=None):
    """A raw HTTP PUT to a presigned `url` declaring `declared` bytes of body but sending only
    `sent`, then closing the connection (after calling `kill`, if given). Returns whatever the
    server answered before the close, if anything."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    try:
        head = (
            f"PUT {parts.path}?{parts.query} HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\n"
            f"Content-Length: {declared}\r\n"
            "Content-Type: application/octet-stream\r\n"
            "\r\n"
        ).encode()
        sock.sendall(head)
        chunk = os.urandom(64 * 1024)
        remaining = sent
        while remaining > 0:
            n = min(remaining, len(chunk))
            sock.sendall(chunk[:n])
            remaining -= n
        if kill is not None:
            kill()
            return b""
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        try:
            return sock.recv(4096)
        except OSError:
            return b""
    finally:
        sock.close()


def assert_stays(s3, bucket, key, data, seconds=1.5):
    """The object keeps its content for `seconds` (a late, wrong commit would show up)."""
    deadline = time.monotonic() + seconds
    while True:
        assert_object(s3, bucket, key, data)
        if time.monotonic() >= deadline:
            return
        time.sleep(0.25)


def test_acknowledged_writes_survive_kill_9(server_factory):
    srv = server_factory()
    s3 = make_s3_client(srv.url)
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)

    big = os.urandom(3 * MB + 17)
    s3.put_object(Bucket=bucket, Key="big.bin", Body=big, ContentType="application/x-big",
                  Metadata={"origin": "durability"})
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0
    s3.put_object(Bucket=bucket, Key="overwritten", Body=b"version one")
    s3.put_object(Bucket=bucket, Key="overwritten", Body=b"version two")
    s3.put_object(Bucket=bucket, Key="deleted", Body=b"gone soon")
    s3.delete_object(Bucket=bucket, Key="deleted")
    s3.copy_object(Bucket=bucket, Key="copied.bin", CopySource={"Bucket": bucket, "Key": "big.bin"})

    part1, part2 = os.urandom(5 * MB), os.urandom(1000)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multipart.bin")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="multipart.bin", UploadId=upload, PartNumber=n, Body=p)["ETag"]
        for n, p in ((1, part1), (2, part2))
    ]
    mp_etag = s3.complete_multipart_upload(
        Bucket=bucket, Key="multipart.bin", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]},
    )["ETag"]
    last = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="last.bin", Body=last)

    srv2 = restart(server_factory, srv)
    s3 = make_s3_client(srv2.url)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert_object(s3, bucket, "big.bin", big, ContentType="application/x-big",
                  Metadata={"origin": "durability"}, ETag=quoted_md5(big))
    assert_object(s3, bucket, "empty", b"")
    assert_object(s3, bucket, "overwritten", b"version two")
    assert_object(s3, bucket, "copied.bin", big, ContentType="application/x-big")
    assert_object(s3, bucket, "multipart.bin", part1 + part2, ETag=mp_etag)
    assert_object(s3, bucket, "last.bin", last, ETag=quoted_md5(last))
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="deleted")
    assert s3_error(e.value) == ("NoSuchKey", 404)
    listed = s3.list_objects_v2(Bucket=bucket)
    assert {o["Key"]: o["Size"] for o in listed["Contents"]} == {
        "big.bin": len(big), "copied.bin": len(big), "empty": 0, "last.bin": len(last),
        "multipart.bin": len(part1) + len(part2), "overwritten": len(b"version two"),
    }


def test_open_multipart_upload_survives_kill_9(server_factory):
    srv = server_factory()
    s3 = make_s3_client(srv.url)
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    part1 = os.urandom(5 * MB)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=part1)["ETag"]

    srv2 = restart(server_factory, srv)
    s3 = make_s3_client(srv2.url)
    assert [p["ETag"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]] == [e1]
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, Body=b"tail")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert_object(s3, bucket, "mp", part1 + b"tail")


def test_truncated_overwrite_leaves_previous_object_intact(server_factory):
    srv = server_factory()
    s3 = make_s3_client(srv.url)
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    original = os.urandom(1 * MB)
    s3.put_object(Bucket=bucket, Key="obj", Body=original, Metadata={"v": "1"})

    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=300)
    answer = send_truncated_put(url, declared=2 * MB, sent=MB // 2)
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:300]

    assert_stays(s3, bucket, "obj", original)
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ETag"] == quoted_md5(original)
    assert head["Metadata"] == {"v": "1"}
    assert [(o["Key"], o["Size"]) for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [
        ("obj", len(original))
    ]
    # A truncated upload of a new key creates nothing.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "new"}, ExpiresIn=300)
    send_truncated_put(url, declared=100_000, sent=10_000)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="new")
    assert s3_error(e.value)[1] == 404

    # The server still works, and after a crash the original is still there.
    s3.put_object(Bucket=bucket, Key="after", Body=b"fine")
    srv2 = restart(server_factory, srv)
    s3 = make_s3_client(srv2.url)
    assert_object(s3, bucket, "obj", original, ETag=quoted_md5(original))
    assert_object(s3, bucket, "after", b"fine")


def test_crash_during_overwrite_leaves_previous_object_intact(server_factory):
    srv = server_factory()
    s3 = make_s3_client(srv.url)
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    original = os.urandom(512 * 1024)
    s3.put_object(Bucket=bucket, Key="obj", Body=original)

    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=300)
    send_truncated_put(url, declared=8 * MB, sent=4 * MB, kill=srv.kill)

    srv2 = server_factory(data_dir=srv.data_dir)
    s3 = make_s3_client(srv2.url)
    assert_object(s3, bucket, "obj", original, ETag=quoted_md5(original))
    replacement = os.urandom(2 * MB)
    s3.put_object(Bucket=bucket, Key="obj", Body=replacement)
    assert_object(s3, bucket, "obj", replacement)


def _signed_put(url, signed_body, sent_body, extra_headers=None):
    """A SigV4-signed PUT whose signature covers `signed_body` but which sends `sent_body`."""
    req = AWSRequest(method="PUT", url=url, data=signed_body, headers={
        "x-amz-content-sha256": hashlib.sha256(signed_body).hexdigest(), **(extra_headers or {})})
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(req)
    headers = dict(req.prepare().headers)
    raw = urllib.request.Request(url, data=sent_body, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(raw, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def store(server):
    """The shared server's S3 client and a bucket holding `obj` = b"original contents"."""
    s3 = make_s3_client(server.url)
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"original contents")
    return s3, bucket


def test_body_not_matching_signed_payload_hash_is_rejected(server, store):
    s3, bucket = store
    status, body = _signed_put(f"{server.url}/{bucket}/obj", b"what was signed", b"what was sent!!")
    assert status == 400, body
    assert_object(s3, bucket, "obj", b"original contents")
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in body, body


def test_body_not_matching_content_md5_is_rejected(store):
    s3, bucket = store
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="obj", Body=b"replacement", ContentMD5=wrong)
    assert s3_error(e.value) == ("BadDigest", 400)
    assert_object(s3, bucket, "obj", b"original contents")


def test_body_not_matching_crc32_checksum_is_rejected(store):
    s3, bucket = store
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="obj", Body=b"replacement", ChecksumCRC32="AAAAAA==")
    assert s3_error(e.value) == ("BadDigest", 400)
    assert_object(s3, bucket, "obj", b"original contents")
