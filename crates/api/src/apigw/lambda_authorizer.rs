//! Lambda `REQUEST` authorizers: the identity sources read from the request, the event the
//! authorizer function gets (payload format 1.0 or 2.0, as AWS documents them), its answer (a
//! simple `{"isAuthorized": ..}` or an IAM policy allowing or denying `execute-api:Invoke` on
//! route ARNs, with wildcards) and the answers kept for `authorizerResultTtlInSeconds`, keyed
//! by the identity source values.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::authorizers::{Authorizer, Source};
use super::events::{self, Context, HttpRequest};

/// What an authorizer function answered, as kept in the cache.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Simple {
        authorized: bool,
        context: Map<String, Value>,
    },
    Policy {
        principal_id: Option<String>,
        statements: Vec<Statement>,
        context: Map<String, Value>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

impl Answer {
    /// Whether the answer lets the request to `route_arn` through.
    pub fn allows(&self, route_arn: &str) -> bool {
        match self {
            Answer::Simple { authorized, .. } => *authorized,
            Answer::Policy { statements, .. } => allows(statements, route_arn),
        }
    }

    pub fn context(&self) -> &Map<String, Value> {
        match self {
            Answer::Simple { context, .. } | Answer::Policy { context, .. } => context,
        }
    }

    pub fn principal_id(&self) -> Option<&str> {
        match self {
            Answer::Policy { principal_id, .. } => principal_id.as_deref(),
            Answer::Simple { .. } => None,
        }
    }
}

/// The identity source values in order, or `None` if one is missing or empty (the request is
/// then refused without invoking the authorizer).
pub fn identity(a: &Authorizer, http: &HttpRequest, ctx: &Context) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(a.identity_source.len());
    for s in &a.identity_source {
        let v = match Source::parse(s)? {
            Source::Header(name) => {
                let values: Vec<String> = http
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                values.join(",")
            }
            Source::Query(name) => events::query_values(&http.raw_query)
                .remove(&name)
                .map(|v| v.join(","))
                .unwrap_or_default(),
            Source::StageVariable(name) => {
                ctx.stage_variables.get(&name).cloned().unwrap_or_default()
            }
            Source::Context(var) => context_variable(&var, http, ctx).unwrap_or_default(),
        };
        if v.is_empty() {
            return None;
        }
        out.push(v);
    }
    Some(out)
}

/// The `$context` variables an identity source may name.
fn context_variable(var: &str, http: &HttpRequest, ctx: &Context) -> Option<String> {
    Some(match var {
        "apiId" => ctx.api_id.to_string(),
        "stage" => ctx.stage.to_string(),
        "routeKey" => ctx.route_key.to_string(),
        "requestId" => ctx.request_id.to_string(),
        "httpMethod" => http.method.clone(),
        "path" => http.raw_path.clone(),
        "protocol" => http.protocol.clone(),
        "domainName" => http.domain_name.clone(),
        "identity.sourceIp" => http.source_ip.clone(),
        "identity.userAgent" => http
            .headers
            .get("user-agent")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())?,
        _ => return None,
    })
}

/// The event an authorizer function receives.
pub fn payload(
    a: &Authorizer,
    http: &HttpRequest,
    ctx: &Context,
    identity: &[String],
    route_arn: &str,
) -> Bytes {
    let v1 = a.authorizer_payload_format_version.as_deref() == Some("1.0");
    let mut e = if v1 {
        events::v1(http, ctx)
    } else {
        events::v2(http, ctx)
    };
    if let Some(m) = e.as_object_mut() {
        m.remove("body");
        m.remove("isBase64Encoded");
        m.insert("type".into(), json!("REQUEST"));
        if v1 {
            let joined = identity.join(",");
            m.insert("methodArn".into(), json!(route_arn));
            m.insert("identitySource".into(), json!(joined));
            m.insert("authorizationToken".into(), json!(joined));
        } else {
            m.insert("routeArn".into(), json!(route_arn));
            m.insert("identitySource".into(), json!(identity));
        }
    }
    Bytes::from(e.to_string())
}

/// Why an authorizer's answer could not be used (the client gets 500).
#[derive(Debug, PartialEq)]
pub struct Malformed(pub &'static str);

/// Reads an authorizer function's answer: simple responses when the authorizer enables them,
/// an IAM policy otherwise.
pub fn parse_answer(a: &Authorizer, payload: &[u8]) -> Result<Answer, Malformed> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|_| Malformed("the answer is not JSON"))?;
    let context = match v.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Malformed("context is not an object")),
    };
    if a.enable_simple_responses == Some(true) {
        let authorized = v
            .get("isAuthorized")
            .and_then(Value::as_bool)
            .ok_or(Malformed("isAuthorized is missing or not a boolean"))?;
        return Ok(Answer::Simple {
            authorized,
            context,
        });
    }
    let doc = v
        .get("policyDocument")
        .ok_or(Malformed("policyDocument is missing"))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().map(statement).collect::<Result<_, _>>()?,
        Some(one @ Value::Object(_)) => vec![statement(one)?],
        _ => return Err(Malformed("the policy has no Statement")),
    };
    let principal_id = match v.get("principalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    Ok(Answer::Policy {
        principal_id,
        statements,
        context,
    })
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn statement(v: &Value) -> Result<Statement, Malformed> {
    let allow = match v.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err(Malformed("a statement's Effect is neither Allow nor Deny")),
    };
    Ok(Statement {
        allow,
        actions: strings(v.get("Action")),
        resources: strings(v.get("Resource")),
    })
}

/// IAM's rule: an explicit deny wins, then an allow; nothing is denied.
fn allows(statements: &[Statement], route_arn: &str) -> bool {
    let applies = |s: &Statement| {
        s.actions
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), "execute-api:invoke"))
            && s.resources.iter().any(|r| glob(r, route_arn))
    };
    let mut allowed = false;
    for s in statements.iter().filter(|s| applies(s)) {
        if !s.allow {
            return false;
        }
        allowed = true;
    }
    allowed
}

/// `*` matches any run of characters and `?` one, as in IAM resources. Iterative, with one
/// backtrack point, so hostile patterns cost linear-ish time.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// Answers kept for their authorizer's TTL, process-wide.
struct Cache {
    entries: HashMap<String, (Instant, Arc<Answer>)>,
}

const MAX_CACHED: usize = 10_000;

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| {
    Mutex::new(Cache {
        entries: HashMap::new(),
    })
});

/// The cache key: the API, the authorizer as configured (so an update is not answered from
/// before it) and the identity source values.
pub fn cache_key(api: &str, a: &Authorizer, identity: &[String]) -> String {
    let config = serde_json::to_string(a).unwrap_or_default();
    format!("{api}\u{0}{config}\u{0}{}", identity.join("\u{0}"))
}

pub fn cached(key: &str) -> Option<Arc<Answer>> {
    let cache = CACHE.lock().unwrap();
    let (expires, answer) = cache.entries.get(key)?;
    (Instant::now() < *expires).then(|| answer.clone())
}

pub fn remember(key: String, ttl: u64, answer: Arc<Answer>) {
    if ttl == 0 {
        return;
    }
    let mut cache = CACHE.lock().unwrap();
    let now = Instant::now();
    if cache.entries.len() >= MAX_CACHED {
        cache.entries.retain(|_, (expires, _)| *expires > now);
        if cache.entries.len() >= MAX_CACHED {
            cache.entries.clear();
        }
    }
    cache
        .entries
        .insert(key, (now + Duration::from_secs(ttl), answer));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorizer(simple: bool) -> Authorizer {
        serde_json::from_value(json!({
            "authorizerId": "a", "name": "n", "authorizerType": "REQUEST",
            "identitySource": ["$request.header.X-Token"],
            "authorizerPayloadFormatVersion": "2.0", "enableSimpleResponses": simple
        }))
        .unwrap()
    }

    #[test]
    fn globs_match_like_iam() {
        assert!(glob("arn:*:api/*/GET/*", "arn:aws:api/dev/GET/items/1"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(!glob("arn:*/POST/*", "arn:x/GET/items"));
        assert!(glob("*a*a*a*a*b", &format!("{}b", "a".repeat(50))));
        assert!(!glob("*a*a*a*a*b", &"a".repeat(200)));
    }

    #[test]
    fn simple_answers() {
        let a = authorizer(true);
        let ok = parse_answer(&a, br#"{"isAuthorized": true, "context": {"u": 1}}"#).unwrap();
        assert!(ok.allows("x"));
        assert_eq!(ok.context()["u"], 1);
        let no = parse_answer(&a, br#"{"isAuthorized": false}"#).unwrap();
        assert!(!no.allows("x"));
        assert!(parse_answer(&a, br#"{"isAuthorized": "yes"}"#).is_err());
        assert!(parse_answer(&a, b"not json").is_err());
    }

    #[test]
    fn policy_answers_deny_over_allow() {
        let a = authorizer(false);
        let doc = br#"{"principalId": "u1", "policyDocument": {"Version": "2012-10-17",
            "Statement": [
              {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*:*:api/*/GET/*"},
              {"Action": ["execute-api:*"], "Effect": "Deny", "Resource": ["arn:aws:execute-api:*:*:api/*/GET/secret"]}
            ]}, "context": {"role": "admin"}}"#;
        let p = parse_answer(&a, doc).unwrap();
        assert_eq!(p.principal_id(), Some("u1"));
        assert!(p.allows("arn:aws:execute-api:us-east-1:0:api/dev/GET/items"));
        assert!(!p.allows("arn:aws:execute-api:us-east-1:0:api/dev/GET/secret"));
        assert!(!p.allows("arn:aws:execute-api:us-east-1:0:api/dev/POST/items"));
        let bad = br#"{"policyDocument": {"Statement": [{"Effect": "Maybe"}]}}"#;
        assert!(parse_answer(&a, bad).is_err());
        assert!(parse_answer(&a, br#"{"principalId": "x"}"#).is_err());
    }

    #[test]
    fn cache_honours_ttl() {
        let answer = Arc::new(Answer::Simple {
            authorized: true,
            context: Map::new(),
        });
        remember("k-ttl0".into(), 0, answer.clone());
        assert!(cached("k-ttl0").is_none());
        remember("k-ttl".into(), 60, answer.clone());
        assert_eq!(cached("k-ttl").as_deref(), Some(&*answer));
        let a = authorizer(true);
        assert_ne!(
            cache_key("api", &a, &["t1".into()]),
            cache_key("api", &a, &["t2".into()])
        );
    }
}
