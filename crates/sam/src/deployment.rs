//! `DeploymentPreference`: gradual deployments of a function's `AutoPublishAlias` through
//! CodeDeploy, as SAM generates them: one `ServerlessDeploymentApplication` per template, a
//! `CodeDeployServiceRole` unless every preference names its `Role`, a `<Fn>DeploymentGroup`
//! per function, and the alias's `UpdatePolicy: CodeDeployLambdaAliasUpdate`.

use serde_json::{json, Map, Value};

use crate::resources::{Attrs, Translator};
use crate::util::{get_att, reference, resolve_parameters, resource};
use crate::Invalid;

const APPLICATION_ID: &str = "ServerlessDeploymentApplication";
const SERVICE_ROLE_ID: &str = "CodeDeployServiceRole";

/// SAM's names for CodeDeploy's predefined Lambda configurations (`CodeDeployDefault.Lambda<Name>`).
const PREDEFINED: &[&str] = &[
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
    "AllAtOnce",
];

/// What the template-wide resources need to know of each enabled preference.
#[derive(Debug, Default)]
pub(crate) struct Preferences {
    /// The function's `Condition` for each enabled preference.
    conditions: Vec<Option<Value>>,
    /// Whether some enabled preference names no `Role`.
    needs_role: bool,
}

/// Reads a function's `DeploymentPreference`; when enabled, adds its deployment group and
/// returns the alias's `UpdatePolicy`.
pub(crate) fn translate(
    t: &mut Translator,
    id: &str,
    pref: &Value,
    alias: Option<&str>,
    attrs: &Attrs,
) -> Result<Option<Value>, Invalid> {
    let pref = pref
        .as_object()
        .ok_or("Type of property 'DeploymentPreference' is invalid.")?;
    if !enabled(pref, &t.params)? {
        return Ok(None);
    }
    let kind = pref
        .get("Type")
        .map(|v| resolve_parameters(v, &t.params))
        .ok_or("'DeploymentPreference' is missing required Property 'Type'")?;
    let hooks = match pref.get("Hooks") {
        None => Map::new(),
        Some(Value::Object(h)) => h.clone(),
        Some(_) => {
            return Err("'Hooks' property of 'DeploymentPreference' must be a dictionary".into())
        }
    };
    if alias.is_none() {
        return Err(
            "'DeploymentPreference' requires AutoPublishAlias property to be specified.".into(),
        );
    }
    let group_id = format!("{id}DeploymentGroup");
    let mut group = Map::new();
    group.insert("AlarmConfiguration".into(), alarms(pref.get("Alarms"))?);
    group.insert("ApplicationName".into(), reference(APPLICATION_ID));
    group.insert(
        "AutoRollbackConfiguration".into(),
        json!({
            "Enabled": true,
            "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]
        }),
    );
    group.insert("DeploymentConfigName".into(), config_name(kind, None));
    group.insert(
        "DeploymentStyle".into(),
        json!({"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}),
    );
    let role = pref.get("Role").filter(|r| !r.is_null());
    group.insert(
        "ServiceRoleArn".into(),
        role.cloned()
            .unwrap_or_else(|| get_att(SERVICE_ROLE_ID, "Arn")),
    );
    if let Some(triggers) = pref.get("TriggerConfigurations") {
        group.insert("TriggerConfigurations".into(), triggers.clone());
    }
    t.add_child(
        id,
        &group_id,
        resource("AWS::CodeDeploy::DeploymentGroup", group),
        attrs,
    )?;
    t.preferences.conditions.push(attrs.condition.clone());
    t.preferences.needs_role |= role.is_none();

    let mut update = Map::new();
    update.insert("ApplicationName".into(), reference(APPLICATION_ID));
    update.insert("DeploymentGroupName".into(), reference(&group_id));
    for (hook, key) in [
        ("PreTraffic", "BeforeAllowTrafficHook"),
        ("PostTraffic", "AfterAllowTrafficHook"),
    ] {
        if let Some(f) = hooks.get(hook) {
            update.insert(key.into(), f.clone());
        }
    }
    Ok(Some(json!({ "CodeDeployLambdaAliasUpdate": update })))
}

/// `Enabled` (true when absent), resolved from the template's parameters.
fn enabled(pref: &Map<String, Value>, params: &Map<String, Value>) -> Result<bool, Invalid> {
    match pref.get("Enabled").map(|v| resolve_parameters(v, params)) {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(b),
        Some(Value::String(s)) if s == "false" || s == "False" => Ok(false),
        Some(Value::Object(_)) => Err("'Enabled' must be a boolean value".into()),
        Some(_) => Ok(true),
    }
}

/// The group's `AlarmConfiguration`: disabled and empty without alarms, so that removing the
/// alarms from a template removes them from the group.
fn alarms(given: Option<&Value>) -> Result<Value, Invalid> {
    let empty = json!({"Enabled": false, "Alarms": []});
    match given {
        None | Some(Value::Null) => Ok(empty),
        Some(v) if v.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") => Ok(empty),
        Some(Value::Array(a)) if a.is_empty() => Ok(empty),
        Some(Value::Array(a)) => Ok(json!({
            "Enabled": true,
            "Alarms": a.iter().map(|name| json!({"Name": name})).collect::<Vec<_>>()
        })),
        Some(Value::Object(m)) if m.contains_key("Fn::If") => {
            let mut branches = m["Fn::If"].as_array().cloned().unwrap_or_default();
            if branches.len() != 3 {
                return Err("Fn::If requires 3 arguments".into());
            }
            for b in branches.iter_mut().skip(1) {
                *b = match b {
                    Value::Array(a) if a.is_empty() => json!({}),
                    Value::Array(_) => alarms(Some(b))?,
                    _ => return Err("Alarms must be a list".into()),
                };
            }
            Ok(json!({ "Fn::If": branches }))
        }
        Some(_) => Err("Alarms must be a list".into()),
    }
}

/// A predefined type as `CodeDeployDefault.Lambda<Type>` (through `Fn::Sub`, as SAM writes it),
/// anything else (a custom configuration's name) as given, also inside intrinsics.
fn config_name(v: Value, key: Option<&str>) -> Value {
    match v {
        Value::String(s) if PREDEFINED.contains(&s.as_str()) => {
            let args = json!(["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": s}]);
            if key == Some("Fn::Sub") {
                args
            } else {
                json!({ "Fn::Sub": args })
            }
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|v| config_name(v, None)).collect()),
        Value::Object(m)
            if m.len() == 1 && m.keys().all(|k| k == "Ref" || k.starts_with("Fn::")) =>
        {
            Value::Object(
                m.into_iter()
                    .map(|(k, v)| {
                        let v = config_name(v, Some(&k));
                        (k, v)
                    })
                    .collect(),
            )
        }
        other => other,
    }
}

/// The template-wide resources, once every function is translated: the application and, when
/// a preference names no role, the service role. They carry the functions' condition when every
/// enabled preference has the same one.
pub(crate) fn finish(t: &mut Translator) -> Result<(), Invalid> {
    let prefs = std::mem::take(&mut t.preferences);
    if prefs.conditions.is_empty() {
        return Ok(());
    }
    let condition = match prefs.conditions.first() {
        Some(Some(c)) if prefs.conditions.iter().all(|o| o.as_ref() == Some(c)) => Some(c.clone()),
        _ if prefs.conditions.iter().all(Option::is_some) => {
            return Err("Functions with different conditions sharing DeploymentPreference are not supported by this transform yet.".into())
        }
        _ => None,
    };
    let with_condition = |mut r: Value| {
        if let Some(c) = &condition {
            r["Condition"] = c.clone();
        }
        r
    };
    let app = resource(
        "AWS::CodeDeploy::Application",
        json!({"ComputePlatform": "Lambda"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    t.add(APPLICATION_ID, APPLICATION_ID, with_condition(app))?;
    if prefs.needs_role {
        let mut role = Map::new();
        role.insert(
            "AssumeRolePolicyDocument".into(),
            crate::function::assume_role("codedeploy.amazonaws.com"),
        );
        role.insert(
            "ManagedPolicyArns".into(),
            json!([format!(
                "arn:{}:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda",
                t.ctx.partition
            )]),
        );
        t.add(
            SERVICE_ROLE_ID,
            SERVICE_ROLE_ID,
            with_condition(resource("AWS::IAM::Role", role)),
        )?;
    }
    Ok(())
}
