"""Object storage through the S3 protocol: buckets, objects, conditional and ranged reads,
copies, listings, multipart uploads, metadata, presigned URLs, virtual-host addressing and the
aws CLI's high-level `s3` commands."""

import datetime
import hashlib
import http.client
import os
import socket
import subprocess
import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from helpers import (
    aws_cli_env,
    find_aws_cli,
    http_request,
    make_s3_client,
    s3_error,
    unique_bucket,
)
from s3_support import bucket, drop_bucket, quoted_md5, s3  # noqa: F401 (module fixtures)

MB = 1024 * 1024


def multipart_etag(parts):
    """S3's ETag of a multipart object: MD5 of the concatenated binary part MD5s, '-N'."""
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def keys_of(resp):
    return [o["Key"] for o in resp.get("Contents", [])]


# --- buckets -----------------------------------------------------------------


def test_create_head_list_delete_bucket(s3):
    name = unique_bucket()
    resp = s3.create_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("location") == f"/{name}"
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    listed = s3.list_buckets()
    mine = [b for b in listed["Buckets"] if b["Name"] == name]
    assert len(mine) == 1
    created = mine[0]["CreationDate"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - created).total_seconds()) < 120, created
    assert listed["Owner"].get("ID")
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert s3_error(e.value)[1] == 404


def test_head_missing_bucket_is_404(s3):
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=unique_bucket("missing"))
    assert s3_error(e.value)[1] == 404


def test_delete_missing_bucket_is_no_such_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=unique_bucket("missing"))
    assert s3_error(e.value) == ("NoSuchBucket", 404)


def test_delete_non_empty_bucket_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert s3_error(e.value) == ("BucketNotEmpty", 409)
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_object_operations_on_a_missing_bucket(s3):
    name = unique_bucket("missing")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert s3_error(e.value) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=name, Key="k")
    assert s3_error(e.value) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name)
    assert s3_error(e.value) == ("NoSuchBucket", 404)


# --- put / get ---------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 65537, 10 * MB], ids=["0B", "1B", "64KiB+1", "10MB"])
def test_binary_round_trip(s3, bucket, size):
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key=f"bin/{size}", Body=data)
    assert put["ETag"] == quoted_md5(data)
    got = s3.get_object(Bucket=bucket, Key=f"bin/{size}")
    body = got["Body"].read()
    assert len(body) == size
    assert body == data
    assert got["ContentLength"] == size
    assert got["ETag"] == quoted_md5(data)
    head = s3.head_object(Bucket=bucket, Key=f"bin/{size}")
    assert head["ContentLength"] == size
    assert head["ETag"] == quoted_md5(data)


@pytest.mark.skip(reason="known gap: the HTTP server sends no '100 Continue' for a zero-length body, and botocore then misreads the next response on that connection")
def test_empty_put_does_not_stall_the_next_upload(server, bucket):
    """boto3 sends PutObject with `Expect: 100-continue`. If the server answers a zero-length
    PutObject without a `100 Continue` first, botocore keeps that early status for the
    connection and the next upload on it stalls until the read timeout."""
    s3 = make_s3_client(server.url, read_timeout=5)
    for i in range(3):
        started = time.monotonic()
        s3.put_object(Bucket=bucket, Key=f"empty-{i}", Body=b"")
        s3.put_object(Bucket=bucket, Key=f"after-{i}", Body=b"some bytes")
        elapsed = time.monotonic() - started
        assert elapsed < 3, f"an empty PutObject and the next PutObject took {elapsed:.1f}s"
    assert s3.get_object(Bucket=bucket, Key="after-2")["Body"].read() == b"some bytes"


def test_overwrite_replaces_body_and_etag(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert put["ETag"] == quoted_md5(b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == ["k"]


SPECIAL_KEYS = ["a b/c d.txt", "plus+sign=eq&amp", "percent%41.txt", "unicode/é中文.bin",
                "deep/er/and/deeper/x", "~tilde!*'()"]


def test_keys_with_special_characters(s3, bucket):
    for i, key in enumerate(SPECIAL_KEYS):
        s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
    for i, key in enumerate(SPECIAL_KEYS):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == str(i).encode()
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(str(i))


@pytest.mark.parametrize("api", ["v2", "v1"])
def test_listing_returns_keys_exactly(s3, bucket, api):
    """boto3 lists with EncodingType=url and decodes what comes back, so the server must
    URL-encode keys when it echoes that encoding type."""
    for key in SPECIAL_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    resp = s3.list_objects_v2(Bucket=bucket) if api == "v2" else s3.list_objects(Bucket=bucket)
    assert keys_of(resp) == sorted(SPECIAL_KEYS, key=lambda k: k.encode())


def test_get_missing_key(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert s3_error(e.value) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="nope")
    assert s3_error(e.value)[1] == 404


def test_metadata_and_headers_round_trip(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="doc.html",
        Body=b"<p>hi</p>",
        ContentType="text/html; charset=utf-8",
        CacheControl="max-age=3600, public",
        ContentDisposition='attachment; filename="doc.html"',
        ContentEncoding="identity",
        ContentLanguage="en-GB",
        Metadata={"owner": "alice", "Project-Name": "Stratus"},
    )
    for resp in (s3.get_object(Bucket=bucket, Key="doc.html"), s3.head_object(Bucket=bucket, Key="doc.html")):
        assert resp["ContentType"] == "text/html; charset=utf-8"
        assert resp["CacheControl"] == "max-age=3600, public"
        assert resp["ContentDisposition"] == 'attachment; filename="doc.html"'
        assert resp["ContentEncoding"] == "identity"
        assert resp["ContentLanguage"] == "en-GB"
        # S3 lower-cases user metadata names.
        assert resp["Metadata"] == {"owner": "alice", "project-name": "Stratus"}


def test_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentType"] == "binary/octet-stream"


def test_last_modified_is_recent(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    lm = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - lm).total_seconds()) < 60, lm


# --- ranges and conditions ---------------------------------------------------


def test_range_reads(s3, bucket):
    data = os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == data[10:20]
    assert got["ContentRange"] == "bytes 10-19/1000"
    assert got["ContentLength"] == 10

    suffix = s3.get_object(Bucket=bucket, Key="r", Range="bytes=-100")
    assert suffix["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert suffix["Body"].read() == data[-100:]
    assert suffix["ContentRange"] == "bytes 900-999/1000"

    open_ended = s3.get_object(Bucket=bucket, Key="r", Range="bytes=990-")
    assert open_ended["Body"].read() == data[990:]
    assert open_ended["ContentRange"] == "bytes 990-999/1000"

    past_end = s3.get_object(Bucket=bucket, Key="r", Range="bytes=995-5000")
    assert past_end["Body"].read() == data[995:]
    assert past_end["ContentRange"] == "bytes 995-999/1000"


def test_unsatisfiable_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=50-60")
    assert s3_error(e.value) == ("InvalidRange", 416)


def test_if_match_and_if_none_match(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"00000000000000000000000000000000"')
    assert s3_error(e.value) == ("PreconditionFailed", 412)

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert s3_error(e.value)[1] == 304
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert s3_error(e.value)[1] == 304
    other = s3.get_object(Bucket=bucket, Key="c", IfNoneMatch='"00000000000000000000000000000000"')
    assert other["Body"].read() == b"conditional"


def test_if_modified_since(s3, bucket):
    s3.put_object(Bucket=bucket, Key="m", Body=b"data")
    lm = s3.head_object(Bucket=bucket, Key="m")["LastModified"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="m", IfModifiedSince=lm)
    assert s3_error(e.value)[1] == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="m", IfModifiedSince=lm + datetime.timedelta(hours=1))
    assert s3_error(e.value)[1] == 304
    older = s3.get_object(Bucket=bucket, Key="m", IfModifiedSince=lm - datetime.timedelta(hours=1))
    assert older["Body"].read() == b"data"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="m", IfUnmodifiedSince=lm - datetime.timedelta(hours=1))
    assert s3_error(e.value) == ("PreconditionFailed", 412)


# --- delete ------------------------------------------------------------------


def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="d")
    assert s3_error(e.value) == ("NoSuchKey", 404)
    # Deleting a key that does not exist succeeds too.
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects(s3, bucket):
    for k in ("a", "b", "c", "keep"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    resp = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "c"}, {"Key": "never-existed"}]}
    )
    assert sorted(d["Key"] for d in resp["Deleted"]) == ["a", "b", "c", "never-existed"]
    assert not resp.get("Errors")
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == ["keep"]

    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep"}], "Quiet": True})
    assert not quiet.get("Deleted")
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == []


# --- copy --------------------------------------------------------------------


def test_copy_object_copies_metadata_by_default(s3, bucket):
    data = os.urandom(4096)
    s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="image/png",
                  CacheControl="no-cache", Metadata={"color": "blue"})
    dest = unique_bucket()
    s3.create_bucket(Bucket=dest)
    try:
        resp = s3.copy_object(Bucket=dest, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
        assert resp["CopyObjectResult"]["ETag"] == quoted_md5(data)
        got = s3.get_object(Bucket=dest, Key="dst")
        assert got["Body"].read() == data
        assert got["ContentType"] == "image/png"
        assert got["CacheControl"] == "no-cache"
        assert got["Metadata"] == {"color": "blue"}
        # The copy is independent of its source.
        s3.put_object(Bucket=bucket, Key="src", Body=b"changed")
        assert s3.get_object(Bucket=dest, Key="dst")["Body"].read() == data
    finally:
        drop_bucket(s3, dest)


def test_copy_object_replace_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", ContentType="text/plain",
                  CacheControl="no-cache", Metadata={"color": "blue"})
    s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE", ContentType="application/json", Metadata={"size": "large"},
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"size": "large"}
    assert "CacheControl" not in head
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"payload"
    # The source keeps its own metadata.
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"color": "blue"}


def test_copy_onto_itself_needs_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"x", Metadata={"v": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert s3_error(e.value) == ("InvalidRequest", 400)
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"v": "2"}


def test_copy_missing_source(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "absent"})
    assert s3_error(e.value) == ("NoSuchKey", 404)


# --- listing -----------------------------------------------------------------

LISTING_KEYS = ["a.txt", "b.txt", "dir/one", "dir/two", "dir/sub/three", "other/x", "z.txt"]


@pytest.fixture
def listing_bucket(s3, bucket):
    for k in LISTING_KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    return bucket


def test_list_objects_v2_everything(s3, listing_bucket):
    resp = s3.list_objects_v2(Bucket=listing_bucket)
    assert keys_of(resp) == sorted(LISTING_KEYS)
    assert resp["KeyCount"] == len(LISTING_KEYS)
    assert resp["IsTruncated"] is False
    first = resp["Contents"][0]
    assert first["Size"] == len(b"a.txt")
    assert first["ETag"] == quoted_md5(b"a.txt")
    assert first["StorageClass"] == "STANDARD"


def test_list_objects_v2_prefix(s3, listing_bucket):
    resp = s3.list_objects_v2(Bucket=listing_bucket, Prefix="dir/")
    assert keys_of(resp) == ["dir/one", "dir/sub/three", "dir/two"]
    assert resp["Prefix"] == "dir/"
    assert s3.list_objects_v2(Bucket=listing_bucket, Prefix="nothing-here").get("KeyCount") == 0


def test_list_objects_v2_delimiter(s3, listing_bucket):
    resp = s3.list_objects_v2(Bucket=listing_bucket, Delimiter="/")
    assert keys_of(resp) == ["a.txt", "b.txt", "z.txt"]
    assert [p["Prefix"] for p in resp.get("CommonPrefixes", [])] == ["dir/", "other/"]
    assert resp["KeyCount"] == 5

    nested = s3.list_objects_v2(Bucket=listing_bucket, Prefix="dir/", Delimiter="/")
    assert keys_of(nested) == ["dir/one", "dir/two"]
    assert [p["Prefix"] for p in nested.get("CommonPrefixes", [])] == ["dir/sub/"]


def test_list_objects_v2_paging_with_continuation_tokens(s3, listing_bucket):
    pages, token = [], None
    for _ in range(10):
        kwargs = {"Bucket": listing_bucket, "MaxKeys": 2}
        if token:
            kwargs["ContinuationToken"] = token
        resp = s3.list_objects_v2(**kwargs)
        pages.append(keys_of(resp))
        assert resp["MaxKeys"] == 2
        assert resp["KeyCount"] == len(pages[-1])
        if not resp["IsTruncated"]:
            assert "NextContinuationToken" not in resp
            break
        token = resp["NextContinuationToken"]
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [k for p in pages for k in p] == sorted(LISTING_KEYS)


def test_list_objects_v2_paginator_with_delimiter(s3, listing_bucket):
    """Paging with a delimiter: each common prefix appears once across all pages."""
    keys, prefixes = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=listing_bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
    ):
        keys += keys_of(page)
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert keys == ["a.txt", "b.txt", "z.txt"]
    assert prefixes == ["dir/", "other/"]


def test_list_objects_v2_start_after(s3, listing_bucket):
    resp = s3.list_objects_v2(Bucket=listing_bucket, StartAfter="dir/two")
    assert keys_of(resp) == ["other/x", "z.txt"]
    assert resp["StartAfter"] == "dir/two"
    between = s3.list_objects_v2(Bucket=listing_bucket, StartAfter="b")
    assert keys_of(between)[0] == "b.txt"


def test_list_objects_v1_marker(s3, listing_bucket):
    resp = s3.list_objects(Bucket=listing_bucket, Marker="b.txt")
    assert keys_of(resp) == ["dir/one", "dir/sub/three", "dir/two", "other/x", "z.txt"]
    assert resp["Marker"] == "b.txt"

    seen, marker = [], ""
    for _ in range(10):
        page = s3.list_objects(Bucket=listing_bucket, Marker=marker, MaxKeys=3)
        seen += keys_of(page)
        if not page["IsTruncated"]:
            break
        # Without a delimiter S3 may omit NextMarker; the last key is the next marker.
        marker = page.get("NextMarker") or keys_of(page)[-1]
    assert seen == sorted(LISTING_KEYS)

    grouped = s3.list_objects(Bucket=listing_bucket, Delimiter="/")
    assert keys_of(grouped) == ["a.txt", "b.txt", "z.txt"]
    assert [p["Prefix"] for p in grouped.get("CommonPrefixes", [])] == ["dir/", "other/"]


# --- multipart ---------------------------------------------------------------


def test_multipart_upload_lifecycle(s3, bucket):
    key = "multi/object.bin"
    created = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType="application/x-test", Metadata={"kind": "multipart"}
    )
    upload_id = created["UploadId"]
    assert created["Bucket"] == bucket and created["Key"] == key

    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in listed.get("Uploads", [])] == [(key, upload_id)]

    parts = [os.urandom(5 * MB), os.urandom(5 * MB), os.urandom(123_457)]
    etags = []
    for n, data in enumerate(parts, start=1):
        resp = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data)
        assert resp["ETag"] == quoted_md5(data)
        etags.append(resp["ETag"])

    listed_parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed_parts["Parts"]] == [
        (n, etags[n - 1], len(parts[n - 1])) for n in (1, 2, 3)
    ]

    # The object does not exist until the upload completes.
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert s3_error(e.value)[1] == 404

    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n - 1]} for n in (1, 2, 3)]},
    )
    assert done["ETag"] == multipart_etag(parts)
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"".join(parts)
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentLength"] == sum(map(len, parts))
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"kind": "multipart"}
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    assert s3_error(e.value) == ("NoSuchUpload", 404)


def test_multipart_reuploaded_part_replaces_the_first(s3, bucket):
    key = "multi/replace"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"old part")
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"new part")["ETag"]
    assert [p["ETag"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]] == [etag]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"new part"


def test_multipart_abort(s3, bucket):
    key = "multi/aborted"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"part")
    assert s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=b"late")
    assert s3_error(e.value) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert s3_error(e.value)[1] == 404


def test_multipart_part_too_small(s3, bucket):
    key = "multi/small"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"tiny")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=b"tail")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
        )
    assert s3_error(e.value) == ("EntityTooSmall", 400)
    # The upload is still open after the failed completion.
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [upload_id]


def test_multipart_wrong_part_etag_and_order(s3, bucket):
    key = "multi/wrong"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"first")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2,
                        Body=os.urandom(5 * MB))["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}]},
        )
    assert s3_error(e.value) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 3, "ETag": e2}]},
        )
    assert s3_error(e.value) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]},
        )
    assert s3_error(e.value) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 2, "ETag": e2}]},
        )
    assert s3_error(e.value) == ("InvalidPartOrder", 400)


# --- presigned URLs -------------------------------------------------------------


def test_presigned_get_and_put(s3, bucket):
    data = os.urandom(2048)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre/signed file"},
                                        ExpiresIn=300)
    assert "X-Amz-Signature=" in put_url
    status, _, _ = http_request("PUT", put_url, body=data)
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="pre/signed file")["Body"].read() == data

    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/signed file"},
                                        ExpiresIn=300)
    status, headers, body = http_request("GET", get_url)
    assert status == 200
    assert body == data
    assert headers.get("ETag") == quoted_md5(data)


def test_presigned_url_with_bad_signature_is_rejected(s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"secret")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "secret"}, ExpiresIn=300)
    sig = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Signature"][0]
    forged = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    status, _, body = http_request("GET", forged)
    assert status == 403, body
    assert b"secret" != body
    # A URL for one key does not open another.
    other = url.replace("/secret?", "/other?")
    status, _, _ = http_request("GET", other)
    assert status == 403


def test_unsigned_request_is_not_served(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"private data")
    status, _, body = http_request("GET", f"{server.url}/{bucket}/private")
    assert status in (401, 403), (status, body)
    assert b"private data" not in body


# --- virtual-host addressing -------------------------------------------------


def _resolves(host):
    try:
        socket.getaddrinfo(host, 80)
        return True
    except OSError:
        return False


@pytest.fixture
def vhost_s3(server):
    """A client using virtual-host addressing on `<bucket>.localhost`; skips where such names
    don't resolve."""
    probe = unique_bucket("probe") + ".localhost"
    if not _resolves(probe):
        pytest.skip(f"{probe} does not resolve on this machine (needs *.localhost to resolve)")
    return make_s3_client(f"http://localhost:{server.port}", s3={"addressing_style": "virtual"})


def test_virtual_host_client(vhost_s3, s3):
    name = unique_bucket()
    vhost_s3.create_bucket(Bucket=name)
    try:
        data = os.urandom(1000)
        vhost_s3.put_object(Bucket=name, Key="v/key.bin", Body=data)
        assert vhost_s3.get_object(Bucket=name, Key="v/key.bin")["Body"].read() == data
        assert s3.get_object(Bucket=name, Key="v/key.bin")["Body"].read() == data
        assert keys_of(vhost_s3.list_objects_v2(Bucket=name)) == ["v/key.bin"]
        vhost_s3.delete_object(Bucket=name, Key="v/key.bin")
        vhost_s3.delete_bucket(Bucket=name)
    finally:
        drop_bucket(s3, name)


def _send_with_host(server, method, url, body=None):
    """Sends a request for `url` (whose host may not resolve) to the server, keeping `url`'s
    host in the Host header."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, f"{parts.path}?{parts.query}", body=body, headers={"Host": parts.netloc})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_virtual_host_addressing_by_host_header(server, s3, bucket):
    """Virtual-host style without relying on name resolution: presigned URLs for
    `<bucket>.localhost:<port>` sent to the server with that Host header."""
    vhost = make_s3_client(f"http://localhost:{server.port}", s3={"addressing_style": "virtual"})
    data = b"through the virtual host"
    put_url = vhost.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "vh/obj.txt"},
                                           ExpiresIn=300)
    assert urllib.parse.urlsplit(put_url).netloc == f"{bucket}.localhost:{server.port}"
    status, body = _send_with_host(server, "PUT", put_url, body=data)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="vh/obj.txt")["Body"].read() == data
    get_url = vhost.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "vh/obj.txt"},
                                           ExpiresIn=300)
    status, body = _send_with_host(server, "GET", get_url)
    assert (status, body) == (200, data)


# --- the aws CLI -------------------------------------------------------------


@pytest.fixture
def aws_s3(server, tmp_path):
    """Runs `aws --endpoint-url <server> s3 ...` with test credentials; returns the process."""
    cli = find_aws_cli()
    if cli is None:
        pytest.skip("aws CLI is not installed")
    env = aws_cli_env(tmp_path)

    def run(*args, check=True):
        proc = subprocess.run([cli, "--endpoint-url", server.url, "s3", *args],
                              env=env, capture_output=True, text=True, timeout=180)
        if check:
            assert proc.returncode == 0, f"aws s3 {' '.join(args)} failed:\n{proc.stderr}"
        return proc

    return run


def test_aws_cli_cp_large_file_up_and_down(aws_s3, s3, bucket, tmp_path):
    data = os.urandom(20 * MB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    aws_s3("cp", str(src), f"s3://{bucket}/cli/big.bin", "--only-show-errors")
    head = s3.head_object(Bucket=bucket, Key="cli/big.bin")
    assert head["ContentLength"] == len(data)
    # The CLI uploads files this size in 8 MB parts: a multipart ETag.
    chunk = 8 * MB
    parts = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    assert head["ETag"] == multipart_etag(parts)
    dst = tmp_path / "down.bin"
    aws_s3("cp", f"s3://{bucket}/cli/big.bin", str(dst), "--only-show-errors")
    assert dst.read_bytes() == data


def test_aws_cli_sync_and_ls(aws_s3, s3, bucket, tmp_path):
    local = tmp_path / "tree"
    files = {"top.txt": b"top", "sub/inner.txt": b"inner", "sub/deeper/leaf.bin": os.urandom(3000)}
    for rel, content in files.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(content)
    aws_s3("sync", str(local), f"s3://{bucket}/tree", "--only-show-errors")
    assert sorted(keys_of(s3.list_objects_v2(Bucket=bucket))) == sorted(f"tree/{k}" for k in files)
    for rel, content in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"tree/{rel}")["Body"].read() == content

    # A second sync with nothing changed uploads nothing.
    again = aws_s3("sync", str(local), f"s3://{bucket}/tree")
    assert "upload:" not in again.stdout, again.stdout

    listing = aws_s3("ls", f"s3://{bucket}/tree/").stdout
    assert "PRE sub/" in listing
    assert "top.txt" in listing and "inner.txt" not in listing
    recursive = aws_s3("ls", "--recursive", f"s3://{bucket}/").stdout
    for rel in files:
        assert f"tree/{rel}" in recursive
    assert bucket in aws_s3("ls").stdout

    down = tmp_path / "down"
    aws_s3("sync", f"s3://{bucket}/tree", str(down), "--only-show-errors")
    for rel, content in files.items():
        assert (down / rel).read_bytes() == content
