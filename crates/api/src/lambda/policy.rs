//! AddPermission, GetPolicy, RemovePermission: the function's resource-based policy, stored
//! and rendered as AWS does, and evaluated ([`InvokePermissions`]) before a service (S3,
//! SNS, API Gateway) invokes the function for one of its events.

use axum::extract::{Extension, Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_core::arn::function_arn;
use stratus_core::function::new_revision_id;
use stratus_core::{Error, ACCOUNT_ID};

use super::{check_revision, function_not_found, function_ref, load, QueryMap};
use crate::auth::Caller;
use crate::memo::GenerationMemo;
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{RawBody, Shared};
use std::sync::Arc;
use stratus_store::meta::Meta;

const KIND: &str = "policy";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Policy {
    statements: Vec<Value>,
    revision_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PermissionInput {
    statement_id: Option<String>,
    action: Option<String>,
    principal: Option<String>,
    source_arn: Option<String>,
    source_account: Option<String>,
    event_source_token: Option<String>,
    #[serde(rename = "PrincipalOrgID")]
    principal_org_id: Option<String>,
    revision_id: Option<String>,
    function_url_auth_type: Option<String>,
    invoked_via_function_url: Option<bool>,
}

fn principal(p: &str) -> Value {
    if p == "*" {
        json!("*")
    } else if p.ends_with(".amazonaws.com") {
        json!({ "Service": p })
    } else if p.chars().all(|c| c.is_ascii_digit()) {
        json!({ "AWS": format!("arn:aws:iam::{p}:root") })
    } else {
        json!({ "AWS": p })
    }
}

fn statement(input: &PermissionInput, sid: &str, resource: String) -> Value {
    let mut condition = serde_json::Map::new();
    if let Some(a) = &input.source_arn {
        condition.insert("ArnLike".into(), json!({ "AWS:SourceArn": a }));
    }
    let mut equals = serde_json::Map::new();
    if let Some(a) = &input.source_account {
        equals.insert("AWS:SourceAccount".into(), json!(a));
    }
    if let Some(o) = &input.principal_org_id {
        equals.insert("aws:PrincipalOrgID".into(), json!(o));
    }
    if let Some(t) = &input.event_source_token {
        equals.insert("lambda:EventSourceToken".into(), json!(t));
    }
    if let Some(t) = &input.function_url_auth_type {
        equals.insert("lambda:FunctionUrlAuthType".into(), json!(t));
    }
    if !equals.is_empty() {
        condition.insert("StringEquals".into(), Value::Object(equals));
    }
    if input.invoked_via_function_url == Some(true) {
        condition.insert(
            "Bool".into(),
            json!({ "lambda:InvokedViaFunctionUrl": "true" }),
        );
    }
    let mut s = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal(input.principal.as_deref().unwrap_or("*")),
        "Action": input.action.clone().unwrap_or_default(),
        "Resource": resource,
    });
    if !condition.is_empty() {
        s["Condition"] = Value::Object(condition);
    }
    s
}

pub async fn add_permission(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: PermissionInput = parse(&body.0)?;
    if let Some(t) = &input.function_url_auth_type {
        if !crate::function_url::AUTH_TYPES.contains(&t.as_str()) {
            return Err(Error::constraint(
                t,
                "functionUrlAuthType",
                "Member must satisfy enum value set: [NONE, AWS_IAM]",
            )
            .into());
        }
    }
    let r = function_ref(&c, &f, &q)?;
    if r.qualifier.as_deref() == Some("$LATEST") {
        return Err(
            Error::invalid("We currently do not support adding policies for $LATEST.").into(),
        );
    }
    let sid = input
        .statement_id
        .clone()
        .ok_or_else(|| Error::invalid("StatementId is required"))?;
    // Both required by the model: a statement without them would be stored as `""` and a
    // public `*`.
    for (member, given) in [
        ("action", input.action.is_some()),
        ("principal", input.principal.is_some()),
    ] {
        if !given {
            return Err(Error::validation(format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy \
                 constraint: Member must not be null"
            ))
            .into());
        }
    }
    let sid_ok = !sid.is_empty()
        && sid.len() <= 100
        && sid
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    if !sid_ok {
        return Err(Error::constraint(
            &sid,
            "statementId",
            "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
        )
        .into());
    }
    let key = r.qualifier.clone().unwrap_or_default();
    let stmt = s.stores.meta.tx(|tx| {
        tx.function(&r.name)?.ok_or_else(|| function_not_found(&c.region, &r.name, None))?;
        load(tx, &c.region, &r.name, r.qualifier.as_deref())?;
        let mut policy: Policy = tx.document(&r.name, KIND, &key)?.unwrap_or_default();
        if !policy.revision_id.is_empty() {
            check_revision(input.revision_id.as_deref(), &policy.revision_id, "GetPolicy")?;
        }
        if policy.statements.iter().any(|st| st["Sid"] == sid.as_str()) {
            return Err(Error::conflict(format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            )));
        }
        let stmt = statement(&input, &sid, function_arn(&c.region, &r.name, r.qualifier.as_deref()));
        policy.statements.push(stmt.clone());
        policy.revision_id = new_revision_id();
        tx.put_document(&r.name, KIND, &key, &policy)?;
        Ok(stmt)
    })?;
    Ok(json(201, json!({ "Statement": stmt.to_string() })))
}

/// What decides whether a service (S3, SNS, API Gateway) may invoke a function: the
/// function's permissions, when IAM is enforced.
#[derive(Clone)]
pub struct InvokePermissions {
    pub meta: Arc<Meta>,
    pub enforced: bool,
    pub memo: Arc<PolicyMemo>,
}

/// Beyond this many decisions the memo starts over rather than tracking use.
const MAX_MEMO: usize = 4096;

/// The decisions of the functions' policies, kept in memory (see [`crate::memo`]) so a
/// service's invocation (an HTTP API request, say) opens no transaction, decodes no stored
/// JSON and parses no policy: that was a fifth of an HTTP API request's instructions.
/// AddPermission, RemovePermission or a deleted function, here or on another node, is a
/// metadata write, and so makes every decision stale.
pub struct PolicyMemo {
    memo: GenerationMemo<bool>,
}

impl Default for PolicyMemo {
    fn default() -> Self {
        PolicyMemo {
            memo: GenerationMemo::new(MAX_MEMO),
        }
    }
}

impl PolicyMemo {
    /// `decide()`'s answer for `key`, remembered for `generation`; `None` (the store could not
    /// be read) denies and is not remembered.
    fn decision(
        &self,
        generation: u64,
        key: String,
        decide: impl FnOnce() -> Option<bool>,
    ) -> bool {
        if let Some(allowed) = self.memo.get(&key, generation) {
            return allowed;
        }
        let Some(allowed) = decide() else {
            return false;
        };
        self.memo.put(key, generation, allowed);
        allowed
    }
}

impl InvokePermissions {
    /// The permissions of the application `s` serves.
    pub fn of(s: &crate::AppState) -> InvokePermissions {
        InvokePermissions {
            meta: s.stores.meta.clone(),
            enforced: s.config.iam_enforced,
            memo: s.policies.clone(),
        }
    }

    /// Whether `service` may invoke a function for `source_arn`. As on AWS, a service
    /// principal needs a statement allowing it: a function without any permission is
    /// invoked by no service. Under `--iam off` every service may invoke every function.
    pub fn allow(
        &self,
        name: &str,
        qualifier: Option<&str>,
        service: &str,
        source_arn: &str,
        region: &str,
    ) -> bool {
        if !self.enforced {
            return true;
        }
        // `$LATEST` has no policy of its own: the unqualified function's policy covers it.
        let qualifier = qualifier.filter(|q| *q != "$LATEST");
        let arn = function_arn(region, name, qualifier);
        // Read before the transaction: a write racing with it only makes the answer look
        // older.
        let generation = self.meta.generation();
        let decide = || {
            let key = qualifier.unwrap_or_default();
            let policy: Policy = self
                .meta
                .tx(|tx| tx.document(name, KIND, key))
                .ok()?
                .unwrap_or_default();
            Some(stratus_iam::resource::service_may_invoke(
                &policy.statements,
                service,
                source_arn,
                &arn,
            ))
        };
        let key = format!("{arn}\n{service}\n{source_arn}");
        let allowed = self.memo.decision(generation, key, decide);
        if !allowed {
            tracing::warn!(
                function = name,
                service,
                source_arn,
                "the function's policy does not allow this invocation"
            );
        }
        allowed
    }
}

/// The statements of the policy of `name` with `qualifier` (`None`: the unqualified
/// function's); none when it has no policy or the store cannot be read.
pub fn statements(meta: &Meta, name: &str, qualifier: Option<&str>) -> Vec<Value> {
    let key = qualifier.unwrap_or_default();
    meta.tx(|tx| tx.document::<Policy>(name, KIND, key))
        .ok()
        .flatten()
        .map(|p| p.statements)
        .unwrap_or_default()
}

/// The bucket ARN of an S3 event record (`Records[0].s3.bucket.arn`): the source of the
/// invocation S3 asks for.
pub fn event_bucket_arn(payload: &[u8]) -> String {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| {
            v["Records"][0]["s3"]["bucket"]["arn"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// GetPolicy on a function without a policy: AWS words it as any missing resource, and
/// Terraform's provider drops an `aws_lambda_permission` from its state on this error.
fn no_policy() -> Error {
    Error::not_found("The resource you requested does not exist.")
}

/// RemovePermission on a function without a policy keeps AWS's older wording.
fn no_policy_to_remove() -> Error {
    Error::not_found("No policy is associated with the given resource.")
}

pub async fn get_policy(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let key = r.qualifier.clone().unwrap_or_default();
    let policy: Policy = s.stores.meta.tx(|tx| {
        tx.function(&r.name)?
            .ok_or_else(|| function_not_found(&c.region, &r.name, None))?;
        tx.document(&r.name, KIND, &key)?
            .filter(|p: &Policy| !p.statements.is_empty())
            .ok_or_else(no_policy)
    })?;
    let doc = json!({ "Version": "2012-10-17", "Id": "default", "Statement": policy.statements });
    Ok(json(
        200,
        json!({ "Policy": doc.to_string(), "RevisionId": policy.revision_id }),
    ))
}

pub async fn remove_permission(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path((f, sid)): Path<(String, String)>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let key = r.qualifier.clone().unwrap_or_default();
    s.stores.meta.tx(|tx| {
        tx.function(&r.name)?
            .ok_or_else(|| function_not_found(&c.region, &r.name, None))?;
        let mut policy: Policy = tx
            .document(&r.name, KIND, &key)?
            .ok_or_else(no_policy_to_remove)?;
        check_revision(
            q.get("RevisionId").map(String::as_str),
            &policy.revision_id,
            "GetPolicy",
        )?;
        let before = policy.statements.len();
        policy.statements.retain(|st| st["Sid"] != sid.as_str());
        if policy.statements.len() == before {
            return Err(Error::not_found("Statement not found."));
        }
        policy.revision_id = new_revision_id();
        tx.put_document(&r.name, KIND, &key, &policy)
    })?;
    let _ = ACCOUNT_ID;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_kept_for_their_generation_only() {
        let memo = PolicyMemo::default();
        let key = || "arn\napigateway.amazonaws.com\nsource".to_string();
        assert!(memo.decision(1, key(), || Some(true)));
        // Same generation: remembered, `decide` is not asked.
        assert!(memo.decision(1, key(), || unreachable!()));
        // A write since: decided again.
        assert!(!memo.decision(2, key(), || Some(false)));
        // A store that cannot be read denies and leaves nothing behind.
        assert!(!memo.decision(3, key(), || None));
        assert!(memo.decision(3, key(), || Some(true)));
    }
}
