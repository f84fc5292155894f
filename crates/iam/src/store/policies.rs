//! Inline policies, customer-managed policies and their versions, attachments, and the
//! compiled policy set of each principal.

use std::sync::Arc;

use rusqlite::{params, OptionalExtension};
use stratus_core::{Error, ACCOUNT_ID};

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
        self.db()
            .execute(
                "INSERT OR REPLACE INTO inline_policies (owner_kind, owner, name, document) VALUES (?1, ?2, ?3, ?4)",
                params![owner.tag(), name, policy, document],
            )
            .map_err(|e| fault("put policy", e))?;
        self.invalidate();
        Ok(())
    }

    pub fn get_inline(&self, owner: Owner, name: &str, policy: &str) -> Result<String, Error> {
        self.owner_exists(owner, name)?;
        self.db()
            .query_row(
                "SELECT document FROM inline_policies WHERE owner_kind = ?1 AND owner = ?2 AND name = ?3",
                params![owner.tag(), name, policy],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| fault("get policy", e))?
            .ok_or_else(|| no_such_entity(format!("The {} policy with name {policy} cannot be found.", owner.word())))
    }

    pub fn list_inline(&self, owner: Owner, name: &str) -> Result<Vec<String>, Error> {
        self.owner_exists(owner, name)?;
        let db = self.db();
        let mut st = db
            .prepare("SELECT name FROM inline_policies WHERE owner_kind = ?1 AND owner = ?2 ORDER BY name")
            .map_err(|e| fault("list policies", e))?;
        st.query_map(params![owner.tag(), name], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| fault("list policies", e))
    }

    pub fn delete_inline(&self, owner: Owner, name: &str, policy: &str) -> Result<(), Error> {
        self.owner_exists(owner, name)?;
        let n = self
            .db()
            .execute(
                "DELETE FROM inline_policies WHERE owner_kind = ?1 AND owner = ?2 AND name = ?3",
                params![owner.tag(), name, policy],
            )
            .map_err(|e| fault("delete policy", e))?;
        if n == 0 {
            return Err(no_such_entity(format!(
                "The {} policy with name {policy} cannot be found.",
                owner.word()
            )));
        }
        self.invalidate();
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
        let db = self.db();
        let exists: Option<String> = db
            .query_row(
                "SELECT arn FROM policies WHERE name = ?1 COLLATE NOCASE",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| fault("create policy", e))?;
        if exists.is_some() {
            return Err(already_exists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        db.execute(
            "INSERT INTO policies (arn, name, id, path, description, default_version, next_version, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, 'v1', 2, ?6, ?6)",
            params![arn, name, random_id("ANPA", 17), path, description, now],
        )
        .map_err(|e| fault("create policy", e))?;
        db.execute(
            "INSERT INTO policy_versions (arn, version, document, created) VALUES (?1, 'v1', ?2, ?3)",
            params![arn, document, now],
        )
        .map_err(|e| fault("create policy", e))?;
        drop(db);
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
        self.db()
            .query_row(
                "SELECT arn, name, id, path, description, default_version, created, updated FROM policies WHERE arn = ?1",
                [arn],
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
            )
            .optional()
            .map_err(|e| fault("get policy", e))?
            .ok_or_else(|| Self::not_found_policy(arn))
    }

    fn attachment_count(&self, arn: &str) -> Result<i64, Error> {
        self.db()
            .query_row(
                "SELECT COUNT(*) FROM attachments WHERE arn = ?1",
                [arn],
                |r| r.get(0),
            )
            .map_err(|e| fault("count attachments", e))
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
            let db = self.db();
            let mut st = db
                .prepare("SELECT arn FROM policies ORDER BY name")
                .map_err(|e| fault("list policies", e))?;
            let local: Vec<String> = st
                .query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(|e| fault("list policies", e))?;
            arns.extend(local);
        }
        let mut out = Vec::new();
        for arn in arns {
            let p = self.policy(&arn)?;
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
        let db = self.db();
        let versions: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM policy_versions WHERE arn = ?1",
                [arn],
                |r| r.get(0),
            )
            .map_err(|e| fault("delete policy", e))?;
        if versions > 1 {
            return Err(delete_conflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy."));
        }
        db.execute("DELETE FROM policy_versions WHERE arn = ?1", [arn])
            .map_err(|e| fault("delete policy", e))?;
        db.execute("DELETE FROM policies WHERE arn = ?1", [arn])
            .map_err(|e| fault("delete policy", e))?;
        Ok(())
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
        self.db()
            .query_row(
                "SELECT version, document, created FROM policy_versions WHERE arn = ?1 AND version = ?2",
                params![arn, version],
                |r| Ok(PolicyVersion { version: r.get(0)?, document: r.get(1)?, created: r.get(2)?, is_default: false }),
            )
            .optional()
            .map_err(|e| fault("get version", e))?
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
        let db = self.db();
        let mut st = db
            .prepare("SELECT version, document, created FROM policy_versions WHERE arn = ?1 ORDER BY CAST(substr(version, 2) AS INTEGER) DESC")
            .map_err(|e| fault("list versions", e))?;
        st.query_map([arn], |r| {
            let version: String = r.get(0)?;
            Ok(PolicyVersion {
                is_default: version == p.default_version,
                version,
                document: r.get(1)?,
                created: r.get(2)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| fault("list versions", e))
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
        let db = self.db();
        let (count, next): (i64, i64) = db
            .query_row(
                "SELECT (SELECT COUNT(*) FROM policy_versions WHERE arn = ?1), next_version FROM policies WHERE arn = ?1",
                [arn],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| fault("create version", e))?;
        if count >= Self::MAX_VERSIONS {
            return Err(limit_exceeded(format!(
                "A managed policy can have up to {} versions. Before you create a new version, you must delete an existing version.",
                Self::MAX_VERSIONS
            )));
        }
        let version = format!("v{next}");
        let now = now_iso();
        db.execute(
            "INSERT INTO policy_versions (arn, version, document, created) VALUES (?1, ?2, ?3, ?4)",
            params![arn, version, document, now],
        )
        .map_err(|e| fault("create version", e))?;
        let default_sql = if set_default {
            ", default_version = ?2"
        } else {
            ""
        };
        db.execute(
            &format!("UPDATE policies SET next_version = next_version + 1, updated = ?3{default_sql} WHERE arn = ?1"),
            params![arn, version, now],
        )
        .map_err(|e| fault("create version", e))?;
        drop(db);
        self.invalidate();
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
        self.db()
            .execute(
                "DELETE FROM policy_versions WHERE arn = ?1 AND version = ?2",
                params![arn, version],
            )
            .map_err(|e| fault("delete version", e))?;
        Ok(())
    }

    pub fn set_default_policy_version(&self, arn: &str, version: &str) -> Result<(), Error> {
        self.customer_policy(arn)?;
        self.policy_version(arn, version)?;
        self.db()
            .execute(
                "UPDATE policies SET default_version = ?2 WHERE arn = ?1",
                params![arn, version],
            )
            .map_err(|e| fault("set default", e))?;
        self.invalidate();
        Ok(())
    }

    // --- attachments -------------------------------------------------------------------

    pub fn attach(&self, owner: Owner, name: &str, arn: &str) -> Result<(), Error> {
        self.owner_exists(owner, name)?;
        self.policy(arn).map_err(|_| {
            no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
        })?;
        self.db()
            .execute(
                "INSERT OR IGNORE INTO attachments (owner_kind, owner, arn) VALUES (?1, ?2, ?3)",
                params![owner.tag(), name, arn],
            )
            .map_err(|e| fault("attach", e))?;
        self.invalidate();
        Ok(())
    }

    pub fn detach(&self, owner: Owner, name: &str, arn: &str) -> Result<(), Error> {
        self.owner_exists(owner, name)?;
        let n = self
            .db()
            .execute(
                "DELETE FROM attachments WHERE owner_kind = ?1 AND owner = ?2 AND arn = ?3",
                params![owner.tag(), name, arn],
            )
            .map_err(|e| fault("detach", e))?;
        if n == 0 {
            return Err(no_such_entity(format!("Policy {arn} was not found.")));
        }
        self.invalidate();
        Ok(())
    }

    /// The managed policies attached to a user or role, as (name, ARN).
    pub fn attached(&self, owner: Owner, name: &str) -> Result<Vec<(String, String)>, Error> {
        self.owner_exists(owner, name)?;
        let arns: Vec<String> = {
            let db = self.db();
            let mut st = db
                .prepare(
                    "SELECT arn FROM attachments WHERE owner_kind = ?1 AND owner = ?2 ORDER BY arn",
                )
                .map_err(|e| fault("attached", e))?;
            let rows = st
                .query_map(params![owner.tag(), name], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                .map_err(|e| fault("attached", e))?;
            rows
        };
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
        let key = format!("{}/{}", owner.tag(), name.to_ascii_lowercase());
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
        let inline: Vec<String> = {
            let db = self.db();
            let mut st = db
                .prepare(
                    "SELECT document FROM inline_policies WHERE owner_kind = ?1 AND owner = ?2",
                )
                .map_err(|e| fault("compile", e))?;
            let rows = st
                .query_map(params![owner.tag(), name], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                .map_err(|e| fault("compile", e))?;
            rows
        };
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
