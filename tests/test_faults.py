"""Fault injection: a full disk, a read-only data directory, a slow disk (every fsync delayed),
a database locked by another process, a runtime that never reads the Runtime API's answers, and thousands of silent
sockets. Each request gets an answer in its service's shape (or succeeds), nothing
acknowledged is lost, and the server keeps serving and recovers when the fault is gone.

The disk faults mount a small tmpfs as the data directory, so they need root (CI and the
development machine run as root); they are skipped otherwise."""

import io
import json
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
import zipfile

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from helpers import (
    INVOKE_CONFIG,
    create_function,
    make_client,
    make_zip,
    make_zip_with_modes,
    unique_name,
    wait_active,
)

TMPFS_SIZE = "24m"

# Faults of the local disk that holds the SQLite files. With the suite on PostgreSQL, state is
# not on that disk; the database server's own faults are tested in test_storage_postgres.py.
sqlite_only = pytest.mark.skipif(
    bool(os.environ.get("STRATUS_TEST_DATABASE")),
    reason="a fault of the SQLite files; this run keeps state on PostgreSQL")


def _mount(*args):
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs to use as a data directory; unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = _mount("-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mnt))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(directory):
    """Writes a filler file until the file system is full; returns its path."""
    path = directory / "filler"
    chunk = b"\0" * (256 * 1024)
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        # The last few KiB a large write could not take.
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    return path


def clients(srv):
    cfg = {"read_timeout": 30, "connect_timeout": 5}
    return (make_client(srv.url, "s3", **cfg), make_client(srv.url, "dynamodb", **cfg),
            make_client(srv.url, **cfg))


def make_table(ddb, name):
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def aws_error_or_success(call):
    """Runs `call`; returns True if it succeeded, False if it failed with an AWS-shaped error
    (a code the SDK could parse). Anything else (a hang, a dropped connection) fails the test."""
    try:
        call()
        return True
    except ClientError as e:
        err = e.response["Error"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert err.get("Code"), e.response
        assert 400 <= status < 600, e.response
        FAILURES.append((err["Code"], status))
        return False


# What the last failed calls answered (code, status), for the assertions about faults.
FAILURES = []


def assert_acknowledged_readable(s3, ddb, lam, bucket, table, acked):
    for key, body in acked["objects"].items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    for pk, value in acked["items"].items():
        item = ddb.get_item(TableName=table, Key={"pk": {"S": pk}})["Item"]
        assert item["v"]["S"] == value, pk
    for name in acked["functions"]:
        assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


@sqlite_only
def test_disk_full_answers_errors_and_recovers(small_disk, server_factory):
    srv = server_factory(data_dir=small_disk / "data")
    s3, ddb, lam = clients(srv)
    bucket, table = unique_name("full"), unique_name("full")
    s3.create_bucket(Bucket=bucket)
    make_table(ddb, table)
    acked = {"objects": {}, "items": {}, "functions": []}
    s3.put_object(Bucket=bucket, Key="before", Body=b"b" * 1000)
    acked["objects"]["before"] = b"b" * 1000
    ddb.put_item(TableName=table, Item={"pk": {"S": "before"}, "v": {"S": "1"}})
    acked["items"]["before"] = "1"

    filler = fill(small_disk)
    big = os.urandom(2 * 1024 * 1024)
    zip_bytes = make_zip({"app.py": "def handler(e, c):\n    return e\n# " + "x" * 200_000})
    attempts = {
        "object": lambda: s3.put_object(Bucket=bucket, Key="during", Body=big),
        "item": lambda: ddb.put_item(TableName=table,
                                     Item={"pk": {"S": "during"}, "v": {"S": "x" * 300_000}}),
        "function": lambda: create_function(lam, "full-fn", zip_bytes),
    }
    FAILURES.clear()
    outcomes = {k: aws_error_or_success(call) for k, call in attempts.items()}
    assert not outcomes["object"], "a 2 MB object cannot fit on a full disk"
    assert not outcomes["function"], "a package cannot be unpacked on a full disk"
    # A full disk is the server's fault, not the caller's: 5xx, which SDKs retry.
    assert all(status >= 500 for _, status in FAILURES), FAILURES
    print("disk full answered", FAILURES)
    if outcomes["item"]:
        acked["items"]["during"] = "x" * 300_000
    assert srv.health()[0] == 200

    filler.unlink()
    s3.put_object(Bucket=bucket, Key="during", Body=big)
    acked["objects"]["during"] = big
    ddb.put_item(TableName=table, Item={"pk": {"S": "after"}, "v": {"S": "2"}})
    acked["items"]["after"] = "2"
    if not outcomes["function"]:
        create_function(lam, "full-fn", zip_bytes)
    wait_active(lam, "full-fn")
    acked["functions"].append("full-fn")
    assert_acknowledged_readable(s3, ddb, lam, bucket, table, acked)

    assert srv.stop() == 0
    srv.start()
    s3, ddb, lam = clients(srv)
    assert_acknowledged_readable(s3, ddb, lam, bucket, table, acked)


@sqlite_only
def test_read_only_data_directory_fails_writes_cleanly(small_disk, server_factory):
    data = small_disk / "data"
    srv = server_factory(data_dir=data)
    s3, ddb, lam = clients(srv)
    bucket = unique_name("ro")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="before", Body=b"kept")

    # A read-only bind mount over the data directory: new files cannot be created under it
    # (object blobs, code packages), while files the server holds open stay as they are.
    assert _mount("--bind", str(data), str(data)).returncode == 0
    try:
        assert _mount("-o", "remount,bind,ro", str(data)).returncode == 0
        FAILURES.clear()
        assert not aws_error_or_success(
            lambda: s3.put_object(Bucket=bucket, Key="during", Body=b"x" * 10_000))
        assert not aws_error_or_success(
            lambda: create_function(lam, "ro-fn", make_zip()))
        assert all(status >= 500 for _, status in FAILURES), FAILURES
        print("read-only answered", FAILURES)
        assert s3.get_object(Bucket=bucket, Key="before")["Body"].read() == b"kept"
        assert srv.health()[0] == 200
    finally:
        subprocess.run(["umount", str(data)], capture_output=True)

    s3.put_object(Bucket=bucket, Key="during", Body=b"x" * 10_000)
    create_function(lam, "ro-fn", make_zip())
    wait_active(lam, "ro-fn")
    assert s3.get_object(Bucket=bucket, Key="during")["Body"].read() == b"x" * 10_000


@sqlite_only
@pytest.mark.parametrize("db", ["tables.db", "objects/s3.db"])
def test_database_locked_by_another_process(server_factory, db):
    srv = server_factory()
    s3, ddb, _ = clients(srv)
    bucket, table = unique_name("lock"), unique_name("lock")
    s3.create_bucket(Bucket=bucket)
    make_table(ddb, table)

    # The timer thread commits on this connection, so it may not be tied to this thread.
    holder = sqlite3.connect(str(srv.data_dir / db), timeout=10, isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    released = threading.Timer(2.0, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        started = time.monotonic()
        wrote_item = aws_error_or_success(
            lambda: ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "v": {"S": "1"}}))
        wrote_object = aws_error_or_success(
            lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"v"))
        assert time.monotonic() - started < 20
    finally:
        released.join()
        holder.close()
    # What was acknowledged is there; what was refused can be retried and then is.
    if not wrote_item:
        ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "v": {"S": "1"}})
    if not wrote_object:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "k"}})["Item"]["v"]["S"] == "1"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert srv.health()[0] == 200


# A runtime that asks for the next event and never reads the answer.
DEAF_BOOTSTRAP = r"""#!/bin/bash
host=${AWS_LAMBDA_RUNTIME_API%:*}
port=${AWS_LAMBDA_RUNTIME_API##*:}
exec 3<>/dev/tcp/$host/$port
printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n' "$host" >&3
sleep 600
"""


def test_runtime_that_never_reads_times_out(server_factory):
    srv = server_factory()
    lam = make_client(srv.url, **INVOKE_CONFIG)
    name = unique_name("deaf")
    create_function(lam, name, make_zip_with_modes({"bootstrap": (DEAF_BOOTSTRAP, 0o755)}),
                    Runtime="provided.al2023", Handler="x", Timeout=2)
    wait_active(lam, name)
    # A payload larger than a socket buffer: the answer to /next cannot be written either.
    payload = json.dumps({"pad": "x" * (4 * 1024 * 1024)}).encode()
    started = time.monotonic()
    out = lam.invoke(FunctionName=name, Payload=payload)
    took = time.monotonic() - started
    body = json.loads(out["Payload"].read())
    assert out.get("FunctionError") == "Unhandled", body
    assert body["errorType"] == "Sandbox.Timedout", body
    assert "Task timed out after 2.00 seconds" in body["errorMessage"], body
    assert took < 20, took
    assert srv.health()[0] == 200
    lam.list_functions()


def test_slowloris_sockets_do_not_starve_clients(server_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2_500
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    sockets_n = min(2_000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200)
    srv = server_factory(env={"STRATUS_HEADER_READ_TIMEOUT_SECS": "3"})
    lam = make_client(srv.url, read_timeout=10)
    idle = []
    try:
        for i in range(sockets_n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            if i % 2:
                s.sendall(b"GET /2015-03-31/functi")  # a partial request line
            idle.append(s)
        started = time.monotonic()
        for _ in range(5):
            lam.list_functions()
        assert time.monotonic() - started < 5, "answered while the sockets sit idle"
        # After the header time-out the server closes every one of them.
        deadline = time.monotonic() + 30
        open_sockets = list(idle)
        while open_sockets and time.monotonic() < deadline:
            still = []
            for s in open_sockets:
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        continue
                except BlockingIOError:
                    still.append(s)
                    continue
                except OSError:
                    continue
            open_sockets = still
            if open_sockets:
                time.sleep(0.5)
        assert not open_sockets, f"{len(open_sockets)} idle sockets still open"
    finally:
        for s in idle:
            s.close()
    assert srv.health()[0] == 200
    lam.list_functions()


# A slow disk, as the server sees it: every fsync and fdatasync waits before it runs. The shim
# is preloaded into the server (SQLite and the blob writes call libc's fsync through the dynamic
# linker), and counts the calls it delayed so the test knows the fault was really there.
SLOW_FSYNC_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void slow_down(void) {
    const char *ms = getenv("SLOW_FSYNC_MS");
    long delay = ms ? atol(ms) : 200;
    struct timespec t = { delay / 1000, (delay % 1000) * 1000000L };
    nanosleep(&t, NULL);
    const char *log = getenv("SLOW_FSYNC_LOG");
    if (log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) { (void)write(fd, "s", 1); close(fd); }
    }
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow_down();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow_down();
    return real(fd);
}
"""


@pytest.fixture(scope="module")
def slow_fsync_shim(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed to build the slow-disk shim (cargo needs one too)"
    d = tmp_path_factory.mktemp("shim")
    (d / "slow_fsync.c").write_text(SLOW_FSYNC_SHIM)
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(d / "slow_fsync.so"),
                    str(d / "slow_fsync.c"), "-ldl"], check=True)
    return d / "slow_fsync.so"


@sqlite_only
def test_slow_disk_delays_but_loses_nothing(server_factory, slow_fsync_shim, tmp_path):
    delayed = tmp_path / "fsyncs"
    srv = server_factory(env={"LD_PRELOAD": str(slow_fsync_shim), "SLOW_FSYNC_MS": "150",
                              "SLOW_FSYNC_LOG": str(delayed)})
    s3, ddb, lam = clients(srv)
    bucket, table = unique_name("slow"), unique_name("slow")
    s3.create_bucket(Bucket=bucket)
    make_table(ddb, table)
    create_function(lam, "slow-fn", make_zip())
    wait_active(lam, "slow-fn")
    acked = {"objects": {}, "items": {}, "functions": ["slow-fn"]}

    # Writers in parallel, each waiting on slow fsyncs; a read and an invoke meanwhile.
    def writer(i):
        body = os.urandom(64 * 1024)
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=body)
        acked["objects"][f"k{i}"] = body
        ddb.put_item(TableName=table, Item={"pk": {"S": f"p{i}"}, "v": {"S": str(i)}})
        acked["items"][f"p{i}"] = str(i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    out = lam.invoke(FunctionName="slow-fn", Payload=b'{"slow": true}')
    assert json.loads(out["Payload"].read()) == {"slow": True}
    assert srv.health()[0] == 200
    for t in threads:
        t.join()
    assert len(acked["objects"]) == 6 and len(acked["items"]) == 6
    assert delayed.exists() and delayed.stat().st_size > 0, "no fsync was delayed"
    assert_acknowledged_readable(s3, ddb, lam, bucket, table, acked)

    # What was acknowledged was on disk: a kill -9 and a restart on a normal disk keep it.
    srv.kill()
    srv.env.clear()
    srv.start()
    s3, ddb, lam = clients(srv)
    assert_acknowledged_readable(s3, ddb, lam, bucket, table, acked)
