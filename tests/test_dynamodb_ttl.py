"""Time to live applied: once a table's TTL attribute is set, a background sweep deletes the
items whose attribute holds an epoch time in the past, as DynamoDB does (AWS takes up to a few
days; here the sweep period is a setting, one second in this test). Also what tools read on
every table: DescribeLimits and DescribeEndpoints."""

import time

import pytest

import helpers
from dynamodb_support import create_table, ddb_client, raises_ddb


@pytest.fixture(scope="module")
def fast_sweep(module_server_factory):
    return module_server_factory(env={"STRATUS_TTL_SWEEP_SECS": "1"})


@pytest.fixture(scope="module")
def client(fast_sweep):
    return ddb_client(fast_sweep)


def items(client, name):
    return {i["pk"]["S"] for i in client.scan(TableName=name, ConsistentRead=True)["Items"]}


def test_expired_items_are_deleted(client):
    name = create_table(client)
    now = int(time.time())
    rows = {
        "past": {"N": str(now - 60)},
        "future": {"N": str(now + 3600)},
        "not-a-number": {"S": str(now - 60)},
        # Over five years ago: taken for a mistake (milliseconds?) and kept, as on AWS.
        "ancient": {"N": "1000"},
    }
    for pk, exp in rows.items():
        client.put_item(TableName=name, Item={"pk": {"S": pk}, "exp": exp})
    client.put_item(TableName=name, Item={"pk": {"S": "no-attribute"}})
    # Nothing expires while time to live is off.
    time.sleep(2.5)
    assert "past" in items(client, name)
    client.update_time_to_live(TableName=name,
                               TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    helpers.wait_until(lambda: "past" not in items(client, name), timeout=15,
                       message="the expired item to be swept")
    assert items(client, name) == {"future", "not-a-number", "ancient", "no-attribute"}
    desc = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert desc == {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}


def test_disabling_time_to_live_stops_the_sweep(client):
    name = create_table(client)
    spec = {"Enabled": True, "AttributeName": "exp"}
    client.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
    raises_ddb("ValidationException", client.update_time_to_live, TableName=name,
               TimeToLiveSpecification=spec, message="TimeToLive is already enabled")
    client.update_time_to_live(TableName=name,
                               TimeToLiveSpecification={"Enabled": False, "AttributeName": "exp"})
    client.put_item(TableName=name, Item={"pk": {"S": "old"}, "exp": {"N": "1"}})
    client.put_item(TableName=name,
                    Item={"pk": {"S": "past"}, "exp": {"N": str(int(time.time()) - 10)}})
    time.sleep(2.5)
    assert items(client, name) == {"old", "past"}
    assert client.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"}


def test_describe_limits_and_endpoints(client):
    limits = client.describe_limits()
    for field in ("AccountMaxReadCapacityUnits", "AccountMaxWriteCapacityUnits",
                  "TableMaxReadCapacityUnits", "TableMaxWriteCapacityUnits"):
        assert limits[field] > 0
    assert limits["TableMaxReadCapacityUnits"] <= limits["AccountMaxReadCapacityUnits"]
    endpoints = client.describe_endpoints()["Endpoints"]
    assert endpoints == [{"Address": f"dynamodb.{helpers.REGION}.amazonaws.com",
                          "CachePeriodInMinutes": 1440}]


@pytest.mark.parametrize("spec,message", [
    ({"Enabled": True, "AttributeName": ""},
     "1 validation error detected: Value '' at 'timeToLiveSpecification.attributeName' failed "
     "to satisfy constraint: Member must have length greater than or equal to 1"),
    ({"Enabled": True, "AttributeName": "e" * 256},
     f"1 validation error detected: Value '{'e' * 256}' at "
     "'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have "
     "length less than or equal to 255"),
    ({"AttributeName": "exp"},
     "1 validation error detected: Value null at 'timeToLiveSpecification.enabled' failed to "
     "satisfy constraint: Member must not be null"),
])
def test_time_to_live_specification_is_checked(fast_sweep, client, spec, message):
    raw = ddb_client(fast_sweep, parameter_validation=False)
    name = create_table(client)
    raises_ddb("ValidationException", raw.update_time_to_live, TableName=name,
               TimeToLiveSpecification=spec, message=message)
    assert client.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"}
