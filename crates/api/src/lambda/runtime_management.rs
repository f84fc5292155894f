//! GetRuntimeManagementConfig and PutRuntimeManagementConfig: a version's runtime update mode
//! (`Auto`, the default; `FunctionUpdate`; or `Manual` with a pinned runtime version ARN),
//! stored as a per-version document. Stratus runs each runtime with the host's one interpreter,
//! so a pinned version is recorded and answered here, not run (the configuration's
//! `RuntimeVersionConfig` still names the version that runs); what it does enforce is AWS's
//! rule that a function pinned with `Manual` cannot change its runtime.

use axum::extract::{Extension, Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_core::arn::function_arn;
use stratus_core::function::LATEST;
use stratus_core::{Error, Result};
use stratus_store::meta::Tx;

use super::{function_not_found, function_ref, ModelPattern, QueryMap};
use crate::auth::Caller;
use crate::wire::{json, parse, ApiResult};
use crate::{RawBody, Shared};

/// The documents' kind; the qualifier is the version (`$LATEST` or a number).
pub const KIND: &str = "runtime-management";

/// `UpdateRuntimeOn` and, in `Manual` mode only, `RuntimeVersionArn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeManagement {
    pub update_runtime_on: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version_arn: Option<String>,
}

const MODES: [&str; 3] = ["Auto", "Manual", "FunctionUpdate"];

/// The pattern botocore's model gives `RuntimeVersionArn`: a managed runtime's version
/// (`arn:aws:lambda:<region>::runtime:<id>`) or an account's own runtime version.
static VERSION_ARN: ModelPattern = ModelPattern::new(
    r"((arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}::runtime:.+)|(arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:runtime/[A-Za-z0-9_.-]{1,128}/version/[A-Za-z0-9_.-]{1,128}))",
);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    update_runtime_on: Option<Value>,
    runtime_version_arn: Option<Value>,
}

/// The setting a Put asks for, checked as AWS checks it: the model's constraints first
/// (`ValidationException`), then the rule that `Manual` names a version.
fn setting(input: PutInput) -> Result<RuntimeManagement> {
    let mode = match input.update_runtime_on {
        None | Some(Value::Null) => {
            return Err(Error::validation(
                "1 validation error detected: Value null at 'updateRuntimeOn' failed to \
                 satisfy constraint: Member must not be null",
            ))
        }
        Some(Value::String(s)) if MODES.contains(&s.as_str()) => s,
        Some(Value::String(s)) => {
            return Err(Error::constraint(
                s,
                "updateRuntimeOn",
                "Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]",
            ))
        }
        Some(other) => {
            return Err(Error::invalid(format!(
                "Invalid request body: UpdateRuntimeOn must be a string, not {other}"
            )))
        }
    };
    let arn = match input.runtime_version_arn {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(checked_arn(s)?),
        Some(other) => {
            return Err(Error::invalid(format!(
                "Invalid request body: RuntimeVersionArn must be a string, not {other}"
            )))
        }
    };
    let manual = mode == "Manual";
    if manual && arn.is_none() {
        return Err(Error::invalid(
            "RuntimeVersionArn is required when UpdateRuntimeOn is Manual.",
        ));
    }
    // Only Manual pins a version; in the other modes Lambda picks it, and Get answers without
    // one.
    Ok(RuntimeManagement {
        update_runtime_on: mode,
        runtime_version_arn: arn.filter(|_| manual),
    })
}

fn checked_arn(arn: String) -> Result<String> {
    let chars = arn.chars().count();
    let rule = if chars < 26 {
        "Member must have length greater than or equal to 26".to_string()
    } else if chars > 2048 {
        "Member must have length less than or equal to 2048".to_string()
    } else if !VERSION_ARN.matches(&arn) {
        VERSION_ARN.rule()
    } else {
        return Ok(arn);
    };
    Err(Error::constraint(arn, "runtimeVersionArn", &rule))
}

/// The version a request names: `$LATEST` when it names none, a published version, never an
/// alias (AWS's message for one).
fn version(tx: &Tx, c: &Caller, name: &str, qualifier: Option<&str>) -> Result<String> {
    use stratus_invoke::resolve::{named, Named};
    match named(tx, name, qualifier)? {
        Some(Named::Version(v)) if tx.version(name, &v)?.is_some() => Ok(v),
        Some(Named::Alias(_)) => Err(Error::invalid(format!(
            "The provided function name {} is invalid. Aliases are not allowed.",
            function_arn(&c.region, name, qualifier)
        ))),
        _ => Err(function_not_found(&c.region, name, qualifier)),
    }
}

/// The stored setting of `version`, `Auto` when none was put.
pub fn stored(tx: &Tx, name: &str, version: &str) -> Result<RuntimeManagement> {
    let doc: Option<RuntimeManagement> = tx.document(name, KIND, version)?;
    Ok(doc.unwrap_or_else(|| RuntimeManagement {
        update_runtime_on: "Auto".into(),
        runtime_version_arn: None,
    }))
}

/// Copies `$LATEST`'s setting to a version being published from it (a version is a snapshot
/// of `$LATEST`'s configuration).
pub fn copy_to_version(tx: &Tx, name: &str, version: &str) -> Result<()> {
    let doc: Option<RuntimeManagement> = tx.document(name, KIND, LATEST)?;
    match doc {
        Some(doc) => tx.put_document(name, KIND, version, &doc),
        None => Ok(()),
    }
}

/// UpdateFunctionConfiguration's rule: a `$LATEST` pinned with `Manual` keeps its runtime.
pub fn check_runtime_change(
    tx: &Tx,
    name: &str,
    current: Option<&str>,
    wanted: Option<&str>,
) -> Result<()> {
    let changes = wanted.is_some_and(|w| Some(w) != current);
    if changes && stored(tx, name, LATEST)?.update_runtime_on == "Manual" {
        return Err(Error::invalid(
            "Cannot change runtime identifier when runtime management configuration is set to \
             'Manual'. Change the runtime management configuration to 'Auto' or \
             'FunctionUpdate', then retry.",
        ));
    }
    Ok(())
}

fn render(doc: &RuntimeManagement, region: &str, name: &str, qualifier: Option<&str>) -> Value {
    let mut out = json!({
        "UpdateRuntimeOn": doc.update_runtime_on,
        "FunctionArn": function_arn(region, name, qualifier),
    });
    if let Some(arn) = &doc.runtime_version_arn {
        out["RuntimeVersionArn"] = json!(arn);
    }
    out
}

pub async fn put_runtime_management_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let input: PutInput = parse(&body.0)?;
    let doc = setting(input)?;
    s.stores.meta.tx(|tx| {
        let version = version(tx, &c, &r.name, r.qualifier.as_deref())?;
        tx.put_document(&r.name, KIND, &version, &doc)
    })?;
    Ok(json(
        200,
        render(&doc, &c.region, &r.name, r.qualifier.as_deref()),
    ))
}

pub async fn get_runtime_management_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let r = function_ref(&c, &f, &q)?;
    let doc = s.stores.meta.tx(|tx| {
        let version = version(tx, &c, &r.name, r.qualifier.as_deref())?;
        stored(tx, &r.name, &version)
    })?;
    Ok(json(
        200,
        render(&doc, &c.region, &r.name, r.qualifier.as_deref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(mode: Value, arn: Option<&str>) -> Result<RuntimeManagement> {
        setting(PutInput {
            update_runtime_on: Some(mode),
            runtime_version_arn: arn.map(|a| json!(a)),
        })
    }

    const PINNED: &str = "arn:aws:lambda:us-east-1::runtime:8eeff65f6809a3ce81507fe733fe09b835899b99481ba22fd75b5a7338290ec1";

    #[test]
    fn manual_keeps_its_version_and_the_other_modes_drop_one() {
        let manual = put(json!("Manual"), Some(PINNED)).unwrap();
        assert_eq!(manual.runtime_version_arn.as_deref(), Some(PINNED));
        let auto = put(json!("FunctionUpdate"), Some(PINNED)).unwrap();
        assert_eq!(auto.update_runtime_on, "FunctionUpdate");
        assert_eq!(auto.runtime_version_arn, None);
    }

    #[test]
    fn the_mode_and_the_arn_are_checked_as_aws_checks_them() {
        let e = put(json!("Manual"), None).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValueException");
        let e = put(json!("manual"), None).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert!(
            e.message.contains("Value 'manual' at 'updateRuntimeOn'"),
            "{}",
            e.message
        );
        let e = setting(PutInput {
            update_runtime_on: None,
            runtime_version_arn: None,
        })
        .unwrap_err();
        assert_eq!(e.code, "ValidationException");
        let e = put(
            json!("Manual"),
            Some("arn:aws:lambda:us-east-1:runtime:x-not-an-arn"),
        )
        .unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.contains("runtimeVersionArn"), "{}", e.message);
        let own = "arn:aws:lambda:us-east-1:123456789012:runtime/mine/version/3";
        assert!(put(json!("Manual"), Some(own)).is_ok());
    }
}
