//! AWS::SNS::Topic (with inline Subscription), through SNS's Query API.

use super::*;

const VERSION: &str = "2010-03-31";

pub struct Topic;

fn p(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

#[async_trait]
impl Provider for Topic {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let fifo = props.get("FifoTopic").is_some_and(|v| text(v) == "true");
        let name = match str_prop(props, "TopicName") {
            Some(n) => n.to_string(),
            None if fifo => format!("{}.fifo", physical_name(cx, 251, false)),
            None => physical_name(cx, 256, false),
        };
        let mut params = vec![p("Name", name.clone())];
        let mut i = 0;
        for k in [
            "DisplayName",
            "FifoTopic",
            "ContentBasedDeduplication",
            "KmsMasterKeyId",
        ] {
            if let Some(v) = props.get(k) {
                i += 1;
                params.push(p(&format!("Attributes.entry.{i}.key"), k));
                params.push(p(&format!("Attributes.entry.{i}.value"), text(v)));
            }
        }
        for (n, (k, v)) in tags(props).into_iter().enumerate() {
            params.push(p(&format!("Tags.member.{}.Key", n + 1), k));
            params.push(p(&format!("Tags.member.{}.Value", n + 1), v));
        }
        let xml = query(cx, "sns", "CreateTopic", VERSION, &params).await?;
        let arn = xml_text(&xml, "TopicArn").unwrap_or_default();
        for s in props
            .get("Subscription")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(endpoint), Some(protocol)) = (s.get("Endpoint"), s.get("Protocol")) else {
                continue;
            };
            query(
                cx,
                "sns",
                "Subscribe",
                VERSION,
                &[
                    p("TopicArn", arn.clone()),
                    p("Endpoint", text(endpoint)),
                    p("Protocol", text(protocol)),
                ],
            )
            .await?;
        }
        let attributes = BTreeMap::from([
            ("TopicArn".to_string(), Value::String(arn.clone())),
            ("TopicName".to_string(), Value::String(name)),
        ]);
        Ok(Made {
            physical_id: arn,
            attributes,
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        if changed(old, new, &["DisplayName"]) {
            let value = new.get("DisplayName").map(text).unwrap_or_default();
            query(
                cx,
                "sns",
                "SetTopicAttributes",
                VERSION,
                &[
                    p("TopicArn", current.physical_id.clone()),
                    p("AttributeName", "DisplayName"),
                    p("AttributeValue", value),
                ],
            )
            .await?;
        }
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        query(
            cx,
            "sns",
            "DeleteTopic",
            VERSION,
            &[p("TopicArn", current.physical_id.clone())],
        )
        .await
        .map(|_| ())
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["TopicName", "FifoTopic", "Subscription"])
    }
}
