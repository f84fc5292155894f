//! AWS::SNS::Subscription, through SNS's Query API (Subscribe, SetSubscriptionAttributes,
//! Unsubscribe).

use super::*;

const VERSION: &str = "2010-03-31";

pub struct Subscription;

/// The subscription attributes a template sets, which SetSubscriptionAttributes can change.
const ATTRIBUTES: [&str; 7] = [
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
];

fn p(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

/// An attribute's value as SNS takes it: JSON policies as text, the rest as strings.
fn value(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) => v.to_string(),
        other => text(other),
    }
}

fn required<'a>(props: &'a Map<String, Value>, name: &str) -> Result<&'a str, Failed> {
    str_prop(props, name).ok_or_else(|| {
        format!("Properties validation failed for resource: required key [{name}] not found")
    })
}

#[async_trait]
impl Provider for Subscription {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let mut params = vec![
            p("TopicArn", required(props, "TopicArn")?),
            p("Protocol", required(props, "Protocol")?),
            p("ReturnSubscriptionArn", "true"),
        ];
        if let Some(endpoint) = props.get("Endpoint") {
            params.push(p("Endpoint", text(endpoint)));
        }
        let mut i = 0;
        for k in ATTRIBUTES {
            if let Some(v) = props.get(k) {
                i += 1;
                params.push(p(&format!("Attributes.entry.{i}.key"), k));
                params.push(p(&format!("Attributes.entry.{i}.value"), value(v)));
            }
        }
        let xml = query(cx, "sns", "Subscribe", VERSION, &params).await?;
        let arn = xml_text(&xml, "SubscriptionArn")
            .ok_or_else(|| failed("the response has no SubscriptionArn"))?;
        Ok(Made {
            attributes: BTreeMap::from([("Arn".to_string(), Value::String(arn.clone()))]),
            physical_id: arn,
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        for k in ATTRIBUTES.iter().filter(|k| old.get(**k) != new.get(**k)) {
            // A removed attribute goes back to its default (an empty value clears it).
            let v = new.get(*k).map(value).unwrap_or_default();
            let params = [
                p("SubscriptionArn", current.physical_id.clone()),
                p("AttributeName", *k),
                p("AttributeValue", v),
            ];
            query(cx, "sns", "SetSubscriptionAttributes", VERSION, &params).await?;
        }
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let params = [p("SubscriptionArn", current.physical_id.clone())];
        send_delete(cx, query_request("sns", "Unsubscribe", VERSION, &params)).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["TopicArn", "Protocol", "Endpoint", "Region"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_are_sent_as_json_text() {
        assert_eq!(value(&json!({"a": ["b"]})), r#"{"a":["b"]}"#);
        assert_eq!(value(&json!(true)), "true");
        assert_eq!(value(&json!("x")), "x");
    }
}
