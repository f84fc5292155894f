"""Additional checksums (CRC32, CRC32C, SHA-1, SHA-256): validated on upload (header or
trailer), stored with the object, returned by GetObject/HeadObject with ChecksumMode ENABLED
(for a whole-object read only), copied by CopyObject."""

import base64
import hashlib
import zlib

import pytest

from s3_support import bucket, expect_error, s3  # noqa: F401 (module fixtures)

DATA = b"checksummed object body " * 100


def b64(raw):
    return base64.b64encode(raw).decode()


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return (crc ^ 0xFFFFFFFF).to_bytes(4, "big")


EXPECTED = {
    "CRC32": b64(zlib.crc32(DATA).to_bytes(4, "big")),
    "CRC32C": b64(crc32c(DATA)),
    "SHA1": b64(hashlib.sha1(DATA).digest()),
    "SHA256": b64(hashlib.sha256(DATA).digest()),
}


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_sdk_computed_checksum_is_stored_and_returned(s3, bucket, algorithm):
    put = s3.put_object(Bucket=bucket, Key="o", Body=DATA, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == EXPECTED[algorithm]
    got = s3.get_object(Bucket=bucket, Key="o", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == EXPECTED[algorithm]
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == DATA
    head = s3.head_object(Bucket=bucket, Key="o", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == EXPECTED[algorithm]


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_explicit_checksum_values(s3, bucket, algorithm):
    s3.put_object(Bucket=bucket, Key="o", Body=DATA, **{f"Checksum{algorithm}": EXPECTED[algorithm]})
    head = s3.head_object(Bucket=bucket, Key="o", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == EXPECTED[algorithm]


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_wrong_checksum_is_bad_digest_and_stores_nothing(s3, bucket, algorithm):
    other = {k: v for k, v in EXPECTED.items()}
    wrong = b64(b"\x00" * len(base64.b64decode(other[algorithm])))
    expect_error(
        s3.put_object, "BadDigest", 400, Bucket=bucket, Key="o", Body=DATA, **{f"Checksum{algorithm}": wrong}
    )
    expect_error(s3.head_object, "404", 404, Bucket=bucket, Key="o")


def test_malformed_checksum_is_invalid_request(s3, bucket):
    expect_error(s3.put_object, "InvalidRequest", 400, Bucket=bucket, Key="o", Body=DATA, ChecksumSHA256="AAAA")
    expect_error(s3.head_object, "404", 404, Bucket=bucket, Key="o")


def test_checksums_only_when_asked_and_for_whole_reads(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=DATA, ChecksumAlgorithm="SHA256")
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="o")
    ranged = s3.get_object(Bucket=bucket, Key="o", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in ranged
    assert ranged["Body"].read() == DATA[:10]


def test_copy_keeps_the_checksum(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=DATA, ChecksumAlgorithm="SHA1")
    s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "o"})
    assert s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")["ChecksumSHA1"] == EXPECTED["SHA1"]


def test_upload_part_checks_and_echoes_checksums(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=DATA, ChecksumSHA256=EXPECTED["SHA256"]
    )
    assert part["ChecksumSHA256"] == EXPECTED["SHA256"]
    expect_error(
        s3.upload_part, "BadDigest", 400,
        Bucket=bucket, Key="mp", UploadId=up, PartNumber=2, Body=DATA, ChecksumCRC32C=b64(b"\x00" * 4),
    )
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)["Parts"]] == [1]


# --- multipart objects: composite and full-object checksums ------------------------------

MIB = 1024 * 1024
PARTS = [b"a" * (5 * MIB), b"b" * 1234]


def crc32_bytes(data):
    return zlib.crc32(data).to_bytes(4, "big")


def upload_parts(s3, bucket, key, algorithm, kind=None, parts=PARTS):  # noqa: F811
    extra = {"ChecksumType": kind} if kind else {}
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, **extra)
    assert up["ChecksumAlgorithm"] == algorithm
    assert up["ChecksumType"] == (kind or "COMPOSITE")
    done = []
    for n, body in enumerate(parts, start=1):
        sent = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n,
                              Body=body, ChecksumAlgorithm=algorithm)
        done.append({"PartNumber": n, "ETag": sent["ETag"],
                     f"Checksum{algorithm}": sent[f"Checksum{algorithm}"]})
    return up["UploadId"], done


def test_a_composite_checksum_is_the_checksum_of_the_parts_checksums(s3, bucket):  # noqa: F811
    upload_id, done = upload_parts(s3, bucket, "composite", "SHA256")
    listed = s3.list_parts(Bucket=bucket, Key="composite", UploadId=upload_id)
    assert listed["ChecksumAlgorithm"] == "SHA256" and listed["ChecksumType"] == "COMPOSITE"
    assert [p["ChecksumSHA256"] for p in listed["Parts"]] == [d["ChecksumSHA256"] for d in done]

    completed = s3.complete_multipart_upload(
        Bucket=bucket, Key="composite", UploadId=upload_id, MultipartUpload={"Parts": done})
    digests = b"".join(hashlib.sha256(p).digest() for p in PARTS)
    expected = f"{b64(hashlib.sha256(digests).digest())}-2"
    assert completed["ChecksumSHA256"] == expected
    assert completed["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected and head["ChecksumType"] == "COMPOSITE"
    got = s3.get_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(PARTS)


def test_managed_uploads_get_the_sdk_default_composite_crc32(s3, bucket, tmp_path):  # noqa: F811
    from boto3.s3.transfer import TransferConfig

    data = b"".join(PARTS)
    path = tmp_path / "big"
    path.write_bytes(data)
    s3.upload_file(str(path), bucket, "managed",
                   Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
    head = s3.head_object(Bucket=bucket, Key="managed", ChecksumMode="ENABLED")
    digests = b"".join(crc32_bytes(p) for p in PARTS)
    assert head["ChecksumCRC32"] == f"{b64(crc32_bytes(digests))}-2"
    assert head["ChecksumType"] == "COMPOSITE"


def test_a_full_object_crc_covers_all_the_bytes(s3, bucket):  # noqa: F811
    whole = b64(crc32_bytes(b"".join(PARTS)))
    upload_id, done = upload_parts(s3, bucket, "full", "CRC32", "FULL_OBJECT")
    expect_error(s3.complete_multipart_upload, "BadDigest", 400, Bucket=bucket, Key="full",
                 UploadId=upload_id, MultipartUpload={"Parts": done},
                 ChecksumCRC32=b64(crc32_bytes(b"other")), ChecksumType="FULL_OBJECT")
    completed = s3.complete_multipart_upload(
        Bucket=bucket, Key="full", UploadId=upload_id, MultipartUpload={"Parts": done},
        ChecksumCRC32=whole, ChecksumType="FULL_OBJECT")
    assert completed["ChecksumCRC32"] == whole and completed["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == whole and head["ChecksumType"] == "FULL_OBJECT"


def test_multipart_checksum_mistakes_are_refused(s3, bucket):  # noqa: F811
    expect_error(s3.create_multipart_upload, "InvalidRequest", 400, Bucket=bucket, Key="k",
                 ChecksumAlgorithm="SHA1", ChecksumType="FULL_OBJECT")
    upload_id, done = upload_parts(s3, bucket, "mistakes", "SHA256")
    # A part sent with another algorithm (the SDK's default CRC32) does not fit the upload.
    err = expect_error(s3.upload_part, "InvalidRequest", 400, Bucket=bucket, Key="mistakes",
                       UploadId=upload_id, PartNumber=3, Body=b"c")
    assert "expected checksum Type: sha256" in err["Error"]["Message"]
    missing = [{k: v for k, v in d.items() if k != "ChecksumSHA256"} for d in done]
    expect_error(s3.complete_multipart_upload, "InvalidRequest", 400, Bucket=bucket,
                 Key="mistakes", UploadId=upload_id, MultipartUpload={"Parts": missing})
    swapped = [dict(done[0], ChecksumSHA256=done[1]["ChecksumSHA256"]), done[1]]
    expect_error(s3.complete_multipart_upload, "InvalidPart", 400, Bucket=bucket,
                 Key="mistakes", UploadId=upload_id, MultipartUpload={"Parts": swapped})
    # Nothing was completed by the refusals; the right list still completes.
    s3.complete_multipart_upload(Bucket=bucket, Key="mistakes", UploadId=upload_id,
                                 MultipartUpload={"Parts": done})
