//! Change sets: CREATE (a stack in REVIEW_IN_PROGRESS until executed) and UPDATE, with the
//! changes computed from the templates (Add, Remove, Modify with the provider's replacement
//! rule); executing one runs the stack operation it describes.

use std::collections::BTreeMap;

use axum::response::Response;
use stratus_core::{Error, Kind};
use stratus_stacks::providers::provider;
use stratus_stacks::store::{now_ms, Change, ChangeSet, Event, Stack};
use stratus_stacks::Template;

use super::render;
use super::source::template_text;
use super::stacks::{
    capabilities, check_stack_name, find, new_stack, prepare_update, start_create, start_update,
    template, updatable,
};
use super::{err, parameters, tags, validation, Ctx};
use crate::services::sns::form::Params;

/// What `aws cloudformation deploy` reads to tell "No changes to deploy".
const NO_CHANGES: &str = "The submitted information didn't contain changes. Submit different information to create a change set.";

pub fn not_found(name: &str) -> Error {
    Error::new(
        "ChangeSetNotFound",
        Kind::NotFound,
        format!("ChangeSet [{name}] does not exist"),
    )
}

fn object(v: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The changes from `old` (None for a new stack) to `new`, judged on the declared properties.
fn changes(
    old: Option<(&Template, &BTreeMap<String, String>)>,
    new: &Template,
    resources: &BTreeMap<String, Option<String>>,
    params_changed: bool,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (id, decl) in &new.resources {
        let before = old.and_then(|(t, _)| t.resources.get(id));
        let change = match before {
            None => Change {
                action: "Add".into(),
                logical_id: id.clone(),
                kind: decl.kind.clone(),
                ..Default::default()
            },
            Some(b)
                if b.properties == decl.properties && b.kind == decl.kind && !params_changed =>
            {
                continue
            }
            Some(b) => {
                let replaces = b.kind != decl.kind
                    || provider(&decl.kind).is_some_and(|p| {
                        p.replaces(&object(&b.properties), &object(&decl.properties))
                    });
                if b.properties == decl.properties && b.kind == decl.kind {
                    // Only parameters changed: whether this resource changes is known when run.
                    let refs = decl.properties.to_string();
                    if !old.is_some_and(|(t, _)| {
                        t.parameters
                            .iter()
                            .any(|p| refs.contains(&format!("\"{}\"", p.name)))
                    }) {
                        continue;
                    }
                }
                Change {
                    action: "Modify".into(),
                    logical_id: id.clone(),
                    kind: decl.kind.clone(),
                    physical_id: resources.get(id).cloned().flatten(),
                    replacement: Some(if replaces { "True" } else { "False" }.into()),
                }
            }
        };
        out.push(change);
    }
    if let Some((t, _)) = old {
        for (id, decl) in t
            .resources
            .iter()
            .filter(|(id, _)| !new.resources.contains_key(*id))
        {
            out.push(Change {
                action: "Remove".into(),
                logical_id: id.clone(),
                kind: decl.kind.clone(),
                physical_id: resources.get(id).cloned().flatten(),
                replacement: None,
            });
        }
    }
    out
}

pub async fn create_change_set(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let name = p.required("StackName")?;
    let cs_name = p.required("ChangeSetName")?;
    check_stack_name(cs_name).map_err(|_| validation(format!("1 validation error detected: Value '{cs_name}' at 'changeSetName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*")))?;
    let kind = p.get("ChangeSetType").unwrap_or("UPDATE");
    let caps = capabilities(p);
    let existing = ctx.store().get(name).map_err(err)?;
    let mut cs = ChangeSet {
        name: cs_name.to_string(),
        kind: kind.to_string(),
        status: "CREATE_COMPLETE".into(),
        execution_status: "AVAILABLE".into(),
        description: p.get("Description").map(str::to_string),
        tags: tags(p),
        capabilities: caps.clone(),
        created_ms: now_ms(),
        ..Default::default()
    };
    let stack: Stack = match kind {
        "CREATE" => {
            if existing
                .as_ref()
                .is_some_and(|s| s.status != "REVIEW_IN_PROGRESS")
            {
                return Err(validation(format!("Stack [{name}] already exists and cannot be created again with the changeSet [{cs_name}].")));
            }
            let text = template_text(ctx, p).await?;
            let mut stack = new_stack(ctx, name, &text, &parameters(p)?, caps.clone(), true)?;
            let t = template(ctx, &text, name)?;
            cs.changes = changes(None, &t, &BTreeMap::new(), false);
            cs.template = text;
            cs.parameters = stack.parameters.clone();
            match existing {
                Some(s) => {
                    stack = Stack {
                        template: s.template.clone(),
                        ..s
                    }
                }
                None => {
                    stack.status = "REVIEW_IN_PROGRESS".into();
                    stack.status_reason = Some("User Initiated".into());
                    stack.template = String::new();
                    stack.parameters = BTreeMap::new();
                    stack.tags = cs.tags.clone();
                    ctx.store().create(&stack).map_err(err)?;
                    // As AWS records it: `sam deploy` reads the newest event's time before
                    // it executes the change set, and fails on a stack without one.
                    ctx.store().add_event(&review_event(&stack)).map_err(err)?;
                }
            }
            stack
        }
        "UPDATE" => {
            let stack =
                existing.ok_or_else(|| validation(format!("Stack [{name}] does not exist")))?;
            if stack.status == "REVIEW_IN_PROGRESS" {
                return Err(validation(format!("Stack [{name}] does not exist")));
            }
            let text = if p.get("UsePreviousTemplate") == Some("true") {
                stack.template.clone()
            } else {
                template_text(ctx, p).await?
            };
            match prepare_update(ctx, &stack, &text, &parameters(p)?, &caps, true)? {
                None => {
                    cs.status = "FAILED".into();
                    cs.execution_status = "UNAVAILABLE".into();
                    cs.status_reason = Some(NO_CHANGES.into());
                    cs.parameters = stack.parameters.clone();
                }
                Some(next) => {
                    let old = template(ctx, &stack.template, &stack.name)?;
                    let new = template(ctx, &text, &stack.name)?;
                    let physical: BTreeMap<String, Option<String>> = ctx
                        .store()
                        .resources(&stack.id)
                        .map_err(err)?
                        .into_iter()
                        .map(|r| (r.logical_id, r.physical_id))
                        .collect();
                    cs.changes = changes(
                        Some((&old, &stack.parameters)),
                        &new,
                        &physical,
                        next.parameters != stack.parameters,
                    );
                    cs.parameters = next.parameters;
                    if cs.changes.is_empty() && text == stack.template {
                        cs.status = "FAILED".into();
                        cs.execution_status = "UNAVAILABLE".into();
                        cs.status_reason = Some(NO_CHANGES.into());
                    }
                }
            }
            cs.template = text;
            stack
        }
        other => {
            return Err(validation(format!("1 validation error detected: Value '{other}' at 'changeSetType' failed to satisfy constraint: Member must satisfy enum value set: [IMPORT, UPDATE, CREATE]")));
        }
    };
    if ctx
        .store()
        .change_set(cs_name, Some(&stack.id))
        .map_err(err)?
        .is_some()
    {
        return Err(Error::new(
            "AlreadyExistsException",
            Kind::InvalidInput,
            format!("ChangeSet {cs_name} already exists"),
        ));
    }
    cs.id = format!(
        "arn:aws:cloudformation:{}:{}:changeSet/{cs_name}/{}",
        ctx.region,
        stratus_core::ACCOUNT_ID,
        uuid::Uuid::new_v4()
    );
    cs.stack_id = stack.id.clone();
    cs.stack_name = stack.name.clone();
    ctx.store().put_change_set(&cs).map_err(err)?;
    Ok(ctx.ok("CreateChangeSet", |x| {
        x.leaf("Id", &cs.id).leaf("StackId", &cs.stack_id);
    }))
}

/// The stack's `REVIEW_IN_PROGRESS` event, when a CREATE change set makes it.
fn review_event(stack: &Stack) -> Event {
    Event {
        event_id: uuid::Uuid::new_v4().to_string(),
        stack_id: stack.id.clone(),
        stack_name: stack.name.clone(),
        logical_id: stack.name.clone(),
        physical_id: stack.id.clone(),
        kind: "AWS::CloudFormation::Stack".into(),
        status: "REVIEW_IN_PROGRESS".into(),
        reason: Some("User Initiated".into()),
        properties: None,
        timestamp_ms: now_ms(),
    }
}

fn lookup(ctx: &Ctx<'_>, p: &Params) -> Result<ChangeSet, Error> {
    let name = p.required("ChangeSetName")?;
    let stack_id = match p.get("StackName") {
        Some(s) => Some(find(ctx, s)?.id),
        None if !name.starts_with("arn:") => {
            return Err(validation(
                "StackName must be specified if ChangeSetName is not specified as an ARN.",
            ));
        }
        None => None,
    };
    ctx.store()
        .change_set(name, stack_id.as_deref())
        .map_err(err)?
        .ok_or_else(|| not_found(name))
}

pub fn describe_change_set(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let cs = lookup(ctx, p)?;
    Ok(ctx.ok("DescribeChangeSet", |x| render::change_set(x, &cs)))
}

pub fn execute_change_set(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let mut cs = lookup(ctx, p)?;
    if cs.execution_status != "AVAILABLE" {
        return Err(Error::new(
            "InvalidChangeSetStatus",
            Kind::InvalidInput,
            format!(
                "ChangeSet [{}] cannot be executed in its current execution status of [{}]",
                cs.id, cs.execution_status
            ),
        ));
    }
    let mut stack = find(ctx, &cs.stack_id)?;
    if cs.kind == "CREATE" {
        stack.template = cs.template.clone();
        stack.parameters = cs.parameters.clone();
        let t = template(ctx, &cs.template, &stack.name)?;
        stack.description = t.description.clone();
        stack.no_echo = t
            .parameters
            .iter()
            .filter(|p| p.no_echo)
            .map(|p| p.name.clone())
            .collect();
        stack.imports = super::stacks::imports(&t);
        stack.capabilities = cs.capabilities.clone();
        stack.owner = ctx.caller.access_key.clone();
        stack.disable_rollback = p.get("DisableRollback") == Some("true");
        start_create(ctx, &mut stack)?;
    } else {
        updatable(&stack)?;
        let given = cs
            .parameters
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    stratus_stacks::params::Supplied::Value(v.clone()),
                )
            })
            .collect();
        let Some(mut next) =
            prepare_update(ctx, &stack, &cs.template, &given, &cs.capabilities, false)?
        else {
            return Err(validation("No updates are to be performed."));
        };
        if !cs.tags.is_empty() {
            next.tags = cs.tags.clone();
        }
        start_update(ctx, &mut next)?;
    }
    cs.execution_status = "EXECUTE_COMPLETE".into();
    ctx.store().put_change_set(&cs).map_err(err)?;
    // The stack's other change sets no longer apply to it.
    for other in ctx.store().change_sets(&cs.stack_id).map_err(err)? {
        if other.id != cs.id {
            ctx.store().delete_change_set(&other.id).map_err(err)?;
        }
    }
    Ok(ctx.ok("ExecuteChangeSet", |_| {}))
}

pub fn delete_change_set(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let cs = lookup(ctx, p)?;
    ctx.store().delete_change_set(&cs.id).map_err(err)?;
    Ok(ctx.ok("DeleteChangeSet", |_| {}))
}

pub fn list_change_sets(ctx: &Ctx<'_>, p: &Params) -> Result<Response, Error> {
    let stack = find(ctx, p.required("StackName")?)?;
    let list = ctx.store().change_sets(&stack.id).map_err(err)?;
    Ok(ctx.ok("ListChangeSets", |x| {
        render::list(x, "Summaries", &list, render::change_set_summary)
    }))
}
