//! `AWS::Serverless::Function`: the Lambda function, its execution role, the version and alias
//! of `AutoPublishAlias`, the function URL, and then its events.

use serde_json::{json, Map, Value};

use crate::resources::{s3_location, Attrs, Translator};
use crate::util::{copy_props, get_att, reference, resource, tag_list};
use crate::{events, hash, policies, Context, Invalid};

/// Properties passed to `AWS::Lambda::Function` under the same name.
const SAME_NAME: &[&str] = &[
    "FunctionName",
    "Handler",
    "Runtime",
    "Description",
    "MemorySize",
    "Timeout",
    "Environment",
    "Layers",
    "Architectures",
    "ReservedConcurrentExecutions",
    "KmsKeyArn",
    "VpcConfig",
    "PackageType",
    "ImageConfig",
    "EphemeralStorage",
    "LoggingConfig",
    "SnapStart",
    "RuntimeManagementConfig",
    "FileSystemConfigs",
    "CodeSigningConfigArn",
    "RecursiveLoop",
];

/// How events and URLs reach the function: through the alias when there is one.
pub(crate) struct Target {
    /// For `FunctionName` properties: `Ref` of the alias or of the function.
    pub name: Value,
    /// For ARNs: `Ref` of the alias (an alias's Ref is its ARN) or the function's `Arn`.
    pub arn: Value,
}

pub(crate) fn translate(
    t: &mut Translator,
    id: &str,
    p: &Map<String, Value>,
    attrs: &Attrs,
) -> Result<(), Invalid> {
    if p.contains_key("DeploymentPreference") {
        return Err("DeploymentPreference (gradual deployments through CodeDeploy) is not supported by this transform yet.".into());
    }
    let mut props = Map::new();
    props.insert("Code".into(), Value::Object(code(p)?));
    copy_props(p, &mut props, SAME_NAME);
    if let Some(dlq) = p.get("DeadLetterQueue") {
        let arn = dlq
            .get("TargetArn")
            .ok_or("'DeadLetterQueue' requires Type and TargetArn properties to be specified.")?;
        props.insert("DeadLetterConfig".into(), json!({ "TargetArn": arn }));
    }
    if let Some(mode) = p.get("Tracing") {
        props.insert("TracingConfig".into(), json!({ "Mode": mode }));
    }
    if p.get("PackageType").and_then(Value::as_str) != Some("Image")
        && (!props.contains_key("Runtime") || !props.contains_key("Handler"))
    {
        return Err(
            "Runtime and Handler needs to be present when PackageType is of type `Zip`".into(),
        );
    }
    let tags = Value::Array(tag_list(Some("SAM"), p.get("Tags")));
    props.insert("Tags".into(), tags.clone());

    let mut role = match p.get("Role") {
        Some(given) => {
            props.insert("Role".into(), given.clone());
            None
        }
        None => {
            let role_id = format!("{id}Role");
            props.insert("Role".into(), get_att(&role_id, "Arn"));
            Some(execution_role(t.ctx, &role_id, p, tags)?)
        }
    };

    let target = match p.get("AutoPublishAlias") {
        None => Target {
            name: reference(id),
            arn: get_att(id, "Arn"),
        },
        Some(alias) => {
            let alias = alias
                .as_str()
                .ok_or("'AutoPublishAlias' must be a string.")?;
            let alias_id = publish(t, id, alias, p, &props, attrs)?;
            Target {
                name: reference(&alias_id),
                arn: reference(&alias_id),
            }
        }
    };
    if let Some(url) = p.get("FunctionUrlConfig") {
        function_url(t, id, url, &target, attrs)?;
    }
    events::translate(t, id, p.get("Events"), &target, role.as_mut(), attrs)?;
    if let Some((role_id, role)) = role {
        let mut role_attrs = attrs.clone();
        role_attrs.depends_on = None;
        role_attrs.metadata = None;
        t.add_main(id, &role_id, role, &role_attrs)?;
    }
    t.add_main(id, id, resource("AWS::Lambda::Function", props), attrs)
}

/// The `Code` of the function from `CodeUri`, `InlineCode` or `ImageUri`.
fn code(p: &Map<String, Value>) -> Result<Map<String, Value>, Invalid> {
    let one_of = "Only one of 'InlineCode' or 'CodeUri' can be set.";
    if let Some(image) = p.get("ImageUri") {
        let mut m = Map::new();
        m.insert("ImageUri".into(), image.clone());
        return Ok(m);
    }
    match (p.get("CodeUri"), p.get("InlineCode")) {
        (Some(_), Some(_)) | (None, None) => Err(one_of.into()),
        (None, Some(inline)) => {
            let mut m = Map::new();
            m.insert("ZipFile".into(), inline.clone());
            Ok(m)
        }
        (Some(Value::String(uri)), None) => s3_location(uri, "CodeUri"),
        (Some(Value::Object(m)), None) if m.contains_key("Bucket") && m.contains_key("Key") => {
            let mut c = Map::new();
            c.insert("S3Bucket".into(), m["Bucket"].clone());
            c.insert("S3Key".into(), m["Key"].clone());
            if let Some(v) = m.get("Version") {
                c.insert("S3ObjectVersion".into(), v.clone());
            }
            Ok(c)
        }
        (Some(_), None) => {
            Err("'CodeUri' requires Bucket and Key properties to be specified.".into())
        }
    }
}

fn execution_role(
    ctx: &Context,
    role_id: &str,
    p: &Map<String, Value>,
    tags: Value,
) -> Result<(String, Value), Invalid> {
    let resolved = policies::resolve(p.get("Policies"), role_id, ctx)?;
    let mut managed = vec![json!(policies::managed_policy_arn(
        "AWSLambdaBasicExecutionRole",
        ctx
    ))];
    if p.get("Tracing").is_some_and(|m| m != "Disabled") {
        managed.push(json!(policies::managed_policy_arn(
            "AWSXrayWriteOnlyAccess",
            ctx
        )));
    }
    if p.contains_key("VpcConfig") {
        managed.push(json!(policies::managed_policy_arn(
            "AWSLambdaVPCAccessExecutionRole",
            ctx
        )));
    }
    managed.extend(resolved.managed);
    let mut role = Map::new();
    role.insert(
        "AssumeRolePolicyDocument".into(),
        p.get("AssumeRolePolicyDocument")
            .cloned()
            .unwrap_or_else(|| assume_role("lambda.amazonaws.com")),
    );
    role.insert("ManagedPolicyArns".into(), Value::Array(managed));
    if !resolved.inline.is_empty() {
        role.insert("Policies".into(), Value::Array(resolved.inline));
    }
    copy_props(p, &mut role, &["PermissionsBoundary"]);
    if let Some(path) = p.get("RolePath") {
        role.insert("Path".into(), path.clone());
    }
    role.insert("Tags".into(), tags);
    Ok((role_id.into(), resource("AWS::IAM::Role", role)))
}

pub(crate) fn assume_role(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Action": ["sts:AssumeRole"],
            "Effect": "Allow",
            "Principal": { "Service": [service] }
        }]
    })
}

/// The version (named by a hash of what should publish a new one) and the alias pointing at
/// it; returns the alias's logical id.
fn publish(
    t: &mut Translator,
    id: &str,
    alias: &str,
    p: &Map<String, Value>,
    function: &Map<String, Value>,
    attrs: &Attrs,
) -> Result<String, Invalid> {
    let valid = !alias.is_empty()
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !alias.chars().all(|c| c.is_ascii_digit());
    if !valid {
        return Err(format!("AutoPublishAlias name ('{alias}') must contain only alphanumeric characters, hyphens, or underscores matching (?!^[0-9]+$)([a-zA-Z0-9-_]+) pattern."));
    }
    let prefix = format!("{id}Version");
    let version_id = match p.get("AutoPublishCodeSha256").and_then(Value::as_str) {
        Some(sha) => format!("{prefix}{}", sha.get(..10).unwrap_or(sha)),
        None => {
            let data = if p.get("AutoPublishAliasAllProperties") == Some(&json!(true)) {
                Value::Object(function.clone())
            } else {
                let mut d = function["Code"].as_object().cloned().unwrap_or_default();
                if let Some(Value::Object(env)) = function.get("Environment") {
                    d.extend(env.clone());
                }
                if let Some(m) = function.get("MemorySize") {
                    d.insert("MemorySize".into(), m.clone());
                }
                Value::Object(d)
            };
            hash::logical_id(&prefix, &data)
        }
    };
    let mut version = Map::new();
    version.insert("FunctionName".into(), reference(id));
    if let Some(d) = p.get("VersionDescription") {
        version.insert("Description".into(), d.clone());
    }
    let mut version = resource("AWS::Lambda::Version", version);
    let deletion = attrs
        .deletion_policy
        .clone()
        .or_else(|| p.get("VersionDeletionPolicy").cloned());
    version["DeletionPolicy"] = deletion.unwrap_or_else(|| json!("Retain"));
    t.add_child(id, &version_id, version, attrs)?;

    let alias_id = format!("{id}Alias{}", alias.replace('-', "D").replace('_', "U"));
    let mut a = Map::new();
    a.insert("Name".into(), json!(alias));
    a.insert("FunctionName".into(), reference(id));
    a.insert("FunctionVersion".into(), get_att(&version_id, "Version"));
    copy_props(p, &mut a, &["ProvisionedConcurrencyConfig"]);
    t.add_child(id, &alias_id, resource("AWS::Lambda::Alias", a), attrs)?;
    Ok(alias_id)
}

fn function_url(
    t: &mut Translator,
    id: &str,
    cfg: &Value,
    target: &Target,
    attrs: &Attrs,
) -> Result<(), Invalid> {
    let cfg = cfg
        .as_object()
        .ok_or("Type of property 'FunctionUrlConfig' is invalid.")?;
    let auth = cfg.get("AuthType").and_then(Value::as_str);
    if !matches!(auth, Some("NONE" | "AWS_IAM")) {
        return Err("AuthType is required to configure function property `FunctionUrlConfig`. Please provide either AWS_IAM or NONE.".into());
    }
    if let Some(k) = cfg
        .keys()
        .find(|k| !["AuthType", "Cors", "InvokeMode"].contains(&k.as_str()))
    {
        return Err(format!("{k} is an invalid property for FunctionUrlConfig"));
    }
    let mut url = cfg.clone();
    url.insert("TargetFunctionArn".into(), target.name.clone());
    t.add_child(
        id,
        &format!("{id}Url"),
        resource("AWS::Lambda::Url", url),
        attrs,
    )?;
    if auth == Some("NONE") {
        // SAM grants a public URL both calls: the URL request and the invoke behind it.
        let url_permission = json!({
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunctionUrl",
                "FunctionName": target.name,
                "FunctionUrlAuthType": "NONE",
                "Principal": "*"
            }
        });
        t.add_child(
            id,
            &format!("{id}UrlPublicPermissions"),
            url_permission,
            attrs,
        )?;
        let invoke_permission = json!({
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": target.name,
                "InvokedViaFunctionUrl": true,
                "Principal": "*"
            }
        });
        t.add_child(
            id,
            &format!("{id}URLInvokeAllowPublicAccess"),
            invoke_permission,
            attrs,
        )?;
    }
    Ok(())
}
