"""S3's refusals name their own request: the `<RequestId>` of the XML error body is the
`x-amz-request-id` header of the same response, for every kind of authorization refusal."""

import json
import re

import pytest
from botocore.exceptions import ClientError

import helpers
from iam_support import client_as, creds_client, expire_session, user_with_key


def refusal_ids(client, call):
    """Runs a refused call; returns (code, body RequestId, header id, x-amzn-RequestId)."""
    seen = {}

    def grab(http_response, **_):
        seen["body"] = http_response.content.decode()
        seen["headers"] = http_response.headers

    client.meta.events.register("after-call.s3", grab)
    with pytest.raises(ClientError) as e:
        call(client)
    body_id = re.search(r"<RequestId>([^<]*)</RequestId>", seen["body"])
    return (e.value.response["Error"]["Code"], body_id and body_id.group(1),
            seen["headers"].get("x-amz-request-id"), seen["headers"].get("x-amzn-RequestId"))


def assert_one_id(ids, code):
    got_code, body_id, header_id, amzn_id = ids
    assert got_code == code
    assert body_id and re.fullmatch(r"[0-9A-F]{16}", body_id), body_id
    assert body_id == header_id == amzn_id


def test_access_denied_bodies_name_the_responses_request_id(server):
    iam = server.client("iam")
    _, key, secret = user_with_key(iam)
    s3 = client_as(server, "s3", key, secret)
    first = refusal_ids(s3, lambda c: c.list_buckets())
    assert_one_id(first, "AccessDenied")
    second = refusal_ids(s3, lambda c: c.get_object(Bucket="some-bucket", Key="k"))
    assert_one_id(second, "AccessDenied")
    assert first[1] != second[1], "each request has its own id"


def test_a_bucket_policys_deny_and_an_expired_session_too(server):
    root = server.client("s3")
    bucket = helpers.unique_bucket()
    root.create_bucket(Bucket=bucket)
    root.put_object(Bucket=bucket, Key="k", Body=b"x")
    root.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    assert_one_id(refusal_ids(root, lambda c: c.get_object(Bucket=bucket, Key="k")),
                  "AccessDenied")
    creds = server.client("sts").get_session_token()["Credentials"]
    expire_session(server, creds["AccessKeyId"])
    expired = creds_client(server, "s3", creds)
    assert_one_id(refusal_ids(expired, lambda c: c.list_buckets()), "ExpiredToken")
