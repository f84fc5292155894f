"""A python function writes and reads a table with boto3's resource API exactly as on AWS (no
endpoint configuration in the code), and the test reads what it wrote with boto3."""

from decimal import Decimal

import pytest

import helpers
from dynamodb_support import TableFactory, ddb_client, ddb_resource

FUNCTION_SOURCE = r'''
import json
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

table = boto3.resource("dynamodb").Table(__import__("os").environ["TABLE"])


def handler(event, context):
    user = event["user"]
    table.put_item(Item={"user": user, "ts": 1, "size": Decimal("12.5"), "tags": {"a", "b"},
                         "meta": {"by": context.function_name}})
    table.update_item(Key={"user": user, "ts": 1}, UpdateExpression="SET #s = #s + :more ADD hits :one",
                      ExpressionAttributeNames={"#s": "size"},
                      ExpressionAttributeValues={":more": Decimal("0.5"), ":one": 1})
    with table.batch_writer() as batch:
        for ts in range(2, 6):
            batch.put_item(Item={"user": user, "ts": ts, "size": ts})
    try:
        table.put_item(Item={"user": user, "ts": 1}, ConditionExpression=Attr("user").not_exists())
        conflict = None
    except ClientError as e:
        conflict = e.response["Error"]["Code"]
    got = table.get_item(Key={"user": user, "ts": 1}, ConsistentRead=True)["Item"]
    page = table.query(KeyConditionExpression=Key("user").eq(user) & Key("ts").gte(3),
                       ScanIndexForward=False)
    return {
        "item": json.loads(json.dumps(got, default=lambda o: sorted(o) if isinstance(o, set) else str(o))),
        "query": [int(i["ts"]) for i in page["Items"]],
        "conflict": conflict,
    }
'''


@pytest.fixture(scope="module")
def tables(server):
    factory = TableFactory(ddb_client(server))
    yield factory
    factory.close()


def test_function_uses_the_resource_api(server, new_function, invoke_client, tables):
    name = tables(hash_key=("user", "S"), range_key=("ts", "N"))
    fn = new_function(
        zip_bytes=helpers.make_zip({"app.py": FUNCTION_SOURCE}),
        Timeout=30, Environment={"Variables": {"TABLE": name}},
    )["FunctionName"]
    result = helpers.invoke(invoke_client, fn, {"user": "ann"})
    assert result.function_error is None, result
    out = result.payload
    assert out["conflict"] == "ConditionalCheckFailedException"
    assert out["query"] == [5, 4, 3]
    assert out["item"]["size"] == "13.0" or Decimal(out["item"]["size"]) == Decimal("13")
    assert out["item"]["tags"] == ["a", "b"]
    assert out["item"]["meta"] == {"by": fn}

    # What the function wrote is there for any boto3 client.
    table = ddb_resource(server).Table(name)
    item = table.get_item(Key={"user": "ann", "ts": 1}, ConsistentRead=True)["Item"]
    assert item["size"] == Decimal("13")
    assert item["hits"] == 1
    assert item["tags"] == {"a", "b"}
    assert table.query(KeyConditionExpression="#u = :u",
                       ExpressionAttributeNames={"#u": "user"},
                       ExpressionAttributeValues={":u": "ann"})["Count"] == 5
