//! Stacks, resources, events and change sets as CloudFormation's XML members.

use stratus_stacks::store::{ChangeSet, Event, Resource, Stack};

use crate::services::sns::xml::Xml;

/// CloudFormation's timestamps: ISO 8601 with milliseconds, UTC.
pub fn time(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(f).unwrap_or_default()
}

fn members<T>(x: &mut Xml, tag: &str, items: &[T], mut each: impl FnMut(&mut Xml, &T)) {
    x.open(tag);
    for item in items {
        x.open("member");
        each(x, item);
        x.close("member");
    }
    x.close(tag);
}

/// The parameters as DescribeStacks shows them: NoEcho values masked.
pub fn parameters(x: &mut Xml, stack: &Stack) {
    let list: Vec<(&String, &String)> = stack.parameters.iter().collect();
    members(x, "Parameters", &list, |x, (k, v)| {
        let shown = if stack.no_echo.contains(k) {
            "****"
        } else {
            v.as_str()
        };
        x.leaf("ParameterKey", k).leaf("ParameterValue", shown);
    });
}

pub fn tags(x: &mut Xml, tags: &std::collections::BTreeMap<String, String>) {
    let list: Vec<(&String, &String)> = tags.iter().collect();
    members(x, "Tags", &list, |x, (k, v)| {
        x.leaf("Key", k).leaf("Value", v);
    });
}

pub fn strings(x: &mut Xml, tag: &str, items: &[String]) {
    members(x, tag, items, |x, s| {
        x.text(s);
    });
}

fn opt(x: &mut Xml, tag: &str, v: Option<&str>) {
    if let Some(v) = v {
        x.leaf(tag, v);
    }
}

pub fn stack(x: &mut Xml, s: &Stack) {
    x.leaf("StackId", &s.id).leaf("StackName", &s.name);
    opt(x, "Description", s.description.as_deref());
    parameters(x, s);
    x.leaf("CreationTime", &time(s.created_ms));
    opt(x, "LastUpdatedTime", s.updated_ms.map(time).as_deref());
    opt(x, "DeletionTime", s.deleted_ms.map(time).as_deref());
    x.leaf("StackStatus", &s.status);
    opt(x, "StackStatusReason", s.status_reason.as_deref());
    x.leaf(
        "DisableRollback",
        if s.disable_rollback { "true" } else { "false" },
    );
    strings(x, "NotificationARNs", &s.notification_arns);
    strings(x, "Capabilities", &s.capabilities);
    members(x, "Outputs", &s.outputs, |x, o| {
        x.leaf("OutputKey", &o.key).leaf("OutputValue", &o.value);
        opt(x, "Description", o.description.as_deref());
        opt(x, "ExportName", o.export_name.as_deref());
    });
    tags(x, &s.tags);
    x.leaf("EnableTerminationProtection", "false");
    x.open("DriftInformation")
        .leaf("StackDriftStatus", "NOT_CHECKED")
        .close("DriftInformation");
}

pub fn stack_summary(x: &mut Xml, s: &Stack) {
    x.leaf("StackId", &s.id).leaf("StackName", &s.name);
    opt(x, "TemplateDescription", s.description.as_deref());
    x.leaf("CreationTime", &time(s.created_ms));
    opt(x, "LastUpdatedTime", s.updated_ms.map(time).as_deref());
    opt(x, "DeletionTime", s.deleted_ms.map(time).as_deref());
    x.leaf("StackStatus", &s.status);
    opt(x, "StackStatusReason", s.status_reason.as_deref());
    x.open("DriftInformation")
        .leaf("StackDriftStatus", "NOT_CHECKED")
        .close("DriftInformation");
}

pub fn events(x: &mut Xml, events: &[Event]) {
    members(x, "StackEvents", events, |x, e| {
        x.leaf("StackId", &e.stack_id)
            .leaf("EventId", &e.event_id)
            .leaf("StackName", &e.stack_name)
            .leaf("LogicalResourceId", &e.logical_id)
            .leaf("PhysicalResourceId", &e.physical_id)
            .leaf("ResourceType", &e.kind)
            .leaf("Timestamp", &time(e.timestamp_ms))
            .leaf("ResourceStatus", &e.status);
        opt(x, "ResourceStatusReason", e.reason.as_deref());
        opt(x, "ResourceProperties", e.properties.as_deref());
    });
}

/// One resource: `detail` adds DescribeStackResource's members, `summary` is
/// ListStackResources' shape.
pub fn resource(x: &mut Xml, stack: &Stack, r: &Resource, shape: Shape) {
    if shape != Shape::Summary {
        x.leaf("StackName", &stack.name).leaf("StackId", &stack.id);
    }
    x.leaf("LogicalResourceId", &r.logical_id);
    opt(x, "PhysicalResourceId", r.physical_id.as_deref());
    x.leaf("ResourceType", &r.kind);
    let when = time(r.updated_ms);
    match shape {
        Shape::Resources => x.leaf("Timestamp", &when),
        _ => x.leaf("LastUpdatedTimestamp", &when),
    };
    x.leaf("ResourceStatus", &r.status);
    opt(x, "ResourceStatusReason", r.status_reason.as_deref());
    x.open("DriftInformation")
        .leaf("StackResourceDriftStatus", "NOT_CHECKED")
        .close("DriftInformation");
    if shape == Shape::Detail {
        x.leaf("Metadata", "{}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Detail,
    Resources,
    Summary,
}

pub fn resources(x: &mut Xml, tag: &str, stack: &Stack, list: &[Resource], shape: Shape) {
    members(x, tag, list, |x, r| resource(x, stack, r, shape));
}

pub fn change_set(x: &mut Xml, cs: &ChangeSet) {
    x.leaf("ChangeSetName", &cs.name)
        .leaf("ChangeSetId", &cs.id)
        .leaf("StackId", &cs.stack_id)
        .leaf("StackName", &cs.stack_name);
    opt(x, "Description", cs.description.as_deref());
    let list: Vec<(&String, &String)> = cs.parameters.iter().collect();
    members(x, "Parameters", &list, |x, (k, v)| {
        x.leaf("ParameterKey", k).leaf("ParameterValue", v);
    });
    x.leaf("CreationTime", &time(cs.created_ms))
        .leaf("ExecutionStatus", &cs.execution_status)
        .leaf("Status", &cs.status);
    opt(x, "StatusReason", cs.status_reason.as_deref());
    strings(x, "Capabilities", &cs.capabilities);
    tags(x, &cs.tags);
    members(x, "Changes", &cs.changes, |x, c| {
        x.leaf("Type", "Resource").open("ResourceChange");
        x.leaf("Action", &c.action)
            .leaf("LogicalResourceId", &c.logical_id);
        opt(x, "PhysicalResourceId", c.physical_id.as_deref());
        x.leaf("ResourceType", &c.kind);
        opt(x, "Replacement", c.replacement.as_deref());
        x.open("Scope")
            .close("Scope")
            .open("Details")
            .close("Details");
        x.close("ResourceChange");
    });
}

pub fn change_set_summary(x: &mut Xml, cs: &ChangeSet) {
    x.leaf("StackId", &cs.stack_id)
        .leaf("StackName", &cs.stack_name)
        .leaf("ChangeSetId", &cs.id)
        .leaf("ChangeSetName", &cs.name)
        .leaf("ExecutionStatus", &cs.execution_status)
        .leaf("Status", &cs.status);
    opt(x, "StatusReason", cs.status_reason.as_deref());
    x.leaf("CreationTime", &time(cs.created_ms));
    opt(x, "Description", cs.description.as_deref());
}

pub fn list<T>(x: &mut Xml, tag: &str, items: &[T], each: impl FnMut(&mut Xml, &T)) {
    members(x, tag, items, each);
}
