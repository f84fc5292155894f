//! Code signing configurations (Create/Get/List/Update/Delete, ListFunctionsByCodeSigningConfig)
//! and a function's use of one (Put/Get/DeleteFunctionCodeSigningConfig, CreateFunction's
//! `CodeSigningConfigArn`).
//!
//! Stratus has no signing service, so no deployment package carries a signature it trusts:
//! a function whose configuration says `Enforce` refuses every new package, as AWS refuses an
//! unsigned one (`CodeVerificationFailedException`); with `Warn` (the default) packages deploy,
//! as on AWS. A configuration in use cannot be deleted.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_core::arn::function_arn;
use stratus_core::names::FunctionRef;
use stratus_core::{clock, Error, Kind, Result, ACCOUNT_ID};
use stratus_store::meta::Tx;

use super::{function_not_found, marker, page_size, ModelPattern, QueryMap};
use crate::auth::Caller;
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{RawBody, Shared};

/// The per-function document naming the configuration a function uses.
const KIND: &str = "code-signing-config";

/// A configuration as the API renders it (and as it is stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeSigningConfig {
    code_signing_config_id: String,
    code_signing_config_arn: String,
    description: String,
    allowed_publishers: Publishers,
    code_signing_policies: Policies,
    last_modified: String,
    /// Kept with the configuration, answered by ListTags only (not part of its rendering).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Publishers {
    signing_profile_version_arns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Policies {
    untrusted_artifact_on_deployment: String,
}

/// Create and Update share the members (all optional in Update).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigInput {
    description: Option<String>,
    allowed_publishers: Option<PublishersInput>,
    code_signing_policies: Option<PoliciesInput>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishersInput {
    signing_profile_version_arns: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoliciesInput {
    untrusted_artifact_on_deployment: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct FunctionUse {
    code_signing_config_arn: String,
}

static ARN_PATTERN: ModelPattern = ModelPattern::new(
    r"arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:code-signing-config:csc-[a-z0-9]{17}",
);
static PROFILE_PATTERN: ModelPattern = ModelPattern::new(
    r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)",
);

/// The id a configuration ARN names, after the model's pattern check.
fn id_of(arn: &str) -> Result<String> {
    if arn.len() > 200 || !ARN_PATTERN.matches(arn) {
        return Err(Error::constraint(
            arn,
            "codeSigningConfigArn",
            &ARN_PATTERN.rule(),
        ));
    }
    Ok(arn.rsplit(':').next().unwrap_or(arn).to_string())
}

fn not_found(arn: &str) -> Error {
    Error::not_found(format!(
        "The Lambda code signing configuration {arn} can not be found."
    ))
}

/// Loads configuration `arn`: AWS's `ResourceNotFoundException` when there is none.
fn load(tx: &Tx, arn: &str) -> Result<CodeSigningConfig> {
    let id = id_of(arn)?;
    tx.code_signing_config::<CodeSigningConfig>(&id)?
        .filter(|c| c.code_signing_config_arn == arn)
        .ok_or_else(|| not_found(arn))
}

fn new_id() -> String {
    format!(
        "csc-{}",
        stratus_core::ids::random_chars(b"0123456789abcdef", 17)
    )
}

fn check_description(d: &str) -> Result<()> {
    if d.chars().count() > 256 {
        return Err(Error::constraint(
            d,
            "description",
            "Member must have length less than or equal to 256",
        ));
    }
    Ok(())
}

fn check_publishers(p: Option<PublishersInput>) -> Result<Publishers> {
    let arns = p
        .and_then(|p| p.signing_profile_version_arns)
        .ok_or_else(|| {
            Error::validation(
                "1 validation error detected: Value null at \
             'allowedPublishers.signingProfileVersionArns' failed to satisfy constraint: \
             Member must not be null",
            )
        })?;
    let listed = format!("[{}]", arns.join(", "));
    let member = "allowedPublishers.signingProfileVersionArns";
    if arns.is_empty() {
        let rule = "Member must have length greater than or equal to 1";
        return Err(Error::constraint(listed, member, rule));
    }
    if arns.len() > 20 {
        let rule = "Member must have length less than or equal to 20";
        return Err(Error::constraint(listed, member, rule));
    }
    for (i, arn) in arns.iter().enumerate() {
        if arn.len() > 10_000 || !PROFILE_PATTERN.matches(arn) {
            return Err(Error::constraint(
                arn,
                &format!("{member}.{}.member", i + 1),
                &PROFILE_PATTERN.rule(),
            ));
        }
    }
    Ok(Publishers {
        signing_profile_version_arns: arns,
    })
}

fn check_policies(p: Option<PoliciesInput>) -> Result<Policies> {
    let policy = p
        .and_then(|p| p.untrusted_artifact_on_deployment)
        .unwrap_or_else(|| "Warn".into());
    if policy != "Warn" && policy != "Enforce" {
        return Err(Error::constraint(
            policy,
            "codeSigningPolicies.untrustedArtifactOnDeployment",
            "Member must satisfy enum value set: [Warn, Enforce]",
        ));
    }
    Ok(Policies {
        untrusted_artifact_on_deployment: policy,
    })
}

fn rendered(c: &CodeSigningConfig) -> Value {
    json!({ "CodeSigningConfig": shown(c) })
}

/// A configuration as the API shows it: without its tags.
fn shown(c: &CodeSigningConfig) -> Value {
    let mut v = json!(c);
    if let Some(m) = v.as_object_mut() {
        m.remove("Tags");
    }
    v
}

pub async fn create_code_signing_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: ConfigInput = parse(&body.0)?;
    if input.allowed_publishers.is_none() {
        return Err(Error::validation(
            "1 validation error detected: Value null at 'allowedPublishers' failed to satisfy \
             constraint: Member must not be null",
        )
        .into());
    }
    let description = input.description.unwrap_or_default();
    check_description(&description)?;
    let tags = input.tags.unwrap_or_default();
    super::functions::validate_tags(&tags)?;
    let id = new_id();
    let config = CodeSigningConfig {
        code_signing_config_arn: format!(
            "arn:aws:lambda:{}:{ACCOUNT_ID}:code-signing-config:{id}",
            c.region
        ),
        code_signing_config_id: id,
        description,
        allowed_publishers: check_publishers(input.allowed_publishers)?,
        code_signing_policies: check_policies(input.code_signing_policies)?,
        last_modified: clock::now_lambda(),
        tags,
    };
    s.stores
        .meta
        .tx(|tx| tx.put_code_signing_config(&config.code_signing_config_id, &config))?;
    Ok(json(201, rendered(&config)))
}

pub async fn get_code_signing_config(
    State(s): State<Shared>,
    Path(arn): Path<String>,
) -> ApiResult {
    let config = s.stores.meta.tx(|tx| load(tx, &arn))?;
    Ok(json(200, rendered(&config)))
}

pub async fn update_code_signing_config(
    State(s): State<Shared>,
    Path(arn): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: ConfigInput = parse(&body.0)?;
    if let Some(d) = &input.description {
        check_description(d)?;
    }
    let publishers = input
        .allowed_publishers
        .map(|p| check_publishers(Some(p)))
        .transpose()?;
    // A policies member without a policy keeps the current one (an omission must not relax
    // `Enforce` to the default).
    let policies = input
        .code_signing_policies
        .filter(|p| p.untrusted_artifact_on_deployment.is_some())
        .map(|p| check_policies(Some(p)))
        .transpose()?;
    let config = s.stores.meta.tx(|tx| {
        let mut config = load(tx, &arn)?;
        if let Some(d) = &input.description {
            config.description.clone_from(d);
        }
        if let Some(p) = &publishers {
            config.allowed_publishers = p.clone();
        }
        if let Some(p) = &policies {
            config.code_signing_policies = p.clone();
        }
        config.last_modified = clock::now_lambda();
        tx.put_code_signing_config(&config.code_signing_config_id, &config)?;
        Ok(config)
    })?;
    Ok(json(200, rendered(&config)))
}

/// The functions using configuration `arn`, by name.
fn users(tx: &Tx, arn: &str) -> Result<Vec<String>> {
    let uses: Vec<(String, String, FunctionUse)> = tx.documents_of_kind(KIND)?;
    Ok(uses
        .into_iter()
        .filter(|(_, _, u)| u.code_signing_config_arn == arn)
        .map(|(function, _, _)| function)
        .collect())
}

pub async fn delete_code_signing_config(
    State(s): State<Shared>,
    Path(arn): Path<String>,
) -> ApiResult {
    s.stores.meta.tx(|tx| {
        let config = load(tx, &arn)?;
        if !users(tx, &arn)?.is_empty() {
            return Err(Error::conflict(format!(
                "The code signing configuration {arn} cannot be deleted because it is used by \
                 one or more functions."
            )));
        }
        tx.delete_code_signing_config(&config.code_signing_config_id)
    })?;
    Ok(no_content())
}

pub async fn list_code_signing_configs(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let limit = page_size(&q, 50)?;
    let after = marker::decode(q.get("Marker"))?;
    let all: Vec<CodeSigningConfig> = s.stores.meta.tx(|tx| tx.code_signing_configs())?;
    let region = format!("arn:aws:lambda:{}:", c.region);
    let here: Vec<CodeSigningConfig> = all
        .into_iter()
        .filter(|c| c.code_signing_config_arn.starts_with(&region))
        .collect();
    let (page, next) = marker::page(here, |c| &c.code_signing_config_id, &after, limit);
    let shown: Vec<Value> = page.iter().map(shown).collect();
    let mut out = json!({ "CodeSigningConfigs": shown });
    if let Some(next) = next {
        out["NextMarker"] = json!(next);
    }
    Ok(json(200, out))
}

pub async fn list_functions_by_code_signing_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(arn): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let limit = page_size(&q, 50)?;
    let after = marker::decode(q.get("Marker"))?;
    let names = s.stores.meta.tx(|tx| {
        load(tx, &arn)?;
        users(tx, &arn)
    })?;
    let (page, next) = marker::page(names, String::as_str, &after, limit);
    let arns: Vec<String> = page
        .iter()
        .map(|n| function_arn(&c.region, n, None))
        .collect();
    let mut out = json!({ "FunctionArns": arns });
    if let Some(next) = next {
        out["NextMarker"] = json!(next);
    }
    Ok(json(200, out))
}

/// The configuration a CodeSigningConfigArn input names, for a function to use:
/// `CodeSigningConfigNotFoundException` when there is none.
pub fn for_function(tx: &Tx, arn: &str) -> Result<CodeSigningConfig> {
    load(tx, arn).map_err(|e| match e.kind {
        Kind::NotFound => Error::new(
            "CodeSigningConfigNotFoundException",
            Kind::NotFound,
            format!(
                "The code signing configuration cannot be found. Check that the provided \
                 configuration is not deleted: {arn}."
            ),
        ),
        _ => e,
    })
}

/// Records that function `name` uses `config`.
pub fn attach(tx: &Tx, name: &str, config: &CodeSigningConfig) -> Result<()> {
    let doc = FunctionUse {
        code_signing_config_arn: config.code_signing_config_arn.clone(),
    };
    tx.put_document(name, KIND, "", &doc)
}

/// Whether new code (a package or layers) may be deployed to function `name`: refused when
/// the configuration it uses (or is about to use) enforces signatures, as none is trusted
/// here. `named` is how AWS's message names the function (CreateFunction: its name; later
/// deployments: its ARN).
pub fn check_deployment(
    tx: &Tx,
    named: &str,
    name: &str,
    config: Option<&CodeSigningConfig>,
) -> Result<()> {
    let current = match config {
        Some(c) => Some(c.clone()),
        None => match tx.document::<FunctionUse>(name, KIND, "")? {
            Some(u) => tx.code_signing_config::<CodeSigningConfig>(
                id_of(&u.code_signing_config_arn)?.as_str(),
            )?,
            None => None,
        },
    };
    let enforced = current
        .is_some_and(|c| c.code_signing_policies.untrusted_artifact_on_deployment == "Enforce");
    if enforced {
        return Err(Error::new(
            "CodeVerificationFailedException",
            Kind::InvalidInput,
            format!(
                "Lambda cannot deploy the function. The function or layer might be signed using \
                 a signature that the client is not configured to accept. Check the provided \
                 signature for {named}."
            ),
        ));
    }
    Ok(())
}

/// [`check_deployment`] for new code of an existing function (UpdateFunctionCode, its dry run,
/// layers added), whose message names the function by ARN.
pub fn check_new_code(tx: &Tx, region: &str, name: &str) -> Result<()> {
    check_deployment(tx, &function_arn(region, name, None), name, None)
}

/// The tags of configuration `arn` (ListTags).
pub fn tags_of(tx: &Tx, arn: &str) -> Result<BTreeMap<String, String>> {
    Ok(load(tx, arn)?.tags)
}

/// Changes the tags of configuration `arn` (TagResource, UntagResource).
pub fn retag(tx: &Tx, arn: &str, change: impl FnOnce(&mut BTreeMap<String, String>)) -> Result<()> {
    let mut config = load(tx, arn)?;
    change(&mut config.tags);
    super::functions::validate_tags(&config.tags)?;
    tx.put_code_signing_config(&config.code_signing_config_id, &config)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    code_signing_config_arn: Option<String>,
}

pub async fn put_function_code_signing_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: PutInput = parse(&body.0)?;
    let arn = input.code_signing_config_arn.ok_or_else(|| {
        Error::validation(
            "1 validation error detected: Value null at 'codeSigningConfigArn' failed to \
             satisfy constraint: Member must not be null",
        )
    })?;
    let name = FunctionRef::parse(&f)?.resolve(&c.region, None)?.name;
    s.stores.meta.tx(|tx| {
        let config = for_function(tx, &arn)?;
        tx.function(&name)?
            .ok_or_else(|| function_not_found(&c.region, &name, None))?;
        attach(tx, &name, &config)
    })?;
    Ok(json(
        200,
        json!({ "CodeSigningConfigArn": arn, "FunctionName": name }),
    ))
}

/// A function without a configuration answers an empty object, as on AWS (Terraform's
/// provider reads it on every refresh of `aws_lambda_function`).
pub async fn get_function_code_signing_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
) -> ApiResult {
    let name = FunctionRef::parse(&f)?.resolve(&c.region, None)?.name;
    let used: Option<FunctionUse> = s.stores.meta.tx(|tx| {
        tx.function(&name)?
            .ok_or_else(|| function_not_found(&c.region, &name, None))?;
        tx.document(&name, KIND, "")
    })?;
    Ok(json(
        200,
        match used {
            Some(u) => json!({
                "CodeSigningConfigArn": u.code_signing_config_arn,
                "FunctionName": name,
            }),
            None => json!({}),
        },
    ))
}

pub async fn delete_function_code_signing_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
) -> ApiResult {
    let name = FunctionRef::parse(&f)?.resolve(&c.region, None)?.name;
    s.stores.meta.tx(|tx| {
        tx.function(&name)?
            .ok_or_else(|| function_not_found(&c.region, &name, None))?;
        tx.delete_document(&name, KIND, "")
    })?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_arns_follow_the_models_patterns() {
        let id = new_id();
        let arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT_ID}:code-signing-config:{id}");
        assert_eq!(id_of(&arn).unwrap(), id);
        let e = id_of("arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-short")
            .unwrap_err();
        assert_eq!(e.code, "ValidationException");
    }

    #[test]
    fn publishers_and_policies_are_checked_as_the_model_says() {
        let p = |arns: Vec<&str>| {
            check_publishers(Some(PublishersInput {
                signing_profile_version_arns: Some(arns.into_iter().map(String::from).collect()),
            }))
        };
        let good = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/p/abc";
        assert!(p(vec![good]).is_ok());
        assert_eq!(p(vec![]).unwrap_err().code, "ValidationException");
        assert_eq!(p(vec![good; 21]).unwrap_err().code, "ValidationException");
        let e = p(vec![good, "not-an-arn"]).unwrap_err();
        assert!(
            e.message.contains("signingProfileVersionArns.2.member"),
            "{}",
            e.message
        );
        let policy = |v: &str| {
            check_policies(Some(PoliciesInput {
                untrusted_artifact_on_deployment: Some(v.into()),
            }))
        };
        assert_eq!(
            policy("Enforce").unwrap().untrusted_artifact_on_deployment,
            "Enforce"
        );
        assert_eq!(policy("Block").unwrap_err().code, "ValidationException");
        assert_eq!(
            check_policies(None)
                .unwrap()
                .untrusted_artifact_on_deployment,
            "Warn"
        );
    }
}
