"""DynamoDB control plane: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable,
through the client and the resource API, with AWS's errors for bad schemas."""

import datetime

import pytest
from botocore.exceptions import ClientError

import helpers
from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    assert_ddb_error,
    attr_defs,
    ddb,
    ddb_client,
    ddb_resource,
    delete_quietly,
    FAST_WAIT,
    key_schema,
    NOT_FOUND_MESSAGE,
    raises_ddb,
    table_arn,
    tables,
    unique_table,
    wait_exists,
)


@pytest.fixture(scope="module")
def raw(server):
    """A client without botocore's own parameter checks, so the server's are tested."""
    return ddb_client(server, parameter_validation=False)


def by_name(defs):
    return sorted(defs, key=lambda d: d["AttributeName"])


# --- CreateTable / DescribeTable -------------------------------------------------------


def test_create_hash_only_table_and_describe(ddb):
    name = unique_table()
    try:
        resp = ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
        desc = resp["TableDescription"]
        assert desc["TableName"] == name
        assert desc["TableStatus"] in ("CREATING", "ACTIVE")
        assert desc["TableArn"] == table_arn(name)
        assert desc["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]

        wait_exists(ddb, name)
        table = ddb.describe_table(TableName=name)["Table"]
        assert table["TableName"] == name
        assert table["TableStatus"] == "ACTIVE"
        assert table["TableArn"] == table_arn(name)
        assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
        assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
        assert table["ItemCount"] == 0
        assert table["TableSizeBytes"] == 0
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
        assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 0
        assert isinstance(table["CreationDateTime"], datetime.datetime)
        assert isinstance(table.get("TableId"), str) and table["TableId"]
        # No indexes were asked for, so none are described.
        assert "GlobalSecondaryIndexes" not in table
        assert "LocalSecondaryIndexes" not in table
    finally:
        delete_quietly(ddb, name)


@pytest.mark.parametrize("hash_type,range_type", [("S", None), ("N", "S"), ("B", "N"), ("S", "B")])
def test_create_with_each_key_type(ddb, tables, hash_type, range_type):
    range_key = ("rk", range_type) if range_type else None
    name = tables(hash_key=("hk", hash_type), range_key=range_key)
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == key_schema(("hk", hash_type), range_key)
    assert by_name(table["AttributeDefinitions"]) == by_name(
        attr_defs(("hk", hash_type), range_key or (None, None))
    )


def test_create_provisioned_table(ddb, tables):
    name = tables(
        hash_key=("pk", "S"), range_key=("sk", "N"),
        ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
    )
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    if "BillingModeSummary" in table:
        assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    # A provisioned table works like any other.
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]


def test_create_explicit_provisioned_billing_mode(ddb, tables):
    name = tables(
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
    )
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 2
    assert table.get("BillingModeSummary", {"BillingMode": "PROVISIONED"})["BillingMode"] == "PROVISIONED"


def test_create_with_gsi_and_lsi_is_described(ddb, tables):
    name = unique_table()
    tables.names.append(name)
    ddb.create_table(
        TableName=name,
        KeySchema=key_schema(("pk", "S"), ("sk", "S")),
        AttributeDefinitions=attr_defs(("pk", "S"), ("sk", "S"), ("g", "S"), ("gs", "N"), ("l", "N")),
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{
            "IndexName": "by-g",
            "KeySchema": key_schema(("g", "S"), ("gs", "N")),
            "Projection": {"ProjectionType": "ALL"},
        }],
        LocalSecondaryIndexes=[{
            "IndexName": "by-l",
            "KeySchema": key_schema(("pk", "S"), ("l", "N")),
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
    )
    wait_exists(ddb, name)
    table = ddb.describe_table(TableName=name)["Table"]

    [gsi] = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by-g"
    assert gsi["KeySchema"] == key_schema(("g", "S"), ("gs", "N"))
    assert gsi["Projection"]["ProjectionType"] == "ALL"
    assert gsi["IndexStatus"] == "ACTIVE"
    assert gsi["IndexArn"] == f"{table_arn(name)}/index/by-g"

    [lsi] = table["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "by-l"
    assert lsi["KeySchema"] == key_schema(("pk", "S"), ("l", "N"))
    assert lsi["Projection"]["ProjectionType"] == "KEYS_ONLY"
    assert lsi["IndexArn"] == f"{table_arn(name)}/index/by-l"

    assert by_name(table["AttributeDefinitions"]) == by_name(
        attr_defs(("pk", "S"), ("sk", "S"), ("g", "S"), ("gs", "N"), ("l", "N"))
    )


def test_create_duplicate_table_is_resource_in_use(ddb, tables):
    name = tables()
    raises_ddb(
        "ResourceInUseException", ddb.create_table,
        TableName=name, KeySchema=key_schema(("pk", "S")),
        AttributeDefinitions=attr_defs(("pk", "S")), BillingMode="PAY_PER_REQUEST",
        message=f"Table already exists: {name}",
    )
    # The original table is untouched.
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"


def _create_fails(raw, contains=None, **overrides):
    name = unique_table("bad")
    args = {
        "TableName": name,
        "KeySchema": key_schema(("pk", "S")),
        "AttributeDefinitions": attr_defs(("pk", "S")),
        "BillingMode": "PAY_PER_REQUEST",
    }
    args.update(overrides)
    try:
        raises_ddb("ValidationException", raw.create_table, contains=contains, **args)
    finally:
        delete_quietly(raw, args["TableName"])
    # Nothing was created (a name of the wrong form is refused by DescribeTable itself, so
    # look in the listing).
    names = [n for page in raw.get_paginator("list_tables").paginate() for n in page["TableNames"]]
    assert args["TableName"] not in names


def test_create_key_not_in_attribute_definitions(raw):
    _create_fails(
        raw,
        contains="One or more parameter values were invalid: Some index key attributes are not "
                 "defined in AttributeDefinitions. Keys: [pk], AttributeDefinitions: [other]",
        AttributeDefinitions=attr_defs(("other", "S")),
    )


def test_create_unused_attribute_definition(raw):
    _create_fails(
        raw,
        contains="Number of attributes in KeySchema does not exactly match number of "
                 "attributes defined in AttributeDefinitions",
        AttributeDefinitions=attr_defs(("pk", "S"), ("extra", "S")),
    )


def test_create_invalid_key_type(raw):
    _create_fails(raw, AttributeDefinitions=attr_defs(("pk", "BOOL")))


def test_create_two_hash_keys(raw):
    _create_fails(
        raw,
        KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "HASH"}],
        AttributeDefinitions=attr_defs(("a", "S"), ("b", "S")),
    )


def test_create_range_key_only(raw):
    _create_fails(
        raw,
        KeySchema=[{"AttributeName": "pk", "KeyType": "RANGE"}],
    )


def test_create_empty_key_schema(raw):
    _create_fails(raw, KeySchema=[])


def test_create_provisioned_without_throughput(raw):
    _create_fails(
        raw, contains="ReadCapacityUnits and WriteCapacityUnits must both be specified",
        BillingMode="PROVISIONED",
    )


def test_create_pay_per_request_with_throughput(raw):
    _create_fails(
        raw,
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )


@pytest.mark.parametrize("bad", ["ab", "has space", "slash/name", "x" * 256])
def test_create_invalid_table_name(raw, bad):
    _create_fails(raw, TableName=bad)


def test_create_gsi_key_without_definition(raw):
    _create_fails(
        raw,
        contains="Some index key attributes are not defined in AttributeDefinitions",
        GlobalSecondaryIndexes=[{
            "IndexName": "gsi-missing",
            "KeySchema": key_schema(("missing", "S")),
            "Projection": {"ProjectionType": "ALL"},
        }],
    )


def test_create_lsi_with_other_hash_key(raw):
    _create_fails(
        raw,
        contains="Index KeySchema does not have the same leading hash key as table KeySchema",
        KeySchema=key_schema(("pk", "S"), ("sk", "S")),
        AttributeDefinitions=attr_defs(("pk", "S"), ("sk", "S"), ("other", "S")),
        LocalSecondaryIndexes=[{
            "IndexName": "lsi-bad",
            "KeySchema": key_schema(("other", "S"), ("sk", "S")),
            "Projection": {"ProjectionType": "ALL"},
        }],
    )


def test_create_lsi_on_hash_only_table(raw):
    _create_fails(
        raw,
        contains="Table KeySchema does not have a range key, which is required when specifying "
                 "a LocalSecondaryIndex",
        AttributeDefinitions=attr_defs(("pk", "S"), ("l", "S")),
        LocalSecondaryIndexes=[{
            "IndexName": "lsi-bad",
            "KeySchema": key_schema(("pk", "S"), ("l", "S")),
            "Projection": {"ProjectionType": "ALL"},
        }],
    )


# --- DescribeTable / DeleteTable on missing tables -------------------------------------


def test_describe_missing_table(ddb):
    name = unique_table("missing")
    raises_ddb(
        "ResourceNotFoundException", ddb.describe_table, TableName=name,
        message=f"{NOT_FOUND_MESSAGE}: Table: {name} not found",
    )


def test_delete_missing_table(ddb):
    name = unique_table("missing")
    raises_ddb("ResourceNotFoundException", ddb.delete_table, TableName=name,
               message=f"{NOT_FOUND_MESSAGE}: Table: {name} not found")


def test_delete_table(ddb):
    name = unique_table()
    try:
        ddb.create_table(
            TableName=name, KeySchema=key_schema(("pk", "S")),
            AttributeDefinitions=attr_defs(("pk", "S")), BillingMode="PAY_PER_REQUEST",
        )
        wait_exists(ddb, name)
        ddb.put_item(TableName=name, Item={"pk": {"S": "x"}})
        resp = ddb.delete_table(TableName=name)
        desc = resp["TableDescription"]
        assert desc["TableName"] == name
        assert desc["TableArn"] == table_arn(name)
        assert desc["TableStatus"] in ("DELETING", "ACTIVE")
        ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=FAST_WAIT)
        raises_ddb("ResourceNotFoundException", ddb.describe_table, TableName=name)
        assert name not in _all_table_names(ddb)
        # Item operations on the deleted table fail the way they do on any missing table.
        raises_ddb("ResourceNotFoundException", ddb.get_item, TableName=name,
                   Key={"pk": {"S": "x"}}, message=NOT_FOUND_MESSAGE)
        # The name is free again, and the new table starts empty.
        ddb.create_table(
            TableName=name, KeySchema=key_schema(("pk", "S")),
            AttributeDefinitions=attr_defs(("pk", "S")), BillingMode="PAY_PER_REQUEST",
        )
        wait_exists(ddb, name)
        assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "x"}})
        assert ddb.scan(TableName=name)["Count"] == 0
    finally:
        delete_quietly(ddb, name)


# --- ListTables -------------------------------------------------------------------------


def _all_table_names(ddb, limit=None):
    names, start = [], None
    while True:
        args = {}
        if limit:
            args["Limit"] = limit
        if start:
            args["ExclusiveStartTableName"] = start
        page = ddb.list_tables(**args)
        if limit:
            assert len(page["TableNames"]) <= limit
        names += page["TableNames"]
        start = page.get("LastEvaluatedTableName")
        if not start:
            return names
        # LastEvaluatedTableName is the last name on the page.
        assert start == page["TableNames"][-1]


def test_list_tables_paginates_in_name_order(ddb, tables):
    prefix = unique_table("list")
    mine = [tables(name=f"{prefix}-{i}") for i in range(5)]
    everything = _all_table_names(ddb)
    assert everything == sorted(everything)
    assert len(everything) == len(set(everything))
    for name in mine:
        assert name in everything

    paged = _all_table_names(ddb, limit=2)
    assert paged == everything

    # Starting after one of ours lists the rest in order.
    page = ddb.list_tables(ExclusiveStartTableName=mine[1], Limit=2)
    assert page["TableNames"] == [mine[2], mine[3]]
    assert page["LastEvaluatedTableName"] == mine[3]


def test_list_tables_paginator(ddb, tables):
    prefix = unique_table("pagi")
    mine = [tables(name=f"{prefix}-{i}") for i in range(3)]
    names = []
    for page in ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 1}):
        names += page["TableNames"]
    assert [n for n in names if n.startswith(prefix)] == mine


def test_list_tables_limit_out_of_range(raw):
    raises_ddb("ValidationException", raw.list_tables, Limit=0)
    raises_ddb("ValidationException", raw.list_tables, Limit=101)


# --- UpdateTable ------------------------------------------------------------------------


def test_update_table_billing_mode_and_throughput(ddb, tables):
    name = tables()
    resp = ddb.update_table(
        TableName=name, BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 4, "WriteCapacityUnits": 6},
    )
    assert resp["TableDescription"]["TableName"] == name
    wait_exists(ddb, name)
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 4
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 6
    assert table.get("BillingModeSummary", {"BillingMode": "PROVISIONED"})["BillingMode"] == "PROVISIONED"

    ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    wait_exists(ddb, name)
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # The data stayed usable throughout.
    ddb.put_item(TableName=name, Item={"pk": {"S": "k"}})
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "k"}})["Item"] == {"pk": {"S": "k"}}


def test_update_missing_table(ddb):
    raises_ddb(
        "ResourceNotFoundException", ddb.update_table, TableName=unique_table("missing"),
        BillingMode="PAY_PER_REQUEST", contains=NOT_FOUND_MESSAGE,
    )


# --- resource API -----------------------------------------------------------------------


def test_resource_create_wait_and_attributes(server, ddb):
    dynamodb = ddb_resource(server)
    name = unique_table("res")
    try:
        table = dynamodb.create_table(
            TableName=name,
            KeySchema=key_schema(("user", "S"), ("ts", "N")),
            AttributeDefinitions=attr_defs(("user", "S"), ("ts", "N")),
            BillingMode="PAY_PER_REQUEST",
        )
        table.wait_until_exists(WaiterConfig=FAST_WAIT)
        table.reload()
        assert table.table_status == "ACTIVE"
        assert table.table_arn == table_arn(name)
        assert table.key_schema == key_schema(("user", "S"), ("ts", "N"))
        assert table.item_count == 0
        assert name in [t.name for t in dynamodb.tables.all()]
        table.delete()
        table.wait_until_not_exists(WaiterConfig=FAST_WAIT)
        with pytest.raises(ClientError) as excinfo:
            table.reload()
        assert_ddb_error(excinfo, "ResourceNotFoundException")
    finally:
        delete_quietly(ddb, name)


def test_update_table_adds_and_removes_a_gsi(ddb, tables):
    name = tables()
    for i in range(3):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "g": {"S": "grp" if i else "other"}})
    ddb.update_table(
        TableName=name,
        AttributeDefinitions=attr_defs(("pk", "S"), ("g", "S")),
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by-g", "KeySchema": key_schema(("g", "S")),
            "Projection": {"ProjectionType": "ALL"},
        }}],
    )

    def index_status():
        table = ddb.describe_table(TableName=name)["Table"]
        return {i["IndexName"]: i["IndexStatus"] for i in table.get("GlobalSecondaryIndexes", [])}

    helpers.wait_until(lambda: index_status().get("by-g") == "ACTIVE", 30,
                       message=lambda: f"index by-g ACTIVE (now {index_status()})")
    # Items written before the index existed are in it.
    resp = ddb.query(TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
                     ExpressionAttributeValues={":g": {"S": "grp"}})
    assert sorted(i["pk"]["S"] for i in resp["Items"]) == ["k1", "k2"]

    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-g"}}])
    helpers.wait_until(lambda: "by-g" not in index_status(), 30,
                       message=lambda: f"index by-g gone (now {index_status()})")
    raises_ddb("ValidationException", ddb.query, TableName=name, IndexName="by-g",
               KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": "grp"}})


# --- tags, time to live, backups: what tools like Terraform read back ---------------------------


def test_tags_on_a_table(ddb, tables):
    name = tables()
    arn = table_arn(name)
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == []
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "a"}])
    tags = ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "dev"), ("team", "a")]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    missing = table_arn(unique_table("missing"))
    raises_ddb("ResourceNotFoundException", ddb.tag_resource, ResourceArn=missing,
               Tags=[{"Key": "k", "Value": "v"}])


def test_create_table_with_tags(ddb, tables):
    name = tables(Tags=[{"Key": "owner", "Value": "me"}])
    assert ddb.list_tags_of_resource(ResourceArn=table_arn(name))["Tags"] == [
        {"Key": "owner", "Value": "me"}
    ]


def test_time_to_live_settings(ddb, tables):
    name = tables()
    desc = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert desc["TimeToLiveStatus"] == "DISABLED"
    resp = ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    assert resp["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "expires"}
    desc = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert desc["TimeToLiveStatus"] in ("ENABLING", "ENABLED")
    assert desc["AttributeName"] == "expires"
    raises_ddb("ResourceNotFoundException", ddb.describe_time_to_live,
               TableName=unique_table("missing"))


def test_describe_continuous_backups(ddb, tables):
    name = tables()
    desc = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert desc["ContinuousBackupsStatus"] in ("ENABLED", "DISABLED")
    assert desc["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
