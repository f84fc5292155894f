//! The configuration of one function version, and the validation of the settings that
//! CreateFunction and UpdateFunctionConfiguration accept.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{constraint_message, Error, Result};
use crate::{limits, runtime};

pub const LATEST: &str = "$LATEST";

/// The code package a version runs: content-addressed by SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CodeRef {
    /// Hex SHA-256 of the zip: the key of the package in the blob store.
    pub sha256_hex: String,
    /// Base64 of the same digest: what AWS reports as `CodeSha256`.
    pub sha256_b64: String,
    pub size: u64,
}

/// Everything a version is: what AWS calls its FunctionConfiguration, less the parts that are
/// derived when it is rendered (ARNs depend on the request's region).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionConfig {
    pub name: String,
    /// `$LATEST` or a published version number.
    pub version: String,
    pub runtime: Option<String>,
    pub role: String,
    pub handler: Option<String>,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    pub environment: Option<BTreeMap<String, String>>,
    pub architectures: Vec<String>,
    pub ephemeral_storage: u32,
    pub package_type: String,
    pub tracing_mode: String,
    pub dead_letter_target: Option<String>,
    pub kms_key_arn: Option<String>,
    pub log_format: String,
    pub log_group: Option<String>,
    pub code: CodeRef,
    pub last_modified: String,
    pub revision_id: String,
    /// On a published version: `$LATEST`'s description when it was published (the version's
    /// own may have been overridden by PublishVersion's Description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_description: Option<String>,
    /// The layer versions extracted into `/opt`, in order (later ones win).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<crate::layer::LayerRef>,
    /// `SnapStart.ApplyOn`. Kept on `$LATEST` and copied to each version published from it;
    /// it takes effect on published versions only (see [`FunctionConfig::snap_start_on`]).
    #[serde(default, skip_serializing_if = "SnapStartApplyOn::is_none")]
    pub snap_start: SnapStartApplyOn,
}

/// `SnapStart.ApplyOn`: whether publishing a version prepares initialised environments of it
/// for its cold starts to resume from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapStartApplyOn {
    #[default]
    None,
    PublishedVersions,
}

impl SnapStartApplyOn {
    pub fn is_none(&self) -> bool {
        *self == SnapStartApplyOn::None
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SnapStartApplyOn::None => "None",
            SnapStartApplyOn::PublishedVersions => "PublishedVersions",
        }
    }
}

impl FunctionConfig {
    pub fn is_latest(&self) -> bool {
        self.version == LATEST
    }

    /// Whether SnapStart is on for this version (AWS's `OptimizationStatus: On`): a published
    /// version of a function whose `ApplyOn` was `PublishedVersions` when it was published.
    pub fn snap_start_on(&self) -> bool {
        !self.is_latest() && self.snap_start == SnapStartApplyOn::PublishedVersions
    }

    /// The CloudWatch log group this function logs to.
    pub fn log_group_name(&self) -> String {
        self.log_group
            .clone()
            .unwrap_or_else(|| format!("/aws/lambda/{}", self.name))
    }

    /// Whether publishing `self` ($LATEST) would produce something other than `published`.
    /// Any change of code or configuration counts, the description included (as AWS records).
    pub fn same_content(&self, published: &FunctionConfig) -> bool {
        let source = published
            .source_description
            .as_ref()
            .unwrap_or(&published.description);
        if &self.description != source {
            return false;
        }
        let mut a = self.clone();
        a.version = published.version.clone();
        a.description = published.description.clone();
        a.source_description = published.source_description.clone();
        a.last_modified = published.last_modified.clone();
        a.revision_id = published.revision_id.clone();
        serde_json::to_value(&a).ok() == serde_json::to_value(published).ok()
    }
}

pub fn new_revision_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The settings CreateFunction and UpdateFunctionConfiguration share, as sent on the wire.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Settings {
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub environment: Option<EnvironmentInput>,
    pub ephemeral_storage: Option<EphemeralInput>,
    pub tracing_config: Option<TracingInput>,
    pub dead_letter_config: Option<DeadLetterInput>,
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    pub logging_config: Option<LoggingInput>,
    pub layers: Option<Vec<String>>,
    pub snap_start: Option<SnapStartInput>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentInput {
    pub variables: Option<BTreeMap<String, String>>,
}
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralInput {
    pub size: i64,
}
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingInput {
    pub mode: Option<String>,
}
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterInput {
    pub target_arn: Option<String>,
}
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapStartInput {
    pub apply_on: Option<String>,
}
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingInput {
    pub log_format: Option<String>,
    pub log_group: Option<String>,
}

impl Settings {
    /// Validates every field that is present and writes it into `cfg`. Nothing is written
    /// unless every field is valid.
    pub fn apply(&self, cfg: &mut FunctionConfig) -> Result<()> {
        self.validate()?;
        let mut next = cfg.clone();
        if let Some(v) = &self.runtime {
            next.runtime = Some(v.clone());
        }
        if let Some(v) = &self.role {
            next.role = v.clone();
        }
        if let Some(v) = &self.handler {
            next.handler = Some(v.clone());
        }
        if let Some(v) = &self.description {
            next.description = v.clone();
        }
        if let Some(v) = self.timeout {
            next.timeout = v as u32;
        }
        if let Some(v) = self.memory_size {
            next.memory_size = v as u32;
        }
        if let Some(env) = &self.environment {
            next.environment = Some(env.variables.clone().unwrap_or_default());
        }
        if let Some(e) = &self.ephemeral_storage {
            next.ephemeral_storage = e.size as u32;
        }
        if let Some(mode) = self.tracing_config.as_ref().and_then(|t| t.mode.clone()) {
            next.tracing_mode = mode;
        }
        if let Some(d) = &self.dead_letter_config {
            next.dead_letter_target = d.target_arn.clone().filter(|s| !s.is_empty());
        }
        if let Some(k) = &self.kms_key_arn {
            next.kms_key_arn = Some(k.clone()).filter(|s| !s.is_empty());
        }
        if let Some(l) = &self.logging_config {
            if let Some(f) = &l.log_format {
                next.log_format = f.clone();
            }
            if l.log_group.is_some() {
                next.log_group = l.log_group.clone();
            }
        }
        if let Some(on) = self.snap_start.as_ref().and_then(|s| s.apply_on.as_deref()) {
            next.snap_start = match on {
                "PublishedVersions" => SnapStartApplyOn::PublishedVersions,
                _ => SnapStartApplyOn::None,
            };
        }
        check_snap_start(&next)?;
        *cfg = next;
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        if let Some(r) = &self.runtime {
            validate_runtime(r)?;
        }
        if let Some(r) = &self.role {
            validate_role(r)?;
        }
        let mut violations: Vec<(String, &str, &str)> = Vec::new();
        if let Some(h) = &self.handler {
            if h.len() > 128 {
                violations.push((
                    h.clone(),
                    "handler",
                    "Member must have length less than or equal to 128",
                ));
            } else if h.chars().any(char::is_whitespace) {
                violations.push((
                    h.clone(),
                    "handler",
                    r"Member must satisfy regular expression pattern: [^\s]+",
                ));
            }
        }
        if let Some(d) = &self.description {
            if d.chars().count() > 256 {
                violations.push((
                    d.clone(),
                    "description",
                    "Member must have length less than or equal to 256",
                ));
            }
        }
        if let Some(t) = self.timeout {
            if t < 1 {
                violations.push((
                    t.to_string(),
                    "timeout",
                    "Member must have value greater than or equal to 1",
                ));
            } else if t > limits::MAX_TIMEOUT as i64 {
                violations.push((
                    t.to_string(),
                    "timeout",
                    "Member must have value less than or equal to 900",
                ));
            }
        }
        if let Some(m) = self.memory_size {
            if m < limits::MIN_MEMORY as i64 {
                violations.push((
                    m.to_string(),
                    "memorySize",
                    "Member must have value greater than or equal to 128",
                ));
            } else if m > limits::MAX_MEMORY as i64 {
                violations.push((
                    m.to_string(),
                    "memorySize",
                    "Member must have value less than or equal to 10240",
                ));
            }
        }
        if let Some(e) = &self.ephemeral_storage {
            if e.size < limits::MIN_EPHEMERAL as i64 {
                violations.push((
                    e.size.to_string(),
                    "ephemeralStorage.size",
                    "Member must have value greater than or equal to 512",
                ));
            } else if e.size > limits::MAX_EPHEMERAL as i64 {
                violations.push((
                    e.size.to_string(),
                    "ephemeralStorage.size",
                    "Member must have value less than or equal to 10240",
                ));
            }
        }
        if let Some(on) = self.snap_start.as_ref().and_then(|s| s.apply_on.as_deref()) {
            if on != "PublishedVersions" && on != "None" {
                violations.push((
                    on.to_string(),
                    "snapStart.applyOn",
                    "Member must satisfy enum value set: [PublishedVersions, None]",
                ));
            }
        }
        if let Some(mode) = self.tracing_config.as_ref().and_then(|t| t.mode.as_deref()) {
            if mode != "Active" && mode != "PassThrough" {
                violations.push((
                    mode.to_string(),
                    "tracingConfig.mode",
                    "Member must satisfy enum value set: [Active, PassThrough]",
                ));
            }
        }
        if !violations.is_empty() {
            return Err(Error::validation(constraint_message(&violations)));
        }
        if let Some(l) = &self.layers {
            crate::layer::check_function_layers(l)?;
        }
        if let Some(vars) = self.environment.as_ref().and_then(|e| e.variables.as_ref()) {
            validate_environment(vars)?;
        }
        Ok(())
    }
}

/// SnapStart on a runtime AWS offers it for, with no more than 512 MB of /tmp: checked on the
/// configuration as it would be after the change, so turning SnapStart on, changing the runtime
/// and growing /tmp are each refused when the result would not do.
fn check_snap_start(cfg: &FunctionConfig) -> Result<()> {
    if cfg.snap_start != SnapStartApplyOn::PublishedVersions {
        return Ok(());
    }
    let runtime = cfg.runtime.as_deref().unwrap_or(&cfg.package_type);
    if !runtime::supports_snap_start(runtime) {
        return Err(Error::invalid(format!(
            "{runtime} is not supported for SnapStart enabled functions."
        )));
    }
    if cfg.ephemeral_storage > limits::MIN_EPHEMERAL {
        return Err(Error::invalid(
            "SnapStart is not supported for functions with ephemeral storage greater than 512 MB.",
        ));
    }
    Ok(())
}

pub fn validate_runtime(r: &str) -> Result<()> {
    if !runtime::is_known(r) {
        return Err(Error::invalid(format!(
            "Value {r} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] or be a valid ARN",
            runtime::ALL.join(", ")
        )));
    }
    if runtime::is_deprecated(r) {
        return Err(Error::invalid(format!(
            "The runtime parameter of {r} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )));
    }
    Ok(())
}

const ROLE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+";

pub fn validate_role(role: &str) -> Result<()> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(&format!("^{ROLE_PATTERN}$")).unwrap());
    if !re.is_match(role) {
        return Err(Error::constraint(
            role,
            "role",
            &format!("Member must satisfy regular expression pattern: {ROLE_PATTERN}"),
        ));
    }
    Ok(())
}

/// Keys the platform sets itself; AWS refuses them in a function's Environment.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

pub fn validate_environment(vars: &BTreeMap<String, String>) -> Result<()> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"^[a-zA-Z]([a-zA-Z0-9_])+$").unwrap());
    if vars.keys().any(|k| !re.is_match(k)) {
        return Err(Error::validation(
            "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
        ));
    }
    let reserved: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(Error::invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    let measured = serde_json::to_string(vars).unwrap_or_default();
    if measured.len() > limits::MAX_ENV_BYTES {
        return Err(Error::invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )));
    }
    Ok(())
}

pub fn validate_architectures(archs: &[String]) -> Result<()> {
    let ok = archs.len() == 1 && (archs[0] == "x86_64" || archs[0] == "arm64");
    if !ok {
        return Err(Error::constraint(
            format!("[{}]", archs.join(", ")),
            "architectures",
            "Member must have length less than or equal to 1, Member must satisfy enum value set: [x86_64, arm64]",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> FunctionConfig {
        FunctionConfig {
            name: "f".into(),
            version: LATEST.into(),
            runtime: Some("python3.12".into()),
            role: "arn:aws:iam::123456789012:role/r".into(),
            handler: Some("app.handler".into()),
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            environment: None,
            architectures: vec!["x86_64".into()],
            ephemeral_storage: 512,
            package_type: "Zip".into(),
            tracing_mode: "PassThrough".into(),
            dead_letter_target: None,
            kms_key_arn: None,
            log_format: "Text".into(),
            log_group: None,
            code: CodeRef {
                sha256_hex: "aa".into(),
                sha256_b64: "qg==".into(),
                size: 1,
            },
            last_modified: String::new(),
            revision_id: "r1".into(),
            source_description: None,
            layers: Vec::new(),
            snap_start: Default::default(),
        }
    }

    #[test]
    fn invalid_settings_change_nothing() {
        let mut cfg = base();
        let s = Settings {
            timeout: Some(10),
            memory_size: Some(10241),
            ..Default::default()
        };
        let e = s.apply(&mut cfg).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.contains("'memorySize'"));
        assert_eq!(cfg.timeout, 3, "a rejected update must not half-apply");
    }

    #[test]
    fn environment_rules() {
        let mut vars = BTreeMap::new();
        vars.insert("AWS_REGION".to_string(), "x".to_string());
        assert!(validate_environment(&vars)
            .unwrap_err()
            .message
            .contains("AWS_REGION"));
        let mut big = BTreeMap::new();
        big.insert("BIG".to_string(), "x".repeat(5000));
        assert!(validate_environment(&big)
            .unwrap_err()
            .message
            .contains("4KB"));
        let mut bad = BTreeMap::new();
        bad.insert("1x".to_string(), "v".to_string());
        assert_eq!(
            validate_environment(&bad).unwrap_err().code,
            "ValidationException"
        );
    }

    #[test]
    fn runtime_and_role_rules() {
        assert_eq!(
            validate_runtime("python9").unwrap_err().code,
            "InvalidParameterValueException"
        );
        assert!(validate_runtime("python3.7")
            .unwrap_err()
            .message
            .contains("no longer supported"));
        assert!(validate_runtime("provided.al2023").is_ok());
        assert_eq!(
            validate_role("nope").unwrap_err().code,
            "ValidationException"
        );
        assert!(validate_role("arn:aws:iam::123456789012:role/service-role/x").is_ok());
    }

    #[test]
    fn publish_detects_changes() {
        let latest = base();
        let mut published = base();
        published.version = "1".into();
        published.revision_id = "other".into();
        assert!(latest.same_content(&published));
        published.description = "overridden at publish".into();
        published.source_description = Some(String::new());
        assert!(
            latest.same_content(&published),
            "a publish-time description is not a change"
        );
        let mut described = latest.clone();
        described.description = "new".into();
        assert!(
            !described.same_content(&published),
            "a description change is a change"
        );
        published.timeout = 5;
        assert!(!latest.same_content(&published));
    }
}
