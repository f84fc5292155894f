//! AWS::CodeDeploy::Application and AWS::CodeDeploy::DeploymentGroup, through CodeDeploy's
//! JSON 1.1 protocol. Both are referred to (`Ref`) by name, which is also the physical id.

use super::*;
use serde_json::json;

pub struct Application;
pub struct DeploymentGroup;

fn target(op: &str) -> String {
    format!("CodeDeploy_20141006.{op}")
}

async fn call(cx: &Cx<'_>, op: &str, body: Value) -> Result<Value, Failed> {
    json_target(cx, "codedeploy", target(op), "1.1", body).await
}

/// A template's PascalCase structure as the API's camelCase one (`AlarmConfiguration.Alarms[].Name`
/// → `alarmConfiguration.alarms[].name`), with booleans given as strings (a parameter's Ref)
/// made booleans.
fn settings_value(v: &Value) -> Value {
    camel_value_with(v, &|leaf| match leaf {
        Value::String(s) if s == "true" || s == "false" => Value::Bool(s == "true"),
        other => other.clone(),
    })
}

#[async_trait]
impl Provider for Application {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = match str_prop(props, "ApplicationName") {
            Some(n) => n.to_string(),
            None => physical_name(cx, 100, false),
        };
        let platform = str_prop(props, "ComputePlatform").unwrap_or("Server");
        let mut body = json!({"applicationName": name, "computePlatform": platform});
        let tags = tags(props);
        if !tags.is_empty() {
            body["tags"] = tags
                .into_iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
        }
        call(cx, "CreateApplication", body).await?;
        Ok(Made {
            physical_id: name,
            attributes: BTreeMap::new(),
        })
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let request = json_request(
            "codedeploy",
            target("DeleteApplication"),
            "1.1",
            json!({"applicationName": current.physical_id}),
        );
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["ApplicationName", "ComputePlatform"])
    }
}

/// The group's settable members, from the template's properties.
const GROUP_SETTINGS: [&str; 5] = [
    "ServiceRoleArn",
    "DeploymentConfigName",
    "AlarmConfiguration",
    "AutoRollbackConfiguration",
    "DeploymentStyle",
];

fn group_settings(props: &Map<String, Value>, body: &mut Value) {
    for name in GROUP_SETTINGS {
        if let Some(v) = props.get(name) {
            body[camel(name)] = settings_value(v);
        }
    }
}

fn application_name(props: &Map<String, Value>) -> Result<&str, Failed> {
    str_prop(props, "ApplicationName")
        .ok_or_else(|| failed("ApplicationName is required for a deployment group"))
}

#[async_trait]
impl Provider for DeploymentGroup {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let app = application_name(props)?;
        let name = match str_prop(props, "DeploymentGroupName") {
            Some(n) => n.to_string(),
            None => physical_name(cx, 100, false),
        };
        let mut body = json!({"applicationName": app, "deploymentGroupName": name});
        group_settings(props, &mut body);
        call(cx, "CreateDeploymentGroup", body).await?;
        Ok(Made {
            physical_id: name,
            attributes: BTreeMap::new(),
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let app = application_name(new)?;
        let mut body = json!({
            "applicationName": app,
            "currentDeploymentGroupName": current.physical_id,
        });
        group_settings(new, &mut body);
        // A setting taken out of the template goes back to CodeDeploy's default.
        for (key, default) in [
            (
                "alarmConfiguration",
                json!({"enabled": false, "ignorePollAlarmFailure": false, "alarms": []}),
            ),
            (
                "autoRollbackConfiguration",
                json!({"enabled": false, "events": []}),
            ),
            (
                "deploymentConfigName",
                json!("CodeDeployDefault.LambdaAllAtOnce"),
            ),
        ] {
            if body.get(key).is_none() {
                body[key] = default;
            }
        }
        call(cx, "UpdateDeploymentGroup", body).await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let Ok(app) = application_name(props) else {
            return Ok(());
        };
        let request = json_request(
            "codedeploy",
            target("DeleteDeploymentGroup"),
            "1.1",
            json!({"applicationName": app, "deploymentGroupName": current.physical_id}),
        );
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["ApplicationName", "DeploymentGroupName"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_shapes_become_api_shapes() {
        let props = json!({
            "ServiceRoleArn": "arn:aws:iam::1:role/r",
            "AlarmConfiguration": {"Enabled": "true", "Alarms": [{"Name": "a"}]},
            "DeploymentStyle": {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"},
        });
        let mut body = json!({});
        group_settings(props.as_object().unwrap(), &mut body);
        assert_eq!(
            body,
            json!({
                "serviceRoleArn": "arn:aws:iam::1:role/r",
                "alarmConfiguration": {"enabled": true, "alarms": [{"name": "a"}]},
                "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            })
        );
    }
}
