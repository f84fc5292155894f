"""CORS at the edge, as a browser exercises it: preflights answered without the function, and
the configured headers on actual responses, for function URLs (`Cors`) and HTTP APIs
(`CorsConfiguration`), as AWS documents for HTTP APIs."""

import json

import pytest

import helpers
from apigw_support import (  # noqa: F401  (fixtures)
    add_route,
    apigw,
    gateway_zip,
    gw_function,
    lambda_integration,
    new_api,
)
from helpers import function_arn

APP = "https://app.example"
CORS = {"AllowOrigins": [APP], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type", "x-token"], "ExposeHeaders": ["x-request-id"],
        "MaxAge": 600, "AllowCredentials": True}


def preflight(url, origin=APP, method="POST", headers="content-type,x-token"):
    """The OPTIONS request a browser sends before a cross-origin POST."""
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return helpers.http_request("OPTIONS", url, headers=h)


def assert_allowed_preflight(resp):
    status, headers, body = resp
    assert status == 204, (status, body)
    assert body == b""
    assert headers["access-control-allow-origin"] == APP
    assert set(headers["access-control-allow-methods"].split(",")) == {"GET", "POST"}
    assert set(headers["access-control-allow-headers"].split(",")) == {"content-type", "x-token"}
    assert headers["access-control-max-age"] == "600"
    assert headers["access-control-allow-credentials"] == "true"
    assert "Origin" in headers.get_all("vary")


def assert_refused_preflight(resp):
    status, headers, _ = resp
    assert status == 204
    assert "access-control-allow-origin" not in headers


# A function that counts its invocations in /tmp and reports how many it has seen, and
# sets CORS headers of its own (which the configuration replaces).
COUNTING = r'''
import json, os

def handler(event, context):
    path = "/tmp/count"
    n = int(open(path).read()) if os.path.exists(path) else 0
    n += 1
    open(path, "w").write(str(n))
    return {"statusCode": 200,
            "headers": {"content-type": "application/json",
                        "access-control-allow-origin": "https://mine.example",
                        "x-request-id": "r1"},
            "body": json.dumps({"count": n, "method": event["requestContext"]["http"]["method"]})}
'''


@pytest.fixture
def counting(new_function):
    return new_function(zip_bytes=helpers.make_zip({"app.py": COUNTING}))["FunctionName"]


def count(url):
    status, _, body = helpers.http_request("GET", url)
    assert status == 200, body
    return json.loads(body)["count"]


# --- function URLs ---------------------------------------------------------------------


@pytest.fixture
def cors_url(lambda_client, counting):
    url = lambda_client.create_function_url_config(
        FunctionName=counting, AuthType="NONE", Cors=CORS)["FunctionUrl"]
    lambda_client.add_permission(FunctionName=counting, StatementId="public",
                                 Action="lambda:InvokeFunctionUrl", Principal="*",
                                 FunctionUrlAuthType="NONE")
    return url


def test_url_preflight_is_answered_without_the_function(cors_url):
    before = count(cors_url)
    assert_allowed_preflight(preflight(cors_url + "items"))
    assert_refused_preflight(preflight(cors_url, origin="https://evil.example"))
    assert_refused_preflight(preflight(cors_url, method="DELETE"))
    assert_refused_preflight(preflight(cors_url, headers="x-unlisted"))
    assert count(cors_url) == before + 1


def test_url_actual_response_gets_configured_headers(cors_url):
    status, headers, _ = helpers.http_request("GET", cors_url, headers={"Origin": APP})
    assert status == 200
    assert headers["access-control-allow-origin"] == APP
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-expose-headers"] == "x-request-id"
    # Another origin gets no CORS header at all: the function's own is dropped.
    status, headers, _ = helpers.http_request("GET", cors_url,
                                              headers={"Origin": "https://evil.example"})
    assert status == 200
    assert "access-control-allow-origin" not in headers


def test_url_without_cors_passes_options_to_the_function(lambda_client, counting):
    url = lambda_client.create_function_url_config(
        FunctionName=counting, AuthType="NONE")["FunctionUrl"]
    lambda_client.add_permission(FunctionName=counting, StatementId="public",
                                 Action="lambda:InvokeFunctionUrl", Principal="*",
                                 FunctionUrlAuthType="NONE")
    status, headers, body = preflight(url)
    assert status == 200 and json.loads(body)["method"] == "OPTIONS"
    # Without a configuration, the function's own headers stand.
    assert headers["access-control-allow-origin"] == "https://mine.example"


def test_update_adds_cors_to_a_url(lambda_client, cors_url, counting):
    lambda_client.update_function_url_config(
        FunctionName=counting, Cors={"AllowOrigins": ["*"], "AllowMethods": ["*"]})
    status, headers, _ = preflight(cors_url, origin="https://any.example", headers=None)
    assert status == 204
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "*"


# --- HTTP APIs -------------------------------------------------------------------------


@pytest.fixture
def cors_api(apigw, new_api, gw_function):
    """An HTTP API with CORS configured and `GET /items` routed to the echo function."""
    api = new_api(CorsConfiguration={
        "AllowOrigins": [APP], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type", "x-token"], "ExposeHeaders": ["x-request-id"],
        "MaxAge": 600, "AllowCredentials": True})
    iid = lambda_integration(apigw, api["ApiId"], function_arn(gw_function))["IntegrationId"]
    add_route(apigw, api["ApiId"], "GET /items", iid)
    apigw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    api["IntegrationId"] = iid
    return api


def test_api_preflight_is_answered_by_the_gateway(cors_api):
    url = cors_api["ApiEndpoint"] + "/items"
    assert_allowed_preflight(preflight(url))
    assert_refused_preflight(preflight(url, origin="https://evil.example"))
    # An OPTIONS that is not a preflight has no route: 404 as before.
    status, _, _ = helpers.http_request("OPTIONS", url)
    assert status == 404


def test_api_actual_response_gets_configured_headers(cors_api):
    url = cors_api["ApiEndpoint"] + "/items"
    status, headers, _ = helpers.http_request("GET", url, headers={"Origin": APP})
    assert status == 200
    assert headers["access-control-allow-origin"] == APP
    assert headers["access-control-expose-headers"] == "x-request-id"
    assert headers["access-control-allow-credentials"] == "true"
    status, headers, _ = helpers.http_request("GET", url)
    assert status == 200 and "access-control-allow-origin" not in headers


def test_api_route_taking_options_gets_the_preflight(apigw, cors_api):
    """As AWS documents: a route that matches the OPTIONS request (here `ANY /{proxy+}`)
    receives it; the gateway still sets the configured headers."""
    add_route(apigw, cors_api["ApiId"], "ANY /{proxy+}", cors_api["IntegrationId"])
    status, headers, body = preflight(cors_api["ApiEndpoint"] + "/other")
    assert status == 200, body
    assert json.loads(body)["requestContext"]["http"]["method"] == "OPTIONS"
    assert headers["access-control-allow-origin"] == APP


def test_api_without_cors_has_no_preflight(apigw, new_api, gw_function):
    api = new_api(Target=function_arn(gw_function))
    status, headers, body = preflight(api["ApiEndpoint"] + "/x")
    # Quick create's `$default` route takes the OPTIONS request to the function.
    assert status == 200, body
    assert "access-control-allow-origin" not in headers


def test_api_path_form_applies_cors_too(server, cors_api):
    url = f"{server.url}/_aws/execute-api/{cors_api['ApiId']}/items"
    assert_allowed_preflight(preflight(url))
