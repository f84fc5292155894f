//! `AWS_IAM` routes: the request must be SigV4-signed for `execute-api` with a key the
//! platform knows (the same verification as the signed APIs), and the signer's policies must
//! allow `execute-api:Invoke` on the route's ARN (`arn:aws:execute-api:REGION:ACCOUNT:API/
//! STAGE/METHOD/PATH`). Refusals are 403s with API Gateway's messages: `Forbidden` for an
//! unsigned request, the signature error's own message otherwise, and IAM's "User: ... is not
//! authorized to perform: execute-api:Invoke on resource: ..." for a denial.

use axum::http::request::Parts;
use axum::http::StatusCode;
use serde_json::{json, Value};
use stratus_core::ACCOUNT_ID;
use stratus_iam::actions::Target;
use stratus_iam::Decision;

use super::authorize::Denied;
use super::data_plane::gateway_error;
use crate::auth::{self, Caller};
use crate::authorize::{add_source_ip, decide, refusal, session_key};
use crate::AppState;

/// Who signed an `AWS_IAM` request, for `requestContext.authorizer.iam`.
#[derive(Debug, Clone)]
pub struct Signer {
    pub access_key: String,
    pub user_arn: String,
    pub user_id: String,
}

impl Signer {
    /// The signer of `caller`'s request.
    pub fn of(caller: &Caller) -> Signer {
        Signer {
            access_key: caller.access_key.clone(),
            user_arn: caller.identity.arn.clone(),
            user_id: caller.identity.user_id.clone(),
        }
    }

    /// `requestContext.authorizer` of a payload 2.0 event (HTTP APIs and function URLs alike).
    pub fn v2(&self) -> Value {
        json!({ "iam": {
            "accessKey": self.access_key,
            "accountId": ACCOUNT_ID,
            "callerId": self.user_id,
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": self.user_arn,
            "userId": self.user_id,
        }})
    }
}

fn refused(message: &str, error: &str) -> Denied {
    Denied {
        response: Box::new(gateway_error(StatusCode::FORBIDDEN, message)),
        error: error.to_string(),
    }
}

/// Verifies and authorizes a request to an `AWS_IAM` route.
pub fn check(s: &AppState, parts: &Parts, body: &[u8], route_arn: &str) -> Result<Signer, Denied> {
    let keys = auth::RootThenIam {
        root: &s.config.secrets,
        iam: &s.stores.iam,
    };
    let signed = parts.headers.contains_key(http::header::AUTHORIZATION)
        || parts
            .uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature="));
    if !signed {
        return Err(refused("Forbidden", "The request is not signed"));
    }
    let caller: Caller =
        auth::verify(parts, body, &keys).map_err(|e| refused(&e.message, &e.message))?;
    if caller.service != "execute-api" {
        let why = format!(
            "Credential should be scoped to correct service: 'execute-api'. Found '{}'.",
            caller.service
        );
        return Err(refused(&why, &why));
    }
    let signer = Signer::of(&caller);
    if !s.config.iam_enforced || caller.identity.is_root() {
        return Ok(signer);
    }
    let mut target = Target::new("execute-api:Invoke", route_arn);
    add_source_ip(&parts.extensions, &mut target.context);
    let iam = &s.stores.iam;
    let key = session_key(&caller);
    match decide(iam, &caller.identity, key, &mut target, None) {
        Ok(Decision::Allow) => Ok(signer),
        Ok(d) => {
            let message = refusal(iam, &caller.identity, key, &target, None, d);
            Err(refused(&message, &message))
        }
        Err(e) => Err(Denied {
            response: Box::new(gateway_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            )),
            error: e.message,
        }),
    }
}
