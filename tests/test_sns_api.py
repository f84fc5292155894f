"""Topics through boto3's sns client: every operation, its results and its errors (code,
HTTP status and message as SNS sends them, in XML). Delivery is in test_sns_delivery.py."""

import json
import re
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from helpers import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, assert_error, http_request, make_client, sigv4_headers

NS = "{http://sns.amazonaws.com/doc/2010-03-31/}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def sns(server):
    return make_client(server.url, "sns")


@pytest.fixture(scope="module")
def raw_sns(server):
    """A client that skips botocore's own parameter checks, so the server's are tested."""
    return make_client(server.url, "sns", parameter_validation=False)


def regional_client(server, region):
    """An sns client signing for `region` (topics are listed per region)."""
    return boto3.client("sns", endpoint_url=server.url, region_name=region,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=Config(retries={"total_max_attempts": 1}))


def name(prefix="topic"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def fn_arn(fn="subscriber", qualifier=None, region=REGION):
    arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{fn}"
    return f"{arn}:{qualifier}" if qualifier else arn


@pytest.fixture
def topic(sns):
    return sns.create_topic(Name=name())["TopicArn"]


def subscribe(sns, topic, endpoint=None, **attrs):
    return sns.subscribe(
        TopicArn=topic, Protocol="lambda", Endpoint=endpoint or fn_arn(name("fn")),
        Attributes=attrs, ReturnSubscriptionArn=True,
    )["SubscriptionArn"]


# --- topics ----------------------------------------------------------------------


def test_create_topic_is_idempotent_by_name(sns):
    n = name()
    first = sns.create_topic(Name=n, Attributes={"DisplayName": "Orders"}, Tags=[{"Key": "team", "Value": "a"}])
    assert first["TopicArn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{n}"
    again = sns.create_topic(Name=n, Attributes={"DisplayName": "Orders"}, Tags=[{"Key": "team", "Value": "a"}])
    assert again["TopicArn"] == first["TopicArn"]
    assert sns.create_topic(Name=n)["TopicArn"] == first["TopicArn"]
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=n, Attributes={"DisplayName": "Other"})
    assert_error(e.value, "InvalidParameter", 400,
                 "Invalid parameter: Attributes Reason: Topic already exists with different attributes")
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=n, Tags=[{"Key": "team", "Value": "b"}])
    assert_error(e.value, "InvalidParameter", 400,
                 "Invalid parameter: Tags Reason: Topic already exists with different tags")
    attrs = sns.get_topic_attributes(TopicArn=first["TopicArn"])["Attributes"]
    assert attrs["DisplayName"] == "Orders"


@pytest.mark.parametrize("bad", ["has space", "a/b", "x" * 257, "dot.ted"])
def test_create_topic_rejects_bad_names(sns, bad):
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=bad)
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: Topic Name")


def test_create_topic_rejects_unknown_attribute(sns):
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name(), Attributes={"Colour": "red"})
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: AttributeName")


def test_fifo_topics(sns):
    n = name() + ".fifo"
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=n)
    assert_error(e.value, "InvalidParameter", 400, message_contains="Topic Name")
    arn = sns.create_topic(Name=n, Attributes={"FifoTopic": "true"})["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="m")
    assert_error(e.value, "InvalidParameter", 400, message_contains="MessageGroupId")
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="m", MessageGroupId="g")
    assert_error(e.value, "InvalidParameter", 400,
                 "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or "
                 "MessageDeduplicationId provided explicitly")
    out = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="d1")
    assert re.fullmatch(r"\d+", out["SequenceNumber"])
    sns.set_topic_attributes(TopicArn=arn, AttributeName="ContentBasedDeduplication", AttributeValue="true")
    assert sns.publish(TopicArn=arn, Message="m", MessageGroupId="g")["SequenceNumber"]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=sns.create_topic(Name=name())["TopicArn"], Message="m", MessageDeduplicationId="d")
    assert_error(e.value, "InvalidParameter", 400, message_contains="MessageDeduplicationId")


def test_get_topic_attributes_defaults(sns, topic):
    attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attrs["TopicArn"] == topic
    assert attrs["Owner"] == ACCOUNT
    assert attrs["DisplayName"] == ""
    assert (attrs["SubscriptionsConfirmed"], attrs["SubscriptionsPending"], attrs["SubscriptionsDeleted"]) == ("0", "0", "0")
    policy = json.loads(attrs["Policy"])
    assert policy["Statement"][0]["Resource"] == topic
    effective = json.loads(attrs["EffectiveDeliveryPolicy"])
    assert effective["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    subscribe(sns, topic)
    subscribe(sns, topic)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "2"


def test_set_topic_attributes(sns, topic):
    sns.set_topic_attributes(TopicArn=topic, AttributeName="DisplayName", AttributeValue="Shop")
    delivery = {"http": {"defaultHealthyRetryPolicy": {"numRetries": 7, "minDelayTarget": 1,
                                                        "maxDelayTarget": 2}}}
    sns.set_topic_attributes(TopicArn=topic, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(delivery))
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                      "Action": "SNS:Publish", "Resource": topic}]}
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attrs["DisplayName"] == "Shop"
    assert json.loads(attrs["DeliveryPolicy"]) == delivery
    assert json.loads(attrs["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 7
    assert json.loads(attrs["Policy"]) == policy
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Colour", AttributeValue="x")
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: AttributeName")
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue="{not json")
    assert_error(e.value, "InvalidParameter", 400)
    assert json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]) == policy


def test_add_and_remove_permission(sns, topic):
    sns.add_permission(TopicArn=topic, Label="partners", AWSAccountId=["111122223333", "444455556666"],
                       ActionName=["Publish", "Subscribe"])
    sns.add_permission(TopicArn=topic, Label="one", AWSAccountId=["111122223333"], ActionName=["Publish"])
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert "__default_statement_ID" in by_sid
    assert by_sid["partners"] == {
        "Sid": "partners", "Effect": "Allow", "Resource": topic,
        "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]},
        "Action": ["SNS:Publish", "SNS:Subscribe"],
    }
    assert by_sid["one"]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert by_sid["one"]["Action"] == "SNS:Publish"
    with pytest.raises(ClientError) as e:
        sns.add_permission(TopicArn=topic, Label="one", AWSAccountId=["111122223333"], ActionName=["Publish"])
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: Statement already exists")
    sns.remove_permission(TopicArn=topic, Label="partners")
    sns.remove_permission(TopicArn=topic, Label="never-added")
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert sorted(s["Sid"] for s in policy["Statement"]) == ["__default_statement_ID", "one"]
    with pytest.raises(ClientError) as e:
        sns.remove_permission(TopicArn=topic + "-missing", Label="one")
    assert_error(e.value, "NotFound", 404, "Topic does not exist")


def test_missing_and_malformed_topics(sns):
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT}:{name()}"
    for call in (
        lambda: sns.get_topic_attributes(TopicArn=missing),
        lambda: sns.set_topic_attributes(TopicArn=missing, AttributeName="DisplayName", AttributeValue="x"),
        lambda: sns.list_subscriptions_by_topic(TopicArn=missing),
        lambda: sns.subscribe(TopicArn=missing, Protocol="lambda", Endpoint=fn_arn()),
        lambda: sns.publish(TopicArn=missing, Message="m"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert_error(e.value, "NotFound", 404, "Topic does not exist")
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn="not-an-arn")
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: TopicArn")


def test_delete_topic_removes_its_subscriptions(sns, topic):
    sub = subscribe(sns, topic)
    sns.delete_topic(TopicArn=topic)
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=topic)
    assert_error(e.value, "NotFound", 404)
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn=sub)
    assert_error(e.value, "NotFound", 404, "Subscription does not exist")
    assert all(s["SubscriptionArn"] != sub for s in sns.list_subscriptions()["Subscriptions"])
    # Deleting a topic that no longer exists is not an error.
    sns.delete_topic(TopicArn=topic)


def test_list_topics_pages_by_100(server):
    # A region of its own, so other tests' topics don't count.
    client = regional_client(server, "ap-southeast-3")
    arns = {client.create_topic(Name=f"page-{i:03d}")["TopicArn"] for i in range(105)}
    first = client.list_topics()
    assert len(first["Topics"]) == 100 and first["NextToken"]
    second = client.list_topics(NextToken=first["NextToken"])
    assert "NextToken" not in second
    listed = [t["TopicArn"] for t in first["Topics"] + second["Topics"]]
    assert len(listed) == len(set(listed)) and set(listed) == arns
    assert all(a.startswith("arn:aws:sns:ap-southeast-3:") for a in listed)
    paged = [t["TopicArn"] for p in client.get_paginator("list_topics").paginate() for t in p["Topics"]]
    assert sorted(paged) == sorted(arns)
    with pytest.raises(ClientError) as e:
        client.list_topics(NextToken="garbage!")
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: NextToken")


# --- subscriptions ---------------------------------------------------------------


def test_subscribe_lambda_and_read_it_back(sns, topic):
    endpoint = fn_arn(name("fn"), "live")
    arn = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=endpoint, ReturnSubscriptionArn=True)["SubscriptionArn"]
    assert re.fullmatch(re.escape(topic) + ":" + UUID, arn)
    # Subscribing the same endpoint again returns the same subscription.
    assert sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=endpoint)["SubscriptionArn"] == arn
    attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attrs["SubscriptionArn"] == arn and attrs["TopicArn"] == topic
    assert attrs["Protocol"] == "lambda" and attrs["Endpoint"] == endpoint
    assert attrs["Owner"] == ACCOUNT and attrs["PendingConfirmation"] == "false"
    assert attrs["ConfirmationWasAuthenticated"] == "true" and attrs["RawMessageDelivery"] == "false"
    assert "FilterPolicy" not in attrs
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed == [{"SubscriptionArn": arn, "Owner": ACCOUNT, "Protocol": "lambda",
                       "Endpoint": endpoint, "TopicArn": topic}]
    assert any(s["SubscriptionArn"] == arn for p in sns.get_paginator("list_subscriptions").paginate()
               for s in p["Subscriptions"])


def test_subscribe_with_attributes_and_conflicts(sns, topic):
    policy = json.dumps({"kind": ["a"]})
    endpoint = fn_arn(name("fn"))
    arn = subscribe(sns, topic, endpoint, FilterPolicy=policy)
    attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attrs["FilterPolicy"] == policy and attrs["FilterPolicyScope"] == "MessageAttributes"
    with pytest.raises(ClientError) as e:
        subscribe(sns, topic, endpoint, FilterPolicy=json.dumps({"kind": ["b"]}))
    assert_error(e.value, "InvalidParameter", 400,
                 "Invalid parameter: Attributes Reason: Subscription already exists with different attributes")
    body = subscribe(sns, topic, FilterPolicyScope="MessageBody", FilterPolicy=json.dumps({"a": {"b": ["c"]}}))
    assert sns.get_subscription_attributes(SubscriptionArn=body)["Attributes"]["FilterPolicyScope"] == "MessageBody"


@pytest.mark.parametrize("protocol,endpoint,message", [
    ("carrier-pigeon", "x", "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon"),
    ("lambda", "not-an-arn", "Invalid parameter: Lambda endpoint ARN"),
    ("lambda", "arn:aws:sqs:us-east-1:000000000000:q", "Invalid parameter: Lambda endpoint ARN"),
    ("sqs", "not-an-arn", "Invalid parameter: SQS endpoint ARN"),
    ("https", "https://example.com/hook", None),
])
def test_subscribe_rejects_what_cannot_be_delivered(sns, topic, protocol, endpoint, message):
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint)
    assert_error(e.value, "InvalidParameter", 400, message)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_subscribe_rejects_bad_attributes(sns, topic):
    cases = [
        ({"FilterPolicy": "{nope"}, "FilterPolicy"),
        ({"FilterPolicy": json.dumps({"a": {"b": ["c"]}})}, "does not support nested filter policy"),
        ({"RawMessageDelivery": "true"}, "raw message delivery"),
        ({"Colour": "red"}, "AttributeName"),
        ({"FilterPolicyScope": "Everything"}, "FilterPolicyScope"),
    ]
    for attrs, text in cases:
        with pytest.raises(ClientError) as e:
            sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn(), Attributes=attrs)
        assert_error(e.value, "InvalidParameter", 400, message_contains=text)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_set_subscription_attributes(sns, topic):
    arn = subscribe(sns, topic)
    policy = json.dumps({"price": [{"numeric": [">", 10]}]})
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=policy)
    redrive = json.dumps({"deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"})
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RedrivePolicy", AttributeValue=redrive)
    attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attrs["FilterPolicy"] == policy and attrs["RedrivePolicy"] == redrive
    assert attrs["FilterPolicyScope"] == "MessageAttributes"
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicyScope", AttributeValue="MessageBody")
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["FilterPolicyScope"] == "MessageBody"
    errors = [
        ("FilterPolicy", json.dumps({"a": [{"numeric": [">", "x"]}]}), "Value of > must be numeric"),
        ("FilterPolicy", json.dumps({"a": [{"wildcard-ish": 1}]}), "Unrecognized match type"),
        ("FilterPolicy", json.dumps({k: ["x"] for k in "abcdef"}), "can not have more than 5 keys"),
        ("RawMessageDelivery", "true", "Delivery protocol [lambda] does not support raw message delivery."),
        # Even "false": the attribute does not apply to functions at all.
        ("RawMessageDelivery", "false", "Delivery protocol [lambda] does not support raw message delivery."),
        ("RedrivePolicy", "{", "Invalid parameter: RedrivePolicy: failed to parse JSON."),
        ("RedrivePolicy", json.dumps({"deadLetterTargetArn": "nope"}),
         "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
        ("Endpoint", "x", "AttributeName"),
    ]
    for attr, value, text in errors:
        with pytest.raises(ClientError) as e:
            sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=attr, AttributeValue=value)
        assert_error(e.value, "InvalidParameter", 400, message_contains=text)
    # The failed changes left nothing behind; an empty policy removes the policy.
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["FilterPolicy"] == policy
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue="")
    assert "FilterPolicy" not in sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]


def test_unsubscribe(sns, topic):
    arn = subscribe(sns, topic)
    sns.unsubscribe(SubscriptionArn=arn)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn=arn)
    assert_error(e.value, "NotFound", 404, "Subscription does not exist")
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue="{}")
    assert_error(e.value, "NotFound", 404, "Subscription does not exist")
    sns.unsubscribe(SubscriptionArn=arn)  # already gone: not an error
    with pytest.raises(ClientError) as e:
        sns.unsubscribe(SubscriptionArn="arn:aws:sns:us-east-1:000000000000:nope")
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: SubscriptionArn")


def test_list_subscriptions_pages_by_100(server):
    client = regional_client(server, "ap-southeast-4")
    topic = client.create_topic(Name="many")["TopicArn"]
    subs = {subscribe(client, topic, fn_arn(f"f{i:03d}", region="ap-southeast-4")) for i in range(103)}
    for op in ("list_subscriptions", "list_subscriptions_by_topic"):
        kwargs = {} if op == "list_subscriptions" else {"TopicArn": topic}
        first = getattr(client, op)(**kwargs)
        assert len(first["Subscriptions"]) == 100 and first["NextToken"]
        second = getattr(client, op)(NextToken=first["NextToken"], **kwargs)
        assert "NextToken" not in second
        assert {s["SubscriptionArn"] for s in first["Subscriptions"] + second["Subscriptions"]} == subs


# --- publishing --------------------------------------------------------------------


def test_publish_returns_message_ids(sns, topic):
    ids = {sns.publish(TopicArn=topic, Message=f"m{i}")["MessageId"] for i in range(3)}
    assert len(ids) == 3 and all(re.fullmatch(UUID, i) for i in ids)
    out = sns.publish(TargetArn=topic, Message="by target", Subject="Hello",
                      MessageAttributes={
                          "s": {"DataType": "String", "StringValue": "x"},
                          "n": {"DataType": "Number", "StringValue": "1.5"},
                          "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
                          "a": {"DataType": "String.Array", "StringValue": '["x", 1]'},
                      })
    assert re.fullmatch(UUID, out["MessageId"])
    assert sns.publish(TopicArn=topic, Message="x" * 262_144)["MessageId"]


@pytest.mark.parametrize("kwargs,code,text", [
    ({"Message": ""}, "InvalidParameter", "Invalid parameter: Empty message"),
    ({"Message": "x" * 262_145}, "InvalidParameter", "Invalid parameter: Message too long"),
    ({"Message": json.dumps({"lambda": "x"}), "MessageStructure": "json"}, "InvalidParameter",
     "Invalid parameter: Message Structure - No default entry in JSON message body"),
    ({"Message": "not json", "MessageStructure": "json"}, "InvalidParameter",
     "Invalid parameter: Message Structure - JSON message body failed to parse"),
    ({"Message": "m", "Subject": "line\nbreak"}, "InvalidParameter", "Invalid parameter: Subject"),
    ({"Message": "m", "Subject": "s" * 101}, "InvalidParameter", "Subject"),
    ({"Message": "m", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "ten"}}},
     "ParameterValueInvalid", "Could not cast message attribute 'n' value to number."),
    ({"Message": "m", "MessageAttributes": {"n": {"DataType": "Colour", "StringValue": "red"}}},
     "ParameterValueInvalid", "The message attribute 'n' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."),
    ({"Message": "m", "MessageAttributes": {"n": {"DataType": "String", "StringValue": ""}}},
     "ParameterValueInvalid", "must contain non-empty message attribute value"),
    ({"Message": "m", "MessageAttributes": {"n": {"DataType": "String.Array", "StringValue": "[{}]"}}},
     "ParameterValueInvalid", "String.Array"),
    ({"Message": "m", "MessageAttributes": {"b": {"DataType": "Binary", "StringValue": "x"}}},
     "ParameterValueInvalid", "The message attribute 'b' with type 'Binary' must use field 'Binary'."),
    ({"Message": "m", "MessageAttributes": {"a..b": {"DataType": "String", "StringValue": "x"}}},
     "ParameterValueInvalid", "Message attribute name can not have successive '.' character."),
    ({"Message": "m", "MessageAttributes": {"a b": {"DataType": "String", "StringValue": "x"}}},
     "ParameterValueInvalid", "Invalid non-alphanumeric character '#x20' was found in the message attribute name. "
     "Can only include alphanumeric characters, hyphens, underscores, or dots."),
])
def test_publish_errors(raw_sns, topic, kwargs, code, text):
    with pytest.raises(ClientError) as e:
        raw_sns.publish(TopicArn=topic, **kwargs)
    assert_error(e.value, code, 400, message_contains=text)


def test_publish_needs_one_target(raw_sns, topic):
    with pytest.raises(ClientError) as e:
        raw_sns.publish(Message="m")
    assert_error(e.value, "InvalidParameter", 400, message_contains="TopicArn or TargetArn")
    with pytest.raises(ClientError) as e:
        raw_sns.publish(TopicArn="arn:aws:sqs:us-east-1:000000000000:q", Message="m")
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: TopicArn")


def test_publish_batch(sns, raw_sns, topic):
    out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "ok-1", "Message": "one", "Subject": "s",
         "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
        {"Id": "ok_3", "Message": json.dumps({"default": "d"}), "MessageStructure": "json"},
    ])
    assert [s["Id"] for s in out["Successful"]] == ["ok-1", "ok_3"]
    assert all(re.fullmatch(UUID, s["MessageId"]) for s in out["Successful"])
    assert out["Failed"] == []
    # One invalid entry fails the whole request, as on AWS.
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "good", "Message": "two"},
            {"Id": "bad", "Message": "two", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "x"}}},
        ])
    assert_error(e.value, "ParameterValueInvalid", 400, "Could not cast message attribute 'n' value to number.")
    cases = [
        ([{"Id": str(i), "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest",
         "The batch request contains more entries than permissible."),
        ([{"Id": "a", "Message": "m"}, {"Id": "a", "Message": "n"}], "BatchEntryIdsNotDistinct",
         "Two or more batch entries in the request have the same Id."),
        ([{"Id": "no spaces", "Message": "m"}], "InvalidBatchEntryId", None),
        ([{"Id": "a", "Message": "x" * 200_000}, {"Id": "b", "Message": "x" * 200_000}],
         "BatchRequestTooLong", None),
        ([], "EmptyBatchRequest", "The batch request doesn't contain any entries."),
    ]
    for entries, code, message in cases:
        with pytest.raises(ClientError) as e:
            raw_sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        assert_error(e.value, code, 400, message)
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic + "-missing", PublishBatchRequestEntries=[{"Id": "a", "Message": "m"}])
    assert_error(e.value, "NotFound", 404, "Topic does not exist")


# --- tags ----------------------------------------------------------------------------


def test_tags(sns, topic):
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == []
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "a"}])
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "env", "Value": "prod"}])
    tags = sns.list_tags_for_resource(ResourceArn=topic)["Tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "a"}]
    sns.untag_resource(ResourceArn=topic, TagKeys=["team", "absent"])
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "env", "Value": "prod"}]
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "d", "Value": "1"}, {"Key": "d", "Value": "2"}])
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: Duplicated keys are not allowed.")
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=topic, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert_error(e.value, "TagLimitExceeded", 400)
    assert len(sns.list_tags_for_resource(ResourceArn=topic)["Tags"]) == 1
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT}:{name()}"
    for call in (lambda: sns.list_tags_for_resource(ResourceArn=missing),
                 lambda: sns.tag_resource(ResourceArn=missing, Tags=[{"Key": "k", "Value": "v"}]),
                 lambda: sns.untag_resource(ResourceArn=missing, TagKeys=["k"])):
        with pytest.raises(ClientError) as e:
            call()
        assert_error(e.value, "ResourceNotFound", 404, "Resource does not exist")


def test_create_topic_with_tags(sns):
    arn = sns.create_topic(Name=name(), Tags=[{"Key": "a", "Value": "1"}])["TopicArn"]
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "1"}]


# --- the wire ------------------------------------------------------------------------


def signed_post(server, form):
    body = urllib.parse.urlencode(form).encode()
    url = server.url + "/"
    # (The helper signs a JSON content type; the Query protocol reads the form either way.)
    headers = sigv4_headers("POST", url, body, service="sns")
    return http_request("POST", url, headers=headers, body=body)


def test_xml_documents_are_awss(server, topic):
    status, headers, body = signed_post(server, {"Action": "GetTopicAttributes", "Version": "2010-03-31",
                                                 "TopicArn": topic})
    assert status == 200 and headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(body)
    assert root.tag == f"{NS}GetTopicAttributesResponse"
    assert root.find(f"{NS}GetTopicAttributesResult/{NS}Attributes/{NS}entry/{NS}key") is not None
    request_id = root.find(f"{NS}ResponseMetadata/{NS}RequestId").text
    assert request_id == headers["x-amzn-RequestId"]

    status, headers, body = signed_post(server, {"Action": "DeleteTopic", "Version": "2010-03-31",
                                                 "TopicArn": "bad"})
    assert status == 400
    root = ET.fromstring(body)
    assert root.tag == f"{NS}ErrorResponse"
    assert [c.tag for c in root] == [f"{NS}Error", f"{NS}RequestId"]
    err = {c.tag.replace(NS, ""): c.text for c in root.find(f"{NS}Error")}
    assert err == {"Type": "Sender", "Code": "InvalidParameter", "Message": "Invalid parameter: TopicArn"}

    status, _, body = signed_post(server, {"Action": "FlyAway", "Version": "2010-03-31"})
    assert status == 400 and b"<Code>InvalidAction</Code>" in body


def test_bad_credentials_answer_in_xml(server):
    bad = make_client(server.url, "sns", access_key="nobody")
    with pytest.raises(ClientError) as e:
        bad.list_topics()
    assert_error(e.value, "InvalidClientTokenId", 403)


def test_other_accounts_and_regions(sns, topic):
    foreign = f"arn:aws:sns:{REGION}:123456789012:{name()}"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=foreign, Message="m")
    assert_error(e.value, "AuthorizationError", 403,
                 f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: SNS:Publish on resource: {foreign}")
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=foreign)
    assert_error(e.value, "AuthorizationError", 403, message_contains="SNS:GetTopicAttributes")
    # A topic is regional: a client of another region does not reach it.
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic.replace(f":{REGION}:", ":eu-west-1:"), Message="m")
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: TopicArn")


def test_publish_without_message(raw_sns, topic):
    with pytest.raises(ClientError) as e:
        raw_sns.publish(TopicArn=topic)
    assert_error(e.value, "ValidationError", 400,
                 "1 validation error detected: Value null at 'message' failed to satisfy constraint: Member must not be null")
