//! PublishVersion and ListVersionsByFunction.

use axum::extract::{Extension, Path, Query, State};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::function::{self, FunctionConfig, LATEST};
use stratus_core::names::FunctionRef;
use stratus_core::{clock, limits, Error, Result};
use stratus_store::meta::Tx;

use super::render::{configuration, snap_state, Detail};
use super::{check_revision, function_not_found, marker, page_size, QueryMap};
use crate::auth::Caller;
use crate::wire::{json, parse, ApiResult};
use crate::{RawBody, Shared};

/// Publishes `$LATEST` inside a transaction. If nothing changed since the last published
/// version, that version is returned as it is (AWS's rule), whatever `description` says.
pub fn publish_in(
    tx: &Tx,
    region: &str,
    name: &str,
    description: Option<&str>,
    code_sha: Option<&str>,
    revision: Option<&str>,
) -> Result<FunctionConfig> {
    let mut row = tx
        .function(name)?
        .ok_or_else(|| function_not_found(region, name, None))?;
    let mut latest = tx
        .version(name, LATEST)?
        .ok_or_else(|| function_not_found(region, name, None))?;
    if let Some(sha) = code_sha {
        if sha != latest.code.sha256_b64 {
            return Err(Error::invalid(format!(
                "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
                latest.code.sha256_b64
            )));
        }
    }
    check_revision(revision, &latest.revision_id, "GetFunction/GetAlias")?;
    if let Some(last) = tx.last_published(name)? {
        if latest.same_content(&last) {
            return Ok(last);
        }
    }
    let mut version = latest.clone();
    version.version = row.next_version.to_string();
    version.source_description = Some(latest.description.clone());
    version.revision_id = function::new_revision_id();
    version.last_modified = clock::now_lambda();
    if let Some(d) = description {
        version.description = d.to_string();
    }
    tx.put_version(&version)?;
    super::runtime_management::copy_to_version(tx, name, &version.version)?;
    // Publishing changes $LATEST's RevisionId too, as on AWS.
    latest.revision_id = function::new_revision_id();
    tx.put_version(&latest)?;
    row.next_version += 1;
    tx.put_function(&row)?;
    Ok(version)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishInput {
    code_sha256: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
}

pub async fn publish_version(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: PublishInput = parse(&body.0)?;
    let r = FunctionRef::parse(&f)?.resolve(&c.region, None)?;
    if let Some(d) = &input.description {
        if d.chars().count() > 256 {
            return Err(Error::constraint(
                d,
                "description",
                "Member must have length less than or equal to 256",
            )
            .into());
        }
    }
    let v = s.stores.meta.tx(|tx| {
        publish_in(
            tx,
            &c.region,
            &r.name,
            input.description.as_deref(),
            input.code_sha256.as_deref(),
            input.revision_id.as_deref(),
        )
    })?;
    s.invoker.prepare_snapshot(&v, &c.region).await;
    let out = configuration(&v, &c.region, Some(&v.version), Detail::Settled);
    Ok(json(201, snap_state(out, s.invoker.snapshot_state(&v))))
}

pub async fn list_versions_by_function(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = FunctionRef::parse(&f)?.resolve(&c.region, None)?;
    let limit = page_size(&q, limits::MAX_PAGE)?;
    let after = marker::decode(q.get("Marker"))?;
    let versions = s.stores.meta.tx(|tx| {
        tx.function(&r.name)?
            .ok_or_else(|| function_not_found(&c.region, &r.name, None))?;
        tx.versions(&r.name)
    })?;
    let start = if after.is_empty() {
        0
    } else {
        versions
            .iter()
            .position(|v| v.version == after)
            .map_or(versions.len(), |i| i + 1)
    };
    let page: Vec<&FunctionConfig> = versions.iter().skip(start).take(limit).collect();
    let rendered: Vec<Value> = page
        .iter()
        .map(|v| configuration(v, &c.region, Some(&v.version), Detail::Listed))
        .collect();
    let mut out = json!({ "Versions": rendered });
    if start + page.len() < versions.len() {
        if let Some(last) = page.last() {
            out["NextMarker"] = json!(marker::encode(&last.version));
        }
    }
    Ok(json(200, out))
}
