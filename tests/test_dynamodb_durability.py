"""DynamoDB durability and concurrency: every acknowledged write (and table) survives kill -9,
and concurrent conditional writes serialise (50 read-then-conditional-increment loops end at
exactly 50)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

import helpers
from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    assert_ddb_error,
    attr_defs,
    CCF_MESSAGE,
    ddb,
    ddb_client,
    key_schema,
    tables,
    unique_table,
    wait_exists,
)


def k(v):
    return {"pk": {"S": v}}


def test_acknowledged_writes_survive_kill_9(server_factory):
    srv = server_factory()
    ddb = ddb_client(srv)
    name = unique_table("durable")
    ddb.create_table(
        TableName=name,
        KeySchema=key_schema(("pk", "S"), ("sk", "N")),
        AttributeDefinitions=attr_defs(("pk", "S"), ("sk", "N"), ("g", "S")),
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": key_schema(("g", "S")),
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    wait_exists(ddb, name)
    doomed = unique_table("doomed")
    ddb.create_table(TableName=doomed, KeySchema=key_schema(("pk", "S")),
                     AttributeDefinitions=attr_defs(("pk", "S")), BillingMode="PAY_PER_REQUEST")
    wait_exists(ddb, doomed)
    ddb.delete_table(TableName=doomed)

    def key(i):
        return {"pk": {"S": "p"}, "sk": {"N": str(i)}}

    for i in range(20):
        ddb.put_item(TableName=name, Item={**key(i), "v": {"N": str(i)}, "g": {"S": f"g{i % 2}"}})
    ddb.update_item(TableName=name, Key=key(3), UpdateExpression="SET v = v + :d, s = :s",
                    ExpressionAttributeValues={":d": {"N": "100"}, ":s": {"SS": ["a", "b"]}})
    ddb.delete_item(TableName=name, Key=key(4))
    ddb.batch_write_item(RequestItems={name: [
        {"PutRequest": {"Item": {**key(100), "v": {"S": "batch"}}}},
        {"DeleteRequest": {"Key": key(5)}},
    ]})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": name, "Item": {**key(200), "v": {"S": "tx"}}}},
        {"Update": {"TableName": name, "Key": key(6), "UpdateExpression": "REMOVE g"}},
    ])
    # The very last acknowledged write, right before the crash.
    ddb.put_item(TableName=name, Item={**key(999), "v": {"S": "last"}})

    srv.kill()
    srv2 = server_factory(data_dir=srv.data_dir)
    ddb2 = ddb_client(srv2)

    table = ddb2.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == key_schema(("pk", "S"), ("sk", "N"))
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-g"]
    with pytest.raises(ClientError) as excinfo:
        ddb2.describe_table(TableName=doomed)
    assert_ddb_error(excinfo, "ResourceNotFoundException")

    def get(i):
        return ddb2.get_item(TableName=name, Key=key(i), ConsistentRead=True).get("Item")

    assert get(0)["v"] == {"N": "0"}
    assert get(19)["v"] == {"N": "19"}
    assert get(3)["v"] == {"N": "103"}
    assert sorted(get(3)["s"]["SS"]) == ["a", "b"]
    assert get(4) is None and get(5) is None
    assert get(100)["v"] == {"S": "batch"}
    assert get(200)["v"] == {"S": "tx"}
    assert "g" not in get(6)
    assert get(999)["v"] == {"S": "last"}

    resp = ddb2.query(TableName=name, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "p"}})
    assert [int(i["sk"]["N"]) for i in resp["Items"]] == (
        [i for i in range(20) if i not in (4, 5)] + [100, 200, 999]
    )
    resp = ddb2.query(TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
                      ExpressionAttributeValues={":g": {"S": "g0"}})
    assert sorted(int(i["sk"]["N"]) for i in resp["Items"]) == [0, 2, 8, 10, 12, 14, 16, 18]

    # And the restarted server keeps taking writes.
    ddb2.put_item(TableName=name, Item={**key(1000), "v": {"S": "after"}})
    assert get(1000)["v"] == {"S": "after"}


def test_writes_acknowledged_while_killed_mid_stream_survive(server_factory):
    """Eight writers put items as fast as they can; the server is killed -9 under them. Every
    write that got its 200 is there after the restart."""
    srv = server_factory()
    ddb = ddb_client(srv, connect_timeout=2, read_timeout=10)
    name = unique_table("midstream")
    ddb.create_table(TableName=name, KeySchema=key_schema(("pk", "S")),
                     AttributeDefinitions=attr_defs(("pk", "S")), BillingMode="PAY_PER_REQUEST")
    wait_exists(ddb, name)
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def writer(w):
        i = 0
        while not stop.is_set():
            key = f"w{w}-{i}"
            try:
                if i % 2:
                    ddb.put_item(TableName=name, Item={"pk": {"S": key}, "n": {"N": str(i)}})
                else:
                    ddb.update_item(TableName=name, Key={"pk": {"S": key}},
                                    UpdateExpression="SET n = :n",
                                    ExpressionAttributeValues={":n": {"N": str(i)}})
            except Exception:  # the server is gone: this write was never acknowledged
                return
            with lock:
                acked.append((key, i))
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for th in threads:
        th.start()
    helpers.wait_until(lambda: len(acked) >= 200, 30, message="200 acknowledged writes")
    srv.kill()
    stop.set()
    for th in threads:
        th.join(timeout=30)

    srv2 = server_factory(data_dir=srv.data_dir)
    ddb2 = ddb_client(srv2)
    stored = {}
    for page in ddb2.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
        for item in page["Items"]:
            stored[item["pk"]["S"]] = int(item["n"]["N"])
    missing = [key for key, i in acked if stored.get(key) != i]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged writes lost: {missing[:10]}"


def test_concurrent_conditional_increments_serialise(ddb, tables):
    name = tables()
    counter = k("counter")
    ddb.put_item(TableName=name, Item={**counter, "n": {"N": "0"}})
    workers = 50
    conflicts = []
    lock = threading.Lock()
    start = threading.Barrier(workers)

    def increment():
        start.wait(timeout=60)
        for _attempt in range(10_000):
            item = ddb.get_item(TableName=name, Key=counter, ConsistentRead=True)["Item"]
            current = int(item["n"]["N"])
            try:
                ddb.update_item(
                    TableName=name, Key=counter, UpdateExpression="SET n = :new",
                    ConditionExpression="n = :old",
                    ExpressionAttributeValues={":new": {"N": str(current + 1)},
                                               ":old": {"N": str(current)}},
                )
                return current + 1
            except ClientError as e:
                assert_ddb_error(e, "ConditionalCheckFailedException", message=CCF_MESSAGE)
                with lock:
                    conflicts.append(current)
        raise AssertionError("gave up after 10000 attempts")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda _: increment(), range(workers)))

    # Every loop won exactly one distinct value, and the counter ends at exactly 50.
    assert sorted(results) == list(range(1, workers + 1))
    final = ddb.get_item(TableName=name, Key=counter, ConsistentRead=True)["Item"]
    assert final["n"] == {"N": str(workers)}


def test_concurrent_atomic_adds_and_put_if_absent(ddb, tables):
    name = tables()
    workers, per_worker = 25, 8

    def work(w):
        won = 0
        for _ in range(per_worker):
            ddb.update_item(TableName=name, Key=k("sum"), UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})
        try:
            ddb.put_item(TableName=name, Item={**k("claim"), "owner": {"N": str(w)}},
                         ConditionExpression="attribute_not_exists(pk)")
            won += 1
        except ClientError as e:
            assert_ddb_error(e, "ConditionalCheckFailedException")
        return won

    with ThreadPoolExecutor(max_workers=workers) as pool:
        wins = sum(pool.map(work, range(workers)))
    assert wins == 1
    item = ddb.get_item(TableName=name, Key=k("sum"), ConsistentRead=True)["Item"]
    assert item["n"] == {"N": str(workers * per_worker)}


def test_concurrent_transactions_keep_a_total(ddb, tables):
    """Transfers between two accounts in parallel transactions never create or lose money."""
    name = tables()
    ddb.put_item(TableName=name, Item={**k("a"), "bal": {"N": "1000"}})
    ddb.put_item(TableName=name, Item={**k("b"), "bal": {"N": "1000"}})

    def transfer(i):
        src, dst = ("a", "b") if i % 2 else ("b", "a")
        for _ in range(200):
            try:
                ddb.transact_write_items(TransactItems=[
                    {"Update": {"TableName": name, "Key": k(src), "UpdateExpression": "SET bal = bal - :x",
                                "ConditionExpression": "bal >= :x",
                                "ExpressionAttributeValues": {":x": {"N": "7"}}}},
                    {"Update": {"TableName": name, "Key": k(dst), "UpdateExpression": "SET bal = bal + :x",
                                "ExpressionAttributeValues": {":x": {"N": "7"}}}},
                ])
                return 1
            except ClientError as e:
                code = e.response["Error"]["Code"]
                # A conflicting concurrent transaction may cancel this one; retry it.
                assert code in ("TransactionCanceledException", "TransactionConflictException"), e.response
        return 0

    with ThreadPoolExecutor(max_workers=20) as pool:
        done = sum(pool.map(transfer, range(40)))
    a = int(ddb.get_item(TableName=name, Key=k("a"), ConsistentRead=True)["Item"]["bal"]["N"])
    b = int(ddb.get_item(TableName=name, Key=k("b"), ConsistentRead=True)["Item"]["bal"]["N"])
    assert done == 40
    assert a + b == 2000
    assert a == 1000 and b == 1000  # 20 transfers each way


def test_client_request_token_outlives_a_restart(server_factory):
    """ClientRequestTokens are kept with the items: after kill -9 and a restart, a repeat of
    an acknowledged TransactWriteItems is still a no-op and a different request under the
    same token is still refused."""
    srv = server_factory()
    ddb = ddb_client(srv)
    name = unique_table("token")
    ddb.create_table(TableName=name, KeySchema=key_schema(("pk", "S")),
                     AttributeDefinitions=attr_defs(("pk", "S")), BillingMode="PAY_PER_REQUEST")
    wait_exists(ddb, name)

    def add(n):
        return {"ClientRequestToken": "restart-token-1", "TransactItems": [
            {"Update": {"TableName": name, "Key": k("a"), "UpdateExpression": "ADD n :n",
                        "ExpressionAttributeValues": {":n": {"N": str(n)}}}}]}

    ddb.transact_write_items(**add(1))
    srv.kill()
    srv2 = server_factory(data_dir=srv.data_dir)
    ddb2 = ddb_client(srv2)
    ddb2.transact_write_items(**add(1))
    item = ddb2.get_item(TableName=name, Key=k("a"), ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "1"}
    with pytest.raises(ClientError) as excinfo:
        ddb2.transact_write_items(**add(2))
    assert_ddb_error(excinfo, "IdempotentParameterMismatchException")
