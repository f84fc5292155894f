//! GetTags, TagResource, UntagResource: the tags of an HTTP API or a stage, named by ARN
//! (`arn:aws:apigateway:<region>::/apis/<id>` or `.../apis/<id>/stages/<name>`). The tags
//! live on the resource itself, so GetApi and GetStage show the same ones.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::Uri;
use serde::Deserialize;
use serde_json::json;
use stratus_core::Result;
use stratus_store::meta::Tx;

use super::model::STAGE;
use super::{bad_request, parse, store};
use crate::wire::{json, no_content, ApiResult};
use crate::{RawBody, Shared};

/// API Gateway's limit on the tags of one resource.
const MAX_TAGS: usize = 50;

/// What a tag ARN names.
enum Tagged {
    Api(String),
    Stage(String, String),
}

fn target(arn: &str) -> Result<Tagged> {
    let invalid = || bad_request(format!("Invalid resource ARN: {arn}"));
    let path = arn
        .strip_prefix("arn:aws:apigateway:")
        .and_then(|rest| rest.split_once("::"))
        .map(|(_region, path)| path)
        .ok_or_else(invalid)?;
    match path.split('/').collect::<Vec<_>>()[..] {
        ["", "apis", id] if !id.is_empty() => Ok(Tagged::Api(id.to_string())),
        ["", "apis", id, "stages", name] if !id.is_empty() && !name.is_empty() => {
            Ok(Tagged::Stage(id.to_string(), name.to_string()))
        }
        _ => Err(invalid()),
    }
}

/// Applies `change` to the tags of what `arn` names, inside one transaction.
fn with_tags<T>(
    tx: &Tx,
    arn: &str,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<T>,
) -> Result<T> {
    match target(arn)? {
        Tagged::Api(id) => {
            let mut api = store::api(tx, &id)?;
            let out = change(&mut api.tags)?;
            tx.put_http_api(&id, &api)?;
            Ok(out)
        }
        Tagged::Stage(id, name) => {
            store::api(tx, &id)?;
            let mut stage = store::stage(tx, &id, &name)?;
            let out = change(&mut stage.tags)?;
            tx.put_http_api_item(&id, STAGE, &name, &stage)?;
            Ok(out)
        }
    }
}

pub async fn get_tags(State(s): State<Shared>, Path(arn): Path<String>) -> ApiResult {
    let tags = s
        .stores
        .meta
        .tx(|tx| with_tags(tx, &arn, |t| Ok(t.clone())))?;
    Ok(json(200, json!({ "tags": tags })))
}

#[derive(Deserialize)]
struct TagInput {
    tags: Option<BTreeMap<String, String>>,
}

pub async fn tag_resource(
    State(s): State<Shared>,
    Path(arn): Path<String>,
    axum::Extension(body): axum::Extension<RawBody>,
) -> ApiResult {
    let input: TagInput = parse(&body.0)?;
    let new = input
        .tags
        .ok_or_else(|| bad_request("Tags must not be null"))?;
    for (k, v) in &new {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(bad_request(format!("Invalid tag: {k}")).into());
        }
    }
    s.stores.meta.tx(|tx| {
        with_tags(tx, &arn, |tags| {
            let mut merged = tags.clone();
            merged.extend(new.clone());
            if merged.len() > MAX_TAGS {
                return Err(bad_request(format!(
                    "Too many tags: a resource can have at most {MAX_TAGS}"
                )));
            }
            *tags = merged;
            Ok(())
        })
    })?;
    Ok(json(201, json!({})))
}

/// `tagKeys` repeats in the query string, which a map extractor would collapse.
fn tag_keys(uri: &Uri) -> Vec<String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v.into_owned())
        .collect()
}

pub async fn untag_resource(
    State(s): State<Shared>,
    Path(arn): Path<String>,
    uri: Uri,
) -> ApiResult {
    let keys = tag_keys(&uri);
    if keys.is_empty() {
        return Err(bad_request("TagKeys must not be null").into());
    }
    s.stores.meta.tx(|tx| {
        with_tags(tx, &arn, |tags| {
            for k in &keys {
                tags.remove(k);
            }
            Ok(())
        })
    })?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_an_api_or_a_stage_and_nothing_else() {
        assert!(matches!(
            target("arn:aws:apigateway:us-east-1::/apis/abc").unwrap(),
            Tagged::Api(id) if id == "abc"
        ));
        assert!(matches!(
            target("arn:aws:apigateway:us-east-1::/apis/abc/stages/prod").unwrap(),
            Tagged::Stage(id, s) if id == "abc" && s == "prod"
        ));
        for bad in [
            "",
            "arn:aws:lambda:us-east-1::/apis/abc",
            "arn:aws:apigateway:us-east-1::/apis/",
            "arn:aws:apigateway:us-east-1::/apis/abc/routes/r",
            "arn:aws:apigateway:us-east-1::/apis/abc/stages/p/x",
        ] {
            assert!(target(bad).is_err(), "{bad}");
        }
    }
}
