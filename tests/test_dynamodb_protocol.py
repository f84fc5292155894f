"""DynamoDB on the wire (JSON 1.0 over POST /, X-Amz-Target, AWS's error bodies) and the
issue's walkthrough with the aws CLI: create a table, wait for it, write, read and query."""

import json
import subprocess
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.exceptions import ClientError
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import helpers
from dynamodb_support import TableFactory, assert_ddb_error, ddb_client, unique_table

JSON_10 = "application/x-amz-json-1.0"


@pytest.fixture(scope="module")
def tables(server):
    factory = TableFactory(ddb_client(server))
    yield factory
    factory.close()


def call(server, operation, body, content_type=JSON_10, raw_body=None):
    """A SigV4-signed DynamoDB request made by hand; returns (status, headers, parsed body)."""
    data = raw_body if raw_body is not None else json.dumps(body).encode()
    request = AWSRequest(method="POST", url=server.url + "/", data=data, headers={
        "Content-Type": content_type,
        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
    })
    SigV4Auth(Credentials(helpers.ACCESS_KEY, helpers.SECRET_KEY), "dynamodb", helpers.REGION) \
        .add_auth(request)
    req = urllib.request.Request(server.url + "/", data=data, method="POST",
                                 headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"{}")


def error_type(body):
    return body.get("__type", "").rsplit("#", 1)[-1]


def error_message(body):
    return body.get("message", body.get("Message"))


def test_success_is_json_10_with_a_request_id(server, tables):
    name = tables()
    status, headers, body = call(server, "DescribeTable", {"TableName": name})
    assert status == 200
    assert headers["Content-Type"].startswith(JSON_10)
    assert headers.get("x-amzn-RequestId")
    assert body["Table"]["TableName"] == name
    # Timestamps are epoch seconds (JSON numbers), as the JSON 1.0 protocol has them.
    assert isinstance(body["Table"]["CreationDateTime"], (int, float))


def test_error_body_has_the_type_and_message(server):
    name = unique_table("missing")
    status, headers, body = call(server, "DescribeTable", {"TableName": name})
    assert status == 400
    assert headers["Content-Type"].startswith(JSON_10)
    assert body["__type"] == "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
    assert error_message(body) == f"Requested resource not found: Table: {name} not found"


def test_conditional_check_failed_on_the_wire(server, tables):
    name = tables()
    item = {"pk": {"S": "a"}}
    assert call(server, "PutItem", {"TableName": name, "Item": item})[0] == 200
    status, _, body = call(server, "PutItem", {
        "TableName": name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)",
    })
    assert status == 400
    assert body["__type"] == "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
    assert error_message(body) == "The conditional request failed"


def test_validation_error_on_the_wire(server, tables):
    name = tables()
    status, _, body = call(server, "GetItem", {"TableName": name, "Key": {"nope": {"S": "a"}}})
    assert status == 400
    assert error_type(body) == "ValidationException"
    assert error_message(body) == "The provided key element does not match the schema"


def test_unknown_operation(server):
    status, _, body = call(server, "FrobnicateTable", {})
    assert status == 400
    assert error_type(body) == "UnknownOperationException"


def test_malformed_json_body(server):
    status, _, body = call(server, "ListTables", None, raw_body=b"{not json")
    assert status == 400
    assert error_type(body) == "SerializationException"


def test_numbers_and_binary_on_the_wire(server, tables):
    """N travels as a string, B as base64, and numbers come back normalised."""
    name = tables()
    status, _, _ = call(server, "PutItem", {"TableName": name, "Item": {
        "pk": {"S": "w"}, "n": {"N": "00123.4500"}, "b": {"B": "AAEC"}, "ns": {"NS": ["1.0", "2"]},
    }})
    assert status == 200
    status, _, body = call(server, "GetItem", {"TableName": name, "Key": {"pk": {"S": "w"}},
                                               "ConsistentRead": True})
    assert status == 200
    assert body["Item"]["n"] == {"N": "123.45"}
    assert body["Item"]["b"] == {"B": "AAEC"}
    assert sorted(body["Item"]["ns"]["NS"]) == ["1", "2"]


# --- the aws CLI ---------------------------------------------------------------------------


@pytest.fixture
def aws(server, tmp_path):
    cli = helpers.find_aws_cli()
    if cli is None:
        pytest.skip("aws CLI is not installed")
    env = helpers.aws_cli_env(tmp_path)

    def run(*args, ok=True):
        cmd = [cli, "--endpoint-url", server.url, "--output", "json", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if ok:
            assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}"
            return json.loads(proc.stdout) if proc.stdout.strip() else None
        assert proc.returncode != 0, proc.stdout
        return proc.stderr

    return run


def test_aws_cli_walkthrough(aws, server, tables):
    name = unique_table("cli")
    tables.names.append(name)
    out = aws("dynamodb", "create-table", "--table-name", name,
              "--attribute-definitions", "AttributeName=user,AttributeType=S",
              "AttributeName=ts,AttributeType=N",
              "--key-schema", "AttributeName=user,KeyType=HASH", "AttributeName=ts,KeyType=RANGE",
              "--billing-mode", "PAY_PER_REQUEST")
    assert out["TableDescription"]["TableName"] == name
    aws("dynamodb", "wait", "table-exists", "--table-name", name)
    assert name in aws("dynamodb", "list-tables")["TableNames"]

    aws("dynamodb", "put-item", "--table-name", name, "--item",
        json.dumps({"user": {"S": "ann"}, "ts": {"N": "1"}, "msg": {"S": "hi"}}))
    aws("dynamodb", "put-item", "--table-name", name, "--item",
        json.dumps({"user": {"S": "ann"}, "ts": {"N": "2"}, "msg": {"S": "there"}}))
    got = aws("dynamodb", "get-item", "--table-name", name, "--key",
              json.dumps({"user": {"S": "ann"}, "ts": {"N": "2"}}))
    assert got["Item"]["msg"] == {"S": "there"}

    out = aws("dynamodb", "query", "--table-name", name,
              "--key-condition-expression", "#u = :u",
              "--expression-attribute-names", json.dumps({"#u": "user"}),
              "--expression-attribute-values", json.dumps({":u": {"S": "ann"}}))
    assert [i["ts"]["N"] for i in out["Items"]] == ["1", "2"]
    assert out["Count"] == 2

    err = aws("dynamodb", "put-item", "--table-name", name, "--item",
              json.dumps({"user": {"S": "ann"}, "ts": {"N": "1"}}),
              "--condition-expression", "attribute_not_exists(#u)",
              "--expression-attribute-names", json.dumps({"#u": "user"}), ok=False)
    assert "ConditionalCheckFailedException" in err

    # boto3 sees what the CLI wrote.
    ddb = ddb_client(server)
    assert ddb.scan(TableName=name)["Count"] == 2


def test_number_as_a_json_number_is_a_serialization_error(server, tables):
    """N travels as a string; {"N": 123} is not a number value."""
    name = tables()
    status, _, body = call(server, "PutItem", {"TableName": name,
                                               "Item": {"pk": {"S": "j"}, "n": {"N": 123}}})
    assert status == 400
    assert error_type(body) == "SerializationException"
    status, _, body = call(server, "GetItem", {"TableName": name, "Key": {"pk": {"S": "j"}}})
    assert status == 200 and "Item" not in body


# --- authentication: DynamoDB answers these with HTTP 400 -------------------------------------


def test_wrong_secret_key_is_invalid_signature(server):
    client = helpers.make_client(server.url, "dynamodb", secret_key="not-the-secret",
                                 retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as excinfo:
        client.list_tables()
    assert_ddb_error(excinfo, "InvalidSignatureException", status=400)


def test_unknown_access_key_is_unrecognized_client(server):
    client = helpers.make_client(server.url, "dynamodb", access_key="AKIAUNKNOWNKEY000000",
                                 retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as excinfo:
        client.list_tables()
    assert_ddb_error(excinfo, "UnrecognizedClientException", status=400,
                     message="The security token included in the request is invalid.")


def test_unsigned_request_is_missing_authentication_token(server):
    req = urllib.request.Request(server.url + "/", data=b"{}", method="POST", headers={
        "Content-Type": JSON_10, "X-Amz-Target": "DynamoDB_20120810.ListTables"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, body = resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        status, body = e.code, json.loads(e.read() or b"{}")
    assert status == 400
    assert error_type(body) == "MissingAuthenticationTokenException"
