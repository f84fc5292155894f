//! A function's result as the HTTP response the client gets. Payload 2.0: an object with
//! `statusCode` is a structured response (`headers`, `multiValueHeaders`, `cookies` → one
//! `Set-Cookie` each, `body`, `isBase64Encoded`); anything else valid JSON becomes a 200
//! `application/json` response whose body is that JSON text (a string: its raw text).
//! Payload 1.0 requires `statusCode`. A result that fits neither is malformed (the gateway
//! answers 500).

use axum::http::{HeaderName, HeaderValue};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};

/// The response to send.
#[derive(Debug, PartialEq)]
pub struct Mapped {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// Why a result could not be mapped (logged, never sent).
#[derive(Debug, PartialEq)]
pub struct Malformed(pub String);

type Mapping = Result<Mapped, Malformed>;

fn bad(why: impl Into<String>) -> Malformed {
    Malformed(why.into())
}

/// Headers the gateway itself owns.
fn reserved(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-length" | "transfer-encoding" | "connection" | "apigw-requestid"
    )
}

fn push(
    out: &mut Vec<(HeaderName, HeaderValue)>,
    name: &str,
    value: &Value,
) -> Result<(), Malformed> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => return Ok(()),
        _ => return Err(bad(format!("header {name} is not a string"))),
    };
    let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|_| bad(format!("invalid header name {name}")))?;
    let value =
        HeaderValue::from_str(&text).map_err(|_| bad(format!("invalid value for {name}")))?;
    if !reserved(&name) {
        out.push((name, value));
    }
    Ok(())
}

fn status(obj: &Map<String, Value>) -> Result<u16, Malformed> {
    let code = match obj.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    code.filter(|c| (100..=599).contains(c))
        .map(|c| c as u16)
        .ok_or_else(|| bad("statusCode is not a valid HTTP status"))
}

fn headers(
    obj: &Map<String, Value>,
    cookies: bool,
) -> Result<Vec<(HeaderName, HeaderValue)>, Malformed> {
    let mut out = Vec::new();
    match obj.get("headers") {
        Some(Value::Object(h)) => h.iter().try_for_each(|(k, v)| push(&mut out, k, v))?,
        None | Some(Value::Null) => {}
        _ => return Err(bad("headers is not an object")),
    }
    match obj.get("multiValueHeaders") {
        Some(Value::Object(h)) => {
            for (k, vs) in h {
                let vs = vs
                    .as_array()
                    .ok_or_else(|| bad("multiValueHeaders value is not a list"))?;
                vs.iter().try_for_each(|v| push(&mut out, k, v))?;
            }
        }
        None | Some(Value::Null) => {}
        _ => return Err(bad("multiValueHeaders is not an object")),
    }
    if cookies {
        match obj.get("cookies") {
            Some(Value::Array(cs)) => cs
                .iter()
                .try_for_each(|c| push(&mut out, "set-cookie", c))?,
            None | Some(Value::Null) => {}
            _ => return Err(bad("cookies is not a list")),
        }
    }
    Ok(out)
}

fn body(obj: &Map<String, Value>) -> Result<Bytes, Malformed> {
    let text = match obj.get("body") {
        None | Some(Value::Null) => return Ok(Bytes::new()),
        Some(Value::String(s)) => s,
        Some(_) => return Err(bad("body is not a string")),
    };
    match obj.get("isBase64Encoded") {
        Some(Value::Bool(true)) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(|_| bad("body is not valid base64")),
        None | Some(Value::Bool(false)) | Some(Value::Null) => Ok(Bytes::from(text.clone())),
        Some(_) => Err(bad("isBase64Encoded is not a boolean")),
    }
}

fn structured(obj: &Map<String, Value>, cookies: bool) -> Mapping {
    let status = status(obj)?;
    let mut headers = headers(obj, cookies)?;
    if !headers.iter().any(|(n, _)| n == "content-type") {
        headers.push((
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ));
    }
    Ok(Mapped {
        status,
        headers,
        body: body(obj)?,
    })
}

fn json_response(body: Bytes) -> Mapped {
    Mapped {
        status: 200,
        headers: vec![(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        )],
        body,
    }
}

/// Maps a payload format 2.0 result.
pub fn from_v2(payload: &[u8]) -> Mapping {
    // Most results are passed on as they are: the shape is read first without building the
    // document (a `Value` of a whole result was a tenth of an HTTP API request's
    // instructions), and only a structured result is decoded.
    let shape: Shape =
        serde_json::from_slice(payload).map_err(|e| bad(format!("result is not JSON: {e}")))?;
    match shape {
        Shape::Structured => match serde_json::from_slice(payload) {
            Ok(Value::Object(obj)) => structured(&obj, true),
            _ => Err(bad("result is not JSON")),
        },
        Shape::Text(s) => Ok(json_response(Bytes::from(s))),
        Shape::Other => Ok(json_response(Bytes::copy_from_slice(payload.trim_ascii()))),
    }
}

/// What a 2.0 result is: an object with a `statusCode`, a string, or anything else.
enum Shape {
    Structured,
    Text(String),
    Other,
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        use serde::de::IgnoredAny;
        let mut status = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            status |= key == "statusCode";
            map.next_value::<IgnoredAny>()?;
        }
        Ok(if status {
            Shape::Structured
        } else {
            Shape::Other
        })
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Shape::Other)
    }

    fn visit_str<E>(self, v: &str) -> Result<Shape, E> {
        Ok(Shape::Text(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Shape, E> {
        Ok(Shape::Text(v))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
}

/// Maps a payload format 1.0 result (`statusCode` required).
pub fn from_v1(payload: &[u8]) -> Mapping {
    match serde_json::from_slice(payload) {
        Ok(Value::Object(obj)) if obj.contains_key("statusCode") => structured(&obj, false),
        Ok(_) => Err(bad("a 1.0 result needs a statusCode")),
        Err(e) => Err(bad(format!("result is not JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(m: &'a Mapped, name: &str) -> Vec<&'a str> {
        m.headers
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.to_str().ok())
            .collect()
    }

    #[test]
    fn structured_v2_with_cookies_and_multi_values() {
        let m = from_v2(
            br#"{"statusCode": 201, "headers": {"X-One": "1", "content-type": "text/html"},
                 "multiValueHeaders": {"x-many": ["a", "b"]},
                 "cookies": ["a=1", "b=2; Path=/"], "body": "<p>hi</p>"}"#,
        )
        .unwrap();
        assert_eq!(m.status, 201);
        assert_eq!(header(&m, "x-one"), ["1"]);
        assert_eq!(header(&m, "x-many"), ["a", "b"]);
        assert_eq!(header(&m, "set-cookie"), ["a=1", "b=2; Path=/"]);
        assert_eq!(header(&m, "content-type"), ["text/html"]);
        assert_eq!(m.body, "<p>hi</p>");
    }

    #[test]
    fn base64_bodies_are_decoded() {
        let m =
            from_v2(br#"{"statusCode": 200, "body": "/wAB", "isBase64Encoded": true}"#).unwrap();
        assert_eq!(&m.body[..], &[0xff, 0x00, 0x01]);
        assert!(from_v2(br#"{"statusCode": 200, "body": "*", "isBase64Encoded": true}"#).is_err());
    }

    #[test]
    fn every_kind_of_json_result_has_a_shape() {
        for (payload, body) in [
            (
                &b"[1, {\"statusCode\": 1}]"[..],
                &b"[1, {\"statusCode\": 1}]"[..],
            ),
            (b" 42 ", b"42"),
            (b"null", b"null"),
            (b"true", b"true"),
            (b"-1.5", b"-1.5"),
            (br#""esc\"aped""#, br#"esc"aped"#),
            (
                br#"{"nested": {"statusCode": 500}}"#,
                br#"{"nested": {"statusCode": 500}}"#,
            ),
        ] {
            let m = from_v2(payload).unwrap();
            assert_eq!((m.status, &m.body[..]), (200, body));
        }
        assert!(from_v2(b"{\"a\": 1").is_err());
        assert!(from_v2(b"{} trailing").is_err());
        assert_eq!(from_v2(br#"{"statusCode": 204}"#).unwrap().status, 204);
    }

    #[test]
    fn results_without_status_are_json() {
        let m = from_v2(br#"{"hello": "world"}"#).unwrap();
        assert_eq!(
            (m.status, &m.body[..]),
            (200, &br#"{"hello": "world"}"#[..])
        );
        assert_eq!(header(&m, "content-type"), ["application/json"]);
        assert_eq!(from_v2(br#""Hello""#).unwrap().body, "Hello");
        assert_eq!(from_v2(b"[1,2]").unwrap().body, "[1,2]");
    }

    #[test]
    fn malformed_results() {
        assert!(from_v2(b"not json").is_err());
        assert!(from_v2(br#"{"statusCode": 99}"#).is_err());
        assert!(from_v2(br#"{"statusCode": "x"}"#).is_err());
        assert!(from_v2(br#"{"statusCode": 200, "body": {"a": 1}}"#).is_err());
        assert!(from_v2(br#"{"statusCode": 200, "headers": {"bad name": "v"}}"#).is_err());
        assert!(from_v1(br#"{"hello": "world"}"#).is_err());
        assert!(from_v1(b"\"text\"").is_err());
    }

    #[test]
    fn v1_ignores_cookies_member() {
        let m = from_v1(br#"{"statusCode": 200, "cookies": ["a=1"], "multiValueHeaders": {"Set-Cookie": ["b=2"]}}"#).unwrap();
        assert_eq!(header(&m, "set-cookie"), ["b=2"]);
    }
}
