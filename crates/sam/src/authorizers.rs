//! An HTTP API's `Auth.Authorizers`: JWT authorizers and Lambda (REQUEST) authorizers, each an
//! `AWS::ApiGatewayV2::Authorizer` named `<Api><Name>Authorizer`, with the permission SAM adds
//! for a Lambda authorizer when `EnableFunctionDefaultPermissions` is set.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::resources::{permission, Attrs, Translator};
use crate::util::{copy_props, reference, resource};
use crate::Invalid;

#[derive(Debug)]
pub(crate) struct Authorizer {
    /// The `AWS::ApiGatewayV2::Authorizer` properties, less `ApiId`.
    props: Map<String, Value>,
    /// The `AuthorizationType` of the routes it guards: `JWT` or `CUSTOM`.
    pub route_type: &'static str,
    /// The scopes routes get when their event names none.
    pub scopes: Option<Value>,
    /// The Lambda authorizer's function, when API Gateway needs a permission to invoke it.
    invoke_permission: Option<Value>,
}

/// The API's authorizers by name, and its default authorizer.
pub(crate) type Authorizers = (BTreeMap<String, Authorizer>, Option<String>);

pub(crate) fn parse(v: Option<&Value>) -> Result<Authorizers, Invalid> {
    let Some(auth) = v else {
        return Ok((BTreeMap::new(), None));
    };
    let auth = auth
        .as_object()
        .ok_or("Type of property 'Auth' is invalid.")?;
    let mut out = BTreeMap::new();
    if let Some(list) = auth.get("Authorizers") {
        let list = list
            .as_object()
            .ok_or("Authorizers must be a dictionary.")?;
        for (name, a) in list {
            let a = a
                .as_object()
                .ok_or_else(|| format!("Authorizer {name} must be a dictionary."))?;
            let authorizer = if a.contains_key("FunctionArn") {
                lambda(name, a)?
            } else {
                jwt(name, a)?
            };
            out.insert(name.clone(), authorizer);
        }
    }
    let default = match auth.get("DefaultAuthorizer") {
        None => None,
        Some(Value::String(d)) if out.contains_key(d) => Some(d.clone()),
        Some(d) => {
            return Err(format!(
                "Unable to set DefaultAuthorizer because '{}' was not defined in 'Authorizers'.",
                d.as_str().unwrap_or_default()
            ))
        }
    };
    Ok((out, default))
}

impl Authorizer {
    pub(crate) fn emit(
        &self,
        t: &mut Translator,
        api: &str,
        name: &str,
        attrs: &Attrs,
    ) -> Result<(), Invalid> {
        let mut props = self.props.clone();
        props.insert("ApiId".into(), reference(api));
        let id = format!("{api}{name}Authorizer");
        t.add_child(
            api,
            &id,
            resource("AWS::ApiGatewayV2::Authorizer", props),
            attrs,
        )?;
        if let Some(function) = &self.invoke_permission {
            let source = json!({ "Fn::Sub": [
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/authorizers/*",
                { "__ApiId__": reference(api) }
            ]});
            let perm = permission(
                "apigateway.amazonaws.com",
                function,
                Some(("SourceArn", source)),
            );
            t.add_child(api, &format!("{id}Permission"), perm, attrs)?;
        }
        Ok(())
    }
}

fn jwt(name: &str, a: &Map<String, Value>) -> Result<Authorizer, Invalid> {
    let jwt = a
        .get("JwtConfiguration")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{name} OAuth2 Authorizer must define 'JwtConfiguration'."))?;
    // SAM takes the OpenAPI spelling (issuer, audience); CloudFormation's is capitalised.
    let field = |k: &str| {
        jwt.get(k)
            .or_else(|| jwt.get(&k.to_ascii_lowercase()))
            .cloned()
    };
    let mut config = Map::new();
    if let Some(issuer) = field("Issuer") {
        config.insert("Issuer".into(), issuer);
    }
    if let Some(audience) = field("Audience") {
        config.insert("Audience".into(), audience);
    }
    let source = a
        .get("IdentitySource")
        .cloned()
        .ok_or_else(|| format!("{name} OAuth2 Authorizer must define 'IdentitySource'."))?;
    let mut props = Map::new();
    props.insert("AuthorizerType".into(), json!("JWT"));
    props.insert("Name".into(), json!(name));
    props.insert("IdentitySource".into(), json!([source]));
    props.insert("JwtConfiguration".into(), Value::Object(config));
    Ok(Authorizer {
        props,
        route_type: "JWT",
        scopes: a.get("AuthorizationScopes").cloned(),
        invoke_permission: None,
    })
}

fn lambda(name: &str, a: &Map<String, Value>) -> Result<Authorizer, Invalid> {
    let function = a["FunctionArn"].clone();
    let version = a.get("AuthorizerPayloadFormatVersion").ok_or_else(|| {
        format!("{name} Lambda Authorizer must define 'AuthorizerPayloadFormatVersion'.")
    })?;
    let mut props = Map::new();
    props.insert("AuthorizerType".into(), json!("REQUEST"));
    props.insert("Name".into(), json!(name));
    props.insert(
        "AuthorizerUri".into(),
        json!({ "Fn::Sub": [
            "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${__FunctionArn__}/invocations",
            { "__FunctionArn__": function }
        ]}),
    );
    props.insert("AuthorizerPayloadFormatVersion".into(), version.clone());
    copy_props(a, &mut props, &["EnableSimpleResponses"]);
    if let Some(role) = a.get("FunctionInvokeRole") {
        props.insert("AuthorizerCredentialsArn".into(), role.clone());
    }
    if let Some(identity) = a.get("Identity") {
        let identity = identity.as_object().ok_or_else(|| {
            format!("{name} Lambda Authorizer property 'Identity' is of invalid type.")
        })?;
        let sources = identity_sources(name, identity)?;
        if !sources.is_empty() {
            props.insert("IdentitySource".into(), Value::Array(sources));
        }
        if let Some(ttl) = identity.get("ReauthorizeEvery") {
            props.insert("AuthorizerResultTtlInSeconds".into(), ttl.clone());
        }
    }
    let default_permission = a.get("EnableFunctionDefaultPermissions") == Some(&json!(true));
    Ok(Authorizer {
        props,
        route_type: "CUSTOM",
        scopes: a.get("AuthorizationScopes").cloned(),
        invoke_permission: default_permission.then_some(function),
    })
}

/// `Identity`'s headers, query strings, context and stage variables as identity sources.
fn identity_sources(name: &str, identity: &Map<String, Value>) -> Result<Vec<Value>, Invalid> {
    let kinds = [
        ("Headers", "$request.header."),
        ("QueryStrings", "$request.querystring."),
        ("Context", "$context."),
        ("StageVariables", "$stageVariables."),
    ];
    let mut out = Vec::new();
    for (key, prefix) in kinds {
        let Some(list) = identity.get(key) else {
            continue;
        };
        let list = list.as_array().ok_or_else(|| {
            format!("{name} Lambda Authorizer property '{key}' is of invalid type.")
        })?;
        for item in list {
            let item = item.as_str().ok_or_else(|| {
                format!("{name} Lambda Authorizer property '{key}' is of invalid type.")
            })?;
            out.push(json!(format!("{prefix}{item}")));
        }
    }
    Ok(out)
}
