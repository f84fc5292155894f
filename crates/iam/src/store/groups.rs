//! Groups: named sets of users whose policies every member holds.

use stratus_core::Error;
use stratus_db::{args, Row};

use super::principals::{refuse_if_any, user_in};
use super::*;

fn group_row(r: &Row<'_>) -> Result<Group, stratus_db::Error> {
    Ok(Group {
        name: r.get(0)?,
        id: r.get(1)?,
        path: r.get(2)?,
        created: r.get(3)?,
    })
}

/// A group by name (any case), inside a transaction.
fn group_in(t: &Tx<'_>, name: &str) -> Result<Option<Group>, stratus_db::Error> {
    t.query_opt(
        "SELECT name, id, path, created FROM groups WHERE name = ?1",
        args![name],
        group_row,
    )
}

fn no_such_group(name: &str) -> Error {
    no_such_entity(format!("The group with name {name} cannot be found."))
}

impl Iam {
    pub fn create_group(&self, name: &str, path: &str) -> Result<Group, Error> {
        let group = Group {
            name: name.into(),
            id: random_id("AGPA", 17),
            path: path.into(),
            created: now_iso(),
        };
        let n = self.tx("create group", |t| {
            Ok(t.execute(
                "INSERT INTO groups (name, id, path, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                args![group.name, group.id, group.path, group.created],
            )?)
        })?;
        if n == 0 {
            return Err(already_exists(format!(
                "Group with name {name} already exists."
            )));
        }
        Ok(group)
    }

    pub fn group(&self, name: &str) -> Result<Group, Error> {
        self.tx("get group", |t| Ok(group_in(t, name)?))?
            .ok_or_else(|| no_such_group(name))
    }

    pub fn list_groups(&self, path_prefix: &str) -> Result<Vec<Group>, Error> {
        let mut rows = self.tx("list groups", |t| {
            Ok(t.query_map(
                "SELECT name, id, path, created FROM groups",
                args![],
                group_row,
            )?)
        })?;
        sort_nocase(&mut rows, |g| &g.name);
        Ok(rows
            .into_iter()
            .filter(|g| g.path.starts_with(path_prefix))
            .collect())
    }

    pub fn delete_group(&self, name: &str) -> Result<(), Error> {
        self.tx("delete group", |t| {
            group_in(t, name)?.ok_or_else(|| no_such_group(name))?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM group_members WHERE grp = ?1",
                name,
                "Cannot delete entity, must remove users from group first.",
            )?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM inline_policies WHERE owner_kind = 'group' AND owner = ?1",
                name,
                "Cannot delete entity, must delete policies first.",
            )?;
            refuse_if_any(
                t,
                "SELECT COUNT(*) FROM attachments WHERE owner_kind = 'group' AND owner = ?1",
                name,
                "Cannot delete entity, must detach all policies first.",
            )?;
            t.execute("DELETE FROM groups WHERE name = ?1", args![name])?;
            Ok(())
        })
    }

    pub fn add_user_to_group(&self, group: &str, user: &str) -> Result<(), Error> {
        self.write("add to group", |t| {
            let g = group_in(t, group)?.ok_or_else(|| no_such_group(group))?;
            let u = user_in(t, user)?.ok_or_else(|| {
                no_such_entity(format!("The user with name {user} cannot be found."))
            })?;
            t.execute(
                "INSERT INTO group_members (grp, \"user\") VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![g.name, u.name],
            )?;
            Ok(())
        })?;
        Ok(())
    }

    pub fn remove_user_from_group(&self, group: &str, user: &str) -> Result<(), Error> {
        self.group(group)?;
        self.user(user)?;
        self.write("remove from group", |t| {
            Ok(t.execute(
                "DELETE FROM group_members WHERE grp = ?1 AND \"user\" = ?2",
                args![group, user],
            )?)
        })?;
        Ok(())
    }

    /// The members of a group, by name.
    pub fn group_users(&self, group: &str) -> Result<Vec<User>, Error> {
        let mut names: Vec<String> = self.tx("group users", |t| {
            Ok(t.query_map(
                "SELECT \"user\" FROM group_members WHERE grp = ?1",
                args![group],
                |r| r.get(0),
            )?)
        })?;
        sort_nocase(&mut names, |n| n);
        names.iter().map(|n| self.user(n)).collect()
    }

    /// The groups a user belongs to.
    pub fn groups_for_user(&self, user: &str) -> Result<Vec<Group>, Error> {
        let mut names: Vec<String> = self.tx("user groups", |t| {
            Ok(t.query_map(
                "SELECT grp FROM group_members WHERE \"user\" = ?1",
                args![user],
                |r| r.get(0),
            )?)
        })?;
        sort_nocase(&mut names, |n| n);
        names.iter().map(|n| self.group(n)).collect()
    }
}
