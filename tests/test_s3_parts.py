"""Copies and parts: UploadPartCopy with and without `x-amz-copy-source-range` (and boto3's
managed multipart copy built on it), invalid source ranges, reads by part number
(GetObject/HeadObject `partNumber`), a repeated CompleteMultipartUpload, and parts uploaded
out of order."""

import hashlib
import os

import pytest
from boto3.s3.transfer import TransferConfig

from s3_support import bucket, expect_error, quoted_md5, s3  # noqa: F401 (module fixtures)

MB = 1024 * 1024


def multipart_etag(parts):
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def complete(s3, bucket, key, up, etags):
    parts = [{"PartNumber": n, "ETag": e} for n, e in sorted(etags.items())]
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": parts})


def test_upload_part_copy_with_ranges(s3, bucket):
    source = os.urandom(6 * MB + 123)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MB - 1}",
    )["CopyPartResult"]
    assert first["ETag"] == quoted_md5(source[: 5 * MB])
    assert "LastModified" in first
    second = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=up, PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes={5 * MB}-{len(source) - 1}",
    )["CopyPartResult"]
    listed = s3.list_parts(Bucket=bucket, Key="dst", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MB), (2, len(source) - 5 * MB)]
    done = complete(s3, bucket, "dst", up, {1: first["ETag"], 2: second["ETag"]})
    assert done["ETag"] == multipart_etag([source[: 5 * MB], source[5 * MB:]])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source


def test_upload_part_copy_of_a_whole_object_and_mixed_with_uploads(s3, bucket):
    head = os.urandom(5 * MB)
    tail = b"tail bytes"
    s3.put_object(Bucket=bucket, Key="src", Body=head)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    copied = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=up, PartNumber=1, CopySource=f"{bucket}/src"
    )["CopyPartResult"]["ETag"]
    uploaded = s3.upload_part(Bucket=bucket, Key="dst", UploadId=up, PartNumber=2, Body=tail)["ETag"]
    complete(s3, bucket, "dst", up, {1: copied, 2: uploaded})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == head + tail


def test_managed_copy_of_a_large_object_uses_part_copies(s3, bucket):
    data = os.urandom(50 * MB)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    config = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=4)
    s3.copy({"Bucket": bucket, "Key": "big"}, bucket, "big-copy", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big-copy")
    assert head["ContentLength"] == len(data)
    # 50 MiB in 8 MiB parts: seven parts, so the copy really was a multipart one.
    assert head["ETag"].endswith('-7"'), head["ETag"]
    got = s3.get_object(Bucket=bucket, Key="big-copy")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    "bad_range",
    ["0-2", "bytes=0", "bytes=hello-world", "bytes=0-bar", "bytes=hello-", "bytes=0-2,3-5", "bytes=5-2"],
)
def test_improper_copy_source_range_is_invalid_argument(s3, bucket, bad_range):
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    expect_error(
        s3.upload_part_copy, "InvalidArgument", 400,
        Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=bad_range,
    )
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="dst", UploadId=up)


def test_copy_source_range_past_the_end_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    expect_error(
        s3.upload_part_copy, "InvalidArgument", 400,
        Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=0-10",
    )


def test_upload_part_copy_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    expect_error(
        s3.upload_part_copy, "NoSuchKey", 404,
        Bucket=bucket, Key="dst", UploadId=up, PartNumber=1, CopySource={"Bucket": bucket, "Key": "absent"},
    )
    expect_error(
        s3.upload_part_copy, "NoSuchUpload", 404,
        Bucket=bucket, Key="dst", UploadId="nope", PartNumber=1, CopySource={"Bucket": bucket, "Key": "src"},
    )
    expect_error(
        s3.upload_part_copy, "PreconditionFailed", 412,
        Bucket=bucket, Key="dst", UploadId=up, PartNumber=1, CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceIfMatch='"00000000000000000000000000000000"',
    )


# --- reads by part number ----------------------------------------------------


@pytest.fixture
def three_parts(s3, bucket):
    parts = [os.urandom(5 * MB), os.urandom(5 * MB), b"short last part"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = {
        n: s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n, Body=p)["ETag"]
        for n, p in enumerate(parts, start=1)
    }
    etag = complete(s3, bucket, "mp", up, etags)["ETag"]
    return bucket, parts, etag


def test_get_and_head_by_part_number(s3, three_parts):
    bucket, parts, etag = three_parts
    total = sum(len(p) for p in parts)
    start = 0
    for n, data in enumerate(parts, start=1):
        got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["PartsCount"] == 3
        assert got["ETag"] == etag
        assert got["ContentLength"] == len(data)
        assert got["ContentRange"] == f"bytes {start}-{start + len(data) - 1}/{total}"
        assert got["Body"].read() == data
        head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert head["PartsCount"] == 3
        assert head["ContentLength"] == len(data)
        start += len(data)
    # A whole read names no part count.
    assert "PartsCount" not in s3.head_object(Bucket=bucket, Key="mp")
    expect_error(s3.get_object, "InvalidPartNumber", 416, Bucket=bucket, Key="mp", PartNumber=4)


def test_part_number_of_an_object_written_whole(s3, bucket):
    s3.put_object(Bucket=bucket, Key="single", Body=b"0123456789")
    one = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert one["Body"].read() == b"0123456789"
    assert one["ContentRange"] == "bytes 0-9/10"
    assert "PartsCount" not in one
    expect_error(s3.get_object, "InvalidPartNumber", 416, Bucket=bucket, Key="single", PartNumber=2)
    expect_error(s3.head_object, "416", 416, Bucket=bucket, Key="single", PartNumber=2)
    expect_error(
        s3.get_object, "InvalidRequest", 400, Bucket=bucket, Key="single", PartNumber=1, Range="bytes=0-1"
    )


# --- completion --------------------------------------------------------------


def test_repeated_complete_answers_as_the_first(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"only part")["ETag"]
    first = complete(s3, bucket, "mp", up, {1: etag})
    again = complete(s3, bucket, "mp", up, {1: etag})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert again["ETag"] == first["ETag"]
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"only part"
    # Once another write replaced that object, the upload id names nothing.
    s3.put_object(Bucket=bucket, Key="mp", Body=b"replaced")
    expect_error(
        s3.complete_multipart_upload, "NoSuchUpload", 404,
        Bucket=bucket, Key="mp", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )


def test_parts_uploaded_out_of_order_and_resent(s3, bucket):
    parts = {1: os.urandom(5 * MB), 2: os.urandom(5 * MB), 3: b"end"}
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = {}
    for n in (3, 1, 2):
        etags[n] = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n, Body=parts[n])["ETag"]
    # Part 1 sent again with other bytes: the later one counts.
    parts[1] = os.urandom(5 * MB)
    etags[1] = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=parts[1])["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]
    done = complete(s3, bucket, "mp", up, etags)
    ordered = [parts[1], parts[2], parts[3]]
    assert done["ETag"] == multipart_etag(ordered)
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(ordered)
