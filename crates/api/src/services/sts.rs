//! STS through the Query protocol (`Version=2011-06-15`): GetCallerIdentity, AssumeRole
//! (the role's trust policy decides) and GetSessionToken. Temporary credentials are kept in
//! the IAM store; SigV4 verification accepts them with their session token until they
//! expire.

use axum::body::Bytes;
use axum::response::Response;
use http::request::Parts;
use stratus_core::{Error, ACCOUNT_ID};
use stratus_iam::store::{Credentials, Identity, PrincipalKind};
use stratus_iam::{Context, Decision, Kind, Policy, Request, Who};

use crate::auth::Caller;
use crate::services::iam::{constraint, required, unknown_action};
use crate::services::sns::form::Params;
use crate::services::sns::xml::{self, Xml};
use crate::Shared;

mod session_tags;

pub const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// AssumeRole's shortest session, and its default (seconds).
const MIN_DURATION: i64 = 900;
const DEFAULT_DURATION: i64 = 3600;
/// GetSessionToken's longest session for users (36 hours), and for the root user (1 hour).
const MAX_USER_SESSION: i64 = 129_600;
const MAX_ROOT_SESSION: i64 = 3600;

pub async fn handle(state: &Shared, caller: &Caller, parts: &Parts, body: Bytes) -> Response {
    let p = Params::decode(parts.uri.query().unwrap_or(""), &body);
    let action = p.get("Action").unwrap_or("");
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = match action {
        "GetCallerIdentity" => Ok(get_caller_identity(caller, action, &request_id)),
        "AssumeRole" => assume_role(state, caller, &p, &request_id),
        "GetSessionToken" => get_session_token(state, caller, &p, &request_id),
        other => Err(unknown_action(other)),
    };
    result.unwrap_or_else(|e| xml::error_in(NS, &e, &request_id))
}

fn get_caller_identity(caller: &Caller, action: &str, request_id: &str) -> Response {
    let id = &caller.identity;
    xml::ok_in(NS, action, request_id, |x| {
        x.leaf("UserId", &id.user_id)
            .leaf("Account", ACCOUNT_ID)
            .leaf("Arn", &id.arn);
    })
}

fn denied(caller: &Caller, resource: &str) -> Error {
    denied_action(caller, "sts:AssumeRole", resource)
}

fn denied_action(caller: &Caller, action: &str, resource: &str) -> Error {
    Error::new(
        "AccessDenied",
        stratus_core::Kind::AccessDenied,
        format!(
            "User: {} is not authorized to perform: {action} on resource: {resource}",
            caller.identity.arn
        ),
    )
}

/// A duration parameter within `[MIN_DURATION, max]`; `max_error` words the upper bound.
fn duration(p: &Params, max: i64, max_error: impl FnOnce(&str) -> Error) -> Result<i64, Error> {
    let Some(v) = p.get("DurationSeconds") else {
        return Ok(DEFAULT_DURATION.min(max));
    };
    let n: i64 = v
        .parse()
        .map_err(|_| constraint(v, "durationSeconds", "Member must be a number"))?;
    if n < MIN_DURATION {
        return Err(constraint(
            v,
            "durationSeconds",
            &format!("Member must have value greater than or equal to {MIN_DURATION}"),
        ));
    }
    if n > max {
        return Err(max_error(v));
    }
    Ok(n)
}

fn session_name(p: &Params) -> Result<&str, Error> {
    let v = required(p, "RoleSessionName")?;
    if v.len() < 2 || v.len() > 64 {
        return Err(constraint(
            v,
            "roleSessionName",
            "Member must have length greater than or equal to 2",
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(constraint(
            v,
            "roleSessionName",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        ));
    }
    Ok(v)
}

/// Whether a role's trust policy lets `who` call `sts:AssumeRole` on it.
pub fn trusts(trust: &str, role_arn: &str, who: &Who<'_>) -> bool {
    trust_allows(trust, role_arn, who, "sts:AssumeRole", Context::default())
}

/// Whether a role's trust policy allows `action` (`sts:AssumeRole`, `sts:TagSession`) to
/// `who`, with the request's condition keys in `ctx` (the tags it passes, the caller's).
fn trust_allows(
    trust: &str,
    role_arn: &str,
    who: &Who<'_>,
    action: &str,
    mut ctx: Context,
) -> bool {
    let Ok(policy) = Policy::parse(trust, Kind::Trust) else {
        return false;
    };
    if who.service.is_none() {
        ctx.add("aws:PrincipalArn", who.role_arn.unwrap_or(who.arn));
        ctx.add("aws:PrincipalAccount", who.account);
    }
    let req = Request {
        action,
        resource: role_arn,
        context: &ctx,
    };
    stratus_iam::eval::evaluate(&[], Some(&policy), who, &req) == Decision::Allow
}

fn assume_role(
    state: &Shared,
    caller: &Caller,
    p: &Params,
    request_id: &str,
) -> Result<Response, Error> {
    let role_arn = required(p, "RoleArn")?;
    if role_arn.len() < 20 {
        return Err(constraint(
            role_arn,
            "roleArn",
            "Member must have length greater than or equal to 20",
        ));
    }
    let session = session_name(p)?;
    // The tags are checked as parameters, before the role is looked up.
    let requested = session_tags::requested(p)?;
    let Some(role) = state.stores.iam.role_by_arn(role_arn)? else {
        return Err(denied(caller, role_arn));
    };
    let id = &caller.identity;
    let who = Who {
        arn: &id.arn,
        role_arn: id.role_arn(),
        account: ACCOUNT_ID,
        service: None,
    };
    let inherited = session_tags::inherited(state, caller)?;
    let tags = session_tags::combine(&requested, &inherited)?;
    let ctx = session_tags::context(state, caller, &role.tags, &tags)?;
    if !trust_allows(&role.trust, role_arn, &who, "sts:AssumeRole", ctx.clone()) {
        return Err(denied(caller, role_arn));
    }
    // Passing tags (or carrying transitive ones) needs `sts:TagSession` too, as on AWS.
    if !tags.is_empty() && !trust_allows(&role.trust, role_arn, &who, "sts:TagSession", ctx) {
        return Err(denied_action(caller, "sts:TagSession", role_arn));
    }
    let seconds = duration(p, role.max_session, |_| {
        Error::new(
            "ValidationError",
            stratus_core::Kind::InvalidInput,
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        )
    })?;
    let (session_policy, session_arns) = session_policies(p)?;
    let session_id = Identity {
        arn: format!(
            "arn:aws:sts::{ACCOUNT_ID}:assumed-role/{}/{session}",
            role.name
        ),
        user_id: format!("{}:{session}", role.id),
        principal: PrincipalKind::Role(role.name.clone(), role.arn()),
    };
    let creds = state.stores.iam.create_session(&session_id, seconds)?;
    if session_policy.is_some() || !session_arns.is_empty() {
        state
            .stores
            .iam
            .set_session_policies(&creds.access_key, session_policy, &session_arns)?;
    }
    if !tags.is_empty() {
        state
            .stores
            .iam
            .set_session_tags(&creds.access_key, &tags)?;
    }
    Ok(xml::ok_in(NS, "AssumeRole", request_id, |x| {
        write_credentials(x, &creds);
        x.open("AssumedRoleUser")
            .leaf("AssumedRoleId", &session_id.user_id)
            .leaf("Arn", &session_id.arn)
            .close("AssumedRoleUser");
    }))
}

/// AWS's bounds on session policies: an inline document of at most 2048 characters and at
/// most ten managed policy ARNs.
const MAX_SESSION_POLICY: usize = 2048;
const MAX_SESSION_POLICY_ARNS: usize = 10;

/// AssumeRole's session policies (`Policy`, `PolicyArns.member.N.arn`), validated before
/// anything is issued: they can only narrow what the role's own policies allow.
fn session_policies(p: &Params) -> Result<(Option<&str>, Vec<String>), Error> {
    let policy = p.get("Policy");
    if let Some(doc) = policy {
        if doc.chars().count() > MAX_SESSION_POLICY {
            return Err(constraint(
                doc,
                "policy",
                &format!("Member must have length less than or equal to {MAX_SESSION_POLICY}"),
            ));
        }
        stratus_iam::Policy::parse(doc, stratus_iam::Kind::Identity)?;
    }
    let arns: Vec<String> = p
        .indexed("PolicyArns", "member")
        .into_iter()
        .filter_map(|m| m.get("arn").map(str::to_string))
        .collect();
    if arns.len() > MAX_SESSION_POLICY_ARNS {
        return Err(constraint(
            &format!("{arns:?}"),
            "policyArns",
            &format!("Member must have length less than or equal to {MAX_SESSION_POLICY_ARNS}"),
        ));
    }
    if let Some(bad) = arns
        .iter()
        .find(|a| !a.starts_with("arn:aws:iam::") || !a.contains(":policy/"))
    {
        return Err(Error::new(
            "ValidationError",
            stratus_core::Kind::InvalidInput,
            format!("{bad} is invalid"),
        ));
    }
    Ok((policy, arns))
}

fn get_session_token(
    state: &Shared,
    caller: &Caller,
    p: &Params,
    request_id: &str,
) -> Result<Response, Error> {
    let id = &caller.identity;
    if caller.session {
        return Err(Error::new(
            "AccessDenied",
            stratus_core::Kind::AccessDenied,
            "Cannot call GetSessionToken with session credentials",
        ));
    }
    let max = if id.is_root() {
        MAX_ROOT_SESSION
    } else {
        MAX_USER_SESSION
    };
    let seconds = match p.get("DurationSeconds") {
        None => 43_200.min(max),
        Some(_) => duration(p, max, |v| {
            constraint(
                v,
                "durationSeconds",
                &format!("Member must have value less than or equal to {max}"),
            )
        })?,
    };
    let creds = state.stores.iam.create_session(id, seconds)?;
    Ok(xml::ok_in(NS, "GetSessionToken", request_id, |x| {
        write_credentials(x, &creds)
    }))
}

fn write_credentials(x: &mut Xml, c: &Credentials) {
    x.open("Credentials")
        .leaf("AccessKeyId", &c.access_key)
        .leaf("SecretAccessKey", &c.secret)
        .leaf("SessionToken", &c.token)
        .leaf("Expiration", &iso(c.expires))
        .close("Credentials");
}

/// Seconds since the epoch as ISO 8601 (`2026-12-05T13:00:00Z`).
pub fn iso(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
