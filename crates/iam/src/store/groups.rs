//! Groups: named sets of users whose policies every member holds.

use rusqlite::{params, OptionalExtension};
use stratus_core::Error;

use super::*;

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        name: r.get(0)?,
        id: r.get(1)?,
        path: r.get(2)?,
        created: r.get(3)?,
    })
}

impl Iam {
    pub fn create_group(&self, name: &str, path: &str) -> Result<Group, Error> {
        let group = Group {
            name: name.into(),
            id: random_id("AGPA", 17),
            path: path.into(),
            created: now_iso(),
        };
        let n = self
            .db()
            .execute(
                "INSERT OR IGNORE INTO groups (name, id, path, created) VALUES (?1, ?2, ?3, ?4)",
                params![group.name, group.id, group.path, group.created],
            )
            .map_err(|e| fault("create group", e))?;
        if n == 0 {
            return Err(already_exists(format!(
                "Group with name {name} already exists."
            )));
        }
        Ok(group)
    }

    pub fn group(&self, name: &str) -> Result<Group, Error> {
        self.db()
            .query_row(
                "SELECT name, id, path, created FROM groups WHERE name = ?1",
                [name],
                group_row,
            )
            .optional()
            .map_err(|e| fault("get group", e))?
            .ok_or_else(|| no_such_entity(format!("The group with name {name} cannot be found.")))
    }

    pub fn list_groups(&self, path_prefix: &str) -> Result<Vec<Group>, Error> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT name, id, path, created FROM groups ORDER BY name")
            .map_err(|e| fault("list groups", e))?;
        let rows: Vec<Group> = st
            .query_map([], group_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| fault("list groups", e))?;
        Ok(rows
            .into_iter()
            .filter(|g| g.path.starts_with(path_prefix))
            .collect())
    }

    pub fn delete_group(&self, name: &str) -> Result<(), Error> {
        self.group(name)?;
        let db = self.db();
        let count = |sql: &str| -> Result<i64, Error> {
            db.query_row(sql, [name], |r| r.get(0))
                .map_err(|e| fault("delete group", e))
        };
        if count("SELECT COUNT(*) FROM group_members WHERE grp = ?1")? > 0 {
            return Err(delete_conflict(
                "Cannot delete entity, must remove users from group first.",
            ));
        }
        if count("SELECT COUNT(*) FROM inline_policies WHERE owner_kind = 'group' AND owner = ?1")?
            > 0
        {
            return Err(delete_conflict(
                "Cannot delete entity, must delete policies first.",
            ));
        }
        if count("SELECT COUNT(*) FROM attachments WHERE owner_kind = 'group' AND owner = ?1")? > 0
        {
            return Err(delete_conflict(
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        db.execute("DELETE FROM groups WHERE name = ?1", [name])
            .map_err(|e| fault("delete group", e))?;
        Ok(())
    }

    pub fn add_user_to_group(&self, group: &str, user: &str) -> Result<(), Error> {
        let g = self.group(group)?;
        let u = self.user(user)?;
        self.db()
            .execute(
                "INSERT OR IGNORE INTO group_members (grp, user) VALUES (?1, ?2)",
                params![g.name, u.name],
            )
            .map_err(|e| fault("add to group", e))?;
        self.invalidate();
        Ok(())
    }

    pub fn remove_user_from_group(&self, group: &str, user: &str) -> Result<(), Error> {
        self.group(group)?;
        self.user(user)?;
        self.db()
            .execute(
                "DELETE FROM group_members WHERE grp = ?1 AND user = ?2",
                params![group, user],
            )
            .map_err(|e| fault("remove from group", e))?;
        self.invalidate();
        Ok(())
    }

    /// The members of a group, by name.
    pub fn group_users(&self, group: &str) -> Result<Vec<User>, Error> {
        let names: Vec<String> = {
            let db = self.db();
            let mut st = db
                .prepare("SELECT user FROM group_members WHERE grp = ?1 ORDER BY user")
                .map_err(|e| fault("group users", e))?;
            let rows = st
                .query_map([group], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                .map_err(|e| fault("group users", e))?;
            rows
        };
        names.iter().map(|n| self.user(n)).collect()
    }

    /// The groups a user belongs to.
    pub fn groups_for_user(&self, user: &str) -> Result<Vec<Group>, Error> {
        let names: Vec<String> = {
            let db = self.db();
            let mut st = db
                .prepare("SELECT grp FROM group_members WHERE user = ?1 ORDER BY grp")
                .map_err(|e| fault("user groups", e))?;
            let rows = st
                .query_map([user], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                .map_err(|e| fault("user groups", e))?;
            rows
        };
        names.iter().map(|n| self.group(n)).collect()
    }
}
