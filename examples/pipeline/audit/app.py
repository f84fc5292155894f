"""Keeps an audit trail of the `files` table from its stream: one item per change."""

import os

import boto3

audit = boto3.resource("dynamodb").Table(os.environ.get("AUDIT_TABLE", "audit"))


def handler(event, context):
    for record in event["Records"]:
        change = record["dynamodb"]
        audit.put_item(Item={
            "id": record["eventID"],
            "key": change["Keys"]["key"]["S"],
            "event": record["eventName"],
            "sequence": change["SequenceNumber"],
        })
    print(f"audited {len(event['Records'])} changes")
    return {"audited": len(event["Records"])}
