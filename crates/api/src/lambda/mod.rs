//! The Lambda API: one handler per operation, named after it, grouped by resource.
//!
//! # Layout
//! - [`functions`]: Create/Get/List/Update/Delete of functions.
//! - [`versions`]: PublishVersion, ListVersionsByFunction.
//! - [`aliases`]: the alias operations.
//! - [`provisioned`]: provisioned concurrency configurations.
//! - [`code_signing`], [`concurrency`], [`event_invoke`], [`policy`], [`recursion`],
//!   [`runtime_management`], [`tags`], [`account`]: the rest of the control plane.
//! - [`invoke`]: Invoke and InvokeAsync, handing the call to the invoker.
//! - [`invoke_stream`]: InvokeWithResponseStream, framed by [`eventstream`].
//! - [`layers`]: layer versions, their permissions, and what a function's `Layers` names.
//! - [`mappings`]: event source mappings (the model and pollers are `stratus_mappings`').
//! - [`render`]: configurations as the API renders them.

pub mod account;
pub mod aliases;
pub mod code_signing;
pub mod concurrency;
pub mod event_invoke;
pub mod eventstream;
pub mod functions;
pub mod invoke;
pub mod invoke_stream;
pub mod layers;
pub mod mappings;
pub mod policy;
pub mod provisioned;
pub mod recursion;
pub mod render;
pub mod runtime_management;
pub mod tags;
pub mod versions;

use std::collections::HashMap;

use axum::routing::{delete, get, post, put};
use axum::Router;
use stratus_core::function::FunctionConfig;
use stratus_core::names::FunctionRef;
use stratus_core::{Error, Result};
use stratus_store::meta::Tx;

use crate::auth::Caller;
use crate::Shared;

pub fn router() -> Router<Shared> {
    use functions::*;
    Router::new()
        .route(
            "/2015-03-31/functions",
            post(create_function).get(list_functions),
        )
        .route("/2015-03-31/functions/", get(list_functions))
        .route(
            "/2015-03-31/functions/{f}",
            get(get_function).delete(delete_function),
        )
        .route(
            "/2015-03-31/functions/{f}/configuration",
            get(get_function_configuration).put(update_function_configuration),
        )
        .route("/2015-03-31/functions/{f}/code", put(update_function_code))
        .route(
            "/2015-03-31/functions/{f}/versions",
            post(versions::publish_version).get(versions::list_versions_by_function),
        )
        .route(
            "/2015-03-31/functions/{f}/aliases",
            post(aliases::create_alias).get(aliases::list_aliases),
        )
        .route(
            "/2015-03-31/functions/{f}/aliases/{a}",
            get(aliases::get_alias)
                .put(aliases::update_alias)
                .delete(aliases::delete_alias),
        )
        .route(
            "/2015-03-31/functions/{f}/invocations",
            post(invoke::invoke),
        )
        .route(
            "/2021-11-15/functions/{f}/response-streaming-invocations",
            post(invoke_stream::invoke_with_response_stream),
        )
        .route(
            "/2014-11-13/functions/{f}/invoke-async",
            post(invoke::invoke_async),
        )
        .route(
            "/2014-11-13/functions/{f}/invoke-async/",
            post(invoke::invoke_async),
        )
        .route(
            "/2015-03-31/functions/{f}/policy",
            post(policy::add_permission).get(policy::get_policy),
        )
        .route(
            "/2015-03-31/functions/{f}/policy/{sid}",
            delete(policy::remove_permission),
        )
        .route(
            "/2017-10-31/functions/{f}/concurrency",
            put(concurrency::put_function_concurrency)
                .delete(concurrency::delete_function_concurrency),
        )
        .route(
            "/2019-09-30/functions/{f}/concurrency",
            get(concurrency::get_function_concurrency),
        )
        .route(
            "/2020-06-30/functions/{f}/code-signing-config",
            get(code_signing::get_function_code_signing_config)
                .put(code_signing::put_function_code_signing_config)
                .delete(code_signing::delete_function_code_signing_config),
        )
        .route(
            "/2020-04-22/code-signing-configs",
            post(code_signing::create_code_signing_config)
                .get(code_signing::list_code_signing_configs),
        )
        .route(
            "/2020-04-22/code-signing-configs/",
            post(code_signing::create_code_signing_config)
                .get(code_signing::list_code_signing_configs),
        )
        .route(
            "/2020-04-22/code-signing-configs/{arn}",
            get(code_signing::get_code_signing_config)
                .put(code_signing::update_code_signing_config)
                .delete(code_signing::delete_code_signing_config),
        )
        .route(
            "/2020-04-22/code-signing-configs/{arn}/functions",
            get(code_signing::list_functions_by_code_signing_config),
        )
        .route(
            "/2021-07-20/functions/{f}/runtime-management-config",
            put(runtime_management::put_runtime_management_config)
                .get(runtime_management::get_runtime_management_config),
        )
        .route(
            "/2019-09-30/functions/{f}/provisioned-concurrency",
            put(provisioned::put_provisioned_concurrency_config)
                .get(provisioned::get_provisioned_concurrency_config)
                .delete(provisioned::delete_provisioned_concurrency_config),
        )
        .route(
            "/2024-08-31/functions/{f}/recursion-config",
            put(recursion::put_function_recursion_config)
                .get(recursion::get_function_recursion_config),
        )
        .route(
            "/2019-09-25/functions/{f}/event-invoke-config",
            put(event_invoke::put_function_event_invoke_config)
                .post(event_invoke::update_function_event_invoke_config)
                .get(event_invoke::get_function_event_invoke_config)
                .delete(event_invoke::delete_function_event_invoke_config),
        )
        .route(
            "/2019-09-25/functions/{f}/event-invoke-config/list",
            get(event_invoke::list_function_event_invoke_configs),
        )
        .route(
            "/2015-03-31/event-source-mappings",
            post(mappings::create_event_source_mapping).get(mappings::list_event_source_mappings),
        )
        .route(
            "/2015-03-31/event-source-mappings/",
            post(mappings::create_event_source_mapping).get(mappings::list_event_source_mappings),
        )
        .route(
            "/2015-03-31/event-source-mappings/{uuid}",
            get(mappings::get_event_source_mapping)
                .put(mappings::update_event_source_mapping)
                .delete(mappings::delete_event_source_mapping),
        )
        .route("/2018-10-31/layers", get(layers::list_layers))
        .route("/2018-10-31/layers/", get(layers::list_layers))
        .route(
            "/2018-10-31/layers/{l}/versions",
            post(layers::publish_layer_version).get(layers::list_layer_versions),
        )
        .route(
            "/2018-10-31/layers/{l}/versions/{v}",
            get(layers::get_layer_version).delete(layers::delete_layer_version),
        )
        .route(
            "/2018-10-31/layers/{l}/versions/{v}/policy",
            post(layers::add_layer_version_permission).get(layers::get_layer_version_policy),
        )
        .route(
            "/2018-10-31/layers/{l}/versions/{v}/policy/{sid}",
            delete(layers::remove_layer_version_permission),
        )
        .route(
            "/2017-03-31/tags/{arn}",
            post(tags::tag_resource)
                .get(tags::list_tags)
                .delete(tags::untag_resource),
        )
        .route(
            "/2016-08-19/account-settings",
            get(account::get_account_settings),
        )
        .route(
            "/2016-08-19/account-settings/",
            get(account::get_account_settings),
        )
}

/// Query parameters of a request.
pub type QueryMap = HashMap<String, String>;

/// Parses a `FunctionName` path argument and merges the `Qualifier` query parameter.
pub fn function_ref(caller: &Caller, raw: &str, query: &QueryMap) -> Result<FunctionRef> {
    FunctionRef::parse(raw)?.resolve(&caller.region, query.get("Qualifier").map(String::as_str))
}

pub use stratus_invoke::function_not_found;

/// Loads the configuration a qualifier designates, as the control plane shows it: none →
/// `$LATEST`; a version or `$LATEST`; an alias → its primary version (what an alias names is
/// read by the invoker's one resolution, [`stratus_invoke::resolve::named`]).
pub fn load(tx: &Tx, region: &str, name: &str, qualifier: Option<&str>) -> Result<FunctionConfig> {
    use stratus_invoke::resolve::{named, Named};
    let missing = || function_not_found(region, name, qualifier);
    let version = match named(tx, name, qualifier)?.ok_or_else(missing)? {
        Named::Version(v) => v,
        Named::Alias(alias) => alias.function_version,
    };
    tx.version(name, &version)?.ok_or_else(missing)
}

/// Checks an optimistic-concurrency `RevisionId` input.
pub fn check_revision(given: Option<&str>, current: &str, api: &str) -> Result<()> {
    match given {
        Some(g) if g != current => Err(Error::precondition(format!(
            "The Revision Id provided does not match the latest Revision Id. Call the {api} API to retrieve the latest Revision Id"
        ))),
        _ => Ok(()),
    }
}

/// Parses `MaxItems` (1-10000) and caps it at one page.
pub fn page_size(query: &QueryMap, cap: usize) -> Result<usize> {
    page_size_within(query, 10_000, cap)
}

/// Parses `MaxItems` (1-`max`, as the operation's model bounds it) and caps it at one page.
pub fn page_size_within(query: &QueryMap, max: i64, cap: usize) -> Result<usize> {
    match query.get("MaxItems") {
        None => Ok(cap),
        Some(s) => {
            let n: i64 = s
                .parse()
                .map_err(|_| Error::invalid(format!("Invalid MaxItems: {s}")))?;
            check_range(n, "maxItems", 1, max)?;
            Ok((n as usize).min(cap))
        }
    }
}

/// A number within the model's `min`..=`max`, with the constraint AWS names for the bound it
/// breaks.
pub fn check_range(n: i64, member: &str, min: i64, max: i64) -> Result<()> {
    if n < min {
        let rule = format!("Member must have value greater than or equal to {min}");
        return Err(Error::constraint(n, member, &rule));
    }
    if n > max {
        let rule = format!("Member must have value less than or equal to {max}");
        return Err(Error::constraint(n, member, &rule));
    }
    Ok(())
}

/// Opaque pagination markers: base64 of the position they continue after.
pub mod marker {
    use base64::Engine;
    use stratus_core::{Error, Result};

    pub fn encode(position: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
    }

    pub fn decode(marker: Option<&String>) -> Result<String> {
        match marker {
            None => Ok(String::new()),
            Some(m) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Error::invalid("Invalid marker")),
        }
    }

    /// One page of `items` (in ascending order of `key`): those after the decoded marker
    /// `after` (all when it is empty), at most `limit`, and the marker of the next page when
    /// more follow.
    pub fn page<T>(
        items: Vec<T>,
        key: impl Fn(&T) -> &str,
        after: &str,
        limit: usize,
    ) -> (Vec<T>, Option<String>) {
        let mut rest: Vec<T> = items
            .into_iter()
            .filter(|i| after.is_empty() || key(i) > after)
            .collect();
        let more = rest.len() > limit;
        rest.truncate(limit);
        let next = rest.last().filter(|_| more).map(|last| encode(key(last)));
        (rest, next)
    }
}

/// A string member's pattern as botocore's model gives it, compiled once and matched whole.
pub struct ModelPattern {
    text: &'static str,
    compiled: std::sync::OnceLock<regex::Regex>,
}

impl ModelPattern {
    pub const fn new(text: &'static str) -> Self {
        ModelPattern {
            text,
            compiled: std::sync::OnceLock::new(),
        }
    }

    pub fn matches(&self, s: &str) -> bool {
        self.compiled
            .get_or_init(|| {
                regex::Regex::new(&format!("^(?:{})$", self.text)).expect("a model pattern")
            })
            .is_match(s)
    }

    /// The constraint AWS names when a value does not match.
    pub fn rule(&self) -> String {
        format!(
            "Member must satisfy regular expression pattern: {}",
            self.text
        )
    }
}
