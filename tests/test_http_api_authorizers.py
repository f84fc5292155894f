"""Authorizers on HTTP API routes: the management operations, JWT authorizers against an
issuer the test runs on loopback (its own RSA and EC keys, tokens minted here), and Lambda
REQUEST authorizers (payload 1.0 and 2.0, simple and IAM-policy answers, caching, context
passed through). A refused request never reaches the integration: the functions' invocations
are counted from their START log lines."""

import json
import time

import pytest
from botocore.exceptions import ClientError

import helpers
from apigw_support import (  # noqa: F401  (fixtures)
    ANY_API,
    apigw,
    call,
    gw_function,
    lambda_integration,
    new_api,
)
from helpers import function_arn
from jwt_support import Issuer

AUDIENCE = "stratus-tests"


@pytest.fixture(scope="module")
def issuer():
    i = Issuer()
    yield i
    i.close()


@pytest.fixture(scope="session")
def logs(server):
    return server.client("logs")


def invocations(logs, function):
    """How many times a function has run: its START lines."""
    group = f"/aws/lambda/{function}"
    try:
        events = logs.filter_log_events(logGroupName=group, filterPattern='"START RequestId"')
    except ClientError:
        return 0
    return len(events["events"])


def authorizer_uri(name):
    return (f"arn:aws:apigateway:{helpers.REGION}:lambda:path/2015-03-31/functions/"
            f"{function_arn(name)}/invocations")


def error(exc):
    return exc.value.response["Error"]["Code"]


class Api:
    """An API with one echo integration (2.0 unless told) and an auto-deployed `$default`."""

    def __init__(self, apigw, new_api, function, version="2.0"):
        self.apigw = apigw
        api = new_api()
        self.id = api["ApiId"]
        self.endpoint = api["ApiEndpoint"]
        self.integration = lambda_integration(
            apigw, self.id, function_arn(function), version)["IntegrationId"]
        apigw.create_stage(ApiId=self.id, StageName="$default", AutoDeploy=True)

    def route(self, key, **auth):
        return self.apigw.create_route(ApiId=self.id, RouteKey=key,
                                       Target=f"integrations/{self.integration}", **auth)

    def jwt_authorizer(self, issuer, **kwargs):
        kwargs.setdefault("IdentitySource", ["$request.header.Authorization"])
        return self.apigw.create_authorizer(
            ApiId=self.id, AuthorizerType="JWT", Name=helpers.unique_name("jwt"),
            JwtConfiguration={"Issuer": issuer.url, "Audience": [AUDIENCE]}, **kwargs,
        )["AuthorizerId"]


# --- management ----------------------------------------------------------------------


def test_authorizer_management(apigw, new_api, gw_function, issuer):
    api = Api(apigw, new_api, gw_function)
    created = apigw.create_authorizer(
        ApiId=api.id, AuthorizerType="JWT", Name="jwt", IdentitySource=["$request.header.Authorization"],
        JwtConfiguration={"Issuer": issuer.url, "Audience": ["a", "b"]})
    aid = created["AuthorizerId"]
    got = apigw.get_authorizer(ApiId=api.id, AuthorizerId=aid)
    assert got["Name"] == "jwt" and got["AuthorizerType"] == "JWT"
    assert got["JwtConfiguration"] == {"Issuer": issuer.url, "Audience": ["a", "b"]}
    assert got["IdentitySource"] == ["$request.header.Authorization"]
    lam = apigw.create_authorizer(
        ApiId=api.id, AuthorizerType="REQUEST", Name="lam",
        IdentitySource=["$request.header.X-Token"], AuthorizerUri=authorizer_uri("f"),
        AuthorizerPayloadFormatVersion="2.0", EnableSimpleResponses=True,
        AuthorizerResultTtlInSeconds=60)
    assert lam["EnableSimpleResponses"] is True and lam["AuthorizerResultTtlInSeconds"] == 60
    items = apigw.get_authorizers(ApiId=api.id)["Items"]
    assert sorted(a["Name"] for a in items) == ["jwt", "lam"]
    updated = apigw.update_authorizer(ApiId=api.id, AuthorizerId=aid, Name="renamed")
    assert updated["Name"] == "renamed"
    assert updated["JwtConfiguration"]["Audience"] == ["a", "b"]

    route = api.route("GET /private", AuthorizationType="JWT", AuthorizerId=aid,
                      AuthorizationScopes=["read"])
    assert route["AuthorizationType"] == "JWT" and route["AuthorizerId"] == aid
    assert route["AuthorizationScopes"] == ["read"]
    got = apigw.get_route(ApiId=api.id, RouteId=route["RouteId"])
    assert got["AuthorizerId"] == aid

    with pytest.raises(ClientError) as e:
        apigw.delete_authorizer(ApiId=api.id, AuthorizerId=aid)
    assert error(e) == "ConflictException"
    apigw.update_route(ApiId=api.id, RouteId=route["RouteId"], AuthorizationType="NONE")
    cleared = apigw.get_route(ApiId=api.id, RouteId=route["RouteId"])
    assert cleared["AuthorizationType"] == "NONE" and "AuthorizerId" not in cleared
    apigw.delete_authorizer(ApiId=api.id, AuthorizerId=aid)
    with pytest.raises(ClientError) as e:
        apigw.get_authorizer(ApiId=api.id, AuthorizerId=aid)
    assert error(e) == "NotFoundException"

    apigw.delete_api(ApiId=api.id)
    with pytest.raises(ClientError) as e:
        apigw.get_authorizer(ApiId=api.id, AuthorizerId=lam["AuthorizerId"])
    assert error(e) == "NotFoundException"


BAD_AUTHORIZERS = [
    {"AuthorizerType": "JWT", "IdentitySource": ["$request.header.Authorization"]},
    {"AuthorizerType": "JWT", "IdentitySource": ["$request.header.Authorization"],
     "JwtConfiguration": {"Issuer": "http://127.0.0.1:1", "Audience": []}},
    {"AuthorizerType": "JWT", "IdentitySource": ["Authorization"],
     "JwtConfiguration": {"Issuer": "http://127.0.0.1:1", "Audience": ["a"]}},
    {"AuthorizerType": "REQUEST", "IdentitySource": ["$request.header.X"],
     "AuthorizerPayloadFormatVersion": "2.0"},
    {"AuthorizerType": "REQUEST", "IdentitySource": ["$request.header.X"],
     "AuthorizerUri": authorizer_uri("f")},
    {"AuthorizerType": "REQUEST", "IdentitySource": ["$request.header.X"],
     "AuthorizerUri": authorizer_uri("f"), "AuthorizerPayloadFormatVersion": "1.0",
     "EnableSimpleResponses": True},
    {"AuthorizerType": "REQUEST", "IdentitySource": [], "AuthorizerUri": authorizer_uri("f"),
     "AuthorizerPayloadFormatVersion": "2.0", "AuthorizerResultTtlInSeconds": 300},
    {"AuthorizerType": "REQUEST", "IdentitySource": ["$request.header.X"],
     "AuthorizerUri": "https://example.com", "AuthorizerPayloadFormatVersion": "2.0"},
    {"AuthorizerType": "COGNITO", "IdentitySource": ["$request.header.X"]},
]


@pytest.mark.parametrize("bad", BAD_AUTHORIZERS)
def test_bad_authorizers_are_refused(server, apigw, new_api, bad):
    raw = server.client("apigatewayv2", parameter_validation=False)
    api_id = new_api()["ApiId"]
    with pytest.raises(ClientError) as e:
        raw.create_authorizer(ApiId=api_id, Name="x", **bad)
    assert error(e) == "BadRequestException"
    assert apigw.get_authorizers(ApiId=api_id)["Items"] == []


def test_routes_check_their_authorizer(apigw, new_api, gw_function, issuer):
    api = Api(apigw, new_api, gw_function)
    jwt_id = api.jwt_authorizer(issuer)
    with pytest.raises(ClientError) as e:
        api.route("GET /a", AuthorizationType="JWT", AuthorizerId="nope00")
    assert error(e) == "NotFoundException"
    with pytest.raises(ClientError) as e:
        api.route("GET /b", AuthorizationType="CUSTOM", AuthorizerId=jwt_id)
    assert error(e) == "BadRequestException"
    with pytest.raises(ClientError) as e:
        api.route("GET /c", AuthorizationType="JWT")
    assert error(e) == "BadRequestException"
    with pytest.raises(ClientError) as e:
        api.route("GET /d", AuthorizationType="NONE", AuthorizerId=jwt_id)
    assert error(e) == "BadRequestException"
    keys = [r["RouteKey"] for r in apigw.get_routes(ApiId=api.id)["Items"]]
    assert keys == []


# --- JWT authorizers -------------------------------------------------------------------


@pytest.fixture
def jwt_api(apigw, new_api, gw_function, issuer):
    api = Api(apigw, new_api, gw_function)
    aid = api.jwt_authorizer(issuer)
    api.route("GET /private", AuthorizationType="JWT", AuthorizerId=aid)
    api.route("GET /scoped", AuthorizationType="JWT", AuthorizerId=aid,
              AuthorizationScopes=["read", "admin"])
    api.function = gw_function
    return api


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_good_token_passes_its_claims(jwt_api, issuer, alg):
    token = issuer.token(issuer.claims(AUDIENCE, email="a@example.com", scope="read write"),
                         alg=alg)
    status, _, body = call(jwt_api.endpoint, "/private", headers=bearer(token))
    assert status == 200, body
    auth = json.loads(body)["requestContext"]["authorizer"]["jwt"]
    assert auth["claims"]["sub"] == "user-1"
    assert auth["claims"]["email"] == "a@example.com"
    assert auth["claims"]["iss"] == issuer.url
    assert auth["scopes"] == ["read", "write"]
    # Without the "Bearer " prefix too.
    status, _, _ = call(jwt_api.endpoint, "/private", headers={"Authorization": token})
    assert status == 200


def test_payload_1_0_gets_claims(apigw, new_api, gw_function, issuer):
    api = Api(apigw, new_api, gw_function, version="1.0")
    aid = api.jwt_authorizer(issuer)
    api.route("GET /v1", AuthorizationType="JWT", AuthorizerId=aid)
    token = issuer.token(issuer.claims(AUDIENCE))
    status, _, body = call(api.endpoint, "/v1", headers=bearer(token))
    assert status == 200, body
    auth = json.loads(body)["requestContext"]["authorizer"]
    assert auth["claims"]["sub"] == "user-1" and auth["claims"]["aud"] == AUDIENCE


def refused(resp, status, message, description=None):
    got, headers, body = resp
    assert got == status, (got, body)
    assert json.loads(body) == {"message": message}
    if description is not None:
        assert headers["www-authenticate"] == (
            f'Bearer scope="" error="invalid_token" error_description="{description}"')


def test_bad_tokens_are_unauthorized(jwt_api, issuer, logs):
    from cryptography.hazmat.primitives.asymmetric import rsa
    before = invocations(logs, jwt_api.function)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    cases = [
        (issuer.token(issuer.claims(AUDIENCE), key=other), "the token's signature is invalid"),
        (issuer.token(issuer.claims(AUDIENCE, exp=now - 10)), "the token has expired"),
        (issuer.token(issuer.claims("someone-else")),
         "the token does not have a valid audience"),
        (issuer.token(issuer.claims(AUDIENCE, iss="http://127.0.0.1:1")),
         "the token does not have a valid issuer"),
        (issuer.token(issuer.claims(AUDIENCE, nbf=now + 600)), "the token is not valid yet"),
        (issuer.token(issuer.claims(AUDIENCE), kid="unknown"),
         "the token's signing key was not found"),
        ("not.a.jwt", "the token is malformed"),
    ]
    for token, why in cases:
        refused(call(jwt_api.endpoint, "/private", headers=bearer(token)), 401, "Unauthorized",
                why)
    status, headers, _ = call(jwt_api.endpoint, "/private")
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    # A tampered payload under a genuine signature.
    h, _, s = issuer.token(issuer.claims(AUDIENCE)).split(".")
    from jwt_support import b64url
    forged = ".".join([h, b64url(json.dumps(issuer.claims(AUDIENCE, sub="admin")).encode()), s])
    refused(call(jwt_api.endpoint, "/private", headers=bearer(forged)), 401, "Unauthorized")
    assert invocations(logs, jwt_api.function) == before


def test_scopes_are_required_when_the_route_has_them(jwt_api, issuer, logs):
    reader = issuer.token(issuer.claims(AUDIENCE, scope="read"))
    status, _, body = call(jwt_api.endpoint, "/scoped", headers=bearer(reader))
    assert status == 200, body
    scp = issuer.token(issuer.claims(AUDIENCE, scope=None, scp=["admin"]), alg="ES256")
    assert call(jwt_api.endpoint, "/scoped", headers=bearer(scp))[0] == 200
    before = invocations(logs, jwt_api.function)
    writer = issuer.token(issuer.claims(AUDIENCE, scope="write"))
    resp = call(jwt_api.endpoint, "/scoped", headers=bearer(writer))
    refused(resp, 403, "Forbidden")
    assert "insufficient_scope" in resp[1]["www-authenticate"]
    assert invocations(logs, jwt_api.function) == before


def test_keys_are_cached_and_refreshed_for_new_key_ids(jwt_api, issuer):
    token = issuer.token(issuer.claims(AUDIENCE))
    assert call(jwt_api.endpoint, "/private", headers=bearer(token))[0] == 200
    fetched = issuer.fetches
    for _ in range(3):
        assert call(jwt_api.endpoint, "/private", headers=bearer(token))[0] == 200
    assert issuer.fetches == fetched


# --- Lambda authorizers ------------------------------------------------------------------

AUTHORIZER_FUNCTION = r'''
import json

def handler(event, context):
    v2 = event["version"] == "2.0"
    ids = event["identitySource"] if v2 else event["identitySource"].split(",")
    token = ids[0]
    if token == "crash":
        raise RuntimeError("authorizer failed")
    if token == "garbage":
        return "not an answer"
    ctx = {"user": "u-" + token, "n": 7, "seen": event.get("rawPath") or event.get("path")}
    if event.get("queryStringParameters", {}) and "simple" in (event.get("queryStringParameters") or {}):
        return {"isAuthorized": token.startswith("good"), "context": ctx}
    arn = event["routeArn"] if v2 else event["methodArn"]
    api_arn = arn.split("/")[0]
    effect = "Allow" if token.startswith("good") else "Deny"
    return {
        "principalId": "p-" + token,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": api_arn + "/*/GET/*"},
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": api_arn + "/*/GET/denied"},
        ]},
        "context": ctx,
    }
'''


@pytest.fixture
def authorizer_fn(new_function, lambda_client):
    name = new_function(zip_bytes=helpers.make_zip({"app.py": AUTHORIZER_FUNCTION}),
                        Timeout=10)["FunctionName"]
    helpers.allow_service(lambda_client, name, "apigateway.amazonaws.com", ANY_API)
    return name


def lambda_authorizer(api, function, version="2.0", simple=False, ttl=0,
                      sources=("$request.header.X-Token",)):
    kwargs = {"EnableSimpleResponses": True} if simple else {}
    return api.apigw.create_authorizer(
        ApiId=api.id, AuthorizerType="REQUEST", Name=helpers.unique_name("lam"),
        IdentitySource=list(sources), AuthorizerUri=authorizer_uri(function),
        AuthorizerPayloadFormatVersion=version, AuthorizerResultTtlInSeconds=ttl, **kwargs,
    )["AuthorizerId"]


def token(t):
    return {"X-Token": t}


def test_simple_responses(apigw, new_api, gw_function, authorizer_fn, logs):
    api = Api(apigw, new_api, gw_function)
    aid = lambda_authorizer(api, authorizer_fn, simple=True)
    api.route("GET /items", AuthorizationType="CUSTOM", AuthorizerId=aid)
    status, _, body = call(api.endpoint, "/items", headers=token("good1"), query="simple=1")
    assert status == 200, body
    ctx = json.loads(body)["requestContext"]["authorizer"]["lambda"]
    assert ctx == {"user": "u-good1", "n": 7, "seen": "/items"}
    before = invocations(logs, gw_function)
    refused(call(api.endpoint, "/items", headers=token("bad"), query="simple=1"), 403,
            "Forbidden")
    refused(call(api.endpoint, "/items", query="simple=1"), 401, "Unauthorized")
    refused(call(api.endpoint, "/items", headers=token("crash"), query="simple=1"), 500,
            "Internal Server Error")
    refused(call(api.endpoint, "/items", headers=token("garbage"), query="simple=1"), 500,
            "Internal Server Error")
    assert invocations(logs, gw_function) == before


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_policy_responses(apigw, new_api, gw_function, authorizer_fn, version):
    api = Api(apigw, new_api, gw_function, version=version)
    aid = lambda_authorizer(api, authorizer_fn, version=version)
    for key in ("GET /items/{id}", "GET /denied", "POST /items"):
        api.route(key, AuthorizationType="CUSTOM", AuthorizerId=aid)
    status, _, body = call(api.endpoint, "/items/1", headers=token("good2"))
    assert status == 200, body
    auth = json.loads(body)["requestContext"]["authorizer"]
    if version == "2.0":
        assert auth["lambda"]["user"] == "u-good2"
    else:
        assert auth["user"] == "u-good2" and auth["principalId"] == "p-good2"
    refused(call(api.endpoint, "/items/1", headers=token("bad")), 403, "Forbidden")
    refused(call(api.endpoint, "/denied", headers=token("good2")), 403, "Forbidden")
    refused(call(api.endpoint, "/items", method="POST", headers=token("good2")), 403,
            "Forbidden")


SPY_FUNCTION = r'''
import json
def handler(event, context):
    print("EVENT " + json.dumps(event))
    return {"isAuthorized": True}
'''


def test_authorizer_events(apigw, new_api, gw_function, new_function, lambda_client, logs):
    """What the authorizer function received, read back from its own log."""
    spy = new_function(zip_bytes=helpers.make_zip({"app.py": SPY_FUNCTION}))["FunctionName"]
    helpers.allow_service(lambda_client, spy, "apigateway.amazonaws.com", ANY_API)
    api = Api(apigw, new_api, gw_function)
    aid = lambda_authorizer(api, spy, simple=True,
                            sources=("$request.header.X-Token", "$request.querystring.q"))
    api.route("GET /spy/{id}", AuthorizationType="CUSTOM", AuthorizerId=aid)
    status, _, _ = call(api.endpoint, "/spy/9", headers=token("t1"), query="q=v")
    assert status == 200
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{spy}",
                                    filterPattern='"EVENT"')["events"]
    event = json.loads(events[-1]["message"].split("EVENT ", 1)[1])
    assert event["version"] == "2.0" and event["type"] == "REQUEST"
    assert event["identitySource"] == ["t1", "v"]
    assert event["routeArn"] == (
        f"arn:aws:execute-api:{helpers.REGION}:{helpers.ACCOUNT}:{api.id}/$default/GET/spy/9")
    assert event["routeKey"] == "GET /spy/{id}"
    assert event["pathParameters"] == {"id": "9"}
    assert "body" not in event


def test_answers_are_cached_by_identity(apigw, new_api, gw_function, authorizer_fn, logs):
    api = Api(apigw, new_api, gw_function)
    cached = lambda_authorizer(api, authorizer_fn, ttl=300)
    api.route("GET /cached", AuthorizationType="CUSTOM", AuthorizerId=cached)
    n0 = invocations(logs, authorizer_fn)
    for _ in range(3):
        assert call(api.endpoint, "/cached", headers=token("good-a"))[0] == 200
    assert invocations(logs, authorizer_fn) == n0 + 1
    assert call(api.endpoint, "/cached", headers=token("good-b"))[0] == 200
    assert invocations(logs, authorizer_fn) == n0 + 2
    # A cached denial is still a denial, without asking again.
    for _ in range(2):
        assert call(api.endpoint, "/cached", headers=token("bad-c"))[0] == 403
    assert invocations(logs, authorizer_fn) == n0 + 3

    uncached = lambda_authorizer(api, authorizer_fn, ttl=0)
    api.route("GET /uncached", AuthorizationType="CUSTOM", AuthorizerId=uncached)
    for _ in range(2):
        assert call(api.endpoint, "/uncached", headers=token("good-a"))[0] == 200
    assert invocations(logs, authorizer_fn) == n0 + 5


def test_authorizer_needs_permission(apigw, new_api, gw_function, new_function, logs):
    name = new_function(zip_bytes=helpers.make_zip({"app.py": AUTHORIZER_FUNCTION}))[
        "FunctionName"]
    api = Api(apigw, new_api, gw_function)
    aid = lambda_authorizer(api, name)
    api.route("GET /p", AuthorizationType="CUSTOM", AuthorizerId=aid)
    refused(call(api.endpoint, "/p", headers=token("good")), 500, "Internal Server Error")
    assert invocations(logs, name) == 0


def signed_call(url, key=("test", "test"), service="execute-api"):
    """A GET signed with SigV4 as the SDKs sign execute-api requests."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="GET", url=url, data=b"")
    SigV4Auth(Credentials(*key), service, helpers.REGION).add_auth(req)
    return helpers.http_request("GET", url, headers=dict(req.headers.items()))


def test_iam_routes_verify_signatures_and_policies(server, apigw, new_api, gw_function, logs):
    from iam_support import allow, doc, user_with_key
    api = Api(apigw, new_api, gw_function)
    route = api.route("GET /iam", AuthorizationType="AWS_IAM")
    assert route["AuthorizationType"] == "AWS_IAM"
    url = api.endpoint + "/iam"
    before = invocations(logs, gw_function)
    refused(call(api.endpoint, "/iam"), 403, "Forbidden")
    status, _, body = signed_call(url, key=("test", "wrong"))
    assert status == 403 and "signature" in json.loads(body)["message"]
    assert signed_call(url, service="lambda")[0] == 403
    iam = server.client("iam")
    name, key_id, secret = user_with_key(iam)
    status, _, body = signed_call(url, key=(key_id, secret))
    assert status == 403, body
    assert json.loads(body)["message"].startswith(f"User: arn:aws:iam::{helpers.ACCOUNT}:user/{name}")
    assert "execute-api:Invoke" in json.loads(body)["message"]
    assert invocations(logs, gw_function) == before

    iam.put_user_policy(UserName=name, PolicyName="invoke", PolicyDocument=doc(
        allow("execute-api:Invoke", f"arn:aws:execute-api:*:*:{api.id}/*/GET/iam")))
    status, _, body = signed_call(url, key=(key_id, secret))
    assert status == 200, body
    caller = json.loads(body)["requestContext"]["authorizer"]["iam"]
    assert caller["accessKey"] == key_id
    assert caller["userArn"] == f"arn:aws:iam::{helpers.ACCOUNT}:user/{name}"
    status, _, body = signed_call(url)
    assert status == 200, body
