"""TLS to PostgreSQL: a server of its own on loopback with TLS on and a CA and certificate
made for the test (`PGSSL=1 scripts/postgres-dev start`). Stratus connects encrypted when the
URL's `sslmode` says so, checks the certificate as `verify-ca` / `verify-full` ask, and a CA
that did not sign the server's certificate stops start-up with a message saying so."""

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT, free_port, stratus_binary
from helpers import create_function, make_client, make_zip, unique_name, wait_active

SCRIPT = REPO_ROOT / "scripts" / "postgres-dev"


def postgres_installed():
    return shutil.which("pg_ctl") is not None or any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None or not postgres_installed(),
    reason="needs the openssl CLI and the PostgreSQL server binaries",
)


@pytest.fixture(scope="module")
def tls_postgres():
    """(verify-full URL, its directory, port): a fresh TLS-only-capable server. Its directory
    is under the system temporary directory, which the `postgres` user can reach."""
    root = Path(tempfile.gettempdir()) / f"stratus-pg-tls-{os.getpid()}-{secrets.token_hex(4)}"
    env = {**os.environ, "PGPORT": str(free_port()), "PGSSL": "1"}
    out = subprocess.run(["bash", str(SCRIPT), "start", str(root)], env=env, check=True,
                         capture_output=True, text=True, timeout=120)
    yield out.stdout.strip(), root, env["PGPORT"]
    subprocess.run(["bash", str(SCRIPT), "stop", str(root)], env=env, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


def connections_by_tls(port):
    """How many sessions of the `stratus` database are encrypted and how many are not (this
    query's own session excluded)."""
    sql = ("SELECT COALESCE(SUM(CASE WHEN s.ssl THEN 1 ELSE 0 END), 0), "
           "COALESCE(SUM(CASE WHEN s.ssl THEN 0 ELSE 1 END), 0) FROM pg_stat_ssl s "
           "JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'stratus' "
           "AND a.pid <> pg_backend_pid()")
    out = subprocess.run(["psql", f"postgres://postgres@127.0.0.1:{port}/postgres", "-qtAc", sql],
                         check=True, capture_output=True, text=True)
    encrypted, plain = out.stdout.strip().split("|")
    return int(encrypted), int(plain)


def start_and_fail(url, tmp_path):
    """Runs `stratus serve` on `url`, expecting it to refuse to start; its output."""
    out = subprocess.run(
        [str(stratus_binary()), "serve", "--listen", "127.0.0.1:0",
         "--data-dir", str(tmp_path / "refused")],
        env={**os.environ, "STRATUS_DATABASE": url}, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def migrate_to(url, tmp_path):
    """Copies an empty SQLite data directory to `url`: connects every store, then exits."""
    (tmp_path / "empty" / "objects").mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(stratus_binary()), "migrate", "--from", f"sqlite:{tmp_path / 'empty'}", "--to", url],
        capture_output=True, text=True, timeout=120)


def test_a_verified_connection_serves_and_is_encrypted(server_factory, tls_postgres):
    url, _, port = tls_postgres
    srv = server_factory(env={"STRATUS_DATABASE": url})
    lam = make_client(srv.url)
    name = unique_name("tls")
    create_function(lam, name, make_zip())
    wait_active(lam, name)
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    encrypted, plain = connections_by_tls(port)
    assert encrypted > 0 and plain == 0, (encrypted, plain)
    assert "sslrootcert" not in srv.health()[1]["store"]["database_location"]


def test_a_wrong_ca_stops_start_up_with_a_clear_message(tls_postgres, tmp_path):
    url, _, _ = tls_postgres
    other = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=not-the-ca", "-keyout", str(tmp_path / "other.key"),
                    "-out", str(other)], check=True, capture_output=True)
    wrong = url.split("&sslrootcert=")[0] + f"&sslrootcert={other}"
    log = start_and_fail(wrong, tmp_path)
    assert "invalid peer certificate" in log and "UnknownIssuer" in log, log
    missing = url.split("&sslrootcert=")[0] + f"&sslrootcert={tmp_path / 'nope.pem'}"
    log = start_and_fail(missing, tmp_path)
    assert f"reading sslrootcert {tmp_path / 'nope.pem'}" in log, log


def test_verify_full_checks_the_host_name_and_verify_ca_does_not(tls_postgres, tmp_path):
    url, root, port = tls_postgres
    # The certificate names 127.0.0.1, not localhost.
    by_name = url.replace("127.0.0.1", "localhost")
    refused = migrate_to(by_name, tmp_path)
    assert refused.returncode != 0 and 'not valid for name "localhost"' in refused.stderr, \
        refused.stderr
    assert migrate_to(by_name.replace("verify-full", "verify-ca"), tmp_path).returncode == 0
    # `require` encrypts without checking (no CA needed); `disable` stays in the clear.
    plain = f"postgres://postgres@127.0.0.1:{port}/stratus"
    assert migrate_to(plain + "?sslmode=require", tmp_path).returncode == 0
    assert migrate_to(plain + "?sslmode=disable", tmp_path).returncode == 0
