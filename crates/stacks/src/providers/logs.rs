//! AWS::Logs::LogGroup, through the CloudWatch Logs JSON API.

use super::*;
use serde_json::json;

pub struct LogGroup;

fn target(op: &str) -> String {
    format!("Logs_20140328.{op}")
}

async fn retention(cx: &Cx<'_>, name: &str, days: Option<&Value>) -> Result<(), Failed> {
    match days {
        Some(d) => {
            let days: i64 = text(d)
                .parse()
                .map_err(|_| "RetentionInDays must be a number".to_string())?;
            json_target(
                cx,
                "logs",
                target("PutRetentionPolicy"),
                "1.1",
                json!({"logGroupName": name, "retentionInDays": days}),
            )
            .await?;
        }
        None => {
            json_target(
                cx,
                "logs",
                target("DeleteRetentionPolicy"),
                "1.1",
                json!({"logGroupName": name}),
            )
            .await?;
        }
    }
    Ok(())
}

#[async_trait]
impl Provider for LogGroup {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = str_prop(props, "LogGroupName")
            .map(str::to_string)
            .unwrap_or_else(|| physical_name(cx, 512, false));
        json_target(
            cx,
            "logs",
            target("CreateLogGroup"),
            "1.1",
            json!({"logGroupName": name}),
        )
        .await?;
        if let Some(days) = props.get("RetentionInDays") {
            retention(cx, &name, Some(days)).await?;
        }
        let arn = format!(
            "arn:aws:logs:{}:{}:log-group:{name}:*",
            cx.region, cx.account_id
        );
        Ok(Made {
            physical_id: name,
            attributes: BTreeMap::from([("Arn".to_string(), Value::String(arn))]),
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        if changed(old, new, &["RetentionInDays"]) {
            retention(cx, &current.physical_id, new.get("RetentionInDays")).await?;
        }
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let request = json_request(
            "logs",
            target("DeleteLogGroup"),
            "1.1",
            json!({"logGroupName": current.physical_id}),
        );
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["LogGroupName"])
    }
}
