//! The credentials each execution environment receives: a session of its function's
//! execution role, issued by the IAM store like AssumeRole's, valid twelve hours (the engine
//! retires an environment an hour before its credentials expire, so a new one gets fresh
//! ones). The environments a function starts within an hour share one session, as AWS hands
//! a function's environments the credentials of one role session named after the function
//! (decision 0042). The platform's own keys never enter an environment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use stratus_core::ACCOUNT_ID;
use stratus_engine::{CredentialSource, FunctionCredentials};
use stratus_iam::store::{Identity, PrincipalKind, Role};
use stratus_iam::{Iam, Who};

/// How long an environment's credentials are valid.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The principal functions act for when they assume their role.
pub const LAMBDA_PRINCIPAL: &str = "lambda.amazonaws.com";

/// How long the environments of one function share a session. A session is a write to the
/// IAM store: ~0.14 ms of every cold start, and a thousand writes for a scale-out to a
/// thousand environments, when each had its own. An environment still starts with at least
/// eleven hours of validity.
pub const SHARED_FOR: Duration = Duration::from_secs(3600);

pub struct RoleCredentials {
    iam: Arc<Iam>,
    /// Under `--iam off` a function whose role does not exist still gets working (temporary)
    /// credentials: every signed request is allowed in that mode.
    enforced: bool,
    /// The session each function's environments share, by the identity it was issued for
    /// (role ARN and id, and the function; see [`SessionKey`]), with when it was issued.
    shared: Mutex<HashMap<SessionKey, (FunctionCredentials, Instant)>>,
}

/// What a shared session stands for: the assumed role's ARN and user id (the role's id and
/// the function's name), so a role deleted and made again under its name gets a session of
/// its own.
type SessionKey = (String, String);

impl RoleCredentials {
    pub fn new(iam: Arc<Iam>, enforced: bool) -> RoleCredentials {
        RoleCredentials {
            iam,
            enforced,
            shared: Mutex::default(),
        }
    }

    /// The session `identity`'s environments share: the one issued within [`SHARED_FOR`], or
    /// a new one. The lock is held while a session is issued, so a burst of cold starts of
    /// one function issues one.
    fn session_of(&self, identity: &Identity) -> Option<FunctionCredentials> {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let key = (identity.arn.clone(), identity.user_id.clone());
        if let Some((creds, issued)) = shared.get(&key) {
            if issued.elapsed() < SHARED_FOR {
                return Some(creds.clone());
            }
        }
        shared.retain(|_, (_, issued)| issued.elapsed() < SHARED_FOR);
        let creds = self
            .iam
            .create_session(identity, LIFETIME.as_secs() as i64)
            .ok()?;
        let creds = FunctionCredentials {
            access_key: creds.access_key,
            secret: creds.secret,
            token: creds.token,
            expires: SystemTime::UNIX_EPOCH + Duration::from_secs(creds.expires.max(0) as u64),
        };
        shared.insert(key, (creds.clone(), Instant::now()));
        Some(creds)
    }
}

/// The role an ARN names, if it exists and trusts Lambda to assume it.
pub fn lambda_role(iam: &Iam, role_arn: &str) -> Result<Option<Role>, stratus_core::Error> {
    let Some(role) = iam.role_by_arn(role_arn)? else {
        return Ok(None);
    };
    let lambda = Who {
        arn: "",
        role_arn: None,
        account: ACCOUNT_ID,
        service: Some(LAMBDA_PRINCIPAL),
    };
    Ok(crate::services::sts::trusts(&role.trust, role_arn, &lambda).then_some(role))
}

impl CredentialSource for RoleCredentials {
    fn for_function(&self, role_arn: &str, function: &str) -> Option<FunctionCredentials> {
        // A store that cannot answer hands out nothing: the invocation fails rather than
        // running with the wrong identity.
        let identity = match lambda_role(&self.iam, role_arn).ok()? {
            Some(role) => Identity {
                arn: format!(
                    "arn:aws:sts::{ACCOUNT_ID}:assumed-role/{}/{function}",
                    role.name
                ),
                user_id: format!("{}:{function}", role.id),
                principal: PrincipalKind::Role(role.name.clone(), role.arn()),
            },
            None if !self.enforced => Identity::root(),
            None => {
                tracing::warn!(
                    role_arn,
                    function,
                    "the function's role cannot be assumed; its environment gets no credentials"
                );
                return None;
            }
        };
        self.session_of(&identity)
    }
}

/// CreateFunction's and UpdateFunctionConfiguration's check of the execution role, when
/// IAM is enforced: it must exist and trust Lambda, and a caller other than root must be
/// allowed `iam:PassRole` on it. A malformed ARN is left to the settings' own validation.
pub fn check_role(
    state: &crate::AppState,
    caller: &crate::auth::Caller,
    role_arn: &str,
) -> Result<(), stratus_core::Error> {
    if !state.config.iam_enforced || !role_arn.starts_with("arn:aws:iam::") {
        return Ok(());
    }
    // A fault of the store is the caller's retryable ServiceException, not a verdict on
    // the role.
    let role = lambda_role(&state.stores.iam, role_arn).map_err(|e| {
        tracing::warn!(code = e.code, "checking a function's role");
        stratus_core::Error::service()
    })?;
    if role.is_none() {
        return Err(stratus_core::Error::new(
            "InvalidParameterValueException",
            stratus_core::Kind::InvalidInput,
            "The role defined for the function cannot be assumed by Lambda.",
        ));
    }
    if caller.identity.is_root() {
        return Ok(());
    }
    let mut target = stratus_iam::actions::Target::new("iam:PassRole", role_arn);
    target.context.add("iam:PassedToService", LAMBDA_PRINCIPAL);
    let decision = crate::authorize::decide(
        &state.stores.iam,
        &caller.identity,
        crate::authorize::session_key(caller),
        &mut target,
        None,
    )?;
    if decision == stratus_iam::Decision::Allow {
        return Ok(());
    }
    Err(stratus_core::Error::new(
        "AccessDeniedException",
        stratus_core::Kind::AccessDenied,
        crate::authorize::refusal(
            &state.stores.iam,
            &caller.identity,
            crate::authorize::session_key(caller),
            &target,
            None,
            decision,
        ),
    ))
}
