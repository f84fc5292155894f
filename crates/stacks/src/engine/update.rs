//! UpdateStack: the stack document already holds the new template and parameters, and
//! `previous` the old ones. Each resource of the new template, in dependency order, is made
//! (new), updated in place, or replaced (a new copy made, the old one kept until cleanup) as
//! its provider says; then resources the template dropped and replaced copies are deleted.
//! A failure rolls back: new resources deleted, updated ones set back, replaced ones restored.

use super::*;
use crate::providers::alias_deployment;
use crate::template::Policy;

const REPLACING: &str =
    "Requested update requires the creation of a new physical resource; hence creating one.";

impl Engine {
    pub(super) async fn update(&self, stack_id: &str) -> Result<()> {
        let mut stack = self.load(stack_id)?;
        let plan = match self.plan(&stack, &stack.template.clone(), &stack.parameters.clone()) {
            Ok(p) => p,
            Err(e) => return self.rollback_update(stack_id, &e.message).await,
        };
        let order = crate::graph::order(&plan.template)?;
        let mut live = self.resources(stack_id)?;
        let mut failed = None;
        for id in order
            .iter()
            .filter(|id| plan.wanted(&plan.template.resources[*id].condition))
        {
            let result = match live.get(id).filter(|r| r.physical_id.is_some()).cloned() {
                None => self
                    .make(&stack, &plan, &mut live, id, true)
                    .await
                    .map_err(|_| "create"),
                Some(current) => self
                    .change(&stack, &plan, &mut live, current)
                    .await
                    .map_err(|_| "update"),
            };
            if let Err(verb) = result {
                failed = Some(format!(
                    "The following resource(s) failed to {verb}: [{id}]. "
                ));
                break;
            }
        }
        if failed.is_none() {
            if let Err(e) = self
                .outputs(&plan, &live)
                .and_then(|o| self.set_outputs(&mut stack, o))
            {
                failed = Some(format!("{} ", e.message));
            }
        }
        if let Some(reason) = failed {
            return self.rollback_update(stack_id, reason.trim_end()).await;
        }
        self.set_status(&mut stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None)?;
        self.cleanup_update(stack_id).await
    }

    /// Updates one existing resource in place, or replaces it.
    async fn change(
        &self,
        stack: &Stack,
        plan: &Plan,
        live: &mut BTreeMap<String, Resource>,
        current: Resource,
    ) -> std::result::Result<(), String> {
        let id = current.logical_id.clone();
        let decl = &plan.template.resources[&id];
        let new_props = match self.properties(plan, live, &id) {
            Ok(p) => p,
            Err(reason) => {
                let _ = self.resource_event(stack, &current, "UPDATE_FAILED", Some(&reason));
                return Err(reason);
            }
        };
        if new_props == current.properties && decl.kind == current.kind {
            return Ok(());
        }
        let Some(p) = provider(&decl.kind) else {
            let reason = format!(
                "Resource type {} is not supported by this endpoint",
                decl.kind
            );
            let _ = self.resource_event(stack, &current, "UPDATE_FAILED", Some(&reason));
            return Err(reason);
        };
        let (old, new) = (object(&current.properties), object(&new_props));
        let replace = decl.kind != current.kind || p.replaces(&old, &new);
        let mut next = current.clone();
        next.before = Some(Box::new(current.clone()));
        next.properties = new_props;
        next.kind = decl.kind.clone();
        next.status = "UPDATE_IN_PROGRESS".into();
        // Written first, so a rollback after a crash knows what it was.
        self.store
            .put_resource(&stack.id, &next)
            .map_err(|e| e.message)?;
        let _ = self.resource_event(
            stack,
            &next,
            "UPDATE_IN_PROGRESS",
            replace.then_some(REPLACING),
        );
        let cx = self.cx(stack, &id);
        let result = if replace {
            p.create(&cx, &new).await
        } else {
            match self.deploy_alias(plan, live, &decl.kind, &decl.update_policy, &old, &new) {
                Ok(None) => p.update(&cx, &made_of(&current), &old, &new).await,
                Ok(Some(policy)) => {
                    match alias_deployment::run(&cx, &old, &new, &policy).await {
                        // The deployment moved the alias; other changed properties still apply.
                        Ok(()) => p.update(&cx, &made_of(&current), &old, &new).await,
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(made) => {
                if replace {
                    next.replaced.push(crate::store::Replaced {
                        physical_id: current.physical_id.clone().unwrap_or_default(),
                        properties: current.properties.clone(),
                        attributes: current.attributes.clone(),
                    });
                }
                next.physical_id = Some(made.physical_id);
                next.attributes = made.attributes;
                next.status = "UPDATE_COMPLETE".into();
                next.updated_ms = now_ms();
                self.store
                    .put_resource(&stack.id, &next)
                    .map_err(|e| e.message)?;
                let _ = self.resource_event(stack, &next, "UPDATE_COMPLETE", None);
                live.insert(id, next);
                Ok(())
            }
            Err(reason) => {
                // Nothing new exists: the resource is what it was.
                let mut failed = current.clone();
                failed.status = "UPDATE_FAILED".into();
                failed.status_reason = Some(reason.clone());
                let _ = self.store.put_resource(&stack.id, &failed);
                let _ = self.resource_event(stack, &failed, "UPDATE_FAILED", Some(&reason));
                Err(reason)
            }
        }
    }

    /// The evaluated `CodeDeployLambdaAliasUpdate` policy when an alias moves to another
    /// version and has one: the move then goes through a CodeDeploy deployment.
    fn deploy_alias(
        &self,
        plan: &Plan,
        live: &BTreeMap<String, Resource>,
        kind: &str,
        update_policy: &Value,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> std::result::Result<Option<Map<String, Value>>, String> {
        if kind != "AWS::Lambda::Alias"
            || alias_deployment::policy(update_policy).is_none()
            || old.get("FunctionVersion") == new.get("FunctionVersion")
        {
            return Ok(None);
        }
        let evaluated = self.evaluate(plan, live, update_policy)?;
        Ok(alias_deployment::policy(&evaluated).cloned())
    }

    /// After a successful update: deletes what the template dropped and the replaced copies.
    pub(super) async fn cleanup_update(&self, stack_id: &str) -> Result<()> {
        let mut stack = self.load(stack_id)?;
        let plan = self.plan(&stack, &stack.template.clone(), &stack.parameters.clone())?;
        let live = self.resources(stack_id)?;
        let previous = stack.previous.clone().unwrap_or_default();
        let dropped: BTreeMap<String, Resource> = live
            .iter()
            .filter(|(id, _)| {
                plan.template
                    .resources
                    .get(*id)
                    .is_none_or(|d| !plan.wanted(&d.condition))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let old_plan = self
            .plan(&stack, &previous.template, &previous.parameters)
            .ok();
        for id in self.deletion_order(&stack, &previous.template, &previous.parameters, &dropped) {
            let retain = old_plan
                .as_ref()
                .and_then(|p| p.template.resources.get(&id))
                .is_some_and(|d| d.deletion_policy == Policy::Retain);
            let _ = self.unmake(&stack, &dropped[&id], retain).await;
        }
        for (id, r) in live.iter().filter(|(id, _)| !dropped.contains_key(*id)) {
            let retain = plan
                .template
                .resources
                .get(id)
                .is_some_and(|d| d.update_replace_policy == Policy::Retain);
            for old in &r.replaced {
                let copy = Resource {
                    physical_id: Some(old.physical_id.clone()),
                    properties: old.properties.clone(),
                    attributes: old.attributes.clone(),
                    replaced: vec![],
                    before: None,
                    ..r.clone()
                };
                if retain {
                    let _ = self.resource_event(&stack, &copy, "DELETE_SKIPPED", None);
                    continue;
                }
                let _ = self.resource_event(&stack, &copy, "DELETE_IN_PROGRESS", None);
                if let Some(p) = provider(&r.kind) {
                    let result = p
                        .delete(
                            &self.cx(&stack, id),
                            &made_of(&copy),
                            &object(&copy.properties),
                        )
                        .await;
                    let status = if result.is_ok() {
                        "DELETE_COMPLETE"
                    } else {
                        "DELETE_FAILED"
                    };
                    let _ = self.resource_event(&stack, &copy, status, result.err().as_deref());
                }
            }
            let settled = Resource {
                replaced: vec![],
                before: None,
                created_by_update: false,
                ..r.clone()
            };
            self.store.put_resource(&stack.id, &settled)?;
        }
        stack.previous = None;
        self.set_status(&mut stack, "UPDATE_COMPLETE", None)
    }

    /// Sets every resource back to what it was before the update, and the stack to its
    /// previous template, parameters and outputs.
    pub(super) async fn rollback_update(&self, stack_id: &str, reason: &str) -> Result<()> {
        let mut stack = self.load(stack_id)?;
        if stack.status != "UPDATE_ROLLBACK_IN_PROGRESS" {
            self.set_status(&mut stack, "UPDATE_ROLLBACK_IN_PROGRESS", Some(reason))?;
        }
        let previous = stack.previous.clone().unwrap_or_default();
        let live = self.resources(stack_id)?;
        let order = self.deletion_order(
            &stack,
            &stack.template.clone(),
            &stack.parameters.clone(),
            &live,
        );
        for id in order {
            let r = &live[&id];
            if r.created_by_update {
                let _ = self.unmake(&stack, r, false).await;
                continue;
            }
            let Some(before) = r.before.as_deref() else {
                continue;
            };
            let was_replaced = !r.replaced.is_empty() && r.physical_id != before.physical_id;
            let _ = self.resource_event(&stack, before, "UPDATE_IN_PROGRESS", None);
            if let Some(p) = provider(&r.kind) {
                let cx = self.cx(&stack, &id);
                if was_replaced {
                    let _ = p.delete(&cx, &made_of(r), &object(&r.properties)).await;
                } else if r.status == "UPDATE_COMPLETE" {
                    let _ = p
                        .update(
                            &cx,
                            &made_of(r),
                            &object(&r.properties),
                            &object(&before.properties),
                        )
                        .await;
                }
            }
            let restored = Resource {
                status: "UPDATE_COMPLETE".into(),
                status_reason: None,
                before: None,
                replaced: vec![],
                ..before.clone()
            };
            self.store.put_resource(&stack.id, &restored)?;
            let _ = self.resource_event(&stack, &restored, "UPDATE_COMPLETE", None);
        }
        stack.template = previous.template;
        stack.parameters = previous.parameters;
        let _ = self.store.set_exports(
            &stack,
            &previous
                .outputs
                .iter()
                .filter_map(|o| Some((o.export_name.clone()?, o.value.clone())))
                .collect::<Vec<_>>(),
        );
        stack.outputs = previous.outputs;
        self.set_status(
            &mut stack,
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
            None,
        )?;
        self.cleanup_rollback(stack_id).await
    }

    pub(super) async fn cleanup_rollback(&self, stack_id: &str) -> Result<()> {
        let mut stack = self.load(stack_id)?;
        for r in self.store.resources(stack_id)? {
            if r.before.is_some()
                || !r.replaced.is_empty()
                || r.created_by_update
                || r.status == "UPDATE_FAILED"
            {
                let settled = Resource {
                    before: None,
                    replaced: vec![],
                    created_by_update: false,
                    status: "UPDATE_COMPLETE".into(),
                    ..r
                };
                self.store.put_resource(&stack.id, &settled)?;
            }
        }
        stack.previous = None;
        self.set_status(&mut stack, "UPDATE_ROLLBACK_COMPLETE", None)
    }
}
