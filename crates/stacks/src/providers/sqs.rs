//! AWS::SQS::Queue, through SQS's JSON protocol.

use super::*;
use serde_json::json;

pub struct Queue;

const ATTRIBUTES: [&str; 13] = [
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "SqsManagedSseEnabled",
];

fn attributes(props: &Map<String, Value>, settable: bool) -> Map<String, Value> {
    ATTRIBUTES
        .iter()
        .filter(|k| !settable || **k != "FifoQueue")
        .filter_map(|k| {
            props
                .get(*k)
                .map(|v| (k.to_string(), Value::String(text(v))))
        })
        .collect()
}

fn target(op: &str) -> String {
    format!("AmazonSQS.{op}")
}

#[async_trait]
impl Provider for Queue {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let fifo = props.get("FifoQueue").is_some_and(|v| text(v) == "true");
        let name = match str_prop(props, "QueueName") {
            Some(n) => n.to_string(),
            None if fifo => format!("{}.fifo", physical_name(cx, 75, false)),
            None => physical_name(cx, 80, false),
        };
        let mut body = json!({"QueueName": name, "Attributes": attributes(props, false)});
        let tags: Map<String, Value> = tags(props)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        if !tags.is_empty() {
            body["tags"] = Value::Object(tags);
        }
        let out = json_target(cx, "sqs", target("CreateQueue"), "1.0", body).await?;
        let url = out
            .get("QueueUrl")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let arn = format!("arn:aws:sqs:{}:{}:{name}", cx.region, cx.account_id);
        let attributes = BTreeMap::from([
            ("Arn".to_string(), Value::String(arn)),
            ("QueueName".to_string(), Value::String(name)),
            ("QueueUrl".to_string(), Value::String(url.clone())),
        ]);
        Ok(Made {
            physical_id: url,
            attributes,
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let body = json!({"QueueUrl": current.physical_id, "Attributes": attributes(new, true)});
        json_target(cx, "sqs", target("SetQueueAttributes"), "1.0", body).await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let request = json_request(
            "sqs",
            target("DeleteQueue"),
            "1.0",
            json!({"QueueUrl": current.physical_id}),
        );
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["QueueName", "FifoQueue"])
    }
}
