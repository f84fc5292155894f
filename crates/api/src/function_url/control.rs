//! CreateFunctionUrlConfig, GetFunctionUrlConfig, UpdateFunctionUrlConfig,
//! DeleteFunctionUrlConfig and ListFunctionUrlConfigs (`/2021-10-31/functions/{f}/url[s]`),
//! with AWS's checks: a URL belongs to the unqualified function or to one of its aliases
//! (never `$LATEST` or a version), one per qualifier.

use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use stratus_core::arn::function_arn;
use stratus_core::names::FunctionRef;
use stratus_core::{Error, Result};
use stratus_store::meta::Tx;

use super::{new_url_id, UrlConfig, AUTH_TYPES, INVOKE_MODES};
use crate::auth::Caller;
use crate::cors::{valid_header_name, Cors};
use crate::lambda::{function_not_found, function_ref, marker, QueryMap};
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{RawBody, Shared};

/// The control plane's routes (behind SigV4 authentication, with the Lambda API's).
pub fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/2021-10-31/functions/{f}/url",
            get(get_function_url_config)
                .post(create_function_url_config)
                .put(update_function_url_config)
                .delete(delete_function_url_config),
        )
        .route(
            "/2021-10-31/functions/{f}/urls",
            get(list_function_url_configs),
        )
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct UrlInput {
    auth_type: Option<String>,
    cors: Option<Cors>,
    invoke_mode: Option<String>,
}

/// `CreationTime` and `LastModifiedTime`: ISO 8601 with microseconds, as Lambda writes them.
fn now() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default()
}

fn no_url() -> Error {
    Error::not_found("The resource you requested does not exist.")
}

/// The function and alias a request names. A URL's qualifier must be an alias: `$LATEST`
/// and version numbers fail the member's pattern, as on AWS.
fn target(c: &Caller, f: &str, q: &QueryMap) -> Result<FunctionRef> {
    let r = function_ref(c, f, q)?;
    if let Some(qualifier) = &r.qualifier {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        let digits = qualifier.bytes().all(|b| b.is_ascii_digit());
        if digits || !qualifier.bytes().all(allowed) {
            return Err(Error::constraint(
                qualifier,
                "qualifier",
                r"Member must satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)",
            ));
        }
    }
    Ok(r)
}

/// Checks that the function (and alias) exist, inside the transaction.
fn check_exists(tx: &Tx, region: &str, r: &FunctionRef) -> Result<()> {
    tx.function(&r.name)?
        .ok_or_else(|| function_not_found(region, &r.name, None))?;
    if let Some(alias) = &r.qualifier {
        tx.alias(&r.name, alias)?
            .ok_or_else(|| function_not_found(region, &r.name, Some(alias)))?;
    }
    Ok(())
}

fn one_of(value: &str, member: &str, set: &[&str]) -> Result<()> {
    if set.contains(&value) {
        return Ok(());
    }
    Err(Error::constraint(
        value,
        member,
        &format!("Member must satisfy enum value set: [{}]", set.join(", ")),
    ))
}

/// A list member's bounds: at most `max_items` entries of `min_len..=max_len` characters.
fn check_list(
    list: Option<&Vec<String>>,
    member: &str,
    max_items: usize,
    (min_len, max_len): (usize, usize),
) -> Result<()> {
    let Some(list) = list else { return Ok(()) };
    if list.len() > max_items {
        return Err(Error::constraint(
            format!("[{}]", list.join(", ")),
            member,
            &format!("Member must have length less than or equal to {max_items}"),
        ));
    }
    for item in list {
        let n = item.chars().count();
        if n < min_len || n > max_len {
            return Err(Error::constraint(
                format!("[{}]", list.join(", ")),
                member,
                &format!(
                    "Member must satisfy constraint: [Member must have length less than or equal to {max_len}, Member must have length greater than or equal to {min_len}]"
                ),
            ));
        }
    }
    Ok(())
}

/// AWS's checks on a `Cors` member.
fn check_cors(cors: &Cors) -> Result<()> {
    check_list(
        cors.allow_headers.as_ref(),
        "cors.allowHeaders",
        100,
        (0, 1024),
    )?;
    check_list(
        cors.expose_headers.as_ref(),
        "cors.exposeHeaders",
        100,
        (0, 1024),
    )?;
    check_list(cors.allow_methods.as_ref(), "cors.allowMethods", 6, (0, 6))?;
    check_list(
        cors.allow_origins.as_ref(),
        "cors.allowOrigins",
        100,
        (1, 253),
    )?;
    if let Some(age) = cors.max_age {
        if !(0..=86_400).contains(&age) {
            let text = if age < 0 {
                "Member must have value greater than or equal to 0"
            } else {
                "Member must have value less than or equal to 86400"
            };
            return Err(Error::constraint(age, "cors.maxAge", text));
        }
    }
    for m in cors.allow_methods.iter().flatten() {
        const METHODS: [&str; 8] = [
            "*", "GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS",
        ];
        if !METHODS.contains(&m.to_ascii_uppercase().as_str()) {
            return Err(Error::invalid(format!(
                "Invalid method {m} in AllowMethods."
            )));
        }
    }
    let headers = cors.allow_headers.iter().chain(cors.expose_headers.iter());
    for h in headers.flatten() {
        if !valid_header_name(h) {
            return Err(Error::invalid(format!("Invalid header name {h}.")));
        }
    }
    Ok(())
}

/// Checks the members of a Create or Update.
fn check_input(input: &UrlInput, create: bool) -> Result<()> {
    match &input.auth_type {
        Some(t) => one_of(t, "authType", &AUTH_TYPES)?,
        None if create => {
            return Err(Error::constraint(
                "null",
                "authType",
                "Member must not be null",
            ))
        }
        None => {}
    }
    if let Some(m) = &input.invoke_mode {
        one_of(m, "invokeMode", &INVOKE_MODES)?;
    }
    if let Some(c) = &input.cors {
        check_cors(c)?;
    }
    Ok(())
}

/// A configuration as the API renders it (`LastModifiedTime` is not in Create's output).
fn render(cfg: &UrlConfig, headers: &HeaderMap, with_modified: bool) -> Value {
    let mut m = Map::new();
    m.insert("FunctionUrl".into(), json!(cfg.url(headers)));
    m.insert("FunctionArn".into(), json!(cfg.function_arn()));
    m.insert("AuthType".into(), json!(cfg.auth_type));
    if let Some(c) = &cfg.cors {
        m.insert("Cors".into(), serde_json::to_value(c).unwrap_or_default());
    }
    m.insert("CreationTime".into(), json!(cfg.creation_time));
    if with_modified {
        m.insert("LastModifiedTime".into(), json!(cfg.last_modified_time));
    }
    m.insert("InvokeMode".into(), json!(cfg.invoke_mode));
    Value::Object(m)
}

fn key(r: &FunctionRef) -> &str {
    r.qualifier.as_deref().unwrap_or("")
}

pub async fn create_function_url_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    headers: HeaderMap,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: UrlInput = parse(&body.0)?;
    let r = target(&c, &f, &q)?;
    check_input(&input, true)?;
    let created = now();
    let cfg = UrlConfig {
        url_id: new_url_id(),
        function: r.name.clone(),
        qualifier: r.qualifier.clone(),
        region: c.region.clone(),
        auth_type: input.auth_type.clone().unwrap_or_default(),
        invoke_mode: input
            .invoke_mode
            .clone()
            .unwrap_or_else(|| "BUFFERED".into()),
        cors: input.cors.clone(),
        creation_time: created.clone(),
        last_modified_time: created,
    };
    s.stores.meta.tx(|tx| {
        check_exists(tx, &c.region, &r)?;
        if tx.function_url::<UrlConfig>(&r.name, key(&r))?.is_some() {
            let arn = function_arn(&c.region, &r.name, r.qualifier.as_deref());
            return Err(Error::conflict(format!(
                "Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists for this Lambda function"
            )));
        }
        tx.put_function_url(&cfg.url_id, &r.name, key(&r), &cfg)
    })?;
    Ok(json(201, render(&cfg, &headers, false)))
}

pub async fn get_function_url_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    headers: HeaderMap,
) -> ApiResult {
    let r = target(&c, &f, &q)?;
    let cfg = s.stores.meta.tx(|tx| {
        check_exists(tx, &c.region, &r)?;
        tx.function_url::<UrlConfig>(&r.name, key(&r))?
            .ok_or_else(no_url)
    })?;
    Ok(json(200, render(&cfg, &headers, true)))
}

pub async fn update_function_url_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    headers: HeaderMap,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: UrlInput = parse(&body.0)?;
    let r = target(&c, &f, &q)?;
    check_input(&input, false)?;
    let modified = now();
    let cfg = s.stores.meta.tx(|tx| {
        check_exists(tx, &c.region, &r)?;
        let mut cfg: UrlConfig = tx.function_url(&r.name, key(&r))?.ok_or_else(no_url)?;
        if let Some(t) = &input.auth_type {
            cfg.auth_type = t.clone();
        }
        if let Some(m) = &input.invoke_mode {
            cfg.invoke_mode = m.clone();
        }
        if let Some(cors) = &input.cors {
            cfg.cors = Some(cors.clone());
        }
        cfg.last_modified_time = modified.clone();
        tx.put_function_url(&cfg.url_id, &r.name, key(&r), &cfg)?;
        Ok(cfg)
    })?;
    Ok(json(200, render(&cfg, &headers, true)))
}

pub async fn delete_function_url_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = target(&c, &f, &q)?;
    s.stores.meta.tx(|tx| {
        check_exists(tx, &c.region, &r)?;
        match tx.delete_function_url(&r.name, key(&r))? {
            true => Ok(()),
            false => Err(no_url()),
        }
    })?;
    Ok(no_content())
}

/// `MaxItems`: 1 to 50 (the default and the cap).
fn max_items(q: &QueryMap) -> Result<usize> {
    let Some(raw) = q.get("MaxItems") else {
        return Ok(50);
    };
    let n: i64 = raw
        .parse()
        .map_err(|_| Error::invalid(format!("Invalid MaxItems: {raw}")))?;
    match n {
        1..=50 => Ok(n as usize),
        n if n < 1 => Err(Error::constraint(
            n,
            "maxItems",
            "Member must have value greater than or equal to 1",
        )),
        n => Err(Error::constraint(
            n,
            "maxItems",
            "Member must have value less than or equal to 50",
        )),
    }
}

pub async fn list_function_url_configs(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    headers: HeaderMap,
) -> ApiResult {
    let r = function_ref(&c, &f, &QueryMap::new())?;
    r.unqualified("Qualifier is not supported by ListFunctionUrlConfigs.")?;
    let limit = max_items(&q)?;
    let after = match q.get("Marker") {
        Some(_) => Some(marker::decode(q.get("Marker"))?),
        None => None,
    };
    let rows: Vec<(String, UrlConfig)> = s.stores.meta.tx(|tx| {
        check_exists(tx, &c.region, &r)?;
        tx.function_urls_after(&r.name, after.as_deref(), limit + 1)
    })?;
    let more = rows.len() > limit;
    let page: Vec<&(String, UrlConfig)> = rows.iter().take(limit).collect();
    let mut out = json!({
        "FunctionUrlConfigs": page.iter().map(|(_, cfg)| render(cfg, &headers, true)).collect::<Vec<_>>(),
    });
    if more {
        if let Some((last, _)) = page.last() {
            out["NextMarker"] = json!(marker::encode(last));
        }
    }
    Ok(json(200, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(v: Value) -> Cors {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn cors_members_are_bounded_as_on_aws() {
        assert!(check_cors(&cors(json!({"AllowOrigins": ["*"], "MaxAge": 86400}))).is_ok());
        let e = check_cors(&cors(json!({"MaxAge": 86401}))).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.contains("cors.maxAge"), "{}", e.message);
        let e = check_cors(&cors(
            json!({"AllowMethods": ["GET", "PUT", "POST", "HEAD", "PATCH", "DELETE", "*"]}),
        ))
        .unwrap_err();
        assert!(e.message.contains("cors.allowMethods"), "{}", e.message);
        assert!(check_cors(&cors(json!({"AllowMethods": ["FETCH"]}))).is_err());
        assert!(check_cors(&cors(json!({"AllowOrigins": [""]}))).is_err());
        assert!(check_cors(&cors(json!({"AllowHeaders": ["bad header"]}))).is_err());
    }

    #[test]
    fn auth_type_is_required_on_create_only() {
        assert!(check_input(&UrlInput::default(), true).is_err());
        assert!(check_input(&UrlInput::default(), false).is_ok());
        let bad = UrlInput {
            auth_type: Some("OPEN".into()),
            ..UrlInput::default()
        };
        let e = check_input(&bad, false).unwrap_err();
        assert!(e.message.contains("[NONE, AWS_IAM]"), "{}", e.message);
    }
}
