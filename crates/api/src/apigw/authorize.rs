//! A route's authorization, decided before its integration is invoked: `NONE` passes, `JWT`
//! checks a bearer token against its authorizer's issuer and audiences and the route's scopes,
//! `CUSTOM` asks a Lambda authorizer (or its cached answer); `AWS_IAM` is
//! [`iam_auth`](super::iam_auth)'s, which needs the request as signed. Refusals are API Gateway's: `401
//! {"message":"Unauthorized"}` (with `www-authenticate` for JWTs), `403
//! {"message":"Forbidden"}`, `500 {"message":"Internal Server Error"}`; the integration is
//! not invoked after any of them. What an authorizer granted reaches the integration in
//! `requestContext.authorizer`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use stratus_core::ACCOUNT_ID;

use super::authorizers::{Authorizer, Source};
use super::data_plane::{gateway_error, invoke_bounded};
use super::events::{self, Context, HttpRequest};
use super::lambda_authorizer::{self as lambda, Answer};
use super::model::{lambda_target, Api, Route};
use super::{jwks, jwt};
use crate::Shared;

/// How long a Lambda authorizer may take (API Gateway: 10 seconds).
const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

/// What an authorizer let through, for the integration's event and the access log.
#[derive(Debug, Clone)]
pub enum Granted {
    Jwt {
        claims: Map<String, Value>,
        scopes: Vec<String>,
    },
    Lambda(Arc<Answer>),
    /// A SigV4-signed request to an `AWS_IAM` route.
    Iam(super::iam_auth::Signer),
}

impl Granted {
    fn claims_text(claims: &Map<String, Value>) -> Value {
        Value::Object(
            claims
                .iter()
                .map(|(k, v)| (k.clone(), json!(jwt::claim_text(v))))
                .collect(),
        )
    }

    fn scopes(scopes: &[String]) -> Value {
        if scopes.is_empty() {
            Value::Null
        } else {
            json!(scopes)
        }
    }

    /// `requestContext.authorizer` of a payload 2.0 event.
    pub fn v2(&self) -> Value {
        match self {
            Granted::Jwt { claims, scopes } => json!({
                "jwt": { "claims": Self::claims_text(claims), "scopes": Self::scopes(scopes) }
            }),
            Granted::Lambda(a) => json!({ "lambda": a.context() }),
            Granted::Iam(signer) => signer.v2(),
        }
    }

    /// `requestContext.authorizer` of a payload 1.0 event.
    pub fn v1(&self) -> Value {
        match self {
            Granted::Jwt { claims, scopes } => json!({
                "claims": Self::claims_text(claims), "scopes": Self::scopes(scopes)
            }),
            Granted::Lambda(a) => {
                let mut m = a.context().clone();
                if let Some(p) = a.principal_id() {
                    m.insert("principalId".into(), json!(p));
                }
                Value::Object(m)
            }
            // Payload 1.0 names the signer in `requestContext.identity`, not here.
            Granted::Iam(_) => Value::Null,
        }
    }

    /// `$context.authorizer.<name>` of the access log: a claim, the principal or a context
    /// value.
    pub fn variable(&self, name: &str) -> Option<String> {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self {
            Granted::Jwt { claims, .. } => {
                let claim = name.strip_prefix("claims.")?;
                claims.get(claim).map(jwt::claim_text)
            }
            Granted::Lambda(a) if name == "principalId" => a.principal_id().map(str::to_string),
            Granted::Lambda(a) => a.context().get(name).map(text),
            Granted::Iam(_) => None,
        }
    }
}

/// A refusal: the response, and `$context.authorizer.error` for the access log.
pub struct Denied {
    /// Boxed: a `Denied` travels in `Result`s, which stay small.
    pub response: Box<Response>,
    pub error: String,
}

fn unauthorized(challenge: Option<String>, error: &str) -> Denied {
    let mut response = Box::new(gateway_error(StatusCode::UNAUTHORIZED, "Unauthorized"));
    if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert("www-authenticate", v);
    }
    Denied {
        response,
        error: error.to_string(),
    }
}

fn forbidden(error: &str) -> Denied {
    Denied {
        response: Box::new(gateway_error(StatusCode::FORBIDDEN, "Forbidden")),
        error: error.to_string(),
    }
}

fn internal(error: &str) -> Denied {
    Denied {
        response: Box::new(gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        )),
        error: error.to_string(),
    }
}

/// The ARN a policy names a request by: `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`.
pub fn route_arn(api: &Api, stage: &str, method: &str, route_path: &str) -> String {
    format!(
        "arn:aws:execute-api:{}:{ACCOUNT_ID}:{}/{stage}/{method}/{}",
        api.region,
        api.api_id,
        route_path.trim_start_matches('/')
    )
}

/// What a request to a route needs before its integration runs.
pub struct Gate<'a> {
    pub api: &'a Api,
    pub route: &'a Route,
    /// The route's authorizer, from the deployment being served.
    pub authorizer: Option<&'a Authorizer>,
    pub route_arn: String,
}

/// Decides a request: `Ok(None)` for routes without authorization.
pub async fn authorize(
    s: &Shared,
    gate: &Gate<'_>,
    http: &HttpRequest,
    ctx: &Context<'_>,
) -> Result<Option<Granted>, Denied> {
    match gate.route.authorization_type.as_str() {
        "NONE" => Ok(None),
        "JWT" | "CUSTOM" => {
            let Some(a) = gate.authorizer else {
                return Err(internal("The route's authorizer does not exist"));
            };
            if a.is_jwt() {
                check_jwt(a, gate.route, http).await.map(Some)
            } else {
                check_lambda(s, gate, a, http, ctx).await.map(Some)
            }
        }
        // AWS_IAM is decided on the signed request, before this (`iam_auth`).
        _ => Err(forbidden(
            "The route's authorization type is not served here",
        )),
    }
}

/// The bearer token from a JWT authorizer's one identity source, without its `Bearer ` prefix.
fn bearer(a: &Authorizer, http: &HttpRequest) -> Option<String> {
    let raw = match Source::parse(a.identity_source.first()?)? {
        Source::Header(name) => http
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())?
            .to_string(),
        Source::Query(name) => events::query_values(&http.raw_query).remove(&name)?.pop()?,
        _ => return None,
    };
    let raw = raw.trim();
    let token = match raw.get(..6) {
        Some(p)
            if p.eq_ignore_ascii_case("bearer")
                && (raw.len() == 6 || raw[6..].starts_with(char::is_whitespace)) =>
        {
            raw[6..].trim_start()
        }
        _ => raw,
    };
    (!token.is_empty()).then(|| token.to_string())
}

fn invalid_token(why: &str) -> Denied {
    unauthorized(
        Some(format!(
            "Bearer scope=\"\" error=\"invalid_token\" error_description=\"{why}\""
        )),
        why,
    )
}

async fn check_jwt(a: &Authorizer, route: &Route, http: &HttpRequest) -> Result<Granted, Denied> {
    let Some(token) = bearer(a, http) else {
        return Err(unauthorized(
            Some("Bearer".into()),
            "The identity source is missing",
        ));
    };
    let t = jwt::decode(&token).map_err(|e| invalid_token(e.0))?;
    if !jwt::supported(&t.alg) {
        return Err(invalid_token(
            "the token's signing algorithm is not supported",
        ));
    }
    let cfg = a.jwt_configuration.as_ref();
    let issuer = cfg.and_then(|c| c.issuer.as_deref()).unwrap_or("");
    let key = match jwks::key(issuer, t.kid.as_deref()).await {
        Ok(Some(k)) => k,
        Ok(None) => return Err(invalid_token("the token's signing key was not found")),
        Err(e) => {
            tracing::warn!(issuer, error = %e.0, "JWT authorizer could not fetch the issuer's keys");
            return Err(invalid_token(
                "the issuer's signing keys could not be fetched",
            ));
        }
    };
    if !jwt::verify(&t, &key) {
        return Err(invalid_token("the token's signature is invalid"));
    }
    let now = stratus_core::clock::epoch_ms(time::OffsetDateTime::now_utc()) as f64 / 1000.0;
    let audiences = cfg.map(|c| c.audience.as_slice()).unwrap_or_default();
    jwt::check_claims(&t.claims, issuer, audiences, now).map_err(|e| invalid_token(e.0))?;
    let scopes = jwt::scopes(&t.claims);
    let wanted = &route.authorization_scopes;
    if !wanted.is_empty() && !wanted.iter().any(|w| scopes.contains(w)) {
        let mut denied = forbidden("the token does not have the route's scopes");
        let challenge = format!(
            "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"expected scopes: [{}]\"",
            wanted.join(" "),
            wanted.join(" ")
        );
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            denied.response.headers_mut().insert("www-authenticate", v);
        }
        return Err(denied);
    }
    Ok(Granted::Jwt {
        claims: t.claims,
        scopes,
    })
}

async fn check_lambda(
    s: &Shared,
    gate: &Gate<'_>,
    a: &Authorizer,
    http: &HttpRequest,
    ctx: &Context<'_>,
) -> Result<Granted, Denied> {
    let Some(identity) = lambda::identity(a, http, ctx) else {
        return Err(unauthorized(None, "The identity source is missing"));
    };
    let key = lambda::cache_key(&gate.api.api_id, a, &identity);
    let answer = match lambda::cached(&key) {
        Some(hit) => hit,
        None => {
            let payload = lambda::payload(a, http, ctx, &identity, &gate.route_arn);
            let answer = Arc::new(invoke(s, gate.api, a, payload).await?);
            lambda::remember(key, a.ttl(), answer.clone());
            answer
        }
    };
    if !answer.allows(&gate.route_arn) {
        return Err(forbidden("The authorizer denied the request"));
    }
    Ok(Granted::Lambda(answer))
}

/// Runs the authorizer function through the invoker, bounded by the authorizer timeout. The
/// function's own resource policy must let API Gateway invoke it for this authorizer, unless
/// the authorizer has credentials of its own (then the role is trusted).
async fn invoke(
    s: &Shared,
    api: &Api,
    a: &Authorizer,
    payload: bytes::Bytes,
) -> Result<Answer, Denied> {
    let uri = a.authorizer_uri.as_deref().unwrap_or("");
    let Some(target) = lambda_target(uri) else {
        return Err(internal("The authorizer URI is invalid"));
    };
    let region = target.region.clone().unwrap_or_else(|| api.region.clone());
    let source = format!(
        "arn:aws:execute-api:{region}:{ACCOUNT_ID}:{}/authorizers/{}",
        api.api_id, a.authorizer_id
    );
    let permitted = a.authorizer_credentials_arn.is_some()
        || crate::lambda::policy::InvokePermissions::of(s).allow(
            &target.name,
            target.qualifier.as_deref(),
            "apigateway.amazonaws.com",
            &source,
            &region,
        );
    if !permitted {
        return Err(internal(
            "API Gateway may not invoke the authorizer function",
        ));
    }
    let started = Instant::now();
    let out = match invoke_bounded(s, region, target, payload, AUTHORIZER_TIMEOUT).await {
        Some(Ok(out)) if !out.ending.is_function_error() => out,
        Some(Ok(_)) => return Err(internal("The authorizer function failed")),
        Some(Err(e)) => {
            tracing::warn!(authorizer = %a.authorizer_id, error = %e, "Lambda authorizer could not run");
            return Err(internal("The authorizer function could not be invoked"));
        }
        None => return Err(internal("The authorizer function timed out")),
    };
    tracing::debug!(authorizer = %a.authorizer_id, ms = started.elapsed().as_millis() as u64, "authorizer answered");
    lambda::parse_answer(a, &out.payload).map_err(|e| {
        tracing::warn!(authorizer = %a.authorizer_id, reason = e.0, "malformed authorizer answer");
        internal("The authorizer's answer is malformed")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(header: Option<&str>, query: &str) -> HttpRequest {
        let mut headers = axum::http::HeaderMap::new();
        if let Some(h) = header {
            headers.insert("authorization", h.parse().unwrap());
        }
        HttpRequest {
            method: "GET".into(),
            raw_path: "/".into(),
            raw_query: query.into(),
            headers,
            body: bytes::Bytes::new(),
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1".into(),
            domain_name: "x".into(),
            domain_prefix: "x".into(),
        }
    }

    fn jwt_authorizer(source: &str) -> Authorizer {
        serde_json::from_value(json!({
            "authorizerId": "a", "name": "n", "authorizerType": "JWT",
            "identitySource": [source],
            "jwtConfiguration": {"issuer": "http://127.0.0.1:9", "audience": ["x"]}
        }))
        .unwrap()
    }

    #[test]
    fn bearer_tokens_with_or_without_prefix() {
        let a = jwt_authorizer("$request.header.Authorization");
        assert_eq!(
            bearer(&a, &http(Some("Bearer abc"), "")).as_deref(),
            Some("abc")
        );
        assert_eq!(
            bearer(&a, &http(Some("bearer  abc"), "")).as_deref(),
            Some("abc")
        );
        assert_eq!(bearer(&a, &http(Some("abc"), "")).as_deref(), Some("abc"));
        assert_eq!(bearer(&a, &http(Some("Bearer "), "")), None);
        assert_eq!(bearer(&a, &http(None, "")), None);
        let q = jwt_authorizer("$request.querystring.token");
        assert_eq!(bearer(&q, &http(None, "token=t1")).as_deref(), Some("t1"));
    }

    #[test]
    fn granted_contexts_for_both_payload_formats() {
        let claims = json!({"sub": "u", "exp": 5, "groups": ["a", "b"]});
        let g = Granted::Jwt {
            claims: claims.as_object().unwrap().clone(),
            scopes: vec!["read".into()],
        };
        assert_eq!(g.v2()["jwt"]["claims"]["exp"], "5");
        assert_eq!(g.v2()["jwt"]["scopes"], json!(["read"]));
        assert_eq!(g.v1()["claims"]["groups"], "[a b]");
        assert_eq!(g.variable("claims.sub").as_deref(), Some("u"));
        let l = Granted::Lambda(Arc::new(Answer::Policy {
            principal_id: Some("p".into()),
            statements: vec![],
            context: json!({"k": 1}).as_object().unwrap().clone(),
        }));
        assert_eq!(l.v2(), json!({"lambda": {"k": 1}}));
        assert_eq!(l.v1(), json!({"k": 1, "principalId": "p"}));
        assert_eq!(l.variable("principalId").as_deref(), Some("p"));
        assert_eq!(l.variable("k").as_deref(), Some("1"));
    }
}
