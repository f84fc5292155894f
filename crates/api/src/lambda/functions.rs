//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, UpdateFunctionCode,
//! UpdateFunctionConfiguration, DeleteFunction.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::function::{self, CodeRef, FunctionConfig, Settings, LATEST};
use stratus_core::names::{validate_bare_name, FunctionRef, Qualifier};
use stratus_core::{clock, limits, Error, Result};
use stratus_store::meta::FunctionRow;

use super::render::{configuration, snap_state, Detail};
use super::{
    code_signing, function_not_found, function_ref, layers, load, marker, page_size, versions,
    QueryMap,
};
use crate::auth::Caller;
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{code_url, RawBody, Shared};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeInput {
    pub zip_file: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    function_name: Option<String>,
    code: Option<CodeInput>,
    #[serde(default)]
    publish: bool,
    package_type: Option<String>,
    architectures: Option<Vec<String>>,
    tags: Option<BTreeMap<String, String>>,
    code_signing_config_arn: Option<String>,
    #[serde(flatten)]
    settings: Settings,
}

/// The zip a request supplies: inline, or an object in one of this platform's buckets.
pub(crate) async fn code_bytes(s: &Shared, code: &CodeInput) -> Result<Vec<u8>> {
    if code.image_uri.is_some() {
        return Err(Error::invalid(
            "Container images are not supported by this platform; use PackageType Zip.",
        ));
    }
    if let Some(z) = &code.zip_file {
        return base64::engine::general_purpose::STANDARD
            .decode(z)
            .map_err(|_| Error::invalid("Could not unzip uploaded file. Please check your file, then try to upload again."));
    }
    if let (Some(bucket), Some(key)) = (&code.s3_bucket, &code.s3_key) {
        let get_error = |code: &str, msg: &str| {
            Error::invalid(format!(
                "Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {msg}"
            ))
        };
        let exists = s.stores.objects.bucket_exists(bucket).map_err(|e| {
            tracing::error!(%e, bucket, "reading code from the object store");
            Error::service()
        })?;
        if !exists {
            return Err(get_error(
                "NoSuchBucket",
                "The specified bucket does not exist",
            ));
        }
        return match s.stores.objects.read_object(bucket, key).await {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(get_error("NoSuchKey", "The specified key does not exist.")),
            Err(e) => {
                tracing::error!(%e, bucket, key, "reading code from the object store");
                Err(Error::service())
            }
        };
    }
    Err(Error::invalid("Please provide a source for function code."))
}

pub(crate) fn validate_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > limits::MAX_TAGS {
        return Err(Error::invalid("Number of tags exceeds resource tag limit."));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{{{k}={v}}}' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"
            )));
        }
    }
    Ok(())
}

/// The configuration of a new function before its settings are applied.
fn blank(name: &str, code: CodeRef, architectures: Vec<String>) -> FunctionConfig {
    FunctionConfig {
        name: name.to_string(),
        version: LATEST.to_string(),
        runtime: None,
        role: String::new(),
        handler: None,
        description: String::new(),
        timeout: limits::DEFAULT_TIMEOUT,
        memory_size: limits::DEFAULT_MEMORY,
        environment: None,
        architectures,
        ephemeral_storage: limits::MIN_EPHEMERAL,
        package_type: "Zip".into(),
        tracing_mode: "PassThrough".into(),
        dead_letter_target: None,
        kms_key_arn: None,
        log_format: "Text".into(),
        log_group: None,
        code,
        last_modified: clock::now_lambda(),
        revision_id: function::new_revision_id(),
        source_description: None,
        layers: Vec::new(),
        snap_start: Default::default(),
    }
}

pub async fn create_function(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: CreateInput = parse(&body.0)?;
    let raw_name = input
        .function_name
        .as_deref()
        .ok_or_else(|| Error::invalid("FunctionName is required"))?;
    let fref = FunctionRef::parse(raw_name)?.resolve(&c.region, None)?;
    validate_bare_name(&fref.name)?;
    let name = fref.name;
    if input.package_type.as_deref().is_some_and(|p| p != "Zip") {
        return Err(Error::invalid(
            "Container images are not supported by this platform; use PackageType Zip.",
        )
        .into());
    }
    if input.settings.role.is_none() {
        return Err(Error::invalid("Role is required").into());
    }
    if input.settings.runtime.is_none() || input.settings.handler.is_none() {
        return Err(Error::invalid("Runtime and Handler are mandatory parameters for functions created with deployment packages.").into());
    }
    let architectures = input
        .architectures
        .clone()
        .unwrap_or_else(|| vec!["x86_64".into()]);
    function::validate_architectures(&architectures)?;
    let tags = input.tags.clone().unwrap_or_default();
    validate_tags(&tags)?;
    // Validate every setting before anything is stored.
    let placeholder = CodeRef {
        sha256_hex: String::new(),
        sha256_b64: String::new(),
        size: 0,
    };
    let mut cfg = blank(&name, placeholder, architectures);
    input.settings.apply(&mut cfg)?;
    crate::function_credentials::check_role(&s, &c, &cfg.role)?;
    let zip = code_bytes(
        &s,
        input
            .code
            .as_ref()
            .ok_or_else(|| Error::invalid("Code is required"))?,
    )
    .await?;
    cfg.code = s.stores.code.put_zip(&zip).await?;
    let code_unzipped = match &input.settings.layers {
        Some(_) => s.stores.code.unzipped_size(&cfg.code.sha256_hex).await?,
        None => 0,
    };

    let (cfg, published) = s.stores.meta.tx(|tx| {
        if tx.function(&name)?.is_some() {
            return Err(Error::conflict(format!("Function already exist: {name}")));
        }
        let mut cfg = cfg.clone();
        if let Some(arns) = &input.settings.layers {
            cfg.layers = layers::resolve(tx, &c.region, arns)?;
            layers::check_total_size(code_unzipped, &cfg.layers)?;
        }
        let signing = match &input.code_signing_config_arn {
            Some(arn) => Some(code_signing::for_function(tx, arn)?),
            None => None,
        };
        code_signing::check_deployment(tx, &name, &name, signing.as_ref())?;
        tx.put_function(&FunctionRow {
            name: name.clone(),
            next_version: 1,
            tags: tags.clone(),
            ..Default::default()
        })?;
        tx.put_version(&cfg)?;
        if let Some(config) = &signing {
            code_signing::attach(tx, &name, config)?;
        }
        if input.publish {
            return versions::publish_in(tx, &c.region, &name, None, None, None)
                .map(|v| (cfg, Some(v)));
        }
        Ok((cfg, None))
    })?;
    tracing::info!(function = %name, "created function");
    let mut out = configuration(&cfg, &c.region, None, Detail::Created);
    if let Some(v) = published {
        s.invoker.prepare_snapshot(&v, &c.region).await;
        // AWS quirk kept for fidelity: the version is "1" but the ARN stays unqualified.
        out["Version"] = json!(v.version);
    }
    Ok(json(201, out))
}

pub async fn get_function(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let (cfg, row) = s.stores.meta.tx(|tx| {
        let row = tx
            .function(&r.name)?
            .ok_or_else(|| function_not_found(&c.region, &r.name, r.qualifier.as_deref()))?;
        Ok((load(tx, &c.region, &r.name, r.qualifier.as_deref())?, row))
    })?;
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:4566");
    let mut out = json!({
        "Configuration": snap_state(
            configuration(&cfg, &c.region, r.qualifier.as_deref(), Detail::Settled),
            s.invoker.snapshot_state(&cfg),
        ),
        "Code": { "RepositoryType": "S3", "Location": code_url::link(&s.config.url_key, host, &cfg.code.sha256_hex) },
    });
    if !row.tags.is_empty() {
        out["Tags"] = json!(row.tags);
    }
    if let Some(n) = row.reserved_concurrency {
        out["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(json(200, out))
}

pub async fn get_function_configuration(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let cfg = s
        .stores
        .meta
        .tx(|tx| load(tx, &c.region, &r.name, r.qualifier.as_deref()))?;
    let out = configuration(&cfg, &c.region, r.qualifier.as_deref(), Detail::Settled);
    Ok(json(200, snap_state(out, s.invoker.snapshot_state(&cfg))))
}

pub async fn list_functions(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let limit = page_size(&q, limits::MAX_PAGE)?;
    let after = marker::decode(q.get("Marker"))?;
    let all = match q.get("FunctionVersion").map(String::as_str) {
        None => false,
        Some("ALL") => true,
        Some(other) => {
            return Err(Error::constraint(
                other,
                "functionVersion",
                "Member must satisfy enum value set: [ALL]",
            )
            .into())
        }
    };
    let (configs, next) = s.stores.meta.tx(|tx| {
        let mut page = if all {
            let (name, num) = after.split_once('\u{0}').unwrap_or(("", "-1"));
            tx.all_versions_after((name, num.parse().unwrap_or(-1)), limit + 1)?
        } else {
            tx.latest_after(&after, limit + 1)?
        };
        let next = (page.len() > limit).then(|| {
            page.truncate(limit);
            let last = page.last().expect("non-empty page");
            let num = if last.is_latest() {
                "0".to_string()
            } else {
                last.version.clone()
            };
            marker::encode(&if all {
                format!("{}\u{0}{num}", last.name)
            } else {
                last.name.clone()
            })
        });
        Ok((page, next))
    })?;
    let functions: Vec<Value> = configs
        .iter()
        .map(|cfg| {
            let q = (all || !cfg.is_latest()).then_some(cfg.version.as_str());
            configuration(cfg, &c.region, q, Detail::Listed)
        })
        .collect();
    let mut out = json!({ "Functions": functions });
    if let Some(m) = next {
        out["NextMarker"] = json!(m);
    }
    Ok(json(200, out))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateCodeInput {
    #[serde(flatten)]
    code: CodeInput,
    #[serde(default)]
    publish: bool,
    #[serde(default)]
    dry_run: bool,
    revision_id: Option<String>,
    architectures: Option<Vec<String>>,
}

pub async fn update_function_code(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: UpdateCodeInput = parse(&body.0)?;
    let r = FunctionRef::parse(&f)?.resolve(&c.region, None)?;
    if let Some(a) = &input.architectures {
        function::validate_architectures(a)?;
    }
    let current = s.stores.meta.tx(|tx| load(tx, &c.region, &r.name, None))?;
    super::check_revision(
        input.revision_id.as_deref(),
        &current.revision_id,
        "GetFunction/GetAlias",
    )?;
    let zip = code_bytes(&s, &input.code).await?;
    if input.dry_run {
        // A dry run is checked as the real update would be.
        s.stores
            .meta
            .tx(|tx| code_signing::check_new_code(tx, &c.region, &r.name))?;
        return Ok(json(
            200,
            configuration(&current, &c.region, None, Detail::Settled),
        ));
    }
    let code = s.stores.code.put_zip(&zip).await?;
    // Measured only when layers share the 250 MB with the code.
    let code_unzipped = if current.layers.is_empty() {
        0
    } else {
        s.stores.code.unzipped_size(&code.sha256_hex).await?
    };
    let (cfg, published) = s.stores.meta.tx(|tx| {
        let mut cfg = load(tx, &c.region, &r.name, None)?;
        super::check_revision(
            input.revision_id.as_deref(),
            &cfg.revision_id,
            "GetFunction/GetAlias",
        )?;
        layers::check_total_size(code_unzipped, &cfg.layers)?;
        code_signing::check_new_code(tx, &c.region, &r.name)?;
        cfg.code = code.clone();
        if let Some(a) = &input.architectures {
            cfg.architectures = a.clone();
        }
        cfg.last_modified = clock::now_lambda();
        cfg.revision_id = function::new_revision_id();
        tx.put_version(&cfg)?;
        let published = if input.publish {
            Some(versions::publish_in(
                tx, &c.region, &r.name, None, None, None,
            )?)
        } else {
            None
        };
        Ok((cfg, published))
    })?;
    s.invoker.engine().retire(&r.name, Some(LATEST));
    let out = match published {
        Some(v) => {
            s.invoker.prepare_snapshot(&v, &c.region).await;
            let out = configuration(&v, &c.region, Some(&v.version), Detail::Updated);
            snap_state(out, s.invoker.snapshot_state(&v))
        }
        None => configuration(&cfg, &c.region, None, Detail::Updated),
    };
    Ok(json(200, out))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateConfigInput {
    revision_id: Option<String>,
    #[serde(flatten)]
    settings: Settings,
}

pub async fn update_function_configuration(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: UpdateConfigInput = parse(&body.0)?;
    let r = FunctionRef::parse(&f)?.resolve(&c.region, None)?;
    if let Some(role) = input.settings.role.as_deref() {
        crate::function_credentials::check_role(&s, &c, role)?;
    }
    // The code's unpacked size, for the limit on code and layers together.
    let code_unzipped = match &input.settings.layers {
        Some(_) => {
            let current = s.stores.meta.tx(|tx| load(tx, &c.region, &r.name, None))?;
            s.stores
                .code
                .unzipped_size(&current.code.sha256_hex)
                .await?
        }
        None => 0,
    };
    let cfg = s.stores.meta.tx(|tx| {
        let mut cfg = load(tx, &c.region, &r.name, None)?;
        super::check_revision(
            input.revision_id.as_deref(),
            &cfg.revision_id,
            "GetFunction/GetAlias",
        )?;
        let runtime_before = cfg.runtime.clone();
        input.settings.apply(&mut cfg)?;
        super::runtime_management::check_runtime_change(
            tx,
            &r.name,
            runtime_before.as_deref(),
            cfg.runtime.as_deref(),
        )?;
        if let Some(arns) = &input.settings.layers {
            let before = std::mem::take(&mut cfg.layers);
            cfg.layers = layers::resolve(tx, &c.region, arns)?;
            layers::check_total_size(code_unzipped, &cfg.layers)?;
            // A layer is code: one not already there is checked as a package is.
            if cfg.layers.iter().any(|l| !before.contains(l)) {
                code_signing::check_new_code(tx, &c.region, &r.name)?;
            }
        }
        cfg.last_modified = clock::now_lambda();
        cfg.revision_id = function::new_revision_id();
        tx.put_version(&cfg)?;
        Ok(cfg)
    })?;
    s.invoker.engine().retire(&r.name, Some(LATEST));
    Ok(json(
        200,
        configuration(&cfg, &c.region, None, Detail::Updated),
    ))
}

pub async fn delete_function(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let qualifier = r.qualifier.clone();
    s.stores.meta.tx(|tx| {
        if tx.function(&r.name)?.is_none() {
            return Err(function_not_found(&c.region, &r.name, qualifier.as_deref()));
        }
        match Qualifier::parse(qualifier.as_deref()) {
            _ if qualifier.is_none() => tx.delete_function(&r.name),
            Qualifier::Latest => Err(Error::invalid(
                "$LATEST version cannot be deleted without deleting the function.",
            )),
            Qualifier::Alias(_) => Err(Error::invalid(
                "Deletion of aliases is not currently supported.",
            )),
            Qualifier::Version(n) => {
                let v = n.to_string();
                tx.version(&r.name, &v)?
                    .ok_or_else(|| function_not_found(&c.region, &r.name, Some(&v)))?;
                let users: Vec<String> = tx
                    .aliases(&r.name)?
                    .into_iter()
                    .filter(|a| a.function_version == v || a.weights.contains_key(&v))
                    .map(|a| a.name)
                    .collect();
                if !users.is_empty() {
                    return Err(Error::conflict(format!(
                        "Unable to delete version because the following aliases reference it: [{}]",
                        users.join(", ")
                    )));
                }
                tx.delete_version(&r.name, &v)
            }
        }
    })?;
    s.invoker.engine().retire(&r.name, qualifier.as_deref());
    tracing::info!(function = %r.name, qualifier = ?qualifier, "deleted");
    Ok(no_content())
}
