//! Inline policies, customer-managed policies and their versions, attachments, and the
//! compiled policy set of each principal.

use std::sync::Arc;

use stratus_core::{Error, ACCOUNT_ID};
use stratus_db::args;

use super::*;

impl Iam {
    // --- inline policies ---------------------------------------------------------------

    pub fn put_inline(
        &self,
        owner: Owner,
        name: &str,
        policy: &str,
        document: &str,
    ) -> Result<(), Error> {
        self.owner_exists(owner, name)?;
        Policy::parse(document, Kind::Identity)?;
        let size_limit = match owner {
            Owner::User => 2048,
            Owner::Role => 10240,
            Owner::Group => 5120,
        };
        let size = document.chars().filter(|c| !c.is_whitespace()).count();
        if size > size_limit {
            return Err(limit_exceeded(format!(
                "Maximum policy size of {size_limit} bytes exceeded for {} {name}",
                owner.word()
            )));
        }
        self.write("put policy", |t| {
            Ok(t.execute(
                "INSERT INTO inline_policies (owner_kind, owner, name, document) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (owner_kind, owner, name) DO UPDATE SET document = excluded.document",
                args![owner.tag(), name, policy, document],
            )?)
        })?;
        Ok(())
    }

    pub fn get_inline(&self, owner: Owner, name: &str, policy: &str) -> Result<String, Error> {
        self.owner_exists(owner, name)?;
        self.tx("get policy", |t| {
            Ok(t.query_opt(
                "SELECT document FROM inline_policies WHERE owner_kind = ?1 AND owner = ?2 AND name = ?3",
                args![owner.tag(), name, policy],
                |r| r.get::<String>(0),
            )?)
        })?
        .ok_or_else(|| no_such_entity(format!("The {} policy with name {policy} cannot be found.", owner.word())))
    }

    pub fn list_inline(&self, owner: Owner, name: &str) -> Result<Vec<String>, Error> {
        self.owner_exists(owner, name)?;
        self.tx("list policies", |t| {
            Ok(t.query_map(
                "SELECT name FROM inline_policies WHERE owner_kind = ?1 AND owner = ?2 ORDER BY name",
                args![owner.tag(), name],
                |r| r.get(0),
            )?)
        })
    }

    pub fn delete_inline(&self, owner: Owner, name: &str, policy: &str) -> Result<(), Error> {
        self.owner_exists(owner, name)?;
        let n = self.write("delete policy", |t| {
            Ok(t.execute(
                "DELETE FROM inline_policies WHERE owner_kind = ?1 AND owner = ?2 AND name = ?3",
                args![owner.tag(), name, policy],
            )?)
        })?;
        if n == 0 {
            return Err(no_such_entity(format!(
                "The {} policy with name {policy} cannot be found.",
                owner.word()
            )));
        }
        Ok(())
    }

    // --- managed policies --------------------------------------------------------------

    /// AWS's quota on a customer-managed policy document, white space excluded.
    pub const MANAGED_POLICY_SIZE: usize = 6144;
    /// The versions a managed policy may have.
    pub const MAX_VERSIONS: i64 = 5;

    fn check_managed_size(document: &str) -> Result<(), Error> {
        if document.chars().filter(|c| !c.is_whitespace()).count() > Self::MANAGED_POLICY_SIZE {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for PolicySize: {}",
                Self::MANAGED_POLICY_SIZE
            )));
        }
        Ok(())
    }

    pub fn create_policy(
        &self,
        name: &str,
        path: &str,
        document: &str,
        description: Option<&str>,
    ) -> Result<ManagedPolicy, Error> {
        Policy::parse(document, Kind::Identity)?;
        Self::check_managed_size(document)?;
        let arn = format!("arn:aws:iam::{ACCOUNT_ID}:policy{path}{name}");
        let now = now_iso();
        let id = random_id("ANPA", 17);
        // The name check and the inserts are one transaction: of two concurrent creates of
        // one name, one is refused.
        self.tx("create policy", |t| {
            let exists: Option<String> = t.query_opt(
                "SELECT arn FROM policies WHERE name = ?1 COLLATE nocase",
                args![name],
                |r| r.get(0),
            )?;
            if exists.is_some() {
                return Err(already_exists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                ))
                .into());
            }
            t.execute(
                "INSERT INTO policies (arn, name, id, path, description, default_version, next_version, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, 'v1', 2, ?6, ?6)",
                args![arn, name, id, path, description, now],
            )?;
            t.execute(
                "INSERT INTO policy_versions (arn, version, document, created) VALUES (?1, 'v1', ?2, ?3)",
                args![arn, document, now],
            )?;
            Ok(())
        })?;
        self.policy(&arn)
    }

    fn not_found_policy(arn: &str) -> Error {
        no_such_entity(format!("Policy {arn} was not found."))
    }

    pub fn policy(&self, arn: &str) -> Result<ManagedPolicy, Error> {
        if let Some(m) = managed::by_arn(arn) {
            return Ok(ManagedPolicy {
                arn: m.arn(),
                name: m.name.into(),
                id: format!("ANPA{}", &stable_id(m.name)),
                path: m.path.into(),
                description: Some(m.description.into()),
                default_version: m.version.into(),
                created: m.created.into(),
                updated: m.created.into(),
                attachments: self.attachment_count(arn)?,
                aws_managed: true,
            });
        }
        let attachments = self.attachment_count(arn)?;
        self.tx("get policy", |t| {
            Ok(t.query_opt(
                "SELECT arn, name, id, path, description, default_version, created, updated FROM policies WHERE arn = ?1",
                args![arn],
                |r| {
                    Ok(ManagedPolicy {
                        arn: r.get(0)?,
                        name: r.get(1)?,
                        id: r.get(2)?,
                        path: r.get(3)?,
                        description: r.get(4)?,
                        default_version: r.get(5)?,
                        created: r.get(6)?,
                        updated: r.get(7)?,
                        attachments,
                        aws_managed: false,
                    })
                },
            )?)
        })?
        .ok_or_else(|| Self::not_found_policy(arn))
    }

    fn attachment_count(&self, arn: &str) -> Result<i64, Error> {
        self.tx("count attachments", |t| {
            Ok(t.query_opt(
                "SELECT COUNT(*) FROM attachments WHERE arn = ?1",
                args![arn],
                |r| r.get::<i64>(0),
            )?
            .unwrap_or(0))
        })
    }

    /// Policies by scope (`All`, `AWS`, `Local`), optionally only attached ones.
    pub fn list_policies(
        &self,
        scope: &str,
        only_attached: bool,
    ) -> Result<Vec<ManagedPolicy>, Error> {
        let mut arns: Vec<String> = Vec::new();
        if scope != "Local" {
            arns.extend(managed::ALL.iter().map(|m| m.arn()));
        }
        if scope != "AWS" {
            let local: Vec<String> = self.tx("list policies", |t| {
                Ok(
                    t.query_map("SELECT arn FROM policies ORDER BY name", args![], |r| {
                        r.get(0)
                    })?,
                )
            })?;
            arns.extend(local);
        }
        let mut out = Vec::new();
        for arn in arns {
            let p = match self.policy(&arn) {
                Ok(p) => p,
                // Deleted since the list was read.
                Err(e) if e.code == "NoSuchEntity" => continue,
                Err(e) => return Err(e),
            };
            if !only_attached || p.attachments > 0 {
                out.push(p);
            }
        }
        Ok(out)
    }

    pub fn delete_policy(&self, arn: &str) -> Result<(), Error> {
        let p = self.policy(arn)?;
        if p.aws_managed {
            return Err(Error::new(
                "AccessDenied",
                stratus_core::Kind::AccessDenied,
                format!("Cannot delete the AWS managed policy {arn}."),
            ));
        }
        if p.attachments > 0 {
            return Err(delete_conflict(
                "Cannot delete a policy attached to entities.",
            ));
        }
        self.tx("delete policy", |t| {
            super::principals::refuse_if_any(
                t,
                "SELECT COUNT(*) - 1 FROM policy_versions WHERE arn = ?1",
                arn,
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
            )?;
            t.execute("DELETE FROM policy_versions WHERE arn = ?1", args![arn])?;
            t.execute("DELETE FROM policies WHERE arn = ?1", args![arn])?;
            Ok(())
        })
    }

    fn no_such_version(arn: &str, v: &str) -> Error {
        no_such_entity(format!(
            "Policy {arn} version {v} does not exist or is not attachable."
        ))
    }

    pub fn policy_version(&self, arn: &str, version: &str) -> Result<PolicyVersion, Error> {
        let p = self.policy(arn)?;
        if let Some(m) = managed::by_arn(arn) {
            return match version == m.version {
                true => Ok(PolicyVersion {
                    version: version.into(),
                    document: m.document.into(),
                    created: m.created.into(),
                    is_default: true,
                }),
                false => Err(Self::no_such_version(arn, version)),
            };
        }
        self.tx("get version", |t| {
            Ok(t.query_opt(
                "SELECT version, document, created FROM policy_versions WHERE arn = ?1 AND version = ?2",
                args![arn, version],
                |r| Ok(PolicyVersion { version: r.get(0)?, document: r.get(1)?, created: r.get(2)?, is_default: false }),
            )?)
        })?
            .map(|mut v| {
                v.is_default = v.version == p.default_version;
                v
            })
            .ok_or_else(|| Self::no_such_version(arn, version))
    }

    pub fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, Error> {
        let p = self.policy(arn)?;
        if p.aws_managed {
            return Ok(vec![self.policy_version(arn, &p.default_version)?]);
        }
        self.tx("list versions", |t| {
            Ok(t.query_map(
                "SELECT version, document, created FROM policy_versions WHERE arn = ?1 ORDER BY CAST(substr(version, 2) AS INTEGER) DESC",
                args![arn],
                |r| {
                    let version: String = r.get(0)?;
                    Ok(PolicyVersion {
                        is_default: version == p.default_version,
                        version,
                        document: r.get(1)?,
                        created: r.get(2)?,
                    })
                },
            )?)
        })
    }

    fn customer_policy(&self, arn: &str) -> Result<ManagedPolicy, Error> {
        let p = self.policy(arn)?;
        if p.aws_managed {
            return Err(Error::new(
                "AccessDenied",
                stratus_core::Kind::AccessDenied,
                format!("Cannot modify the AWS managed policy {arn}."),
            ));
        }
        Ok(p)
    }

    pub fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_default: bool,
    ) -> Result<PolicyVersion, Error> {
        self.customer_policy(arn)?;
        Policy::parse(document, Kind::Identity)?;
        Self::check_managed_size(document)?;
        let now = now_iso();
        // Counting, numbering and inserting are one transaction: concurrent creates get
        // distinct numbers and cannot together pass the quota.
        let version = self.write("create version", |t| {
            let (count, next): (i64, i64) = t
                .query_opt(
                    "SELECT (SELECT COUNT(*) FROM policy_versions WHERE arn = ?1), next_version FROM policies WHERE arn = ?1",
                    args![arn],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .ok_or_else(|| Self::not_found_policy(arn))?;
            if count >= Self::MAX_VERSIONS {
                return Err(limit_exceeded(format!(
                    "A managed policy can have up to {} versions. Before you create a new version, you must delete an existing version.",
                    Self::MAX_VERSIONS
                ))
                .into());
            }
            let version = format!("v{next}");
            t.execute(
                "INSERT INTO policy_versions (arn, version, document, created) VALUES (?1, ?2, ?3, ?4)",
                args![arn, version, document, now],
            )?;
            // Two statements: PostgreSQL must infer the type of every parameter, so none
            // may go unused.
            match set_default {
                true => t.execute(
                    "UPDATE policies SET next_version = next_version + 1, updated = ?3, default_version = ?2 WHERE arn = ?1",
                    args![arn, version, now],
                )?,
                false => t.execute(
                    "UPDATE policies SET next_version = next_version + 1, updated = ?2 WHERE arn = ?1",
                    args![arn, now],
                )?,
            };
            Ok(version)
        })?;
        Ok(PolicyVersion {
            version,
            document: document.into(),
            created: now,
            is_default: set_default,
        })
    }

    pub fn delete_policy_version(&self, arn: &str, version: &str) -> Result<(), Error> {
        let p = self.customer_policy(arn)?;
        self.policy_version(arn, version)?;
        if p.default_version == version {
            return Err(delete_conflict(
                "Cannot delete the default version of a policy.",
            ));
        }
        self.tx("delete version", |t| {
            Ok(t.execute(
                "DELETE FROM policy_versions WHERE arn = ?1 AND version = ?2",
                args![arn, version],
            )?)
        })?;
        Ok(())
    }

    pub fn set_default_policy_version(&self, arn: &str, version: &str) -> Result<(), Error> {
        self.customer_policy(arn)?;
        self.policy_version(arn, version)?;
        self.write("set default", |t| {
            Ok(t.execute(
                "UPDATE policies SET default_version = ?2 WHERE arn = ?1",
                args![arn, version],
            )?)
        })?;
        Ok(())
    }

    // --- attachments -------------------------------------------------------------------

    pub fn attach(&self, owner: Owner, name: &str, arn: &str) -> Result<(), Error> {
        self.owner_exists(owner, name)?;
        self.policy(arn).map_err(|_| {
            no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
        })?;
        self.write("attach", |t| {
            Ok(t.execute(
                "INSERT INTO attachments (owner_kind, owner, arn) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                args![owner.tag(), name, arn],
            )?)
        })?;
        Ok(())
    }

    pub fn detach(&self, owner: Owner, name: &str, arn: &str) -> Result<(), Error> {
        self.owner_exists(owner, name)?;
        let n = self.write("detach", |t| {
            Ok(t.execute(
                "DELETE FROM attachments WHERE owner_kind = ?1 AND owner = ?2 AND arn = ?3",
                args![owner.tag(), name, arn],
            )?)
        })?;
        if n == 0 {
            return Err(no_such_entity(format!("Policy {arn} was not found.")));
        }
        Ok(())
    }

    /// The managed policies attached to a user or role, as (name, ARN).
    pub fn attached(&self, owner: Owner, name: &str) -> Result<Vec<(String, String)>, Error> {
        self.owner_exists(owner, name)?;
        let arns: Vec<String> = self.tx("attached", |t| {
            Ok(t.query_map(
                "SELECT arn FROM attachments WHERE owner_kind = ?1 AND owner = ?2 ORDER BY arn",
                args![owner.tag(), name],
                |r| r.get(0),
            )?)
        })?;
        Ok(arns
            .into_iter()
            .map(|arn| (arn.rsplit('/').next().unwrap_or(&arn).to_string(), arn))
            .collect())
    }

    // --- evaluation --------------------------------------------------------------------

    /// The compiled identity policies of a principal (inline and attached), from the cache
    /// when nothing changed since they were last read. Root has none (it is never evaluated).
    pub fn policies_of(&self, identity: &Identity) -> Result<Arc<[Arc<Policy>]>, Error> {
        let (owner, name) = match &identity.principal {
            PrincipalKind::Root => return Ok(Arc::from(Vec::new())),
            PrincipalKind::User(n) => (Owner::User, n.as_str()),
            PrincipalKind::Role(n, _) => (Owner::Role, n.as_str()),
        };
        let key = owner.cache_key(name, None);
        if let Some(hit) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(hit.clone());
        }
        let compiled = self.compile(owner, name)?;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, compiled.clone());
        Ok(compiled)
    }

    fn compile(&self, owner: Owner, name: &str) -> Result<Arc<[Arc<Policy>]>, Error> {
        let mut out: Vec<Arc<Policy>> = Vec::new();
        self.compile_into(owner, name, &mut out)?;
        // A user also holds the policies of its groups.
        if owner == Owner::User {
            for g in self.groups_for_user(name).unwrap_or_default() {
                self.compile_into(Owner::Group, &g.name, &mut out)?;
            }
        }
        Ok(Arc::from(out))
    }

    /// Adds the inline and attached policies of one user, role or group to `out`.
    fn compile_into(
        &self,
        owner: Owner,
        name: &str,
        out: &mut Vec<Arc<Policy>>,
    ) -> Result<(), Error> {
        let inline: Vec<String> = self.tx("compile", |t| {
            Ok(t.query_map(
                "SELECT document FROM inline_policies WHERE owner_kind = ?1 AND owner = ?2",
                args![owner.tag(), name],
                |r| r.get(0),
            )?)
        })?;
        for doc in inline {
            if let Ok(p) = Policy::parse(&doc, Kind::Identity) {
                out.push(Arc::new(p));
            }
        }
        let attached = match self.attached(owner, name) {
            Ok(a) => a,
            // A principal deleted while its key was in use has no policies.
            Err(e) if e.code == "NoSuchEntity" => Vec::new(),
            Err(e) => return Err(e),
        };
        for (_, arn) in attached {
            if let Some(m) = managed::by_arn(&arn) {
                out.push(aws_managed_compiled(m));
                continue;
            }
            let p = self.policy(&arn)?;
            let v = self.policy_version(&arn, &p.default_version)?;
            if let Ok(p) = Policy::parse(&v.document, Kind::Identity) {
                out.push(Arc::new(p));
            }
        }
        Ok(())
    }
}
