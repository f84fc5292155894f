"""Shared pieces of the IAM, STS and enforcement tests: trust documents, a user with its
own key, and clients signed with other credentials."""

import json

import helpers

ACCOUNT = helpers.ACCOUNT


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def trust(principal):
    return doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})


TRUST_LAMBDA = trust({"Service": "lambda.amazonaws.com"})
TRUST_ACCOUNT = trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})


def user_with_key(iam, name=None):
    """Creates a user and an access key; returns (name, key id, secret)."""
    name = name or helpers.unique_name("user")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key["AccessKeyId"], key["SecretAccessKey"]


def client_as(server, service, key_id, secret, token=None):
    return helpers.make_client(server.url, service, access_key=key_id, secret_key=secret,
                               session_token=token)


def creds_client(server, service, creds):
    """A client signed with STS credentials (a `Credentials` member)."""
    return client_as(server, service, creds["AccessKeyId"], creds["SecretAccessKey"],
                     creds["SessionToken"])


def expire_session(server, access_key):
    """Moves a session's expiry into the past, as time would (the store is the server's).
    The server keeps resolved keys in memory (with their expiry, which time passing would
    reach there too) and forgets them on any IAM write, so one follows: a user made and
    deleted, which changes nothing else."""
    helpers.store_query(server, "iam", "UPDATE sessions SET expires = 0 WHERE access_key = ?",
                        (access_key,))
    iam = server.client("iam")
    name = helpers.unique_name("clock")
    iam.create_user(UserName=name)
    iam.delete_user(UserName=name)
