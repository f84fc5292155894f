"""STS through boto3 and the aws CLI: who is calling, roles assumed under their trust
policies, session tokens accepted (header and presigned forms) until they expire."""

import datetime
import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

import helpers
from iam_support import (ACCOUNT, TRUST_ACCOUNT, TRUST_LAMBDA, creds_client, expire_session,
                         user_with_key, client_as)
from test_iam import aws_cli


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")


@pytest.fixture(scope="module")
def sts(server):
    return server.client("sts")


@pytest.fixture(scope="module")
def account_role(iam):
    """A role the account's principals may assume, with a two-hour session limit."""
    name = helpers.unique_name("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_ACCOUNT,
                    MaxSessionDuration=7200)
    return f"arn:aws:iam::{ACCOUNT}:role/{name}", name


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_caller_identity_of_root_and_of_a_user(sts, iam, server):
    me = sts.get_caller_identity()
    assert (me["Account"], me["Arn"], me["UserId"]) == (
        ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT)
    name, key_id, secret = user_with_key(iam)
    user = client_as(server, "sts", key_id, secret).get_caller_identity()
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert user["UserId"] == iam.get_user(UserName=name)["User"]["UserId"]


def test_the_aws_cli_gets_the_caller_identity(server):
    out = aws_cli(server, "sts", "get-caller-identity")
    assert out == {"UserId": ACCOUNT, "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:root"}


def test_assume_role_returns_working_session_credentials(sts, server, account_role):
    arn, name = account_role
    before = datetime.datetime.now(datetime.timezone.utc)
    resp = sts.assume_role(RoleArn=arn, RoleSessionName="build-42", DurationSeconds=1800)
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    lifetime = (creds["Expiration"] - before).total_seconds()
    assert 1790 <= lifetime <= 1810
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/build-42"
    assert resp["AssumedRoleUser"]["Arn"] == session_arn
    assert resp["AssumedRoleUser"]["AssumedRoleId"].endswith(":build-42")
    me = creds_client(server, "sts", creds).get_caller_identity()
    assert me["Arn"] == session_arn


def test_assume_role_bounds_and_trust(sts, iam, server, account_role):
    arn, _ = account_role
    unvalidated = server.client("sts", parameter_validation=False)
    err, status = error_of(unvalidated.assume_role, RoleArn=arn, RoleSessionName="s",
                           DurationSeconds=900)
    assert (err["Code"], status) == ("ValidationError", 400)
    err, _ = error_of(unvalidated.assume_role, RoleArn=arn, RoleSessionName="ok",
                      DurationSeconds=899)
    assert err["Code"] == "ValidationError"
    assert "greater than or equal to 900" in err["Message"]
    err, _ = error_of(sts.assume_role, RoleArn=arn, RoleSessionName="ok", DurationSeconds=7201)
    assert err["Message"] == (
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    lambda_only = helpers.unique_name("role")
    iam.create_role(RoleName=lambda_only, AssumeRolePolicyDocument=TRUST_LAMBDA)
    for target in [f"arn:aws:iam::{ACCOUNT}:role/{lambda_only}",
                   f"arn:aws:iam::{ACCOUNT}:role/no-such-role",
                   "arn:aws:iam::123456789012:role/elsewhere"]:
        err, status = error_of(sts.assume_role, RoleArn=target, RoleSessionName="s1")
        assert (err["Code"], status) == ("AccessDenied", 403)
        assert err["Message"] == (f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to "
                                  f"perform: sts:AssumeRole on resource: {target}")


def test_session_tokens_must_match_and_expire(sts, server, account_role):
    arn, _ = account_role
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"]
    forged = dict(creds, SessionToken=creds["SessionToken"][:-4] + "AAAA")
    err, status = error_of(creds_client(server, "sts", forged).get_caller_identity)
    assert (err["Code"], status) == ("InvalidClientTokenId", 403)
    no_token = client_as(server, "lambda", creds["AccessKeyId"], creds["SecretAccessKey"])
    err, _ = error_of(no_token.list_functions)
    assert err["Code"] == "UnrecognizedClientException"
    expire_session(server, creds["AccessKeyId"])
    err, status = error_of(creds_client(server, "sts", creds).get_caller_identity)
    assert (err["Code"], status) == ("ExpiredToken", 403)
    assert err["Message"] == "The security token included in the request is expired"
    err, _ = error_of(creds_client(server, "lambda", creds).list_functions)
    assert err["Code"] == "ExpiredTokenException"


def test_session_tokens_in_presigned_urls(sts, server, iam):
    # The account's root may use S3 with session credentials from GetSessionToken.
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    s3_root = server.client("s3")
    bucket = helpers.unique_name("bkt")
    s3_root.create_bucket(Bucket=bucket)
    s3_root.put_object(Bucket=bucket, Key="k", Body=b"hello")
    s3 = helpers.make_client(server.url, "s3", access_key=creds["AccessKeyId"],
                             secret_key=creds["SecretAccessKey"],
                             session_token=creds["SessionToken"], signature_version="s3v4")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"hello"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=60)
    assert "X-Amz-Security-Token" in url
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == b"hello"
    # The same in the presigned form of the other services (verified by Stratus itself).
    lam = creds_client(server, "lambda", creds)
    listing = lam.generate_presigned_url("list_functions", ExpiresIn=60)
    assert "X-Amz-Security-Token" in listing
    with urllib.request.urlopen(listing) as resp:
        assert "Functions" in json.loads(resp.read())
    expire_session(server, creds["AccessKeyId"])
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 400 and b"<Code>ExpiredToken</Code>" in e.value.read()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(listing)
    assert e.value.code == 403
    assert e.value.headers["x-amzn-ErrorType"].startswith("ExpiredTokenException")


def test_get_session_token_is_refused_to_sessions(sts, server, account_role):
    arn, _ = account_role
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"]
    err, status = error_of(creds_client(server, "sts", creds).get_session_token)
    assert (err["Code"], status) == ("AccessDenied", 403)
    assert err["Message"] == "Cannot call GetSessionToken with session credentials"
