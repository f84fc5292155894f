"""The finer points of evaluation, through boto3 against the running server: a bucket policy's
explicit deny binds even the root user (who keeps the right to fix the policy), policy
variables and `aws:SourceIp`, permissions boundaries and session policies (the intersection
with the identity's policies), and paging of IAM's lists."""

import json
import urllib.parse

import pytest
from botocore.exceptions import ClientError

import helpers
from iam_support import (ACCOUNT, TRUST_ACCOUNT, allow, client_as, creds_client, deny, doc,
                         user_with_key)

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")


@pytest.fixture
def user(iam, server):
    """A user without policies: (name, arn, client factory signed with its key)."""
    name, key_id, secret = user_with_key(iam)
    arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    return name, arn, lambda service: client_as(server, service, key_id, secret)


def refusal(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"], err["Message"]


def bucket_of(server):
    s3 = server.client("s3")
    name = helpers.unique_name("bkt")
    s3.create_bucket(Bucket=name)
    return s3, name


# --- the root user and bucket policies ----------------------------------------------------


def test_a_bucket_policys_deny_binds_the_root_user(server):
    s3, bucket = bucket_of(server)
    s3.put_object(Bucket=bucket, Key="locked/a", Body=b"x")
    s3.put_object(Bucket=bucket, Key="open/a", Body=b"y")
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/locked/*"}))
    root = f"arn:aws:iam::{ACCOUNT}:root"
    assert refusal(s3.get_object, Bucket=bucket, Key="locked/a") == (
        "AccessDenied", 403,
        f"User: {root} is not authorized to perform: s3:GetObject on resource: "
        f"arn:aws:s3:::{bucket}/locked/a with an explicit deny in a resource-based policy")
    # Everything the policy does not deny stays allowed to root.
    assert s3.get_object(Bucket=bucket, Key="open/a")["Body"].read() == b"y"
    s3.put_object(Bucket=bucket, Key="locked/b", Body=b"z")


def test_root_can_always_repair_a_policy_that_locks_everyone_out(server):
    s3, bucket = bucket_of(server)
    s3.put_bucket_policy(Bucket=bucket, Policy=doc(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}))
    assert refusal(s3.list_objects_v2, Bucket=bucket)[0] == "AccessDenied"
    assert refusal(s3.put_object, Bucket=bucket, Key="k", Body=b"x")[0] == "AccessDenied"
    # As on AWS, the bucket owner's root user may still read, replace and delete the policy.
    assert "Deny" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_a_bucket_policys_deny_for_a_user_names_the_resource_policy(user, iam, server):
    name, arn, client = user
    s3_root, bucket = bucket_of(server)
    iam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
    s3_root.put_bucket_policy(Bucket=bucket, Policy=doc(
        {"Effect": "Deny", "Principal": {"AWS": arn}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert refusal(client("s3").put_object, Bucket=bucket, Key="k", Body=b"x") == (
        "AccessDenied", 403,
        f"User: {arn} is not authorized to perform: s3:PutObject on resource: "
        f"arn:aws:s3:::{bucket}/k with an explicit deny in a resource-based policy")


# --- policy variables and the source address ------------------------------------------------


def test_policy_variables_give_each_user_its_own_folder(user, iam, server):
    name, _, client = user
    _, bucket = bucket_of(server)
    iam.put_user_policy(UserName=name, PolicyName="home", PolicyDocument=doc(
        allow(["s3:PutObject", "s3:GetObject"], f"arn:aws:s3:::{bucket}/home/${{aws:username}}/*"),
        allow("s3:ListBucket", f"arn:aws:s3:::{bucket}",
              Condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}})))
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key=f"home/{name}/notes.txt", Body=b"mine")
    assert s3.get_object(Bucket=bucket, Key=f"home/{name}/notes.txt")["Body"].read() == b"mine"
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"home/{name}/")["KeyCount"] == 1
    assert refusal(s3.put_object, Bucket=bucket, Key="home/someone/x", Body=b"x")[0] == (
        "AccessDenied")
    assert refusal(s3.list_objects_v2, Bucket=bucket, Prefix="home/someone/")[0] == "AccessDenied"


def test_aws_userid_and_literal_characters(user, iam, server):
    name, _, client = user
    _, bucket = bucket_of(server)
    user_id = iam.get_user(UserName=name)["User"]["UserId"]
    iam.put_user_policy(UserName=name, PolicyName="ids", PolicyDocument=doc(
        allow("s3:PutObject", f"arn:aws:s3:::{bucket}/${{aws:userid}}/${{*}}")))
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key=f"{user_id}/*", Body=b"x")
    # `${*}` is a literal asterisk, not a wildcard.
    assert refusal(s3.put_object, Bucket=bucket, Key=f"{user_id}/other", Body=b"x")[0] == (
        "AccessDenied")


def test_source_ip_conditions_see_the_connections_address(user, iam, fn):
    name, _, client = user
    host = urllib.parse.urlsplit(client("lambda").meta.endpoint_url).hostname
    assert host == "127.0.0.1"
    iam.put_user_policy(UserName=name, PolicyName="office", PolicyDocument=doc(
        allow("lambda:GetFunction", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))
    lam = client("lambda")
    assert refusal(lam.get_function, FunctionName=fn)[0] == "AccessDeniedException"
    iam.put_user_policy(UserName=name, PolicyName="office", PolicyDocument=doc(
        allow("lambda:GetFunction", Condition={"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}),
        deny("lambda:ListFunctions", Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))
    assert lam.get_function(FunctionName=fn)["Configuration"]["FunctionName"] == fn
    assert refusal(lam.list_functions)[2].endswith("with an explicit deny in an identity-based policy")


# --- permissions boundaries ----------------------------------------------------------------


def s3_only_policy(iam):
    return iam.create_policy(PolicyName=helpers.unique_name("s3only"), PolicyDocument=doc(
        allow("s3:*")))["Policy"]["Arn"]


def test_a_users_boundary_limits_its_policies(iam, server, fn):
    boundary = s3_only_policy(iam)
    name = helpers.unique_name("user")
    created = iam.create_user(UserName=name, PermissionsBoundary=boundary)["User"]
    assert created["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": boundary}
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
    lam = client_as(server, "lambda", key["AccessKeyId"], key["SecretAccessKey"])
    s3 = client_as(server, "s3", key["AccessKeyId"], key["SecretAccessKey"])
    assert "Buckets" in s3.list_buckets()
    assert refusal(lam.get_function, FunctionName=fn) == (
        "AccessDeniedException", 403,
        f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: "
        f"lambda:GetFunction on resource: {helpers.function_arn(fn)} because no permissions "
        "boundary allows the lambda:GetFunction action")
    iam.delete_user_permissions_boundary(UserName=name)
    assert "PermissionsBoundary" not in iam.get_user(UserName=name)["User"]
    assert lam.get_function(FunctionName=fn)["Configuration"]["FunctionName"] == fn
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary)
    assert refusal(lam.get_function, FunctionName=fn)[0] == "AccessDeniedException"


def test_a_roles_boundary_limits_its_sessions(iam, server, fn):
    role = helpers.unique_name("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_ACCOUNT)
    iam.attach_role_policy(RoleName=role, PolicyArn=ADMIN)
    boundary = s3_only_policy(iam)
    iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=boundary)
    got = iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"]
    assert got["PermissionsBoundaryArn"] == boundary
    creds = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="bounded")["Credentials"]
    assert refusal(creds_client(server, "lambda", creds).get_function, FunctionName=fn)[0] == (
        "AccessDeniedException")
    assert "Buckets" in creds_client(server, "s3", creds).list_buckets()
    iam.delete_role_permissions_boundary(RoleName=role)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=role)["Role"]
    assert creds_client(server, "lambda", creds).get_function(FunctionName=fn)


@pytest.mark.parametrize("arn, code, message", [
    ("arn:aws:iam::000000000000:policy/no-such-policy", "NoSuchEntity",
     "Policy arn:aws:iam::000000000000:policy/no-such-policy does not exist or is not attachable."),
    ("not-an-arn-at-all-xx", "InvalidInput", "ARN not-an-arn-at-all-xx is not valid."),
])
def test_a_bad_boundary_creates_nothing(iam, arn, code, message):
    name = helpers.unique_name("user")
    assert refusal(iam.create_user, UserName=name, PermissionsBoundary=arn)[::2] == (code, message)
    assert refusal(iam.get_user, UserName=name)[0] == "NoSuchEntity"
    role = helpers.unique_name("role")
    assert refusal(iam.create_role, RoleName=role, AssumeRolePolicyDocument=TRUST_ACCOUNT,
                   PermissionsBoundary=arn)[::2] == (code, message)
    assert refusal(iam.get_role, RoleName=role)[0] == "NoSuchEntity"


# --- session policies ----------------------------------------------------------------------


@pytest.fixture
def admin_role(iam):
    role = helpers.unique_name("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_ACCOUNT)
    iam.attach_role_policy(RoleName=role, PolicyArn=ADMIN)
    return f"arn:aws:iam::{ACCOUNT}:role/{role}"


def test_an_inline_session_policy_narrows_the_session(server, admin_role, fn):
    sts = server.client("sts")
    creds = sts.assume_role(RoleArn=admin_role, RoleSessionName="narrow",
                            Policy=doc(allow("lambda:GetFunction")))["Credentials"]
    lam = creds_client(server, "lambda", creds)
    assert lam.get_function(FunctionName=fn)["Configuration"]["FunctionName"] == fn
    code, _, message = refusal(lam.list_functions)
    assert code == "AccessDeniedException"
    assert message.endswith("because no session policy allows the lambda:ListFunctions action")
    assert refusal(creds_client(server, "s3", creds).list_buckets)[0] == "AccessDenied"
    # A session of the same role without session policies keeps the role's rights.
    full = sts.assume_role(RoleArn=admin_role, RoleSessionName="full")["Credentials"]
    assert "Functions" in creds_client(server, "lambda", full).list_functions()


def test_managed_session_policies(server, admin_role, fn):
    creds = server.client("sts").assume_role(
        RoleArn=admin_role, RoleSessionName="ro", PolicyArns=[{"arn": S3_READ}])["Credentials"]
    assert "Buckets" in creds_client(server, "s3", creds).list_buckets()
    assert refusal(creds_client(server, "lambda", creds).get_function, FunctionName=fn)[0] == (
        "AccessDeniedException")


def test_a_session_policy_grants_nothing_the_role_lacks(iam, server, fn):
    role = helpers.unique_name("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_ACCOUNT)
    iam.put_role_policy(RoleName=role, PolicyName="s3", PolicyDocument=doc(allow("s3:*")))
    creds = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="wide",
        Policy=doc(allow("*")))["Credentials"]
    assert refusal(creds_client(server, "lambda", creds).get_function, FunctionName=fn)[0] == (
        "AccessDeniedException")


def test_a_malformed_session_policy_issues_nothing(server, admin_role):
    sts = server.client("sts")
    code, status, message = refusal(sts.assume_role, RoleArn=admin_role, RoleSessionName="bad",
                                    Policy=json.dumps({"Version": "2012-10-17", "Statement": {
                                        "Effect": "Allow", "Action": "nothing", "Resource": "*"}}))
    assert (code, status) == ("MalformedPolicyDocument", 400)
    assert message == "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    code, _, message = refusal(sts.assume_role, RoleArn=admin_role, RoleSessionName="big",
                               Policy=doc(allow("s3:GetObject", "arn:aws:s3:::" + "b" * 2100)))
    assert code == "ValidationError" and "less than or equal to 2048" in message


# --- paging --------------------------------------------------------------------------------


def test_lists_page_with_marker_and_max_items(iam):
    prefix = f"/{helpers.unique_name('pg')}/"
    names = sorted(helpers.unique_name("u") for _ in range(5))
    for n in names:
        iam.create_user(UserName=n, Path=prefix)
    first = iam.list_users(PathPrefix=prefix, MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == names[:2]
    assert first["IsTruncated"] is True and first["Marker"]
    second = iam.list_users(PathPrefix=prefix, MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in second["Users"]] == names[2:4]
    last = iam.list_users(PathPrefix=prefix, MaxItems=2, Marker=second["Marker"])
    assert [u["UserName"] for u in last["Users"]] == names[4:]
    assert last["IsTruncated"] is False and "Marker" not in last
    # botocore's paginator follows the markers to the end.
    pages = iam.get_paginator("list_users").paginate(
        PathPrefix=prefix, PaginationConfig={"PageSize": 2})
    assert [u["UserName"] for page in pages for u in page["Users"]] == names


def test_every_list_pages(iam):
    role = helpers.unique_name("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_ACCOUNT,
                    Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(3)])
    for i in range(3):
        iam.put_role_policy(RoleName=role, PolicyName=f"p{i}", PolicyDocument=doc(allow("s3:*")))
    tags = iam.list_role_tags(RoleName=role, MaxItems=2)
    assert len(tags["Tags"]) == 2 and tags["IsTruncated"] is True
    rest = iam.list_role_tags(RoleName=role, MaxItems=2, Marker=tags["Marker"])
    assert [t["Key"] for t in tags["Tags"] + rest["Tags"]] == ["k0", "k1", "k2"]
    pages = list(iam.get_paginator("list_role_policies").paginate(
        RoleName=role, PaginationConfig={"PageSize": 1}))
    assert len(pages) == 3
    assert [n for p in pages for n in p["PolicyNames"]] == ["p0", "p1", "p2"]
    policies = iam.list_policies(Scope="AWS", MaxItems=3)
    assert len(policies["Policies"]) == 3 and policies["IsTruncated"] is True


@pytest.mark.parametrize("kwargs, message", [
    ({"MaxItems": 0}, "Member must have value greater than or equal to 1"),
    ({"MaxItems": 1001}, "Member must have value less than or equal to 1000"),
    ({"Marker": "not-a-marker"}, "Invalid Marker."),
])
def test_bad_paging_parameters_are_validation_errors(server, kwargs, message):
    iam = server.client("iam", parameter_validation=False)
    code, status, got = refusal(iam.list_roles, **kwargs)
    assert (code, status) == ("ValidationError", 400)
    assert message in got
