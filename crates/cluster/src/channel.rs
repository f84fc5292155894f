//! The internal channel: one node asking another to run an invocation, over HTTP on the
//! platform's own port. Each request carries an HMAC-SHA256, by the shared cluster secret, of
//! its method, path, a timestamp, a random nonce and the SHA-256 of its body; the receiver
//! refuses a request whose signature is missing or wrong, whose timestamp is outside
//! [`WINDOW`] of its own clock, or whose nonce it has already accepted (so a captured request
//! cannot be sent again). Requests go through one pooled keep-alive client per node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

/// The path of the internal invoke endpoint.
pub const INVOKE_PATH: &str = "/_stratus/cluster/invoke";
/// The header carrying the request's time (seconds since the epoch).
pub const TIME_HEADER: &str = "x-stratus-cluster-time";
/// The header carrying the request's signature (lowercase hex).
pub const SIGNATURE_HEADER: &str = "x-stratus-cluster-signature";
/// The header carrying the request's nonce (32 lowercase hex digits), unique per request.
pub const NONCE_HEADER: &str = "x-stratus-cluster-nonce";
/// How far a request's time may be from the receiver's clock.
pub const WINDOW: Duration = Duration::from_secs(30);
/// How long connecting to another node may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a request on the internal channel was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The request carries no cluster signature or time.
    #[error("the request is not signed by a cluster node")]
    Unsigned,
    /// The request's time is outside the window.
    #[error("the request's time is outside the allowed window")]
    Stale,
    /// The signature does not match the request.
    #[error("the request's cluster signature does not match")]
    Forged,
    /// A request with this nonce was already accepted: a replay.
    #[error("the request was already received once")]
    Replayed,
}

/// Why a forwarded request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The node could not be reached: nothing was sent, the call may run elsewhere.
    #[error("node unreachable: {0}")]
    Unreachable(String),
    /// The request may have reached the node, and the answer was lost or unreadable.
    #[error("forwarding failed: {0}")]
    Broken(String),
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length")
}

/// What is signed: method, path, time, nonce and the body's digest, one per line.
fn signed_text(method: &Method, path: &str, time: u64, nonce: &str, body: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(body));
    format!("{method}\n{path}\n{time}\n{nonce}\n{digest}")
}

/// The signature of a request at `time` with `nonce`.
pub fn sign(
    secret: &[u8],
    method: &Method,
    path: &str,
    time: u64,
    nonce: &str,
    body: &[u8],
) -> String {
    let mut m = mac(secret);
    m.update(signed_text(method, path, time, nonce, body).as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// A fresh nonce: 128 random bits.
fn nonce() -> String {
    hex::encode(rand::random::<u128>().to_be_bytes())
}

/// Checks a received request's signature (in constant time) and its time against `now`, and
/// gives its nonce, which the caller must not have accepted before.
pub fn verify(
    secret: &[u8],
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Signed, Refused> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(time), Some(nonce), Some(signature)) = (
        header(TIME_HEADER),
        header(NONCE_HEADER),
        header(SIGNATURE_HEADER),
    ) else {
        return Err(Refused::Unsigned);
    };
    let time: u64 = time.parse().map_err(|_| Refused::Unsigned)?;
    let nonce = u128::from_str_radix(nonce, 16).map_err(|_| Refused::Unsigned)?;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now.abs_diff(time) > WINDOW.as_secs() {
        return Err(Refused::Stale);
    }
    let signature = hex::decode(signature).map_err(|_| Refused::Forged)?;
    let mut m = mac(secret);
    let nonce_text = header(NONCE_HEADER).unwrap_or_default();
    m.update(signed_text(method, path, time, nonce_text, body).as_bytes());
    m.verify_slice(&signature).map_err(|_| Refused::Forged)?;
    Ok(Signed { time, nonce })
}

/// What a verified request was signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed {
    time: u64,
    nonce: u128,
}

/// The nonces of the requests accepted within the window, each kept until its request's time
/// leaves the window (after which [`verify`] refuses the request as stale anyway). Only
/// verified requests are recorded, so nobody without the secret can fill it.
#[derive(Default)]
pub struct Seen {
    nonces: Mutex<SeenNonces>,
}

#[derive(Default)]
struct SeenNonces {
    /// Nonce → the second after which it can be forgotten.
    until: HashMap<u128, u64>,
    /// When expired nonces were last dropped.
    pruned: u64,
}

impl Seen {
    /// Records `signed`'s nonce, or refuses it as a replay when it was recorded before.
    pub fn accept(&self, signed: Signed, now: SystemTime) -> Result<(), Refused> {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut seen = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        if now > seen.pruned {
            // At most once a second: the map holds only what the last window accepted.
            seen.until.retain(|_, until| *until >= now);
            seen.pruned = now;
        }
        let until = signed.time + WINDOW.as_secs();
        match seen.until.insert(signed.nonce, until) {
            Some(_) => Err(Refused::Replayed),
            None => Ok(()),
        }
    }
}

/// The client side of the channel.
pub struct Channel {
    secret: Vec<u8>,
    client: Client<HttpConnector, Full<Bytes>>,
    seen: Seen,
}

impl Channel {
    pub fn new(secret: &[u8]) -> Channel {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Channel {
            secret: secret.to_vec(),
            client,
            seen: Seen::default(),
        }
    }

    /// Checks a request received on the channel against this cluster's secret and the
    /// requests already accepted.
    pub fn verify(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Refused> {
        let now = SystemTime::now();
        let signed = verify(&self.secret, method, path, headers, body, now)?;
        self.seen.accept(signed, now)
    }

    /// POSTs a signed `body` to `path` on the node at `address` (its base URL) and gives the
    /// answer's body, or why there is none. `deadline` bounds the whole exchange.
    pub async fn post(
        &self,
        address: &str,
        path: &str,
        body: Bytes,
        deadline: Duration,
    ) -> Result<Bytes, SendError> {
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let nonce = nonce();
        let signature = sign(&self.secret, &Method::POST, path, time, &nonce, &body);
        let uri = format!("{}{path}", address.trim_end_matches('/'));
        let req = Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(TIME_HEADER, time.to_string())
            .header(NONCE_HEADER, nonce)
            .header(SIGNATURE_HEADER, signature)
            .body(Full::new(body))
            .map_err(|e| SendError::Unreachable(format!("bad node address {address:?}: {e}")))?;
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| {
                if e.is_connect() {
                    SendError::Unreachable(e.to_string())
                } else {
                    SendError::Broken(e.to_string())
                }
            })?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| SendError::Broken(e.to_string()))?
                .to_bytes();
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
                return Err(SendError::Broken(format!("{status}: {text}")));
            }
            Ok(body)
        };
        tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| SendError::Broken(format!("no answer within {deadline:?}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &[u8], time: u64, body: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TIME_HEADER, time.to_string().parse().unwrap());
        let nonce = nonce();
        let sig = sign(secret, &Method::POST, INVOKE_PATH, time, &nonce, body);
        h.insert(NONCE_HEADER, nonce.parse().unwrap());
        h.insert(SIGNATURE_HEADER, sig.parse().unwrap());
        h
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_signed_request_passes_and_any_change_is_refused() {
        let (secret, body, now) = (b"s3cret".as_slice(), b"{\"a\":1}".as_slice(), 1_000_000);
        let h = signed(secret, now, body);
        let check = |secret: &[u8], path: &str, h: &HeaderMap, body: &[u8], t: u64| {
            verify(secret, &Method::POST, path, h, body, at(t)).map(drop)
        };
        assert_eq!(check(secret, INVOKE_PATH, &h, body, now), Ok(()));
        assert_eq!(check(secret, INVOKE_PATH, &h, body, now + 29), Ok(()));
        assert_eq!(
            check(b"other", INVOKE_PATH, &h, body, now),
            Err(Refused::Forged)
        );
        assert_eq!(
            check(secret, INVOKE_PATH, &h, b"{\"a\":2}", now),
            Err(Refused::Forged)
        );
        assert_eq!(
            check(secret, "/_stratus/other", &h, body, now),
            Err(Refused::Forged)
        );
        assert_eq!(
            check(secret, INVOKE_PATH, &h, body, now + 31),
            Err(Refused::Stale)
        );
        assert_eq!(
            check(secret, INVOKE_PATH, &HeaderMap::new(), body, now),
            Err(Refused::Unsigned)
        );
        // The time is signed: moving it forward breaks the signature.
        let mut moved = h.clone();
        moved.insert(TIME_HEADER, (now + 5).to_string().parse().unwrap());
        assert_eq!(
            check(secret, INVOKE_PATH, &moved, body, now),
            Err(Refused::Forged)
        );
        // So is the nonce: a replay cannot pass for a new request by changing it.
        let mut renamed = h.clone();
        renamed.insert(NONCE_HEADER, nonce().parse().unwrap());
        assert_eq!(
            check(secret, INVOKE_PATH, &renamed, body, now),
            Err(Refused::Forged)
        );
        let mut unnamed = h.clone();
        unnamed.remove(NONCE_HEADER);
        assert_eq!(
            check(secret, INVOKE_PATH, &unnamed, body, now),
            Err(Refused::Unsigned)
        );
    }

    #[test]
    fn a_request_is_accepted_once_and_its_nonce_forgotten_after_the_window() {
        let (secret, body, now) = (b"s".as_slice(), b"{}".as_slice(), 2_000_000);
        let seen = Seen::default();
        let h = signed(secret, now, body);
        let first = verify(secret, &Method::POST, INVOKE_PATH, &h, body, at(now)).unwrap();
        assert_eq!(seen.accept(first, at(now)), Ok(()));
        let again = verify(secret, &Method::POST, INVOKE_PATH, &h, body, at(now + 10)).unwrap();
        assert_eq!(seen.accept(again, at(now + 10)), Err(Refused::Replayed));
        // Another request with the same body and second is not a replay.
        let other = signed(secret, now, body);
        let other = verify(secret, &Method::POST, INVOKE_PATH, &other, body, at(now)).unwrap();
        assert_eq!(seen.accept(other, at(now)), Ok(()));
        // Past the window the nonces are dropped (the request itself is stale by then).
        let late = signed(secret, now + 100, body);
        let late = verify(
            secret,
            &Method::POST,
            INVOKE_PATH,
            &late,
            body,
            at(now + 100),
        );
        assert_eq!(seen.accept(late.unwrap(), at(now + 100)), Ok(()));
        assert_eq!(seen.nonces.lock().unwrap().until.len(), 1);
    }

    #[tokio::test]
    async fn a_node_that_does_not_listen_is_unreachable() {
        // Bind and drop, so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let channel = Channel::new(b"s");
        let r = channel
            .post(
                &format!("http://127.0.0.1:{port}"),
                INVOKE_PATH,
                Bytes::from_static(b"{}"),
                Duration::from_secs(5),
            )
            .await;
        assert!(matches!(r, Err(SendError::Unreachable(_))), "{r:?}");
    }
}
