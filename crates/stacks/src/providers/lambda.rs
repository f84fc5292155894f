//! AWS::Lambda::Function, Version, Alias and Permission, through the Lambda REST API.

use super::*;
use base64::Engine as _;
use serde_json::json;
use std::io::Write as _;

const API: &str = "/2015-03-31/functions";

pub struct Function;
pub struct Version;
pub struct Alias;
pub struct Permission;

/// `Code.ZipFile` as AWS packages it: the source as `index.js` for Node.js runtimes and
/// `index.py` otherwise, in a zip.
fn inline_zip(source: &str, runtime: &str) -> Result<String, Failed> {
    let name = if runtime.starts_with("nodejs") {
        "index.js"
    } else {
        "index.py"
    };
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
        zip.start_file(name, options).map_err(|e| e.to_string())?;
        zip.write_all(source.as_bytes())
            .map_err(|e| e.to_string())?;
        zip.finish().map_err(|e| e.to_string())?;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(buf.into_inner()))
}

/// The Code member of CreateFunction / UpdateFunctionCode from the template's `Code`.
fn code(props: &Map<String, Value>) -> Result<Map<String, Value>, Failed> {
    let code = props
        .get("Code")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = Map::new();
    if let Some(source) = code.get("ZipFile").and_then(Value::as_str) {
        let runtime = str_prop(props, "Runtime").unwrap_or("");
        out.insert(
            "ZipFile".into(),
            Value::String(inline_zip(source, runtime)?),
        );
    }
    for k in ["S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri"] {
        if let Some(v) = code.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    Ok(out)
}

const CONFIG: [&str; 14] = [
    "Description",
    "Handler",
    "Runtime",
    "Role",
    "Timeout",
    "MemorySize",
    "Environment",
    "Layers",
    "DeadLetterConfig",
    "TracingConfig",
    "EphemeralStorage",
    "LoggingConfig",
    "VpcConfig",
    "SnapStart",
];

fn enc(s: &str) -> String {
    pe(s)
}

fn function_attrs(body: &Value, name: &str) -> Made {
    let mut attributes = BTreeMap::new();
    if let Some(arn) = body.get("FunctionArn") {
        attributes.insert("Arn".into(), arn.clone());
    }
    if let Some(snap) = body.get("SnapStart") {
        for k in ["ApplyOn", "OptimizationStatus"] {
            if let Some(v) = snap.get(k) {
                attributes.insert(format!("SnapStartResponse.{k}"), v.clone());
            }
        }
    }
    Made {
        physical_id: name.to_string(),
        attributes,
    }
}

#[async_trait]
impl Provider for Function {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let name = str_prop(props, "FunctionName")
            .map(str::to_string)
            .unwrap_or_else(|| physical_name(cx, 64, false));
        let mut body = Map::new();
        for k in CONFIG.iter().chain(&[
            "PackageType",
            "Architectures",
            "KmsKeyArn",
            "ImageConfig",
            "CodeSigningConfigArn",
        ]) {
            if let Some(v) = props.get(*k) {
                body.insert(k.to_string(), v.clone());
            }
        }
        body.insert("FunctionName".into(), Value::String(name.clone()));
        body.insert("Code".into(), Value::Object(code(props)?));
        numbers(&mut body, &["Timeout", "MemorySize"]);
        if let Some(Value::Object(storage)) = body.get_mut("EphemeralStorage") {
            numbers(storage, &["Size"]);
        }
        let tags: Map<String, Value> = tags(props)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        if !tags.is_empty() {
            body.insert("Tags".into(), Value::Object(tags));
        }
        let out = rest_json(cx, "lambda", "POST", API.into(), Some(Value::Object(body))).await?;
        if let Some(rmc) = props.get("RuntimeManagementConfig") {
            if let Err(e) = put_runtime_management(cx, &name, rmc.clone()).await {
                // The resource failed, so the rollback will not delete it: do it here.
                self.delete(cx, &function_attrs(&out, &name), props).await?;
                return Err(e);
            }
        }
        Ok(function_attrs(&out, &name))
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<Made, Failed> {
        let name = &current.physical_id;
        let mut made = current.clone();
        // A pinned runtime cannot change, so a mode that releases it goes first and one that
        // pins goes last (removed from the template: back to the default mode).
        let mut pinning = None;
        if changed(old, new, &["RuntimeManagementConfig"]) {
            let rmc = new
                .get("RuntimeManagementConfig")
                .cloned()
                .unwrap_or_else(|| json!({"UpdateRuntimeOn": "Auto"}));
            if rmc["UpdateRuntimeOn"] == "Manual" {
                pinning = Some(rmc);
            } else {
                put_runtime_management(cx, name, rmc).await?;
            }
        }
        // The function's code signing configuration before its code, so new code is checked
        // against the configuration the template asks for.
        if changed(old, new, &["CodeSigningConfigArn"]) {
            set_code_signing(cx, name, new.get("CodeSigningConfigArn")).await?;
        }
        if changed(old, new, &["Code", "Architectures"]) {
            let mut body = code(new)?;
            if let Some(a) = new.get("Architectures") {
                body.insert("Architectures".into(), a.clone());
            }
            let out = rest_json(
                cx,
                "lambda",
                "PUT",
                format!("{API}/{}/code", enc(name)),
                Some(Value::Object(body)),
            )
            .await?;
            made = function_attrs(&out, name);
        }
        if changed(old, new, &CONFIG) {
            let mut body = Map::new();
            for k in CONFIG {
                match (new.get(k), old.get(k)) {
                    (Some(v), _) => {
                        body.insert(k.into(), v.clone());
                    }
                    // A property removed from the template goes back to its default.
                    (None, Some(_)) => {
                        let reset = match k {
                            "Description" => json!(""),
                            "Environment" => json!({"Variables": {}}),
                            "Layers" => json!([]),
                            "Timeout" => json!(3),
                            "MemorySize" => json!(128),
                            "SnapStart" => json!({"ApplyOn": "None"}),
                            _ => continue,
                        };
                        body.insert(k.into(), reset);
                    }
                    (None, None) => {}
                }
            }
            numbers(&mut body, &["Timeout", "MemorySize"]);
            let out = rest_json(
                cx,
                "lambda",
                "PUT",
                format!("{API}/{}/configuration", enc(name)),
                Some(Value::Object(body)),
            )
            .await?;
            made = function_attrs(&out, name);
        }
        if let Some(rmc) = pinning {
            put_runtime_management(cx, name, rmc).await?;
        }
        Ok(made)
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        _: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let request = ApiRequest {
            service: "lambda",
            method: "DELETE",
            path: format!("{API}/{}", enc(&current.physical_id)),
            headers: vec![],
            body: vec![],
        };
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["FunctionName", "PackageType"])
    }
}

/// `RuntimeManagementConfig` has an operation of its own (PutRuntimeManagementConfig on
/// `$LATEST`), as on AWS.
async fn put_runtime_management(cx: &Cx<'_>, name: &str, rmc: Value) -> Result<(), Failed> {
    let path = format!(
        "/2021-07-20/functions/{}/runtime-management-config",
        enc(name)
    );
    rest_json(cx, "lambda", "PUT", path, Some(rmc)).await?;
    Ok(())
}

/// A changed `CodeSigningConfigArn`: PutFunctionCodeSigningConfig, or its Delete when the
/// property was removed.
async fn set_code_signing(cx: &Cx<'_>, name: &str, arn: Option<&Value>) -> Result<(), Failed> {
    let path = format!("/2020-06-30/functions/{}/code-signing-config", enc(name));
    match arn {
        Some(arn) => {
            let body = json!({ "CodeSigningConfigArn": arn });
            rest_json(cx, "lambda", "PUT", path, Some(body)).await?;
        }
        None => {
            let request = ApiRequest {
                service: "lambda",
                method: "DELETE",
                path,
                headers: vec![],
                body: vec![],
            };
            send_delete(cx, request).await?;
        }
    }
    Ok(())
}

fn function_of(props: &Map<String, Value>) -> Result<&str, Failed> {
    str_prop(props, "FunctionName").ok_or_else(|| {
        "Properties validation failed for resource: required key [FunctionName] not found"
            .to_string()
    })
}

#[async_trait]
impl Provider for Version {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let function = function_of(props)?;
        let mut body = Map::new();
        if let Some(d) = props.get("Description") {
            body.insert("Description".into(), d.clone());
        }
        if let Some(s) = props.get("CodeSha256") {
            body.insert("CodeSha256".into(), s.clone());
        }
        let out = rest_json(
            cx,
            "lambda",
            "POST",
            format!("{API}/{}/versions", enc(function)),
            Some(Value::Object(body)),
        )
        .await?;
        let arn = out
            .get("FunctionArn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "Version".into(),
            out.get("Version").cloned().unwrap_or(Value::Null),
        );
        attributes.insert("FunctionArn".into(), Value::String(arn.clone()));
        Ok(Made {
            physical_id: arn,
            attributes,
        })
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let function = function_of(props)?;
        let version = current
            .attributes
            .get("Version")
            .map(text)
            .unwrap_or_default();
        let request = ApiRequest {
            service: "lambda",
            method: "DELETE",
            path: format!("{API}/{}?Qualifier={}", enc(function), enc(&version)),
            headers: vec![],
            body: vec![],
        };
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        old != new
    }
}

fn alias_body(props: &Map<String, Value>, with_name: bool) -> Value {
    let mut body = Map::new();
    let keys: &[&str] = if with_name {
        &["Name", "FunctionVersion", "Description", "RoutingConfig"]
    } else {
        &["FunctionVersion", "Description", "RoutingConfig"]
    };
    for k in keys {
        if let Some(v) = props.get(*k) {
            body.insert(k.to_string(), v.clone());
        }
    }
    Value::Object(body)
}

#[async_trait]
impl Provider for Alias {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let function = function_of(props)?;
        let out = rest_json(
            cx,
            "lambda",
            "POST",
            format!("{API}/{}/aliases", enc(function)),
            Some(alias_body(props, true)),
        )
        .await?;
        let arn = out
            .get("AliasArn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut attributes = BTreeMap::new();
        attributes.insert("AliasArn".into(), Value::String(arn.clone()));
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
        let function = function_of(new)?;
        let name = str_prop(new, "Name").unwrap_or_default();
        rest_json(
            cx,
            "lambda",
            "PUT",
            format!("{API}/{}/aliases/{}", enc(function), enc(name)),
            Some(alias_body(new, false)),
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
        let function = function_of(props)?;
        let name = str_prop(props, "Name").unwrap_or_default();
        let request = ApiRequest {
            service: "lambda",
            method: "DELETE",
            path: format!("{API}/{}/aliases/{}", enc(function), enc(name)),
            headers: vec![],
            body: vec![],
        };
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        changed(old, new, &["FunctionName", "Name"])
    }
}

/// A qualified function ARN's name and qualifier, for the policy paths.
fn split_qualifier(function: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = function.split(':').collect();
    if function.starts_with("arn:") && parts.len() == 8 {
        return (parts[..7].join(":"), Some(parts[7].to_string()));
    }
    (function.to_string(), None)
}

#[async_trait]
impl Provider for Permission {
    async fn create(&self, cx: &Cx<'_>, props: &Map<String, Value>) -> Result<Made, Failed> {
        let (function, qualifier) = split_qualifier(function_of(props)?);
        let sid = physical_name(cx, 100, false);
        let mut body = Map::new();
        body.insert("StatementId".into(), Value::String(sid.clone()));
        for k in [
            "Action",
            "Principal",
            "SourceArn",
            "SourceAccount",
            "EventSourceToken",
            "FunctionUrlAuthType",
            "PrincipalOrgID",
        ] {
            if let Some(v) = props.get(k) {
                body.insert(k.into(), v.clone());
            }
        }
        let query = qualifier
            .as_deref()
            .map(|q| format!("?Qualifier={}", enc(q)))
            .unwrap_or_default();
        rest_json(
            cx,
            "lambda",
            "POST",
            format!("{API}/{}/policy{query}", enc(&function)),
            Some(Value::Object(body)),
        )
        .await?;
        Ok(Made {
            physical_id: sid,
            attributes: BTreeMap::new(),
        })
    }

    async fn delete(
        &self,
        cx: &Cx<'_>,
        current: &Made,
        props: &Map<String, Value>,
    ) -> Result<(), Failed> {
        let (function, qualifier) = split_qualifier(function_of(props)?);
        let query = qualifier
            .as_deref()
            .map(|q| format!("?Qualifier={}", enc(q)))
            .unwrap_or_default();
        let request = ApiRequest {
            service: "lambda",
            method: "DELETE",
            path: format!(
                "{API}/{}/policy/{}{query}",
                enc(&function),
                enc(&current.physical_id)
            ),
            headers: vec![],
            body: vec![],
        };
        send_delete(cx, request).await
    }

    fn replaces(&self, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
        old != new
    }
}
