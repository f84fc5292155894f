"""The blob store: code packages and object bytes on the local disk (the default) or on an
S3-compatible service (a real Garage started on loopback by these tests).

The Garage tests skip only when the garage binary is not installed
(`cargo install garage --locked`; $GARAGE_BIN names another one).
"""

import base64
import os
import shutil
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

import helpers
from conftest import free_port, stratus_binary
from garage import Garage, garage_binary

needs_garage = pytest.mark.skipif(
    garage_binary() is None,
    reason="garage is not installed (cargo install garage --locked, or set GARAGE_BIN)",
)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def garage(tmp_path_factory):
    g = Garage(tmp_path_factory.mktemp("garage"))
    try:
        g.start()
    except RuntimeError as e:
        g.stop()
        pytest.fail(str(e), pytrace=False)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def on_garage(garage, module_server_factory):
    """A Stratus server whose blob store is the Garage bucket, credentials from the
    environment as an operator would give them."""
    env = {**garage.env(), "STRATUS_BLOB_STORE": garage.blob_store_url(prefix="stratus")}
    return module_server_factory(env=env)


def blobs_health(srv):
    status, body = srv.health()
    assert status == 200, body
    return body["storage"]["blobs"]


def code_hex(resp):
    return base64.b64decode(resp["CodeSha256"]).hex()


def wait_for(check, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# --- the local backend (the default) ---------------------------------------------------------

def test_health_reports_the_local_stores(server_factory):
    # The defaults, even when this run keeps other servers' state elsewhere.
    server = server_factory(env={"STRATUS_BLOB_STORE": "", "STRATUS_DATABASE": "sqlite"})
    database = server.health()[1]["storage"]["database"]
    assert database == {"backend": "sqlite", "location": f"sqlite:{server.data_dir.resolve()}",
                        "reachable": True}
    blobs = blobs_health(server)
    assert blobs["backend"] == "file"
    assert blobs["location"] == f"file://{server.data_dir.resolve()}"
    assert blobs["reachable"] is True


def test_a_bad_blob_store_url_stops_start_up_without_showing_secrets(tmp_path):
    url = "s3://b?endpoint=http://127.0.0.1:9&region=r&access_key_id=AKID&secret_access_key=hush&bogus=1"
    out = subprocess.run(
        [str(stratus_binary()), "serve", "--listen", f"127.0.0.1:{free_port()}",
         "--data-dir", str(tmp_path / "d"), "--blob-store", url],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "bogus" in text, text
    assert "hush" not in text and "AKID" not in text, text


# --- the S3-compatible backend, on Garage ----------------------------------------------------

@needs_garage
def test_health_reports_the_remote_store_redacted(on_garage, garage):
    blobs = blobs_health(on_garage)
    assert blobs["backend"] == "s3"
    assert blobs["location"].startswith(f"s3://{garage.bucket}?endpoint=")
    assert garage.secret not in blobs["location"]
    assert blobs["reachable"] is True
    assert garage.secret not in on_garage.log_text()


@needs_garage
def test_code_is_stored_in_garage_and_unpacked_locally_on_demand(on_garage, garage):
    lam = on_garage.client()
    name = helpers.unique_name()
    package = helpers.make_zip({"app.py": "def handler(event, context):\n    return {'got': event}\n"})
    resp = helpers.create_function(lam, name, package)
    helpers.wait_active(lam, name)
    digest = code_hex(resp)
    assert f"stratus/code/{digest}.zip" in garage.keys("stratus/code/")
    assert helpers.invoke(lam, name, {"n": 1}).payload == {"got": {"n": 1}}

    # The unpacked tree is only a cache: without it, a new environment unpacks the package
    # again from the blob store.
    cache = on_garage.data_dir / "code" / digest
    assert cache.is_dir()
    shutil.rmtree(cache)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"COLD": "1"}})
    helpers.wait_updated(lam, name)
    assert helpers.invoke(lam, name, {"n": 2}).payload == {"got": {"n": 2}}
    assert cache.is_dir()

    # GetFunction's link still serves the zip, now read from Garage.
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert helpers.download(location) == package
    assert not (on_garage.data_dir / "code" / f"{digest}.zip").exists(), \
        "the package is not kept on the local disk"


@needs_garage
def test_object_bytes_live_in_garage(on_garage, garage):
    s3 = on_garage.client("s3")
    bucket = helpers.unique_name("blobs")
    s3.create_bucket(Bucket=bucket)
    before = set(garage.keys("stratus/objects/"))

    body = bytes(range(256)) * 40
    s3.put_object(Bucket=bucket, Key="small", Body=body)
    added = set(garage.keys("stratus/objects/")) - before
    assert len(added) == 1, added
    assert garage.client().get_object(Bucket=garage.bucket, Key=added.pop())["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == body
    got = s3.get_object(Bucket=bucket, Key="small", Range="bytes=100-299")
    assert got["ContentRange"] == f"bytes 100-299/{len(body)}"
    assert got["Body"].read() == body[100:300]
    assert s3.get_object(Bucket=bucket, Key="small", Range="bytes=-10")["Body"].read() == body[-10:]

    # Multipart: two parts (the first at S3's 5 MiB minimum), one of them copied.
    first = os.urandom(5 * MIB)
    up = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="big", UploadId=up, PartNumber=1, Body=first)
    p2 = s3.upload_part_copy(Bucket=bucket, Key="big", UploadId=up, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "small"},
                             CopySourceRange="bytes=0-999")
    s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=up,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": p1["ETag"]},
            {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]},
        ]})
    whole = first + body[:1000]
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == whole
    part2 = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert part2["Body"].read() == body[:1000]
    assert part2["PartsCount"] == 2
    ranged = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={5 * MIB - 3}-{5 * MIB + 2}")
    assert ranged["Body"].read() == whole[5 * MIB - 3:5 * MIB + 3]

    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "big"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == whole

    # The parts' blobs went with the completion; deleting the objects removes their bytes.
    assert len(set(garage.keys("stratus/objects/")) - before) == 3
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in ("small", "big")]})
    s3.delete_object(Bucket=bucket, Key="copy")
    assert set(garage.keys("stratus/objects/")) - before == set()


@needs_garage
def test_garage_down_fails_writes_retryably_and_recovers_without_a_restart(on_garage, garage):
    s3 = on_garage.client("s3")
    lam = on_garage.client()
    bucket = helpers.unique_name("outage")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="before", Body=b"kept")

    garage.stop()
    try:
        started = time.monotonic()
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="during", Body=b"x" * 10_000)
        err = e.value.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 503, err
        assert err["Error"]["Code"] == "ServiceUnavailable", err
        assert time.monotonic() - started < 20, "a dead store is reported within seconds"
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="before")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(ClientError) as e:
            helpers.create_function(lam, helpers.unique_name(), helpers.make_zip())
        assert e.value.response["Error"]["Code"] == "ServiceException"
        # Nothing half-written: the failed put left no object behind.
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert keys == ["before"]
        # The rest of the server keeps serving, and /health tells the store is unreachable.
        lam.list_functions()
        wait_for(lambda: blobs_health(on_garage)["reachable"] is False, "health to notice")
    finally:
        garage.start()

    def put_works():
        try:
            s3.put_object(Bucket=bucket, Key="after", Body=b"back")
            return True
        except ClientError:
            return False

    wait_for(put_works, "writes to work again")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"back"
    assert s3.get_object(Bucket=bucket, Key="before")["Body"].read() == b"kept"
    wait_for(lambda: blobs_health(on_garage)["reachable"] is True, "health to recover")
