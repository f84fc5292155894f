"""The expression language and the legacy parameters through boto3's client: AWS's messages
for syntax errors, reserved words and unused placeholders; numbers; update return values."""

import pytest
from botocore.exceptions import ClientError

from tables_support import create_table, ddb_client


@pytest.fixture(scope="module")
def ddb(server):
    return ddb_client(server)


@pytest.fixture(scope="module")
def table(ddb):
    return create_table(ddb, range_key="sk", range_type="N")


def error(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err["Error"]["Code"], err["Error"]["Message"]


def test_expression_errors_have_aws_messages(ddb, table):
    key = {"pk": {"S": "e"}, "sk": {"N": "1"}}
    cases = [
        (dict(UpdateExpression="SET a = = :v", ExpressionAttributeValues={":v": {"N": "1"}}),
         'Invalid UpdateExpression: Syntax error; token: "=", near: "= = :v"'),
        (dict(UpdateExpression="SET a = :x", ExpressionAttributeValues={":v": {"N": "1"}}),
         "Invalid UpdateExpression: An expression attribute value used in expression is not "
         "defined; attribute value: :x"),
        (dict(UpdateExpression="SET a = :v", ExpressionAttributeValues={":v": {"N": "1"},
                                                                          ":w": {"N": "2"}}),
         "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"),
        (dict(UpdateExpression="SET status = :v", ExpressionAttributeValues={":v": {"N": "1"}}),
         "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status"),
        (dict(UpdateExpression="SET a = :v REMOVE a", ExpressionAttributeValues={":v": {"N": "1"}}),
         "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
         "rewrite one of these paths; path one: [a], path two: [a]"),
        (dict(UpdateExpression="SET sk = :v", ExpressionAttributeValues={":v": {"N": "1"}}),
         "One or more parameter values were invalid: Cannot update attribute sk. This attribute "
         "is part of the key"),
        (dict(UpdateExpression="SET a = :v", ConditionExpression="foo(a)",
              ExpressionAttributeValues={":v": {"N": "1"}}),
         "Invalid ConditionExpression: Invalid function name; function: foo"),
    ]
    for kwargs, message in cases:
        assert error(ddb.update_item, TableName=table, Key=key, **kwargs) == (
            "ValidationException", message), kwargs
    # Nothing was written by any of them.
    assert "Item" not in ddb.get_item(TableName=table, Key=key)


def test_numbers_are_exact_and_normalised(ddb, table):
    key = {"pk": {"S": "n"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "a": {"N": "0.10"}, "big": {"N": "1e3"},
                                        "s": {"NS": ["1.0", "2"]}})
    out = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET a = a + :b ADD big :c",
                          ExpressionAttributeValues={":b": {"N": "0.20"},
                                                     ":c": {"N": "99999999999999999999999999999999999"}},
                          ReturnValues="ALL_NEW")["Attributes"]
    assert out["a"] == {"N": "0.3"}
    assert out["big"] == {"N": "100000000000000000000000000000000999"}
    assert sorted(out["s"]["NS"]) == ["1", "2"]
    assert error(ddb.put_item, TableName=table, Item={**key, "x": {"N": "1" * 39}}) == (
        "ValidationException", "Attempting to store more than 38 significant digits in a Number")
    # Numeric, not textual, order of a number sort key.
    for sk in ["10", "9", "-1", "0.5"]:
        ddb.put_item(TableName=table, Item={"pk": {"S": "order"}, "sk": {"N": sk}})
    got = ddb.query(TableName=table, KeyConditionExpression="pk = :p AND sk > :z",
                    ExpressionAttributeValues={":p": {"S": "order"}, ":z": {"N": "0"}})
    assert [i["sk"]["N"] for i in got["Items"]] == ["0.5", "9", "10"]


def test_update_return_values(ddb, table):
    key = {"pk": {"S": "rv"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "a": {"N": "1"}, "b": {"S": "x"}})
    kw = dict(TableName=table, Key=key, UpdateExpression="SET a = a + :one REMOVE b",
              ExpressionAttributeValues={":one": {"N": "1"}})
    assert ddb.update_item(**kw, ReturnValues="UPDATED_OLD")["Attributes"] == {
        "a": {"N": "1"}, "b": {"S": "x"}}
    assert ddb.update_item(**kw, ReturnValues="UPDATED_NEW")["Attributes"] == {"a": {"N": "3"}}
    assert ddb.update_item(**kw, ReturnValues="ALL_NEW")["Attributes"] == {**key, "a": {"N": "4"}}
    assert "Attributes" not in ddb.update_item(**kw)


def test_legacy_parameters(ddb, table):
    key = {"pk": {"S": "legacy"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "a": {"S": "x"}},
                 Expected={"pk": {"Exists": False}})
    assert error(ddb.put_item, TableName=table, Item=key, Expected={"pk": {"Exists": False}}) == (
        "ConditionalCheckFailedException", "The conditional request failed")
    ddb.update_item(TableName=table, Key=key,
                    AttributeUpdates={"n": {"Action": "ADD", "Value": {"N": "5"}}})
    got = ddb.query(TableName=table,
                    KeyConditions={"pk": {"ComparisonOperator": "EQ",
                                          "AttributeValueList": [{"S": "legacy"}]}},
                    QueryFilter={"n": {"ComparisonOperator": "GE",
                                       "AttributeValueList": [{"N": "5"}]}},
                    AttributesToGet=["a", "n"])
    assert got["Items"] == [{"a": {"S": "x"}, "n": {"N": "5"}}]
    code, message = error(ddb.put_item, TableName=table, Item=key,
                          ConditionExpression="attribute_exists(pk)",
                          Expected={"pk": {"Exists": True, "Value": {"S": "legacy"}}})
    assert code == "ValidationException"
    assert message.startswith("Can not use both expression and non-expression parameters")
