"""Function CRUD: CreateFunction, GetFunction(Configuration), ListFunctions,
UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction."""

import urllib.parse
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import (
    ACCOUNT,
    LAST_MODIFIED_RE,
    OTHER_ROLE,
    ROLE,
    RUNTIME,
    UUID_RE,
    assert_error,
    code_sha256,
    create_function,
    download,
    function_arn,
    http_request,
    list_all_functions,
    make_variant_zip,
    make_zip,
    status_of,
    strip_meta,
    unique_name,
    wait_active,
    wait_updated,
)

# --- CreateFunction ---------------------------------------------------------


def test_create_returns_201_pending_with_creating_reason(lambda_client, new_function):
    resp = new_function(wait=False)
    assert status_of(resp) == 201
    assert resp["State"] == "Pending"
    assert resp["StateReason"] == "The function is being created."
    assert resp["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in resp
    assert resp["Version"] == "$LATEST"


def test_create_applies_documented_defaults(new_function):
    resp = new_function(wait=False)
    assert resp["Timeout"] == 3
    assert resp["MemorySize"] == 128
    assert resp["Architectures"] == ["x86_64"]
    assert resp["EphemeralStorage"] == {"Size": 512}
    assert resp["PackageType"] == "Zip"
    assert resp["Description"] == ""
    assert resp["Runtime"] == RUNTIME
    assert resp["Role"] == ROLE
    assert resp["Handler"] == "app.handler"


def test_create_reports_code_sha256_and_size_of_the_zip(new_function):
    package = make_variant_zip(uuid.uuid4())
    resp = new_function(zip_bytes=package, wait=False)
    assert resp["CodeSha256"] == code_sha256(package)
    assert resp["CodeSize"] == len(package)


def test_create_returns_unqualified_arn_and_uuid_revision(new_function):
    name = unique_name()
    resp = new_function(name=name, wait=False)
    assert resp["FunctionName"] == name
    assert resp["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    assert UUID_RE.match(resp["RevisionId"]), resp["RevisionId"]


def test_last_modified_has_millisecond_utc_format(lambda_client, new_function):
    resp = new_function()
    assert LAST_MODIFIED_RE.match(resp["LastModified"]), resp["LastModified"]
    cfg = lambda_client.get_function_configuration(FunctionName=resp["FunctionName"])
    assert LAST_MODIFIED_RE.match(cfg["LastModified"]), cfg["LastModified"]


def test_function_becomes_active_with_successful_update_status(lambda_client, new_function):
    name = new_function(wait=False)["FunctionName"]
    wait_active(lambda_client, name)
    cfg = lambda_client.get_function(FunctionName=name)["Configuration"]
    assert cfg["State"] == "Active"
    assert cfg["LastUpdateStatus"] == "Successful"
    assert "StateReasonCode" not in cfg


def test_create_stores_explicit_settings(lambda_client, new_function):
    name = new_function(
        Description="my function",
        Timeout=30,
        MemorySize=256,
        Environment={"Variables": {"GREETING": "hello", "MODE_2": "x"}},
        Architectures=["arm64"],
        EphemeralStorage={"Size": 1024},
    )["FunctionName"]
    cfg = lambda_client.get_function_configuration(FunctionName=name)
    assert cfg["Description"] == "my function"
    assert cfg["Timeout"] == 30
    assert cfg["MemorySize"] == 256
    assert cfg["Environment"]["Variables"] == {"GREETING": "hello", "MODE_2": "x"}
    assert cfg["Architectures"] == ["arm64"]
    assert cfg["EphemeralStorage"] == {"Size": 1024}


def test_create_with_publish_returns_version_1(lambda_client, new_function):
    resp = new_function(Publish=True, wait=False)
    name = resp["FunctionName"]
    assert resp["Version"] == "1"
    # AWS quirk: the ARN in this response stays unqualified.
    assert resp["FunctionArn"] == function_arn(name)
    wait_active(lambda_client, name)
    v1 = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert v1["Version"] == "1"
    assert v1["CodeSha256"] == resp["CodeSha256"]


def test_create_duplicate_name_conflicts(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        create_function(lambda_client, fn)
    assert_error(ei.value, "ResourceConflictException", 409)


# --- GetFunction / GetFunctionConfiguration ---------------------------------


def test_get_function_code_location_downloads_the_same_zip(lambda_client, new_function):
    package = make_variant_zip(uuid.uuid4())
    name = new_function(zip_bytes=package)["FunctionName"]
    code = lambda_client.get_function(FunctionName=name)["Code"]
    assert code["RepositoryType"] == "S3"
    assert code["Location"].startswith(("http://", "https://"))
    assert download(code["Location"]) == package


def test_code_location_with_tampered_signature_is_refused(lambda_client, fn):
    location = lambda_client.get_function(FunctionName=fn)["Code"]["Location"]
    parts = urllib.parse.urlsplit(location)
    assert parts.query, "the code URL carries no signature/expiry at all"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    # flip the last character of every query value
    tampered_query = urllib.parse.urlencode(
        [(k, v[:-1] + ("0" if v[-1:] != "0" else "1")) if v else (k, "x") for k, v in query]
    )
    status, _headers, _body = http_request("GET", parts._replace(query=tampered_query).geturl())
    assert status in (400, 403, 404), status


def test_get_function_omits_tags_and_concurrency_when_unset(lambda_client, fn):
    resp = lambda_client.get_function(FunctionName=fn)
    assert "Tags" not in resp
    assert "Concurrency" not in resp


def test_get_function_includes_tags_given_at_create(lambda_client, new_function):
    name = new_function(Tags={"team": "core", "env": "test"})["FunctionName"]
    resp = lambda_client.get_function(FunctionName=name)
    assert resp["Tags"] == {"team": "core", "env": "test"}


def test_get_function_configuration_matches_get_function(lambda_client, fn):
    full = lambda_client.get_function(FunctionName=fn)["Configuration"]
    cfg = strip_meta(lambda_client.get_function_configuration(FunctionName=fn))
    assert cfg == full


@pytest.mark.parametrize(
    "form, qualified",
    [
        ("name", False),
        ("arn", False),
        ("partial_arn", False),
        ("name_with_version", True),
        ("arn_with_version", True),
        ("partial_arn_with_version", True),
        ("arn_with_latest", True),
    ],
)
def test_get_function_accepts_name_forms(lambda_client, new_function, form, qualified):
    name = new_function(Publish=True)["FunctionName"]
    arn = function_arn(name)
    ident = {
        "name": name,
        "arn": arn,
        "partial_arn": f"{ACCOUNT}:function:{name}",
        "name_with_version": f"{name}:1",
        "arn_with_version": f"{arn}:1",
        "partial_arn_with_version": f"{ACCOUNT}:function:{name}:1",
        "arn_with_latest": f"{arn}:$LATEST",
    }[form]
    cfg = lambda_client.get_function(FunctionName=ident)["Configuration"]
    assert cfg["FunctionName"] == name
    if qualified:
        version = "$LATEST" if form == "arn_with_latest" else "1"
        assert cfg["Version"] == version
        assert cfg["FunctionArn"] == function_arn(name, version)
    else:
        assert cfg["Version"] == "$LATEST"
        assert cfg["FunctionArn"] == arn


def test_get_function_with_latest_qualifier_returns_qualified_arn(lambda_client, fn):
    cfg = lambda_client.get_function(FunctionName=fn, Qualifier="$LATEST")["Configuration"]
    assert cfg["Version"] == "$LATEST"
    assert cfg["FunctionArn"] == function_arn(fn, "$LATEST")


def test_get_function_with_version_qualifier(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    cfg = lambda_client.get_function(FunctionName=name, Qualifier="1")["Configuration"]
    assert cfg["Version"] == "1"
    assert cfg["FunctionArn"] == function_arn(name, "1")


def test_get_function_with_alias_qualifier_returns_alias_arn(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for kwargs in ({"FunctionName": name, "Qualifier": "live"}, {"FunctionName": f"{name}:live"}):
        cfg = lambda_client.get_function(**kwargs)["Configuration"]
        assert cfg["Version"] == "1"
        assert cfg["FunctionArn"] == function_arn(name, "live")


def test_get_unknown_function_is_404_with_arn_in_message(lambda_client):
    name = unique_name("missing")
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function(FunctionName=name)
    assert_error(
        ei.value,
        "ResourceNotFoundException",
        404,
        message=f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
    )


def test_get_unknown_version_is_404_with_qualified_arn(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function_configuration(FunctionName=fn, Qualifier="7")
    assert_error(
        ei.value, "ResourceNotFoundException", 404,
        message=f"Function not found: {function_arn(fn, '7')}",
    )


# --- ListFunctions ----------------------------------------------------------


def test_list_functions_pages_cover_every_function_exactly_once(lambda_client, new_function):
    prefix = unique_name("page")
    mine = {new_function(name=f"{prefix}-{i}", wait=False)["FunctionName"] for i in range(7)}
    seen, marker, pages = [], None, 0
    while True:
        kwargs = {"MaxItems": 3}
        if marker:
            kwargs["Marker"] = marker
        page = lambda_client.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 3
        seen.extend(f["FunctionName"] for f in page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
        assert pages < 1000, "pagination does not terminate"
    assert pages >= 3
    assert len(seen) == len(set(seen)), "a function was listed on two pages"
    assert mine <= set(seen), f"missing: {mine - set(seen)}"


def test_list_functions_returns_at_most_50_per_page(lambda_client, new_function):
    prefix = unique_name("many")
    for i in range(51):
        new_function(name=f"{prefix}-{i:02d}", wait=False)
    page = lambda_client.list_functions(MaxItems=1000)
    assert len(page["Functions"]) <= 50
    assert page.get("NextMarker")


def test_list_functions_shows_latest_only_by_default(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    entries = [f for f in list_all_functions(lambda_client) if f["FunctionName"] == name]
    assert [e["Version"] for e in entries] == ["$LATEST"]
    assert entries[0]["FunctionArn"] == function_arn(name)


def test_list_functions_version_all_includes_published_versions(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    lambda_client.update_function_code(FunctionName=name, ZipFile=make_variant_zip("v2"))
    wait_updated(lambda_client, name)
    lambda_client.publish_version(FunctionName=name)
    entries = [
        f for f in list_all_functions(lambda_client, FunctionVersion="ALL")
        if f["FunctionName"] == name
    ]
    assert sorted(e["Version"] for e in entries) == ["$LATEST", "1", "2"]
    for e in entries:
        if e["Version"] != "$LATEST":
            assert e["FunctionArn"] == function_arn(name, e["Version"])


# --- UpdateFunctionCode -----------------------------------------------------


def test_update_code_changes_sha_and_size(lambda_client, fn):
    package = make_variant_zip(uuid.uuid4())
    resp = lambda_client.update_function_code(FunctionName=fn, ZipFile=package)
    assert status_of(resp) == 200
    assert resp["CodeSha256"] == code_sha256(package)
    assert resp["CodeSize"] == len(package)
    wait_updated(lambda_client, fn)
    got = lambda_client.get_function(FunctionName=fn)
    assert got["Configuration"]["CodeSha256"] == code_sha256(package)
    assert download(got["Code"]["Location"]) == package


def test_update_code_with_publish_returns_new_version(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    package = make_variant_zip(uuid.uuid4())
    resp = lambda_client.update_function_code(FunctionName=name, ZipFile=package, Publish=True)
    assert resp["Version"] == "2"
    assert resp["CodeSha256"] == code_sha256(package)
    v2 = lambda_client.get_function_configuration(FunctionName=name, Qualifier="2")
    assert v2["CodeSha256"] == code_sha256(package)


def test_update_code_with_stale_revision_id_is_412(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.update_function_code(
            FunctionName=fn, ZipFile=make_variant_zip("x"), RevisionId=str(uuid.uuid4())
        )
    assert_error(
        ei.value, "PreconditionFailedException", 412,
        message="The Revision Id provided does not match the latest Revision Id. "
        "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
    )
    # nothing changed
    assert lambda_client.get_function_configuration(FunctionName=fn)["CodeSha256"] == code_sha256(
        make_zip()
    )


def test_update_code_with_current_revision_id_succeeds(lambda_client, fn):
    rev = lambda_client.get_function_configuration(FunctionName=fn)["RevisionId"]
    resp = lambda_client.update_function_code(
        FunctionName=fn, ZipFile=make_variant_zip("y"), RevisionId=rev
    )
    assert resp["RevisionId"] != rev


def test_update_code_of_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        lambda_client.update_function_code(FunctionName=unique_name("missing"), ZipFile=make_zip())
    assert_error(ei.value, "ResourceNotFoundException", 404)


# --- UpdateFunctionConfiguration -------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("Description", "updated description"),
        ("Timeout", 42),
        ("MemorySize", 512),
        ("Handler", "app.other_handler"),
        ("Runtime", "python3.11"),
        ("Role", OTHER_ROLE),
        ("EphemeralStorage", {"Size": 2048}),
    ],
)
def test_update_configuration_changes_field(lambda_client, fn, field, value):
    resp = lambda_client.update_function_configuration(FunctionName=fn, **{field: value})
    assert resp[field] == value
    wait_updated(lambda_client, fn)
    assert lambda_client.get_function_configuration(FunctionName=fn)[field] == value


def test_update_configuration_replaces_environment(lambda_client, fn):
    lambda_client.update_function_configuration(
        FunctionName=fn, Environment={"Variables": {"FIRST": "1", "SECOND": "2"}}
    )
    wait_updated(lambda_client, fn)
    cfg = lambda_client.get_function_configuration(FunctionName=fn)
    assert cfg["Environment"]["Variables"] == {"FIRST": "1", "SECOND": "2"}

    lambda_client.update_function_configuration(
        FunctionName=fn, Environment={"Variables": {"THIRD": "3"}}
    )
    wait_updated(lambda_client, fn)
    cfg = lambda_client.get_function_configuration(FunctionName=fn)
    assert cfg["Environment"]["Variables"] == {"THIRD": "3"}

    lambda_client.update_function_configuration(FunctionName=fn, Environment={"Variables": {}})
    wait_updated(lambda_client, fn)
    cfg = lambda_client.get_function_configuration(FunctionName=fn)
    assert cfg.get("Environment", {}).get("Variables", {}) == {}


def test_update_configuration_keeps_unmentioned_fields(lambda_client, new_function):
    name = new_function(Timeout=30, MemorySize=256, Description="keep me")["FunctionName"]
    lambda_client.update_function_configuration(FunctionName=name, Timeout=60)
    wait_updated(lambda_client, name)
    cfg = lambda_client.get_function_configuration(FunctionName=name)
    assert (cfg["Timeout"], cfg["MemorySize"], cfg["Description"]) == (60, 256, "keep me")


def test_update_configuration_changes_revision_id_and_last_modified(lambda_client, fn):
    before = lambda_client.get_function_configuration(FunctionName=fn)
    resp = lambda_client.update_function_configuration(FunctionName=fn, Description="changed")
    assert resp["RevisionId"] != before["RevisionId"]
    assert LAST_MODIFIED_RE.match(resp["LastModified"])
    assert resp["LastModified"] >= before["LastModified"]


def test_update_configuration_response_reports_update_in_progress(lambda_client, fn):
    resp = lambda_client.update_function_configuration(FunctionName=fn, Description="x")
    assert resp["State"] == "Active"
    assert resp["LastUpdateStatus"] == "InProgress"
    wait_updated(lambda_client, fn)
    cfg = lambda_client.get_function_configuration(FunctionName=fn)
    assert cfg["LastUpdateStatus"] == "Successful"


def test_update_configuration_with_stale_revision_id_is_412(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.update_function_configuration(
            FunctionName=fn, Description="nope", RevisionId=str(uuid.uuid4())
        )
    assert_error(ei.value, "PreconditionFailedException", 412)
    assert lambda_client.get_function_configuration(FunctionName=fn)["Description"] == ""


def test_update_configuration_of_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        lambda_client.update_function_configuration(
            FunctionName=unique_name("missing"), Timeout=10
        )
    assert_error(ei.value, "ResourceNotFoundException", 404)


# --- DeleteFunction ---------------------------------------------------------


def test_delete_function_returns_204_and_function_is_gone(lambda_client):
    name = unique_name()
    create_function(lambda_client, name)
    wait_active(lambda_client, name)
    resp = lambda_client.delete_function(FunctionName=name)
    assert status_of(resp) == 204
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function(FunctionName=name)
    assert_error(
        ei.value, "ResourceNotFoundException", 404,
        message=f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
    )
    assert name not in {f["FunctionName"] for f in list_all_functions(lambda_client)}


def test_delete_function_removes_its_versions_and_aliases(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lambda_client.delete_function(FunctionName=name)
    # a new function with the same name starts from scratch
    new_function(name=name)
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]
    assert lambda_client.list_aliases(FunctionName=name)["Aliases"] == []


def test_delete_one_version_keeps_the_others(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    lambda_client.update_function_code(FunctionName=name, ZipFile=make_variant_zip("2"))
    wait_updated(lambda_client, name)
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"

    resp = lambda_client.delete_function(FunctionName=name, Qualifier="1")
    assert status_of(resp) == 204
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function(FunctionName=name, Qualifier="1")
    assert_error(ei.value, "ResourceNotFoundException", 404)
    assert lambda_client.get_function(FunctionName=name, Qualifier="2")["Configuration"][
        "Version"
    ] == "2"
    assert lambda_client.get_function(FunctionName=name)["Configuration"]["Version"] == "$LATEST"


def test_delete_latest_qualifier_is_rejected(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.delete_function(FunctionName=fn, Qualifier="$LATEST")
    assert_error(
        ei.value, "InvalidParameterValueException", 400,
        message="$LATEST version cannot be deleted without deleting the function.",
    )
    lambda_client.get_function(FunctionName=fn)


def test_delete_alias_qualifier_is_rejected(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as ei:
        lambda_client.delete_function(FunctionName=name, Qualifier="live")
    err = ei.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"] == "Deletion of aliases is not currently supported."
    lambda_client.get_alias(FunctionName=name, Name="live")


def test_delete_version_referenced_by_alias_conflicts(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as ei:
        lambda_client.delete_function(FunctionName=name, Qualifier="1")
    assert_error(ei.value, "ResourceConflictException", 409)
    lambda_client.get_function(FunctionName=name, Qualifier="1")


def test_delete_unknown_function_is_404(lambda_client):
    with pytest.raises(ClientError) as ei:
        lambda_client.delete_function(FunctionName=unique_name("missing"))
    assert_error(ei.value, "ResourceNotFoundException", 404)
