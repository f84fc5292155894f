//! Lambda layers: PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers,
//! ListLayerVersions, DeleteLayerVersion, and the layer version's permissions
//! (AddLayerVersionPermission, GetLayerVersionPolicy, RemoveLayerVersionPermission). A layer's
//! zip is validated and stored as a function's is (content-addressed in the code store, so
//! every node reaches it through the blob store); its metadata is one document per version.
//! What a function does with its layers is [`resolve`]'s and the engine's.

use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use stratus_core::function::new_revision_id;
use stratus_core::layer::{self, LayerRef};
use stratus_core::{clock, limits, Error, Result};
use stratus_store::meta::Tx;

use super::functions::{code_bytes, CodeInput};
use super::{check_revision, marker, QueryMap};
use crate::auth::Caller;
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{code_url, RawBody, Shared};

/// A layer version as stored: what the API renders, the package, and its permissions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerVersion {
    pub name: String,
    pub version: u64,
    pub description: String,
    pub license_info: Option<String>,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub created: String,
    pub sha256_hex: String,
    pub sha256_b64: String,
    pub code_size: u64,
    pub unzipped_size: u64,
    #[serde(default)]
    pub statements: Vec<Value>,
    #[serde(default)]
    pub policy_revision: Option<String>,
}

impl LayerVersion {
    /// The reference a function version keeps.
    pub fn reference(&self) -> LayerRef {
        LayerRef {
            name: self.name.clone(),
            version: self.version,
            sha256_hex: self.sha256_hex.clone(),
            code_size: self.code_size,
            unzipped_size: self.unzipped_size,
        }
    }

    /// A LayerVersionsListItem (the fields every rendering shares).
    fn list_item(&self, region: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "LayerVersionArn".into(),
            json!(layer::layer_version_arn(region, &self.name, self.version)),
        );
        m.insert("Version".into(), json!(self.version));
        m.insert("Description".into(), json!(self.description));
        m.insert("CreatedDate".into(), json!(self.created));
        if !self.compatible_runtimes.is_empty() {
            m.insert("CompatibleRuntimes".into(), json!(self.compatible_runtimes));
        }
        if let Some(l) = &self.license_info {
            m.insert("LicenseInfo".into(), json!(l));
        }
        if !self.compatible_architectures.is_empty() {
            m.insert(
                "CompatibleArchitectures".into(),
                json!(self.compatible_architectures),
            );
        }
        m
    }

    /// GetLayerVersion's (and PublishLayerVersion's) response.
    fn render(&self, region: &str, key: &[u8], host: &str) -> Value {
        let mut m = self.list_item(region);
        m.insert(
            "LayerArn".into(),
            json!(layer::layer_arn(region, &self.name)),
        );
        m.insert(
            "Content".into(),
            json!({
                "Location": code_url::link(key, host, &self.sha256_hex),
                "CodeSha256": self.sha256_b64,
                "CodeSize": self.code_size,
            }),
        );
        Value::Object(m)
    }

    fn matches(&self, runtime: Option<&String>, arch: Option<&String>) -> bool {
        runtime.is_none_or(|r| self.compatible_runtimes.contains(r))
            && arch.is_none_or(|a| self.compatible_architectures.contains(a))
    }
}

fn host(headers: &HeaderMap) -> &str {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:4566")
}

/// AWS's answer for a layer version that does not exist (or was deleted).
fn not_found() -> Error {
    Error::not_found("The resource you requested does not exist.")
}

/// A `VersionNumber` path argument.
fn version_number(raw: &str) -> Result<u64> {
    raw.parse::<u64>()
        .map_err(|_| Error::constraint(raw, "versionNumber", "Member must be a number"))
}

fn load(tx: &Tx, name: &str, version: u64) -> Result<LayerVersion> {
    tx.layer_version(name, version)?.ok_or_else(not_found)
}

/// The layer versions a function's `Layers` names, in order, with AWS's errors: at most five,
/// well-formed, each existing in this account and region.
pub fn resolve(tx: &Tx, region: &str, arns: &[String]) -> Result<Vec<LayerRef>> {
    layer::check_function_layers(arns)?;
    arns.iter()
        .map(|arn| {
            let (r, account, name, version) =
                layer::parse_version_arn(arn).ok_or_else(|| layer::missing_version(arn))?;
            if r != region || account != stratus_core::ACCOUNT_ID {
                return Err(layer::missing_version(arn));
            }
            tx.layer_version::<LayerVersion>(&name, version)?
                .map(|l| l.reference())
                .ok_or_else(|| layer::missing_version(arn))
        })
        .collect()
}

/// Refuses a function whose code and layers unpack to more than 250 MB, in AWS's words.
pub fn check_total_size(code_unzipped: u64, layers: &[LayerRef]) -> Result<()> {
    let total = code_unzipped + layers.iter().map(|l| l.unzipped_size).sum::<u64>();
    if total > limits::MAX_UNZIPPED_BYTES {
        return Err(Error::invalid(format!(
            "Function code combined with layers exceeds the maximum allowed size of {} bytes. The actual size is {total} bytes.",
            limits::MAX_UNZIPPED_BYTES
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishInput {
    content: Option<CodeInput>,
    description: Option<String>,
    compatible_runtimes: Option<Vec<String>>,
    compatible_architectures: Option<Vec<String>>,
    license_info: Option<String>,
}

pub async fn publish_layer_version(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(l): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let name = layer::parse_name(&l)?;
    let input: PublishInput = parse(&body.0)?;
    let runtimes = input.compatible_runtimes.unwrap_or_default();
    let architectures = input.compatible_architectures.unwrap_or_default();
    let description = input.description.unwrap_or_default();
    layer::check_publish(
        &runtimes,
        &architectures,
        &description,
        input.license_info.as_deref().unwrap_or(""),
    )?;
    let content = input
        .content
        .ok_or_else(|| Error::invalid("Content is required"))?;
    let zip = code_bytes(&s, &content).await?;
    // Validated (and unpacked) before a number is taken: a bad zip publishes nothing.
    let code = s.stores.code.put_zip(&zip).await?;
    let unzipped_size = s.stores.code.unzipped_size(&code.sha256_hex).await?;
    let stored = s.stores.meta.tx(|tx| {
        let version = tx.take_layer_version(&name)?;
        let lv = LayerVersion {
            name: name.clone(),
            version,
            description: description.clone(),
            license_info: input.license_info.clone(),
            compatible_runtimes: runtimes.clone(),
            compatible_architectures: architectures.clone(),
            created: clock::now_lambda(),
            sha256_hex: code.sha256_hex.clone(),
            sha256_b64: code.sha256_b64.clone(),
            code_size: code.size,
            unzipped_size,
            statements: Vec::new(),
            policy_revision: None,
        };
        tx.put_layer_version(&name, version, &lv)?;
        Ok(lv)
    })?;
    tracing::info!(layer = %name, version = stored.version, "published layer version");
    Ok(json(
        201,
        stored.render(&c.region, &s.config.url_key, host(&headers)),
    ))
}

pub async fn get_layer_version(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path((l, v)): Path<(String, String)>,
) -> ApiResult {
    let name = layer::parse_name(&l)?;
    let version = version_number(&v)?;
    let lv = s.stores.meta.tx(|tx| load(tx, &name, version))?;
    Ok(json(
        200,
        lv.render(&c.region, &s.config.url_key, host(&headers)),
    ))
}

/// `GET /2018-10-31/layers`: ListLayers, or GetLayerVersionByArn when `find=LayerVersion`.
pub async fn list_layers(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    if q.get("find").map(String::as_str) == Some("LayerVersion") {
        return get_layer_version_by_arn(&s, &c, &headers, &q);
    }
    let limit = page_size(&q)?;
    let after = marker::decode(q.get("Marker"))?;
    let (runtime, arch) = filters(&q)?;
    let all: Vec<(String, LayerVersion)> = s.stores.meta.tx(|tx| tx.all_layer_versions())?;
    // The newest matching version of each layer, by name.
    let mut latest: Vec<&LayerVersion> = Vec::new();
    for (name, lv) in &all {
        let taken = latest.last().is_some_and(|l| &l.name == name);
        if !taken && name.as_str() > after.as_str() && lv.matches(runtime, arch) {
            latest.push(lv);
        }
    }
    let next = (latest.len() > limit).then(|| marker::encode(&latest[limit - 1].name));
    let layers: Vec<Value> = latest
        .iter()
        .take(limit)
        .map(|lv| {
            json!({
                "LayerName": lv.name,
                "LayerArn": layer::layer_arn(&c.region, &lv.name),
                "LatestMatchingVersion": Value::Object(lv.list_item(&c.region)),
            })
        })
        .collect();
    let mut out = json!({ "Layers": layers });
    if let Some(m) = next {
        out["NextMarker"] = json!(m);
    }
    Ok(json(200, out))
}

fn get_layer_version_by_arn(
    s: &Shared,
    c: &Caller,
    headers: &HeaderMap,
    q: &QueryMap,
) -> ApiResult {
    let arn = q.get("Arn").map(String::as_str).unwrap_or("");
    let (_, _, name, version) = layer::parse_version_arn(arn).ok_or_else(|| {
        Error::constraint(
            arn,
            "arn",
            r"Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+",
        )
    })?;
    let lv = s.stores.meta.tx(|tx| load(tx, &name, version))?;
    Ok(json(
        200,
        lv.render(&c.region, &s.config.url_key, host(headers)),
    ))
}

/// `MaxItems` for the layer lists: 1 to 50.
fn page_size(q: &QueryMap) -> Result<usize> {
    match q.get("MaxItems") {
        None => Ok(50),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=50).contains(&n) => Ok(n as usize),
            _ => Err(Error::constraint(
                raw,
                "maxItems",
                "Member must have value less than or equal to 50, Member must have value greater than or equal to 1",
            )),
        },
    }
}

/// The `CompatibleRuntime` and `CompatibleArchitecture` filters, checked as AWS checks them.
fn filters(q: &QueryMap) -> Result<(Option<&String>, Option<&String>)> {
    let runtime = q.get("CompatibleRuntime");
    if let Some(r) = runtime.filter(|r| !stratus_core::runtime::is_known(r)) {
        return Err(Error::constraint(
            r,
            "compatibleRuntime",
            &format!(
                "Member must satisfy enum value set: [{}]",
                stratus_core::runtime::ALL.join(", ")
            ),
        ));
    }
    let arch = q.get("CompatibleArchitecture");
    if let Some(a) = arch.filter(|a| *a != "x86_64" && *a != "arm64") {
        return Err(Error::constraint(
            a,
            "compatibleArchitecture",
            "Member must satisfy enum value set: [x86_64, arm64]",
        ));
    }
    Ok((runtime, arch))
}

pub async fn list_layer_versions(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(l): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let name = layer::parse_name(&l)?;
    let limit = page_size(&q)?;
    let (runtime, arch) = filters(&q)?;
    // The marker is the last version listed; versions come newest first.
    let before = match q.get("Marker") {
        None => u64::MAX,
        Some(_) => marker::decode(q.get("Marker"))?
            .parse()
            .map_err(|_| Error::invalid("Invalid marker"))?,
    };
    let versions: Vec<LayerVersion> = s.stores.meta.tx(|tx| tx.layer_versions(&name))?;
    let matching: Vec<&LayerVersion> = versions
        .iter()
        .filter(|lv| lv.version < before && lv.matches(runtime, arch))
        .collect();
    let next =
        (matching.len() > limit).then(|| marker::encode(&matching[limit - 1].version.to_string()));
    let items: Vec<Value> = matching
        .iter()
        .take(limit)
        .map(|lv| Value::Object(lv.list_item(&c.region)))
        .collect();
    let mut out = json!({ "LayerVersions": items });
    if let Some(m) = next {
        out["NextMarker"] = json!(m);
    }
    Ok(json(200, out))
}

/// Deleting a version that does not exist succeeds, as on AWS. Functions that use it keep
/// their copy (the package stays in the code store).
pub async fn delete_layer_version(
    State(s): State<Shared>,
    Path((l, v)): Path<(String, String)>,
) -> ApiResult {
    let name = layer::parse_name(&l)?;
    let version = version_number(&v)?;
    let deleted = s
        .stores
        .meta
        .tx(|tx| tx.delete_layer_version(&name, version))?;
    if deleted {
        tracing::info!(layer = %name, version, "deleted layer version");
    }
    Ok(no_content())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PermissionInput {
    statement_id: Option<String>,
    action: Option<String>,
    principal: Option<String>,
    organization_id: Option<String>,
}

/// Whether `p` is a layer principal: an account id, `*`, or an account's root ARN.
fn is_layer_principal(p: &str) -> bool {
    let account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
    p == "*"
        || account(p)
        || p.strip_suffix(":root")
            .and_then(|rest| rest.strip_prefix("arn:aws"))
            .and_then(|rest| rest.split_once(":iam::"))
            .is_some_and(|(partition, acct)| {
                partition
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'-')
                    && account(acct)
            })
}

/// Checks AddLayerVersionPermission's members against their patterns, all at once.
fn check_permission(input: &PermissionInput) -> Result<(String, String, String)> {
    let sid = input.statement_id.clone().unwrap_or_default();
    let action = input.action.clone().unwrap_or_default();
    let principal = input.principal.clone().unwrap_or_default();
    let mut violations: Vec<(String, &str, &str)> = Vec::new();
    let sid_ok = !sid.is_empty()
        && sid.len() <= 100
        && sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !sid_ok {
        violations.push((
            sid.clone(),
            "statementId",
            "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
        ));
    }
    if action != "lambda:GetLayerVersion" {
        violations.push((
            action.clone(),
            "action",
            "Member must satisfy regular expression pattern: lambda:GetLayerVersion",
        ));
    }
    if !is_layer_principal(&principal) {
        violations.push((principal.clone(), "principal", r"Member must satisfy regular expression pattern: \d{12}|\*|arn:(aws[a-zA-Z-]*):iam::\d{12}:root"));
    }
    if let Some(o) = &input.organization_id {
        let ok = o.len() <= 34
            && o.strip_prefix("o-").is_some_and(|rest| {
                (10..=32).contains(&rest.len())
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !ok {
            violations.push((
                o.clone(),
                "organizationId",
                "Member must satisfy regular expression pattern: o-[a-z0-9]{10,32}",
            ));
        }
    }
    if !violations.is_empty() {
        return Err(Error::validation(stratus_core::error::constraint_message(
            &violations,
        )));
    }
    Ok((sid, action, principal))
}

pub async fn add_layer_version_permission(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path((l, v)): Path<(String, String)>,
    Query(q): Query<QueryMap>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let name = layer::parse_name(&l)?;
    let version = version_number(&v)?;
    let input: PermissionInput = parse(&body.0)?;
    let (sid, action, principal) = check_permission(&input)?;
    let resource = layer::layer_version_arn(&c.region, &name, version);
    let mut statement = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": if principal.chars().all(|ch| ch.is_ascii_digit()) {
            json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
        } else if principal == "*" { json!("*") } else { json!({ "AWS": principal }) },
        "Action": action,
        "Resource": resource,
    });
    if let Some(o) = &input.organization_id {
        statement["Condition"] = json!({ "StringEquals": { "aws:PrincipalOrgID": o } });
    }
    let revision = s.stores.meta.tx(|tx| {
        let mut lv = load(tx, &name, version)?;
        if let Some(current) = &lv.policy_revision {
            check_revision(q.get("RevisionId").map(String::as_str), current, "GetLayerPolicy")?;
        }
        if lv.statements.iter().any(|st| st["Sid"] == json!(sid)) {
            return Err(Error::conflict(format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            )));
        }
        lv.statements.push(statement.clone());
        let revision = new_revision_id();
        lv.policy_revision = Some(revision.clone());
        tx.put_layer_version(&name, version, &lv)?;
        Ok(revision)
    })?;
    Ok(json(
        201,
        json!({ "Statement": statement.to_string(), "RevisionId": revision }),
    ))
}

pub async fn get_layer_version_policy(
    State(s): State<Shared>,
    Path((l, v)): Path<(String, String)>,
) -> ApiResult {
    let name = layer::parse_name(&l)?;
    let version = version_number(&v)?;
    let lv = s.stores.meta.tx(|tx| load(tx, &name, version))?;
    let revision = match (&lv.policy_revision, lv.statements.is_empty()) {
        (Some(r), false) => r.clone(),
        _ => {
            return Err(Error::not_found("No policy is associated with the given resource.").into())
        }
    };
    let policy = json!({ "Version": "2012-10-17", "Id": "default", "Statement": lv.statements });
    Ok(json(
        200,
        json!({ "Policy": policy.to_string(), "RevisionId": revision }),
    ))
}

pub async fn remove_layer_version_permission(
    State(s): State<Shared>,
    Path((l, v, sid)): Path<(String, String, String)>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let name = layer::parse_name(&l)?;
    let version = version_number(&v)?;
    s.stores.meta.tx(|tx| {
        let mut lv = load(tx, &name, version)?;
        if let Some(current) = &lv.policy_revision {
            check_revision(
                q.get("RevisionId").map(String::as_str),
                current,
                "GetLayerPolicy",
            )?;
        }
        let before = lv.statements.len();
        lv.statements.retain(|st| st["Sid"] != json!(sid));
        if lv.statements.len() == before {
            return Err(Error::not_found(format!(
                "Statement {sid} is not found in resource policy."
            )));
        }
        lv.policy_revision = Some(new_revision_id());
        tx.put_layer_version(&name, version, &lv)
    })?;
    Ok(no_content())
}
