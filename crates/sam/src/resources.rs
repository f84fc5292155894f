//! The walk over a template's resources: plain CloudFormation resources are kept, each SAM
//! resource is replaced by what it expands to, and every error is collected (SAM reports all
//! the invalid resources of a template at once).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::globals::Globals;
use crate::util::{copy_props, reference, resource, tag_list};
use crate::{deployment, function, hash, http_api, Context, Error, Invalid};

/// The resource attributes SAM carries from a SAM resource to what it generates.
#[derive(Debug, Default, Clone)]
pub(crate) struct Attrs {
    pub condition: Option<Value>,
    pub depends_on: Option<Value>,
    pub metadata: Option<Value>,
    pub deletion_policy: Option<Value>,
    pub update_replace_policy: Option<Value>,
}

impl Attrs {
    fn of(r: &Map<String, Value>) -> Self {
        Attrs {
            condition: r.get("Condition").cloned(),
            depends_on: r.get("DependsOn").cloned(),
            metadata: r.get("Metadata").cloned(),
            deletion_policy: r.get("DeletionPolicy").cloned(),
            update_replace_policy: r.get("UpdateReplacePolicy").cloned(),
        }
    }
}

pub(crate) struct Translator<'a> {
    pub ctx: &'a Context,
    pub input: &'a Map<String, Value>,
    globals: &'a Globals,
    /// The parameter values SAM knows at transform time: defaults and the region's pseudo
    /// parameters. It resolves them where a value decides a logical id.
    pub params: Map<String, Value>,
    /// The template's resources as they are being rewritten.
    pub out: Map<String, Value>,
    /// Logical ids the transform changed (old → new), rewritten across the template at the end.
    pub renamed: BTreeMap<String, String>,
    /// The HTTP APIs to emit: the explicit ones and, once an event needs it, the implicit one.
    pub apis: BTreeMap<String, http_api::Api>,
    /// The functions' deployment preferences, for the resources they share.
    pub preferences: deployment::Preferences,
    errors: Vec<String>,
}

impl<'a> Translator<'a> {
    pub(crate) fn new(
        ctx: &'a Context,
        input: &'a Map<String, Value>,
        globals: &'a Globals,
        params: Map<String, Value>,
    ) -> Self {
        Translator {
            ctx,
            params,
            input,
            globals,
            out: Map::new(),
            renamed: BTreeMap::new(),
            apis: BTreeMap::new(),
            preferences: deployment::Preferences::default(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn run(&mut self) -> Result<Map<String, Value>, Error> {
        let input = self.input;
        for (id, r) in input {
            if !kind_of(r).starts_with("AWS::Serverless::") {
                self.out.insert(id.clone(), r.clone());
            }
        }
        // HTTP APIs first, so function events can attach routes to them.
        for (id, r) in input {
            if kind_of(r) == "AWS::Serverless::HttpApi" {
                let result = self.properties(r).and_then(|p| {
                    http_api::Api::explicit(
                        self.ctx,
                        id,
                        &p,
                        Attrs::of(r.as_object().unwrap_or(&Map::new())),
                    )
                });
                match result {
                    Ok(api) => {
                        self.apis.insert(id.clone(), api);
                    }
                    Err(e) => self.fail(id, e),
                }
            }
        }
        for (id, r) in input {
            let kind = kind_of(r);
            if !kind.starts_with("AWS::Serverless::") || kind == "AWS::Serverless::HttpApi" {
                continue;
            }
            if let Err(e) = self.one(id, kind, r) {
                self.fail(id, e);
            }
        }
        if let Err(e) = deployment::finish(self) {
            self.errors.push(e);
        }
        let apis = std::mem::take(&mut self.apis);
        for (id, api) in apis {
            if let Err(e) = api.emit(self) {
                self.fail(&id, e);
            }
        }
        if self.errors.is_empty() {
            Ok(std::mem::take(&mut self.out))
        } else {
            Err(Error {
                causes: std::mem::take(&mut self.errors),
            })
        }
    }

    pub(crate) fn implicit_api_properties(&self) -> Map<String, Value> {
        self.globals.apply("AWS::Serverless::HttpApi", &Map::new())
    }

    fn fail(&mut self, id: &str, e: Invalid) {
        // Some of SAM's errors name a generated resource rather than the SAM one.
        if e.starts_with(RESOURCE_ERROR) {
            self.errors.push(e);
        } else {
            self.errors
                .push(format!("{RESOURCE_ERROR}{id}] is invalid. {e}"));
        }
    }

    /// The resource's properties with its type's globals merged in.
    fn properties(&self, r: &Value) -> Result<Map<String, Value>, Invalid> {
        let props = match r.get("Properties") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("Properties of a resource must be an object.".into()),
        };
        Ok(self.globals.apply(kind_of(r), &props))
    }

    fn one(&mut self, id: &str, kind: &str, r: &Value) -> Result<(), Invalid> {
        let attrs = Attrs::of(r.as_object().ok_or("Resource must be an object.")?);
        match kind {
            "AWS::Serverless::Function" | "AWS::Serverless::SimpleTable" | "AWS::Serverless::LayerVersion" => {}
            "AWS::Serverless::Api" => {
                return Err("AWS::Serverless::Api (REST APIs, API Gateway v1) is not supported; use AWS::Serverless::HttpApi instead.".into())
            }
            other => return Err(format!("Resource type {other} is not supported by this transform.")),
        }
        // Checked with the globals merged in: a global is as much the resource's as its own.
        let props = self.properties(r)?;
        check_properties(kind, &props)?;
        match kind {
            "AWS::Serverless::Function" => function::translate(self, id, &props, &attrs),
            "AWS::Serverless::SimpleTable" => self.simple_table(id, &props, &attrs),
            _ => self.layer_version(id, r, &props, &attrs),
        }
    }

    /// Adds a generated resource, refusing to overwrite one the template already has.
    pub(crate) fn add(&mut self, source: &str, id: &str, r: Value) -> Result<(), Invalid> {
        if self.out.contains_key(id) || (id != source && self.input.contains_key(id)) {
            return Err(format!(
                "Transforming resource with id [{source}] attempts to create a new resource with logical id [{id}]. A resource with that id already exists within this template. Please use a different id for that resource."
            ));
        }
        self.out.insert(id.into(), r);
        Ok(())
    }

    /// Adds the main resource a SAM resource becomes, with all its attributes.
    pub(crate) fn add_main(
        &mut self,
        source: &str,
        id: &str,
        mut r: Value,
        attrs: &Attrs,
    ) -> Result<(), Invalid> {
        if let Value::Object(m) = &mut r {
            let pairs = [
                ("Condition", &attrs.condition),
                ("DependsOn", &attrs.depends_on),
                ("Metadata", &attrs.metadata),
                ("DeletionPolicy", &attrs.deletion_policy),
                ("UpdateReplacePolicy", &attrs.update_replace_policy),
            ];
            for (k, v) in pairs {
                if let Some(v) = v {
                    m.entry(k).or_insert_with(|| v.clone());
                }
            }
        }
        self.add(source, id, r)
    }

    /// Adds a resource generated alongside the main one; it shares the main one's `Condition`.
    pub(crate) fn add_child(
        &mut self,
        source: &str,
        id: &str,
        mut r: Value,
        attrs: &Attrs,
    ) -> Result<(), Invalid> {
        if let (Value::Object(m), Some(c)) = (&mut r, &attrs.condition) {
            m.insert("Condition".into(), c.clone());
        }
        self.add(source, id, r)
    }

    fn simple_table(
        &mut self,
        id: &str,
        p: &Map<String, Value>,
        attrs: &Attrs,
    ) -> Result<(), Invalid> {
        let (name, kind) = match p.get("PrimaryKey") {
            None => ("id".to_string(), "S"),
            Some(Value::Object(k)) => {
                let name = k.get("Name").and_then(Value::as_str);
                let kind = match k.get("Type").and_then(Value::as_str) {
                    Some("String") => "S",
                    Some("Number") => "N",
                    Some("Binary") => "B",
                    _ => return Err("'Type' must be one of 'String', 'Number', 'Binary'.".into()),
                };
                let name = name.ok_or("'PrimaryKey' is missing required Property 'Name'.")?;
                (name.to_string(), kind)
            }
            Some(_) => return Err("Type of property 'PrimaryKey' is invalid.".into()),
        };
        let mut props = Map::new();
        props.insert(
            "AttributeDefinitions".into(),
            json!([{ "AttributeName": name, "AttributeType": kind }]),
        );
        props.insert(
            "KeySchema".into(),
            json!([{ "AttributeName": name, "KeyType": "HASH" }]),
        );
        match p.get("ProvisionedThroughput") {
            Some(t) => {
                props.insert("ProvisionedThroughput".into(), t.clone());
            }
            None => {
                props.insert("BillingMode".into(), json!("PAY_PER_REQUEST"));
            }
        }
        copy_props(
            p,
            &mut props,
            &[
                "TableName",
                "SSESpecification",
                "PointInTimeRecoverySpecification",
            ],
        );
        if p.get("Tags").is_some() {
            props.insert("Tags".into(), Value::Array(tag_list(None, p.get("Tags"))));
        }
        self.add_main(id, id, resource("AWS::DynamoDB::Table", props), attrs)
    }

    fn layer_version(
        &mut self,
        id: &str,
        r: &Value,
        p: &Map<String, Value>,
        attrs: &Attrs,
    ) -> Result<(), Invalid> {
        let content = match p.get("ContentUri") {
            Some(Value::String(uri)) => s3_location(uri, "ContentUri")?,
            Some(Value::Object(m)) if m.contains_key("Bucket") && m.contains_key("Key") => {
                let mut c = Map::new();
                c.insert("S3Bucket".into(), m["Bucket"].clone());
                c.insert("S3Key".into(), m["Key"].clone());
                if let Some(v) = m.get("Version") {
                    c.insert("S3ObjectVersion".into(), v.clone());
                }
                c
            }
            Some(_) => {
                return Err(
                    "'ContentUri' requires Bucket and Key properties to be specified.".into(),
                )
            }
            None => return Err("Missing required property 'ContentUri'.".into()),
        };
        let policy =
            match p.get("RetentionPolicy") {
                None => "Retain".to_string(),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("retain") => "Retain".into(),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("delete") => "Delete".into(),
                Some(_) => return Err(
                    "'RetentionPolicy' must be one of the following options: ['Retain', 'Delete']."
                        .into(),
                ),
            };
        // SAM hashes the resource as written (without the attributes it passes through), so a
        // new version of the layer is a new logical id and the old one can be retained.
        let mut hashed = r.as_object().cloned().unwrap_or_default();
        for k in ["DeletionPolicy", "UpdateReplacePolicy", "Metadata"] {
            hashed.remove(k);
        }
        hashed.insert("Properties".into(), Value::Object(p.clone()));
        let new_id = hash::logical_id(id, &json!({ id: hashed }));
        let mut props = Map::new();
        props.insert("Content".into(), Value::Object(content));
        props.insert(
            "LayerName".into(),
            p.get("LayerName").cloned().unwrap_or_else(|| json!(id)),
        );
        copy_props(
            p,
            &mut props,
            &[
                "Description",
                "CompatibleRuntimes",
                "CompatibleArchitectures",
                "LicenseInfo",
            ],
        );
        let mut attrs = attrs.clone();
        attrs.deletion_policy = Some(json!(policy));
        self.add_main(
            id,
            &new_id,
            resource("AWS::Lambda::LayerVersion", props),
            &attrs,
        )?;
        self.renamed.insert(id.into(), new_id);
        Ok(())
    }
}

/// The properties SAM defines for each type this transform takes, and those of them it does not
/// translate (refused rather than dropped, so a stack never deploys less than it says).
const PROPERTIES: &[(&str, &[&str], &[&str])] = &[
    (
        "AWS::Serverless::Function",
        &[
            "FunctionName",
            "Handler",
            "Runtime",
            "CodeUri",
            "ImageUri",
            "PackageType",
            "InlineCode",
            "DeadLetterQueue",
            "Description",
            "MemorySize",
            "Timeout",
            "VpcConfig",
            "Role",
            "AssumeRolePolicyDocument",
            "Policies",
            "RolePath",
            "PermissionsBoundary",
            "Environment",
            "Events",
            "Tags",
            "PropagateTags",
            "Tracing",
            "KmsKeyArn",
            "DeploymentPreference",
            "ReservedConcurrentExecutions",
            "Layers",
            "EventInvokeConfig",
            "EphemeralStorage",
            "AutoPublishAlias",
            "AutoPublishCodeSha256",
            "AutoPublishAliasAllProperties",
            "VersionDescription",
            "ProvisionedConcurrencyConfig",
            "FileSystemConfigs",
            "ImageConfig",
            "CodeSigningConfigArn",
            "Architectures",
            "SnapStart",
            "FunctionUrlConfig",
            "RuntimeManagementConfig",
            "LoggingConfig",
            "RecursiveLoop",
            "SourceKMSKeyArn",
            "CapacityProviderConfig",
            "FunctionScalingConfig",
            "VersionDeletionPolicy",
            "PublishToLatestPublished",
            "TenancyConfig",
            "DurableConfig",
        ],
        &[
            "CapacityProviderConfig",
            "FunctionScalingConfig",
            "PublishToLatestPublished",
            "TenancyConfig",
            "DurableConfig",
        ],
    ),
    (
        "AWS::Serverless::SimpleTable",
        &[
            "PointInTimeRecoverySpecification",
            "PrimaryKey",
            "ProvisionedThroughput",
            "TableName",
            "Tags",
            "SSESpecification",
        ],
        &[],
    ),
    (
        "AWS::Serverless::LayerVersion",
        &[
            "LayerName",
            "Description",
            "PublishLambdaVersion",
            "ContentUri",
            "CompatibleArchitectures",
            "CompatibleRuntimes",
            "LicenseInfo",
            "RetentionPolicy",
        ],
        &[],
    ),
];

fn check_properties(kind: &str, props: &Map<String, Value>) -> Result<(), Invalid> {
    let Some((_, known, refused)) = PROPERTIES.iter().find(|(k, _, _)| *k == kind) else {
        return Ok(());
    };
    for name in props.keys() {
        if !known.contains(&name.as_str()) {
            return Err(format!(
                "property {name} not defined for resource of type {kind}"
            ));
        }
        if refused.contains(&name.as_str()) {
            return Err(format!(
                "property {name} is not supported by this transform yet."
            ));
        }
    }
    if props.get("PropagateTags") == Some(&Value::Bool(true)) {
        return Err("PropagateTags is not supported by this transform yet.".into());
    }
    Ok(())
}

/// How every error about one resource starts.
pub(crate) const RESOURCE_ERROR: &str = "Resource with id [";

pub(crate) fn kind_of(r: &Value) -> &str {
    r.get("Type").and_then(Value::as_str).unwrap_or("")
}

/// `s3://bucket/key[?versionId=v]` as `{S3Bucket, S3Key[, S3ObjectVersion]}`.
pub(crate) fn s3_location(uri: &str, property: &str) -> Result<Map<String, Value>, Invalid> {
    let bad = || {
        format!("'{property}' is not a valid S3 Uri of the form 's3://bucket/key' with optional versionId query parameter.")
    };
    let rest = uri.strip_prefix("s3://").ok_or_else(bad)?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let (bucket, key) = path.split_once('/').ok_or_else(bad)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    let mut m = Map::new();
    m.insert("S3Bucket".into(), json!(bucket));
    m.insert("S3Key".into(), json!(key));
    if let Some(q) = query {
        let version = q
            .split('&')
            .find_map(|kv| kv.strip_prefix("versionId="))
            .ok_or_else(bad)?;
        m.insert("S3ObjectVersion".into(), json!(version));
    }
    Ok(m)
}

/// `{"Ref": id}` when `id` names a resource of `kind` in the input template.
pub(crate) fn ref_to_kind<'v>(
    input: &Map<String, Value>,
    v: &'v Value,
    kind: &str,
) -> Option<&'v str> {
    let id = v
        .as_object()
        .filter(|m| m.len() == 1)?
        .get("Ref")?
        .as_str()?;
    (kind_of(input.get(id)?) == kind).then_some(id)
}

pub(crate) fn permission(
    principal: &str,
    function: &Value,
    source: Option<(&str, Value)>,
) -> Value {
    let mut p = Map::new();
    p.insert("Action".into(), json!("lambda:InvokeFunction"));
    p.insert("FunctionName".into(), function.clone());
    p.insert("Principal".into(), json!(principal));
    if let Some((k, v)) = source {
        p.insert(k.into(), v);
    }
    resource("AWS::Lambda::Permission", p)
}

pub(crate) fn account_ref() -> Value {
    reference("AWS::AccountId")
}
