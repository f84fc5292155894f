"""DynamoDB's legacy conditional parameters, which older SDK code still sends: Expected,
AttributeUpdates, AttributesToGet, KeyConditions, QueryFilter, ScanFilter and
ConditionalOperator."""

import pytest

from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    CCF_MESSAGE,
    ddb,
    raises_ddb,
    tables,
    unique_table,
)


@pytest.fixture(scope="module")
def t(tables):
    return tables()


@pytest.fixture(scope="module")
def tq(tables, ddb):
    name = tables(range_key=("sk", "N"))
    for i in range(1, 7):
        ddb.put_item(TableName=name, Item={"pk": {"S": "q"}, "sk": {"N": str(i)},
                                           "tag": {"S": "even" if i % 2 == 0 else "odd"},
                                           "n": {"N": str(i * 10)}})
    return name


def key():
    return {"pk": {"S": unique_table("lg")}}


def get(ddb, table, k, **kwargs):
    return ddb.get_item(TableName=table, Key=k, ConsistentRead=True, **kwargs).get("Item")


def test_expected_exists_and_value(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "v": {"N": "1"}}, Expected={"pk": {"Exists": False}})
    raises_ddb("ConditionalCheckFailedException", ddb.put_item, TableName=t, Item={**k, "v": {"N": "2"}},
               Expected={"pk": {"Exists": False}}, message=CCF_MESSAGE)
    ddb.put_item(TableName=t, Item={**k, "v": {"N": "2"}},
                 Expected={"v": {"Value": {"N": "1"}, "Exists": True}})
    raises_ddb("ConditionalCheckFailedException", ddb.delete_item, TableName=t, Key=k,
               Expected={"v": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "5"}]}},
               message=CCF_MESSAGE)
    # ConditionalOperator OR: one of the two holds.
    ddb.delete_item(TableName=t, Key=k, ConditionalOperator="OR", Expected={
        "v": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "5"}]},
        "pk": {"ComparisonOperator": "NOT_NULL"},
    })
    assert get(ddb, t, k) is None


def test_attribute_updates(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "n": {"N": "5"}, "ss": {"SS": ["a", "b"]}, "gone": {"S": "x"}})
    resp = ddb.update_item(TableName=t, Key=k, ReturnValues="ALL_NEW", AttributeUpdates={
        "s": {"Action": "PUT", "Value": {"S": "new"}},
        "n": {"Action": "ADD", "Value": {"N": "3"}},
        "ss": {"Action": "DELETE", "Value": {"SS": ["a"]}},
        "gone": {"Action": "DELETE"},
        "fresh": {"Action": "ADD", "Value": {"NS": ["1"]}},
    })
    assert resp["Attributes"] == {**k, "s": {"S": "new"}, "n": {"N": "8"}, "ss": {"SS": ["b"]},
                                  "fresh": {"NS": ["1"]}}


def test_attributes_to_get(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "a": {"S": "A"}, "b": {"S": "B"}})
    assert get(ddb, t, k, AttributesToGet=["a", "nothere"]) == {"a": {"S": "A"}}


def test_key_conditions(ddb, tq):
    def sks(**kwargs):
        resp = ddb.query(TableName=tq, **kwargs)
        return [int(i["sk"]["N"]) for i in resp["Items"]]

    eq = {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "q"}]}
    assert sks(KeyConditions={"pk": eq}) == [1, 2, 3, 4, 5, 6]
    assert sks(KeyConditions={"pk": eq, "sk": {"ComparisonOperator": "BETWEEN",
                                               "AttributeValueList": [{"N": "2"}, {"N": "4"}]}}) == [2, 3, 4]
    assert sks(KeyConditions={"pk": eq, "sk": {"ComparisonOperator": "GT",
                                               "AttributeValueList": [{"N": "4"}]}},
               ScanIndexForward=False) == [6, 5]
    # QueryFilter runs after the key condition; AND by default, OR on request.
    assert sks(KeyConditions={"pk": eq}, QueryFilter={
        "tag": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "even"}]},
        "n": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "40"}]},
    }) == [4, 6]
    assert sks(KeyConditions={"pk": eq}, ConditionalOperator="OR", QueryFilter={
        "tag": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "even"}]},
        "n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "20"}]},
    }) == [1, 2, 4, 6]


@pytest.mark.parametrize("condition,expected", [
    ({"ComparisonOperator": "IN", "AttributeValueList": [{"N": "10"}, {"N": "30"}]}, [1, 3]),
    ({"ComparisonOperator": "NE", "AttributeValueList": [{"N": "10"}]}, [2, 3, 4, 5, 6]),
    ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "20"}, {"N": "30"}]}, [2, 3]),
    ({"ComparisonOperator": "NULL"}, []),
    ({"ComparisonOperator": "NOT_NULL"}, [1, 2, 3, 4, 5, 6]),
])
def test_scan_filter(ddb, tq, condition, expected):
    resp = ddb.scan(TableName=tq, ScanFilter={"n": condition})
    assert sorted(int(i["sk"]["N"]) for i in resp["Items"]) == expected
    assert resp["ScannedCount"] == 6


def test_scan_filter_string_operators(ddb, tq):
    def sks(condition):
        resp = ddb.scan(TableName=tq, ScanFilter={"tag": condition})
        return sorted(int(i["sk"]["N"]) for i in resp["Items"])

    assert sks({"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "ev"}]}) == [2, 4, 6]
    assert sks({"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "d"}]}) == [1, 3, 5]
    assert sks({"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "d"}]}) == [2, 4, 6]
