"""DynamoDB request validation with the wording us-east-1 gives: the model's constraints
("1 validation error detected: ..."), expression syntax and semantics, mixed legacy and
expression parameters, nesting limits, and validation errors inside transactions."""

import pytest
from botocore.exceptions import ClientError

from dynamodb_support import (  # noqa: F401 (ddb, raw, tables: shared module fixtures)
    assert_ddb_error,
    attr_defs,
    ddb,
    key_schema,
    raises_ddb,
    raw,
    tables,
    unique_table,
    wait_exists,
)


@pytest.fixture(scope="module")
def t(tables):
    return tables()


def key():
    return {"pk": {"S": unique_table("v")}}


def get(ddb, table, k):
    return ddb.get_item(TableName=table, Key=k, ConsistentRead=True).get("Item")


# --- the model's constraints -----------------------------------------------------------------


@pytest.mark.parametrize("name,message", [
    ("ab", "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: "
           "Member must have length greater than or equal to 3"),
    ("bad table!@#", "1 validation error detected: Value 'bad table!@#' at 'tableName' failed to "
                     "satisfy constraint: Member must satisfy regular expression pattern: "
                     "[a-zA-Z0-9_.-]+"),
    ("a" * 256, f"1 validation error detected: Value '{'a' * 256}' at 'tableName' failed to "
                "satisfy constraint: Member must have length less than or equal to 255"),
])
def test_create_table_name_constraints(raw, name, message):
    raises_ddb("ValidationException", raw.create_table, TableName=name,
               KeySchema=key_schema(("pk", "S")), AttributeDefinitions=attr_defs(("pk", "S")),
               BillingMode="PAY_PER_REQUEST", message=message)


def test_item_operation_table_name_constraints(raw):
    raises_ddb("ValidationException", raw.put_item, TableName="bad table!@#",
               Item={"pk": {"S": "a"}},
               message="1 validation error detected: Value 'bad table!@#' at 'tableName' failed "
                       "to satisfy constraint: Member must satisfy regular expression pattern: "
                       "[a-zA-Z0-9_.-]+")


def test_invalid_enum_value(raw, t):
    raises_ddb("ValidationException", raw.put_item, TableName=t, Item=key(), ReturnValues="INVALID",
               contains=["Value 'INVALID' at 'returnValues' failed to satisfy constraint",
                         "Member must satisfy enum value set"])


def test_batch_write_over_25_message(raw, t):
    requests = [{"PutRequest": {"Item": {"pk": {"S": f"bw-{i}"}}}} for i in range(26)]
    raises_ddb("ValidationException", raw.batch_write_item, RequestItems={t: requests},
               contains=["1 validation error detected: Value ",
                         "at 'requestItems' failed to satisfy constraint: Map value must satisfy "
                         "constraint: [Member must have length less than or equal to 25, Member "
                         "must have length greater than or equal to 1]"])


def test_create_table_with_three_key_elements(raw):
    name = unique_table("bad")
    raises_ddb("ValidationException", raw.create_table, TableName=name,
               KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"},
                          {"AttributeName": "extra", "KeyType": "RANGE"}],
               AttributeDefinitions=attr_defs(("pk", "S"), ("sk", "S"), ("extra", "S")),
               BillingMode="PAY_PER_REQUEST",
               contains="Member must have length less than or equal to 2")


# --- expression syntax and semantics -----------------------------------------------------------


def test_update_syntax_error_names_the_token(ddb, t):
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=key(),
               UpdateExpression="INVALID SYNTAX",
               message='Invalid UpdateExpression: Syntax error; token: "INVALID", near: "INVALID SYNTAX"')


def test_empty_update_expression(raw, t):
    k = key()
    raises_ddb("ValidationException", raw.update_item, TableName=t, Key=k, UpdateExpression="",
               message="Invalid UpdateExpression: The expression can not be empty;")
    assert get(raw, t, k) is None


def test_redundant_parentheses(ddb, t):
    k = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=k,
               ConditionExpression="((attribute_not_exists(pk)))",
               message="Invalid ConditionExpression: The expression has redundant parentheses;")
    assert get(ddb, t, k) is None


def test_each_update_clause_at_most_once(ddb, t):
    k = key()
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=k,
               UpdateExpression="SET a = :v SET b = :v", ExpressionAttributeValues={":v": {"S": "x"}},
               contains='The "SET" section can only be used once in an update expression')


@pytest.mark.parametrize("names,values,fragment", [
    ({"n": "a"}, None, "ExpressionAttributeNames contains invalid key"),
    (None, {"v": {"S": "x"}}, "ExpressionAttributeValues contains invalid key"),
])
def test_invalid_placeholder_keys(ddb, t, names, values, fragment):
    args = {"ConditionExpression": "attribute_not_exists(pk)"}
    if names:
        args["ExpressionAttributeNames"] = names
    if values:
        args["ExpressionAttributeValues"] = values
    k = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=k, contains=fragment, **args)
    assert get(ddb, t, k) is None


def test_expression_and_legacy_parameters_together(ddb, t):
    k = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=k,
               ConditionExpression="attribute_not_exists(pk)",
               Expected={"pk": {"Exists": False}},
               message="Can not use both expression and non-expression parameters in the same "
                       "request: Non-expression parameters: {Expected} Expression parameters: "
                       "{ConditionExpression}")
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=k,
               UpdateExpression="SET a = :v", ExpressionAttributeValues={":v": {"S": "x"}},
               AttributeUpdates={"b": {"Value": {"S": "y"}, "Action": "PUT"}},
               message="Can not use both expression and non-expression parameters in the same "
                       "request: Non-expression parameters: {AttributeUpdates} Expression "
                       "parameters: {UpdateExpression}")
    assert get(ddb, t, k) is None


@pytest.mark.parametrize("expr", ["a, a", "a.b, a", "a, a.b[2].c", "l[1], l[1]"])
def test_projection_overlapping_paths(ddb, t, expr):
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key(), ProjectionExpression=expr,
               contains=["Invalid ProjectionExpression", "Two document paths overlap with each other"])


def test_projection_conflicting_paths(ddb, t):
    raises_ddb("ValidationException", ddb.get_item, TableName=t, Key=key(),
               ProjectionExpression="a.b, a[1]",
               contains=["Invalid ProjectionExpression", "Two document paths conflict with each other"])


@pytest.mark.parametrize("expr,values", [
    ("ADD l :one", {":one": {"N": "1"}}),            # ADD to a list
    ("DELETE l :s", {":s": {"SS": ["a"]}}),          # DELETE from a list
    ("SET ss = ss + :one", {":one": {"N": "1"}}),    # arithmetic on a set
    ("SET n = :s - :one", {":s": {"S": "x"}, ":one": {"N": "1"}}),
])
def test_update_operand_type_errors(ddb, t, expr, values):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "l": {"L": [{"S": "a"}]}, "ss": {"SS": ["a"]}})
    raises_ddb("ValidationException", ddb.update_item, TableName=t, Key=k, UpdateExpression=expr,
               ExpressionAttributeValues=values)
    assert get(ddb, t, k) == {**k, "l": {"L": [{"S": "a"}]}, "ss": {"SS": ["a"]}}


def test_remove_list_index_beyond_end_is_a_no_op(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "l": {"L": [{"S": "a"}]}})
    ddb.update_item(TableName=t, Key=k, UpdateExpression="REMOVE l[5]")
    assert get(ddb, t, k)["l"] == {"L": [{"S": "a"}]}


# --- nesting ---------------------------------------------------------------------------------


def nested(depth):
    value = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"m": value}}
    return value


def test_nesting_limit_of_32_levels(ddb, t):
    k = key()
    ddb.put_item(TableName=t, Item={**k, "deep": nested(20)})
    assert get(ddb, t, k)["deep"] == nested(20)
    k2 = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item={**k2, "deep": nested(40)},
               contains="Nesting Levels have exceeded supported limits")
    assert get(ddb, t, k2) is None


# --- index keys ------------------------------------------------------------------------------


def test_index_key_of_wrong_type_rejected(ddb, tables):
    name = unique_table("idx")
    tables.names.append(name)
    ddb.create_table(
        TableName=name, KeySchema=key_schema(("pk", "S")),
        AttributeDefinitions=attr_defs(("pk", "S"), ("g", "S")), BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": key_schema(("g", "S")),
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    wait_exists(ddb, name)
    k = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=name, Item={**k, "g": {"N": "1"}},
               contains="Type mismatch for Index Key g Expected: S Actual: N")
    raises_ddb("ValidationException", ddb.put_item, TableName=name, Item={**k, "g": {"S": ""}},
               contains="empty string value")
    assert get(ddb, name, k) is None


# --- validation errors inside a transaction --------------------------------------------------


def test_transaction_cancelled_by_a_runtime_validation_error(ddb, t):
    k1, k2 = key(), key()
    ddb.put_item(TableName=t, Item=k2)
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": t, "Item": k1}},
            {"Update": {"TableName": t, "Key": k2, "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])
    resp = assert_ddb_error(
        excinfo, "TransactionCanceledException",
        message="Transaction cancelled, please refer cancellation reasons for specific reasons "
                "[None, ValidationError]",
    )
    reasons = resp["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ValidationError"]
    assert reasons[1]["Message"] == \
        "The provided expression refers to an attribute that does not exist in the item"
    assert get(ddb, t, k1) is None
    assert get(ddb, t, k2) == k2


# --- BETWEEN bounds and names shared by several expressions ---------------------------------


def test_between_bounds_out_of_order(ddb, t):
    k = key()
    raises_ddb("ValidationException", ddb.put_item, TableName=t, Item=k,
               ConditionExpression="n BETWEEN :hi AND :lo",
               ExpressionAttributeValues={":lo": {"N": "1"}, ":hi": {"N": "5"}},
               contains=["Invalid ConditionExpression",
                         "The BETWEEN operator requires upper bound to be greater than or equal "
                         "to lower bound"])
    assert get(ddb, t, k) is None


def test_names_and_values_count_across_all_expressions_of_a_request(ddb, tables):
    name = tables(range_key=("sk", "N"))
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "color": {"S": "red"},
                                       "name": {"S": "n"}})
    resp = ddb.query(TableName=name, KeyConditionExpression="#k = :k",
                     FilterExpression="#c = :c", ProjectionExpression="#n",
                     ExpressionAttributeNames={"#k": "pk", "#c": "color", "#n": "name"},
                     ExpressionAttributeValues={":k": {"S": "a"}, ":c": {"S": "red"}})
    assert resp["Items"] == [{"name": {"S": "n"}}]
    raises_ddb("ValidationException", ddb.query, TableName=name, KeyConditionExpression="#k = :k",
               ProjectionExpression="#n",
               ExpressionAttributeNames={"#k": "pk", "#n": "name", "#x": "unused"},
               ExpressionAttributeValues={":k": {"S": "a"}},
               message="Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}")
    # A name used only by the condition of an update counts as used.
    ddb.update_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                    UpdateExpression="SET color = :b", ConditionExpression="#n = :n",
                    ExpressionAttributeNames={"#n": "name"},
                    ExpressionAttributeValues={":b": {"S": "blue"}, ":n": {"S": "n"}})
