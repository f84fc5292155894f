"""Every S3 path answers with S3's XML error document, `RequestId` and `HostId` included (the
same id as the `x-amz-request-id` header), never the Lambda API's JSON: bad signatures,
unsigned requests, unknown operations, oversize uploads. An unsigned or oversize upload that
waits for `100 Continue` is refused before it sends its body."""

import socket
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from helpers import http_request, make_s3_client
from s3_support import bucket, expect_error, s3, signed_s3_headers  # noqa: F401 (module fixtures)


def assert_s3_error(status, headers, body, code):
    """`body` is S3's <Error> with `code`, and its RequestId is the header's."""
    assert headers.get("x-amzn-ErrorType") is None, "a Lambda-shaped error"
    root = ET.fromstring(body)
    assert root.tag == "Error", body
    assert root.findtext("Code") == code, body
    assert root.findtext("Message"), body
    request_id = headers.get("x-amz-request-id")
    assert request_id and root.findtext("RequestId") == request_id, body
    assert root.findtext("HostId") == headers.get("x-amz-id-2"), body


def test_missing_key_error_document(server, bucket):
    url = f"{server.url}/{bucket}/absent"
    status, headers, body = http_request("GET", url, signed_s3_headers("GET", url))
    assert status == 404
    assert_s3_error(status, headers, body, "NoSuchKey")


def test_wrong_secret_is_signature_does_not_match_in_xml(server, bucket):
    url = f"{server.url}/{bucket}/k"
    status, headers, body = http_request("GET", url, signed_s3_headers("GET", url, secret_key="wrong"))
    assert status == 403
    assert_s3_error(status, headers, body, "SignatureDoesNotMatch")
    client = make_s3_client(server.url, secret_key="wrong")
    expect_error(client.list_objects_v2, "SignatureDoesNotMatch", 403, Bucket=bucket)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unsigned_object_requests_are_access_denied_in_xml(server, s3, bucket, method):
    s3.put_object(Bucket=bucket, Key="private", Body=b"private data")
    status, headers, body = http_request(method, f"{server.url}/{bucket}/private", body=b"x" if method == "PUT" else None)
    assert status == 403
    assert_s3_error(status, headers, body, "AccessDenied")
    assert s3.get_object(Bucket=bucket, Key="private")["Body"].read() == b"private data"


def test_unknown_operation_on_an_s3_signed_request(server, bucket):
    url = f"{server.url}/{bucket}?notarealsubresource"
    status, headers, body = http_request("POST", url, signed_s3_headers("POST", url))
    assert 400 <= status < 600
    root = ET.fromstring(body)
    assert root.tag == "Error" and root.findtext("Code"), body
    assert root.findtext("RequestId") == headers.get("x-amz-request-id")


def _head_only(server, path, headers):
    """Sends a request's head with `Expect: 100-continue` and no body; returns what the server
    answers first (status line and headers), or raises on a timeout."""
    netloc = urllib.parse.urlsplit(server.url).netloc
    host, port = netloc.split(":")
    lines = [f"PUT {path} HTTP/1.1", f"Host: {netloc}", "Expect: 100-continue", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
        return got.split(b"\r\n", 1)[0].decode(), got


def test_unsigned_expect_continue_upload_is_refused_before_the_body(server, s3, bucket):
    status_line, raw = _head_only(server, f"/{bucket}/sneaky", {"Content-Length": "1048576"})
    assert status_line.split(" ")[1] == "403", raw
    assert b"100 Continue" not in raw
    expect_error(s3.head_object, "404", 404, Bucket=bucket, Key="sneaky")


def test_oversize_put_is_entity_too_large_before_the_body(server, s3, bucket):
    url = f"{server.url}/{bucket}/huge"
    size = str(5 * 1024**3 + 1)
    headers = signed_s3_headers("PUT", url, {"content-length": size})
    status_line, raw = _head_only(server, f"/{bucket}/huge", headers)
    assert status_line.split(" ")[1] == "400", raw
    assert b"<Code>EntityTooLarge</Code>" in raw
    expect_error(s3.head_object, "404", 404, Bucket=bucket, Key="huge")


def test_lambda_paths_keep_their_json_errors(server):
    status, headers, _ = http_request("GET", f"{server.url}/2015-03-31/functions")
    assert status == 403
    assert headers.get("x-amzn-ErrorType", "").startswith("MissingAuthenticationTokenException")


def test_key_too_long(server, s3, bucket):
    expect_error(s3.put_object, "KeyTooLongError", 400, Bucket=bucket, Key="k" * 1025, Body=b"x")
    url = f"{server.url}/{bucket}/{'k' * 1025}"
    status, headers, body = http_request("GET", url, signed_s3_headers("GET", url))
    assert status == 400
    assert_s3_error(status, headers, body, "KeyTooLongError")
    # 1,024 bytes is the limit, not past it.
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")
