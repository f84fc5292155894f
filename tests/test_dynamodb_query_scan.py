"""DynamoDB Query and Scan: every key condition form, order, Limit and paging, filters with
Count / ScannedCount, projections, Select COUNT, secondary indexes (GSI and LSI) and parallel
scan segments, through the client and the resource API."""

from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Attr, Key

from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    attr_defs,
    ddb,
    ddb_client,
    ddb_resource,
    key_schema,
    raises_ddb,
    tables,
    unique_table,
    wait_exists,
)

N_ITEMS = 12  # sort keys 1..12, so 10, 11, 12 sort after 9 only if compared as numbers


@pytest.fixture(scope="module")
def qt(ddb, tables):
    """pk (S) + sk (N), with a GSI on (g S, gs N) and an LSI on (pk, l S). Partition "p1"
    holds sk 1..12; "p2" holds 3 items; items with odd sk carry the GSI key."""
    name = unique_table("query")
    tables.names.append(name)
    ddb.create_table(
        TableName=name,
        KeySchema=key_schema(("pk", "S"), ("sk", "N")),
        AttributeDefinitions=attr_defs(("pk", "S"), ("sk", "N"), ("g", "S"), ("gs", "N"), ("l", "S")),
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{
            "IndexName": "gsi",
            "KeySchema": key_schema(("g", "S"), ("gs", "N")),
            "Projection": {"ProjectionType": "ALL"},
        }],
        LocalSecondaryIndexes=[{
            "IndexName": "lsi",
            "KeySchema": key_schema(("pk", "S"), ("l", "S")),
            "Projection": {"ProjectionType": "ALL"},
        }],
    )
    wait_exists(ddb, name)
    for sk in range(1, N_ITEMS + 1):
        item = {
            "pk": {"S": "p1"}, "sk": {"N": str(sk)},
            "color": {"S": "red" if sk % 3 == 0 else "blue"},
            "n": {"N": str(sk * 10)},
            "l": {"S": f"{chr(ord('z') - sk)}"},  # reverse order of sk
            "info": {"M": {"half": {"N": str(sk / 2)}, "tags": {"L": [{"S": f"t{sk}"}]}}},
        }
        if sk % 2 == 1:
            item["g"] = {"S": "odd"}
            item["gs"] = {"N": str(100 - sk)}
        ddb.put_item(TableName=name, Item=item)
    for sk in (1, 2, 3):
        ddb.put_item(TableName=name, Item={"pk": {"S": "p2"}, "sk": {"N": str(sk)},
                                           "color": {"S": "green"}})
    return name


@pytest.fixture(scope="module")
def st(tables, ddb):
    """pk (S) + sk (S) for begins_with and string order."""
    name = tables(range_key=("sk", "S"))
    for sk in ("a#1", "a#2", "a#10", "b#1", "ab", "B", "a"):
        ddb.put_item(TableName=name, Item={"pk": {"S": "s"}, "sk": {"S": sk}})
    return name


def q(ddb, table, expr, values, **kwargs):
    return ddb.query(TableName=table, KeyConditionExpression=expr,
                     ExpressionAttributeValues=values, **kwargs)


def sks(resp):
    return [int(i["sk"]["N"]) for i in resp["Items"]]


P1 = {":p": {"S": "p1"}}


# --- key conditions -----------------------------------------------------------------


def test_query_partition_in_numeric_order(ddb, qt):
    resp = q(ddb, qt, "pk = :p", P1)
    assert sks(resp) == list(range(1, N_ITEMS + 1))
    assert resp["Count"] == N_ITEMS
    assert resp["ScannedCount"] == N_ITEMS
    assert "LastEvaluatedKey" not in resp


def test_query_other_partition_and_empty_partition(ddb, qt):
    resp = q(ddb, qt, "pk = :p", {":p": {"S": "p2"}})
    assert sks(resp) == [1, 2, 3]
    resp = q(ddb, qt, "pk = :p", {":p": {"S": "nobody"}})
    assert resp["Items"] == [] and resp["Count"] == 0 and resp["ScannedCount"] == 0


@pytest.mark.parametrize("cond,values,expected", [
    ("sk = :v", {":v": {"N": "10"}}, [10]),
    ("sk = :v", {":v": {"N": "10.0"}}, [10]),
    ("sk < :v", {":v": {"N": "10"}}, list(range(1, 10))),
    ("sk <= :v", {":v": {"N": "10"}}, list(range(1, 11))),
    ("sk > :v", {":v": {"N": "9"}}, [10, 11, 12]),
    ("sk >= :v", {":v": {"N": "9"}}, [9, 10, 11, 12]),
    ("sk > :v", {":v": {"N": "8.5"}}, [9, 10, 11, 12]),
    ("sk BETWEEN :a AND :b", {":a": {"N": "2"}, ":b": {"N": "11"}}, list(range(2, 12))),
    ("sk BETWEEN :a AND :b", {":a": {"N": "5"}, ":b": {"N": "5"}}, [5]),
    ("sk > :v", {":v": {"N": "100"}}, []),
])
def test_query_sort_key_conditions(ddb, qt, cond, values, expected):
    resp = q(ddb, qt, f"pk = :p AND {cond}", {**P1, **values})
    assert sks(resp) == expected
    # The key condition may also be written the other way round.
    resp = q(ddb, qt, f"{cond} AND pk = :p", {**P1, **values})
    assert sks(resp) == expected


def test_query_begins_with_and_string_order(ddb, st):
    resp = q(ddb, st, "pk = :p", {":p": {"S": "s"}})
    # Strings sort by UTF-8 bytes: upper case before lower case, "a#10" before "a#2".
    assert [i["sk"]["S"] for i in resp["Items"]] == ["B", "a", "a#1", "a#10", "a#2", "ab", "b#1"]
    resp = q(ddb, st, "pk = :p AND begins_with(sk, :pre)", {":p": {"S": "s"}, ":pre": {"S": "a#"}})
    assert [i["sk"]["S"] for i in resp["Items"]] == ["a#1", "a#10", "a#2"]
    resp = q(ddb, st, "pk = :p AND sk BETWEEN :a AND :b",
             {":p": {"S": "s"}, ":a": {"S": "a#"}, ":b": {"S": "a#9"}})
    assert [i["sk"]["S"] for i in resp["Items"]] == ["a#1", "a#10", "a#2"]


def test_query_with_names_for_keys(ddb, qt):
    resp = q(ddb, qt, "#k = :p AND #s > :v", {**P1, ":v": {"N": "11"}},
             ExpressionAttributeNames={"#k": "pk", "#s": "sk"})
    assert sks(resp) == [12]


@pytest.mark.parametrize("expr,values,fragment", [
    ("sk = :v", {":v": {"N": "1"}}, "Query condition missed key schema element"),
    ("pk = :p AND color = :c", {**P1, ":c": {"S": "red"}}, None),
    ("pk = :p OR sk = :v", {**P1, ":v": {"N": "1"}}, None),
    ("pk > :p", P1, None),
    ("pk = :p AND begins_with(sk, :v)", {**P1, ":v": {"N": "1"}}, None),
    ("pk = :p AND sk <> :v", {**P1, ":v": {"N": "1"}}, None),
    ("pk = :p AND sk = :v AND sk = :v", {**P1, ":v": {"N": "1"}}, None),
    ("pk = :p AND NOT sk = :v", {**P1, ":v": {"N": "1"}}, None),
    ("pk = :p AND attribute_exists(sk)", P1, None),
])
def test_query_invalid_key_conditions(ddb, qt, expr, values, fragment):
    raises_ddb("ValidationException", q, ddb, qt, expr, values, contains=fragment)


def test_query_key_condition_type_mismatch(ddb, qt):
    raises_ddb("ValidationException", q, ddb, qt, "pk = :p AND sk = :v", {**P1, ":v": {"S": "1"}})


def test_query_without_key_condition(ddb, qt):
    raises_ddb("ValidationException", ddb.query, TableName=qt)


# --- order, Limit, paging ---------------------------------------------------------------


def test_query_scan_index_forward_false(ddb, qt):
    resp = q(ddb, qt, "pk = :p AND sk >= :v", {**P1, ":v": {"N": "8"}}, ScanIndexForward=False)
    assert sks(resp) == [12, 11, 10, 9, 8]


@pytest.mark.parametrize("forward", [True, False])
def test_query_limit_and_paging(ddb, qt, forward):
    seen, start, pages = [], None, 0
    while True:
        args = {"Limit": 5, "ScanIndexForward": forward}
        if start:
            args["ExclusiveStartKey"] = start
        resp = q(ddb, qt, "pk = :p", P1, **args)
        pages += 1
        assert resp["Count"] <= 5
        seen += sks(resp)
        start = resp.get("LastEvaluatedKey")
        if start:
            # The key of the last item returned, and only the key.
            assert start == {"pk": {"S": "p1"}, "sk": resp["Items"][-1]["sk"]}
        else:
            break
        assert pages < 10
    expected = list(range(1, N_ITEMS + 1))
    assert seen == (expected if forward else expected[::-1])


def test_query_limit_exact_multiple_returns_key_then_empty_page(ddb, qt):
    resp = q(ddb, qt, "pk = :p", {":p": {"S": "p2"}}, Limit=3)
    assert sks(resp) == [1, 2, 3]
    # When Limit is reached the key is returned even if nothing is left.
    assert resp["LastEvaluatedKey"] == {"pk": {"S": "p2"}, "sk": {"N": "3"}}
    resp = q(ddb, qt, "pk = :p", {":p": {"S": "p2"}}, ExclusiveStartKey=resp["LastEvaluatedKey"])
    assert resp["Items"] == [] and "LastEvaluatedKey" not in resp


def test_query_paginator(ddb, qt):
    pages = list(ddb.get_paginator("query").paginate(
        TableName=qt, KeyConditionExpression="pk = :p", ExpressionAttributeValues=P1,
        PaginationConfig={"PageSize": 4},
    ))
    assert [sk for page in pages for sk in sks(page)] == list(range(1, N_ITEMS + 1))


# --- filters, Count and ScannedCount ---------------------------------------------------


def test_query_filter_counts(ddb, qt):
    resp = q(ddb, qt, "pk = :p", {**P1, ":c": {"S": "red"}}, FilterExpression="color = :c")
    assert sks(resp) == [3, 6, 9, 12]
    assert resp["Count"] == 4
    assert resp["ScannedCount"] == N_ITEMS


def test_query_filter_with_limit_counts_scanned_items(ddb, qt):
    # Limit bounds the items read, before the filter.
    resp = q(ddb, qt, "pk = :p", {**P1, ":c": {"S": "red"}}, FilterExpression="color = :c", Limit=4)
    assert sks(resp) == [3]
    assert resp["Count"] == 1
    assert resp["ScannedCount"] == 4
    assert resp["LastEvaluatedKey"] == {"pk": {"S": "p1"}, "sk": {"N": "4"}}
    # A page may be empty and still carry a LastEvaluatedKey.
    resp = q(ddb, qt, "pk = :p", {**P1, ":c": {"S": "red"}}, FilterExpression="color = :c",
             Limit=2, ExclusiveStartKey={"pk": {"S": "p1"}, "sk": {"N": "3"}})
    assert resp["Items"] == [] and resp["Count"] == 0 and resp["ScannedCount"] == 2
    assert resp["LastEvaluatedKey"] == {"pk": {"S": "p1"}, "sk": {"N": "5"}}


def test_query_filter_on_nested_attribute_and_functions(ddb, qt):
    resp = q(ddb, qt, "pk = :p", {**P1, ":h": {"N": "5"}, ":t": {"S": "t1"}},
             FilterExpression="info.half >= :h AND begins_with(info.tags[0], :t)")
    assert sks(resp) == [10, 11, 12]


def test_query_filter_on_key_attribute_rejected(ddb, qt):
    raises_ddb("ValidationException", q, ddb, qt, "pk = :p", {**P1, ":v": {"N": "3"}},
               FilterExpression="sk > :v",
               contains="Filter Expression can only contain non-primary key attributes")


def test_select_count_with_projection_rejected(ddb, qt):
    raises_ddb("ValidationException", q, ddb, qt, "pk = :p", P1, Select="COUNT",
               ProjectionExpression="color",
               contains="Cannot specify the ProjectionExpression when choosing to get only the Count")
    raises_ddb("ValidationException", ddb.scan, TableName=qt, Select="COUNT",
               ProjectionExpression="color",
               contains="Cannot specify the ProjectionExpression when choosing to get only the Count")


def test_query_select_count(ddb, qt):
    resp = q(ddb, qt, "pk = :p", P1, Select="COUNT")
    assert "Items" not in resp
    assert resp["Count"] == N_ITEMS and resp["ScannedCount"] == N_ITEMS
    resp = q(ddb, qt, "pk = :p", {**P1, ":c": {"S": "red"}}, Select="COUNT",
             FilterExpression="color = :c")
    assert resp["Count"] == 4 and resp["ScannedCount"] == N_ITEMS


def test_query_projection(ddb, qt):
    resp = q(ddb, qt, "pk = :p AND sk = :v", {**P1, ":v": {"N": "4"}},
             ProjectionExpression="color, info.tags[0], #n", ExpressionAttributeNames={"#n": "n"})
    assert resp["Items"] == [{"color": {"S": "blue"}, "n": {"N": "40"},
                              "info": {"M": {"tags": {"L": [{"S": "t4"}]}}}}]


def test_query_select_specific_attributes_with_projection(ddb, qt):
    resp = q(ddb, qt, "pk = :p AND sk = :v", {**P1, ":v": {"N": "4"}},
             ProjectionExpression="color", Select="SPECIFIC_ATTRIBUTES")
    assert resp["Items"] == [{"color": {"S": "blue"}}]
    raises_ddb("ValidationException", q, ddb, qt, "pk = :p", P1,
               ProjectionExpression="color", Select="ALL_ATTRIBUTES")


# --- secondary indexes --------------------------------------------------------------------


def test_query_gsi(ddb, qt):
    resp = q(ddb, qt, "g = :g", {":g": {"S": "odd"}}, IndexName="gsi")
    # Only items carrying the index key are in the index, ordered by the index sort key
    # (gs = 100 - sk, so descending sk).
    assert sks(resp) == [11, 9, 7, 5, 3, 1]
    assert resp["Items"][0]["color"] == {"S": "blue"}  # ALL projection
    resp = q(ddb, qt, "g = :g AND gs BETWEEN :a AND :b",
             {":g": {"S": "odd"}, ":a": {"N": "90"}, ":b": {"N": "96"}}, IndexName="gsi")
    assert sks(resp) == [9, 7, 5]


def test_query_gsi_paging_keys_include_table_key(ddb, qt):
    resp = q(ddb, qt, "g = :g", {":g": {"S": "odd"}}, IndexName="gsi", Limit=2)
    assert sks(resp) == [11, 9]
    assert resp["LastEvaluatedKey"] == {"g": {"S": "odd"}, "gs": {"N": "91"},
                                        "pk": {"S": "p1"}, "sk": {"N": "9"}}
    resp = q(ddb, qt, "g = :g", {":g": {"S": "odd"}}, IndexName="gsi",
             ExclusiveStartKey=resp["LastEvaluatedKey"])
    assert sks(resp) == [7, 5, 3, 1]


def test_query_gsi_follows_writes(ddb, qt):
    try:
        _gsi_follows_writes(ddb, qt)
    finally:
        ddb.delete_item(TableName=qt, Key={"pk": {"S": "p3"}, "sk": {"N": "1"}})


def _gsi_follows_writes(ddb, qt):
    ddb.put_item(TableName=qt, Item={"pk": {"S": "p3"}, "sk": {"N": "1"},
                                     "g": {"S": "moving"}, "gs": {"N": "1"}})
    assert q(ddb, qt, "g = :g", {":g": {"S": "moving"}}, IndexName="gsi")["Count"] == 1
    ddb.update_item(TableName=qt, Key={"pk": {"S": "p3"}, "sk": {"N": "1"}},
                    UpdateExpression="SET g = :g", ExpressionAttributeValues={":g": {"S": "moved"}})
    assert q(ddb, qt, "g = :g", {":g": {"S": "moving"}}, IndexName="gsi")["Count"] == 0
    assert q(ddb, qt, "g = :g", {":g": {"S": "moved"}}, IndexName="gsi")["Count"] == 1
    ddb.update_item(TableName=qt, Key={"pk": {"S": "p3"}, "sk": {"N": "1"}}, UpdateExpression="REMOVE g")
    assert q(ddb, qt, "g = :g", {":g": {"S": "moved"}}, IndexName="gsi")["Count"] == 0


def test_query_gsi_consistent_read_rejected(ddb, qt):
    raises_ddb("ValidationException", q, ddb, qt, "g = :g", {":g": {"S": "odd"}}, IndexName="gsi",
               ConsistentRead=True,
               contains="Consistent reads are not supported on global secondary indexes")


def test_query_lsi(ddb, qt):
    # l runs in reverse order of sk.
    resp = q(ddb, qt, "pk = :p", P1, IndexName="lsi")
    assert sks(resp) == list(range(N_ITEMS, 0, -1))
    resp = q(ddb, qt, "pk = :p AND l < :l", {**P1, ":l": {"S": "p"}}, IndexName="lsi",
             ScanIndexForward=False, ConsistentRead=True)
    # l = chr(ord('z') - sk) < 'p' means sk > 10.
    assert sks(resp) == [11, 12]


def test_query_missing_index(ddb, qt):
    raises_ddb("ValidationException", q, ddb, qt, "pk = :p", P1, IndexName="nope",
               contains="The table does not have the specified index: nope")


# --- Scan ---------------------------------------------------------------------------------


def scan_all(ddb, table, **kwargs):
    items, start = [], None
    while True:
        args = dict(kwargs)
        if start:
            args["ExclusiveStartKey"] = start
        resp = ddb.scan(TableName=table, **args)
        items += resp["Items"]
        start = resp.get("LastEvaluatedKey")
        if not start:
            return items


def ids(items):
    return sorted((i["pk"]["S"], int(i["sk"]["N"])) for i in items)


ALL_IDS = sorted([("p1", n) for n in range(1, N_ITEMS + 1)] + [("p2", n) for n in (1, 2, 3)])


def test_scan_everything(ddb, qt):
    resp = ddb.scan(TableName=qt)
    assert ids(resp["Items"]) == ALL_IDS
    assert resp["Count"] == resp["ScannedCount"] == len(ALL_IDS)


def test_scan_filter_counts(ddb, qt):
    resp = ddb.scan(TableName=qt, FilterExpression="color IN (:r, :g)",
                    ExpressionAttributeValues={":r": {"S": "red"}, ":g": {"S": "green"}})
    assert ids(resp["Items"]) == sorted([("p1", n) for n in (3, 6, 9, 12)] + [("p2", n) for n in (1, 2, 3)])
    assert resp["Count"] == 7
    assert resp["ScannedCount"] == len(ALL_IDS)


def test_scan_filter_on_key_attributes_allowed(ddb, qt):
    resp = ddb.scan(TableName=qt, FilterExpression="pk = :p AND sk > :v",
                    ExpressionAttributeValues={":p": {"S": "p2"}, ":v": {"N": "1"}})
    assert ids(resp["Items"]) == [("p2", 2), ("p2", 3)]


@pytest.mark.parametrize("limit", [1, 4, 7])
def test_scan_pagination_returns_each_item_once(ddb, qt, limit):
    items = scan_all(ddb, qt, Limit=limit)
    assert ids(items) == ALL_IDS


def test_scan_pagination_with_filter(ddb, qt):
    items = scan_all(ddb, qt, Limit=3, FilterExpression="color = :c",
                     ExpressionAttributeValues={":c": {"S": "red"}})
    assert ids(items) == [("p1", n) for n in (3, 6, 9, 12)]


@pytest.mark.parametrize("total", [1, 2, 3, 5, 20])
def test_scan_segments_cover_every_item_once(ddb, qt, total):
    found = []
    for segment in range(total):
        found += scan_all(ddb, qt, Segment=segment, TotalSegments=total, Limit=2)
    assert ids(found) == ALL_IDS


def test_scan_segment_errors(ddb, server, qt):
    raw = ddb_client(server, parameter_validation=False)
    raises_ddb("ValidationException", raw.scan, TableName=qt, Segment=2, TotalSegments=2)
    raises_ddb("ValidationException", raw.scan, TableName=qt, Segment=0)
    raises_ddb("ValidationException", raw.scan, TableName=qt, TotalSegments=2)
    raises_ddb("ValidationException", raw.scan, TableName=qt, Segment=0, TotalSegments=1000001)
    raises_ddb("ValidationException", raw.scan, TableName=qt, Limit=0)
    raises_ddb("ValidationException", raw.query, TableName=qt, KeyConditionExpression="pk = :p",
               ExpressionAttributeValues=P1, Limit=0)


def test_scan_select_count_and_projection(ddb, qt):
    resp = ddb.scan(TableName=qt, Select="COUNT")
    assert "Items" not in resp and resp["Count"] == len(ALL_IDS)
    resp = ddb.scan(TableName=qt, ProjectionExpression="sk, color",
                    FilterExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p2"}})
    assert sorted(resp["Items"], key=lambda i: i["sk"]["N"]) == [
        {"sk": {"N": str(n)}, "color": {"S": "green"}} for n in (1, 2, 3)
    ]


def test_scan_gsi_and_lsi(ddb, qt):
    resp = ddb.scan(TableName=qt, IndexName="gsi")
    assert ids(resp["Items"]) == [("p1", n) for n in (1, 3, 5, 7, 9, 11)]
    resp = ddb.scan(TableName=qt, IndexName="lsi")
    # Only items that carry the LSI's sort key are in it.
    assert ids(resp["Items"]) == [("p1", n) for n in range(1, N_ITEMS + 1)]


def test_scan_paginator(ddb, qt):
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=qt, PaginationConfig={"PageSize": 4}):
        items += page["Items"]
    assert ids(items) == ALL_IDS


# --- resource API -----------------------------------------------------------------------


def test_resource_query_and_scan_with_condition_builders(server, qt):
    table = ddb_resource(server).Table(qt)
    resp = table.query(KeyConditionExpression=Key("pk").eq("p1") & Key("sk").between(3, 5))
    assert [int(i["sk"]) for i in resp["Items"]] == [3, 4, 5]
    resp = table.query(KeyConditionExpression=Key("pk").eq("p1") & Key("sk").gt(9),
                       FilterExpression=Attr("color").eq("red"), ScanIndexForward=False)
    assert [int(i["sk"]) for i in resp["Items"]] == [12]
    resp = table.query(IndexName="gsi", KeyConditionExpression=Key("g").eq("odd") & Key("gs").lt(92))
    assert [int(i["sk"]) for i in resp["Items"]] == [11, 9]
    resp = table.scan(FilterExpression=Attr("color").eq("green") | Attr("n").gte(110))
    assert sorted((i["pk"], int(i["sk"])) for i in resp["Items"]) == [
        ("p1", 11), ("p1", 12), ("p2", 1), ("p2", 2), ("p2", 3)
    ]
    resp = table.scan(FilterExpression=Attr("info.tags").contains("t7") | Attr("nothere").exists())
    assert [int(i["sk"]) for i in resp["Items"]] == [7]
    resp = table.scan(FilterExpression=Attr("info.half").lt(1) & Attr("g").attribute_type("S"))
    assert [(i["pk"], int(i["sk"])) for i in resp["Items"]] == [("p1", 1)]


# --- index projections ----------------------------------------------------------------------


def test_index_projection_types(ddb, tables):
    name = unique_table("proj")
    tables.names.append(name)
    ddb.create_table(
        TableName=name,
        KeySchema=key_schema(("pk", "S"), ("sk", "N")),
        AttributeDefinitions=attr_defs(("pk", "S"), ("sk", "N"), ("g", "S")),
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": "keys", "KeySchema": key_schema(("g", "S")),
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "incl", "KeySchema": key_schema(("g", "S")),
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["color"]}},
        ],
    )
    wait_exists(ddb, name)
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"S": "x"},
                                       "color": {"S": "red"}, "size": {"N": "3"}})
    resp = q(ddb, name, "g = :g", {":g": {"S": "x"}}, IndexName="keys")
    assert resp["Items"] == [{"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"S": "x"}}]
    resp = q(ddb, name, "g = :g", {":g": {"S": "x"}}, IndexName="incl")
    assert resp["Items"] == [{"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"S": "x"},
                              "color": {"S": "red"}}]
    # Asking a KEYS_ONLY index for every attribute is an error, not a table fetch.
    raises_ddb("ValidationException", q, ddb, name, "g = :g", {":g": {"S": "x"}},
               IndexName="keys", Select="ALL_ATTRIBUTES",
               contains="Select type ALL_ATTRIBUTES is not supported for global secondary index "
                        "keys because its projection type is not ALL")
    raises_ddb("ValidationException", ddb.scan, TableName=name, IndexName="keys",
               Select="ALL_ATTRIBUTES", contains="Select type ALL_ATTRIBUTES is not supported")
    table = ddb.describe_table(TableName=name)["Table"]
    incl = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "incl"][0]
    assert incl["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["color"]}


# --- the 1 MB page ------------------------------------------------------------------------


def test_query_and_scan_stop_at_1_mb(ddb, tables):
    """A page holds at most 1 MB of items read; LastEvaluatedKey carries on from there."""
    name = tables(range_key=("sk", "N"))
    blob = "x" * (100 * 1024)
    for i in range(15):  # about 1.5 MB in one partition
        ddb.put_item(TableName=name, Item={"pk": {"S": "big"}, "sk": {"N": str(i)}, "d": {"S": blob}})

    first = q(ddb, name, "pk = :p", {":p": {"S": "big"}})
    assert 0 < first["Count"] < 15
    assert first["Count"] <= 11  # 11 items of 100 KB already pass 1 MB
    assert first["LastEvaluatedKey"] == {"pk": {"S": "big"}, "sk": first["Items"][-1]["sk"]}
    rest = q(ddb, name, "pk = :p", {":p": {"S": "big"}}, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert sks(first) + sks(rest) == list(range(15))

    # Select COUNT is bounded by the same 1 MB of items read.
    counted = q(ddb, name, "pk = :p", {":p": {"S": "big"}}, Select="COUNT")
    assert counted["Count"] == first["Count"] and "LastEvaluatedKey" in counted

    page = ddb.scan(TableName=name)
    assert 0 < page["Count"] < 15 and "LastEvaluatedKey" in page
    assert ids(scan_all(ddb, name)) == [("big", i) for i in range(15)]


# --- sort key order by type ------------------------------------------------------------------


def test_binary_sort_keys_order_as_unsigned_bytes(ddb, tables):
    name = tables(range_key=("sk", "B"))
    values = [b"\xff", b"\x80", b"\x7f", b"\x01", b"\x01\x00", b"\x00"]
    for v in values:
        ddb.put_item(TableName=name, Item={"pk": {"S": "b"}, "sk": {"B": v}})
    resp = q(ddb, name, "pk = :p", {":p": {"S": "b"}})
    assert [i["sk"]["B"] for i in resp["Items"]] == [b"\x00", b"\x01", b"\x01\x00", b"\x7f", b"\x80", b"\xff"]
    resp = q(ddb, name, "pk = :p AND begins_with(sk, :pre)", {":p": {"S": "b"}, ":pre": {"B": b"\x01"}})
    assert [i["sk"]["B"] for i in resp["Items"]] == [b"\x01", b"\x01\x00"]


def test_string_sort_keys_order_as_utf8_bytes(ddb, tables):
    name = tables(range_key=("sk", "S"))
    for v in ["\U0001F600", "\uffff", "é", "z", "a"]:
        ddb.put_item(TableName=name, Item={"pk": {"S": "u"}, "sk": {"S": v}})
    resp = q(ddb, name, "pk = :p", {":p": {"S": "u"}})
    # UTF-8 byte order puts U+1F600 after U+FFFF (UTF-16 order would not).
    assert [i["sk"]["S"] for i in resp["Items"]] == ["a", "z", "é", "\uffff", "\U0001F600"]


def test_number_sort_keys_order_numerically(ddb, tables):
    name = tables(range_key=("sk", "N"))
    for v in ["1e3", "-10", "3", "0", "1E-5", "-2.5", "25", "-0.001"]:
        ddb.put_item(TableName=name, Item={"pk": {"S": "n"}, "sk": {"N": v}})
    resp = q(ddb, name, "pk = :p", {":p": {"S": "n"}})
    assert [Decimal(i["sk"]["N"]) for i in resp["Items"]] == [
        Decimal(v) for v in ["-10", "-2.5", "-0.001", "0", "1E-5", "3", "25", "1e3"]
    ]


def test_exclusive_start_key_of_the_wrong_shape(ddb, qt):
    raises_ddb("ValidationException", q, ddb, qt, "pk = :p", P1,
               ExclusiveStartKey={"pk": {"S": "p1"}},
               contains="The provided starting key is invalid")
    raises_ddb("ValidationException", ddb.scan, TableName=qt,
               ExclusiveStartKey={"nope": {"S": "p1"}},
               contains="The provided starting key is invalid")


def test_lsi_fetches_unprojected_attributes_from_the_table(ddb, tables):
    """A local index reads what it does not project from the table; a global one cannot."""
    name = unique_table("lsifetch")
    tables.names.append(name)
    ddb.create_table(
        TableName=name,
        KeySchema=key_schema(("pk", "S"), ("sk", "N")),
        AttributeDefinitions=attr_defs(("pk", "S"), ("sk", "N"), ("l", "N")),
        BillingMode="PAY_PER_REQUEST",
        LocalSecondaryIndexes=[{"IndexName": "by-l", "KeySchema": key_schema(("pk", "S"), ("l", "N")),
                                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    )
    wait_exists(ddb, name)
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "l": {"N": "9"}, "color": {"S": "red"}}
    ddb.put_item(TableName=name, Item=item)
    resp = q(ddb, name, "pk = :p", {":p": {"S": "a"}}, IndexName="by-l")
    assert resp["Items"] == [{"pk": {"S": "a"}, "sk": {"N": "1"}, "l": {"N": "9"}}]
    resp = q(ddb, name, "pk = :p", {":p": {"S": "a"}}, IndexName="by-l", Select="ALL_ATTRIBUTES")
    assert resp["Items"] == [item]
    resp = q(ddb, name, "pk = :p", {":p": {"S": "a"}}, IndexName="by-l", ProjectionExpression="color")
    assert resp["Items"] == [{"color": {"S": "red"}}]
