"""CloudFormation: stacks created, updated and deleted through boto3 and the aws CLI, with the
resources they make checked through the services' own APIs, as a user would."""

import json
import os
import subprocess
import time
import urllib.parse
import uuid

import pytest
from botocore.exceptions import ClientError

import helpers

STACK_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Description: role, function, version, alias, bucket, table, queue, topic, log group
Parameters:
  Greeting:
    Type: String
    Default: hello
    AllowedValues: [hello, howdy]
  Secret:
    Type: String
    Default: s3cret
    NoEcho: true
  Timeout:
    Type: Number
    Default: 5
Conditions:
  WantTopic: !Equals [!Ref Greeting, hello]
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: logs
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - Effect: Allow
                Action: 'logs:*'
                Resource: '*'
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Timeout: !Ref Timeout
      Environment:
        Variables:
          GREETING: !Ref Greeting
          TABLE: !Ref Table
      Code:
        ZipFile: |
          import os
          def handler(event, context):
              return {"says": os.environ["GREETING"] + " VERSION", "table": os.environ["TABLE"]}
  Version:
    Type: AWS::Lambda::Version
    Properties:
      FunctionName: !Ref Fn
  Live:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Fn
      FunctionVersion: !GetAtt Version.Version
      Name: live
  Bucket:
    Type: AWS::S3::Bucket
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub '${AWS::StackName}-QUEUENAME'
  Topic:
    Type: AWS::SNS::Topic
    Condition: WantTopic
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 7
Outputs:
  FunctionArn:
    Value: !GetAtt Fn.Arn
  AliasArn:
    Value: !Ref Live
  BucketName:
    Value: !Ref Bucket
    Export:
      Name: !Sub '${AWS::StackName}-bucket'
  QueueUrl:
    Value: !Ref Queue
  TopicArn:
    Condition: WantTopic
    Value: !Ref Topic
"""


def wait(cfn, name, deadline_s=120):
    """Polls DescribeStacks until the stack leaves its *_IN_PROGRESS state."""
    end = time.monotonic() + deadline_s
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        if time.monotonic() > end:
            pytest.fail(f"stack {name} still {stack['StackStatus']}")
        time.sleep(0.2)


def wait_gone(cfn, stack_id, deadline_s=120):
    end = time.monotonic() + deadline_s
    while True:
        stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        if stack["StackStatus"] in ("DELETE_COMPLETE", "DELETE_FAILED"):
            return stack
        if time.monotonic() > end:
            pytest.fail(f"stack {stack_id} still {stack['StackStatus']}")
        time.sleep(0.2)


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def reasons(cfn, stack):
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason")) for e in events]


def failures(cfn, stack):
    return [e for e in reasons(cfn, stack) if "FAILED" in e[1]]


@pytest.fixture(scope="module")
def cfn(server):
    return server.client("cloudformation")


def outputs(stack):
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def invoke(lam, fn):
    return json.loads(lam.invoke(FunctionName=fn)["Payload"].read())


def test_stack_lifecycle_create_update_delete(server, cfn):
    lam, s3, ddb, sqs = (server.client(s) for s in ("lambda", "s3", "dynamodb", "sqs"))
    stack_name = name("app")
    template = STACK_TEMPLATE.replace("QUEUENAME", "q1")
    with pytest.raises(ClientError) as e:
        cfn.create_stack(StackName=stack_name, TemplateBody=template)
    assert e.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
    assert e.value.response["Error"]["Message"] == "Requires capabilities : [CAPABILITY_IAM]"

    stack_id = cfn.create_stack(StackName=stack_name, TemplateBody=template,
                                Capabilities=["CAPABILITY_IAM"])["StackId"]
    assert stack_id.startswith(f"arn:aws:cloudformation:us-east-1:{helpers.ACCOUNT}:stack/{stack_name}/")
    stack = wait(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(cfn, stack_name)
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params == {"Greeting": "hello", "Secret": "****", "Timeout": "5"}
    out = outputs(stack)
    assert out["AliasArn"].endswith(":live")
    assert out["TopicArn"].startswith("arn:aws:sns:us-east-1:")

    # The resources exist, under the names CloudFormation gives them.
    resources = {r["LogicalResourceId"]: r for r in
                 cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]}
    assert set(resources) == {"Role", "Fn", "Version", "Live", "Bucket", "Table", "Queue", "Topic", "Logs"}
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources.values())
    fn_name = resources["Fn"]["PhysicalResourceId"]
    assert fn_name.startswith(f"{stack_name}-Fn-")
    bucket = out["BucketName"]
    assert bucket == resources["Bucket"]["PhysicalResourceId"] and bucket == bucket.lower()
    s3.head_bucket(Bucket=bucket)
    table = resources["Table"]["PhysicalResourceId"]
    assert ddb.describe_table(TableName=table)["Table"]["KeySchema"][0]["AttributeName"] == "pk"
    assert invoke(lam, out["AliasArn"]) == {"says": "hello VERSION", "table": table}
    events = reasons(cfn, stack_name)
    assert ("Fn", "CREATE_IN_PROGRESS", "Resource creation Initiated") in events
    assert events[0] == (stack_name, "CREATE_COMPLETE", None)
    assert events[-1] == (stack_name, "CREATE_IN_PROGRESS", "User Initiated")
    detail = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId="Fn")["StackResourceDetail"]
    assert detail["PhysicalResourceId"] == fn_name
    assert json.loads(json.dumps(cfn.get_template(StackName=stack_name)["TemplateBody"])) == template

    # Nothing changed: AWS's answer.
    with pytest.raises(ClientError) as e:
        cfn.update_stack(StackName=stack_name, UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                         Parameters=[{"ParameterKey": k, "UsePreviousValue": True} for k in ("Greeting", "Secret", "Timeout")])
    assert e.value.response["Error"]["Message"] == "No updates are to be performed."

    # Code and property changes update in place; a new queue name replaces the queue; the
    # changed parameter drops the conditional topic.
    old_queue = out["QueueUrl"]
    template2 = STACK_TEMPLATE.replace("QUEUENAME", "q2").replace("VERSION", "v2")
    cfn.update_stack(StackName=stack_name, TemplateBody=template2, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "howdy"},
                                 {"ParameterKey": "Timeout", "ParameterValue": "9"}])
    stack = wait(cfn, stack_name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", failures(cfn, stack_name)
    assert lam.get_function_configuration(FunctionName=fn_name)["Timeout"] == 9
    assert invoke(lam, fn_name) == {"says": "howdy v2", "table": table}
    new_queue = outputs(stack)["QueueUrl"]
    assert new_queue != old_queue and new_queue.endswith("-q2")
    sqs.get_queue_attributes(QueueUrl=new_queue)
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=old_queue)
    assert "TopicArn" not in outputs(stack)
    assert server.client("sns").list_topics()["Topics"] == [] or all(
        not t["TopicArn"].split(":")[-1].startswith(stack_name) for t in server.client("sns").list_topics()["Topics"])
    assert ("Queue", "UPDATE_IN_PROGRESS",
            "Requested update requires the creation of a new physical resource; hence creating one.") in reasons(cfn, stack_name)

    cfn.delete_stack(StackName=stack_name)
    stack = wait_gone(cfn, stack_id)
    assert stack["StackStatus"] == "DELETE_COMPLETE", reasons(cfn, stack_id)
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName=fn_name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=bucket)
    with pytest.raises(ClientError):
        ddb.describe_table(TableName=table)
    with pytest.raises(ClientError) as e:
        cfn.describe_stacks(StackName=stack_name)
    assert e.value.response["Error"]["Message"] == f"Stack with id {stack_name} does not exist"
    summaries = cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert stack_id in [s["StackId"] for s in summaries]


def test_failing_resource_rolls_back_leaving_nothing(server, cfn):
    stack_name = name("bad")
    bucket = name("rollback-bucket")
    template = {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}},
            "Fn": {"Type": "AWS::Lambda::Function", "DependsOn": "Bucket", "Properties": {
                "Runtime": "cobol85", "Handler": "index.handler", "Role": helpers.ROLE,
                "Code": {"ZipFile": "x"}}},
        }
    }
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    stack = wait(cfn, stack_name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = reasons(cfn, stack_name)
    failed = [e for e in events if e[1] == "CREATE_FAILED"]
    assert failed[0][0] == "Fn" and "cobol85" in failed[0][2]
    assert (stack_name, "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [Fn]. Rollback requested by user.") in events
    with pytest.raises(ClientError):
        server.client("s3").head_bucket(Bucket=bucket)
    assert cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"] == []
    with pytest.raises(ClientError) as e:
        cfn.update_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    assert "is in ROLLBACK_COMPLETE state and can not be updated." in e.value.response["Error"]["Message"]
    cfn.delete_stack(StackName=stack_name)


def test_exports_are_imported_and_pinned(server, cfn):
    a, b = name("exporter"), name("importer")
    export = name("shared")
    ta = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
          "Outputs": {"Url": {"Value": {"Ref": "Q"}, "Export": {"Name": export}}}}
    tb = {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {
              "DisplayName": {"Fn::Select": [0, {"Fn::Split": ["/", {"Fn::ImportValue": export}]}]}}}},
          "Outputs": {"Seen": {"Value": {"Fn::ImportValue": export}}}}
    a_id = cfn.create_stack(StackName=a, TemplateBody=json.dumps(ta))["StackId"]
    assert wait(cfn, a)["StackStatus"] == "CREATE_COMPLETE"
    exports = {e["Name"]: e for e in cfn.list_exports()["Exports"]}
    assert exports[export]["ExportingStackId"] == a_id
    url = exports[export]["Value"]
    cfn.create_stack(StackName=b, TemplateBody=json.dumps(tb))
    stack_b = wait(cfn, b)
    assert stack_b["StackStatus"] == "CREATE_COMPLETE", reasons(cfn, b)
    assert outputs(stack_b)["Seen"] == url
    assert cfn.list_imports(ExportName=export)["Imports"] == [b]
    cfn.delete_stack(StackName=a)
    stack_a = wait_gone(cfn, a_id)
    assert stack_a["StackStatus"] == "DELETE_FAILED"
    assert stack_a["StackStatusReason"] == f"Export {export} cannot be deleted as it is in use by {b}"
    cfn.delete_stack(StackName=b)
    end = time.monotonic() + 60
    while True:
        try:
            cfn.describe_stacks(StackName=b)
        except ClientError:
            break
        assert time.monotonic() < end
        time.sleep(0.2)
    cfn.delete_stack(StackName=a_id)
    assert wait_gone(cfn, a_id)["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError) as e:
        cfn.list_imports(ExportName=export)
    assert e.value.response["Error"]["Message"] == f"Export '{export}' is not imported by any stack."


@pytest.mark.parametrize("template,message", [
    ("Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref Nope\n",
     "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"),
    ("Resources:\n  A:\n    Type: AWS::S3::Bucket\n    DependsOn: B\n  B:\n    Type: AWS::S3::Bucket\n    DependsOn: A\n",
     "Circular dependency between resources: [A, B]"),
    ("Description: nothing\n", "Template format error: At least one Resources member must be defined."),
    ("Resources:\n  B:\n    Type: AWS::Nope\n", "Template format error: Unrecognized resource types: [AWS::Nope]"),
    ("Resources: [1, 2\n", None),
    ("Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Api\n", None),
    ("Transform: MyMacro\nResources:\n  B:\n    Type: AWS::S3::Bucket\n", "No transform named MyMacro found."),
])
def test_bad_templates_answer_cloudformations_messages(cfn, template, message):
    for call in (lambda: cfn.validate_template(TemplateBody=template),
                 lambda: cfn.create_stack(StackName=name("invalid"), TemplateBody=template)):
        with pytest.raises(ClientError) as e:
            call()
        err = e.value.response["Error"]
        assert err["Code"] == "ValidationError"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        if message:
            assert err["Message"] == message
        else:
            assert err["Message"].startswith(("Template format error:",
                                              "Transform AWS::Serverless-2016-10-31 failed with: "))


def test_parameters_are_checked(cfn):
    template = "Parameters:\n  Env:\n    Type: String\n    AllowedValues: [dev, prod]\nResources:\n  B:\n    Type: AWS::S3::Bucket\n"
    cases = [([], "Parameters: [Env] must have values"),
             ([{"ParameterKey": "Env", "ParameterValue": "qa"}], "Parameter 'Env' must be one of AllowedValues"),
             ([{"ParameterKey": "Env", "ParameterValue": "dev"}, {"ParameterKey": "X", "ParameterValue": "1"}],
              "Parameters: [X] do not exist in the template")]
    for params, message in cases:
        with pytest.raises(ClientError) as e:
            cfn.create_stack(StackName=name("params"), TemplateBody=template, Parameters=params)
        assert e.value.response["Error"]["Message"] == message
    summary = cfn.validate_template(TemplateBody=template)
    assert summary["Parameters"][0]["ParameterKey"] == "Env"


def test_change_sets_create_then_no_changes(server, cfn):
    stack_name = name("cs")
    template = json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    cs = cfn.create_change_set(StackName=stack_name, ChangeSetName="first", ChangeSetType="CREATE",
                               TemplateBody=template)
    assert cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    desc = cfn.describe_change_set(ChangeSetName=cs["Id"])
    assert desc["Status"] == "CREATE_COMPLETE" and desc["ExecutionStatus"] == "AVAILABLE"
    assert [c["ResourceChange"]["Action"] for c in desc["Changes"]] == ["Add"]
    assert [s["ChangeSetName"] for s in cfn.list_change_sets(StackName=stack_name)["Summaries"]] == ["first"]
    cfn.execute_change_set(ChangeSetName="first", StackName=stack_name)
    assert wait(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE"
    cfn.create_change_set(StackName=stack_name, ChangeSetName="again", TemplateBody=template)
    again = cfn.describe_change_set(ChangeSetName="again", StackName=stack_name)
    assert again["Status"] == "FAILED"
    assert again["StatusReason"] == ("The submitted information didn't contain changes. "
                                     "Submit different information to create a change set.")
    cfn.delete_change_set(ChangeSetName="again", StackName=stack_name)
    with pytest.raises(ClientError) as e:
        cfn.describe_change_set(ChangeSetName="again", StackName=stack_name)
    assert e.value.response["Error"]["Code"] == "ChangeSetNotFound"
    cfn.delete_stack(StackName=stack_name)


def aws_cli(server, *args, cwd=None):
    """The aws CLI against the server: `package` and `deploy` make their own S3 clients, so the
    endpoint is given for every service (AWS_ENDPOINT_URL) and S3 is addressed path-style."""
    config = cwd / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": helpers.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": helpers.SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ENDPOINT_URL": server.url, "AWS_CONFIG_FILE": str(config)}
    return subprocess.run(["aws", "--endpoint-url", server.url, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_aws_cli_package_and_deploy(server, cfn, tmp_path):
    bucket = name("artifacts")
    server.client("s3").create_bucket(Bucket=bucket)
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("def handler(event, context):\n    return {'packaged': True}\n")
    (tmp_path / "template.yaml").write_text(f"""
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: {helpers.ROLE}
      Code: src
Outputs:
  Name:
    Value: !Ref Fn
""")
    packaged = aws_cli(server, "cloudformation", "package", "--template-file", "template.yaml",
                       "--s3-bucket", bucket, "--output-template-file", "packaged.yaml", cwd=tmp_path)
    assert packaged.returncode == 0, packaged.stderr
    stack_name = name("deployed")
    deployed = aws_cli(server, "cloudformation", "deploy", "--template-file", "packaged.yaml",
                       "--stack-name", stack_name, "--s3-bucket", bucket, "--force-upload", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    fn_name = outputs(stack)["Name"]
    assert invoke(server.client("lambda"), fn_name) == {"packaged": True}
    # The CLI names its change set after the current second, and CloudFormation keeps an
    # executed change set (EXECUTE_COMPLETE), so a second deploy within the same second would
    # collide with the first's name, on AWS as here.
    time.sleep(1.05 - time.time() % 1)
    again = aws_cli(server, "cloudformation", "deploy", "--template-file", "packaged.yaml",
                    "--stack-name", stack_name, "--s3-bucket", bucket, "--no-fail-on-empty-changeset",
                    cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "No changes to deploy" in again.stdout
    cfn.delete_stack(StackName=stack_name)


SAM_PIPELINE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 10
Resources:
  Uploads:
    Type: AWS::S3::Bucket
  Seen:
    Type: AWS::Serverless::SimpleTable
  Recorder:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        import os, boto3
        table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
        def handler(event, context):
            for record in event["Records"]:
                table.put_item(Item={"id": record["s3"]["object"]["key"],
                                     "size": record["s3"]["object"]["size"]})
      Environment:
        Variables:
          TABLE: !Ref Seen
      Policies:
        - DynamoDBCrudPolicy:
            TableName: !Ref Seen
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
Outputs:
  BucketName:
    Value: !Ref Uploads
  TableName:
    Value: !Ref Seen
"""


def test_sam_template_makes_a_working_upload_pipeline(server, cfn):
    """The SAM transform expands a function with an S3 event, a SimpleTable and a policy
    template; the stack's bucket then triggers the function, which writes to the table."""
    stack_name = name("sam")
    cfn.create_stack(StackName=stack_name, TemplateBody=SAM_PIPELINE,
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    stack = wait(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(cfn, stack_name)
    resources = {r["LogicalResourceId"]: r["ResourceType"] for r in
                 cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]}
    assert resources["Recorder"] == "AWS::Lambda::Function"
    assert resources["RecorderRole"] == "AWS::IAM::Role"
    assert resources["RecorderUploadPermission"] == "AWS::Lambda::Permission"
    assert resources["Seen"] == "AWS::DynamoDB::Table"
    processed = cfn.get_template(StackName=stack_name, TemplateStage="Processed")["TemplateBody"]
    processed = processed if isinstance(processed, dict) else json.loads(processed)
    assert "Transform" not in processed

    out = outputs(stack)
    s3, ddb = server.client("s3"), server.client("dynamodb")
    s3.put_object(Bucket=out["BucketName"], Key="cat.jpg", Body=b"x" * 42)
    deadline = time.monotonic() + 30
    item = None
    while item is None and time.monotonic() < deadline:
        item = ddb.get_item(TableName=out["TableName"], Key={"id": {"S": "cat.jpg"}}).get("Item")
        time.sleep(0.2)
    assert item == {"id": {"S": "cat.jpg"}, "size": {"N": "42"}}

    s3.delete_object(Bucket=out["BucketName"], Key="cat.jpg")
    cfn.delete_stack(StackName=stack_name)
    assert wait_gone(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


SAM_HTTP_API = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        import json
        def handler(event, context):
            return {"statusCode": 200,
                    "body": json.dumps({"hello": event["rawPath"]})}
      Events:
        Hi:
          Type: HttpApi
          Properties:
            Path: /hello
            Method: GET
Outputs:
  ApiId:
    Value: !Ref ServerlessHttpApi
  ApiIdAttr:
    Value: !GetAtt ServerlessHttpApi.ApiId
  ApiEndpoint:
    Value: !GetAtt ServerlessHttpApi.ApiEndpoint
"""


def test_sam_http_api_answers_over_http(server, cfn):
    """A SAM function with an HttpApi event becomes an HTTP API (API, $default stage, route,
    integration, permission) whose endpoint invokes the function; deleting the stack removes
    the API."""
    from apigw_support import call

    stack_name = name("httpapi")
    cfn.create_stack(StackName=stack_name, TemplateBody=SAM_HTTP_API,
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    stack = wait(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(cfn, stack_name)
    resources = {r["LogicalResourceId"]: r["ResourceType"] for r in
                 cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]}
    assert resources["ServerlessHttpApi"] == "AWS::ApiGatewayV2::Api"
    assert resources["ServerlessHttpApiApiGatewayDefaultStage"] == "AWS::ApiGatewayV2::Stage"
    out = outputs(stack)
    api_id = out["ApiId"]
    assert out["ApiIdAttr"] == api_id

    apigw = server.client("apigatewayv2")
    routes = apigw.get_routes(ApiId=api_id)["Items"]
    assert [r["RouteKey"] for r in routes] == ["GET /hello"]
    assert out["ApiEndpoint"] == apigw.get_api(ApiId=api_id)["ApiEndpoint"]
    for endpoint in (out["ApiEndpoint"], f"{server.url}/_aws/execute-api/{api_id}"):
        status, _, body = call(endpoint, "/hello")
        assert status == 200, (endpoint, body)
        assert json.loads(body) == {"hello": "/hello"}

    cfn.delete_stack(StackName=stack_name)
    assert wait_gone(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError) as e:
        apigw.get_api(ApiId=api_id)
    assert e.value.response["Error"]["Code"] == "NotFoundException"


MORE_TYPES = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  LayerBucket: {Type: String}
  LayerKey: {Type: String}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: [lambda.amazonaws.com, scheduler.amazonaws.com]}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: base
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - {Effect: Allow, Action: ['logs:*', 'sqs:*', 'lambda:InvokeFunction'], Resource: '*'}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          def handler(event, context):
              return {"ok": True}
  Url:
    Type: AWS::Lambda::Url
    Properties:
      TargetFunctionArn: !GetAtt Fn.Arn
      AuthType: NONE
  Queue:
    Type: AWS::SQS::Queue
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Fn
      EventSourceArn: !GetAtt Queue.Arn
      BatchSize: 5
  AsyncConfig:
    Type: AWS::Lambda::EventInvokeConfig
    Properties:
      FunctionName: !Ref Fn
      Qualifier: $LATEST
      MaximumRetryAttempts: 1
  Layer:
    Type: AWS::Lambda::LayerVersion
    Properties:
      CompatibleRuntimes: [python3.12]
      Content: {S3Bucket: !Ref LayerBucket, S3Key: !Ref LayerKey}
  Topic:
    Type: AWS::SNS::Topic
  Subscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Queue.Arn
      RawMessageDelivery: true
  QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Queue]
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: !GetAtt Queue.Arn
  Bucket:
    Type: AWS::S3::Bucket
  BucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Deny
            Principal: '*'
            Action: s3:DeleteObject
            Resource: !Sub '${Bucket.Arn}/*'
  InlinePolicy:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: extra
      Roles: [!Ref Role]
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - {Effect: Allow, Action: 's3:GetObject', Resource: '*'}
  Managed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      Roles: [!Ref Role]
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - {Effect: Allow, Action: 'dynamodb:GetItem', Resource: '*'}
  Rule:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 day)
      Targets:
        - {Id: fn, Arn: !GetAtt Fn.Arn, Input: {"from": "rule"}}
  Schedule:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: rate(1 day)
      FlexibleTimeWindow: {Mode: 'OFF'}
      Target: {Arn: !GetAtt Fn.Arn, RoleArn: !GetAtt Role.Arn}
Outputs:
  FunctionName: {Value: !Ref Fn}
  RoleName: {Value: !Ref Role}
  QueueUrl: {Value: !Ref Queue}
  QueueArn: {Value: !GetAtt Queue.Arn}
  TopicArn: {Value: !Ref Topic}
  BucketName: {Value: !Ref Bucket}
  UrlRef: {Value: !Ref Url}
  UrlFunctionArn: {Value: !GetAtt Url.FunctionArn}
  FunctionUrl: {Value: !GetAtt Url.FunctionUrl}
  MappingId: {Value: !Ref Mapping}
  MappingIdAttr: {Value: !GetAtt Mapping.Id}
  LayerArn: {Value: !Ref Layer}
  LayerArnAttr: {Value: !GetAtt Layer.LayerVersionArn}
  SubscriptionArn: {Value: !Ref Subscription}
  QueuePolicyId: {Value: !GetAtt QueuePolicy.Id}
  BucketPolicyRef: {Value: !Ref BucketPolicy}
  InlinePolicyId: {Value: !Ref InlinePolicy}
  ManagedArn: {Value: !Ref Managed}
  ManagedArnAttr: {Value: !GetAtt Managed.PolicyArn}
  RuleName: {Value: !Ref Rule}
  RuleArn: {Value: !GetAtt Rule.Arn}
  ScheduleName: {Value: !Ref Schedule}
  ScheduleArn: {Value: !GetAtt Schedule.Arn}
"""


def test_more_resource_types_are_made_and_removed(server, cfn):
    """Lambda URLs, mappings, async configs and layers; SNS subscriptions; queue, bucket and
    IAM policies; EventBridge rules and schedules: each exists with the Ref and GetAtt values
    CloudFormation documents, and deleting the stack removes it."""
    c = {s: server.client(s) for s in
         ("lambda", "s3", "sqs", "sns", "iam", "events", "scheduler")}
    layer_bucket = helpers.unique_bucket("layers")
    c["s3"].create_bucket(Bucket=layer_bucket)
    c["s3"].put_object(Bucket=layer_bucket, Key="layer.zip",
                       Body=helpers.make_zip({"python/shared.py": "X = 1\n"}))
    stack_name = name("types")
    cfn.create_stack(StackName=stack_name, TemplateBody=MORE_TYPES, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[{"ParameterKey": "LayerBucket", "ParameterValue": layer_bucket},
                                 {"ParameterKey": "LayerKey", "ParameterValue": "layer.zip"}])
    stack = wait(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(cfn, stack_name)
    out = outputs(stack)
    fn, role = out["FunctionName"], out["RoleName"]
    fn_arn = c["lambda"].get_function(FunctionName=fn)["Configuration"]["FunctionArn"]

    assert out["UrlRef"] == out["UrlFunctionArn"] == fn_arn
    assert c["lambda"].get_function_url_config(FunctionName=fn)["FunctionUrl"] == out["FunctionUrl"]
    assert out["MappingId"] == out["MappingIdAttr"]
    mapping = c["lambda"].get_event_source_mapping(UUID=out["MappingId"])
    assert (mapping["EventSourceArn"], mapping["BatchSize"]) == (out["QueueArn"], 5)
    config = c["lambda"].get_function_event_invoke_config(FunctionName=fn, Qualifier="$LATEST")
    assert config["MaximumRetryAttempts"] == 1
    assert out["LayerArn"] == out["LayerArnAttr"]
    assert c["lambda"].get_layer_version_by_arn(Arn=out["LayerArn"])["LayerVersionArn"] == out["LayerArn"]

    subs = c["sns"].list_subscriptions_by_topic(TopicArn=out["TopicArn"])["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subs] == [out["SubscriptionArn"]]
    policy = c["sqs"].get_queue_attributes(QueueUrl=out["QueueUrl"], AttributeNames=["Policy"])
    assert json.loads(policy["Attributes"]["Policy"])["Statement"][0]["Action"] == "sqs:SendMessage"
    assert out["QueuePolicyId"]
    assert out["BucketPolicyRef"] == out["BucketName"]
    bucket_policy = json.loads(c["s3"].get_bucket_policy(Bucket=out["BucketName"])["Policy"])
    assert bucket_policy["Statement"][0]["Effect"] == "Deny"

    assert out["InlinePolicyId"]
    assert c["iam"].get_role_policy(RoleName=role, PolicyName="extra")["PolicyName"] == "extra"
    assert out["ManagedArn"] == out["ManagedArnAttr"]
    attached = c["iam"].list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [out["ManagedArn"]]

    assert c["events"].describe_rule(Name=out["RuleName"])["Arn"] == out["RuleArn"]
    targets = c["events"].list_targets_by_rule(Rule=out["RuleName"])["Targets"]
    assert [(t["Id"], t["Arn"], json.loads(t["Input"])) for t in targets] == \
        [("fn", fn_arn, {"from": "rule"})]
    assert c["scheduler"].get_schedule(Name=out["ScheduleName"])["Arn"] == out["ScheduleArn"]

    # Updates apply in place: the same mapping, rule and policies, with the new settings.
    updated = (MORE_TYPES.replace("BatchSize: 5", "BatchSize: 7")
               .replace("MaximumRetryAttempts: 1", "MaximumRetryAttempts: 2")
               .replace('{"from": "rule"}', '{"from": "updated"}')
               .replace("Action: 's3:GetObject'", "Action: 's3:PutObject'"))
    cfn.update_stack(StackName=stack_name, TemplateBody=updated, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[{"ParameterKey": "LayerBucket", "UsePreviousValue": True},
                                 {"ParameterKey": "LayerKey", "UsePreviousValue": True}])
    stack = wait(cfn, stack_name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", failures(cfn, stack_name)
    assert outputs(stack) == out
    assert c["lambda"].get_event_source_mapping(UUID=out["MappingId"])["BatchSize"] == 7
    config = c["lambda"].get_function_event_invoke_config(FunctionName=fn, Qualifier="$LATEST")
    assert config["MaximumRetryAttempts"] == 2
    targets = c["events"].list_targets_by_rule(Rule=out["RuleName"])["Targets"]
    assert [json.loads(t["Input"]) for t in targets] == [{"from": "updated"}]
    inline = c["iam"].get_role_policy(RoleName=role, PolicyName="extra")["PolicyDocument"]
    inline = inline if isinstance(inline, dict) else json.loads(urllib.parse.unquote(inline))
    assert inline["Statement"][0]["Action"] == "s3:PutObject"

    cfn.delete_stack(StackName=stack_name)
    assert wait_gone(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE", \
        failures(cfn, stack["StackId"])
    gone = [
        lambda: c["lambda"].get_layer_version_by_arn(Arn=out["LayerArn"]),
        lambda: c["lambda"].get_event_source_mapping(UUID=out["MappingId"]),
        lambda: c["iam"].get_policy(PolicyArn=out["ManagedArn"]),
        lambda: c["iam"].get_role(RoleName=role),
        lambda: c["events"].describe_rule(Name=out["RuleName"]),
        lambda: c["scheduler"].get_schedule(Name=out["ScheduleName"]),
        lambda: c["sns"].get_subscription_attributes(SubscriptionArn=out["SubscriptionArn"]),
    ]
    for call in gone:
        with pytest.raises(ClientError):
            call()


BUCKET_CONFIG = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: aws:kms}
      CorsConfiguration:
        CorsRules:
          - {AllowedMethods: [GET], AllowedOrigins: ['https://example.com'], MaxAge: 600}
      Tags:
        - {Key: team, Value: TEAM}
"""


def test_bucket_configuration_is_applied_and_updated(server, cfn):
    """A bucket's versioning, encryption, CORS and tags are set through S3's own API (public
    access blocks are accepted: nothing is public); an update applies changed ones and undoes
    removed ones (versioning is suspended, the rest deleted)."""
    s3 = helpers.make_s3_client(server.url)
    stack_name = name("bucketcfg")
    cfn.create_stack(StackName=stack_name, TemplateBody=BUCKET_CONFIG.replace("TEAM", "red"))
    stack = wait(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(cfn, stack_name)
    bucket = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId="Bucket")[
        "StackResourceDetail"]["PhysicalResourceId"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert cors == [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://example.com"],
                     "MaxAgeSeconds": 600}]
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "red"}]

    # Tags changed; versioning, CORS and encryption removed.
    updated = "\n".join(l for l in BUCKET_CONFIG.replace("TEAM", "blue").splitlines()
                        if not any(k in l for k in ("Versioning", "Cors", "AllowedMethods",
                                                    "BucketEncryption", "ServerSideEncryption")))
    cfn.update_stack(StackName=stack_name, TemplateBody=updated)
    assert wait(cfn, stack_name)["StackStatus"] == "UPDATE_COMPLETE", failures(cfn, stack_name)
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "blue"}]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    # A deleted default encryption is S3's own default again, SSE-S3.
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    cfn.delete_stack(StackName=stack_name)
    assert wait_gone(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


HTTP_API_TAGS = """
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: tagged
      ProtocolType: HTTP
      Tags: {team: red, drop: me}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Api
      StageName: $default
      AutoDeploy: true
      Tags: {stage: one}
      AccessLogSettings:
        DestinationArn: !GetAtt Logs.Arn
        Format: $context.requestId
"""


def test_http_api_update_applies_tags_and_removed_access_logs(server, cfn):
    """UpdateApi and UpdateStage take no tags: an update tags and untags the API and its stage,
    and deletes the stage's access log settings once the template drops them."""
    stack_name = name("apitags")
    cfn.create_stack(StackName=stack_name, TemplateBody=HTTP_API_TAGS)
    stack = wait(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(cfn, stack_name)
    apigw = server.client("apigatewayv2")
    api_id = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId="Api")[
        "StackResourceDetail"]["PhysicalResourceId"]
    assert apigw.get_api(ApiId=api_id)["Tags"] == {"team": "red", "drop": "me"}
    assert "AccessLogSettings" in apigw.get_stage(ApiId=api_id, StageName="$default")

    updated = (HTTP_API_TAGS.replace("{team: red, drop: me}", "{team: blue, new: tag}")
               .replace("{stage: one}", "{stage: two}")
               .split("      AccessLogSettings:")[0])
    cfn.update_stack(StackName=stack_name, TemplateBody=updated)
    assert wait(cfn, stack_name)["StackStatus"] == "UPDATE_COMPLETE", failures(cfn, stack_name)
    assert apigw.get_api(ApiId=api_id)["Tags"] == {"team": "blue", "new": "tag"}
    stage = apigw.get_stage(ApiId=api_id, StageName="$default")
    assert stage["Tags"] == {"stage": "two"}
    assert "AccessLogSettings" not in stage

    cfn.delete_stack(StackName=stack_name)
    assert wait_gone(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
