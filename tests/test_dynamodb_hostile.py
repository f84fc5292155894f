"""Hostile DynamoDB requests: each must get DynamoDB's ValidationException (or
SerializationException) and leave the server serving. Expressions nested far deeper than any
real one, chains of NOT, expressions over 4 KB, values nested past 32 levels, items over 400 KB,
numbers DynamoDB cannot hold, placeholder maps AWS refuses, bodies that are not JSON or not
UTF-8, and compressed bodies that expand without bound."""

import gzip
import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import helpers
from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    CCF_MESSAGE,
    ddb,
    raises_ddb,
    raw,
    tables,
    unique_table,
)

NEST_MESSAGE = ("Nesting Levels have exceeded supported limits: Attributes in the item have "
                "nested levels beyond supported limit")


@pytest.fixture(scope="module")
def t(tables):
    return tables()


def key():
    return {"pk": {"S": unique_table("h")}}


def still_serving(ddb, table):
    """A write and a read after the hostile request: the server is alive and consistent."""
    k = key()
    ddb.put_item(TableName=table, Item={**k, "ok": {"BOOL": True}})
    assert ddb.get_item(TableName=table, Key=k, ConsistentRead=True)["Item"]["ok"] == {"BOOL": True}


def nested(wraps, kind="M"):
    value = {"S": "leaf"}
    for _ in range(wraps):
        value = {"M": {"n": value}} if kind == "M" else {"L": [value]}
    return value


def signed_post(server, operation, data, headers=None):
    """A SigV4-signed request with `data` as the exact body bytes; (status, parsed body)."""
    all_headers = {"Content-Type": "application/x-amz-json-1.0",
                   "X-Amz-Target": f"DynamoDB_20120810.{operation}", **(headers or {})}
    request = AWSRequest(method="POST", url=server.url + "/", data=data, headers=all_headers)
    SigV4Auth(Credentials(helpers.ACCESS_KEY, helpers.SECRET_KEY), "dynamodb", helpers.REGION) \
        .add_auth(request)
    req = urllib.request.Request(server.url + "/", data=data, method="POST",
                                 headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def error_type(body):
    return body.get("__type", "").rsplit("#", 1)[-1]


# --- expressions -------------------------------------------------------------------------------


def test_condition_nested_1200_parentheses_deep(ddb, t):
    k = key()
    condition = "(" * 1200 + "attribute_not_exists(pk)" + ")" * 1200
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=k,
               ConditionExpression=condition,
               message="Invalid ConditionExpression: The expression has redundant parentheses;")
    assert "Item" not in ddb.get_item(TableName=t, Key=k, ConsistentRead=True)
    still_serving(ddb, t)


def test_unclosed_parentheses_filling_4_kb(ddb, t):
    raises_ddb("ValidationException", ddb.scan, TableName=t, FilterExpression="(" * 4000,
               message='Invalid FilterExpression: Syntax error; token: "<EOF>", near: "("')
    still_serving(ddb, t)


def test_a_chain_of_1000_nots_exceeds_the_operator_limit(ddb, t):
    condition = "NOT " * 1000 + "attribute_exists(pk)"
    assert len(condition) < 4096
    raises_ddb("ValidationException", ddb.delete_item, TableName=t, Key=key(),
               ConditionExpression=condition,
               message="Invalid ConditionExpression: The expression contains too many "
                       "operators; operator count: 301")
    still_serving(ddb, t)


def test_300_operators_are_allowed(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "a": {"N": "1"}})
    # 150 comparisons joined by 149 ORs: 299 operators, then a NOT: 300.
    condition = "NOT (" + " OR ".join(["a = :v"] * 150) + ")"
    ddb.delete_item(TableName=t, Key=k, ConditionExpression=condition,
                    ExpressionAttributeValues={":v": {"N": "2"}})
    assert "Item" not in ddb.get_item(TableName=t, Key=k, ConsistentRead=True)


@pytest.mark.parametrize("member,label", [
    ("ConditionExpression", "ConditionExpression"),
    ("UpdateExpression", "UpdateExpression"),
])
def test_expressions_over_4_kb(ddb, t, member, label):
    k = key()
    text = ("attribute_exists(pk)" if member == "ConditionExpression" else "SET a = :v")
    text += " " * (5000 - len(text))
    args = {"TableName": t, "Key": k, member: text}
    if member == "UpdateExpression":
        args["ExpressionAttributeValues"] = {":v": {"S": "x"}}
    raises_ddb("ValidationException", ddb.update_item, **args,
               message=f"Invalid {label}: Expression size has exceeded the maximum allowed "
                       "size; expression size: 5000")
    assert "Item" not in ddb.get_item(TableName=t, Key=k, ConsistentRead=True)


def test_projection_and_key_condition_over_4_kb(ddb, t):
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key(),
               ProjectionExpression="a" + ", a" * 2100,
               message="Invalid ProjectionExpression: Expression size has exceeded the maximum "
                       "allowed size; expression size: 6301")
    raises_ddb("ValidationException", ddb.query, TableName=t,
               KeyConditionExpression="pk = :p" + " " * 4090,
               ExpressionAttributeValues={":p": {"S": "x"}},
               message="Invalid KeyConditionExpression: Expression size has exceeded the "
                       "maximum allowed size; expression size: 4097")


def test_functions_nested_as_deep_as_4_kb_allows(ddb, t):
    k = key()
    update = "SET l = " + "list_append(:l," * 250 + ":l" + ")" * 250
    assert len(update) < 4096
    ddb.update_item(TableName=t, Key=k, UpdateExpression=update,
                    ExpressionAttributeValues={":l": {"L": [{"N": "1"}]}})
    assert len(ddb.get_item(TableName=t, Key=k, ConsistentRead=True)["Item"]["l"]["L"]) == 251
    still_serving(ddb, t)


def test_document_path_of_33_levels(ddb, t):
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key(),
               ProjectionExpression="a" + ".b" * 32,
               message="Invalid ProjectionExpression: The document path has too many nesting "
                       "levels; nesting levels: 33")
    ddb.get_item(TableName=t, Key=key(), ProjectionExpression="a" + ".b" * 31)


# --- placeholder maps --------------------------------------------------------------------------


def test_ten_thousand_unused_attribute_names(ddb, t):
    names = {f"#n{i}": f"a{i}" for i in range(10000)}
    names["#u"] = "used"
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key(),
               ProjectionExpression="#u", ExpressionAttributeNames=names,
               contains="Value provided in ExpressionAttributeNames unused in expressions")
    still_serving(ddb, t)


def test_one_large_value_used_by_every_comparison(ddb, t):
    # A 300 KB value named 150 times: the server shares it rather than copying it per use.
    k = key()
    ddb.put_item(TableName=t, Item={**k, "a": {"S": "small"}})
    condition = " OR ".join(["a = :big"] * 150)
    raises_ddb("ConditionalCheckFailedException", ddb.delete_item, TableName=t, Key=k,
               ConditionExpression=condition,
               ExpressionAttributeValues={":big": {"S": "x" * 300_000}}, message=CCF_MESSAGE)


def test_an_update_setting_one_large_value_many_times(ddb, t):
    update = "SET " + ", ".join(f"a{i} = :big" for i in range(250))
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=key(),
               UpdateExpression=update,
               ExpressionAttributeValues={":big": {"S": "x" * 200_000}},
               message="Item size to update has exceeded the maximum allowed size")
    still_serving(ddb, t)


@pytest.mark.parametrize("names,values,message", [
    ({"#a": ""}, None,
     "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a"),
    ({"#": "a"}, None, 'ExpressionAttributeNames contains invalid key: Syntax error; key: "#"'),
    ({"#" + "n" * 255: "a"}, None,
     "ExpressionAttributeNames contains invalid key: The expression attribute map contains a "
     "key that is too long; size of key: 256"),
    (None, {":" + "v" * 255: {"S": "x"}},
     "ExpressionAttributeValues contains invalid key: The expression attribute map contains a "
     "key that is too long;"),
    (None, {":v": {}},
     "ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must "
     "contain exactly one of the supported datatypes for key :v"),
])
def test_placeholder_maps_aws_refuses(raw, t, names, values, message):
    args = {"TableName": t, "Key": key(), "ConditionExpression": "attribute_exists(pk)"}
    if names is not None:
        args["ExpressionAttributeNames"] = names
    if values is not None:
        args["ExpressionAttributeValues"] = values
    raises_ddb("ValidationException", raw.delete_item, **args, message=message)


def test_legacy_filter_of_5000_conditions(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "a0": {"N": "1"}})
    scan_filter = {f"a{i}": {"ComparisonOperator": "NULL"} for i in range(1, 5000)}
    scan_filter["pk"] = {"ComparisonOperator": "EQ", "AttributeValueList": [k["pk"]]}
    items = ddb.scan(TableName=t, ScanFilter=scan_filter)["Items"]
    assert [i["pk"] for i in items] == [k["pk"]]


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["M", "L"])
def test_values_nested_past_32_levels(ddb, t, kind):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "deep": nested(31, kind)})
    assert ddb.get_item(TableName=t, Key=k, ConsistentRead=True)["Item"]["deep"] == nested(31, kind)
    k2 = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item={**k2, "deep": nested(32, kind)},
               message=NEST_MESSAGE)
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=k2,
               UpdateExpression="SET deep = :d",
               ExpressionAttributeValues={":d": nested(32, kind)}, message=NEST_MESSAGE)
    assert "Item" not in ddb.get_item(TableName=t, Key=k2, ConsistentRead=True)


def test_an_update_nesting_a_value_too_deep(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "m": nested(20)})
    path = "m" + ".n" * 19
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=k,
               UpdateExpression=f"SET {path} = :d", ExpressionAttributeValues={":d": nested(20)},
               message=NEST_MESSAGE)
    assert ddb.get_item(TableName=t, Key=k, ConsistentRead=True)["Item"]["m"] == nested(20)


def test_json_nested_past_the_parsers_limit(server, t):
    body = '{"TableName": "%s", "Item": {"pk": {"S": "x"}, "d": %s%s}}' % (
        t, '{"L": [' * 300, "]}" * 300)
    status, answer = signed_post(server, "PutItem", body.encode())
    assert status == 400
    assert error_type(answer) == "SerializationException"


def test_item_of_exactly_400_kb_and_one_byte_more(ddb, t):
    # Size: "pk" (2) + its value, "d" (1) + its value.
    k = key()
    room = 400 * 1024 - (2 + len(k["pk"]["S"])) - 1
    ddb.put_item(TableName=t, Item={**k, "d": {"S": "x" * room}})
    k2 = {"pk": {"S": k["pk"]["S"][:-1] + "Z"}}
    raises_ddb("ValidationException", ddb.put_item, TableName=t,
               Item={**k2, "d": {"S": "x" * (room + 1)}},
               message="Item size has exceeded the maximum allowed size")
    assert "Item" not in ddb.get_item(TableName=t, Key=k2, ConsistentRead=True)


@pytest.mark.parametrize("number,message", [
    ("1" * 39, "Attempting to store more than 38 significant digits in a Number"),
    ("1" * 200_000, "Attempting to store more than 38 significant digits in a Number"),
    ("1e126", "Number overflow. Attempting to store a number with magnitude larger than "
              "supported range"),
    ("1e-131", "Number underflow. Attempting to store a number with magnitude smaller than "
               "supported range"),
    ("1e99999999999999999999", "Number overflow. Attempting to store a number with magnitude "
                               "larger than supported range"),
    ("NaN", "A value provided cannot be converted into a number"),
    ("Infinity", "A value provided cannot be converted into a number"),
    ("-", "A value provided cannot be converted into a number"),
])
def test_numbers_dynamodb_cannot_hold(raw, t, number, message):
    k = key()
    raises_ddb("ValidationException", raw.put_item, TableName=t,
               Item={**k, "n": {"N": number}}, message=message)


def test_empty_attribute_name(raw, t):
    raises_ddb("ValidationException", raw.put_item, TableName=t,
               Item={**key(), "": {"S": "x"}},
               message="One or more parameter values were invalid: Empty attribute name")


# --- bodies ------------------------------------------------------------------------------------


def test_invalid_utf8_and_lone_surrogates(server, ddb, t):
    bad_utf8 = b'{"TableName": "' + t.encode() + b'", "Item": {"pk": {"S": "\xff\xfe"}}}'
    status, answer = signed_post(server, "PutItem", bad_utf8)
    assert (status, error_type(answer)) == (400, "SerializationException")
    surrogate = ('{"TableName": "%s", "Item": {"pk": {"S": "\\ud800"}}}' % t).encode()
    status, answer = signed_post(server, "PutItem", surrogate)
    assert (status, error_type(answer)) == (400, "SerializationException")
    # A proper pair is a character like any other.
    pair = ('{"TableName": "%s", "Item": {"pk": {"S": "pair-\\ud83d\\ude00"}}}' % t).encode()
    assert signed_post(server, "PutItem", pair)[0] == 200
    got = ddb.get_item(TableName=t, Key={"pk": {"S": "pair-\U0001F600"}}, ConsistentRead=True)
    assert "Item" in got
    still_serving(ddb, t)


def test_gzip_compressed_request(server, ddb, t):
    k = key()
    body = json.dumps({"TableName": t, "Item": {**k, "z": {"S": "compressed"}}}).encode()
    status, _ = signed_post(server, "PutItem", gzip.compress(body),
                            headers={"Content-Encoding": "gzip"})
    assert status == 200
    item = ddb.get_item(TableName=t, Key=k, ConsistentRead=True)["Item"]
    assert item["z"] == {"S": "compressed"}


def test_gzip_that_is_not_gzip_or_expands_without_bound(server, ddb, t):
    status, answer = signed_post(server, "PutItem", b"not gzip at all",
                                 headers={"Content-Encoding": "gzip"})
    assert (status, error_type(answer)) == (400, "SerializationException")
    # 100 MB of spaces compress to about 100 KB; the server stops at its body limit.
    bomb = gzip.compress(b" " * (100 * 1024 * 1024), compresslevel=9)
    status, answer = signed_post(server, "PutItem", bomb, headers={"Content-Encoding": "gzip"})
    assert status == 400
    assert error_type(answer) == "RequestEntityTooLargeException"
    still_serving(ddb, t)
