"""DynamoDB BatchWriteItem, BatchGetItem, TransactWriteItems and TransactGetItems: across
tables, all or nothing, TransactionCanceledException with its CancellationReasons, and the
documented request limits."""

import pytest
from botocore.exceptions import ClientError

from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    assert_ddb_error,
    CCF_MESSAGE,
    ddb,
    ddb_resource,
    NOT_FOUND_MESSAGE,
    raises_ddb,
    raw,
    tables,
    unique_table,
)


@pytest.fixture(scope="module")
def ta(tables):
    return tables()


@pytest.fixture(scope="module")
def tb(tables):
    return tables(range_key=("sk", "N"))


def k(value):
    return {"pk": {"S": value}}


def kb(value, sk):
    return {"pk": {"S": value}, "sk": {"N": str(sk)}}


def get(ddb, table, key):
    return ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def prefix():
    return unique_table("b")


# --- BatchWriteItem -------------------------------------------------------------------


def test_batch_write_puts_and_deletes_across_tables(ddb, ta, tb):
    p = prefix()
    ddb.put_item(TableName=ta, Item={**k(f"{p}-old"), "v": {"S": "old"}})
    resp = ddb.batch_write_item(RequestItems={
        ta: [
            {"PutRequest": {"Item": {**k(f"{p}-1"), "v": {"N": "1"}}}},
            {"PutRequest": {"Item": {**k(f"{p}-2"), "v": {"N": "2"}}}},
            {"DeleteRequest": {"Key": k(f"{p}-old")}},
            {"DeleteRequest": {"Key": k(f"{p}-never-existed")}},
        ],
        tb: [{"PutRequest": {"Item": {**kb(p, i), "v": {"S": f"b{i}"}}}} for i in range(3)],
    })
    assert resp["UnprocessedItems"] == {}
    assert get(ddb, ta, k(f"{p}-1"))["v"] == {"N": "1"}
    assert get(ddb, ta, k(f"{p}-2"))["v"] == {"N": "2"}
    assert get(ddb, ta, k(f"{p}-old")) is None
    for i in range(3):
        assert get(ddb, tb, kb(p, i))["v"] == {"S": f"b{i}"}


def test_batch_write_25_items_accepted_26_rejected(ddb, raw, ta):
    p = prefix()
    ok = [{"PutRequest": {"Item": k(f"{p}-{i}")}} for i in range(25)]
    assert ddb.batch_write_item(RequestItems={ta: ok})["UnprocessedItems"] == {}
    too_many = [{"PutRequest": {"Item": k(f"{p}-x{i}")}} for i in range(26)]
    raises_ddb("ValidationException", raw.batch_write_item, RequestItems={ta: too_many})
    assert get(ddb, ta, k(f"{p}-x0")) is None


def test_batch_write_duplicate_keys_rejected(ddb, ta):
    p = prefix()
    raises_ddb("ValidationException", ddb.batch_write_item, RequestItems={ta: [
        {"PutRequest": {"Item": {**k(p), "v": {"N": "1"}}}},
        {"DeleteRequest": {"Key": k(p)}},
    ]}, message="Provided list of item keys contains duplicates")
    assert get(ddb, ta, k(p)) is None


def test_batch_write_invalid_item_rejects_whole_batch(ddb, ta, tb):
    p = prefix()
    raises_ddb("ValidationException", ddb.batch_write_item, RequestItems={
        ta: [{"PutRequest": {"Item": k(f"{p}-good")}}],
        tb: [{"PutRequest": {"Item": k(f"{p}-no-sort-key")}}],
    })
    assert get(ddb, ta, k(f"{p}-good")) is None


def test_batch_write_missing_table(ddb, ta):
    p = prefix()
    raises_ddb("ResourceNotFoundException", ddb.batch_write_item, RequestItems={
        ta: [{"PutRequest": {"Item": k(p)}}],
        unique_table("missing"): [{"PutRequest": {"Item": k(p)}}],
    }, contains=NOT_FOUND_MESSAGE)
    assert get(ddb, ta, k(p)) is None


def test_batch_write_empty_request_rejected(raw):
    raises_ddb("ValidationException", raw.batch_write_item, RequestItems={})


# --- BatchGetItem -----------------------------------------------------------------------


def test_batch_get_across_tables_with_missing_keys_and_projection(ddb, ta, tb):
    p = prefix()
    for i in range(3):
        ddb.put_item(TableName=ta, Item={**k(f"{p}-{i}"), "v": {"N": str(i)}, "w": {"S": "w"}})
        ddb.put_item(TableName=tb, Item={**kb(p, i), "v": {"N": str(i)}})
    resp = ddb.batch_get_item(RequestItems={
        ta: {"Keys": [k(f"{p}-0"), k(f"{p}-2"), k(f"{p}-missing")],
             "ProjectionExpression": "#v", "ExpressionAttributeNames": {"#v": "v"}},
        tb: {"Keys": [kb(p, 1), kb(p, 9)], "ConsistentRead": True},
    })
    assert resp["UnprocessedKeys"] == {}
    assert sorted(resp["Responses"][ta], key=lambda i: i["v"]["N"]) == [{"v": {"N": "0"}}, {"v": {"N": "2"}}]
    assert resp["Responses"][tb] == [{**kb(p, 1), "v": {"N": "1"}}]


def test_batch_get_limits_and_errors(ddb, raw, ta):
    p = prefix()
    resp = raises_ddb("ValidationException", raw.batch_get_item,
                      RequestItems={ta: {"Keys": [k(f"{p}-{i}") for i in range(101)]}})
    # Either the model's length constraint or the BatchGetItem limit names the problem.
    message = resp["Error"]["Message"]
    assert ("Too many items requested for the BatchGetItem call" in message
            or "Member must have length less than or equal to 100" in message), message
    raises_ddb("ValidationException", ddb.batch_get_item,
               RequestItems={ta: {"Keys": [k(p), k(p)]}},
               message="Provided list of item keys contains duplicates")
    raises_ddb("ValidationException", ddb.batch_get_item,
               RequestItems={ta: {"Keys": [{"pk": {"N": "1"}}]}},
               message="The provided key element does not match the schema")
    raises_ddb("ResourceNotFoundException", ddb.batch_get_item,
               RequestItems={unique_table("missing"): {"Keys": [k(p)]}}, contains=NOT_FOUND_MESSAGE)
    # 100 keys is the documented maximum and is accepted.
    resp = ddb.batch_get_item(RequestItems={ta: {"Keys": [k(f"{p}-{i}") for i in range(100)]}})
    assert resp["Responses"][ta] == []


def test_resource_batch_writer_and_batch_get(server, ta):
    dynamodb = ddb_resource(server)
    table = dynamodb.Table(ta)
    p = prefix()
    with table.batch_writer() as writer:
        for i in range(60):
            writer.put_item(Item={"pk": f"{p}-{i}", "n": i, "tags": {"x", f"t{i}"}})
        writer.delete_item(Key={"pk": f"{p}-0"})
    resp = dynamodb.batch_get_item(RequestItems={
        ta: {"Keys": [{"pk": f"{p}-{i}"} for i in range(60)]}
    })
    got = {i["pk"]: i for i in resp["Responses"][ta]}
    # The writer sends the delete after the put, in a later batch, so item 0 is gone.
    assert len(got) == 59 and f"{p}-0" not in got
    assert got[f"{p}-7"] == {"pk": f"{p}-7", "n": 7, "tags": {"x", "t7"}}


# --- TransactWriteItems -----------------------------------------------------------------


def test_transact_write_all_actions_succeed(ddb, ta, tb):
    p = prefix()
    ddb.put_item(TableName=ta, Item={**k(f"{p}-upd"), "n": {"N": "1"}})
    ddb.put_item(TableName=ta, Item={**k(f"{p}-del"), "x": {"S": "x"}})
    ddb.put_item(TableName=tb, Item={**kb(p, 1), "state": {"S": "open"}})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": ta, "Item": {**k(f"{p}-new"), "v": {"S": "new"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": ta, "Key": k(f"{p}-upd"), "UpdateExpression": "SET n = n + :one",
                    "ConditionExpression": "n = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": ta, "Key": k(f"{p}-del"), "ConditionExpression": "attribute_exists(x)"}},
        {"ConditionCheck": {"TableName": tb, "Key": kb(p, 1), "ConditionExpression": "#s = :open",
                            "ExpressionAttributeNames": {"#s": "state"},
                            "ExpressionAttributeValues": {":open": {"S": "open"}}}},
    ])
    assert get(ddb, ta, k(f"{p}-new"))["v"] == {"S": "new"}
    assert get(ddb, ta, k(f"{p}-upd"))["n"] == {"N": "2"}
    assert get(ddb, ta, k(f"{p}-del")) is None
    assert get(ddb, tb, kb(p, 1)) == {**kb(p, 1), "state": {"S": "open"}}


def test_transact_write_is_all_or_nothing(ddb, ta, tb):
    p = prefix()
    ddb.put_item(TableName=ta, Item={**k(f"{p}-upd"), "n": {"N": "1"}})
    ddb.put_item(TableName=ta, Item={**k(f"{p}-del")})
    ddb.put_item(TableName=tb, Item={**kb(p, 1), "state": {"S": "closed"}})
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": ta, "Item": k(f"{p}-new")}},
            {"Update": {"TableName": ta, "Key": k(f"{p}-upd"), "UpdateExpression": "SET n = :v",
                        "ExpressionAttributeValues": {":v": {"N": "100"}}}},
            {"Delete": {"TableName": ta, "Key": k(f"{p}-del")}},
            {"ConditionCheck": {"TableName": tb, "Key": kb(p, 1), "ConditionExpression": "#s = :open",
                                "ExpressionAttributeNames": {"#s": "state"},
                                "ExpressionAttributeValues": {":open": {"S": "open"}}}},
        ])
    resp = assert_ddb_error(
        excinfo, "TransactionCanceledException",
        message="Transaction cancelled, please refer cancellation reasons for specific reasons "
                "[None, None, None, ConditionalCheckFailed]",
    )
    reasons = resp["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "None", "None", "ConditionalCheckFailed"]
    assert reasons[3]["Message"] == CCF_MESSAGE
    # "the message field is omitted entirely for an item that has no error"
    assert all("Message" not in r for r in reasons[:3])
    # Nothing happened.
    assert get(ddb, ta, k(f"{p}-new")) is None
    assert get(ddb, ta, k(f"{p}-upd"))["n"] == {"N": "1"}
    assert get(ddb, ta, k(f"{p}-del")) is not None


def test_transact_write_reasons_for_several_failures_and_return_old(ddb, ta):
    p = prefix()
    ddb.put_item(TableName=ta, Item={**k(f"{p}-a"), "v": {"N": "1"}})
    ddb.put_item(TableName=ta, Item={**k(f"{p}-b"), "v": {"N": "2"}})
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": ta, "Item": k(f"{p}-a"), "ConditionExpression": "attribute_not_exists(pk)",
                     "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Put": {"TableName": ta, "Item": k(f"{p}-c")}},
            {"Update": {"TableName": ta, "Key": k(f"{p}-b"), "UpdateExpression": "SET v = :v",
                        "ConditionExpression": "v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "9"}}}},
        ])
    resp = assert_ddb_error(
        excinfo, "TransactionCanceledException",
        message="Transaction cancelled, please refer cancellation reasons for specific reasons "
                "[ConditionalCheckFailed, None, ConditionalCheckFailed]",
    )
    reasons = resp["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None", "ConditionalCheckFailed"]
    assert reasons[0]["Item"] == {**k(f"{p}-a"), "v": {"N": "1"}}
    assert "Item" not in reasons[2]
    assert get(ddb, ta, k(f"{p}-c")) is None
    assert get(ddb, ta, k(f"{p}-b"))["v"] == {"N": "2"}


def test_transact_write_same_item_twice_rejected(ddb, ta):
    p = prefix()
    raises_ddb("ValidationException", ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": ta, "Item": k(p)}},
        {"Update": {"TableName": ta, "Key": k(p), "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "1"}}}},
    ], message="Transaction request cannot include multiple operations on one item")
    assert get(ddb, ta, k(p)) is None


def test_transact_write_limits(ddb, raw, ta):
    p = prefix()
    # 100 actions is the documented maximum.
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": ta, "Item": k(f"{p}-{i}")}} for i in range(100)
    ])
    assert get(ddb, ta, k(f"{p}-99")) is not None
    raises_ddb("ValidationException", raw.transact_write_items, TransactItems=[
        {"Put": {"TableName": ta, "Item": k(f"{p}-x{i}")}} for i in range(101)
    ])
    assert get(ddb, ta, k(f"{p}-x0")) is None
    raises_ddb("ValidationException", raw.transact_write_items, TransactItems=[])


def test_transact_write_invalid_action_rejected_before_anything(ddb, ta, tb):
    p = prefix()
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": ta, "Item": k(p)}},
            {"Put": {"TableName": tb, "Item": k(p)}},  # no sort key
        ])
    code = excinfo.value.response["Error"]["Code"]
    assert code in ("ValidationException", "TransactionCanceledException"), excinfo.value.response
    assert get(ddb, ta, k(p)) is None


def test_transact_write_missing_table(ddb, ta):
    p = prefix()
    raises_ddb("ResourceNotFoundException", ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": ta, "Item": k(p)}},
        {"Put": {"TableName": unique_table("missing"), "Item": k(p)}},
    ], contains=NOT_FOUND_MESSAGE)
    assert get(ddb, ta, k(p)) is None


def test_transact_write_client_request_token_is_idempotent(ddb, ta):
    p = prefix()
    token = unique_table("token")
    items = [{"Update": {"TableName": ta, "Key": k(p), "UpdateExpression": "ADD n :one",
                         "ExpressionAttributeValues": {":one": {"N": "1"}}}}]
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    # The same token within ten minutes is the same transaction: applied once.
    assert get(ddb, ta, k(p))["n"] == {"N": "1"}


# --- TransactGetItems -------------------------------------------------------------------


def test_transact_get_items(ddb, ta, tb):
    p = prefix()
    ddb.put_item(TableName=ta, Item={**k(p), "v": {"S": "a"}, "w": {"S": "w"}})
    ddb.put_item(TableName=tb, Item={**kb(p, 5), "v": {"S": "b"}})
    resp = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": ta, "Key": k(p)}},
        {"Get": {"TableName": ta, "Key": k(f"{p}-missing")}},
        {"Get": {"TableName": tb, "Key": kb(p, 5), "ProjectionExpression": "#v",
                 "ExpressionAttributeNames": {"#v": "v"}}},
    ])
    responses = resp["Responses"]
    assert len(responses) == 3
    assert responses[0]["Item"] == {**k(p), "v": {"S": "a"}, "w": {"S": "w"}}
    assert "Item" not in responses[1]
    assert responses[2]["Item"] == {"v": {"S": "b"}}


def test_transact_get_errors(ddb, raw, ta):
    p = prefix()
    raises_ddb("ValidationException", ddb.transact_get_items, TransactItems=[
        {"Get": {"TableName": ta, "Key": {"pk": {"N": "1"}}}},
    ])
    raises_ddb("ResourceNotFoundException", ddb.transact_get_items, TransactItems=[
        {"Get": {"TableName": unique_table("missing"), "Key": k(p)}},
    ], contains=NOT_FOUND_MESSAGE)
    raises_ddb("ValidationException", raw.transact_get_items, TransactItems=[
        {"Get": {"TableName": ta, "Key": k(f"{p}-{i}")}} for i in range(101)
    ])


def test_batch_get_returns_at_most_16_mb_and_the_rest_as_unprocessed(ddb, tables):
    name = tables()
    blob = "y" * (300 * 1024)
    keys = [k(f"big-{i}") for i in range(60)]  # about 18 MB in all
    for start in range(0, len(keys), 20):
        ddb.batch_write_item(RequestItems={name: [
            {"PutRequest": {"Item": {**key, "d": {"S": blob}}}} for key in keys[start:start + 20]
        ]})
    resp = ddb.batch_get_item(RequestItems={name: {"Keys": keys}})
    got = resp["Responses"][name]
    assert 0 < len(got) < 60
    assert len(got) * len(blob) <= 16 * 1024 * 1024
    unprocessed = resp["UnprocessedKeys"][name]["Keys"]
    assert len(got) + len(unprocessed) == 60
    again = ddb.batch_get_item(RequestItems={name: {"Keys": unprocessed}})
    seen = {i["pk"]["S"] for i in got} | {i["pk"]["S"] for i in again["Responses"][name]}
    assert seen == {key["pk"]["S"] for key in keys}


def test_transact_write_same_token_other_request_is_a_mismatch(ddb, ta):
    p = prefix()
    token = unique_table("token")
    ddb.transact_write_items(ClientRequestToken=token, TransactItems=[
        {"Put": {"TableName": ta, "Item": {**k(p), "v": {"N": "1"}}}}])
    raises_ddb("IdempotentParameterMismatchException", ddb.transact_write_items,
               ClientRequestToken=token,
               TransactItems=[{"Put": {"TableName": ta, "Item": {**k(p), "v": {"N": "2"}}}}])
    assert get(ddb, ta, k(p))["v"] == {"N": "1"}
