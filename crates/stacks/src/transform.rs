//! Transforms: the one place a template naming `Transform` is expanded before it is read.
//! The SAM transform (`AWS::Serverless-2016-10-31`) is a hook the composition root fills in
//! with the SAM crate's function; until then, and for any other transform (macros), the
//! template is refused as CloudFormation refuses a transform it does not know.

use crate::error::{Error, Result};
use crate::template::{read_body, transforms, Template, SAM_TRANSFORM};
use serde_json::Value;

/// What the SAM transform is told about the stack it expands for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransformContext {
    pub region: String,
    pub account_id: String,
    pub stack_name: String,
    pub partition: String,
}

/// The SAM expansion: a template in, the expanded template (or a message) out.
pub type SamExpander = fn(&Value, &TransformContext) -> std::result::Result<Value, String>;

/// Reads a body and applies its transforms, giving the processed template.
pub fn prepare(text: &str, cx: &TransformContext, sam: Option<SamExpander>) -> Result<Template> {
    let body = read_body(text)?;
    Template::from_value(expand(body, cx, sam)?)
}

pub fn expand(body: Value, cx: &TransformContext, sam: Option<SamExpander>) -> Result<Value> {
    let names = transforms(&body)?;
    if names.is_empty() {
        return Ok(body);
    }
    let mut body = body;
    for name in names {
        match (name.as_str(), sam) {
            (SAM_TRANSFORM, Some(expand)) => {
                body = expand(&body, cx).map_err(|m| {
                    Error::validation(format!("Transform {SAM_TRANSFORM} failed with: {m}"))
                })?;
            }
            _ => {
                return Err(Error::validation(format!(
                    "No transform named {name} found."
                )))
            }
        }
    }
    if let Value::Object(map) = &mut body {
        map.remove("Transform");
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sam(body: &Value, _: &TransformContext) -> std::result::Result<Value, String> {
        let mut out = body.clone();
        out["Resources"] = serde_json::json!({"B": {"Type": "AWS::S3::Bucket"}});
        Ok(out)
    }

    #[test]
    fn sam_goes_through_the_hook_and_others_are_refused() {
        let text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n";
        let cx = TransformContext::default();
        let e = prepare(text, &cx, None).unwrap_err();
        assert_eq!(
            e.message,
            "No transform named AWS::Serverless-2016-10-31 found."
        );
        let t = prepare(text, &cx, Some(sam)).unwrap();
        assert_eq!(t.resources["B"].kind, "AWS::S3::Bucket");
        assert!(t.body.get("Transform").is_none());
        let e = prepare(
            "Transform: MyMacro\nResources:\n  B:\n    Type: AWS::S3::Bucket\n",
            &cx,
            Some(sam),
        )
        .unwrap_err();
        assert_eq!(e.message, "No transform named MyMacro found.");
    }
}
