"""SNS conformance: what AWS documents for the SNS API and the Lambda SNS event, checked
through boto3's sns client (control plane) and a recorder function (delivery)."""

import base64
import json
import re
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import (
    ACCOUNT,
    REGION,
    UUID_RE,
    Records,
    make_s3_client,
    recorder_kwargs,
    recorder_zip,
    unique_bucket,
)

DELIVERY_S = 30
QUIET_S = 2.5
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="module")
def sns(server):
    return server.client("sns")


@pytest.fixture(scope="module")
def s3(server):
    return make_s3_client(server.url)


@pytest.fixture(scope="module")
def recorder(s3, module_new_function, lambda_client):
    """One recorder function for the module: (function ARN, Records)."""
    bucket = unique_bucket("snsrec")
    s3.create_bucket(Bucket=bucket)
    fn = module_new_function(zip_bytes=recorder_zip(), **recorder_kwargs(bucket))
    lambda_client.add_permission(
        FunctionName=fn["FunctionName"], StatementId="sns", Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
    )
    return fn["FunctionArn"], Records(s3, bucket)


def topic_name(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topic(sns):
    arn = sns.create_topic(Name=topic_name())["TopicArn"]
    yield arn
    try:
        sns.delete_topic(TopicArn=arn)
    except ClientError:
        pass


def err(exc_info):
    e = exc_info.value
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], \
        e.response["Error"].get("Message", "")


def subscribe(sns, topic_arn, fn_arn, **attrs):
    kwargs = {"TopicArn": topic_arn, "Protocol": "lambda", "Endpoint": fn_arn,
              "ReturnSubscriptionArn": True}
    if attrs:
        kwargs["Attributes"] = attrs
    return sns.subscribe(**kwargs)["SubscriptionArn"]


def sns_records(records, marker):
    """Records whose delivered SNS message contains `marker`."""
    def match(r):
        ev = r["event"]
        try:
            return marker in ev["Records"][0]["Sns"]["Message"]
        except (KeyError, IndexError, TypeError):
            return False
    return match


# --- CreateTopic -----------------------------------------------------------


def test_create_topic_arn_and_idempotency(sns):
    name = topic_name()
    a = sns.create_topic(Name=name)["TopicArn"]
    assert a == f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
    assert sns.create_topic(Name=name)["TopicArn"] == a


def test_create_topic_same_name_different_attributes_is_rejected(sns):
    name = topic_name()
    sns.create_topic(Name=name, Attributes={"DisplayName": "one"})
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name, Attributes={"DisplayName": "two"})
    code, status, _ = err(e)
    assert (code, status) == ("InvalidParameter", 400)


def test_topic_name_of_256_chars_ok_257_rejected(sns):
    base = uuid.uuid4().hex
    ok = (base * 20)[:256]
    assert sns.create_topic(Name=ok)["TopicArn"].endswith(":" + ok)
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=(base * 20)[:257])
    assert err(e)[:2] == ("InvalidParameter", 400)


@pytest.mark.parametrize("bad", ["has space", "dot.name", "slash/name", "colon:name", ""])
def test_topic_name_bad_characters_rejected(sns, bad):
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=bad)
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_topic_name_allowed_characters(sns):
    name = "Ab9-_" + uuid.uuid4().hex[:8]
    assert sns.create_topic(Name=name)["TopicArn"].endswith(":" + name)


def test_fifo_suffix_rules(sns):
    base = topic_name()
    # .fifo name without FifoTopic=true is rejected.
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=base + ".fifo")
    assert err(e)[:2] == ("InvalidParameter", 400)
    # FifoTopic=true without the suffix is rejected.
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=base, Attributes={"FifoTopic": "true"})
    assert err(e)[:2] == ("InvalidParameter", 400)
    arn = sns.create_topic(Name=base + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    assert arn.endswith(base + ".fifo")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true"


# --- topic attributes ------------------------------------------------------


def test_get_topic_attributes_keys(sns):
    name = topic_name()
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "Shown"})["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["TopicArn"] == arn
    assert attrs["Owner"] == ACCOUNT
    assert attrs["DisplayName"] == "Shown"
    policy = json.loads(attrs["Policy"])
    assert "Statement" in policy
    for k in ("SubscriptionsConfirmed", "SubscriptionsPending", "SubscriptionsDeleted"):
        assert attrs[k] == "0", (k, attrs)
    delivery = json.loads(attrs["EffectiveDeliveryPolicy"])
    assert "http" in delivery


def test_get_attributes_of_unknown_topic(sns):
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name('nope')}")
    code, status, msg = err(e)
    assert (code, status) == ("NotFound", 404)
    assert msg == "Topic does not exist"


def test_set_topic_attribute_round_trip(sns, topic):
    sns.set_topic_attributes(TopicArn=topic, AttributeName="DisplayName", AttributeValue="New")
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "New"


def test_set_unknown_topic_attribute_is_rejected(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Bogus", AttributeValue="x")
    code, status, msg = err(e)
    assert (code, status) == ("InvalidParameter", 400)
    assert "AttributeName" in msg


# --- DeleteTopic / ListTopics ---------------------------------------------


def test_delete_topic_is_idempotent_and_removes_subscriptions(sns, recorder):
    fn_arn, _ = recorder
    arn = sns.create_topic(Name=topic_name())["TopicArn"]
    sub = subscribe(sns, arn, fn_arn)
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # AWS: deleting a missing topic is not an error
    all_subs = [s["SubscriptionArn"] for p in sns.get_paginator("list_subscriptions").paginate()
                for s in p["Subscriptions"]]
    assert sub not in all_subs
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn=sub)
    assert err(e)[:2] == ("NotFound", 404)
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=arn)
    assert err(e)[:2] == ("NotFound", 404)


def test_list_topics_pages_of_100(sns):
    prefix = "pg-" + uuid.uuid4().hex[:6]
    created = {sns.create_topic(Name=f"{prefix}-{i}")["TopicArn"] for i in range(105)}
    first = sns.list_topics()
    assert len(first["Topics"]) == 100
    assert first.get("NextToken")
    seen = []
    token = None
    while True:
        page = sns.list_topics(**({"NextToken": token} if token else {}))
        assert len(page["Topics"]) <= 100
        seen += [t["TopicArn"] for t in page["Topics"]]
        token = page.get("NextToken")
        if not token:
            break
    assert created <= set(seen)
    assert len(seen) == len(set(seen))
    for arn in created:
        sns.delete_topic(TopicArn=arn)


# --- Subscribe / Unsubscribe ----------------------------------------------


def test_subscribe_lambda_returns_full_arn_and_is_idempotent(sns, topic, recorder):
    fn_arn, _ = recorder
    resp = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)
    sub = resp["SubscriptionArn"]
    assert re.match(rf"^{re.escape(topic)}:[0-9a-f-]{{36}}$", sub), sub
    assert UUID_RE.match(sub.rsplit(":", 1)[1])
    again = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)["SubscriptionArn"]
    assert again == sub
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert len(listed) == 1


def test_subscribe_to_missing_topic(sns, recorder):
    fn_arn, _ = recorder
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name('gone')}",
                      Protocol="lambda", Endpoint=fn_arn)
    code, status, msg = err(e)
    assert (code, status) == ("NotFound", 404)
    assert msg == "Topic does not exist"


def test_subscribe_with_invalid_protocol(sns, topic, recorder):
    fn_arn, _ = recorder
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="carrier-pigeon", Endpoint=fn_arn)
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_unsubscribe_unknown_arn_is_a_no_op(sns, topic):
    # AWS answers a well-formed but unknown subscription ARN with success (idempotent).
    resp = sns.unsubscribe(SubscriptionArn=f"{topic}:{uuid.uuid4()}")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_unsubscribe_malformed_arn(sns):
    with pytest.raises(ClientError) as e:
        sns.unsubscribe(SubscriptionArn="not-an-arn")
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_lambda_subscription_rejects_raw_message_delivery(sns, topic, recorder):
    fn_arn, _ = recorder
    with pytest.raises(ClientError) as e:
        subscribe(sns, topic, fn_arn, RawMessageDelivery="true")
    code, status, msg = err(e)
    assert (code, status) == ("InvalidParameter", 400)
    assert "Delivery protocol [lambda] does not support raw message delivery." in msg
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_subscribe_with_invalid_filter_policy(sns, topic, recorder):
    fn_arn, _ = recorder
    with pytest.raises(ClientError) as e:
        subscribe(sns, topic, fn_arn, FilterPolicy='{"a": "not-a-list"}')
    assert err(e)[:2] == ("InvalidParameter", 400)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_subscription_attributes_of_unknown_subscription(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn=f"{topic}:{uuid.uuid4()}")
    assert err(e)[:2] == ("NotFound", 404)
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=f"{topic}:{uuid.uuid4()}",
                                        AttributeName="RawMessageDelivery", AttributeValue="false")
    assert err(e)[:2] == ("NotFound", 404)


def test_unsubscribe_removes_the_subscription(sns, topic, recorder):
    fn_arn, _ = recorder
    sub = subscribe(sns, topic, fn_arn)
    sns.unsubscribe(SubscriptionArn=sub)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_list_subscriptions_by_topic_fields(sns, topic, recorder):
    fn_arn, _ = recorder
    sub = subscribe(sns, topic, fn_arn)
    (entry,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert entry == {"SubscriptionArn": sub, "Owner": ACCOUNT, "Protocol": "lambda",
                     "Endpoint": fn_arn, "TopicArn": topic}
    listed = [s for p in sns.get_paginator("list_subscriptions").paginate()
              for s in p["Subscriptions"] if s["SubscriptionArn"] == sub]
    assert listed == [entry]


def test_list_subscriptions_by_missing_topic(sns):
    with pytest.raises(ClientError) as e:
        sns.list_subscriptions_by_topic(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name('x')}")
    assert err(e)[:2] == ("NotFound", 404)


def test_get_subscription_attributes_keys(sns, topic, recorder):
    fn_arn, _ = recorder
    sub = subscribe(sns, topic, fn_arn)
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["SubscriptionArn"] == sub
    assert attrs["TopicArn"] == topic
    assert attrs["Protocol"] == "lambda"
    assert attrs["Endpoint"] == fn_arn
    assert attrs["Owner"] == ACCOUNT
    assert attrs["ConfirmationWasAuthenticated"] == "true"
    assert attrs["PendingConfirmation"] == "false"
    assert attrs["RawMessageDelivery"] == "false"
    assert "SubscriptionPrincipal" in attrs
    # The subscription counts as confirmed on the topic.
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "1"


def test_set_subscription_invalid_filter_policy(sns, topic, recorder):
    fn_arn, _ = recorder
    sub = subscribe(sns, topic, fn_arn)
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                        AttributeValue="{not json")
    code, status, msg = err(e)
    assert (code, status) == ("InvalidParameter", 400)
    assert "FilterPolicy" in msg
    assert "FilterPolicy" not in sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]


def test_set_subscription_filter_policy_round_trip(sns, topic, recorder):
    fn_arn, _ = recorder
    sub = subscribe(sns, topic, fn_arn)
    policy = json.dumps({"color": ["red"]})
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                    AttributeValue=policy)
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert json.loads(attrs["FilterPolicy"]) == {"color": ["red"]}
    assert attrs["FilterPolicyScope"] == "MessageAttributes"


def test_set_unknown_subscription_attribute(sns, topic, recorder):
    fn_arn, _ = recorder
    sub = subscribe(sns, topic, fn_arn)
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="Bogus",
                                        AttributeValue="x")
    assert err(e)[:2] == ("InvalidParameter", 400)


# --- Publish validation ----------------------------------------------------


def test_publish_returns_uuid_message_id(sns, topic):
    mid = sns.publish(TopicArn=topic, Message="hello")["MessageId"]
    assert UUID_RE.match(mid), mid


def test_publish_to_missing_topic(sns):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name('x')}", Message="m")
    code, status, msg = err(e)
    assert (code, status) == ("NotFound", 404)
    assert msg == "Topic does not exist"


def test_publish_without_message(server, topic):
    raw = server.client("sns", parameter_validation=False)
    with pytest.raises(ClientError) as e:
        raw.publish(TopicArn=topic)
    assert err(e)[:2] == ("ValidationError", 400) or err(e)[:2] == ("InvalidParameter", 400)


def test_publish_empty_message(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="")
    code, status, msg = err(e)
    assert (code, status) == ("InvalidParameter", 400)
    assert "Empty message" in msg


def test_publish_too_large(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="x" * (256 * 1024 + 1))
    code, status, msg = err(e)
    assert (code, status) == ("InvalidParameter", 400)
    assert "too long" in msg.lower()
    # Exactly 256 KiB is accepted.
    sns.publish(TopicArn=topic, Message="x" * (256 * 1024))


@pytest.mark.parametrize("subject", ["a" * 101, "line\nbreak", "tab\tchar", ""])
def test_publish_bad_subject(sns, topic, subject):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="m", Subject=subject)
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_publish_subject_of_100_chars_ok(sns, topic):
    sns.publish(TopicArn=topic, Message="m", Subject="s" * 100)


def test_publish_subject_may_be_utf8(sns, topic):
    # botocore's SNS model: "Subjects must be UTF-8 text with no line breaks or control
    # characters, and less than 100 characters long."
    mid = sns.publish(TopicArn=topic, Message="m", Subject="Caf\u00e9 \u00fcber")["MessageId"]
    assert UUID_RE.match(mid)


def test_topic_maximum_message_size(sns, topic):
    # MaximumMessageSize: 1024..1048576 bytes, default 262144; body and attributes count.
    sns.set_topic_attributes(TopicArn=topic, AttributeName="MaximumMessageSize",
                             AttributeValue="1048576")
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["MaximumMessageSize"] == "1048576"
    sns.publish(TopicArn=topic, Message="x" * (300 * 1024))
    sns.set_topic_attributes(TopicArn=topic, AttributeName="MaximumMessageSize",
                             AttributeValue="1024")
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="x" * 2000)
    assert err(e)[:2] == ("InvalidParameter", 400)
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="MaximumMessageSize",
                                 AttributeValue="1023")
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_publish_invalid_data_type(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="m",
                    MessageAttributes={"a": {"DataType": "Blob", "StringValue": "x"}})
    code, status, _ = err(e)
    assert (code, status) == ("ParameterValueInvalid", 400)


def test_publish_bad_number_attribute(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="m",
                    MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}})
    assert err(e)[:2] == ("ParameterValueInvalid", 400)


def test_publish_json_structure_without_default(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, MessageStructure="json",
                    Message=json.dumps({"lambda": "only lambda"}))
    code, status, msg = err(e)
    assert (code, status) == ("InvalidParameter", 400)
    assert "default" in msg


def test_publish_json_structure_not_json(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, MessageStructure="json", Message="not json")
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_publish_with_neither_topic_nor_target(sns):
    with pytest.raises(ClientError) as e:
        sns.publish(Message="m")
    assert err(e)[:2] == ("InvalidParameter", 400)


# --- PublishBatch ----------------------------------------------------------


def test_publish_batch_ok(sns, topic):
    resp = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "one"}, {"Id": "b", "Message": "two"}])
    assert sorted(s["Id"] for s in resp["Successful"]) == ["a", "b"]
    assert all(UUID_RE.match(s["MessageId"]) for s in resp["Successful"])
    assert resp.get("Failed", []) == []


def test_publish_batch_too_many(sns, topic):
    entries = [{"Id": f"e{i}", "Message": "m"} for i in range(11)]
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    assert err(e)[:2] == ("TooManyEntriesInBatchRequest", 400)


def test_publish_batch_duplicate_ids(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "same", "Message": "a"}, {"Id": "same", "Message": "b"}])
    assert err(e)[:2] == ("BatchEntryIdsNotDistinct", 400)


def test_publish_batch_empty(server, topic):
    raw = server.client("sns", parameter_validation=False)
    with pytest.raises(ClientError) as e:
        raw.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[])
    assert err(e)[:2] == ("EmptyBatchRequest", 400)


# --- tags ------------------------------------------------------------------


def test_tag_untag_list(sns, topic):
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=topic)["Tags"]}
    assert tags == {"a": "1", "b": "2"}
    sns.untag_resource(ResourceArn=topic, TagKeys=["a"])
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_create_topic_with_tags(sns):
    arn = sns.create_topic(Name=topic_name(), Tags=[{"Key": "env", "Value": "dev"}])["TopicArn"]
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]


def test_tags_on_missing_topic(sns):
    with pytest.raises(ClientError) as e:
        sns.list_tags_for_resource(ResourceArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name('x')}")
    assert err(e)[:2] == ("ResourceNotFound", 404)


# --- delivery --------------------------------------------------------------


def test_delivered_event_shape(sns, topic, recorder):
    fn_arn, records = recorder
    sub = subscribe(sns, topic, fn_arn)
    marker = uuid.uuid4().hex
    mid = sns.publish(TopicArn=topic, Message=f"shape {marker}", Subject="Greeting",
                      MessageAttributes={"s": {"DataType": "String", "StringValue": "v"}})["MessageId"]
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    event = rec["event"]
    assert list(event) == ["Records"] and len(event["Records"]) == 1
    r = event["Records"][0]
    assert set(r) == {"EventSource", "EventVersion", "EventSubscriptionArn", "Sns"}
    assert set(r["Sns"]) == {"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                             "SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl",
                             "MessageAttributes"}
    assert r["EventSource"] == "aws:sns"
    assert r["EventVersion"] == "1.0"
    assert r["EventSubscriptionArn"] == sub
    s = r["Sns"]
    assert s["Type"] == "Notification"
    assert s["MessageId"] == mid
    assert s["TopicArn"] == topic
    assert s["Subject"] == "Greeting"
    assert s["Message"] == f"shape {marker}"
    assert TIMESTAMP_RE.match(s["Timestamp"]), s["Timestamp"]
    assert s["SignatureVersion"] == "1"
    assert isinstance(s["Signature"], str) and s["Signature"]
    assert s["SigningCertUrl"].startswith("http")
    assert s["UnsubscribeUrl"].startswith("http") and sub in s["UnsubscribeUrl"]
    assert s["MessageAttributes"] == {"s": {"Type": "String", "Value": "v"}}


def test_delivered_subject_is_null_when_absent(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn)
    marker = uuid.uuid4().hex
    sns.publish(TopicArn=topic, Message=f"nosubj {marker}")
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    s = rec["event"]["Records"][0]["Sns"]
    assert "Subject" in s and s["Subject"] is None
    assert s["MessageAttributes"] == {}


def test_delivered_message_attribute_types(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn)
    marker = uuid.uuid4().hex
    sns.publish(TopicArn=topic, Message=f"types {marker}", MessageAttributes={
        "str": {"DataType": "String", "StringValue": "hello"},
        "num": {"DataType": "Number", "StringValue": "12.5"},
        "bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01bin"},
        "arr": {"DataType": "String.Array", "StringValue": '["a", 1, true]'},
    })
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    attrs = rec["event"]["Records"][0]["Sns"]["MessageAttributes"]
    assert attrs["str"] == {"Type": "String", "Value": "hello"}
    assert attrs["num"] == {"Type": "Number", "Value": "12.5"}
    assert attrs["bin"] == {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01bin").decode()}
    assert attrs["arr"] == {"Type": "String.Array", "Value": '["a", 1, true]'}


def test_delivered_json_structure_uses_lambda_key(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn)
    marker = uuid.uuid4().hex
    sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps(
        {"default": f"default {marker}", "lambda": f"for lambda {marker}"}))
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    assert rec["event"]["Records"][0]["Sns"]["Message"] == f"for lambda {marker}"

    marker2 = uuid.uuid4().hex
    sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps(
        {"default": f"default {marker2}", "email": "not for lambda"}))
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker2))
    assert rec["event"]["Records"][0]["Sns"]["Message"] == f"default {marker2}"


def test_publish_with_target_arn(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn)
    marker = uuid.uuid4().hex
    sns.publish(TargetArn=topic, Message=f"target {marker}")
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    assert rec["event"]["Records"][0]["Sns"]["TopicArn"] == topic


def test_publish_batch_delivers_each_entry(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn)
    marker = uuid.uuid4().hex
    resp = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "1", "Message": f"b1 {marker}", "Subject": "S1"},
        {"Id": "2", "Message": f"b2 {marker}",
         "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}])
    ids = {s["Id"]: s["MessageId"] for s in resp["Successful"]}
    got = records.wait_for(2, DELIVERY_S, where=sns_records(records, marker))
    by_msg = {r["event"]["Records"][0]["Sns"]["Message"]: r["event"]["Records"][0]["Sns"] for r in got}
    assert by_msg[f"b1 {marker}"]["MessageId"] == ids["1"]
    assert by_msg[f"b1 {marker}"]["Subject"] == "S1"
    assert by_msg[f"b2 {marker}"]["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}


# --- filter policies -------------------------------------------------------


def test_filter_policy_on_attributes(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn, FilterPolicy=json.dumps(
        {"color": ["red", {"prefix": "gr"}], "size": [{"numeric": [">", 10, "<=", 20]}]}))
    marker = uuid.uuid4().hex

    def pub(tag, attrs):
        sns.publish(TopicArn=topic, Message=f"{tag} {marker}", MessageAttributes={
            k: {"DataType": "Number" if isinstance(v, (int, float)) else "String",
                "StringValue": str(v)} for k, v in attrs.items()})

    pub("yes-red", {"color": "red", "size": 15})
    pub("yes-green", {"color": "green", "size": 20})
    pub("no-blue", {"color": "blue", "size": 15})
    pub("no-size", {"color": "red", "size": 25})
    pub("no-missing", {"color": "red"})
    pub("no-attrs", {})
    got = records.wait_for(2, DELIVERY_S, where=sns_records(records, marker))
    records.assert_stays(2, QUIET_S, where=sns_records(records, marker))
    tags = sorted(r["event"]["Records"][0]["Sns"]["Message"].split()[0] for r in got)
    assert tags == ["yes-green", "yes-red"]


def test_filter_policy_anything_but_and_exists(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn, FilterPolicy=json.dumps(
        {"store": [{"anything-but": ["closed"]}], "vip": [{"exists": False}]}))
    marker = uuid.uuid4().hex

    def pub(tag, attrs):
        sns.publish(TopicArn=topic, Message=f"{tag} {marker}", MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()})

    pub("yes", {"store": "open"})
    pub("no-closed", {"store": "closed"})
    pub("no-vip", {"store": "open", "vip": "1"})
    got = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    records.assert_stays(1, QUIET_S, where=sns_records(records, marker))
    assert got[0]["event"]["Records"][0]["Sns"]["Message"].startswith("yes ")


def test_filter_policy_message_body_scope(sns, topic, recorder):
    fn_arn, records = recorder
    sub = subscribe(sns, topic, fn_arn, FilterPolicyScope="MessageBody",
                    FilterPolicy=json.dumps({"order": {"status": ["paid"]}}))
    assert sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"][
        "FilterPolicyScope"] == "MessageBody"
    marker = uuid.uuid4().hex
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"status": "paid"}, "m": f"yes {marker}"}))
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"status": "new"}, "m": f"no {marker}"}))
    sns.publish(TopicArn=topic, Message=f"not json {marker}")
    got = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    records.assert_stays(1, QUIET_S, where=sns_records(records, marker))
    assert json.loads(got[0]["event"]["Records"][0]["Sns"]["Message"])["m"] == f"yes {marker}"


# --- more validation -------------------------------------------------------


def test_create_topic_unknown_attribute(sns):
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=topic_name(), Attributes={"Bogus": "x"})
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_set_topic_policy_not_json(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue="{nope")
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_delete_topic_malformed_arn(sns):
    with pytest.raises(ClientError) as e:
        sns.delete_topic(TopicArn="not-an-arn")
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_subscribe_lambda_endpoint_must_be_an_arn(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint="just-a-name")
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_fifo_topic_publish_requires_group_id(sns):
    arn = sns.create_topic(Name=topic_name() + ".fifo",
                           Attributes={"FifoTopic": "true",
                                       "ContentBasedDeduplication": "true"})["TopicArn"]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="m")
    code, status, msg = err(e)
    assert (code, status) == ("InvalidParameter", 400)
    assert "MessageGroupId" in msg
    sns.publish(TopicArn=arn, Message="m", MessageGroupId="g")


def test_publish_both_topic_and_target(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, TargetArn=topic, Message="m")
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_publish_batch_invalid_entry_id(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "bad id!", "Message": "m"}])
    assert err(e)[:2] == ("InvalidBatchEntryId", 400)


def test_publish_batch_too_long(sns, topic):
    entries = [{"Id": f"e{i}", "Message": "x" * (30 * 1024)} for i in range(10)]
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    assert err(e)[:2] == ("BatchRequestTooLong", 400)


def test_publish_batch_to_missing_topic(sns):
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name('x')}",
                          PublishBatchRequestEntries=[{"Id": "a", "Message": "m"}])
    assert err(e)[:2] == ("NotFound", 404)


def test_untag_missing_topic(sns):
    with pytest.raises(ClientError) as e:
        sns.untag_resource(ResourceArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name('x')}",
                           TagKeys=["a"])
    assert err(e)[:2] == ("ResourceNotFound", 404)


def test_too_many_tags(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=topic,
                         Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert err(e)[:2] == ("TagLimitExceeded", 400)
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == []


def test_filter_policy_string_array_and_numeric_equals(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn, FilterPolicy=json.dumps(
        {"tags": ["urgent"], "n": [{"numeric": ["=", 5]}]}))
    marker = uuid.uuid4().hex

    def pub(tag, tags, n, n_type="Number"):
        sns.publish(TopicArn=topic, Message=f"{tag} {marker}", MessageAttributes={
            "tags": {"DataType": "String.Array", "StringValue": json.dumps(tags)},
            "n": {"DataType": n_type, "StringValue": n}})

    pub("yes", ["low", "urgent"], "5.0")
    pub("no-tags", ["low"], "5")
    pub("no-n", ["urgent"], "6")
    got = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    records.assert_stays(1, QUIET_S, where=sns_records(records, marker))
    assert got[0]["event"]["Records"][0]["Sns"]["Message"].startswith("yes ")


def test_create_topic_same_name_different_tags_is_rejected(sns):
    name = topic_name()
    sns.create_topic(Name=name, Tags=[{"Key": "a", "Value": "1"}])
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name, Tags=[{"Key": "a", "Value": "2"}])
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_list_subscriptions_by_topic_pages_of_100(sns, topic):
    prefix = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pg-{uuid.uuid4().hex[:6]}"
    subs = {subscribe(sns, topic, f"{prefix}-{i}") for i in range(101)}
    first = sns.list_subscriptions_by_topic(TopicArn=topic)
    assert len(first["Subscriptions"]) == 100
    assert first.get("NextToken")
    second = sns.list_subscriptions_by_topic(TopicArn=topic, NextToken=first["NextToken"])
    assert "NextToken" not in second
    got = [s["SubscriptionArn"] for s in first["Subscriptions"] + second["Subscriptions"]]
    assert sorted(got) == sorted(subs)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "101"


def test_unsubscribe_stops_delivery(sns, topic, recorder):
    fn_arn, records = recorder
    sub = subscribe(sns, topic, fn_arn)
    marker = uuid.uuid4().hex
    sns.publish(TopicArn=topic, Message=f"before {marker}")
    records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    sns.unsubscribe(SubscriptionArn=sub)
    sns.publish(TopicArn=topic, Message=f"after {marker}")
    got = records.assert_stays(1, QUIET_S, where=sns_records(records, marker))
    assert got[0]["event"]["Records"][0]["Sns"]["Message"].startswith("before ")


def test_delivered_signature_and_timestamp(sns, topic, recorder):
    import datetime
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn)
    marker = uuid.uuid4().hex
    before = datetime.datetime.now(datetime.timezone.utc)
    sns.publish(TopicArn=topic, Message=f"sig {marker}")
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    s = rec["event"]["Records"][0]["Sns"]
    assert base64.b64decode(s["Signature"], validate=True)
    ts = datetime.datetime.strptime(s["Timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    assert abs((ts - before).total_seconds()) < 60


def test_filter_policy_at_most_five_keys(sns, topic, recorder):
    fn_arn, _ = recorder
    policy = {f"k{i}": ["v"] for i in range(6)}
    with pytest.raises(ClientError) as e:
        subscribe(sns, topic, fn_arn, FilterPolicy=json.dumps(policy))
    assert err(e)[:2] == ("InvalidParameter", 400)


def test_resubscribe_with_different_attributes_is_rejected(sns, topic, recorder):
    fn_arn, _ = recorder
    subscribe(sns, topic, fn_arn, FilterPolicy=json.dumps({"a": ["1"]}))
    with pytest.raises(ClientError) as e:
        subscribe(sns, topic, fn_arn, FilterPolicy=json.dumps({"a": ["2"]}))
    code, status, msg = err(e)
    assert (code, status) == ("InvalidParameter", 400)
    assert "already exists with different attributes" in msg


def test_filter_policy_message_body_nested_numeric_and_arrays(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn, FilterPolicyScope="MessageBody", FilterPolicy=json.dumps(
        {"detail": {"price": [{"numeric": [">=", 100]}], "tags": ["sale"]}}))
    marker = uuid.uuid4().hex

    def pub(tag, detail):
        sns.publish(TopicArn=topic, Message=json.dumps({"detail": detail, "m": f"{tag} {marker}"}))

    pub("yes", {"price": 150, "tags": ["new", "sale"]})
    pub("no-price", {"price": 50, "tags": ["sale"]})
    pub("no-tags", {"price": 150, "tags": ["new"]})
    pub("no-flat", {"price": 150})
    got = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    records.assert_stays(1, QUIET_S, where=sns_records(records, marker))
    assert json.loads(got[0]["event"]["Records"][0]["Sns"]["Message"])["m"] == f"yes {marker}"


def test_signature_version_2_is_carried_in_the_event(sns, topic, recorder):
    fn_arn, records = recorder
    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SignatureVersion"] == "2"
    subscribe(sns, topic, fn_arn)
    marker = uuid.uuid4().hex
    sns.publish(TopicArn=topic, Message=f"sv2 {marker}")
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    assert rec["event"]["Records"][0]["Sns"]["SignatureVersion"] == "2"


def test_subscribe_alias_arn_invokes_the_alias(sns, topic, recorder, lambda_client):
    fn_arn, records = recorder
    version = lambda_client.publish_version(FunctionName=fn_arn)["Version"]
    alias = f"live{uuid.uuid4().hex[:6]}"
    alias_arn = lambda_client.create_alias(FunctionName=fn_arn, Name=alias,
                                           FunctionVersion=version)["AliasArn"]
    # An alias has its own policy: SNS needs a permission on it, as on AWS.
    lambda_client.add_permission(FunctionName=alias_arn, StatementId="sns", Principal="sns.amazonaws.com",
                                 Action="lambda:InvokeFunction", SourceArn=topic)
    sub = subscribe(sns, topic, alias_arn)
    (entry,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert entry["Endpoint"] == alias_arn
    marker = uuid.uuid4().hex
    sns.publish(TopicArn=topic, Message=f"alias {marker}")
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    assert rec["version"] == version
    assert rec["event"]["Records"][0]["EventSubscriptionArn"] == sub


def test_filter_policy_suffix_ignore_case_and_or(sns, topic, recorder):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn, FilterPolicy=json.dumps({"$or": [
        {"file": [{"suffix": ".png"}]},
        {"kind": [{"equals-ignore-case": "ALERT"}]},
        {"src": [{"anything-but": {"prefix": "int-"}}], "ip": [{"cidr": "10.0.0.0/24"}]},
    ]}))
    marker = uuid.uuid4().hex

    def pub(tag, attrs):
        sns.publish(TopicArn=topic, Message=f"{tag} {marker}", MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()})

    pub("yes-png", {"file": "a.png"})
    pub("yes-alert", {"kind": "alert"})
    pub("yes-ext", {"src": "ext-1", "ip": "10.0.0.7"})
    pub("no-jpg", {"file": "a.jpg"})
    pub("no-int", {"src": "int-1", "ip": "10.0.0.7"})
    pub("no-ip", {"src": "ext-1", "ip": "10.0.1.7"})
    got = records.wait_for(3, DELIVERY_S, where=sns_records(records, marker))
    records.assert_stays(3, QUIET_S, where=sns_records(records, marker))
    tags = sorted(r["event"]["Records"][0]["Sns"]["Message"].split()[0] for r in got)
    assert tags == ["yes-alert", "yes-ext", "yes-png"]


PUBLISHER_SOURCE = '''
import boto3

def handler(event, context):
    sns = boto3.client("sns")
    return sns.publish(TopicArn=event["topic"], Message=event["message"])["MessageId"]
'''


def test_function_publishes_with_boto3(sns, topic, recorder, new_function, make_zip, invoke_client):
    fn_arn, records = recorder
    subscribe(sns, topic, fn_arn)
    pub_fn = new_function(zip_bytes=make_zip({"app.py": PUBLISHER_SOURCE}), Timeout=30)
    marker = uuid.uuid4().hex
    resp = invoke_client.invoke(FunctionName=pub_fn["FunctionName"], Payload=json.dumps(
        {"topic": topic, "message": f"inner {marker}"}).encode())
    payload = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, payload
    (rec,) = records.wait_for(1, DELIVERY_S, where=sns_records(records, marker))
    assert rec["event"]["Records"][0]["Sns"]["MessageId"] == payload
