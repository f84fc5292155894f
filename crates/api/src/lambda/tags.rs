//! TagResource, ListTags, UntagResource: on functions (by unqualified ARN) and on code signing
//! configurations.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, State};
use axum::http::Uri;
use serde::Deserialize;
use serde_json::json;
use stratus_core::names::FunctionRef;
use stratus_core::{limits, Error, Result};

use stratus_store::meta::{FunctionRow, Tx};

use super::function_not_found;
use crate::auth::Caller;
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{RawBody, Shared};

/// What a tagging request names.
enum Tagged {
    Function(String),
    CodeSigningConfig(String),
}

fn target(c: &Caller, arn: &str) -> Result<Tagged> {
    if arn.contains(":code-signing-config:") {
        return Ok(Tagged::CodeSigningConfig(arn.to_string()));
    }
    function(c, arn).map(Tagged::Function)
}

/// The tags of what `target` names.
fn tags_of(tx: &Tx, c: &Caller, target: &Tagged) -> Result<BTreeMap<String, String>> {
    match target {
        Tagged::Function(name) => Ok(row(tx, c, name)?.tags),
        Tagged::CodeSigningConfig(arn) => super::code_signing::tags_of(tx, arn),
    }
}

/// Changes the tags of what `target` names, within the resource's tag limit.
fn retag(
    tx: &Tx,
    c: &Caller,
    target: &Tagged,
    change: impl FnOnce(&mut BTreeMap<String, String>),
) -> Result<()> {
    match target {
        Tagged::Function(name) => {
            let mut row = row(tx, c, name)?;
            change(&mut row.tags);
            if row.tags.len() > limits::MAX_TAGS {
                return Err(Error::invalid("Number of tags exceeds resource tag limit."));
            }
            tx.put_function(&row)
        }
        Tagged::CodeSigningConfig(arn) => super::code_signing::retag(tx, arn, change),
    }
}

fn row(tx: &Tx, c: &Caller, name: &str) -> Result<FunctionRow> {
    tx.function(name)?
        .ok_or_else(|| function_not_found(&c.region, name, None))
}

/// Tags live on functions, addressed by unqualified ARN.
fn function(c: &Caller, arn: &str) -> Result<String> {
    if !arn.starts_with("arn:") {
        return Err(Error::constraint(arn, "resource", "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"));
    }
    let r = FunctionRef::parse(arn)?.resolve(&c.region, None)?;
    r.unqualified(
        "Tags on function aliases and versions are not supported. Please specify a function ARN.",
    )?;
    Ok(r.name)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    tags: Option<BTreeMap<String, String>>,
}

pub async fn tag_resource(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(arn): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: TagInput = parse(&body.0)?;
    let tags = input.tags.unwrap_or_default();
    let target = target(&c, &arn)?;
    s.stores
        .meta
        .tx(|tx| retag(tx, &c, &target, |t| t.extend(tags.clone())))?;
    Ok(no_content())
}

pub async fn list_tags(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(arn): Path<String>,
) -> ApiResult {
    let target = target(&c, &arn)?;
    let tags = s.stores.meta.tx(|tx| tags_of(tx, &c, &target))?;
    Ok(json(200, json!({ "Tags": tags })))
}

pub async fn untag_resource(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(arn): Path<String>,
    uri: Uri,
) -> ApiResult {
    let target = target(&c, &arn)?;
    // `tagKeys` repeats, which a map-shaped query extractor would lose.
    let keys: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("tagKeys="))
        .map(|k| {
            percent_encoding::percent_decode_str(k)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    s.stores.meta.tx(|tx| {
        retag(tx, &c, &target, |t| {
            for k in &keys {
                t.remove(k);
            }
        })
    })?;
    Ok(no_content())
}
