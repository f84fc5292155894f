"""The other ways S3 clients authenticate: SigV2 (the `AWS key:signature` header and presigned
URLs with `AWSAccessKeyId`/`Signature`/`Expires`), and browser POST form uploads signed with a
policy (boto3's generate_presigned_post)."""

from helpers import ACCESS_KEY, REGION, SECRET_KEY, http_request

import boto3
import pytest
from botocore.config import Config

from s3_support import bucket, expect_error, post_form, s3  # noqa: F401 (module fixtures)


@pytest.fixture(scope="module")
def sigv2(server):
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


def test_sigv2_header_signed_requests(sigv2, s3, bucket):
    sigv2.put_object(Bucket=bucket, Key="v2", Body=b"signed the old way")
    assert sigv2.get_object(Bucket=bucket, Key="v2")["Body"].read() == b"signed the old way"
    assert s3.get_object(Bucket=bucket, Key="v2")["Body"].read() == b"signed the old way"


def test_sigv2_presigned_url(sigv2, s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared", Body=b"shared body")
    url = sigv2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    status, _, body = http_request("GET", url)
    assert (status, body) == (200, b"shared body")
    forged = url.replace("Signature=", "Signature=x")
    status, _, body = http_request("GET", forged)
    assert status == 403
    assert b"<Error>" in body and b"shared body" not in body


def test_sigv2_with_a_wrong_secret_is_refused(server, bucket):
    wrong = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="wrong",
        config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    expect_error(wrong.put_object, "SignatureDoesNotMatch", 403, Bucket=bucket, Key="x", Body=b"x")


def test_post_form_upload(s3, bucket):
    post = s3.generate_presigned_post(bucket, "uploads/photo.jpg", ExpiresIn=300)
    status, _, body = post_form(post["url"], post["fields"], "photo.jpg", b"form upload bytes")
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="uploads/photo.jpg")["Body"].read() == b"form upload bytes"


def test_post_form_with_a_tampered_policy_is_refused(s3, bucket):
    post = s3.generate_presigned_post(bucket, "k", ExpiresIn=300)
    fields = dict(post["fields"])
    fields["x-amz-signature"] = "0" * 64
    status, _, body = post_form(post["url"], fields, "f", b"nope")
    assert status == 403, body
    assert b"<Error>" in body
    expect_error(s3.head_object, "404", 404, Bucket=bucket, Key="k")


def test_post_form_key_takes_the_uploaded_file_name(s3, bucket):
    post = s3.generate_presigned_post(
        bucket, "uploads/${filename}", ExpiresIn=300,
        Conditions=[["starts-with", "$key", "uploads/"]],
    )
    status, _, body = post_form(post["url"], post["fields"], "report.pdf", b"named by the browser")
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="uploads/report.pdf")["Body"].read() == b"named by the browser"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="uploads/")["Contents"]]
    assert "uploads/${filename}" not in keys


def test_post_form_policy_conditions_see_the_substituted_key(s3, bucket):
    post = s3.generate_presigned_post(
        bucket, "${filename}", ExpiresIn=300, Conditions=[["starts-with", "$key", "foo"]],
    )
    status, _, body = post_form(post["url"], post["fields"], "foo.txt", b"bar")
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="foo.txt")["Body"].read() == b"bar"
    status, _, body = post_form(post["url"], post["fields"], "other.txt", b"bar")
    assert status == 403, body
    assert b"<Code>AccessDenied</Code>" in body
    assert b"Invalid according to Policy: Policy Condition failed: [&quot;starts-with&quot;, &quot;$key&quot;, &quot;foo&quot;]" in body
    expect_error(s3.head_object, "404", 404, Bucket=bucket, Key="other.txt")
