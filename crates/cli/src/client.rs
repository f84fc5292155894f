//! A small SigV4-signing HTTP client for the AWS APIs `stratus serve` answers: one HTTP/1.1
//! connection per request (a CLI makes few), signed with `aws-sigv4` like any AWS SDK would.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Where the server is and who we are.
#[derive(Clone)]
pub struct Client {
    pub endpoint: String,
    authority: String,
    access_key: String,
    secret_key: String,
    pub region: String,
}

/// A response, whatever its status.
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a request failed.
#[derive(Debug)]
pub enum Error {
    /// The server answered with an AWS error.
    Aws { code: String, message: String },
    /// The server could not be reached.
    Connect { endpoint: String, reason: String },
    /// Anything else (bad input, unexpected answers).
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Aws { code, message, .. } => write!(f, "{code}: {message}"),
            Error::Connect { endpoint, reason } => {
                write!(f, "cannot reach {endpoint}: {reason}")
            }
            Error::Other(m) => f.write_str(m),
        }
    }
}

impl Error {
    pub fn other(m: impl Into<String>) -> Error {
        Error::Other(m.into())
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl Client {
    /// From the flag or the environment: `--endpoint`, else STRATUS_ENDPOINT, else
    /// AWS_ENDPOINT_URL, else the server's default address.
    pub fn from_env(endpoint: Option<String>) -> Result<Client, Error> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let endpoint = endpoint
            .or_else(|| var("STRATUS_ENDPOINT"))
            .or_else(|| var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| "http://127.0.0.1:4566".into());
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let uri: Uri = endpoint
            .parse()
            .map_err(|_| Error::other(format!("invalid endpoint {endpoint}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(Error::other(format!(
                "invalid endpoint {endpoint}: only http:// endpoints are supported"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| Error::other(format!("invalid endpoint {endpoint}")))?
            .to_string();
        Ok(Client {
            endpoint,
            authority,
            access_key: var("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "test".into()),
            secret_key: var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "test".into()),
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
        })
    }

    /// Sends one signed request for `service`; `path` includes any query string.
    pub async fn send(
        &self,
        service: &str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, Error> {
        let url = format!("{}{path}", self.endpoint);
        let mut all: Vec<(&str, &str)> = vec![("host", &self.authority)];
        all.extend_from_slice(headers);
        let identity = Credentials::new(
            self.access_key.clone(),
            self.secret_key.clone(),
            None,
            None,
            "stratus-cli",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Error::other(format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            &url,
            all.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| Error::other(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::other(format!("signing: {e}")))?
            .into_parts();
        let mut builder = http::Request::builder().method(method).uri(path);
        for (k, v) in &all {
            builder = builder.header(*k, *v);
        }
        let mut req = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::other(format!("building request: {e}")))?;
        instructions.apply_to_request_http1x(&mut req);
        self.exchange(req).await
    }

    async fn exchange(&self, req: http::Request<Full<Bytes>>) -> Result<Response, Error> {
        let connect = |e: &dyn fmt::Display| Error::Connect {
            endpoint: self.endpoint.clone(),
            reason: e.to_string(),
        };
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| connect(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| connect(&e))?;
        tokio::spawn(conn);
        let resp = sender.send_request(req).await.map_err(|e| connect(&e))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| connect(&e))?.to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// A JSON request to a JSON API; an error status becomes [`Error::Aws`].
    pub async fn json(
        &self,
        service: &str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut all = headers.to_vec();
        if body.is_some() && !headers.iter().any(|(k, _)| *k == "content-type") {
            all.push(("content-type", "application/json"));
        }
        let resp = self.send(service, method, path, &all, bytes).await?;
        if resp.status >= 300 {
            return Err(aws_error(&resp));
        }
        if resp.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&resp.body)
            .map_err(|e| Error::other(format!("unexpected answer from the server: {e}")))
    }

    /// A Lambda REST call.
    pub async fn lambda(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        self.json("lambda", method, path, &[], body).await
    }

    /// A CloudWatch Logs JSON 1.1 call.
    pub async fn logs(&self, op: &str, body: &Value) -> Result<Value, Error> {
        let target = format!("Logs_20140328.{op}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        self.json("logs", Method::POST, "/", &headers, Some(body))
            .await
    }
}

/// The AWS error in a response: the code from `x-amzn-ErrorType` or the body's `__type`/`Type`.
pub fn aws_error(resp: &Response) -> Error {
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let header = resp
        .headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(':').next().unwrap_or(s).to_string());
    let code = header
        .or_else(|| {
            body["__type"]
                .as_str()
                .map(|s| s.rsplit('#').next().unwrap_or(s).to_string())
        })
        .unwrap_or_else(|| format!("HTTP {}", resp.status));
    let message = body["message"]
        .as_str()
        .or_else(|| body["Message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&resp.body).into_owned());
    Error::Aws { code, message }
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
