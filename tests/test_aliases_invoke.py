"""Invoking through qualifiers: version numbers, aliases (weighted ones pick a version per
request), $LATEST, and every form of FunctionName; X-Amz-Executed-Version, the START line and
the ARN the function sees all follow what the caller used."""

from collections import Counter

import pytest
from botocore.exceptions import ClientError

from helpers import ACCOUNT, REGION, assert_error, function_arn, invoke, make_zip, wait_updated

SOURCE = '''
import os, uuid

TAG = "{tag}"
ENV_ID = uuid.uuid4().hex


def handler(event, context):
    return {{"tag": TAG, "version": context.function_version,
            "env_version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
            "arn": context.invoked_function_arn, "env": ENV_ID}}
'''


def package(tag):
    return make_zip({"app.py": SOURCE.format(tag=tag)})


@pytest.fixture(scope="module")
def versioned(lambda_client, module_new_function):
    """A function with version 1 ("one"), version 2 ("two"), $LATEST ("latest"), alias `live`
    -> 1 and alias `canary` -> 1 with 30 % to 2."""
    name = module_new_function(zip_bytes=package("one"))["FunctionName"]
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"
    lambda_client.update_function_code(FunctionName=name, ZipFile=package("two"))
    wait_updated(lambda_client, name)
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"
    lambda_client.update_function_code(FunctionName=name, ZipFile=package("latest"))
    wait_updated(lambda_client, name)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lambda_client.create_alias(
        FunctionName=name, Name="canary", FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    return name


@pytest.mark.parametrize(
    "qualifier,version,tag",
    [("1", "1", "one"), ("2", "2", "two"), ("$LATEST", "$LATEST", "latest"), ("live", "1", "one"),
     (None, "$LATEST", "latest")],
)
def test_qualifier_selects_the_version(invoke_client, versioned, qualifier, version, tag):
    kwargs = {} if qualifier is None else {"Qualifier": qualifier}
    inv = invoke(invoke_client, versioned, {}, **kwargs)
    assert inv.function_error is None, inv
    assert inv.executed_version == version
    assert inv.payload["tag"] == tag
    assert inv.payload["version"] == version
    assert inv.payload["env_version"] == version
    assert f"START RequestId: {inv.request_id} Version: {version}" in inv.log_lines, inv.log


def arn(name, qualifier=None):
    return function_arn(name, qualifier)


@pytest.mark.parametrize(
    "form,qualifier,expected_qualifier,version",
    [
        ("name", None, None, "$LATEST"),
        ("name", "$LATEST", "$LATEST", "$LATEST"),
        ("name", "2", "2", "2"),
        ("name", "live", "live", "1"),
        ("name:live", None, "live", "1"),
        ("name:1", None, "1", "1"),
        ("name:$LATEST", None, "$LATEST", "$LATEST"),
        ("arn", None, None, "$LATEST"),
        ("arn:live", None, "live", "1"),
        ("arn:2", None, "2", "2"),
        ("arn", "live", "live", "1"),
        ("partial", None, None, "$LATEST"),
        ("partial:live", None, "live", "1"),
    ],
)
def test_invoked_function_arn_is_what_the_caller_used(
    invoke_client, versioned, form, qualifier, expected_qualifier, version
):
    base, _, suffix = form.partition(":")
    function_name = {
        "name": versioned,
        "arn": arn(versioned),
        "partial": f"{ACCOUNT}:function:{versioned}",
    }[base]
    if suffix:
        function_name += ":" + suffix
    kwargs = {} if qualifier is None else {"Qualifier": qualifier}
    inv = invoke(invoke_client, function_name, {}, **kwargs)
    assert inv.function_error is None, inv
    assert inv.executed_version == version
    assert inv.payload["arn"] == arn(versioned, expected_qualifier)


def test_weighted_alias_splits_by_weight(invoke_client, versioned):
    counts = Counter()
    for _ in range(200):
        inv = invoke(invoke_client, versioned, {}, tail=False, Qualifier="canary")
        assert inv.function_error is None, inv
        assert inv.executed_version in ("1", "2"), inv.executed_version
        # The header names the version that really ran.
        assert inv.payload["version"] == inv.executed_version
        assert inv.payload["tag"] == {"1": "one", "2": "two"}[inv.executed_version]
        # The function still sees the alias it was called through.
        assert inv.payload["arn"] == arn(versioned, "canary")
        counts[inv.executed_version] += 1
    # 30 % of 200 is 60 (standard deviation ~6.5): a band of about +-4.5 sigma.
    assert 30 <= counts["2"] <= 90, counts


def test_alias_update_takes_effect_on_the_next_invoke(invoke_client, lambda_client, versioned):
    lambda_client.create_alias(FunctionName=versioned, Name="moving", FunctionVersion="1")
    assert invoke(invoke_client, versioned, {}, Qualifier="moving").executed_version == "1"
    lambda_client.update_alias(FunctionName=versioned, Name="moving", FunctionVersion="2")
    inv = invoke(invoke_client, versioned, {}, Qualifier="moving")
    assert inv.executed_version == "2"
    assert inv.payload["tag"] == "two"


def test_each_version_has_its_own_environments(invoke_client, versioned):
    one = invoke(invoke_client, versioned, {}, Qualifier="1").payload["env"]
    latest = invoke(invoke_client, versioned, {}).payload["env"]
    assert one != latest
    # Through the alias, version 1's warm environment is reused.
    assert invoke(invoke_client, versioned, {}, Qualifier="live").payload["env"] == one


def test_dry_run_with_qualifiers(invoke_client, versioned):
    for qualifier in ("1", "live", "canary", "$LATEST"):
        resp = invoke_client.invoke(FunctionName=versioned, Qualifier=qualifier, InvocationType="DryRun")
        assert resp["StatusCode"] == 204, qualifier


@pytest.mark.parametrize("qualifier", ["nosuchalias", "99"])
def test_missing_qualifier_is_404(invoke_client, versioned, qualifier):
    for invocation_type in ("RequestResponse", "DryRun"):
        with pytest.raises(ClientError) as e:
            invoke_client.invoke(FunctionName=versioned, Qualifier=qualifier,
                                 InvocationType=invocation_type, Payload=b"{}")
        assert_error(e.value, "ResourceNotFoundException", 404,
                     message=f"Function not found: {arn(versioned, qualifier)}")


def test_conflicting_qualifiers_are_rejected(invoke_client, versioned):
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=f"{versioned}:1", Qualifier="2", Payload=b"{}")
    assert_error(e.value, "InvalidParameterValueException", 400)


def test_arn_of_another_region_is_not_found(invoke_client, versioned):
    other = arn(versioned).replace(f":{REGION}:", ":eu-west-3:")
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=other, Payload=b"{}")
    assert_error(e.value, "ResourceNotFoundException", 404)
