"""PublishVersion, ListVersionsByFunction and the alias operations."""

import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import (
    UUID_RE,
    assert_error,
    code_sha256,
    download,
    function_arn,
    make_variant_zip,
    make_zip,
    status_of,
    strip_meta,
    unique_name,
    wait_updated,
)


def change_code(client, name, tag=None):
    package = make_variant_zip(tag if tag is not None else uuid.uuid4())
    client.update_function_code(FunctionName=name, ZipFile=package)
    wait_updated(client, name)
    return package


def publish_n(client, name, n):
    """Publish n versions (changing the code before each); returns their Version strings."""
    versions = []
    for _ in range(n):
        change_code(client, name)
        versions.append(client.publish_version(FunctionName=name)["Version"])
    return versions


# --- PublishVersion ---------------------------------------------------------


def test_publish_numbers_versions_from_1_upward(lambda_client, fn):
    assert publish_n(lambda_client, fn, 3) == ["1", "2", "3"]


def test_publish_returns_201_with_qualified_arn_and_active_state(lambda_client, fn):
    resp = lambda_client.publish_version(FunctionName=fn)
    assert status_of(resp) == 201
    assert resp["Version"] == "1"
    assert resp["FunctionArn"] == function_arn(fn, "1")
    assert resp["State"] == "Active"
    assert resp["LastUpdateStatus"] == "Successful"
    assert resp["CodeSha256"] == code_sha256(make_zip())


def test_publish_without_changes_returns_the_existing_version(lambda_client, fn):
    first = lambda_client.publish_version(FunctionName=fn)
    again = lambda_client.publish_version(FunctionName=fn, Description="ignored")
    assert again["Version"] == first["Version"] == "1"
    assert again["RevisionId"] == first["RevisionId"]
    versions = lambda_client.list_versions_by_function(FunctionName=fn)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_publish_after_configuration_change_creates_new_version(lambda_client, fn):
    lambda_client.publish_version(FunctionName=fn)
    lambda_client.update_function_configuration(FunctionName=fn, Timeout=20)
    wait_updated(lambda_client, fn)
    assert lambda_client.publish_version(FunctionName=fn)["Version"] == "2"


def test_publish_after_description_change_creates_new_version(lambda_client, fn):
    # AWS's recorded behaviour: a Description-only change of $LATEST is a change.
    lambda_client.publish_version(FunctionName=fn)
    lambda_client.update_function_configuration(FunctionName=fn, Description="now documented")
    wait_updated(lambda_client, fn)
    assert lambda_client.publish_version(FunctionName=fn)["Version"] == "2"


def test_publish_time_description_is_not_a_change(lambda_client, fn):
    assert lambda_client.publish_version(FunctionName=fn, Description="release 1")["Version"] == "1"
    assert lambda_client.publish_version(FunctionName=fn)["Version"] == "1"


def test_publish_description_sets_the_version_description(lambda_client, fn):
    resp = lambda_client.publish_version(FunctionName=fn, Description="release 1")
    assert resp["Description"] == "release 1"
    v1 = lambda_client.get_function_configuration(FunctionName=fn, Qualifier="1")
    assert v1["Description"] == "release 1"


def test_published_version_is_an_immutable_snapshot(lambda_client, new_function):
    original = make_variant_zip("original")
    name = new_function(zip_bytes=original, Timeout=10, Environment={"Variables": {"K1": "a"}})[
        "FunctionName"
    ]
    lambda_client.publish_version(FunctionName=name)
    change_code(lambda_client, name, "changed")
    lambda_client.update_function_configuration(
        FunctionName=name, Timeout=99, Environment={"Variables": {"K1": "b"}}
    )
    wait_updated(lambda_client, name)

    v1 = lambda_client.get_function(FunctionName=name, Qualifier="1")
    assert v1["Configuration"]["Timeout"] == 10
    assert v1["Configuration"]["Environment"]["Variables"] == {"K1": "a"}
    assert v1["Configuration"]["CodeSha256"] == code_sha256(original)
    assert download(v1["Code"]["Location"]) == original
    latest = lambda_client.get_function_configuration(FunctionName=name)
    assert latest["Timeout"] == 99


def test_publish_with_wrong_code_sha256_is_rejected(lambda_client, fn):
    current = code_sha256(make_zip())
    wrong = code_sha256(b"something else")
    with pytest.raises(ClientError) as ei:
        lambda_client.publish_version(FunctionName=fn, CodeSha256=wrong)
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message=f"CodeSHA256 ({wrong}) is different from current CodeSHA256 in $LATEST "
        f"({current}). Please try again with the CodeSHA256 in $LATEST.",
    )
    assert [v["Version"] for v in lambda_client.list_versions_by_function(FunctionName=fn)[
        "Versions"]] == ["$LATEST"]


def test_publish_with_matching_code_sha256_succeeds(lambda_client, fn):
    resp = lambda_client.publish_version(FunctionName=fn, CodeSha256=code_sha256(make_zip()))
    assert resp["Version"] == "1"


def test_publish_with_stale_revision_id_is_412(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.publish_version(FunctionName=fn, RevisionId=str(uuid.uuid4()))
    assert_error(ei.value, "PreconditionFailedException", 412)


def test_publish_with_current_revision_id_succeeds(lambda_client, fn):
    rev = lambda_client.get_function_configuration(FunctionName=fn)["RevisionId"]
    assert lambda_client.publish_version(FunctionName=fn, RevisionId=rev)["Version"] == "1"


def test_publish_changes_latest_revision_id(lambda_client, fn):
    before = lambda_client.get_function_configuration(FunctionName=fn)["RevisionId"]
    lambda_client.publish_version(FunctionName=fn)
    after = lambda_client.get_function_configuration(FunctionName=fn)["RevisionId"]
    assert after != before


def test_version_numbers_are_never_reused_after_delete(lambda_client, fn):
    assert publish_n(lambda_client, fn, 2) == ["1", "2"]
    lambda_client.delete_function(FunctionName=fn, Qualifier="2")
    assert publish_n(lambda_client, fn, 1) == ["3"]


def test_publish_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        lambda_client.publish_version(FunctionName=unique_name("missing"))
    assert_error(ei.value, "ResourceNotFoundException", 404)


# --- ListVersionsByFunction -------------------------------------------------


def test_list_versions_starts_with_qualified_latest(lambda_client, fn):
    publish_n(lambda_client, fn, 2)
    versions = lambda_client.list_versions_by_function(FunctionName=fn)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert [v["FunctionArn"] for v in versions] == [
        function_arn(fn, "$LATEST"), function_arn(fn, "1"), function_arn(fn, "2"),
    ]


def test_list_versions_paginates(lambda_client, fn):
    publish_n(lambda_client, fn, 3)
    seen, marker = [], None
    for _ in range(10):
        kwargs = {"FunctionName": fn, "MaxItems": 1}
        if marker:
            kwargs["Marker"] = marker
        page = lambda_client.list_versions_by_function(**kwargs)
        assert len(page["Versions"]) <= 1
        seen.extend(v["Version"] for v in page["Versions"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == ["$LATEST", "1", "2", "3"]


def test_list_versions_of_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        lambda_client.list_versions_by_function(FunctionName=unique_name("missing"))
    assert_error(ei.value, "ResourceNotFoundException", 404)


# --- Aliases ----------------------------------------------------------------


@pytest.fixture
def fn_with_versions(lambda_client, fn):
    """A function with published versions 1 and 2."""
    publish_n(lambda_client, fn, 2)
    return fn


def test_create_alias_returns_alias_configuration(lambda_client, fn_with_versions):
    fn = fn_with_versions
    resp = lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    assert status_of(resp) == 201
    assert resp["AliasArn"] == function_arn(fn, "live")
    assert resp["Name"] == "live"
    assert resp["FunctionVersion"] == "1"
    assert resp["Description"] == ""
    assert "RoutingConfig" not in resp
    assert UUID_RE.match(resp["RevisionId"])


def test_create_alias_with_routing_config_round_trips(lambda_client, fn_with_versions):
    fn = fn_with_versions
    routing = {"AdditionalVersionWeights": {"1": 0.25}}
    resp = lambda_client.create_alias(
        FunctionName=fn, Name="canary", FunctionVersion="2", Description="ramp", RoutingConfig=routing
    )
    assert resp["RoutingConfig"] == routing
    assert resp["Description"] == "ramp"
    got = lambda_client.get_alias(FunctionName=fn, Name="canary")
    assert strip_meta(got) == strip_meta(resp)


def test_alias_on_latest_without_routing_is_allowed(lambda_client, fn):
    resp = lambda_client.create_alias(FunctionName=fn, Name="dev", FunctionVersion="$LATEST")
    assert resp["FunctionVersion"] == "$LATEST"


def test_get_missing_alias_is_404(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.get_alias(FunctionName=fn, Name="nope")
    assert_error(
        ei.value, "ResourceNotFoundException", 404,
        message=f"Cannot find alias arn: {function_arn(fn, 'nope')}",
    )


def test_update_alias_changes_version_and_revision(lambda_client, fn_with_versions):
    fn = fn_with_versions
    created = lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    updated = lambda_client.update_alias(
        FunctionName=fn, Name="live", FunctionVersion="2", Description="now v2"
    )
    assert updated["FunctionVersion"] == "2"
    assert updated["Description"] == "now v2"
    assert updated["RevisionId"] != created["RevisionId"]
    assert lambda_client.get_alias(FunctionName=fn, Name="live")["FunctionVersion"] == "2"


def test_update_alias_with_empty_weights_removes_routing(lambda_client, fn_with_versions):
    fn = fn_with_versions
    lambda_client.create_alias(
        FunctionName=fn, Name="canary", FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
    )
    resp = lambda_client.update_alias(
        FunctionName=fn, Name="canary", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    assert not resp.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    got = lambda_client.get_alias(FunctionName=fn, Name="canary")
    assert not got.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert got["FunctionVersion"] == "2"


def test_update_alias_with_stale_revision_id_is_412(lambda_client, fn_with_versions):
    fn = fn_with_versions
    lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as ei:
        lambda_client.update_alias(
            FunctionName=fn, Name="live", FunctionVersion="2", RevisionId=str(uuid.uuid4())
        )
    assert_error(ei.value, "PreconditionFailedException", 412)
    assert lambda_client.get_alias(FunctionName=fn, Name="live")["FunctionVersion"] == "1"


def test_update_alias_with_current_revision_id_succeeds(lambda_client, fn_with_versions):
    fn = fn_with_versions
    rev = lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")[
        "RevisionId"
    ]
    resp = lambda_client.update_alias(
        FunctionName=fn, Name="live", FunctionVersion="2", RevisionId=rev
    )
    assert resp["FunctionVersion"] == "2"


def test_update_missing_alias_is_404(lambda_client, fn_with_versions):
    fn = fn_with_versions
    with pytest.raises(ClientError) as ei:
        lambda_client.update_alias(FunctionName=fn, Name="nope", FunctionVersion="1")
    assert_error(
        ei.value, "ResourceNotFoundException", 404,
        message=f"Alias not found: {function_arn(fn, 'nope')}",
    )


def test_delete_alias_returns_204_and_alias_is_gone(lambda_client, fn_with_versions):
    fn = fn_with_versions
    lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    resp = lambda_client.delete_alias(FunctionName=fn, Name="live")
    assert status_of(resp) == 204
    with pytest.raises(ClientError) as ei:
        lambda_client.get_alias(FunctionName=fn, Name="live")
    assert_error(ei.value, "ResourceNotFoundException", 404)
    # the version it pointed at is untouched
    lambda_client.get_function(FunctionName=fn, Qualifier="1")


def test_delete_missing_alias_still_returns_204(lambda_client, fn):
    resp = lambda_client.delete_alias(FunctionName=fn, Name="never-existed")
    assert status_of(resp) == 204


def test_list_aliases_and_filter_by_function_version(lambda_client, fn_with_versions):
    fn = fn_with_versions
    lambda_client.create_alias(FunctionName=fn, Name="a-one", FunctionVersion="1")
    lambda_client.create_alias(FunctionName=fn, Name="b-two", FunctionVersion="2")
    lambda_client.create_alias(FunctionName=fn, Name="c-two", FunctionVersion="2")
    all_aliases = lambda_client.list_aliases(FunctionName=fn)["Aliases"]
    assert sorted(a["Name"] for a in all_aliases) == ["a-one", "b-two", "c-two"]
    for a in all_aliases:
        assert a["AliasArn"] == function_arn(fn, a["Name"])
    on_two = lambda_client.list_aliases(FunctionName=fn, FunctionVersion="2")["Aliases"]
    assert sorted(a["Name"] for a in on_two) == ["b-two", "c-two"]


def test_list_aliases_paginates(lambda_client, fn_with_versions):
    fn = fn_with_versions
    names = {"p-1", "p-2", "p-3"}
    for n in names:
        lambda_client.create_alias(FunctionName=fn, Name=n, FunctionVersion="1")
    seen, marker = [], None
    for _ in range(10):
        kwargs = {"FunctionName": fn, "MaxItems": 1}
        if marker:
            kwargs["Marker"] = marker
        page = lambda_client.list_aliases(**kwargs)
        assert len(page["Aliases"]) <= 1
        seen.extend(a["Name"] for a in page["Aliases"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert sorted(seen) == sorted(names)


def test_duplicate_alias_conflicts(lambda_client, fn_with_versions):
    fn = fn_with_versions
    lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as ei:
        lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="2")
    assert_error(
        ei.value, "ResourceConflictException", 409,
        message=f"Alias already exists: {function_arn(fn, 'live')}",
    )


def test_all_digit_alias_name_is_rejected(unvalidated_client, fn_with_versions):
    with pytest.raises(ClientError) as ei:
        unvalidated_client.create_alias(
            FunctionName=fn_with_versions, Name="2024", FunctionVersion="1"
        )
    assert_error(ei.value, "ValidationException", 400)


def test_date_like_alias_name_is_accepted(lambda_client, fn_with_versions):
    resp = lambda_client.create_alias(
        FunctionName=fn_with_versions, Name="2024-01-02", FunctionVersion="1"
    )
    assert resp["Name"] == "2024-01-02"


def test_alias_to_unknown_version_is_404(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="9")
    assert_error(ei.value, "ResourceNotFoundException", 404)


def test_alias_on_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        lambda_client.create_alias(
            FunctionName=unique_name("missing"), Name="live", FunctionVersion="1"
        )
    assert_error(ei.value, "ResourceNotFoundException", 404)


# --- RoutingConfig rules ----------------------------------------------------


def test_routing_with_more_than_one_additional_version_is_rejected(lambda_client, fn):
    publish_n(lambda_client, fn, 3)
    with pytest.raises(ClientError) as ei:
        lambda_client.create_alias(
            FunctionName=fn, Name="multi", FunctionVersion="3",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.1, "2": 0.2}},
        )
    assert_error(
        ei.value, ("InvalidParameterValueException", "ValidationException"), 400,
        message_contains="AdditionalVersionWeights",
    )


@pytest.mark.parametrize("weight", [2.0, 1.5, -0.1])
def test_routing_weight_out_of_range_is_rejected(unvalidated_client, fn_with_versions, weight):
    with pytest.raises(ClientError) as ei:
        unvalidated_client.create_alias(
            FunctionName=fn_with_versions, Name="bad-weight", FunctionVersion="2",
            RoutingConfig={"AdditionalVersionWeights": {"1": weight}},
        )
    assert_error(ei.value, "ValidationException", 400)


def test_routing_to_the_primary_version_is_rejected(lambda_client, fn_with_versions):
    with pytest.raises(ClientError) as ei:
        lambda_client.create_alias(
            FunctionName=fn_with_versions, Name="self", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        )
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message="Invalid function version 1. Function version 1 is already included in "
        "routing configuration.",
    )


def test_routing_with_latest_as_primary_is_rejected(lambda_client, fn_with_versions):
    with pytest.raises(ClientError) as ei:
        lambda_client.create_alias(
            FunctionName=fn_with_versions, Name="latest-split", FunctionVersion="$LATEST",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        )
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message="$LATEST is not supported for an alias pointing to more than 1 version",
    )


def test_routing_with_latest_as_additional_version_is_rejected(
    unvalidated_client, fn_with_versions
):
    with pytest.raises(ClientError) as ei:
        unvalidated_client.create_alias(
            FunctionName=fn_with_versions, Name="latest-extra", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}},
        )
    assert_error(ei.value, "ValidationException", 400)


def test_routing_to_unknown_version_is_404(lambda_client, fn_with_versions):
    fn = fn_with_versions
    with pytest.raises(ClientError) as ei:
        lambda_client.create_alias(
            FunctionName=fn, Name="ghost", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"10": 0.5}},
        )
    assert_error(
        ei.value, "ResourceNotFoundException", 404,
        message=f"Function not found: {function_arn(fn, '10')}",
    )


def test_update_alias_applies_routing_rules(lambda_client, fn_with_versions):
    fn = fn_with_versions
    lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as ei:
        lambda_client.update_alias(
            FunctionName=fn, Name="live",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        )
    assert_error(ei.value, "InvalidParameterValueException", 400)
    resp = lambda_client.update_alias(
        FunctionName=fn, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.4}}
    )
    assert resp["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.4}}
    assert resp["FunctionVersion"] == "1"
