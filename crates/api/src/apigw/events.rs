//! The events an HTTP API hands a function: payload format 2.0 (`version`, `routeKey`,
//! `rawPath`, `cookies`, comma-joined headers, ...) and 1.0 (`resource`, `httpMethod`,
//! `multiValueHeaders`, ...), as AWS documents them. Hand-written: the `aws_lambda_events`
//! request types serialize members AWS never sends (a 2.0 `httpMethod` defaulting to GET,
//! `methodArn`, ...) and keep only one value of a repeated header; the unit tests parse what
//! we emit with those types, so functions built on them read our events.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::http::HeaderMap;
use base64::Engine as _;
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::{json, Value};
use stratus_core::ACCOUNT_ID;
use time::OffsetDateTime;

/// One HTTP request, as the gateway saw it.
pub struct HttpRequest {
    pub method: String,
    /// The path after the API's prefix, stage included, still percent-encoded.
    pub raw_path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub source_ip: String,
    pub protocol: String,
    pub domain_name: String,
    pub domain_prefix: String,
}

/// What the gateway decided about it.
pub struct Context<'a> {
    pub api_id: &'a str,
    pub stage: &'a str,
    pub route_key: &'a str,
    /// The route's path (`/items/{id}`), or `$default`.
    pub resource: &'a str,
    pub request_id: &'a str,
    pub time: OffsetDateTime,
    pub path_parameters: &'a BTreeMap<String, String>,
    pub stage_variables: &'a BTreeMap<String, String>,
    /// What the route's authorizer granted, passed on in `requestContext.authorizer`.
    pub authorizer: Option<&'a super::authorize::Granted>,
}

/// `12/Mar/2020:19:03:58 +0000`.
pub fn clf_time(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(f)
        .unwrap_or_default()
}

/// Header names (lower-cased) with all their values, in arrival order.
fn header_values(h: &HeaderMap) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in h {
        out.entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    out
}

/// Query parameters, decoded, with all their values in order.
pub fn query_values(raw: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        out.entry(decode(k)).or_default().push(decode(v));
    }
    out
}

/// Whether a body travels as text; anything else is base64-encoded.
fn is_text(headers: &HeaderMap, body: &[u8]) -> bool {
    if std::str::from_utf8(body).is_err() {
        return false;
    }
    let Some(ct) = headers.get("content-type").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime.as_str(),
            "application/json" | "application/javascript" | "application/xml"
        )
}

/// `(body, isBase64Encoded)`, the text borrowed from the request; no body at all is `None`.
fn body_ref(req: &HttpRequest) -> (Option<Cow<'_, str>>, bool) {
    if req.body.is_empty() {
        return (None, false);
    }
    if is_text(&req.headers, &req.body) {
        (Some(String::from_utf8_lossy(&req.body)), false)
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&req.body);
        (Some(Cow::Owned(b64)), true)
    }
}

/// `(body, isBase64Encoded)`; no body at all is `None`.
fn body(req: &HttpRequest) -> (Option<String>, bool) {
    if req.body.is_empty() {
        return (None, false);
    }
    if is_text(&req.headers, &req.body) {
        (Some(String::from_utf8_lossy(&req.body).into_owned()), false)
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&req.body);
        (Some(b64), true)
    }
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

fn user_agent(req: &HttpRequest) -> String {
    req.headers
        .get("user-agent")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// The payload format 2.0 event, borrowing what it can from the request and the gateway's
/// plan and serialised straight to bytes: building it as a `serde_json::Value` cost about a
/// quarter of an HTTP API request's instructions (a map node and a copied string per member).
/// Members are declared in sorted order, as a `Value` map would write them.
#[derive(Serialize)]
pub struct V2Event<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cookies: Vec<Cow<'a, str>>,
    headers: BTreeMap<&'a str, Cow<'a, str>>,
    #[serde(rename = "isBase64Encoded")]
    is_base64_encoded: bool,
    #[serde(rename = "pathParameters", skip_serializing_if = "BTreeMap::is_empty")]
    path_parameters: &'a BTreeMap<String, String>,
    #[serde(
        rename = "queryStringParameters",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    query_string_parameters: BTreeMap<String, String>,
    #[serde(rename = "rawPath")]
    raw_path: &'a str,
    #[serde(rename = "rawQueryString")]
    raw_query_string: &'a str,
    #[serde(rename = "requestContext")]
    pub request_context: V2Context<'a>,
    #[serde(rename = "routeKey")]
    route_key: &'a str,
    #[serde(rename = "stageVariables", skip_serializing_if = "BTreeMap::is_empty")]
    stage_variables: &'a BTreeMap<String, String>,
    version: &'static str,
}

/// `requestContext` of a payload 2.0 event.
#[derive(Serialize)]
pub struct V2Context<'a> {
    #[serde(rename = "accountId")]
    pub account_id: &'a str,
    #[serde(rename = "apiId")]
    api_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<Value>,
    #[serde(rename = "domainName")]
    domain_name: &'a str,
    #[serde(rename = "domainPrefix")]
    domain_prefix: &'a str,
    http: V2Http<'a>,
    #[serde(rename = "requestId")]
    request_id: &'a str,
    #[serde(rename = "routeKey")]
    route_key: &'a str,
    stage: &'a str,
    time: String,
    #[serde(rename = "timeEpoch")]
    time_epoch: i64,
}

#[derive(Serialize)]
struct V2Http<'a> {
    method: &'a str,
    path: &'a str,
    protocol: &'a str,
    #[serde(rename = "sourceIp")]
    source_ip: &'a str,
    #[serde(rename = "userAgent")]
    user_agent: Cow<'a, str>,
}

impl V2Event<'_> {
    pub fn to_bytes(&self) -> Bytes {
        // Serialising borrowed strings and maps cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Header values by lower-cased name, repeated ones joined with commas, `cookie` left out
/// (payload 2.0 carries cookies in their own member).
fn joined_headers(h: &HeaderMap) -> BTreeMap<&str, Cow<'_, str>> {
    let mut out: BTreeMap<&str, Cow<str>> = BTreeMap::new();
    for (name, value) in h {
        if name == "cookie" {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        match out.entry(name.as_str()) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(value);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let joined = e.get_mut().to_mut();
                joined.push(',');
                joined.push_str(&value);
            }
        }
    }
    out
}

/// The `cookie` headers' cookies, in order.
fn cookies(h: &HeaderMap) -> Vec<Cow<'_, str>> {
    fn split(c: &str) -> impl Iterator<Item = &str> {
        c.split(';').map(str::trim).filter(|p| !p.is_empty())
    }
    let mut out = Vec::new();
    for value in h.get_all("cookie") {
        match String::from_utf8_lossy(value.as_bytes()) {
            Cow::Borrowed(c) => out.extend(split(c).map(Cow::Borrowed)),
            Cow::Owned(c) => out.extend(split(&c).map(|p| Cow::Owned(p.to_string()))),
        }
    }
    out
}

/// The payload format 2.0 event.
pub fn v2_event<'a>(req: &'a HttpRequest, ctx: &Context<'a>) -> V2Event<'a> {
    let (body, b64) = body_ref(req);
    let query = query_values(&req.raw_query)
        .into_iter()
        .map(|(k, v)| (k, v.join(",")))
        .collect();
    V2Event {
        body,
        cookies: cookies(&req.headers),
        headers: joined_headers(&req.headers),
        is_base64_encoded: b64,
        path_parameters: ctx.path_parameters,
        query_string_parameters: query,
        raw_path: &req.raw_path,
        raw_query_string: &req.raw_query,
        request_context: V2Context {
            account_id: ACCOUNT_ID,
            api_id: ctx.api_id,
            authorizer: ctx.authorizer.map(|g| g.v2()),
            domain_name: &req.domain_name,
            domain_prefix: &req.domain_prefix,
            http: V2Http {
                method: &req.method,
                path: &req.raw_path,
                protocol: &req.protocol,
                source_ip: &req.source_ip,
                user_agent: req
                    .headers
                    .get("user-agent")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()))
                    .unwrap_or_default(),
            },
            request_id: ctx.request_id,
            route_key: ctx.route_key,
            stage: ctx.stage,
            time: clf_time(ctx.time),
            time_epoch: stratus_core::clock::epoch_ms(ctx.time),
        },
        route_key: ctx.route_key,
        stage_variables: ctx.stage_variables,
        version: "2.0",
    }
}

/// The payload format 2.0 event as a JSON value (for the authorizer's payload, which edits it).
pub fn v2(req: &HttpRequest, ctx: &Context) -> Value {
    serde_json::to_value(v2_event(req, ctx)).unwrap_or(Value::Null)
}

fn null_if_empty(v: Value) -> Value {
    match &v {
        Value::Object(m) if m.is_empty() => Value::Null,
        _ => v,
    }
}

fn last_values(m: &BTreeMap<String, Vec<String>>) -> Value {
    Value::Object(
        m.iter()
            .filter_map(|(k, v)| Some((k.clone(), json!(v.last()?))))
            .collect(),
    )
}

fn all_values(m: &BTreeMap<String, Vec<String>>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// The payload format 1.0 event (the REST API proxy shape).
pub fn v1(req: &HttpRequest, ctx: &Context) -> Value {
    let headers = header_values(&req.headers);
    let query = query_values(&req.raw_query);
    let (body, b64) = body(req);
    let mut e = json!({
        "version": "1.0",
        "resource": ctx.resource,
        "path": req.raw_path,
        "httpMethod": req.method,
        "headers": last_values(&headers),
        "multiValueHeaders": all_values(&headers),
        "queryStringParameters": null_if_empty(last_values(&query)),
        "multiValueQueryStringParameters": null_if_empty(all_values(&query)),
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": ctx.api_id,
            "domainName": req.domain_name,
            "domainPrefix": req.domain_prefix,
            "extendedRequestId": ctx.request_id,
            "httpMethod": req.method,
            "identity": {
                "accessKey": null, "accountId": null, "caller": null,
                "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
                "cognitoIdentityId": null, "cognitoIdentityPoolId": null,
                "principalOrgId": null, "sourceIp": req.source_ip, "user": null,
                "userAgent": user_agent(req), "userArn": null,
            },
            "path": req.raw_path,
            "protocol": req.protocol,
            "requestId": ctx.request_id,
            "requestTime": clf_time(ctx.time),
            "requestTimeEpoch": stratus_core::clock::epoch_ms(ctx.time),
            "resourceId": ctx.route_key,
            "resourcePath": ctx.resource,
            "stage": ctx.stage,
        },
        "pathParameters": null_if_empty(string_map(ctx.path_parameters)),
        "stageVariables": null_if_empty(string_map(ctx.stage_variables)),
        "body": body,
        "isBase64Encoded": b64,
    });
    if let Some(v) = ctx.authorizer.map(|g| g.v1()).filter(|v| !v.is_null()) {
        e["requestContext"]["authorizer"] = v;
    }
    // An `AWS_IAM` route's signer is the 1.0 event's identity.
    if let Some(super::authorize::Granted::Iam(signer)) = ctx.authorizer {
        let id = &mut e["requestContext"]["identity"];
        id["accessKey"] = json!(signer.access_key);
        id["accountId"] = json!(ACCOUNT_ID);
        id["caller"] = json!(signer.user_id);
        id["user"] = json!(signer.user_id);
        id["userArn"] = json!(signer.user_arn);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};

    fn request(body: &'static [u8], content_type: &str) -> HttpRequest {
        let mut headers = HeaderMap::new();
        headers.append("x-multi", "a".parse().unwrap());
        headers.append("x-multi", "b".parse().unwrap());
        headers.append("cookie", "c1=v1; c2=v2".parse().unwrap());
        headers.append("user-agent", "curl/8".parse().unwrap());
        headers.append("content-type", content_type.parse().unwrap());
        HttpRequest {
            method: "POST".into(),
            raw_path: "/dev/items/42".into(),
            raw_query: "a=1&a=2&b=x%20y".into(),
            headers,
            body: Bytes::from_static(body),
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1".into(),
            domain_name: "abc.execute-api.localhost".into(),
            domain_prefix: "abc".into(),
        }
    }

    fn with_ctx<T>(f: impl FnOnce(&Context) -> T) -> T {
        let params = BTreeMap::from([("id".to_string(), "42".to_string())]);
        let vars = BTreeMap::from([("env".to_string(), "dev".to_string())]);
        let ctx = Context {
            api_id: "abc",
            stage: "dev",
            route_key: "POST /items/{id}",
            resource: "/items/{id}",
            request_id: "req1",
            time: OffsetDateTime::from_unix_timestamp(1_584_039_838).unwrap(),
            path_parameters: &params,
            stage_variables: &vars,
            authorizer: None,
        };
        f(&ctx)
    }

    #[test]
    fn v2_event_fields() {
        let e = with_ctx(|c| v2(&request(b"{\"k\":1}", "application/json"), c));
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
        assert_eq!(e["pathParameters"]["id"], "42");
        assert_eq!(e["stageVariables"]["env"], "dev");
        assert_eq!(e["body"], "{\"k\":1}");
        assert_eq!(e["isBase64Encoded"], false);
        let rc = &e["requestContext"];
        assert_eq!(rc["time"], "12/Mar/2020:19:03:58 +0000");
        assert_eq!(rc["timeEpoch"], 1_584_039_838_000_i64);
        assert_eq!(rc["http"]["method"], "POST");
        assert_eq!(rc["http"]["userAgent"], "curl/8");
    }

    #[test]
    fn binary_bodies_are_base64() {
        let e = with_ctx(|c| v2(&request(&[0xff, 0x00, 0x01], "image/png"), c));
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "/wAB");
        let e = with_ctx(|c| v2(&request(b"plain", "application/octet-stream"), c));
        assert_eq!(e["isBase64Encoded"], true);
    }

    #[test]
    fn v1_event_fields() {
        let e = with_ctx(|c| v1(&request(b"hi", "text/plain"), c));
        assert_eq!(e["resource"], "/items/{id}");
        assert_eq!(e["httpMethod"], "POST");
        assert_eq!(e["headers"]["x-multi"], "b");
        assert_eq!(e["multiValueHeaders"]["x-multi"], json!(["a", "b"]));
        assert_eq!(e["queryStringParameters"]["a"], "2");
        assert_eq!(e["multiValueQueryStringParameters"]["a"], json!(["1", "2"]));
        assert_eq!(e["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(e["body"], "hi");
    }

    #[test]
    fn iam_signers_are_the_v1_identity() {
        let g = super::super::authorize::Granted::Iam(super::super::iam_auth::Signer {
            access_key: "AKIA1".into(),
            user_arn: "arn:aws:iam::000000000000:user/u".into(),
            user_id: "AIDA1".into(),
        });
        let params = BTreeMap::new();
        let ctx = Context {
            api_id: "abc",
            stage: "$default",
            route_key: "$default",
            resource: "$default",
            request_id: "r",
            time: OffsetDateTime::UNIX_EPOCH,
            path_parameters: &params,
            stage_variables: &params,
            authorizer: Some(&g),
        };
        let e = v1(&request(b"", "text/plain"), &ctx);
        let id = &e["requestContext"]["identity"];
        assert_eq!(id["accessKey"], "AKIA1");
        assert_eq!(id["userArn"], "arn:aws:iam::000000000000:user/u");
        assert!(e["requestContext"].get("authorizer").is_none());
        let e = v2(&request(b"", "text/plain"), &ctx);
        assert_eq!(
            e["requestContext"]["authorizer"]["iam"]["accessKey"],
            "AKIA1"
        );
    }

    #[test]
    fn events_parse_with_aws_lambda_events() {
        let e = with_ctx(|c| v2(&request(b"{}", "application/json"), c));
        let r: ApiGatewayV2httpRequest = serde_json::from_value(e).unwrap();
        assert_eq!(r.route_key.as_deref(), Some("POST /items/{id}"));
        assert_eq!(r.request_context.http.method, http::Method::POST);
        assert_eq!(r.path_parameters["id"], "42");
        assert_eq!(r.cookies.unwrap().len(), 2);
        let e = with_ctx(|c| v1(&request(b"{}", "application/json"), c));
        let r: ApiGatewayProxyRequest = serde_json::from_value(e).unwrap();
        assert_eq!(r.http_method, http::Method::POST);
        assert_eq!(r.path_parameters["id"], "42");
        assert_eq!(r.multi_value_headers.get_all("x-multi").iter().count(), 2);
    }
}
