"""Reads S3 upload notifications from the queue and records each object in the `files` table.

A message whose object cannot be read is reported as a batch item failure, so only it goes back
to the queue (and, after `maxReceiveCount` receives, to the dead-letter queue)."""

import json
import os

import boto3

s3 = boto3.client("s3")
files = boto3.resource("dynamodb").Table(os.environ.get("FILES_TABLE", "files"))


def handler(event, context):
    failures = []
    for message in event["Records"]:
        try:
            record_uploads(json.loads(message["body"]))
        except Exception as e:  # noqa: BLE001 - any failure sends the message back
            print(f"message {message['messageId']} failed: {e}")
            failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}


def record_uploads(notification):
    # S3 sends an s3:TestEvent when the notification is configured; it names no object.
    for record in notification.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = record["s3"]["object"]["key"]
        head = s3.head_object(Bucket=bucket, Key=key)
        files.put_item(Item={
            "key": key,
            "bucket": bucket,
            "size": head["ContentLength"],
            "etag": head["ETag"].strip('"'),
        })
        print(f"recorded s3://{bucket}/{key} ({head['ContentLength']} bytes)")
