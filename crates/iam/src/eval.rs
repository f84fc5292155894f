//! Policy evaluation, as AWS documents it for requests within one account: an explicit
//! `Deny` in any applicable policy wins; otherwise an `Allow` in an identity-based policy or
//! in the resource's policy allows; otherwise the request is implicitly denied.

use crate::glob;
use crate::policy::{Effect, Policy, Principals, Statement};
use crate::Context;

/// The outcome of evaluating a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A statement denied it.
    ExplicitDeny,
    /// Nothing allowed it.
    ImplicitDeny,
}

/// Who is asking, as a resource or trust policy's `Principal` names callers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Who<'a> {
    /// The caller's ARN (a user, a role session `arn:aws:sts::...:assumed-role/R/s`, root).
    pub arn: &'a str,
    /// For a role session, the role's ARN (`Principal: {"AWS": role-arn}` names its sessions).
    pub role_arn: Option<&'a str>,
    pub account: &'a str,
    /// A service principal (`s3.amazonaws.com`) when a service acts, not an identity.
    pub service: Option<&'a str>,
}

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
}

/// Evaluates a caller's identity policies and, if the resource has one, its resource policy.
pub fn evaluate(
    identity: &[std::sync::Arc<Policy>],
    resource_policy: Option<&Policy>,
    who: &Who<'_>,
    req: &Request<'_>,
) -> Decision {
    let mut allowed = false;
    for p in identity {
        match decide(p, None, req) {
            Some(Effect::Deny) => return Decision::ExplicitDeny,
            Some(Effect::Allow) => allowed = true,
            None => {}
        }
    }
    if let Some(p) = resource_policy {
        match decide(p, Some(who), req) {
            Some(Effect::Deny) => return Decision::ExplicitDeny,
            Some(Effect::Allow) => allowed = true,
            None => {}
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// What one policy says about a request: `Deny` if any applicable statement denies, else
/// `Allow` if one allows, else nothing. `who` is checked against statements' principals
/// (resource and trust policies).
pub fn decide(policy: &Policy, who: Option<&Who<'_>>, req: &Request<'_>) -> Option<Effect> {
    let mut out = None;
    for s in &policy.statements {
        if !applies(s, who, req) {
            continue;
        }
        match s.effect {
            Effect::Deny => return Some(Effect::Deny),
            Effect::Allow => out = Some(Effect::Allow),
        }
    }
    out
}

fn applies(s: &Statement, who: Option<&Who<'_>>, req: &Request<'_>) -> bool {
    let action = s
        .actions
        .values
        .iter()
        .any(|p| glob::matches_ignore_case(p, req.action));
    if action == s.actions.negated {
        return false;
    }
    if let Some(r) = &s.resources {
        let hit = r.values.iter().any(|p| glob::matches(p, req.resource));
        if hit == r.negated {
            return false;
        }
    }
    if let (Some(p), Some(who)) = (&s.principals, who) {
        if principal_named(p, who) == p.negated {
            return false;
        }
    }
    s.conditions.iter().all(|c| c.holds(req.context))
}

/// Whether a statement's principals name the caller: `*`, its ARN, its role (for a session),
/// its account (as an id or `arn:aws:iam::id:root`), or its service.
fn principal_named(p: &Principals, who: &Who<'_>) -> bool {
    if p.any {
        return true;
    }
    p.entries.iter().any(|(kind, v)| match kind.as_str() {
        "Service" => who.service == Some(v.as_str()),
        "AWS" if who.service.is_none() => {
            v == "*"
                || v == who.arn
                || Some(v.as_str()) == who.role_arn
                || v == who.account
                || v.strip_prefix("arn:aws:iam::")
                    .and_then(|r| r.strip_suffix(":root"))
                    == Some(who.account)
        }
        _ => false,
    })
}
