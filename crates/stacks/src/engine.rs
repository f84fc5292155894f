//! The executor: runs a stack operation (create, update, delete) as a background task,
//! resource by resource in dependency order, writing each step's status and event to the
//! store before the next, and rolling back on failure so nothing is left half-made.
//!
//! A process killed mid-operation leaves the stack `*_IN_PROGRESS`; [`Engine::recover`] (run
//! at start-up) finishes each such stack as failed: an interrupted create is rolled back
//! (ROLLBACK_COMPLETE), an interrupted update is rolled back (UPDATE_ROLLBACK_COMPLETE), an
//! interrupted delete or cleanup is carried on to its end.

mod create;
mod delete;
mod update;

use crate::error::{Error, Result};
use crate::intrinsics::{evaluate_conditions, Context, Pseudo, Resolver};
use crate::providers::{provider, Client, Cx, Made};
use crate::store::{now_ms, Event, Output, Resource, Stack, Stacks};
use crate::transform::{prepare, SamExpander, TransformContext};
use crate::Template;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Engine {
    pub store: Arc<Stacks>,
    pub client: Arc<dyn Client>,
    pub account_id: String,
    pub sam: Option<SamExpander>,
}

/// Which operation a background task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// Everything evaluation needs for one template of one stack.
pub struct Plan {
    pub template: Template,
    pub params: BTreeMap<String, String>,
    pub pseudo: Pseudo,
    pub conditions: BTreeMap<String, bool>,
}

impl Plan {
    /// Whether a resource (or output) with this condition exists.
    pub fn wanted(&self, condition: &Option<String>) -> bool {
        condition
            .as_ref()
            .is_none_or(|c| self.conditions.get(c).copied().unwrap_or(false))
    }
}

/// Ref and GetAtt over the resources made so far, and exports from the store.
struct Live<'a> {
    resources: &'a BTreeMap<String, Resource>,
    store: &'a Stacks,
}

impl Resolver for Live<'_> {
    fn reference(&self, id: &str) -> Result<Value> {
        let r = self
            .resources
            .get(id)
            .filter(|r| r.physical_id.is_some())
            .ok_or_else(|| {
                Error::template(format!(
                    "Unable to resolve Ref to resource {id}, which was not created"
                ))
            })?;
        Ok(r.attributes
            .get("Ref")
            .cloned()
            .unwrap_or_else(|| Value::String(r.physical_id.clone().unwrap_or_default())))
    }
    fn attribute(&self, id: &str, attribute: &str) -> Result<Value> {
        let r = self.resources.get(id).ok_or_else(|| {
            Error::template(format!(
                "Unable to resolve Fn::GetAtt of resource {id}, which was not created"
            ))
        })?;
        r.attributes.get(attribute).cloned().ok_or_else(|| {
            Error::template(format!(
                "resource {id} does not support attribute type {attribute} in Fn::GetAtt"
            ))
        })
    }
    fn import(&self, name: &str) -> Option<String> {
        self.store.export(name).ok().flatten()
    }
}

pub fn pseudo(stack: &Stack, account_id: &str) -> Pseudo {
    Pseudo {
        account_id: account_id.to_string(),
        region: stack.region.clone(),
        stack_name: stack.name.clone(),
        stack_id: stack.id.clone(),
        partition: "aws".into(),
        url_suffix: "amazonaws.com".into(),
        notification_arns: stack.notification_arns.clone(),
    }
}

pub fn made_of(r: &Resource) -> Made {
    Made {
        physical_id: r.physical_id.clone().unwrap_or_default(),
        attributes: r.attributes.clone(),
    }
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

impl Engine {
    pub fn transform_context(&self, stack_name: &str, region: &str) -> TransformContext {
        TransformContext {
            region: region.to_string(),
            account_id: self.account_id.clone(),
            stack_name: stack_name.to_string(),
            partition: "aws".into(),
        }
    }

    /// The plan for a template body and parameter values of `stack`.
    pub fn plan(
        &self,
        stack: &Stack,
        text: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Plan> {
        let template = prepare(
            text,
            &self.transform_context(&stack.name, &stack.region),
            self.sam,
        )?;
        let pseudo = pseudo(stack, &self.account_id);
        let conditions = evaluate_conditions(&template, params, &pseudo)?;
        Ok(Plan {
            template,
            params: params.clone(),
            pseudo,
            conditions,
        })
    }

    /// Runs `op` on the stack to its end; errors of the store are logged.
    pub async fn run(self: Arc<Self>, stack_id: String, op: Operation) {
        let result = match op {
            Operation::Create => self.create(&stack_id).await,
            Operation::Update => self.update(&stack_id).await,
            Operation::Delete => self.delete(&stack_id).await,
        };
        if let Err(e) = result {
            tracing::error!(stack = %stack_id, error = %e, "stack operation stopped");
        }
    }

    /// Finishes every stack a dead process left in progress (see the module's comment).
    pub async fn recover(self: Arc<Self>) -> Result<()> {
        for stack in self.store.list()? {
            let reason = "The stack operation was interrupted: the server stopped during it";
            let result = match stack.status.as_str() {
                "CREATE_IN_PROGRESS" | "ROLLBACK_IN_PROGRESS" => {
                    self.rollback_create(&stack.id, reason).await
                }
                "DELETE_IN_PROGRESS" => self.delete(&stack.id).await,
                "UPDATE_IN_PROGRESS" | "UPDATE_ROLLBACK_IN_PROGRESS" => {
                    self.rollback_update(&stack.id, reason).await
                }
                "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" => self.cleanup_update(&stack.id).await,
                "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS" => {
                    self.cleanup_rollback(&stack.id).await
                }
                _ => continue,
            };
            if let Err(e) = result {
                tracing::error!(stack = %stack.id, error = %e, "recovering a stack failed");
            }
        }
        Ok(())
    }

    fn load(&self, stack_id: &str) -> Result<Stack> {
        self.store
            .get(stack_id)?
            .ok_or_else(|| Error::validation(format!("Stack with id {stack_id} does not exist")))
    }

    fn resources(&self, stack_id: &str) -> Result<BTreeMap<String, Resource>> {
        Ok(self
            .store
            .resources(stack_id)?
            .into_iter()
            .map(|r| (r.logical_id.clone(), r))
            .collect())
    }

    /// Sets the stack's status (and its reason) with the stack event that tells it.
    fn set_status(&self, stack: &mut Stack, status: &str, reason: Option<&str>) -> Result<()> {
        stack.status = status.to_string();
        stack.status_reason = reason.map(str::to_string);
        if status.starts_with("UPDATE") {
            stack.updated_ms = Some(now_ms());
        }
        if status == "DELETE_COMPLETE" {
            stack.deleted_ms = Some(now_ms());
        }
        self.store.put(stack)?;
        self.event(
            stack,
            &stack.name.clone(),
            &stack.id.clone(),
            "AWS::CloudFormation::Stack",
            status,
            reason,
            None,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        stack: &Stack,
        logical: &str,
        physical: &str,
        kind: &str,
        status: &str,
        reason: Option<&str>,
        props: Option<&Value>,
    ) -> Result<()> {
        self.store.add_event(&Event {
            event_id: uuid::Uuid::new_v4().to_string(),
            stack_id: stack.id.clone(),
            stack_name: stack.name.clone(),
            logical_id: logical.to_string(),
            physical_id: physical.to_string(),
            kind: kind.to_string(),
            status: status.to_string(),
            reason: reason.map(str::to_string),
            properties: props.map(Value::to_string),
            timestamp_ms: now_ms(),
        })
    }

    fn resource_event(
        &self,
        stack: &Stack,
        r: &Resource,
        status: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        let props = (status.ends_with("IN_PROGRESS")).then_some(&r.properties);
        self.event(
            stack,
            &r.logical_id,
            r.physical_id.as_deref().unwrap_or(""),
            &r.kind,
            status,
            reason,
            props,
        )
    }

    fn cx<'a>(&'a self, stack: &'a Stack, logical_id: &'a str) -> Cx<'a> {
        Cx {
            client: self.client.as_ref(),
            owner: &stack.owner,
            region: &stack.region,
            account_id: &self.account_id,
            stack_name: &stack.name,
            logical_id,
        }
    }

    /// A resource's properties, evaluated against what is made so far.
    fn properties(
        &self,
        plan: &Plan,
        live: &BTreeMap<String, Resource>,
        id: &str,
    ) -> std::result::Result<Value, String> {
        let decl = &plan.template.resources[id];
        self.evaluate(plan, live, &decl.properties)
    }

    /// A template value (properties, an UpdatePolicy), evaluated against what is made so far.
    fn evaluate(
        &self,
        plan: &Plan,
        live: &BTreeMap<String, Resource>,
        value: &Value,
    ) -> std::result::Result<Value, String> {
        let resolver = Live {
            resources: live,
            store: &self.store,
        };
        let ctx = Context {
            template: &plan.template,
            params: &plan.params,
            pseudo: &plan.pseudo,
            conditions: &plan.conditions,
            resolver: &resolver,
        };
        ctx.eval(value)
            .map(|v| v.unwrap_or(Value::Object(Map::new())))
            .map_err(|e| e.message)
    }

    /// The outputs and exports of a template, evaluated once every resource is made.
    fn outputs(&self, plan: &Plan, live: &BTreeMap<String, Resource>) -> Result<Vec<Output>> {
        let resolver = Live {
            resources: live,
            store: &self.store,
        };
        let ctx = Context {
            template: &plan.template,
            params: &plan.params,
            pseudo: &plan.pseudo,
            conditions: &plan.conditions,
            resolver: &resolver,
        };
        let text = |v: &Value, what: &str| -> Result<String> {
            let v = ctx.value(v, what)?;
            Ok(match v {
                Value::String(s) => s,
                Value::Array(items) => items
                    .iter()
                    .map(crate::providers::text)
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            })
        };
        let mut out = Vec::new();
        for o in plan
            .template
            .outputs
            .iter()
            .filter(|o| plan.wanted(&o.condition))
        {
            out.push(Output {
                key: o.key.clone(),
                value: text(&o.value, "Outputs")?,
                description: o
                    .description
                    .as_ref()
                    .map(|d| text(d, "Description"))
                    .transpose()?,
                export_name: o
                    .export_name
                    .as_ref()
                    .map(|n| text(n, "Export"))
                    .transpose()?,
            });
        }
        Ok(out)
    }

    fn set_outputs(&self, stack: &mut Stack, outputs: Vec<Output>) -> Result<()> {
        let exports: Vec<(String, String)> = outputs
            .iter()
            .filter_map(|o| Some((o.export_name.clone()?, o.value.clone())))
            .collect();
        self.store.set_exports(stack, &exports)?;
        stack.outputs = outputs;
        self.store.put(stack)
    }

    /// Makes one resource, writing its events; the failure's reason on error.
    async fn make(
        &self,
        stack: &Stack,
        plan: &Plan,
        live: &mut BTreeMap<String, Resource>,
        id: &str,
        by_update: bool,
    ) -> std::result::Result<(), String> {
        let decl = &plan.template.resources[id];
        let mut r = Resource {
            logical_id: id.to_string(),
            kind: decl.kind.clone(),
            status: "CREATE_IN_PROGRESS".into(),
            created_by_update: by_update,
            updated_ms: now_ms(),
            ..Default::default()
        };
        let fail = |engine: &Engine,
                    r: &mut Resource,
                    live: &mut BTreeMap<String, Resource>,
                    reason: String| {
            r.status = "CREATE_FAILED".into();
            r.status_reason = Some(reason.clone());
            let _ = engine.resource_event(stack, r, "CREATE_FAILED", Some(&reason));
            let _ = engine.store.put_resource(&stack.id, r);
            live.insert(r.logical_id.clone(), r.clone());
            Err(reason)
        };
        let props = match self.properties(plan, live, id) {
            Ok(p) => p,
            Err(reason) => return fail(self, &mut r, live, reason),
        };
        r.properties = props.clone();
        let _ = self.resource_event(stack, &r, "CREATE_IN_PROGRESS", None);
        let Some(p) = provider(&decl.kind) else {
            let reason = format!(
                "Resource type {} is not supported by this endpoint",
                decl.kind
            );
            return fail(self, &mut r, live, reason);
        };
        self.store
            .put_resource(&stack.id, &r)
            .map_err(|e| e.message)?;
        match p.create(&self.cx(stack, id), &object(&props)).await {
            Ok(made) => {
                r.physical_id = Some(made.physical_id);
                r.attributes = made.attributes;
                r.status = "CREATE_COMPLETE".into();
                self.store
                    .put_resource(&stack.id, &r)
                    .map_err(|e| e.message)?;
                let _ = self.resource_event(
                    stack,
                    &r,
                    "CREATE_IN_PROGRESS",
                    Some("Resource creation Initiated"),
                );
                let _ = self.resource_event(stack, &r, "CREATE_COMPLETE", None);
                live.insert(id.to_string(), r);
                Ok(())
            }
            Err(reason) => fail(self, &mut r, live, reason),
        }
    }

    /// Deletes one resource (or skips it under Retain), writing its events.
    async fn unmake(
        &self,
        stack: &Stack,
        r: &Resource,
        retain: bool,
    ) -> std::result::Result<(), String> {
        let Some(physical) = r.physical_id.as_ref() else {
            let _ = self.store.remove_resource(&stack.id, &r.logical_id);
            let _ = self.resource_event(stack, r, "DELETE_COMPLETE", None);
            return Ok(());
        };
        if retain {
            let _ = self.resource_event(stack, r, "DELETE_SKIPPED", None);
            let _ = self.store.remove_resource(&stack.id, &r.logical_id);
            return Ok(());
        }
        let _ = self.resource_event(stack, r, "DELETE_IN_PROGRESS", None);
        let result = match provider(&r.kind) {
            Some(p) => {
                let made = Made {
                    physical_id: physical.clone(),
                    attributes: r.attributes.clone(),
                };
                p.delete(
                    &self.cx(stack, &r.logical_id),
                    &made,
                    &object(&r.properties),
                )
                .await
            }
            None => Ok(()),
        };
        match result {
            Ok(()) => {
                let _ = self.resource_event(stack, r, "DELETE_COMPLETE", None);
                self.store
                    .remove_resource(&stack.id, &r.logical_id)
                    .map_err(|e| e.message)
            }
            Err(reason) => {
                let mut failed = r.clone();
                failed.status = "DELETE_FAILED".into();
                failed.status_reason = Some(reason.clone());
                let _ = self.store.put_resource(&stack.id, &failed);
                let _ = self.resource_event(stack, r, "DELETE_FAILED", Some(&reason));
                Err(reason)
            }
        }
    }

    /// The live resources in the order to delete them: reverse dependency order of the
    /// template when it can be read, then anything it does not name.
    fn deletion_order(
        &self,
        stack: &Stack,
        template: &str,
        params: &BTreeMap<String, String>,
        live: &BTreeMap<String, Resource>,
    ) -> Vec<String> {
        let mut order: Vec<String> = self
            .plan(stack, template, params)
            .ok()
            .and_then(|p| crate::graph::order(&p.template).ok())
            .unwrap_or_default();
        order.retain(|id| live.contains_key(id));
        order.reverse();
        let mut rest: Vec<String> = live
            .keys()
            .filter(|k| !order.contains(k))
            .cloned()
            .collect();
        rest.append(&mut order);
        rest
    }
}

#[cfg(test)]
mod tests;
