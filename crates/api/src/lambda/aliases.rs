//! CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, Query, State};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::alias::{self, Alias};
use stratus_core::arn::function_arn;
use stratus_core::function::new_revision_id;
use stratus_core::names::FunctionRef;
use stratus_core::{limits, Error, Result};
use stratus_store::meta::Tx;

use super::render;
use super::{check_revision, function_not_found, marker, page_size, QueryMap};
use crate::auth::Caller;
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{RawBody, Shared};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoutingInput {
    additional_version_weights: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasInput {
    name: Option<String>,
    function_version: Option<String>,
    description: Option<String>,
    routing_config: Option<RoutingInput>,
    revision_id: Option<String>,
}

fn check_description(d: Option<&str>) -> Result<()> {
    match d {
        Some(d) if d.chars().count() > 256 => Err(Error::constraint(
            d,
            "description",
            "Member must have length less than or equal to 256",
        )),
        _ => Ok(()),
    }
}

/// Checks that an alias's versions exist and its routing follows AWS's rules.
fn check_targets(tx: &Tx, region: &str, function: &str, a: &Alias) -> Result<()> {
    alias::validate_target(&a.function_version)?;
    alias::validate_weights(&a.function_version, &a.weights)?;
    for v in std::iter::once(&a.function_version).chain(a.weights.keys()) {
        if tx.version(function, v)?.is_none() {
            return Err(function_not_found(region, function, Some(v)));
        }
    }
    Ok(())
}

fn function_name(c: &Caller, f: &str) -> Result<String> {
    Ok(FunctionRef::parse(f)?.resolve(&c.region, None)?.name)
}

pub async fn create_alias(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: AliasInput = parse(&body.0)?;
    let function = function_name(&c, &f)?;
    let name = input
        .name
        .ok_or_else(|| Error::invalid("Name is required"))?;
    alias::validate_name(&name)?;
    check_description(input.description.as_deref())?;
    let a = Alias {
        name,
        function_version: input
            .function_version
            .ok_or_else(|| Error::invalid("FunctionVersion is required"))?,
        description: input.description.unwrap_or_default(),
        weights: input
            .routing_config
            .and_then(|r| r.additional_version_weights)
            .unwrap_or_default(),
        revision_id: new_revision_id(),
    };
    s.stores.meta.tx(|tx| {
        tx.function(&function)?
            .ok_or_else(|| function_not_found(&c.region, &function, None))?;
        check_targets(tx, &c.region, &function, &a)?;
        if tx.alias(&function, &a.name)?.is_some() {
            return Err(Error::conflict(format!(
                "Alias already exists: {}",
                function_arn(&c.region, &function, Some(&a.name))
            )));
        }
        tx.put_alias(&function, &a)
    })?;
    Ok(json(201, render::alias(&a, &function, &c.region)))
}

pub async fn get_alias(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path((f, name)): Path<(String, String)>,
) -> ApiResult {
    let function = function_name(&c, &f)?;
    let a = s.stores.meta.tx(|tx| {
        tx.function(&function)?
            .ok_or_else(|| function_not_found(&c.region, &function, None))?;
        tx.alias(&function, &name)?.ok_or_else(|| {
            Error::not_found(format!(
                "Cannot find alias arn: {}",
                function_arn(&c.region, &function, Some(&name))
            ))
        })
    })?;
    Ok(json(200, render::alias(&a, &function, &c.region)))
}

pub async fn update_alias(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path((f, name)): Path<(String, String)>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: AliasInput = parse(&body.0)?;
    let function = function_name(&c, &f)?;
    check_description(input.description.as_deref())?;
    let change = AliasChange {
        function_version: input.function_version,
        description: input.description,
        weights: input
            .routing_config
            .map(|r| r.additional_version_weights.unwrap_or_default()),
        revision_id: input.revision_id,
    };
    let a = s
        .stores
        .meta
        .tx(|tx| apply_update(tx, &c.region, &function, &name, &change))?;
    Ok(json(200, render::alias(&a, &function, &c.region)))
}

/// What an UpdateAlias changes (`None`: left as it is).
#[derive(Debug, Default, Clone)]
pub struct AliasChange {
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub weights: Option<BTreeMap<String, f64>>,
    /// The revision the caller expects the alias to have.
    pub revision_id: Option<String>,
}

/// Updates an alias inside `tx` with UpdateAlias's checks: the one path by which an alias's
/// routing changes (UpdateAlias, and CodeDeploy's traffic shifting), so the invoker's routing
/// and everything reading the metadata store see it alike.
pub fn apply_update(
    tx: &Tx,
    region: &str,
    function: &str,
    name: &str,
    change: &AliasChange,
) -> Result<Alias> {
    tx.function(function)?
        .ok_or_else(|| function_not_found(region, function, None))?;
    let mut a = tx.alias(function, name)?.ok_or_else(|| {
        Error::not_found(format!(
            "Alias not found: {}",
            function_arn(region, function, Some(name))
        ))
    })?;
    check_revision(
        change.revision_id.as_deref(),
        &a.revision_id,
        "GetFunction/GetAlias",
    )?;
    if let Some(v) = &change.function_version {
        a.function_version = v.clone();
    }
    if let Some(d) = &change.description {
        a.description = d.clone();
    }
    if let Some(w) = &change.weights {
        a.weights = w.clone();
    }
    check_targets(tx, region, function, &a)?;
    a.revision_id = new_revision_id();
    tx.put_alias(function, &a)?;
    Ok(a)
}

pub async fn delete_alias(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path((f, name)): Path<(String, String)>,
) -> ApiResult {
    let function = function_name(&c, &f)?;
    s.stores.meta.tx(|tx| {
        tx.function(&function)?
            .ok_or_else(|| function_not_found(&c.region, &function, None))?;
        tx.delete_alias(&function, &name)
    })?;
    Ok(no_content())
}

pub async fn list_aliases(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let function = function_name(&c, &f)?;
    let limit = page_size(&q, limits::MAX_PAGE)?;
    let after = marker::decode(q.get("Marker"))?;
    let aliases = s.stores.meta.tx(|tx| {
        tx.function(&function)?
            .ok_or_else(|| function_not_found(&c.region, &function, None))?;
        tx.aliases(&function)
    })?;
    let wanted = q.get("FunctionVersion");
    let matching: Vec<&Alias> = aliases
        .iter()
        .filter(|a| wanted.is_none_or(|v| &a.function_version == v || a.weights.contains_key(v)))
        .filter(|a| after.is_empty() || a.name.as_str() > after.as_str())
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .take(limit)
        .map(|a| render::alias(a, &function, &c.region))
        .collect();
    let mut out = json!({ "Aliases": page });
    if matching.len() > limit {
        out["NextMarker"] = json!(marker::encode(&matching[limit - 1].name));
    }
    Ok(json(200, out))
}
