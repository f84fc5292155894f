//! Put/Get/Delete/ListProvisionedConcurrencyConfig(s). A configuration is a per-qualifier
//! document (`stratus_invoke::provisioned`), so deleting its version, alias or function
//! removes it; the invoker's keeper applies every change to the engine, which allocates the
//! environments and reports where the allocation stands.

use axum::extract::{Extension, Path, Query, State};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_core::arn::function_arn;
use stratus_core::error::Kind;
use stratus_core::{clock, limits, Error, Result};
use stratus_engine::provisioned::{Allocation, Status};
use stratus_invoke::provisioned::{Config, KIND};
use stratus_invoke::resolve::{named, Named};
use stratus_store::meta::Tx;

use super::{function_not_found, function_ref, marker, QueryMap};
use crate::auth::Caller;
use crate::wire::{json, no_content, parse, ApiResult};
use crate::{RawBody, Shared};

const UNPUBLISHED: &str =
    "Provisioned Concurrency Configs cannot be applied to unpublished function versions.";
const ALIAS_OR_PUBLISHED: &str =
    "The function resource provided must be an alias or a published version.";
/// The most configurations one list page holds (`MaxProvisionedConcurrencyConfigListItems`).
const MAX_LIST: i64 = 50;

fn not_configured() -> Error {
    Error::new(
        "ProvisionedConcurrencyConfigNotFoundException",
        Kind::NotFound,
        "No Provisioned Concurrency Config found for this function",
    )
}

/// The function and the qualifier a request names; `refusal` answers a missing qualifier or
/// `$LATEST`.
fn target(c: &Caller, f: &str, q: &QueryMap, refusal: &str) -> Result<(String, String)> {
    let r = function_ref(c, f, q)?;
    match r.qualifier {
        Some(q) if q != "$LATEST" => Ok((r.name, q)),
        _ => Err(Error::invalid(refusal)),
    }
}

/// What `qualifier` names, which must exist: AWS names a missing version by its ARN, a
/// missing alias as an alias.
fn existing(tx: &Tx, region: &str, name: &str, qualifier: &str) -> Result<Named> {
    let missing_alias = || {
        Error::not_found(format!(
            "Cannot find alias arn: {}",
            function_arn(region, name, Some(qualifier))
        ))
    };
    let missing_version = || function_not_found(region, name, Some(qualifier));
    if tx.function(name)?.is_none() {
        return Err(match named(tx, name, Some(qualifier))? {
            Some(Named::Version(_)) => missing_version(),
            _ => missing_alias(),
        });
    }
    match named(tx, name, Some(qualifier))? {
        Some(Named::Version(v)) => match tx.version(name, &v)? {
            Some(_) => Ok(Named::Version(v)),
            None => Err(missing_version()),
        },
        Some(alias) => Ok(alias),
        None => Err(missing_alias()),
    }
}

/// The versions an alias routes to.
fn routed(alias: &stratus_core::alias::Alias) -> impl Iterator<Item = &String> {
    std::iter::once(&alias.function_version).chain(alias.weights.keys())
}

/// AWS refuses a configuration that overlaps another: an alias over a version that has its
/// own, or a version an alias with one routes to.
fn check_overlap(tx: &Tx, name: &str, qualifier: &str, target: &Named) -> Result<()> {
    let configured: Vec<String> = tx
        .documents::<Config>(name, KIND)?
        .into_iter()
        .map(|(q, _)| q)
        .filter(|q| q != qualifier)
        .collect();
    match target {
        Named::Alias(a) => {
            if a.function_version == "$LATEST" {
                return Err(Error::invalid(UNPUBLISHED));
            }
            if routed(a).any(|v| configured.contains(v)) {
                return Err(Error::conflict(
                    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
                ));
            }
        }
        Named::Version(v) => {
            for a in tx.aliases(name)? {
                if configured.contains(&a.name) && routed(&a).any(|r| r == v) {
                    return Err(Error::conflict(
                        "Version is pointed by a Provisioned Concurrency alias",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The concurrency checks: within the function's reservation when it has one, otherwise
/// leaving the account's unreserved concurrency at its minimum or more (provisioned
/// concurrency of functions without a reservation is drawn from it).
fn check_concurrency(tx: &Tx, account: u32, name: &str, qualifier: &str, n: u64) -> Result<()> {
    let all = tx.documents_of_kind::<Config>(KIND)?;
    let others = |of_function: bool| {
        all.iter()
            .filter(move |(f, q, _)| (f == name) == of_function && !(f == name && q == qualifier))
    };
    let reserved = tx.function(name)?.and_then(|r| r.reserved_concurrency);
    if let Some(r) = reserved {
        let same: u64 = others(true).map(|(_, _, c)| u64::from(c.requested)).sum();
        if same + n > u64::from(r) {
            return Err(Error::invalid(
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function",
            ));
        }
        return Ok(());
    }
    let mut drawn: u64 = others(true).map(|(_, _, c)| u64::from(c.requested)).sum();
    for (f, _, c) in others(false) {
        if tx
            .function(f)?
            .is_some_and(|r| r.reserved_concurrency.is_none())
        {
            drawn += u64::from(c.requested);
        }
    }
    let unreserved = u64::from(account).saturating_sub(tx.total_reserved("")?);
    if unreserved < drawn + n + u64::from(limits::MIN_UNRESERVED) {
        return Err(Error::invalid(format!(
            "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{}].",
            limits::MIN_UNRESERVED
        )));
    }
    Ok(())
}

/// A configuration as the API shows it, with where its allocation stands on this node.
fn render(cfg: &Config, allocation: Option<Allocation>) -> Value {
    let a = allocation.unwrap_or(Allocation {
        allocated: 0,
        available: 0,
        status: Status::InProgress,
    });
    let mut out = json!({
        "RequestedProvisionedConcurrentExecutions": cfg.requested,
        "AvailableProvisionedConcurrentExecutions": a.available.min(cfg.requested),
        "AllocatedProvisionedConcurrentExecutions": a.allocated.min(cfg.requested),
        "LastModified": cfg.last_modified,
    });
    out["Status"] = json!(match &a.status {
        Status::InProgress => "IN_PROGRESS",
        Status::Ready => "READY",
        Status::Failed(_) => "FAILED",
    });
    if let Status::Failed(reason) = a.status {
        out["StatusReason"] = json!(reason);
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    provisioned_concurrent_executions: Option<i64>,
}

pub async fn put_provisioned_concurrency_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
    Extension(body): Extension<RawBody>,
) -> ApiResult {
    let input: PutInput = parse(&body.0)?;
    let n = match input.provisioned_concurrent_executions {
        Some(n) if n >= 1 => n as u64,
        other => {
            let value = other.map_or("null".to_string(), |n| n.to_string());
            let text = match other {
                Some(_) => "Member must have value greater than or equal to 1",
                None => "Member must not be null",
            };
            return Err(Error::constraint(value, "provisionedConcurrentExecutions", text).into());
        }
    };
    let (name, qualifier) = target(&c, &f, &q, UNPUBLISHED)?;
    let account = s.config.account_concurrency;
    let cfg = s.stores.meta.tx(|tx| {
        let named = existing(tx, &c.region, &name, &qualifier)?;
        check_overlap(tx, &name, &qualifier, &named)?;
        check_concurrency(tx, account, &name, &qualifier, n)?;
        let cfg = Config {
            requested: u32::try_from(n).unwrap_or(u32::MAX),
            last_modified: clock::now_lambda(),
            region: c.region.clone(),
        };
        tx.put_document(&name, KIND, &qualifier, &cfg)?;
        Ok(cfg)
    })?;
    // Accepted: the keeper allocates the environments from here on.
    Ok(json(202, render(&cfg, None)))
}

/// GetProvisionedConcurrencyConfig, or ListProvisionedConcurrencyConfigs (`?List=ALL`), which
/// share a path.
pub async fn get_provisioned_concurrency_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    if q.contains_key("List") {
        return list(&s, &c, &f, &q);
    }
    let (name, qualifier) = target(&c, &f, &q, ALIAS_OR_PUBLISHED)?;
    let cfg: Config = s.stores.meta.tx(|tx| {
        existing(tx, &c.region, &name, &qualifier)?;
        tx.document(&name, KIND, &qualifier)?
            .ok_or_else(not_configured)
    })?;
    let allocation = s.invoker.engine().provisioned_allocation(&name, &qualifier);
    Ok(json(200, render(&cfg, allocation)))
}

pub async fn delete_provisioned_concurrency_config(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(f): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult {
    let (name, qualifier) = target(&c, &f, &q, ALIAS_OR_PUBLISHED)?;
    s.stores.meta.tx(|tx| {
        existing(tx, &c.region, &name, &qualifier)?;
        tx.delete_document(&name, KIND, &qualifier)
    })?;
    Ok(no_content())
}

/// `MaxItems` of a list: 1 to 50.
fn max_items(q: &QueryMap) -> Result<usize> {
    let Some(s) = q.get("MaxItems") else {
        return Ok(MAX_LIST as usize);
    };
    let n: i64 = s
        .parse()
        .map_err(|_| Error::invalid(format!("Invalid MaxItems: {s}")))?;
    if n < 1 {
        return Err(Error::constraint(
            n,
            "maxItems",
            "Member must have value greater than or equal to 1",
        ));
    }
    if n > MAX_LIST {
        return Err(Error::constraint(
            n,
            "maxItems",
            "Member must have value less than or equal to 50",
        ));
    }
    Ok(n as usize)
}

fn list(s: &Shared, c: &Caller, f: &str, q: &QueryMap) -> ApiResult {
    let name = stratus_core::names::FunctionRef::parse(f)?
        .resolve(&c.region, None)?
        .name;
    let limit = max_items(q)?;
    let after = marker::decode(q.get("Marker"))?;
    let all: Vec<(String, Config)> = s.stores.meta.tx(|tx| {
        tx.function(&name)?
            .ok_or_else(|| function_not_found(&c.region, &name, None))?;
        tx.documents(&name, KIND)
    })?;
    let rest: Vec<&(String, Config)> = all
        .iter()
        .filter(|(q, _)| after.is_empty() || q.as_str() > after.as_str())
        .collect();
    let engine = s.invoker.engine();
    let page: Vec<Value> = rest
        .iter()
        .take(limit)
        .map(|(qualifier, cfg)| {
            let mut item = render(cfg, engine.provisioned_allocation(&name, qualifier));
            item["FunctionArn"] = json!(function_arn(&c.region, &name, Some(qualifier)));
            item
        })
        .collect();
    let mut out = json!({ "ProvisionedConcurrencyConfigs": page });
    if rest.len() > limit {
        out["NextMarker"] = json!(marker::encode(&rest[limit - 1].0));
    }
    Ok(json(200, out))
}
