"""Shared pieces of the DynamoDB tests: clients, unique table names, table creation and
AWS-shaped error assertions. Every test file uses the session `server`; tables get unique
names, so files and tests never see each other's data."""

import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import helpers

ACCOUNT = helpers.ACCOUNT
REGION = helpers.REGION

# Waiters poll DescribeTable; a local service is ready at once, so poll fast.
FAST_WAIT = {"Delay": 0.1, "MaxAttempts": 300}

CLIENT_CONFIG = {"retries": {"total_max_attempts": 1}, "max_pool_connections": 64}


def ddb_client(server, **config):
    cfg = dict(CLIENT_CONFIG)
    cfg.update(config)
    return helpers.make_client(server.url, "dynamodb", **cfg)


def ddb_resource(server):
    return boto3.resource(
        "dynamodb",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=helpers.ACCESS_KEY,
        aws_secret_access_key=helpers.SECRET_KEY,
        config=Config(**CLIENT_CONFIG),
    )


def unique_table(prefix="tbl"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def table_arn(name):
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def key_schema(hash_key, range_key=None):
    schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
    return schema


def attr_defs(*pairs):
    return [{"AttributeName": n, "AttributeType": t} for n, t in pairs if n]


def create_table(client, name=None, hash_key=("pk", "S"), range_key=None, wait=True,
                 extra_attrs=(), **kwargs):
    """CreateTable (PAY_PER_REQUEST unless kwargs say otherwise); waits for `table_exists`.
    Returns the table's name."""
    name = name or unique_table()
    defs = [hash_key] + ([range_key] if range_key else []) + list(extra_attrs)
    args = {
        "TableName": name,
        "KeySchema": key_schema(hash_key, range_key),
        "AttributeDefinitions": attr_defs(*defs),
    }
    if "ProvisionedThroughput" not in kwargs and "BillingMode" not in kwargs:
        args["BillingMode"] = "PAY_PER_REQUEST"
    args.update(kwargs)
    client.create_table(**args)
    if wait:
        wait_exists(client, name)
    return name


def wait_exists(client, name):
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=FAST_WAIT)


def delete_quietly(client, name):
    try:
        client.delete_table(TableName=name)
    except ClientError:
        pass


def error_of(excinfo):
    """(code, HTTP status, message) of a ClientError (or pytest ExceptionInfo of one)."""
    exc = getattr(excinfo, "value", excinfo)
    err = exc.response["Error"]
    return err.get("Code"), exc.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Message")


def assert_ddb_error(excinfo, code, message=None, contains=None, status=400):
    """Assert a DynamoDB error: exception name, HTTP status (400 for every client error) and
    the message (exact, or a fragment when AWS's full wording is not pinned down)."""
    exc = getattr(excinfo, "value", excinfo)
    got_code, got_status, got_message = error_of(exc)
    assert got_code == code, f"expected {code}, got {got_code} (HTTP {got_status}): {got_message}"
    assert got_status == status, f"expected HTTP {status}, got {got_status}: {got_message}"
    if message is not None:
        assert got_message == message, f"message {got_message!r} != {message!r}"
    if contains is not None:
        fragments = [contains] if isinstance(contains, str) else list(contains)
        for fragment in fragments:
            assert fragment in (got_message or ""), f"{fragment!r} not in {got_message!r}"
    return exc.response


def raises_ddb(code, call, *args, message=None, contains=None, **kwargs):
    """Call `call(*args, **kwargs)`, expect a ClientError `code`; return its response."""
    with pytest.raises(ClientError) as excinfo:
        call(*args, **kwargs)
    return assert_ddb_error(excinfo, code, message=message, contains=contains)


CCF_MESSAGE = "The conditional request failed"
NOT_FOUND_MESSAGE = "Requested resource not found"
KEY_SCHEMA_MESSAGE = "The provided key element does not match the schema"


class TableFactory:
    """Creates tables on one client and deletes them all at `close()`."""

    def __init__(self, client):
        self.client = client
        self.names = []

    def __call__(self, name=None, **kwargs):
        name = name or unique_table()
        self.names.append(name)
        return create_table(self.client, name, **kwargs)

    def close(self):
        for name in self.names:
            delete_quietly(self.client, name)


def sorted_set(values):
    return sorted(values)


# Module-scoped fixtures the DynamoDB test modules import by name.


@pytest.fixture(scope="module")
def ddb(server):
    """A boto3 DynamoDB client for the session's server."""
    return ddb_client(server)


@pytest.fixture(scope="module")
def raw(server):
    """A client that skips botocore's own validation, so the server's is tested."""
    return ddb_client(server, parameter_validation=False)


@pytest.fixture(scope="module")
def tables(ddb):
    """Makes tables for one module and deletes them afterwards."""
    factory = TableFactory(ddb)
    yield factory
    factory.close()
