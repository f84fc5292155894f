//! The IAM store, in its own SQLite file (`iam.db`): users, their access keys, roles and
//! their tags, inline policies, customer-managed policies with their versions, attachments,
//! and the temporary credentials STS hands out. Every write clears the cache of compiled
//! policies, so the next request of any principal sees the change.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rusqlite::{params, Connection, OptionalExtension};
use stratus_core::{Error, ACCOUNT_ID};

use crate::managed;
use crate::policy::{Kind, Policy};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS access_keys (id TEXT PRIMARY KEY, secret TEXT NOT NULL, user TEXT NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roles (name TEXT PRIMARY KEY COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL, trust TEXT NOT NULL, description TEXT, max_session INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS role_tags (role TEXT NOT NULL COLLATE NOCASE, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (role, key));
CREATE TABLE IF NOT EXISTS inline_policies (owner_kind TEXT NOT NULL, owner TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (owner_kind, owner, name));
CREATE TABLE IF NOT EXISTS policies (arn TEXT PRIMARY KEY, name TEXT NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL, description TEXT, default_version TEXT NOT NULL, next_version INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policy_versions (arn TEXT NOT NULL, version TEXT NOT NULL, document TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (arn, version));
CREATE TABLE IF NOT EXISTS attachments (owner_kind TEXT NOT NULL, owner TEXT NOT NULL COLLATE NOCASE, arn TEXT NOT NULL, PRIMARY KEY (owner_kind, owner, arn));
CREATE TABLE IF NOT EXISTS sessions (access_key TEXT PRIMARY KEY, secret TEXT NOT NULL, token TEXT NOT NULL, arn TEXT NOT NULL, user_id TEXT NOT NULL, owner_kind TEXT NOT NULL, owner TEXT NOT NULL, expires INTEGER NOT NULL);
";

/// Who a verified access key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `arn:aws:iam::<account>:root`, `...:user/<path><name>`, or for a role session
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub arn: String,
    /// GetCallerIdentity's `UserId`.
    pub user_id: String,
    pub principal: PrincipalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    Root,
    User(String),
    /// A session of this role (name, ARN).
    Role(String, String),
}

impl Identity {
    pub fn root() -> Identity {
        Identity {
            arn: format!("arn:aws:iam::{ACCOUNT_ID}:root"),
            user_id: ACCOUNT_ID.to_string(),
            principal: PrincipalKind::Root,
        }
    }

    pub fn is_root(&self) -> bool {
        self.principal == PrincipalKind::Root
    }

    pub fn role_arn(&self) -> Option<&str> {
        match &self.principal {
            PrincipalKind::Role(_, arn) => Some(arn),
            _ => None,
        }
    }
}

/// A secret key and whom it authenticates; `token` and `expires` for STS credentials.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub secret: String,
    /// Shared: the root key's record hands out one identity without allocating.
    pub identity: Arc<Identity>,
    pub token: Option<String>,
    pub expires: Option<i64>,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: String,
}

impl User {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT_ID}:user{}{}", self.path, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub user: String,
    pub status: String,
    pub created: String,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub path: String,
    pub trust: String,
    pub description: Option<String>,
    pub max_session: i64,
    pub created: String,
    pub tags: Vec<(String, String)>,
}

impl Role {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT_ID}:role{}{}", self.path, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct ManagedPolicy {
    pub arn: String,
    pub name: String,
    pub id: String,
    pub path: String,
    pub description: Option<String>,
    pub default_version: String,
    pub created: String,
    pub updated: String,
    pub attachments: i64,
    pub aws_managed: bool,
}

#[derive(Debug, Clone)]
pub struct PolicyVersion {
    pub version: String,
    pub document: String,
    pub created: String,
    pub is_default: bool,
}

/// Temporary credentials from STS.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret: String,
    pub token: String,
    /// Seconds since the epoch.
    pub expires: i64,
}

/// Who owns an inline policy or an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    User,
    Role,
}

impl Owner {
    fn tag(self) -> &'static str {
        match self {
            Owner::User => "user",
            Owner::Role => "role",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Owner::User => "user",
            Owner::Role => "role",
        }
    }
}

/// The IAM store and the cache of compiled policies per principal.
pub struct Iam {
    conn: Mutex<Connection>,
    cache: RwLock<HashMap<String, Arc<[Arc<Policy>]>>>,
}

fn fault(what: &str, e: rusqlite::Error) -> Error {
    tracing::error!(error = %e, "iam store: {what}");
    Error::service()
}

pub fn no_such_entity(message: impl Into<String>) -> Error {
    Error::new("NoSuchEntity", 404, message)
}

fn already_exists(message: impl Into<String>) -> Error {
    Error::new("EntityAlreadyExists", 409, message)
}

fn delete_conflict(message: &str) -> Error {
    Error::new("DeleteConflict", 409, message)
}

pub fn limit_exceeded(message: impl Into<String>) -> Error {
    Error::new("LimitExceeded", 409, message)
}

pub fn now_iso() -> String {
    let t = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `prefix` followed by `n` random characters of AWS's id alphabet (upper-case letters and
/// digits).
pub fn random_id(prefix: &str, n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::thread_rng();
    let tail: String = (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

/// `n` random bytes, base64: secrets and session tokens.
fn random_secret(n: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

impl Iam {
    pub fn open(path: &Path) -> Result<Iam, Error> {
        let conn = Connection::open(path).map_err(|e| fault("open", e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        )
        .map_err(|e| fault("configure", e))?;
        conn.execute_batch(SCHEMA).map_err(|e| fault("schema", e))?;
        Ok(Iam {
            conn: Mutex::new(conn),
            cache: RwLock::new(HashMap::new()),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets every compiled policy set: called after each write.
    fn invalidate(&self) {
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

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

    fn key_not_found(id: &str) -> Error {
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

    fn owner_exists(&self, owner: Owner, name: &str) -> Result<(), Error> {
        match owner {
            Owner::User => self.user(name).map(|_| ()),
            Owner::Role => self.role(name).map(|_| ()),
        }
    }

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
                403,
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
                403,
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
        Ok(Arc::from(out))
    }
}

/// The AWS-managed policies, each parsed once for the life of the process.
fn aws_managed_compiled(m: &'static managed::Managed) -> Arc<Policy> {
    static PARSED: OnceLock<HashMap<&'static str, Arc<Policy>>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        managed::ALL
            .iter()
            .filter_map(|m| {
                Some((
                    m.name,
                    Arc::new(Policy::parse(m.document, Kind::Identity).ok()?),
                ))
            })
            .collect()
    });
    all.get(m.name).cloned().unwrap_or_else(|| {
        Arc::new(Policy {
            statements: Vec::new(),
        })
    })
}

/// A stable id suffix for an AWS-managed policy (the same in every account, as on AWS).
fn stable_id(name: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(1099511628211);
    }
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..17)
        .map(|i| alphabet[((h >> ((i * 3) % 60)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
    const PUT_BOOKS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:PutItem","Resource":"arn:aws:dynamodb:us-east-1:000000000000:table/Books"}}"#;

    fn store() -> (tempfile::TempDir, Iam) {
        let dir = tempfile::tempdir().unwrap();
        let iam = Iam::open(&dir.path().join("iam.db")).unwrap();
        (dir, iam)
    }

    fn role(name: &str) -> Role {
        Role {
            name: name.into(),
            id: random_id("AROA", 17),
            path: "/".into(),
            trust: TRUST.into(),
            description: None,
            max_session: 3600,
            created: now_iso(),
            tags: vec![],
        }
    }

    #[test]
    fn users_keys_and_conflicts() {
        let (_d, iam) = store();
        iam.create_user("alice", "/").unwrap();
        assert_eq!(
            iam.create_user("ALICE", "/").unwrap_err().code,
            "EntityAlreadyExists"
        );
        let k = iam.create_access_key("alice").unwrap();
        assert!(k.id.starts_with("AKIA") && k.id.len() == 20);
        iam.create_access_key("alice").unwrap();
        assert_eq!(
            iam.create_access_key("alice").unwrap_err().code,
            "LimitExceeded"
        );
        let rec = iam.resolve_key(&k.id).unwrap().unwrap();
        assert_eq!(rec.identity.arn, "arn:aws:iam::000000000000:user/alice");
        assert_eq!(
            iam.delete_user("alice").unwrap_err().message,
            "Cannot delete entity, must delete access keys first."
        );
        iam.update_access_key("alice", &k.id, "Inactive").unwrap();
        assert!(!iam.resolve_key(&k.id).unwrap().unwrap().active);
        assert_eq!(
            iam.delete_access_key("alice", "AKIANOPE").unwrap_err().code,
            "NoSuchEntity"
        );
    }

    #[test]
    fn the_cache_follows_policy_changes() {
        let (_d, iam) = store();
        iam.create_role(role("fn")).unwrap();
        let who = Identity {
            arn: "arn:aws:sts::000000000000:assumed-role/fn/s".into(),
            user_id: "x".into(),
            principal: PrincipalKind::Role("fn".into(), "arn:aws:iam::000000000000:role/fn".into()),
        };
        assert_eq!(iam.policies_of(&who).unwrap().len(), 0);
        iam.put_inline(Owner::Role, "fn", "books", PUT_BOOKS)
            .unwrap();
        iam.attach(
            Owner::Role,
            "fn",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )
        .unwrap();
        assert_eq!(iam.policies_of(&who).unwrap().len(), 2);
        assert_eq!(
            iam.delete_role("fn").unwrap_err().message,
            "Cannot delete entity, must delete policies first."
        );
        iam.delete_inline(Owner::Role, "fn", "books").unwrap();
        assert_eq!(iam.policies_of(&who).unwrap().len(), 1);
        assert_eq!(
            iam.delete_role("fn").unwrap_err().message,
            "Cannot delete entity, must detach all policies first."
        );
    }

    #[test]
    fn managed_policy_versions() {
        let (_d, iam) = store();
        let p = iam.create_policy("books", "/", PUT_BOOKS, None).unwrap();
        assert_eq!(p.arn, "arn:aws:iam::000000000000:policy/books");
        for _ in 0..4 {
            iam.create_policy_version(&p.arn, PUT_BOOKS, false).unwrap();
        }
        assert_eq!(
            iam.create_policy_version(&p.arn, PUT_BOOKS, true)
                .unwrap_err()
                .code,
            "LimitExceeded"
        );
        assert_eq!(
            iam.delete_policy_version(&p.arn, "v1").unwrap_err().code,
            "DeleteConflict"
        );
        iam.set_default_policy_version(&p.arn, "v5").unwrap();
        iam.delete_policy_version(&p.arn, "v1").unwrap();
        let versions: Vec<String> = iam
            .list_policy_versions(&p.arn)
            .unwrap()
            .into_iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(versions, ["v5", "v4", "v3", "v2"]);
        assert_eq!(
            iam.create_policy("books", "/", PUT_BOOKS, None)
                .unwrap_err()
                .code,
            "EntityAlreadyExists"
        );
        assert!(
            iam.policy("arn:aws:iam::aws:policy/AdministratorAccess")
                .unwrap()
                .aws_managed
        );
    }

    #[test]
    fn sessions_resolve_until_dropped() {
        let (_d, iam) = store();
        let creds = iam.create_session(&Identity::root(), 900).unwrap();
        assert!(creds.access_key.starts_with("ASIA"));
        let rec = iam.resolve_key(&creds.access_key).unwrap().unwrap();
        assert_eq!(rec.token.as_deref(), Some(creds.token.as_str()));
        assert!(rec.identity.is_root());
    }
}
