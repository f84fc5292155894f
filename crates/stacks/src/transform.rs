//! Transforms: the one place a template naming `Transform` is expanded before it is read.
//! The SAM transform (`AWS::Serverless-2016-10-31`) is a hook the composition root fills in
//! with [`sam`] (the `stratus-sam` crate); without it, and for any other transform (macros),
//! the template is refused as CloudFormation refuses a transform it does not know.

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

/// The SAM expansion: a template in, the expanded template (or the whole message CloudFormation
/// shows for the failed transform) out.
pub type SamExpander = fn(&Value, &TransformContext) -> std::result::Result<Value, String>;

/// The SAM transform of the `stratus-sam` crate, as a [`SamExpander`].
pub fn sam(body: &Value, cx: &TransformContext) -> std::result::Result<Value, String> {
    let ctx = stratus_sam::Context {
        region: cx.region.clone(),
        account_id: cx.account_id.clone(),
        stack_name: cx.stack_name.clone(),
        partition: cx.partition.clone(),
    };
    stratus_sam::transform(body, &ctx).map_err(|e| e.to_string())
}

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
                body = expand(&body, cx).map_err(Error::validation)?;
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

    #[test]
    fn the_sam_crate_expands_a_serverless_function() {
        let text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      InlineCode: \"def handler(e, c): return 1\"\n";
        let cx = TransformContext {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            stack_name: "s".into(),
            partition: "aws".into(),
        };
        // `super::sam`: the real one, not this module's stand-in of the same name.
        let t = prepare(text, &cx, Some(super::sam)).unwrap();
        assert_eq!(t.resources["F"].kind, "AWS::Lambda::Function");
        assert_eq!(t.resources["FRole"].kind, "AWS::IAM::Role");
        let e = prepare(
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  A:\n    Type: AWS::Serverless::Api\n",
            &cx,
            Some(super::sam),
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("Transform AWS::Serverless-2016-10-31 failed with: "),
            "{}",
            e.message
        );
    }
}
