"""Integrations pointing at aliases (repointing and weighted splits change what answers,
without touching the API), and functions calling functions through the SDK."""

import json
from concurrent.futures import ThreadPoolExecutor

import helpers
from apigw_support import (  # noqa: F401  (fixtures)
    add_route,
    apigw,
    call,
    gw_function,
    lambda_integration,
    new_api,
)
from helpers import function_arn


def publish(lambda_client, name, tag):
    """Change $LATEST (an environment variable) and publish it; returns the version."""
    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"TAG": tag}})
    helpers.wait_updated(lambda_client, name)
    return lambda_client.publish_version(FunctionName=name)["Version"]


def version_answering(endpoint):
    status, _, body = call(endpoint, "/imageupload", query="mode=version")
    assert status == 200, body
    return body.decode()


def test_alias_repointing_and_weighted_split(lambda_client, apigw, new_api, gw_function):
    v1 = publish(lambda_client, gw_function, "one")
    v2 = publish(lambda_client, gw_function, "two")
    lambda_client.create_alias(FunctionName=gw_function, Name="prod", FunctionVersion=v1)
    api = new_api()
    # The alias has its own policy: the function's permission does not cover it.
    helpers.allow_api(lambda_client, gw_function, api["ApiId"], qualifier="prod")
    iid = lambda_integration(apigw, api["ApiId"], function_arn(gw_function, "prod"))[
        "IntegrationId"]
    add_route(apigw, api["ApiId"], "GET /imageupload", iid)
    apigw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    endpoint = api["ApiEndpoint"]

    assert version_answering(endpoint) == v1
    lambda_client.update_alias(FunctionName=gw_function, Name="prod", FunctionVersion=v2)
    assert version_answering(endpoint) == v2

    lambda_client.update_alias(FunctionName=gw_function, Name="prod", FunctionVersion=v1,
                               RoutingConfig={"AdditionalVersionWeights": {v2: 0.4}})
    n = 100
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: version_answering(endpoint), range(n)))
    share = answers.count(v2) / n
    assert set(answers) <= {v1, v2}
    # 40% expected; a loose band keeps the test from flaking (p < 1e-4 outside it).
    assert 0.2 <= share <= 0.6, answers


CALLER = r'''
import json, boto3

def handler(event, context):
    client = boto3.client("lambda")
    sync = client.invoke(FunctionName=event["target"], Payload=json.dumps({"from": "caller"}))
    queued = client.invoke(FunctionName=event["target"], InvocationType="Event",
                           Payload=json.dumps({"queued": True}))
    return {"sync": json.loads(sync["Payload"].read()),
            "syncStatus": sync["StatusCode"], "asyncStatus": queued["StatusCode"]}
'''


def test_function_calls_function_through_the_sdk(lambda_client, new_function, fn):
    caller = new_function(zip_bytes=helpers.make_zip({"app.py": CALLER}), Timeout=30)
    resp = lambda_client.invoke(FunctionName=caller["FunctionName"],
                                Payload=json.dumps({"target": fn}))
    assert "FunctionError" not in resp, resp["Payload"].read()
    out = json.loads(resp["Payload"].read())
    assert out == {"sync": {"from": "caller"}, "syncStatus": 200, "asyncStatus": 202}
