"""Topics survive restarts, and a publish acknowledged before `kill -9` is delivered after
the restart (the deliveries are queued durably before Publish answers)."""

import json

from helpers import (
    INVOKE_CONFIG,
    Records,
    allow_topic,
    create_function,
    make_client,
    make_s3_client,
    recorder_kwargs,
    recorder_zip,
    unique_bucket,
    unique_name,
    wait_active,
)

DEADLINE_S = 60


def test_acknowledged_publish_is_delivered_after_kill_9(server_factory):
    srv = server_factory()
    lam, sns, s3 = srv.client(**INVOKE_CONFIG), make_client(srv.url, "sns"), make_s3_client(srv.url)
    bucket = unique_bucket("rec")
    s3.create_bucket(Bucket=bucket)
    name = unique_name("rec")
    # The recorder sleeps before recording, so no delivery can finish before the kill.
    arn = create_function(lam, name, recorder_zip(), **recorder_kwargs(bucket, SLEEP_BEFORE=3))["FunctionArn"]
    wait_active(lam, name)
    topic = sns.create_topic(Name=unique_name("durable"), Attributes={"DisplayName": "D"},
                             Tags=[{"Key": "k", "Value": "v"}])["TopicArn"]
    policy = json.dumps({"kind": ["keep"]})
    allow_topic(lam, name, topic)
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn,
                        Attributes={"FilterPolicy": policy})["SubscriptionArn"]
    kept = sns.publish(TopicArn=topic, Message="survives",
                       MessageAttributes={"kind": {"DataType": "String", "StringValue": "keep"}})
    batch = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "batched", "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "keep"}}},
        {"Id": "b", "Message": "filtered", "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "drop"}}},
    ])
    srv.kill()

    srv2 = server_factory(data_dir=srv.data_dir)
    sns2 = make_client(srv2.url, "sns")
    records = Records(make_s3_client(srv2.url), bucket)
    got = records.wait_for(2, DEADLINE_S)
    events = [r["event"]["Records"][0] for r in got]
    by_message = {e["Sns"]["Message"]: e for e in events}
    assert set(by_message) == {"survives", "batched"}
    assert by_message["survives"]["Sns"]["MessageId"] == kept["MessageId"]
    assert by_message["batched"]["Sns"]["MessageId"] == batch["Successful"][0]["MessageId"]
    assert all(e["EventSubscriptionArn"] == sub for e in events)

    # The topic, its attributes, tags and subscription came through too.
    assert sns2.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "D"
    assert sns2.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "k", "Value": "v"}]
    assert sns2.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["FilterPolicy"] == policy
