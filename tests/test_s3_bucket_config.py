"""What infrastructure tools read from a bucket: versioning status, ListObjectVersions, object
and bucket tagging (with S3's limits), ACLs, default encryption (kept, and reported by every
object), and, for each configuration a bucket does not have, S3's own not-found error."""

import pytest

from s3_support import bucket, expect_error, s3  # noqa: F401 (module fixtures)


# --- versioning --------------------------------------------------------------


def test_versioning_status_round_trip(s3, bucket):
    fresh = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in fresh
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    expect_error(
        s3.put_bucket_versioning, "MalformedXML", 400,
        Bucket=bucket, VersioningConfiguration={"Status": "Sometimes"},
    )
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_versioning_of_a_missing_bucket(s3):
    expect_error(s3.get_bucket_versioning, "NoSuchBucket", 404, Bucket="no-such-bucket-here-x")


def test_list_object_versions_of_an_unversioned_bucket(s3, bucket):
    for k in ("a/1", "a/2", "b"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    resp = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in resp["Versions"]] == [
        ("a/1", "null", True), ("a/2", "null", True), ("b", "null", True),
    ]
    assert resp["Versions"][2]["Size"] == 1
    assert "DeleteMarkers" not in resp
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/"]
    assert [v["Key"] for v in rolled["Versions"]] == ["b"]
    paged = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert paged["IsTruncated"] is True
    assert paged["NextKeyMarker"] == "a/2"
    rest = s3.list_object_versions(Bucket=bucket, KeyMarker=paged["NextKeyMarker"])
    assert [v["Key"] for v in rest["Versions"]] == ["b"]
    paginated = [
        v["Key"]
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1})
        for v in page.get("Versions", [])
    ]
    assert paginated == ["a/1", "a/2", "b"]


# --- object tagging ----------------------------------------------------------


def test_object_tagging_round_trip(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    tags = [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "a b+c"}]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": tags})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == tags
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 2
    resp = s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="t")


def test_tags_given_at_upload_and_copied(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b%20c=x%2By")
    expected = [{"Key": "a", "Value": "1"}, {"Key": "b c", "Value": "x+y"}]
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == expected
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "t"})
    assert s3.get_object_tagging(Bucket=bucket, Key="copied")["TagSet"] == expected
    s3.copy_object(
        Bucket=bucket, Key="retagged", CopySource={"Bucket": bucket, "Key": "t"},
        TaggingDirective="REPLACE", Tagging="only=this",
    )
    assert s3.get_object_tagging(Bucket=bucket, Key="retagged")["TagSet"] == [{"Key": "only", "Value": "this"}]
    # Overwriting the object drops its tags.
    s3.put_object(Bucket=bucket, Key="t", Body=b"y")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []


@pytest.mark.parametrize(
    "tags",
    [
        [{"Key": f"k{i}", "Value": "v"} for i in range(11)],
        [{"Key": "k" * 129, "Value": "v"}],
        [{"Key": "k", "Value": "v" * 257}],
        [{"Key": "same", "Value": "1"}, {"Key": "same", "Value": "2"}],
    ],
    ids=["eleven-tags", "long-key", "long-value", "duplicate-key"],
)
def test_object_tag_limits(s3, bucket, tags):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "kept", "Value": "1"}]})
    expect_error(s3.put_object_tagging, "InvalidTag", 400, Bucket=bucket, Key="t", Tagging={"TagSet": tags})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "kept", "Value": "1"}]


def test_object_tag_limits_at_the_edge_are_accepted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    tags = [{"Key": f"{i}" + "k" * 127, "Value": "v" * 256} for i in range(10)]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": tags})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == tags


def test_object_tagging_of_a_missing_key(s3, bucket):
    expect_error(s3.get_object_tagging, "NoSuchKey", 404, Bucket=bucket, Key="absent")
    expect_error(
        s3.put_object_tagging, "NoSuchKey", 404,
        Bucket=bucket, Key="absent", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]},
    )


def test_too_many_tags_at_upload_store_nothing(s3, bucket):
    header = "&".join(f"k{i}=v" for i in range(11))
    expect_error(s3.put_object, "InvalidTag", 400, Bucket=bucket, Key="t", Body=b"x", Tagging=header)
    expect_error(s3.head_object, "404", 404, Bucket=bucket, Key="t")


# --- bucket tagging ----------------------------------------------------------


def test_bucket_tagging_round_trip(s3, bucket):
    expect_error(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket=bucket)
    tags = [{"Key": f"k{i}", "Value": str(i)} for i in range(50)]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    too_many = tags + [{"Key": "k50", "Value": "50"}]
    expect_error(s3.put_bucket_tagging, "InvalidTag", 400, Bucket=bucket, Tagging={"TagSet": too_many})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket=bucket)


# --- configurations a bucket does not have ------------------------------------


@pytest.mark.parametrize(
    "operation,code",
    [
        ("get_bucket_cors", "NoSuchCORSConfiguration"),
        ("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration"),
        ("get_bucket_policy", "NoSuchBucketPolicy"),
        ("get_bucket_policy_status", "NoSuchBucketPolicy"),
        ("get_bucket_website", "NoSuchWebsiteConfiguration"),
        ("get_public_access_block", "NoSuchPublicAccessBlockConfiguration"),
        ("get_bucket_ownership_controls", "OwnershipControlsNotFoundError"),
        ("get_object_lock_configuration", "ObjectLockConfigurationNotFoundError"),
        ("get_bucket_replication", "ReplicationConfigurationNotFoundError"),
    ],
)
def test_absent_configuration_errors(s3, bucket, operation, code):
    expect_error(getattr(s3, operation), code, 404, Bucket=bucket)
    expect_error(getattr(s3, operation), "NoSuchBucket", 404, Bucket="no-such-bucket-here-x")


@pytest.mark.parametrize(
    "operation",
    [
        "delete_bucket_cors",
        "delete_bucket_lifecycle",
        "delete_bucket_encryption",
        "delete_bucket_policy",
        "delete_bucket_website",
        "delete_public_access_block",
        "delete_bucket_ownership_controls",
        "delete_bucket_replication",
    ],
)
def test_deleting_an_absent_configuration_succeeds(s3, bucket, operation):
    resp = getattr(s3, operation)(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_default_encryption_is_sse_s3(s3, bucket):
    # As on S3 since January 2023: every bucket reports AES256 default encryption.
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                      "BucketKeyEnabled": False}]
    expect_error(s3.get_bucket_encryption, "NoSuchBucket", 404, Bucket="no-such-bucket-here-x")


def test_default_encryption_is_kept_and_reverts_on_delete(s3, bucket):
    kms = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/app"},
           "BucketKeyEnabled": True}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [kms]})
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [kms]
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                      "BucketKeyEnabled": False}]
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [kms]})
    assert s3.delete_bucket_encryption(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_bad_default_encryption_is_refused_and_changes_nothing(s3, bucket):
    expect_error(
        s3.put_bucket_encryption, "InvalidArgument", 400, Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "AES256", "KMSMasterKeyID": "k"}}]},
    )
    expect_error(
        s3.put_bucket_encryption, "MalformedXML", 400, Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "rot13"}}]},
    )
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    expect_error(
        s3.put_bucket_encryption, "NoSuchBucket", 404, Bucket="no-such-bucket-here-x",
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "AES256"}}]},
    )


def test_objects_report_their_encryption(s3, bucket):
    # Every object answers its encryption: SSE-S3 by default, what the request asked for,
    # else the bucket's default at the time it was written.
    put = s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert put["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="plain")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="plain")["ServerSideEncryption"] == "AES256"
    asked = s3.put_object(Bucket=bucket, Key="asked", Body=b"x", ServerSideEncryption="aws:kms",
                          SSEKMSKeyId="key-1")
    assert (asked["ServerSideEncryption"], asked["SSEKMSKeyId"]) == ("aws:kms", "key-1")
    head = s3.head_object(Bucket=bucket, Key="asked")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", "key-1")
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": "key-2"}}]})
    assert s3.put_object(Bucket=bucket, Key="new", Body=b"x")["ServerSideEncryption"] == "aws:kms:dsse"
    assert s3.get_object(Bucket=bucket, Key="new")["SSEKMSKeyId"] == "key-2"
    assert s3.head_object(Bucket=bucket, Key="plain")["ServerSideEncryption"] == "AES256", \
        "an object keeps the encryption it was written with"
    copy = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "plain"})
    assert copy["ServerSideEncryption"] == "aws:kms:dsse", "a copy takes the destination's default"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")
    assert upload["ServerSideEncryption"] == "AES256"
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p")
    assert part["ServerSideEncryption"] == "AES256"
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert done["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="mp")["ServerSideEncryption"] == "AES256"


def test_unsupported_object_encryption_is_refused(s3, bucket):
    expect_error(s3.put_object, "InvalidArgument", 400, Bucket=bucket, Key="k", Body=b"x",
                 ServerSideEncryption="AES256", SSEKMSKeyId="k")
    expect_error(s3.head_object, "404", 404, Bucket=bucket, Key="k")


def test_settings_every_bucket_has(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    owner = s3.list_buckets()["Owner"]["ID"]
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="o")):
        assert acl["Owner"]["ID"] == owner
        assert [(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [(owner, "FULL_CONTROL")]
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket=bucket)


def test_tags_given_when_a_multipart_upload_starts(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="stage=raw&owner=me")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert s3.get_object_tagging(Bucket=bucket, Key="mp")["TagSet"] == [
        {"Key": "stage", "Value": "raw"}, {"Key": "owner", "Value": "me"},
    ]
    header = "&".join(f"k{i}=v" for i in range(11))
    expect_error(s3.create_multipart_upload, "InvalidTag", 400, Bucket=bucket, Key="mp2", Tagging=header)


def test_version_ids_of_an_unversioned_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"current")
    # `null` names the one version an unversioned write makes.
    assert s3.get_object(Bucket=bucket, Key="o", VersionId="null")["Body"].read() == b"current"
    assert s3.head_object(Bucket=bucket, Key="o", VersionId="null")["ContentLength"] == 7
    expect_error(s3.get_object, "InvalidArgument", 400, Bucket=bucket, Key="o", VersionId="3HL4kqtJlcpXroDTDmJ")
    expect_error(s3.delete_object, "InvalidArgument", 400, Bucket=bucket, Key="o", VersionId="3HL4kqtJlcpXroDTDmJ")
    assert s3.get_object(Bucket=bucket, Key="o")["Body"].read() == b"current"
    s3.delete_object(Bucket=bucket, Key="o", VersionId="null")
    expect_error(s3.head_object, "404", 404, Bucket=bucket, Key="o")
