//! Users, their access keys, STS sessions, and roles.

use std::sync::Arc;

use stratus_core::{Error, ACCOUNT_ID};
use stratus_db::{args, Row};

use super::limits::drop_boundary_in;
use super::*;

fn user_row(r: &Row<'_>) -> Result<User, stratus_db::Error> {
    Ok(User {
        name: r.get(0)?,
        id: r.get(1)?,
        path: r.get(2)?,
        created: r.get(3)?,
    })
}

fn role_row(r: &Row<'_>) -> Result<Role, stratus_db::Error> {
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
}

/// A user by name (any case), inside a transaction.
pub(super) fn user_in(t: &Tx<'_>, name: &str) -> Result<Option<User>, stratus_db::Error> {
    t.query_opt(
        "SELECT name, id, path, created FROM users WHERE name = ?1",
        args![name],
        user_row,
    )
}

fn no_such_user(name: &str) -> Error {
    no_such_entity(format!("The user with name {name} cannot be found."))
}

/// How many rows `sql` (a `COUNT(*)` of one parameter) counts.
fn count(t: &Tx<'_>, sql: &str, arg: &str) -> Result<i64, stratus_db::Error> {
    Ok(t.query_opt(sql, args![arg], |r| r.get::<i64>(0))?
        .unwrap_or(0))
}

/// Refuses a delete while `sql` counts rows that still refer to the entity.
pub(super) fn refuse_if_any(t: &Tx<'_>, sql: &str, name: &str, message: &str) -> Result<(), Fail> {
    match count(t, sql, name)? > 0 {
        true => Err(Fail::Refused(delete_conflict(message))),
        false => Ok(()),
    }
}

impl Iam {
    // --- users -------------------------------------------------------------------------

    pub fn create_user(&self, name: &str, path: &str) -> Result<User, Error> {
        let user = User {
            name: name.into(),
            id: random_id("AIDA", 17),
            path: path.into(),
            created: now_iso(),
        };
        let n = self.tx("create user", |t| {
            Ok(t.execute(
                "INSERT INTO users (name, id, path, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                args![user.name, user.id, user.path, user.created],
            )?)
        })?;
        if n == 0 {
            return Err(already_exists(format!(
                "User with name {name} already exists."
            )));
        }
        Ok(user)
    }

    pub fn user(&self, name: &str) -> Result<User, Error> {
        self.tx("get user", |t| Ok(user_in(t, name)?))?
            .ok_or_else(|| no_such_user(name))
    }

    pub fn list_users(&self, path_prefix: &str) -> Result<Vec<User>, Error> {
        let mut rows = self.tx("list users", |t| {
            Ok(t.query_map(
                "SELECT name, id, path, created FROM users",
                args![],
                user_row,
            )?)
        })?;
        sort_nocase(&mut rows, |u| &u.name);
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
        self.write("update user", |t| {
            let user = user_in(t, name)?.ok_or_else(|| no_such_user(name))?;
            let to = new_name.unwrap_or(&user.name);
            if new_name.is_some_and(|n| !n.eq_ignore_ascii_case(name)) && user_in(t, to)?.is_some()
            {
                return Err(already_exists(format!("User with name {to} already exists.")).into());
            }
            t.execute(
                "UPDATE users SET name = ?2, path = ?3 WHERE name = ?1",
                args![name, to, new_path.unwrap_or(&user.path)],
            )?;
            // The user's name is the key of what it owns: rename those with it. Keys name
            // their user exactly as stored, whatever case the request used.
            t.execute(
                "UPDATE access_keys SET \"user\" = ?2 WHERE \"user\" = ?1",
                args![user.name, to],
            )?;
            t.execute(
                "UPDATE user_tags SET \"user\" = ?2 WHERE \"user\" = ?1",
                args![name, to],
            )?;
            for table in ["inline_policies", "attachments"] {
                t.execute(
                    &format!(
                        "UPDATE {table} SET owner = ?2 WHERE owner = ?1 AND owner_kind = 'user'"
                    ),
                    args![name, to],
                )?;
            }
            Ok(())
        })?;
        Ok(())
    }

    pub fn delete_user(&self, name: &str) -> Result<(), Error> {
        self.write("delete user", |t| {
            user_in(t, name)?.ok_or_else(|| no_such_user(name))?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM group_members WHERE \"user\" = ?1",
                name,
                "Cannot delete entity, must remove user from all groups first.",
            )?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM access_keys WHERE \"user\" = ?1",
                name,
                "Cannot delete entity, must delete access keys first.",
            )?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM inline_policies WHERE owner_kind = 'user' AND owner = ?1",
                name,
                "Cannot delete entity, must delete policies first.",
            )?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM attachments WHERE owner_kind = 'user' AND owner = ?1",
                name,
                "Cannot delete entity, must detach all policies first.",
            )?;
            t.execute("DELETE FROM users WHERE name = ?1", args![name])?;
            tags::drop_tags_in(t, tags::USER_TAGS, name, None)?;
            drop_boundary_in(t, Owner::User, name)?;
            Ok(())
        })?;
        Ok(())
    }

    // --- access keys -------------------------------------------------------------------

    /// AWS allows two access keys per user.
    pub const KEYS_PER_USER: i64 = 2;

    /// A new key for `user`; the count and the insert are one transaction, so concurrent
    /// requests cannot together exceed the quota.
    pub fn create_access_key(&self, user: &str) -> Result<AccessKey, Error> {
        let id = random_id("AKIA", 16);
        let secret = random_secret(30);
        let created = now_iso();
        self.tx("create key", |t| {
            let owner = user_in(t, user)?.ok_or_else(|| no_such_user(user))?;
            let n: i64 = count(
                t,
                "SELECT COUNT(*) FROM access_keys WHERE \"user\" = ?1",
                &owner.name,
            )?;
            if n >= Self::KEYS_PER_USER {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for AccessKeysPerUser: {}",
                    Self::KEYS_PER_USER
                ))
                .into());
            }
            let key = AccessKey {
                id: id.clone(),
                secret: secret.clone(),
                user: owner.name,
                status: "Active".into(),
                created: created.clone(),
            };
            t.execute(
                "INSERT INTO access_keys (id, secret, \"user\", status, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![key.id, key.secret, key.user, key.status, key.created],
            )?;
            Ok(key)
        })
    }

    pub fn list_access_keys(&self, user: &str) -> Result<Vec<AccessKey>, Error> {
        let user = self.user(user)?;
        self.tx("list keys", |t| {
            Ok(t.query_map(
                "SELECT id, secret, \"user\", status, created FROM access_keys WHERE \"user\" = ?1 ORDER BY created, id",
                args![user.name],
                |r| {
                    Ok(AccessKey {
                        id: r.get(0)?,
                        secret: r.get(1)?,
                        user: r.get(2)?,
                        status: r.get(3)?,
                        created: r.get(4)?,
                    })
                },
            )?)
        })
    }

    pub(super) fn key_not_found(id: &str) -> Error {
        no_such_entity(format!("The Access Key with id {id} cannot be found."))
    }

    pub fn update_access_key(&self, user: &str, id: &str, status: &str) -> Result<(), Error> {
        self.user(user)?;
        // A write: a deactivated key stops working on every node.
        let n = self.write("update key", |t| {
            Ok(t.execute(
                "UPDATE access_keys SET status = ?3 WHERE id = ?1 AND \"user\" = ?2",
                args![id, user, status],
            )?)
        })?;
        if n == 0 {
            return Err(Self::key_not_found(id));
        }
        Ok(())
    }

    pub fn delete_access_key(&self, user: &str, id: &str) -> Result<(), Error> {
        self.user(user)?;
        let n = self.write("delete key", |t| {
            Ok(t.execute(
                "DELETE FROM access_keys WHERE id = ?1 AND \"user\" = ?2",
                args![id, user],
            )?)
        })?;
        if n == 0 {
            return Err(Self::key_not_found(id));
        }
        Ok(())
    }

    /// The user an access key belongs to (the user of a request signed without one named).
    pub fn key_owner(&self, id: &str) -> Result<Option<String>, Error> {
        self.tx("key owner", |t| {
            Ok(t.query_opt(
                "SELECT \"user\" FROM access_keys WHERE id = ?1",
                args![id],
                |r| r.get(0),
            )?)
        })
    }

    /// Reads an access key (a user's, or an STS session's), its secret and identity, from
    /// the database ([`Iam::resolve_key`] caches it).
    pub(super) fn load_key(&self, id: &str) -> Result<Option<KeyRecord>, Error> {
        self.tx("resolve key", |t| {
            // The join compares as `users.name` does (`nocase`): explicit, because on
            // PostgreSQL the two columns' collations differ.
            let user_key = t.query_opt(
                "SELECT k.secret, k.status, u.name, u.id, u.path FROM access_keys k JOIN users u ON u.name = k.\"user\" COLLATE nocase WHERE k.id = ?1",
                args![id],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<String>(2)?, r.get::<String>(3)?, r.get::<String>(4)?)),
            )?;
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
            Ok(t.query_opt(
                "SELECT secret, token, arn, user_id, owner_kind, owner, expires FROM sessions WHERE access_key = ?1",
                args![id],
                session_row,
            )?)
        })
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
        self.tx("create session", |t| {
            // Expired sessions are dropped as new ones are made, so the table stays small.
            t.execute("DELETE FROM sessions WHERE expires < ?1", args![now])?;
            t.execute(
                "DELETE FROM session_policies WHERE access_key NOT IN (SELECT access_key FROM sessions)",
                args![],
            )?;
            t.execute(
                "INSERT INTO sessions (access_key, secret, token, arn, user_id, owner_kind, owner, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                args![creds.access_key, creds.secret, creds.token, identity.arn, identity.user_id, kind, owner, creds.expires],
            )?;
            Ok(())
        })?;
        Ok(creds)
    }

    // --- roles -------------------------------------------------------------------------

    pub fn create_role(&self, role: Role) -> Result<Role, Error> {
        Policy::parse(&role.trust, Kind::Trust)?;
        self.tx("create role", |t| {
            let n = t.execute(
                "INSERT INTO roles (name, id, path, trust, description, max_session, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                args![role.name, role.id, role.path, role.trust, role.description, role.max_session, role.created],
            )?;
            if n == 0 {
                return Err(
                    already_exists(format!("Role with name {} already exists.", role.name)).into(),
                );
            }
            put_tags(t, &role.name, &role.tags)?;
            Ok(())
        })?;
        Ok(role)
    }

    pub fn role(&self, name: &str) -> Result<Role, Error> {
        self.tx("get role", |t| {
            let Some(mut role) = t.query_opt(
                "SELECT name, id, path, trust, description, max_session, created FROM roles WHERE name = ?1",
                args![name],
                role_row,
            )?
            else {
                return Ok(None);
            };
            role.tags = t.query_map(
                "SELECT key, value FROM role_tags WHERE role = ?1 ORDER BY key",
                args![role.name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(Some(role))
        })?
        .ok_or_else(|| no_such_entity(format!("The role with name {name} cannot be found.")))
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
        let mut names: Vec<String> = self.tx("list roles", |t| {
            Ok(t.query_map("SELECT name FROM roles", args![], |r| r.get(0))?)
        })?;
        sort_nocase(&mut names, |n| n);
        let mut out = Vec::new();
        for n in names {
            let r = match self.role(&n) {
                Ok(r) => r,
                // Deleted since the names were read.
                Err(e) if e.code == "NoSuchEntity" => continue,
                Err(e) => return Err(e),
            };
            if r.path.starts_with(path_prefix) {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub fn delete_role(&self, name: &str) -> Result<(), Error> {
        self.write("delete role", |t| {
            t.query_opt("SELECT name FROM roles WHERE name = ?1", args![name], |r| {
                r.get::<String>(0)
            })?
            .ok_or_else(|| no_such_entity(format!("The role with name {name} cannot be found.")))?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM inline_policies WHERE owner_kind = 'role' AND owner = ?1",
                name,
                "Cannot delete entity, must delete policies first.",
            )?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM attachments WHERE owner_kind = 'role' AND owner = ?1",
                name,
                "Cannot delete entity, must detach all policies first.",
            )?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM instance_profiles WHERE role = ?1",
                name,
                "Cannot delete entity, must remove roles from instance profile first.",
            )?;
            t.execute("DELETE FROM roles WHERE name = ?1", args![name])?;
            t.execute("DELETE FROM role_tags WHERE role = ?1", args![name])?;
            drop_boundary_in(t, Owner::Role, name)?;
            Ok(())
        })?;
        Ok(())
    }

    pub fn update_assume_role_policy(&self, name: &str, document: &str) -> Result<(), Error> {
        self.role(name)?;
        Policy::parse(document, Kind::Trust)?;
        self.tx("update trust", |t| {
            Ok(t.execute(
                "UPDATE roles SET trust = ?2 WHERE name = ?1",
                args![name, document],
            )?)
        })?;
        Ok(())
    }

    pub fn update_role(
        &self,
        name: &str,
        description: Option<&str>,
        max_session: Option<i64>,
    ) -> Result<(), Error> {
        let role = self.role(name)?;
        let description = description.map(str::to_string).or(role.description);
        let max_session = max_session.unwrap_or(role.max_session);
        self.tx("update role", |t| {
            Ok(t.execute(
                "UPDATE roles SET description = ?2, max_session = ?3 WHERE name = ?1",
                args![name, description, max_session],
            )?)
        })?;
        Ok(())
    }

    pub fn tag_role(&self, name: &str, tags: &[(String, String)]) -> Result<(), Error> {
        self.role(name)?;
        self.write("tag role", |t| Ok(put_tags(t, name, tags)?))
    }

    pub fn untag_role(&self, name: &str, keys: &[String]) -> Result<(), Error> {
        self.role(name)?;
        self.write("untag role", |t| {
            for k in keys {
                t.execute(
                    "DELETE FROM role_tags WHERE role = ?1 AND key = ?2",
                    args![name, k],
                )?;
            }
            Ok(())
        })
    }

    pub(super) fn owner_exists(&self, owner: Owner, name: &str) -> Result<(), Error> {
        match owner {
            Owner::User => self.user(name).map(|_| ()),
            Owner::Role => self.role(name).map(|_| ()),
            Owner::Group => self.group(name).map(|_| ()),
        }
    }
}

/// Sets (adding or replacing) tags of a role.
fn put_tags(t: &Tx<'_>, role: &str, tags: &[(String, String)]) -> Result<(), stratus_db::Error> {
    for (k, v) in tags {
        t.execute(
            "INSERT INTO role_tags (role, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (role, key) DO UPDATE SET value = excluded.value",
            args![role, k, v],
        )?;
    }
    Ok(())
}

/// An STS session's key record: the owner column says whose session it is.
fn session_row(r: &Row<'_>) -> Result<KeyRecord, stratus_db::Error> {
    let kind: String = r.get(4)?;
    let owner: String = r.get(5)?;
    let arn: String = r.get(2)?;
    let principal = match kind.as_str() {
        "role" => {
            let (name, role_arn) = owner
                .split_once('|')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .unwrap_or_default();
            PrincipalKind::Role(name, role_arn)
        }
        "root" => PrincipalKind::Root,
        _ => PrincipalKind::User(owner),
    };
    Ok(KeyRecord {
        secret: r.get(0)?,
        token: Some(r.get(1)?),
        identity: Arc::new(Identity {
            arn,
            user_id: r.get(3)?,
            principal,
        }),
        expires: Some(r.get(6)?),
        active: true,
    })
}
