"""A new user's path: a table created with the aws CLI, a python function writing and reading
it through boto3's resource API (as it would on AWS, with no endpoint configuration), and
boto3 querying what the function wrote."""

import json
import subprocess

import pytest

import helpers
from tables_support import ddb_client, unique_table

FUNCTION_SOURCE = '''
import os
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key

TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE"])


def handler(event, context):
    user = event["user"]
    for i, name in enumerate(event["images"]):
        TABLE.put_item(Item={
            "pk": user, "sk": "img#" + name, "bytes": Decimal(1000 + i), "ratio": Decimal("1.50"),
            "tags": {"thumb", "seed"}, "meta": {"w": 640, "h": 480, "ok": True, "none": None},
        })
    TABLE.put_item(Item={"pk": user, "sk": "profile", "visits": 0})
    TABLE.update_item(Key={"pk": user, "sk": "profile"},
                      UpdateExpression="SET visits = visits + :one, #n = :name",
                      ExpressionAttributeNames={"#n": "name"},
                      ExpressionAttributeValues={":one": 1, ":name": event["name"]})
    try:
        TABLE.put_item(Item={"pk": user, "sk": "profile"},
                       ConditionExpression=Attr("pk").not_exists())
        duplicate = "accepted"
    except TABLE.meta.client.exceptions.ConditionalCheckFailedException:
        duplicate = "rejected"
    images = TABLE.query(KeyConditionExpression=Key("pk").eq(user) & Key("sk").begins_with("img#"),
                         ScanIndexForward=False)["Items"]
    big = TABLE.query(KeyConditionExpression=Key("pk").eq(user),
                      FilterExpression=Attr("bytes").gte(1001))["Items"]
    profile = TABLE.get_item(Key={"pk": user, "sk": "profile"}, ConsistentRead=True)["Item"]
    first = images[-1]
    return {
        "images": [i["sk"] for i in images],
        "big": sorted(i["sk"] for i in big),
        "visits": int(profile["visits"]),
        "name": profile["name"],
        "duplicate": duplicate,
        "ratio": str(first["ratio"]),
        "bytes_type": type(first["bytes"]).__name__,
        "tags": sorted(first["tags"]),
        "meta": {"w": int(first["meta"]["w"]), "ok": first["meta"]["ok"], "none": first["meta"]["none"]},
    }
'''


@pytest.fixture
def aws_cli(server, tmp_path):
    cli = helpers.find_aws_cli()
    if cli is None:
        pytest.skip("aws CLI not installed")
    env = helpers.aws_cli_env(tmp_path)

    def run(*args):
        out = subprocess.run([cli, "--endpoint-url", server.url, "--output", "json", *args],
                             env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    return run


def test_cli_table_function_writes_boto3_reads(server, aws_cli, new_function, invoke_client):
    table = unique_table("photos")
    created = aws_cli("dynamodb", "create-table", "--table-name", table,
                      "--attribute-definitions", "AttributeName=pk,AttributeType=S",
                      "AttributeName=sk,AttributeType=S",
                      "--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE",
                      "--billing-mode", "PAY_PER_REQUEST")
    assert created["TableDescription"]["TableName"] == table
    aws_cli("dynamodb", "wait", "table-exists", "--table-name", table)

    fn = new_function(zip_bytes=helpers.make_zip({"app.py": FUNCTION_SOURCE}), Timeout=60,
                      Environment={"Variables": {"TABLE": table}})
    inv = helpers.invoke(invoke_client, fn["FunctionName"],
                         {"user": "alice", "name": "Alice", "images": ["a.png", "b.png", "c.png"]})
    assert inv.function_error is None, inv.log
    out = inv.payload
    assert out == {
        "images": ["img#c.png", "img#b.png", "img#a.png"],
        "big": ["img#b.png", "img#c.png"],
        "visits": 1,
        "name": "Alice",
        "duplicate": "rejected",
        "ratio": "1.5",
        "bytes_type": "Decimal",
        "tags": ["seed", "thumb"],
        "meta": {"w": 640, "ok": True, "none": None},
    }

    ddb = ddb_client(server)
    resp = ddb.query(TableName=table, KeyConditionExpression="pk = :u AND sk BETWEEN :a AND :b",
                     ExpressionAttributeValues={":u": {"S": "alice"}, ":a": {"S": "img#a"},
                                                ":b": {"S": "img#b~"}})
    assert [i["sk"]["S"] for i in resp["Items"]] == ["img#a.png", "img#b.png"]
    assert resp["Items"][0]["ratio"] == {"N": "1.5"}
    assert resp["Items"][0]["meta"]["M"]["none"] == {"NULL": True}
    profile = ddb.get_item(TableName=table, Key={"pk": {"S": "alice"}, "sk": {"S": "profile"}})
    assert profile["Item"]["visits"] == {"N": "1"}

    listed = aws_cli("dynamodb", "scan", "--table-name", table, "--select", "COUNT")
    assert listed["Count"] == 4
