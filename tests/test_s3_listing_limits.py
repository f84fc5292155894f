"""Listings and request limits as S3 answers them: MaxKeys=0, `EncodingType=url` (a space is
%20, a plus %2B), ListObjects (V1) answering its prefix as sent, an empty delimiter not echoed,
FetchOwner, DeleteObjects' 1,000-key limit, and an owner re-creating a bucket."""

import boto3
import pytest
from botocore.config import Config

import helpers
from s3_support import bucket, drop_bucket, expect_error, s3  # noqa: F401 (module fixtures)

KEYS = ["a b/one", "a b/two", "plain", "x+y", "sp ace"]


@pytest.fixture
def listed(s3, bucket):
    for k in KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    return bucket


def test_max_keys_zero_is_not_truncated(s3, listed):
    v2 = s3.list_objects_v2(Bucket=listed, MaxKeys=0)
    assert v2["IsTruncated"] is False
    assert v2["KeyCount"] == 0
    assert "Contents" not in v2
    v1 = s3.list_objects(Bucket=listed, MaxKeys=0)
    assert v1["IsTruncated"] is False
    assert "Contents" not in v1


def test_encoding_type_url_percent_encodes_spaces_and_pluses(s3, listed):
    # Asking for the encoding explicitly turns off botocore's decoding, so the wire values show.
    v2 = s3.list_objects_v2(Bucket=listed, EncodingType="url")
    assert v2["EncodingType"] == "url"
    assert sorted(o["Key"] for o in v2["Contents"]) == sorted(
        ["a%20b/one", "a%20b/two", "plain", "x%2By", "sp%20ace"]
    )
    rolled = s3.list_objects_v2(Bucket=listed, EncodingType="url", Delimiter="/", Prefix="a b")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a%20b/"]
    assert rolled["Prefix"] == "a%20b"


def test_default_listings_round_trip_spaces_and_pluses(s3, listed):
    v2 = s3.list_objects_v2(Bucket=listed)
    assert sorted(o["Key"] for o in v2["Contents"]) == sorted(KEYS)
    v1 = s3.list_objects(Bucket=listed)
    assert sorted(o["Key"] for o in v1["Contents"]) == sorted(KEYS)


def test_list_objects_v1_answers_the_prefix_as_sent(s3, listed):
    v1 = s3.list_objects(Bucket=listed, Prefix="a b/", EncodingType="url")
    assert v1["Prefix"] == "a b/"
    assert [o["Key"] for o in v1["Contents"]] == ["a%20b/one", "a%20b/two"]


def test_empty_delimiter_is_not_echoed(s3, listed):
    v2 = s3.list_objects_v2(Bucket=listed, Delimiter="")
    assert "Delimiter" not in v2
    assert len(v2["Contents"]) == len(KEYS)
    v1 = s3.list_objects(Bucket=listed, Delimiter="")
    assert "Delimiter" not in v1
    assert "CommonPrefixes" not in v1


def test_fetch_owner(s3, listed):
    plain = s3.list_objects_v2(Bucket=listed)
    assert all("Owner" not in o for o in plain["Contents"])
    owned = s3.list_objects_v2(Bucket=listed, FetchOwner=True)
    assert all(o["Owner"]["ID"] for o in owned["Contents"])
    owner = s3.list_buckets()["Owner"]
    assert owned["Contents"][0]["Owner"]["ID"] == owner["ID"]
    # Version 1 always names the owner.
    assert all(o["Owner"]["ID"] == owner["ID"] for o in s3.list_objects(Bucket=listed)["Contents"])


def test_delete_objects_with_more_than_1000_keys_is_malformed(s3, listed):
    objects = [{"Key": f"k{i}"} for i in range(1000)] + [{"Key": "plain"}]
    expect_error(s3.delete_objects, "MalformedXML", 400, Bucket=listed, Delete={"Objects": objects})
    assert "plain" in [o["Key"] for o in s3.list_objects_v2(Bucket=listed)["Contents"]]
    # Exactly 1,000 is allowed.
    resp = s3.delete_objects(Bucket=listed, Delete={"Objects": objects[1:]})
    assert len(resp["Deleted"]) == 1000
    assert "plain" not in [o["Key"] for o in s3.list_objects_v2(Bucket=listed).get("Contents", [])]


def test_owner_recreating_a_bucket_in_us_east_1_succeeds(s3, bucket):
    s3.put_object(Bucket=bucket, Key="kept", Body=b"still here")
    resp = s3.create_bucket(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"still here"


def test_owner_recreating_a_bucket_elsewhere_is_already_owned(server, bucket):
    eu = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="eu-west-1",
        aws_access_key_id=helpers.ACCESS_KEY,
        aws_secret_access_key=helpers.SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
    )
    expect_error(
        eu.create_bucket, "BucketAlreadyOwnedByYou", 409,
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )

