//! The internal channel: one node asking another to run an invocation, over HTTP on the
//! platform's own port. Each request carries an HMAC-SHA256, by the shared cluster secret, of
//! its method, path, a timestamp and the SHA-256 of its body; the receiver refuses a request
//! whose signature is missing or wrong, or whose timestamp is outside [`WINDOW`] of its own
//! clock. Requests go through one pooled keep-alive client per node.

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

/// What is signed: method, path, time and the body's digest, one per line.
fn signed_text(method: &Method, path: &str, time: u64, body: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(body));
    format!("{method}\n{path}\n{time}\n{digest}")
}

/// The signature of a request at `time`.
pub fn sign(secret: &[u8], method: &Method, path: &str, time: u64, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(signed_text(method, path, time, body).as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Checks a received request's signature (in constant time) and its time against `now`.
pub fn verify(
    secret: &[u8],
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), Refused> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(time), Some(signature)) = (header(TIME_HEADER), header(SIGNATURE_HEADER)) else {
        return Err(Refused::Unsigned);
    };
    let time: u64 = time.parse().map_err(|_| Refused::Unsigned)?;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now.abs_diff(time) > WINDOW.as_secs() {
        return Err(Refused::Stale);
    }
    let signature = hex::decode(signature).map_err(|_| Refused::Forged)?;
    let mut m = mac(secret);
    m.update(signed_text(method, path, time, body).as_bytes());
    m.verify_slice(&signature).map_err(|_| Refused::Forged)
}

/// The client side of the channel.
pub struct Channel {
    secret: Vec<u8>,
    client: Client<HttpConnector, Full<Bytes>>,
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
        }
    }

    /// Checks a request received on the channel against this cluster's secret.
    pub fn verify(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Refused> {
        verify(&self.secret, method, path, headers, body, SystemTime::now())
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
        let signature = sign(&self.secret, &Method::POST, path, time, &body);
        let uri = format!("{}{path}", address.trim_end_matches('/'));
        let req = Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(TIME_HEADER, time.to_string())
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
        let sig = sign(secret, &Method::POST, INVOKE_PATH, time, body);
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
            verify(secret, &Method::POST, path, h, body, at(t))
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
