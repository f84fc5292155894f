"""Attribute-based access control: a principal's tags (a user's, a role's, the session tags
passed to AssumeRole) as `aws:PrincipalTag`, a request's tags as `aws:RequestTag` and
`aws:TagKeys`, a function's tags as `aws:ResourceTag`; user tags and instance profiles."""

import pytest
from botocore.exceptions import ClientError

import helpers
from iam_support import ACCOUNT, allow, client_as, creds_client, doc, user_with_key

REGION = helpers.REGION


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"], err["Message"]


def make_table(server, name):
    server.client("dynamodb").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])


TEAM_TABLES = doc(allow(["dynamodb:PutItem", "dynamodb:GetItem"],
                        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/${{aws:PrincipalTag/team}}-*"))


def test_a_user_tagged_blue_reaches_only_blue_tables(iam, server):
    name, key, secret = user_with_key(iam)
    suffix = helpers.unique_name("t")
    blue, red = f"blue-{suffix}", f"red-{suffix}"
    make_table(server, blue)
    make_table(server, red)
    iam.put_user_policy(UserName=name, PolicyName="team-tables", PolicyDocument=TEAM_TABLES)
    ddb = client_as(server, "dynamodb", key, secret)
    # Without the tag the variable has no value: nothing matches.
    code, _, _ = error_of(ddb.put_item, TableName=blue, Item={"id": {"S": "1"}})
    assert code == "AccessDeniedException"
    iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "blue"}])
    assert iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert iam.get_user(UserName=name)["User"]["Tags"] == [{"Key": "team", "Value": "blue"}]
    ddb.put_item(TableName=blue, Item={"id": {"S": "1"}})
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    red_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{red}"
    assert error_of(ddb.put_item, TableName=red, Item={"id": {"S": "1"}}) == (
        "AccessDeniedException", 400,
        f"User: {user_arn} is not authorized to perform: dynamodb:PutItem on resource: "
        f"{red_arn} because no identity-based policy allows the dynamodb:PutItem action")
    # Retagging takes effect on the next request.
    iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "red"}])
    ddb.put_item(TableName=red, Item={"id": {"S": "1"}})
    assert error_of(ddb.get_item, TableName=blue, Key={"id": {"S": "1"}})[0] == (
        "AccessDeniedException")
    iam.untag_user(UserName=name, TagKeys=["team"])
    assert iam.list_user_tags(UserName=name)["Tags"] == []
    assert error_of(ddb.put_item, TableName=red, Item={"id": {"S": "2"}})[0] == (
        "AccessDeniedException")


def tagging_trust(user_arn, tag_session=True):
    statements = [{"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]
    if tag_session:
        statements.append({"Effect": "Allow", "Principal": {"AWS": user_arn},
                           "Action": "sts:TagSession",
                           "Condition": {"StringEquals": {"aws:RequestTag/team": ["blue", "red"]}}})
    return doc(*statements)


def test_session_tags_decide_for_an_assumed_role(iam, server):
    name, key, secret = user_with_key(iam)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    iam.put_user_policy(UserName=name, PolicyName="assume",
                        PolicyDocument=doc(allow("sts:AssumeRole")))
    role = helpers.unique_name("abac")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=tagging_trust(user_arn),
                    Tags=[{"Key": "team", "Value": "red"}])
    iam.put_role_policy(RoleName=role, PolicyName="team-tables", PolicyDocument=TEAM_TABLES)
    suffix = helpers.unique_name("t")
    blue, red = f"blue-{suffix}", f"red-{suffix}"
    make_table(server, blue)
    make_table(server, red)
    sts = client_as(server, "sts", key, secret)

    # Without session tags the role's own tag applies.
    plain = sts.assume_role(RoleArn=role_arn, RoleSessionName="plain")["Credentials"]
    ddb = creds_client(server, "dynamodb", plain)
    ddb.put_item(TableName=red, Item={"id": {"S": "1"}})
    assert error_of(ddb.put_item, TableName=blue, Item={"id": {"S": "1"}})[0] == (
        "AccessDeniedException")

    # A session tag overrides the role's tag of the same key.
    tagged = sts.assume_role(RoleArn=role_arn, RoleSessionName="tagged",
                             Tags=[{"Key": "Team", "Value": "blue"}],
                             TransitiveTagKeys=["Team"])["Credentials"]
    ddb = creds_client(server, "dynamodb", tagged)
    ddb.put_item(TableName=blue, Item={"id": {"S": "2"}})
    assert error_of(ddb.put_item, TableName=red, Item={"id": {"S": "2"}})[0] == (
        "AccessDeniedException")

    # The trust policy's conditions on sts:TagSession see the requested tags.
    assert error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="green",
                    Tags=[{"Key": "team", "Value": "green"}]) == (
        "AccessDenied", 403,
        f"User: {user_arn} is not authorized to perform: sts:TagSession on resource: {role_arn}")


def test_passing_session_tags_needs_tag_session_in_the_trust_policy(iam, server):
    name, key, secret = user_with_key(iam)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    iam.put_user_policy(UserName=name, PolicyName="assume",
                        PolicyDocument=doc(allow("sts:AssumeRole")))
    role = helpers.unique_name("notag")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    iam.create_role(RoleName=role,
                    AssumeRolePolicyDocument=tagging_trust(user_arn, tag_session=False))
    sts = client_as(server, "sts", key, secret)
    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="ok")["Credentials"]
    assert error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="tt",
                    Tags=[{"Key": "team", "Value": "blue"}]) == (
        "AccessDenied", 403,
        f"User: {user_arn} is not authorized to perform: sts:TagSession on resource: {role_arn}")


def test_session_tags_are_checked_as_aws_checks_them(iam, server):
    role = helpers.unique_name("chk")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": ["sts:AssumeRole", "sts:TagSession"]}))
    sts = server.client("sts")
    assert error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="ss",
                    Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}]) == (
        "InvalidParameterValue", 400,
        "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    assert error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="ss",
                    Tags=[{"Key": "a", "Value": "1"}], TransitiveTagKeys=["b"]) == (
        "InvalidParameterValue", 400,
        "The specified transitive tag key must be included in the requested tags.")
    code, status, message = error_of(
        sts.assume_role, RoleArn=role_arn, RoleSessionName="ss",
        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert (code, status) == ("ValidationError", 400)
    assert "Member must have length less than or equal to 50" in message

    # Role chaining: a transitive tag passes on and cannot be replaced.
    first = sts.assume_role(RoleArn=role_arn, RoleSessionName="one",
                            Tags=[{"Key": "project", "Value": "x"}, {"Key": "cost", "Value": "1"}],
                            TransitiveTagKeys=["project"])["Credentials"]
    chained_sts = creds_client(server, "sts", first)
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": ["sts:AssumeRole", "sts:TagSession"]},
        {"Effect": "Allow", "Principal": {"AWS": role_arn},
         "Action": ["sts:AssumeRole", "sts:TagSession"]}))
    iam.put_role_policy(RoleName=role, PolicyName="chain", PolicyDocument=doc(
        allow("sts:AssumeRole", role_arn),
        allow("iam:ListRoles", "*", Condition={"StringEquals": {
            "aws:PrincipalTag/project": "x"}})))
    assert error_of(chained_sts.assume_role, RoleArn=role_arn, RoleSessionName="two",
                    Tags=[{"Key": "Project", "Value": "y"}]) == (
        "InvalidParameterValue", 400,
        "One of the specified transitive tag keys can't be set because it conflicts with a "
        "transitive tag key from the calling session.")
    second = chained_sts.assume_role(RoleArn=role_arn, RoleSessionName="two")["Credentials"]
    assert "Roles" in creds_client(server, "iam", second).list_roles()


LAMBDA_TAG_POLICY = doc(
    allow("lambda:InvokeFunction", "*",
          Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}),
    allow(["lambda:TagResource", "lambda:UntagResource"], "*",
          Condition={"StringEquals": {"aws:RequestTag/team": "${aws:PrincipalTag/team}"},
                     "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}),
)


def test_a_functions_tags_decide_who_invokes_it(iam, server, fn):
    name, key, secret = user_with_key(iam)
    iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "blue"}])
    iam.put_user_policy(UserName=name, PolicyName="abac", PolicyDocument=LAMBDA_TAG_POLICY)
    lam = client_as(server, "lambda", key, secret)
    fn_arn = helpers.function_arn(fn)
    assert error_of(lam.invoke, FunctionName=fn)[0] == "AccessDeniedException"
    server.client("lambda").tag_resource(Resource=fn_arn, Tags={"team": "red"})
    assert error_of(lam.invoke, FunctionName=fn)[0] == "AccessDeniedException"
    # aws:RequestTag: the user may only tag with its own team, and only the team key.
    assert error_of(lam.tag_resource, Resource=fn_arn, Tags={"team": "green"})[0] == (
        "AccessDeniedException")
    assert error_of(lam.tag_resource, Resource=fn_arn,
                    Tags={"team": "blue", "owner": "me"})[0] == "AccessDeniedException"
    assert server.client("lambda").list_tags(Resource=fn_arn)["Tags"] == {"team": "red"}
    server.client("lambda").tag_resource(Resource=fn_arn, Tags={"team": "blue"})
    assert lam.invoke(FunctionName=fn)["StatusCode"] == 200
    lam.tag_resource(Resource=fn_arn, Tags={"team": "blue"})


def test_instance_profiles(iam):
    role = helpers.unique_name("ec2")
    other = helpers.unique_name("ec2b")
    trust = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                 "Action": "sts:AssumeRole"})
    for r in (role, other):
        iam.create_role(RoleName=r, AssumeRolePolicyDocument=trust)
    profile = helpers.unique_name("prof")
    created = iam.create_instance_profile(InstanceProfileName=profile, Path="/app/",
                                          Tags=[{"Key": "env", "Value": "dev"}])["InstanceProfile"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/app/{profile}"
    assert created["InstanceProfileId"].startswith("AIPA")
    assert created["Roles"] == []
    assert created["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert error_of(iam.create_instance_profile, InstanceProfileName=profile) == (
        "EntityAlreadyExists", 409, f"Instance Profile {profile} already exists.")
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    assert error_of(iam.add_role_to_instance_profile, InstanceProfileName=profile,
                    RoleName=other) == (
        "LimitExceeded", 409, "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
    got = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == [role]
    assert [p["InstanceProfileName"] for p in
            iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]] == [profile]
    assert iam.list_instance_profiles_for_role(RoleName=other)["InstanceProfiles"] == []
    assert profile in [p["InstanceProfileName"] for p in
                       iam.list_instance_profiles(PathPrefix="/app/")["InstanceProfiles"]]
    in_use = "Cannot delete entity, must remove roles from instance profile first."
    assert error_of(iam.delete_role, RoleName=role) == ("DeleteConflict", 409, in_use)
    assert error_of(iam.delete_instance_profile, InstanceProfileName=profile) == (
        "DeleteConflict", 409, in_use)
    iam.tag_instance_profile(InstanceProfileName=profile, Tags=[{"Key": "team", "Value": "x"}])
    iam.untag_instance_profile(InstanceProfileName=profile, TagKeys=["env"])
    assert iam.list_instance_profile_tags(InstanceProfileName=profile)["Tags"] == [
        {"Key": "team", "Value": "x"}]
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=profile)
    iam.delete_role(RoleName=role)
    assert error_of(iam.get_instance_profile, InstanceProfileName=profile) == (
        "NoSuchEntity", 404, f"Instance Profile {profile} cannot be found.")


def test_iam_tag_keys_are_compared_without_case(iam):
    name = helpers.unique_name("dup")
    assert error_of(iam.create_user, UserName=name,
                    Tags=[{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]) == (
        "InvalidInput", 400,
        "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    assert error_of(iam.get_user, UserName=name)[0] == "NoSuchEntity"
