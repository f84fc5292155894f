//! Identity and access for Stratus: IAM policy documents and their evaluation, the
//! AWS-managed policies, and the store of users, roles, access keys, policies and STS
//! sessions. Pure logic except [`store`], which keeps its own SQLite file.
//!
//! # Layout
//! - [`actions`]: each service operation as its IAM action and resource ARN.
//! - [`policy`]: parsing and validating policy documents (`MalformedPolicyDocument`).
//! - [`condition`]: condition operators and keys.
//! - [`glob`]: `*` / `?` wildcards of actions, resources and `*Like` conditions.
//! - [`variables`]: policy variables (`${aws:username}`, `${*}`) in resources and conditions.
//! - [`eval`]: explicit deny over allow over implicit deny, across identity and resource
//!   policies.
//! - [`resource`]: function permissions for service principals (S3, SNS, API Gateway).
//! - [`managed`]: the AWS-managed policies (documents embedded from `managed/`).
//! - [`store`]: users, roles, groups, keys, inline and managed policies, sessions, in
//!   `iam.db`; compiled policies cached per principal.

pub mod actions;
pub mod condition;
pub mod eval;
pub mod glob;
pub mod managed;
pub mod policy;
pub mod resource;
pub mod store;
pub mod variables;

pub use eval::{Decision, Request, Who};
pub use policy::{Kind, Policy};
pub use store::{Iam, Identity};

use std::borrow::Cow;
use std::sync::Arc;

/// The values of a request's condition keys (`aws:SourceArn`, `s3:prefix`...). Keys are
/// case-insensitive; a key may carry several values (`dynamodb:LeadingKeys`).
///
/// The keys that describe the caller (`aws:PrincipalArn`, `aws:PrincipalTag/...`) are the
/// same on every request of a principal: they sit in a shared context built once per
/// principal ([`Context::set_principal`]) and are read through this one, not copied in.
#[derive(Debug, Clone, Default)]
pub struct Context {
    entries: Vec<(Cow<'static, str>, Vec<String>)>,
    principal: Option<Arc<Context>>,
}

impl Context {
    /// Adds a value for `key`.
    pub fn add(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.push(Cow::Owned(key.to_ascii_lowercase()), value.into())
    }

    /// [`Context::add`] for a key already in lower case, as the request path's fixed keys
    /// are: nothing is allocated for the key.
    pub fn add_lower(&mut self, key: &'static str, value: String) -> &mut Self {
        debug_assert_eq!(key, key.to_ascii_lowercase());
        self.push(Cow::Borrowed(key), value)
    }

    fn push(&mut self, key: Cow<'static, str>, value: String) -> &mut Self {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, vs)) => vs.push(value),
            None => self.entries.push((key, vec![value])),
        }
        self
    }

    /// Reads the caller's keys from `principal` after this context's own.
    pub fn set_principal(&mut self, principal: Arc<Context>) {
        self.principal = Some(principal);
    }

    /// The values of a (lower-cased) key, if the request has it.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
            .or_else(|| self.principal.as_deref()?.get(key))
    }
}

/// AWS's AccessDenied message for an identity that no identity policy allows (or one denies).
pub fn denied_message(
    caller_arn: &str,
    action: &str,
    resource: &str,
    decision: Decision,
) -> String {
    refusal_message(
        caller_arn,
        action,
        resource,
        decision,
        eval::Source::Identity,
    )
}

/// AWS's AccessDenied message, naming the kind of policy that refused the request: `with an
/// explicit deny in a permissions boundary`, `because no session policy allows the ...
/// action`.
pub fn refusal_message(
    caller_arn: &str,
    action: &str,
    resource: &str,
    decision: Decision,
    source: eval::Source,
) -> String {
    match decision {
        Decision::ExplicitDeny => format!(
            "User: {caller_arn} is not authorized to perform: {action} on resource: {resource} with an explicit deny in {}",
            source.article()
        ),
        _ => format!(
            "User: {caller_arn} is not authorized to perform: {action} on resource: {resource} because no {} allows the {action} action",
            source.none()
        ),
    }
}

#[cfg(test)]
mod tests;
