//! The CodeDeploy store: `deploy.db` on SQLite, the `deploy` schema on PostgreSQL. Each
//! application, deployment group, custom configuration and deployment is its AWS-shaped
//! document; a deployment also carries a revision (so the worker and the API change it by
//! compare-and-set) and the time it was last driven (claimed by a conditional UPDATE, so in
//! a cluster one node drives it per tick).

use serde_json::Value;
use stratus_db::{args, Location, Migrations, Schema, StoreSpec};

const TABLES: &str = "
CREATE TABLE applications (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE deployment_groups (
    app TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app, name)
);
CREATE TABLE configs (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    grp TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    rev BIGINT NOT NULL,
    driven_ms BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX deployments_group ON deployments(app, grp, created_ms);
CREATE INDEX deployments_status ON deployments(status);
";

const MIGRATIONS: &[&str] = &[TABLES];
const PG_MIGRATIONS: &[&str] = &[TABLES];

pub type Result<T> = std::result::Result<T, stratus_db::Error>;

/// A deployment as stored: its document, revision and the time it was last driven.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub doc: Value,
    pub rev: i64,
    pub driven_ms: i64,
}

/// The statuses of a deployment that is not over.
pub const ACTIVE: &[&str] = &["Created", "Queued", "InProgress", "Baking", "Ready"];

pub struct DeployDb {
    db: stratus_db::Db,
}

fn parse(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

impl DeployDb {
    pub fn spec() -> StoreSpec<'static> {
        StoreSpec {
            name: "deploy",
            file: "deploy.db",
            options: stratus_db::Options::default(),
            migrations: Migrations {
                sqlite: Schema::Versioned(MIGRATIONS),
                postgres: PG_MIGRATIONS,
            },
        }
    }

    pub fn open(location: &Location) -> Result<DeployDb> {
        Ok(DeployDb {
            db: stratus_db::Db::open(location, &Self::spec())?,
        })
    }

    /// Creates an application; `false` when the name is taken.
    pub fn create_application(&self, name: &str, doc: &Value) -> Result<bool> {
        self.db.tx(|t| {
            let n = t.execute(
                "INSERT INTO applications (name, doc) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![name, doc.to_string()],
            )?;
            Ok(n == 1)
        })
    }

    pub fn application(&self, name: &str) -> Result<Option<Value>> {
        self.db.tx(|t| {
            t.query_opt(
                "SELECT doc FROM applications WHERE name = ?1",
                args![name],
                |r| Ok(parse(r.get(0)?)),
            )
        })
    }

    pub fn applications(&self) -> Result<Vec<String>> {
        self.db.tx(|t| {
            t.query_map(
                "SELECT name FROM applications ORDER BY name",
                args![],
                |r| r.get(0),
            )
        })
    }

    /// Deletes an application with its groups and deployments.
    pub fn delete_application(&self, name: &str) -> Result<()> {
        self.db.tx(|t| {
            t.execute("DELETE FROM applications WHERE name = ?1", args![name])?;
            t.execute("DELETE FROM deployment_groups WHERE app = ?1", args![name])?;
            t.execute("DELETE FROM deployments WHERE app = ?1", args![name])?;
            Ok(())
        })
    }

    /// Creates a group; `false` when the application already has one of that name.
    pub fn create_group(&self, app: &str, name: &str, doc: &Value) -> Result<bool> {
        self.db.tx(|t| {
            let n = t.execute(
                "INSERT INTO deployment_groups (app, name, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                args![app, name, doc.to_string()],
            )?;
            Ok(n == 1)
        })
    }

    pub fn group(&self, app: &str, name: &str) -> Result<Option<Value>> {
        self.db.tx(|t| {
            t.query_opt(
                "SELECT doc FROM deployment_groups WHERE app = ?1 AND name = ?2",
                args![app, name],
                |r| Ok(parse(r.get(0)?)),
            )
        })
    }

    pub fn groups(&self, app: &str) -> Result<Vec<String>> {
        self.db.tx(|t| {
            t.query_map(
                "SELECT name FROM deployment_groups WHERE app = ?1 ORDER BY name",
                args![app],
                |r| r.get(0),
            )
        })
    }

    /// Replaces a group under a possibly new name; `false` when the new name is taken.
    pub fn replace_group(&self, app: &str, old: &str, new: &str, doc: &Value) -> Result<bool> {
        self.db.tx(|t| {
            if old != new {
                let taken = t.query_opt(
                    "SELECT 1 FROM deployment_groups WHERE app = ?1 AND name = ?2",
                    args![app, new],
                    |r| r.get::<i64>(0),
                )?;
                if taken.is_some() {
                    return Ok(false);
                }
                t.execute(
                    "DELETE FROM deployment_groups WHERE app = ?1 AND name = ?2",
                    args![app, old],
                )?;
            }
            t.execute(
                "INSERT INTO deployment_groups (app, name, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (app, name) DO UPDATE SET doc = excluded.doc",
                args![app, new, doc.to_string()],
            )?;
            Ok(true)
        })
    }

    pub fn delete_group(&self, app: &str, name: &str) -> Result<()> {
        self.db.tx(|t| {
            t.execute(
                "DELETE FROM deployment_groups WHERE app = ?1 AND name = ?2",
                args![app, name],
            )?;
            Ok(())
        })
    }

    /// Creates a custom configuration; `false` when the name is taken.
    pub fn create_config(&self, name: &str, doc: &Value) -> Result<bool> {
        self.db.tx(|t| {
            let n = t.execute(
                "INSERT INTO configs (name, doc) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![name, doc.to_string()],
            )?;
            Ok(n == 1)
        })
    }

    pub fn config(&self, name: &str) -> Result<Option<Value>> {
        self.db.tx(|t| {
            t.query_opt(
                "SELECT doc FROM configs WHERE name = ?1",
                args![name],
                |r| Ok(parse(r.get(0)?)),
            )
        })
    }

    pub fn configs(&self) -> Result<Vec<String>> {
        self.db.tx(|t| {
            t.query_map("SELECT name FROM configs ORDER BY name", args![], |r| {
                r.get(0)
            })
        })
    }

    pub fn delete_config(&self, name: &str) -> Result<()> {
        self.db.tx(|t| {
            t.execute("DELETE FROM configs WHERE name = ?1", args![name])?;
            Ok(())
        })
    }

    /// Whether a deployment group (any, when `group` is `None`) uses configuration `name`.
    pub fn config_in_use(&self, name: &str) -> Result<bool> {
        let groups: Vec<String> = self
            .db
            .tx(|t| t.query_map("SELECT doc FROM deployment_groups", args![], |r| r.get(0)))?;
        Ok(groups
            .into_iter()
            .any(|g| parse(g)["deploymentConfigName"].as_str() == Some(name)))
    }

    /// Creates a deployment unless the group has an active one, whose id is then returned.
    pub fn create_deployment(
        &self,
        id: &str,
        app: &str,
        group: &str,
        created_ms: i64,
        doc: &Value,
    ) -> Result<Option<String>> {
        self.db.tx(|t| {
            let active = t.query_opt(
                "SELECT id FROM deployments WHERE app = ?1 AND grp = ?2
                 AND status NOT IN ('Succeeded', 'Failed', 'Stopped')",
                args![app, group],
                |r| r.get::<String>(0),
            )?;
            if active.is_some() {
                return Ok(active);
            }
            t.execute(
                "INSERT INTO deployments (id, app, grp, status, created_ms, rev, driven_ms, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6)",
                args![
                    id,
                    app,
                    group,
                    doc["status"].as_str().unwrap_or("Created"),
                    created_ms,
                    doc.to_string()
                ],
            )?;
            Ok(None)
        })
    }

    pub fn deployment(&self, id: &str) -> Result<Option<Stored>> {
        self.db.tx(|t| {
            t.query_opt(
                "SELECT doc, rev, driven_ms FROM deployments WHERE id = ?1",
                args![id],
                |r| {
                    Ok(Stored {
                        doc: parse(r.get(0)?),
                        rev: r.get(1)?,
                        driven_ms: r.get(2)?,
                    })
                },
            )
        })
    }

    /// Deployment ids, newest first, of one application and group (or all), with a status
    /// among `statuses` (any, when empty).
    pub fn deployments(
        &self,
        app: Option<&str>,
        group: Option<&str>,
        statuses: &[String],
    ) -> Result<Vec<String>> {
        let rows: Vec<(String, String)> = self.db.tx(|t| {
            t.query_map(
                "SELECT id, status FROM deployments WHERE (?1 = '' OR app = ?1)
                 AND (?2 = '' OR grp = ?2) ORDER BY created_ms DESC, id",
                args![app.unwrap_or(""), group.unwrap_or("")],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })?;
        Ok(rows
            .into_iter()
            .filter(|(_, s)| statuses.is_empty() || statuses.contains(s))
            .map(|(id, _)| id)
            .collect())
    }

    /// The deployments not over, with what the worker needs.
    pub fn active(&self) -> Result<Vec<(String, Stored)>> {
        self.db.tx(|t| {
            t.query_map(
                "SELECT id, doc, rev, driven_ms FROM deployments
                 WHERE status NOT IN ('Succeeded', 'Failed', 'Stopped') ORDER BY created_ms",
                args![],
                |r| {
                    Ok((
                        r.get(0)?,
                        Stored {
                            doc: parse(r.get(1)?),
                            rev: r.get(2)?,
                            driven_ms: r.get(3)?,
                        },
                    ))
                },
            )
        })
    }

    /// Replaces a deployment's document if its revision is still `rev`; `false` otherwise.
    pub fn update_deployment(&self, id: &str, rev: i64, doc: &Value) -> Result<bool> {
        self.db.tx(|t| {
            let n = t.execute(
                "UPDATE deployments SET doc = ?3, status = ?4, rev = rev + 1
                 WHERE id = ?1 AND rev = ?2",
                args![
                    id,
                    rev,
                    doc.to_string(),
                    doc["status"].as_str().unwrap_or("Created")
                ],
            )?;
            Ok(n == 1)
        })
    }

    /// Claims the driving of a deployment at `now_ms`: `true` for the one caller (of any
    /// node) that moved its driven time from the `seen_ms` it read.
    pub fn claim(&self, id: &str, seen_ms: i64, now_ms: i64) -> Result<bool> {
        self.db.tx(|t| {
            let n = t.execute(
                "UPDATE deployments SET driven_ms = ?3 WHERE id = ?1 AND driven_ms = ?2",
                args![id, seen_ms, now_ms],
            )?;
            Ok(n == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applications_groups_and_configs() {
        for b in stratus_db::testing::backends("deploy_docs") {
            let db = DeployDb::open(&b.location).unwrap();
            assert!(db
                .create_application("a", &json!({"applicationName": "a"}))
                .unwrap());
            assert!(!db.create_application("a", &json!({})).unwrap());
            assert!(db
                .create_group("a", "g", &json!({"deploymentConfigName": "c"}))
                .unwrap());
            assert!(db.config_in_use("c").unwrap());
            assert!(db.replace_group("a", "g", "h", &json!({})).unwrap());
            assert_eq!(db.groups("a").unwrap(), vec!["h".to_string()]);
            assert!(db.create_config("c", &json!({})).unwrap());
            assert_eq!(db.configs().unwrap(), vec!["c".to_string()]);
            db.delete_application("a").unwrap();
            assert!(db.group("a", "h").unwrap().is_none());
        }
    }

    #[test]
    fn one_active_deployment_per_group_changed_by_revision() {
        for b in stratus_db::testing::backends("deploy_runs") {
            let db = DeployDb::open(&b.location).unwrap();
            let doc = json!({"status": "Created"});
            assert_eq!(
                db.create_deployment("d-1", "a", "g", 1, &doc).unwrap(),
                None
            );
            let again = db.create_deployment("d-2", "a", "g", 2, &doc).unwrap();
            assert_eq!(again.as_deref(), Some("d-1"));
            assert!(db.claim("d-1", 0, 10).unwrap());
            assert!(!db.claim("d-1", 0, 10).unwrap(), "a second node loses");
            let done = json!({"status": "Succeeded"});
            assert!(db.update_deployment("d-1", 0, &done).unwrap());
            assert!(
                !db.update_deployment("d-1", 0, &doc).unwrap(),
                "a stale revision"
            );
            assert!(db.active().unwrap().is_empty());
            let s = vec!["Succeeded".to_string()];
            assert_eq!(db.deployments(Some("a"), None, &s).unwrap(), vec!["d-1"]);
            assert!(db
                .create_deployment("d-3", "a", "g", 3, &doc)
                .unwrap()
                .is_none());
        }
    }
}
