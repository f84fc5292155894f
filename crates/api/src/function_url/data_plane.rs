//! Requests to function URLs, in two forms on the platform's one port:
//! - Host name: `<url-id>.lambda-url.<anything>` (AWS's `<url-id>.lambda-url.<region>.on.aws`;
//!   `FunctionUrl` names `<url-id>.lambda-url.<region>.localhost:<port>`), checked ahead of
//!   every other route;
//! - path: `/_aws/lambda-url/<url-id>/<path>`, for clients that cannot set the Host header.
//!
//! Each request is: found by its URL id, answered by CORS if it is a preflight the URL's
//! configuration covers, authorized (`AWS_IAM`: a SigV4 signature for `lambda` and
//! `lambda:InvokeFunctionUrl`; `NONE`: the function's policy must let anyone in), turned into
//! the payload 2.0 event, invoked ([`invoke`], the one place an invocation happens), and its
//! result mapped like an HTTP API's. Lambda's answers: `403 {"Message":"Forbidden"}`,
//! `413`, `429 {"Message":"Rate Exceeded."}`, `502 Internal Server Error` for a function
//! error or a malformed result; an unknown URL id (a DNS failure on AWS) is `404`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use stratus_core::limits;
use stratus_engine::InvokeOutcome;
use stratus_iam::actions::Target;
use stratus_iam::Decision;
use stratus_invoke::{Call, Failure, Trigger};

use super::event::{self, Signer};
use super::UrlConfig;
use crate::apigw::{data_plane::describe, events::HttpRequest, response};
use crate::auth::{Caller, RootThenIam};
use crate::{authorize, cors, Shared};

/// The path prefix of the path form.
pub const PREFIX: &str = "/_aws/lambda-url/";

/// Lambda's own error answers: `{"Message": ...}`.
fn error(status: StatusCode, message: Option<&str>) -> Response {
    let body = serde_json::json!({ "Message": message }).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

fn forbidden() -> Response {
    error(StatusCode::FORBIDDEN, Some("Forbidden"))
}

/// A function error or a result that is not a valid response.
fn bad_gateway() -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [("content-type", "text/plain; charset=utf-8")],
        "Internal Server Error",
    )
        .into_response()
}

/// The URL id a `<url-id>.lambda-url.<anything>` Host names, if it does.
pub fn url_id_from_host(host: &str) -> Option<&str> {
    let (id, rest) = host.split_once('.')?;
    let is_url = rest
        .get(..11)
        .is_some_and(|p| p.eq_ignore_ascii_case("lambda-url."))
        && !id.is_empty();
    is_url.then_some(id)
}

fn host(req: &Request) -> Option<&str> {
    req.headers().get("host").and_then(|h| h.to_str().ok())
}

/// The Host-name form, ahead of every other route (see `crate::dispatch`): the request's
/// answer when its host names a function URL, else the request back.
#[allow(
    clippy::result_large_err,
    reason = "the request is handed back by move; a box would cost every request an allocation"
)]
pub fn by_host(s: &Shared, req: Request) -> Result<crate::Served, Request> {
    let Some(id) = host(&req)
        .and_then(url_id_from_host)
        .map(str::to_ascii_lowercase)
    else {
        return Err(req);
    };
    let path = req.uri().path().to_string();
    let s = s.clone();
    Ok(Box::pin(async move { serve(&s, &id, path, req).await }))
}

/// The path form: `/_aws/lambda-url/<url-id>[/...]`.
pub async fn by_path(State(s): State<Shared>, req: Request) -> Response {
    let rest = req.uri().path().strip_prefix(PREFIX).unwrap_or("");
    let (id, path) = match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    };
    serve(&s, &id, path, req).await
}

/// Serves one request and stamps it with its request id.
async fn serve(s: &Shared, url_id: &str, path: String, req: Request) -> Response {
    let request_id = stratus_core::ids::uuid().to_string();
    let found = s
        .stores
        .meta
        .tx(|tx| tx.function_url_by_id::<UrlConfig>(url_id));
    let mut resp = match found {
        Ok(Some(cfg)) => handle(s, &cfg, path, req, &request_id).await,
        Ok(None) => error(StatusCode::NOT_FOUND, None),
        Err(e) => {
            tracing::warn!(error = %e, "function URL lookup failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("Internal Server Error"),
            )
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

async fn handle(
    s: &Shared,
    cfg: &UrlConfig,
    path: String,
    req: Request,
    request_id: &str,
) -> Response {
    if let Some(c) = &cfg.cors {
        if cors::is_preflight(req.method(), req.headers()) {
            return c.preflight(req.headers());
        }
    }
    let (parts, body) = req.into_parts();
    let body =
        match crate::read_body(body, limits::MAX_SYNC_PAYLOAD, crate::BODY_IDLE_TIMEOUT).await {
            Ok(b) => b,
            Err(crate::BodyError::TooLarge) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Some("Request Entity Too Large"),
                )
            }
            Err(_) => return error(StatusCode::BAD_REQUEST, Some("Bad Request")),
        };
    let Ok(signer) = authorize_request(s, cfg, &parts, &body) else {
        return forbidden();
    };
    let origin_headers = parts.headers.clone();
    let domain = (cfg.host_name(), cfg.url_id.clone());
    let http = describe(&parts, body, path, domain);
    let time = time::OffsetDateTime::now_utc();
    let signer = signer.as_ref().map(|caller| Signer { caller });
    let payload = event::build(&http, &cfg.url_id, request_id, time, signer);
    if payload.len() > limits::MAX_SYNC_PAYLOAD {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("Request Entity Too Large"),
        );
    }
    let mut resp = invoke(s, cfg, &http, payload, request_id).await;
    if let Some(c) = &cfg.cors {
        c.apply(&origin_headers, resp.headers_mut());
    }
    resp
}

/// A refused caller (answered `403 Forbidden`, whatever the reason, as Lambda does).
struct Refused;

/// Who may call the URL: `Ok(Some(caller))` for a verified `AWS_IAM` signer, `Ok(None)` for
/// an anonymous caller the function's policy admits.
fn authorize_request(
    s: &Shared,
    cfg: &UrlConfig,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Option<Caller>, Refused> {
    let arn = cfg.function_arn();
    let statements = || {
        crate::lambda::policy::statements(&s.stores.meta, &cfg.function, cfg.qualifier.as_deref())
    };
    if cfg.auth_type != "AWS_IAM" {
        let open = !s.config.iam_enforced
            || stratus_iam::resource::anyone_may_invoke_url(&statements(), &arn);
        return if open { Ok(None) } else { Err(Refused) };
    }
    let keys = RootThenIam {
        root: &s.config.secrets,
        iam: &s.stores.iam,
    };
    let caller = match crate::auth::verify(parts, body, &keys) {
        Ok(c) if c.service == "lambda" => c,
        Ok(_) | Err(_) => return Err(Refused),
    };
    if !s.config.iam_enforced {
        return Ok(Some(caller));
    }
    let mut target = Target::new("lambda:InvokeFunctionUrl", arn);
    target.context.add("lambda:FunctionUrlAuthType", "AWS_IAM");
    authorize::add_source_ip(&parts.extensions, &mut target.context);
    let policy = stratus_iam::resource::function_policy(&statements());
    let decision = if caller.identity.is_root() {
        authorize::decide_root(&target, policy.as_ref())
    } else {
        let session = authorize::session_key(&caller);
        authorize::decide(
            &s.stores.iam,
            &caller.identity,
            session,
            &mut target,
            policy.as_ref(),
        )
        .unwrap_or(Decision::ImplicitDeny)
    };
    match decision {
        Decision::Allow => Ok(Some(caller)),
        _ => Err(Refused),
    }
}

/// The one place a function URL invokes its function. `BUFFERED` sends the whole result;
/// `RESPONSE_STREAM` sends it as the function writes it ([`streamed`](super::streamed)).
async fn invoke(
    s: &Shared,
    cfg: &UrlConfig,
    _http: &HttpRequest,
    payload: Bytes,
    request_id: &str,
) -> Response {
    let call = Call {
        trigger: Trigger::FunctionUrl,
        region: &cfg.region,
        name: &cfg.function,
        qualifier: cfg.qualifier.as_deref(),
        payload,
        client_context: None,
        request_id: request_id.to_string(),
        want_log: false,
        // Not a source recursive loop detection follows (as on AWS).
        trace: None,
    };
    if cfg.invoke_mode == "RESPONSE_STREAM" {
        return match s.invoker.invoke_streaming(call).await {
            Ok(out) if !out.streamed => match out.done.outcome().await {
                Ok(out) => respond(out, request_id),
                Err(e) => invocation_failed(cfg, e),
            },
            Ok(out) => super::streamed::respond(out).await.unwrap_or_else(|| {
                tracing::warn!(request_id, "malformed function URL stream prelude");
                bad_gateway()
            }),
            Err(e) => invocation_failed(cfg, e),
        };
    }
    match s.invoker.invoke(call).await {
        Ok(out) => respond(out, request_id),
        Err(e) => invocation_failed(cfg, e),
    }
}

/// Lambda's answer when the function did not run.
fn invocation_failed(cfg: &UrlConfig, e: Failure) -> Response {
    match e {
        Failure::Throttled(_) => error(StatusCode::TOO_MANY_REQUESTS, Some("Rate Exceeded.")),
        e => {
            tracing::warn!(function = %cfg.function, error = %e, "function URL invocation failed");
            bad_gateway()
        }
    }
}

/// A result as the client's response: the payload 2.0 mapping (a result without
/// `statusCode` is `200 application/json`), or 502 for a function error.
fn respond(out: InvokeOutcome, request_id: &str) -> Response {
    if out.ending.is_function_error() {
        return bad_gateway();
    }
    match response::from_v2(&out.payload) {
        Ok(m) => {
            let mut resp = Response::new(Body::from(m.body));
            *resp.status_mut() = StatusCode::from_u16(m.status).unwrap_or(StatusCode::OK);
            let headers: &mut HeaderMap = resp.headers_mut();
            for (name, value) in m.headers {
                headers.append(name, value);
            }
            resp
        }
        Err(why) => {
            tracing::warn!(request_id, reason = %why.0, "malformed function URL response");
            bad_gateway()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_select_urls() {
        assert_eq!(
            url_id_from_host("abc.lambda-url.us-east-1.localhost:4566"),
            Some("abc")
        );
        assert_eq!(url_id_from_host("abc.LAMBDA-URL.x"), Some("abc"));
        assert_eq!(url_id_from_host("abc.execute-api.localhost"), None);
        assert_eq!(url_id_from_host(".lambda-url.x"), None);
        assert_eq!(url_id_from_host("127.0.0.1:4566"), None);
        assert_eq!(url_id_from_host("lambda-url.x"), None);
    }
}
