//! `AWS::Serverless::Function`: the Lambda function, its execution role, the version and alias
//! of `AutoPublishAlias`, the function URL, and then its events.

use serde_json::{json, Map, Value};

use crate::resources::{s3_location, Attrs, Translator};
use crate::util::{copy_props, get_att, reference, resolve_parameters, resource, tag_list};
use crate::{deployment, events, hash, policies, Context, Invalid};

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
    let (mut props, mut own_policies) = lambda_properties(p)?;
    let alias = alias_name(t, p)?;
    if let Some(config) = p.get("EventInvokeConfig") {
        own_policies.extend(event_invoke_config(t, id, config, alias.as_deref(), attrs)?);
    }
    let mut role = match p.get("Role") {
        Some(given) => {
            props.insert("Role".into(), given.clone());
            None
        }
        None => {
            let role_id = format!("{id}Role");
            props.insert("Role".into(), get_att(&role_id, "Arn"));
            let tags = props["Tags"].clone();
            Some(execution_role(t.ctx, &role_id, p, tags, own_policies)?)
        }
    };
    if let (None, Some(pref)) = (&alias, p.get("DeploymentPreference")) {
        deployment::translate(t, id, pref, None, attrs)?;
    }
    let target = match &alias {
        None => Target {
            name: reference(id),
            arn: get_att(id, "Arn"),
        },
        Some(alias) => {
            let alias_id = publish(t, id, alias, p, &mut props, attrs)?;
            if let Some(pref) = p.get("DeploymentPreference") {
                if let Some(policy) = deployment::translate(t, id, pref, Some(alias), attrs)? {
                    t.out[&alias_id]["UpdatePolicy"] = policy;
                }
            }
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

/// The `AWS::Lambda::Function` properties (all but `Role`), and the role policies the
/// function's own configuration needs, ahead of those from `Policies`.
fn lambda_properties(p: &Map<String, Value>) -> Result<(Map<String, Value>, Vec<Value>), Invalid> {
    let mut props = Map::new();
    props.insert("Code".into(), Value::Object(code(p)?));
    copy_props(p, &mut props, SAME_NAME);
    let mut own_policies = Vec::new();
    if let Some(dlq) = p.get("DeadLetterQueue") {
        let (arn, action) = dead_letter_queue(dlq)?;
        props.insert("DeadLetterConfig".into(), json!({ "TargetArn": arn }));
        own_policies.push(json!({
            "PolicyName": "DeadLetterQueuePolicy",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{ "Action": action, "Resource": arn, "Effect": "Allow" }]
            }
        }));
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
    props.insert(
        "Tags".into(),
        Value::Array(tag_list(Some("SAM"), p.get("Tags"))),
    );
    if let (Some(sha), true) = (
        p.get("AutoPublishCodeSha256"),
        p.contains_key("AutoPublishAlias"),
    ) {
        // Lambda publishes no new version for unchanged configuration, so SAM puts the code's
        // hash in the description: new code then always makes a new version.
        let sha = sha
            .as_str()
            .ok_or("AutoPublishCodeSha256 must be a string")?;
        let description = match p.get("Description") {
            None => json!(sha),
            Some(Value::String(d)) => json!(format!("{d} {sha}")),
            Some(d) => json!({ "Fn::Join": [" ", [d, sha]] }),
        };
        props.insert("Description".into(), description);
    }
    Ok((props, own_policies))
}

/// `AutoPublishAlias`, a string or a parameter's default.
fn alias_name(t: &Translator, p: &Map<String, Value>) -> Result<Option<String>, Invalid> {
    let Some(alias) = p.get("AutoPublishAlias") else {
        if p.contains_key("ProvisionedConcurrencyConfig") {
            return Err("To set ProvisionedConcurrencyConfig AutoPublishALias must be defined on the function".into());
        }
        return Ok(None);
    };
    match resolve_parameters(alias, &t.params) {
        Value::String(name) => Ok(Some(name)),
        _ => Err("'AutoPublishAlias' must be a string or a Ref to a template parameter".into()),
    }
}

/// The `Code` of the function from `CodeUri`, `InlineCode` or `ImageUri`.
fn code(p: &Map<String, Value>) -> Result<Map<String, Value>, Invalid> {
    let mut code = code_location(p)?;
    if let Some(key) = p.get("SourceKMSKeyArn") {
        code.insert("SourceKMSKeyArn".into(), key.clone());
    }
    Ok(code)
}

fn code_location(p: &Map<String, Value>) -> Result<Map<String, Value>, Invalid> {
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
    mut inline: Vec<Value>,
) -> Result<(String, Value), Invalid> {
    let resolved = policies::resolve(p.get("Policies"), role_id, ctx)?;
    inline.extend(resolved.inline);
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
    if !inline.is_empty() {
        role.insert("Policies".into(), Value::Array(inline));
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
    function: &mut Map<String, Value>,
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
    // SAM resolves the parameters in the code's location (for good: the function keeps the
    // resolved values), so a new parameter value makes a new version.
    let code = resolve_parameters(&function["Code"], &t.params);
    function.insert("Code".into(), code);
    let version_id = match p.get("AutoPublishCodeSha256").and_then(Value::as_str) {
        Some(sha) => format!("{prefix}{}", sha.get(..10).unwrap_or(sha)),
        None => {
            let data = if p.get("AutoPublishAliasAllProperties") == Some(&json!(true)) {
                // SAM hashes the function before it is given its generated role.
                let mut all = function.clone();
                if !p.contains_key("Role") {
                    all.remove("Role");
                }
                Value::Object(all)
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
    // SAM's references to what it generated: `!Ref Fn.Alias`, `!Ref Fn.Version`.
    t.renamed.insert(format!("{id}.Alias"), alias_id.clone());
    t.renamed.insert(format!("{id}.Version"), version_id);
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

fn dead_letter_queue(dlq: &Value) -> Result<(Value, &'static str), Invalid> {
    let missing = "'DeadLetterQueue' requires Type and TargetArn properties to be specified.";
    let (Some(kind), Some(arn)) = (dlq.get("Type"), dlq.get("TargetArn")) else {
        return Err(missing.into());
    };
    match kind.as_str() {
        Some("SQS") => Ok((arn.clone(), "sqs:SendMessage")),
        Some("SNS") => Ok((arn.clone(), "sns:Publish")),
        _ => Err("'DeadLetterQueue' requires Type of ['SQS', 'SNS']".into()),
    }
}

/// `AWS::Lambda::EventInvokeConfig` (`<Fn>EventInvokeConfig`), a queue or topic for a destination
/// given only by type, and the role policies that let the function reach its destinations.
fn event_invoke_config(
    t: &mut Translator,
    id: &str,
    config: &Value,
    alias: Option<&str>,
    attrs: &Attrs,
) -> Result<Vec<Value>, Invalid> {
    let config = config
        .as_object()
        .ok_or("Type of property 'EventInvokeConfig' is invalid.")?;
    let eic_id = format!("{id}EventInvokeConfig");
    let mut destinations = Map::new();
    let mut role_policies = Vec::new();
    if let Some(dest) = config.get("DestinationConfig") {
        let dest = dest
            .as_object()
            .ok_or("Property 'EventInvokeConfig.DestinationConfig' should be a map.")?;
        for on in ["OnSuccess", "OnFailure"] {
            let Some(d) = dest.get(on) else { continue };
            let (arn, policy) = destination(t, id, &format!("{eic_id}{on}"), d, attrs)?;
            destinations.insert(on.into(), json!({ "Destination": arn }));
            role_policies.push(policy);
        }
    }
    let mut e = Map::new();
    e.insert("FunctionName".into(), reference(id));
    e.insert("Qualifier".into(), json!(alias.unwrap_or("$LATEST")));
    e.insert("DestinationConfig".into(), Value::Object(destinations));
    copy_props(
        config,
        &mut e,
        &["MaximumEventAgeInSeconds", "MaximumRetryAttempts"],
    );
    let mut r = resource("AWS::Lambda::EventInvokeConfig", e);
    if let Some(alias) = alias {
        r["DependsOn"] = json!([format!(
            "{id}Alias{}",
            alias.replace('-', "D").replace('_', "U")
        )]);
    }
    t.add_child(id, &eic_id, r, attrs)?;
    Ok(role_policies)
}

fn destination(
    t: &mut Translator,
    source: &str,
    prefix: &str,
    d: &Value,
    attrs: &Attrs,
) -> Result<(Value, Value), Invalid> {
    const TYPES: &str = "['SQS', 'SNS', 'EventBridge', 'Lambda', 'S3Bucket']";
    let kind = d.get("Type").and_then(Value::as_str).unwrap_or("None");
    let arn = match (kind, d.get("Destination")) {
        (_, Some(arn)) if arn.get("Fn::If").is_some() => {
            return Err(
                "A conditional (Fn::If) destination is not supported by this transform.".into(),
            )
        }
        ("SQS" | "SNS" | "EventBridge" | "Lambda" | "S3Bucket", Some(arn)) => arn.clone(),
        ("SQS", None) => {
            t.add_child(
                source,
                &format!("{prefix}Queue"),
                json!({ "Type": "AWS::SQS::Queue", "Properties": {} }),
                attrs,
            )?;
            t.renamed.insert(
                format!("{source}.DestinationQueue"),
                format!("{prefix}Queue"),
            );
            get_att(&format!("{prefix}Queue"), "Arn")
        }
        ("SNS", None) => {
            t.add_child(
                source,
                &format!("{prefix}Topic"),
                json!({ "Type": "AWS::SNS::Topic", "Properties": {} }),
                attrs,
            )?;
            t.renamed.insert(
                format!("{source}.DestinationTopic"),
                format!("{prefix}Topic"),
            );
            reference(&format!("{prefix}Topic"))
        }
        ("EventBridge" | "Lambda" | "S3Bucket", None) => {
            return Err("Destination is required if Type is not ['SQS', 'SNS']".into())
        }
        (other, _) => return Err(format!("'Type: {other}' must be one of {TYPES}")),
    };
    let statement = |action: &str, resource: &Value| json!({ "Action": action, "Effect": "Allow", "Resource": resource });
    let (suffix, statements) = match kind {
        "SQS" => ("SQSPolicy", vec![statement("sqs:SendMessage", &arn)]),
        "SNS" => ("SNSPolicy", vec![statement("sns:publish", &arn)]),
        "EventBridge" => (
            "EventBridgePolicy",
            vec![statement("events:PutEvents", &arn)],
        ),
        "Lambda" => (
            "LambdaPolicy",
            vec![statement("lambda:InvokeFunction", &arn)],
        ),
        _ => (
            "S3Policy",
            vec![
                statement("s3:PutObject", &json!({ "Fn::Join": ["/", [arn, "*"]] })),
                statement("s3:ListBucket", &arn),
            ],
        ),
    };
    let policy = json!({
        "PolicyName": format!("{prefix}{suffix}"),
        "PolicyDocument": { "Statement": statements }
    });
    Ok((arn, policy))
}
