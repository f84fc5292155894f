//! The IAM store (`iam.db` on SQLite, the `iam` schema on PostgreSQL): users, their access keys, roles and
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
//! - [`tags`]: users' and sessions' tags, and the principal tags a request carries.
//! - [`profile`]: a principal's authorization profile, what every decision reads of it.
//! - [`profiles`]: instance profiles and the role each holds.

mod groups;
mod keys;
mod limits;
mod policies;
mod principals;
mod profile;
mod profiles;
pub mod tags;

pub use profile::{principal_context, Profile};
pub use profiles::InstanceProfile;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use stratus_core::{Error, ACCOUNT_ID};
use stratus_db::{Db, Location, Tx};

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

/// The same tables on PostgreSQL, both SQLite migrations in one. Every column SQLite
/// compares with `NOCASE` gets `nocase`, a case-insensitive ICU collation, so the same SQL
/// finds `Alice` by `ALICE` and refuses it as a duplicate key; every other text column
/// compares bytes (`"C"`), as SQLite does. `"user"` is quoted: a reserved word there.
const POSTGRES: &str = r#"
CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE users (name TEXT COLLATE nocase PRIMARY KEY, id TEXT NOT NULL, path TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE access_keys (id TEXT COLLATE "C" PRIMARY KEY, secret TEXT NOT NULL, "user" TEXT COLLATE "C" NOT NULL, status TEXT NOT NULL, created TEXT COLLATE "C" NOT NULL);
CREATE TABLE roles (name TEXT COLLATE nocase PRIMARY KEY, id TEXT NOT NULL, path TEXT NOT NULL, trust TEXT NOT NULL, description TEXT, max_session BIGINT NOT NULL, created TEXT NOT NULL);
CREATE TABLE role_tags (role TEXT COLLATE nocase NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL, PRIMARY KEY (role, key));
CREATE TABLE inline_policies (owner_kind TEXT COLLATE "C" NOT NULL, owner TEXT COLLATE nocase NOT NULL, name TEXT COLLATE "C" NOT NULL, document TEXT NOT NULL, PRIMARY KEY (owner_kind, owner, name));
CREATE TABLE policies (arn TEXT COLLATE "C" PRIMARY KEY, name TEXT COLLATE "C" NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL, description TEXT, default_version TEXT COLLATE "C" NOT NULL, next_version BIGINT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE policy_versions (arn TEXT COLLATE "C" NOT NULL, version TEXT COLLATE "C" NOT NULL, document TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (arn, version));
CREATE TABLE attachments (owner_kind TEXT COLLATE "C" NOT NULL, owner TEXT COLLATE nocase NOT NULL, arn TEXT COLLATE "C" NOT NULL, PRIMARY KEY (owner_kind, owner, arn));
CREATE TABLE groups (name TEXT COLLATE nocase PRIMARY KEY, id TEXT NOT NULL, path TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE group_members (grp TEXT COLLATE nocase NOT NULL, "user" TEXT COLLATE nocase NOT NULL, PRIMARY KEY (grp, "user"));
CREATE TABLE sessions (access_key TEXT COLLATE "C" PRIMARY KEY, secret TEXT NOT NULL, token TEXT NOT NULL, arn TEXT NOT NULL, user_id TEXT NOT NULL, owner_kind TEXT NOT NULL, owner TEXT NOT NULL, expires BIGINT NOT NULL);
CREATE TABLE boundaries (owner_kind TEXT COLLATE "C" NOT NULL, owner TEXT COLLATE nocase NOT NULL, arn TEXT NOT NULL, PRIMARY KEY (owner_kind, owner));
CREATE TABLE session_policies (access_key TEXT COLLATE "C" PRIMARY KEY, policy TEXT, arns TEXT NOT NULL);
"#;

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

    /// The key a principal's cached policies, limits and tags are kept under:
    /// `tag/name` (the name lower-cased, as IAM compares names), then `|session` when a
    /// session is given. Built without the formatting machinery: it runs on every
    /// authorized request.
    fn cache_key(self, name: &str, session: Option<&str>) -> String {
        let tag = self.tag();
        let extra = session.map_or(0, |s| s.len() + 1);
        let mut key = String::with_capacity(tag.len() + 1 + name.len() + extra);
        key.push_str(tag);
        key.push('/');
        key.extend(name.chars().map(|c| c.to_ascii_lowercase()));
        if let Some(s) = session {
            key.push('|');
            key.push_str(s);
        }
        key
    }

    fn word(self) -> &'static str {
        match self {
            Owner::User => "user",
            Owner::Role => "role",
            Owner::Group => "group",
        }
    }
}

/// A principal's compiled identity policies.
type PolicySet = Arc<[Arc<Policy>]>;

/// The IAM store and the cache of compiled policies per principal.
pub struct Iam {
    db: Db,
    cache: Arc<RwLock<HashMap<String, PolicySet>>>,
    /// Boundaries and session policies, per principal and session key.
    limits: Arc<RwLock<HashMap<String, crate::eval::Limits>>>,
    /// Principal tags (`aws:PrincipalTag`), per principal and session key.
    tags: Arc<RwLock<HashMap<String, tags::Tags>>>,
    /// Authorization profiles, per principal and session key (see [`profile`]).
    profiles: Arc<profile::Profiles>,
    /// Resolved access keys, so signature checks skip the database (see [`keys`]).
    keys: Arc<keys::KeyCache>,
    /// Where writes are announced to the other nodes sharing a PostgreSQL database, so each
    /// clears its compiled policies too.
    channel: String,
}

/// A storage failure as IAM answers it: `ServiceFailure`, 503 when the database cannot be
/// reached (the request may be retried), 500 otherwise. The cause is logged, never sent.
fn fault(what: &str, e: stratus_db::Error) -> Error {
    tracing::error!(error = %e, "iam store: {what}");
    let kind = match e.is_unavailable() {
        true => stratus_core::Kind::Unavailable,
        false => stratus_core::Kind::Internal,
    };
    Error::new(
        "ServiceFailure",
        kind,
        "The request processing has failed because of an unknown error, exception or failure.",
    )
}

/// Why a transaction stopped: the database failed, or a check inside it refused the
/// request (a duplicate, a quota, an entity still in use).
enum Fail {
    Db(stratus_db::Error),
    Refused(Error),
}

impl From<stratus_db::Error> for Fail {
    fn from(e: stratus_db::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Refused(e)
    }
}

/// Sorts names as SQLite's `NOCASE` orders them (ASCII letters folded), so lists come out
/// in the same order on both backends whatever collation PostgreSQL's ICU would apply.
fn sort_nocase<T>(items: &mut [T], name: impl Fn(&T) -> &str) {
    items.sort_by(|a, b| {
        let (a, b) = (name(a).bytes(), name(b).bytes());
        a.map(|c| c.to_ascii_lowercase())
            .cmp(b.map(|c| c.to_ascii_lowercase()))
    });
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
    /// Opens (creating, migrating) the store at `location`; a failure names the file or
    /// schema and the step.
    pub fn open(location: &Location) -> Result<Iam, stratus_db::Error> {
        Self::open_named(location, "iam")
    }

    /// The store's description for the storage layer, in the PostgreSQL schema `schema`
    /// (`iam`; tests give each store its own).
    pub fn spec(schema: &str) -> stratus_db::StoreSpec<'_> {
        stratus_db::StoreSpec {
            name: schema,
            file: "iam.db",
            options: stratus_db::Options::default(),
            migrations: stratus_db::Migrations {
                sqlite: stratus_db::Schema::Versioned(&[
                    SCHEMA,
                    limits::MIGRATION,
                    tags::MIGRATION,
                ]),
                postgres: &[POSTGRES, tags::POSTGRES],
            },
        }
    }

    /// [`Iam::open`] in the PostgreSQL schema `schema`.
    pub fn open_named(location: &Location, schema: &str) -> Result<Iam, stratus_db::Error> {
        let db = Db::open(location, &Self::spec(schema))?;
        let iam = Iam {
            db,
            cache: Arc::default(),
            limits: Arc::default(),
            tags: Arc::default(),
            profiles: Arc::default(),
            keys: Arc::default(),
            channel: format!("{schema}_changed"),
        };
        // Another node's write clears this node's compiled policies, principal tags and
        // resolved keys (nothing on SQLite).
        let (cache, limits, tags, profiles, keys) = (
            iam.cache.clone(),
            iam.limits.clone(),
            iam.tags.clone(),
            iam.profiles.clone(),
            iam.keys.clone(),
        );
        stratus_db::listen(location, &iam.channel, move || {
            // The generation moves first: a profile being built from older reads is then
            // not kept (see `Iam::profile`).
            keys.invalidate();
            clear(&cache);
            clear(&limits);
            clear(&tags);
            clear(&profiles);
        })?;
        Ok(iam)
    }

    /// Runs `f` in one transaction; `what` names the step in the log if the database fails.
    /// `f` may run more than once (PostgreSQL retries a serialization conflict), so caches
    /// are cleared by the caller after this returns, never inside `f`.
    fn tx<T>(&self, what: &str, f: impl FnMut(&Tx<'_>) -> Result<T, Fail>) -> Result<T, Error> {
        self.db.tx(f).map_err(|e| match e {
            Fail::Db(e) => fault(what, e),
            Fail::Refused(e) => e,
        })
    }

    /// [`Iam::tx`] for a write that changes what a principal may do (or which keys work):
    /// the commit is announced to the other nodes, and this node's compiled policies and
    /// resolved keys are forgotten once it has committed.
    fn write<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&Tx<'_>) -> Result<T, Fail>,
    ) -> Result<T, Error> {
        let out = self.tx(what, |t| {
            let out = f(t)?;
            t.notify(&self.channel)?;
            Ok(out)
        })?;
        self.keys.invalidate();
        clear(&self.cache);
        clear(&self.limits);
        clear(&self.tags);
        clear(&self.profiles);
        Ok(out)
    }
}

/// Empties a cache of compiled policies.
fn clear<V>(cache: &RwLock<HashMap<String, V>>) {
    cache.write().unwrap_or_else(|p| p.into_inner()).clear();
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

    /// A fresh store on every backend this run can reach: SQLite, and PostgreSQL (in a
    /// schema of its own) when `STRATUS_TEST_DATABASE` names a database.
    fn stores(tag: &str) -> Vec<(tempfile::TempDir, Iam)> {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Iam::open(&Location::Sqlite(dir.path().into())).unwrap();
        let mut out = vec![(dir, sqlite)];
        if let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") {
            let schema = format!("test_iam_{tag}_{}", std::process::id());
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .unwrap();
            let loc = Location::parse(Some(&url), std::path::Path::new("/")).unwrap();
            out.push((
                tempfile::tempdir().unwrap(),
                Iam::open_named(&loc, &schema).unwrap(),
            ));
        }
        out
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
        for (_d, iam) in stores("users_keys_and_conflicts") {
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
    }

    #[test]
    fn the_cache_follows_policy_changes() {
        for (_d, iam) in stores("the_cache_follows_policy") {
            iam.create_role(role("fn")).unwrap();
            let who = Identity {
                arn: "arn:aws:sts::000000000000:assumed-role/fn/s".into(),
                user_id: "x".into(),
                principal: PrincipalKind::Role(
                    "fn".into(),
                    "arn:aws:iam::000000000000:role/fn".into(),
                ),
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
    }

    #[test]
    fn managed_policy_versions() {
        for (_d, iam) in stores("managed_policy_versions") {
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
    }

    #[test]
    fn users_hold_their_groups_policies() {
        for (_d, iam) in stores("users_hold_their_groups_") {
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
    }

    #[test]
    fn boundaries_and_session_policies_are_limits() {
        for (_d, iam) in stores("boundaries_and_session_p") {
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
    }

    #[test]
    fn sessions_resolve_until_dropped() {
        for (_d, iam) in stores("sessions_resolve_until_d") {
            let creds = iam.create_session(&Identity::root(), 900).unwrap();
            assert!(creds.access_key.starts_with("ASIA"));
            let rec = iam.resolve_key(&creds.access_key).unwrap().unwrap();
            assert_eq!(rec.token.as_deref(), Some(creds.token.as_str()));
            assert!(rec.identity.is_root());
        }
    }

    #[test]
    fn names_match_any_case_and_list_in_sqlite_order() {
        for (_d, iam) in stores("names") {
            // `1` sorts before `@` by bytes (NOCASE) though ICU would put punctuation first.
            for name in ["bob", "a@b", "Alice", "a1", "Carol", "carol_x"] {
                iam.create_user(name, "/").unwrap();
            }
            assert_eq!(iam.user("ALICE").unwrap().name, "Alice");
            assert_eq!(
                iam.create_user("CAROL", "/").unwrap_err().code,
                "EntityAlreadyExists"
            );
            let names: Vec<String> = iam
                .list_users("/")
                .unwrap()
                .into_iter()
                .map(|u| u.name)
                .collect();
            assert_eq!(names, ["a1", "a@b", "Alice", "bob", "Carol", "carol_x"]);
            // A key of `Alice` resolves through the case-insensitive join.
            let k = iam.create_access_key("Alice").unwrap();
            let rec = iam.resolve_key(&k.id).unwrap().unwrap();
            assert_eq!(rec.identity.arn, "arn:aws:iam::000000000000:user/Alice");
            iam.update_user("alice", Some("Alicia"), None).unwrap();
            assert_eq!(iam.key_owner(&k.id).unwrap().as_deref(), Some("Alicia"));
            assert_eq!(iam.user("alice").unwrap_err().code, "NoSuchEntity");
        }
    }

    #[test]
    fn tag_keys_order_by_bytes() {
        for (_d, iam) in stores("tags") {
            let mut r = role("fn");
            r.tags = ["b", "\u{e9}", "B", "a"]
                .iter()
                .map(|k| (k.to_string(), "v".to_string()))
                .collect();
            iam.create_role(r).unwrap();
            iam.tag_role("FN", &[("a".into(), "w".into())]).unwrap();
            let tags = iam.role("fn").unwrap().tags;
            let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["B", "a", "b", "\u{e9}"]);
            assert_eq!(tags[1].1, "w", "a tag is replaced, not duplicated");
            assert_eq!(iam.list_roles("/").unwrap().len(), 1);
        }
    }

    #[test]
    fn principal_tags_of_users_roles_and_sessions() {
        for (_d, iam) in stores("principal_tags") {
            iam.create_user("ann", "/").unwrap();
            let ann = Identity {
                arn: "arn:aws:iam::000000000000:user/ann".into(),
                user_id: "x".into(),
                principal: PrincipalKind::User("ann".into()),
            };
            let t = |k: &str, v: &str| (k.to_string(), v.to_string());
            iam.tag_user("ANN", &[t("team", "blue")], 50).unwrap();
            assert_eq!(
                &*iam.principal_tags(&ann, None).unwrap(),
                &[t("team", "blue")]
            );
            // A tag write clears the cached tags.
            iam.tag_user("ann", &[t("team", "red")], 50).unwrap();
            assert_eq!(
                &*iam.principal_tags(&ann, None).unwrap(),
                &[t("team", "red")]
            );
            assert_eq!(
                iam.tag_user("ann", &[t("a", "1"), t("b", "2")], 2)
                    .unwrap_err()
                    .code,
                "LimitExceeded"
            );
            iam.untag_user("ann", &["team".into(), "absent".into()])
                .unwrap();
            assert!(iam.principal_tags(&ann, None).unwrap().is_empty());
            assert_eq!(iam.user_tags("bob").unwrap_err().code, "NoSuchEntity");

            let mut r = role("fn");
            r.tags = vec![t("Team", "blue"), t("env", "dev")];
            iam.create_role(r).unwrap();
            let session = Identity {
                arn: "arn:aws:sts::000000000000:assumed-role/fn/s".into(),
                user_id: "x".into(),
                principal: PrincipalKind::Role(
                    "fn".into(),
                    "arn:aws:iam::000000000000:role/fn".into(),
                ),
            };
            iam.set_session_tags(
                "ASIATAGGED",
                &[tags::SessionTag {
                    key: "team".into(),
                    value: "green".into(),
                    transitive: true,
                }],
            )
            .unwrap();
            // The session's tag replaces the role's of the same key, whatever its case.
            assert_eq!(
                &*iam.principal_tags(&session, Some("ASIATAGGED")).unwrap(),
                &[t("env", "dev"), t("team", "green")]
            );
            assert_eq!(
                &*iam.principal_tags(&session, Some("ASIAOTHER")).unwrap(),
                &[t("Team", "blue"), t("env", "dev")]
            );
            assert!(iam.session_tags("ASIATAGGED").unwrap()[0].transitive);
        }
    }

    #[test]
    fn instance_profiles_hold_one_role() {
        for (_d, iam) in stores("instance_profiles") {
            iam.create_role(role("web")).unwrap();
            iam.create_role(role("other")).unwrap();
            let tags = [("env".to_string(), "dev".to_string())];
            let p = iam
                .create_instance_profile("web-profile", "/", &tags)
                .unwrap();
            assert!(p.id.starts_with("AIPA"));
            assert_eq!(
                p.arn(),
                "arn:aws:iam::000000000000:instance-profile/web-profile"
            );
            assert_eq!(
                iam.create_instance_profile("WEB-PROFILE", "/", &[])
                    .unwrap_err()
                    .message,
                "Instance Profile WEB-PROFILE already exists."
            );
            iam.add_role_to_instance_profile("web-profile", "WEB")
                .unwrap();
            assert_eq!(
                iam.add_role_to_instance_profile("web-profile", "other")
                    .unwrap_err()
                    .message,
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1"
            );
            assert_eq!(
                iam.add_role_to_instance_profile("nope", "web")
                    .unwrap_err()
                    .message,
                "Instance Profile nope cannot be found."
            );
            let msg = "Cannot delete entity, must remove roles from instance profile first.";
            assert_eq!(iam.delete_role("web").unwrap_err().message, msg);
            assert_eq!(
                iam.delete_instance_profile("web-profile")
                    .unwrap_err()
                    .message,
                msg
            );
            let held = iam.list_instance_profiles("/", Some("web")).unwrap();
            assert_eq!(held.len(), 1);
            assert_eq!(held[0].role.as_deref(), Some("web"));
            assert_eq!(held[0].tags, tags);
            assert!(iam
                .list_instance_profiles("/", Some("other"))
                .unwrap()
                .is_empty());
            assert_eq!(
                iam.remove_role_from_instance_profile("web-profile", "other")
                    .unwrap_err()
                    .code,
                "NoSuchEntity"
            );
            iam.remove_role_from_instance_profile("web-profile", "web")
                .unwrap();
            iam.delete_role("web").unwrap();
            iam.delete_instance_profile("web-profile").unwrap();
            assert!(iam.list_instance_profiles("/", None).unwrap().is_empty());
        }
    }

    #[test]
    fn concurrent_writers_get_one_outcome() {
        for (_d, iam) in stores("race") {
            iam.create_user("eve", "/").unwrap();
            let (keys, users) = std::thread::scope(|s| {
                let keys: Vec<_> = (0..6)
                    .map(|_| s.spawn(|| iam.create_access_key("eve")))
                    .collect();
                let users: Vec<_> = ["mallory", "MALLORY", "Mallory", "mAllory"]
                    .into_iter()
                    .map(|n| {
                        let iam = &iam;
                        s.spawn(move || iam.create_user(n, "/"))
                    })
                    .collect();
                (
                    keys.into_iter()
                        .map(|h| h.join().unwrap().map(|_| ()).map_err(|e| e.code))
                        .collect::<Vec<_>>(),
                    users
                        .into_iter()
                        .map(|h| h.join().unwrap().map(|_| ()).map_err(|e| e.code))
                        .collect::<Vec<_>>(),
                )
            });
            let won = |r: &[Result<(), &str>], loser: &str| {
                assert!(r.iter().all(|r| *r == Ok(()) || *r == Err(loser)), "{r:?}");
                r.iter().filter(|r| r.is_ok()).count()
            };
            assert_eq!(won(&keys, "LimitExceeded"), 2, "{keys:?}");
            assert_eq!(iam.list_access_keys("eve").unwrap().len(), 2);
            assert_eq!(won(&users, "EntityAlreadyExists"), 1, "{users:?}");
        }
    }

    #[test]
    fn a_lost_database_is_a_retryable_service_failure() {
        let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") else {
            return;
        };
        // A database of its own, so ending its connections disturbs no other test.
        let name = format!("test_iam_down_{}", std::process::id());
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin.batch_execute(&sql).unwrap();
        }
        let (base, _) = url.rsplit_once('/').unwrap();
        let own = format!("{base}/{name}");
        let iam =
            Iam::open(&Location::parse(Some(&own), std::path::Path::new("/")).unwrap()).unwrap();
        iam.create_user("ann", "/").unwrap();
        // Sessions ended while the database refuses new ones: the store cannot reconnect.
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
                 WHERE datname = '{name}'"
            ))
            .unwrap();
        let e = iam.user("ann").unwrap_err();
        assert_eq!(
            (e.code, e.kind),
            ("ServiceFailure", stratus_core::Kind::Unavailable)
        );
        admin
            .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
            .unwrap();
        assert!(
            iam.user("ann").is_ok(),
            "reconnects once the database is back"
        );
        drop(iam);
        admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .unwrap();
    }

    #[test]
    fn another_nodes_write_clears_this_nodes_compiled_policies() {
        let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") else {
            return;
        };
        let schema = format!("test_iam_nodes_{}", std::process::id());
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .unwrap();
        let loc = Location::parse(Some(&url), std::path::Path::new("/")).unwrap();
        let (a, b) = (
            Iam::open_named(&loc, &schema).unwrap(),
            Iam::open_named(&loc, &schema).unwrap(),
        );
        a.create_role(role("fn")).unwrap();
        let who = Identity {
            arn: "arn:aws:sts::000000000000:assumed-role/fn/s".into(),
            user_id: "x".into(),
            principal: PrincipalKind::Role("fn".into(), "arn:aws:iam::000000000000:role/fn".into()),
        };
        assert_eq!(a.policies_of(&who).unwrap().len(), 0, "cached on node a");
        b.put_inline(Owner::Role, "fn", "books", PUT_BOOKS).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while a.policies_of(&who).unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "node a kept a stale policy set"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
