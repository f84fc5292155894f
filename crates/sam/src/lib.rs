//! The AWS SAM transform (`AWS::Serverless-2016-10-31`) as a pure function.
//!
//! `transform` takes a template already parsed to JSON (intrinsics in their long form:
//! `{"Ref": ..}`, `{"Fn::GetAtt": [..]}`, `{"Fn::Sub": ..}`) and returns the plain
//! CloudFormation template AWS's SAM translator would produce: the `AWS::Serverless::*`
//! resources expanded into Lambda, IAM, API Gateway v2, DynamoDB, SNS, SQS, EventBridge and
//! Scheduler resources, with SAM's logical ids (`<Fn>Role`, `<Fn><Event>Permission`,
//! `<Fn>Version<hash>`, `<Fn>Alias<alias>`, `ServerlessHttpApi`...), and `Globals` and
//! `Transform` removed. It does no I/O: the CloudFormation engine calls it when a template
//! names the transform.
//!
//! One departure from SAM: an HTTP API's routes are emitted as explicit
//! `AWS::ApiGatewayV2::Route`, `Integration` and `Authorizer` resources instead of an OpenAPI
//! `Body`, because those are the resource types the engine creates. REST APIs (`Api` events and
//! `AWS::Serverless::Api`) and SAM's other types are refused with a transform error naming them.

mod authorizers;
mod deployment;
mod events;
mod function;
mod globals;
mod hash;
mod http_api;
mod policies;
mod resources;
mod util;

use serde_json::{Map, Value};

/// The stack the template is being transformed for.
#[derive(Debug, Clone)]
pub struct Context {
    pub region: String,
    pub account_id: String,
    pub stack_name: String,
    pub partition: String,
}

/// A failed transform. `Display` gives the message CloudFormation shows for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application Specification document. Number of errors found: {}. {}",
    .causes.len(),
    .causes.join(" ")
)]
pub struct Error {
    /// One message per invalid resource or section, as SAM words them.
    pub causes: Vec<String>,
}

impl Error {
    fn one(cause: impl Into<String>) -> Self {
        Error {
            causes: vec![cause.into()],
        }
    }
}

/// An error in one resource, before it is tied to the resource's logical id.
pub(crate) type Invalid = String;

/// The transform's name, as templates give it.
const SAM: &str = "AWS::Serverless-2016-10-31";

/// Deeper than any real template; the limit keeps recursion over hostile input bounded.
const MAX_DEPTH: usize = 200;

/// Transforms a SAM template into a plain CloudFormation template.
pub fn transform(template: &Value, ctx: &Context) -> Result<Value, Error> {
    let Some(root) = template.as_object() else {
        return Err(Error::one(
            "Structure of the SAM template is invalid. The template must be a JSON object.",
        ));
    };
    // The translation recurses over values; bound the depth before it does (iteratively).
    if util::depth_exceeds(template, MAX_DEPTH) {
        return Err(Error::one(format!(
            "Structure of the SAM template is invalid. Values are nested more than {MAX_DEPTH} levels deep."
        )));
    }
    let mut out: Map<String, Value> = root.clone();
    // This transform is done; any other a list names is left for the engine.
    if let Some(Value::Array(list)) = out.remove("Transform") {
        let rest: Vec<Value> = list.into_iter().filter(|t| t != SAM).collect();
        if !rest.is_empty() {
            out.insert("Transform".into(), Value::Array(rest));
        }
    }
    let globals = match out.remove("Globals") {
        Some(g) => globals::Globals::parse(&g).map_err(Error::one)?,
        None => globals::Globals::default(),
    };
    let Some(Value::Object(input)) = root.get("Resources").filter(|r| r.is_object()) else {
        return Err(Error::one(
            "Structure of the SAM template is invalid. 'Resources' section is required",
        ));
    };
    if input.is_empty() {
        return Err(Error::one(
            "Structure of the SAM template is invalid. 'Resources' section is required",
        ));
    }
    let params = util::known_parameters(root.get("Parameters"), ctx);
    let mut translator = resources::Translator::new(ctx, input, &globals, params);
    let resources = translator.run()?;
    out.insert("Resources".into(), Value::Object(resources));
    Ok(util::rename_refs(Value::Object(out), &translator.renamed))
}

#[cfg(test)]
mod tests;
