"""API Gateway v2 management API for HTTP APIs, through boto3's `apigatewayv2` client."""

import pytest
from botocore.exceptions import ClientError

import helpers
from apigw_support import (  # noqa: F401  (fixtures)
    add_route,
    apigw,
    call,
    gw_function,
    lambda_integration,
    new_api,
    unvalidated_apigw,
)
from helpers import assert_error, function_arn, status_of

ACCOUNT = helpers.ACCOUNT


def arn(name):
    return function_arn(name)


def test_create_api_renders_aws_shape(apigw, new_api, server):
    api = new_api(Name="shape", Description="d", Version="v1")
    assert status_of(api) == 201
    assert len(api["ApiId"]) == 10
    # The host form, on the port the request was sent to (`*.localhost` is the loopback).
    assert api["ApiEndpoint"] == f"http://{api['ApiId']}.execute-api.localhost:{server.port}"
    assert api["ProtocolType"] == "HTTP"
    assert api["RouteSelectionExpression"] == "$request.method $request.path"
    assert api["ApiKeySelectionExpression"] == "$request.header.x-api-key"
    assert api["DisableExecuteApiEndpoint"] is False
    assert (api["Name"], api["Description"], api["Version"]) == ("shape", "d", "v1")
    assert api["CreatedDate"].year >= 2024
    got = apigw.get_api(ApiId=api["ApiId"])
    assert helpers.strip_meta(got) == helpers.strip_meta(api) | {}


def test_quick_create_makes_route_integration_and_auto_deploying_stage(apigw, new_api):
    target = arn("quick-fn")
    api = new_api(Target=target)
    api_id = api["ApiId"]
    [integration] = apigw.get_integrations(ApiId=api_id)["Items"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"] == target
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["TimeoutInMillis"] == 30000
    assert integration["ApiGatewayManaged"] is True
    [route] = apigw.get_routes(ApiId=api_id)["Items"]
    assert route["RouteKey"] == "$default"
    assert route["Target"] == f"integrations/{integration['IntegrationId']}"
    [stage] = apigw.get_stages(ApiId=api_id)["Items"]
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DeploymentId"]


def test_quick_create_with_route_key(apigw, new_api):
    api = new_api(Target=arn("quick-fn"), RouteKey="GET /hello")
    [route] = apigw.get_routes(ApiId=api["ApiId"])["Items"]
    assert route["RouteKey"] == "GET /hello"


def test_get_apis_lists_and_paginates(apigw, new_api):
    ids = {new_api()["ApiId"] for _ in range(3)}
    seen, token = set(), None
    while True:
        kwargs = {"MaxResults": "2"}
        if token:
            kwargs["NextToken"] = token
        page = apigw.get_apis(**kwargs)
        assert len(page["Items"]) <= 2
        seen |= {a["ApiId"] for a in page["Items"]}
        token = page.get("NextToken")
        if not token:
            break
    assert ids <= seen


def test_update_api_changes_members(apigw, new_api):
    api = new_api(Name="before")
    out = apigw.update_api(ApiId=api["ApiId"], Name="after", Description="new")
    assert (out["Name"], out["Description"]) == ("after", "new")
    assert apigw.get_api(ApiId=api["ApiId"])["Name"] == "after"


def test_update_quick_created_target(apigw, new_api):
    api = new_api(Target=arn("one"))
    apigw.update_api(ApiId=api["ApiId"], Target=arn("two"))
    [integration] = apigw.get_integrations(ApiId=api["ApiId"])["Items"]
    assert integration["IntegrationUri"] == arn("two")


def test_delete_api_removes_it(apigw, new_api):
    api = new_api(Target=arn("x"))
    resp = apigw.delete_api(ApiId=api["ApiId"])
    assert status_of(resp) == 204
    with pytest.raises(ClientError) as e:
        apigw.get_api(ApiId=api["ApiId"])
    assert_error(e.value, "NotFoundException", 404,
                 message=f"Invalid API identifier specified {ACCOUNT}:{api['ApiId']}")


@pytest.mark.parametrize("op", ["get_api", "delete_api", "get_routes", "get_integrations",
                                "get_stages"])
def test_unknown_api_is_not_found(apigw, op):
    with pytest.raises(ClientError) as e:
        getattr(apigw, op)(ApiId="nope123456")
    assert_error(e.value, "NotFoundException", 404)


def test_create_api_errors(unvalidated_apigw):
    cases = [
        ({"Name": "x", "ProtocolType": "WEBSOCKET"}, "WebSocket"),
        ({"Name": "x", "ProtocolType": "SOAP"}, "protocolType"),
        ({"ProtocolType": "HTTP"}, "name"),
        ({"Name": "x"}, "protocolType"),
        ({"Name": "", "ProtocolType": "HTTP"}, "name"),
        ({"Name": "x", "ProtocolType": "HTTP", "Target": "https://example.com"}, "target"),
        ({"Name": "x", "ProtocolType": "HTTP", "RouteKey": "GET /x"}, "routeKey"),
        ({"Name": "x", "ProtocolType": "HTTP", "Target": arn("f"), "RouteKey": "FETCH /x"},
         "route key"),
    ]
    before = len(unvalidated_apigw.get_apis()["Items"])
    for kwargs, text in cases:
        with pytest.raises(ClientError) as e:
            unvalidated_apigw.create_api(**kwargs)
        err = assert_error(e.value, "BadRequestException", 400)
        assert text.lower() in err["Message"].lower(), (kwargs, err)
    assert len(unvalidated_apigw.get_apis()["Items"]) == before


def test_update_api_with_bad_input_changes_nothing(unvalidated_apigw, new_api):
    api = new_api(Name="keep")
    with pytest.raises(ClientError) as e:
        unvalidated_apigw.update_api(ApiId=api["ApiId"], Name="", Description="changed")
    assert_error(e.value, "BadRequestException", 400)
    got = unvalidated_apigw.get_api(ApiId=api["ApiId"])
    assert got["Name"] == "keep" and "Description" not in got


def test_integration_lifecycle(apigw, new_api):
    api_id = new_api()["ApiId"]
    created = lambda_integration(apigw, api_id, arn("f"), version="1.0", TimeoutInMillis=5000,
                                 Description="d")
    assert status_of(created) == 201
    iid = created["IntegrationId"]
    assert (created["PayloadFormatVersion"], created["TimeoutInMillis"]) == ("1.0", 5000)
    assert created["IntegrationMethod"] == "POST"
    assert created["ConnectionType"] == "INTERNET"
    got = apigw.get_integration(ApiId=api_id, IntegrationId=iid)
    assert helpers.strip_meta(got) == helpers.strip_meta(created)
    updated = apigw.update_integration(ApiId=api_id, IntegrationId=iid,
                                       PayloadFormatVersion="2.0", TimeoutInMillis=50)
    assert (updated["PayloadFormatVersion"], updated["TimeoutInMillis"]) == ("2.0", 50)
    assert status_of(apigw.delete_integration(ApiId=api_id, IntegrationId=iid)) == 204
    with pytest.raises(ClientError) as e:
        apigw.get_integration(ApiId=api_id, IntegrationId=iid)
    assert_error(e.value, "NotFoundException", 404)


def test_integration_accepts_the_apigateway_invocation_arn(apigw, new_api):
    api_id = new_api()["ApiId"]
    uri = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
           f"{arn('f')}/invocations")
    assert lambda_integration(apigw, api_id, uri)["IntegrationUri"] == uri


def test_integration_errors(unvalidated_apigw, new_api):
    c = unvalidated_apigw
    api_id = new_api()["ApiId"]
    base = {"ApiId": api_id, "IntegrationType": "AWS_PROXY", "IntegrationUri": arn("f"),
            "PayloadFormatVersion": "2.0"}
    bad = [
        {"TimeoutInMillis": 49},
        {"TimeoutInMillis": 30001},
        {"PayloadFormatVersion": "3.0"},
        {"IntegrationUri": "not-an-arn"},
        {"IntegrationType": "MOCK"},
        {"IntegrationType": "HTTP_PROXY"},
    ]
    for change in bad:
        with pytest.raises(ClientError) as e:
            c.create_integration(**(base | change))
        assert_error(e.value, "BadRequestException", 400)
    without_version = {k: v for k, v in base.items() if k != "PayloadFormatVersion"}
    with pytest.raises(ClientError) as e:
        c.create_integration(**without_version)
    assert_error(e.value, "BadRequestException", 400)
    assert c.get_integrations(ApiId=api_id)["Items"] == []
    iid = c.create_integration(**base)["IntegrationId"]
    with pytest.raises(ClientError) as e:
        c.update_integration(ApiId=api_id, IntegrationId=iid, TimeoutInMillis=10)
    assert_error(e.value, "BadRequestException", 400)
    assert c.get_integration(ApiId=api_id, IntegrationId=iid)["TimeoutInMillis"] == 30000
    with pytest.raises(ClientError) as e:
        c.update_integration(ApiId=api_id, IntegrationId="missing", TimeoutInMillis=100)
    assert_error(e.value, "NotFoundException", 404)


def test_integration_in_use_cannot_be_deleted(apigw, new_api):
    api_id = new_api()["ApiId"]
    iid = lambda_integration(apigw, api_id, arn("f"))["IntegrationId"]
    route = add_route(apigw, api_id, "GET /x", iid)
    with pytest.raises(ClientError) as e:
        apigw.delete_integration(ApiId=api_id, IntegrationId=iid)
    assert_error(e.value, "ConflictException", 409)
    apigw.delete_route(ApiId=api_id, RouteId=route["RouteId"])
    apigw.delete_integration(ApiId=api_id, IntegrationId=iid)


def test_route_lifecycle(apigw, new_api):
    api_id = new_api()["ApiId"]
    iid = lambda_integration(apigw, api_id, arn("f"))["IntegrationId"]
    created = add_route(apigw, api_id, "GET /items/{id}", iid)
    assert status_of(created) == 201
    rid = created["RouteId"]
    assert created["AuthorizationType"] == "NONE"
    assert created["ApiKeyRequired"] is False
    got = apigw.get_route(ApiId=api_id, RouteId=rid)
    assert helpers.strip_meta(got) == helpers.strip_meta(created)
    updated = apigw.update_route(ApiId=api_id, RouteId=rid, RouteKey="ANY /items/{proxy+}")
    assert updated["RouteKey"] == "ANY /items/{proxy+}"
    assert [r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"]] == [
        "ANY /items/{proxy+}"]
    assert status_of(apigw.delete_route(ApiId=api_id, RouteId=rid)) == 204
    with pytest.raises(ClientError) as e:
        apigw.get_route(ApiId=api_id, RouteId=rid)
    assert_error(e.value, "NotFoundException", 404)


def test_route_without_target_is_allowed(apigw, new_api):
    api_id = new_api()["ApiId"]
    route = apigw.create_route(ApiId=api_id, RouteKey="$default")
    assert "Target" not in route


@pytest.mark.parametrize("key", ["GET", "FETCH /x", "GET x", "GET /{proxy+}/more", "GET /a//b",
                                 "$connect", "GET /{a}/{a}"])
def test_bad_route_keys_are_rejected(unvalidated_apigw, new_api, key):
    api_id = new_api()["ApiId"]
    with pytest.raises(ClientError) as e:
        unvalidated_apigw.create_route(ApiId=api_id, RouteKey=key)
    assert_error(e.value, "BadRequestException", 400)
    assert unvalidated_apigw.get_routes(ApiId=api_id)["Items"] == []


def test_route_errors(apigw, unvalidated_apigw, new_api):
    api_id = new_api()["ApiId"]
    iid = lambda_integration(apigw, api_id, arn("f"))["IntegrationId"]
    add_route(apigw, api_id, "GET /a", iid)
    with pytest.raises(ClientError) as e:
        add_route(apigw, api_id, "GET /a", iid)
    assert_error(e.value, "ConflictException", 409)
    with pytest.raises(ClientError) as e:
        apigw.create_route(ApiId=api_id, RouteKey="GET /b", Target="integrations/nope")
    assert_error(e.value, "NotFoundException", 404)
    with pytest.raises(ClientError) as e:
        apigw.create_route(ApiId=api_id, RouteKey="GET /b", Target="lambda/x")
    assert_error(e.value, "BadRequestException", 400)
    with pytest.raises(ClientError) as e:
        unvalidated_apigw.create_route(ApiId=api_id)
    assert_error(e.value, "BadRequestException", 400)
    b = add_route(apigw, api_id, "GET /b", iid)
    with pytest.raises(ClientError) as e:
        apigw.update_route(ApiId=api_id, RouteId=b["RouteId"], RouteKey="GET /a")
    assert_error(e.value, "ConflictException", 409)
    keys = sorted(r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"])
    assert keys == ["GET /a", "GET /b"]


def test_stage_lifecycle(apigw, new_api):
    api_id = new_api()["ApiId"]
    created = apigw.create_stage(ApiId=api_id, StageName="dev", StageVariables={"env": "dev"},
                                 Description="d")
    assert status_of(created) == 201
    assert created["StageName"] == "dev"
    assert created["AutoDeploy"] is False
    assert created["StageVariables"] == {"env": "dev"}
    assert "DeploymentId" not in created
    got = apigw.get_stage(ApiId=api_id, StageName="dev")
    assert got["StageVariables"] == {"env": "dev"}
    updated = apigw.update_stage(ApiId=api_id, StageName="dev", AutoDeploy=True,
                                 StageVariables={"env": "prod"})
    assert updated["AutoDeploy"] is True
    assert updated["StageVariables"] == {"env": "prod"}
    assert updated["DeploymentId"]
    assert [s["StageName"] for s in apigw.get_stages(ApiId=api_id)["Items"]] == ["dev"]
    assert status_of(apigw.delete_stage(ApiId=api_id, StageName="dev")) == 204
    with pytest.raises(ClientError) as e:
        apigw.get_stage(ApiId=api_id, StageName="dev")
    assert_error(e.value, "NotFoundException", 404)


def test_stage_errors(apigw, unvalidated_apigw, new_api):
    api_id = new_api()["ApiId"]
    apigw.create_stage(ApiId=api_id, StageName="dev")
    with pytest.raises(ClientError) as e:
        apigw.create_stage(ApiId=api_id, StageName="dev")
    assert_error(e.value, "ConflictException", 409)
    for kwargs in [{"StageName": "bad/name"}, {"StageName": "ok", "StageVariables": {"a-b": "v"}},
                   {}]:
        with pytest.raises(ClientError) as e:
            unvalidated_apigw.create_stage(ApiId=api_id, **kwargs)
        assert_error(e.value, "BadRequestException", 400)
    with pytest.raises(ClientError) as e:
        apigw.create_stage(ApiId=api_id, StageName="x", DeploymentId="nope")
    assert_error(e.value, "NotFoundException", 404)
    with pytest.raises(ClientError) as e:
        apigw.update_stage(ApiId=api_id, StageName="missing", AutoDeploy=True)
    assert_error(e.value, "NotFoundException", 404)
    assert [s["StageName"] for s in apigw.get_stages(ApiId=api_id)["Items"]] == ["dev"]


def test_deployments(apigw, new_api):
    api_id = new_api()["ApiId"]
    apigw.create_stage(ApiId=api_id, StageName="manual")
    d = apigw.create_deployment(ApiId=api_id, StageName="manual", Description="first")
    assert status_of(d) == 201
    assert d["DeploymentStatus"] == "DEPLOYED"
    assert d["AutoDeployed"] is False
    assert apigw.get_stage(ApiId=api_id, StageName="manual")["DeploymentId"] == d["DeploymentId"]
    got = apigw.get_deployment(ApiId=api_id, DeploymentId=d["DeploymentId"])
    assert got["Description"] == "first"
    assert d["DeploymentId"] in [x["DeploymentId"] for x in
                                 apigw.get_deployments(ApiId=api_id)["Items"]]
    with pytest.raises(ClientError) as e:
        apigw.delete_deployment(ApiId=api_id, DeploymentId=d["DeploymentId"])
    assert_error(e.value, "BadRequestException", 400)
    with pytest.raises(ClientError) as e:
        apigw.create_deployment(ApiId=api_id, StageName="missing")
    assert_error(e.value, "NotFoundException", 404)
    loose = apigw.create_deployment(ApiId=api_id)
    apigw.delete_deployment(ApiId=api_id, DeploymentId=loose["DeploymentId"])


def test_requests_signed_for_lambda_do_not_reach_it(server):
    url = f"{server.url}/v2/apis"
    headers = helpers.sigv4_headers("GET", url, service="lambda")
    status, _, body = helpers.http_request("GET", url, headers=headers)
    assert status == 404
    headers = helpers.sigv4_headers("GET", url, service="apigateway")
    status, _, body = helpers.http_request("GET", url, headers=headers)
    assert status == 200 and "items" in helpers.json_body(body)


def test_unsigned_management_requests_are_refused(server):
    status, _, _ = helpers.http_request("GET", f"{server.url}/v2/apis")
    assert status == 403


def test_apis_survive_restart_and_kill(server_factory, gw_function_factory):
    srv = server_factory()
    lam = srv.client()
    fn = gw_function_factory(lam)
    gw = srv.client("apigatewayv2")
    api = gw.create_api(Name="durable", ProtocolType="HTTP", Target=arn(fn))
    gw.create_stage(ApiId=api["ApiId"], StageName="dev", StageVariables={"k": "v"},
                    AutoDeploy=True)
    srv.kill()
    srv = server_factory(srv.data_dir)
    gw = srv.client("apigatewayv2")
    assert gw.get_api(ApiId=api["ApiId"])["Name"] == "durable"
    assert gw.get_stage(ApiId=api["ApiId"], StageName="dev")["StageVariables"] == {"k": "v"}
    endpoint = gw.get_api(ApiId=api["ApiId"])["ApiEndpoint"]
    assert endpoint.endswith(f".execute-api.localhost:{srv.port}")
    status, _, body = call(endpoint, "/dev/after-restart")
    assert status == 200, body
    assert helpers.json_body(body)["stageVariables"] == {"k": "v"}


@pytest.fixture
def gw_function_factory():
    from apigw_support import ANY_API, gateway_zip

    def create(lambda_client):
        name = helpers.unique_name()
        helpers.create_function(lambda_client, name, gateway_zip())
        helpers.wait_active(lambda_client, name)
        helpers.allow_service(lambda_client, name, "apigateway.amazonaws.com", ANY_API)
        return name

    return create
