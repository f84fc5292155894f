//! The stack executor's way to the APIs: each request is signed with the credentials of the
//! principal that started the stack operation (looked up as the authentication middleware
//! looks keys up) and sent through the router in-process ([`crate::inprocess`]), so a stack's
//! resources pass the same validation, IAM checks and errors as a user's own calls.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use http_body_util::BodyExt;
use stratus_stacks::providers::{ApiRequest, ApiResponse, Client};

use crate::inprocess::{self, Outgoing, SigningKey};
use crate::AppState;

pub struct RouterClient {
    pub state: Weak<AppState>,
}

fn failure(message: &str) -> ApiResponse {
    ApiResponse {
        status: 500,
        body: serde_json::json!({ "message": message })
            .to_string()
            .into_bytes(),
    }
}

#[async_trait]
impl Client for RouterClient {
    async fn send(&self, owner: &str, region: &str, request: ApiRequest) -> ApiResponse {
        let Some(state) = self.state.upgrade() else {
            return failure("The server is shutting down");
        };
        let Some(key) = credentials(&state, owner, region) else {
            return failure(
                "The credentials that started this stack operation are no longer valid",
            );
        };
        let outgoing = Outgoing {
            service: request.service,
            method: request.method,
            path: &request.path,
            headers: request
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            body: request.body.into(),
        };
        let req = match inprocess::signed(&outgoing, &inprocess::default_host(&state), &key) {
            Ok(r) => r,
            Err(e) => return failure(&e),
        };
        let response = inprocess::send(&state, req).await;
        let status = response.status().as_u16();
        let body = match response.into_body().collect().await {
            Ok(b) => b.to_bytes().to_vec(),
            Err(e) => return failure(&e.to_string()),
        };
        ApiResponse { status, body }
    }
}

/// `owner`'s key; the root key when the owner is unknown (a stack recovered after a restart
/// whose starter's session has gone stays usable); `None` when the owner's key is inactive.
fn credentials(state: &Arc<AppState>, owner: &str, region: &str) -> Option<SigningKey> {
    let known = crate::auth::RootThenIam {
        root: &state.config.secrets,
        iam: &state.stores.iam,
    };
    let (access_key, secret, token) = match crate::auth::Keys::lookup(&known, owner) {
        Ok(Some(record)) if record.active => (owner.to_string(), record.secret, record.token),
        Ok(Some(_)) => return None,
        _ => {
            let (key, secret) = state.config.secrets.iter().next()?;
            (key.clone(), secret.clone(), None)
        }
    };
    Some(SigningKey {
        access_key,
        secret,
        token,
        region: region.to_string(),
    })
}
