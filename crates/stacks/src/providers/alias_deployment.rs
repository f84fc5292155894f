//! An alias's `UpdatePolicy: CodeDeployLambdaAliasUpdate`: on a stack update that moves the
//! alias to another version, CloudFormation does not call UpdateAlias but creates a CodeDeploy
//! deployment (an AppSpec with the current and target versions and the hooks) and waits for it.
//! The deployment shifts (and, on failure, restores) the alias itself.

use super::*;
use serde_json::json;
use std::time::Duration;

/// How often the deployment is looked at while it runs.
const POLL: Duration = Duration::from_millis(500);

/// The evaluated `CodeDeployLambdaAliasUpdate` of an `UpdatePolicy`, if it has one.
pub fn policy(update_policy: &Value) -> Option<&Map<String, Value>> {
    update_policy
        .get("CodeDeployLambdaAliasUpdate")
        .and_then(Value::as_object)
}

/// The AppSpec CloudFormation writes for the deployment.
fn appspec(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    policy: &Map<String, Value>,
) -> Value {
    let mut hooks = Vec::new();
    for (key, event) in [
        ("BeforeAllowTrafficHook", "BeforeAllowTraffic"),
        ("AfterAllowTrafficHook", "AfterAllowTraffic"),
    ] {
        if let Some(f) = policy.get(key).filter(|v| !v.is_null()) {
            hooks.push(json!({ event: text(f) }));
        }
    }
    let version = |p: &Map<String, Value>| p.get("FunctionVersion").map(text).unwrap_or_default();
    json!({
        "version": 0.0,
        "Resources": [{
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Name": new.get("FunctionName").map(text).unwrap_or_default(),
                    "Alias": new.get("Name").map(text).unwrap_or_default(),
                    "CurrentVersion": version(old),
                    "TargetVersion": version(new),
                }
            }
        }],
        "Hooks": hooks,
    })
}

/// Runs the deployment to its end: `Ok` when it succeeded, the failure (the alias is back at
/// its current version, CodeDeploy having rolled it back) otherwise.
pub async fn run(
    cx: &Cx<'_>,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    policy: &Map<String, Value>,
) -> Result<(), Failed> {
    let target = |op: &str| format!("CodeDeploy_20141006.{op}");
    let content = appspec(old, new, policy).to_string();
    let body = json!({
        "applicationName": policy.get("ApplicationName").map(text).unwrap_or_default(),
        "deploymentGroupName": policy.get("DeploymentGroupName").map(text).unwrap_or_default(),
        "revision": {
            "revisionType": "AppSpecContent",
            "appSpecContent": { "content": content },
        },
    });
    let created = json_target(cx, "codedeploy", target("CreateDeployment"), "1.1", body).await?;
    let id = created["deploymentId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    loop {
        let got = json_target(
            cx,
            "codedeploy",
            target("GetDeployment"),
            "1.1",
            json!({ "deploymentId": id }),
        )
        .await?;
        let info = &got["deploymentInfo"];
        match info["status"].as_str() {
            Some("Succeeded") => return Ok(()),
            Some("Failed" | "Stopped") => {
                let why = info["errorInformation"]["message"]
                    .as_str()
                    .unwrap_or("the deployment did not succeed");
                return Err(format!(
                    "CodeDeploy deployment {id} failed and was rolled back: {why}"
                ));
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appspec_names_both_versions_and_the_hooks() {
        let old = json!({"FunctionName": "f", "Name": "live", "FunctionVersion": "1"});
        let new = json!({"FunctionName": "f", "Name": "live", "FunctionVersion": "2"});
        let policy = json!({"ApplicationName": "a", "DeploymentGroupName": "g",
                            "BeforeAllowTrafficHook": "pre"});
        let spec = appspec(
            old.as_object().unwrap(),
            new.as_object().unwrap(),
            policy.as_object().unwrap(),
        );
        let props = &spec["Resources"][0]["Function"]["Properties"];
        assert_eq!(props["CurrentVersion"], "1");
        assert_eq!(props["TargetVersion"], "2");
        assert_eq!(props["Alias"], "live");
        assert_eq!(spec["Hooks"], json!([{"BeforeAllowTraffic": "pre"}]));
    }
}
