//! Tags of users and STS sessions, and the principal tags a request carries
//! (`aws:PrincipalTag/<key>`): a user's own tags; for a role session the role's tags, which
//! the session tags passed to AssumeRole override key by key (case-insensitively), as AWS
//! documents. Looked up once per principal and session, cached until the next IAM write.

use std::sync::Arc;

use stratus_core::Error;
use stratus_db::args;

use super::*;

/// The third migration of `iam.db`: users' tags, session tags, instance profiles.
pub const MIGRATION: &str = "
CREATE TABLE IF NOT EXISTS user_tags (user TEXT NOT NULL COLLATE NOCASE, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (user, key));
CREATE TABLE IF NOT EXISTS session_tags (access_key TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, transitive INTEGER NOT NULL, PRIMARY KEY (access_key, key));
CREATE TABLE IF NOT EXISTS instance_profiles (name TEXT PRIMARY KEY COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL, created TEXT NOT NULL, role TEXT COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS instance_profile_tags (profile TEXT NOT NULL COLLATE NOCASE, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (profile, key));
";

/// The same on PostgreSQL (its second migration).
pub const POSTGRES: &str = r#"
CREATE TABLE user_tags ("user" TEXT COLLATE nocase NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL, PRIMARY KEY ("user", key));
CREATE TABLE session_tags (access_key TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL, transitive BIGINT NOT NULL, PRIMARY KEY (access_key, key));
CREATE TABLE instance_profiles (name TEXT COLLATE nocase PRIMARY KEY, id TEXT NOT NULL, path TEXT NOT NULL, created TEXT NOT NULL, role TEXT COLLATE nocase);
CREATE TABLE instance_profile_tags (profile TEXT COLLATE nocase NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL, PRIMARY KEY (profile, key));
"#;

/// A principal's tags, as `aws:PrincipalTag` reads them.
pub type Tags = Arc<[(String, String)]>;

/// A tag passed to AssumeRole, or inherited from the calling session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTag {
    pub key: String,
    pub value: String,
    /// Passed on to the sessions this session's credentials assume (`TransitiveTagKeys`).
    pub transitive: bool,
}

/// Where an entity's tags live: the table and the column naming the entity.
#[derive(Debug, Clone, Copy)]
pub(super) struct TagTable {
    pub table: &'static str,
    pub owner: &'static str,
}

pub(super) const USER_TAGS: TagTable = TagTable {
    table: "user_tags",
    owner: "\"user\"",
};
pub(super) const PROFILE_TAGS: TagTable = TagTable {
    table: "instance_profile_tags",
    owner: "profile",
};

/// An entity's tags, ordered by key (bytes, as on both backends).
pub(super) fn tags_in(
    t: &Tx<'_>,
    at: TagTable,
    owner: &str,
) -> Result<Vec<(String, String)>, stratus_db::Error> {
    let mut tags: Vec<(String, String)> = t.query_map(
        &format!(
            "SELECT key, value FROM {} WHERE {} = ?1",
            at.table, at.owner
        ),
        args![owner],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    tags.sort();
    Ok(tags)
}

/// Adds or replaces tags of an entity.
pub(super) fn put_tags_in(
    t: &Tx<'_>,
    at: TagTable,
    owner: &str,
    tags: &[(String, String)],
) -> Result<(), stratus_db::Error> {
    for (k, v) in tags {
        t.execute(
            &format!(
                "INSERT INTO {} ({}, key, value) VALUES (?1, ?2, ?3) ON CONFLICT ({}, key) DO UPDATE SET value = excluded.value",
                at.table, at.owner, at.owner
            ),
            args![owner, k, v],
        )?;
    }
    Ok(())
}

/// Removes tags of an entity by key (absent keys are no error, as on AWS).
pub(super) fn drop_tags_in(
    t: &Tx<'_>,
    at: TagTable,
    owner: &str,
    keys: Option<&[String]>,
) -> Result<(), stratus_db::Error> {
    match keys {
        None => {
            t.execute(
                &format!("DELETE FROM {} WHERE {} = ?1", at.table, at.owner),
                args![owner],
            )?;
        }
        Some(keys) => {
            for k in keys {
                t.execute(
                    &format!(
                        "DELETE FROM {} WHERE {} = ?1 AND key = ?2",
                        at.table, at.owner
                    ),
                    args![owner, k],
                )?;
            }
        }
    }
    Ok(())
}

/// `base` with `over` laid on top: a key of `over` replaces the same key of `base`, whatever
/// its case (how session tags override a role's tags).
pub fn overlay(base: &[(String, String)], over: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = base
        .iter()
        .filter(|(k, _)| !over.iter().any(|(o, _)| o.eq_ignore_ascii_case(k)))
        .cloned()
        .collect();
    out.extend(over.iter().cloned());
    out.sort();
    out
}

impl Iam {
    pub fn user_tags(&self, user: &str) -> Result<Vec<(String, String)>, Error> {
        self.tx("user tags", |t| {
            let u = principals::user_in(t, user)?.ok_or_else(|| no_such_user(user))?;
            Ok(tags_in(t, USER_TAGS, &u.name)?)
        })
    }

    /// Adds or replaces tags of a user; the total may not pass `max` (IAM's LimitExceeded).
    pub fn tag_user(&self, user: &str, tags: &[(String, String)], max: usize) -> Result<(), Error> {
        self.write("tag user", |t| {
            let u = principals::user_in(t, user)?.ok_or_else(|| no_such_user(user))?;
            let existing = tags_in(t, USER_TAGS, &u.name)?;
            if overlay(&existing, tags).len() > max {
                return Err(too_many_tags(max).into());
            }
            Ok(put_tags_in(t, USER_TAGS, &u.name, tags)?)
        })
    }

    pub fn untag_user(&self, user: &str, keys: &[String]) -> Result<(), Error> {
        self.write("untag user", |t| {
            let u = principals::user_in(t, user)?.ok_or_else(|| no_such_user(user))?;
            Ok(drop_tags_in(t, USER_TAGS, &u.name, Some(keys))?)
        })
    }

    /// Records the tags of new temporary credentials.
    pub fn set_session_tags(&self, access_key: &str, tags: &[SessionTag]) -> Result<(), Error> {
        self.tx("session tags", |t| {
            // The tags of sessions gone (expired ones are dropped as new ones are made) go
            // with them, so the table stays small.
            t.execute(
                "DELETE FROM session_tags WHERE access_key NOT IN (SELECT access_key FROM sessions)",
                args![],
            )?;
            for tag in tags {
                t.execute(
                    "INSERT INTO session_tags (access_key, key, value, transitive) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (access_key, key) DO UPDATE SET value = excluded.value, transitive = excluded.transitive",
                    args![access_key, tag.key, tag.value, tag.transitive as i64],
                )?;
            }
            Ok(())
        })
    }

    /// The tags temporary credentials were issued with (none for a session without).
    pub fn session_tags(&self, access_key: &str) -> Result<Vec<SessionTag>, Error> {
        self.tx("session tags", |t| {
            Ok(t.query_map(
                "SELECT key, value, transitive FROM session_tags WHERE access_key = ?1 ORDER BY key",
                args![access_key],
                |r| {
                    Ok(SessionTag {
                        key: r.get(0)?,
                        value: r.get(1)?,
                        transitive: r.get::<i64>(2)? != 0,
                    })
                },
            )?)
        })
    }

    /// The tags `aws:PrincipalTag` reads for `identity` (signing with `session_key`, for
    /// temporary credentials), cached until the next IAM write.
    pub fn principal_tags(
        &self,
        identity: &Identity,
        session_key: Option<&str>,
    ) -> Result<Tags, Error> {
        let key = match &identity.principal {
            PrincipalKind::Root => return Ok(Arc::from(Vec::new())),
            PrincipalKind::User(n) => Owner::User.cache_key(n, Some(session_key.unwrap_or(""))),
            PrincipalKind::Role(n, _) => Owner::Role.cache_key(n, Some(session_key.unwrap_or(""))),
        };
        if let Some(hit) = self
            .tags
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(hit.clone());
        }
        let own = match &identity.principal {
            PrincipalKind::User(n) => self.user_tags(n).or_else(gone)?,
            PrincipalKind::Role(n, _) => self.role(n).map(|r| r.tags).or_else(gone)?,
            PrincipalKind::Root => Vec::new(),
        };
        let session: Vec<(String, String)> = match session_key {
            Some(k) => self
                .session_tags(k)?
                .into_iter()
                .map(|t| (t.key, t.value))
                .collect(),
            None => Vec::new(),
        };
        let tags: Tags = Arc::from(overlay(&own, &session));
        self.tags
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, tags.clone());
        Ok(tags)
    }
}

/// A principal deleted since its key was checked has no tags (its request fails anyway).
fn gone(e: Error) -> Result<Vec<(String, String)>, Error> {
    if e.code == "NoSuchEntity" {
        Ok(Vec::new())
    } else {
        Err(e)
    }
}

fn no_such_user(name: &str) -> Error {
    no_such_entity(format!("The user with name {name} cannot be found."))
}

/// IAM's refusal of a tag that would take an entity past its 50 tags.
pub fn too_many_tags(max: usize) -> Error {
    limit_exceeded(format!(
        "The number of tags has reached the maximum limit of {max}."
    ))
}
