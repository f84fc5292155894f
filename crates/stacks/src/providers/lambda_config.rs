//! AWS::Lambda::Url, EventSourceMapping, EventInvokeConfig and LayerVersion, through the
//! Lambda REST API (whose members are PascalCase like the templates').

use super::*;
use serde_json::json;

pub struct Url;
pub struct EventSourceMapping;
pub struct EventInvokeConfig;
pub struct LayerVersion;

/// The listed properties, as the request body has them.
fn pick(props: &Map<String, Value>, names: &[&str]) -> Map<String, Value> {
    names
        .iter()
        .filter_map(|k| props.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn required<'a>(props: &'a Map<String, Value>, name: &str) -> Result<&'a str, Failed> {
    str_prop(props, name).ok_or_else(|| {
        format!("Properties validation failed for resource: required key [{name}] not found")
    })
}

fn qualifier_query(props: &Map<String, Value>) -> String {
    str_prop(props, "Qualifier")
        .map(|q| format!("?Qualifier={}", pe(q)))
        .unwrap_or_default()
}

fn delete_request(path: String) -> ApiRequest {
    ApiRequest {
        service: "lambda",
        method: "DELETE",
        path,
        headers: vec![],
        body: vec![],
    }
}

fn url_path(props: &Map<String, Value>) -> Result<String, Failed> {
    let function = required(props, "TargetFunctionArn")?;
    Ok(format!(
        "/2021-10-31/functions/{}/url{}",
        pe(function),
        qualifier_query(props)
    ))
}

const URL_CONFIG: [&str; 3] = ["AuthType", "Cors", "InvokeMode"];

#[async_trait]
impl Provider for Url {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let body = Value::Object(pick(props, &URL_CONFIG));
        let out = rest_json(cx, "lambda", "POST", url_path(props)?, Some(body)).await?;
        let arn = out
            .get("FunctionArn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let attributes = BTreeMap::from([
            ("FunctionArn".to_string(), Value::String(arn.clone())),
            (
                "FunctionUrl".to_string(),
                out.get("FunctionUrl").cloned().unwrap_or(Value::Null),
            ),
        ]);
        Ok(Made {
            physical_id: arn,
            attributes,
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let mut body = pick(new, &URL_CONFIG);
        // A removed Cors block clears the URL's CORS settings.
        body.entry("Cors").or_insert_with(|| json!({}));
        rest_json(
            cx,
            "lambda",
            "PUT",
            url_path(new)?,
            Some(Value::Object(body)),
        )
        .await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        _: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        send_delete(cx, delete_request(url_path(props)?)).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["TargetFunctionArn", "Qualifier"])
    }
}

const ESM: &str = "/2015-03-31/event-source-mappings";

/// What UpdateEventSourceMapping can change; the rest of a mapping needs a new one.
const ESM_UPDATABLE: [&str; 13] = [
    "FunctionName",
    "Enabled",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "FilterCriteria",
    "FunctionResponseTypes",
    "MaximumRetryAttempts",
    "BisectBatchOnFunctionError",
    "MaximumRecordAgeInSeconds",
    "ParallelizationFactor",
    "DestinationConfig",
    "ScalingConfig",
    "TumblingWindowInSeconds",
];
const ESM_FIXED: [&str; 7] = [
    "EventSourceArn",
    "StartingPosition",
    "StartingPositionTimestamp",
    "Queues",
    "Topics",
    "SelfManagedEventSource",
    "SourceAccessConfigurations",
];

#[async_trait]
impl Provider for EventSourceMapping {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        required(props, "FunctionName")?;
        let mut body = pick(props, &ESM_UPDATABLE);
        body.extend(pick(props, &ESM_FIXED));
        numbers(
            &mut body,
            &[
                "BatchSize",
                "MaximumBatchingWindowInSeconds",
                "MaximumRetryAttempts",
                "MaximumRecordAgeInSeconds",
                "ParallelizationFactor",
                "TumblingWindowInSeconds",
            ],
        );
        let tags: Map<String, Value> = tags(props)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        if !tags.is_empty() {
            body.insert("Tags".into(), Value::Object(tags));
        }
        let out = rest_json(cx, "lambda", "POST", ESM.into(), Some(Value::Object(body))).await?;
        let id = out
            .get("UUID")
            .and_then(Value::as_str)
            .ok_or_else(|| failed("the response has no UUID"))?
            .to_string();
        let arn = out
            .get("EventSourceMappingArn")
            .cloned()
            .unwrap_or_else(|| {
                json!(format!(
                    "arn:aws:lambda:{}:{}:event-source-mapping:{id}",
                    cx.region, cx.account_id
                ))
            });
        let attributes = BTreeMap::from([
            ("Id".to_string(), Value::String(id.clone())),
            ("EventSourceMappingArn".to_string(), arn),
        ]);
        Ok(Made {
            physical_id: id,
            attributes,
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let mut body = pick(new, &ESM_UPDATABLE);
        numbers(&mut body, &["BatchSize", "MaximumBatchingWindowInSeconds"]);
        let path = format!("{ESM}/{}", pe(&current.physical_id));
        rest_json(cx, "lambda", "PUT", path, Some(Value::Object(body))).await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let path = format!("{ESM}/{}", pe(&current.physical_id));
        send_delete(cx, delete_request(path)).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &ESM_FIXED)
    }
}

fn invoke_config_path(props: &Map<String, Value>) -> Result<String, Failed> {
    let function = required(props, "FunctionName")?;
    required(props, "Qualifier")?;
    Ok(format!(
        "/2019-09-25/functions/{}/event-invoke-config{}",
        pe(function),
        qualifier_query(props)
    ))
}

fn invoke_config_body(props: &Map<String, Value>) -> Value {
    let mut body = pick(
        props,
        &[
            "MaximumRetryAttempts",
            "MaximumEventAgeInSeconds",
            "DestinationConfig",
        ],
    );
    numbers(
        &mut body,
        &["MaximumRetryAttempts", "MaximumEventAgeInSeconds"],
    );
    Value::Object(body)
}

#[async_trait]
impl Provider for EventInvokeConfig {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let path = invoke_config_path(props)?;
        rest_json(cx, "lambda", "PUT", path, Some(invoke_config_body(props))).await?;
        // CloudFormation identifies the configuration by its function and qualifier.
        let id = format!(
            "{}|{}",
            required(props, "FunctionName")?,
            required(props, "Qualifier")?
        );
        Ok(Made {
            physical_id: id,
            attributes: BTreeMap::new(),
        })
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let path = invoke_config_path(new)?;
        rest_json(cx, "lambda", "PUT", path, Some(invoke_config_body(new))).await?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        _: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        send_delete(cx, delete_request(invoke_config_path(props)?)).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["FunctionName", "Qualifier"])
    }
}

/// A layer version ARN's name and version number.
fn layer_parts(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.rsplitn(3, ':');
    let version = parts.next()?;
    let name = parts.next()?;
    parts.next()?;
    Some((name, version))
}

#[async_trait]
impl Provider for LayerVersion {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = str_prop(props, "LayerName")
            .map(str::to_string)
            .unwrap_or_else(|| physical_name(cx, 64, false));
        let content = props
            .get("Content")
            .and_then(Value::as_object)
            .ok_or("Properties validation failed for resource: required key [Content] not found")?;
        let mut body = pick(
            props,
            &[
                "Description",
                "CompatibleRuntimes",
                "CompatibleArchitectures",
                "LicenseInfo",
            ],
        );
        body.insert(
            "Content".into(),
            Value::Object(pick(content, &["S3Bucket", "S3Key", "S3ObjectVersion"])),
        );
        let path = format!("/2018-10-31/layers/{}/versions", pe(&name));
        let out = rest_json(cx, "lambda", "POST", path, Some(Value::Object(body))).await?;
        let arn = out
            .get("LayerVersionArn")
            .and_then(Value::as_str)
            .ok_or_else(|| failed("the response has no LayerVersionArn"))?
            .to_string();
        let attributes = BTreeMap::from([("LayerVersionArn".to_string(), json!(arn))]);
        Ok(Made {
            physical_id: arn,
            attributes,
        })
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let Some((name, version)) = layer_parts(&current.physical_id) else {
            return Ok(());
        };
        let path = format!("/2018-10-31/layers/{}/versions/{}", pe(name), pe(version));
        send_delete(cx, delete_request(path)).await
    }

    /// Every property of a layer version is fixed: a change publishes a new version.
    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        old != new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_arns_split_into_name_and_version() {
        assert_eq!(
            layer_parts("arn:aws:lambda:us-east-1:000000000000:layer:deps:3"),
            Some(("deps", "3"))
        );
        assert_eq!(layer_parts("nonsense"), None);
    }

    #[test]
    fn url_paths_carry_the_qualifier() {
        let props = json!({"TargetFunctionArn": "f", "Qualifier": "live"});
        assert_eq!(
            url_path(props.as_object().unwrap()).unwrap(),
            "/2021-10-31/functions/f/url?Qualifier=live"
        );
        assert!(url_path(&Map::new())
            .unwrap_err()
            .contains("TargetFunctionArn"));
    }
}
