//! Each wire protocol's error rendering, through the real router in-process (tower `oneshot`,
//! no socket): for Lambda, the API Gateway management API, DynamoDB, CloudWatch Logs, SNS and
//! S3, a wrong signature, an unknown access key and an unknown operation each get the
//! protocol's own status, code and body shape.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use axum::body::Body;
use axum::Router;
use http::{Response, StatusCode};
use tower::ServiceExt;

/// A request for the router: `(method, path and query, headers, body)`.
#[derive(Clone)]
struct Req<'a> {
    method: &'a str,
    uri: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

/// Signs `r` for `service` with `key` / `secret`, as an SDK would.
fn signed(service: &str, key: &str, secret: &str, r: &Req) -> http::Request<Body> {
    let identity = Credentials::new(key, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if service == "s3" {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut headers = r.headers.clone();
    headers.push(("host", "localhost:4566"));
    let url = format!("http://localhost:4566{}", r.uri);
    let signable = SignableRequest::new(
        r.method,
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(r.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = unsigned(r);
    req.headers_mut()
        .insert("host", http::HeaderValue::from_static("localhost:4566"));
    instructions.apply_to_request_http1x(&mut req);
    req
}

fn unsigned(r: &Req) -> http::Request<Body> {
    let mut b = http::Request::builder().method(r.method).uri(r.uri);
    for (k, v) in &r.headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(r.body.to_vec())).unwrap()
}

/// An answer: status, headers and body text.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn call(app: &Router, req: http::Request<Body>) -> Answer {
    let resp: Response<Body> = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The three failures every protocol is checked for: a signature made with the wrong secret,
/// an access key the platform does not know, and an operation the service does not have.
async fn failures(app: &Router, service: &str, good: &Req<'_>, unknown: &Req<'_>) -> [Answer; 3] {
    [
        call(app, signed(service, "test", "wrong-secret", good)).await,
        call(app, signed(service, "nobody", "test", good)).await,
        call(app, signed(service, "test", "test", unknown)).await,
    ]
}

/// The REST-JSON shape: `x-amzn-ErrorType`, `{"Type": "User", "message": …}`.
fn assert_rest_json(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{code}: {}", a.body);
    assert_eq!(a.header("x-amzn-ErrorType"), Some(code), "{}", a.body);
    assert!(a.header("x-amzn-RequestId").is_some());
    let body = a.json();
    assert_eq!(body["Type"], "User", "{}", a.body);
    assert!(
        body["message"].is_string() || body["Message"].is_string(),
        "{}",
        a.body
    );
}

async fn app() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = stratus_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        isolation: "process".into(),
        ..Default::default()
    };
    let platform = stratus_server::Platform::start(&cfg).await.unwrap();
    let app = stratus_api::router(platform.state.clone());
    // The platform's listener and workers are not needed: requests go to the router directly.
    std::mem::forget(platform);
    (app, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_and_api_gateway_answer_rest_json() {
    let (app, _dir) = app().await;
    let list = Req {
        method: "GET",
        uri: "/2015-03-31/functions",
        headers: vec![],
        body: b"",
    };
    let unknown = Req {
        uri: "/2015-03-31/no-such-thing",
        ..list.clone()
    };
    let [sig, key, op] = failures(&app, "lambda", &list, &unknown).await;
    assert_rest_json(&sig, 403, "InvalidSignatureException");
    assert_rest_json(&key, 403, "UnrecognizedClientException");
    assert_rest_json(&op, 404, "UnknownOperationException");

    let apis = Req {
        uri: "/v2/apis",
        ..list.clone()
    };
    let unknown = Req {
        uri: "/v2/no-such-thing",
        ..list.clone()
    };
    let [sig, key, op] = failures(&app, "apigateway", &apis, &unknown).await;
    assert_rest_json(&sig, 403, "InvalidSignatureException");
    assert_rest_json(&key, 403, "UnrecognizedClientException");
    assert_rest_json(&op, 404, "UnknownOperationException");
    // A missing resource is the management API's own code.
    let missing = call(
        &app,
        signed(
            "apigateway",
            "test",
            "test",
            &Req {
                uri: "/v2/apis/nope",
                ..list.clone()
            },
        ),
    )
    .await;
    assert_rest_json(&missing, 404, "NotFoundException");
}

/// `X-Amz-Target` requests of a JSON-protocol service.
fn target(t: &str) -> Req<'_> {
    Req {
        method: "POST",
        uri: "/",
        headers: vec![
            ("x-amz-target", t),
            ("content-type", "application/x-amz-json-1.0"),
        ],
        body: b"{}",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_answers_json_1_0_with_namespaced_types() {
    let (app, _dir) = app().await;
    let good = target("DynamoDB_20120810.ListTables");
    let unknown = target("DynamoDB_20120810.NoSuchOperation");
    let [sig, key, op] = failures(&app, "dynamodb", &good, &unknown).await;
    let unsigned = call(&app, unsigned(&good)).await;
    for (a, ty) in [
        (&sig, "com.amazon.coral.service#InvalidSignatureException"),
        (&key, "com.amazon.coral.service#UnrecognizedClientException"),
        (&op, "com.amazon.coral.service#UnknownOperationException"),
        (
            &unsigned,
            "com.amazon.coral.service#MissingAuthenticationTokenException",
        ),
    ] {
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(a.json()["__type"], ty, "{}", a.body);
        assert_eq!(a.header("content-type"), Some("application/x-amz-json-1.0"));
        let crc = crc32fast_hash(a.body.as_bytes()).to_string();
        assert_eq!(a.header("x-amz-crc32"), Some(crc.as_str()), "{}", a.body);
        assert_eq!(a.header("x-amzn-ErrorType"), None);
    }
    assert_eq!(
        unsigned.json()["message"],
        "Request is missing Authentication Token"
    );
    assert!(op.json().get("message").is_none(), "{}", op.body);
    // A table that does not exist: the service's own namespace.
    let missing = call(
        &app,
        signed(
            "dynamodb",
            "test",
            "test",
            &Req {
                body: br#"{"TableName": "nope"}"#,
                ..target("DynamoDB_20120810.DescribeTable")
            },
        ),
    )
    .await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json()["__type"],
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
    );
}

/// A body that fails after its first bytes, as a client that hangs up mid-upload sends it.
fn broken_body() -> Body {
    let chunks: Vec<Result<&'static [u8], std::io::Error>> = vec![
        Ok(b"{\"TableName\""),
        Err(std::io::Error::other("connection reset")),
    ];
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_cannot_be_read_is_answered_in_the_services_protocol() {
    let (app, _dir) = app().await;
    let with_broken_body = |r: &Req| {
        let (parts, _) = unsigned(r).into_parts();
        http::Request::from_parts(parts, broken_body())
    };
    let dynamodb = call(&app, with_broken_body(&target("DynamoDB_20120810.PutItem"))).await;
    assert_eq!(dynamodb.status, 400, "{}", dynamodb.body);
    assert_eq!(
        dynamodb.json()["__type"],
        "com.amazonaws.dynamodb.v20120810#IncompleteBody"
    );
    assert!(dynamodb.header("x-amz-crc32").is_some());
    let lambda = call(
        &app,
        with_broken_body(&Req {
            method: "POST",
            uri: "/2015-03-31/functions",
            headers: vec![],
            body: b"",
        }),
    )
    .await;
    assert_rest_json(&lambda, 400, "IncompleteBody");
}

/// CRC-32 (IEEE) of `data`, as DynamoDB's `x-amz-crc32` carries it.
fn crc32fast_hash(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_answers_json_1_1_with_plain_types() {
    let (app, _dir) = app().await;
    let good = target("Logs_20140328.DescribeLogGroups");
    let unknown = target("Logs_20140328.NoSuchOperation");
    let [sig, key, op] = failures(&app, "logs", &good, &unknown).await;
    let missing = call(
        &app,
        signed(
            "logs",
            "test",
            "test",
            &Req {
                body: br#"{"logGroupName": "nope"}"#,
                ..target("Logs_20140328.DescribeLogStreams")
            },
        ),
    )
    .await;
    for (a, code) in [
        (&sig, "InvalidSignatureException"),
        (&key, "UnrecognizedClientException"),
        (&op, "UnknownOperationException"),
        (&missing, "ResourceNotFoundException"),
    ] {
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(a.json()["__type"], code, "{}", a.body);
        assert_eq!(a.header("x-amzn-ErrorType"), Some(code));
        assert_eq!(a.header("content-type"), Some("application/x-amz-json-1.1"));
        assert!(a.json()["message"].is_string(), "{}", a.body);
    }
    assert_eq!(op.json()["message"], "Unknown operation NoSuchOperation");
}

/// An SNS Query request.
fn action(body: &[u8]) -> Req<'_> {
    Req {
        method: "POST",
        uri: "/",
        headers: vec![(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body,
    }
}

/// The `<Code>` and `<Type>` of a Query or S3 error document.
fn xml_field<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(&body[start..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_answers_query_xml_with_its_own_codes() {
    let (app, _dir) = app().await;
    let good = action(b"Action=ListTopics&Version=2010-03-31");
    let unknown = action(b"Action=NoSuchAction&Version=2010-03-31");
    let [sig, key, op] = failures(&app, "sns", &good, &unknown).await;
    let missing = call(
        &app,
        signed(
            "sns",
            "test",
            "test",
            &action(
                b"Action=GetTopicAttributes&Version=2010-03-31\
                  &TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3Anope",
            ),
        ),
    )
    .await;
    for (a, status, code) in [
        (&sig, 403, "SignatureDoesNotMatch"),
        (&key, 403, "InvalidClientTokenId"),
        (&op, 400, "InvalidAction"),
        (&missing, 404, "NotFound"),
    ] {
        assert_eq!(a.status, status, "{}", a.body);
        assert!(a.body.starts_with("<ErrorResponse"), "{}", a.body);
        assert_eq!(xml_field(&a.body, "Code"), Some(code), "{}", a.body);
        assert_eq!(xml_field(&a.body, "Type"), Some("Sender"), "{}", a.body);
        assert_eq!(a.header("content-type"), Some("text/xml"));
        let id = a.header("x-amzn-RequestId").unwrap();
        assert_eq!(xml_field(&a.body, "RequestId"), Some(id), "{}", a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_answers_s3_xml_never_lambda_json() {
    let (app, _dir) = app().await;
    let good = Req {
        method: "GET",
        uri: "/some-bucket",
        headers: vec![],
        body: b"",
    };
    let unknown = Req {
        method: "PATCH",
        uri: "/some-bucket/key",
        ..good.clone()
    };
    let [sig, key, op] = failures(&app, "s3", &good, &unknown).await;
    let anonymous = call(&app, unsigned(&good)).await;
    for (a, status, code) in [
        (&sig, 403, "SignatureDoesNotMatch"),
        (&key, 403, "InvalidAccessKeyId"),
        (&op, 501, "NotImplemented"),
        (&anonymous, 403, "AccessDenied"),
    ] {
        assert_eq!(a.status, status, "{code}: {}", a.body);
        assert_eq!(xml_field(&a.body, "Code"), Some(code), "{}", a.body);
        assert!(xml_field(&a.body, "Message").is_some(), "{}", a.body);
        let id = a.header("x-amz-request-id").unwrap();
        assert_eq!(xml_field(&a.body, "RequestId"), Some(id), "{}", a.body);
        assert_eq!(a.header("x-amzn-ErrorType"), None, "not Lambda's shape");
    }
}
