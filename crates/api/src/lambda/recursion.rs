//! GetFunctionRecursionConfig and PutFunctionRecursionConfig: whether a function may run in a
//! recursive loop (`Allow`) or is stopped after about 16 invocations of one chain
//! (`Terminate`, the default). The detection itself is the invoker's
//! ([`stratus_invoke::recursion`]); the setting is stored as a per-function document.

use axum::extract::{Extension, Path, State};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::{Error, Result};
use stratus_invoke::function_not_found;
use stratus_invoke::recursion::{RecursionConfig, RecursiveLoop, KIND};

use crate::auth::Caller;
use crate::wire::{json, parse, ApiResult};
use crate::{RawBody, Shared};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    recursive_loop: Option<Value>,
}

/// The `RecursiveLoop` member, checked as AWS checks it.
fn recursive_loop(v: Option<Value>) -> Result<RecursiveLoop> {
    let enum_set = "Member must satisfy enum value set: [Terminate, Allow]";
    match v {
        None | Some(Value::Null) => Err(Error::validation(
            "1 validation error detected: Value null at 'recursiveLoop' failed to satisfy \
             constraint: Member must not be null",
        )),
        Some(Value::String(s)) => {
            RecursiveLoop::parse(&s).ok_or_else(|| Error::constraint(s, "recursiveLoop", enum_set))
        }
        Some(other) => Err(Error::invalid(format!(
            "Invalid request body: RecursiveLoop must be a string, not {other}"
        ))),
    }
}

pub async fn put_function_recursion_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: PutInput = parse(&body.0)?;
    let name = super::concurrency::function(&c, &f)?;
    let setting = recursive_loop(input.recursive_loop)?;
    let doc = RecursionConfig {
        recursive_loop: setting,
    };
    s.stores.meta.tx(|tx| {
        tx.function(&name)?
            .ok_or_else(|| function_not_found(&c.region, &name, None))?;
        tx.put_document(&name, KIND, "", &doc)
    })?;
    Ok(json(200, json!({ "RecursiveLoop": setting.as_str() })))
}

pub async fn get_function_recursion_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
) -> ApiResult {
    let name = super::concurrency::function(&c, &f)?;
    let stored: Option<RecursionConfig> = s.stores.meta.tx(|tx| {
        tx.function(&name)?
            .ok_or_else(|| function_not_found(&c.region, &name, None))?;
        tx.document(&name, KIND, "")
    })?;
    let setting = stored.map_or(RecursiveLoop::Terminate, |d| d.recursive_loop);
    Ok(json(200, json!({ "RecursiveLoop": setting.as_str() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_checked_as_aws_checks_it() {
        assert_eq!(
            recursive_loop(Some(json!("Allow"))).unwrap(),
            RecursiveLoop::Allow
        );
        let e = recursive_loop(Some(json!("allow"))).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert!(
            e.message.contains("Value 'allow' at 'recursiveLoop'"),
            "{}",
            e.message
        );
        assert_eq!(
            recursive_loop(None).unwrap_err().code,
            "ValidationException"
        );
        assert_eq!(
            recursive_loop(Some(json!(1))).unwrap_err().code,
            "InvalidParameterValueException"
        );
    }
}
