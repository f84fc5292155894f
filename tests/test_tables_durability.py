"""Every acknowledged table write survives kill -9 of the server, and so do the tables."""

from concurrent.futures import ThreadPoolExecutor

from tables_support import create_table, ddb_client


def test_acknowledged_writes_survive_kill_9(server_factory):
    srv = server_factory()
    ddb = ddb_client(srv, max_pool_connections=8)
    table = create_table(ddb, range_key="sk", range_type="N")

    def write(i):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"p{i % 4}"}, "sk": {"N": str(i)},
                                            "body": {"S": "x" * 100}, "tags": {"SS": ["a", "b"]}})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(200)))
    ddb.update_item(TableName=table, Key={"pk": {"S": "p0"}, "sk": {"N": "0"}},
                    UpdateExpression="SET body = :b ADD n :one",
                    ExpressionAttributeValues={":b": {"S": "updated"}, ":one": {"N": "1"}})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"N": "1"}})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "sk": {"N": "1"}}}},
        {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "sk": {"N": "2"}}}},
    ])
    ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {"pk": {"S": "batch"}, "sk": {"N": str(i)}}}} for i in range(25)
    ]})

    srv.kill()
    srv = server_factory(data_dir=srv.data_dir)
    ddb = ddb_client(srv)

    desc = ddb.describe_table(TableName=table)["Table"]
    assert desc["TableStatus"] == "ACTIVE"
    assert [k["AttributeName"] for k in desc["KeySchema"]] == ["pk", "sk"]
    total = 0
    for p in ("p0", "p1", "p2", "p3"):
        resp = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues={":p": {"S": p}}, ConsistentRead=True)
        total += resp["Count"]
        assert [int(i["sk"]["N"]) for i in resp["Items"]] == sorted(
            i for i in range(200) if i % 4 == int(p[1]) and i != 1)
    assert total == 199
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "p0"}, "sk": {"N": "0"}})["Item"]
    assert item["body"] == {"S": "updated"} and item["n"] == {"N": "1"}
    assert sorted(item["tags"]["SS"]) == ["a", "b"]
    assert ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "tx"}})["Count"] == 2
    assert ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "batch"}})["Count"] == 25


def test_deleted_table_stays_deleted_after_kill_9(server_factory):
    srv = server_factory()
    ddb = ddb_client(srv)
    keep, gone = create_table(ddb), create_table(ddb)
    ddb.put_item(TableName=gone, Item={"pk": {"S": "x"}})
    ddb.delete_table(TableName=gone)
    srv.kill()
    srv = server_factory(data_dir=srv.data_dir)
    ddb = ddb_client(srv)
    names = ddb.list_tables()["TableNames"]
    assert keep in names and gone not in names
    # Recreating the name starts empty.
    create_table(ddb, name=gone)
    assert ddb.scan(TableName=gone)["Count"] == 0
