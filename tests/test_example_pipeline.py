"""The upload pipeline example, deployed and driven with the aws CLI as a user would: uploads
notify a queue, a mapping feeds the queue to a function that records each file in a table,
the table's stream feeds a second function, and a nightly rule is wired to a third. The
server is killed with uploads still queued, and everything acknowledged is processed after
the restart."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import helpers

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pipeline"


def aws(env, endpoint, *args, timeout=120):
    out = subprocess.run(
        [helpers.find_aws_cli(), "--endpoint-url", endpoint, "--output", "json", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert out.returncode == 0, f"aws {' '.join(args)}: {out.stderr}"
    return json.loads(out.stdout) if out.stdout.strip() else None


def deploy(srv, env):
    out = subprocess.run(
        [str(EXAMPLE / "deploy.sh")], env={**env, "STRATUS_ENDPOINT": srv.url},
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def upload(srv, env, tmp_path, key, body):
    path = tmp_path / key.replace("/", "_")
    path.write_bytes(body)
    aws(env, srv.url, "s3", "cp", "--only-show-errors", str(path), f"s3://incoming/{key}")


def items(srv, env, table):
    return aws(env, srv.url, "dynamodb", "scan", "--table-name", table)["Items"]


def wait_for_files(srv, env, expected):
    """Waits until `files` records exactly the expected keys with their sizes, and `audit`
    holds an INSERT for each of them."""
    def done():
        files = {i["key"]["S"]: int(i["size"]["N"]) for i in items(srv, env, "files")}
        audited = {i["key"]["S"] for i in items(srv, env, "audit") if i["event"]["S"] == "INSERT"}
        return files == expected and audited == set(expected)
    helpers.wait_until(done, timeout=90, interval=0.5, message=f"files and audit hold {sorted(expected)}")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if helpers.find_aws_cli() is None:
        pytest.skip("the aws CLI is not installed")
    env = helpers.aws_cli_env(tmp_path_factory.mktemp("aws"))
    env["PATH"] = os.path.dirname(helpers.find_aws_cli()) + os.pathsep + env.get("PATH", "")
    return env


def test_pipeline_runs_end_to_end_and_survives_a_kill(module_server_factory, env, tmp_path):
    srv = module_server_factory()
    deploy(srv, env)

    expected = {}
    for n in range(3):
        key = f"reports/first-{n}.csv"
        upload(srv, env, tmp_path, key, b"x" * (100 + n))
        expected[key] = 100 + n
    wait_for_files(srv, env, expected)

    audit = items(srv, env, "audit")
    sequence_numbers = [i["sequence"]["S"] for i in audit]
    assert len(set(sequence_numbers)) == len(sequence_numbers), "each change audited once"

    # Uploads acknowledged, then the server dies before (all of) their messages are handled.
    for n in range(4):
        key = f"reports/second-{n}.csv"
        upload(srv, env, tmp_path, key, b"y" * (200 + n))
        expected[key] = 200 + n
    srv.kill()
    srv = module_server_factory(data_dir=srv.data_dir)
    wait_for_files(srv, env, expected)

    # What was wired survived the restart, and nothing went to the dead-letter queue.
    mappings = aws(env, srv.url, "lambda", "list-event-source-mappings")["EventSourceMappings"]
    assert sorted(m["FunctionArn"].rsplit(":", 1)[1] for m in mappings) == ["audit", "ingest"]
    assert {m["State"] for m in mappings} == {"Enabled"}
    rule = aws(env, srv.url, "events", "describe-rule", "--name", "nightly")
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)" and rule["State"] == "ENABLED"
    targets = aws(env, srv.url, "events", "list-targets-by-rule", "--rule", "nightly")["Targets"]
    assert [t["Arn"].rsplit(":", 1)[1] for t in targets] == ["nightly"]
    dlq = aws(env, srv.url, "sqs", "get-queue-url", "--queue-name", "uploads-dlq")["QueueUrl"]
    counts = aws(env, srv.url, "sqs", "get-queue-attributes", "--queue-url", dlq,
                 "--attribute-names", "ApproximateNumberOfMessages")["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"

    # Deploying again changes nothing that works.
    deploy(srv, env)
    upload(srv, env, tmp_path, "reports/third.csv", b"z" * 300)
    expected["reports/third.csv"] = 300
    wait_for_files(srv, env, expected)
