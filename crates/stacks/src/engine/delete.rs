//! DeleteStack: every resource in reverse dependency order (DeletionPolicy Retain kept), the
//! exports with them; an export another stack imports stops the delete (DELETE_FAILED).

use super::*;
use crate::template::Policy;

impl Engine {
    pub(super) async fn delete(&self, stack_id: &str) -> Result<()> {
        let mut stack = self.load(stack_id)?;
        if stack.status != "DELETE_IN_PROGRESS" {
            self.set_status(&mut stack, "DELETE_IN_PROGRESS", Some("User Initiated"))?;
        }
        let all = self.store.list()?;
        for o in &stack.outputs {
            if let Some(name) = &o.export_name {
                if let Some(user) = crate::store::importer(&all, name, &stack.id) {
                    let reason =
                        format!("Export {name} cannot be deleted as it is in use by {user}");
                    return self.set_status(&mut stack, "DELETE_FAILED", Some(&reason));
                }
            }
        }
        let live = self.resources(stack_id)?;
        let plan = self
            .plan(&stack, &stack.template.clone(), &stack.parameters.clone())
            .ok();
        let order = self.deletion_order(
            &stack,
            &stack.template.clone(),
            &stack.parameters.clone(),
            &live,
        );
        let mut failed = Vec::new();
        for id in order {
            let retain = plan
                .as_ref()
                .and_then(|p| p.template.resources.get(&id))
                .is_some_and(|d| {
                    matches!(
                        d.deletion_policy,
                        Policy::Retain | Policy::RetainExceptOnCreate
                    )
                });
            if self.unmake(&stack, &live[&id], retain).await.is_err() {
                failed.push(id);
            }
        }
        if !failed.is_empty() {
            let reason = format!(
                "The following resource(s) failed to delete: [{}]. ",
                failed.join(", ")
            );
            return self.set_status(&mut stack, "DELETE_FAILED", Some(reason.trim_end()));
        }
        self.store.set_exports(&stack, &[])?;
        self.store.delete_change_sets(&stack.id)?;
        self.set_status(&mut stack, "DELETE_COMPLETE", None)
    }
}
