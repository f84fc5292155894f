"""On PostgreSQL, the S3 and SNS stores answer a lost database with their services' retryable
server errors (S3 503 `ServiceUnavailable`, SNS 500 `InternalError`), never a 4xx and never a
crash, change nothing, and work again once the database is back. The server reaches
PostgreSQL through a TCP relay the test can cut. Runs only with STRATUS_TEST_DATABASE set."""

import os
import socket
import threading
import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import database_for
from helpers import make_client, make_s3_client, s3_error, unique_bucket, unique_name

pytestmark = pytest.mark.skipif(
    not os.environ.get("STRATUS_TEST_DATABASE"), reason="needs STRATUS_TEST_DATABASE (PostgreSQL)"
)

RECOVERY_DEADLINE_S = 30


class Relay:
    """Forwards TCP connections from a local port to `target`; `cut()` drops every open
    connection and refuses new ones until `restore()`."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.up.clear()
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def restore(self):
        self.up.set()

    def close(self):
        self.cut()
        self.listener.close()


@pytest.fixture
def relayed_server(server_factory, tmp_path):
    """A server whose stores reach their PostgreSQL database through a relay."""
    data_dir = tmp_path / "relayed"
    url = urllib.parse.urlsplit(database_for(data_dir))
    relay = Relay((url.hostname, url.port or 5432))
    netloc = f"{url.username}@127.0.0.1:{relay.port}" if url.username else f"127.0.0.1:{relay.port}"
    database = urllib.parse.urlunsplit(url._replace(netloc=netloc))
    srv = server_factory(data_dir=data_dir, env={"STRATUS_DATABASE": database})
    yield srv, relay
    relay.close()


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def eventually(call):
    """The result of `call` once it stops failing (the pool's broken connections are
    replaced as they are found)."""
    deadline = time.monotonic() + RECOVERY_DEADLINE_S
    while True:
        try:
            return call()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


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
