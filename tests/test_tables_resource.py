"""boto3's resource API against the tables from outside a function: Key/Attr conditions,
Decimal numbers, sets, pagination by LastEvaluatedKey, the batch writer and errors."""

from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from tables_support import create_table, ddb_client, ddb_resource


@pytest.fixture(scope="module")
def table(server):
    name = create_table(ddb_client(server), range_key="sk", range_type="N")
    return ddb_resource(server).Table(name)


def test_batch_writer_and_paged_query(table):
    with table.batch_writer() as batch:
        for i in range(60):
            batch.put_item(Item={"pk": "page", "sk": i, "even": i % 2 == 0,
                                 "price": Decimal(i) / Decimal(4)})
    seen, start, pages = [], None, 0
    while True:
        kwargs = {"ExclusiveStartKey": start} if start else {}
        resp = table.query(KeyConditionExpression=Key("pk").eq("page") & Key("sk").between(10, 49),
                           Limit=15, **kwargs)
        pages += 1
        seen += [int(i["sk"]) for i in resp["Items"]]
        start = resp.get("LastEvaluatedKey")
        if not start:
            break
    assert seen == list(range(10, 50))
    assert pages in (3, 4)
    item = table.get_item(Key={"pk": "page", "sk": 5})["Item"]
    assert item["price"] == Decimal("1.25") and item["even"] is False


def test_conditions_and_filters(table):
    table.put_item(Item={"pk": "c", "sk": 1, "name": "ann", "tags": {"a", "b"}, "n": 10})
    table.put_item(Item={"pk": "c", "sk": 2, "name": "bob", "tags": {"b"}, "n": 20})
    table.put_item(Item={"pk": "c", "sk": 3, "name": "cat", "n": 30})
    got = table.query(KeyConditionExpression=Key("pk").eq("c"),
                      FilterExpression=Attr("tags").contains("b") & Attr("n").lt(25))["Items"]
    assert [i["name"] for i in got] == ["ann", "bob"]
    got = table.query(KeyConditionExpression=Key("pk").eq("c") & Key("sk").gt(1),
                      FilterExpression=Attr("tags").not_exists() | Attr("name").begins_with("b"),
                      ScanIndexForward=False)["Items"]
    assert [i["name"] for i in got] == ["cat", "bob"]
    got = table.scan(FilterExpression=Attr("pk").eq("c") & Attr("n").is_in([10, 30]))["Items"]
    assert sorted(i["name"] for i in got) == ["ann", "cat"]

    with pytest.raises(ClientError) as e:
        table.update_item(Key={"pk": "c", "sk": 1}, UpdateExpression="SET n = n + :d",
                          ConditionExpression=Attr("n").gt(100), ExpressionAttributeValues={":d": 1},
                          ReturnValuesOnConditionCheckFailure="ALL_OLD")
    err = e.value.response
    assert err["Error"]["Code"] == "ConditionalCheckFailedException"
    assert err["Error"]["Message"] == "The conditional request failed"
    assert err["Item"]["n"] == {"N": "10"}
    resp = table.update_item(Key={"pk": "c", "sk": 1}, UpdateExpression="SET n = n + :d",
                             ExpressionAttributeValues={":d": Decimal("0.5")},
                             ReturnValues="UPDATED_NEW")
    assert resp["Attributes"] == {"n": Decimal("10.5")}


def test_key_mismatch_and_missing_table(server, table):
    with pytest.raises(ClientError) as e:
        table.get_item(Key={"pk": "c"})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"] == "The provided key element does not match the schema"
    missing = ddb_resource(server).Table("no-such-table")
    with pytest.raises(ClientError) as e:
        missing.put_item(Item={"pk": "x", "sk": 1})
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
