//! What limits a principal's identity policies: a permissions boundary (a managed policy set
//! on a user or role) and the session policies an STS session was created with (AssumeRole's
//! `Policy` and `PolicyArns`). Both only ever take permissions away: see [`crate::eval`].

use std::sync::Arc;

use stratus_core::Error;
use stratus_db::args;

use super::*;
use crate::eval::Limits;

/// The second migration of `iam.db`: boundaries and session policies, each in its own table
/// so the users, roles and sessions tables keep their shape.
pub const MIGRATION: &str = "
CREATE TABLE IF NOT EXISTS boundaries (owner_kind TEXT NOT NULL, owner TEXT NOT NULL COLLATE NOCASE, arn TEXT NOT NULL, PRIMARY KEY (owner_kind, owner));
CREATE TABLE IF NOT EXISTS session_policies (access_key TEXT PRIMARY KEY, policy TEXT, arns TEXT NOT NULL);
";

impl Iam {
    /// Sets (with `Some`) or removes the permissions boundary of a user or role. The policy
    /// must be a managed policy that exists, as IAM requires.
    pub fn set_boundary(&self, owner: Owner, name: &str, arn: Option<&str>) -> Result<(), Error> {
        self.owner_exists(owner, name)?;
        if let Some(arn) = arn {
            self.boundary_policy_exists(arn)?;
        }
        self.write("set boundary", |t| match arn {
            Some(arn) => Ok(t.execute(
                "INSERT INTO boundaries (owner_kind, owner, arn) VALUES (?1, ?2, ?3) ON CONFLICT (owner_kind, owner) DO UPDATE SET arn = excluded.arn",
                args![owner.tag(), name, arn],
            )?),
            None => Ok(drop_boundary_in(t, owner, name)?),
        })?;
        Ok(())
    }

    /// IAM's checks of a boundary's ARN: well formed, and naming a managed policy.
    pub fn boundary_policy_exists(&self, arn: &str) -> Result<(), Error> {
        if !arn.starts_with("arn:aws:iam::") || !arn.contains(":policy/") {
            return Err(Error::new(
                "InvalidInput",
                stratus_core::Kind::InvalidInput,
                format!("ARN {arn} is not valid."),
            ));
        }
        self.policy(arn).map(|_| ()).map_err(|_| {
            no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
        })
    }

    /// The permissions boundary of a user or role, if it has one.
    pub fn boundary(&self, owner: Owner, name: &str) -> Result<Option<String>, Error> {
        self.tx("boundary", |t| {
            Ok(t.query_opt(
                "SELECT arn FROM boundaries WHERE owner_kind = ?1 AND owner = ?2",
                args![owner.tag(), name],
                |r| r.get(0),
            )?)
        })
    }

    /// Records the session policies of new temporary credentials.
    pub fn set_session_policies(
        &self,
        access_key: &str,
        policy: Option<&str>,
        arns: &[String],
    ) -> Result<(), Error> {
        let arns = serde_json::to_string(arns).unwrap_or_else(|_| "[]".into());
        self.tx("session policies", |t| {
            t.execute(
                "INSERT INTO session_policies (access_key, policy, arns) VALUES (?1, ?2, ?3) ON CONFLICT (access_key) DO UPDATE SET policy = excluded.policy, arns = excluded.arns",
                args![access_key, policy, arns],
            )?;
            Ok(())
        })
    }

    /// The boundary and session policies that limit `identity` (signing with `session_key`,
    /// for temporary credentials), compiled and cached until the next IAM write. A principal
    /// with neither costs one cache look-up.
    pub fn limits_of(
        &self,
        identity: &Identity,
        session_key: Option<&str>,
    ) -> Result<Limits, Error> {
        let (owner, name) = match &identity.principal {
            PrincipalKind::Root => return Ok(Limits::default()),
            PrincipalKind::User(n) => (Owner::User, n.as_str()),
            PrincipalKind::Role(n, _) => (Owner::Role, n.as_str()),
        };
        let key = owner.cache_key(name, Some(session_key.unwrap_or("")));
        if let Some(hit) = self.limits_cache().get(&key) {
            return Ok(hit.clone());
        }
        let limits = Limits {
            boundary: match self.boundary(owner, name)? {
                Some(arn) => Some(self.compiled_managed(&arn)?.unwrap_or_else(deny_all)),
                None => None,
            },
            session: match session_key {
                Some(k) => self.compile_session(k)?,
                None => None,
            },
        };
        self.limits
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, limits.clone());
        Ok(limits)
    }

    fn limits_cache(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, std::collections::HashMap<String, Limits>> {
        self.limits.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The session policies of one set of temporary credentials, if it was given any.
    fn compile_session(&self, access_key: &str) -> Result<Option<Arc<[Arc<Policy>]>>, Error> {
        let row: Option<(Option<String>, String)> = self.tx("session policies", |t| {
            Ok(t.query_opt(
                "SELECT policy, arns FROM session_policies WHERE access_key = ?1",
                args![access_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })?;
        let Some((inline, arns)) = row else {
            return Ok(None);
        };
        let mut out = Vec::new();
        if let Some(doc) = inline {
            out.push(Arc::new(
                Policy::parse(&doc, Kind::Identity).unwrap_or_else(|_| (*deny_all()).clone()),
            ));
        }
        let arns: Vec<String> = serde_json::from_str(&arns).unwrap_or_default();
        for arn in arns {
            // A session policy deleted since only takes permissions away.
            if let Some(p) = self.compiled_managed(&arn)? {
                out.push(p);
            }
        }
        Ok(Some(Arc::from(out)))
    }

    /// A managed policy's default version, compiled; `None` if it no longer exists.
    fn compiled_managed(&self, arn: &str) -> Result<Option<Arc<Policy>>, Error> {
        if let Some(m) = managed::by_arn(arn) {
            return Ok(Some(aws_managed_compiled(m)));
        }
        let p = match self.policy(arn) {
            Ok(p) => p,
            Err(e) if e.code == "NoSuchEntity" => return Ok(None),
            Err(e) => return Err(e),
        };
        let v = self.policy_version(arn, &p.default_version)?;
        Ok(Policy::parse(&v.document, Kind::Identity)
            .ok()
            .map(Arc::new))
    }
}

/// Forgets the boundary of a user or role (removed, or deleted with its owner so a new one
/// of the same name starts without it).
pub(super) fn drop_boundary_in(
    t: &Tx<'_>,
    owner: Owner,
    name: &str,
) -> Result<usize, stratus_db::Error> {
    t.execute(
        "DELETE FROM boundaries WHERE owner_kind = ?1 AND owner = ?2",
        args![owner.tag(), name],
    )
}

/// A policy that allows nothing: what a boundary that cannot be read amounts to.
fn deny_all() -> Arc<Policy> {
    Arc::new(Policy {
        statements: Vec::new(),
    })
}
