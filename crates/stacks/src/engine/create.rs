//! CreateStack: every resource in dependency order, then the outputs and exports; on a
//! failure, ROLLBACK_IN_PROGRESS → ROLLBACK_COMPLETE with everything made deleted (or
//! CREATE_FAILED, resources kept, when the caller disabled rollback).

use super::*;

impl Engine {
    pub(super) async fn create(&self, stack_id: &str) -> Result<()> {
        let mut stack = self.load(stack_id)?;
        let plan = match self.plan(&stack, &stack.template.clone(), &stack.parameters.clone()) {
            Ok(p) => p,
            Err(e) => return self.rollback_create(stack_id, &e.message).await,
        };
        let order = crate::graph::order(&plan.template)?;
        let mut live = BTreeMap::new();
        let mut failed = None;
        for id in order
            .iter()
            .filter(|id| plan.wanted(&plan.template.resources[*id].condition))
        {
            if let Err(reason) = self.make(&stack, &plan, &mut live, id, false).await {
                failed = Some(format!(
                    "The following resource(s) failed to create: [{id}]. "
                ));
                tracing::info!(stack = %stack.name, resource = %id, %reason, "stack resource failed");
                break;
            }
        }
        if failed.is_none() {
            let outputs = self
                .outputs(&plan, &live)
                .and_then(|o| self.set_outputs(&mut stack, o));
            if let Err(e) = outputs {
                failed = Some(format!("{} ", e.message));
            }
        }
        match failed {
            None => self.set_status(&mut stack, "CREATE_COMPLETE", None),
            Some(reason) if stack.disable_rollback => {
                self.set_status(&mut stack, "CREATE_FAILED", Some(reason.trim_end()))
            }
            Some(reason) => {
                self.rollback_create(stack_id, &format!("{reason}Rollback requested by user."))
                    .await
            }
        }
    }

    /// Deletes everything a failed (or interrupted) create made, in reverse order.
    pub(super) async fn rollback_create(&self, stack_id: &str, reason: &str) -> Result<()> {
        let mut stack = self.load(stack_id)?;
        if stack.status != "ROLLBACK_IN_PROGRESS" {
            self.set_status(&mut stack, "ROLLBACK_IN_PROGRESS", Some(reason))?;
        }
        let live = self.resources(stack_id)?;
        let order = self.deletion_order(
            &stack,
            &stack.template.clone(),
            &stack.parameters.clone(),
            &live,
        );
        let mut ok = true;
        for id in order {
            ok &= self.unmake(&stack, &live[&id], false).await.is_ok();
        }
        let _ = self.store.set_exports(&stack, &[]);
        stack.outputs.clear();
        if ok {
            self.set_status(&mut stack, "ROLLBACK_COMPLETE", None)
        } else {
            self.set_status(
                &mut stack,
                "ROLLBACK_FAILED",
                Some("The following resource(s) failed to delete during rollback."),
            )
        }
    }
}
