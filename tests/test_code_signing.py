"""Code signing configurations through boto3: their lifecycle and AWS's errors, a function's
use of one (Put/Get/DeleteFunctionCodeSigningConfig, CreateFunction's CodeSigningConfigArn,
ListFunctionsByCodeSigningConfig), and the `Enforce` policy refusing deployment packages
(Stratus has no signing service, so none carries a signature it trusts)."""

import re

import pytest
from botocore.exceptions import ClientError

import helpers

PROFILE = f"arn:aws:signer:us-east-1:{helpers.ACCOUNT}:/signing-profiles/MyProfile/abcdef1234"
MISSING = f"arn:aws:lambda:us-east-1:{helpers.ACCOUNT}:code-signing-config:csc-0123456789abcdef0"


@pytest.fixture
def configs(lambda_client):
    """Factory: create a code signing configuration; every one is deleted after the test."""
    made = []

    def create(policy=None, **kwargs):
        if policy:
            kwargs["CodeSigningPolicies"] = {"UntrustedArtifactOnDeployment": policy}
        c = lambda_client.create_code_signing_config(
            AllowedPublishers={"SigningProfileVersionArns": [PROFILE]}, **kwargs)
        made.append(c["CodeSigningConfig"]["CodeSigningConfigArn"])
        return c["CodeSigningConfig"]

    yield create
    for arn in made:
        try:
            for name in lambda_client.list_functions_by_code_signing_config(
                    CodeSigningConfigArn=arn)["FunctionArns"]:
                lambda_client.delete_function_code_signing_config(FunctionName=name)
            lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)
        except ClientError:
            pass  # already deleted by the test, or its function went with a stack


def exists(client, arn):
    try:
        client.get_code_signing_config(CodeSigningConfigArn=arn)
        return True
    except ClientError:
        return False


def test_a_configuration_is_created_read_listed_updated_and_deleted(lambda_client, configs):
    created = configs(Description="release signing")
    assert re.fullmatch(r"csc-[a-z0-9]{17}", created["CodeSigningConfigId"])
    assert created["CodeSigningConfigArn"] == (
        f"arn:aws:lambda:us-east-1:{helpers.ACCOUNT}:code-signing-config:{created['CodeSigningConfigId']}")
    assert created["AllowedPublishers"] == {"SigningProfileVersionArns": [PROFILE]}
    assert created["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert created["Description"] == "release signing"
    assert created["LastModified"]
    arn = created["CodeSigningConfigArn"]

    got = lambda_client.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]
    assert got == created
    listed = lambda_client.list_code_signing_configs()["CodeSigningConfigs"]
    assert created in listed

    updated = lambda_client.update_code_signing_config(
        CodeSigningConfigArn=arn, CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"},
    )["CodeSigningConfig"]
    assert updated["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert updated["Description"] == "release signing", "members not given are kept"
    assert lambda_client.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == updated

    lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)
    with pytest.raises(ClientError) as e:
        lambda_client.get_code_signing_config(CodeSigningConfigArn=arn)
    helpers.assert_error(e.value, "ResourceNotFoundException", 404,
                         message=f"The Lambda code signing configuration {arn} can not be found.")


def test_listing_pages_through_every_configuration(lambda_client, configs):
    mine = {configs()["CodeSigningConfigId"] for _ in range(3)}
    seen, marker = [], None
    while True:
        page = lambda_client.list_code_signing_configs(MaxItems=2, **({"Marker": marker} if marker else {}))
        assert len(page["CodeSigningConfigs"]) <= 2
        seen += [c["CodeSigningConfigId"] for c in page["CodeSigningConfigs"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert mine <= set(seen) and len(seen) == len(set(seen))


@pytest.mark.parametrize("call", ["get", "update", "delete", "functions"])
def test_a_missing_configuration_is_not_found(lambda_client, call):
    ops = {
        "get": lambda: lambda_client.get_code_signing_config(CodeSigningConfigArn=MISSING),
        "update": lambda: lambda_client.update_code_signing_config(CodeSigningConfigArn=MISSING,
                                                                   Description="x"),
        "delete": lambda: lambda_client.delete_code_signing_config(CodeSigningConfigArn=MISSING),
        "functions": lambda: lambda_client.list_functions_by_code_signing_config(
            CodeSigningConfigArn=MISSING),
    }
    with pytest.raises(ClientError) as e:
        ops[call]()
    helpers.assert_error(e.value, "ResourceNotFoundException", 404,
                         message=f"The Lambda code signing configuration {MISSING} can not be found.")


def test_bad_configurations_are_refused(unvalidated_client, lambda_client):
    before = len(lambda_client.list_code_signing_configs()["CodeSigningConfigs"])
    cases = [
        ({}, "Value null at 'allowedPublishers'"),
        ({"AllowedPublishers": {"SigningProfileVersionArns": []}},
         "at 'allowedPublishers.signingProfileVersionArns' failed to satisfy constraint: "
         "Member must have length greater than or equal to 1"),
        ({"AllowedPublishers": {"SigningProfileVersionArns": ["not-an-arn"]}},
         "Value 'not-an-arn' at 'allowedPublishers.signingProfileVersionArns.1.member'"),
        ({"AllowedPublishers": {"SigningProfileVersionArns": [PROFILE]},
          "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": "Block"}},
         "Member must satisfy enum value set: [Warn, Enforce]"),
        ({"AllowedPublishers": {"SigningProfileVersionArns": [PROFILE]}, "Description": "d" * 257},
         "Member must have length less than or equal to 256"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ClientError) as e:
            unvalidated_client.create_code_signing_config(**kwargs)
        helpers.assert_error(e.value, "ValidationException", 400, message_contains=message)
    with pytest.raises(ClientError) as e:
        unvalidated_client.get_code_signing_config(CodeSigningConfigArn="csc-nope")
    helpers.assert_error(e.value, "ValidationException", 400, message_contains="'codeSigningConfigArn'")
    assert len(lambda_client.list_code_signing_configs()["CodeSigningConfigs"]) == before


def test_a_function_uses_a_configuration_until_detached(lambda_client, configs, fn):
    assert helpers.strip_meta(lambda_client.get_function_code_signing_config(FunctionName=fn)) == {}
    arn = configs()["CodeSigningConfigArn"]
    put = lambda_client.put_function_code_signing_config(CodeSigningConfigArn=arn, FunctionName=fn)
    assert (put["CodeSigningConfigArn"], put["FunctionName"]) == (arn, fn)
    got = lambda_client.get_function_code_signing_config(FunctionName=helpers.function_arn(fn))
    assert (got["CodeSigningConfigArn"], got["FunctionName"]) == (arn, fn)
    listed = lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)
    assert listed["FunctionArns"] == [helpers.function_arn(fn)]

    with pytest.raises(ClientError) as e:
        lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)
    helpers.assert_error(e.value, "ResourceConflictException", 409)
    assert exists(lambda_client, arn)

    lambda_client.delete_function_code_signing_config(FunctionName=fn)
    assert helpers.strip_meta(lambda_client.get_function_code_signing_config(FunctionName=fn)) == {}
    assert lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []
    lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)


def test_a_missing_configuration_or_function_is_refused(lambda_client, configs, fn):
    with pytest.raises(ClientError) as e:
        lambda_client.put_function_code_signing_config(CodeSigningConfigArn=MISSING, FunctionName=fn)
    helpers.assert_error(e.value, "CodeSigningConfigNotFoundException", 404, message=(
        "The code signing configuration cannot be found. Check that the provided configuration "
        f"is not deleted: {MISSING}."))
    assert helpers.strip_meta(lambda_client.get_function_code_signing_config(FunctionName=fn)) == {}
    arn = configs()["CodeSigningConfigArn"]
    for call in (
        lambda: lambda_client.put_function_code_signing_config(CodeSigningConfigArn=arn,
                                                               FunctionName="no-such-fn"),
        lambda: lambda_client.get_function_code_signing_config(FunctionName="no-such-fn"),
        lambda: lambda_client.delete_function_code_signing_config(FunctionName="no-such-fn"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        helpers.assert_error(e.value, "ResourceNotFoundException", 404, message_contains="Function not found")


def test_enforce_refuses_new_packages_and_warn_deploys_them(lambda_client, configs, new_function):
    enforce = configs(policy="Enforce")["CodeSigningConfigArn"]
    name = helpers.unique_name()
    with pytest.raises(ClientError) as e:
        helpers.create_function(lambda_client, name, CodeSigningConfigArn=enforce)
    helpers.assert_error(e.value, "CodeVerificationFailedException", 400, message_contains=(
        "Lambda cannot deploy the function. The function or layer might be signed using a "
        "signature that the client is not configured to accept."))
    with pytest.raises(ClientError) as e:
        lambda_client.get_function(FunctionName=name)
    helpers.assert_error(e.value, "ResourceNotFoundException", 404)
    assert lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=enforce)["FunctionArns"] == []

    warn = configs(policy="Warn")["CodeSigningConfigArn"]
    new_function(name=name, CodeSigningConfigArn=warn)
    assert lambda_client.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == warn
    sha = lambda_client.get_function_configuration(FunctionName=name)["CodeSha256"]
    other = helpers.make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"})
    lambda_client.update_function_code(FunctionName=name, ZipFile=other)
    helpers.wait_updated(lambda_client, name)
    sha2 = lambda_client.get_function_configuration(FunctionName=name)["CodeSha256"]
    assert sha2 != sha

    lambda_client.update_code_signing_config(
        CodeSigningConfigArn=warn, CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})
    with pytest.raises(ClientError) as e:
        lambda_client.update_function_code(FunctionName=name, ZipFile=helpers.make_zip())
    helpers.assert_error(e.value, "CodeVerificationFailedException", 400)
    assert lambda_client.get_function_configuration(FunctionName=name)["CodeSha256"] == sha2
    with pytest.raises(ClientError) as e:
        lambda_client.update_function_code(FunctionName=name, ZipFile=helpers.make_zip(), DryRun=True)
    helpers.assert_error(e.value, "CodeVerificationFailedException", 400)
    # A layer is code too.
    layer = lambda_client.publish_layer_version(
        LayerName=helpers.unique_name("csc-layer"),
        Content={"ZipFile": helpers.make_zip({"python/extra.py": "X = 1\n"})})
    with pytest.raises(ClientError) as e:
        lambda_client.update_function_configuration(FunctionName=name,
                                                    Layers=[layer["LayerVersionArn"]])
    helpers.assert_error(e.value, "CodeVerificationFailedException", 400, message_contains=(
        helpers.function_arn(name)))
    assert "Layers" not in lambda_client.get_function_configuration(FunctionName=name)
    # Settings that are not code still change.
    lambda_client.update_function_configuration(FunctionName=name, Timeout=7)
    helpers.wait_updated(lambda_client, name)
    # A policies member without a policy keeps Enforce.
    lambda_client.update_code_signing_config(CodeSigningConfigArn=warn, CodeSigningPolicies={})
    assert lambda_client.get_code_signing_config(CodeSigningConfigArn=warn)[
        "CodeSigningConfig"]["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}


def test_configurations_carry_tags_apart_from_their_rendering(lambda_client, configs):
    arn = configs(Tags={"team": "payments"})["CodeSigningConfigArn"]
    assert "Tags" not in lambda_client.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "payments"}
    lambda_client.tag_resource(Resource=arn, Tags={"stage": "prod"})
    lambda_client.untag_resource(Resource=arn, TagKeys=["team"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"stage": "prod"}
    with pytest.raises(ClientError) as e:
        lambda_client.list_tags(Resource=MISSING)
    helpers.assert_error(e.value, "ResourceNotFoundException", 404)


def test_deleting_a_function_releases_its_configuration(lambda_client, configs, new_function):
    arn = configs()["CodeSigningConfigArn"]
    name = new_function(CodeSigningConfigArn=arn)["FunctionName"]
    lambda_client.delete_function(FunctionName=name)
    assert lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []
    lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)



def test_cloudformation_attaches_and_detaches_a_configuration(server, lambda_client, configs):
    cfn = server.client("cloudformation")
    arn = configs()["CodeSigningConfigArn"]
    stack, fn = helpers.unique_name("csc-stack"), helpers.unique_name("csc-fn")
    signed = helpers.function_stack(fn, f"      CodeSigningConfigArn: {arn}")
    cfn.create_stack(StackName=stack, TemplateBody=signed, Capabilities=["CAPABILITY_IAM"])
    try:
        assert helpers.wait_stack(cfn, stack) == "CREATE_COMPLETE"
        assert lambda_client.get_function_code_signing_config(FunctionName=fn)["CodeSigningConfigArn"] == arn
        unsigned = helpers.function_stack(fn)
        cfn.update_stack(StackName=stack, TemplateBody=unsigned, Capabilities=["CAPABILITY_IAM"])
        assert helpers.wait_stack(cfn, stack) == "UPDATE_COMPLETE"
        assert helpers.strip_meta(lambda_client.get_function_code_signing_config(FunctionName=fn)) == {}
    finally:
        cfn.delete_stack(StackName=stack)
