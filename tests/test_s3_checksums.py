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
