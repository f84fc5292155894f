"""Smoke tests with the aws CLI, as a user would drive Stratus from a shell."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import aws_cli_env, code_sha256, make_variant_zip, unique_name


def find_aws_cli():
    found = shutil.which("aws")
    if found:
        return found
    beside = Path(sys.executable).parent / "aws"
    return str(beside) if beside.exists() else None


@pytest.fixture
def aws(server, tmp_path):
    """Run `aws --endpoint-url URL lambda ...`; returns parsed JSON (or None for empty output)."""
    cli = find_aws_cli()
    if cli is None:
        pytest.skip("aws CLI is not installed")
    env = aws_cli_env(tmp_path)

    def run(*args, check=True):
        cmd = [cli, "--endpoint-url", server.url, "--output", "json", "lambda", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if check:
            assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}"
            return json.loads(proc.stdout) if proc.stdout.strip() else None
        return proc

    return run


def write_zip(tmp_path, tag):
    data = make_variant_zip(tag)
    path = tmp_path / f"{tag}.zip"
    path.write_bytes(data)
    return path, data


def create(aws, tmp_path, name):
    path, data = write_zip(tmp_path, name)
    out = aws(
        "create-function", "--function-name", name, "--runtime", "python3.12",
        "--role", "arn:aws:iam::000000000000:role/lambda-role", "--handler", "app.handler",
        "--zip-file", f"fileb://{path}",
    )
    return out, data


def test_cli_create_get_list_delete(aws, tmp_path):
    name = unique_name("cli")
    out, data = create(aws, tmp_path, name)
    assert out["FunctionName"] == name
    assert out["CodeSha256"] == code_sha256(data)
    assert out["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"

    aws("wait", "function-active-v2", "--function-name", name)
    got = aws("get-function", "--function-name", name)
    assert got["Configuration"]["State"] == "Active"
    assert got["Code"]["RepositoryType"] == "S3"

    listed = aws("list-functions")
    assert name in {f["FunctionName"] for f in listed["Functions"]}

    deleted = aws("delete-function", "--function-name", name)
    # Newer CLI models surface the HTTP status as StatusCode; older ones print nothing.
    assert deleted is None or deleted.get("StatusCode") in (200, 204)
    proc = aws("get-function", "--function-name", name, check=False)
    assert proc.returncode != 0
    assert "ResourceNotFoundException" in proc.stderr


def test_cli_versions_and_weighted_alias(aws, tmp_path):
    name = unique_name("cli")
    create(aws, tmp_path, name)
    aws("wait", "function-active-v2", "--function-name", name)
    assert aws("publish-version", "--function-name", name)["Version"] == "1"

    path, data = write_zip(tmp_path, f"{name}-v2")
    updated = aws("update-function-code", "--function-name", name, "--zip-file", f"fileb://{path}")
    assert updated["CodeSha256"] == code_sha256(data)
    aws("wait", "function-updated-v2", "--function-name", name)
    assert aws("publish-version", "--function-name", name)["Version"] == "2"

    alias = aws(
        "create-alias", "--function-name", name, "--name", "live", "--function-version", "2",
        # CLI shorthand: map keys are written unquoted (`{"1"=0.4}` is a parse error in the CLI).
        "--routing-config", "AdditionalVersionWeights={1=0.4}",
    )
    assert alias["FunctionVersion"] == "2"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.4}}
    assert alias["AliasArn"].endswith(f":function:{name}:live")

    versions = aws("list-versions-by-function", "--function-name", name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    aws("delete-function", "--function-name", name)


def test_cli_reports_errors_with_exit_code_and_code(aws):
    proc = aws("get-function", "--function-name", unique_name("missing"), check=False)
    assert proc.returncode != 0
    assert "ResourceNotFoundException" in proc.stderr
    assert "Function not found" in proc.stderr
