//! AWS::Events::Rule (with its Targets), through EventBridge's JSON 1.1 protocol, and
//! AWS::Scheduler::Schedule, through the Scheduler's REST-JSON API.

use super::*;
use serde_json::json;

pub struct Rule;
pub struct Schedule;

async fn events(cx: &Cx<'_>, op: &str, body: Value) -> Result<Value, Failed> {
    json_target(cx, "events", format!("AWSEvents.{op}"), "1.1", body).await
}

/// A JSON-valued property (`EventPattern`, a target's `Input`) as the API takes it: text.
fn json_text(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        other => Value::String(other.to_string()),
    }
}

fn rule_body(name: &str, props: &Map<String, Value>) -> Value {
    let mut body = Map::new();
    body.insert("Name".into(), json!(name));
    for k in [
        "Description",
        "EventBusName",
        "ScheduleExpression",
        "State",
        "RoleArn",
    ] {
        if let Some(v) = props.get(k) {
            body.insert(k.into(), v.clone());
        }
    }
    if let Some(p) = props.get("EventPattern") {
        body.insert("EventPattern".into(), json_text(p));
    }
    Value::Object(body)
}

/// The rule's targets by Id, with `Input` as text.
fn targets(props: &Map<String, Value>) -> BTreeMap<String, Value> {
    props
        .get("Targets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let mut t = t.as_object()?.clone();
            if let Some(input) = t.get("Input") {
                let input = json_text(input);
                t.insert("Input".into(), input);
            }
            Some((text(t.get("Id")?), Value::Object(t)))
        })
        .collect()
}

/// The rule and bus a physical id names: `bus|rule` for a rule on a custom bus.
fn rule_of(physical_id: &str) -> (Option<&str>, &str) {
    match physical_id.split_once('|') {
        Some((bus, rule)) => (Some(bus), rule),
        None => (None, physical_id),
    }
}

fn with_bus(mut body: Value, bus: Option<&str>) -> Value {
    if let Some(b) = bus {
        body["EventBusName"] = json!(b);
    }
    body
}

/// PutTargets or RemoveTargets, failing on any entry EventBridge refused.
async fn change_targets(
    cx: &Cx<'_>,
    op: &str,
    rule: &str,
    bus: Option<&str>,
    member: &str,
    items: Vec<Value>,
) -> Result<(), Failed> {
    if items.is_empty() {
        return Ok(());
    }
    let body = with_bus(json!({"Rule": rule, member: items}), bus);
    let out = events(cx, op, body).await?;
    if let Some(entry) = out
        .get("FailedEntries")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        let message = entry
            .get("ErrorMessage")
            .and_then(Value::as_str)
            .unwrap_or("a target was refused");
        return Err(failed(message));
    }
    Ok(())
}

#[async_trait]
impl Provider for Rule {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = str_prop(props, "Name")
            .map(str::to_string)
            .unwrap_or_else(|| physical_name(cx, 64, false));
        let bus = str_prop(props, "EventBusName").filter(|b| *b != "default");
        let out = events(cx, "PutRule", rule_body(&name, props)).await?;
        let arn = out.get("RuleArn").cloned().unwrap_or(Value::Null);
        // On a custom bus CloudFormation identifies the rule by bus and name.
        let physical_id = match bus {
            Some(b) => format!("{b}|{name}"),
            None => name.clone(),
        };
        let made = Made {
            physical_id,
            attributes: BTreeMap::from([("Arn".to_string(), arn)]),
        };
        let put = targets(props).into_values().collect();
        if let Err(e) = change_targets(cx, "PutTargets", &name, bus, "Targets", put).await {
            let _ = self.delete(cx, &made, props).await;
            return Err(e);
        }
        Ok(made)
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let (bus, name) = rule_of(&current.physical_id);
        events(cx, "PutRule", with_bus(rule_body(name, new), bus)).await?;
        let (was, now) = (targets(old), targets(new));
        let gone: Vec<Value> = was
            .keys()
            .filter(|id| !now.contains_key(*id))
            .map(|id| json!(id))
            .collect();
        change_targets(cx, "RemoveTargets", name, bus, "Ids", gone).await?;
        let put: Vec<Value> = now
            .iter()
            .filter(|(id, t)| was.get(*id) != Some(t))
            .map(|(_, t)| t.clone())
            .collect();
        change_targets(cx, "PutTargets", name, bus, "Targets", put).await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let (bus, name) = rule_of(&current.physical_id);
        let ids: Vec<Value> = targets(props).into_keys().map(Value::String).collect();
        if !ids.is_empty() {
            let body = with_bus(json!({"Rule": name, "Ids": ids}), bus);
            let request = json_request("events", "AWSEvents.RemoveTargets", "1.1", &body);
            send_delete(cx, request).await?;
        }
        let body = with_bus(json!({"Name": name}), bus);
        let request = json_request("events", "AWSEvents.DeleteRule", "1.1", &body);
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["Name", "EventBusName"])
    }
}

fn json_request(service: &'static str, target: &str, version: &str, body: &Value) -> ApiRequest {
    ApiRequest {
        service,
        method: "POST",
        path: "/".into(),
        headers: vec![
            ("content-type", format!("application/x-amz-json-{version}")),
            ("x-amz-target", target.to_string()),
        ],
        body: body.to_string().into_bytes(),
    }
}

const SCHEDULE: [&str; 9] = [
    "Description",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "StartDate",
    "EndDate",
    "State",
    "FlexibleTimeWindow",
    "Target",
    "KmsKeyArn",
];

fn schedule_body(props: &Map<String, Value>) -> Value {
    let mut body = Map::new();
    for k in SCHEDULE.iter().chain(&["GroupName"]) {
        if let Some(v) = props.get(*k) {
            body.insert(k.to_string(), v.clone());
        }
    }
    if let Some(Value::Object(target)) = body.get_mut("Target") {
        if let Some(input) = target.get("Input") {
            let input = json_text(input);
            target.insert("Input".into(), input);
        }
    }
    if let Some(Value::Object(window)) = body.get_mut("FlexibleTimeWindow") {
        numbers(window, &["MaximumWindowInMinutes"]);
    }
    Value::Object(body)
}

fn schedule_path(name: &str, props: &Map<String, Value>) -> String {
    let group = str_prop(props, "GroupName")
        .map(|g| format!("?groupName={}", pe(g)))
        .unwrap_or_default();
    format!("/schedules/{}{group}", pe(name))
}

#[async_trait]
impl Provider for Schedule {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = str_prop(props, "Name")
            .map(str::to_string)
            .unwrap_or_else(|| physical_name(cx, 64, false));
        let path = format!("/schedules/{}", pe(&name));
        let out = rest_json(cx, "scheduler", "POST", path, Some(schedule_body(props))).await?;
        let arn = out.get("ScheduleArn").cloned().unwrap_or(Value::Null);
        Ok(Made {
            physical_id: name,
            attributes: BTreeMap::from([("Arn".to_string(), arn)]),
        })
    }

    /// UpdateSchedule replaces the whole schedule, so every property is sent.
    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let path = format!("/schedules/{}", pe(&current.physical_id));
        rest_json(cx, "scheduler", "PUT", path, Some(schedule_body(new))).await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let request = ApiRequest {
            service: "scheduler",
            method: "DELETE",
            path: schedule_path(&current.physical_id, props),
            headers: vec![],
            body: vec![],
        };
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["Name", "GroupName"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_send_json_input_as_text() {
        let props = json!({"Targets": [{"Id": "t", "Arn": "a", "Input": {"k": 1}}]});
        let t = targets(props.as_object().unwrap());
        assert_eq!(t["t"]["Input"], json!(r#"{"k":1}"#));
    }

    #[test]
    fn physical_ids_name_the_bus_when_not_default() {
        assert_eq!(rule_of("bus|r"), (Some("bus"), "r"));
        assert_eq!(rule_of("r"), (None, "r"));
    }
}
