"""Bucket lifecycle: configurations kept and validated as S3 does (boto3), and applied by the
server's sweep — objects past an enabled rule's expiration deleted, incomplete multipart
uploads past DaysAfterInitiation aborted. A lifecycle "day" is shortened to one second here
(`STRATUS_LIFECYCLE_DAY_SECS`, a test-only setting) and the sweep runs every second."""

import datetime
import time

import pytest

import helpers
from helpers import Records, allow_bucket, make_s3_client, recorder_kwargs, recorder_zip, unique_bucket
# `bucket` asks for `s3` by name, so it gets this module's client of the fast server.
from s3_support import bucket, drop_bucket, expect_error  # noqa: F401 (module fixture)

UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def fast(module_server_factory):
    """A server whose lifecycle day lasts one second, swept every second."""
    return module_server_factory(env={
        "STRATUS_LIFECYCLE_DAY_SECS": "1",
        "STRATUS_LIFECYCLE_SWEEP_SECS": "1",
    })


@pytest.fixture(scope="module")
def s3(fast):
    return make_s3_client(fast.url)


RULES = [
    {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
    {"ID": "tagged", "Status": "Disabled", "Filter": {"Tag": {"Key": "tmp", "Value": "1"}},
     "Expiration": {"Date": datetime.datetime(2030, 1, 1, tzinfo=UTC)}},
    {"ID": "and", "Status": "Enabled",
     "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}],
                        "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 1000}},
     "Expiration": {"Days": 1}, "NoncurrentVersionExpiration": {"NoncurrentDays": 5}},
    {"ID": "uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
    {"ID": "markers", "Status": "Enabled", "Filter": {"ObjectSizeLessThan": 5},
     "Expiration": {"ExpiredObjectDeleteMarker": True}},
]


def put_rules(s3, bucket, rules):
    return s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


def wait_until(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def keys(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_configuration_round_trip_and_delete(s3, bucket):
    expect_error(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", 404, Bucket=bucket)
    put_rules(s3, bucket, RULES)
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == RULES
    assert s3.delete_bucket_lifecycle(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", 404, Bucket=bucket)
    expect_error(put_rules, "NoSuchBucket", 404, s3=s3, bucket="no-such-bucket-here-x", rules=RULES)


@pytest.mark.parametrize("rule,code,message", [
    ({"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 0}},
     "InvalidArgument", "'Days' for Expiration action must be a positive integer"),
    ({"ID": "x", "Status": "Enabled", "Filter": {},
      "Expiration": {"Date": datetime.datetime(2030, 1, 1, 12, tzinfo=UTC)}},
     "InvalidArgument", "'Date' must be at midnight GMT"),
    ({"ID": "x", "Status": "Enabled", "Filter": {},
      "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 0}},
     "InvalidArgument", "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"),
    ({"ID": "x", "Status": "Enabled", "Filter": {}},
     "InvalidRequest", "At least one action needs to be specified in a rule"),
    ({"ID": "x" * 256, "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}},
     "InvalidArgument", "ID length should not exceed allowed limit of 255"),
    ({"ID": "x", "Status": "Sometimes", "Filter": {}, "Expiration": {"Days": 1}},
     "MalformedXML", None),
    ({"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True}},
     "MalformedXML", None),
    ({"ID": "x", "Status": "Enabled", "Filter": {"Prefix": "a", "ObjectSizeLessThan": 3},
      "Expiration": {"Days": 1}},
     "MalformedXML", None),
])
def test_invalid_rules_are_refused_and_change_nothing(s3, bucket, rule, code, message):
    put_rules(s3, bucket, RULES[:1])
    e = expect_error(put_rules, code, 400, s3=s3, bucket=bucket, rules=[rule])
    if message:
        assert e["Error"]["Message"] == message
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == RULES[:1]


def test_rule_ids_must_be_unique(s3, bucket):
    e = expect_error(put_rules, "InvalidArgument", 400, s3=s3, bucket=bucket, rules=[RULES[0], RULES[0]])
    assert e["Error"]["Message"] == "Rule ID must be unique. Found same ID for more than one rule"
    expect_error(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", 404, Bucket=bucket)


def test_objects_past_an_enabled_rule_expire(s3, bucket):
    for key in ("logs/old", "logs/tagged", "keep/this", "slow/x", "off/y"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 20)
    s3.put_object_tagging(Bucket=bucket, Key="keep/this", Tagging={"TagSet": [{"Key": "keep", "Value": "yes"}]})
    put_rules(s3, bucket, [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}},
        # A tag the object does not have; a size it is not below.
        {"ID": "tag", "Status": "Enabled", "Filter": {"Tag": {"Key": "keep", "Value": "no"}},
         "Expiration": {"Days": 1}},
        {"ID": "small", "Status": "Enabled", "Filter": {"ObjectSizeLessThan": 20}, "Expiration": {"Days": 1}},
        {"ID": "slow", "Status": "Enabled", "Filter": {"Prefix": "slow/"}, "Expiration": {"Days": 100000}},
        {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "off/"}, "Expiration": {"Days": 1}},
    ])
    assert wait_until(lambda: keys(s3, bucket) == ["keep/this", "off/y", "slow/x"]), keys(s3, bucket)
    # Two more sweeps change nothing else.
    time.sleep(2.5)
    assert keys(s3, bucket) == ["keep/this", "off/y", "slow/x"]


def test_a_date_in_the_past_expires_every_selected_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a/1", Body=b"x")
    s3.put_object(Bucket=bucket, Key="b/1", Body=b"x")
    put_rules(s3, bucket, [{"ID": "past", "Status": "Enabled", "Filter": {"Prefix": "a/"},
                            "Expiration": {"Date": datetime.datetime(2020, 1, 1, tzinfo=UTC)}}])
    assert wait_until(lambda: keys(s3, bucket) == ["b/1"]), keys(s3, bucket)


def test_incomplete_multipart_uploads_are_aborted(s3, bucket):
    old = s3.create_multipart_upload(Bucket=bucket, Key="big/x")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="big/x", UploadId=old, PartNumber=1, Body=b"p")
    other = s3.create_multipart_upload(Bucket=bucket, Key="small/y")["UploadId"]
    put_rules(s3, bucket, [{"ID": "mp", "Status": "Enabled", "Filter": {"Prefix": "big/"},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}])

    def uploads():
        return [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    assert wait_until(lambda: uploads() == [other]), uploads()
    expect_error(s3.list_parts, "NoSuchUpload", 404, Bucket=bucket, Key="big/x", UploadId=old)


def test_expirations_notify_lifecycle_events(fast, s3, bucket):
    # S3 sends `s3:LifecycleExpiration:Delete` for the objects a rule expires, not a client's
    # `ObjectRemoved:Delete`.
    lam = fast.client()
    records_bucket = unique_bucket("rec")
    s3.create_bucket(Bucket=records_bucket)
    name = helpers.unique_name()
    arn = helpers.create_function(lam, name, recorder_zip(), **recorder_kwargs(records_bucket))["FunctionArn"]
    try:
        helpers.wait_active(lam, name)
        allow_bucket(lam, arn, bucket)
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:LifecycleExpiration:*", "s3:ObjectRemoved:*"]}]})
        s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
        put_rules(s3, bucket, [{"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""},
                                "Expiration": {"Days": 1}}])
        records = Records(s3, records_bucket).wait_for(1, 60)
        event = records[0]["event"]["Records"][0]
        assert (event["eventName"], event["s3"]["object"]["key"]) == ("LifecycleExpiration:Delete", "gone")
        time.sleep(2)
        assert len(Records(s3, records_bucket).all()) == 1, "one event per expiration"
    finally:
        lam.delete_function(FunctionName=name)
        drop_bucket(s3, records_bucket)


def test_in_a_versioned_bucket_expiry_leaves_one_delete_marker(s3, bucket):
    # On a versioning-enabled bucket, S3's Expiration action keeps the current version as a
    # noncurrent one and adds a delete marker; later sweeps leave the marker alone.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=bucket, Key="v/old", Body=b"kept")["VersionId"]
    put_rules(s3, bucket, [{"ID": "v", "Status": "Enabled", "Filter": {"Prefix": "v/"},
                            "Expiration": {"Days": 1}}])
    assert wait_until(lambda: keys(s3, bucket) == []), keys(s3, bucket)
    time.sleep(2.5)
    listed = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listed["Versions"]] == [version]
    assert not listed["Versions"][0]["IsLatest"]
    assert len(listed["DeleteMarkers"]) == 1 and listed["DeleteMarkers"][0]["IsLatest"]
    old = s3.get_object(Bucket=bucket, Key="v/old", VersionId=version)["Body"].read()
    assert old == b"kept"


def versions_of(s3, bucket, key):
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = listed.get("Versions", []) + listed.get("DeleteMarkers", [])
    return sorted(v["VersionId"] for v in entries if v["Key"] == key)


def test_noncurrent_versions_expire_beyond_the_newest_kept(s3, bucket):
    # NoncurrentVersionExpiration: a noncurrent version goes NoncurrentDays after it became
    # noncurrent, except the NewerNoncurrentVersions newest of them; the current one stays.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = [s3.put_object(Bucket=bucket, Key="h/k", Body=str(n).encode())["VersionId"]
           for n in range(3)]
    put_rules(s3, bucket, [{"ID": "nc", "Status": "Enabled", "Filter": {"Prefix": "h/"},
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 1,
                                                            "NewerNoncurrentVersions": 1}}])
    assert wait_until(lambda: versions_of(s3, bucket, "h/k") == sorted(ids[1:])), \
        versions_of(s3, bucket, "h/k")
    time.sleep(2.5)
    assert versions_of(s3, bucket, "h/k") == sorted(ids[1:])
    assert s3.get_object(Bucket=bucket, Key="h/k")["Body"].read() == b"2"


def test_a_delete_marker_left_alone_is_removed(s3, bucket):
    # ExpiredObjectDeleteMarker: once the noncurrent versions behind a delete marker have
    # expired, the marker goes too; a marker with a version that stays is kept.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="m/gone", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="m/gone")
    s3.put_object(Bucket=bucket, Key="other/kept", Body=b"y")
    s3.delete_object(Bucket=bucket, Key="other/kept")
    put_rules(s3, bucket, [
        {"ID": "m", "Status": "Enabled", "Filter": {"Prefix": "m/"},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"ID": "markers", "Status": "Enabled", "Filter": {"Prefix": ""},
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
    ])
    assert wait_until(lambda: versions_of(s3, bucket, "m/gone") == []), \
        versions_of(s3, bucket, "m/gone")
    time.sleep(2.5)
    assert len(versions_of(s3, bucket, "other/kept")) == 2


def expected_expiration(last_modified, days, rule_id):
    """S3's `x-amz-expiration`: the object's creation plus `days`, rounded up to the next
    midnight UTC (real days: the header does not follow the test's short day)."""
    due = last_modified.astimezone(UTC) + datetime.timedelta(days=days)
    midnight = due.replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight != due:
        midnight += datetime.timedelta(days=1)
    return f'expiry-date="{midnight.strftime("%a, %d %b %Y %H:%M:%S GMT")}", rule-id="{rule_id}"'


def test_reads_and_writes_tell_when_an_object_expires(s3, bucket):
    put_rules(s3, bucket, [
        {"ID": "short", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 300}},
        {"ID": "long", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 900}},
        {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "off/"}, "Expiration": {"Days": 300}},
        {"ID": "dated", "Status": "Enabled", "Filter": {"Prefix": "dated/"},
         "Expiration": {"Date": datetime.datetime(2099, 1, 1, tzinfo=UTC)}},
    ])
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="logs/a")
    expected = expected_expiration(head["LastModified"], 300, "short")  # the earliest rule
    assert put["Expiration"] == expected
    assert head["Expiration"] == expected
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == expected
    copy = s3.copy_object(Bucket=bucket, Key="logs/b", CopySource={"Bucket": bucket, "Key": "logs/a"})
    copied = s3.head_object(Bucket=bucket, Key="logs/b")
    assert copy["Expiration"] == expected_expiration(copied["LastModified"], 300, "short")

    s3.put_object(Bucket=bucket, Key="dated/x", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="dated/x")["Expiration"] == \
        'expiry-date="Thu, 01 Jan 2099 00:00:00 GMT", rule-id="dated"'
    for key in ("off/x", "other"):
        assert "Expiration" not in s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert "Expiration" not in s3.head_object(Bucket=bucket, Key=key)
