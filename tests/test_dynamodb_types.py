"""DynamoDB attribute types: every type round-trips; numbers have DynamoDB's semantics (38
significant digits, numeric comparison, normalised output, Decimal through the resource API);
the 400 KB item limit; empty strings, empty or duplicated sets and malformed values are
rejected with ValidationException and change nothing."""

import os
from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary

from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    ddb,
    ddb_resource,
    raises_ddb,
    raw,
    tables,
    unique_table,
)

MAX_ITEM = 400 * 1024


@pytest.fixture(scope="module")
def t(tables):
    return tables()


@pytest.fixture(scope="module")
def tn(tables):
    """Numeric hash key and numeric sort key."""
    return tables(hash_key=("id", "N"), range_key=("at", "N"))


@pytest.fixture(scope="module")
def tbin(tables):
    return tables(hash_key=("id", "B"))


def key():
    return {"pk": {"S": unique_table("ty")}}


def get(ddb, table, k):
    return ddb.get_item(TableName=table, Key=k, ConsistentRead=True).get("Item")


def normalise_sets(item):
    """Sets come back in no particular order: sort them for comparison."""
    out = {}
    for name, value in item.items():
        (tag, inner), = value.items()
        if tag in ("SS", "NS", "BS"):
            out[name] = {tag: sorted(inner)}
        elif tag == "M":
            out[name] = {"M": normalise_sets(inner)}
        elif tag == "L":
            out[name] = {"L": [list(normalise_sets({"x": v}).values())[0] for v in inner]}
        else:
            out[name] = value
    return out


def test_every_type_round_trips(ddb, t):
    k = key()
    item = {
        **k,
        "s": {"S": "héllo ✓ 𝄞"},
        "empty_s": {"S": ""},
        "n": {"N": "-12.5"},
        "b": {"B": bytes(range(256))},
        "empty_b": {"B": b""},
        "yes": {"BOOL": True},
        "no": {"BOOL": False},
        "nul": {"NULL": True},
        "l": {"L": [{"S": "a"}, {"N": "1"}, {"L": []}, {"M": {}}, {"NULL": True}, {"SS": ["x"]}]},
        "m": {"M": {"nested": {"M": {"deep": {"L": [{"BOOL": False}]}}}, "sp ace": {"S": "x"}}},
        "ss": {"SS": ["b", "a", "c"]},
        "ns": {"NS": ["3", "1", "2.5"]},
        "bs": {"BS": [b"\x02", b"\x00", b"\xff"]},
    }
    ddb.put_item(TableName=t, Item=item)
    assert normalise_sets(get(ddb, t, k)) == normalise_sets(item)
    # The same through Scan / Query paths.
    resp = ddb.query(TableName=t, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": k["pk"]})
    assert normalise_sets(resp["Items"][0]) == normalise_sets(item)


def test_numeric_and_binary_keys(ddb, tn, tbin):
    ddb.put_item(TableName=tn, Item={"id": {"N": "9"}, "at": {"N": "1"}})
    ddb.put_item(TableName=tn, Item={"id": {"N": "9"}, "at": {"N": "10"}})
    ddb.put_item(TableName=tn, Item={"id": {"N": "9"}, "at": {"N": "-3.5"}})
    ddb.put_item(TableName=tn, Item={"id": {"N": "9"}, "at": {"N": "2"}})
    resp = ddb.query(TableName=tn, KeyConditionExpression="id = :i",
                     ExpressionAttributeValues={":i": {"N": "9.0"}})
    assert [i["at"]["N"] for i in resp["Items"]] == ["-3.5", "1", "2", "10"]
    assert [i["id"]["N"] for i in resp["Items"]] == ["9"] * 4

    ddb.put_item(TableName=tbin, Item={"id": {"B": b"\x00\xff"}, "v": {"S": "bin"}})
    assert get(ddb, tbin, {"id": {"B": b"\x00\xff"}})["v"] == {"S": "bin"}
    assert get(ddb, tbin, {"id": {"B": b"\x00\xfe"}}) is None


@pytest.mark.parametrize("given,stored", [
    ("1.50", "1.5"),
    ("0010", "10"),
    ("1e2", "100"),
    ("1E+2", "100"),
    ("12.000", "12"),
    ("0.0001", "0.0001"),
    ("123456789012345678901234567890.12345678", "123456789012345678901234567890.12345678"),
    ("-5E-3", "-0.005"),
])
def test_numbers_are_normalised(ddb, t, given, stored):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "n": {"N": given}, "ns": {"NS": [given]}})
    item = get(ddb, t, k)
    assert item["n"] == {"N": stored}
    assert item["ns"] == {"NS": [stored]}


def test_38_significant_digits_accepted_39_rejected(ddb, t):
    k = key()
    digits38 = "12345678901234567890123456789012345678"
    ddb.put_item(TableName=t, Item={**k, "n": {"N": digits38}, "f": {"N": "0." + digits38},
                                    "neg": {"N": "-" + digits38}})
    item = get(ddb, t, k)
    assert item["n"] == {"N": digits38}
    assert item["f"] == {"N": "0." + digits38}
    assert item["neg"] == {"N": "-" + digits38}

    k2 = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t,
               Item={**k2, "n": {"N": digits38 + "9"}},
               contains="Attempting to store more than 38 significant digits in a Number")
    raises_ddb("ValidationException", ddb.put_item, TableName=t,
               Item={**k2, "n": {"N": "1." + digits38}},
               contains="Attempting to store more than 38 significant digits in a Number")
    assert get(ddb, t, k2) is None
    # Leading and trailing zeros are not significant.
    ddb.put_item(TableName=t, Item={**k2, "n": {"N": "000" + digits38 + "000"}})
    assert get(ddb, t, k2)["n"] == {"N": digits38 + "000"}


def test_arithmetic_keeps_38_digit_precision(ddb, t):
    k = key()
    big = "9" * 37 + "8"
    ddb.put_item(TableName=t, Item={**k, "n": {"N": big}, "f": {"N": "0.1"}})
    ddb.update_item(TableName=t, Key=k, UpdateExpression="SET n = n + :one, f = f + :two",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":two": {"N": "0.2"}})
    item = get(ddb, t, k)
    assert item["n"] == {"N": "9" * 38}
    # Decimal arithmetic, not binary floating point.
    assert item["f"] == {"N": "0.3"}


def test_number_range(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "hi": {"N": "9.9999999999999999999999999999999999999E+125"},
                                    "lo": {"N": "1E-130"}, "neg": {"N": "-1E-130"}})
    item = get(ddb, t, k)
    assert item["lo"] == {"N": "1E-130"} or Decimal(item["lo"]["N"]) == Decimal("1E-130")
    assert Decimal(item["hi"]["N"]) == Decimal("9.9999999999999999999999999999999999999E+125")
    k2 = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item={**k2, "n": {"N": "1E+126"}},
               contains="Number overflow")
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item={**k2, "n": {"N": "1E-131"}},
               contains="Number underflow")
    assert get(ddb, t, k2) is None


@pytest.mark.parametrize("bad", ["abc", "", "1.2.3", "0x10", "NaN", "Infinity", "-Infinity", "1e",
                                 "--1", " 1", "1 "])
def test_invalid_numbers_rejected(ddb, t, bad):
    k = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item={**k, "n": {"N": bad}})
    assert get(ddb, t, k) is None


@pytest.mark.parametrize("given,value", [
    ("+3", "3"), (".123", "0.123"), ("0001.23", "1.23"), ("1e+5", "100000"), ("-17e5", "-1700000"),
    ("0e1000", "0"),
])
def test_unusual_but_valid_number_forms(ddb, t, given, value):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "n": {"N": given}})
    assert Decimal(get(ddb, t, k)["n"]["N"]) == Decimal(value)


def test_arithmetic_beyond_range_or_precision_rejected(ddb, t):
    k = key()
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=k,
               UpdateExpression="SET b = :a + :b",
               ExpressionAttributeValues={":a": {"N": "9e125"}, ":b": {"N": "9e125"}},
               contains="overflow")
    # 1e50 + 1 needs 51 significant digits.
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=k,
               UpdateExpression="SET b = :a + :b",
               ExpressionAttributeValues={":a": {"N": "1e50"}, ":b": {"N": "1"}})
    assert get(ddb, t, k) is None


def test_numbers_compare_numerically(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "n": {"N": "10"}})
    ddb.update_item(TableName=t, Key=k, UpdateExpression="SET ok = :t",
                    ConditionExpression="n > :nine AND n < :hundred AND n = :ten",
                    ExpressionAttributeValues={":nine": {"N": "9"}, ":hundred": {"N": "100"},
                                               ":ten": {"N": "1E1"}, ":t": {"BOOL": True}})
    assert get(ddb, t, k)["ok"] == {"BOOL": True}


# --- sets -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [{"SS": []}, {"NS": []}, {"BS": []}])
def test_empty_sets_rejected(raw, t, value):
    k = key()
    raises_ddb("ValidationException", raw.put_item, TableName=t, Item={**k, "s": value},
               contains="may not be empty")
    assert raw.get_item(TableName=t, Key=k).get("Item") is None


@pytest.mark.parametrize("value", [
    {"SS": ["a", "a"]}, {"NS": ["1", "1"]}, {"NS": ["1", "1.0"]}, {"BS": [b"x", b"x"]},
])
def test_sets_with_duplicates_rejected(ddb, t, value):
    k = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item={**k, "s": value},
               contains="contains duplicates")
    assert get(ddb, t, k) is None


def test_empty_set_in_expression_values_rejected(raw, t):
    k = key()
    raises_ddb("ValidationException", raw.update_item, TableName=t, Key=k,
               UpdateExpression="ADD s :e", ExpressionAttributeValues={":e": {"SS": []}})
    assert raw.get_item(TableName=t, Key=k).get("Item") is None


# --- malformed attribute values ------------------------------------------------------------


@pytest.mark.parametrize("value,fragment", [
    ({}, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
    ({"S": "a", "N": "1"}, "Supplied AttributeValue has more than one datatypes set"),
])
def test_malformed_attribute_values_rejected(raw, t, value, fragment):
    k = key()
    raises_ddb("ValidationException", raw.put_item, TableName=t, Item={**k, "a": value},
               contains=fragment)
    assert raw.get_item(TableName=t, Key=k).get("Item") is None


# --- keys -------------------------------------------------------------------------------


def test_empty_string_key_rejected(ddb, t):
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item={"pk": {"S": ""}},
               contains="The AttributeValue for a key attribute cannot contain an empty string value")
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key={"pk": {"S": ""}},
               contains="The AttributeValue for a key attribute cannot contain an empty string value")


def test_empty_binary_key_rejected(ddb, tbin):
    raises_ddb("ValidationException", ddb.put_item, TableName=tbin, Item={"id": {"B": b""}},
               contains="The AttributeValue for a key attribute cannot contain an empty binary value")


def test_key_size_limits(ddb, t, tables):
    ddb.put_item(TableName=t, Item={"pk": {"S": "k" * 2048}})
    assert get(ddb, t, {"pk": {"S": "k" * 2048}}) is not None
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item={"pk": {"S": "k" * 2049}},
               contains="Size of hashkey has exceeded the maximum size limit")
    tr = tables(range_key=("sk", "S"))
    ddb.put_item(TableName=tr, Item={"pk": {"S": "a"}, "sk": {"S": "s" * 1024}})
    raises_ddb("ValidationException", ddb.put_item, TableName=tr,
               Item={"pk": {"S": "a"}, "sk": {"S": "s" * 1025}},
               contains="Aggregated size of all range keys has exceeded the size limit")


def test_largest_keys_of_incompressible_bytes(ddb, tables):
    """A 2048-byte partition key beside a 1024-byte sort key, of bytes that do not compress:
    stored, read back, queried and deleted (on PostgreSQL such a pair would not fit in a plain
    index entry)."""
    tb = tables(hash_key=("pk", "B"), range_key=("sk", "B"))
    pk, sk = os.urandom(2048), os.urandom(1024)
    key = {"pk": {"B": pk}, "sk": {"B": sk}}
    ddb.put_item(TableName=tb, Item={**key, "v": {"S": "big"}})
    ddb.put_item(TableName=tb, Item={"pk": {"B": pk}, "sk": {"B": b"\x00"}, "v": {"S": "small"}})
    assert get(ddb, tb, key)["v"] == {"S": "big"}
    resp = ddb.query(TableName=tb, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"B": pk}})
    assert [i["v"]["S"] for i in resp["Items"]] == ["small", "big"]
    ddb.delete_item(TableName=tb, Key=key)
    assert get(ddb, tb, key) is None


# --- the 400 KB item limit ----------------------------------------------------------------


def test_item_size_limit(ddb, t):
    k = key()
    overhead = len("pk") + len(k["pk"]["S"]) + len("d")
    ddb.put_item(TableName=t, Item={**k, "d": {"S": "x" * (MAX_ITEM - overhead - 100)}})
    assert len(get(ddb, t, k)["d"]["S"]) == MAX_ITEM - overhead - 100

    k2 = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t,
               Item={**k2, "d": {"S": "x" * (MAX_ITEM + 1)}},
               message="Item size has exceeded the maximum allowed size")
    assert get(ddb, t, k2) is None
    # Binary counts by its bytes; names count too.
    raises_ddb("ValidationException", ddb.put_item, TableName=t,
               Item={**k2, "b": {"B": b"\0" * (MAX_ITEM - 100)}, "n" * 200: {"S": "y"}},
               message="Item size has exceeded the maximum allowed size")
    assert get(ddb, t, k2) is None


def test_update_beyond_item_size_limit_rejected(ddb, t):
    k = key()
    half = "x" * (MAX_ITEM // 2)
    ddb.put_item(TableName=t, Item={**k, "a": {"S": half}})
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=k,
               UpdateExpression="SET b = :v", ExpressionAttributeValues={":v": {"S": half + "yy"}},
               contains="exceeded the maximum allowed size")
    assert set(get(ddb, t, k)) == {"pk", "a"}


# --- the resource API's Python types -------------------------------------------------------


def test_resource_api_python_types(server, t):
    table = ddb_resource(server).Table(t)
    pk = unique_table("py")
    item = {
        "pk": pk, "int": 42, "dec": Decimal("3.14159265358979323846264338327950288"),
        "neg": Decimal("-1.5"), "big": Decimal("1" + "0" * 37),
        "s": "text", "empty": "", "yes": True, "none": None,
        "bin": Binary(b"\x00\x01"), "raw_bytes": b"\xff",
        "lst": [1, "two", [Decimal("3.5")], {"k": False}],
        "mp": {"a": {"b": {"c": "deep"}}},
        "ss": {"x", "y"}, "ns": {1, Decimal("2.5")}, "bs": {Binary(b"a"), Binary(b"b")},
    }
    table.put_item(Item=item)
    got = table.get_item(Key={"pk": pk}, ConsistentRead=True)["Item"]
    assert got["int"] == Decimal(42) and isinstance(got["int"], Decimal)
    assert got["dec"] == Decimal("3.14159265358979323846264338327950288")
    assert got["neg"] == Decimal("-1.5")
    assert got["big"] == Decimal("1" + "0" * 37)
    assert got["s"] == "text" and got["empty"] == ""
    assert got["yes"] is True and got["none"] is None
    assert got["bin"] == Binary(b"\x00\x01") and got["raw_bytes"] == Binary(b"\xff")
    assert got["lst"] == [Decimal(1), "two", [Decimal("3.5")], {"k": False}]
    assert got["mp"] == {"a": {"b": {"c": "deep"}}}
    assert got["ss"] == {"x", "y"}
    assert got["ns"] == {Decimal(1), Decimal("2.5")}
    assert got["bs"] == {Binary(b"a"), Binary(b"b")}

    resp = table.update_item(Key={"pk": pk}, UpdateExpression="SET neg = neg - :x ADD #i :x",
                             ExpressionAttributeNames={"#i": "int"},
                             ExpressionAttributeValues={":x": Decimal("0.25")},
                             ReturnValues="UPDATED_NEW")
    assert resp["Attributes"] == {"neg": Decimal("-1.75"), "int": Decimal("42.25")}
