"""DynamoDB's rules with AWS's wording, as the developer guide and API reference state them:
names in expressions, document paths, AttributesToGet and Select, parallel scans, index key
schemas, operand types, and the semantics of a few corners (KeyConditions beside a filter,
`<>` between missing attributes, list appends past the end, DELETE on a missing item)."""

import pytest

from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    attr_defs,
    ddb,
    key_schema,
    raises_ddb,
    raw,
    table_arn,
    tables,
    unique_table,
)


@pytest.fixture(scope="module")
def t(tables):
    return tables()


@pytest.fixture(scope="module")
def ranged(tables):
    return tables(range_key=("sk", "N"))


def key():
    return {"pk": {"S": unique_table("r")}}


def get(ddb, table, k):
    return ddb.get_item(TableName=table, Key=k, ConsistentRead=True).get("Item")


# --- names and paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("update,token,near", [
    ("SET _123 = :v", "_", "SET _123"),
    ("SET 123a = :v", "123", "SET 123a"),
    ("SET a-b = :v", "-", "a-b"),
])
def test_names_start_with_a_letter(ddb, t, update, token, near):
    k = key()
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=k,
               UpdateExpression=update, ExpressionAttributeValues={":v": {"S": "x"}},
               message=f'Invalid UpdateExpression: Syntax error; token: "{token}", near: "{near}"')
    assert get(ddb, t, k) is None


def test_a_placeholder_may_start_with_a_digit_or_underscore(ddb, t):
    k = key()
    ddb.update_item(TableName=t, Key=k, UpdateExpression="SET #1 = :_",
                    ExpressionAttributeNames={"#1": "_odd name!"},
                    ExpressionAttributeValues={":_": {"N": "1"}})
    assert get(ddb, t, k)["_odd name!"] == {"N": "1"}


@pytest.mark.parametrize("projection,near", [("a.", "."), ("a[", "["), ("a[1", "1")])
def test_unfinished_paths(ddb, t, projection, near):
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key(),
               ProjectionExpression=projection,
               message=f'Invalid ProjectionExpression: Syntax error; token: "<EOF>", '
                       f'near: "{near}"')


def test_list_index_out_of_range(ddb, t):
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key(),
               ProjectionExpression="a[4294967296]",
               message="Invalid ProjectionExpression: List index is out of range")


def test_in_takes_at_most_100_values(ddb, t):
    values = {f":v{i}": {"N": str(i)} for i in range(101)}
    raises_ddb("ValidationException", ddb.scan, TableName=t,
               FilterExpression=f"a IN ({', '.join(values)})", ExpressionAttributeValues=values,
               message="Invalid FilterExpression: The IN operator is provided with too many "
                       "operands; number of operands: 101")


# --- AttributesToGet, Select -------------------------------------------------------------------


def test_attributes_to_get_duplicate_or_empty(raw, t):
    raises_ddb("ValidationException", raw.get_item, TableName=t, Key=key(),
               AttributesToGet=["a", "b", "a"],
               message="One or more parameter values were invalid: Duplicate value in attribute "
                       "name: a")
    raises_ddb("ValidationException", raw.scan, TableName=t, AttributesToGet=[],
               message="1 validation error detected: Value '[]' at 'attributesToGet' failed to "
                       "satisfy constraint: Member must have length greater than or equal to 1")


def test_unknown_select(raw, t):
    raises_ddb("ValidationException", raw.scan, TableName=t, Select="EVERYTHING",
               message="1 validation error detected: Value 'EVERYTHING' at 'select' failed to "
                       "satisfy constraint: Member must satisfy enum value set: "
                       "[SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]")


# --- parallel scans ----------------------------------------------------------------------------


def test_parallel_scan_start_key_outside_its_segment(ddb, tables):
    name = tables()
    for i in range(20):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"item-{i}"}})
    seg0 = ddb.scan(TableName=name, Segment=0, TotalSegments=2)["Items"]
    seg1 = ddb.scan(TableName=name, Segment=1, TotalSegments=2)["Items"]
    assert seg0 and seg1 and len(seg0) + len(seg1) == 20
    # Resuming inside the segment works; a key of the other segment is refused.
    ddb.scan(TableName=name, Segment=0, TotalSegments=2, ExclusiveStartKey=seg0[0])
    raises_ddb("ValidationException", ddb.scan, TableName=name, Segment=0, TotalSegments=2,
               ExclusiveStartKey=seg1[0],
               message="The provided Exclusive start key does not map to the provided Segment "
                       "and TotalSegments values.")


# --- key schemas -------------------------------------------------------------------------------


def test_index_whose_hash_and_range_key_are_one_attribute(ddb):
    raises_ddb("ValidationException", ddb.create_table, TableName=unique_table("lsi"),
               KeySchema=key_schema(("pk", "S"), ("sk", "S")),
               AttributeDefinitions=attr_defs(("pk", "S"), ("sk", "S")),
               BillingMode="PAY_PER_REQUEST",
               LocalSecondaryIndexes=[{"IndexName": "same",
                                       "KeySchema": key_schema(("pk", "S"), ("pk", "S")),
                                       "Projection": {"ProjectionType": "ALL"}}],
               message="Both the Hash Key and the Range Key element in the KeySchema have the "
                       "same name")


def test_key_attribute_name_over_255_bytes(raw):
    long = "k" * 256
    raises_ddb("ValidationException", raw.create_table, TableName=unique_table("long"),
               KeySchema=key_schema((long, "S")), AttributeDefinitions=attr_defs((long, "S")),
               BillingMode="PAY_PER_REQUEST",
               message=f"1 validation error detected: Value '{long}' at "
                       "'attributeDefinitions.1.member.attributeName' failed to satisfy "
                       "constraint: Member must have length less than or equal to 255")


# --- operand types -----------------------------------------------------------------------------


def test_begins_with_a_number(ddb, t):
    raises_ddb("ValidationException", ddb.scan, TableName=t,
               FilterExpression="begins_with(a, :n)", ExpressionAttributeValues={":n": {"N": "1"}},
               message="Invalid FilterExpression: Incorrect operand type for operator or "
                       "function; operator or function: begins_with, operand type: N")


@pytest.mark.parametrize("condition,value,op,typ", [
    ("a < :x", {"M": {}}, "<", "M"),
    ("a >= :x", {"BOOL": True}, ">=", "BOOL"),
    ("a BETWEEN :x AND :x", {"L": []}, "BETWEEN", "L"),
])
def test_ordering_an_unorderable_value(ddb, t, condition, value, op, typ):
    k = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=k,
               ConditionExpression=condition, ExpressionAttributeValues={":x": value},
               message="Invalid ConditionExpression: Incorrect operand type for operator or "
                       f"function; operator or function: {op}, operand type: {typ}")
    assert get(ddb, t, k) is None


@pytest.mark.parametrize("condition,function", [
    ("attribute_type(:v, :t)", "attribute_type"),
    ("size(:v) > :t", "size"),
])
def test_functions_of_a_path_given_a_value(ddb, t, condition, function):
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key(),
               ConditionExpression=condition,
               ExpressionAttributeValues={":v": {"S": "x"}, ":t": {"S": "S"}},
               message="Invalid ConditionExpression: Operator or function requires a document "
                       f"path; operator or function: {function}")


def test_attribute_type_needs_a_string(ddb, t):
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=key(),
               ConditionExpression="attribute_type(a, :t)",
               ExpressionAttributeValues={":t": {"N": "1"}},
               message="Invalid ConditionExpression: Incorrect operand type for operator or "
                       "function; operator or function: attribute_type, operand type: N")


# --- semantics ---------------------------------------------------------------------------------


def test_key_conditions_beside_a_filter_and_projection_expression(ddb, ranged):
    pk = unique_table("kc")
    for sk, colour in [(1, "red"), (2, "blue"), (3, "red")]:
        ddb.put_item(TableName=ranged, Item={"pk": {"S": pk}, "sk": {"N": str(sk)},
                                             "colour": {"S": colour}, "extra": {"S": "x"}})
    resp = ddb.query(
        TableName=ranged,
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": pk}]}},
        FilterExpression="colour = :c", ProjectionExpression="sk, colour",
        ExpressionAttributeValues={":c": {"S": "red"}},
    )
    assert resp["Items"] == [{"sk": {"N": "1"}, "colour": {"S": "red"}},
                             {"sk": {"N": "3"}, "colour": {"S": "red"}}]
    raises_ddb("ValidationException", ddb.query, TableName=ranged,
               KeyConditions={"pk": {"ComparisonOperator": "EQ",
                                     "AttributeValueList": [{"S": pk}]}},
               KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": pk}},
               contains="Can not use both expression and non-expression parameters")


def test_two_missing_attributes_are_unequal(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item=k, ConditionExpression="a <> b")
    assert get(ddb, t, k) == k
    raises_ddb("ConditionalCheckFailedException", ddb.put_item, TableName=t, Item=k,
               ConditionExpression="a = b")


def test_appends_past_the_end_go_in_index_order(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "l": {"L": [{"N": "0"}, {"N": "1"}]}})
    ddb.update_item(TableName=t, Key=k, UpdateExpression="SET l[9] = :b, l[5] = :a",
                    ExpressionAttributeValues={":a": {"S": "a"}, ":b": {"S": "b"}})
    assert get(ddb, t, k)["l"] == {"L": [{"N": "0"}, {"N": "1"}, {"S": "a"}, {"S": "b"}]}


def test_delete_from_a_set_of_a_missing_item_creates_nothing(ddb, t):
    k = key()
    resp = ddb.update_item(TableName=t, Key=k, UpdateExpression="DELETE s :x",
                           ExpressionAttributeValues={":x": {"SS": ["a"]}}, ReturnValues="ALL_NEW")
    assert "Attributes" not in resp
    assert get(ddb, t, k) is None
    # An ADD does create it.
    ddb.update_item(TableName=t, Key=k, UpdateExpression="ADD s :x",
                    ExpressionAttributeValues={":x": {"SS": ["a"]}})
    assert get(ddb, t, k)["s"] == {"SS": ["a"]}


def test_delete_table_answers_what_aws_does(ddb):
    name = unique_table("del")
    ddb.create_table(
        TableName=name, KeySchema=key_schema(("pk", "S")),
        AttributeDefinitions=attr_defs(("pk", "S"), ("g", "S")), BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": key_schema(("g", "S")),
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    desc = ddb.delete_table(TableName=name)["TableDescription"]
    # Identity, status, size and billing; no schema, indexes or timestamps.
    assert set(desc) == {"TableName", "TableStatus", "ProvisionedThroughput", "TableSizeBytes",
                         "ItemCount", "TableArn", "TableId", "BillingModeSummary",
                         "DeletionProtectionEnabled"}
    assert desc["TableStatus"] == "DELETING"
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert desc["ProvisionedThroughput"] == {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0,
                                             "WriteCapacityUnits": 0}


@pytest.mark.parametrize("tag,member,rule", [
    ({"Key": "", "Value": "v"}, "key", "Member must have length greater than or equal to 1"),
    ({"Key": "k" * 129, "Value": "v"}, "key", "Member must have length less than or equal to 128"),
    ({"Key": "k", "Value": "v" * 257}, "value", "Member must have length less than or equal to 256"),
])
def test_tag_keys_and_values_have_model_limits(raw, t, tag, member, rule):
    arn = table_arn(t)
    shown = tag["Key"] if member == "key" else tag["Value"]
    raises_ddb("ValidationException", raw.tag_resource, ResourceArn=arn,
               Tags=[{"Key": "fine", "Value": "x"}, tag],
               message=f"1 validation error detected: Value '{shown}' at 'tags.2.member.{member}' "
                       f"failed to satisfy constraint: {rule}")
    # Nothing was tagged.
    assert raw.list_tags_of_resource(ResourceArn=arn)["Tags"] == []
