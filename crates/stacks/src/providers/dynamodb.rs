//! AWS::DynamoDB::Table, through DynamoDB's JSON protocol.

use super::*;
use serde_json::json;

pub struct Table;

fn target(op: &str) -> String {
    format!("DynamoDB_20120810.{op}")
}

const PASSED: [&str; 8] = [
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "TableClass",
];

#[async_trait]
impl Provider for Table {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = str_prop(props, "TableName")
            .map(str::to_string)
            .unwrap_or_else(|| physical_name(cx, 255, false));
        let mut body = Map::new();
        body.insert("TableName".into(), Value::String(name.clone()));
        for k in PASSED {
            if let Some(v) = props.get(k) {
                body.insert(k.into(), v.clone());
            }
        }
        if let Some(Value::Object(pt)) = body.get_mut("ProvisionedThroughput") {
            numbers(pt, &["ReadCapacityUnits", "WriteCapacityUnits"]);
        }
        let t = tags(props);
        if !t.is_empty() {
            body.insert(
                "Tags".into(),
                t.into_iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect(),
            );
        }
        let out = json_target(
            cx,
            "dynamodb",
            target("CreateTable"),
            "1.0",
            Value::Object(body),
        )
        .await?;
        let desc = out.get("TableDescription").cloned().unwrap_or(Value::Null);
        if let Some(ttl) = props.get("TimeToLiveSpecification") {
            json_target(
                cx,
                "dynamodb",
                target("UpdateTimeToLive"),
                "1.0",
                json!({"TableName": name, "TimeToLiveSpecification": ttl}),
            )
            .await?;
        }
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "Arn".to_string(),
            desc.get("TableArn").cloned().unwrap_or(Value::Null),
        );
        if let Some(s) = desc.get("LatestStreamArn") {
            attributes.insert("StreamArn".to_string(), s.clone());
        }
        Ok(Made {
            physical_id: name,
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
        let mut made = current.clone();
        if changed(
            old,
            new,
            &[
                "BillingMode",
                "ProvisionedThroughput",
                "StreamSpecification",
                "GlobalSecondaryIndexes",
            ],
        ) {
            let mut body = Map::new();
            body.insert(
                "TableName".into(),
                Value::String(current.physical_id.clone()),
            );
            for k in [
                "BillingMode",
                "ProvisionedThroughput",
                "StreamSpecification",
                "AttributeDefinitions",
            ] {
                if let Some(v) = new
                    .get(k)
                    .filter(|v| old.get(k) != Some(*v) || k == "AttributeDefinitions")
                {
                    body.insert(k.into(), v.clone());
                }
            }
            let out = json_target(
                cx,
                "dynamodb",
                target("UpdateTable"),
                "1.0",
                Value::Object(body),
            )
            .await?;
            if let Some(s) = out.pointer("/TableDescription/LatestStreamArn") {
                made.attributes.insert("StreamArn".into(), s.clone());
            }
        }
        if changed(old, new, &["TimeToLiveSpecification"]) {
            let ttl = new.get("TimeToLiveSpecification").cloned().unwrap_or_else(|| {
                json!({"Enabled": false, "AttributeName": old.get("TimeToLiveSpecification").and_then(|t| t.get("AttributeName")).cloned().unwrap_or(Value::Null)})
            });
            json_target(
                cx,
                "dynamodb",
                target("UpdateTimeToLive"),
                "1.0",
                json!({"TableName": current.physical_id, "TimeToLiveSpecification": ttl}),
            )
            .await?;
        }
        Ok(made)
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let request = json_request(
            "dynamodb",
            target("DeleteTable"),
            "1.0",
            json!({"TableName": current.physical_id}),
        );
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(
            old,
            new,
            &["TableName", "KeySchema", "LocalSecondaryIndexes"],
        )
    }
}
