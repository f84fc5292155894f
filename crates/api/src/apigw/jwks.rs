//! The signing keys of JWT issuers: the OpenID discovery document
//! (`<issuer>/.well-known/openid-configuration`) names the `jwks_uri`, whose key set is kept
//! for two hours (as API Gateway keeps it) and fetched again when a token names a key id the
//! set does not have (at most every [`REFRESH_GAP`], so unknown ids cannot make the gateway
//! hammer an issuer). The client speaks plain HTTP only: issuers are reached on `http://`
//! URLs (a local identity provider, or the tests' loopback server); an `https://` issuer's
//! keys cannot be fetched and its tokens are refused (decision 0026).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::jwt::Jwk;

/// How long a fetched key set is used (API Gateway: two hours).
const KEEP: Duration = Duration::from_secs(2 * 3600);
/// The least time between two fetches of one issuer's keys.
const REFRESH_GAP: Duration = Duration::from_secs(10);
/// Bound on each fetch, and on each document's size.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT: usize = 1024 * 1024;
/// Issuers remembered at once; past it the cache starts over.
const MAX_ISSUERS: usize = 1024;

struct Entry {
    keys: Arc<Vec<Jwk>>,
    fetched: Instant,
}

/// Every issuer's keys, process-wide: keys are the issuer's, not an API's.
static CACHE: LazyLock<Mutex<HashMap<String, Entry>>> = LazyLock::new(Default::default);

static CLIENT: LazyLock<Client<HttpConnector, Empty<Bytes>>> = LazyLock::new(|| {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(FETCH_TIMEOUT));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
});

/// Why an issuer's keys could not be had.
#[derive(Debug)]
pub struct FetchError(pub String);

/// The key `kid` of `issuer` (or its only key when the token names none).
pub async fn key(issuer: &str, kid: Option<&str>) -> Result<Option<Jwk>, FetchError> {
    let (cached, fresh_enough) = cached(issuer);
    if let Some(keys) = &cached {
        if let Some(k) = pick(keys, kid) {
            return Ok(Some(k));
        }
        if fresh_enough {
            return Ok(None);
        }
    }
    let keys = Arc::new(fetch(issuer).await?);
    let found = pick(&keys, kid);
    let mut cache = CACHE.lock().unwrap();
    if cache.len() >= MAX_ISSUERS {
        cache.clear();
    }
    cache.insert(
        issuer.to_string(),
        Entry {
            keys,
            fetched: Instant::now(),
        },
    );
    Ok(found)
}

/// The cached keys if still valid, and whether they are too recent to fetch again.
fn cached(issuer: &str) -> (Option<Arc<Vec<Jwk>>>, bool) {
    let cache = CACHE.lock().unwrap();
    match cache.get(issuer) {
        Some(e) if e.fetched.elapsed() < KEEP => {
            (Some(e.keys.clone()), e.fetched.elapsed() < REFRESH_GAP)
        }
        _ => (None, false),
    }
}

fn pick(keys: &[Jwk], kid: Option<&str>) -> Option<Jwk> {
    match kid {
        Some(id) => keys.iter().find(|k| k.kid.as_deref() == Some(id)).cloned(),
        None if keys.len() == 1 => keys.first().cloned(),
        None => None,
    }
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<serde_json::Value>,
}

async fn fetch(issuer: &str) -> Result<Vec<Jwk>, FetchError> {
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let d: Discovery = get_json(&discovery).await?;
    let set: KeySet = get_json(&d.jwks_uri).await?;
    // Keys of types this gateway cannot use are skipped, not fatal.
    Ok(set
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value(k).ok())
        .collect())
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, FetchError> {
    let fail = |e: &dyn std::fmt::Display| FetchError(format!("{url}: {e}"));
    let uri: http::Uri = url.parse().map_err(|e| fail(&e))?;
    if uri.scheme_str() != Some("http") {
        return Err(fail(&"only http:// issuers are fetched"));
    }
    let exchange = async {
        let resp = CLIENT.get(uri).await.map_err(|e| fail(&e))?;
        if !resp.status().is_success() {
            return Err(fail(&resp.status()));
        }
        let body = Limited::new(resp.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map_err(|e| fail(&e))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| fail(&e))
    };
    tokio::time::timeout(FETCH_TIMEOUT, exchange)
        .await
        .map_err(|_| fail(&"timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(kid: Option<&str>) -> Jwk {
        serde_json::from_value(serde_json::json!({"kty": "RSA", "kid": kid})).unwrap()
    }

    #[test]
    fn keys_are_picked_by_id_or_alone() {
        let one = vec![jwk(Some("a"))];
        assert!(pick(&one, Some("a")).is_some());
        assert!(pick(&one, Some("b")).is_none());
        assert!(pick(&one, None).is_some());
        let two = vec![jwk(Some("a")), jwk(Some("b"))];
        assert!(pick(&two, None).is_none());
    }

    #[tokio::test]
    async fn https_and_unreachable_issuers_fail() {
        assert!(fetch("https://example.com").await.is_err());
        assert!(fetch("http://127.0.0.1:9").await.is_err());
        assert!(fetch("not a url").await.is_err());
    }
}
