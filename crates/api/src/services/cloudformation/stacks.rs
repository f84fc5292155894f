//! The stack operations: create, update and delete start the executor's background task
//! after every check CloudFormation makes up front; the reads answer from the store.

use std::collections::BTreeMap;

use axum::response::Response;
use stratus_core::{Error, Kind};
use stratus_stacks::engine::Operation;
use stratus_stacks::params::{resolve, Supplied};
use stratus_stacks::store::{now_ms, Previous, Stack};
use stratus_stacks::template::{read_body, transforms};
use stratus_stacks::transform::prepare;
use stratus_stacks::Template;

use super::render::{self, Shape};
use super::source::template_text;
use super::{err, parameters, tags, validation, Ctx};
use crate::services::sns::form::Params;

const IAM_TYPES: [&str; 9] = [
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::User",
    "AWS::IAM::Group",
    "AWS::IAM::AccessKey",
    "AWS::IAM::InstanceProfile",
    "AWS::IAM::UserToGroupAddition",
    "AWS::IAM::ServiceLinkedRole",
];

/// The capability a template needs to be deployed: CAPABILITY_NAMED_IAM when an IAM resource
/// has a custom name, CAPABILITY_IAM for other IAM resources.
pub fn required_capability(t: &Template) -> Option<&'static str> {
    let iam: Vec<_> = t
        .resources
        .values()
        .filter(|r| IAM_TYPES.contains(&r.kind.as_str()))
        .collect();
    if iam.is_empty() {
        return None;
    }
    let named = iam.iter().any(|r| {
        [
            "RoleName",
            "UserName",
            "GroupName",
            "ManagedPolicyName",
            "InstanceProfileName",
        ]
        .iter()
        .any(|k| r.properties.get(*k).is_some())
    });
    Some(if named {
        "CAPABILITY_NAMED_IAM"
    } else {
        "CAPABILITY_IAM"
    })
}

pub fn check_capabilities(t: &Template, given: &[String]) -> Result<(), Error> {
    let Some(needed) = required_capability(t) else {
        return Ok(());
    };
    let ok = given
        .iter()
        .any(|g| g == needed || (needed == "CAPABILITY_IAM" && g == "CAPABILITY_NAMED_IAM"));
    if ok {
        return Ok(());
    }
    Err(Error::new(
        "InsufficientCapabilitiesException",
        Kind::InvalidInput,
        format!("Requires capabilities : [{needed}]"),
    ))
}

/// StackName as CloudFormation constrains it.
pub fn check_stack_name(name: &str) -> Result<(), Error> {
    let ok = name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        return Ok(());
    }
    Err(validation(format!(
        "1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*"
    )))
}

pub fn template(ctx: &Ctx<'_>, text: &str, stack_name: &str) -> Result<Template, Error> {
    let engine = ctx.service().engine()?;
    prepare(
        text,
        &engine.transform_context(stack_name, ctx.region),
        engine.sam,
    )
    .map_err(err)
}

pub fn not_found(name: &str) -> Error {
    validation(format!("Stack with id {name} does not exist"))
}

/// A live stack by name or ARN (an ARN finds deleted stacks too).
pub fn find(ctx: &Ctx<'_>, name: &str) -> Result<Stack, Error> {
    ctx.store()
        .get(name)
        .map_err(err)?
        .ok_or_else(|| not_found(name))
}

pub fn capabilities(p: &Params) -> Vec<String> {
    p.members("Capabilities")
}

/// The export names a template imports (literal names only; a computed name is found when
/// the stack is evaluated).
pub fn imports(t: &Template) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo: Vec<&serde_json::Value> = vec![&t.body];
    while let Some(v) = todo.pop() {
        match v {
            serde_json::Value::Object(m) => {
                if let (1, Some(serde_json::Value::String(name))) =
                    (m.len(), m.get("Fn::ImportValue"))
                {
                    out.push(name.clone());
                }
                todo.extend(m.values());
            }
            serde_json::Value::Array(items) => todo.extend(items.iter()),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

fn stack_id(ctx: &Ctx<'_>, name: &str) -> String {
    format!(
        "arn:aws:cloudformation:{}:{}:stack/{name}/{}",
        ctx.region,
        stratus_core::ACCOUNT_ID,
        uuid::Uuid::new_v4()
    )
}

/// A new stack's document, checked: its template, parameters and capabilities.
pub fn new_stack(
    ctx: &Ctx<'_>,
    name: &str,
    text: &str,
    given: &BTreeMap<String, Supplied>,
    caps: Vec<String>,
    check_caps: bool,
) -> Result<Stack, Error> {
    check_stack_name(name)?;
    let t = template(ctx, text, name)?;
    if check_caps {
        check_capabilities(&t, &caps)?;
    }
    let values = resolve(&t.parameters, given, &BTreeMap::new()).map_err(err)?;
    Ok(Stack {
        id: stack_id(ctx, name),
        name: name.to_string(),
        region: ctx.region.to_string(),
        status: "CREATE_IN_PROGRESS".into(),
        template: text.to_string(),
        description: t.description.clone(),
        parameters: values,
        no_echo: t
            .parameters
            .iter()
            .filter(|p| p.no_echo)
            .map(|p| p.name.clone())
            .collect(),
        capabilities: caps,
        imports: imports(&t),
        owner: ctx.caller.access_key.clone(),
        created_ms: now_ms(),
        ..Default::default()
    })
}

/// Starts a stack's creation: its first event, then the background task.
pub fn start_create(ctx: &Ctx<'_>, stack: &mut Stack) -> Result<(), Error> {
    stack.status = "CREATE_IN_PROGRESS".into();
    stack.status_reason = Some("User Initiated".into());
    ctx.store().put(stack).map_err(err)?;
    record_stack_event(ctx, stack)?;
    ctx.service().spawn(&stack.id, Operation::Create)
}

fn record_stack_event(ctx: &Ctx<'_>, stack: &Stack) -> Result<(), Error> {
    ctx.store()
        .add_event(&stratus_stacks::store::Event {
            event_id: uuid::Uuid::new_v4().to_string(),
            stack_id: stack.id.clone(),
            stack_name: stack.name.clone(),
            logical_id: stack.name.clone(),
            physical_id: stack.id.clone(),
            kind: "AWS::CloudFormation::Stack".into(),
            status: stack.status.clone(),
            reason: stack.status_reason.clone(),
            properties: None,
            timestamp_ms: now_ms(),
        })
        .map_err(err)
}

pub async fn create_stack(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let name = p.required("StackName")?;
    let text = template_text(ctx, p).await?;
    let mut stack = new_stack(ctx, name, &text, &parameters(p)?, capabilities(p), true)?;
    stack.tags = tags(p);
    stack.notification_arns = p.members("NotificationARNs");
    stack.disable_rollback =
        p.get("DisableRollback") == Some("true") || p.get("OnFailure") == Some("DO_NOTHING");
    ctx.store().create(&stack).map_err(err)?;
    start_create(ctx, &mut stack)?;
    Ok(ctx.ok("CreateStack", |x| {
        x.leaf("StackId", &stack.id);
    }))
}

/// States an update may start from.
pub fn updatable(stack: &Stack) -> Result<(), Error> {
    let ok = matches!(
        stack.status.as_str(),
        "CREATE_COMPLETE"
            | "UPDATE_COMPLETE"
            | "UPDATE_ROLLBACK_COMPLETE"
            | "IMPORT_COMPLETE"
            | "IMPORT_ROLLBACK_COMPLETE"
    );
    if ok {
        return Ok(());
    }
    Err(validation(format!(
        "Stack:{} is in {} state and can not be updated.",
        stack.id, stack.status
    )))
}

/// The update of `stack` to `text` and `given`, checked; None when nothing would change.
pub fn prepare_update(
    ctx: &Ctx<'_>,
    stack: &Stack,
    text: &str,
    given: &BTreeMap<String, Supplied>,
    caps: &[String],
    check_caps: bool,
) -> Result<Option<Stack>, Error> {
    let t = template(ctx, text, &stack.name)?;
    if check_caps {
        check_capabilities(&t, caps)?;
    }
    let values = resolve(&t.parameters, given, &stack.parameters).map_err(err)?;
    if text == stack.template && values == stack.parameters {
        return Ok(None);
    }
    let mut next = stack.clone();
    next.previous = Some(Previous {
        template: stack.template.clone(),
        parameters: stack.parameters.clone(),
        outputs: stack.outputs.clone(),
    });
    next.template = text.to_string();
    next.parameters = values;
    next.description = t.description.clone();
    next.no_echo = t
        .parameters
        .iter()
        .filter(|p| p.no_echo)
        .map(|p| p.name.clone())
        .collect();
    next.imports = imports(&t);
    next.capabilities = caps.to_vec();
    next.owner = ctx.caller.access_key.clone();
    Ok(Some(next))
}

pub fn start_update(ctx: &Ctx<'_>, stack: &mut Stack) -> Result<(), Error> {
    stack.status = "UPDATE_IN_PROGRESS".into();
    stack.status_reason = Some("User Initiated".into());
    stack.updated_ms = Some(now_ms());
    ctx.store().put(stack).map_err(err)?;
    record_stack_event(ctx, stack)?;
    ctx.service().spawn(&stack.id, Operation::Update)
}

pub async fn update_stack(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let name = p.required("StackName")?;
    let stack = find(ctx, name)?;
    updatable(&stack)?;
    let text = if p.get("UsePreviousTemplate") == Some("true") {
        stack.template.clone()
    } else {
        template_text(ctx, p).await?
    };
    let Some(mut next) =
        prepare_update(ctx, &stack, &text, &parameters(p)?, &capabilities(p), true)?
    else {
        return Err(validation("No updates are to be performed."));
    };
    if p.get("Tags.member.1.Key").is_some() {
        next.tags = tags(p);
    }
    start_update(ctx, &mut next)?;
    Ok(ctx.ok("UpdateStack", |x| {
        x.leaf("StackId", &next.id);
    }))
}

pub fn delete_stack(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let name = p.required("StackName")?;
    let done = || Ok(xml_empty(ctx, "DeleteStack"));
    // Deleting a stack that does not exist (or is deleted) succeeds, as on AWS.
    let Some(mut stack) = ctx.store().get(name).map_err(err)? else {
        return done();
    };
    match stack.status.as_str() {
        "DELETE_COMPLETE" | "DELETE_IN_PROGRESS" => return done(),
        s if s.ends_with("_IN_PROGRESS") && s != "REVIEW_IN_PROGRESS" => {
            return Err(validation(format!(
                "Stack [{}] cannot be deleted while in status {s}",
                stack.name
            )));
        }
        _ => {}
    }
    stack.status = "DELETE_IN_PROGRESS".into();
    stack.status_reason = Some("User Initiated".into());
    ctx.store().put(&stack).map_err(err)?;
    record_stack_event(ctx, &stack)?;
    ctx.service().spawn(&stack.id, Operation::Delete)?;
    done()
}

fn xml_empty(ctx: &Ctx<'_>, action: &str) -> Response {
    crate::services::sns::xml::empty_in(super::NS, action, &ctx.request_id)
}

pub fn describe_stacks(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let stacks = match p.get("StackName") {
        Some(name) => vec![find(ctx, name)?],
        None => ctx
            .store()
            .list()
            .map_err(err)?
            .into_iter()
            .filter(|s| s.status != "DELETE_COMPLETE")
            .collect(),
    };
    Ok(ctx.ok("DescribeStacks", |x| {
        render::list(x, "Stacks", &stacks, render::stack)
    }))
}

pub fn list_stacks(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let filter = p.members("StackStatusFilter");
    let stacks: Vec<Stack> = ctx
        .store()
        .list()
        .map_err(err)?
        .into_iter()
        .filter(|s| filter.is_empty() || filter.contains(&s.status))
        .collect();
    Ok(ctx.ok("ListStacks", |x| {
        render::list(x, "StackSummaries", &stacks, render::stack_summary)
    }))
}

pub fn describe_stack_events(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let stack = find(ctx, p.required("StackName")?)?;
    let events = ctx.store().events(&stack.id).map_err(err)?;
    Ok(ctx.ok("DescribeStackEvents", |x| render::events(x, &events)))
}

fn resources_of(
    ctx: &Ctx<'_>,
    stack: &Stack,
) -> Result<Vec<stratus_stacks::store::Resource>, Error> {
    ctx.store().resources(&stack.id).map_err(err)
}

pub fn describe_stack_resource(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let stack = find(ctx, p.required("StackName")?)?;
    let logical = p.required("LogicalResourceId")?;
    let r = resources_of(ctx, &stack)?
        .into_iter()
        .find(|r| r.logical_id == logical)
        .ok_or_else(|| {
            validation(format!(
                "Resource {logical} does not exist for stack {}",
                stack.name
            ))
        })?;
    Ok(ctx.ok("DescribeStackResource", |x| {
        x.open("StackResourceDetail");
        render::resource(x, &stack, &r, Shape::Detail);
        x.close("StackResourceDetail");
    }))
}

pub fn describe_stack_resources(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let stack = match (p.get("StackName"), p.get("PhysicalResourceId")) {
        (Some(name), _) => find(ctx, name)?,
        (None, Some(physical)) => {
            let all = ctx.store().list().map_err(err)?;
            let mut owner = None;
            for s in all.into_iter().filter(|s| s.status != "DELETE_COMPLETE") {
                if resources_of(ctx, &s)?
                    .iter()
                    .any(|r| r.physical_id.as_deref() == Some(physical))
                {
                    owner = Some(s);
                    break;
                }
            }
            owner.ok_or_else(|| validation(format!("Stack for {physical} does not exist")))?
        }
        (None, None) => {
            return Err(validation(
                "Either StackName or PhysicalResourceId must be specified.",
            ))
        }
    };
    let logical = p.get("LogicalResourceId");
    let list: Vec<_> = resources_of(ctx, &stack)?
        .into_iter()
        .filter(|r| logical.is_none_or(|l| l == r.logical_id))
        .collect();
    Ok(ctx.ok("DescribeStackResources", |x| {
        render::resources(x, "StackResources", &stack, &list, Shape::Resources)
    }))
}

pub fn list_stack_resources(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let stack = find(ctx, p.required("StackName")?)?;
    let list = resources_of(ctx, &stack)?;
    Ok(ctx.ok("ListStackResources", |x| {
        render::resources(x, "StackResourceSummaries", &stack, &list, Shape::Summary)
    }))
}

pub fn get_template(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let (text, name) = match p.get("ChangeSetName") {
        Some(cs) => {
            let stack_id = p
                .get("StackName")
                .map(|n| find(ctx, n))
                .transpose()?
                .map(|s| s.id);
            let cs = ctx
                .store()
                .change_set(cs, stack_id.as_deref())
                .map_err(err)?
                .ok_or_else(|| super::change_sets::not_found(cs))?;
            (cs.template, cs.stack_name)
        }
        None => {
            let stack = find(ctx, p.required("StackName")?)?;
            (stack.template, stack.name)
        }
    };
    let body = if p.get("TemplateStage") == Some("Processed") {
        template(ctx, &text, &name)
            .map(|t| t.body.to_string())
            .unwrap_or(text)
    } else {
        text
    };
    Ok(ctx.ok("GetTemplate", |x| {
        x.leaf("TemplateBody", &body);
        render::strings(
            x,
            "StagesAvailable",
            &["Original".into(), "Processed".into()],
        );
    }))
}

/// The template a summary or validation is about: a body, a URL, or a stack's.
async fn template_of(ctx: &Ctx<'_>, p: &Params) -> Result<(String, String), Error> {
    if let Some(name) = p.get("StackName") {
        let stack = find(ctx, name)?;
        return Ok((stack.template, stack.name));
    }
    Ok((template_text(ctx, p).await?, "stack".to_string()))
}

fn transforms_of(text: &str) -> Vec<String> {
    read_body(text)
        .ok()
        .and_then(|b| transforms(&b).ok())
        .unwrap_or_default()
}

pub async fn validate_template(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let (text, name) = template_of(ctx, p).await?;
    let t = template(ctx, &text, &name)?;
    let caps: Vec<String> = required_capability(&t)
        .map(|c| vec![c.to_string()])
        .unwrap_or_default();
    let declared = transforms_of(&text);
    Ok(ctx.ok("ValidateTemplate", |x| {
        render::list(x, "Parameters", &t.parameters, |x, d| {
            x.leaf("ParameterKey", &d.name);
            if let Some(v) = &d.default {
                x.leaf("DefaultValue", v);
            }
            x.leaf("NoEcho", if d.no_echo { "true" } else { "false" });
            if let Some(v) = &d.description {
                x.leaf("Description", v);
            }
        });
        if let Some(d) = &t.description {
            x.leaf("Description", d);
        }
        render::strings(x, "Capabilities", &caps);
        if !caps.is_empty() {
            x.leaf(
                "CapabilitiesReason",
                "The following resource(s) require capabilities: [AWS::IAM::Role]",
            );
        }
        render::strings(x, "DeclaredTransforms", &declared);
    }))
}

pub async fn get_template_summary(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let (text, name) = template_of(ctx, p).await?;
    let t = template(ctx, &text, &name)?;
    let caps: Vec<String> = required_capability(&t)
        .map(|c| vec![c.to_string()])
        .unwrap_or_default();
    let mut kinds: Vec<String> = t.resources.values().map(|r| r.kind.clone()).collect();
    kinds.sort();
    kinds.dedup();
    let declared = transforms_of(&text);
    Ok(ctx.ok("GetTemplateSummary", |x| {
        render::list(x, "Parameters", &t.parameters, |x, d| {
            x.leaf("ParameterKey", &d.name);
            if let Some(v) = &d.default {
                x.leaf("DefaultValue", v);
            }
            x.leaf("ParameterType", &d.kind)
                .leaf("NoEcho", if d.no_echo { "true" } else { "false" });
            if let Some(v) = &d.description {
                x.leaf("Description", v);
            }
            x.open("ParameterConstraints");
            render::strings(x, "AllowedValues", &d.allowed_values);
            x.close("ParameterConstraints");
        });
        if let Some(d) = &t.description {
            x.leaf("Description", d);
        }
        render::strings(x, "Capabilities", &caps);
        render::strings(x, "ResourceTypes", &kinds);
        x.leaf("Version", "2010-09-09");
        render::strings(x, "DeclaredTransforms", &declared);
    }))
}

pub fn list_exports(ctx: &Ctx<'_>) -> Result<Response, Error> {
    let exports = ctx.store().exports().map_err(err)?;
    Ok(ctx.ok("ListExports", |x| {
        render::list(x, "Exports", &exports, |x, (name, stack, value)| {
            x.leaf("ExportingStackId", stack)
                .leaf("Name", name)
                .leaf("Value", value);
        })
    }))
}

pub fn list_imports(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let name = p.required("ExportName")?;
    let users: Vec<String> = ctx
        .store()
        .list()
        .map_err(err)?
        .into_iter()
        .filter(|s| s.status != "DELETE_COMPLETE" && s.imports.iter().any(|i| i == name))
        .map(|s| s.name)
        .collect();
    if users.is_empty() {
        return Err(validation(format!(
            "Export '{name}' is not imported by any stack."
        )));
    }
    Ok(ctx.ok("ListImports", |x| render::strings(x, "Imports", &users)))
}
