"""On PostgreSQL, the S3 and SNS stores answer a lost database with their services' retryable
server errors (S3 503 `ServiceUnavailable`, SNS 500 `InternalError`), never a 4xx and never a
crash, change nothing, and work again once the database is back. The server reaches
PostgreSQL through a TCP relay the test can cut. Runs only with STRATUS_TEST_DATABASE set."""

import pytest
from botocore.exceptions import ClientError

from helpers import make_client, make_s3_client, s3_error, unique_bucket, unique_name
from storage_support import error_of, eventually, on_postgres, relayed_server  # noqa: F401

pytestmark = on_postgres


def test_a_lost_database_is_a_retryable_server_error_and_recovers(relayed_server):
    srv, relay = relayed_server
    s3, sns = make_s3_client(srv.url), make_client(srv.url, "sns")
    bucket = unique_bucket("outage")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="kept", Body=b"before")
    topic = sns.create_topic(Name=unique_name("outage"))["TopicArn"]

    relay.cut()
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="during", Body=b"x")) == (
        "ServiceUnavailable", 503)
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="kept")) == ("ServiceUnavailable", 503)
    assert error_of(lambda: s3.list_objects_v2(Bucket=bucket)) == ("ServiceUnavailable", 503)
    assert error_of(lambda: s3.create_bucket(Bucket=unique_bucket("outage"))) == (
        "ServiceUnavailable", 503)
    assert error_of(lambda: sns.create_topic(Name=unique_name("outage"))) == ("InternalError", 500)
    assert error_of(lambda: sns.get_topic_attributes(TopicArn=topic)) == ("InternalError", 500)
    assert srv.proc.poll() is None, "the server keeps running"

    relay.restore()
    listed = eventually(lambda: s3.list_objects_v2(Bucket=bucket))
    assert [o["Key"] for o in listed["Contents"]] == ["kept"], "the refused write changed nothing"
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"before"
    s3.put_object(Bucket=bucket, Key="after", Body=b"y")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"y"
    attrs = eventually(lambda: sns.get_topic_attributes(TopicArn=topic))["Attributes"]
    assert attrs["TopicArn"] == topic
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [topic]
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="during")
    assert s3_error(e.value)[1] == 404
