//! A principal's authorization profile: what every decision on its requests needs to know
//! about who signed them — its identity policies, its limits (permissions boundary, session
//! policies), the condition keys that describe it — gathered once per principal and set of
//! credentials and kept until the next IAM write. A request then costs one look-up here,
//! not one per part, and its condition keys are read through the profile's, not copied.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use stratus_core::{Error, ACCOUNT_ID};

use super::{Iam, Identity, Owner, PolicySet, PrincipalKind};
use crate::eval::Limits;
use crate::{Context, Policy};

/// Everything about a caller that its requests' decisions read.
#[derive(Debug)]
pub struct Profile {
    pub policies: PolicySet,
    pub limits: Limits,
    /// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:userid`, `aws:username`,
    /// `aws:SecureTransport` and `aws:PrincipalTag/<key>`, as conditions and policy
    /// variables read them.
    pub context: Arc<Context>,
    /// The (lower-cased) condition keys the policies and limits test, so that a request
    /// looks up what costs something (a resource's tags, a table's key) only when a
    /// condition reads it.
    condition_keys: Vec<String>,
}

impl Profile {
    /// Whether a condition of the caller's policies or limits tests a key starting with
    /// `prefix` (lower case).
    pub fn conditions_on(&self, prefix: &str) -> bool {
        self.condition_keys.iter().any(|k| k.starts_with(prefix))
    }
}

/// The profiles built so far, by principal and access key.
pub(super) type Profiles = RwLock<HashMap<String, Arc<Profile>>>;

impl Iam {
    /// The authorization profile of `identity` signing with `session_key` (temporary
    /// credentials) or its long-term key. The root user has an empty one.
    pub fn profile(
        &self,
        identity: &Identity,
        session_key: Option<&str>,
    ) -> Result<Arc<Profile>, Error> {
        let (owner, name) = match &identity.principal {
            PrincipalKind::Root => (Owner::User, ""),
            PrincipalKind::User(n) => (Owner::User, n.as_str()),
            PrincipalKind::Role(n, _) => (Owner::Role, n.as_str()),
        };
        let key = owner.cache_key(name, Some(session_key.unwrap_or("")));
        let cached = self.profiles.read().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cached.get(&key) {
            return Ok(hit.clone());
        }
        drop(cached);
        // Read before the database is: a profile built from reads that an IAM write
        // overtook is not kept (the write moves the generation before it clears this map).
        let generation = self.keys.generation();
        let profile = Arc::new(self.build_profile(identity, session_key)?);
        let mut cached = self.profiles.write().unwrap_or_else(|p| p.into_inner());
        if self.keys.generation() == generation {
            cached.insert(key, profile.clone());
        }
        Ok(profile)
    }

    fn build_profile(
        &self,
        identity: &Identity,
        session_key: Option<&str>,
    ) -> Result<Profile, Error> {
        let policies = self.policies_of(identity)?;
        let limits = self.limits_of(identity, session_key)?;
        let tags = self.principal_tags(identity, session_key)?;
        let condition_keys = condition_keys(&policies, &limits);
        Ok(Profile {
            context: Arc::new(principal_context(identity, &tags)),
            policies,
            limits,
            condition_keys,
        })
    }
}

/// The keys that describe the caller: its ARN and account, its id (`aws:userid`), for an
/// IAM user its name (`aws:username`), and its tags (`aws:PrincipalTag/<key>`).
pub fn principal_context(id: &Identity, tags: &[(String, String)]) -> Context {
    let mut context = Context::default();
    for (k, v) in tags {
        context.add(&format!("aws:PrincipalTag/{k}"), v.as_str());
    }
    context.add_lower(
        "aws:principalarn",
        id.role_arn().unwrap_or(&id.arn).to_string(),
    );
    context.add_lower("aws:principalaccount", ACCOUNT_ID.to_string());
    // The default; a request over a loopback connection or in-process says `true` for itself.
    context.add_lower("aws:securetransport", "false".to_string());
    context.add_lower("aws:userid", id.user_id.clone());
    if let PrincipalKind::User(name) = &id.principal {
        context.add_lower("aws:username", name.clone());
    }
    context
}

fn condition_keys(policies: &[Arc<Policy>], limits: &Limits) -> Vec<String> {
    let boundary = limits.boundary.iter();
    let session = limits.session.iter().flat_map(|s| s.iter());
    let mut keys: Vec<String> = policies
        .iter()
        .chain(boundary)
        .chain(session)
        .flat_map(|p| p.statements.iter())
        .flat_map(|s| s.conditions.iter())
        .map(|c| c.key.clone())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_db::Location;

    const TAGGED: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}}"#;

    fn ann() -> Identity {
        Identity {
            arn: format!("arn:aws:iam::{ACCOUNT_ID}:user/ann"),
            user_id: "AIDAANN".into(),
            principal: PrincipalKind::User("ann".into()),
        }
    }

    /// One profile carries the caller's policies, the keys that describe it and what its
    /// conditions read; it is served from memory until an IAM write, which the next request
    /// sees at once.
    #[test]
    fn a_profile_describes_its_caller_until_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let iam = Iam::open(&Location::Sqlite(dir.path().into())).unwrap();
        iam.create_user("ann", "/").unwrap();
        iam.tag_user("ann", &[("team".into(), "blue".into())], 50)
            .unwrap();
        let before = iam.profile(&ann(), None).unwrap();
        assert!(before.policies.is_empty());
        assert!(!before.conditions_on("aws:resourcetag/"));
        let get = |p: &Profile, k: &str| p.context.get(k).map(<[String]>::to_vec);
        assert_eq!(get(&before, "aws:username"), Some(vec!["ann".to_string()]));
        assert_eq!(
            get(&before, "aws:principaltag/team"),
            Some(vec!["blue".into()])
        );
        assert_eq!(get(&before, "aws:userid"), Some(vec!["AIDAANN".into()]));
        assert!(Arc::ptr_eq(&before, &iam.profile(&ann(), None).unwrap()));

        iam.put_inline(Owner::User, "ann", "tagged", TAGGED)
            .unwrap();
        let after = iam.profile(&ann(), None).unwrap();
        assert_eq!(after.policies.len(), 1);
        assert!(after.conditions_on("aws:resourcetag/"));
        assert!(!after.conditions_on("dynamodb:leadingkeys"));
        // Temporary credentials of the same user have a profile of their own.
        let session = iam.profile(&ann(), Some("ASIAEXAMPLE")).unwrap();
        assert!(!Arc::ptr_eq(&after, &session));
    }

    /// A request's context reads the caller's keys through the profile's, after its own.
    #[test]
    fn a_request_context_reads_the_principal_keys_after_its_own() {
        let principal = Arc::new(principal_context(&ann(), &[("team".into(), "red".into())]));
        let mut request = Context::default();
        request.add("aws:SourceIp", "127.0.0.1");
        assert_eq!(request.get("aws:username"), None);
        request.set_principal(principal);
        assert_eq!(request.get("aws:username").unwrap(), ["ann"]);
        assert_eq!(request.get("aws:principaltag/team").unwrap(), ["red"]);
        assert_eq!(request.get("aws:sourceip").unwrap(), ["127.0.0.1"]);
    }
}
