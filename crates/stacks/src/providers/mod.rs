//! Resource providers: one module per resource type, each making the AWS API calls a user
//! would make (through [`Client`], which the API layer answers in-process with Stratus's own
//! router), so a stack's resources get the same validation, errors and IAM checks as the API.

pub mod alias_deployment;
mod apigw;
mod codedeploy;
mod dynamodb;
mod events;
mod iam;
mod iam_policies;
mod lambda;
mod lambda_config;
mod logs;
mod resource_policies;
mod s3;
mod s3_config;
mod sns;
mod sns_subscription;
mod sqs;

use async_trait::async_trait;
use rand::Rng;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One AWS API request, before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// The signing name (`lambda`, `iam`, `s3`...).
    pub service: &'static str,
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends requests as a principal (`owner`, an access key) in a region: the API layer signs them with
/// that key's credentials and dispatches them to its router.
#[async_trait]
pub trait Client: Send + Sync {
    async fn send(&self, owner: &str, region: &str, request: ApiRequest) -> ApiResponse;
}

/// What a provider is told about the resource it works on.
pub struct Cx<'a> {
    pub client: &'a dyn Client,
    pub owner: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub stack_name: &'a str,
    pub logical_id: &'a str,
}

/// A resource as made: its physical id and the attributes Fn::GetAtt reads (with `"Ref"`
/// when the type's Ref is not its physical id).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Made {
    pub physical_id: String,
    pub attributes: BTreeMap<String, Value>,
}

/// A failure, as the stack event's reason shows it.
pub type Failed = String;

#[async_trait]
pub trait Provider: Send + Sync {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed>;
    /// Applies changed properties in place (only called when [`Provider::replaces`] is false).
    /// By default nothing is applied: for a type whose every change is a replacement, or whose
    /// other properties Stratus keeps only in the template.
    async fn update(
        &self,
        _cx: &Cx<'_>,
        current: &Made,
        _old: &Map<String, Value>,
        _new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        Ok(current.clone())
    }
    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed>;
    /// Whether going from `old` to `new` needs a new physical resource, as AWS documents
    /// each property's update behaviour.
    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool;
}

/// The provider of a resource type, if Stratus has one.
pub fn provider(kind: &str) -> Option<&'static dyn Provider> {
    Some(match kind {
        "AWS::Lambda::Function" => &lambda::Function,
        "AWS::Lambda::Version" => &lambda::Version,
        "AWS::Lambda::Alias" => &lambda::Alias,
        "AWS::Lambda::Permission" => &lambda::Permission,
        "AWS::Lambda::Url" => &lambda_config::Url,
        "AWS::Lambda::EventSourceMapping" => &lambda_config::EventSourceMapping,
        "AWS::Lambda::EventInvokeConfig" => &lambda_config::EventInvokeConfig,
        "AWS::Lambda::LayerVersion" => &lambda_config::LayerVersion,
        "AWS::IAM::Role" => &iam::Role,
        "AWS::S3::Bucket" => &s3::Bucket,
        "AWS::Logs::LogGroup" => &logs::LogGroup,
        "AWS::DynamoDB::Table" => &dynamodb::Table,
        "AWS::SNS::Topic" => &sns::Topic,
        "AWS::SQS::Queue" => &sqs::Queue,
        "AWS::SNS::Subscription" => &sns_subscription::Subscription,
        "AWS::SQS::QueuePolicy" => &resource_policies::QueuePolicy,
        "AWS::S3::BucketPolicy" => &resource_policies::BucketPolicy,
        "AWS::IAM::Policy" => &iam_policies::Policy,
        "AWS::IAM::ManagedPolicy" => &iam_policies::ManagedPolicy,
        "AWS::Events::Rule" => &events::Rule,
        "AWS::Scheduler::Schedule" => &events::Schedule,
        "AWS::ApiGatewayV2::Api" => &apigw::Api,
        "AWS::ApiGatewayV2::Stage" => &apigw::Stage,
        "AWS::ApiGatewayV2::Route" => &apigw::Route,
        "AWS::ApiGatewayV2::Integration" => &apigw::Integration,
        "AWS::ApiGatewayV2::Authorizer" => &apigw::Authorizer,
        "AWS::CodeDeploy::Application" => &codedeploy::Application,
        "AWS::CodeDeploy::DeploymentGroup" => &codedeploy::DeploymentGroup,
        _ => return None,
    })
}

/// Whether any of `names` differs between `old` and `new`.
pub fn changed(old: &Map<String, Value>, new: &Map<String, Value>, names: &[&str]) -> bool {
    names.iter().any(|n| old.get(*n) != new.get(*n))
}

/// A physical name as CloudFormation makes one: `<stack>-<logical>-<13 random>`, the first
/// part shortened so the whole fits `max`.
pub fn physical_name(cx: &Cx<'_>, max: usize, lowercase: bool) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    let suffix: String = (0..13)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect();
    let mut prefix = format!("{}-{}", cx.stack_name, cx.logical_id);
    let room = max.saturating_sub(14);
    if prefix.len() > room {
        prefix.truncate(room);
    }
    let name = format!("{prefix}-{suffix}");
    if lowercase {
        name.to_lowercase()
    } else {
        name
    }
}

pub fn str_prop<'a>(props: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    props.get(name).and_then(Value::as_str)
}

/// The message of an AWS error response (JSON `message`/`Message`, or XML `<Message>`).
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        for k in ["message", "Message", "errorMessage"] {
            if let Some(m) = v.get(k).and_then(Value::as_str) {
                return m.to_string();
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    xml_text(&text, "Message").unwrap_or_else(|| text.chars().take(300).collect())
}

/// The text of the first `<tag>` element (responses here are small and flat).
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(unescape(&xml[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// CloudFormation's wording of a failed call.
fn failed(message: &str) -> Failed {
    format!("Resource handler returned message: \"{message}\"")
}

/// Sends a request; a non-2xx answer becomes the failure its message describes.
async fn send(cx: &Cx<'_>, request: ApiRequest) -> Result<Vec<u8>, Failed> {
    let response = cx.client.send(cx.owner, cx.region, request).await;
    if (200..300).contains(&response.status) {
        Ok(response.body)
    } else {
        Err(failed(&error_message(&response.body)))
    }
}

/// A REST-JSON call (Lambda).
async fn rest_json(
    cx: &Cx<'_>,
    service: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
) -> Result<Value, Failed> {
    let request = ApiRequest {
        service,
        method,
        path,
        headers: vec![("content-type", "application/json".into())],
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    };
    let body = send(cx, request).await?;
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// An AWS JSON protocol call (`X-Amz-Target`).
async fn json_target(
    cx: &Cx<'_>,
    service: &'static str,
    target: String,
    version: &str,
    body: Value,
) -> Result<Value, Failed> {
    let body = send(cx, json_request(service, target, version, body)).await?;
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The request of an AWS JSON protocol call (`X-Amz-Target`), for [`json_target`] and the
/// deletes that go through [`send_delete`].
fn json_request(service: &'static str, target: String, version: &str, body: Value) -> ApiRequest {
    ApiRequest {
        service,
        method: "POST",
        path: "/".into(),
        headers: vec![
            ("content-type", format!("application/x-amz-json-{version}")),
            ("x-amz-target", target),
        ],
        body: body.to_string().into_bytes(),
    }
}

/// A Query protocol call (IAM, SNS): form-encoded, answered in XML.
async fn query(
    cx: &Cx<'_>,
    service: &'static str,
    action: &str,
    version: &str,
    params: &[(String, String)],
) -> Result<String, Failed> {
    let request = query_request(service, action, version, params);
    Ok(String::from_utf8_lossy(&send(cx, request).await?).into_owned())
}

fn query_request(
    service: &'static str,
    action: &str,
    version: &str,
    params: &[(String, String)],
) -> ApiRequest {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action)
        .append_pair("Version", version);
    for (k, v) in params {
        form.append_pair(k, v);
    }
    ApiRequest {
        service,
        method: "POST",
        path: "/".into(),
        headers: vec![(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body: form.finish().into_bytes(),
    }
}

fn pe(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A property's value as a string (numbers and booleans as CloudFormation passes them).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The named properties as numbers where a template gave them as strings (a `Number`
/// parameter's `Ref` is a string; CloudFormation converts it to the type the property has).
/// A PascalCase member name in the API's camelCase (CloudFormation's shapes are most APIs'
/// with the first letter of each key raised).
pub fn camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A template value with its object keys in camelCase, all the way down.
pub fn camel_value(v: &Value) -> Value {
    camel_value_with(v, &Value::clone)
}

/// [`camel_value`], with `leaf` deciding what each value that is neither object nor array
/// becomes.
pub fn camel_value_with(v: &Value, leaf: &dyn Fn(&Value) -> Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (camel(k), camel_value_with(v, leaf)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| camel_value_with(v, leaf)).collect()),
        other => leaf(other),
    }
}

pub fn numbers(props: &mut Map<String, Value>, names: &[&str]) {
    for name in names {
        if let Some(Value::String(s)) = props.get(*name) {
            if let Ok(n) = s.trim().parse::<i64>() {
                props.insert(name.to_string(), Value::from(n));
            }
        }
    }
}

/// A `Tags` list ([{Key, Value}]) as pairs.
pub fn tags(props: &Map<String, Value>) -> Vec<(String, String)> {
    props
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| Some((text(t.get("Key")?), text(t.get("Value")?))))
        .collect()
}

/// Sends a delete; a resource that is already gone counts as deleted, as CloudFormation
/// treats it.
async fn send_delete(cx: &Cx<'_>, request: ApiRequest) -> Result<(), Failed> {
    let response = cx.client.send(cx.owner, cx.region, request).await;
    let body = String::from_utf8_lossy(&response.body);
    let gone = response.status == 404
        || body.contains("NotFound")
        || body.contains("NoSuchEntity")
        || body.contains("NoSuchBucket")
        || body.contains("NonExistentQueue");
    if (200..300).contains(&response.status) || gone {
        Ok(())
    } else {
        Err(failed(&error_message(&response.body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nobody;
    #[async_trait]
    impl Client for Nobody {
        async fn send(&self, _: &str, _: &str, _: ApiRequest) -> ApiResponse {
            ApiResponse {
                status: 500,
                body: vec![],
            }
        }
    }

    #[test]
    fn physical_names_fit_their_limit() {
        let cx = Cx {
            client: &Nobody,
            owner: "",
            region: "us-east-1",
            account_id: "1",
            stack_name: "a-very-long-stack-name-that-goes-on-and-on",
            logical_id: "MyFunctionWithALongName",
        };
        let n = physical_name(&cx, 64, false);
        assert_eq!(n.len(), 64);
        assert!(n.starts_with("a-very-long-stack-name"));
        let short = Cx {
            stack_name: "app",
            logical_id: "Bucket",
            ..cx
        };
        let n = physical_name(&short, 63, true);
        assert!(
            n.starts_with("app-bucket-") && n.len() == "app-bucket-".len() + 13,
            "{n}"
        );
        assert_eq!(n, n.to_lowercase());
    }

    #[test]
    fn error_messages_from_json_and_xml() {
        assert_eq!(error_message(br#"{"message": "nope"}"#), "nope");
        assert_eq!(
            error_message(
                b"<ErrorResponse><Error><Message>a &amp; b</Message></Error></ErrorResponse>"
            ),
            "a & b"
        );
    }
}
