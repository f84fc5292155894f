"""Lambda function URLs: the control plane through boto3 (every operation and its errors), and
requests to the URLs themselves as a user sends them (host form and path form): the payload
2.0 event, response mapping, AWS_IAM with SigV4-signed requests, NONE and the resource-policy
statement it needs, and Lambda's own error answers."""

import base64
import json
import re
import shutil
import subprocess
import urllib.parse

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import helpers
from apigw_support import gateway_zip
from iam_support import allow, client_as, doc, user_with_key

URL_RE = re.compile(r"^http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/$")


@pytest.fixture
def url_function(new_function):
    """A fresh function answering URL requests (the HTTP API tests' echo function: the query
    string's `mode` says what to do)."""
    return new_function(zip_bytes=gateway_zip(), Timeout=10)["FunctionName"]


def allow_public(lambda_client, name, qualifier=None):
    """The statement AWS requires before a NONE URL answers anyone."""
    kwargs = {"FunctionName": name, "StatementId": helpers.unique_name("url"),
              "Action": "lambda:InvokeFunctionUrl", "Principal": "*",
              "FunctionUrlAuthType": "NONE"}
    if qualifier:
        kwargs["Qualifier"] = qualifier
    lambda_client.add_permission(**kwargs)


@pytest.fixture
def public_url(lambda_client, url_function):
    """A NONE URL on `url_function`, open to anyone; returns (name, FunctionUrl)."""
    url = lambda_client.create_function_url_config(FunctionName=url_function, AuthType="NONE")
    allow_public(lambda_client, url_function)
    return url_function, url["FunctionUrl"]


def url_id(url):
    return URL_RE.match(url).group(1)


def get(url, path="", **kwargs):
    """A request to `url`, or to `path` under it."""
    if path:
        url = url.rstrip("/") + "/" + path.lstrip("/")
    return helpers.http_request(kwargs.pop("method", "GET"), url, **kwargs)


def event_of(url, path="", **kwargs):
    status, _, body = get(url, path, **kwargs)
    assert status == 200, (status, body)
    return json.loads(body)


def lambda_message(resp, status, message):
    got_status, headers, body = resp
    assert got_status == status, (got_status, body)
    assert json.loads(body) == {"Message": message}


# --- control plane ----------------------------------------------------------------------


def test_url_config_lifecycle(lambda_client, url_function, server):
    cors = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["content-type"], "ExposeHeaders": ["x-id"], "MaxAge": 300,
            "AllowCredentials": True}
    created = lambda_client.create_function_url_config(
        FunctionName=url_function, AuthType="NONE", Cors=cors)
    assert helpers.status_of(created) == 201
    m = URL_RE.match(created["FunctionUrl"])
    assert m and m.group(2) == str(server.port), created["FunctionUrl"]
    assert created["FunctionArn"] == helpers.function_arn(url_function)
    assert (created["AuthType"], created["InvokeMode"]) == ("NONE", "BUFFERED")
    assert created["Cors"] == cors
    assert created["CreationTime"]

    got = lambda_client.get_function_url_config(FunctionName=url_function)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    assert got["LastModifiedTime"] and got["CreationTime"] == created["CreationTime"]

    updated = lambda_client.update_function_url_config(
        FunctionName=url_function, AuthType="AWS_IAM", InvokeMode="RESPONSE_STREAM")
    assert (updated["AuthType"], updated["InvokeMode"]) == ("AWS_IAM", "RESPONSE_STREAM")
    assert updated["FunctionUrl"] == created["FunctionUrl"]
    assert updated["Cors"] == cors

    listed = lambda_client.list_function_url_configs(FunctionName=url_function)
    assert [c["FunctionUrl"] for c in listed["FunctionUrlConfigs"]] == [created["FunctionUrl"]]

    lambda_client.delete_function_url_config(FunctionName=url_function)
    with pytest.raises(ClientError) as e:
        lambda_client.get_function_url_config(FunctionName=url_function)
    helpers.assert_error(e.value, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        lambda_client.delete_function_url_config(FunctionName=url_function)
    helpers.assert_error(e.value, "ResourceNotFoundException", 404)


def test_one_url_per_qualifier(lambda_client, url_function):
    lambda_client.create_function_url_config(FunctionName=url_function, AuthType="NONE")
    with pytest.raises(ClientError) as e:
        lambda_client.create_function_url_config(FunctionName=url_function, AuthType="AWS_IAM")
    helpers.assert_error(e.value, "ResourceConflictException", 409,
                         message_contains="FunctionUrlConfig exists")
    assert lambda_client.get_function_url_config(
        FunctionName=url_function)["AuthType"] == "NONE"


def test_qualifiers_must_be_aliases(lambda_client, url_function):
    version = lambda_client.publish_version(FunctionName=url_function)["Version"]
    lambda_client.create_alias(FunctionName=url_function, Name="live", FunctionVersion=version)
    aliased = lambda_client.create_function_url_config(
        FunctionName=url_function, Qualifier="live", AuthType="NONE")
    assert aliased["FunctionArn"] == helpers.function_arn(url_function, "live")
    plain = lambda_client.create_function_url_config(FunctionName=url_function, AuthType="NONE")
    assert plain["FunctionUrl"] != aliased["FunctionUrl"]
    for bad in ("$LATEST", version):
        with pytest.raises(ClientError) as e:
            lambda_client.create_function_url_config(
                FunctionName=url_function, Qualifier=bad, AuthType="NONE")
        helpers.assert_error(e.value, "ValidationException", 400, message_contains="qualifier")
    with pytest.raises(ClientError) as e:
        lambda_client.create_function_url_config(
            FunctionName=url_function, Qualifier="nosuch", AuthType="NONE")
    helpers.assert_error(e.value, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        lambda_client.get_function_url_config(FunctionName=helpers.unique_name("missing"))
    helpers.assert_error(e.value, "ResourceNotFoundException", 404)


def test_list_pages_with_marker(lambda_client, url_function):
    version = lambda_client.publish_version(FunctionName=url_function)["Version"]
    for alias in ("a1", "a2"):
        lambda_client.create_alias(FunctionName=url_function, Name=alias, FunctionVersion=version)
        lambda_client.create_function_url_config(
            FunctionName=url_function, Qualifier=alias, AuthType="NONE")
    lambda_client.create_function_url_config(FunctionName=url_function, AuthType="NONE")
    first = lambda_client.list_function_url_configs(FunctionName=url_function, MaxItems=2)
    assert len(first["FunctionUrlConfigs"]) == 2 and first["NextMarker"]
    rest = lambda_client.list_function_url_configs(
        FunctionName=url_function, MaxItems=2, Marker=first["NextMarker"])
    assert len(rest["FunctionUrlConfigs"]) == 1 and "NextMarker" not in rest
    arns = {c["FunctionArn"] for c in first["FunctionUrlConfigs"] + rest["FunctionUrlConfigs"]}
    assert arns == {helpers.function_arn(url_function), helpers.function_arn(url_function, "a1"),
                    helpers.function_arn(url_function, "a2")}


def test_bad_input_changes_nothing(server, url_function):
    raw = server.client(parameter_validation=False)
    cases = [
        ({"AuthType": "OPEN"}, "ValidationException", "authType"),
        ({}, "ValidationException", "authType"),
        ({"AuthType": "NONE", "InvokeMode": "FAST"}, "ValidationException", "invokeMode"),
        ({"AuthType": "NONE", "Cors": {"MaxAge": 86401}}, "ValidationException", "cors.maxAge"),
        ({"AuthType": "NONE", "Cors": {"AllowMethods": ["FETCH"]}},
         "InvalidParameterValueException", "FETCH"),
    ]
    for kwargs, code, text in cases:
        with pytest.raises(ClientError) as e:
            raw.create_function_url_config(FunctionName=url_function, **kwargs)
        helpers.assert_error(e.value, code, 400, message_contains=text)
    with pytest.raises(ClientError) as e:
        raw.list_function_url_configs(FunctionName=url_function, MaxItems=51)
    helpers.assert_error(e.value, "ValidationException", 400)
    with pytest.raises(ClientError) as e:
        raw.get_function_url_config(FunctionName=url_function)
    helpers.assert_error(e.value, "ResourceNotFoundException", 404)


def test_url_goes_with_its_function_and_alias(lambda_client, new_function):
    name = new_function(zip_bytes=gateway_zip())["FunctionName"]
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    aliased = lambda_client.create_function_url_config(
        FunctionName=name, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    plain = lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")[
        "FunctionUrl"]
    lambda_client.delete_alias(FunctionName=name, Name="live")
    lambda_message(get(aliased), 404, None)
    lambda_client.delete_function(FunctionName=name)
    lambda_message(get(plain), 404, None)


# --- data plane ------------------------------------------------------------------------


def test_event_is_payload_2_0(public_url):
    name, url = public_url
    event = event_of(url, "/items/42?a=1&a=2&b=x%20y", headers={
        "Cookie": "c1=v1; c2=v2", "User-Agent": "tester/1", "X-Custom": "one"})
    uid = url_id(url)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "one"
    assert "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is False
    rc = event["requestContext"]
    assert rc["accountId"] == "anonymous"
    assert rc["apiId"] == uid
    assert rc["domainName"] == f"{uid}.lambda-url.us-east-1.localhost"
    assert rc["domainPrefix"] == uid
    assert (rc["routeKey"], rc["stage"]) == ("$default", "$default")
    assert rc["http"]["method"] == "GET"
    assert rc["http"]["path"] == "/items/42"
    assert rc["http"]["sourceIp"] == "127.0.0.1"
    assert rc["http"]["userAgent"] == "tester/1"
    assert rc["timeEpoch"] > 0 and rc["requestId"]
    assert "authorizer" not in rc


def test_binary_bodies_travel_base64(public_url):
    _, url = public_url
    data = bytes(range(256))
    event = event_of(url, "/up", method="POST", body=data,
                     headers={"Content-Type": "application/octet-stream"})
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data
    event = event_of(url, "/up", method="POST", body=b'{"k": 1}',
                     headers={"Content-Type": "application/json"})
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": 1}', False)


def returning(url, result):
    return get(url, "/?mode=return", method="POST", body=json.dumps(result).encode(),
               headers={"Content-Type": "application/json"})


def test_results_map_to_responses(public_url):
    _, url = public_url
    status, headers, body = returning(url, {
        "statusCode": 201, "headers": {"X-One": "1"}, "cookies": ["a=1", "b=2; Path=/"],
        "body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True})
    assert status == 201 and body == b"\x00\xff"
    assert headers["x-one"] == "1"
    assert headers.get_all("set-cookie") == ["a=1", "b=2; Path=/"]
    assert headers["x-amzn-RequestId"]
    status, headers, body = returning(url, {"hello": "world"})
    assert status == 200 and json.loads(body) == {"hello": "world"}
    assert headers["content-type"] == "application/json"


def test_function_errors_are_502(public_url):
    _, url = public_url
    status, _, body = get(url, "/?mode=raise")
    assert (status, body) == (502, b"Internal Server Error")
    status, _, body = returning(url, {"statusCode": 99})
    assert status == 502


def test_path_form_reaches_the_same_url(public_url, server):
    _, url = public_url
    event = event_of(f"{server.url}/_aws/lambda-url/{url_id(url)}", "/a/b?x=1")
    assert event["rawPath"] == "/a/b"
    assert event["queryStringParameters"] == {"x": "1"}


def test_unknown_url_id_is_404(server):
    lambda_message(get(f"http://{'a' * 32}.lambda-url.us-east-1.localhost:{server.port}/"),
                   404, None)
    lambda_message(get(f"{server.url}/_aws/lambda-url/{'b' * 32}/x"), 404, None)


def test_none_needs_the_public_statement(lambda_client, url_function):
    url = lambda_client.create_function_url_config(
        FunctionName=url_function, AuthType="NONE")["FunctionUrl"]
    lambda_message(get(url), 403, "Forbidden")
    # A statement for the other auth type does not open the URL.
    lambda_client.add_permission(FunctionName=url_function, StatementId="iam-only",
                                 Action="lambda:InvokeFunctionUrl", Principal="*",
                                 FunctionUrlAuthType="AWS_IAM")
    lambda_message(get(url), 403, "Forbidden")
    allow_public(lambda_client, url_function)
    assert get(url)[0] == 200


def test_none_is_open_under_iam_off(server_factory):
    srv = server_factory(env={"STRATUS_IAM": "off"})
    lam = srv.client()
    name = helpers.unique_name()
    helpers.create_function(lam, name, gateway_zip())
    helpers.wait_active(lam, name)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    assert get(url)[0] == 200


def signed(url, method="GET", body=b"", key=helpers.ACCESS_KEY, secret=helpers.SECRET_KEY,
           service="lambda"):
    """Headers of a request signed with botocore's SigV4Auth, as an SDK user signs a URL."""
    req = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials(key, secret), service, helpers.REGION).add_auth(req)
    return dict(req.headers.items())


def test_aws_iam_verifies_signatures(lambda_client, url_function):
    url = lambda_client.create_function_url_config(
        FunctionName=url_function, AuthType="AWS_IAM")["FunctionUrl"]
    target = url + "signed?q=1"
    status, _, body = get(target, headers=signed(target))
    assert status == 200, body
    iam = json.loads(body)["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == helpers.ACCESS_KEY
    assert iam["accountId"] == helpers.ACCOUNT
    lambda_message(get(target), 403, "Forbidden")
    lambda_message(get(target, headers=signed(target, secret="wrong")), 403, "Forbidden")
    lambda_message(get(target, headers=signed(target, service="s3")), 403, "Forbidden")
    # The signed body must be the body sent.
    headers = signed(target, method="POST", body=b"one")
    lambda_message(get(target, method="POST", body=b"two", headers=headers), 403, "Forbidden")


def test_aws_iam_authorizes_invoke_function_url(server, lambda_client, url_function):
    url = lambda_client.create_function_url_config(
        FunctionName=url_function, AuthType="AWS_IAM")["FunctionUrl"]
    iam = server.client("iam")
    user, key, secret = user_with_key(iam)
    lambda_message(get(url, headers=signed(url, key=key, secret=secret)), 403, "Forbidden")
    iam.put_user_policy(UserName=user, PolicyName="url", PolicyDocument=doc(allow(
        "lambda:InvokeFunctionUrl", helpers.function_arn(url_function),
        Condition={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}})))
    status, _, body = get(url, headers=signed(url, key=key, secret=secret))
    assert status == 200, body
    assert json.loads(body)["requestContext"]["authorizer"]["iam"]["userArn"].endswith(user)
    # The user's key still cannot call the Lambda API's Invoke with that policy.
    with pytest.raises(ClientError):
        client_as(server, "lambda", key, secret).invoke(FunctionName=url_function)


def test_throttled_is_429(lambda_client, public_url):
    name, url = public_url
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lambda_message(get(url), 429, "Rate Exceeded.")


def test_oversized_body_is_413(public_url):
    _, url = public_url
    status, _, _ = get(url, method="POST", body=b"x" * (6 * 1024 * 1024 + 1),
                       headers={"Content-Type": "text/plain"})
    assert status == 413


def test_alias_url_runs_the_alias_version(lambda_client, url_function):
    version = lambda_client.publish_version(FunctionName=url_function)["Version"]
    lambda_client.create_alias(FunctionName=url_function, Name="live", FunctionVersion=version)
    url = lambda_client.create_function_url_config(
        FunctionName=url_function, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    # The permission is the alias's own, as on AWS.
    lambda_message(get(url), 403, "Forbidden")
    allow_public(lambda_client, url_function, qualifier="live")
    status, _, body = get(url, "/?mode=version")
    assert (status, body.decode()) == (200, version)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_reaches_the_host_form_by_name(public_url):
    """curl resolves `*.localhost` to the loopback address itself, as browsers do: the
    FunctionUrl works as returned."""
    _, url = public_url
    out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", url + "hello?x=1"],
                         capture_output=True, text=True, timeout=30)
    body, _, code = out.stdout.rpartition("\n")
    assert code == "200", out.stderr
    assert json.loads(body)["rawPath"] == "/hello"


def test_url_survives_restart(server_factory):
    srv = server_factory()
    lam = srv.client()
    name = helpers.unique_name()
    helpers.create_function(lam, name, gateway_zip())
    helpers.wait_active(lam, name)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    allow_public(lam, name)
    srv.kill()
    srv = server_factory(srv.data_dir)
    host = urllib.parse.urlsplit(url).hostname
    moved = urllib.parse.urlsplit(url)._replace(netloc=f"{host}:{srv.port}").geturl()
    assert get(moved)[0] == 200
    assert srv.client().get_function_url_config(FunctionName=name)["FunctionUrl"] == moved



def test_aws_cli_walkthrough(server, tmp_path, lambda_client, url_function):
    """The README's steps with the aws CLI: a URL with CORS, the public statement, curl."""
    from test_cli import find_aws_cli

    cli = find_aws_cli()
    if cli is None or shutil.which("curl") is None:
        pytest.skip("aws CLI or curl is not installed")
    env = helpers.aws_cli_env(tmp_path)

    def aws(*args):
        cmd = [cli, "--endpoint-url", server.url, "--output", "json", "lambda", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    url = aws("create-function-url-config", "--function-name", url_function, "--auth-type",
              "NONE", "--cors", "AllowOrigins=https://app.example,AllowMethods=GET")["FunctionUrl"]
    curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url + "anything"]
    assert subprocess.run(curl, capture_output=True, text=True, timeout=30).stdout == "403"
    aws("add-permission", "--function-name", url_function, "--statement-id", "public-url",
        "--action", "lambda:InvokeFunctionUrl", "--principal", "*",
        "--function-url-auth-type", "NONE")
    assert subprocess.run(curl, capture_output=True, text=True, timeout=30).stdout == "200"
    preflight = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", "-X", "OPTIONS", url,
         "-H", "Origin: https://app.example", "-H", "Access-Control-Request-Method: GET"],
        capture_output=True, text=True, timeout=30).stdout.lower()
    assert " 204" in preflight.splitlines()[0]
    assert "access-control-allow-origin: https://app.example" in preflight
    assert aws("list-function-url-configs", "--function-name", url_function)[
        "FunctionUrlConfigs"][0]["FunctionUrl"] == url
