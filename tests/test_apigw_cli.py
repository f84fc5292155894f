"""The issue's walkthrough with the aws CLI: quick create, curl the endpoint, a route with a
path variable, and an alias pointed elsewhere changing the answer."""

import json
import subprocess

import pytest


import helpers
from apigw_support import call, gateway_zip
from test_cli import find_aws_cli


@pytest.fixture
def aws(server, tmp_path):
    cli = find_aws_cli()
    if cli is None:
        pytest.skip("aws CLI is not installed")
    env = helpers.aws_cli_env(tmp_path)

    def run(*args):
        cmd = [cli, "--endpoint-url", server.url, "--output", "json", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    return run


def test_walkthrough(aws, tmp_path, lambda_client):
    name = helpers.unique_name()
    zip_path = tmp_path / "fn.zip"
    zip_path.write_bytes(gateway_zip())
    fn = aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
             "--handler", "app.handler", "--role", helpers.ROLE,
             "--zip-file", f"fileb://{zip_path}")
    helpers.wait_active(lambda_client, name)
    try:
        api = aws("apigatewayv2", "create-api", "--name", "demo", "--protocol-type", "HTTP",
                  "--target", fn["FunctionArn"])
        api_id = api["ApiId"]
        # Quick create does not grant API Gateway the right to invoke: the user adds it.
        status, _, _ = call(api["ApiEndpoint"], "/anything")
        assert status == 500
        source = f"arn:aws:execute-api:{helpers.REGION}:{helpers.ACCOUNT}:{api_id}/*"
        aws("lambda", "add-permission", "--function-name", name, "--statement-id", "apigw",
            "--action", "lambda:InvokeFunction", "--principal", "apigateway.amazonaws.com",
            "--source-arn", source)
        status, _, body = call(api["ApiEndpoint"], "/anything")
        assert status == 200 and json.loads(body)["rawPath"] == "/anything"

        integ = aws("apigatewayv2", "create-integration", "--api-id", api_id,
                    "--integration-type", "AWS_PROXY", "--integration-uri",
                    f"{fn['FunctionArn']}:live", "--payload-format-version", "2.0")
        aws("apigatewayv2", "create-route", "--api-id", api_id, "--route-key",
            "GET /items/{id}", "--target", f"integrations/{integ['IntegrationId']}")
        aws("lambda", "publish-version", "--function-name", name)
        aws("lambda", "update-function-configuration", "--function-name", name,
            "--environment", "Variables={VER=2}")
        helpers.wait_updated(lambda_client, name)
        aws("lambda", "publish-version", "--function-name", name)
        aws("lambda", "create-alias", "--function-name", name, "--name", "live",
            "--function-version", "1")
        aws("lambda", "add-permission", "--function-name", name, "--qualifier", "live",
            "--statement-id", "apigw", "--action", "lambda:InvokeFunction",
            "--principal", "apigateway.amazonaws.com", "--source-arn", source)

        status, _, body = call(api["ApiEndpoint"], "/items/abc")
        assert status == 200 and json.loads(body)["pathParameters"] == {"id": "abc"}
        status, _, body = call(api["ApiEndpoint"], "/items/abc", query="mode=version")
        assert body == b"1"
        aws("lambda", "update-alias", "--function-name", name, "--name", "live",
            "--function-version", "2")
        status, _, body = call(api["ApiEndpoint"], "/items/abc", query="mode=version")
        assert body == b"2"
        aws("apigatewayv2", "delete-api", "--api-id", api_id)
    finally:
        lambda_client.delete_function(FunctionName=name)
