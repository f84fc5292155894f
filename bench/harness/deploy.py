"""Setting up functions on a Stratus server with boto3 (set-up only: nothing here is timed)."""

import io
import stat
import time
import zipfile

import boto3
from botocore.config import Config

ACCOUNT = "000000000000"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bench-role"
PY_HANDLER_SOURCE = "def handler(event, context):\n    return event\n"
NODE_HANDLER_SOURCE = "exports.handler = async (event) => event;\n"
_ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def client(url, service="lambda"):
    """A boto3 client for one of the server's services (S3 path-style, SigV4)."""
    extra = {"s3": {"addressing_style": "path"}, "signature_version": "s3v4"} \
        if service == "s3" else {}
    return boto3.client(
        service, endpoint_url=url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=120,
                      **extra),
    )


def make_zip(files):
    """`files`: archive name -> (bytes, executable?)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (content, executable) in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if executable else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            zf.writestr(info, content)
    return buf.getvalue()


class Packages:
    """The no-op packages: the `lambda_runtime` bootstrap, a python and a node handler."""

    def __init__(self, noop_fn_path):
        with open(noop_fn_path, "rb") as f:
            self.rust = make_zip({"bootstrap": (f.read(), True)})
        self.python = make_zip({"app.py": (PY_HANDLER_SOURCE.encode(), False)})
        self.node = make_zip({"index.js": (NODE_HANDLER_SOURCE.encode(), False)})

    def spec(self, kind):
        if kind == "rust":
            return {"Runtime": "provided.al2023", "Handler": "bootstrap", "ZipFile": self.rust}
        if kind == "python":
            return {"Runtime": "python3.12", "Handler": "app.handler", "ZipFile": self.python}
        if kind == "node":
            return {"Runtime": "nodejs20.x", "Handler": "index.handler", "ZipFile": self.node}
        raise ValueError(kind)


def wait_ready(lam, name, qualifier=None, deadline_s=60):
    kw = {"FunctionName": name}
    if qualifier:
        kw["Qualifier"] = qualifier
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        c = lam.get_function_configuration(**kw)
        if c.get("State", "Active") == "Active" and c.get("LastUpdateStatus", "Successful") in (
            "Successful", None,
        ):
            return c
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not become Active")


TRUST_LAMBDA = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                '"Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}')


def ensure_role(lam):
    """The functions' execution role, created once per server, as a user of AWS would. A
    server without the IAM API (older builds) records any role ARN, so its absence is fine."""
    iam = boto3.client(
        "iam", endpoint_url=lam.meta.endpoint_url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}))
    try:
        iam.create_role(RoleName="bench-role", AssumeRolePolicyDocument=TRUST_LAMBDA)
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    except Exception:  # noqa: BLE001 - a server that does not answer IAM
        pass


def create(lam, name, packages, kind, env=None, timeout=30, memory=128):
    spec = packages.spec(kind)
    ensure_role(lam)
    lam.create_function(
        FunctionName=name, Role=ROLE, Runtime=spec["Runtime"], Handler=spec["Handler"],
        Code={"ZipFile": spec["ZipFile"]}, Timeout=timeout, MemorySize=memory,
        Environment={"Variables": env or {}},
    )
    return wait_ready(lam, name)


def publish_versions(lam, name, n, tag):
    """Publishes `n` new versions, each after a configuration change. The change is an
    environment variable: Stratus (like AWS) returns the last version again when only the
    Description changed."""
    versions = []
    for i in range(n):
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"BENCH_REVISION": f"{tag}-{i}"}})
        wait_ready(lam, name)
        versions.append(lam.publish_version(FunctionName=name)["Version"])
    if len(set(versions)) != n:
        raise RuntimeError(f"PublishVersion did not give {n} distinct versions: {versions}")
    return versions
