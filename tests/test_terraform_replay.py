"""Terraform's AWS provider, replayed: the calls the provider makes for each resource type, in
its order, through boto3 (the provider itself cannot be fetched here). Each test walks one
resource through create → read → refresh read → update → read → delete → read-after-delete,
where the last read must fail with the exact code the provider checks to drop the resource
from its state. The reads the provider tolerates failing (a bucket without a CORS
configuration, a function without a policy...) must fail with exactly those codes too: any
other answer stops `terraform plan`.
"""

import json

import pytest
from botocore.exceptions import ClientError

import helpers
from helpers import ACCOUNT, REGION, assert_error


def fails(call, code, status, message=None, **kwargs):
    """Calls `call(**kwargs)`, which must fail with `code` and HTTP `status`."""
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return assert_error(e.value, code, status, message=message)


@pytest.fixture(scope="module")
def aws(server):
    """One client per service, all on the one endpoint (the provider's `endpoints {}` block),
    S3 path-style (`s3_use_path_style = true`)."""
    clients = {name: server.client(name) for name in (
        "sts", "iam", "lambda", "dynamodb", "sqs", "sns", "apigatewayv2")}
    clients["s3"] = server.client("s3", s3={"addressing_style": "path"})
    return clients


# --- the account lookup


def test_provider_configuration_looks_up_the_account(aws):
    """The provider's first calls: sts:GetCallerIdentity for the account and partition, and
    iam:GetUser, its fallback when STS is unavailable."""
    ident = aws["sts"].get_caller_identity()
    assert ident["Account"] == ACCOUNT
    assert ident["Arn"].startswith(f"arn:aws:iam::{ACCOUNT}:")
    assert ident["UserId"]
    user = aws["iam"].get_user()["User"]
    assert user["Arn"].startswith(f"arn:aws:iam::{ACCOUNT}:")


def test_one_endpoint_for_every_service_and_path_style_s3(aws, server):
    """`endpoints { s3 = ..., lambda = ..., ... }` all name the same URL, and with
    `s3_use_path_style = true` the bucket is the first path segment, not part of the host."""
    seen = []
    s3 = aws["s3"]
    s3.meta.events.register("before-send.s3.*", lambda request, **_: seen.append(request.url))
    bucket = helpers.unique_name("tf-path").lower()
    s3.create_bucket(Bucket=bucket)
    s3.head_bucket(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)
    assert seen and all(u.startswith(f"{server.url}/{bucket}") for u in seen), seen
    for name, client in aws.items():
        assert client.meta.endpoint_url == server.url, name


# --- aws_iam_role


def test_aws_iam_role(aws):
    iam = aws["iam"]
    name = helpers.unique_name("tf-role")

    def read():
        role = iam.get_role(RoleName=name)["Role"]
        inline = iam.list_role_policies(RoleName=name)
        attached = iam.list_attached_role_policies(RoleName=name)
        return role, inline["PolicyNames"], attached["AttachedPolicies"]

    created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=helpers.LAMBDA_TRUST,
                              Description="made by terraform", MaxSessionDuration=3600,
                              Tags=[{"Key": "env", "Value": "test"}])["Role"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    for _ in range(2):  # the read after create, then a refresh
        role, inline, attached = read()
        assert role["Description"] == "made by terraform"
        assert role["MaxSessionDuration"] == 3600
        assert role["Tags"] == [{"Key": "env", "Value": "test"}]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "lambda.amazonaws.com"}
        assert inline == [] and attached == []

    iam.update_role(RoleName=name, Description="changed", MaxSessionDuration=7200)
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=helpers.LAMBDA_TRUST)
    iam.tag_role(RoleName=name, Tags=[{"Key": "team", "Value": "a"}])
    iam.untag_role(RoleName=name, TagKeys=["env"])
    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))
    iam.attach_role_policy(RoleName=name, PolicyArn=helpers.ADMINISTRATOR_ACCESS)
    role, inline, attached = read()
    assert role["Description"] == "changed" and role["MaxSessionDuration"] == 7200
    assert role["Tags"] == [{"Key": "team", "Value": "a"}]
    assert inline == ["inline"]
    assert [p["PolicyArn"] for p in attached] == [helpers.ADMINISTRATOR_ACCESS]
    assert iam.get_role_policy(RoleName=name, PolicyName="inline")["PolicyName"] == "inline"

    # Delete: instance profiles, attached and inline policies are removed first.
    assert iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"] == []
    iam.detach_role_policy(RoleName=name, PolicyArn=helpers.ADMINISTRATOR_ACCESS)
    iam.delete_role_policy(RoleName=name, PolicyName="inline")
    iam.delete_role(RoleName=name)
    fails(iam.get_role, "NoSuchEntity", 404, RoleName=name)


# --- aws_lambda_function, aws_lambda_alias, aws_lambda_permission


def read_function(lam, name):
    """resourceFunctionRead: GetFunction, ListVersionsByFunction (for `version` when
    `publish` is set), GetFunctionCodeSigningConfig; then the provider's other checks."""
    fn = lam.get_function(FunctionName=name)
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    signing = helpers.strip_meta(lam.get_function_code_signing_config(FunctionName=name))
    assert signing == {}  # no configuration fields when the function has none
    fails(lam.get_function_url_config, "ResourceNotFoundException", 404, FunctionName=name)
    return fn, versions


def test_aws_lambda_function(aws):
    lam = aws["lambda"]
    name = helpers.unique_name("tf-fn")
    created = helpers.create_function(lam, name, Publish=True, Tags={"env": "test"},
                                      Environment={"Variables": {"STAGE": "1"}})
    assert created["Version"] == "1"
    helpers.wait_active(lam, name)
    for _ in range(2):
        fn, versions = read_function(lam, name)
        assert fn["Configuration"]["State"] == "Active"
        assert fn["Configuration"]["Environment"] == {"Variables": {"STAGE": "1"}}
        assert fn["Tags"] == {"env": "test"}
        assert "Concurrency" not in fn
        assert [v["Version"] for v in versions] == ["$LATEST", "1"]
        assert helpers.strip_meta(lam.get_function_concurrency(FunctionName=name)) == {}
        assert lam.list_tags(Resource=helpers.function_arn(name))["Tags"] == {"env": "test"}

    # Update: configuration, then code, then publish, then concurrency and tags.
    lam.update_function_configuration(FunctionName=name, MemorySize=256,
                                      Environment={"Variables": {"STAGE": "2"}})
    helpers.wait_updated(lam, name)
    lam.update_function_code(FunctionName=name, ZipFile=helpers.make_variant_zip("v2"))
    helpers.wait_updated(lam, name)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    lam.tag_resource(Resource=helpers.function_arn(name), Tags={"team": "a"})
    lam.untag_resource(Resource=helpers.function_arn(name), TagKeys=["env"])
    fn, versions = read_function(lam, name)
    assert fn["Configuration"]["MemorySize"] == 256
    assert fn["Concurrency"] == {"ReservedConcurrentExecutions": 3}
    assert fn["Tags"] == {"team": "a"}
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    lam.delete_function_concurrency(FunctionName=name)
    assert helpers.strip_meta(lam.get_function_concurrency(FunctionName=name)) == {}

    lam.delete_function(FunctionName=name)
    fails(lam.get_function, "ResourceNotFoundException", 404, FunctionName=name)
    fails(lam.get_function_code_signing_config, "ResourceNotFoundException", 404,
          FunctionName=name)


def test_aws_lambda_alias(aws):
    lam = aws["lambda"]
    name = helpers.unique_name("tf-alias")
    helpers.create_function(lam, name, Publish=True)
    helpers.wait_active(lam, name)
    lam.update_function_code(FunctionName=name, ZipFile=helpers.make_variant_zip("v2"),
                             Publish=True)
    helpers.wait_updated(lam, name)

    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                               Description="d")
    assert created["AliasArn"] == helpers.function_arn(name, "live")
    for _ in range(2):
        alias = lam.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] == "1" and alias["Description"] == "d"
        assert "RoutingConfig" not in alias

    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}

    lam.delete_alias(FunctionName=name, Name="live")
    fails(lam.get_alias, "ResourceNotFoundException", 404, FunctionName=name, Name="live")
    lam.delete_function(FunctionName=name)


def test_aws_lambda_permission(aws):
    """resourcePermissionRead finds its statement by Sid in GetPolicy's document; GetPolicy's
    ResourceNotFoundException, or a policy without the Sid, drops it from the state."""
    lam = aws["lambda"]
    name = helpers.unique_name("tf-perm")
    helpers.create_function(lam, name, Publish=True)
    helpers.wait_active(lam, name)
    missing = "The resource you requested does not exist."
    fails(lam.get_policy, "ResourceNotFoundException", 404, message=missing, FunctionName=name)

    def statement(sid, qualifier=None):
        kwargs = {"Qualifier": qualifier} if qualifier else {}
        doc = json.loads(lam.get_policy(FunctionName=name, **kwargs)["Policy"])
        return next((s for s in doc["Statement"] if s["Sid"] == sid), None)

    bucket_arn = "arn:aws:s3:::tf-bucket"
    lam.add_permission(FunctionName=name, StatementId="AllowS3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn=bucket_arn,
                       SourceAccount=ACCOUNT)
    for _ in range(2):
        st = statement("AllowS3")
        assert st["Principal"] == {"Service": "s3.amazonaws.com"}
        assert st["Action"] == "lambda:InvokeFunction"
        assert st["Resource"] == helpers.function_arn(name)
        assert st["Condition"]["ArnLike"]["AWS:SourceArn"] == bucket_arn

    # A change of any argument replaces the permission: remove, then add with a new Sid.
    lam.remove_permission(FunctionName=name, StatementId="AllowS3")
    lam.add_permission(FunctionName=name, StatementId="AllowSns", Qualifier="1",
                       Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")
    assert statement("AllowSns", qualifier="1")["Resource"] == helpers.function_arn(name, "1")
    fails(lam.get_policy, "ResourceNotFoundException", 404, message=missing, FunctionName=name)

    lam.remove_permission(FunctionName=name, StatementId="AllowSns", Qualifier="1")
    fails(lam.get_policy, "ResourceNotFoundException", 404, message=missing,
          FunctionName=name, Qualifier="1")
    lam.delete_function(FunctionName=name)
    fails(lam.get_policy, "ResourceNotFoundException", 404, FunctionName=name)


# --- aws_s3_bucket


# The configuration reads of resourceBucketRead that fail on a bucket without them, and the
# code and status each must fail with (the provider tolerates exactly these codes).
S3_ABSENT = [
    ("get_bucket_policy", "NoSuchBucketPolicy"),
    ("get_bucket_cors", "NoSuchCORSConfiguration"),
    ("get_bucket_website", "NoSuchWebsiteConfiguration"),
    ("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration"),
    ("get_bucket_replication", "ReplicationConfigurationNotFoundError"),
    ("get_object_lock_configuration", "ObjectLockConfigurationNotFoundError"),
    ("get_bucket_tagging", "NoSuchTagSet"),
]


def read_bucket(s3, bucket, absent):
    """resourceBucketRead: HeadBucket, then every configuration read; those in `absent`
    must fail with their not-found code. Returns the answers of the others."""
    head = s3.head_bucket(Bucket=bucket)
    assert head["BucketRegion"] == REGION
    out = {}
    for op, code in S3_ABSENT:
        if op in absent:
            fails(getattr(s3, op), code, 404, Bucket=bucket)
        else:
            out[op] = helpers.strip_meta(getattr(s3, op)(Bucket=bucket))
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [
        (acl["Owner"]["ID"], "FULL_CONTROL")]
    assert helpers.strip_meta(s3.get_bucket_accelerate_configuration(Bucket=bucket)) == {}
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    assert helpers.strip_meta(s3.get_bucket_logging(Bucket=bucket)) == {}
    # Since 2023 every AWS bucket has SSE-S3 by default.
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    out["versioning"] = helpers.strip_meta(s3.get_bucket_versioning(Bucket=bucket))
    # us-east-1 is the null location constraint.
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    return out


def test_aws_s3_bucket(aws):
    s3 = aws["s3"]
    bucket = helpers.unique_name("tf-bucket").lower()
    everything = {op for op, _ in S3_ABSENT}
    s3.create_bucket(Bucket=bucket)
    for _ in range(2):
        assert read_bucket(s3, bucket, everything)["versioning"] == {}

    # The deprecated in-resource arguments write what an unconfigured bucket already has.
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_bucket_request_payment(Bucket=bucket,
                                  RequestPaymentConfiguration={"Payer": "BucketOwner"})
    s3.put_bucket_accelerate_configuration(Bucket=bucket,
                                           AccelerateConfiguration={"Status": "Suspended"})
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={})
    # Update: tags, versioning, a policy, CORS and lifecycle rules.
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "t"}]})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                       "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
         "Expiration": {"Days": 1}}]})
    out = read_bucket(s3, bucket, {"get_bucket_website", "get_bucket_replication",
                                   "get_object_lock_configuration"})
    assert out["get_bucket_tagging"]["TagSet"] == [{"Key": "env", "Value": "t"}]
    assert out["versioning"] == {"Status": "Enabled"}
    assert json.loads(out["get_bucket_policy"]["Policy"])["Statement"][0]["Action"] == \
        "s3:GetObject"
    assert out["get_bucket_cors"]["CORSRules"][0]["AllowedMethods"] == ["GET"]
    assert out["get_bucket_lifecycle_configuration"]["Rules"][0]["ID"] == "expire"

    # Removing them from the configuration deletes each.
    for op in ("delete_bucket_tagging", "delete_bucket_policy", "delete_bucket_cors",
               "delete_bucket_lifecycle"):
        getattr(s3, op)(Bucket=bucket)
    read_bucket(s3, bucket, everything)

    s3.delete_bucket(Bucket=bucket)
    # HEAD has no body: the provider checks the 404 status (botocore names the code "404").
    fails(s3.head_bucket, "404", 404, Bucket=bucket)
    fails(s3.get_bucket_policy, "NoSuchBucket", 404, Bucket=bucket)


def test_s3_settings_stratus_does_not_offer_are_refused_not_ignored(aws):
    """Writes that would change the fixed state (acceleration on, requester pays, access
    logging, public ACLs) answer 501 NotImplemented and change nothing."""
    s3 = aws["s3"]
    bucket = helpers.unique_name("tf-fixed").lower()
    s3.create_bucket(Bucket=bucket)
    fails(s3.put_bucket_acl, "NotImplemented", 501, Bucket=bucket, ACL="public-read")
    fails(s3.put_bucket_request_payment, "NotImplemented", 501, Bucket=bucket,
          RequestPaymentConfiguration={"Payer": "Requester"})
    fails(s3.put_bucket_accelerate_configuration, "NotImplemented", 501, Bucket=bucket,
          AccelerateConfiguration={"Status": "Enabled"})
    fails(s3.put_bucket_logging, "NotImplemented", 501, Bucket=bucket,
          BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": bucket,
                                                  "TargetPrefix": "logs/"}})
    read_bucket(s3, bucket, {op for op, _ in S3_ABSENT})
    s3.delete_bucket(Bucket=bucket)
    fails(s3.put_bucket_acl, "NoSuchBucket", 404, Bucket=bucket, ACL="private")


# --- aws_dynamodb_table


def read_table(ddb, name):
    """resourceTableRead: DescribeTable, DescribeTimeToLive, DescribeContinuousBackups,
    ListTagsOfResource."""
    table = ddb.describe_table(TableName=name)["Table"]
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    tags = ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    return table, ttl, backups["PointInTimeRecoveryDescription"], tags


def test_aws_dynamodb_table(aws):
    ddb = aws["dynamodb"]
    name = helpers.unique_name("tf-table")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     Tags=[{"Key": "env", "Value": "t"}])
    ddb.get_waiter("table_exists").wait(TableName=name,
                                        WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    for _ in range(2):
        table, ttl, pitr, tags = read_table(ddb, name)
        assert table["TableStatus"] == "ACTIVE"
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert ttl == {"TimeToLiveStatus": "DISABLED"}
        assert pitr == {"PointInTimeRecoveryStatus": "DISABLED"}
        assert tags == [{"Key": "env", "Value": "t"}]

    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires"})
    answer = ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    assert answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "ENABLED"
    ddb.tag_resource(ResourceArn=table["TableArn"], Tags=[{"Key": "team", "Value": "a"}])
    table, ttl, pitr, tags = read_table(ddb, name)
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    assert pitr == {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": 35}
    assert sorted(t["Key"] for t in tags) == ["env", "team"]
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": False})
    assert read_table(ddb, name)[2] == {"PointInTimeRecoveryStatus": "DISABLED"}

    ddb.delete_table(TableName=name)
    ddb.get_waiter("table_not_exists").wait(TableName=name,
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    fails(ddb.describe_table, "ResourceNotFoundException", 400, TableName=name)
    fails(ddb.describe_continuous_backups, "TableNotFoundException", 400, TableName=name)
    fails(ddb.update_continuous_backups, "TableNotFoundException", 400, TableName=name,
          PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def test_update_continuous_backups_checks_its_input(aws):
    ddb = helpers.make_client(aws["dynamodb"].meta.endpoint_url, "dynamodb",
                              parameter_validation=False)
    name = helpers.unique_name("tf-pitr")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    fails(ddb.update_continuous_backups, "ValidationException", 400, TableName=name,
          PointInTimeRecoverySpecification={})
    fails(ddb.update_continuous_backups, "ValidationException", 400, TableName=name,
          PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True,
                                            "RecoveryPeriodInDays": 36})
    assert read_table(ddb, name)[2] == {"PointInTimeRecoveryStatus": "DISABLED"}
    ddb.delete_table(TableName=name)


# --- aws_sqs_queue, aws_sns_topic


def test_aws_sqs_queue(aws):
    sqs = aws["sqs"]
    name = helpers.unique_name("tf-queue")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"},
                           tags={"env": "t"})["QueueUrl"]
    for _ in range(2):
        assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["VisibilityTimeout"] == "45"
        assert attrs["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "t"}

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "60"})
    sqs.tag_queue(QueueUrl=url, Tags={"team": "a"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["env"])
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "60"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}

    sqs.delete_queue(QueueUrl=url)
    fails(sqs.get_queue_attributes, "AWS.SimpleQueueService.NonExistentQueue", 400,
          QueueUrl=url, AttributeNames=["All"])
    fails(sqs.get_queue_url, "AWS.SimpleQueueService.NonExistentQueue", 400, QueueName=name)


def test_aws_sns_topic(aws):
    sns = aws["sns"]
    name = helpers.unique_name("tf-topic")
    arn = sns.create_topic(Name=name, Tags=[{"Key": "env", "Value": "t"}])["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
    for _ in range(2):
        attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        assert attrs["TopicArn"] == arn and attrs["Owner"] == ACCOUNT
        assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
            {"Key": "env", "Value": "t"}]

    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="tf")
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "a"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "tf"
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "a"}]

    sns.delete_topic(TopicArn=arn)
    fails(sns.get_topic_attributes, "NotFound", 404, TopicArn=arn)


# --- aws_apigatewayv2_api, _integration, _route, _stage


def test_aws_apigatewayv2_resources(aws):
    gw, lam = aws["apigatewayv2"], aws["lambda"]
    fn = helpers.unique_name("tf-gw")
    fn_arn = helpers.create_function(lam, fn)["FunctionArn"]
    helpers.wait_active(lam, fn)

    api = gw.create_api(Name="tf-api", ProtocolType="HTTP", Tags={"env": "t"})
    api_id = api["ApiId"]
    api_arn = f"arn:aws:apigateway:{REGION}::/apis/{api_id}"
    for _ in range(2):
        got = gw.get_api(ApiId=api_id)
        assert got["Name"] == "tf-api" and got["Tags"] == {"env": "t"}
        assert gw.get_tags(ResourceArn=api_arn)["Tags"] == {"env": "t"}

    integ = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                  IntegrationUri=fn_arn, PayloadFormatVersion="2.0")
    integ_id = integ["IntegrationId"]
    route = gw.create_route(ApiId=api_id, RouteKey="GET /items",
                            Target=f"integrations/{integ_id}")
    route_id = route["RouteId"]
    gw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True, Tags={"env": "t"})
    stage_arn = f"{api_arn}/stages/prod"
    for _ in range(2):
        assert gw.get_integration(ApiId=api_id, IntegrationId=integ_id)["IntegrationUri"] == fn_arn
        assert [i["IntegrationId"] for i in gw.get_integrations(ApiId=api_id)["Items"]] == [
            integ_id]
        assert gw.get_route(ApiId=api_id, RouteId=route_id)["RouteKey"] == "GET /items"
        assert [r["RouteId"] for r in gw.get_routes(ApiId=api_id)["Items"]] == [route_id]
        stage = gw.get_stage(ApiId=api_id, StageName="prod")
        assert stage["AutoDeploy"] is True and stage["Tags"] == {"env": "t"}
        assert gw.get_tags(ResourceArn=stage_arn)["Tags"] == {"env": "t"}

    gw.update_api(ApiId=api_id, Name="tf-api-2")
    gw.tag_resource(ResourceArn=api_arn, Tags={"team": "a"})
    gw.untag_resource(ResourceArn=api_arn, TagKeys=["env"])
    gw.update_integration(ApiId=api_id, IntegrationId=integ_id, TimeoutInMillis=5000)
    gw.update_route(ApiId=api_id, RouteId=route_id, RouteKey="GET /things")
    gw.update_stage(ApiId=api_id, StageName="prod", Description="live")
    gw.tag_resource(ResourceArn=stage_arn, Tags={"team": "b"})
    got = gw.get_api(ApiId=api_id)
    assert got["Name"] == "tf-api-2" and got["Tags"] == {"team": "a"}
    assert gw.get_tags(ResourceArn=api_arn)["Tags"] == {"team": "a"}
    assert gw.get_integration(ApiId=api_id, IntegrationId=integ_id)["TimeoutInMillis"] == 5000
    assert gw.get_route(ApiId=api_id, RouteId=route_id)["RouteKey"] == "GET /things"
    stage = gw.get_stage(ApiId=api_id, StageName="prod")
    assert stage["Description"] == "live"
    assert stage["Tags"] == {"env": "t", "team": "b"}

    gw.delete_stage(ApiId=api_id, StageName="prod")
    fails(gw.get_stage, "NotFoundException", 404, ApiId=api_id, StageName="prod")
    fails(gw.get_tags, "NotFoundException", 404, ResourceArn=stage_arn)
    gw.delete_route(ApiId=api_id, RouteId=route_id)
    fails(gw.get_route, "NotFoundException", 404, ApiId=api_id, RouteId=route_id)
    gw.delete_integration(ApiId=api_id, IntegrationId=integ_id)
    fails(gw.get_integration, "NotFoundException", 404, ApiId=api_id, IntegrationId=integ_id)
    gw.delete_api(ApiId=api_id)
    fails(gw.get_api, "NotFoundException", 404, ApiId=api_id)
    fails(gw.get_tags, "NotFoundException", 404, ResourceArn=api_arn)
    lam.delete_function(FunctionName=fn)


def test_apigatewayv2_tags_name_an_api_or_a_stage(aws):
    gw = aws["apigatewayv2"]
    api_id = gw.create_api(Name="tf-tags", ProtocolType="HTTP")["ApiId"]
    for arn in (f"arn:aws:apigateway:{REGION}::/apis/{api_id}/routes/x",
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"):
        fails(gw.get_tags, "BadRequestException", 400, ResourceArn=arn)
        fails(gw.tag_resource, "BadRequestException", 400, ResourceArn=arn, Tags={"a": "b"})
    too_many = {f"k{i}": "v" for i in range(51)}
    arn = f"arn:aws:apigateway:{REGION}::/apis/{api_id}"
    fails(gw.tag_resource, "BadRequestException", 400, ResourceArn=arn, Tags=too_many)
    assert gw.get_tags(ResourceArn=arn)["Tags"] == {}
    gw.delete_api(ApiId=api_id)
