"""Hostile requests against every wire entry point (Lambda, SNS, CloudWatch Logs, API Gateway,
S3, DynamoDB and the HTTP layer itself): invalid UTF-8, NaN and overlong numbers, very deep
JSON, huge headers, truncated chunked bodies, each service's smallest malformed request. Each
gets a 4xx in its service's shape (or, for what the HTTP layer refuses, a 431 or a closed
connection), and the server is still serving afterwards.

DynamoDB's expression language has its own hostile cases in test_dynamodb_hostile.py."""

import json
import socket
import time
import urllib.parse

import pytest

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import (
    ACCESS_KEY,
    ACCOUNT,
    REGION,
    SECRET_KEY,
    http_request,
    make_client,
    sigv4_headers,
    unique_name,
)

DEEP = 100_000


@pytest.fixture(scope="module")
def srv(module_server_factory):
    """A server of this module's own, so a crash cannot be blamed on another test."""
    return module_server_factory()


def signed(srv, method, path, body=b"", service="lambda", headers=None):
    """A request signed for `service` by botocore's own signer, `headers` included."""
    url = f"{srv.url}{path}"
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    auth = S3SigV4Auth if service == "s3" else SigV4Auth
    auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(req)
    return http_request(method, url, headers=dict(req.headers.items()), body=body or None)


def raw(srv, data, timeout=10):
    """Sends `data` on a fresh socket and returns what came back before the server closed it
    (b"" if it closed without answering)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return out


def assert_json_error(status, headers, body, code, expect_status=400):
    assert status == expect_status, (status, body[:500])
    doc = json.loads(body)
    named = headers.get("x-amzn-ErrorType", "") or doc.get("__type", "")
    assert named.split(":")[0].endswith(code), (named, doc)


def assert_alive(srv):
    status, health = srv.health()
    assert status == 200 and health["status"] == "ok", health
    lam = make_client(srv.url)
    lam.list_functions()


# --- Lambda (REST-JSON) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fn(srv):
    from helpers import create_function, wait_active

    lam = make_client(srv.url)
    name = unique_name("hostile")
    create_function(lam, name)
    wait_active(lam, name)
    return name


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"{\"a\": \"\xff\xfe\"}", id="invalid-utf8"),
        pytest.param(b"{\"a\": NaN}", id="nan"),
        pytest.param(b"[Infinity]", id="infinity"),
        pytest.param(b"[" * DEEP + b"]" * DEEP, id="deep-arrays"),
        pytest.param(b"{\"a\":" * DEEP + b"1" + b"}" * DEEP, id="deep-objects"),
        pytest.param(b"{\"a\": 1", id="truncated"),
    ],
)
def test_invoke_refuses_payloads_that_are_not_json(srv, fn, payload):
    status, headers, body = signed(
        srv, "POST", f"/2015-03-31/functions/{fn}/invocations", payload
    )
    assert_json_error(status, headers, body, "InvalidRequestContentException")


def test_invoke_accepts_or_refuses_overlong_numbers_without_failing(srv, fn):
    for number in (b"1" * 10_000, b"1e999999", b"-0." + b"0" * 10_000 + b"1"):
        status, _, body = signed(
            srv, "POST", f"/2015-03-31/functions/{fn}/invocations", b"[" + number + b"]"
        )
        assert status in (200, 400), (number[:20], status, body[:300])


def test_create_function_with_invalid_utf8_or_deep_json(srv):
    for body in (b"{\"FunctionName\": \"\xff\"}", b"{\"Unknown\": \"\xff\"}", b"[" * DEEP,
                 b"{\"Tags\":" * DEEP):
        status, headers, resp = signed(srv, "POST", "/2015-03-31/functions", body)
        assert 400 <= status < 500, (status, resp[:300])
        assert headers.get("x-amzn-ErrorType"), resp[:300]


def test_unknown_lambda_path_and_method(srv):
    status, headers, body = signed(srv, "PATCH", "/2015-03-31/functions/x/y/z/" + "a/" * 2000)
    assert 400 <= status < 500, (status, body[:300])


# --- SigV4 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 " + "Credential=a, " * 3000,
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request/x/y, "
        "SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, SignedHeaders="
        + ";".join(["h"] * 5000)
        + ", Signature=00",
        "\u00ff\u00fe",
    ],
    ids=["bare", "repeated", "long-scope", "many-signed-headers", "latin1"],
)
def test_malformed_authorization_headers(srv, authorization):
    status, headers, body = http_request(
        "GET",
        f"{srv.url}/2015-03-31/functions",
        headers={"authorization": authorization, "x-amz-date": "20260101T000000Z"},
    )
    assert status in (400, 403), (status, body[:300])
    assert headers.get("x-amzn-ErrorType") in (
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
    ), (headers.get("x-amzn-ErrorType"), body[:300])


def test_presigned_expiry_that_would_overflow(srv):
    q = urllib.parse.urlencode(
        {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": "test/20260101/us-east-1/lambda/aws4_request",
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "X-Amz-Expires": "18446744073709551615",
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": "00",
        }
    )
    status, headers, body = http_request("GET", f"{srv.url}/2015-03-31/functions?{q}")
    assert status == 403, (status, body[:300])
    assert headers["x-amzn-ErrorType"] == "IncompleteSignatureException"


# --- DynamoDB (JSON 1.0) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{\"TableName\": \"\xff\"}", b"[" * DEEP, b"{\"a\": NaN}", b"{"],
    ids=["invalid-utf8", "deep", "nan", "truncated"],
)
def test_dynamodb_malformed_bodies(srv, body):
    status, headers, resp = signed(
        srv, "POST", "/", body, service="dynamodb",
        headers={"x-amz-target": "DynamoDB_20120810.DescribeTable",
                 "content-type": "application/x-amz-json-1.0"},
    )
    assert status == 400, (status, resp[:300])
    assert json.loads(resp)["__type"].endswith("#SerializationException"), resp[:300]


def test_dynamodb_without_target(srv):
    status, _, resp = signed(srv, "POST", "/", b"{}", service="dynamodb")
    assert status == 400, (status, resp[:300])
    assert "UnknownOperationException" in json.loads(resp)["__type"]


# --- CloudWatch Logs (JSON 1.1) -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{\"logGroupName\": \"\xff\"}", b"[" * DEEP, b"{\"limit\": 1e999999}", b"{"],
    ids=["invalid-utf8", "deep", "overlong-number", "truncated"],
)
def test_logs_malformed_bodies(srv, body):
    status, headers, resp = signed(
        srv, "POST", "/", body, service="logs",
        headers={"x-amz-target": "Logs_20140328.DescribeLogGroups",
                 "content-type": "application/x-amz-json-1.1"},
    )
    assert 400 <= status < 500, (status, resp[:300])
    assert json.loads(resp)["__type"] == "SerializationException", resp[:300]


def test_logs_put_over_one_mib_is_refused(srv):
    logs = make_client(srv.url, "logs")
    group = unique_name("/hostile/")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    events = [{"timestamp": now, "message": "x" * 200_000} for _ in range(6)]
    with pytest.raises(logs.exceptions.InvalidParameterException) as e:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    assert "Upload too large" in str(e.value)


# --- SNS (Query) ------------------------------------------------------------------------


def sns_form(params):
    return urllib.parse.urlencode(params).encode()


def test_sns_without_action_and_with_invalid_utf8(srv):
    status, _, body = signed(srv, "POST", "/", b"Version=2010-03-31", service="sns")
    assert status == 400 and b"<Code>MissingAction</Code>" in body, body[:300]
    status, _, body = signed(
        srv, "POST", "/", b"Action=CreateTopic&Name=%FF%FE&Version=2010-03-31", service="sns"
    )
    assert status == 400 and b"<Code>InvalidParameter</Code>" in body, body[:300]


@pytest.mark.parametrize(
    "policy",
    ["[" * DEEP, "{\"a\":" * DEEP, "{\"a\": [NaN]}",
     json.dumps({f"k{i}": {"$or": [{"a": [1]}, {"b": [2]}]} for i in range(40)})],
    ids=["deep-array", "deep-object", "nan", "or-explosion"],
)
def test_sns_hostile_filter_policies(srv, policy):
    sns = make_client(srv.url, "sns")
    topic = sns.create_topic(Name=unique_name("hostile"))["TopicArn"]
    status, _, body = signed(
        srv, "POST", "/",
        sns_form({
            "Action": "Subscribe", "Version": "2010-03-31", "TopicArn": topic,
            "Protocol": "lambda",
            "Endpoint": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:x",
            "Attributes.entry.1.key": "FilterPolicyScope",
            "Attributes.entry.1.value": "MessageBody",
            "Attributes.entry.2.key": "FilterPolicy",
            "Attributes.entry.2.value": policy,
        }),
        service="sns",
    )
    assert status == 400 and b"<Code>InvalidParameter</Code>" in body, (status, body[:300])


def test_sns_message_attribute_with_deep_string_array(srv):
    sns = make_client(srv.url, "sns", parameter_validation=False)
    topic = sns.create_topic(Name=unique_name("hostile"))["TopicArn"]
    with pytest.raises(sns.exceptions.InvalidParameterValueException):
        sns.publish(
            TopicArn=topic, Message="m",
            MessageAttributes={"a": {"DataType": "String.Array", "StringValue": "[" * DEEP}},
        )


# --- S3 (REST-XML) ------------------------------------------------------------------------


def test_s3_deep_xml_and_garbage_bodies(srv):
    s3 = make_client(srv.url, "s3")
    bucket = unique_name("hostile")
    s3.create_bucket(Bucket=bucket)
    for body in (b"<Delete>" * DEEP, b"\xff\xfe<", b"<Tagging><TagSet>" + b"<Tag>" * DEEP):
        for query in ("delete", "tagging"):
            status, _, resp = signed(srv, "POST" if query == "delete" else "PUT",
                                     f"/{bucket}?{query}", body, service="s3")
            assert 400 <= status < 500, (query, status, resp[:300])
            assert b"<Error>" in resp, resp[:300]


def test_s3_truncated_chunked_upload_leaves_nothing(srv):
    s3 = make_client(srv.url, "s3")
    bucket = unique_name("hostile")
    s3.create_bucket(Bucket=bucket)
    path = f"/{bucket}/truncated"
    h = sigv4_headers("PUT", f"{srv.url}{path}", service="s3")
    h["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    # Re-signed with the unsigned payload marker is not needed: the object must not appear
    # whatever the signature check says.
    head = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    request = (f"PUT {path} HTTP/1.1\r\n{head}transfer-encoding: chunked\r\n\r\n"
               "100\r\n" + "x" * 10).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(request)
    time.sleep(0.2)
    listed = s3.list_objects_v2(Bucket=bucket)
    assert listed.get("KeyCount", 0) == 0, listed


# --- API Gateway --------------------------------------------------------------------------


def test_apigw_hostile_route_keys_and_paths(srv):
    status, headers, body = signed(
        srv, "POST", "/v2/apis", json.dumps({"name": "h", "protocolType": "HTTP"}).encode(),
        service="apigateway",
    )
    assert status == 201, body[:300]
    api = json.loads(body)["apiId"]
    for key in ("GET /" + "{a}/" * 5000, "GET /" + "x" * 100_000, "\xff", "GET " + "{" * DEEP):
        status, _, resp = signed(
            srv, "POST", f"/v2/apis/{api}/routes",
            json.dumps({"routeKey": key}).encode(), service="apigateway",
        )
        assert status == 400, (key[:30], status, resp[:300])
    status, _, resp = signed(srv, "POST", f"/v2/apis/{api}/routes", b"[" * DEEP,
                             service="apigateway")
    assert status == 400, (status, resp[:300])
    # The data plane: a long path of many segments to an API without routes.
    status, _, resp = http_request("GET", f"{srv.url}/_aws/execute-api/{api}/" + "a/" * 10_000)
    assert status == 404 or status == 431, (status, resp[:300])


# --- HTTP layer -------------------------------------------------------------------------


def test_ten_megabyte_header_is_refused(srv):
    answer = raw(srv, b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 10_000_000
                 + b"\r\n\r\n")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_too_many_headers_are_refused(srv):
    many = b"".join(b"x-h%d: v\r\n" % i for i in range(500))
    answer = raw(srv, b"GET /health HTTP/1.1\r\nhost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_truncated_chunked_body_to_lambda(srv, fn):
    path = f"/2015-03-31/functions/{fn}/invocations"
    h = sigv4_headers("POST", f"{srv.url}{path}", body=b"{}")
    head = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    # Claims a 4 KiB chunk, sends ten bytes, and hangs up.
    raw(srv, (f"POST {path} HTTP/1.1\r\n{head}transfer-encoding: chunked\r\n\r\n"
              "1000\r\n{\"a\": 1234").encode(), timeout=2)


def test_garbage_request_lines(srv):
    for line in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                 b"G" * 100_000 + b"\r\n\r\n"):
        answer = raw(srv, line)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:200]


# --- and after all of it -----------------------------------------------------------------


def test_zz_server_still_serving(srv, fn):
    assert_alive(srv)
    out = make_client(srv.url).invoke(FunctionName=fn, Payload=b'{"still": "here"}')
    assert json.loads(out["Payload"].read()) == {"still": "here"}
    assert srv.proc.poll() is None
    assert "panicked" not in srv.log_text(), srv.log_text()[-3000:]
