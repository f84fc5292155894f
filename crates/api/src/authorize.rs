//! The authorization hook: once a request's signature is verified, its operation becomes an
//! IAM action on a resource ARN (`stratus_iam::actions`), and the caller's policies decide.
//! The root key, and every caller under `--iam off`, pass without evaluation: the check is a
//! comparison before anything is parsed. A refusal is AccessDenied in the protocol of the
//! service asked, with AWS's message.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::request::Parts;
use stratus_core::{Error, Kind, ACCOUNT_ID};
use stratus_iam::actions::{self, Target};
use stratus_iam::eval::Source;
use stratus_iam::store::{principal_context, Profile};
use stratus_iam::{Decision, Iam, Identity, Request, Who};

mod request_tags;

use crate::auth::Caller;
use crate::services;
use crate::services::sns::form::Params;
use crate::wire::ApiError;
use crate::AppState;

/// Authorizes a verified request; `Some` is the response refusing it.
pub fn check(state: &AppState, caller: &Caller, parts: &Parts, body: &[u8]) -> Option<Response> {
    if !state.config.iam_enforced || caller.identity.is_root() {
        return None;
    }
    let mut target = target(caller, parts, body)?;
    let iam = &state.stores.iam;
    let profile = match iam.profile(&caller.identity, session_key(caller)) {
        Ok(profile) => profile,
        Err(e) => return Some(ApiError(e).into_response()),
    };
    add_source_ip(&parts.extensions, &mut target.context);
    if caller.service == "dynamodb" && profile.conditions_on("dynamodb:leadingkeys") {
        add_leading_keys(state, caller, body, &mut target);
    }
    request_tags::add_request_tags(parts, body, &mut target.context);
    if caller.service == "lambda" && profile.conditions_on("aws:resourcetag/") {
        add_function_tags(state, &mut target);
    }
    match decide_as(&profile, &caller.identity, &mut target, None) {
        Decision::Allow => None,
        decision => {
            let id = &caller.identity;
            let message = refusal(iam, id, session_key(caller), &target, None, decision);
            Some(denied(caller, parts, message))
        }
    }
}

/// `dynamodb:LeadingKeys`: the partition key values a DynamoDB request names (its `Key` or
/// `Item`, or those of a batch). Looked up only when one of the caller's policies conditions
/// on it, since it needs the table's key schema.
fn add_leading_keys(state: &AppState, caller: &Caller, body: &[u8], target: &mut Target) {
    const KEY: &str = "dynamodb:leadingkeys";
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let mut items: Vec<(&str, &serde_json::Value)> = Vec::new();
    if let Some(table) = body["TableName"].as_str() {
        for k in ["Key", "Item"] {
            if body[k].is_object() {
                items.push((table, &body[k]));
            }
        }
    }
    if let Some(batches) = body["RequestItems"].as_object() {
        for (table, req) in batches {
            let writes = req.as_array().into_iter().flatten();
            for w in writes {
                for k in ["PutRequest", "DeleteRequest"] {
                    for f in ["Item", "Key"] {
                        if w[k][f].is_object() {
                            items.push((table, &w[k][f]));
                        }
                    }
                }
            }
            for key in req["Keys"].as_array().into_iter().flatten() {
                items.push((table, key));
            }
        }
    }
    for (table, item) in items {
        let Some(hash) = partition_key(state, table, &caller.region) else {
            continue;
        };
        let value = &item[&hash];
        let text = ["S", "N", "B"].iter().find_map(|t| value[*t].as_str());
        if let Some(v) = text {
            target.context.add(KEY, v);
        }
    }
}

/// `aws:ResourceTag/<key>`: the tags of the function a Lambda request names, looked up only
/// when one of the caller's policies conditions on a resource tag.
fn add_function_tags(state: &AppState, target: &mut Target) {
    let Some(name) = target
        .resources
        .first()
        .and_then(|arn| arn.split_once(":function:"))
        .map(|(_, rest)| rest.split(':').next().unwrap_or(rest).to_string())
    else {
        return;
    };
    let row = state.stores.meta.tx(|tx| tx.function(&name));
    if let Ok(Some(row)) = row {
        for (k, v) in &row.tags {
            target
                .context
                .add(&format!("aws:ResourceTag/{k}"), v.as_str());
        }
    }
}

/// The partition key attribute of a table, from its description.
fn partition_key(state: &AppState, table: &str, region: &str) -> Option<String> {
    let desc = state
        .stores
        .tables
        .call(
            "DescribeTable",
            &serde_json::json!({"TableName": table}),
            region,
        )
        .ok()?;
    desc["Table"]["KeySchema"]
        .as_array()?
        .iter()
        .find(|k| k["KeyType"] == "HASH")?["AttributeName"]
        .as_str()
        .map(str::to_string)
}

/// What the request asks, for the service it was signed for; `None` when nothing needs
/// authorizing (an operation AWS answers without a permission, or an unknown route that
/// will be answered with its own error).
fn target(caller: &Caller, parts: &Parts, body: &[u8]) -> Option<Target> {
    let region = caller.region.as_str();
    let json = || serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    let op = || {
        parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.split_once('.'))
            .map(|(_, op)| op.to_string())
            .unwrap_or_default()
    };
    let form = || Params::decode(parts.uri.query().unwrap_or(""), body);
    match caller.service.as_str() {
        "lambda" => {
            let mut t = actions::lambda(parts.method.as_str(), parts.uri.path(), region)?;
            if t.action == "lambda:CreateFunction" {
                if let Some(name) = json().get("FunctionName").and_then(|v| v.as_str()) {
                    t.resources = vec![actions::function_arn(region, name)];
                }
            }
            // GetLayerVersionByArn shares ListLayers' path; its action and resource are
            // GetLayerVersion's on the ARN in the query.
            if t.action == "lambda:ListLayers" {
                let query = Params::decode(parts.uri.query().unwrap_or(""), b"");
                if query.get("find") == Some("LayerVersion") {
                    let arn = query.get("Arn").unwrap_or_default();
                    t = Target::new("lambda:GetLayerVersion".to_string(), arn.to_string());
                }
            }
            if t.action == "lambda:GetProvisionedConcurrencyConfig" {
                let query = Params::decode(parts.uri.query().unwrap_or(""), b"");
                if query.get("List").is_some() {
                    t.action = "lambda:ListProvisionedConcurrencyConfigs".to_string();
                }
            }
            Some(t)
        }
        "apigateway" => Some(actions::apigateway(
            parts.method.as_str(),
            parts.uri.path(),
            region,
        )),
        "dynamodb" => Some(actions::dynamodb(&op(), &json(), region)),
        "logs" => Some(actions::logs(&op(), &json(), region)),
        "events" => Some(actions::events(&op(), &json(), region)),
        "codedeploy" => Some(actions::codedeploy(&op(), &json(), region)),
        "scheduler" => {
            // The group is in the body of a write, in the query of a read or delete.
            let query = Params::decode(parts.uri.query().unwrap_or(""), b"");
            let body = json();
            let group = body
                .get("GroupName")
                .and_then(|v| v.as_str())
                .or_else(|| query.get("groupName"));
            Some(actions::scheduler(
                parts.method.as_str(),
                parts.uri.path(),
                group,
                region,
            ))
        }
        "sns" => {
            let p = form();
            Some(actions::sns(
                p.get("Action").unwrap_or(""),
                |k| p.get(k),
                region,
            ))
        }
        "sqs" => {
            // JSON (`X-Amz-Target`) or Query (`Action`): the operation and its queue.
            let path = parts.uri.path();
            match parts.headers.contains_key("x-amz-target") {
                true => {
                    let body = json();
                    Some(actions::sqs(
                        &op(),
                        |k| body.get(k).and_then(|v| v.as_str()),
                        path,
                        region,
                    ))
                }
                false => {
                    let p = form();
                    Some(actions::sqs(
                        p.get("Action").unwrap_or(""),
                        |k| p.get(k),
                        path,
                        region,
                    ))
                }
            }
        }
        "iam" => {
            let p = form();
            Some(actions::iam(p.get("Action").unwrap_or(""), |k| p.get(k)))
        }
        "cloudformation" => {
            let p = form();
            Some(actions::cloudformation(
                p.get("Action").unwrap_or(""),
                |k| p.get(k),
                region,
            ))
        }
        "sts" => {
            let p = form();
            actions::sts(p.get("Action").unwrap_or(""), |k| p.get(k))
        }
        // CloudWatch's actions are `cloudwatch:<Op>`; its resource-level permissions (alarm
        // ARNs) are not modelled, so policies grant them on `*`.
        "monitoring" => {
            let path = parts.uri.path();
            let op = match path.strip_prefix(crate::services::cloudwatch::CBOR_PATH) {
                Some(op) => op.to_string(),
                None if parts.headers.contains_key("x-amz-target") => op(),
                // The Query protocol names the operation in its form.
                None => form().get("Action").unwrap_or("").to_string(),
            };
            Some(Target::new(format!("cloudwatch:{op}"), "*".to_string()))
        }
        _ => None,
    }
}

/// The access key of temporary credentials (whose session policies limit them).
pub fn session_key(caller: &Caller) -> Option<&str> {
    caller.session.then_some(caller.access_key.as_str())
}

/// Evaluates the caller's policies (and the resource's own policy, if it has one) for every
/// resource the request touches, within the caller's permissions boundary and, for
/// temporary credentials (`session_key`), their session policies.
pub fn decide(
    iam: &Iam,
    id: &Identity,
    session_key: Option<&str>,
    target: &mut Target,
    resource_policy: Option<&stratus_iam::Policy>,
) -> Result<Decision, Error> {
    let profile = iam.profile(id, session_key)?;
    Ok(decide_as(&profile, id, target, resource_policy))
}

/// [`decide`] with the caller's profile in hand. The target's context reads the caller's
/// keys from the profile from then on (its refusal message evaluates the same context).
fn decide_as(
    profile: &Profile,
    id: &Identity,
    target: &mut Target,
    resource_policy: Option<&stratus_iam::Policy>,
) -> Decision {
    target.context.set_principal(profile.context.clone());
    let who = who(id);
    for resource in &target.resources {
        let req = Request {
            action: &target.action,
            resource,
            context: &target.context,
        };
        let d = stratus_iam::eval::evaluate_limited(
            &profile.policies,
            &profile.limits,
            resource_policy,
            &who,
            &req,
        );
        if d != Decision::Allow {
            return d;
        }
    }
    Decision::Allow
}

/// A caller as resource policies' `Principal` elements name it.
fn who(id: &Identity) -> Who<'_> {
    Who {
        arn: &id.arn,
        role_arn: id.role_arn(),
        account: ACCOUNT_ID,
        service: None,
    }
}

/// `aws:SourceIp`: the address of the connection the request came on; and
/// `aws:SecureTransport`: `true` when no network the host does not own carried the request —
/// a loopback connection, or an in-process call (CloudFormation's, which on AWS would use
/// TLS) — else `false`, since Stratus serves plain HTTP (decision 0041). Without it SAM's
/// managed bucket, whose policy denies every request that is not secure, would refuse `sam
/// deploy` its own uploads.
pub fn add_source_ip(extensions: &http::Extensions, context: &mut stratus_iam::Context) {
    let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    let secure = peer.is_none_or(|p| is_loopback(p.0.ip()));
    context.add_lower(
        "aws:securetransport",
        if secure { "true" } else { "false" }.into(),
    );
    if let Some(axum::extract::ConnectInfo(addr)) = peer {
        // A v4 peer on a dual-stack socket shows as `::ffff:a.b.c.d`; policies name it as v4.
        let text = match addr.ip() {
            std::net::IpAddr::V4(v4) => ipv4_text(v4),
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6.to_string(), ipv4_text),
        };
        context.add_lower("aws:sourceip", text);
    }
}

/// Whether `ip` is a loopback address, a v4 one on a dual-stack socket included.
fn is_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// Dotted-quad text of an IPv4 address, written by hand: `Display` goes through the
/// formatting machinery (about a thousand instructions), and this runs on every request.
fn ipv4_text(ip: std::net::Ipv4Addr) -> String {
    let mut text = String::with_capacity(15);
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

/// The root user's decision: it has no identity policies and is allowed everything, except
/// what the resource's own policy explicitly denies (how a bucket policy locks even the
/// account's root user out, as on AWS).
pub fn decide_root(target: &Target, resource_policy: Option<&stratus_iam::Policy>) -> Decision {
    let root = Identity::root();
    if resource_denies(&root, target, resource_policy) {
        Decision::ExplicitDeny
    } else {
        Decision::Allow
    }
}

/// Whether the resource's policy alone explicitly denies the request for `id` (on any of
/// its resources): AWS words that refusal as a resource-based policy's.
pub fn resource_denies(
    id: &Identity,
    target: &Target,
    resource_policy: Option<&stratus_iam::Policy>,
) -> bool {
    let Some(policy) = resource_policy else {
        return false;
    };
    let who = who(id);
    // Only the root user is judged by the resource policy alone; it has no tags.
    let mut context = target.context.clone();
    context.set_principal(Arc::new(principal_context(id, &[])));
    target.resources.iter().any(|resource| {
        let req = Request {
            action: &target.action,
            resource,
            context: &context,
        };
        stratus_iam::eval::decide(policy, Some(&who), &req)
            == Some(stratus_iam::policy::Effect::Deny)
    })
}

/// AWS's message for a refused request, naming the kind of policy that refused it. Computed
/// on the refusal path only: it evaluates the request again to find out.
pub fn refusal(
    iam: &Iam,
    id: &Identity,
    session_key: Option<&str>,
    target: &Target,
    resource_policy: Option<&stratus_iam::Policy>,
    decision: Decision,
) -> String {
    let resource = target.resources.first().map_or("*", String::as_str);
    let source =
        refusal_source(iam, id, session_key, target, resource_policy).unwrap_or(Source::Identity);
    stratus_iam::refusal_message(&id.arn, &target.action, resource, decision, source)
}

fn refusal_source(
    iam: &Iam,
    id: &Identity,
    session_key: Option<&str>,
    target: &Target,
    resource_policy: Option<&stratus_iam::Policy>,
) -> Result<Source, Error> {
    // The root user is refused by nothing but a resource policy.
    if id.is_root() {
        return Ok(Source::Resource);
    }
    let profile = iam.profile(id, session_key)?;
    let (policies, limits) = (&profile.policies, &profile.limits);
    let who = who(id);
    let mut context = target.context.clone();
    context.set_principal(profile.context.clone());
    for resource in &target.resources {
        let req = Request {
            action: &target.action,
            resource,
            context: &context,
        };
        let eval =
            stratus_iam::eval::evaluate_limited(policies, limits, resource_policy, &who, &req);
        if eval != Decision::Allow {
            return Ok(stratus_iam::eval::refusal_source(
                policies,
                limits,
                resource_policy,
                &who,
                &req,
            ));
        }
    }
    Ok(Source::Identity)
}

/// AccessDenied in the shape of the service asked. An XML body names the request's own id
/// (the one the request-id layer put in the headers), as AWS's do.
fn denied(caller: &Caller, parts: &Parts, message: String) -> Response {
    let service = caller.service.as_str();
    let code = match service {
        "sns" => "AuthorizationError",
        "iam" | "sts" | "cloudformation" => "AccessDenied",
        _ => "AccessDeniedException",
    };
    let e = Error::new(code, Kind::AccessDenied, message);
    if service == "sqs" {
        return services::sqs::early_error(parts, e);
    }
    if let Some(json) = services::json::by_name(service) {
        return services::json::render(json, e);
    }
    let request_id = parts
        .extensions
        .get::<crate::RequestId>()
        .map_or_else(stratus_core::ids::request_id, |id| id.0)
        .to_string();
    let ns = match service {
        "sns" => services::sns::xml::NS,
        "iam" => services::iam::NS,
        "sts" => services::sts::NS,
        "cloudformation" => services::cloudformation::NS,
        _ => return ApiError(e).into_response(),
    };
    services::sns::xml::error_in(ns, &e, &request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_iam::store::PrincipalKind;

    fn caller(service: &str) -> Caller {
        Caller {
            access_key: "AKIAEXAMPLE".into(),
            region: "us-east-1".into(),
            service: service.into(),
            identity: Arc::new(Identity {
                arn: "arn:aws:iam::000000000000:user/ann".into(),
                user_id: "AIDAEXAMPLE".into(),
                principal: PrincipalKind::User("ann".into()),
            }),
            session: false,
        }
    }

    #[test]
    fn ipv4_text_is_the_dotted_quad() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "1.99.100.9",
        ] {
            assert_eq!(ipv4_text(ip.parse().unwrap()), ip);
        }
    }

    /// The XML AccessDenied of IAM, STS and SNS names the id the request-id layer gave the
    /// request (in its headers and log lines), not a new one.
    #[tokio::test]
    async fn access_denied_bodies_carry_the_requests_id() {
        use http_body_util::BodyExt;
        let id = crate::RequestId(stratus_core::ids::request_id());
        for service in ["iam", "sts", "sns"] {
            let (mut parts, ()) = http::Request::new(()).into_parts();
            parts.extensions.insert(id);
            let resp = denied(&caller(service), &parts, "refused".into());
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&body);
            assert!(
                text.contains(&format!("<RequestId>{id}</RequestId>")),
                "{service}: {text}"
            );
        }
    }
}
