"""The console's data pages, driven in a real browser as a user would (the same chromium and
chromedriver fixture as test_console.py): edit a table's item (invalid JSON refused, item
unchanged), upload, download and delete an object (an oversized file refused), publish to a
topic with a function subscribed and see it invoked, send and peek queue messages, disable a
rule, try an HTTP API's route. Screenshots go to target/console-screenshots/."""

import json
import time

import pytest
from botocore.exceptions import ClientError

import helpers
from test_console import (  # noqa: F401 (fixtures)
    browser, console_url, create_logging_function, find, needs_browser, shot, sign_in, srv,
    wait_for,
)

# The console proxy's body limit (the server's whole-request limit), stated on the bucket page.
UPLOAD_LIMIT = 70_167_211


def text_of(driver, css, contains):
    """Waits until the first element matching `css` contains `contains`, read in the page in
    one step (a page that re-renders would leave a found element stale before it is read)."""
    script = ("const e = document.querySelector(arguments[0]);"
              "return !!e && e.textContent.includes(arguments[1]);")
    wait_for(driver, lambda d: d.execute_script(script, css, contains),
             f"{css} never showed {contains!r}")


@pytest.fixture(scope="module")
def signed_in(browser, console_url):
    sign_in(browser, console_url)
    text_of(browser, "main h1", "Dashboard")
    return browser


def set_text(el, text):
    el.clear()
    el.send_keys(text)


@needs_browser
def test_open_a_table_and_edit_an_item(signed_in, console_url, srv):
    b = signed_in
    ddb = srv.client("dynamodb")
    ddb.create_table(
        TableName="console-items", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    ddb.put_item(TableName="console-items", Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "1"}})
    ddb.put_item(TableName="console-items", Item={"pk": {"S": "b"}, "sk": {"N": "1"}})
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}

    b.get(console_url + "#/tables")
    find(b, "a[href='#/tables/console-items']").click()
    text_of(b, "#table-name", "console-items")
    text_of(b, "#items", "Scan: 2 item(s)")
    # A query on the partition key finds the one item.
    set_text(find(b, "#q-pk"), "a")
    find(b, "#query").click()
    text_of(b, "#items", "Query: 1 item(s)")
    find(b, "#items .open-item").click()
    editor = find(b, "#item-json")
    assert json.loads(editor.get_attribute("value")) == {"pk": "a", "sk": 1, "n": 1}

    set_text(editor, '{"pk": "a", "sk": 1, "n": 2, "tags": ["x", true, null]}')
    find(b, "#item-save").click()
    text_of(b, "#editor-message", "Saved.")
    item = ddb.get_item(TableName="console-items", Key=key)["Item"]
    assert item["n"] == {"N": "2"}
    assert item["tags"] == {"L": [{"S": "x"}, {"BOOL": True}, {"NULL": True}]}
    shot(b, "table-item")

    # Invalid JSON: a message, and the item is as it was.
    set_text(editor, '{"pk": "a", "sk": 1, "n": ')
    find(b, "#item-save").click()
    text_of(b, "#editor-message", "Invalid JSON")
    assert "Nothing was saved" in find(b, "#editor-message").text
    # A missing key attribute is refused the same way.
    set_text(editor, '{"pk": "a", "n": 3}')
    find(b, "#item-save").click()
    text_of(b, "#editor-message", "key attribute(s): sk")
    assert ddb.get_item(TableName="console-items", Key=key)["Item"] == item

    # Typed JSON, as the API takes it, saves a set plain JSON cannot hold.
    set_text(editor, '{"pk": "a", "sk": 1, "n": 2}')
    find(b, "#format-typed").click()
    typed = json.loads(editor.get_attribute("value"))
    assert typed["n"] == {"N": "2"}
    typed["colours"] = {"SS": ["red", "blue"]}
    set_text(editor, json.dumps(typed))
    find(b, "#item-save").click()
    text_of(b, "#editor-message", "Saved.")
    item = ddb.get_item(TableName="console-items", Key=key)["Item"]
    assert sorted(item["colours"]["SS"]) == ["blue", "red"]

    # Delete asks first.
    find(b, "#item-delete").click()
    find(b, "#editor-slot .confirm-yes").click()
    text_of(b, "#item-message", "Item deleted.")
    assert "Item" not in ddb.get_item(TableName="console-items", Key=key)


@needs_browser
def test_upload_download_and_delete_an_object(signed_in, console_url, srv, tmp_path):
    b = signed_in
    s3 = srv.client("s3")
    s3.create_bucket(Bucket="console-bucket")
    s3.put_object(Bucket="console-bucket", Key="docs/old.txt", Body=b"old")
    local = tmp_path / "hello world.txt"
    local.write_bytes(b"hello from the console\n")

    b.get(console_url + "#/buckets")
    find(b, "a[href='#/buckets/console-bucket']").click()
    text_of(b, "#object-list", "docs/")
    find(b, "#upload-file").send_keys(str(local))
    assert find(b, "#upload-key").get_attribute("value") == "hello world.txt"
    find(b, "#upload-submit").click()
    text_of(b, "#object-message", "Uploaded hello world.txt")
    got = s3.get_object(Bucket="console-bucket", Key="hello world.txt")
    assert got["Body"].read() == b"hello from the console\n"
    assert got["ContentType"] == "text/plain"
    text_of(b, "#object-list", "hello world.txt")
    shot(b, "bucket")

    # Download: the link goes through the console's proxy with the session.
    link = find(b, "a.download[aria-label='Download hello world.txt']")
    body = b.execute_async_script(
        "fetch(arguments[0]).then(r => r.text()).then(arguments[1])", link.get_attribute("href"))
    assert body == "hello from the console\n"

    # Browse into a folder by its prefix.
    find(b, "a[href='#/buckets/console-bucket?prefix=docs%2F']").click()
    text_of(b, "#object-list", "old.txt")
    assert find(b, "#upload-key").get_attribute("value") == "docs/"

    # An oversized file is refused on the page; nothing is uploaded.
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(UPLOAD_LIMIT + 1)
    find(b, "#upload-file").send_keys(str(big))
    find(b, "#upload-submit").click()
    text_of(b, "#object-message", "uploads at most")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="console-bucket")["Contents"]]
    assert sorted(keys) == ["docs/old.txt", "hello world.txt"]

    # Delete asks first, then deletes.
    b.get(console_url + "#/buckets/console-bucket")
    find(b, "button[aria-label='Delete hello world.txt']").click()
    find(b, "#object-list .confirm-yes").click()
    text_of(b, "#object-message", "Deleted hello world.txt")
    with pytest.raises(ClientError):
        s3.head_object(Bucket="console-bucket", Key="hello world.txt")


@needs_browser
def test_publish_to_a_topic_invokes_its_function(signed_in, console_url, srv):
    b = signed_in
    lam = create_logging_function(srv, "published-to", versions=0)
    sns = srv.client("sns")
    topic = sns.create_topic(Name="console-publish")["TopicArn"]
    lam.add_permission(FunctionName="published-to", StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=helpers.function_arn("published-to"))

    b.get(console_url + "#/topics")
    find(b, f"a[href='#/topics/{topic.replace(':', '%3A')}']").click()
    text_of(b, "#topic-name", "console-publish")
    text_of(b, "main table", "published-to")
    set_text(find(b, "#publish-message"), "hello subscribers")
    find(b, "#publish-submit").click()
    text_of(b, "#publish-result", "Published: message")
    shot(b, "topic")

    # The function ran: its log group has the event, and the usage page counts it.
    logs = srv.client("logs")

    def logged(_):
        try:
            events = logs.filter_log_events(logGroupName="/aws/lambda/published-to")["events"]
        except ClientError:
            return False
        return any("hello subscribers" in e["message"] or "console-test-line" in e["message"]
                   for e in events)

    wait_for(b, logged, "the subscribed function was not invoked")

    # The report is read when the page renders: reload it until the meter's batch is written.
    b.get(console_url + "#/usage?window=1h")
    loads = {"at": time.monotonic()}

    def counted(d):
        tables = d.find_elements("css selector", "main table")
        if tables and "published-to" in tables[0].text:
            return True
        if time.monotonic() - loads["at"] > 1:
            d.refresh()
            loads["at"] = time.monotonic()
        return False

    wait_for(b, counted, "the usage page never counted the invocation")
    shot(b, "usage")


@needs_browser
def test_queue_send_peek_and_purge(signed_in, console_url, srv):
    b = signed_in
    sqs = srv.client("sqs")
    url = sqs.create_queue(QueueName="console-queue")["QueueUrl"]
    b.get(console_url + "#/queues")
    find(b, "a[href='#/queues/console-queue']").click()
    set_text(find(b, "#send-body"), "first message")
    find(b, "#send-submit").click()
    text_of(b, "#queue-message", "Sent: message")
    find(b, "#peek").click()
    text_of(b, "#peeked", "first message")
    # Peeking leaves the message visible.
    got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    assert got[0]["Body"] == "first message"
    shot(b, "queue")
    find(b, "#purge").click()
    find(b, ".confirm-yes").click()
    text_of(b, "#queue-message", "Purged.")
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


@needs_browser
def test_rules_are_listed_and_disabled(signed_in, console_url, srv):
    b = signed_in
    events = srv.client("events")
    events.put_rule(Name="console-rule", ScheduleExpression="rate(1 hour)", State="ENABLED")
    b.get(console_url + "#/rules")
    find(b, "button[aria-label='Disable console-rule']").click()
    text_of(b, "#rules-message", "console-rule is now disabled")
    assert events.describe_rule(Name="console-rule")["State"] == "DISABLED"
    find(b, "button[aria-label='Enable console-rule']")

    # A schedule: UpdateSchedule keeps everything but the State.
    create_logging_function(srv, "scheduled", versions=0)
    scheduler = srv.client("scheduler")
    target = {"Arn": helpers.function_arn("scheduled"), "RoleArn": helpers.ROLE, "Input": '{"n": 5}'}
    scheduler.create_schedule(Name="console-schedule", ScheduleExpression="rate(1 hour)",
                              FlexibleTimeWindow={"Mode": "OFF"}, Target=target, Description="kept")
    b.refresh()
    find(b, "button[aria-label='Disable console-schedule']").click()
    text_of(b, "#rules-message", "console-schedule is now disabled")
    got = scheduler.get_schedule(Name="console-schedule")
    assert got["State"] == "DISABLED"
    assert (got["Description"], got["ScheduleExpression"], got["Target"]["Input"]) == ("kept", "rate(1 hour)", '{"n": 5}')
    shot(b, "rules")


@needs_browser
def test_http_api_routes_and_try_it(signed_in, console_url, srv):
    b = signed_in
    lam = create_logging_function(srv, "api-backend", versions=0)
    gw = srv.client("apigatewayv2")
    api = gw.create_api(Name="console-api", ProtocolType="HTTP", Target=helpers.function_arn("api-backend"))
    lam.add_permission(FunctionName="api-backend", StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com")
    b.get(console_url + "#/apis")
    find(b, f"a[href='#/apis/{api['ApiId']}']").click()
    text_of(b, "main table", "$default")
    text_of(b, "main table", "api-backend")
    set_text(find(b, "#try-path"), "/hello?x=1")
    find(b, "#try-submit").click()
    text_of(b, "#try-status", "200")
    answer = json.loads(find(b, "#try-response").text)
    assert answer["echo"]["rawPath"] == "/hello"
    assert answer["echo"]["rawQueryString"] == "x=1"
    shot(b, "http-api")


@needs_browser
def test_a_rollout_shows_its_progress_and_stops_with_a_rollback(signed_in, console_url, srv):
    b = signed_in
    lam = create_logging_function(srv, "console-rollout", versions=2)
    lam.create_alias(FunctionName="console-rollout", Name="live", FunctionVersion="1")
    cd = srv.client("codedeploy")
    cd.create_application(applicationName="console-app", computePlatform="Lambda")
    # A canary that holds 10 % for an hour: the rollout is mid-way while the page looks at it.
    cd.create_deployment_config(
        deploymentConfigName="console-canary", computePlatform="Lambda",
        trafficRoutingConfig={"type": "TimeBasedCanary",
                              "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 60}})
    cd.create_deployment_group(
        applicationName="console-app", deploymentGroupName="g",
        serviceRoleArn="arn:aws:iam::000000000000:role/codedeploy",
        deploymentConfigName="console-canary",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"})
    spec = {"version": 0.0, "Resources": [{"fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": "console-rollout", "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"}}}]}
    dep = cd.create_deployment(
        applicationName="console-app", deploymentGroupName="g",
        revision={"revisionType": "String", "string": {"content": json.dumps(spec)}})["deploymentId"]
    weights = lambda: lam.get_alias(FunctionName="console-rollout", Name="live").get(  # noqa: E731
        "RoutingConfig", {}).get("AdditionalVersionWeights", {})
    deadline = time.time() + 30
    while weights() != {"2": 0.1}:
        assert time.time() < deadline, f"the canary never took 10 %: {weights()}"
        time.sleep(0.2)

    b.get(console_url + "#/rollouts")
    find(b, f"a[href='#/rollouts/{dep}']").click()
    text_of(b, "#rollout-status", "InProgress")
    text_of(b, "#rollout-weight", "10%")
    shot(b, "rollout")
    find(b, "#rollout-stop").click()
    find(b, ".confirm-yes").click()
    text_of(b, "#rollout-message", "Stopping")
    deadline = time.time() + 30
    while cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"] != "Stopped":
        assert time.time() < deadline, "the deployment never stopped"
        time.sleep(0.2)
    alias = lam.get_alias(FunctionName="console-rollout", Name="live")
    assert alias["FunctionVersion"] == "1" and weights() == {}
    find(b, "#rollout-refresh").click()
    text_of(b, "#rollout-status", "Stopped")
