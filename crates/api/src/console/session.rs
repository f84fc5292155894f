//! Console sessions: an opaque token in an HttpOnly cookie, kept in memory (a restart signs
//! everyone out), each with its own CSRF token and an expiry. A session names an access key,
//! not its secret: the secret is looked up at each request, so a key deleted or deactivated
//! ends the sessions signed in with it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderMap;
use rand::RngCore;

/// How long a session lasts from sign-in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The most sessions kept at once: sign-ins past it push out the oldest.
const MAX_SESSIONS: usize = 10_000;

/// The cookie's name.
pub const COOKIE: &str = "stratus_console";

/// The header every state-changing request carries the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-stratus-csrf";

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub access_key: String,
    pub region: String,
    pub csrf: String,
    pub expires: Instant,
}

/// The live sessions, by token, and whether the server is shutting down (live views end).
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
    closing: tokio::sync::watch::Sender<bool>,
}

/// Why a request has no usable session.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No cookie, an unknown token, or an expired session: sign in again.
    SignedOut,
    /// A state-changing request without the session's CSRF token.
    Csrf,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// Starts a session; returns its token and the session.
    pub fn create(&self, access_key: &str, region: &str) -> (String, Session) {
        let session = Session {
            access_key: access_key.to_string(),
            region: region.to_string(),
            csrf: random_token(),
            expires: Instant::now() + LIFETIME,
        };
        let token = random_token();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        live.retain(|_, s| s.expires > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(t, _)| t.clone())
            {
                live.remove(&oldest);
            }
        }
        live.insert(token.clone(), session.clone());
        (token, session)
    }

    /// Ends the session the request's cookie names, if any.
    pub fn remove(&self, headers: &HeaderMap) {
        if let Some(token) = cookie_token(headers) {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.remove(token);
        }
    }

    /// The request's live session; for a state-changing method, only with its CSRF token.
    pub fn check(&self, method: &http::Method, headers: &HeaderMap) -> Result<Session, Refusal> {
        let token = cookie_token(headers).ok_or(Refusal::SignedOut)?;
        let session = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            match live.get(token) {
                Some(s) if s.expires > Instant::now() => s.clone(),
                Some(_) => {
                    live.remove(token);
                    return Err(Refusal::SignedOut);
                }
                None => return Err(Refusal::SignedOut),
            }
        };
        if !is_safe(method) {
            let sent = headers
                .get(CSRF_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if !crate::auth::constant_time_eq(sent, session.csrf.as_bytes()) {
                return Err(Refusal::Csrf);
            }
        }
        Ok(session)
    }

    /// Live views end when this says `true` (the server is shutting down, and waits for
    /// open connections to finish).
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends the live views: called when shutdown starts.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Makes a session's expiry `at` (tests of expired sessions).
    #[cfg(test)]
    fn expire(&self, token: &str, at: Instant) {
        if let Some(s) = self.live.lock().unwrap().get_mut(token) {
            s.expires = at;
        }
    }
}

/// GET and HEAD change nothing; everything else needs the CSRF token.
pub fn is_safe(method: &http::Method) -> bool {
    method == http::Method::GET || method == http::Method::HEAD
}

/// The session token in the request's `Cookie` headers.
fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that stores `token` in the browser for the session's lifetime.
pub fn set_cookie(token: &str) -> String {
    format!(
        "{COOKIE}={token}; Path=/_stratus/console; HttpOnly; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/_stratus/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(token: &str, csrf: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            format!("other=1; {COOKIE}={token}").parse().unwrap(),
        );
        if let Some(c) = csrf {
            h.insert(CSRF_HEADER, c.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie() {
        let sessions = Sessions::default();
        let (token, s) = sessions.create("AKID", "us-east-1");
        let got = sessions
            .check(&http::Method::GET, &with_cookie(&token, None))
            .unwrap();
        assert_eq!(got.access_key, "AKID");
        assert_eq!(got.csrf, s.csrf);
        let unknown = sessions.check(&http::Method::GET, &with_cookie("nope", None));
        assert_eq!(unknown.unwrap_err(), Refusal::SignedOut);
        let none = sessions.check(&http::Method::GET, &HeaderMap::new());
        assert_eq!(none.unwrap_err(), Refusal::SignedOut);
    }

    #[test]
    fn changes_need_the_sessions_csrf_token() {
        let sessions = Sessions::default();
        let (token, s) = sessions.create("AKID", "us-east-1");
        let post = http::Method::POST;
        assert_eq!(
            sessions
                .check(&post, &with_cookie(&token, None))
                .unwrap_err(),
            Refusal::Csrf
        );
        assert_eq!(
            sessions
                .check(&post, &with_cookie(&token, Some("forged")))
                .unwrap_err(),
            Refusal::Csrf
        );
        assert!(sessions
            .check(&post, &with_cookie(&token, Some(&s.csrf)))
            .is_ok());
    }

    #[test]
    fn expired_and_removed_sessions_are_signed_out() {
        let sessions = Sessions::default();
        let (token, _) = sessions.create("AKID", "us-east-1");
        sessions.expire(&token, Instant::now());
        let got = sessions.check(&http::Method::GET, &with_cookie(&token, None));
        assert_eq!(got.unwrap_err(), Refusal::SignedOut);
        let (token, _) = sessions.create("AKID", "us-east-1");
        sessions.remove(&with_cookie(&token, None));
        let got = sessions.check(&http::Method::GET, &with_cookie(&token, None));
        assert_eq!(got.unwrap_err(), Refusal::SignedOut);
    }
}
