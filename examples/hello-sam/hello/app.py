"""Answers GET /hello with a greeting and the caller's query string name, if any."""

import json
import os

VERSION = 1


def handler(event, context):
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": f"{os.environ['GREETING']}, {name}", "version": VERSION}),
    }
