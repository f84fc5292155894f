"""Shared helpers for the table (DynamoDB) tests."""

import uuid

import boto3
from botocore.config import Config

import helpers


def ddb_client(server, **config):
    return server.client("dynamodb", **config)


def ddb_resource(server):
    return boto3.resource(
        "dynamodb",
        endpoint_url=server.url,
        region_name=helpers.REGION,
        aws_access_key_id=helpers.ACCESS_KEY,
        aws_secret_access_key=helpers.SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1}),
    )


def unique_table(prefix="tbl"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_table(client, name=None, range_key=None, range_type="S", **extra):
    """A PAY_PER_REQUEST table with hash key `pk` (S) and optional range key; waits until it
    exists and returns its name."""
    name = name or unique_table()
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    if range_key:
        attrs.append({"AttributeName": range_key, "AttributeType": range_type})
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    client.create_table(TableName=name, AttributeDefinitions=attrs, KeySchema=schema,
                        BillingMode="PAY_PER_REQUEST", **extra)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    return name
