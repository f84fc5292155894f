"""Concurrent conditional writes serialise: optimistic read-then-conditional-write loops,
atomic counters and transactions from many threads lose no update."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tables_support import create_table, ddb_client

WORKERS = 50


@pytest.fixture(scope="module")
def ddb(server):
    return ddb_client(server, max_pool_connections=WORKERS)


def test_fifty_read_then_conditional_increment_loops_end_at_fifty(ddb):
    table = create_table(ddb)
    key = {"pk": {"S": "counter"}}
    ddb.put_item(TableName=table, Item={**key, "n": {"N": "0"}})

    def increment_once():
        attempts = 0
        while True:
            attempts += 1
            current = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["n"]["N"]
            try:
                ddb.put_item(
                    TableName=table,
                    Item={**key, "n": {"N": str(int(current) + 1)}},
                    ConditionExpression="n = :seen",
                    ExpressionAttributeValues={":seen": {"N": current}},
                )
                return attempts
            except ClientError as e:
                if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    with ThreadPoolExecutor(WORKERS) as pool:
        attempts = list(pool.map(lambda _: increment_once(), range(WORKERS)))

    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "50"}
    # Each loop succeeded exactly once; the retries are the lost races.
    assert len(attempts) == WORKERS and all(a >= 1 for a in attempts)


def test_parallel_atomic_adds_and_create_if_absent(ddb):
    table = create_table(ddb)
    key = {"pk": {"S": "adds"}}

    def add(i):
        ddb.update_item(TableName=table, Key=key, UpdateExpression="ADD n :one, seen :me",
                        ExpressionAttributeValues={":one": {"N": "1"}, ":me": {"NS": [str(i)]}})

    def claim(i):
        try:
            ddb.put_item(TableName=table, Item={"pk": {"S": "lock"}, "owner": {"N": str(i)}},
                         ConditionExpression="attribute_not_exists(pk)")
            return True
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(add, range(WORKERS)))
        claims = list(pool.map(claim, range(WORKERS)))

    item = ddb.get_item(TableName=table, Key=key)["Item"]
    assert item["n"] == {"N": str(WORKERS)}
    assert sorted(int(x) for x in item["seen"]["NS"]) == list(range(WORKERS))
    assert claims.count(True) == 1


def test_parallel_transfers_keep_the_total(ddb):
    table = create_table(ddb)
    for name in ("a", "b"):
        ddb.put_item(TableName=table, Item={"pk": {"S": name}, "bal": {"N": "100"}})

    def transfer(i):
        src, dst = ("a", "b") if i % 2 else ("b", "a")
        try:
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": table, "Key": {"pk": {"S": src}},
                            "UpdateExpression": "SET bal = bal - :x",
                            "ConditionExpression": "bal >= :x",
                            "ExpressionAttributeValues": {":x": {"N": "7"}}}},
                {"Update": {"TableName": table, "Key": {"pk": {"S": dst}},
                            "UpdateExpression": "SET bal = bal + :x",
                            "ExpressionAttributeValues": {":x": {"N": "7"}}}},
            ])
        except ClientError as e:
            assert e.response["Error"]["Code"] == "TransactionCanceledException"

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(transfer, range(WORKERS * 2)))

    bal = [int(ddb.get_item(TableName=table, Key={"pk": {"S": n}})["Item"]["bal"]["N"])
           for n in ("a", "b")]
    assert sum(bal) == 200 and min(bal) >= 0
