//! The web console at `/_stratus/console/` (decision 0037): static assets embedded in the
//! binary (plain ES modules and CSS, no build step), sign-in with an access key pair into a
//! cookie session, and one proxy through which the page calls every AWS API: each request is
//! re-signed with the session's own key and sent through the router in-process
//! ([`crate::inprocess`]), so the console can do exactly what that key may do.
//!
//! - [`session`]: sessions, cookies and CSRF tokens.
//! - [`assets`]: the embedded files.
//! - [`proxy`]: `ANY /_stratus/console/aws/<service>/<path>`.
//! - [`tail`]: the live log tail, as server-sent events.

pub mod assets;
pub mod proxy;
pub mod session;
pub mod tail;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

pub use session::Sessions;

use crate::auth::{constant_time_eq, Keys, RootThenIam};
use crate::Shared;

/// Where the console lives.
pub const PREFIX: &str = "/_stratus/console";

/// The console's routes, with its security headers.
pub fn router() -> Router<Shared> {
    Router::new()
        .route(PREFIX, get(to_index))
        .route(&format!("{PREFIX}/"), get(assets::index))
        .route(&format!("{PREFIX}/assets/{{*path}}"), get(assets::file))
        .route(
            &format!("{PREFIX}/session"),
            get(whoami).post(sign_in).delete(sign_out),
        )
        .route(&format!("{PREFIX}/aws/{{*rest}}"), any(proxy::aws))
        .route(&format!("{PREFIX}/events/logs"), get(tail::logs))
        .layer(middleware::from_fn(security_headers))
}

async fn to_index() -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, format!("{PREFIX}/"))],
    )
        .into_response()
}

/// The page may load only its own scripts, styles and images, and may not be framed.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// A console error: a status and a message the page shows.
pub fn refusal(status: StatusCode, message: &str) -> Response {
    let mut resp = (status, axum::Json(json!({ "message": message }))).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The answer to a request without a usable session.
pub fn refused(why: session::Refusal) -> Response {
    match why {
        session::Refusal::SignedOut => {
            let mut resp = refusal(
                StatusCode::UNAUTHORIZED,
                "Your session has ended. Sign in again.",
            );
            // Tells the page this is the console's refusal, not an API's 401.
            resp.headers_mut()
                .insert("x-stratus-console", HeaderValue::from_static("signed-out"));
            resp
        }
        session::Refusal::Csrf => refusal(
            StatusCode::FORBIDDEN,
            "The request did not carry this session's CSRF token.",
        ),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignIn {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    region: Option<String>,
}

/// A region name: lower-case letters, digits and dashes.
fn valid_region(r: &str) -> bool {
    (1..=32).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

const WRONG_KEYS: &str = "The access key ID or secret access key is not valid.";

/// `POST /_stratus/console/session`: checks the key pair against the keys the APIs accept
/// and starts a session. Only JSON is taken: a cross-site form cannot send it without the
/// browser's preflight, which this origin never allows.
async fn sign_in(State(state): State<Shared>, req: Request) -> Response {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Sign-in takes a JSON body.",
        );
    }
    let Ok(body) = crate::read_body(req.into_body(), 16 * 1024, crate::BODY_IDLE_TIMEOUT).await
    else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "The sign-in request could not be read.",
        );
    };
    let Ok(form) = serde_json::from_slice::<SignIn>(&body) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "Enter an access key ID and a secret access key.",
        );
    };
    let region = form.region.filter(|r| !r.is_empty());
    let region = region.as_deref().unwrap_or("us-east-1");
    if !valid_region(region) {
        return refusal(StatusCode::BAD_REQUEST, "The region name is not valid.");
    }
    let keys = RootThenIam {
        root: &state.config.secrets,
        iam: &state.stores.iam,
    };
    let record = match keys.lookup(&form.access_key_id) {
        Ok(Some(r)) => r,
        Ok(None) => return refusal(StatusCode::UNAUTHORIZED, WRONG_KEYS),
        Err(e) => {
            tracing::error!(%e, "console sign-in: key look-up");
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Keys cannot be checked now.",
            );
        }
    };
    let matches = constant_time_eq(record.secret.as_bytes(), form.secret_access_key.as_bytes());
    if !matches || !record.active {
        return refusal(StatusCode::UNAUTHORIZED, WRONG_KEYS);
    }
    if record.token.is_some() {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "Temporary (STS) credentials cannot sign in: use a user's or the root access key.",
        );
    }
    let (token, session) = state.console.create(&form.access_key_id, region);
    let mut resp = session_json(&session, &record.identity.arn);
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&token)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

fn session_json(s: &session::Session, arn: &str) -> Response {
    let remaining = s
        .expires
        .saturating_duration_since(std::time::Instant::now());
    let mut resp = axum::Json(json!({
        "accessKeyId": s.access_key,
        "region": s.region,
        "arn": arn,
        "csrfToken": s.csrf,
        "expiresInSeconds": remaining.as_secs(),
    }))
    .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /_stratus/console/session`: who is signed in, and the CSRF token for the page.
async fn whoami(State(state): State<Shared>, req: Request) -> Response {
    let session = match state.console.check(req.method(), req.headers()) {
        Ok(s) => s,
        Err(why) => return refused(why),
    };
    let keys = RootThenIam {
        root: &state.config.secrets,
        iam: &state.stores.iam,
    };
    match keys.lookup(&session.access_key) {
        Ok(Some(r)) if r.active => session_json(&session, &r.identity.arn),
        _ => {
            state.console.remove(req.headers());
            refused(session::Refusal::SignedOut)
        }
    }
}

/// `DELETE /_stratus/console/session`: signs out (with the CSRF token, like every change).
async fn sign_out(State(state): State<Shared>, req: Request) -> Response {
    if let Err(why) = state.console.check(req.method(), req.headers()) {
        return refused(why);
    }
    state.console.remove(req.headers());
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_checked() {
        assert!(valid_region("us-east-1"));
        assert!(valid_region("eu-central-2"));
        assert!(!valid_region(""));
        assert!(!valid_region("us east"));
        assert!(!valid_region("<script>"));
    }
}
