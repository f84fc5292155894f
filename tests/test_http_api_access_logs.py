"""Access logs of HTTP API stages: AccessLogSettings validated and stored, and one line per
request, with its `$context` variables, written to the stage's CloudWatch Logs group and read
back with FilterLogEvents."""

import json
import time

import pytest
from botocore.exceptions import ClientError

import helpers
from apigw_support import (  # noqa: F401  (fixtures)
    apigw,
    call,
    gw_function,
    lambda_integration,
    new_api,
)
from helpers import function_arn

FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime", "epoch": "$context.requestTimeEpoch",
    "httpMethod": "$context.httpMethod", "routeKey": "$context.routeKey",
    "status": "$context.status", "protocol": "$context.protocol",
    "responseLength": "$context.responseLength", "path": "$context.path",
    "stage": "$context.stage", "integrationLatency": "$context.integrationLatency",
    "responseLatency": "$context.responseLatency", "ua": "$context.identity.userAgent",
    "authError": "$context.authorizer.error", "unknown": "$context.noSuchVariable",
})


@pytest.fixture(scope="session")
def logs(server):
    return server.client("logs")


@pytest.fixture
def log_group(logs):
    name = "/stratus-tests/" + helpers.unique_name("access")
    logs.create_log_group(logGroupName=name)
    yield name
    logs.delete_log_group(logGroupName=name)


def group_arn(name):
    return f"arn:aws:logs:{helpers.REGION}:{helpers.ACCOUNT}:log-group:{name}"


def lines(logs, group, count, timeout=10):
    """The group's lines as JSON, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            events = logs.filter_log_events(logGroupName=group)["events"]
        except ClientError:
            events = []
        if len(events) >= count or time.monotonic() > deadline:
            return [json.loads(e["message"]) for e in events]
        time.sleep(0.1)


def test_requests_are_logged_with_context_variables(apigw, new_api, gw_function, logs,
                                                    log_group):
    api = new_api()
    api_id = api["ApiId"]
    iid = lambda_integration(apigw, api_id, function_arn(gw_function))["IntegrationId"]
    apigw.create_route(ApiId=api_id, RouteKey="GET /items/{id}", Target=f"integrations/{iid}")
    stage = apigw.create_stage(
        ApiId=api_id, StageName="dev", AutoDeploy=True,
        AccessLogSettings={"DestinationArn": group_arn(log_group), "Format": FORMAT})
    assert stage["AccessLogSettings"] == {"DestinationArn": group_arn(log_group),
                                          "Format": FORMAT}
    status, headers, body = call(api["ApiEndpoint"], "/dev/items/7",
                                 headers={"User-Agent": 'agent "quoted"'})
    assert status == 200
    missing = call(api["ApiEndpoint"], "/dev/items")
    assert missing[0] == 404
    got = lines(logs, log_group, 1)
    assert len(got) == 1, got  # a request no route matched is not logged
    line = got[0]
    assert line["requestId"] == headers["apigw-requestid"]
    assert line["httpMethod"] == "GET" and line["routeKey"] == "GET /items/{id}"
    assert line["status"] == "200" and line["stage"] == "dev"
    assert line["path"] == "/dev/items/7" and line["ip"] == "127.0.0.1"
    assert line["protocol"] == "HTTP/1.1"
    assert int(line["responseLength"]) == len(body)
    assert int(line["integrationLatency"]) >= 0
    assert int(line["responseLatency"]) >= int(line["integrationLatency"])
    assert abs(int(line["epoch"]) / 1000 - time.time()) < 120
    assert line["ua"] == 'agent "quoted"'
    assert line["authError"] == "-" and line["unknown"] == "-"
    assert line["requestTime"].endswith(" +0000")
    streams = logs.describe_log_streams(logGroupName=log_group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [f"{api_id}_dev"]


def test_refusals_are_logged(apigw, new_api, gw_function, logs, log_group):
    api = new_api(Target=function_arn(gw_function))
    api_id = api["ApiId"]
    route = apigw.get_routes(ApiId=api_id)["Items"][0]
    apigw.update_route(ApiId=api_id, RouteId=route["RouteId"], AuthorizationType="AWS_IAM")
    apigw.update_stage(
        ApiId=api_id, StageName="$default",
        AccessLogSettings={"DestinationArn": group_arn(log_group) + ":*",
                           "Format": "$context.requestId $context.status $context.error.message"})
    status, headers, _ = call(api["ApiEndpoint"], "/x")
    assert status == 403
    deadline = time.monotonic() + 10
    while True:
        events = logs.filter_log_events(logGroupName=log_group)["events"]
        if events or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [e["message"] for e in events] == [f"{headers['apigw-requestid']} 403 Forbidden"]

    apigw.delete_access_log_settings(ApiId=api_id, StageName="$default")
    assert "AccessLogSettings" not in apigw.get_stage(ApiId=api_id, StageName="$default")


BAD_SETTINGS = [
    {"DestinationArn": "arn:aws:s3:::bucket", "Format": "$context.requestId"},
    {"DestinationArn": group_arn("g"), "Format": "$context.status"},
    {"DestinationArn": group_arn("g")},
]


@pytest.mark.parametrize("bad", BAD_SETTINGS)
def test_bad_settings_are_refused(apigw, new_api, bad):
    api_id = new_api()["ApiId"]
    with pytest.raises(ClientError) as e:
        apigw.create_stage(ApiId=api_id, StageName="s", AccessLogSettings=bad)
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    apigw.create_stage(ApiId=api_id, StageName="s")
    with pytest.raises(ClientError):
        apigw.update_stage(ApiId=api_id, StageName="s", AccessLogSettings=bad)
    assert "AccessLogSettings" not in apigw.get_stage(ApiId=api_id, StageName="s")


def test_missing_group_drops_lines(apigw, new_api, gw_function, logs):
    """As on AWS, nothing creates the destination group."""
    api = new_api(Target=function_arn(gw_function))
    group = "/stratus-tests/" + helpers.unique_name("absent")
    apigw.update_stage(ApiId=api["ApiId"], StageName="$default",
                       AccessLogSettings={"DestinationArn": group_arn(group),
                                          "Format": "$context.requestId"})
    assert call(api["ApiEndpoint"], "/")[0] == 200
    time.sleep(0.5)
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert groups == []
