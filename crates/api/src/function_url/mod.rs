//! Lambda function URLs: a function (or one of its aliases) behind its own HTTP endpoint.
//!
//! # Layout
//! - this module: the stored configuration and the URL it is reached at.
//! - [`control`]: Create/Get/Update/Delete/ListFunctionUrlConfig(s), on the Lambda API.
//! - [`data_plane`]: the unsigned (or SigV4-signed, for `AWS_IAM`) requests to a URL, by
//!   Host name (`<url-id>.lambda-url.<region>.localhost`) or by path
//!   (`/_aws/lambda-url/<url-id>/...`), authorized, answered by CORS or invoked.
//! - [`event`]: the payload 2.0 event a function URL hands its function.
//! - [`streamed`]: `RESPONSE_STREAM` mode: the response sent as the function writes it.

pub mod control;
pub mod data_plane;
pub mod event;
pub mod streamed;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::cors::Cors;

/// `NONE`: anyone the function's policy lets in; `AWS_IAM`: SigV4-signed callers allowed
/// `lambda:InvokeFunctionUrl`.
pub const AUTH_TYPES: [&str; 2] = ["NONE", "AWS_IAM"];
/// `BUFFERED`: the result is sent whole; `RESPONSE_STREAM`: as the function writes it.
pub const INVOKE_MODES: [&str; 2] = ["BUFFERED", "RESPONSE_STREAM"];

/// One function URL as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UrlConfig {
    /// 32 lower-case letters and digits: the first label of the URL's host name.
    pub url_id: String,
    pub function: String,
    /// The alias it invokes; `None`: the unqualified function (`$LATEST`).
    pub qualifier: Option<String>,
    /// The region it was created in (its host name and ARNs name it).
    pub region: String,
    pub auth_type: String,
    pub invoke_mode: String,
    pub cors: Option<Cors>,
    pub creation_time: String,
    pub last_modified_time: String,
}

impl UrlConfig {
    pub fn function_arn(&self) -> String {
        stratus_core::arn::function_arn(&self.region, &self.function, self.qualifier.as_deref())
    }

    /// The URL's host name, without a port.
    pub fn host_name(&self) -> String {
        format!("{}.lambda-url.{}.localhost", self.url_id, self.region)
    }

    /// `http://<url-id>.lambda-url.<region>.localhost:<port>/`, the port being the one the
    /// request that asks was sent to (`*.localhost` resolves to the loopback address).
    pub fn url(&self, request_headers: &HeaderMap) -> String {
        let port = request_headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .and_then(port_of);
        match port {
            Some(p) => format!("http://{}:{p}/", self.host_name()),
            None => format!("http://{}/", self.host_name()),
        }
    }
}

/// The port of a `Host` header value (`[::1]:4566`, `127.0.0.1:4566`), if it names one.
pub fn port_of(host: &str) -> Option<&str> {
    let (_, port) = host.rsplit_once(':')?;
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(port)
}

/// A new URL id: 32 characters from `a-z0-9`, as AWS's.
pub fn new_url_id() -> String {
    crate::apigw::new_id(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_the_host_header() {
        assert_eq!(port_of("127.0.0.1:4566"), Some("4566"));
        assert_eq!(port_of("[::1]:80"), Some("80"));
        assert_eq!(port_of("localhost"), None);
        assert_eq!(port_of("[::1]"), None);
    }

    #[test]
    fn urls_name_id_region_and_port() {
        let cfg = UrlConfig {
            url_id: new_url_id(),
            function: "f".into(),
            qualifier: None,
            region: "eu-west-1".into(),
            auth_type: "NONE".into(),
            invoke_mode: "BUFFERED".into(),
            cors: None,
            creation_time: String::new(),
            last_modified_time: String::new(),
        };
        assert_eq!(cfg.url_id.len(), 32);
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:4566".parse().unwrap());
        assert_eq!(
            cfg.url(&h),
            format!("http://{}.lambda-url.eu-west-1.localhost:4566/", cfg.url_id)
        );
    }
}
