"""Provisioned concurrency through boto3: the four configuration operations with AWS's errors,
environments initialised ahead of traffic (IN_PROGRESS, then READY), invocations through the
configured qualifier served by them without an init in their time (no Init Duration in REPORT,
AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency), on-demand spill-over beyond them,
deletion freeing them, and a restart keeping the configuration."""

import os
import signal
import threading

import pytest
from botocore.exceptions import ClientError

from helpers import (
    ROLE,
    RUNTIME,
    assert_error,
    function_arn,
    function_processes,
    invoke,
    make_zip,
    status_of,
    wait_until,
    wait_updated,
)

UNPUBLISHED = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
ALIAS_OR_PUBLISHED = "The function resource provided must be an alias or a published version."

# Reports how its environment was initialised; sleeps when asked (to hold an environment).
HANDLER = r'''
import os, time


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {
        "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
        "pid": os.getpid(),
    }
'''

READY_WITHIN_S = 60


def publish_another(client, name, tag):
    """Publishes a new version (a changed configuration, so it is not the last one again)."""
    client.update_function_configuration(FunctionName=name, Description=tag)
    wait_updated(client, name)
    return client.publish_version(FunctionName=name)["Version"]


@pytest.fixture
def published(new_function, lambda_client):
    """A function with version 1 published and alias `live` on it."""
    name = new_function(zip_bytes=make_zip({"app.py": HANDLER}), Timeout=30)["FunctionName"]
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


def wait_status(client, name, qualifier, status="READY"):
    """Polls GetProvisionedConcurrencyConfig until `status`; returns the config."""
    last = {}

    def reached():
        last["config"] = client.get_provisioned_concurrency_config(
            FunctionName=name, Qualifier=qualifier
        )
        return last["config"]["Status"] == status and last["config"]

    return wait_until(reached, READY_WITHIN_S, interval=0.2,
                      message=lambda: f"status {status}; last: {last.get('config')}")


def test_put_answers_202_in_progress_then_ready_with_awss_fields(lambda_client, published):
    put = lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert status_of(put) == 202
    assert put["Status"] == "IN_PROGRESS"
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["AllocatedProvisionedConcurrentExecutions"] == 0
    assert put["AvailableProvisionedConcurrentExecutions"] == 0
    assert put["LastModified"]
    ready = wait_status(lambda_client, published, "live")
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 2
    assert ready["AvailableProvisionedConcurrentExecutions"] == 2
    assert "StatusReason" not in ready
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=published)
    [item] = listed["ProvisionedConcurrencyConfigs"]
    assert item["FunctionArn"] == function_arn(published, "live")
    assert item["Status"] == "READY"
    assert item["RequestedProvisionedConcurrentExecutions"] == 2
    assert "NextMarker" not in listed


def test_unpublished_and_missing_qualifiers_are_refused(lambda_client, unvalidated_client,
                                                        published):
    with pytest.raises(ClientError) as e:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert_error(e.value, "InvalidParameterValueException", 400, UNPUBLISHED)
    with pytest.raises(ClientError) as e:
        unvalidated_client.put_provisioned_concurrency_config(
            FunctionName=published, ProvisionedConcurrentExecutions=1
        )
    assert_error(e.value, "InvalidParameterValueException", 400, UNPUBLISHED)
    lambda_client.create_alias(FunctionName=published, Name="edge", FunctionVersion="$LATEST")
    with pytest.raises(ClientError) as e:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="edge", ProvisionedConcurrentExecutions=1
        )
    assert_error(e.value, "InvalidParameterValueException", 400, UNPUBLISHED)
    with pytest.raises(ClientError) as e:
        unvalidated_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=0
        )
    assert_error(e.value, "ValidationException", 400, message_contains=(
        "Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"))
    with pytest.raises(ClientError) as e:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="9", ProvisionedConcurrentExecutions=1
        )
    assert_error(e.value, "ResourceNotFoundException", 404,
                 f"Function not found: {function_arn(published, '9')}")
    with pytest.raises(ClientError) as e:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="nope", ProvisionedConcurrentExecutions=1
        )
    assert_error(e.value, "ResourceNotFoundException", 404,
                 f"Cannot find alias arn: {function_arn(published, 'nope')}")
    for call in (lambda_client.get_provisioned_concurrency_config,
                 lambda_client.delete_provisioned_concurrency_config):
        with pytest.raises(ClientError) as e:
            call(FunctionName=published, Qualifier="$LATEST")
        assert_error(e.value, "InvalidParameterValueException", 400, ALIAS_OR_PUBLISHED)
    with pytest.raises(ClientError) as e:
        lambda_client.get_provisioned_concurrency_config(FunctionName=published, Qualifier="1")
    assert_error(e.value, "ProvisionedConcurrencyConfigNotFoundException", 404,
                 "No Provisioned Concurrency Config found for this function")
    # Nothing was written by any of them.
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=published)
    assert listed["ProvisionedConcurrencyConfigs"] == []
    with pytest.raises(ClientError) as e:
        lambda_client.list_provisioned_concurrency_configs(FunctionName=published + "-missing")
    assert_error(e.value, "ResourceNotFoundException", 404)


def test_overlapping_configurations_conflict(lambda_client, published):
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    with pytest.raises(ClientError) as e:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=1
        )
    assert_error(e.value, "ResourceConflictException", 409,
                 "Version is pointed by a Provisioned Concurrency alias")
    lambda_client.delete_provisioned_concurrency_config(FunctionName=published, Qualifier="live")
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    with pytest.raises(ClientError) as e:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=1
        )
    assert_error(e.value, "ResourceConflictException", 409,
                 "Alias can't be used for Provisioned Concurrency configuration on an already "
                 "Provisioned version")


def test_reserved_concurrency_bounds_provisioned(lambda_client, published):
    lambda_client.put_function_concurrency(FunctionName=published, ReservedConcurrentExecutions=2)
    with pytest.raises(ClientError) as e:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=3
        )
    assert_error(e.value, "InvalidParameterValueException", 400,
                 "Requested Provisioned Concurrency should not be greater than the "
                 "reservedConcurrentExecution for function")
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=2
    )


def test_list_pages_with_marker(lambda_client, unvalidated_client, published):
    assert publish_another(lambda_client, published, "two") == "2"
    for q in ("1", "2"):
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier=q, ProvisionedConcurrentExecutions=1
        )
    first = lambda_client.list_provisioned_concurrency_configs(FunctionName=published, MaxItems=1)
    assert [c["FunctionArn"] for c in first["ProvisionedConcurrencyConfigs"]] == [
        function_arn(published, "1")]
    second = lambda_client.list_provisioned_concurrency_configs(
        FunctionName=published, MaxItems=1, Marker=first["NextMarker"])
    assert [c["FunctionArn"] for c in second["ProvisionedConcurrencyConfigs"]] == [
        function_arn(published, "2")]
    assert "NextMarker" not in second
    with pytest.raises(ClientError) as e:
        unvalidated_client.list_provisioned_concurrency_configs(FunctionName=published,
                                                                MaxItems=51)
    assert_error(e.value, "ValidationException", 400,
                 message_contains="Member must have value less than or equal to 50")


def test_provisioned_environments_answer_without_init_and_spill_over(
        lambda_client, invoke_client, published):
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    wait_status(lambda_client, published, "live")
    warm = invoke(invoke_client, published, Qualifier="live")
    assert warm.payload["init"] == "provisioned-concurrency", warm
    assert warm.report()["init"] is None, warm.log
    assert warm.executed_version == "1"

    # Hold the provisioned environment, then invoke again: the second call spills over to an
    # on-demand environment, started in its own time.
    held = {}
    holder = threading.Thread(target=lambda: held.update(
        inv=invoke(invoke_client, published, {"sleep": 3}, Qualifier="live")))
    holder.start()
    try:
        wait_until(lambda: lambda_client.get_provisioned_concurrency_config(
            FunctionName=published, Qualifier="live"
        )["AvailableProvisionedConcurrentExecutions"] == 0, 30,
            message="the provisioned environment taken")
        spill = invoke(invoke_client, published, Qualifier="live")
    finally:
        holder.join()
    assert spill.payload["init"] == "on-demand", spill
    assert spill.report()["init"] is not None, spill.log
    assert held["inv"].payload["init"] == "provisioned-concurrency", held["inv"]
    assert held["inv"].payload["pid"] == warm.payload["pid"]
    assert held["inv"].report()["init"] is None

    # The version the alias points to, invoked directly, is not what the configuration covers.
    direct = invoke(invoke_client, published, Qualifier="1")
    assert direct.payload["init"] == "on-demand", direct


def test_a_failed_init_fails_the_allocation(lambda_client, new_function):
    broken = "raise RuntimeError('no database')\n"
    name = new_function(zip_bytes=make_zip({"app.py": broken}))["FunctionName"]
    lambda_client.publish_version(FunctionName=name)
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    failed = wait_status(lambda_client, name, "1", status="FAILED")
    assert "no database" in failed["StatusReason"], failed
    assert failed["AllocatedProvisionedConcurrentExecutions"] == 0


def test_delete_frees_the_environments(lambda_client, server, published):
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    wait_status(lambda_client, published, "live")
    assert len(function_processes(server.data_dir, [published])) >= 2
    delete = lambda_client.delete_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live"
    )
    assert status_of(delete) == 204
    with pytest.raises(ClientError) as e:
        lambda_client.get_provisioned_concurrency_config(FunctionName=published, Qualifier="live")
    assert_error(e.value, "ProvisionedConcurrencyConfigNotFoundException", 404)
    wait_until(lambda: not function_processes(server.data_dir, [published]), 30,
               message=lambda: f"environments gone: {function_processes(server.data_dir, [published])}")


def test_deleting_the_alias_removes_its_configuration(lambda_client, server, published):
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    wait_status(lambda_client, published, "live")
    lambda_client.delete_alias(FunctionName=published, Name="live")
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=published)
    assert listed["ProvisionedConcurrencyConfigs"] == []
    wait_until(lambda: not function_processes(server.data_dir, [published]), 30,
               message="environments gone with the alias")


def test_a_restart_keeps_the_configuration_and_remakes_the_environments(server_factory):
    srv = server_factory()
    client = srv.client()
    name = "pc-restart"
    client.create_function(FunctionName=name, Runtime=RUNTIME,
                           Role=ROLE,
                           Handler="app.handler", Code={"ZipFile": make_zip({"app.py": HANDLER})})
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    client.publish_version(FunctionName=name)
    client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    wait_status(client, name, "1")
    srv.stop()
    srv.start()
    client = srv.client()
    ready = wait_status(client, name, "1")
    assert ready["RequestedProvisionedConcurrentExecutions"] == 1
    inv = invoke(client, name, Qualifier="1")
    assert inv.payload["init"] == "provisioned-concurrency", inv
    assert inv.report()["init"] is None, inv.log


def test_account_concurrency_keeps_its_unreserved_minimum(server_factory):
    srv = server_factory(env={"STRATUS_ACCOUNT_CONCURRENCY": "102"})
    client = srv.client()
    name = "pc-account"
    client.create_function(FunctionName=name, Runtime=RUNTIME,
                           Role=ROLE,
                           Handler="app.handler", Code={"ZipFile": make_zip({"app.py": HANDLER})})
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    client.publish_version(FunctionName=name)
    with pytest.raises(ClientError) as e:
        client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=3
        )
    assert_error(e.value, "InvalidParameterValueException", 400,
                 "Specified ConcurrentExecutions for function decreases account's "
                 "UnreservedConcurrentExecution below its minimum value of [100].")
    client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    # The two allocated are drawn from the account's pool: one more cannot be.
    assert publish_another(client, name, "two") == "2"
    with pytest.raises(ClientError) as e:
        client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="2", ProvisionedConcurrentExecutions=1
        )
    assert_error(e.value, "InvalidParameterValueException", 400)


def test_a_provisioned_environment_that_dies_is_replaced(lambda_client, invoke_client, server,
                                                         published):
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    wait_status(lambda_client, published, "live")
    killed = {pid for pid, _ in function_processes(server.data_dir, [published])}
    assert killed
    for pid in killed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def replaced():
        now = {pid for pid, _ in function_processes(server.data_dir, [published])}
        return now and not (now & killed)

    wait_until(replaced, READY_WITHIN_S, interval=0.2, message="a replacement environment")
    wait_status(lambda_client, published, "live")
    inv = invoke(invoke_client, published, Qualifier="live")
    assert inv.payload["init"] == "provisioned-concurrency", inv
    assert inv.report()["init"] is None, inv.log
