"""IAM through boto3 and the aws CLI: users, access keys, roles, inline and managed
policies, the AWS-managed ones, and IAM's errors."""

import json
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

import helpers
from iam_support import ACCOUNT, TRUST_LAMBDA, allow, doc, user_with_key


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_user_lifecycle_and_errors(iam):
    name = helpers.unique_name("user")
    user = iam.create_user(UserName=name, Path="/team/")["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/team/{name}"
    assert user["UserId"].startswith("AIDA")
    assert iam.get_user(UserName=name)["User"]["UserId"] == user["UserId"]
    assert name in [u["UserName"] for u in iam.list_users()["Users"]]
    err, status = error_of(iam.create_user, UserName=name)
    assert (err["Code"], status) == ("EntityAlreadyExists", 409)
    assert err["Message"] == f"User with name {name} already exists."
    renamed = name + "-2"
    iam.update_user(UserName=name, NewUserName=renamed)
    err, status = error_of(iam.get_user, UserName=name)
    assert (err["Code"], status) == ("NoSuchEntity", 404)
    assert err["Message"] == f"The user with name {name} cannot be found."
    iam.delete_user(UserName=renamed)
    err, _ = error_of(iam.delete_user, UserName=renamed)
    assert err["Code"] == "NoSuchEntity"


def test_bad_names_are_validation_errors_and_store_nothing(iam):
    err, status = error_of(iam.create_user, UserName="has space")
    assert (err["Code"], status) == ("ValidationError", 400)
    assert "regular expression pattern" in err["Message"]
    err, _ = error_of(iam.create_user, UserName="ok", Path="no-slash")
    assert err["Code"] == "ValidationError"
    assert "ok" not in [u["UserName"] for u in iam.list_users()["Users"]]


def test_access_keys(iam, server):
    name, key_id, secret = user_with_key(iam)
    assert key_id.startswith("AKIA") and len(key_id) == 20 and len(secret) == 40
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(key_id, "Active")]
    iam.create_access_key(UserName=name)
    err, status = error_of(iam.create_access_key, UserName=name)
    assert (err["Code"], status) == ("LimitExceeded", 409)
    assert err["Message"] == "Cannot exceed quota for AccessKeysPerUser: 2"
    err, status = error_of(iam.delete_user, UserName=name)
    assert (err["Code"], status) == ("DeleteConflict", 409)
    assert err["Message"] == "Cannot delete entity, must delete access keys first."
    # An inactive key no longer signs anything.
    sts = helpers.make_client(server.url, "sts", access_key=key_id, secret_key=secret)
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{name}")
    iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
    err, status = error_of(sts.get_caller_identity)
    assert (err["Code"], status) == ("InvalidClientTokenId", 403)
    err, _ = error_of(iam.update_access_key, UserName=name, AccessKeyId=key_id, Status="Paused")
    assert err["Code"] == "ValidationError"
    err, _ = error_of(iam.delete_access_key, UserName=name, AccessKeyId="AKIA0000000000000000")
    assert (err["Code"], err["Message"]) == (
        "NoSuchEntity", "The Access Key with id AKIA0000000000000000 cannot be found.")


def test_roles_trust_tags_and_updates(iam, server):
    name = helpers.unique_name("role")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_LAMBDA,
                           Description="fn role", Tags=[{"Key": "team", "Value": "a"}])["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    assert role["RoleId"].startswith("AROA")
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST_LAMBDA)
    got = iam.get_role(RoleName=name)["Role"]
    assert (got["Description"], got["MaxSessionDuration"]) == ("fn role", 3600)
    assert got["Tags"] == [{"Key": "team", "Value": "a"}]
    iam.update_role(RoleName=name, MaxSessionDuration=7200)
    assert iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"] == 7200
    unvalidated = server.client("iam", parameter_validation=False)
    err, _ = error_of(unvalidated.update_role, RoleName=name, MaxSessionDuration=60)
    assert err["Code"] == "ValidationError"
    other = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                 "Action": "sts:AssumeRole"})
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=other)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(other)
    iam.tag_role(RoleName=name, Tags=[{"Key": "env", "Value": "dev"}])
    iam.untag_role(RoleName=name, TagKeys=["team"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert name in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    iam.delete_role(RoleName=name)
    err, _ = error_of(iam.get_role, RoleName=name)
    assert (err["Code"], err["Message"]) == (
        "NoSuchEntity", f"The role with name {name} cannot be found.")


@pytest.mark.parametrize("document,message", [
    ("{not json", "Syntax errors in policy."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}),
     "Missing required field Principal"),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "bob"},
                                                         "Action": "sts:AssumeRole"}]}),
     'Invalid principal in policy: "AWS":"bob"'),
])
def test_malformed_trust_policies_create_nothing(iam, document, message):
    name = helpers.unique_name("role")
    err, status = error_of(iam.create_role, RoleName=name, AssumeRolePolicyDocument=document)
    assert (err["Code"], status, err["Message"]) == ("MalformedPolicyDocument", 400, message)
    err, _ = error_of(iam.get_role, RoleName=name)
    assert err["Code"] == "NoSuchEntity"


def test_inline_policies_of_roles_and_users(iam):
    role = helpers.unique_name("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_LAMBDA)
    policy = doc(allow("dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Books"))
    iam.put_role_policy(RoleName=role, PolicyName="books", PolicyDocument=policy)
    got = iam.get_role_policy(RoleName=role, PolicyName="books")
    assert got["PolicyDocument"] == json.loads(policy)
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["books"]
    err, _ = error_of(iam.delete_role, RoleName=role)
    assert (err["Code"], err["Message"]) == (
        "DeleteConflict", "Cannot delete entity, must delete policies first.")
    err, _ = error_of(iam.put_role_policy, RoleName=role, PolicyName="bad",
                      PolicyDocument=doc({"Effect": "Allow", "Action": "s3:*"}))
    assert (err["Code"], err["Message"]) == (
        "MalformedPolicyDocument", "Policy statement must contain resources.")
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["books"]
    iam.delete_role_policy(RoleName=role, PolicyName="books")
    err, _ = error_of(iam.get_role_policy, RoleName=role, PolicyName="books")
    assert (err["Code"], err["Message"]) == (
        "NoSuchEntity", "The role policy with name books cannot be found.")
    iam.delete_role(RoleName=role)
    user = helpers.unique_name("user")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=policy)
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["p"]
    iam.delete_user_policy(UserName=user, PolicyName="p")
    iam.delete_user(UserName=user)


def test_managed_policies_versions_and_attachments(iam):
    name = helpers.unique_name("pol")
    v1 = doc(allow("s3:GetObject"))
    policy = iam.create_policy(PolicyName=name, PolicyDocument=v1, Description="d")["Policy"]
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    assert (policy["DefaultVersionId"], policy["AttachmentCount"]) == ("v1", 0)
    err, _ = error_of(iam.create_policy, PolicyName=name, PolicyDocument=v1)
    assert err["Code"] == "EntityAlreadyExists"
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow("s3:PutObject")))
    err, status = error_of(iam.create_policy_version, PolicyArn=arn, PolicyDocument=v1)
    assert (err["Code"], status) == ("LimitExceeded", 409)
    err, _ = error_of(iam.delete_policy_version, PolicyArn=arn, VersionId="v1")
    assert (err["Code"], err["Message"]) == (
        "DeleteConflict", "Cannot delete the default version of a policy.")
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v3")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v3")["PolicyVersion"]
    assert version["Document"] == json.loads(doc(allow("s3:PutObject")))
    assert version["IsDefaultVersion"] is True
    for v in ["v1", "v2", "v4", "v5"]:
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v3"]
    role = helpers.unique_name("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_LAMBDA)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert attached == [{"PolicyName": name, "PolicyArn": arn}]
    err, _ = error_of(iam.delete_policy, PolicyArn=arn)
    assert (err["Code"], err["Message"]) == (
        "DeleteConflict", "Cannot delete a policy attached to entities.")
    err, _ = error_of(iam.delete_role, RoleName=role)
    assert err["Message"] == "Cannot delete entity, must detach all policies first."
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    err, _ = error_of(iam.get_policy, PolicyArn=arn)
    assert (err["Code"], err["Message"]) == ("NoSuchEntity", f"Policy {arn} was not found.")
    err, _ = error_of(iam.attach_role_policy, RoleName=role,
                      PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/missing")
    assert err["Message"] == (f"Policy arn:aws:iam::{ACCOUNT}:policy/missing "
                              "does not exist or is not attachable.")
    iam.delete_role(RoleName=role)


AWS_MANAGED = {
    "AWSLambdaBasicExecutionRole": "/service-role/",
    "AWSLambdaDynamoDBExecutionRole": "/service-role/",
    "AWSLambdaSQSQueueExecutionRole": "/service-role/",
    "AWSLambdaRole": "/service-role/",
    "AWSCodeDeployRoleForLambda": "/service-role/",
    "AmazonS3ReadOnlyAccess": "/",
    "AmazonS3FullAccess": "/",
    "AmazonDynamoDBFullAccess": "/",
    "AmazonSNSFullAccess": "/",
    "CloudWatchLogsFullAccess": "/",
    "AdministratorAccess": "/",
    "ReadOnlyAccess": "/",
}


def test_aws_managed_policies_exist_with_their_documents(iam):
    listed = {p["PolicyName"]: p["Arn"] for p in iam.list_policies(Scope="AWS")["Policies"]}
    for name, path in AWS_MANAGED.items():
        assert listed[name] == f"arn:aws:iam::aws:policy{path}{name}"
    arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    statement = version["PolicyVersion"]["Document"]["Statement"][0]
    assert statement["Action"] == ["logs:CreateLogGroup", "logs:CreateLogStream",
                                   "logs:PutLogEvents"]
    err, _ = error_of(iam.delete_policy, PolicyArn=arn)
    assert err["Code"] == "AccessDenied"


def aws_cli(server, *args):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    env.pop("AWS_PROFILE", None)
    cli = os.path.join(os.path.dirname(sys.executable), "aws")
    out = subprocess.run([cli, "--endpoint-url", server.url, "--output", "json", *args],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def test_the_aws_cli_creates_a_role_and_attaches_a_policy(server, tmp_path):
    trust_file = tmp_path / "trust-lambda.json"
    trust_file.write_text(TRUST_LAMBDA)
    name = helpers.unique_name("cli-role")
    created = aws_cli(server, "iam", "create-role", "--role-name", name,
                      "--assume-role-policy-document", f"file://{trust_file}")
    assert created["Role"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    aws_cli(server, "iam", "attach-role-policy", "--role-name", name, "--policy-arn",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    attached = aws_cli(server, "iam", "list-attached-role-policies", "--role-name", name)
    assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == [
        "AWSLambdaBasicExecutionRole"]


def test_groups_and_their_members(iam):
    group = helpers.unique_name("grp")
    created = iam.create_group(GroupName=group)["Group"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/{group}"
    assert created["GroupId"].startswith("AGPA")
    err, status = error_of(iam.create_group, GroupName=group)
    assert (err["Code"], status) == ("EntityAlreadyExists", 409)
    user = helpers.unique_name("user")
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=user)
    got = iam.get_group(GroupName=group)
    assert [u["UserName"] for u in got["Users"]] == [user]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    iam.put_group_policy(GroupName=group, PolicyName="p", PolicyDocument=doc(allow("s3:*")))
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["p"]
    iam.attach_group_policy(GroupName=group,
                            PolicyArn="arn:aws:iam::aws:policy/AmazonSNSFullAccess")
    assert [p["PolicyName"] for p in iam.list_attached_group_policies(
        GroupName=group)["AttachedPolicies"]] == ["AmazonSNSFullAccess"]
    err, _ = error_of(iam.delete_group, GroupName=group)
    assert (err["Code"], err["Message"]) == (
        "DeleteConflict", "Cannot delete entity, must remove users from group first.")
    err, _ = error_of(iam.delete_user, UserName=user)
    assert err["Message"] == "Cannot delete entity, must remove user from all groups first."
    iam.remove_user_from_group(GroupName=group, UserName=user)
    iam.delete_group_policy(GroupName=group, PolicyName="p")
    iam.detach_group_policy(GroupName=group,
                            PolicyArn="arn:aws:iam::aws:policy/AmazonSNSFullAccess")
    iam.delete_group(GroupName=group)
    err, _ = error_of(iam.get_group, GroupName=group)
    assert (err["Code"], err["Message"]) == (
        "NoSuchEntity", f"The group with name {group} cannot be found.")
