"""Reserved concurrency, event-invoke configs, resource policies, tags and account settings."""

import datetime
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import (
    ACCOUNT,
    assert_error,
    function_arn,
    make_variant_zip,
    status_of,
    strip_meta,
    unique_name,
)


@pytest.fixture
def fn_v1(lambda_client, fn):
    """A function with published version 1."""
    lambda_client.publish_version(FunctionName=fn)
    return fn


# --- Reserved concurrency ---------------------------------------------------


def test_get_concurrency_when_unset_is_empty(lambda_client, fn):
    resp = lambda_client.get_function_concurrency(FunctionName=fn)
    assert status_of(resp) == 200
    assert "ReservedConcurrentExecutions" not in resp


def test_put_concurrency_echoes_value_and_get_returns_it(lambda_client, fn):
    resp = lambda_client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=5)
    assert status_of(resp) == 200
    assert resp["ReservedConcurrentExecutions"] == 5
    got = lambda_client.get_function_concurrency(FunctionName=fn)
    assert got["ReservedConcurrentExecutions"] == 5
    lambda_client.delete_function_concurrency(FunctionName=fn)


def test_get_function_shows_concurrency_when_set(lambda_client, fn):
    lambda_client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=3)
    try:
        resp = lambda_client.get_function(FunctionName=fn)
        assert resp["Concurrency"] == {"ReservedConcurrentExecutions": 3}
    finally:
        lambda_client.delete_function_concurrency(FunctionName=fn)


def test_put_concurrency_zero_is_allowed(lambda_client, fn):
    resp = lambda_client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)
    assert resp["ReservedConcurrentExecutions"] == 0
    got = lambda_client.get_function_concurrency(FunctionName=fn)
    assert got["ReservedConcurrentExecutions"] == 0
    lambda_client.delete_function_concurrency(FunctionName=fn)


def test_delete_concurrency_returns_204_and_clears_it(lambda_client, fn):
    lambda_client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=2)
    resp = lambda_client.delete_function_concurrency(FunctionName=fn)
    assert status_of(resp) == 204
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(
        FunctionName=fn
    )
    assert "Concurrency" not in lambda_client.get_function(FunctionName=fn)


def test_put_concurrency_on_qualified_name_is_rejected(lambda_client, fn_v1):
    with pytest.raises(ClientError) as ei:
        lambda_client.put_function_concurrency(
            FunctionName=f"{fn_v1}:1", ReservedConcurrentExecutions=1
        )
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message="This operation is permitted on Lambda functions only. Aliases and versions do "
        "not support this operation. Please specify either a function name or an unqualified "
        "function ARN.",
    )


def test_put_concurrency_on_unknown_function_is_404(lambda_client):
    name = unique_name("missing")
    with pytest.raises(ClientError) as ei:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert_error(
        ei.value, "ResourceNotFoundException", 404,
        message=f"Function not found: {function_arn(name, '$LATEST')}",
    )


def test_put_concurrency_above_account_headroom_is_rejected(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=1000)
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message="Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].",
    )
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(
        FunctionName=fn
    )


def test_reserved_concurrency_reduces_unreserved_account_concurrency(lambda_client, fn):
    before = lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    lambda_client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=7)
    during = lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    lambda_client.delete_function_concurrency(FunctionName=fn)
    after = lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert during == before - 7
    assert after == before


def test_deleting_a_function_releases_its_reserved_concurrency(lambda_client, new_function):
    name = new_function()["FunctionName"]
    before = lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=9)
    lambda_client.delete_function(FunctionName=name)
    after = lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert after == before


# --- Event invoke config ----------------------------------------------------


def test_put_event_invoke_config_returns_config_with_qualified_arn(lambda_client, fn):
    resp = lambda_client.put_function_event_invoke_config(
        FunctionName=fn, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=3600
    )
    assert status_of(resp) == 200
    assert resp["FunctionArn"] == function_arn(fn, "$LATEST")
    assert resp["MaximumRetryAttempts"] == 1
    assert resp["MaximumEventAgeInSeconds"] == 3600
    assert isinstance(resp["LastModified"], datetime.datetime)
    got = lambda_client.get_function_event_invoke_config(FunctionName=fn)
    assert strip_meta(got) == strip_meta(resp)


def test_get_event_invoke_config_when_absent_is_404(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function_event_invoke_config(FunctionName=fn)
    assert_error(
        ei.value, "ResourceNotFoundException", 404,
        message=f"The function {function_arn(fn, '$LATEST')} doesn't have an EventInvokeConfig",
    )


def test_put_event_invoke_config_overwrites_and_update_merges(lambda_client, fn):
    lambda_client.put_function_event_invoke_config(
        FunctionName=fn, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=600
    )
    lambda_client.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=0)
    got = lambda_client.get_function_event_invoke_config(FunctionName=fn)
    assert got["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in got  # Put removes settings it omits

    merged = lambda_client.update_function_event_invoke_config(
        FunctionName=fn, MaximumEventAgeInSeconds=120
    )
    assert merged["MaximumRetryAttempts"] == 0
    assert merged["MaximumEventAgeInSeconds"] == 120
    got = lambda_client.get_function_event_invoke_config(FunctionName=fn)
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (0, 120)


def test_delete_event_invoke_config_returns_204_and_removes_it(lambda_client, fn):
    lambda_client.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=1)
    resp = lambda_client.delete_function_event_invoke_config(FunctionName=fn)
    assert status_of(resp) == 204
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function_event_invoke_config(FunctionName=fn)
    assert_error(ei.value, "ResourceNotFoundException", 404)


def test_event_invoke_config_per_version_and_list(lambda_client, fn_v1):
    fn = fn_v1
    lambda_client.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=1)
    v1 = lambda_client.put_function_event_invoke_config(
        FunctionName=fn, Qualifier="1", MaximumRetryAttempts=2
    )
    assert v1["FunctionArn"] == function_arn(fn, "1")
    assert lambda_client.get_function_event_invoke_config(FunctionName=fn, Qualifier="1")[
        "MaximumRetryAttempts"
    ] == 2
    assert lambda_client.get_function_event_invoke_config(FunctionName=fn)[
        "MaximumRetryAttempts"
    ] == 1
    configs = lambda_client.list_function_event_invoke_configs(FunctionName=fn)[
        "FunctionEventInvokeConfigs"
    ]
    by_arn = {c["FunctionArn"]: c["MaximumRetryAttempts"] for c in configs}
    assert by_arn == {function_arn(fn, "$LATEST"): 1, function_arn(fn, "1"): 2}


def test_event_invoke_config_on_alias(lambda_client, fn_v1):
    lambda_client.create_alias(FunctionName=fn_v1, Name="live", FunctionVersion="1")
    resp = lambda_client.put_function_event_invoke_config(
        FunctionName=fn_v1, Qualifier="live", MaximumEventAgeInSeconds=60
    )
    assert resp["FunctionArn"] == function_arn(fn_v1, "live")


@pytest.mark.parametrize(
    "settings",
    [
        {"MaximumRetryAttempts": 3},
        {"MaximumRetryAttempts": -1},
        {"MaximumEventAgeInSeconds": 59},
        {"MaximumEventAgeInSeconds": 21601},
    ],
    ids=["retries-3", "retries-minus-1", "age-59", "age-21601"],
)
def test_event_invoke_config_out_of_range_is_rejected(unvalidated_client, fn, settings):
    with pytest.raises(ClientError) as ei:
        unvalidated_client.put_function_event_invoke_config(FunctionName=fn, **settings)
    assert_error(ei.value, ("ValidationException", "InvalidParameterValueException"), 400)


@pytest.mark.parametrize(
    "settings",
    [
        {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
        {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600},
    ],
    ids=["low-bounds", "high-bounds"],
)
def test_event_invoke_config_bounds_are_inclusive(lambda_client, fn, settings):
    resp = lambda_client.put_function_event_invoke_config(FunctionName=fn, **settings)
    for key, value in settings.items():
        assert resp[key] == value


def test_event_invoke_config_without_any_setting_is_rejected(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.put_function_event_invoke_config(FunctionName=fn)
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message="You must specify at least one of error handling or destination setting.",
    )


def test_event_invoke_config_with_self_as_destination_is_rejected(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.put_function_event_invoke_config(
            FunctionName=fn,
            DestinationConfig={"OnFailure": {"Destination": function_arn(fn)}},
        )
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message="You can't specify the function as a destination for itself.",
    )


def test_event_invoke_config_on_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        lambda_client.put_function_event_invoke_config(
            FunctionName=unique_name("missing"), MaximumRetryAttempts=1
        )
    assert_error(ei.value, "ResourceNotFoundException", 404)


# --- Resource policy --------------------------------------------------------

S3_BUCKET_ARN = "arn:aws:s3:::my-upload-bucket"


def add_s3_permission(client, fn, sid="s3", **kwargs):
    return client.add_permission(
        FunctionName=fn,
        StatementId=sid,
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=S3_BUCKET_ARN,
        SourceAccount=ACCOUNT,
        **kwargs,
    )


def test_add_permission_returns_201_with_statement(lambda_client, fn):
    resp = add_s3_permission(lambda_client, fn)
    assert status_of(resp) == 201
    statement = json.loads(resp["Statement"])
    assert statement["Sid"] == "s3"
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == function_arn(fn)
    assert statement["Condition"]["ArnLike"] == {"AWS:SourceArn": S3_BUCKET_ARN}
    assert statement["Condition"]["StringEquals"] == {"AWS:SourceAccount": ACCOUNT}


def test_get_policy_returns_policy_document(lambda_client, fn):
    add_s3_permission(lambda_client, fn, sid="first")
    add_s3_permission(lambda_client, fn, sid="second")
    resp = lambda_client.get_policy(FunctionName=fn)
    policy = json.loads(resp["Policy"])
    assert policy["Version"] == "2012-10-17"
    assert policy["Id"] == "default"
    assert [s["Sid"] for s in policy["Statement"]] == ["first", "second"]
    assert resp["RevisionId"]


def test_get_policy_without_policy_is_404(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.get_policy(FunctionName=fn)
    assert_error(
        ei.value, "ResourceNotFoundException", 404,
        message="The resource you requested does not exist.",
    )


def test_duplicate_statement_id_conflicts(lambda_client, fn):
    add_s3_permission(lambda_client, fn, sid="s3")
    with pytest.raises(ClientError) as ei:
        add_s3_permission(lambda_client, fn, sid="s3")
    assert_error(
        ei.value, "ResourceConflictException", 409,
        message="The statement id (s3) provided already exists. Please provide a new statement "
        "id, or remove the existing statement.",
    )


def test_remove_permission_returns_204_and_removes_the_statement(lambda_client, fn):
    add_s3_permission(lambda_client, fn, sid="keep")
    add_s3_permission(lambda_client, fn, sid="drop")
    resp = lambda_client.remove_permission(FunctionName=fn, StatementId="drop")
    assert status_of(resp) == 204
    policy = json.loads(lambda_client.get_policy(FunctionName=fn)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["keep"]


def test_remove_unknown_statement_is_404(lambda_client, fn):
    add_s3_permission(lambda_client, fn, sid="present")
    with pytest.raises(ClientError) as ei:
        lambda_client.remove_permission(FunctionName=fn, StatementId="absent")
    assert_error(ei.value, "ResourceNotFoundException", 404)


def test_add_permission_on_latest_qualifier_is_rejected(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        add_s3_permission(lambda_client, fn, Qualifier="$LATEST")
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message="We currently do not support adding policies for $LATEST.",
    )


def test_permission_on_version_is_separate_from_function_policy(lambda_client, fn_v1):
    fn = fn_v1
    resp = add_s3_permission(lambda_client, fn, sid="v1only", Qualifier="1")
    assert json.loads(resp["Statement"])["Resource"] == function_arn(fn, "1")
    policy = json.loads(lambda_client.get_policy(FunctionName=fn, Qualifier="1")["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["v1only"]
    with pytest.raises(ClientError) as ei:
        lambda_client.get_policy(FunctionName=fn)
    assert_error(ei.value, "ResourceNotFoundException", 404)


def test_add_permission_with_stale_revision_id_is_412(lambda_client, fn):
    add_s3_permission(lambda_client, fn, sid="one")
    with pytest.raises(ClientError) as ei:
        add_s3_permission(lambda_client, fn, sid="two", RevisionId=str(uuid.uuid4()))
    assert_error(ei.value, "PreconditionFailedException", 412)


def test_add_permission_on_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        add_s3_permission(lambda_client, unique_name("missing"))
    assert_error(ei.value, "ResourceNotFoundException", 404)


# --- Tags -------------------------------------------------------------------


def test_tag_list_untag_round_trip(lambda_client, fn):
    arn = function_arn(fn)
    resp = lambda_client.tag_resource(Resource=arn, Tags={"team": "core", "cost": "42"})
    assert status_of(resp) == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "core", "cost": "42"}
    resp = lambda_client.untag_resource(Resource=arn, TagKeys=["cost"])
    assert status_of(resp) == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "core"}
    assert lambda_client.get_function(FunctionName=fn)["Tags"] == {"team": "core"}


def test_list_tags_includes_tags_given_at_create(lambda_client, new_function):
    name = new_function(Tags={"owner": "alice"})["FunctionName"]
    assert lambda_client.list_tags(Resource=function_arn(name))["Tags"] == {"owner": "alice"}


def test_list_tags_of_untagged_function_is_empty(lambda_client, fn):
    assert lambda_client.list_tags(Resource=function_arn(fn)).get("Tags", {}) == {}


def test_tag_resource_overwrites_existing_values(lambda_client, new_function):
    name = new_function(Tags={"stage": "dev", "keep": "yes"})["FunctionName"]
    arn = function_arn(name)
    lambda_client.tag_resource(Resource=arn, Tags={"stage": "prod"})
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"stage": "prod", "keep": "yes"}


def test_untag_removes_all_given_keys(lambda_client, new_function):
    name = new_function(Tags={"a": "1", "b": "2", "c": "3"})["FunctionName"]
    arn = function_arn(name)
    lambda_client.untag_resource(Resource=arn, TagKeys=["a", "c"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"b": "2"}


def test_tagging_a_version_arn_is_rejected(lambda_client, fn_v1):
    with pytest.raises(ClientError) as ei:
        lambda_client.tag_resource(Resource=function_arn(fn_v1, "1"), Tags={"a": "b"})
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message="Tags on function aliases and versions are not supported. Please specify a "
        "function ARN.",
    )


def test_more_than_50_tags_are_rejected(lambda_client, new_function):
    name = new_function(Tags={f"k{i}": "v" for i in range(50)})["FunctionName"]
    arn = function_arn(name)
    with pytest.raises(ClientError) as ei:
        lambda_client.tag_resource(Resource=arn, Tags={"one-too-many": "v"})
    err = ei.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"] == "Number of tags exceeds resource tag limit."
    assert len(lambda_client.list_tags(Resource=arn)["Tags"]) == 50


def test_list_tags_of_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        lambda_client.list_tags(Resource=function_arn(unique_name("missing")))
    assert_error(ei.value, "ResourceNotFoundException", 404)


def test_tag_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        lambda_client.tag_resource(
            Resource=function_arn(unique_name("missing")), Tags={"a": "b"}
        )
    assert_error(ei.value, "ResourceNotFoundException", 404)


# --- Account settings -------------------------------------------------------


def test_account_settings_shape_and_default_limits(lambda_client):
    resp = lambda_client.get_account_settings()
    assert status_of(resp) == 200
    limit, usage = resp["AccountLimit"], resp["AccountUsage"]
    assert limit["ConcurrentExecutions"] == 1000
    assert 100 <= limit["UnreservedConcurrentExecutions"] <= 1000
    for key in ("TotalCodeSize", "CodeSizeUnzipped", "CodeSizeZipped"):
        assert isinstance(limit[key], int) and limit[key] > 0, key
    assert limit["CodeSizeZipped"] == 52428800
    assert limit["CodeSizeUnzipped"] == 262144000
    assert isinstance(usage["TotalCodeSize"], int)
    assert isinstance(usage["FunctionCount"], int)


def test_account_usage_counts_functions_and_code(lambda_client, new_function):
    before = lambda_client.get_account_settings()["AccountUsage"]
    package = make_variant_zip(uuid.uuid4())
    name = new_function(zip_bytes=package)["FunctionName"]
    after = lambda_client.get_account_settings()["AccountUsage"]
    assert after["FunctionCount"] == before["FunctionCount"] + 1
    assert after["TotalCodeSize"] >= before["TotalCodeSize"] + len(package)
    lambda_client.delete_function(FunctionName=name)
    final = lambda_client.get_account_settings()["AccountUsage"]
    assert final["FunctionCount"] == before["FunctionCount"]



# --- Bounds and required members, as the model gives them -------------------


def test_add_permission_without_action_or_principal_is_refused(unvalidated_client, lambda_client, fn):
    for missing in ("Action", "Principal"):
        kwargs = {"FunctionName": fn, "StatementId": "s-" + missing,
                  "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"}
        del kwargs[missing]
        with pytest.raises(ClientError) as ei:
            unvalidated_client.add_permission(**kwargs)
        assert_error(ei.value, "ValidationException", 400, message_contains=(
            f"Value null at '{missing.lower()}' failed to satisfy constraint: Member must not be null"))
    with pytest.raises(ClientError) as ei:
        lambda_client.get_policy(FunctionName=fn)
    assert_error(ei.value, "ResourceNotFoundException", 404)


def test_bounds_name_the_bound_that_was_broken(unvalidated_client, fn):
    cases = [
        (lambda: unvalidated_client.put_function_event_invoke_config(
            FunctionName=fn, MaximumRetryAttempts=-1),
         "Value '-1' at 'maximumRetryAttempts' failed to satisfy constraint: "
         "Member must have value greater than or equal to 0"),
        (lambda: unvalidated_client.put_function_event_invoke_config(
            FunctionName=fn, MaximumEventAgeInSeconds=59),
         "Member must have value greater than or equal to 60"),
        (lambda: unvalidated_client.list_functions(MaxItems=0),
         "Value '0' at 'maxItems' failed to satisfy constraint: "
         "Member must have value greater than or equal to 1"),
        (lambda: unvalidated_client.list_function_event_invoke_configs(FunctionName=fn, MaxItems=51),
         "Member must have value less than or equal to 50"),
    ]
    for call, message in cases:
        with pytest.raises(ClientError) as ei:
            call()
        assert_error(ei.value, "ValidationException", 400, message_contains=message)
