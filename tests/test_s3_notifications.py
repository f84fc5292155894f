"""Bucket notifications to Lambda functions: the configuration API and its validation, which
writes produce events (exactly one per matching write, none otherwise), the S3 event record,
an upload-transform-upload pipeline end to end, and function code taken from a bucket."""

import datetime
import hashlib
import re
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from helpers import (
    REGION,
    Records,
    allow_bucket,
    assert_error,
    code_sha256,
    create_kwargs,
    function_arn,
    invoke,
    make_client,
    make_s3_client,
    make_zip,
    recorder_kwargs,
    recorder_zip,
    s3_error,
    unique_bucket,
    unique_name,
    wait_until,
)

EVENT_DEADLINE_S = 30
# How long to keep watching for events that must not arrive.
QUIET_S = 2.5


@pytest.fixture(scope="module")
def s3(server):
    return make_s3_client(server.url)


@pytest.fixture
def bucket(s3):
    name = unique_bucket("src")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def recorder(s3, new_function):
    """A recorder function and what it recorded: returns (function ARN, Records)."""
    records_bucket = unique_bucket("rec")
    s3.create_bucket(Bucket=records_bucket)
    fn = new_function(zip_bytes=recorder_zip(), **recorder_kwargs(records_bucket))
    return fn["FunctionArn"], Records(s3, records_bucket)


def lambda_config(arn, events, config_id=None, prefix=None, suffix=None, rule_names=("prefix", "suffix")):
    cfg = {"LambdaFunctionArn": arn, "Events": list(events)}
    if config_id:
        cfg["Id"] = config_id
    rules = []
    if prefix is not None:
        rules.append({"Name": rule_names[0], "Value": prefix})
    if suffix is not None:
        rules.append({"Name": rule_names[1], "Value": suffix})
    if rules:
        cfg["Filter"] = {"Key": {"FilterRules": rules}}
    return cfg


def configure(s3, bucket, *configs, grant=True):
    """Point the bucket's notifications at functions; with `grant`, first let S3 invoke each
    function for this bucket (AddPermission), as AWS requires before it accepts them."""
    if grant:
        lam = make_client(s3.meta.endpoint_url)
        for arn in {c["LambdaFunctionArn"] for c in configs}:
            if arn.startswith("arn:aws:lambda:"):
                allow_bucket(lam, arn, bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": list(configs)}
    )


def s3_records(records):
    """The S3 event records inside recorded invocations (one per invocation, as S3 sends them)."""
    out = []
    for r in records:
        event = r["event"]
        assert isinstance(event, dict) and len(event.get("Records", [])) == 1, event
        out.append(event["Records"][0])
    return out


def event_key(rec):
    return urllib.parse.unquote_plus(rec["s3"]["object"]["key"])


# --- configuration -------------------------------------------------------------


def test_configuration_round_trip(s3, bucket, new_function):
    arn = new_function()["FunctionArn"]
    assert s3.get_bucket_notification_configuration(Bucket=bucket).get("LambdaFunctionConfigurations") is None
    configure(
        s3, bucket,
        lambda_config(arn, ["s3:ObjectCreated:*"], "images", prefix="images/", suffix=".jpg"),
        lambda_config(arn, ["s3:ObjectRemoved:*"], "removals"),
        lambda_config(arn, ["s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload"], "docs",
                      prefix="docs/", rule_names=("Prefix", "Suffix")),
        lambda_config(arn, ["s3:ObjectCreated:Put", "s3:ObjectRemoved:Delete"], "exact", suffix=".csv"),
    )
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert not got.get("QueueConfigurations") and not got.get("TopicConfigurations")
    by_id = {c["Id"]: c for c in got["LambdaFunctionConfigurations"]}
    assert set(by_id) == {"images", "removals", "docs", "exact"}
    assert all(c["LambdaFunctionArn"] == arn for c in by_id.values())
    assert by_id["images"]["Events"] == ["s3:ObjectCreated:*"]
    assert by_id["images"]["Filter"] == {"Key": {"FilterRules": [
        {"Name": "Prefix", "Value": "images/"}, {"Name": "Suffix", "Value": ".jpg"}]}}
    assert by_id["removals"]["Events"] == ["s3:ObjectRemoved:*"]
    assert "Filter" not in by_id["removals"]
    assert sorted(by_id["docs"]["Events"]) == ["s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectCreated:Copy"]
    assert by_id["docs"]["Filter"]["Key"]["FilterRules"] == [{"Name": "Prefix", "Value": "docs/"}]
    assert sorted(by_id["exact"]["Events"]) == ["s3:ObjectCreated:Put", "s3:ObjectRemoved:Delete"]
    assert by_id["exact"]["Filter"]["Key"]["FilterRules"] == [{"Name": "Suffix", "Value": ".csv"}]

    # A PUT replaces the whole configuration; an empty one removes everything.
    configure(s3, bucket, lambda_config(arn, ["s3:ObjectRemoved:Delete"], "only"))
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert [c["Id"] for c in got["LambdaFunctionConfigurations"]] == ["only"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert s3.get_bucket_notification_configuration(Bucket=bucket).get("LambdaFunctionConfigurations") is None


def test_configuration_without_id_gets_one(s3, bucket, new_function):
    arn = new_function()["FunctionArn"]
    configure(s3, bucket, lambda_config(arn, ["s3:ObjectCreated:*"]))
    [cfg] = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
    assert cfg.get("Id"), cfg


def test_configuration_on_missing_bucket(s3, new_function):
    arn = new_function()["FunctionArn"]
    with pytest.raises(ClientError) as e:
        configure(s3, unique_bucket("missing"), lambda_config(arn, ["s3:ObjectCreated:*"]))
    assert s3_error(e.value) == ("NoSuchBucket", 404)


def test_configuration_pointing_at_missing_function_is_rejected(s3, bucket, new_function):
    arn = new_function()["FunctionArn"]
    configure(s3, bucket, lambda_config(arn, ["s3:ObjectCreated:*"], "kept"))
    with pytest.raises(ClientError) as e:
        configure(s3, bucket, lambda_config(function_arn("no-such-function-" + bucket[-12:]),
                                            ["s3:ObjectCreated:*"]), grant=False)
    assert s3_error(e.value) == ("InvalidArgument", 400)
    assert "Unable to validate the following destination configurations" in e.value.response["Error"]["Message"]
    # The rejected PUT left the previous configuration in place.
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert [c["Id"] for c in got["LambdaFunctionConfigurations"]] == ["kept"]


def test_configuration_needs_the_functions_permission(s3, bucket, new_function, lambda_client):
    """S3 validates a destination by invoking permission, as on AWS: without a statement for
    s3.amazonaws.com naming this bucket, the configuration is refused and nothing is stored."""
    arn = new_function()["FunctionArn"]
    cfg = lambda_config(arn, ["s3:ObjectCreated:*"], "denied")
    allow_bucket(lambda_client, arn, "some-other-bucket")
    with pytest.raises(ClientError) as e:
        configure(s3, bucket, cfg, grant=False)
    assert s3_error(e.value) == ("InvalidArgument", 400)
    assert "Unable to validate the following destination configurations" in e.value.response["Error"]["Message"]
    assert s3.get_bucket_notification_configuration(Bucket=bucket).get("LambdaFunctionConfigurations") is None
    allow_bucket(lambda_client, arn, bucket)
    configure(s3, bucket, cfg, grant=False)
    [got] = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
    assert got["Id"] == "denied"


@pytest.mark.parametrize("case", ["bad-arn", "bad-rule-name", "bad-event"])
def test_invalid_configurations_are_rejected(s3, bucket, new_function, case):
    arn = new_function()["FunctionArn"]
    cfg = {
        "bad-arn": lambda_config("not-an-arn", ["s3:ObjectCreated:*"]),
        "bad-rule-name": lambda_config(arn, ["s3:ObjectCreated:*"], prefix="a/", rule_names=("contains", "")),
        "bad-event": lambda_config(arn, ["s3:ObjectCreated:Everything"]),
    }[case]
    with pytest.raises(ClientError) as e:
        configure(s3, bucket, cfg)
    assert s3_error(e.value) == ("InvalidArgument", 400)


# --- which writes produce events ---------------------------------------------------


def test_exactly_one_event_per_matching_write(s3, bucket, recorder):
    arn, records = recorder
    configure(s3, bucket, lambda_config(arn, ["s3:ObjectCreated:*"], "csv-in", prefix="in/", suffix=".csv"))
    for key in ("in/b.txt", "out/c.csv", "in.csv", "IN/d.csv", "xin/e.csv", "in/f.csv.bak"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"not for us")
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"first")
    s3.put_object(Bucket=bucket, Key="in/sub/e.csv", Body=b"nested")
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"second version")

    records.wait_for(3, EVENT_DEADLINE_S)
    recs = s3_records(records.assert_stays(3, QUIET_S))
    assert sorted(event_key(r) for r in recs) == ["in/a.csv", "in/a.csv", "in/sub/e.csv"]
    assert all(r["s3"]["configurationId"] == "csv-in" for r in recs)
    # Two writes to one key: two events, ordered by their sequencers.
    a = sorted((r for r in recs if event_key(r) == "in/a.csv"), key=lambda r: r["s3"]["object"]["size"])
    assert [r["s3"]["object"]["size"] for r in a] == [len(b"first"), len(b"second version")]
    seq = [r["s3"]["object"]["sequencer"] for r in a]
    width = max(map(len, seq))
    assert seq[0].rjust(width, "0") < seq[1].rjust(width, "0"), seq


def test_specific_event_types(s3, bucket, recorder):
    arn, records = recorder
    configure(
        s3, bucket,
        lambda_config(arn, ["s3:ObjectCreated:Put"], "put"),
        lambda_config(arn, ["s3:ObjectCreated:Copy"], "copy"),
        lambda_config(arn, ["s3:ObjectCreated:CompleteMultipartUpload"], "mpu"),
        lambda_config(arn, ["s3:ObjectRemoved:Delete"], "delete"),
    )
    s3.put_object(Bucket=bucket, Key="a", Body=b"aaa")
    s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="c")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="c", UploadId=upload, PartNumber=1, Body=b"ccc")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.delete_object(Bucket=bucket, Key="a")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}, {"Key": "c"}]})

    records.wait_for(6, EVENT_DEADLINE_S)
    recs = s3_records(records.assert_stays(6, QUIET_S))
    got = sorted((r["eventName"], r["s3"]["configurationId"], event_key(r)) for r in recs)
    assert got == sorted([
        ("ObjectCreated:Put", "put", "a"),
        ("ObjectCreated:Copy", "copy", "b"),
        ("ObjectCreated:CompleteMultipartUpload", "mpu", "c"),
        ("ObjectRemoved:Delete", "delete", "a"),
        ("ObjectRemoved:Delete", "delete", "b"),
        ("ObjectRemoved:Delete", "delete", "c"),
    ])
    mpu = next(r for r in recs if r["eventName"] == "ObjectCreated:CompleteMultipartUpload")
    expected = hashlib.md5(hashlib.md5(b"ccc").digest()).hexdigest() + "-1"
    assert mpu["s3"]["object"]["eTag"] == expected
    assert mpu["s3"]["object"]["size"] == 3
    copy = next(r for r in recs if r["eventName"] == "ObjectCreated:Copy")
    assert copy["s3"]["object"]["eTag"] == hashlib.md5(b"aaa").hexdigest()


def test_versioned_events_carry_version_ids(s3, bucket, recorder):
    arn, records = recorder
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    configure(
        s3, bucket,
        lambda_config(arn, ["s3:ObjectCreated:*"], "created"),
        lambda_config(arn, ["s3:ObjectRemoved:*"], "removed"),
    )
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)

    records.wait_for(3, EVENT_DEADLINE_S)
    recs = s3_records(records.assert_stays(3, QUIET_S))
    got = sorted((r["eventName"], r["s3"]["object"].get("versionId")) for r in recs)
    assert got == sorted([
        ("ObjectCreated:Put", v1),
        ("ObjectRemoved:DeleteMarkerCreated", marker),
        ("ObjectRemoved:Delete", v1),
    ])


def test_wildcard_event_types(s3, bucket, recorder):
    arn, records = recorder
    configure(
        s3, bucket,
        lambda_config(arn, ["s3:ObjectCreated:*"], "created"),
        lambda_config(arn, ["s3:ObjectRemoved:*"], "removed"),
    )
    s3.put_object(Bucket=bucket, Key="w", Body=b"w")
    s3.copy_object(Bucket=bucket, Key="w2", CopySource={"Bucket": bucket, "Key": "w"})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="w3")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="w3", UploadId=upload, PartNumber=1, Body=b"w3")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="w3", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.delete_object(Bucket=bucket, Key="w")
    records.wait_for(4, EVENT_DEADLINE_S)
    recs = s3_records(records.assert_stays(4, QUIET_S))
    assert sorted((r["eventName"], r["s3"]["configurationId"], event_key(r)) for r in recs) == sorted([
        ("ObjectCreated:Put", "created", "w"),
        ("ObjectCreated:Copy", "created", "w2"),
        ("ObjectCreated:CompleteMultipartUpload", "created", "w3"),
        ("ObjectRemoved:Delete", "removed", "w"),
    ])


def test_no_events_without_a_configuration_or_after_removing_it(s3, bucket, recorder):
    arn, records = recorder
    s3.put_object(Bucket=bucket, Key="before", Body=b"x")
    configure(s3, bucket, lambda_config(arn, ["s3:ObjectCreated:*"], "temp"))
    s3.put_object(Bucket=bucket, Key="during", Body=b"x")
    records.wait_for(1, EVENT_DEADLINE_S)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    s3.put_object(Bucket=bucket, Key="after", Body=b"x")
    recs = s3_records(records.assert_stays(1, QUIET_S))
    assert [event_key(r) for r in recs] == ["during"]


# --- the event record ------------------------------------------------------------


def test_event_record_shape(s3, bucket, recorder):
    arn, records = recorder
    configure(s3, bucket, lambda_config(arn, ["s3:ObjectCreated:*"], "shape-check"))
    key = "uploads/my photo+1 (final).txt"
    body = b"record shape body"
    before = datetime.datetime.now(datetime.timezone.utc)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    [rec] = s3_records(records.wait_for(1, EVENT_DEADLINE_S))
    after = datetime.datetime.now(datetime.timezone.utc)

    assert rec["eventVersion"] == "2.1"
    assert rec["eventSource"] == "aws:s3"
    assert rec["awsRegion"] == REGION
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", rec["eventTime"]), rec["eventTime"]
    when = datetime.datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    assert before - datetime.timedelta(seconds=5) <= when <= after + datetime.timedelta(seconds=5)
    assert rec["eventName"] == "ObjectCreated:Put"
    assert rec["userIdentity"]["principalId"]
    assert rec["requestParameters"]["sourceIPAddress"]
    assert rec["responseElements"]["x-amz-request-id"]
    assert rec["responseElements"]["x-amz-id-2"]
    s3part = rec["s3"]
    assert s3part["s3SchemaVersion"] == "1.0"
    assert s3part["configurationId"] == "shape-check"
    assert s3part["bucket"] == {
        "name": bucket,
        "ownerIdentity": {"principalId": s3part["bucket"]["ownerIdentity"]["principalId"]},
        "arn": f"arn:aws:s3:::{bucket}",
    }
    assert s3part["bucket"]["ownerIdentity"]["principalId"]
    obj = s3part["object"]
    # URL-encoded, with spaces as '+': a '+' in the key itself is %2B.
    assert " " not in obj["key"] and "+" in obj["key"]
    assert obj["key"].startswith("uploads/my+photo%2B1+")
    assert urllib.parse.unquote_plus(obj["key"]) == key
    assert obj["size"] == len(body) and isinstance(obj["size"], int)
    assert obj["eTag"] == hashlib.md5(body).hexdigest()
    assert re.match(r"^[0-9A-F]+$", obj["sequencer"]), obj["sequencer"]
    assert "versionId" not in obj


def test_form_upload_is_a_post_event(s3, bucket, recorder):
    from s3_support import post_form

    arn, records = recorder
    configure(
        s3, bucket,
        lambda_config(arn, ["s3:ObjectCreated:Post"], "post"),
        lambda_config(arn, ["s3:ObjectCreated:Put"], "put"),
    )
    form = s3.generate_presigned_post(bucket, "form.txt", ExpiresIn=300)
    status, _, body = post_form(form["url"], form["fields"], "form.txt", b"posted")
    assert status == 204, body
    records.wait_for(1, EVENT_DEADLINE_S)
    recs = s3_records(records.assert_stays(1, QUIET_S))
    assert [(r["eventName"], r["s3"]["configurationId"], event_key(r)) for r in recs] == [
        ("ObjectCreated:Post", "post", "form.txt")
    ]


def test_event_request_id_is_the_put_request_id(s3, bucket, recorder):
    """responseElements.x-amz-request-id names the request that caused the event: the
    `x-amz-request-id` S3 returned for the PutObject."""
    arn, records = recorder
    configure(s3, bucket, lambda_config(arn, ["s3:ObjectCreated:*"], "rid"))
    resp = s3.put_object(Bucket=bucket, Key="rid", Body=b"x")
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    [rec] = s3_records(records.wait_for(1, EVENT_DEADLINE_S))
    assert "x-amz-request-id" in headers, f"PutObject response has no x-amz-request-id header: {headers}"
    assert rec["responseElements"]["x-amz-request-id"] == headers["x-amz-request-id"]


def test_deleting_the_function_stops_delivery_without_breaking_writes(s3, bucket, new_function, lambda_client):
    records_bucket = unique_bucket("rec")
    s3.create_bucket(Bucket=records_bucket)
    fn = new_function(zip_bytes=recorder_zip(), **recorder_kwargs(records_bucket))
    records = Records(s3, records_bucket)
    configure(s3, bucket, lambda_config(fn["FunctionArn"], ["s3:ObjectCreated:*"], "gone"))
    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    records.wait_for(1, EVENT_DEADLINE_S)
    lambda_client.delete_function(FunctionName=fn["FunctionName"])
    assert s3.put_object(Bucket=bucket, Key="two", Body=b"2")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="two")["Body"].read() == b"2"
    records.assert_stays(1, 1.0)


# --- the seed example: upload, transform, upload ------------------------------------

TRANSFORM_SOURCE = '''
import os, urllib.parse

import boto3

S3 = boto3.client("s3")


def handler(event, context):
    done = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        body = S3.get_object(Bucket=bucket, Key=key)["Body"].read()
        out_key = "upper/" + key
        S3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=out_key, Body=body.upper(),
                      ContentType="text/plain", Metadata={"source": bucket + "/" + key})
        done.append(out_key)
    return done
'''


def test_upload_triggers_transform_into_another_bucket(s3, new_function):
    incoming, outgoing = unique_bucket("in"), unique_bucket("out")
    s3.create_bucket(Bucket=incoming)
    s3.create_bucket(Bucket=outgoing)
    fn = new_function(zip_bytes=make_zip({"app.py": TRANSFORM_SOURCE}), Timeout=60,
                      Environment={"Variables": {"OUTPUT_BUCKET": outgoing}})
    configure(s3, incoming, lambda_config(fn["FunctionArn"], ["s3:ObjectCreated:*"], "transform",
                                          suffix=".txt"))
    key = "reports/q1 summary.txt"
    s3.put_object(Bucket=incoming, Key=key, Body=b"hello, stratus! 42")
    s3.put_object(Bucket=incoming, Key="reports/ignored.bin", Body=b"binary")

    def transformed():
        try:
            return s3.get_object(Bucket=outgoing, Key=f"upper/{key}")
        except ClientError as e:
            if s3_error(e)[0] == "NoSuchKey":
                return None
            raise

    got = wait_until(transformed, EVENT_DEADLINE_S, interval=0.2, message="the transformed object")
    assert got["Body"].read() == b"HELLO, STRATUS! 42"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"source": f"{incoming}/{key}"}
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=outgoing).get("Contents", [])]
    assert listed == [f"upper/{key}"]


# --- function code from a bucket --------------------------------------------------


def test_create_function_with_code_from_the_object_store(s3, lambda_client, invoke_client, new_function):
    code_bucket = unique_bucket("code")
    s3.create_bucket(Bucket=code_bucket)
    package = make_zip({"app.py": "def handler(event, context):\n    return {'from': 's3', 'n': event['n']}\n"})
    s3.put_object(Bucket=code_bucket, Key="pkg/v1.zip", Body=package)
    fn = new_function(Code={"S3Bucket": code_bucket, "S3Key": "pkg/v1.zip"})
    assert fn["CodeSha256"] == code_sha256(package)
    assert fn["CodeSize"] == len(package)
    inv = invoke(invoke_client, fn["FunctionName"], {"n": 7})
    assert inv.function_error is None, inv
    assert inv.payload == {"from": "s3", "n": 7}

    updated = make_zip({"app.py": "def handler(event, context):\n    return 'version two'\n"})
    s3.put_object(Bucket=code_bucket, Key="pkg/v2.zip", Body=updated)
    resp = lambda_client.update_function_code(FunctionName=fn["FunctionName"], S3Bucket=code_bucket,
                                              S3Key="pkg/v2.zip")
    assert resp["CodeSha256"] == code_sha256(updated)
    lambda_client.get_waiter("function_updated_v2").wait(
        FunctionName=fn["FunctionName"], WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    assert invoke(invoke_client, fn["FunctionName"], {}).payload == "version two"


def test_create_function_with_missing_s3_code(s3, lambda_client):
    code_bucket = unique_bucket("code")
    s3.create_bucket(Bucket=code_bucket)
    kwargs = create_kwargs(unique_name())
    kwargs["Code"] = {"S3Bucket": code_bucket, "S3Key": "does/not/exist.zip"}
    with pytest.raises(ClientError) as e:
        lambda_client.create_function(**kwargs)
    assert_error(
        e.value, "InvalidParameterValueException", 400,
        message="Error occurred while GetObject. S3 Error Code: NoSuchKey. "
                "S3 Error Message: The specified key does not exist.",
    )
    kwargs["Code"] = {"S3Bucket": unique_bucket("missing"), "S3Key": "x.zip"}
    with pytest.raises(ClientError) as e:
        lambda_client.create_function(**kwargs)
    assert_error(
        e.value, "InvalidParameterValueException", 400,
        message="Error occurred while GetObject. S3 Error Code: NoSuchBucket. "
                "S3 Error Message: The specified bucket does not exist",
    )
    with pytest.raises(ClientError) as e:
        lambda_client.get_function(FunctionName=kwargs["FunctionName"])
    assert_error(e.value, "ResourceNotFoundException", 404)
