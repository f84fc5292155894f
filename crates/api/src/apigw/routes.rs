//! CreateRoute, GetRoute(s), UpdateRoute, DeleteRoute. A route's target is
//! `integrations/<integrationId>`.

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::Result;
use stratus_store::meta::Tx;

use super::model::*;
use super::routing::parse_key;
use super::{bad_request, conflict, new_id, page, parse, store};
use crate::wire::{json, no_content, ApiResult};
use crate::{RawBody, Shared};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RouteInput {
    route_key: Option<String>,
    target: Option<String>,
    authorization_type: Option<String>,
    authorizer_id: Option<String>,
    authorization_scopes: Option<Vec<String>>,
    api_key_required: Option<bool>,
    operation_name: Option<String>,
}

fn check(input: &RouteInput) -> Result<()> {
    if let Some(k) = &input.route_key {
        parse_key(k)?;
    }
    if let Some(t) = input.authorization_type.as_deref() {
        if !matches!(t, "NONE" | "JWT" | "CUSTOM" | "AWS_IAM") {
            return Err(bad_request(format!(
                "Invalid authorization type: {t}. Valid values are NONE, AWS_IAM, CUSTOM and JWT."
            )));
        }
    }
    for scope in input.authorization_scopes.iter().flatten() {
        check_len("authorizationScopes", scope, 1, 256)?;
    }
    if input.api_key_required == Some(true) {
        return Err(bad_request("API keys are not supported for HTTP APIs"));
    }
    if let Some(o) = &input.operation_name {
        check_len("operationName", o, 1, 64)?;
    }
    Ok(())
}

/// A target must be `integrations/<id>` of an integration of this API.
fn check_target(tx: &Tx, api: &str, target: &str) -> Result<()> {
    let id = target.strip_prefix("integrations/").ok_or_else(|| {
        bad_request(format!(
            "Invalid target: {target}. A target must have the form integrations/<integrationId>."
        ))
    })?;
    store::integration(tx, api, id).map(drop)
}

/// Route keys are unique within an API.
fn check_unique(tx: &Tx, api: &str, key: &str, except: Option<&str>) -> Result<()> {
    let routes: Vec<Route> = tx.http_api_items(api, ROUTE)?;
    let taken = routes
        .iter()
        .any(|r| r.route_key == key && Some(r.route_id.as_str()) != except);
    if taken {
        return Err(conflict(format!(
            "Route with key {key} already exists for this API"
        )));
    }
    Ok(())
}

/// Sets a route's authorization from the input and checks the result: `JWT` and `CUSTOM`
/// routes name an authorizer of the matching type (JWT, REQUEST), scopes go with JWT only, and
/// `NONE` and `AWS_IAM` routes have no authorizer.
fn apply_authorization(tx: &Tx, api: &str, r: &mut Route, input: &RouteInput) -> Result<()> {
    if let Some(t) = &input.authorization_type {
        r.authorization_type = t.clone();
    }
    if let Some(a) = &input.authorizer_id {
        r.authorizer_id = Some(a.clone());
    }
    if let Some(s) = &input.authorization_scopes {
        r.authorization_scopes = s.clone();
    }
    let wanted = match r.authorization_type.as_str() {
        "JWT" => "JWT",
        "CUSTOM" => "REQUEST",
        _ => {
            if input.authorizer_id.is_some() {
                return Err(bad_request(format!(
                    "AuthorizerId is only supported for authorization type JWT or CUSTOM, not {}",
                    r.authorization_type
                )));
            }
            r.authorizer_id = None;
            r.authorization_scopes.clear();
            return Ok(());
        }
    };
    let id = r.authorizer_id.as_deref().ok_or_else(|| {
        bad_request(format!(
            "An authorizerId is required for authorization type {}",
            r.authorization_type
        ))
    })?;
    let authorizer = super::authorizers::authorizer(tx, api, id)?;
    if authorizer.authorizer_type != wanted {
        return Err(bad_request(format!(
            "Authorization type {} requires an authorizer of type {wanted}; {id} is of type {}",
            r.authorization_type, authorizer.authorizer_type
        )));
    }
    if wanted != "JWT" && !r.authorization_scopes.is_empty() {
        return Err(bad_request(
            "Authorization scopes are only supported for routes with a JWT authorizer",
        ));
    }
    Ok(())
}

pub async fn create_route(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: RouteInput = parse(&body.0)?;
    let key = input
        .route_key
        .clone()
        .ok_or_else(|| bad_request("Invalid input: routeKey is required"))?;
    check(&input)?;
    let route = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        check_unique(tx, &api, &key, None)?;
        if let Some(t) = &input.target {
            check_target(tx, &api, t)?;
        }
        let mut route = Route {
            route_id: new_id(7),
            route_key: key.clone(),
            target: input.target.clone(),
            authorization_type: "NONE".into(),
            authorizer_id: None,
            authorization_scopes: Vec::new(),
            api_key_required: false,
            operation_name: input.operation_name.clone(),
            api_gateway_managed: false,
        };
        apply_authorization(tx, &api, &mut route, &input)?;
        tx.put_http_api_item(&api, ROUTE, &route.route_id, &route)?;
        store::auto_deploy(tx, &api)?;
        Ok(route)
    })?;
    Ok(json(201, Value::Object(render(&route))))
}

pub async fn get_route(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult {
    let r = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        store::route(tx, &api, &id)
    })?;
    Ok(json(200, Value::Object(render(&r))))
}

pub async fn get_routes(
    State(s): State<Shared>,
    Path(api): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let all: Vec<Route> = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        tx.http_api_items(&api, ROUTE)
    })?;
    let (items, next) = page(all, |r| &r.route_id, &q)?;
    let items: Vec<Value> = items.iter().map(|r| Value::Object(render(r))).collect();
    let mut out = json!({ "items": items });
    if let Some(n) = next {
        out["nextToken"] = json!(n);
    }
    Ok(json(200, out))
}

pub async fn update_route(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: RouteInput = parse(&body.0)?;
    check(&input)?;
    let route = s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        let mut r = store::route(tx, &api, &id)?;
        if let Some(k) = input.route_key.clone() {
            if r.api_gateway_managed && k != r.route_key {
                return Err(bad_request(
                    "The route key of a route managed by API Gateway can only be changed with UpdateApi",
                ));
            }
            check_unique(tx, &api, &k, Some(&id))?;
            r.route_key = k;
        }
        if let Some(t) = input.target.clone() {
            check_target(tx, &api, &t)?;
            r.target = Some(t);
        }
        if let Some(o) = input.operation_name.clone() {
            r.operation_name = Some(o);
        }
        apply_authorization(tx, &api, &mut r, &input)?;
        tx.put_http_api_item(&api, ROUTE, &id, &r)?;
        store::auto_deploy(tx, &api)?;
        Ok(r)
    })?;
    Ok(json(200, Value::Object(render(&route))))
}

pub async fn delete_route(
    State(s): State<Shared>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult {
    s.stores.meta.tx(|tx| {
        store::api(tx, &api)?;
        store::route(tx, &api, &id)?;
        tx.delete_http_api_item(&api, ROUTE, &id)?;
        store::auto_deploy(tx, &api)
    })?;
    Ok(no_content())
}
