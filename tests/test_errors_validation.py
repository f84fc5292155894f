"""Server-side validation and the error wire format.

Uses a client with botocore's parameter validation switched off, so every
constraint reaches the server (botocore only checks `min`, types and `required`).
"""

import io
import json
import os
import re
import zipfile

import pytest
from botocore.exceptions import ClientError

from helpers import (
    ACCOUNT,
    assert_error,
    code_sha256,
    create_kwargs,
    function_arn,
    http_request,
    json_body,
    list_all_functions,
    make_large_unzipped_zip,
    make_symlink_zip,
    make_zip,
    sigv4_headers,
    unique_name,
    wait_updated,
)

EITHER = ("ValidationException", "InvalidParameterValueException")


def assert_not_created(client, name):
    if re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", name):
        with pytest.raises(ClientError) as ei:
            client.get_function(FunctionName=name)
        assert_error(ei.value, "ResourceNotFoundException", 404)
    else:  # not addressable by name: make sure it is not listed either
        assert name not in {f["FunctionName"] for f in list_all_functions(client)}


def rejected_create(client, name=None, zip_bytes=None, **overrides):
    """Attempt a CreateFunction that must fail; return the ClientError after checking the
    function was not created."""
    name = name or unique_name("bad")
    with pytest.raises(ClientError) as ei:
        client.create_function(**create_kwargs(name, zip_bytes, **overrides))
    assert_not_created(client, name)
    return ei.value


# --- function name ----------------------------------------------------------


def test_function_name_of_65_chars_is_rejected(unvalidated_client):
    name = "f" * 65
    err = rejected_create(unvalidated_client, name=name)
    assert_error(
        err, "InvalidParameterValueException", 400,
        message_contains="Member must have length less than or equal to 64",
    )


def test_function_name_of_64_chars_is_accepted(lambda_client, new_function):
    name = unique_name("n").ljust(64, "x")
    assert new_function(name=name, wait=False)["FunctionName"] == name


@pytest.mark.parametrize("name", ["has space", "semi;colon", "dot.ted"])
def test_function_name_with_invalid_characters_is_rejected(unvalidated_client, name):
    err = rejected_create(unvalidated_client, name=f"{name}-{unique_name('x')}")
    assert_error(err, EITHER, 400)


# --- runtime / handler / role ----------------------------------------------


def test_unknown_runtime_is_rejected(unvalidated_client):
    err = rejected_create(unvalidated_client, Runtime="python2.99")
    assert_error(
        err, "InvalidParameterValueException", 400,
        message_contains="at 'runtime' failed to satisfy constraint: Member must satisfy enum "
        "value set",
    )


def test_deprecated_runtime_is_rejected(unvalidated_client):
    err = rejected_create(unvalidated_client, Runtime="python3.7")
    assert_error(
        err, "InvalidParameterValueException", 400,
        message="The runtime parameter of python3.7 is no longer supported for creating or "
        "updating AWS Lambda functions. We recommend you use a supported runtime while creating "
        "or updating functions.",
    )


@pytest.mark.parametrize(
    "role",
    [
        "not-an-arn",
        "arn:aws:iam::123:role/short-account",
        f"arn:aws:s3:::{ACCOUNT}",
        f"arn:aws:iam::{ACCOUNT}:user/someone",
    ],
)
def test_invalid_role_arn_is_rejected(unvalidated_client, role):
    err = rejected_create(unvalidated_client, Role=role)
    assert_error(err, "ValidationException", 400, message_contains="at 'role' failed to satisfy")


def test_handler_with_whitespace_is_rejected(unvalidated_client):
    err = rejected_create(unvalidated_client, Handler="app handler")
    assert_error(err, EITHER, 400)


# --- numeric limits ---------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("Timeout", 0),
        ("Timeout", 901),
        ("MemorySize", 127),
        ("MemorySize", 10241),
        ("EphemeralStorage", {"Size": 511}),
        ("EphemeralStorage", {"Size": 10241}),
    ],
    ids=["timeout-0", "timeout-901", "memory-127", "memory-10241", "tmp-511", "tmp-10241"],
)
def test_out_of_range_settings_are_rejected_on_create(unvalidated_client, field, value):
    err = rejected_create(unvalidated_client, **{field: value})
    assert_error(err, EITHER, 400)


@pytest.mark.parametrize(
    "field, value",
    [("Timeout", 900), ("Timeout", 1), ("MemorySize", 10240), ("MemorySize", 128)],
    ids=["timeout-900", "timeout-1", "memory-10240", "memory-128"],
)
def test_boundary_settings_are_accepted(lambda_client, new_function, field, value):
    assert new_function(wait=False, **{field: value})[field] == value


@pytest.mark.parametrize(
    "field, value",
    [("Timeout", 901), ("MemorySize", 127), ("Description", "d" * 257)],
    ids=["timeout-901", "memory-127", "description-257"],
)
def test_invalid_update_is_rejected_and_changes_nothing(unvalidated_client, lambda_client, fn,
                                                         field, value):
    before = lambda_client.get_function_configuration(FunctionName=fn)
    with pytest.raises(ClientError) as ei:
        unvalidated_client.update_function_configuration(FunctionName=fn, **{field: value})
    assert_error(ei.value, EITHER, 400)
    after = lambda_client.get_function_configuration(FunctionName=fn)
    assert after["RevisionId"] == before["RevisionId"]
    assert after[field] == before[field]


def test_description_over_256_chars_is_rejected(unvalidated_client):
    err = rejected_create(unvalidated_client, Description="d" * 257)
    assert_error(err, EITHER, 400)


def test_description_of_256_chars_is_accepted(new_function):
    assert new_function(wait=False, Description="d" * 256)["Description"] == "d" * 256


# --- architectures ----------------------------------------------------------


@pytest.mark.parametrize(
    "archs", [["x86_64", "arm64"], ["sparc"], []], ids=["two", "unknown", "empty"]
)
def test_invalid_architectures_are_rejected(unvalidated_client, archs):
    err = rejected_create(unvalidated_client, Architectures=archs)
    assert_error(err, "ValidationException", 400)


# --- environment ------------------------------------------------------------


@pytest.mark.parametrize("key", ["1STARTS_WITH_DIGIT", "HAS-DASH", "X", "has space"])
def test_invalid_environment_key_is_rejected(unvalidated_client, key):
    err = rejected_create(unvalidated_client, Environment={"Variables": {key: "v"}})
    assert_error(err, EITHER, 400)


def test_environment_over_4kb_is_rejected(unvalidated_client):
    variables = {f"KEY_{i:03d}": "v" * 100 for i in range(40)}  # ~4.5 KB of JSON
    assert len(json.dumps(variables, separators=(",", ":"))) > 4096
    err = rejected_create(unvalidated_client, Environment={"Variables": variables})
    assert_error(
        err, "InvalidParameterValueException", 400,
        message_contains="Lambda was unable to configure your environment variables because the "
        "environment variables you have provided exceeded the 4KB limit.",
    )


def test_environment_just_under_4kb_is_accepted(new_function):
    variables = {f"KEY_{i:03d}": "v" * 80 for i in range(40)}  # ~3.9 KB of JSON
    assert len(json.dumps(variables, separators=(",", ":"))) < 4000
    resp = new_function(wait=False, Environment={"Variables": variables})
    assert resp["Environment"]["Variables"] == variables


@pytest.mark.parametrize("key", ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_LAMBDA_FUNCTION_NAME"])
def test_reserved_environment_key_is_rejected(unvalidated_client, key):
    err = rejected_create(unvalidated_client, Environment={"Variables": {key: "x"}})
    assert_error(
        err, "InvalidParameterValueException", 400,
        message_contains=f"Reserved keys used in this request: {key}",
    )


# --- deployment packages ----------------------------------------------------


def _assert_bad_package_rejected(client, package):
    name = unique_name("badzip")
    err = rejected_create(client, name=name, zip_bytes=package)
    assert_error(err, "InvalidParameterValueException", 400)
    assert name not in {f["FunctionName"] for f in list_all_functions(client)}
    return err


def test_non_zip_package_is_rejected(lambda_client):
    err = _assert_bad_package_rejected(lambda_client, b"this is definitely not a zip file")
    assert err.response["Error"]["Message"] == (
        "Could not unzip uploaded file. Please check your file, then try to upload again."
    )


def test_truncated_zip_is_rejected(lambda_client):
    package = make_zip()
    _assert_bad_package_rejected(lambda_client, package[: len(package) // 2])


def test_zip_with_parent_directory_entry_is_rejected(lambda_client):
    package = make_zip({"app.py": "def handler(e, c):\n    return e\n", "../escape.py": "x = 1\n"})
    _assert_bad_package_rejected(lambda_client, package)


def test_zip_with_nested_parent_traversal_is_rejected(lambda_client):
    package = make_zip({"app.py": "def handler(e, c):\n    return e\n", "lib/../../up.py": "x\n"})
    _assert_bad_package_rejected(lambda_client, package)


def test_zip_with_absolute_path_entry_is_rejected(lambda_client):
    package = make_zip({"app.py": "def handler(e, c):\n    return e\n", "/tmp/abs.py": "x = 1\n"})
    _assert_bad_package_rejected(lambda_client, package)


def test_zip_with_symlink_entry_is_rejected(lambda_client):
    _assert_bad_package_rejected(lambda_client, make_symlink_zip())


def test_zip_expanding_past_250mb_is_rejected(lambda_client):
    package = make_large_unzipped_zip(262144000 + (1 << 20))
    assert len(package) < 2 * 1024 * 1024
    name = unique_name("bomb")
    err = rejected_create(lambda_client, name=name, zip_bytes=package)
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Unzipped size must be smaller than 262144000 bytes" in err.response["Error"]["Message"]


def test_zip_over_50mb_is_request_entity_too_large(lambda_client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return e\n")
        zf.writestr("random.bin", os.urandom(52428800 + 1024))  # incompressible
    name = unique_name("huge")
    with pytest.raises(ClientError) as ei:
        lambda_client.create_function(**create_kwargs(name, buf.getvalue()))
    err = ei.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert err["Error"]["Code"] in ("RequestEntityTooLargeException", "RequestTooLargeException")
    assert "Zipped size must be smaller than 52428800 bytes" in err["Error"]["Message"]
    assert_not_created(lambda_client, name)


def test_bad_package_on_update_leaves_code_unchanged(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.update_function_code(FunctionName=fn, ZipFile=make_symlink_zip())
    assert_error(ei.value, "InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as ei:
        lambda_client.update_function_code(FunctionName=fn, ZipFile=b"not a zip")
    assert_error(ei.value, "InvalidParameterValueException", 400)
    wait_updated(lambda_client, fn)
    cfg = lambda_client.get_function_configuration(FunctionName=fn)
    assert cfg["CodeSha256"] == code_sha256(make_zip())


# --- names and qualifiers ---------------------------------------------------


def test_embedded_qualifier_conflicting_with_parameter_is_rejected(lambda_client, new_function):
    name = new_function(Publish=True)["FunctionName"]
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function(FunctionName=f"{name}:1", Qualifier="$LATEST")
    err = ei.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"] == (
        "The derived qualifier from the function name does not match the specified qualifier."
    )


def test_lowercase_latest_qualifier_is_not_found(lambda_client, fn):
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function(FunctionName=fn, Qualifier="$latest")
    assert_error(ei.value, "ResourceNotFoundException", 404)


def test_function_arn_in_another_region_is_not_found(lambda_client, fn):
    other = f"arn:aws:lambda:ap-southeast-1:{ACCOUNT}:function:{fn}"
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function(FunctionName=other)
    assert_error(
        ei.value, "ResourceNotFoundException", 404,
        message="Functions from 'ap-southeast-1' are not reachable in this region ('us-east-1')",
    )


# --- error wire format ------------------------------------------------------


def test_error_response_carries_request_id_error_type_and_user_type(lambda_client):
    name = unique_name("missing")
    with pytest.raises(ClientError) as ei:
        lambda_client.get_function(FunctionName=name)
    resp = ei.value.response
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amzn-errortype", "").split(":")[0] == "ResourceNotFoundException"
    assert headers.get("x-amzn-requestid")
    assert resp.get("Type") == "User"
    # ResourceNotFoundException's modeled member is `Message` (capitalised)
    assert resp.get("Message") == f"Function not found: {function_arn(name)}"


def test_success_response_carries_request_id(lambda_client):
    resp = lambda_client.list_functions(MaxItems=1)
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")


def test_malformed_json_body_is_invalid_request_content(server):
    url = f"{server.url}/2015-03-31/functions"
    body = b'{"FunctionName": "broken", '
    status, headers, raw = http_request("POST", url, sigv4_headers("POST", url, body), body)
    assert status == 400
    assert headers.get("x-amzn-ErrorType", "").split(":")[0] == "InvalidRequestContentException"
    payload = json_body(raw)
    assert payload.get("message") or payload.get("Message")


def test_create_without_required_member_is_rejected(unvalidated_client):
    kwargs = create_kwargs(unique_name("norole"))
    del kwargs["Role"]
    with pytest.raises(ClientError) as ei:
        unvalidated_client.create_function(**kwargs)
    assert_error(ei.value, EITHER, 400)
    assert_not_created(unvalidated_client, kwargs["FunctionName"])
