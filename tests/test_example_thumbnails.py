"""The thumbnail example from the README, run the way a user runs it: `deploy.sh` against a
fresh server, an image uploaded with the aws CLI, then the thumbnail, the metadata, the
profile, `stratus usage`, `/metrics` and `stratus logs` checked."""

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import helpers
from conftest import stratus_binary

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "thumbnails"


def jpeg_size(data):
    """(width, height) from a JPEG's start-of-frame segment."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    raise AssertionError("no start-of-frame segment")


def host_python_runtime(srv):
    """python3.12 when this host has a python 3.12, else the newest python it has."""
    deadline = time.monotonic() + 60
    while True:
        runtimes = srv.health()[1]["runtimes"]
        if isinstance(runtimes, list) and all(r["status"] != "resolving" for r in runtimes):
            break
        assert time.monotonic() < deadline, runtimes
        time.sleep(0.2)
    have = [r["runtime"] for r in runtimes
            if r["runtime"].startswith("python") and r["status"] == "available"]
    assert have, runtimes
    return "python3.12" if "python3.12" in have else max(have, key=lambda r: int(r.split(".")[1]))


@pytest.fixture(scope="module")
def deployed(module_server_factory, tmp_path_factory):
    aws = helpers.find_aws_cli()
    if aws is None:
        pytest.skip("the aws CLI is not installed")
    srv = module_server_factory()
    env = helpers.aws_cli_env(tmp_path_factory.mktemp("aws"))
    env.update(
        # The README's python3.12, or the python this host has: Pillow is a binary package,
        # built for one python version.
        RUNTIME=host_python_runtime(srv),
        STRATUS_ENDPOINT=srv.url,
        STRATUS=str(stratus_binary()),
        PATH=os.path.dirname(aws) + os.pathsep + env.get("PATH", ""),
    )
    out = subprocess.run(
        [str(EXAMPLE / "deploy.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return srv, env


def cli(env, *args):
    return subprocess.run(
        [str(stratus_binary()), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_upload_makes_thumbnail_metadata_and_profile(deployed):
    srv, env = deployed
    aws = helpers.find_aws_cli()
    up = subprocess.run(
        [aws, "--endpoint-url", srv.url, "s3", "cp", str(EXAMPLE / "sample.jpg"),
         "s3://uploads/users/alice/cat.jpg"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert up.returncode == 0, up.stderr

    s3 = helpers.make_s3_client(srv.url)
    dynamodb = srv.client("dynamodb")

    def profile():
        item = dynamodb.get_item(TableName="profiles", Key={"user": {"S": "alice"}})
        return item.get("Item")

    helpers.wait_until(lambda: profile() is not None, timeout=60, message="profile updated")
    thumb = s3.get_object(Bucket="thumbnails", Key="users/alice/cat.jpg")
    assert thumb["ContentType"] == "image/jpeg"
    width, height = jpeg_size(thumb["Body"].read())
    assert (width, height) == (128, 96)  # 800x600 shrunk to fit 128x128

    meta = dynamodb.get_item(TableName="images", Key={"image": {"S": "uploads/users/alice/cat.jpg"}})
    item = meta["Item"]
    assert item["user"] == {"S": "alice"}
    assert item["format"] == {"S": "JPEG"}
    assert (item["width"], item["height"]) == ({"N": "800"}, {"N": "600"})
    assert item["thumbnail"] == {"S": "thumbnails/users/alice/cat.jpg"}
    assert item["bytes"] == {"N": str((EXAMPLE / "sample.jpg").stat().st_size)}

    p = profile()
    assert p["picture"] == {"S": "thumbnails/users/alice/cat.jpg"}
    assert p["uploads"] == {"N": "1"}


def test_usage_metrics_and_logs_show_what_ran(deployed):
    srv, env = deployed
    helpers.wait_until(
        lambda: "profile-updater" in cli(env, "usage", "--json").stdout,
        timeout=30,
        message="both functions metered",
    )
    usage = json.loads(cli(env, "usage", "--json").stdout)
    by_name = {g["function"]: g for g in usage["groups"]}
    assert set(by_name) == {"thumbnail", "profile-updater"}
    for g in by_name.values():
        assert g["invocations"] >= 1 and g["errors"] == 0
        assert g["cost"] > 0 and g["gb_seconds"] > 0
    assert by_name["thumbnail"]["gb_seconds"] > by_name["profile-updater"]["gb_seconds"]

    table = cli(env, "usage")
    assert table.returncode == 0 and "thumbnail" in table.stdout

    metrics = urllib.request.urlopen(srv.url + "/metrics", timeout=10).read().decode()
    invoked = [l for l in metrics.splitlines() if l.startswith("stratus_invocations_total{")]
    assert any('function="thumbnail"' in l for l in invoked)
    assert not any('function="nothing-ran"' in l for l in invoked)

    logs = cli(env, "logs", "thumbnail")
    assert logs.returncode == 0, logs.stderr
    assert "thumbnail thumbnails/users/alice/cat.jpg (128x96)" in logs.stdout
    assert "REPORT RequestId:" in logs.stdout
    profile_logs = cli(env, "logs", "profile-updater")
    assert "profile of alice: picture thumbnails/users/alice/cat.jpg, 1 uploads" in profile_logs.stdout
