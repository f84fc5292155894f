"""Lambda layers: PublishLayerVersion (inline and from a bucket), GetLayerVersion(ByArn),
ListLayers, ListLayerVersions, DeleteLayerVersion and the layer version permissions, with
AWS's errors; functions' `Layers` (validation, the 5-layer and 250 MB limits, what the
configuration shows) and what an environment gets from them: the layers merged in order into a
read-only /opt, with AWS's paths on python's sys.path, NODE_PATH, PATH and LD_LIBRARY_PATH,
and a custom runtime's /opt/bootstrap."""

import json

import pytest
from botocore.exceptions import ClientError

from helpers import (
    REGION, ACCOUNT, assert_error, code_sha256, download, invoke, make_large_unzipped_zip,
    make_s3_client, make_zip, make_zip_with_modes, status_of, unique_bucket, unique_name,
)
from test_invoke_provided import TUTORIAL_BOOTSTRAP, TUTORIAL_FUNCTION

NOT_FOUND = "The resource you requested does not exist."


def layer_arn(name, version=None):
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}"
    return base if version is None else f"{base}:{version}"


@pytest.fixture
def publish(lambda_client):
    """`publish(files_or_zip, name=None, **kwargs)` publishes a layer version (a unique layer
    name unless given) and returns the response; every version is deleted after the test."""
    published = []

    def run(content, name=None, **kwargs):
        name = name or unique_name("layer")
        zip_bytes = content if isinstance(content, bytes) else make_zip(content)
        resp = lambda_client.publish_layer_version(
            LayerName=name, Content={"ZipFile": zip_bytes}, **kwargs
        )
        published.append((name, resp["Version"]))
        return resp

    yield run
    for name, version in published:
        lambda_client.delete_layer_version(LayerName=name, VersionNumber=version)


# --- the layer API -----------------------------------------------------------


def test_publish_get_and_download(lambda_client, publish):
    zip_bytes = make_zip({"python/mylib/__init__.py": "VALUE = 1\n"})
    name = unique_name("layer")
    resp = publish(
        zip_bytes,
        name=name,
        Description="shared code",
        CompatibleRuntimes=["python3.12", "python3.13"],
        CompatibleArchitectures=["x86_64"],
        LicenseInfo="MIT",
    )
    assert status_of(resp) == 201
    assert resp["LayerArn"] == layer_arn(name)
    assert resp["LayerVersionArn"] == layer_arn(name, 1)
    assert resp["Version"] == 1
    assert resp["Description"] == "shared code"
    assert resp["CompatibleRuntimes"] == ["python3.12", "python3.13"]
    assert resp["CompatibleArchitectures"] == ["x86_64"]
    assert resp["LicenseInfo"] == "MIT"
    assert resp["Content"]["CodeSha256"] == code_sha256(zip_bytes)
    assert resp["Content"]["CodeSize"] == len(zip_bytes)
    assert download(resp["Content"]["Location"]) == zip_bytes

    second = publish({"python/mylib/__init__.py": "VALUE = 2\n"}, name=name)
    assert second["Version"] == 2

    got = lambda_client.get_layer_version(LayerName=name, VersionNumber=1)
    assert got["LayerVersionArn"] == layer_arn(name, 1)
    assert got["CreatedDate"] == resp["CreatedDate"]
    assert got["Content"]["CodeSha256"] == code_sha256(zip_bytes)
    by_arn = lambda_client.get_layer_version_by_arn(Arn=layer_arn(name, 2))
    assert by_arn["Version"] == 2
    assert by_arn["LayerArn"] == layer_arn(name)
    # A layer ARN names the layer as well as its bare name does.
    assert lambda_client.get_layer_version(LayerName=layer_arn(name), VersionNumber=2)[
        "Version"] == 2


def test_unknown_layer_versions_are_not_found(lambda_client):
    with pytest.raises(ClientError) as e:
        lambda_client.get_layer_version(LayerName=unique_name("nolayer"), VersionNumber=1)
    assert_error(e.value, "ResourceNotFoundException", 404, message=NOT_FOUND)
    with pytest.raises(ClientError) as e:
        lambda_client.get_layer_version_by_arn(Arn=layer_arn(unique_name("nolayer"), 3))
    assert_error(e.value, "ResourceNotFoundException", 404, message=NOT_FOUND)


def test_invalid_names_and_filters(unvalidated_client):
    with pytest.raises(ClientError) as e:
        unvalidated_client.publish_layer_version(
            LayerName="bad name!", Content={"ZipFile": make_zip()}
        )
    assert_error(e.value, "ValidationException", 400, message_contains="layerName")
    with pytest.raises(ClientError) as e:
        unvalidated_client.list_layers(CompatibleRuntime="cobol")
    assert_error(e.value, "ValidationException", 400, message_contains="compatibleRuntime")
    with pytest.raises(ClientError) as e:
        unvalidated_client.publish_layer_version(
            LayerName=unique_name("layer"), Content={"ZipFile": make_zip()},
            CompatibleArchitectures=["sparc"],
        )
    assert_error(e.value, "ValidationException", 400, message_contains="compatibleArchitectures")


def test_list_layers_and_versions_with_filters_and_pages(lambda_client, publish):
    name = unique_name("layer")
    publish({"a.txt": "1"}, name=name, CompatibleRuntimes=["python3.12"],
            CompatibleArchitectures=["x86_64"])
    publish({"a.txt": "2"}, name=name, CompatibleRuntimes=["nodejs20.x"],
            CompatibleArchitectures=["arm64"])
    publish({"a.txt": "3"}, name=name, CompatibleRuntimes=["python3.12"],
            CompatibleArchitectures=["arm64"])

    versions = lambda_client.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [3, 2, 1]
    assert versions[0]["LayerVersionArn"] == layer_arn(name, 3)
    py = lambda_client.list_layer_versions(LayerName=name, CompatibleRuntime="python3.12")
    assert [v["Version"] for v in py["LayerVersions"]] == [3, 1]
    x86 = lambda_client.list_layer_versions(LayerName=name, CompatibleArchitecture="x86_64")
    assert [v["Version"] for v in x86["LayerVersions"]] == [1]

    page = lambda_client.list_layer_versions(LayerName=name, MaxItems=2)
    assert [v["Version"] for v in page["LayerVersions"]] == [3, 2]
    rest = lambda_client.list_layer_versions(LayerName=name, MaxItems=2, Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1]
    assert "NextMarker" not in rest

    def listed(**filters):
        pages = lambda_client.get_paginator("list_layers").paginate(**filters)
        return {l["LayerName"]: l for p in pages for l in p["Layers"]}

    mine = listed()[name]
    assert mine["LayerArn"] == layer_arn(name)
    assert mine["LatestMatchingVersion"]["Version"] == 3
    assert listed(CompatibleRuntime="nodejs20.x")[name]["LatestMatchingVersion"]["Version"] == 2
    assert listed(CompatibleArchitecture="x86_64")[name]["LatestMatchingVersion"]["Version"] == 1
    assert name not in listed(CompatibleRuntime="python3.13")
    first = lambda_client.list_layers(MaxItems=1)
    assert len(first["Layers"]) == 1


def test_deleted_versions_are_gone_and_numbers_not_reused(lambda_client, publish):
    name = unique_name("layer")
    publish({"a.txt": "1"}, name=name)
    two = publish({"a.txt": "2"}, name=name)
    resp = lambda_client.delete_layer_version(LayerName=name, VersionNumber=2)
    assert status_of(resp) == 204
    with pytest.raises(ClientError) as e:
        lambda_client.get_layer_version(LayerName=name, VersionNumber=2)
    assert_error(e.value, "ResourceNotFoundException", 404)
    # Deleting what is not there succeeds, as on AWS.
    assert status_of(lambda_client.delete_layer_version(LayerName=name, VersionNumber=2)) == 204
    assert two["Version"] == 2
    assert publish({"a.txt": "3"}, name=name)["Version"] == 3


def test_publish_from_a_bucket(server, lambda_client, publish):
    s3 = make_s3_client(server.url)
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    zip_bytes = make_zip({"nodejs/node_modules/x/index.js": "module.exports = 1;\n"})
    s3.put_object(Bucket=bucket, Key="layers/x.zip", Body=zip_bytes)
    name = unique_name("layer")
    resp = lambda_client.publish_layer_version(
        LayerName=name, Content={"S3Bucket": bucket, "S3Key": "layers/x.zip"}
    )
    try:
        assert resp["Content"]["CodeSha256"] == code_sha256(zip_bytes)
        with pytest.raises(ClientError) as e:
            lambda_client.publish_layer_version(
                LayerName=name, Content={"S3Bucket": bucket, "S3Key": "missing.zip"}
            )
        assert_error(e.value, "InvalidParameterValueException", 400, message_contains="NoSuchKey")
    finally:
        lambda_client.delete_layer_version(LayerName=name, VersionNumber=resp["Version"])


def test_bad_zips_publish_nothing(lambda_client, publish):
    name = unique_name("layer")
    with pytest.raises(ClientError) as e:
        lambda_client.publish_layer_version(LayerName=name, Content={"ZipFile": b"not a zip"})
    assert_error(e.value, "InvalidParameterValueException", 400,
                 message_contains="Could not unzip uploaded file")
    with pytest.raises(ClientError) as e:
        lambda_client.publish_layer_version(
            LayerName=name, Content={"ZipFile": make_large_unzipped_zip(251 * 1024 * 1024)}
        )
    assert_error(e.value, "InvalidParameterValueException", 400,
                 message_contains="Unzipped size must be smaller than 262144000 bytes")
    assert lambda_client.list_layer_versions(LayerName=name)["LayerVersions"] == []
    # The refusals took no version number.
    assert publish({"a.txt": "1"}, name=name)["Version"] == 1


def test_layer_version_permissions(lambda_client, unvalidated_client, publish):
    name = unique_name("layer")
    publish({"a.txt": "1"}, name=name)
    with pytest.raises(ClientError) as e:
        lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert_error(e.value, "ResourceNotFoundException", 404,
                 message="No policy is associated with the given resource.")

    added = lambda_client.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="acct",
        Action="lambda:GetLayerVersion", Principal="111122223333",
    )
    assert status_of(added) == 201
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "acct", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "lambda:GetLayerVersion", "Resource": layer_arn(name, 1),
    }
    org = lambda_client.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="org", Action="lambda:GetLayerVersion",
        Principal="*", OrganizationId="o-abcdefghij", RevisionId=added["RevisionId"],
    )
    assert json.loads(org["Statement"])["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}

    policy = lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert policy["RevisionId"] == org["RevisionId"]
    doc = json.loads(policy["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["acct", "org"]

    with pytest.raises(ClientError) as e:
        lambda_client.add_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="acct",
            Action="lambda:GetLayerVersion", Principal="*",
        )
    assert_error(e.value, "ResourceConflictException", 409, message_contains="already exists")
    with pytest.raises(ClientError) as e:
        lambda_client.remove_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="acct", RevisionId="stale",
        )
    assert_error(e.value, "PreconditionFailedException", 412)
    with pytest.raises(ClientError) as e:
        unvalidated_client.add_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="x",
            Action="lambda:InvokeFunction", Principal="*",
        )
    assert_error(e.value, "ValidationException", 400, message_contains="'action'")
    with pytest.raises(ClientError) as e:
        lambda_client.add_layer_version_permission(
            LayerName=name, VersionNumber=9, StatementId="x",
            Action="lambda:GetLayerVersion", Principal="*",
        )
    assert_error(e.value, "ResourceNotFoundException", 404)

    resp = lambda_client.remove_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="acct")
    assert status_of(resp) == 204
    doc = json.loads(lambda_client.get_layer_version_policy(
        LayerName=name, VersionNumber=1)["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["org"]
    with pytest.raises(ClientError) as e:
        lambda_client.remove_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="acct")
    assert_error(e.value, "ResourceNotFoundException", 404,
                 message="Statement acct is not found in resource policy.")


# --- functions' Layers -----------------------------------------------------------


def test_function_layer_errors(lambda_client, unvalidated_client, new_function, publish):
    missing = layer_arn(unique_name("nolayer"), 1)
    with pytest.raises(ClientError) as e:
        new_function(Layers=[missing])
    assert_error(e.value, "InvalidParameterValueException", 400,
                 message=f"Layer version {missing} does not exist.")

    six = [publish({"a.txt": str(i)})["LayerVersionArn"] for i in range(6)]
    with pytest.raises(ClientError) as e:
        new_function(Layers=six)
    assert_error(e.value, "InvalidParameterValueException", 400,
                 message="Cannot reference more than 5 layers.")

    name = unique_name("layer")
    gone = publish({"a.txt": "x"}, name=name)["LayerVersionArn"]
    lambda_client.delete_layer_version(LayerName=name, VersionNumber=1)
    with pytest.raises(ClientError) as e:
        new_function(Layers=[gone])
    assert_error(e.value, "InvalidParameterValueException", 400,
                 message=f"Layer version {gone} does not exist.")

    with pytest.raises(ClientError) as e:
        unvalidated_client.create_function(
            FunctionName=unique_name(), Runtime="python3.12", Role=f"arn:aws:iam::{ACCOUNT}:role/r",
            Handler="app.handler", Code={"ZipFile": make_zip()}, Layers=["not-an-arn"])
    assert_error(e.value, "ValidationException", 400, message_contains="'layers'")

    fn = new_function()["FunctionName"]
    with pytest.raises(ClientError) as e:
        lambda_client.update_function_configuration(FunctionName=fn, Layers=[missing])
    assert_error(e.value, "InvalidParameterValueException", 400)
    assert "Layers" not in lambda_client.get_function_configuration(FunctionName=fn)


def test_function_and_layers_over_250_mb(lambda_client, new_function, publish):
    big = publish(make_large_unzipped_zip(130 * 1024 * 1024))["LayerVersionArn"]
    other = publish(make_large_unzipped_zip(125 * 1024 * 1024 + 1))["LayerVersionArn"]
    with pytest.raises(ClientError) as e:
        new_function(Layers=[big, other])
    err = assert_error(e.value, "InvalidParameterValueException", 400)
    assert err["Message"].startswith(
        "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes."
        " The actual size is "), err
    fn = new_function(Layers=[big])["FunctionName"]
    with pytest.raises(ClientError) as e:
        lambda_client.update_function_configuration(FunctionName=fn, Layers=[big, other])
    assert_error(e.value, "InvalidParameterValueException", 400,
                 message_contains="combined with layers")
    assert len(lambda_client.get_function_configuration(FunctionName=fn)["Layers"]) == 1


PY_USES_LAYER = """
import mylib
def handler(event, context):
    return {"value": mylib.VALUE, "file": mylib.__file__}
"""


def test_python_function_uses_only_a_layers_package(
        lambda_client, invoke_client, new_function, publish):
    layer = publish({"python/mylib/__init__.py": "VALUE = 'from the layer'\n"},
                    CompatibleRuntimes=["python3.12"])
    created = new_function(zip_bytes=make_zip({"app.py": PY_USES_LAYER}),
                           Layers=[layer["LayerVersionArn"]])
    assert created["Layers"] == [
        {"Arn": layer["LayerVersionArn"], "CodeSize": layer["Content"]["CodeSize"]}]
    inv = invoke(invoke_client, created["FunctionName"])
    assert inv.function_error is None, inv
    assert inv.payload == {"value": "from the layer", "file": "/opt/python/mylib/__init__.py"}


PY_SYS_PATH = """
import os, subprocess, sys
def handler(event, context):
    out = subprocess.run(["layer-tool"], capture_output=True, text=True)
    return {
        "path": sys.path,
        "tool": out.stdout.strip(),
        "ld": os.environ.get("LD_LIBRARY_PATH", ""),
        "env_path": os.environ["PATH"],
        "shared": open("/opt/shared.txt").read(),
        "site": __import__("sitelib").WHERE if sys.version_info[:2] == (3, 12) else None,
        "version": "python%d.%d" % sys.version_info[:2],
    }
"""


def test_later_layers_win_and_paths_are_awss(invoke_client, new_function, publish):
    first = publish(make_zip_with_modes({
        "shared.txt": "first",
        "bin/layer-tool": ("#!/bin/sh\necho tool from the layer\n", 0o755),
        "python/lib/python3.12/site-packages/sitelib.py": "WHERE = 'site-packages'\n",
    }))
    second = publish({"shared.txt": "second"})
    fn = new_function(zip_bytes=make_zip({"app.py": PY_SYS_PATH}),
                      Layers=[first["LayerVersionArn"], second["LayerVersionArn"]])
    inv = invoke(invoke_client, fn["FunctionName"])
    assert inv.function_error is None, inv
    p = inv.payload
    assert p["shared"] == "second"
    assert p["tool"] == "tool from the layer"
    assert p["env_path"].split(":")[-1] == "/opt/bin"
    assert p["ld"].split(":")[-1] == "/opt/lib"
    version = p["version"]
    assert p["path"][:3] == [
        "/var/task", f"/opt/python/lib/{version}/site-packages", "/opt/python"], p["path"]
    # The interpreter's own version names the site-packages directory: the layer's
    # python3.12 one is imported when python 3.12 runs.
    if version == "python3.12":
        assert p["site"] == "site-packages"

    # The other order: the first layer's file wins now.
    swapped = new_function(zip_bytes=make_zip({"app.py": PY_SYS_PATH}),
                           Layers=[second["LayerVersionArn"], first["LayerVersionArn"]])
    assert invoke(invoke_client, swapped["FunctionName"]).payload["shared"] == "first"


PY_WRITES_OPT = """
def handler(event, context):
    try:
        open("/opt/new.txt", "w").write("x")
        return "written"
    except OSError as e:
        return e.errno
"""


def test_opt_is_read_only(invoke_client, new_function, publish, require_namespaces):
    layer = publish({"data.txt": "x"})
    fn = new_function(zip_bytes=make_zip({"app.py": PY_WRITES_OPT}),
                      Layers=[layer["LayerVersionArn"]])
    inv = invoke(invoke_client, fn["FunctionName"])
    assert inv.payload == 30, inv  # EROFS


NODE_USES_LAYER = """
const greet = require('greeter');
exports.handler = async () => ({ greeting: greet('layers'), nodePath: process.env.NODE_PATH });
"""


def test_node_function_requires_a_layers_module(invoke_client, new_function, publish):
    layer = publish({
        "nodejs/node_modules/greeter/index.js": "module.exports = (n) => `hello ${n}`;\n",
        "nodejs/node_modules/greeter/package.json": '{"name": "greeter", "main": "index.js"}',
    })
    fn = new_function(zip_bytes=make_zip({"index.js": NODE_USES_LAYER}), Runtime="nodejs20.x",
                      Handler="index.handler", Layers=[layer["LayerVersionArn"]])
    inv = invoke(invoke_client, fn["FunctionName"])
    assert inv.function_error is None, inv
    assert inv.payload["greeting"] == "hello layers"
    assert inv.payload["nodePath"].split(":")[:2] == [
        "/opt/nodejs/node20/node_modules", "/opt/nodejs/node_modules"]


PY_READS_LAYER = """
def handler(event, context):
    return open("/opt/which.txt").read()
"""


def test_published_version_keeps_its_layers(
        lambda_client, invoke_client, new_function, publish):
    name = unique_name("layer")
    one = publish({"which.txt": "one"}, name=name)
    two = publish({"which.txt": "two"}, name=name)
    fn = new_function(zip_bytes=make_zip({"app.py": PY_READS_LAYER}),
                      Layers=[one["LayerVersionArn"]])["FunctionName"]
    v1 = lambda_client.publish_version(FunctionName=fn)
    assert v1["Layers"][0]["Arn"] == one["LayerVersionArn"]
    lambda_client.update_function_configuration(FunctionName=fn, Layers=[two["LayerVersionArn"]])
    assert invoke(invoke_client, fn).payload == "two"
    assert invoke(invoke_client, fn, Qualifier=v1["Version"]).payload == "one"
    # Deleting the layer version changes nothing for the version that uses it.
    lambda_client.delete_layer_version(LayerName=name, VersionNumber=1)
    got = lambda_client.get_function_configuration(FunctionName=fn, Qualifier=v1["Version"])
    assert got["Layers"] == [{"Arn": one["LayerVersionArn"],
                              "CodeSize": one["Content"]["CodeSize"]}]
    assert invoke(invoke_client, fn, Qualifier=v1["Version"]).payload == "one"
    # Removing every layer: an empty list.
    cleared = lambda_client.update_function_configuration(FunctionName=fn, Layers=[])
    assert "Layers" not in cleared


def test_custom_runtime_bootstrap_from_a_layer(invoke_client, new_function, publish):
    layer = publish(make_zip_with_modes({"bootstrap": (TUTORIAL_BOOTSTRAP, 0o755)}))
    fn = new_function(zip_bytes=make_zip({"function.sh": TUTORIAL_FUNCTION}),
                      Runtime="provided.al2023", Handler="function.handler",
                      Layers=[layer["LayerVersionArn"]])
    inv = invoke(invoke_client, fn["FunctionName"], {"n": 1})
    assert inv.function_error is None, inv
    assert inv.payload["echo"] == {"n": 1}


def test_hostile_inputs_get_awss_errors(unvalidated_client):
    c = unvalidated_client
    name = unique_name("layer")
    cases = [
        (c.get_layer_version, {"LayerName": "x" * 141, "VersionNumber": 1}),
        (c.get_layer_version, {"LayerName": name, "VersionNumber": -1}),
        (c.list_layer_versions, {"LayerName": name, "MaxItems": 51}),
        (c.list_layers, {"MaxItems": 0}),
        (c.get_layer_version_by_arn, {"Arn": "arn:aws:lambda:us-east-1:000000000000:layer:x"}),
    ]
    for call, kwargs in cases:
        with pytest.raises(ClientError) as e:
            call(**kwargs)
        assert_error(e.value, "ValidationException", 400)
    with pytest.raises(ClientError) as e:
        c.get_layer_version(LayerName=name, VersionNumber=2**40)
    assert_error(e.value, "ResourceNotFoundException", 404, message=NOT_FOUND)
    with pytest.raises(ClientError) as e:
        c.list_layer_versions(LayerName=name, Marker="%%%not-a-marker")
    assert_error(e.value, "InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as e:
        c.publish_layer_version(LayerName=name)
    assert_error(e.value, "InvalidParameterValueException", 400)
    assert c.list_layer_versions(LayerName=name)["LayerVersions"] == []


def test_layers_in_process_isolation(server_factory):
    """Without a root of its own the function finds its layers at the merged tree's own path,
    on the same search paths."""
    srv = server_factory(env={"STRATUS_ISOLATION": "process"})
    lam = srv.client()
    layer = lam.publish_layer_version(
        LayerName=unique_name("layer"),
        Content={"ZipFile": make_zip_with_modes({
            "python/mylib/__init__.py": "VALUE = 'process'\n",
            "bin/layer-tool": ("#!/bin/sh\necho tool\n", 0o755),
        })},
    )
    source = ("import subprocess, mylib\n"
              "def handler(event, context):\n"
              "    tool = subprocess.run(['layer-tool'], capture_output=True, text=True)\n"
              "    return [mylib.VALUE, tool.stdout.strip()]\n")
    name = unique_name()
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                        Role=f"arn:aws:iam::{ACCOUNT}:role/lambda-role",
                        Code={"ZipFile": make_zip({"app.py": source})},
                        Layers=[layer["LayerVersionArn"]])
    inv = invoke(srv.client(read_timeout=60, retries={"total_max_attempts": 1}), name)
    assert inv.function_error is None, inv
    assert inv.payload == ["process", "tool"]
