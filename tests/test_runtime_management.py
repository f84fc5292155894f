"""Get/PutRuntimeManagementConfig through boto3: the default mode, a pinned version per
function version, what publishing copies, AWS's errors (aliases refused, Manual without a
version, bad values), a pinned function's runtime held, and CloudFormation's
`RuntimeManagementConfig` property."""

import uuid

import pytest
from botocore.exceptions import ClientError

import helpers

PINNED = "arn:aws:lambda:us-east-1::runtime:8eeff65f6809a3ce81507fe733fe09b835899b99481ba22fd75b5a7338290ec1"


def test_a_new_function_updates_automatically_and_a_pin_round_trips(lambda_client, fn):
    got = lambda_client.get_runtime_management_config(FunctionName=fn)
    assert got["UpdateRuntimeOn"] == "Auto"
    assert got["FunctionArn"] == helpers.function_arn(fn)
    assert "RuntimeVersionArn" not in got

    put = lambda_client.put_runtime_management_config(
        FunctionName=fn, UpdateRuntimeOn="Manual", RuntimeVersionArn=PINNED)
    assert (put["UpdateRuntimeOn"], put["RuntimeVersionArn"]) == ("Manual", PINNED)
    assert put["FunctionArn"] == helpers.function_arn(fn)
    by_arn = lambda_client.get_runtime_management_config(FunctionName=helpers.function_arn(fn))
    assert (by_arn["UpdateRuntimeOn"], by_arn["RuntimeVersionArn"]) == ("Manual", PINNED)
    latest = lambda_client.get_runtime_management_config(FunctionName=fn, Qualifier="$LATEST")
    assert latest["RuntimeVersionArn"] == PINNED
    assert latest["FunctionArn"] == helpers.function_arn(fn) + ":$LATEST"

    # Only Manual carries a version.
    lambda_client.put_runtime_management_config(
        FunctionName=fn, UpdateRuntimeOn="FunctionUpdate", RuntimeVersionArn=PINNED)
    got = lambda_client.get_runtime_management_config(FunctionName=fn)
    assert got["UpdateRuntimeOn"] == "FunctionUpdate" and "RuntimeVersionArn" not in got


def test_each_version_keeps_its_own_and_publishing_copies_latest(lambda_client, fn):
    lambda_client.put_runtime_management_config(FunctionName=fn, UpdateRuntimeOn="FunctionUpdate")
    v1 = lambda_client.publish_version(FunctionName=fn)["Version"]
    got = lambda_client.get_runtime_management_config(FunctionName=fn, Qualifier=v1)
    assert got["UpdateRuntimeOn"] == "FunctionUpdate"
    assert got["FunctionArn"] == helpers.function_arn(fn) + ":" + v1

    lambda_client.put_runtime_management_config(
        FunctionName=fn, Qualifier=v1, UpdateRuntimeOn="Manual", RuntimeVersionArn=PINNED)
    assert lambda_client.get_runtime_management_config(
        FunctionName=fn)["UpdateRuntimeOn"] == "FunctionUpdate"
    assert lambda_client.get_runtime_management_config(
        FunctionName=fn, Qualifier=v1)["RuntimeVersionArn"] == PINNED


def test_aliases_missing_functions_and_versions_are_refused(lambda_client, fn):
    v1 = lambda_client.publish_version(FunctionName=fn)["Version"]
    lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion=v1)
    for call in (
        lambda: lambda_client.get_runtime_management_config(FunctionName=fn, Qualifier="live"),
        lambda: lambda_client.put_runtime_management_config(
            FunctionName=fn, Qualifier="live", UpdateRuntimeOn="Auto"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        helpers.assert_error(e.value, "InvalidParameterValueException", 400, message_contains=(
            f"The provided function name {helpers.function_arn(fn)}:live is invalid. "
            "Aliases are not allowed."))

    with pytest.raises(ClientError) as e:
        lambda_client.get_runtime_management_config(FunctionName="no-such-" + helpers.unique_name())
    helpers.assert_error(e.value, "ResourceNotFoundException", 404, message_contains="Function not found")
    with pytest.raises(ClientError) as e:
        lambda_client.put_runtime_management_config(FunctionName=fn, Qualifier="42",
                                                    UpdateRuntimeOn="Auto")
    helpers.assert_error(e.value, "ResourceNotFoundException", 404,
                         message_contains=helpers.function_arn(fn) + ":42")


def test_bad_settings_are_refused_and_change_nothing(lambda_client, unvalidated_client, fn):
    with pytest.raises(ClientError) as e:
        lambda_client.put_runtime_management_config(FunctionName=fn, UpdateRuntimeOn="Manual")
    helpers.assert_error(e.value, "InvalidParameterValueException", 400,
                         message_contains="RuntimeVersionArn")
    with pytest.raises(ClientError) as e:
        unvalidated_client.put_runtime_management_config(FunctionName=fn, UpdateRuntimeOn="Sometimes")
    helpers.assert_error(e.value, "ValidationException", 400, message_contains=(
        "Value 'Sometimes' at 'updateRuntimeOn' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]"))
    with pytest.raises(ClientError) as e:
        unvalidated_client.put_runtime_management_config(
            FunctionName=fn, UpdateRuntimeOn="Manual", RuntimeVersionArn="arn:aws:lambda:python3.12:v1")
    helpers.assert_error(e.value, "ValidationException", 400, message_contains="'runtimeVersionArn'")
    assert lambda_client.get_runtime_management_config(FunctionName=fn)["UpdateRuntimeOn"] == "Auto"


def test_a_pinned_function_keeps_its_runtime_until_released(lambda_client, fn):
    lambda_client.put_runtime_management_config(
        FunctionName=fn, UpdateRuntimeOn="Manual", RuntimeVersionArn=PINNED)
    # The same runtime and other settings still change.
    runtime = lambda_client.get_function_configuration(FunctionName=fn)["Runtime"]
    helpers.wait_updated(lambda_client, fn)
    lambda_client.update_function_configuration(FunctionName=fn, Runtime=runtime, Timeout=9)
    helpers.wait_updated(lambda_client, fn)
    with pytest.raises(ClientError) as e:
        lambda_client.update_function_configuration(FunctionName=fn, Runtime="python3.11")
    helpers.assert_error(e.value, "InvalidParameterValueException", 400, message_contains=(
        "Cannot change runtime identifier when runtime management configuration is set to "
        "'Manual'. Change the runtime management configuration to 'Auto' or 'FunctionUpdate', "
        "then retry."))
    assert lambda_client.get_function_configuration(FunctionName=fn)["Runtime"] == runtime

    lambda_client.put_runtime_management_config(FunctionName=fn, UpdateRuntimeOn="Auto")
    lambda_client.update_function_configuration(FunctionName=fn, Runtime="python3.11")
    assert lambda_client.get_function_configuration(FunctionName=fn)["Runtime"] == "python3.11"


def test_the_setting_goes_with_its_function(lambda_client, new_function):
    name = helpers.unique_name()
    new_function(name=name)
    lambda_client.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="FunctionUpdate")
    lambda_client.delete_function(FunctionName=name)
    new_function(name=name)
    assert lambda_client.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "Auto"



def test_cloudformation_sets_and_resets_the_mode(server, lambda_client):
    cfn = server.client("cloudformation")
    stack = "rmc-" + uuid.uuid4().hex[:8]
    fn = "rmc-fn-" + uuid.uuid4().hex[:8]
    pinned = helpers.function_stack(fn, (
        "      RuntimeManagementConfig:\n"
        "        UpdateRuntimeOn: Manual\n"
        f"        RuntimeVersionArn: {PINNED}"))
    cfn.create_stack(StackName=stack, TemplateBody=pinned, Capabilities=["CAPABILITY_IAM"])
    try:
        assert helpers.wait_stack(cfn, stack) == "CREATE_COMPLETE"
        got = lambda_client.get_runtime_management_config(FunctionName=fn)
        assert (got["UpdateRuntimeOn"], got["RuntimeVersionArn"]) == ("Manual", PINNED)

        # Released and the runtime changed in one update: the release goes first.
        released = helpers.function_stack(fn, runtime="python3.11")
        cfn.update_stack(StackName=stack, TemplateBody=released, Capabilities=["CAPABILITY_IAM"])
        assert helpers.wait_stack(cfn, stack) == "UPDATE_COMPLETE"
        assert lambda_client.get_runtime_management_config(FunctionName=fn)["UpdateRuntimeOn"] == "Auto"
        assert lambda_client.get_function_configuration(FunctionName=fn)["Runtime"] == "python3.11"
    finally:
        cfn.delete_stack(StackName=stack)
