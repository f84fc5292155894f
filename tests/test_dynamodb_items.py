"""DynamoDB items: PutItem, GetItem, DeleteItem, UpdateItem (every action and function,
ReturnValues), ConditionExpression with every function and operator, and the
ExpressionAttributeNames / ExpressionAttributeValues rules, through the client and the
resource API."""

from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    assert_ddb_error,
    CCF_MESSAGE,
    ddb,
    ddb_resource,
    KEY_SCHEMA_MESSAGE,
    NOT_FOUND_MESSAGE,
    raises_ddb,
    raw,
    table_arn,
    tables,
    unique_table,
)


@pytest.fixture(scope="module")
def t(tables):
    """A hash-only table (pk: S) shared by this module; tests use distinct keys."""
    return tables()


@pytest.fixture(scope="module")
def t2(tables):
    """A hash + range table (pk: S, sk: N)."""
    return tables(range_key=("sk", "N"))


_counter = [0]


def fresh_key():
    _counter[0] += 1
    return {"pk": {"S": f"item-{_counter[0]}-{unique_table('k')}"}}


def put(ddb, table, key, **attrs):
    item = dict(key)
    item.update(attrs)
    ddb.put_item(TableName=table, Item=item)
    return item


def get(ddb, table, key, **kwargs):
    return ddb.get_item(TableName=table, Key=key, ConsistentRead=True, **kwargs).get("Item")


# --- PutItem / GetItem / DeleteItem -----------------------------------------------------


def test_put_then_get(ddb, t):
    key = fresh_key()
    item = put(ddb, t, key, name={"S": "alice"}, age={"N": "30"})
    resp = ddb.put_item(TableName=t, Item=item)
    assert "Attributes" not in resp
    assert get(ddb, t, key) == item
    # Eventually consistent reads see it too (a single node is always consistent).
    assert ddb.get_item(TableName=t, Key=key)["Item"] == item


def test_get_missing_item_has_no_item(ddb, t):
    resp = ddb.get_item(TableName=t, Key=fresh_key())
    assert "Item" not in resp
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_put_replaces_whole_item_and_returns_all_old(ddb, t):
    key = fresh_key()
    first = put(ddb, t, key, a={"S": "1"}, b={"S": "2"})
    resp = ddb.put_item(TableName=t, Item={**key, "c": {"S": "3"}}, ReturnValues="ALL_OLD")
    assert resp["Attributes"] == first
    assert get(ddb, t, key) == {**key, "c": {"S": "3"}}
    # ALL_OLD on a new item returns nothing.
    resp = ddb.put_item(TableName=t, Item=fresh_key(), ReturnValues="ALL_OLD")
    assert "Attributes" not in resp


def test_put_return_values_other_than_all_old_rejected(ddb, t):
    # A value of the model's enum that PutItem does not take gets this message in us-east-1
    # ("Return values set to invalid value" is moto's wording, not AWS's).
    key = fresh_key()
    for rv in ("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"):
        raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key,
                   ReturnValues=rv, message="ReturnValues can only be ALL_OLD or NONE")
    assert get(ddb, t, key) is None


def test_delete_item_and_return_all_old(ddb, t):
    key = fresh_key()
    item = put(ddb, t, key, v={"N": "5"})
    resp = ddb.delete_item(TableName=t, Key=key, ReturnValues="ALL_OLD")
    assert resp["Attributes"] == item
    assert get(ddb, t, key) is None
    # Deleting a missing item succeeds and returns nothing.
    resp = ddb.delete_item(TableName=t, Key=key, ReturnValues="ALL_OLD")
    assert "Attributes" not in resp


def test_delete_return_values_all_new_rejected(ddb, t):
    key = fresh_key()
    put(ddb, t, key)
    raises_ddb("ValidationException", ddb.delete_item, TableName=t, Key=key,
               ReturnValues="ALL_NEW", message="ReturnValues can only be ALL_OLD or NONE")
    assert get(ddb, t, key) is not None


def test_hash_range_items_are_distinct(ddb, t2):
    pk = {"S": unique_table("hr")}
    for sk in ("1", "2", "10"):
        ddb.put_item(TableName=t2, Item={"pk": pk, "sk": {"N": sk}, "v": {"S": f"v{sk}"}})
    for sk in ("1", "2", "10"):
        item = get(ddb, t2, {"pk": pk, "sk": {"N": sk}})
        assert item["v"] == {"S": f"v{sk}"}
    # "10.0" is the same number as "10": the same key.
    assert get(ddb, t2, {"pk": pk, "sk": {"N": "10.0"}})["v"] == {"S": "v10"}


@pytest.mark.parametrize("key", [
    {"pk": {"S": "a"}},                                      # range key missing
    {"pk": {"S": "a"}, "sk": {"S": "1"}},                    # range key of the wrong type
    {"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "y"}},   # an extra attribute
    {"sk": {"N": "1"}},                                      # hash key missing
    {"pk": {"N": "1"}, "sk": {"N": "1"}},                    # hash key of the wrong type
])
def test_key_not_matching_schema(ddb, t2, key):
    raises_ddb("ValidationException", ddb.get_item, TableName=t2, Key=key,
               message=KEY_SCHEMA_MESSAGE)
    raises_ddb("ValidationException", ddb.delete_item, TableName=t2, Key=key,
               message=KEY_SCHEMA_MESSAGE)
    raises_ddb("ValidationException", ddb.update_item, TableName=t2, Key=key,
               UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "x"}},
               message=KEY_SCHEMA_MESSAGE)


def test_put_missing_key_attribute(ddb, t2):
    raises_ddb("ValidationException", ddb.put_item, TableName=t2,
               Item={"pk": {"S": "a"}, "v": {"S": "x"}},
               contains="Missing the key sk in the item")


def test_put_key_of_wrong_type(ddb, t2):
    raises_ddb("ValidationException", ddb.put_item, TableName=t2,
               Item={"pk": {"S": "a"}, "sk": {"S": "one"}},
               contains="Type mismatch for key sk expected: N actual: S")


def test_item_operations_on_missing_table(ddb):
    name = unique_table("missing")
    key = {"pk": {"S": "a"}}
    for call, kwargs in [
        (ddb.get_item, {"Key": key}),
        (ddb.put_item, {"Item": key}),
        (ddb.delete_item, {"Key": key}),
        (ddb.update_item, {"Key": key, "UpdateExpression": "SET a = :a",
                           "ExpressionAttributeValues": {":a": {"S": "x"}}}),
    ]:
        raises_ddb("ResourceNotFoundException", call, TableName=name, message=NOT_FOUND_MESSAGE,
                   **kwargs)
    for call, kwargs in [
        (ddb.query, {"KeyConditionExpression": "pk = :p",
                     "ExpressionAttributeValues": {":p": {"S": "a"}}}),
        (ddb.scan, {}),
    ]:
        resp = raises_ddb("ResourceNotFoundException", call, TableName=name, **kwargs)
        assert resp["Error"]["Message"].startswith(NOT_FOUND_MESSAGE), resp["Error"]


# --- ProjectionExpression ---------------------------------------------------------------


def test_projection_expression_top_level_nested_and_list_index(ddb, t):
    key = fresh_key()
    put(ddb, t, key,
        a={"S": "A"}, b={"N": "2"},
        m={"M": {"x": {"S": "X"}, "inr": {"M": {"deep": {"N": "7"}, "oth": {"S": "o"}}}}},
        l={"L": [{"S": "zero"}, {"S": "one"}, {"M": {"k": {"S": "v"}, "j": {"S": "w"}}}]})

    assert get(ddb, t, key, ProjectionExpression="a, b") == {"a": {"S": "A"}, "b": {"N": "2"}}
    assert get(ddb, t, key, ProjectionExpression="m.inr.deep") == {
        "m": {"M": {"inr": {"M": {"deep": {"N": "7"}}}}}
    }
    assert get(ddb, t, key, ProjectionExpression="l[1]") == {"l": {"L": [{"S": "one"}]}}
    assert get(ddb, t, key, ProjectionExpression="l[0], l[2].k") == {
        "l": {"L": [{"S": "zero"}, {"M": {"k": {"S": "v"}}}]}
    }
    # The projected paths are merged into the item's own structure, in the list's order.
    assert get(ddb, t, key, ProjectionExpression="l[2].k, l[0]") == {
        "l": {"L": [{"S": "zero"}, {"M": {"k": {"S": "v"}}}]}
    }
    assert get(ddb, t, key, ProjectionExpression="#m.#x, pk",
               ExpressionAttributeNames={"#m": "m", "#x": "x"}) == {
        "m": {"M": {"x": {"S": "X"}}}, **key
    }
    # Paths that match nothing are left out; if nothing matches, the item is empty.
    assert get(ddb, t, key, ProjectionExpression="a, nothere, m.nope, l[9]") == {"a": {"S": "A"}}
    assert ddb.get_item(TableName=t, Key=key, ProjectionExpression="nothere")["Item"] == {}


def test_projection_expression_reserved_word_needs_name(ddb, t):
    key = fresh_key()
    put(ddb, t, key, name={"S": "n"})
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key,
               ProjectionExpression="name",
               contains=["Invalid ProjectionExpression", "Attribute name is a reserved keyword",
                         "reserved keyword: name"])
    assert get(ddb, t, key, ProjectionExpression="#n",
               ExpressionAttributeNames={"#n": "name"}) == {"name": {"S": "n"}}


def test_projection_expression_syntax_error(ddb, t):
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=fresh_key(),
               ProjectionExpression="a,,b",
               contains=["Invalid ProjectionExpression", "Syntax error"])


# --- UpdateItem actions ---------------------------------------------------------------


def update(ddb, table, key, expr, values=None, names=None, **kwargs):
    args = {"TableName": table, "Key": key, "UpdateExpression": expr}
    if values:
        args["ExpressionAttributeValues"] = values
    if names:
        args["ExpressionAttributeNames"] = names
    args.update(kwargs)
    return ddb.update_item(**args)


def test_update_creates_missing_item(ddb, t):
    key = fresh_key()
    resp = update(ddb, t, key, "SET a = :a, b = :b", {":a": {"S": "x"}, ":b": {"N": "1"}},
                  ReturnValues="ALL_NEW")
    assert resp["Attributes"] == {**key, "a": {"S": "x"}, "b": {"N": "1"}}
    assert get(ddb, t, key) == resp["Attributes"]


def test_update_without_expression_creates_key_only_item(ddb, t):
    key = fresh_key()
    ddb.update_item(TableName=t, Key=key)
    assert get(ddb, t, key) == key


def test_update_set_arithmetic(ddb, t):
    key = fresh_key()
    put(ddb, t, key, n={"N": "10"}, m={"N": "3"})
    update(ddb, t, key, "SET n = n + :d, m = m - :d, s = :a + :b, r = n - m",
           {":d": {"N": "2.5"}, ":a": {"N": "1"}, ":b": {"N": "0.25"}})
    item = get(ddb, t, key)
    assert item["n"] == {"N": "12.5"}
    assert item["m"] == {"N": "0.5"}
    assert item["s"] == {"N": "1.25"}
    # Operands are read from the item before the update.
    assert item["r"] == {"N": "7"}


def test_update_if_not_exists(ddb, t):
    key = fresh_key()
    update(ddb, t, key, "SET c = if_not_exists(c, :zero) + :one, f = if_not_exists(f, :first)",
           {":zero": {"N": "0"}, ":one": {"N": "1"}, ":first": {"S": "first"}})
    update(ddb, t, key, "SET c = if_not_exists(c, :zero) + :one, f = if_not_exists(f, :first)",
           {":zero": {"N": "0"}, ":one": {"N": "1"}, ":first": {"S": "second"}})
    item = get(ddb, t, key)
    assert item["c"] == {"N": "2"}
    assert item["f"] == {"S": "first"}


def test_update_list_append(ddb, t):
    key = fresh_key()
    put(ddb, t, key, l={"L": [{"N": "1"}]})
    update(ddb, t, key, "SET l = list_append(l, :more)", {":more": {"L": [{"N": "2"}, {"N": "3"}]}})
    update(ddb, t, key, "SET l = list_append(:front, l)", {":front": {"L": [{"S": "0"}]}})
    update(ddb, t, key, "SET n = list_append(if_not_exists(n, :empty), :one)",
           {":empty": {"L": []}, ":one": {"L": [{"BOOL": True}]}})
    item = get(ddb, t, key)
    assert item["l"] == {"L": [{"S": "0"}, {"N": "1"}, {"N": "2"}, {"N": "3"}]}
    assert item["n"] == {"L": [{"BOOL": True}]}


def test_update_list_append_on_non_list_is_rejected(ddb, t):
    key = fresh_key()
    put(ddb, t, key, s={"S": "text"})
    raises_ddb("ValidationException", update, ddb, t, key, "SET s = list_append(s, :l)",
               {":l": {"L": [{"S": "x"}]}})
    assert get(ddb, t, key)["s"] == {"S": "text"}


def test_update_nested_map_and_list_paths(ddb, t):
    key = fresh_key()
    put(ddb, t, key,
        m={"M": {"inr": {"M": {"a": {"N": "1"}}}}},
        l={"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]})
    update(ddb, t, key, "SET m.inr.b = :b, m.inr.a = m.inr.a + :one, l[1] = :B, l[10] = :d",
           {":b": {"S": "new"}, ":one": {"N": "1"}, ":B": {"S": "B"}, ":d": {"S": "d"}})
    item = get(ddb, t, key)
    assert item["m"] == {"M": {"inr": {"M": {"a": {"N": "2"}, "b": {"S": "new"}}}}}
    # An index beyond the end appends.
    assert item["l"] == {"L": [{"S": "a"}, {"S": "B"}, {"S": "c"}, {"S": "d"}]}

    update(ddb, t, key, "REMOVE m.inr.a, l[0], l[2]")
    item = get(ddb, t, key)
    assert item["m"] == {"M": {"inr": {"M": {"b": {"S": "new"}}}}}
    assert item["l"] == {"L": [{"S": "B"}, {"S": "d"}]}


def test_update_nested_path_with_missing_parent_is_rejected(ddb, t):
    key = fresh_key()
    put(ddb, t, key, m={"M": {}})
    raises_ddb("ValidationException", update, ddb, t, key, "SET m.a.b = :v", {":v": {"S": "x"}},
               contains="The document path provided in the update expression is invalid for update")
    raises_ddb("ValidationException", update, ddb, t, key, "SET nothere.b = :v", {":v": {"S": "x"}},
               contains="The document path provided in the update expression is invalid for update")
    assert get(ddb, t, key) == {**key, "m": {"M": {}}}


def test_update_remove(ddb, t):
    key = fresh_key()
    put(ddb, t, key, a={"S": "1"}, b={"S": "2"}, c={"S": "3"})
    update(ddb, t, key, "REMOVE a, c, notthere")
    assert get(ddb, t, key) == {**key, "b": {"S": "2"}}


def test_update_add_numbers_and_sets(ddb, t):
    key = fresh_key()
    put(ddb, t, key, n={"N": "5"}, ss={"SS": ["a", "b"]})
    update(ddb, t, key, "ADD n :three, fresh :seven, ss :more, ns :nums",
           {":three": {"N": "3"}, ":seven": {"N": "-7"}, ":more": {"SS": ["b", "c"]},
            ":nums": {"NS": ["1", "2"]}})
    item = get(ddb, t, key)
    assert item["n"] == {"N": "8"}
    assert item["fresh"] == {"N": "-7"}
    assert sorted(item["ss"]["SS"]) == ["a", "b", "c"]
    assert sorted(item["ns"]["NS"]) == ["1", "2"]


def test_update_add_to_wrong_type_rejected(ddb, t):
    key = fresh_key()
    put(ddb, t, key, s={"S": "text"}, ss={"SS": ["a"]})
    raises_ddb("ValidationException", update, ddb, t, key, "ADD s :one", {":one": {"N": "1"}},
               contains="An operand in the update expression has an incorrect data type")
    raises_ddb("ValidationException", update, ddb, t, key, "ADD ss :nums", {":nums": {"NS": ["1"]}},
               contains="An operand in the update expression has an incorrect data type")
    assert get(ddb, t, key) == {**key, "s": {"S": "text"}, "ss": {"SS": ["a"]}}


def test_update_delete_from_sets(ddb, t):
    key = fresh_key()
    put(ddb, t, key, ss={"SS": ["a", "b", "c"]}, ns={"NS": ["1", "2"]}, bs={"BS": [b"\x01", b"\x02"]})
    update(ddb, t, key, "DELETE ss :x, ns :all, bs :one",
           {":x": {"SS": ["a", "zzz"]}, ":all": {"NS": ["1", "2"]}, ":one": {"BS": [b"\x01"]}})
    item = get(ddb, t, key)
    assert sorted(item["ss"]["SS"]) == ["b", "c"]
    # Deleting every element removes the attribute (sets are never empty).
    assert "ns" not in item
    assert item["bs"] == {"BS": [b"\x02"]}


def test_update_set_and_remove_and_add_together(ddb, t):
    key = fresh_key()
    put(ddb, t, key, a={"S": "a"}, gone={"S": "x"}, n={"N": "1"})
    update(ddb, t, key, "SET a = :b REMOVE gone ADD n :one", {":b": {"S": "b"}, ":one": {"N": "1"}})
    assert get(ddb, t, key) == {**key, "a": {"S": "b"}, "n": {"N": "2"}}


def test_update_key_attribute_is_rejected(ddb, t):
    key = fresh_key()
    put(ddb, t, key)
    raises_ddb("ValidationException", update, ddb, t, key, "SET pk = :v", {":v": {"S": "other"}},
               contains="Cannot update attribute pk. This attribute is part of the key")
    assert get(ddb, t, key) == key


def test_update_operand_on_missing_attribute(ddb, t):
    key = fresh_key()
    put(ddb, t, key)
    raises_ddb("ValidationException", update, ddb, t, key, "SET n = n + :one", {":one": {"N": "1"}},
               contains="The provided expression refers to an attribute that does not exist in the item")


def test_update_overlapping_paths(ddb, t):
    key = fresh_key()
    put(ddb, t, key, a={"M": {"b": {"S": "x"}}})
    raises_ddb("ValidationException", update, ddb, t, key, "SET a = :v REMOVE a.b",
               {":v": {"S": "y"}},
               contains=["Invalid UpdateExpression", "Two document paths overlap with each other"])
    raises_ddb("ValidationException", update, ddb, t, key, "SET x = :v, x = :v", {":v": {"S": "y"}},
               contains="Two document paths overlap with each other")


@pytest.mark.parametrize("expr", ["SET", "SET a = ", "SET a :v", "REMOVE", "UPSERT a = :v",
                                  "SET a = :v SET b = :v"])
def test_update_syntax_errors(ddb, t, expr):
    key = fresh_key()
    values = {":v": {"S": "x"}} if ":v" in expr else None
    raises_ddb("ValidationException", update, ddb, t, key, expr, values,
               contains="Invalid UpdateExpression")
    assert get(ddb, t, key) is None


def test_update_return_values(ddb, t):
    key = fresh_key()
    put(ddb, t, key, a={"S": "a1"}, b={"N": "1"}, c={"S": "keep"})
    expr = "SET a = :a, b = b + :one"

    def values(n):
        return {":a": {"S": f"a{n}"}, ":one": {"N": "1"}}

    # Each update sets a to a{n} and b to n.
    resp = update(ddb, t, key, expr, values(2))
    assert "Attributes" not in resp
    resp = update(ddb, t, key, expr, values(3), ReturnValues="NONE")
    assert "Attributes" not in resp
    resp = update(ddb, t, key, expr, values(4), ReturnValues="ALL_OLD")
    assert resp["Attributes"] == {**key, "a": {"S": "a3"}, "b": {"N": "3"}, "c": {"S": "keep"}}
    resp = update(ddb, t, key, expr, values(5), ReturnValues="UPDATED_OLD")
    assert resp["Attributes"] == {"a": {"S": "a4"}, "b": {"N": "4"}}
    resp = update(ddb, t, key, expr, values(6), ReturnValues="ALL_NEW")
    assert resp["Attributes"] == {**key, "a": {"S": "a6"}, "b": {"N": "6"}, "c": {"S": "keep"}}
    resp = update(ddb, t, key, expr, values(7), ReturnValues="UPDATED_NEW")
    assert resp["Attributes"] == {"a": {"S": "a7"}, "b": {"N": "7"}}
    assert get(ddb, t, key) == {**key, "a": {"S": "a7"}, "b": {"N": "7"}, "c": {"S": "keep"}}


def test_update_return_values_with_remove_and_new_item(ddb, t):
    key = fresh_key()
    # ALL_OLD / UPDATED_OLD of an item that did not exist: nothing.
    resp = update(ddb, t, key, "SET a = :a", {":a": {"S": "x"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in resp
    put(ddb, t, key, a={"S": "x"}, b={"S": "y"})
    resp = update(ddb, t, key, "REMOVE b", ReturnValues="UPDATED_OLD")
    assert resp["Attributes"] == {"b": {"S": "y"}}
    resp = update(ddb, t, key, "REMOVE a SET c = :c", {":c": {"S": "z"}}, ReturnValues="UPDATED_NEW")
    assert resp["Attributes"] == {"c": {"S": "z"}}


def test_update_return_values_nested(ddb, t):
    key = fresh_key()
    put(ddb, t, key, m={"M": {"a": {"N": "1"}, "b": {"N": "2"}}})
    resp = update(ddb, t, key, "SET m.a = :v", {":v": {"N": "9"}}, ReturnValues="UPDATED_NEW")
    assert resp["Attributes"] == {"m": {"M": {"a": {"N": "9"}}}}
    resp = update(ddb, t, key, "SET m.a = :v", {":v": {"N": "10"}}, ReturnValues="UPDATED_OLD")
    assert resp["Attributes"] == {"m": {"M": {"a": {"N": "9"}}}}


# --- ConditionExpression --------------------------------------------------------------


@pytest.fixture(scope="module")
def cond_item(ddb, t):
    """One item with every kind of attribute the condition tests look at."""
    key = {"pk": {"S": unique_table("cond")}}
    put(ddb, t, key,
        s={"S": "hello world"}, n={"N": "10"}, n9={"N": "9"},
        b={"B": b"\x00\x01\x02"}, t={"BOOL": True}, z={"NULL": True},
        l={"L": [{"S": "x"}, {"N": "1"}, {"S": "y"}]},
        m={"M": {"k": {"S": "v"}, "deep": {"M": {"n": {"N": "5"}}}}},
        ss={"SS": ["red", "green"]}, ns={"NS": ["1", "2", "3"]}, bs={"BS": [b"a"]},
        status={"S": "active"})
    return key


TRUE_CONDITIONS = [
    ("attribute_exists(s)", {}),
    ("attribute_exists(m.deep.n)", {}),
    ("attribute_exists(l[2])", {}),
    ("attribute_not_exists(nothere)", {}),
    ("attribute_not_exists(m.nope)", {}),
    ("attribute_not_exists(l[3])", {}),
    ("attribute_type(s, :S)", {":S": {"S": "S"}}),
    ("attribute_type(n, :N)", {":N": {"S": "N"}}),
    ("attribute_type(b, :B)", {":B": {"S": "B"}}),
    ("attribute_type(t, :BOOL)", {":BOOL": {"S": "BOOL"}}),
    ("attribute_type(z, :NULL)", {":NULL": {"S": "NULL"}}),
    ("attribute_type(l, :L)", {":L": {"S": "L"}}),
    ("attribute_type(m, :M)", {":M": {"S": "M"}}),
    ("attribute_type(ss, :SS)", {":SS": {"S": "SS"}}),
    ("attribute_type(ns, :NS)", {":NS": {"S": "NS"}}),
    ("attribute_type(bs, :BS)", {":BS": {"S": "BS"}}),
    ("begins_with(s, :p)", {":p": {"S": "hello"}}),
    ("begins_with(b, :p)", {":p": {"B": b"\x00\x01"}}),
    ("contains(s, :sub)", {":sub": {"S": "o w"}}),
    ("contains(ss, :e)", {":e": {"S": "green"}}),
    ("contains(ns, :e)", {":e": {"N": "2"}}),
    ("contains(l, :e)", {":e": {"N": "1"}}),
    ("contains(l, :e)", {":e": {"S": "y"}}),
    ("size(s) = :n", {":n": {"N": "11"}}),
    ("size(l) = :n", {":n": {"N": "3"}}),
    ("size(m) = :n", {":n": {"N": "2"}}),
    ("size(ss) = :n", {":n": {"N": "2"}}),
    ("size(b) = :n", {":n": {"N": "3"}}),
    ("size(s) > size(l)", {}),
    ("n = :v", {":v": {"N": "10"}}),
    ("n = :v", {":v": {"N": "10.00"}}),
    ("n <> :v", {":v": {"N": "11"}}),
    ("n < :v", {":v": {"N": "11"}}),
    ("n <= :v", {":v": {"N": "10"}}),
    ("n > :v", {":v": {"N": "9"}}),
    ("n > n9", {}),
    ("n >= :v", {":v": {"N": "10"}}),
    ("s < :v", {":v": {"S": "z"}}),
    ("s > :v", {":v": {"S": "hello"}}),
    ("b < :v", {":v": {"B": b"\x01"}}),
    ("m.deep.n = :v", {":v": {"N": "5"}}),
    ("l[0] = :v", {":v": {"S": "x"}}),
    ("t = :v", {":v": {"BOOL": True}}),
    ("ss = :v", {":v": {"SS": ["green", "red"]}}),
    ("l = :v", {":v": {"L": [{"S": "x"}, {"N": "1.0"}, {"S": "y"}]}}),
    ("m = :v", {":v": {"M": {"deep": {"M": {"n": {"N": "5"}}}, "k": {"S": "v"}}}}),
    ("z = :v", {":v": {"NULL": True}}),
    ("m.k <> :v", {":v": {"N": "1"}}),
    ("n BETWEEN :lo AND :hi", {":lo": {"N": "10"}, ":hi": {"N": "10"}}),
    ("n BETWEEN :lo AND :hi", {":lo": {"N": "-5"}, ":hi": {"N": "100"}}),
    ("s BETWEEN :lo AND :hi", {":lo": {"S": "a"}, ":hi": {"S": "i"}}),
    ("n IN (:a, :b, :c)", {":a": {"N": "1"}, ":b": {"N": "10"}, ":c": {"N": "100"}}),
    ("s IN (:a)", {":a": {"S": "hello world"}}),
    ("n = :a AND s = :b", {":a": {"N": "10"}, ":b": {"S": "hello world"}}),
    ("n = :a OR s = :b", {":a": {"N": "0"}, ":b": {"S": "hello world"}}),
    ("NOT n = :a", {":a": {"N": "0"}}),
    ("NOT attribute_exists(nothere)", {}),
    # AND binds tighter than OR.
    ("n = :yes OR n = :no AND n = :no", {":yes": {"N": "10"}, ":no": {"N": "0"}}),
    ("(n = :no OR n = :yes) AND s = :s", {":yes": {"N": "10"}, ":no": {"N": "0"},
                                          ":s": {"S": "hello world"}}),
    ("NOT (n = :no AND n = :yes)", {":yes": {"N": "10"}, ":no": {"N": "0"}}),
    ("#st = :a", {":a": {"S": "active"}}),
    ("attribute_exists(#st) and begins_with(#st, :p)", {":p": {"S": "act"}}),
]

FALSE_CONDITIONS = [
    ("attribute_exists(nothere)", {}),
    ("attribute_exists(m.nope)", {}),
    ("attribute_not_exists(s)", {}),
    ("attribute_type(s, :N)", {":N": {"S": "N"}}),
    ("attribute_type(ss, :L)", {":L": {"S": "L"}}),
    ("begins_with(s, :p)", {":p": {"S": "world"}}),
    ("begins_with(nothere, :p)", {":p": {"S": "a"}}),
    ("contains(s, :sub)", {":sub": {"S": "xyz"}}),
    ("contains(ss, :e)", {":e": {"S": "blue"}}),
    ("contains(l, :e)", {":e": {"S": "1"}}),
    ("size(s) = :n", {":n": {"N": "10"}}),
    ("size(nothere) > :n", {":n": {"N": "0"}}),
    ("n = :v", {":v": {"N": "9"}}),
    # Different types never compare equal, and never order.
    ("n = :v", {":v": {"S": "10"}}),
    ("n < :v", {":v": {"S": "99"}}),
    ("n <> :v", {":v": {"N": "10"}}),
    ("n < :v", {":v": {"N": "10"}}),
    ("n <= :v", {":v": {"N": "9.99"}}),
    # Numbers compare as numbers: 10 > 9 although "10" < "9" as strings.
    ("n < n9", {}),
    ("n >= :v", {":v": {"N": "10.0001"}}),
    ("nothere = :v", {":v": {"N": "1"}}),
    ("nothere < :v", {":v": {"N": "1"}}),
    ("n BETWEEN :lo AND :hi", {":lo": {"N": "11"}, ":hi": {"N": "20"}}),
    ("n IN (:a, :b)", {":a": {"N": "1"}, ":b": {"S": "10"}}),
    ("n = :a AND s = :b", {":a": {"N": "10"}, ":b": {"S": "nope"}}),
    ("n = :a OR s = :b", {":a": {"N": "0"}, ":b": {"S": "nope"}}),
    ("NOT n = :a", {":a": {"N": "10"}}),
    ("(n = :yes OR n = :no) AND n = :no", {":yes": {"N": "10"}, ":no": {"N": "0"}}),
    ("#st = :a", {":a": {"S": "inactive"}}),
    # Lists compare element by element, in order.
    ("l = :v", {":v": {"L": [{"S": "y"}, {"N": "1"}, {"S": "x"}]}}),
    ("m = :v", {":v": {"M": {"k": {"S": "v"}}}}),
]


def _condition_args(expr, values):
    args = {"ConditionExpression": expr}
    if values:
        args["ExpressionAttributeValues"] = values
    if "#st" in expr:
        args["ExpressionAttributeNames"] = {"#st": "status"}
    return args


@pytest.mark.parametrize("expr,values", TRUE_CONDITIONS)
def test_condition_true_lets_the_write_happen(ddb, t, cond_item, expr, values):
    args = _condition_args(expr, values)
    vals = dict(args.get("ExpressionAttributeValues", {}))
    vals[":marker"] = {"S": expr}
    args["ExpressionAttributeValues"] = vals
    ddb.update_item(TableName=t, Key=cond_item, UpdateExpression="SET marker = :marker", **args)
    assert get(ddb, t, cond_item)["marker"] == {"S": expr}


@pytest.mark.parametrize("expr,values", FALSE_CONDITIONS)
def test_condition_false_is_conditional_check_failed(ddb, t, cond_item, expr, values):
    before = get(ddb, t, cond_item)
    args = _condition_args(expr, values)
    vals = dict(args.get("ExpressionAttributeValues", {}))
    vals[":marker"] = {"S": "must not be written"}
    args["ExpressionAttributeValues"] = vals
    raises_ddb("ConditionalCheckFailedException", ddb.update_item, TableName=t, Key=cond_item,
               UpdateExpression="SET marker = :marker", message=CCF_MESSAGE, **args)
    assert get(ddb, t, cond_item) == before


def test_put_if_not_exists(ddb, t):
    key = fresh_key()
    ddb.put_item(TableName=t, Item={**key, "v": {"N": "1"}},
                 ConditionExpression="attribute_not_exists(pk)")
    raises_ddb("ConditionalCheckFailedException", ddb.put_item, TableName=t,
               Item={**key, "v": {"N": "2"}}, ConditionExpression="attribute_not_exists(pk)",
               message=CCF_MESSAGE)
    assert get(ddb, t, key)["v"] == {"N": "1"}


def test_conditions_on_missing_item(ddb, t):
    key = fresh_key()
    # Against an item that does not exist, attribute_exists is false ...
    raises_ddb("ConditionalCheckFailedException", ddb.update_item, TableName=t, Key=key,
               UpdateExpression="SET a = :a", ConditionExpression="attribute_exists(pk)",
               ExpressionAttributeValues={":a": {"S": "x"}}, message=CCF_MESSAGE)
    raises_ddb("ConditionalCheckFailedException", ddb.delete_item, TableName=t, Key=key,
               ConditionExpression="attribute_exists(pk)", message=CCF_MESSAGE)
    assert get(ddb, t, key) is None
    # ... and comparisons are false too.
    raises_ddb("ConditionalCheckFailedException", ddb.put_item, TableName=t, Item=key,
               ConditionExpression="v = :v", ExpressionAttributeValues={":v": {"N": "1"}},
               message=CCF_MESSAGE)
    assert get(ddb, t, key) is None


def test_conditional_delete(ddb, t):
    key = fresh_key()
    put(ddb, t, key, version={"N": "3"})
    raises_ddb("ConditionalCheckFailedException", ddb.delete_item, TableName=t, Key=key,
               ConditionExpression="version = :v", ExpressionAttributeValues={":v": {"N": "2"}},
               message=CCF_MESSAGE)
    assert get(ddb, t, key) is not None
    ddb.delete_item(TableName=t, Key=key, ConditionExpression="version = :v",
                    ExpressionAttributeValues={":v": {"N": "3"}})
    assert get(ddb, t, key) is None


def test_condition_failure_can_return_the_item(ddb, t):
    key = fresh_key()
    item = put(ddb, t, key, v={"N": "1"})
    resp = raises_ddb("ConditionalCheckFailedException", ddb.put_item, TableName=t,
                      Item={**key, "v": {"N": "2"}}, ConditionExpression="v = :two",
                      ExpressionAttributeValues={":two": {"N": "2"}},
                      ReturnValuesOnConditionCheckFailure="ALL_OLD", message=CCF_MESSAGE)
    assert resp["Item"] == item


@pytest.mark.parametrize("expr", [
    "attribute_exists(a", "a = ", "a == :v", "a BETWEEN :v", "a IN ()", "unknown_fn(a)",
    "size(a)", "a = :v AND", "AND a = :v",
])
def test_condition_syntax_errors(ddb, t, expr):
    key = fresh_key()
    values = {":v": {"S": "x"}} if ":v" in expr else None
    args = {"ConditionExpression": expr}
    if values:
        args["ExpressionAttributeValues"] = values
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key,
               contains="Invalid ConditionExpression", **args)
    assert get(ddb, t, key) is None


def test_attribute_type_with_invalid_type_name(ddb, t, cond_item):
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=fresh_key(),
               ConditionExpression="attribute_type(s, :t)",
               ExpressionAttributeValues={":t": {"S": "STRING"}},
               contains="Invalid ConditionExpression")


# --- ExpressionAttributeNames / ExpressionAttributeValues ------------------------------


def test_unused_expression_attribute_value(ddb, t):
    key = fresh_key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key,
               ConditionExpression="attribute_not_exists(pk)",
               ExpressionAttributeValues={":x": {"S": "unused"}},
               message="Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}")
    raises_ddb("ValidationException", update, ddb, t, key, "SET a = :a",
               {":a": {"S": "x"}, ":x": {"S": "unused"}},
               message="Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}")
    assert get(ddb, t, key) is None


def test_unused_expression_attribute_name(ddb, t):
    key = fresh_key()
    raises_ddb("ValidationException", update, ddb, t, key, "SET a = :a", {":a": {"S": "x"}},
               {"#n": "name"},
               message="Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}")
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key,
               ProjectionExpression="a", ExpressionAttributeNames={"#n": "name"},
               message="Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}")
    assert get(ddb, t, key) is None


def test_undefined_expression_attribute_value(ddb, t):
    key = fresh_key()
    raises_ddb("ValidationException", update, ddb, t, key, "SET a = :nope",
               message="Invalid UpdateExpression: An expression attribute value used in expression "
                       "is not defined; attribute value: :nope")
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key,
               ConditionExpression="a = :nope",
               message="Invalid ConditionExpression: An expression attribute value used in "
                       "expression is not defined; attribute value: :nope")
    assert get(ddb, t, key) is None


def test_undefined_expression_attribute_name(ddb, t):
    key = fresh_key()
    raises_ddb("ValidationException", update, ddb, t, key, "SET #nope = :a", {":a": {"S": "x"}},
               message="Invalid UpdateExpression: An expression attribute name used in the "
                       "document path is not defined; attribute name: #nope")
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key,
               ConditionExpression="attribute_exists(#nope)",
               message="Invalid ConditionExpression: An expression attribute name used in the "
                       "document path is not defined; attribute name: #nope")
    assert get(ddb, t, key) is None


@pytest.mark.parametrize("word", ["status", "name", "data", "count", "timestamp", "year", "value"])
def test_reserved_words_need_names(ddb, t, word):
    key = fresh_key()
    raises_ddb("ValidationException", update, ddb, t, key, f"SET {word} = :v", {":v": {"S": "x"}},
               contains=["Invalid UpdateExpression", "Attribute name is a reserved keyword",
                         f"reserved keyword: {word}"])
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key,
               ConditionExpression=f"attribute_not_exists({word})",
               contains=["Invalid ConditionExpression", "Attribute name is a reserved keyword"])
    assert get(ddb, t, key) is None
    update(ddb, t, key, "SET #w = :v", {":v": {"S": "x"}}, {"#w": word},
           ConditionExpression="attribute_not_exists(#w)")
    assert get(ddb, t, key)[word] == {"S": "x"}


def test_names_may_hold_dots_and_stand_for_one_attribute(ddb, t):
    key = fresh_key()
    update(ddb, t, key, "SET #dotted = :v, #m = :m", {":v": {"S": "flat"}, ":m": {"M": {"a": {"S": "nested"}}}},
           {"#dotted": "m.a", "#m": "m"})
    item = get(ddb, t, key)
    assert item["m.a"] == {"S": "flat"}
    assert item["m"] == {"M": {"a": {"S": "nested"}}}
    assert get(ddb, t, key, ProjectionExpression="#d", ExpressionAttributeNames={"#d": "m.a"}) == {
        "m.a": {"S": "flat"}
    }


def test_values_without_expression_rejected(ddb, t):
    key = fresh_key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key,
               ExpressionAttributeValues={":v": {"S": "x"}},
               contains="ExpressionAttributeValues can only be specified when using expressions")
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key,
               ExpressionAttributeNames={"#n": "a"},
               contains="ExpressionAttributeNames can only be specified when using expressions")
    assert get(ddb, t, key) is None


def test_empty_expression_attribute_maps_rejected(ddb, t):
    key = fresh_key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key,
               ConditionExpression="attribute_not_exists(pk)", ExpressionAttributeValues={},
               contains="ExpressionAttributeValues must not be empty")
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key,
               ConditionExpression="attribute_not_exists(pk)", ExpressionAttributeNames={},
               contains="ExpressionAttributeNames must not be empty")
    assert get(ddb, t, key) is None


# --- resource API -----------------------------------------------------------------------


def test_resource_put_get_update_delete(server, t):
    table = ddb_resource(server).Table(t)
    pk = unique_table("res")
    table.put_item(Item={"pk": pk, "count": 1, "price": Decimal("9.99"), "tags": {"a", "b"},
                         "profile": {"name": "Ann", "langs": ["en", "fr"]}, "ok": True,
                         "nothing": None})
    item = table.get_item(Key={"pk": pk}, ConsistentRead=True)["Item"]
    assert item == {"pk": pk, "count": Decimal(1), "price": Decimal("9.99"), "tags": {"a", "b"},
                    "profile": {"name": "Ann", "langs": ["en", "fr"]}, "ok": True, "nothing": None}

    resp = table.update_item(
        Key={"pk": pk},
        UpdateExpression="SET #c = #c + :inc, profile.#n = :n ADD tags :t REMOVE nothing",
        ConditionExpression=Attr("ok").eq(True) & Attr("price").lt(Decimal("10")),
        ExpressionAttributeNames={"#c": "count", "#n": "name"},
        ExpressionAttributeValues={":inc": 2, ":n": "Bo", ":t": {"c"}},
        ReturnValues="ALL_NEW",
    )
    assert resp["Attributes"]["count"] == 3
    assert resp["Attributes"]["profile"]["name"] == "Bo"
    assert resp["Attributes"]["tags"] == {"a", "b", "c"}
    assert "nothing" not in resp["Attributes"]

    with pytest.raises(ClientError) as excinfo:
        table.put_item(Item={"pk": pk}, ConditionExpression=Attr("pk").not_exists())
    assert_ddb_error(excinfo, "ConditionalCheckFailedException", message=CCF_MESSAGE)

    old = table.delete_item(Key={"pk": pk}, ReturnValues="ALL_OLD")["Attributes"]
    assert old["count"] == 3
    assert "Item" not in table.get_item(Key={"pk": pk})


# --- ReturnConsumedCapacity -------------------------------------------------------------


def test_return_consumed_capacity_total(ddb, t):
    key = fresh_key()
    resp = ddb.put_item(TableName=t, Item=key, ReturnConsumedCapacity="TOTAL")
    assert resp["ConsumedCapacity"]["TableName"] == t
    assert resp["ConsumedCapacity"]["CapacityUnits"] >= 1
    resp = ddb.get_item(TableName=t, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert resp["ConsumedCapacity"]["TableName"] == t
    assert resp["ConsumedCapacity"]["CapacityUnits"] >= 1
    # Without it, none is reported.
    assert "ConsumedCapacity" not in ddb.get_item(TableName=t, Key=key)


def test_table_arn_in_place_of_the_name(ddb, t):
    key = fresh_key()
    ddb.put_item(TableName=table_arn(t), Item={**key, "v": {"S": "by arn"}})
    assert ddb.get_item(TableName=table_arn(t), Key=key)["Item"]["v"] == {"S": "by arn"}
    assert get(ddb, t, key)["v"] == {"S": "by arn"}
    assert ddb.describe_table(TableName=table_arn(t))["Table"]["TableName"] == t
