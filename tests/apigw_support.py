"""Shared pieces of the HTTP API tests: the test function, fixtures and a small HTTP client
for the data plane (urllib, unsigned)."""

import json
import urllib.parse

import pytest
from botocore.exceptions import ClientError

import helpers

# One function serves every data-plane test; the query string tells it what to do.
GATEWAY_FUNCTION = r'''
import base64, json, os, time

def handler(event, context):
    q = event.get("queryStringParameters") or {}
    mode = q.get("mode", "echo")
    if mode == "raise":
        raise RuntimeError("boom")
    if mode == "sleep":
        time.sleep(float(q["s"]))
        return {"statusCode": 200, "body": "slept"}
    if mode == "return":
        body = event["body"]
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return json.loads(body)
    if mode == "version":
        return {"statusCode": 200, "body": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(event)}
'''


def gateway_zip():
    return helpers.make_zip({"app.py": GATEWAY_FUNCTION})


@pytest.fixture(scope="session")
def apigw(server):
    return server.client("apigatewayv2")


@pytest.fixture(scope="session")
def unvalidated_apigw(server):
    return server.client("apigatewayv2", parameter_validation=False)


# Every API of the test account: what a function's permission names to let API Gateway in.
ANY_API = f"arn:aws:execute-api:{helpers.REGION}:{helpers.ACCOUNT}:*"


@pytest.fixture
def gw_function(new_function, lambda_client):
    """A fresh function running GATEWAY_FUNCTION, which API Gateway may invoke for any API
    of the account (AddPermission, as on AWS); returns its name."""
    name = new_function(zip_bytes=gateway_zip(), Timeout=10)["FunctionName"]
    helpers.allow_service(lambda_client, name, "apigateway.amazonaws.com", ANY_API)
    return name


@pytest.fixture
def new_api(apigw):
    """Factory: create an HTTP API (kwargs go to CreateApi); deleted after the test."""
    ids = []

    def create(**kwargs):
        kwargs.setdefault("Name", helpers.unique_name("api"))
        kwargs.setdefault("ProtocolType", "HTTP")
        api = apigw.create_api(**kwargs)
        ids.append(api["ApiId"])
        return api

    yield create
    for api_id in ids:
        try:
            apigw.delete_api(ApiId=api_id)
        except ClientError:
            pass


def add_route(apigw, api_id, route_key, integration_id):
    return apigw.create_route(
        ApiId=api_id, RouteKey=route_key, Target=f"integrations/{integration_id}"
    )


def lambda_integration(apigw, api_id, function_arn, version="2.0", **kwargs):
    return apigw.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=function_arn,
        PayloadFormatVersion=version,
        **kwargs,
    )


def call(endpoint, path="/", method="GET", body=None, headers=None, query=None, timeout=30):
    """Send an unsigned request to a data-plane URL; returns (status, headers, body bytes)."""
    url = endpoint + path
    if query:
        url += "?" + (query if isinstance(query, str) else urllib.parse.urlencode(query))
    if isinstance(body, str):
        body = body.encode()
    return helpers.http_request(method, url, headers=headers, body=body, timeout=timeout)


def call_json(endpoint, path="/", **kwargs):
    status, headers, body = call(endpoint, path, **kwargs)
    assert status == 200, (status, body)
    return json.loads(body)


def echo_event(endpoint, path="/", **kwargs):
    """The event the echo function received for a request."""
    return call_json(endpoint, path, **kwargs)


def gateway_error(resp, status, message):
    got_status, headers, body = resp
    assert got_status == status, (got_status, body)
    assert json.loads(body) == {"message": message}
    assert headers.get("apigw-requestid")
