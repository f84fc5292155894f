"""Points a user's profile at their newest picture and counts their uploads."""

import os
import time

import boto3

profiles = boto3.resource("dynamodb").Table(os.environ.get("PROFILES_TABLE", "profiles"))


def handler(event, context):
    updated = profiles.update_item(
        Key={"user": event["user"]},
        UpdateExpression="SET picture = :p, original = :o, updated_at = :t ADD uploads :one",
        ExpressionAttributeValues={
            ":p": event["picture"],
            ":o": event["image"],
            ":t": int(time.time()),
            ":one": 1,
        },
        ReturnValues="ALL_NEW",
    )["Attributes"]
    print(f"profile of {event['user']}: picture {updated['picture']}, {updated['uploads']} uploads")
    return {"user": event["user"], "uploads": int(updated["uploads"])}
