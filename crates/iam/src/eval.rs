//! Policy evaluation, as AWS documents it for requests within one account: an explicit
//! `Deny` in any applicable policy wins; otherwise an `Allow` in an identity-based policy or
//! in the resource's policy allows; otherwise the request is implicitly denied.

use std::sync::Arc;

use crate::glob;
use crate::policy::{Effect, Policy, Principals, Statement};
use crate::variables;
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

/// What limits a principal's identity policies (AWS's policy evaluation logic): a
/// permissions boundary, and the session policies of temporary credentials. Each only takes
/// permissions away: an identity policy's Allow counts only if the boundary (when set) and
/// one of the session policies (when given) allow the request too.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub boundary: Option<Arc<Policy>>,
    pub session: Option<Arc<[Arc<Policy>]>>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.boundary.is_none() && self.session.is_none()
    }
}

/// Evaluates a caller's identity policies and, if the resource has one, its resource policy.
pub fn evaluate(
    identity: &[Arc<Policy>],
    resource_policy: Option<&Policy>,
    who: &Who<'_>,
    req: &Request<'_>,
) -> Decision {
    evaluate_limited(identity, &Limits::default(), resource_policy, who, req)
}

/// [`evaluate`] within a boundary and session policies. An explicit Deny in any of them
/// wins. Otherwise the request is allowed when the identity policies allow it within the
/// limits, or when the resource policy allows it: within one account a resource policy that
/// names the caller grants on its own, except to a role session with limits, which they
/// still bound (AWS documents the same for a role's sessions).
pub fn evaluate_limited(
    identity: &[Arc<Policy>],
    limits: &Limits,
    resource_policy: Option<&Policy>,
    who: &Who<'_>,
    req: &Request<'_>,
) -> Decision {
    let mut identity_allows = false;
    for p in identity {
        match decide(p, None, req) {
            Some(Effect::Deny) => return Decision::ExplicitDeny,
            Some(Effect::Allow) => identity_allows = true,
            None => {}
        }
    }
    let resource = resource_policy.and_then(|p| decide(p, Some(who), req));
    if resource == Some(Effect::Deny) {
        return Decision::ExplicitDeny;
    }
    let within = match within_limits(limits, req) {
        Some(Effect::Deny) => return Decision::ExplicitDeny,
        Some(Effect::Allow) => true,
        None => false,
    };
    let resource_allows = resource == Some(Effect::Allow) && (within || who.role_arn.is_none());
    if (identity_allows && within) || resource_allows {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Which kind of policy a refusal is owed to, as AWS's AccessDenied messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Identity,
    Resource,
    Boundary,
    Session,
}

impl Source {
    /// `with an explicit deny in {this}`.
    pub fn article(self) -> &'static str {
        match self {
            Source::Identity => "an identity-based policy",
            Source::Resource => "a resource-based policy",
            Source::Boundary => "a permissions boundary",
            Source::Session => "a session policy",
        }
    }

    /// `because no {this} allows the ... action`.
    pub fn none(self) -> &'static str {
        match self {
            Source::Identity | Source::Resource => "identity-based policy",
            Source::Boundary => "permissions boundary",
            Source::Session => "session policy",
        }
    }
}

/// Why [`evaluate_limited`] refused a request: the policy that denied it, or the one whose
/// missing Allow refused it. Only called on the refusal path, so it re-evaluates freely.
pub fn refusal_source(
    identity: &[Arc<Policy>],
    limits: &Limits,
    resource_policy: Option<&Policy>,
    who: &Who<'_>,
    req: &Request<'_>,
) -> Source {
    let says = |p: &Policy, who: Option<&Who<'_>>| decide(p, who, req);
    let identity_says: Vec<Option<Effect>> = identity.iter().map(|p| says(p, None)).collect();
    let boundary = limits.boundary.as_ref().map(|b| says(b, None));
    let session: Option<Vec<Option<Effect>>> = limits
        .session
        .as_ref()
        .map(|ps| ps.iter().map(|p| says(p, None)).collect());
    let denies = |v: &Option<Effect>| *v == Some(Effect::Deny);
    if identity_says.iter().any(denies) {
        return Source::Identity;
    }
    if resource_policy.is_some_and(|p| says(p, Some(who)) == Some(Effect::Deny)) {
        return Source::Resource;
    }
    if boundary.as_ref().is_some_and(denies) {
        return Source::Boundary;
    }
    if session.as_ref().is_some_and(|s| s.iter().any(denies)) {
        return Source::Session;
    }
    let allowed_by_identity = identity_says.contains(&Some(Effect::Allow));
    if allowed_by_identity && boundary.is_some_and(|b| b != Some(Effect::Allow)) {
        return Source::Boundary;
    }
    if allowed_by_identity && session.is_some_and(|s| !s.contains(&Some(Effect::Allow))) {
        return Source::Session;
    }
    Source::Identity
}

/// `Allow` if the request is within the limits (there are none, or each one allows it),
/// `Deny` if one denies it explicitly, nothing otherwise.
fn within_limits(limits: &Limits, req: &Request<'_>) -> Option<Effect> {
    if limits.is_empty() {
        return Some(Effect::Allow);
    }
    let mut within = true;
    if let Some(b) = &limits.boundary {
        match decide(b, None, req) {
            Some(Effect::Deny) => return Some(Effect::Deny),
            Some(Effect::Allow) => {}
            None => within = false,
        }
    }
    if let Some(session) = &limits.session {
        let mut any = false;
        for p in session.iter() {
            match decide(p, None, req) {
                Some(Effect::Deny) => return Some(Effect::Deny),
                Some(Effect::Allow) => any = true,
                None => {}
            }
        }
        within &= any;
    }
    within.then_some(Effect::Allow)
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
        let hit = r.values.iter().any(|p| resource_matches(p, req));
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

/// A Resource pattern against the request's resource, its policy variables replaced by the
/// request's values first (a variable without a value matches nothing).
fn resource_matches(pattern: &str, req: &Request<'_>) -> bool {
    if !variables::has_variables(pattern) {
        return glob::matches(pattern, req.resource);
    }
    variables::expand(pattern, req.context, true).is_some_and(|p| glob::matches(&p, req.resource))
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
