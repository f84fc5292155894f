"""The real aws-sam-cli and aws CLI against Stratus, as a user runs them: `sam build` and
`sam deploy --resolve-s3` (which first creates SAM's managed stack and its bucket), the deployed
app used, its code changed and deployed again, `sam delete`; for the hello-world HTTP API app
and the thumbnail pipeline in examples/, and `aws cloudformation package` + `deploy`.

`sam` comes from its own virtualenv (`make sam-venv`, found through STRATUS_TEST_SAM) or PATH.
Without it the tests skip, unless STRATUS_REQUIRE_SAM is set (CI), when they fail."""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import helpers
from apigw_support import call
from test_example_thumbnails import jpeg_size

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REPO_ROOT = EXAMPLES.parent
MANAGED_STACK = "aws-sam-cli-managed-default"


def find_sam():
    """The `sam` to run: $STRATUS_TEST_SAM, else `make sam-venv`'s, else the one on PATH."""
    for candidate in (os.environ.get("STRATUS_TEST_SAM"), str(REPO_ROOT / ".venv-sam/bin/sam"),
                      shutil.which("sam")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def sam_exe():
    found = find_sam()
    if found is None:
        if os.environ.get("STRATUS_REQUIRE_SAM"):
            pytest.fail("STRATUS_REQUIRE_SAM is set but aws-sam-cli is not installed "
                        "(`make sam-venv`, or set STRATUS_TEST_SAM)")
        pytest.skip("aws-sam-cli is not installed (`make sam-venv` installs it)")
    if helpers.find_aws_cli() is None:
        pytest.fail("the aws CLI is not installed (tests/requirements.txt)")
    return found


def build_python(sam):
    """The python `sam build` packages with: the one beside `sam` (its virtualenv's, which has
    pip), so the functions' runtime is that python's version, whatever python3.x the host
    lacks."""
    python = Path(sam).parent / "python3"
    if not python.exists():
        python = Path(shutil.which("python3"))
    out = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[1])"],
                         capture_output=True, text=True, check=True)
    return python, f"python3.{out.stdout.strip()}"


@pytest.fixture(scope="module")
def sam_env(sam_exe, module_server_factory, tmp_path_factory):
    """The server, and the environment sam and the aws CLI run in: the endpoint through
    AWS_ENDPOINT_URL (sam has no flag for it), test credentials, no telemetry, and a SAM
    config dir whose last version check is now, so sam asks no registry for its news."""
    srv = module_server_factory()
    home = tmp_path_factory.mktemp("sam-home")
    (home / "metadata.json").write_text(json.dumps(
        {"telemetryEnabled": False, "lastVersionCheck": time.time()}))
    python, runtime = build_python(sam_exe)
    env = helpers.aws_cli_env(home)
    env.update(
        AWS_ENDPOINT_URL=srv.url,
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
        __SAM_CLI_APP_DIR=str(home),
        # sam build looks the runtime's python3.x up on PATH; the aws CLI comes next.
        PATH=os.pathsep.join([str(python.parent), os.path.dirname(helpers.find_aws_cli()),
                              os.path.dirname(sys.executable), env.get("PATH", "")]),
    )
    return srv, env, runtime


def run(cmd, env, cwd, timeout=300):
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out


def sam(sam_env, cwd, *args):
    return run([find_sam(), *args], sam_env[1], cwd)


def aws(sam_env, cwd, *args):
    return run([helpers.find_aws_cli(), *args], sam_env[1], cwd)


def app_copy(example, tmp_path, runtime):
    """The example copied to a scratch directory (sam build writes into it), its functions on
    the runtime `sam build` can package for here."""
    app = tmp_path / example
    shutil.copytree(EXAMPLES / example, app, ignore=shutil.ignore_patterns("build", ".aws-sam"))
    template = app / "template.yaml"
    template.write_text(template.read_text().replace("python3.12", runtime))
    return app


def outputs(cfn, stack):
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def stack_gone(cfn, stack):
    try:
        cfn.describe_stacks(StackName=stack)
    except cfn.exceptions.ClientError as e:
        return "does not exist" in str(e)
    return False


def test_hello_sam_build_deploy_update_delete(sam_env, tmp_path):
    srv, _, runtime = sam_env
    app = app_copy("hello-sam", tmp_path, runtime)
    stack = f"hello-{uuid.uuid4().hex[:8]}"
    sam(sam_env, app, "build")
    deployed = sam(sam_env, app, "deploy", "--stack-name", stack)
    assert "Successfully created/updated stack" in deployed.stdout, deployed.stdout

    # --resolve-s3 made SAM's managed stack, whose bucket now holds the function's code.
    cfn, s3 = srv.client("cloudformation"), helpers.make_s3_client(srv.url)
    managed = cfn.describe_stacks(StackName=MANAGED_STACK)["Stacks"][0]
    assert managed["StackStatus"] == "CREATE_COMPLETE"
    bucket = outputs(cfn, MANAGED_STACK)["SourceBucket"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] >= 1

    out = outputs(cfn, stack)
    url = out["HelloApi"]
    status, _, body = call(url, "", query={"name": "sam"})
    assert status == 200, body
    assert json.loads(body) == {"message": "hello, sam", "version": 1}
    (tmp_path / "event.json").write_text("{}")
    invoked = aws(sam_env, app, "lambda", "invoke", "--function-name", out["HelloFunctionName"],
                  "--payload", f"fileb://{tmp_path / 'event.json'}", str(tmp_path / "invoked.json"))
    assert json.loads(invoked.stdout)["StatusCode"] == 200
    assert json.loads(json.loads((tmp_path / "invoked.json").read_text())["body"]) == {
        "message": "hello, world", "version": 1}

    # A code change: build and deploy again update the function in place, behind the same URL.
    code = app / "hello" / "app.py"
    code.write_text(code.read_text().replace("VERSION = 1", "VERSION = 2"))
    sam(sam_env, app, "build")
    again = sam(sam_env, app, "deploy", "--stack-name", stack)
    assert "Successfully created/updated stack" in again.stdout, again.stdout
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs(cfn, stack)["HelloApi"] == url
    status, _, body = call(url, "")
    assert status == 200 and json.loads(body)["version"] == 2, body

    # No change: sam says so and leaves the stack as it is.
    same = sam(sam_env, app, "deploy", "--stack-name", stack)
    assert "No changes to deploy" in same.stdout + same.stderr

    sam(sam_env, app, "delete", "--stack-name", stack, "--no-prompts")
    assert stack_gone(cfn, stack)
    functions = srv.client("lambda").list_functions()["Functions"]
    assert not [f for f in functions if f["FunctionName"] == out["HelloFunctionName"]]
    status, _, _ = call(url, "")
    assert status == 404
    # The managed stack stays, for the next deploy, as on AWS.
    assert cfn.describe_stacks(StackName=MANAGED_STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def upload_and_wait(srv, env, tmp_path, out, key, queue_url):
    """Uploads the sample picture as `key` with the aws CLI; waits for the thumbnail and the
    profile row; returns the thumbnail's size, the images row and the topic's message."""
    run([helpers.find_aws_cli(), "s3", "cp", str(EXAMPLES / "thumbnails" / "sample.jpg"),
         f"s3://{out['UploadsBucket']}/{key}"], env, tmp_path)
    s3, ddb, sqs = helpers.make_s3_client(srv.url), srv.client("dynamodb"), srv.client("sqs")
    thumb_key = key.rsplit(".", 1)[0] + ".jpg"
    image = f"{out['UploadsBucket']}/{key}"

    def row():
        return ddb.get_item(TableName=out["ImagesTable"], Key={"image": {"S": image}}).get("Item")

    helpers.wait_until(lambda: row() is not None, timeout=60, message="images row written")
    thumb = s3.get_object(Bucket=out["ThumbnailsBucket"], Key=thumb_key)["Body"].read()
    messages = []
    deadline = time.monotonic() + 30
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
    assert messages, "no message on the topic"
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    return jpeg_size(thumb), row(), json.loads(json.loads(messages[0]["Body"])["Message"])


def test_thumbnails_sam_pipeline(sam_env, tmp_path):
    srv, env, runtime = sam_env
    app = app_copy("thumbnails", tmp_path, runtime)
    stack = f"thumbs-{uuid.uuid4().hex[:8]}"
    # Pillow is a binary package: sam build fetches its wheel for the runtime's python.
    sam(sam_env, app, "build")
    sam(sam_env, app, "deploy", "--stack-name", stack)
    cfn = srv.client("cloudformation")
    out = outputs(cfn, stack)
    assert out["UploadsBucket"] == f"{stack}-uploads"

    # The topic tells a subscribed queue about each thumbnail.
    sqs, sns = srv.client("sqs"), srv.client("sns")
    queue_url = sqs.create_queue(QueueName=f"{stack}-watch")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=out["UploadedTopic"], Protocol="sqs", Endpoint=queue_arn)

    size, row, message = upload_and_wait(srv, env, tmp_path, out, "users/alice/cat.jpg", queue_url)
    assert size == (128, 96)  # 800x600 shrunk to fit 128x128
    assert row["user"] == {"S": "alice"} and row["format"] == {"S": "JPEG"}
    assert row["thumbnail"] == {"S": f"{out['ThumbnailsBucket']}/users/alice/cat.jpg"}
    assert message == {"image": f"{out['UploadsBucket']}/users/alice/cat.jpg", "user": "alice",
                       "thumbnail": f"{out['ThumbnailsBucket']}/users/alice/cat.jpg"}
    ddb = srv.client("dynamodb")
    helpers.wait_until(
        lambda: "Item" in ddb.get_item(TableName=out["ProfilesTable"], Key={"user": {"S": "alice"}}),
        timeout=60, message="profile row written")

    # A code change (smaller thumbnails), built and deployed again: the next upload uses it.
    code = app / "thumbnail" / "app.py"
    code.write_text(code.read_text().replace('"THUMBNAIL_SIZE", "128"', '"THUMBNAIL_SIZE", "64"'))
    sam(sam_env, app, "build")
    sam(sam_env, app, "deploy", "--stack-name", stack)
    assert outputs(cfn, stack) == out
    size, _, _ = upload_and_wait(srv, env, tmp_path, out, "users/bob/dog.jpg", queue_url)
    assert size == (64, 48)

    # As on AWS, CloudFormation deletes only empty buckets: empty them, then delete the app.
    for bucket in (out["UploadsBucket"], out["ThumbnailsBucket"]):
        run([helpers.find_aws_cli(), "s3", "rm", f"s3://{bucket}", "--recursive"], env, tmp_path)
    sam(sam_env, app, "delete", "--stack-name", stack, "--no-prompts")
    assert stack_gone(cfn, stack)
    buckets = {b["Name"] for b in helpers.make_s3_client(srv.url).list_buckets()["Buckets"]}
    assert not buckets & {out["UploadsBucket"], out["ThumbnailsBucket"]}
    tables = ddb.list_tables()["TableNames"]
    assert out["ImagesTable"] not in tables and out["ProfilesTable"] not in tables
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert out["UploadedTopic"] not in topics


def test_aws_cloudformation_package_and_deploy_a_sam_app(sam_env, tmp_path):
    """The hello-world SAM app without sam: `aws cloudformation package` uploads its code
    directory and rewrites CodeUri, `deploy` runs the SAM transform through a change set."""
    srv, _, runtime = sam_env
    app = app_copy("hello-sam", tmp_path, runtime)
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    aws(sam_env, app, "s3", "mb", f"s3://{bucket}")
    aws(sam_env, app, "cloudformation", "package", "--template-file", "template.yaml",
        "--s3-bucket", bucket, "--output-template-file", "packaged.yaml")
    assert f"s3://{bucket}/" in (app / "packaged.yaml").read_text()
    stack = f"pkg-{uuid.uuid4().hex[:8]}"
    deployed = aws(sam_env, app, "cloudformation", "deploy", "--template-file", "packaged.yaml",
                   "--stack-name", stack, "--capabilities", "CAPABILITY_IAM",
                   "CAPABILITY_AUTO_EXPAND")
    assert f"Successfully created/updated stack - {stack}" in deployed.stdout
    cfn = srv.client("cloudformation")
    url = outputs(cfn, stack)["HelloApi"]
    status, _, body = call(url, "")
    assert status == 200 and json.loads(body)["message"] == "hello, world", body
    aws(sam_env, app, "cloudformation", "delete-stack", "--stack-name", stack)
    aws(sam_env, app, "cloudformation", "wait", "stack-delete-complete", "--stack-name", stack)
    assert stack_gone(cfn, stack)
