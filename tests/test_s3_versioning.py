"""S3 versioning as AWS documents it: every write to an Enabled bucket makes a new version with
its own id, older versions stay readable by `versionId`, deletes leave delete markers, a
Suspended bucket writes the `null` version, and ListObjectVersions pages through it all. A
bucket whose versioning was never enabled answers exactly as before, without version ids."""

import re
import string

import pytest
from botocore.exceptions import ClientError

from helpers import unique_bucket
from s3_support import bucket, expect_error, s3  # noqa: F401 (module fixtures)

VERSION_ID = re.compile(r"^[A-Za-z0-9._-]{32}$")
MISSING_VERSION = "A" * 32


def drop_versioned(s3, name):
    """Deletes every version and delete marker, then the bucket."""
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
        s3.delete_bucket(Bucket=name)
    except ClientError:
        pass


@pytest.fixture
def vbucket(s3):
    """A fresh bucket with versioning enabled."""
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    drop_versioned(s3, name)


def headers(resp):
    return resp["ResponseMetadata"]["HTTPHeaders"]


def error_headers(call, code, status, **kwargs):
    return expect_error(call, code, status, **kwargs)["ResponseMetadata"]["HTTPHeaders"]


def versions_of(s3, bucket, **kwargs):
    """(key, version id, is latest, is delete marker), by key with the current one first.
    botocore parses versions and delete markers into separate lists, each in S3's order, so
    the tests put the two back together by key; within a key, current first."""
    resp = s3.list_object_versions(Bucket=bucket, **kwargs)
    entries = [(v, False) for v in resp.get("Versions", [])] + [
        (m, True) for m in resp.get("DeleteMarkers", [])
    ]
    entries.sort(key=lambda e: (e[0]["Key"].encode(), not e[0]["IsLatest"]))
    return [(v["Key"], v["VersionId"], v["IsLatest"], marker) for v, marker in entries]


# --- 1. every write to an Enabled bucket is a new version ----------------------------------


def test_puts_make_versions_each_readable_by_id(s3, vbucket):
    ids = []
    for body in (b"one", b"two", b"three"):
        resp = s3.put_object(Bucket=vbucket, Key="k", Body=body)
        assert VERSION_ID.match(resp["VersionId"]), resp["VersionId"]
        assert headers(resp)["x-amz-version-id"] == resp["VersionId"]
        ids.append(resp["VersionId"])
    assert len(set(ids)) == 3
    for vid, body in zip(ids, (b"one", b"two", b"three")):
        got = s3.get_object(Bucket=vbucket, Key="k", VersionId=vid)
        assert got["Body"].read() == body
        assert got["VersionId"] == vid
        head = s3.head_object(Bucket=vbucket, Key="k", VersionId=vid)
        assert (head["ContentLength"], head["VersionId"]) == (len(body), vid)
    current = s3.get_object(Bucket=vbucket, Key="k")
    assert (current["Body"].read(), current["VersionId"]) == (b"three", ids[2])
    assert [(k, v, latest) for k, v, latest, _ in versions_of(s3, vbucket)] == [
        ("k", ids[2], True), ("k", ids[1], False), ("k", ids[0], False),
    ]
    # Listing objects shows the key once, as its current version.
    listed = s3.list_objects_v2(Bucket=vbucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", 5)]


def test_copy_and_multipart_completion_make_versions(s3, vbucket):
    first = s3.put_object(Bucket=vbucket, Key="src", Body=b"source")["VersionId"]
    copied = s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src"})
    assert VERSION_ID.match(copied["VersionId"])
    assert copied["CopySourceVersionId"] == first
    up = s3.create_multipart_upload(Bucket=vbucket, Key="dst")
    part = s3.upload_part(Bucket=vbucket, Key="dst", UploadId=up["UploadId"], PartNumber=1, Body=b"multi")
    done = s3.complete_multipart_upload(
        Bucket=vbucket, Key="dst", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert VERSION_ID.match(done["VersionId"]) and done["VersionId"] != copied["VersionId"]
    assert s3.get_object(Bucket=vbucket, Key="dst")["Body"].read() == b"multi"
    old = s3.get_object(Bucket=vbucket, Key="dst", VersionId=copied["VersionId"])
    assert old["Body"].read() == b"source"
    assert [v for k, v, _, _ in versions_of(s3, vbucket, Prefix="dst")] == [
        done["VersionId"], copied["VersionId"],
    ]
    # A part copied from a named version says which.
    up = s3.create_multipart_upload(Bucket=vbucket, Key="parts")
    part = s3.upload_part_copy(
        Bucket=vbucket, Key="parts", UploadId=up["UploadId"], PartNumber=1,
        CopySource={"Bucket": vbucket, "Key": "dst", "VersionId": copied["VersionId"]},
    )
    assert part["CopySourceVersionId"] == copied["VersionId"]
    s3.complete_multipart_upload(
        Bucket=vbucket, Key="parts", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert s3.get_object(Bucket=vbucket, Key="parts")["Body"].read() == b"source"


# --- 2. unversioned and suspended buckets ---------------------------------------------------


def test_an_unversioned_bucket_answers_no_version_ids(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "x-amz-version-id" not in headers(put) and "VersionId" not in put
    assert "x-amz-version-id" not in headers(s3.get_object(Bucket=bucket, Key="k"))
    assert "x-amz-version-id" not in headers(s3.head_object(Bucket=bucket, Key="k"))
    copy = s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"})
    assert "x-amz-version-id" not in headers(copy)
    assert "x-amz-copy-source-version-id" not in headers(copy)
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert "x-amz-version-id" not in headers(deleted)
    assert "x-amz-delete-marker" not in headers(deleted)
    # Deleting really removes it: nothing left to list, not even a marker.
    assert versions_of(s3, bucket, Prefix="k") == []
    # An overwrite replaces the one version in place.
    s3.put_object(Bucket=bucket, Key="c", Body=b"again")
    assert versions_of(s3, bucket) == [("c", "null", True, False)]


def test_suspended_writes_replace_the_null_version_and_keep_real_ones(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"v1")["VersionId"]
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    put = s3.put_object(Bucket=vbucket, Key="k", Body=b"null-1")
    assert put["VersionId"] == "null"
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null-2")
    assert versions_of(s3, vbucket) == [("k", "null", True, False), ("k", v1, False, False)]
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId="null")["Body"].read() == b"null-2"
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)["Body"].read() == b"v1"
    assert s3.get_object(Bucket=vbucket, Key="k")["VersionId"] == "null"
    # Enabled again: new writes get ids, the null version stays in the history.
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Enabled"})
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"v2")["VersionId"]
    assert VERSION_ID.match(v2)
    assert versions_of(s3, vbucket) == [
        ("k", v2, True, False), ("k", "null", False, False), ("k", v1, False, False),
    ]
    # Suspended once more: a delete makes a null marker, replacing the null version.
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    deleted = s3.delete_object(Bucket=vbucket, Key="k")
    assert (deleted["DeleteMarker"], deleted["VersionId"]) == (True, "null")
    assert versions_of(s3, vbucket) == [
        ("k", "null", True, True), ("k", v2, False, False), ("k", v1, False, False),
    ]
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v2)["Body"].read() == b"v2"


def test_versioning_cannot_go_back_to_unversioned(s3, vbucket):
    expect_error(
        s3.put_bucket_versioning, "MalformedXML", 400,
        Bucket=vbucket, VersioningConfiguration={"Status": "Disabled"},
    )
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=vbucket)["Status"] == "Suspended"
    # A suspended bucket still answers version ids (`null`), unlike a never-versioned one.
    assert s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"] == "null"


def test_mfa_delete_is_refused_rather_than_silently_unenforced(s3, vbucket):
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Enabled"})
    expect_error(
        s3.put_bucket_versioning, "NotImplemented", 501,
        Bucket=vbucket, MFA="arn:aws:iam::000000000000:mfa/root 123456",
        VersioningConfiguration={"Status": "Suspended", "MFADelete": "Enabled"},
    )
    assert s3.get_bucket_versioning(Bucket=vbucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Disabled"})
    assert s3.get_bucket_versioning(Bucket=vbucket)["Status"] == "Enabled"


# --- 3. reading a version -------------------------------------------------------------------


def test_unknown_and_malformed_version_ids(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    resp = expect_error(s3.get_object, "NoSuchVersion", 404, Bucket=vbucket, Key="k", VersionId=MISSING_VERSION)
    assert resp["Error"]["Message"] == "The specified version does not exist."
    expect_error(s3.head_object, "404", 404, Bucket=vbucket, Key="k", VersionId=MISSING_VERSION)
    resp = expect_error(s3.get_object, "InvalidArgument", 400, Bucket=vbucket, Key="k", VersionId="not-a-version")
    assert resp["Error"]["Message"] == "Invalid version id specified"
    expect_error(s3.delete_object, "InvalidArgument", 400, Bucket=vbucket, Key="k", VersionId="bad")
    expect_error(s3.get_object_tagging, "NoSuchVersion", 404, Bucket=vbucket, Key="k", VersionId=MISSING_VERSION)
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"x"


# --- 4. delete markers and permanent deletes ------------------------------------------------


def test_a_delete_leaves_a_marker_that_hides_the_key(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"kept")["VersionId"]
    deleted = s3.delete_object(Bucket=vbucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert VERSION_ID.match(marker) and marker != v1
    for call in (s3.get_object, s3.head_object):
        code = "NoSuchKey" if call == s3.get_object else "404"
        h = error_headers(call, code, 404, Bucket=vbucket, Key="k")
        assert (h["x-amz-delete-marker"], h["x-amz-version-id"]) == ("true", marker)
        code = "MethodNotAllowed" if call == s3.get_object else "405"
        h = error_headers(call, code, 405, Bucket=vbucket, Key="k", VersionId=marker)
        assert (h["x-amz-delete-marker"], h["x-amz-version-id"]) == ("true", marker)
    assert "Contents" not in s3.list_objects_v2(Bucket=vbucket)
    assert "Contents" not in s3.list_objects(Bucket=vbucket)
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)["Body"].read() == b"kept"
    assert versions_of(s3, vbucket) == [("k", marker, True, True), ("k", v1, False, False)]
    # Removing the marker by its id brings the object back.
    undone = s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert (undone["DeleteMarker"], undone["VersionId"]) == (True, marker)
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"kept"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["k"]


def test_deleting_the_current_version_makes_the_next_newest_current(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two")["VersionId"]
    v3 = s3.put_object(Bucket=vbucket, Key="k", Body=b"three")["VersionId"]
    gone = s3.delete_object(Bucket=vbucket, Key="k", VersionId=v3)
    assert gone["VersionId"] == v3 and "DeleteMarker" not in gone
    expect_error(s3.get_object, "NoSuchVersion", 404, Bucket=vbucket, Key="k", VersionId=v3)
    current = s3.get_object(Bucket=vbucket, Key="k")
    assert (current["Body"].read(), current["VersionId"]) == (b"two", v2)
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v1)
    assert versions_of(s3, vbucket) == [("k", v2, True, False)]
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v2)
    assert versions_of(s3, vbucket) == []
    expect_error(s3.get_object, "NoSuchKey", 404, Bucket=vbucket, Key="k")


def test_delete_objects_with_version_ids(s3, vbucket):
    a1 = s3.put_object(Bucket=vbucket, Key="a", Body=b"a1")["VersionId"]
    a2 = s3.put_object(Bucket=vbucket, Key="a", Body=b"a2")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="b", Body=b"b")
    resp = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [
        {"Key": "a", "VersionId": a1},
        {"Key": "b"},
        {"Key": "c", "VersionId": "malformed"},
    ]})
    deleted = {d["Key"]: d for d in resp["Deleted"]}
    assert deleted["a"]["VersionId"] == a1 and "DeleteMarker" not in deleted["a"]
    assert deleted["b"]["DeleteMarker"] is True
    b_marker = deleted["b"]["DeleteMarkerVersionId"]
    assert VERSION_ID.match(b_marker)
    assert [(e["Key"], e["Code"]) for e in resp["Errors"]] == [("c", "InvalidArgument")]
    listed = versions_of(s3, vbucket)
    assert [(k, latest, marker) for k, _, latest, marker in listed] == [
        ("a", True, False), ("b", True, True), ("b", False, False),
    ]
    assert listed[0][1] == a2 and listed[1][1] == b_marker
    # Removing the marker by id answers it was a marker, with its id.
    again = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [{"Key": "b", "VersionId": b_marker}]})
    d = again["Deleted"][0]
    assert (d["DeleteMarker"], d["DeleteMarkerVersionId"], d["VersionId"]) == (True, b_marker, b_marker)
    assert s3.get_object(Bucket=vbucket, Key="b")["Body"].read() == b"b"


# --- 5. listing versions ---------------------------------------------------------------------


def test_list_object_versions_orders_and_rolls_up(s3, vbucket):
    made = {}
    for key in ("a/1", "a/2", "b", "c"):
        made[key] = [s3.put_object(Bucket=vbucket, Key=key, Body=b"x")["VersionId"] for _ in range(2)]
    marker = s3.delete_object(Bucket=vbucket, Key="c")["VersionId"]
    expected = []
    for key in ("a/1", "a/2", "b"):
        expected += [(key, made[key][1], True, False), (key, made[key][0], False, False)]
    expected += [("c", marker, True, True), ("c", made["c"][1], False, False), ("c", made["c"][0], False, False)]
    assert versions_of(s3, vbucket) == expected
    assert versions_of(s3, vbucket, Prefix="a/") == expected[:4]
    rolled = s3.list_object_versions(Bucket=vbucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/"]
    assert [v["Key"] for v in rolled["Versions"]] == ["b", "b", "c", "c"]
    assert [m["Key"] for m in rolled["DeleteMarkers"]] == ["c"]
    # Listing objects leaves out the key whose current version is a marker.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["a/1", "a/2", "b"]
    expect_error(
        s3.list_object_versions, "InvalidArgument", 400, Bucket=vbucket, VersionIdMarker=made["b"][0],
    )


def test_list_object_versions_pages_through_many_versions(s3, vbucket):
    expected = []
    for key in ("k1", "k2", "k3"):
        ids = [s3.put_object(Bucket=vbucket, Key=key, Body=key.encode())["VersionId"] for _ in range(7)]
        expected += [(key, v) for v in reversed(ids)]
    # Pages of 4 with the markers S3 hands back: each version exactly once, in order.
    walked, kwargs = [], {}
    while True:
        page = s3.list_object_versions(Bucket=vbucket, MaxKeys=4, **kwargs)
        assert len(page.get("Versions", [])) <= 4
        walked += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        assert (page["NextKeyMarker"], page["NextVersionIdMarker"]) == walked[-1]
        kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert walked == expected
    # A key marker alone starts after every version of that key.
    after = s3.list_object_versions(Bucket=vbucket, KeyMarker="k1")
    assert [(v["Key"], v["VersionId"]) for v in after["Versions"]] == expected[7:]
    assert after["KeyMarker"] == "k1"
    # boto3's paginator follows the same markers.
    paginated = [
        (v["Key"], v["VersionId"])
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=vbucket, PaginationConfig={"PageSize": 5})
        for v in page.get("Versions", [])
    ]
    assert paginated == expected


# --- 6. copies, tagging and conditional writes ------------------------------------------------


def test_copy_from_a_named_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"old")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="k", Body=b"new")
    # Copying an old version over its own key restores it as a new version.
    restored = s3.copy_object(Bucket=vbucket, Key="k", CopySource={"Bucket": vbucket, "Key": "k", "VersionId": v1})
    assert restored["CopySourceVersionId"] == v1
    assert headers(restored)["x-amz-copy-source-version-id"] == v1
    current = s3.get_object(Bucket=vbucket, Key="k")
    assert (current["Body"].read(), current["VersionId"]) == (b"old", restored["VersionId"])
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    expect_error(
        s3.copy_object, "InvalidRequest", 400,
        Bucket=vbucket, Key="x", CopySource={"Bucket": vbucket, "Key": "k", "VersionId": marker},
    )
    expect_error(
        s3.copy_object, "NoSuchKey", 404, Bucket=vbucket, Key="x", CopySource={"Bucket": vbucket, "Key": "k"},
    )
    expect_error(
        s3.copy_object, "NoSuchVersion", 404,
        Bucket=vbucket, Key="x", CopySource={"Bucket": vbucket, "Key": "k", "VersionId": MISSING_VERSION},
    )


def test_tagging_a_named_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"1", Tagging="gen=one")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"2", Tagging="gen=two")["VersionId"]
    put = s3.put_object_tagging(Bucket=vbucket, Key="k", VersionId=v1, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert put["VersionId"] == v1
    got = s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)
    assert (got["TagSet"], got["VersionId"]) == ([{"Key": "a", "Value": "b"}], v1)
    current = s3.get_object_tagging(Bucket=vbucket, Key="k")
    assert (current["TagSet"], current["VersionId"]) == ([{"Key": "gen", "Value": "two"}], v2)
    assert s3.delete_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)["VersionId"] == v1
    assert s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)["TagSet"] == []
    assert s3.get_object_tagging(Bucket=vbucket, Key="k")["TagSet"] == [{"Key": "gen", "Value": "two"}]
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    expect_error(s3.get_object_tagging, "MethodNotAllowed", 405, Bucket=vbucket, Key="k", VersionId=marker)
    expect_error(s3.get_object_tagging, "NoSuchKey", 404, Bucket=vbucket, Key="k")


def test_create_only_puts_on_a_versioned_bucket(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"first")
    expect_error(s3.put_object, "PreconditionFailed", 412, Bucket=vbucket, Key="k", Body=b"x", IfNoneMatch="*")
    assert len(versions_of(s3, vbucket)) == 1
    s3.delete_object(Bucket=vbucket, Key="k")
    # A delete marker as the current version counts as no object.
    made = s3.put_object(Bucket=vbucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert s3.get_object(Bucket=vbucket, Key="k")["VersionId"] == made["VersionId"]


# --- 7. bytes and buckets ----------------------------------------------------------------------


def blob_count(server):
    blobs = server.data_dir / "objects" / "blobs"
    if not blobs.is_dir():
        pytest.skip("object blobs are not in the data directory")
    return sum(1 for p in blobs.rglob("*") if p.is_file())


def test_bytes_are_released_only_with_their_version(s3, vbucket, server):
    start = blob_count(server)
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two")["VersionId"]
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    assert blob_count(server) == start + 2
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert blob_count(server) == start + 2
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v1)
    assert blob_count(server) == start + 1
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v2)["Body"].read() == b"two"
    # Suspended: overwriting the null version releases its bytes, the real version's stay.
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null-1")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null-2")
    assert blob_count(server) == start + 2
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v2)["Body"].read() == b"two"


def test_a_bucket_holding_versions_or_markers_is_not_empty(s3):
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    try:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        v1 = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
        marker = s3.delete_object(Bucket=name, Key="k")["VersionId"]
        expect_error(s3.delete_bucket, "BucketNotEmpty", 409, Bucket=name)
        s3.delete_object(Bucket=name, Key="k", VersionId=v1)
        # Only the marker is left, and it still counts.
        expect_error(s3.delete_bucket, "BucketNotEmpty", 409, Bucket=name)
        s3.delete_object(Bucket=name, Key="k", VersionId=marker)
        s3.delete_bucket(Bucket=name)
    finally:
        drop_versioned(s3, name)


def test_version_ids_are_url_safe(s3, vbucket):
    allowed = set(string.ascii_letters + string.digits + "._-")
    for _ in range(5):
        vid = s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"]
        assert set(vid) <= allowed and len(vid) == 32


def test_a_not_modified_read_names_its_version(s3, vbucket):
    put = s3.put_object(Bucket=vbucket, Key="k", Body=b"v1")
    for call in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as e:
            call(Bucket=vbucket, Key="k", IfNoneMatch=put["ETag"])
        meta = e.value.response["ResponseMetadata"]
        assert meta["HTTPStatusCode"] == 304
        assert meta["HTTPHeaders"]["x-amz-version-id"] == put["VersionId"]
        assert meta["HTTPHeaders"]["etag"] == put["ETag"]
