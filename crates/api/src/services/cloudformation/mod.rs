//! Stacks through CloudFormation's Query protocol: form-encoded requests named by `Action`,
//! XML responses and errors. The model, store and executor are `stratus-stacks`; this module
//! decodes requests, checks them as CloudFormation does, starts the executor's background
//! task, and writes AWS's XML.
//!
//! # Layout
//! - [`client`]: the executor's signed, in-process way to the other APIs.
//! - [`source`]: template bodies from the request or a TemplateURL in Stratus's own S3.
//! - [`stacks`]: the stack operations.
//! - [`change_sets`]: the change set operations.
//! - [`render`]: stacks, resources and events as XML.

pub mod change_sets;
pub mod client;
pub mod render;
pub mod source;
pub mod stacks;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};

use axum::body::Bytes;
use axum::response::Response;
use http::request::Parts;
use stratus_core::{Error, Kind};
use stratus_stacks::engine::{Engine, Operation};
use stratus_stacks::store::Stacks;

use crate::auth::Caller;
use crate::services::sns::form::Params;
use crate::services::sns::xml;
use crate::{AppState, Shared};

pub const NS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

/// The stacks store and, once the state exists, the executor (which needs the router).
pub struct StacksService {
    pub store: Arc<Stacks>,
    engine: OnceLock<Arc<Engine>>,
    /// The SAM transform, when the composition root provides one.
    pub sam: Option<stratus_stacks::transform::SamExpander>,
}

impl StacksService {
    pub fn new(store: Stacks, sam: Option<stratus_stacks::transform::SamExpander>) -> Self {
        StacksService {
            store: Arc::new(store),
            engine: OnceLock::new(),
            sam,
        }
    }

    /// Makes the executor (sending through `state`'s router) and finishes the stacks a dead
    /// process left in progress, in the background.
    pub fn start(&self, state: Weak<AppState>) {
        let engine = Arc::new(Engine {
            store: self.store.clone(),
            client: Arc::new(client::RouterClient { state }),
            account_id: stratus_core::ACCOUNT_ID.to_string(),
            sam: self.sam,
        });
        if self.engine.set(engine.clone()).is_ok() {
            tokio::spawn(async move {
                if let Err(e) = engine.recover().await {
                    tracing::error!(error = %e, "recovering interrupted stacks");
                }
            });
        }
    }

    pub fn engine(&self) -> Result<&Arc<Engine>, Error> {
        self.engine.get().ok_or_else(|| {
            Error::new(
                "InternalFailure",
                Kind::Internal,
                "The stack executor is not running",
            )
        })
    }

    /// Runs an operation on a stack in the background.
    pub fn spawn(&self, stack_id: &str, op: Operation) -> Result<(), Error> {
        let engine = self.engine()?.clone();
        tokio::spawn(engine.run(stack_id.to_string(), op));
        Ok(())
    }
}

/// What every operation gets.
pub struct Ctx<'a> {
    pub state: &'a Shared,
    pub caller: &'a Caller,
    pub region: &'a str,
    pub request_id: String,
}

impl Ctx<'_> {
    pub fn service(&self) -> &StacksService {
        &self.state.stores.stacks
    }

    pub fn store(&self) -> &Stacks {
        &self.state.stores.stacks.store
    }

    pub fn ok(&self, action: &str, result: impl FnOnce(&mut xml::Xml)) -> Response {
        xml::ok_in(NS, action, &self.request_id, result)
    }
}

/// A stacks error in the core's terms (its HTTP status follows from the kind).
pub fn err(e: stratus_stacks::Error) -> Error {
    let kind = match e.code {
        "InternalFailure" => Kind::Internal,
        "ChangeSetNotFound" | "StackNotFoundException" => Kind::NotFound,
        _ => Kind::InvalidInput,
    };
    Error::new(e.code, kind, e.message)
}

pub fn validation(message: impl Into<String>) -> Error {
    Error::new("ValidationError", Kind::InvalidInput, message)
}

/// `Parameters.member.N.{ParameterKey, ParameterValue, UsePreviousValue}`.
pub fn parameters(p: &Params) -> Result<BTreeMap<String, stratus_stacks::params::Supplied>, Error> {
    use stratus_stacks::params::Supplied;
    let mut out = BTreeMap::new();
    for m in p.indexed("Parameters", "member") {
        let key = m
            .get("ParameterKey")
            .ok_or_else(|| validation("ParameterKey must be specified"))?;
        let value = if m.get("UsePreviousValue") == Some("true") {
            Supplied::UsePrevious
        } else {
            Supplied::Value(m.get("ParameterValue").unwrap_or("").to_string())
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

/// `Tags.member.N.{Key, Value}`.
pub fn tags(p: &Params) -> BTreeMap<String, String> {
    p.indexed("Tags", "member")
        .iter()
        .filter_map(|m| {
            Some((
                m.get("Key")?.to_string(),
                m.get("Value").unwrap_or("").to_string(),
            ))
        })
        .collect()
}

pub async fn handle(state: &Shared, caller: &Caller, parts: &Parts, body: Bytes) -> Response {
    let p = Params::decode(parts.uri.query().unwrap_or(""), &body);
    let action = p.get("Action").unwrap_or("").to_string();
    let request_id = parts
        .extensions
        .get::<crate::RequestId>()
        .map_or_else(stratus_core::ids::request_id, |id| id.0)
        .to_string();
    let ctx = Ctx {
        state,
        caller,
        region: &caller.region,
        request_id,
    };
    let result = match action.as_str() {
        "CreateStack" => stacks::create_stack(&ctx, &p).await,
        "UpdateStack" => stacks::update_stack(&ctx, &p).await,
        "DeleteStack" => stacks::delete_stack(&ctx, &p),
        "DescribeStacks" => stacks::describe_stacks(&ctx, &p),
        "ListStacks" => stacks::list_stacks(&ctx, &p),
        "DescribeStackEvents" => stacks::describe_stack_events(&ctx, &p),
        "DescribeStackResource" => stacks::describe_stack_resource(&ctx, &p),
        "DescribeStackResources" => stacks::describe_stack_resources(&ctx, &p),
        "ListStackResources" => stacks::list_stack_resources(&ctx, &p),
        "GetTemplate" => stacks::get_template(&ctx, &p),
        "GetTemplateSummary" => stacks::get_template_summary(&ctx, &p).await,
        "ValidateTemplate" => stacks::validate_template(&ctx, &p).await,
        "ListExports" => stacks::list_exports(&ctx),
        "ListImports" => stacks::list_imports(&ctx, &p),
        "CreateChangeSet" => change_sets::create_change_set(&ctx, &p).await,
        "DescribeChangeSet" => change_sets::describe_change_set(&ctx, &p),
        "ExecuteChangeSet" => change_sets::execute_change_set(&ctx, &p),
        "DeleteChangeSet" => change_sets::delete_change_set(&ctx, &p),
        "ListChangeSets" => change_sets::list_change_sets(&ctx, &p),
        "" => Err(Error::new(
            "MissingAction",
            Kind::InvalidInput,
            "Missing Action parameter",
        )),
        other => Err(Error::new(
            "InvalidAction",
            Kind::UnknownOperation,
            format!("The action {other} is not valid for this web service."),
        )),
    };
    result.unwrap_or_else(|e| xml::error_in(NS, &e, &ctx.request_id))
}
