"""Policy evaluation on every request: users and role sessions reach exactly what their
policies allow, in every service, refused in each protocol's own AccessDenied shape with
AWS's message; `--iam off` restores the single-key behaviour."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

import helpers
from iam_support import (ACCOUNT, TRUST_ACCOUNT, allow, client_as, creds_client, deny, doc,
                         user_with_key)

REGION = helpers.REGION


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")


@pytest.fixture
def user(iam, server):
    """A user without policies: (name, arn, client factory signed with its key)."""
    name, key_id, secret = user_with_key(iam)
    arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    return name, arn, lambda service: client_as(server, service, key_id, secret)


def refusal(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"], err["Message"]


def no_policy(arn, action, resource):
    return (f"User: {arn} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action")


def test_a_user_without_policies_is_refused_everywhere_in_each_protocols_shape(user, fn):
    _, arn, client = user
    fn_arn = helpers.function_arn(fn)
    assert refusal(client("lambda").invoke, FunctionName=fn) == (
        "AccessDeniedException", 403, no_policy(arn, "lambda:InvokeFunction", fn_arn))
    assert refusal(client("lambda").list_functions) == (
        "AccessDeniedException", 403, no_policy(arn, "lambda:ListFunctions", "*"))
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Books"
    assert refusal(client("dynamodb").get_item, TableName="Books",
                   Key={"id": {"S": "1"}}) == (
        "AccessDeniedException", 400, no_policy(arn, "dynamodb:GetItem", table))
    assert refusal(client("sns").list_topics) == (
        "AuthorizationError", 403, no_policy(arn, "sns:ListTopics", "*"))
    code, status, message = refusal(client("logs").describe_log_groups)
    assert (code, status) == ("AccessDeniedException", 400)
    assert message.startswith(f"User: {arn} is not authorized to perform: logs:DescribeLogGroups")
    assert refusal(client("iam").list_roles) == (
        "AccessDenied", 403, no_policy(arn, "iam:ListRoles", "*"))
    assert refusal(client("s3").list_buckets) == (
        "AccessDenied", 403, no_policy(arn, "s3:ListAllMyBuckets", "*"))
    code, status, _ = refusal(client("apigatewayv2").get_apis)
    assert (code, status) == ("AccessDeniedException", 403)
    # GetCallerIdentity needs no permission, as on AWS.
    assert client("sts").get_caller_identity()["Arn"] == arn


def test_managed_and_inline_policies_grant_exactly_their_actions(user, iam, server):
    name, arn, client = user
    s3_root = server.client("s3")
    bucket = helpers.unique_name("bkt")
    s3_root.create_bucket(Bucket=bucket)
    s3_root.put_object(Bucket=bucket, Key="a", Body=b"x")
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    s3 = client("s3")
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a"]
    assert refusal(s3.put_object, Bucket=bucket, Key="b", Body=b"y") == (
        "AccessDenied", 403, no_policy(arn, "s3:PutObject", f"arn:aws:s3:::{bucket}/b"))
    # One table, one action.
    ddb_root = server.client("dynamodb")
    for t in ("Allowed", "Other"):
        ddb_root.create_table(TableName=f"{t}-{name}", BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    allowed = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Allowed-{name}"
    iam.put_user_policy(UserName=name, PolicyName="one-table",
                        PolicyDocument=doc(allow("dynamodb:PutItem", allowed)))
    ddb = client("dynamodb")
    ddb.put_item(TableName=f"Allowed-{name}", Item={"id": {"S": "1"}})
    other = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Other-{name}"
    assert refusal(ddb.put_item, TableName=f"Other-{name}", Item={"id": {"S": "1"}}) == (
        "AccessDeniedException", 400, no_policy(arn, "dynamodb:PutItem", other))
    # Removing the policy takes effect on the next request (the cache follows changes).
    iam.delete_user_policy(UserName=name, PolicyName="one-table")
    code, _, _ = refusal(ddb.put_item, TableName=f"Allowed-{name}", Item={"id": {"S": "2"}})
    assert code == "AccessDeniedException"


def test_an_explicit_deny_beats_an_allow(user, iam, fn):
    name, arn, client = user
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.put_user_policy(UserName=name, PolicyName="no-delete",
                        PolicyDocument=doc(deny("lambda:DeleteFunction")))
    lam = client("lambda")
    assert lam.get_function(FunctionName=fn)["Configuration"]["FunctionName"] == fn
    fn_arn = helpers.function_arn(fn)
    assert refusal(lam.delete_function, FunctionName=fn) == (
        "AccessDeniedException", 403,
        f"User: {arn} is not authorized to perform: lambda:DeleteFunction on resource: "
        f"{fn_arn} with an explicit deny in an identity-based policy")
    assert lam.get_function(FunctionName=fn)


def test_conditions_on_the_request_context(user, iam, server):
    name, _, client = user
    bucket = helpers.unique_name("bkt")
    server.client("s3").create_bucket(Bucket=bucket)
    iam.put_user_policy(UserName=name, PolicyName="home", PolicyDocument=doc(allow(
        "s3:ListBucket", f"arn:aws:s3:::{bucket}",
        Condition={"StringLike": {"s3:prefix": [f"home/{name}/*"]}})))
    s3 = client("s3")
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"home/{name}/")["KeyCount"] == 0
    assert refusal(s3.list_objects_v2, Bucket=bucket, Prefix="home/someone-else/")[0] == (
        "AccessDenied")
    assert refusal(s3.list_objects_v2, Bucket=bucket)[0] == "AccessDenied"


def test_role_sessions_hold_their_roles_rights(iam, server, fn):
    role = helpers.unique_name("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_ACCOUNT)
    iam.put_role_policy(RoleName=role, PolicyName="invoke", PolicyDocument=doc(
        allow("lambda:InvokeFunction", helpers.function_arn(fn))))
    creds = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="ci")["Credentials"]
    lam = creds_client(server, "lambda", creds)
    assert lam.invoke(FunctionName=fn)["StatusCode"] == 200
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/ci"
    assert refusal(lam.list_functions) == (
        "AccessDeniedException", 403, no_policy(session, "lambda:ListFunctions", "*"))


def test_creating_a_function_needs_a_lambda_role_and_pass_role(user, iam, server, make_zip):
    name, arn, client = user
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    lam = client("lambda")
    fn_name = helpers.unique_name()
    code, status, message = refusal(
        lam.create_function, FunctionName=fn_name, Runtime="python3.12", Handler="app.handler",
        Role=f"arn:aws:iam::{ACCOUNT}:role/does-not-exist", Code={"ZipFile": make_zip()})
    assert (code, status, message) == (
        "InvalidParameterValueException", 400,
        "The role defined for the function cannot be assumed by Lambda.")
    iam.put_user_policy(UserName=name, PolicyName="no-pass",
                        PolicyDocument=doc(deny("iam:PassRole")))
    code, status, message = refusal(
        lam.create_function, FunctionName=fn_name, Runtime="python3.12", Handler="app.handler",
        Role=helpers.ROLE, Code={"ZipFile": make_zip()})
    assert (code, status) == ("AccessDeniedException", 403)
    assert "iam:PassRole" in message and "explicit deny" in message
    code, _, _ = refusal(server.client("lambda").get_function, FunctionName=fn_name)
    assert code == "ResourceNotFoundException"


FUNCTION_USING_DYNAMODB = '''
import boto3, os

def handler(event, context):
    ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    out = {"key": os.environ["AWS_ACCESS_KEY_ID"][:4],
           "token": bool(os.environ.get("AWS_SESSION_TOKEN"))}
    for table in event["tables"]:
        try:
            ddb.put_item(TableName=table, Item={"id": {"S": "from-fn"}})
            out[table] = "ok"
        except Exception as e:
            out[table] = e.response["Error"]["Code"]
    return out
'''


def test_a_function_reaches_exactly_what_its_role_allows(iam, server, make_zip):
    name = helpers.unique_name()
    role = helpers.unique_name("fn-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=helpers.LAMBDA_TRUST)
    iam.attach_role_policy(RoleName=role, PolicyArn=(
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"))
    ddb = server.client("dynamodb")
    tables = [f"mine-{name}", f"theirs-{name}"]
    for t in tables:
        ddb.create_table(TableName=t, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    iam.put_role_policy(RoleName=role, PolicyName="mine", PolicyDocument=doc(allow(
        "dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{tables[0]}")))
    lam = server.client("lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                        Role=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                        Code={"ZipFile": make_zip({"app.py": FUNCTION_USING_DYNAMODB})})
    helpers.wait_active(lam, name)
    out = json.loads(lam.invoke(FunctionName=name,
                                Payload=json.dumps({"tables": tables}))["Payload"].read())
    assert out == {"key": "ASIA", "token": True, tables[0]: "ok",
                   tables[1]: "AccessDeniedException"}
    lam.delete_function(FunctionName=name)


FUNCTION_SHOWING_ITS_SESSION = '''
import boto3, os, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    sts = boto3.client("sts", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    return {"key": os.environ["AWS_ACCESS_KEY_ID"],
            "arn": sts.get_caller_identity()["Arn"]}
'''


def test_a_functions_environments_share_its_role_session_and_functions_do_not(iam, server,
                                                                             make_zip):
    role = helpers.unique_name("fn-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=helpers.LAMBDA_TRUST)
    lam = server.client("lambda")
    names = [helpers.unique_name(), helpers.unique_name()]
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                            Role=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                            Code={"ZipFile": make_zip({"app.py": FUNCTION_SHOWING_ITS_SESSION})})
        helpers.wait_active(lam, name)

    def call(name, sleep):
        out = lam.invoke(FunctionName=name, Payload=json.dumps({"sleep": sleep}))
        return json.loads(out["Payload"].read())

    # Two invocations at once: two environments of the first function.
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: call(names[0], 2), range(2))
    other = call(names[1], 0)
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}"
    assert first == second == {"key": first["key"], "arn": f"{session}/{names[0]}"}
    assert first["key"].startswith("ASIA")
    assert other["arn"] == f"{session}/{names[1]}" and other["key"] != first["key"]
    for name in names:
        lam.delete_function(FunctionName=name)


def test_iam_off_lets_any_valid_key_do_anything(server_factory):
    srv = server_factory(env={"STRATUS_IAM": "off"})
    iam = srv.client("iam")
    _, key_id, secret = user_with_key(iam)
    lam = client_as(srv, "lambda", key_id, secret)
    assert "Functions" in lam.list_functions()
    # A function's role need not exist in this mode.
    name = helpers.unique_name()
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                        Role=f"arn:aws:iam::{ACCOUNT}:role/made-up",
                        Code={"ZipFile": helpers.make_zip()})
    helpers.wait_active(lam, name)


def test_a_functions_permissions_decide_which_topics_invoke_it(server, new_function):
    s3 = server.client("s3")
    bucket = helpers.unique_name("rec")
    s3.create_bucket(Bucket=bucket)
    name = helpers.unique_name()
    new_function(name=name, zip_bytes=helpers.recorder_zip(), **helpers.recorder_kwargs(bucket))
    sns = server.client("sns")
    allowed = sns.create_topic(Name=helpers.unique_name("allowed"))["TopicArn"]
    other = sns.create_topic(Name=helpers.unique_name("other"))["TopicArn"]
    lam = server.client("lambda")
    lam.add_permission(FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=allowed)
    for topic in (allowed, other):
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=helpers.function_arn(name))
        sns.publish(TopicArn=topic, Message=topic)
    records = helpers.Records(s3, bucket)
    got = records.wait_for(1, 60)
    assert [r["event"]["Records"][0]["Sns"]["TopicArn"] for r in got] == [allowed]
    records.assert_stays(1, 3)


def test_bucket_policies_grant_and_deny(user, iam, server):
    name, arn, client = user
    s3_root = server.client("s3")
    bucket = helpers.unique_name("bkt")
    s3_root.create_bucket(Bucket=bucket)
    s3_root.put_object(Bucket=bucket, Key="shared/a", Body=b"x")
    policy = doc(
        {"Sid": "read", "Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/shared/*"},
        {"Sid": "keep", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"})
    s3_root.put_bucket_policy(Bucket=bucket, Policy=policy)
    assert json.loads(s3_root.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(policy)
    s3 = client("s3")
    # The bucket's policy alone lets the user read (same account), nothing else.
    assert s3.get_object(Bucket=bucket, Key="shared/a")["Body"].read() == b"x"
    assert refusal(s3.put_object, Bucket=bucket, Key="shared/b", Body=b"y")[0] == "AccessDenied"
    # Its deny wins over the user's full access.
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    s3.put_object(Bucket=bucket, Key="shared/b", Body=b"y")
    assert refusal(s3.delete_object, Bucket=bucket, Key="shared/b")[0] == "AccessDenied"
    s3_root.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="shared/b")
    code, status, _ = refusal(s3_root.get_bucket_policy, Bucket=bucket)
    assert (code, status) == ("NoSuchBucketPolicy", 404)


def test_malformed_bucket_policies_are_refused_and_store_nothing(server):
    s3 = server.client("s3")
    bucket = helpers.unique_name("bkt")
    s3.create_bucket(Bucket=bucket)
    assert refusal(s3.put_bucket_policy, Bucket=bucket, Policy="not json") == (
        "MalformedPolicy", 400, "Policies must be valid JSON and the first byte must be '{'")
    no_principal = doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*"))
    assert refusal(s3.put_bucket_policy, Bucket=bucket, Policy=no_principal) == (
        "MalformedPolicy", 400, "Missing required field Principal")
    assert refusal(s3.get_bucket_policy, Bucket=bucket)[0] == "NoSuchBucketPolicy"


def test_a_functions_permissions_decide_which_http_apis_invoke_it(server, new_function):
    from apigw_support import call
    name = new_function()["FunctionName"]
    apigw = server.client("apigatewayv2")
    api_id = apigw.create_api(Name=helpers.unique_name("api"), ProtocolType="HTTP",
                              Target=helpers.function_arn(name))["ApiId"]
    endpoint = f"{server.url}/_aws/execute-api/{api_id}"
    lam = server.client("lambda")
    lam.add_permission(FunctionName=name, StatementId="other", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:otherapi/*")
    assert call(endpoint, "/")[0] == 500
    lam.add_permission(FunctionName=name, StatementId="this", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*")
    assert call(endpoint, "/")[0] == 200
    assert call(endpoint, "/")[0] == 200
    # The platform keeps policies in memory between requests: removing the statement that
    # allowed this API takes effect at once.
    lam.remove_permission(FunctionName=name, StatementId="this")
    assert call(endpoint, "/")[0] == 500
    apigw.delete_api(ApiId=api_id)


def test_leading_keys_limit_a_user_to_its_own_partition(user, iam, server):
    name, _, client = user
    table = f"per-user-{name}"
    server.client("dynamodb").create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "owner", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "owner", "AttributeType": "S"}])
    iam.put_user_policy(UserName=name, PolicyName="own-items", PolicyDocument=doc(allow(
        ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:BatchWriteItem"],
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}",
        Condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [name]}})))
    ddb = client("dynamodb")
    ddb.put_item(TableName=table, Item={"owner": {"S": name}, "v": {"N": "1"}})
    assert ddb.get_item(TableName=table, Key={"owner": {"S": name}})["Item"]["v"] == {"N": "1"}
    assert refusal(ddb.put_item, TableName=table, Item={"owner": {"S": "someone-else"}})[0] == (
        "AccessDeniedException")
    mixed = [{"PutRequest": {"Item": {"owner": {"S": o}}}} for o in (name, "someone-else")]
    assert refusal(ddb.batch_write_item, RequestItems={table: mixed})[0] == "AccessDeniedException"


def test_a_user_holds_its_groups_policies(user, iam):
    name, _, client = user
    group = helpers.unique_name("grp")
    iam.create_group(GroupName=group)
    iam.attach_group_policy(GroupName=group,
                            PolicyArn="arn:aws:iam::aws:policy/AmazonSNSFullAccess")
    sns = client("sns")
    assert refusal(sns.list_topics)[0] == "AuthorizationError"
    iam.add_user_to_group(GroupName=group, UserName=name)
    assert "Topics" in sns.list_topics()
    iam.remove_user_from_group(GroupName=group, UserName=name)
    assert refusal(sns.list_topics)[0] == "AuthorizationError"


def test_layer_actions_name_the_layer_or_its_version(user, iam, server):
    name, arn, client = user
    layer = helpers.unique_name("layer")
    root = server.client()
    root.publish_layer_version(LayerName=layer, Content={"ZipFile": helpers.make_zip()})
    layer_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{layer}"
    try:
        iam.put_user_policy(UserName=name, PolicyName="read-layer",
                            PolicyDocument=doc(allow("lambda:GetLayerVersion", f"{layer_arn}:1")))
        lam = client("lambda")
        assert lam.get_layer_version(LayerName=layer, VersionNumber=1)["Version"] == 1
        # GetLayerVersionByArn is GetLayerVersion on the ARN it names, not ListLayers.
        assert lam.get_layer_version_by_arn(Arn=f"{layer_arn}:1")["Version"] == 1
        assert refusal(lam.list_layers) == (
            "AccessDeniedException", 403, no_policy(arn, "lambda:ListLayers", "*"))
        assert refusal(lam.delete_layer_version, LayerName=layer, VersionNumber=1) == (
            "AccessDeniedException", 403,
            no_policy(arn, "lambda:DeleteLayerVersion", f"{layer_arn}:1"))
        assert refusal(lam.publish_layer_version, LayerName=layer,
                       Content={"ZipFile": helpers.make_zip()}) == (
            "AccessDeniedException", 403,
            no_policy(arn, "lambda:PublishLayerVersion", layer_arn))
        code, _, _ = refusal(lam.remove_layer_version_permission, LayerName=layer,
                             VersionNumber=1, StatementId="s")
        assert code == "AccessDeniedException"
    finally:
        root.delete_layer_version(LayerName=layer, VersionNumber=1)
