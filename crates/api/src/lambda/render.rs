//! Function and alias configurations as the Lambda API renders them.

use serde_json::{json, Map, Value};
use stratus_core::alias::Alias;
use stratus_core::arn::function_arn;
use stratus_core::function::FunctionConfig;
use stratus_core::runtime;

/// Which operation a configuration is rendered for: the state fields differ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// CreateFunction: `State: Pending`, no `LastUpdateStatus`.
    Created,
    /// Update*: `LastUpdateStatus: InProgress`.
    Updated,
    /// Get*, PublishVersion: active and settled.
    Settled,
    /// List*: no state fields at all.
    Listed,
}

/// A FunctionConfiguration. `arn_qualifier` is the qualifier the FunctionArn carries, if any.
pub fn configuration(
    cfg: &FunctionConfig,
    region: &str,
    arn_qualifier: Option<&str>,
    detail: Detail,
) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("FunctionName", json!(cfg.name));
    put(
        "FunctionArn",
        json!(function_arn(region, &cfg.name, arn_qualifier)),
    );
    if let Some(r) = &cfg.runtime {
        put("Runtime", json!(r));
    }
    put("Role", json!(cfg.role));
    if let Some(h) = &cfg.handler {
        put("Handler", json!(h));
    }
    put("CodeSize", json!(cfg.code.size));
    put("Description", json!(cfg.description));
    put("Timeout", json!(cfg.timeout));
    put("MemorySize", json!(cfg.memory_size));
    put("LastModified", json!(cfg.last_modified));
    put("CodeSha256", json!(cfg.code.sha256_b64));
    put("Version", json!(cfg.version));
    if let Some(env) = &cfg.environment {
        put("Environment", json!({ "Variables": env }));
    }
    put("TracingConfig", json!({ "Mode": cfg.tracing_mode }));
    if let Some(t) = &cfg.dead_letter_target {
        put("DeadLetterConfig", json!({ "TargetArn": t }));
    }
    if let Some(k) = &cfg.kms_key_arn {
        put("KMSKeyArn", json!(k));
    }
    if !cfg.layers.is_empty() {
        let layers: Vec<Value> = cfg
            .layers
            .iter()
            .map(|l| {
                json!({
                    "Arn": stratus_core::layer::layer_version_arn(region, &l.name, l.version),
                    "CodeSize": l.code_size,
                })
            })
            .collect();
        put("Layers", json!(layers));
    }
    put("RevisionId", json!(cfg.revision_id));
    put("PackageType", json!(cfg.package_type));
    put("Architectures", json!(cfg.architectures));
    put("EphemeralStorage", json!({ "Size": cfg.ephemeral_storage }));
    put(
        "SnapStart",
        json!({
            "ApplyOn": cfg.snap_start.as_str(),
            "OptimizationStatus": if cfg.snap_start_on() { "On" } else { "Off" },
        }),
    );
    put(
        "LoggingConfig",
        json!({ "LogFormat": cfg.log_format, "LogGroup": cfg.log_group_name() }),
    );
    match detail {
        Detail::Created => {
            put("State", json!("Pending"));
            put("StateReason", json!("The function is being created."));
            put("StateReasonCode", json!("Creating"));
        }
        Detail::Updated => {
            put("State", json!("Active"));
            put("LastUpdateStatus", json!("InProgress"));
            put(
                "LastUpdateStatusReason",
                json!("The function is being created."),
            );
            put("LastUpdateStatusReasonCode", json!("Creating"));
        }
        Detail::Settled => {
            put("State", json!("Active"));
            put("LastUpdateStatus", json!("Successful"));
        }
        Detail::Listed => {}
    }
    if detail != Detail::Listed {
        if let Some(r) = &cfg.runtime {
            put(
                "RuntimeVersionConfig",
                json!({ "RuntimeVersionArn": runtime_version_arn(region, r) }),
            );
        }
    }
    Value::Object(m)
}

/// A SnapStart version's state on this node in place of the settled one (decision 0039):
/// `Pending` while its first environment is initialised, `Failed` if that init failed.
pub fn snap_state(mut v: Value, state: Option<stratus_engine::snapstart::State>) -> Value {
    use stratus_engine::snapstart::State;
    let Some(m) = v.as_object_mut().filter(|m| m.contains_key("State")) else {
        return v;
    };
    let (state, reason, code) = match state {
        None | Some(State::Active) => return v,
        Some(State::Pending) => (
            "Pending",
            "The function is being created.".into(),
            "Creating",
        ),
        Some(State::Failed { code, reason }) => ("Failed", reason, code),
    };
    m.insert("State".into(), json!(state));
    m.insert("StateReason".into(), json!(reason));
    m.insert("StateReasonCode".into(), json!(code));
    v
}

/// A stable, made-up runtime version ARN per runtime (AWS's is a hash of the runtime build).
fn runtime_version_arn(region: &str, runtime: &str) -> String {
    use sha2::{Digest, Sha256};
    let exec = runtime::execution_env(runtime).unwrap_or_else(|| runtime.to_string());
    format!(
        "arn:aws:lambda:{region}::runtime:{}",
        hex::encode(Sha256::digest(exec.as_bytes()))
    )
}

/// An AliasConfiguration.
pub fn alias(a: &Alias, function: &str, region: &str) -> Value {
    let mut v = json!({
        "AliasArn": function_arn(region, function, Some(&a.name)),
        "Name": a.name,
        "FunctionVersion": a.function_version,
        "Description": a.description,
        "RevisionId": a.revision_id,
    });
    if !a.weights.is_empty() {
        v["RoutingConfig"] = json!({ "AdditionalVersionWeights": a.weights });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_engine::snapstart::State;

    #[test]
    fn a_snapstart_versions_state_replaces_the_settled_one() {
        let settled = json!({"State": "Active", "LastUpdateStatus": "Successful"});
        assert_eq!(snap_state(settled.clone(), None), settled);
        assert_eq!(snap_state(settled.clone(), Some(State::Active)), settled);
        let pending = snap_state(settled.clone(), Some(State::Pending));
        assert_eq!(pending["State"], "Pending");
        assert_eq!(pending["StateReasonCode"], "Creating");
        let failed = snap_state(
            settled,
            Some(State::Failed {
                code: "FunctionError",
                reason: "Runtime.Unknown: boom".into(),
            }),
        );
        assert_eq!(failed["State"], "Failed");
        assert_eq!(failed["StateReason"], "Runtime.Unknown: boom");
        // A listed configuration has no state fields, and gets none.
        let listed = json!({"FunctionName": "f"});
        assert_eq!(snap_state(listed.clone(), Some(State::Pending)), listed);
    }
}
