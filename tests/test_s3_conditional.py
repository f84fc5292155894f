"""Conditional requests on objects, as S3 documents them: writes with `If-None-Match: *` and
`If-Match` (PutObject, CompleteMultipartUpload), checked atomically with the write, and reads
with `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` and their
precedence rules (GetObject, HeadObject)."""

import datetime
import threading

import pytest

from s3_support import bucket, expect_error, quoted_md5, s3  # noqa: F401 (module fixtures)

MB = 1024 * 1024
WRONG_ETAG = '"00000000000000000000000000000000"'


def body_of(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


# --- PutObject ---------------------------------------------------------------


def test_if_none_match_star_creates_a_missing_key(s3, bucket):
    resp = s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    assert resp["ETag"] == quoted_md5(b"first")
    assert body_of(s3, bucket, "k") == b"first"


def test_if_none_match_star_refuses_to_overwrite(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    expect_error(s3.put_object, "PreconditionFailed", 412, Bucket=bucket, Key="k", Body=b"clobber", IfNoneMatch="*")
    assert body_of(s3, bucket, "k") == b"original"


def test_if_match_overwrites_only_the_named_version(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    expect_error(s3.put_object, "PreconditionFailed", 412, Bucket=bucket, Key="k", Body=b"lost", IfMatch=WRONG_ETAG)
    assert body_of(s3, bucket, "k") == b"v1"
    resp = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag)
    assert resp["ETag"] == quoted_md5(b"v2")
    assert body_of(s3, bucket, "k") == b"v2"
    # The old ETag no longer names the object.
    expect_error(s3.put_object, "PreconditionFailed", 412, Bucket=bucket, Key="k", Body=b"v3", IfMatch=etag)
    assert body_of(s3, bucket, "k") == b"v2"


def test_412_names_the_failed_condition(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    err = expect_error(s3.put_object, "PreconditionFailed", 412, Bucket=bucket, Key="k", Body=b"x", IfNoneMatch="*")
    assert err["Error"]["Condition"] == "If-None-Match"
    assert err["Error"]["Message"] == "At least one of the pre-conditions you specified did not hold"
    err = expect_error(s3.put_object, "PreconditionFailed", 412, Bucket=bucket, Key="k", Body=b"x", IfMatch=WRONG_ETAG)
    assert err["Error"]["Condition"] == "If-Match"
    err = expect_error(s3.get_object, "PreconditionFailed", 412, Bucket=bucket, Key="k", IfMatch=WRONG_ETAG)
    assert err["Error"]["Condition"] == "If-Match"
    assert "RequestId" in err["ResponseMetadata"] and err["ResponseMetadata"]["RequestId"]
    lm = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    err = expect_error(
        s3.get_object, "PreconditionFailed", 412, Bucket=bucket, Key="k",
        IfUnmodifiedSince=lm - datetime.timedelta(hours=1),
    )
    assert err["Error"]["Condition"] == "If-Unmodified-Since"
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read() == b"v1"


def test_if_match_on_a_missing_key_is_no_such_key(s3, bucket):
    expect_error(s3.put_object, "NoSuchKey", 404, Bucket=bucket, Key="absent", Body=b"x", IfMatch=WRONG_ETAG)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_concurrent_create_only_puts_have_exactly_one_winner(s3, bucket):
    writers = 8
    barrier = threading.Barrier(writers)
    outcomes = [None] * writers
    bodies = [f"writer-{i}".encode() * 5000 for i in range(writers)]

    def write(i):
        barrier.wait()
        try:
            s3.put_object(Bucket=bucket, Key="race", Body=bodies[i], IfNoneMatch="*")
            outcomes[i] = "won"
        except Exception as e:  # noqa: BLE001 (the error is recorded and asserted below)
            outcomes[i] = e.response["Error"]["Code"]

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1, outcomes
    assert set(outcomes) <= {"won", "PreconditionFailed"}, outcomes
    winner = outcomes.index("won")
    assert body_of(s3, bucket, "race") == bodies[winner]


def test_concurrent_if_match_updates_have_exactly_one_winner(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="cas", Body=b"base")["ETag"]
    writers = 6
    barrier = threading.Barrier(writers)
    outcomes = [None] * writers

    def write(i):
        barrier.wait()
        try:
            s3.put_object(Bucket=bucket, Key="cas", Body=f"update-{i}".encode(), IfMatch=etag)
            outcomes[i] = "won"
        except Exception as e:  # noqa: BLE001
            outcomes[i] = e.response["Error"]["Code"]

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1, outcomes
    assert body_of(s3, bucket, "cas") == f"update-{outcomes.index('won')}".encode()


# --- CompleteMultipartUpload -------------------------------------------------


def _upload(s3, bucket, key, data):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=data)["ETag"]
    return up, {"Parts": [{"PartNumber": 1, "ETag": etag}]}


def test_complete_with_if_none_match_refuses_to_overwrite(s3, bucket):
    s3.put_object(Bucket=bucket, Key="mp", Body=b"original")
    up, parts = _upload(s3, bucket, "mp", b"multipart body")
    expect_error(
        s3.complete_multipart_upload, "PreconditionFailed", 412,
        Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts, IfNoneMatch="*",
    )
    assert body_of(s3, bucket, "mp") == b"original"
    # The upload is still there to complete unconditionally.
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts)
    assert body_of(s3, bucket, "mp") == b"multipart body"


def test_complete_with_if_match(s3, bucket):
    up, parts = _upload(s3, bucket, "mp", b"new body")
    expect_error(
        s3.complete_multipart_upload, "NoSuchKey", 404,
        Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts, IfMatch=WRONG_ETAG,
    )
    etag = s3.put_object(Bucket=bucket, Key="mp", Body=b"current")["ETag"]
    expect_error(
        s3.complete_multipart_upload, "PreconditionFailed", 412,
        Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts, IfMatch=WRONG_ETAG,
    )
    assert body_of(s3, bucket, "mp") == b"current"
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts, IfMatch=etag)
    assert body_of(s3, bucket, "mp") == b"new body"


def test_complete_with_if_none_match_creates_a_missing_key(s3, bucket):
    up, parts = _upload(s3, bucket, "mp", b"fresh")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts, IfNoneMatch="*")
    assert body_of(s3, bucket, "mp") == b"fresh"


# --- reads -------------------------------------------------------------------


@pytest.fixture
def stored(s3, bucket):
    """(bucket, key, etag, last_modified) of one object."""
    etag = s3.put_object(Bucket=bucket, Key="r", Body=b"readable")["ETag"]
    lm = s3.head_object(Bucket=bucket, Key="r")["LastModified"]
    return bucket, "r", etag, lm


HOUR = datetime.timedelta(hours=1)


def test_not_modified_carries_the_etag(s3, stored):
    bucket, key, etag, lm = stored
    for call in (s3.get_object, s3.head_object):
        resp = expect_error(call, "304", 304, Bucket=bucket, Key=key, IfNoneMatch=etag)
        headers = resp["ResponseMetadata"]["HTTPHeaders"]
        assert headers.get("etag") == etag
        assert "last-modified" in headers


def test_if_match_true_wins_over_if_unmodified_since_false(s3, stored):
    bucket, key, etag, lm = stored
    got = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag, IfUnmodifiedSince=lm - HOUR)
    assert got["Body"].read() == b"readable"
    expect_error(s3.get_object, "PreconditionFailed", 412, Bucket=bucket, Key=key, IfUnmodifiedSince=lm - HOUR)
    expect_error(s3.head_object, "412", 412, Bucket=bucket, Key=key, IfMatch=WRONG_ETAG)


def test_if_none_match_false_wins_over_if_modified_since_true(s3, stored):
    bucket, key, etag, lm = stored
    expect_error(s3.get_object, "304", 304, Bucket=bucket, Key=key, IfNoneMatch=etag, IfModifiedSince=lm - HOUR)
    # If-None-Match true decides the other way whatever If-Modified-Since says.
    got = s3.get_object(Bucket=bucket, Key=key, IfNoneMatch=WRONG_ETAG, IfModifiedSince=lm + HOUR)
    assert got["Body"].read() == b"readable"


def test_failed_if_match_is_412_even_when_if_none_match_would_be_304(s3, stored):
    bucket, key, etag, lm = stored
    expect_error(s3.get_object, "PreconditionFailed", 412, Bucket=bucket, Key=key, IfMatch=WRONG_ETAG, IfNoneMatch=etag)


def test_dates_are_compared_to_the_second(s3, stored):
    bucket, key, etag, lm = stored
    expect_error(s3.get_object, "304", 304, Bucket=bucket, Key=key, IfModifiedSince=lm)
    assert s3.get_object(Bucket=bucket, Key=key, IfUnmodifiedSince=lm)["Body"].read() == b"readable"
    assert s3.get_object(Bucket=bucket, Key=key, IfModifiedSince=lm - HOUR)["Body"].read() == b"readable"


def test_conditions_on_a_missing_key_are_no_such_key(s3, bucket):
    expect_error(s3.get_object, "NoSuchKey", 404, Bucket=bucket, Key="absent", IfMatch=WRONG_ETAG)


# --- Expect: 100-continue ----------------------------------------------------


def test_a_refused_upload_whose_body_comes_late_does_not_corrupt_the_next_request(server, s3, bucket):
    """botocore sends uploads with `Expect: 100-continue` and sends the body anyway after about
    a second without `100 Continue`. A PutObject refused before its body was read (here by
    `If-None-Match: *` on an existing key) must therefore end its connection: bytes that
    arrive after the refusal cannot be told from the next request, and read as one they
    failed the next call's signature."""
    import socket
    import urllib.parse

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from helpers import ACCESS_KEY, REGION, SECRET_KEY

    s3.put_object(Bucket=bucket, Key="taken", Body=b"kept")
    body = b"late body"
    url = f"{server.url}/{bucket}/taken"
    req = AWSRequest(
        method="PUT",
        url=url,
        data=body,
        headers={"If-None-Match": "*", "Expect": "100-continue", "Content-Length": str(len(body))},
    )
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(req)
    host = urllib.parse.urlsplit(url)
    headers = dict(req.headers.items())
    headers.setdefault("Host", host.netloc)
    head = f"PUT {host.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, "closed before answering"
            answer += chunk
        status, _, headers = answer.partition(b"\r\n\r\n")[0].partition(b"\r\n")
        assert b" 412 " in status, answer
        assert b"connection: close" in headers.lower(), answer
        # The client's late body, then another request on the same connection: the server
        # has closed it, so nothing is read as a request.
        try:
            sock.sendall(body + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        rest = b""
        try:
            while chunk := sock.recv(65536):
                rest += chunk
        except ConnectionResetError:
            pass
        assert b"HTTP/1.1" not in rest.partition(b"\r\n\r\n")[2] and b"HTTP/1.1 400" not in rest, rest
    assert body_of(s3, bucket, "taken") == b"kept"


def test_copies_honour_the_destination_conditions(s3, bucket):  # noqa: F811
    src = s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    old = s3.put_object(Bucket=bucket, Key="dst", Body=b"old")
    copy = {"Bucket": bucket, "Key": "dst", "CopySource": {"Bucket": bucket, "Key": "src"}}
    expect_error(s3.copy_object, "PreconditionFailed", 412, IfNoneMatch="*", **copy)
    expect_error(s3.copy_object, "PreconditionFailed", 412, IfMatch=src["ETag"], **copy)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"old"

    s3.copy_object(IfMatch=old["ETag"], **copy)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"source"
    s3.copy_object(Bucket=bucket, Key="fresh", CopySource={"Bucket": bucket, "Key": "src"},
                   IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"source"
