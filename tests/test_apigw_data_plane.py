"""The HTTP API data plane: endpoints, stages, route precedence, the 2.0 and 1.0 events a
function receives, response mapping and the gateway's own errors."""

import base64
import json
import time

import pytest

import helpers
from apigw_support import (  # noqa: F401  (fixtures)
    add_route,
    apigw,
    call,
    echo_event,
    gateway_error,
    gateway_zip,
    gw_function,
    lambda_integration,
    new_api,
)
from helpers import function_arn


@pytest.fixture
def routed(apigw, new_api, gw_function):
    """An API with an echo integration and a `$default` auto-deploy stage; returns a function
    that adds routes, and the endpoint."""
    api = new_api()
    api_id = api["ApiId"]
    iid = lambda_integration(apigw, api_id, function_arn(gw_function))["IntegrationId"]
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    class Routed:
        endpoint = api["ApiEndpoint"]
        integration = iid

        def __init__(self):
            self.api_id = api_id

        def route(self, key):
            return add_route(apigw, api_id, key, iid)

    return Routed()


def test_quick_create_answers_from_the_function(new_api, gw_function):
    api = new_api(Target=function_arn(gw_function))
    event = echo_event(api["ApiEndpoint"], "/anything")
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/anything"
    status, headers, _ = call(api["ApiEndpoint"], "/anything")
    assert status == 200 and headers["apigw-requestid"]


def test_host_header_routing(server, new_api, gw_function):
    api = new_api(Target=function_arn(gw_function))
    host = f"{api['ApiId']}.execute-api.localhost"
    event = echo_event(server.url, "/items", headers={"Host": host})
    assert event["rawPath"] == "/items"
    assert event["requestContext"]["domainName"] == host
    assert event["requestContext"]["domainPrefix"] == api["ApiId"]


PRECEDENCE = [
    ("GET", "/pets/dog/1", "GET /pets/dog/1"),
    ("GET", "/pets/dog/2", "GET /pets/dog/{id}"),
    ("POST", "/pets/dog/2", "ANY /pets/dog/{id}"),
    ("GET", "/pets/cat/2", "GET /pets/{type}/{id}"),
    ("GET", "/pets/cat/2/toys", "GET /pets/{proxy+}"),
    ("GET", "/pets", "ANY /{proxy+}"),
    ("GET", "/", "GET /"),
    ("POST", "/", "$default"),
]


def test_route_precedence(routed):
    for key in {k for _, _, k in PRECEDENCE} | {"ANY /pets/dog/{id}"}:
        routed.route(key)
    for method, path, want in PRECEDENCE:
        event = echo_event(routed.endpoint, path, method=method)
        assert event["routeKey"] == want, (method, path)


def test_no_matching_route_is_404(routed):
    routed.route("GET /items/{id}")
    gateway_error(call(routed.endpoint, "/nothing"), 404, "Not Found")
    gateway_error(call(routed.endpoint, "/items/1", method="DELETE"), 404, "Not Found")


def test_unknown_api_is_404(server):
    gateway_error(call(f"{server.url}/_aws/execute-api/nosuchapi1", "/x"), 404, "Not Found")


def test_v2_event_fields(routed):
    routed.route("POST /items/{id}")
    event = echo_event(
        routed.endpoint, "/items/42", method="POST", query="a=1&a=2&b=x%20y",
        body='{"k": 1}',
        headers={"Content-Type": "application/json", "Cookie": "c1=v1; c2=v2",
                 "X-Custom": "one", "User-Agent": "tester/1"},
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "one"
    assert event["headers"]["content-type"] == "application/json"
    assert "cookie" not in event["headers"]
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["body"] == '{"k": 1}'
    assert event["isBase64Encoded"] is False
    assert "stageVariables" not in event
    rc = event["requestContext"]
    assert rc["accountId"] == helpers.ACCOUNT
    assert rc["apiId"] == routed.api_id
    assert rc["stage"] == "$default"
    assert rc["routeKey"] == "POST /items/{id}"
    assert rc["http"] == {"method": "POST", "path": "/items/42", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "tester/1"}
    assert rc["requestId"]
    assert isinstance(rc["timeEpoch"], int)
    assert len(rc["time"].split(" ")) == 2 and rc["time"].endswith("+0000")


def test_repeated_headers_are_comma_joined(routed):
    routed.route("GET /h")
    # urllib can't repeat a header; send two by hand.
    import http.client
    import urllib.parse

    url, headers = helpers.loopback(routed.endpoint + "/h")
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest("GET", u.path, skip_host=True)
    conn.putheader("Host", headers["Host"])
    conn.putheader("X-Rep", "a")
    conn.putheader("X-Rep", "b")
    conn.endheaders()
    event = json.loads(conn.getresponse().read())
    assert event["headers"]["x-rep"] == "a,b"


def test_binary_bodies_arrive_base64_encoded(routed):
    routed.route("POST /bin")
    raw = bytes(range(256))
    event = echo_event(routed.endpoint, "/bin", method="POST", body=raw,
                       headers={"Content-Type": "application/octet-stream"})
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_named_stage_serves_under_its_prefix_with_variables(apigw, routed):
    routed.route("GET /items/{id}")
    apigw.create_stage(ApiId=routed.api_id, StageName="dev", AutoDeploy=True,
                       StageVariables={"table": "dev-table"})
    event = echo_event(routed.endpoint, "/dev/items/7")
    assert event["requestContext"]["stage"] == "dev"
    assert event["stageVariables"] == {"table": "dev-table"}
    assert event["pathParameters"] == {"id": "7"}
    assert event["rawPath"] == "/dev/items/7"
    root = echo_event(routed.endpoint, "/items/7")
    assert root["requestContext"]["stage"] == "$default"


def test_stage_serves_its_deployment(apigw, routed):
    routed.route("GET /one")
    apigw.create_stage(ApiId=routed.api_id, StageName="manual")
    gateway_error(call(routed.endpoint, "/manual/one"), 404, "Not Found")
    apigw.create_deployment(ApiId=routed.api_id, StageName="manual")
    assert echo_event(routed.endpoint, "/manual/one")["routeKey"] == "GET /one"
    routed.route("GET /two")
    gateway_error(call(routed.endpoint, "/manual/two"), 404, "Not Found")
    assert echo_event(routed.endpoint, "/two")["routeKey"] == "GET /two"
    apigw.create_deployment(ApiId=routed.api_id, StageName="manual")
    assert echo_event(routed.endpoint, "/manual/two")["routeKey"] == "GET /two"


def test_v1_event_fields(apigw, new_api, gw_function):
    api = new_api()
    iid = lambda_integration(apigw, api["ApiId"], function_arn(gw_function),
                             version="1.0")["IntegrationId"]
    add_route(apigw, api["ApiId"], "PUT /items/{id}", iid)
    apigw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    event = echo_event(api["ApiEndpoint"], "/items/9", method="PUT", query="q=1&q=2",
                       body="hello", headers={"Content-Type": "text/plain", "X-One": "1"})
    assert event["version"] == "1.0"
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/9"
    assert event["httpMethod"] == "PUT"
    assert event["headers"]["x-one"] == "1"
    assert event["multiValueHeaders"]["x-one"] == ["1"]
    assert event["queryStringParameters"] == {"q": "2"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["pathParameters"] == {"id": "9"}
    assert event["stageVariables"] is None
    assert event["body"] == "hello"
    assert event["isBase64Encoded"] is False
    rc = event["requestContext"]
    assert rc["httpMethod"] == "PUT"
    assert rc["identity"]["sourceIp"] == "127.0.0.1"
    assert rc["stage"] == "$default"
    assert rc["apiId"] == api["ApiId"]


def returning(endpoint, result):
    """Ask the function to return `result`."""
    return call(endpoint, "/r", method="POST", query="mode=return", body=json.dumps(result),
                headers={"Content-Type": "application/json"})


def test_structured_response_mapping(routed):
    routed.route("POST /r")
    status, headers, body = returning(routed.endpoint, {
        "statusCode": 201,
        "headers": {"X-One": "1", "Content-Type": "text/html"},
        "multiValueHeaders": {"X-Many": ["a", "b"]},
        "cookies": ["a=1", "b=2; Path=/"],
        "body": "<p>made</p>",
    })
    assert status == 201
    assert headers["x-one"] == "1"
    assert headers["content-type"] == "text/html"
    assert headers.get_all("x-many") == ["a", "b"]
    assert headers.get_all("set-cookie") == ["a=1", "b=2; Path=/"]
    assert headers["apigw-requestid"]
    assert body == b"<p>made</p>"


def test_base64_response_bodies_are_decoded(routed):
    routed.route("POST /r")
    raw = bytes(range(256))
    status, headers, body = returning(routed.endpoint, {
        "statusCode": 200, "headers": {"content-type": "application/octet-stream"},
        "body": base64.b64encode(raw).decode(), "isBase64Encoded": True})
    assert status == 200 and body == raw


@pytest.mark.parametrize("result,text", [
    ({"hello": "world"}, '{"hello": "world"}'),
    ("Hello", "Hello"),
    ([1, 2], "[1, 2]"),
])
def test_results_without_status_code_are_json(routed, result, text):
    routed.route("POST /r")
    status, headers, body = returning(routed.endpoint, result)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body.decode() == text


def test_function_error_is_500(routed):
    routed.route("GET /e")
    gateway_error(call(routed.endpoint, "/e", query="mode=raise"), 500, "Internal Server Error")


@pytest.mark.parametrize("result", [
    {"statusCode": "abc"},
    {"statusCode": 200, "body": {"not": "a string"}},
    {"statusCode": 200, "body": "***", "isBase64Encoded": True},
])
def test_malformed_response_is_500(routed, result):
    routed.route("POST /r")
    gateway_error(returning(routed.endpoint, result), 500, "Internal Server Error")


def test_v1_result_needs_status_code(apigw, new_api, gw_function):
    api = new_api()
    iid = lambda_integration(apigw, api["ApiId"], function_arn(gw_function),
                             version="1.0")["IntegrationId"]
    add_route(apigw, api["ApiId"], "POST /r", iid)
    apigw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    gateway_error(returning(api["ApiEndpoint"], {"hello": 1}), 500, "Internal Server Error")
    status, _, body = returning(api["ApiEndpoint"], {"statusCode": 202, "body": "ok"})
    assert (status, body) == (202, b"ok")


def test_throttled_function_is_503(lambda_client, routed, gw_function):
    routed.route("GET /t")
    lambda_client.put_function_concurrency(FunctionName=gw_function,
                                           ReservedConcurrentExecutions=0)
    gateway_error(call(routed.endpoint, "/t"), 503, "Service Unavailable")


def test_integration_timeout_is_504(apigw, routed, server, gw_function):
    routed.route("GET /slow")
    apigw.update_integration(ApiId=routed.api_id, IntegrationId=routed.integration,
                             TimeoutInMillis=300)
    gateway_error(call(routed.endpoint, "/slow", query="mode=sleep&s=1.5"), 504,
                  "Endpoint request timed out")
    # The client stopped waiting, the invocation did not: it runs to its end (a REPORT line
    # of at least the 1.5 s it sleeps), as on API Gateway.
    logs, deadline = server.client("logs"), time.monotonic() + 30
    while True:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{gw_function}",
                                        filterPattern='"REPORT RequestId"')["events"]
        durations = [float(e["message"].split("Duration: ")[1].split(" ms")[0])
                     for e in events]
        if any(d >= 1400 for d in durations) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert any(d >= 1400 for d in durations), durations


def test_missing_function_is_500(apigw, new_api):
    api = new_api(Target=function_arn(helpers.unique_name("ghost")))
    gateway_error(call(api["ApiEndpoint"], "/x"), 500, "Internal Server Error")


def test_function_without_permission_for_the_api_is_500(lambda_client, new_api, new_function):
    """API Gateway invokes only functions whose policy allows it for this API, as on AWS
    (quick create grants nothing); the answer is AWS's 500."""
    name = new_function(zip_bytes=gateway_zip(), Timeout=10)["FunctionName"]
    api = new_api(Target=function_arn(name))
    gateway_error(call(api["ApiEndpoint"], "/x"), 500, "Internal Server Error")
    helpers.allow_api(lambda_client, name, "some-other-api")
    gateway_error(call(api["ApiEndpoint"], "/x"), 500, "Internal Server Error")
    helpers.allow_api(lambda_client, name, api["ApiId"])
    status, _, _ = call(api["ApiEndpoint"], "/x")
    assert status == 200


def test_disabled_endpoint_is_forbidden(apigw, new_api, gw_function):
    api = new_api(Target=function_arn(gw_function))
    apigw.update_api(ApiId=api["ApiId"], DisableExecuteApiEndpoint=True)
    gateway_error(call(api["ApiEndpoint"], "/x"), 403, "Forbidden")
