"""Pieces of the storage tests that run only with the suite on PostgreSQL
(STRATUS_TEST_DATABASE): a TCP relay the test can cut between a server and its database,
and helpers to wait for recovery."""

import os
import socket
import threading
import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import database_for

on_postgres = pytest.mark.skipif(
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
