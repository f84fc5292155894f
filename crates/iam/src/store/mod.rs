//! The IAM store, in its own SQLite file (`iam.db`): users, their access keys, roles and
//! their tags, inline policies, customer-managed policies with their versions, attachments,
//! and the temporary credentials STS hands out. Every write clears the cache of compiled
//! policies, so the next request of any principal sees the change.
//!
//! # Layout
//! - this module: the types, the connection, the cache.
//! - [`principals`]: users, access keys, STS sessions, roles.
//! - [`groups`]: groups and their members.
//! - [`policies`]: inline and managed policies, versions, attachments, compiled policy sets.
//! - [`limits`]: permissions boundaries and session policies.

mod groups;
mod limits;
mod policies;
mod principals;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rusqlite::Connection;
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
CREATE TABLE IF NOT EXISTS groups (name TEXT PRIMARY KEY COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_members (grp TEXT NOT NULL COLLATE NOCASE, user TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (grp, user));
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
pub struct Group {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: String,
}

impl Group {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT_ID}:group{}{}", self.path, self.name)
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
    Group,
}

impl Owner {
    fn tag(self) -> &'static str {
        match self {
            Owner::User => "user",
            Owner::Role => "role",
            Owner::Group => "group",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Owner::User => "user",
            Owner::Role => "role",
            Owner::Group => "group",
        }
    }
}

/// The IAM store and the cache of compiled policies per principal.
pub struct Iam {
    conn: Mutex<Connection>,
    cache: RwLock<HashMap<String, Arc<[Arc<Policy>]>>>,
    /// Boundaries and session policies, per principal and session key.
    limits: RwLock<HashMap<String, crate::eval::Limits>>,
}

fn fault(what: &str, e: rusqlite::Error) -> Error {
    tracing::error!(error = %e, "iam store: {what}");
    Error::service()
}

pub fn no_such_entity(message: impl Into<String>) -> Error {
    Error::new("NoSuchEntity", stratus_core::Kind::NotFound, message)
}

fn already_exists(message: impl Into<String>) -> Error {
    Error::new("EntityAlreadyExists", stratus_core::Kind::Conflict, message)
}

fn delete_conflict(message: &str) -> Error {
    Error::new("DeleteConflict", stratus_core::Kind::Conflict, message)
}

pub fn limit_exceeded(message: impl Into<String>) -> Error {
    Error::new("LimitExceeded", stratus_core::Kind::Conflict, message)
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
    /// Opens (creating) the store at `path`; a failure names the file and the step.
    pub fn open(path: &Path) -> Result<Iam, stratus_db::Error> {
        let conn = stratus_db::open(
            path,
            stratus_db::Options::default(),
            stratus_db::Schema::Versioned(&[SCHEMA, limits::MIGRATION]),
        )?;
        Ok(Iam {
            conn: Mutex::new(conn),
            cache: RwLock::new(HashMap::new()),
            limits: RwLock::new(HashMap::new()),
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
        self.limits
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
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
    fn users_hold_their_groups_policies() {
        let (_d, iam) = store();
        iam.create_user("ann", "/").unwrap();
        iam.create_group("dev", "/").unwrap();
        let ann = Identity {
            arn: "arn:aws:iam::000000000000:user/ann".into(),
            user_id: "x".into(),
            principal: PrincipalKind::User("ann".into()),
        };
        iam.put_inline(Owner::Group, "dev", "books", PUT_BOOKS)
            .unwrap();
        assert_eq!(iam.policies_of(&ann).unwrap().len(), 0);
        iam.add_user_to_group("dev", "ann").unwrap();
        assert_eq!(iam.policies_of(&ann).unwrap().len(), 1);
        assert_eq!(
            iam.delete_group("dev").unwrap_err().message,
            "Cannot delete entity, must remove users from group first."
        );
        assert_eq!(
            iam.delete_user("ann").unwrap_err().message,
            "Cannot delete entity, must remove user from all groups first."
        );
        iam.remove_user_from_group("dev", "ann").unwrap();
        assert_eq!(iam.policies_of(&ann).unwrap().len(), 0);
    }

    #[test]
    fn boundaries_and_session_policies_are_limits() {
        let (_d, iam) = store();
        iam.create_user("ann", "/").unwrap();
        let ann = Identity {
            arn: "arn:aws:iam::000000000000:user/ann".into(),
            user_id: "x".into(),
            principal: PrincipalKind::User("ann".into()),
        };
        assert!(iam.limits_of(&ann, None).unwrap().is_empty());
        let missing = "arn:aws:iam::000000000000:policy/nope";
        assert_eq!(
            iam.set_boundary(Owner::User, "ann", Some(missing))
                .unwrap_err()
                .message,
            format!("Policy {missing} does not exist or is not attachable.")
        );
        assert_eq!(
            iam.set_boundary(Owner::User, "ann", Some("nope"))
                .unwrap_err()
                .code,
            "InvalidInput"
        );
        let p = iam.create_policy("books", "/", PUT_BOOKS, None).unwrap();
        iam.set_boundary(Owner::User, "ann", Some(&p.arn)).unwrap();
        assert_eq!(
            iam.boundary(Owner::User, "ann").unwrap(),
            Some(p.arn.clone())
        );
        assert!(iam.limits_of(&ann, None).unwrap().boundary.is_some());
        iam.set_boundary(Owner::User, "ann", None).unwrap();
        assert!(iam.limits_of(&ann, None).unwrap().is_empty());
        iam.set_session_policies("ASIAX", None, std::slice::from_ref(&p.arn))
            .unwrap();
        let limits = iam.limits_of(&ann, Some("ASIAX")).unwrap();
        assert_eq!(limits.session.map(|s| s.len()), Some(1));
        assert!(iam.limits_of(&ann, Some("ASIAOTHER")).unwrap().is_empty());
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
