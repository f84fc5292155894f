//! Instance profiles: named holders of at most one role (what EC2 hands an instance; Terraform
//! and CloudFormation templates create them beside their roles). A role inside a profile cannot
//! be deleted, nor a profile that still holds a role, as on AWS.

use stratus_core::{Error, ACCOUNT_ID};
use stratus_db::{args, Row};

use super::principals::refuse_if_any;
use super::tags::{drop_tags_in, put_tags_in, tags_in, PROFILE_TAGS};
use super::*;

/// AWS's quota of roles in one instance profile.
pub const ROLES_PER_PROFILE: i64 = 1;

#[derive(Debug, Clone)]
pub struct InstanceProfile {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: String,
    /// The role it holds, by name.
    pub role: Option<String>,
    pub tags: Vec<(String, String)>,
}

impl InstanceProfile {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{ACCOUNT_ID}:instance-profile{}{}",
            self.path, self.name
        )
    }
}

fn profile_row(r: &Row<'_>) -> Result<InstanceProfile, stratus_db::Error> {
    Ok(InstanceProfile {
        name: r.get(0)?,
        id: r.get(1)?,
        path: r.get(2)?,
        created: r.get(3)?,
        role: r.get(4)?,
        tags: Vec::new(),
    })
}

const COLUMNS: &str = "name, id, path, created, role";

/// A profile by name (any case) with its tags, inside a transaction.
fn profile_in(t: &Tx<'_>, name: &str) -> Result<Option<InstanceProfile>, stratus_db::Error> {
    let Some(mut p) = t.query_opt(
        &format!("SELECT {COLUMNS} FROM instance_profiles WHERE name = ?1"),
        args![name],
        profile_row,
    )?
    else {
        return Ok(None);
    };
    p.tags = tags_in(t, PROFILE_TAGS, &p.name)?;
    Ok(Some(p))
}

fn no_such_profile(name: &str) -> Error {
    no_such_entity(format!("Instance Profile {name} cannot be found."))
}

fn no_such_role(name: &str) -> Error {
    no_such_entity(format!("The role with name {name} cannot be found."))
}

/// A role's stored name (its case as created), if it exists.
fn role_name_in(t: &Tx<'_>, name: &str) -> Result<Option<String>, stratus_db::Error> {
    t.query_opt("SELECT name FROM roles WHERE name = ?1", args![name], |r| {
        r.get(0)
    })
}

impl Iam {
    pub fn create_instance_profile(
        &self,
        name: &str,
        path: &str,
        tags: &[(String, String)],
    ) -> Result<InstanceProfile, Error> {
        let profile = InstanceProfile {
            name: name.into(),
            id: random_id("AIPA", 17),
            path: path.into(),
            created: now_iso(),
            role: None,
            tags: tags.to_vec(),
        };
        self.tx("create instance profile", |t| {
            let n = t.execute(
                "INSERT INTO instance_profiles (name, id, path, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                args![profile.name, profile.id, profile.path, profile.created],
            )?;
            if n == 0 {
                return Err(already_exists(format!("Instance Profile {name} already exists.")).into());
            }
            put_tags_in(t, PROFILE_TAGS, name, tags)?;
            Ok(())
        })?;
        Ok(InstanceProfile {
            tags: self.instance_profile(name)?.tags,
            ..profile
        })
    }

    pub fn instance_profile(&self, name: &str) -> Result<InstanceProfile, Error> {
        self.tx("get instance profile", |t| Ok(profile_in(t, name)?))?
            .ok_or_else(|| no_such_profile(name))
    }

    /// Every profile under `path_prefix`, or (with `role`) those holding that role.
    pub fn list_instance_profiles(
        &self,
        path_prefix: &str,
        role: Option<&str>,
    ) -> Result<Vec<InstanceProfile>, Error> {
        let mut out = self.tx("list instance profiles", |t| {
            if let Some(r) = role {
                role_name_in(t, r)?.ok_or_else(|| no_such_role(r))?;
            }
            let names: Vec<String> = match role {
                Some(r) => t.query_map(
                    "SELECT name FROM instance_profiles WHERE role = ?1",
                    args![r],
                    |r| r.get(0),
                )?,
                None => t.query_map("SELECT name FROM instance_profiles", args![], |r| r.get(0))?,
            };
            let mut out = Vec::new();
            for n in names {
                if let Some(p) = profile_in(t, &n)? {
                    out.push(p);
                }
            }
            Ok(out)
        })?;
        sort_nocase(&mut out, |p| &p.name);
        out.retain(|p| p.path.starts_with(path_prefix));
        Ok(out)
    }

    pub fn delete_instance_profile(&self, name: &str) -> Result<(), Error> {
        self.tx("delete instance profile", |t| {
            profile_in(t, name)?.ok_or_else(|| no_such_profile(name))?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM instance_profiles WHERE name = ?1 AND role IS NOT NULL",
                name,
                "Cannot delete entity, must remove roles from instance profile first.",
            )?;
            t.execute("DELETE FROM instance_profiles WHERE name = ?1", args![name])?;
            drop_tags_in(t, PROFILE_TAGS, name, None)?;
            Ok(())
        })
    }

    /// Puts a role into a profile; a profile holds one role (AWS's LimitExceeded).
    pub fn add_role_to_instance_profile(&self, profile: &str, role: &str) -> Result<(), Error> {
        self.tx("add role to instance profile", |t| {
            let p = profile_in(t, profile)?.ok_or_else(|| no_such_profile(profile))?;
            let role = role_name_in(t, role)?.ok_or_else(|| no_such_role(role))?;
            if p.role.is_some() {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for InstanceSessionsPerInstanceProfile: {ROLES_PER_PROFILE}"
                ))
                .into());
            }
            t.execute(
                "UPDATE instance_profiles SET role = ?2 WHERE name = ?1",
                args![p.name, role],
            )?;
            Ok(())
        })
    }

    pub fn remove_role_from_instance_profile(
        &self,
        profile: &str,
        role: &str,
    ) -> Result<(), Error> {
        self.tx("remove role from instance profile", |t| {
            let p = profile_in(t, profile)?.ok_or_else(|| no_such_profile(profile))?;
            role_name_in(t, role)?.ok_or_else(|| no_such_role(role))?;
            if !p
                .role
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(role))
            {
                return Err(no_such_entity(format!(
                    "Role {role} in Instance Profile {} cannot be found.",
                    p.name
                ))
                .into());
            }
            t.execute(
                "UPDATE instance_profiles SET role = NULL WHERE name = ?1",
                args![p.name],
            )?;
            Ok(())
        })
    }

    /// Adds or replaces tags of a profile; the total may not pass `max`.
    pub fn tag_instance_profile(
        &self,
        name: &str,
        tags: &[(String, String)],
        max: usize,
    ) -> Result<(), Error> {
        self.tx("tag instance profile", |t| {
            let p = profile_in(t, name)?.ok_or_else(|| no_such_profile(name))?;
            if super::tags::overlay(&p.tags, tags).len() > max {
                return Err(super::tags::too_many_tags(max).into());
            }
            Ok(put_tags_in(t, PROFILE_TAGS, &p.name, tags)?)
        })
    }

    pub fn untag_instance_profile(&self, name: &str, keys: &[String]) -> Result<(), Error> {
        self.tx("untag instance profile", |t| {
            let p = profile_in(t, name)?.ok_or_else(|| no_such_profile(name))?;
            Ok(drop_tags_in(t, PROFILE_TAGS, &p.name, Some(keys))?)
        })
    }
}
