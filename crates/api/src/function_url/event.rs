//! The event a function URL hands its function: payload format 2.0, as for HTTP APIs (built
//! by [`apigw::events::v2`](crate::apigw::events::v2)), with the members AWS documents for
//! URLs: `routeKey` and `stage` are `$default`, `apiId` is the URL id, `accountId` is
//! `anonymous` for `NONE`, and `authorizer.iam` describes the signer for `AWS_IAM`.

use std::collections::BTreeMap;

use bytes::Bytes;
use time::OffsetDateTime;

use crate::apigw::events::{self, Context, HttpRequest};
use crate::auth::Caller;

/// Who signed an `AWS_IAM` request (`None` for `NONE`).
pub struct Signer<'a> {
    pub caller: &'a Caller,
}

/// The event for `req` sent to the URL `url_id`.
pub fn build(
    req: &HttpRequest,
    url_id: &str,
    request_id: &str,
    time: OffsetDateTime,
    signer: Option<Signer>,
) -> Bytes {
    let empty = BTreeMap::new();
    let ctx = Context {
        api_id: url_id,
        stage: "$default",
        route_key: "$default",
        resource: "$default",
        request_id,
        time,
        path_parameters: &empty,
        stage_variables: &empty,
        authorizer: None,
    };
    let mut e = events::v2_event(req, &ctx);
    let rc = &mut e.request_context;
    match signer {
        None => rc.account_id = "anonymous",
        Some(Signer { caller }) => {
            rc.account_id = stratus_core::ACCOUNT_ID;
            rc.authorizer = Some(crate::apigw::iam_auth::Signer::of(caller).v2());
        }
    }
    e.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
    use axum::http::HeaderMap;
    use serde_json::{json, Value};

    fn request() -> HttpRequest {
        let mut headers = HeaderMap::new();
        headers.append("cookie", "a=1; b=2".parse().unwrap());
        headers.append("x-many", "1".parse().unwrap());
        headers.append("x-many", "2".parse().unwrap());
        HttpRequest {
            method: "POST".into(),
            raw_path: "/a/b".into(),
            raw_query: "q=1&q=2".into(),
            headers,
            body: Bytes::from_static(&[0xff, 0x01]),
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1".into(),
            domain_name: "abc.lambda-url.us-east-1.localhost".into(),
            domain_prefix: "abc".into(),
        }
    }

    #[test]
    fn anonymous_events_have_aws_url_members() {
        let t = OffsetDateTime::from_unix_timestamp(1_584_039_838).unwrap();
        let e: Value = serde_json::from_slice(&build(&request(), "abc", "r1", t, None)).unwrap();
        assert_eq!(e["routeKey"], "$default");
        assert_eq!(e["rawPath"], "/a/b");
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(e["headers"]["x-many"], "1,2");
        assert_eq!(e["queryStringParameters"]["q"], "1,2");
        assert_eq!(e["isBase64Encoded"], true);
        let rc = &e["requestContext"];
        assert_eq!(rc["accountId"], "anonymous");
        assert_eq!(rc["apiId"], "abc");
        assert_eq!(rc["stage"], "$default");
        assert!(rc.get("authorizer").is_none());
        let parsed: LambdaFunctionUrlRequest = serde_json::from_value(e).unwrap();
        assert_eq!(parsed.request_context.apiid.as_deref(), Some("abc"));
    }
}
