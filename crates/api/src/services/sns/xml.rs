//! The Query protocol's response side: `<XResponse xmlns=...><XResult>...</XResult>
//! <ResponseMetadata><RequestId>..</RequestId></ResponseMetadata></XResponse>`, and errors as
//! `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use quick_xml::escape::escape;
use stratus_core::Error;

pub const NS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// An XML document being written (text escaped by quick-xml).
#[derive(Default)]
pub struct Xml(String);

impl Xml {
    /// The document written so far.
    pub fn into_string(self) -> String {
        self.0
    }

    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    /// Escaped text inside the element last opened.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.0.push_str(&escape(text));
        self
    }

    pub fn leaf(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        self.0.push_str(&escape(text));
        self.close(tag)
    }

    /// A map as SNS writes attributes: `<tag><entry><key/><value/></entry>...</tag>`.
    pub fn entries(&mut self, tag: &str, map: &BTreeMap<String, String>) -> &mut Self {
        self.open(tag);
        for (k, v) in map {
            self.open("entry")
                .leaf("key", k)
                .leaf("value", v)
                .close("entry");
        }
        self.close(tag)
    }
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// A successful answer to `action`; `result` writes the members of `<{action}Result>`.
pub fn ok(action: &str, request_id: &str, result: impl FnOnce(&mut Xml)) -> Response {
    ok_in(NS, action, request_id, result)
}

/// [`ok`] for another Query-protocol service, named by its XML namespace (IAM, STS).
pub fn ok_in(ns: &str, action: &str, request_id: &str, result: impl FnOnce(&mut Xml)) -> Response {
    let mut x = Xml::default();
    x.0.push_str(&format!("<{action}Response xmlns=\"{ns}\">"));
    x.open(&format!("{action}Result"));
    result(&mut x);
    x.close(&format!("{action}Result"));
    x.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
    x.close(&format!("{action}Response"));
    xml_response(StatusCode::OK, x.0, request_id)
}

/// An answer without a result element (DeleteTopic, Unsubscribe, Set*Attributes, ...).
pub fn empty(action: &str, request_id: &str) -> Response {
    empty_in(NS, action, request_id)
}

/// [`empty`] for another Query-protocol service.
pub fn empty_in(ns: &str, action: &str, request_id: &str) -> Response {
    let mut x = Xml::default();
    x.0.push_str(&format!("<{action}Response xmlns=\"{ns}\">"));
    x.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
    x.close(&format!("{action}Response"));
    xml_response(StatusCode::OK, x.0, request_id)
}

/// The Query protocol's one error renderer: `<ErrorResponse>` with `Sender` or `Receiver`,
/// the code and the message, and the status [`crate::wire::status`] gives. Signature errors
/// are renamed to the Query protocol's codes (`SignatureDoesNotMatch`, not Lambda's
/// `InvalidSignatureException`).
pub fn error(e: &Error, request_id: &str) -> Response {
    error_in(NS, e, request_id)
}

/// The Query protocol's `<ErrorResponse>` for another service (IAM, STS).
pub fn error_in(ns: &str, e: &Error, request_id: &str) -> Response {
    let status = crate::wire::status(e, crate::wire::Protocol::Query);
    let mut x = Xml::default();
    x.0.push_str(&format!("<ErrorResponse xmlns=\"{ns}\">"));
    x.open("Error")
        .leaf(
            "Type",
            if status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            },
        )
        .leaf("Code", query_code(e.code))
        .leaf("Message", &e.message)
        .close("Error")
        .leaf("RequestId", request_id)
        .close("ErrorResponse");
    xml_response(status, x.0, request_id)
}

/// The Query protocol's name for a signature error code; other codes are unchanged.
pub fn query_code(code: &str) -> &str {
    match code {
        "UnrecognizedClientException" => "InvalidClientTokenId",
        "InvalidSignatureException" => "SignatureDoesNotMatch",
        "MissingAuthenticationTokenException" => "MissingAuthenticationToken",
        "IncompleteSignatureException" => "IncompleteSignature",
        "ExpiredTokenException" => "ExpiredToken",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text() {
        let mut x = Xml::default();
        x.leaf("Message", "a<b & \"c\"");
        assert_eq!(x.0, "<Message>a&lt;b &amp; &quot;c&quot;</Message>");
    }
}
