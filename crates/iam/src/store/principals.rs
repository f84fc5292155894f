//! Users, their access keys, STS sessions, and roles.

use std::sync::Arc;

use rusqlite::{params, OptionalExtension};
use stratus_core::{Error, ACCOUNT_ID};

use super::*;

impl Iam {
    // --- users -------------------------------------------------------------------------

    pub fn create_user(&self, name: &str, path: &str) -> Result<User, Error> {
        let user = User {
            name: name.into(),
            id: random_id("AIDA", 17),
            path: path.into(),
            created: now_iso(),
        };
        let n = self
            .db()
            .execute(
                "INSERT OR IGNORE INTO users (name, id, path, created) VALUES (?1, ?2, ?3, ?4)",
                params![user.name, user.id, user.path, user.created],
            )
            .map_err(|e| fault("create user", e))?;
        if n == 0 {
            return Err(already_exists(format!(
                "User with name {name} already exists."
            )));
        }
        Ok(user)
    }

    pub fn user(&self, name: &str) -> Result<User, Error> {
        self.db()
            .query_row(
                "SELECT name, id, path, created FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok(User {
                        name: r.get(0)?,
                        id: r.get(1)?,
                        path: r.get(2)?,
                        created: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| fault("get user", e))?
            .ok_or_else(|| no_such_entity(format!("The user with name {name} cannot be found.")))
    }

    pub fn list_users(&self, path_prefix: &str) -> Result<Vec<User>, Error> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT name, id, path, created FROM users ORDER BY name")
            .map_err(|e| fault("list users", e))?;
        let rows = st
            .query_map([], |r| {
                Ok(User {
                    name: r.get(0)?,
                    id: r.get(1)?,
                    path: r.get(2)?,
                    created: r.get(3)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| fault("list users", e))?;
        Ok(rows
            .into_iter()
            .filter(|u| u.path.starts_with(path_prefix))
            .collect())
    }

    pub fn update_user(
        &self,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), Error> {
        let user = self.user(name)?;
        let to = new_name.unwrap_or(&user.name);
        if new_name.is_some_and(|n| !n.eq_ignore_ascii_case(name)) && self.user(to).is_ok() {
            return Err(already_exists(format!(
                "User with name {to} already exists."
            )));
        }
        let db = self.db();
        db.execute(
            "UPDATE users SET name = ?2, path = ?3 WHERE name = ?1",
            params![name, to, new_path.unwrap_or(&user.path)],
        )
        .map_err(|e| fault("update user", e))?;
        for table in [
            "access_keys SET user",
            "inline_policies SET owner",
            "attachments SET owner",
        ] {
            let (t, col) = table.split_once(" SET ").unwrap_or((table, ""));
            let extra = if t == "access_keys" {
                ""
            } else {
                " AND owner_kind = 'user'"
            };
            db.execute(
                &format!("UPDATE {t} SET {col} = ?2 WHERE {col} = ?1{extra}"),
                params![name, to],
            )
            .map_err(|e| fault("rename user", e))?;
        }
        drop(db);
        self.invalidate();
        Ok(())
    }

    pub fn delete_user(&self, name: &str) -> Result<(), Error> {
        self.user(name)?;
        let db = self.db();
        let count = |sql: &str| -> Result<i64, Error> {
            db.query_row(sql, [name], |r| r.get(0))
                .map_err(|e| fault("delete user", e))
        };
        if count("SELECT COUNT(*) FROM group_members WHERE user = ?1")? > 0 {
            return Err(delete_conflict(
                "Cannot delete entity, must remove user from all groups first.",
            ));
        }
        if count("SELECT COUNT(*) FROM access_keys WHERE user = ?1")? > 0 {
            return Err(delete_conflict(
                "Cannot delete entity, must delete access keys first.",
            ));
        }
        if count("SELECT COUNT(*) FROM inline_policies WHERE owner_kind = 'user' AND owner = ?1")?
            > 0
        {
            return Err(delete_conflict(
                "Cannot delete entity, must delete policies first.",
            ));
        }
        if count("SELECT COUNT(*) FROM attachments WHERE owner_kind = 'user' AND owner = ?1")? > 0 {
            return Err(delete_conflict(
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        db.execute("DELETE FROM users WHERE name = ?1", [name])
            .map_err(|e| fault("delete user", e))?;
        drop(db);
        self.drop_boundary(Owner::User, name)?;
        self.invalidate();
        Ok(())
    }

    // --- access keys -------------------------------------------------------------------

    /// AWS allows two access keys per user.
    pub const KEYS_PER_USER: i64 = 2;

    pub fn create_access_key(&self, user: &str) -> Result<AccessKey, Error> {
        let user = self.user(user)?;
        let db = self.db();
        let n: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM access_keys WHERE user = ?1",
                [&user.name],
                |r| r.get(0),
            )
            .map_err(|e| fault("count keys", e))?;
        if n >= Self::KEYS_PER_USER {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {}",
                Self::KEYS_PER_USER
            )));
        }
        let key = AccessKey {
            id: random_id("AKIA", 16),
            secret: random_secret(30),
            user: user.name,
            status: "Active".into(),
            created: now_iso(),
        };
        db.execute(
            "INSERT INTO access_keys (id, secret, user, status, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key.id, key.secret, key.user, key.status, key.created],
        )
        .map_err(|e| fault("create key", e))?;
        Ok(key)
    }

    pub fn list_access_keys(&self, user: &str) -> Result<Vec<AccessKey>, Error> {
        let user = self.user(user)?;
        let db = self.db();
        let mut st = db
            .prepare("SELECT id, secret, user, status, created FROM access_keys WHERE user = ?1 ORDER BY created, id")
            .map_err(|e| fault("list keys", e))?;
        st.query_map([&user.name], |r| {
            Ok(AccessKey {
                id: r.get(0)?,
                secret: r.get(1)?,
                user: r.get(2)?,
                status: r.get(3)?,
                created: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| fault("list keys", e))
    }

    pub(super) fn key_not_found(id: &str) -> Error {
        no_such_entity(format!("The Access Key with id {id} cannot be found."))
    }

    pub fn update_access_key(&self, user: &str, id: &str, status: &str) -> Result<(), Error> {
        self.user(user)?;
        let n = self
            .db()
            .execute(
                "UPDATE access_keys SET status = ?3 WHERE id = ?1 AND user = ?2",
                params![id, user, status],
            )
            .map_err(|e| fault("update key", e))?;
        if n == 0 {
            return Err(Self::key_not_found(id));
        }
        Ok(())
    }

    pub fn delete_access_key(&self, user: &str, id: &str) -> Result<(), Error> {
        self.user(user)?;
        let n = self
            .db()
            .execute(
                "DELETE FROM access_keys WHERE id = ?1 AND user = ?2",
                params![id, user],
            )
            .map_err(|e| fault("delete key", e))?;
        if n == 0 {
            return Err(Self::key_not_found(id));
        }
        Ok(())
    }

    /// The user an access key belongs to (the user of a request signed without one named).
    pub fn key_owner(&self, id: &str) -> Result<Option<String>, Error> {
        self.db()
            .query_row("SELECT user FROM access_keys WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| fault("key owner", e))
    }

    /// Resolves an access key (a user's, or an STS session's) to its secret and identity.
    pub fn resolve_key(&self, id: &str) -> Result<Option<KeyRecord>, Error> {
        let db = self.db();
        let user_key = db
            .query_row(
                "SELECT k.secret, k.status, u.name, u.id, u.path FROM access_keys k JOIN users u ON u.name = k.user WHERE k.id = ?1",
                [id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?)),
            )
            .optional()
            .map_err(|e| fault("resolve key", e))?;
        if let Some((secret, status, name, uid, path)) = user_key {
            return Ok(Some(KeyRecord {
                secret,
                identity: Arc::new(Identity {
                    arn: format!("arn:aws:iam::{ACCOUNT_ID}:user{path}{name}"),
                    user_id: uid,
                    principal: PrincipalKind::User(name),
                }),
                token: None,
                expires: None,
                active: status == "Active",
            }));
        }
        db.query_row(
            "SELECT secret, token, arn, user_id, owner_kind, owner, expires FROM sessions WHERE access_key = ?1",
            [id],
            |r| {
                let kind: String = r.get(4)?;
                let owner: String = r.get(5)?;
                let arn: String = r.get(2)?;
                let principal = match kind.as_str() {
                    "role" => {
                        let (name, role_arn) = owner.split_once('|').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or_default();
                        PrincipalKind::Role(name, role_arn)
                    }
                    "root" => PrincipalKind::Root,
                    _ => PrincipalKind::User(owner),
                };
                Ok(KeyRecord {
                    secret: r.get(0)?,
                    token: Some(r.get(1)?),
                    identity: Arc::new(Identity { arn, user_id: r.get(3)?, principal }),
                    expires: Some(r.get(6)?),
                    active: true,
                })
            },
        )
        .optional()
        .map_err(|e| fault("resolve session", e))
    }

    /// Issues temporary credentials (`ASIA...`) for `identity`, valid `seconds`.
    pub fn create_session(&self, identity: &Identity, seconds: i64) -> Result<Credentials, Error> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let creds = Credentials {
            access_key: random_id("ASIA", 16),
            secret: random_secret(30),
            token: random_secret(96),
            expires: now + seconds,
        };
        let (kind, owner) = match &identity.principal {
            PrincipalKind::Root => ("root", String::new()),
            PrincipalKind::User(n) => ("user", n.clone()),
            PrincipalKind::Role(n, arn) => ("role", format!("{n}|{arn}")),
        };
        let db = self.db();
        // Expired sessions are dropped as new ones are made, so the table stays small.
        db.execute("DELETE FROM sessions WHERE expires < ?1", [now])
            .map_err(|e| fault("expire sessions", e))?;
        db.execute(
            "DELETE FROM session_policies WHERE access_key NOT IN (SELECT access_key FROM sessions)",
            [],
        )
        .map_err(|e| fault("expire sessions", e))?;
        db.execute(
            "INSERT INTO sessions (access_key, secret, token, arn, user_id, owner_kind, owner, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![creds.access_key, creds.secret, creds.token, identity.arn, identity.user_id, kind, owner, creds.expires],
        )
        .map_err(|e| fault("create session", e))?;
        Ok(creds)
    }

    // --- roles -------------------------------------------------------------------------

    pub fn create_role(&self, role: Role) -> Result<Role, Error> {
        Policy::parse(&role.trust, Kind::Trust)?;
        let db = self.db();
        let n = db
            .execute(
                "INSERT OR IGNORE INTO roles (name, id, path, trust, description, max_session, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![role.name, role.id, role.path, role.trust, role.description, role.max_session, role.created],
            )
            .map_err(|e| fault("create role", e))?;
        if n == 0 {
            return Err(already_exists(format!(
                "Role with name {} already exists.",
                role.name
            )));
        }
        for (k, v) in &role.tags {
            db.execute(
                "INSERT OR REPLACE INTO role_tags (role, key, value) VALUES (?1, ?2, ?3)",
                params![role.name, k, v],
            )
            .map_err(|e| fault("tag role", e))?;
        }
        Ok(role)
    }

    pub fn role(&self, name: &str) -> Result<Role, Error> {
        let db = self.db();
        let mut role = db
            .query_row(
                "SELECT name, id, path, trust, description, max_session, created FROM roles WHERE name = ?1",
                [name],
                |r| {
                    Ok(Role {
                        name: r.get(0)?,
                        id: r.get(1)?,
                        path: r.get(2)?,
                        trust: r.get(3)?,
                        description: r.get(4)?,
                        max_session: r.get(5)?,
                        created: r.get(6)?,
                        tags: Vec::new(),
                    })
                },
            )
            .optional()
            .map_err(|e| fault("get role", e))?
            .ok_or_else(|| no_such_entity(format!("The role with name {name} cannot be found.")))?;
        let mut st = db
            .prepare("SELECT key, value FROM role_tags WHERE role = ?1 ORDER BY key")
            .map_err(|e| fault("role tags", e))?;
        role.tags = st
            .query_map([&role.name], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| fault("role tags", e))?;
        Ok(role)
    }

    /// The role an ARN names (`arn:aws:iam::<this account>:role[/path]/name`).
    pub fn role_by_arn(&self, arn: &str) -> Result<Option<Role>, Error> {
        let Some(rest) = arn.strip_prefix(&format!("arn:aws:iam::{ACCOUNT_ID}:role/")) else {
            return Ok(None);
        };
        let name = rest.rsplit('/').next().unwrap_or(rest);
        match self.role(name) {
            Ok(r) if r.arn() == arn => Ok(Some(r)),
            Ok(_) => Ok(None),
            Err(e) if e.code == "NoSuchEntity" => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn list_roles(&self, path_prefix: &str) -> Result<Vec<Role>, Error> {
        let names: Vec<String> = {
            let db = self.db();
            let mut st = db
                .prepare("SELECT name FROM roles ORDER BY name")
                .map_err(|e| fault("list roles", e))?;
            let rows = st
                .query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                .map_err(|e| fault("list roles", e))?;
            rows
        };
        let mut out = Vec::new();
        for n in names {
            let r = self.role(&n)?;
            if r.path.starts_with(path_prefix) {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub fn delete_role(&self, name: &str) -> Result<(), Error> {
        self.role(name)?;
        let db = self.db();
        let count = |sql: &str| -> Result<i64, Error> {
            db.query_row(sql, [name], |r| r.get(0))
                .map_err(|e| fault("delete role", e))
        };
        if count("SELECT COUNT(*) FROM inline_policies WHERE owner_kind = 'role' AND owner = ?1")?
            > 0
        {
            return Err(delete_conflict(
                "Cannot delete entity, must delete policies first.",
            ));
        }
        if count("SELECT COUNT(*) FROM attachments WHERE owner_kind = 'role' AND owner = ?1")? > 0 {
            return Err(delete_conflict(
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        db.execute("DELETE FROM roles WHERE name = ?1", [name])
            .map_err(|e| fault("delete role", e))?;
        db.execute("DELETE FROM role_tags WHERE role = ?1", [name])
            .map_err(|e| fault("delete role", e))?;
        drop(db);
        self.drop_boundary(Owner::Role, name)?;
        self.invalidate();
        Ok(())
    }

    pub fn update_assume_role_policy(&self, name: &str, document: &str) -> Result<(), Error> {
        self.role(name)?;
        Policy::parse(document, Kind::Trust)?;
        self.db()
            .execute(
                "UPDATE roles SET trust = ?2 WHERE name = ?1",
                params![name, document],
            )
            .map_err(|e| fault("update trust", e))?;
        Ok(())
    }

    pub fn update_role(
        &self,
        name: &str,
        description: Option<&str>,
        max_session: Option<i64>,
    ) -> Result<(), Error> {
        let role = self.role(name)?;
        self.db()
            .execute(
                "UPDATE roles SET description = ?2, max_session = ?3 WHERE name = ?1",
                params![
                    name,
                    description.map(str::to_string).or(role.description),
                    max_session.unwrap_or(role.max_session)
                ],
            )
            .map_err(|e| fault("update role", e))?;
        Ok(())
    }

    pub fn tag_role(&self, name: &str, tags: &[(String, String)]) -> Result<(), Error> {
        self.role(name)?;
        let db = self.db();
        for (k, v) in tags {
            db.execute(
                "INSERT OR REPLACE INTO role_tags (role, key, value) VALUES (?1, ?2, ?3)",
                params![name, k, v],
            )
            .map_err(|e| fault("tag role", e))?;
        }
        Ok(())
    }

    pub fn untag_role(&self, name: &str, keys: &[String]) -> Result<(), Error> {
        self.role(name)?;
        let db = self.db();
        for k in keys {
            db.execute(
                "DELETE FROM role_tags WHERE role = ?1 AND key = ?2",
                params![name, k],
            )
            .map_err(|e| fault("untag role", e))?;
        }
        Ok(())
    }

    pub(super) fn owner_exists(&self, owner: Owner, name: &str) -> Result<(), Error> {
        match owner {
            Owner::User => self.user(name).map(|_| ()),
            Owner::Role => self.role(name).map(|_| ()),
            Owner::Group => self.group(name).map(|_| ()),
        }
    }
}
