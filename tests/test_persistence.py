"""Durability: graceful restart and `kill -9` on the same data dir."""

import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from helpers import (
    code_sha256,
    create_function,
    download,
    function_arn,
    list_all_functions,
    make_variant_zip,
    strip_meta,
    unique_name,
    wait_active,
    wait_updated,
)


def snapshot(client, name):
    """Everything a user can read back about a function, minus per-process details."""
    versions = client.list_versions_by_function(FunctionName=name)["Versions"]
    snap = {
        "versions": versions,
        "configs": {
            v["Version"]: strip_meta(
                client.get_function_configuration(FunctionName=name, Qualifier=v["Version"])
            )
            for v in versions
        },
        "code": {
            v["Version"]: code_sha256(
                download(client.get_function(FunctionName=name, Qualifier=v["Version"])[
                    "Code"]["Location"])
            )
            for v in versions
        },
        "aliases": sorted(client.list_aliases(FunctionName=name)["Aliases"],
                          key=lambda a: a["Name"]),
        "tags": client.list_tags(Resource=function_arn(name))["Tags"],
        "concurrency": strip_meta(client.get_function_concurrency(FunctionName=name)),
        "event_invoke": strip_meta(client.get_function_event_invoke_config(FunctionName=name)),
        "policy": json.loads(client.get_policy(FunctionName=name)["Policy"]),
        "listed": [f for f in list_all_functions(client, FunctionVersion="ALL")
                   if f["FunctionName"] == name],
    }
    return snap


def build_rich_function(client, name):
    create_function(
        client, name, make_variant_zip(f"{name}-1"),
        Description="persisted", Timeout=17, MemorySize=192,
        Environment={"Variables": {"COLOR": "blue"}}, Tags={"team": "core"},
    )
    wait_active(client, name)
    client.publish_version(FunctionName=name, Description="first")
    client.update_function_code(FunctionName=name, ZipFile=make_variant_zip(f"{name}-2"))
    wait_updated(client, name)
    client.publish_version(FunctionName=name)
    client.update_function_configuration(FunctionName=name, Environment={
        "Variables": {"COLOR": "green"}})
    wait_updated(client, name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="2",
                        RoutingConfig={"AdditionalVersionWeights": {"1": 0.25}})
    client.create_alias(FunctionName=name, Name="stable", FunctionVersion="1")
    client.tag_resource(Resource=function_arn(name), Tags={"cost": "7"})
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1,
                                            MaximumEventAgeInSeconds=600)
    client.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                          Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket")


def test_sigterm_shuts_down_with_exit_code_0(server_factory):
    srv = server_factory()
    srv.client().list_functions()
    assert srv.stop() == 0, srv.log_text()


def test_everything_survives_a_graceful_restart(server_factory):
    srv = server_factory()
    client = srv.client()
    names = [unique_name("keep"), unique_name("keep")]
    for name in names:
        build_rich_function(client, name)
    deleted = unique_name("gone")
    create_function(client, deleted)
    wait_active(client, deleted)
    client.delete_function(FunctionName=deleted)
    before = {name: snapshot(client, name) for name in names}

    assert srv.stop() == 0, srv.log_text()
    srv2 = server_factory(data_dir=srv.data_dir)
    client2 = srv2.client()

    for name in names:
        assert snapshot(client2, name) == before[name]
    with pytest.raises(ClientError) as ei:
        client2.get_function(FunctionName=deleted)
    assert ei.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert sorted(f["FunctionName"] for f in list_all_functions(client2)) == sorted(names)


def test_version_counter_survives_restart(server_factory):
    srv = server_factory()
    client = srv.client()
    name = unique_name("count")
    create_function(client, name, make_variant_zip("a"), Publish=True)
    wait_active(client, name)
    client.update_function_code(FunctionName=name, ZipFile=make_variant_zip("b"))
    wait_updated(client, name)
    assert client.publish_version(FunctionName=name)["Version"] == "2"
    client.delete_function(FunctionName=name, Qualifier="2")

    assert srv.stop() == 0
    client2 = server_factory(data_dir=srv.data_dir).client()
    client2.update_function_code(FunctionName=name, ZipFile=make_variant_zip("c"))
    wait_updated(client2, name)
    assert client2.publish_version(FunctionName=name)["Version"] == "3"


def test_kill_9_during_create_burst_loses_no_acknowledged_function(server_factory):
    srv = server_factory()
    acknowledged = {}  # name -> CodeSha256 of the zip, for creates that returned 2xx
    attempted = {}  # name -> CodeSha256, for every create sent
    lock = threading.Lock()
    killed = threading.Event()
    errors_before_kill = []

    def burst(worker, client):
        for i in range(300):
            if killed.is_set():
                return
            name = unique_name(f"burst{worker}")
            package = make_variant_zip(name)
            with lock:
                attempted[name] = code_sha256(package)
            try:
                resp = create_function(client, name, package)
            except Exception as e:  # noqa: BLE001 - the server may die mid-request
                if not killed.is_set():
                    errors_before_kill.append(repr(e))
                return
            assert resp["CodeSha256"] == code_sha256(package)
            with lock:
                acknowledged[name] = resp["CodeSha256"]

    # boto3's default session is not thread-safe for creating clients: make them here.
    clients = [srv.client(connect_timeout=2, read_timeout=10) for _ in range(3)]
    threads = [
        threading.Thread(target=burst, args=(w, c), daemon=True) for w, c in enumerate(clients)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if len(acknowledged) >= 20:
                break
        time.sleep(0.01)
    killed.set()  # first, so a request failing because of the kill is not counted as an error
    srv.kill()
    for t in threads:
        t.join(timeout=30)
    assert not errors_before_kill, errors_before_kill
    assert len(acknowledged) >= 20, "the server acknowledged too few creates before the kill"

    srv2 = server_factory(data_dir=srv.data_dir)
    client = srv2.client()

    for name, sha in acknowledged.items():
        wait_active(client, name)
        got = client.get_function(FunctionName=name)
        assert got["Configuration"]["CodeSha256"] == sha, name
        assert code_sha256(download(got["Code"]["Location"])) == sha, name

    listed = list_all_functions(client)
    for entry in listed:
        name = entry["FunctionName"]
        assert name in attempted, f"unexpected function {name}"
        wait_active(client, name)
        got = client.get_function(FunctionName=name)
        sha = got["Configuration"]["CodeSha256"]
        assert sha == attempted[name], f"{name} has someone else's code"
        assert code_sha256(download(got["Code"]["Location"])) == sha, f"{name} is half-created"
    assert set(acknowledged) <= {f["FunctionName"] for f in listed}
