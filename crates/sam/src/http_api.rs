//! HTTP APIs: `AWS::Serverless::HttpApi` and the implicit `ServerlessHttpApi` that `HttpApi`
//! events without an `ApiId` share.
//!
//! SAM writes the routes into the API's OpenAPI `Body`; Stratus emits the same API as explicit
//! `AWS::ApiGatewayV2::Route`, `Integration` and `Authorizer` resources (`<Fn><Event>Route`,
//! `<Fn><Event>Integration`, `<Api><Name>Authorizer`), the types its CloudFormation engine
//! creates. The API, stage and permission resources keep SAM's ids and shapes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::authorizers::{self, Authorizer};
use crate::events::{http_api_ref, Event};
use crate::resources::{permission, Attrs, Translator};
use crate::util::{copy_props, is_intrinsic, reference, resource};
use crate::{hash, Context, Invalid};

pub(crate) const IMPLICIT: &str = "ServerlessHttpApi";

const PROPERTIES: &[&str] = &[
    "StageName",
    "Auth",
    "CorsConfiguration",
    "Tags",
    "Description",
    "Name",
    "StageVariables",
    "AccessLogSettings",
    "DefaultRouteSettings",
    "RouteSettings",
    "FailOnWarnings",
    "DisableExecuteApiEndpoint",
    "PropagateTags",
];

const CORS: &[&str] = &[
    "AllowMethods",
    "AllowHeaders",
    "AllowOrigins",
    "MaxAge",
    "ExposeHeaders",
    "AllowCredentials",
];

#[derive(Debug)]
struct Route {
    /// `<Fn><Event>`.
    id: String,
    function: String,
    method: String,
    path: String,
    auth: Option<Value>,
    payload_format: Value,
    timeout: Option<Value>,
    target_arn: Value,
    attrs: Attrs,
}

#[derive(Debug)]
pub(crate) struct Api {
    id: String,
    props: Map<String, Value>,
    attrs: Attrs,
    authorizers: BTreeMap<String, Authorizer>,
    default_authorizer: Option<String>,
    routes: Vec<Route>,
    /// Functions with a `$default` route: their other routes need no permission of their own.
    default_route_functions: BTreeSet<String>,
}

impl Api {
    pub(crate) fn explicit(
        _ctx: &Context,
        id: &str,
        p: &Map<String, Value>,
        attrs: Attrs,
    ) -> Result<Self, Invalid> {
        for key in ["DefinitionBody", "DefinitionUri"] {
            if p.contains_key(key) {
                return Err(format!("{key} (an OpenAPI definition) is not supported by this transform; declare routes with HttpApi events."));
            }
        }
        if p.contains_key("Domain") {
            return Err("Domain (custom domain names) is not supported by this transform.".into());
        }
        if let Some(k) = p.keys().find(|k| !PROPERTIES.contains(&k.as_str())) {
            return Err(format!(
                "property {k} not defined for resource of type AWS::Serverless::HttpApi"
            ));
        }
        let (authorizers, default_authorizer) = authorizers::parse(p.get("Auth"))?;
        Ok(Api {
            id: id.into(),
            props: p.clone(),
            attrs,
            authorizers,
            default_authorizer,
            routes: Vec::new(),
            default_route_functions: BTreeSet::new(),
        })
    }

    pub(crate) fn emit(self, t: &mut Translator) -> Result<(), Invalid> {
        let id = self.id.as_str();
        let mut tags = Map::new();
        tags.insert("httpapi:createdBy".into(), json!("SAM"));
        if let Some(Value::Object(user)) = self.props.get("Tags") {
            tags.extend(user.clone());
        }
        let mut api = Map::new();
        api.insert(
            "Name".into(),
            self.props
                .get("Name")
                .cloned()
                .unwrap_or_else(|| reference("AWS::StackName")),
        );
        api.insert("ProtocolType".into(), json!("HTTP"));
        copy_props(
            &self.props,
            &mut api,
            &["Description", "DisableExecuteApiEndpoint", "FailOnWarnings"],
        );
        if let Some(cors) = self.props.get("CorsConfiguration") {
            api.insert("CorsConfiguration".into(), cors_configuration(cors)?);
        }
        api.insert("Tags".into(), Value::Object(tags.clone()));
        t.add_main(id, id, resource("AWS::ApiGatewayV2::Api", api), &self.attrs)?;

        self.stage(t, tags)?;
        for (name, authorizer) in &self.authorizers {
            authorizer.emit(t, id, name, &self.attrs)?;
        }
        for route in &self.routes {
            self.route(t, route)?;
        }
        Ok(())
    }

    fn stage(&self, t: &mut Translator, tags: Map<String, Value>) -> Result<(), Invalid> {
        let id = self.id.as_str();
        let name = self
            .props
            .get("StageName")
            .cloned()
            .unwrap_or_else(|| json!("$default"));
        let stage_id = match name.as_str() {
            Some(n) if !n.is_empty() && n.chars().all(char::is_alphanumeric) => {
                format!("{id}{n}Stage")
            }
            Some("$default") => format!("{id}ApiGatewayDefaultStage"),
            Some(n) => hash::logical_id(&format!("{id}Stage"), &json!(n)),
            None => format!("{id}Stage"),
        };
        let mut stage = Map::new();
        stage.insert("ApiId".into(), reference(id));
        stage.insert("AutoDeploy".into(), json!(true));
        stage.insert("StageName".into(), name);
        stage.insert("Tags".into(), Value::Object(tags));
        copy_props(
            &self.props,
            &mut stage,
            &[
                "StageVariables",
                "AccessLogSettings",
                "DefaultRouteSettings",
                "RouteSettings",
            ],
        );
        t.add_child(
            id,
            &stage_id,
            resource("AWS::ApiGatewayV2::Stage", stage),
            &self.attrs,
        )?;
        t.renamed.insert(format!("{id}.Stage"), stage_id);
        Ok(())
    }

    fn route(&self, t: &mut Translator, r: &Route) -> Result<(), Invalid> {
        let api = self.id.as_str();
        let method = match r.method.to_ascii_lowercase().as_str() {
            "any" | "x-amazon-apigateway-any-method" => "ANY".to_string(),
            m => m.to_ascii_uppercase(),
        };
        let route_key = if r.path == "$default" {
            "$default".to_string()
        } else {
            format!("{method} {}", r.path)
        };
        let integration_id = format!("{}Integration", r.id);
        let mut integration = Map::new();
        integration.insert("ApiId".into(), reference(api));
        integration.insert("IntegrationType".into(), json!("AWS_PROXY"));
        integration.insert("IntegrationUri".into(), r.target_arn.clone());
        integration.insert("PayloadFormatVersion".into(), r.payload_format.clone());
        if let Some(timeout) = &r.timeout {
            integration.insert("TimeoutInMillis".into(), timeout.clone());
        }
        t.add_child(
            &r.function,
            &integration_id,
            resource("AWS::ApiGatewayV2::Integration", integration),
            &r.attrs,
        )?;

        let mut route = Map::new();
        route.insert("ApiId".into(), reference(api));
        route.insert("RouteKey".into(), json!(route_key));
        route.insert(
            "Target".into(),
            json!({ "Fn::Join": ["/", ["integrations", reference(&integration_id)]] }),
        );
        self.route_auth(r, &mut route)?;
        t.add_child(
            &r.function,
            &format!("{}Route", r.id),
            resource("AWS::ApiGatewayV2::Route", route),
            &r.attrs,
        )
    }

    /// The route's authorization: the event's `Auth`, else the API's default authorizer.
    fn route_auth(&self, r: &Route, route: &mut Map<String, Value>) -> Result<(), Invalid> {
        let named = r
            .auth
            .as_ref()
            .and_then(|a| a.get("Authorizer"))
            .and_then(Value::as_str);
        let authorizer = match named {
            Some("NONE") => None,
            Some(name) => Some(name.to_string()),
            None => self.default_authorizer.clone(),
        };
        let Some(name) = authorizer else {
            if named == Some("NONE") {
                route.insert("AuthorizationType".into(), json!("NONE"));
            }
            return Ok(());
        };
        let Some(authorizer) = self.authorizers.get(&name) else {
            return Err(format!(
                "Event with id [{}] is invalid. Unable to set Authorizer [{name}] on API method [{}] for path [{}] because the related API does not define any Authorizers.",
                r.id, r.method, r.path
            ));
        };
        route.insert("AuthorizationType".into(), json!(authorizer.route_type));
        route.insert(
            "AuthorizerId".into(),
            reference(&format!("{}{name}Authorizer", self.id)),
        );
        let scopes = r
            .auth
            .as_ref()
            .and_then(|a| a.get("AuthorizationScopes"))
            .or(authorizer.scopes.as_ref());
        // Only JWT authorizers check scopes.
        if let Some(scopes) = scopes.filter(|_| authorizer.route_type == "JWT") {
            route.insert("AuthorizationScopes".into(), scopes.clone());
        }
        Ok(())
    }
}

fn cors_configuration(v: &Value) -> Result<Value, Invalid> {
    match v {
        Value::Bool(true) => Ok(json!({ "AllowOrigins": ["*"] })),
        v if is_intrinsic(v) => Ok(json!({ "AllowOrigins": v })),
        Value::Object(m) => {
            if let Some(k) = m.keys().find(|k| !CORS.contains(&k.as_str())) {
                return Err(format!("Invalid key '{k}' for 'Cors' property."));
            }
            let wildcard = m.get("AllowOrigins").is_none_or(|o| o == &json!(["*"]));
            if m.get("AllowCredentials") == Some(&json!(true)) && wildcard {
                return Err("Unable to add Cors configuration because 'AllowCredentials' can not be true when 'AllowOrigin' is \"'*'\" or not set.".into());
            }
            Ok(v.clone())
        }
        _ => Err("Invalid value for 'Cors' property.".into()),
    }
}

/// Attaches an `HttpApi` event's route to its API (the implicit one without `ApiId`) and adds
/// the permission that lets API Gateway invoke the function.
pub(crate) fn add_route(t: &mut Translator, e: &Event, _ev_id: &str) -> Result<(), Invalid> {
    let (path, method) = match (e.p.get("Path"), e.p.get("Method")) {
        (None, None) => (
            "$default".to_string(),
            "x-amazon-apigateway-any-method".to_string(),
        ),
        (None, Some(_)) => return Err("Property 'Path' is required.".into()),
        (Some(_), None) => return Err("Property 'Method' is required.".into()),
        (Some(p), Some(m)) => match (p.as_str(), m.as_str()) {
            (Some(p), Some(m)) => (p.to_string(), m.to_string()),
            _ => return Err("Path and Method must be strings.".into()),
        },
    };
    let api_id = match e.p.get("ApiId") {
        None => IMPLICIT.to_string(),
        Some(v) => http_api_ref(t, v)
            .ok_or("ApiId must be a valid reference to an 'AWS::Serverless::HttpApi' resource in same template.")?
            .to_string(),
    };
    if api_id == IMPLICIT && !t.apis.contains_key(IMPLICIT) {
        if t.input.contains_key(IMPLICIT) {
            return Err(format!("A resource named {IMPLICIT} already exists; it is the id SAM gives the implicit HTTP API."));
        }
        let props = t.implicit_api_properties();
        let api = Api::explicit(t.ctx, IMPLICIT, &props, Attrs::default())
            .map_err(|e| format!("The implicit HTTP API is invalid: {e}"))?;
        t.apis.insert(IMPLICIT.into(), api);
    }
    // An explicit API that failed its own checks has been reported already.
    let Some(api) = t.apis.get_mut(&api_id) else {
        return Ok(());
    };
    let route = Route {
        id: e.id.clone(),
        function: e.source.to_string(),
        method: method.clone(),
        path: path.clone(),
        auth: e.p.get("Auth").cloned(),
        payload_format: e
            .p
            .get("PayloadFormatVersion")
            .cloned()
            .unwrap_or_else(|| json!("2.0")),
        timeout: e.p.get("TimeoutInMillis").cloned(),
        target_arn: e.target.arn.clone(),
        attrs: e.attrs.clone(),
    };
    if let Some(name) = route
        .auth
        .as_ref()
        .and_then(|a| a.get("Authorizer"))
        .and_then(Value::as_str)
    {
        if name != "NONE" && !api.authorizers.contains_key(name) {
            return Err(format!("Unable to set Authorizer [{name}] on API method [{}] for path [{path}] because it wasn't defined in the API's Authorizers.", method.to_ascii_lowercase()));
        }
    }
    api.routes.push(route);
    let Some(arn_path) = permission_path(&path, &method) else {
        api.default_route_functions.insert(e.source.to_string());
        return add_permission(t, e, &api_id, "${__ApiId__}/${__Stage__}/*".into());
    };
    if api.default_route_functions.contains(e.source) {
        return Ok(());
    }
    add_permission(
        t,
        e,
        &api_id,
        format!("${{__ApiId__}}/${{__Stage__}}{arn_path}"),
    )
}

fn add_permission(
    t: &mut Translator,
    e: &Event,
    api_id: &str,
    resource: String,
) -> Result<(), Invalid> {
    let arn = format!(
        "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"
    );
    let source = json!({ "Fn::Sub": [arn, { "__ApiId__": reference(api_id), "__Stage__": "*" }] });
    let perm = permission(
        "apigateway.amazonaws.com",
        &e.target.name,
        Some(("SourceArn", source)),
    );
    e.add(t, &format!("{}Permission", e.id), perm)
}

/// The `/<METHOD><path>` end of the permission's source ARN (path parameters as `*`), or
/// `None` for the `$default` route, whose permission covers every route.
fn permission_path(path: &str, method: &str) -> Option<String> {
    if path == "$default" {
        return None;
    }
    let method = match method.to_ascii_lowercase().as_str() {
        "any" | "x-amazon-apigateway-any-method" => "*".to_string(),
        m => m.to_ascii_uppercase(),
    };
    let trimmed = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let mut out = String::new();
    let mut in_param = false;
    for c in trimmed.chars() {
        match c {
            '{' => in_param = true,
            '}' if in_param => {
                in_param = false;
                out.push('*');
            }
            _ if in_param => {}
            c => out.push(c),
        }
    }
    Some(format!("/{method}{out}"))
}
