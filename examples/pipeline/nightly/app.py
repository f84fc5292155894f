"""Runs at 03:00 UTC every day: counts the files recorded so far into the `reports` table."""

import os

import boto3

dynamodb = boto3.resource("dynamodb")


def handler(event, context):
    files = dynamodb.Table(os.environ.get("FILES_TABLE", "files"))
    count = files.scan(Select="COUNT")["Count"]
    dynamodb.Table(os.environ.get("REPORTS_TABLE", "reports")).put_item(
        Item={"day": event["time"][:10], "files": count, "rule": event["resources"][0]}
    )
    print(f"nightly report for {event['time'][:10]}: {count} files")
    return {"files": count}
