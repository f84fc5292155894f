"""SigV4 authentication of the Lambda API (credentials test/test)."""

import datetime

import pytest
from botocore.exceptions import ClientError

from helpers import (
    assert_error,
    http_request,
    json_body,
    make_client,
    sigv4_headers,
)

LIST_PATH = "/2015-03-31/functions"


def test_health_is_unauthenticated_and_describes_the_server(server):
    status, body = server.health()
    assert status == 200
    for key in ("version", "store", "isolation"):
        assert key in body, body


def test_correct_credentials_are_accepted(lambda_client):
    resp = lambda_client.list_functions(MaxItems=1)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_wrong_secret_key_is_invalid_signature(server):
    client = make_client(server.url, secret_key="not-the-secret")
    with pytest.raises(ClientError) as ei:
        client.list_functions()
    assert_error(ei.value, "InvalidSignatureException", 403)


def test_unknown_access_key_is_unrecognized_client(server):
    client = make_client(server.url, access_key="AKIAUNKNOWNKEY000000")
    with pytest.raises(ClientError) as ei:
        client.list_functions()
    assert_error(ei.value, "UnrecognizedClientException", 403)


def test_wrong_secret_is_rejected_on_writes_too(server):
    client = make_client(server.url, secret_key="not-the-secret")
    with pytest.raises(ClientError) as ei:
        client.delete_function(FunctionName="whatever")
    assert_error(ei.value, "InvalidSignatureException", 403)


def test_unsigned_request_is_missing_authentication_token(server):
    status, headers, raw = http_request("GET", f"{server.url}{LIST_PATH}")
    assert status == 403
    assert headers.get("x-amzn-ErrorType", "").split(":")[0] == "MissingAuthenticationTokenException"
    body = json_body(raw)
    assert body.get("message") or body.get("Message"), body


def test_presigned_url_is_accepted(lambda_client):
    url = lambda_client.generate_presigned_url("list_functions", ExpiresIn=60)
    assert "X-Amz-Signature=" in url
    status, _headers, raw = http_request("GET", url)
    assert status == 200, raw
    assert "Functions" in json_body(raw)


def test_tampered_presigned_url_is_rejected(lambda_client):
    url = lambda_client.generate_presigned_url("list_functions", ExpiresIn=60)
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    status, _headers, _raw = http_request("GET", tampered)
    assert status == 403


def test_hand_signed_request_is_accepted(server):
    """Control for the tests below: the hand-written signer itself is correct."""
    url = f"{server.url}{LIST_PATH}?MaxItems=1"
    status, _headers, raw = http_request("GET", url, sigv4_headers("GET", url))
    assert status == 200, raw


def test_request_signed_20_minutes_ago_is_rejected(server):
    url = f"{server.url}{LIST_PATH}"
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    status, _headers, raw = http_request("GET", url, sigv4_headers("GET", url, when=past))
    assert status == 403, raw


def test_request_signed_20_minutes_in_the_future_is_rejected(server):
    url = f"{server.url}{LIST_PATH}"
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)
    status, _headers, raw = http_request("GET", url, sigv4_headers("GET", url, when=future))
    assert status == 403, raw


def test_body_not_matching_the_signature_is_rejected(server):
    url = f"{server.url}{LIST_PATH}"
    signed = b'{"FunctionName": "signed-body"}'
    sent = b'{"FunctionName": "other-body!"}'
    headers = sigv4_headers("POST", url, sent, signed_body=signed)
    status, headers, _raw = http_request("POST", url, headers, sent)
    assert status == 403
    assert headers.get("x-amzn-ErrorType", "").split(":")[0] == "InvalidSignatureException"

