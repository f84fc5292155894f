//! The stacks store (`stacks.db`, or the `stacks` schema on PostgreSQL): stacks, their
//! resources and events, change sets and exports. Each record is a JSON document beside the
//! columns that are looked up or kept unique, so the model can grow without a migration per
//! field. One transaction per write, so a stack's state survives `kill -9`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use stratus_db::{args, Location, Migrations, Options, Schema, StoreSpec, Tx};

const SQLITE: &[&str] = &[r#"
CREATE TABLE stacks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    active INTEGER NOT NULL,
    doc TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX stacks_by_name ON stacks(name, active);
CREATE TABLE resources (
    stack_id TEXT NOT NULL,
    logical_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (stack_id, logical_id)
);
CREATE TABLE events (
    stack_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (stack_id, seq)
);
CREATE TABLE exports (
    name TEXT PRIMARY KEY,
    stack_id TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE change_sets (
    id TEXT PRIMARY KEY,
    stack_id TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL
);
"#];

const POSTGRES: &[&str] = &[r#"
CREATE TABLE stacks (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    active BIGINT NOT NULL,
    doc TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX stacks_by_name ON stacks (name, active);
CREATE TABLE resources (
    stack_id TEXT COLLATE "C" NOT NULL,
    logical_id TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (stack_id, logical_id)
);
CREATE TABLE events (
    stack_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (stack_id, seq)
);
CREATE TABLE exports (
    name TEXT COLLATE "C" PRIMARY KEY,
    stack_id TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE change_sets (
    id TEXT COLLATE "C" PRIMARY KEY,
    stack_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL
);
"#];

pub const SPEC: StoreSpec<'static> = StoreSpec {
    name: "stacks",
    file: "stacks.db",
    options: Options {
        foreign_keys: false,
    },
    migrations: Migrations {
        sqlite: Schema::Versioned(SQLITE),
        postgres: POSTGRES,
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Output {
    pub key: String,
    pub value: String,
    pub description: Option<String>,
    pub export_name: Option<String>,
}

/// What an update replaced, kept so a failed update can be rolled back to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Previous {
    pub template: String,
    pub parameters: BTreeMap<String, String>,
    pub outputs: Vec<Output>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Stack {
    pub id: String,
    pub name: String,
    pub region: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// The template body as given (TemplateBody, or the object TemplateURL named).
    pub template: String,
    pub description: Option<String>,
    pub parameters: BTreeMap<String, String>,
    /// Parameters declared NoEcho, masked when described.
    pub no_echo: Vec<String>,
    pub outputs: Vec<Output>,
    pub tags: BTreeMap<String, String>,
    pub capabilities: Vec<String>,
    pub notification_arns: Vec<String>,
    pub disable_rollback: bool,
    /// Export names the template imports (ListImports, and the check before an export goes).
    pub imports: Vec<String>,
    /// The access key whose credentials the resources are made with.
    pub owner: String,
    pub created_ms: i64,
    pub updated_ms: Option<i64>,
    pub deleted_ms: Option<i64>,
    pub previous: Option<Previous>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Resource {
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub kind: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// The properties as applied (intrinsics evaluated).
    pub properties: Value,
    /// The values Fn::GetAtt reads, and the value of Ref when the type's Ref is not its
    /// physical id (`"Ref"`).
    pub attributes: BTreeMap<String, Value>,
    pub updated_ms: i64,
    /// Copies an update replaced, deleted at its cleanup (or restored by its rollback).
    pub replaced: Vec<Replaced>,
    /// The resource as it was before the update in progress (for rollback).
    pub before: Option<Box<Resource>>,
    /// Made by the update in progress (its rollback deletes it).
    pub created_by_update: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Replaced {
    pub physical_id: String,
    pub properties: Value,
    pub attributes: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Event {
    pub event_id: String,
    pub stack_id: String,
    pub stack_name: String,
    pub logical_id: String,
    pub physical_id: String,
    pub kind: String,
    pub status: String,
    pub reason: Option<String>,
    pub properties: Option<String>,
    pub timestamp_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChangeSet {
    pub id: String,
    pub name: String,
    pub stack_id: String,
    pub stack_name: String,
    /// CREATE or UPDATE.
    pub kind: String,
    pub status: String,
    pub execution_status: String,
    pub status_reason: Option<String>,
    pub description: Option<String>,
    pub template: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub capabilities: Vec<String>,
    /// The changes it would make: (action, logical id, type, replacement, physical id).
    pub changes: Vec<Change>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Change {
    pub action: String,
    pub logical_id: String,
    pub kind: String,
    pub physical_id: Option<String>,
    pub replacement: Option<String>,
}

pub struct Stacks {
    db: stratus_db::Db,
}

fn fault(what: &str, e: stratus_db::Error) -> Error {
    tracing::error!(error = %e, "stacks store: {what}");
    Error::new("InternalFailure", "An internal error occurred")
}

enum Stop {
    Db(stratus_db::Error),
    Refused(Error),
}

impl From<stratus_db::Error> for Stop {
    fn from(e: stratus_db::Error) -> Self {
        Stop::Db(e)
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Refused(e)
    }
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("documents serialise")
}

fn from_json<T: for<'de> Deserialize<'de> + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

pub fn now_ms() -> i64 {
    stratus_core::clock::epoch_ms(time::OffsetDateTime::now_utc())
}

fn load_stack(
    t: &Tx<'_>,
    name_or_id: &str,
) -> std::result::Result<Option<Stack>, stratus_db::Error> {
    let doc: Option<String> = if name_or_id.starts_with("arn:") {
        t.query_opt(
            "SELECT doc FROM stacks WHERE id = ?1",
            args![name_or_id],
            |r| r.get(0),
        )?
    } else {
        t.query_opt(
            "SELECT doc FROM stacks WHERE name = ?1 AND active = 1",
            args![name_or_id],
            |r| r.get(0),
        )?
    };
    Ok(doc.map(|d| from_json(&d)))
}

impl Stacks {
    pub fn open(location: &Location) -> std::result::Result<Stacks, stratus_db::Error> {
        Ok(Stacks {
            db: stratus_db::Db::open(location, &SPEC)?,
        })
    }

    fn tx<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&Tx<'_>) -> std::result::Result<T, Stop>,
    ) -> Result<T> {
        self.db.tx(|t| f(t)).map_err(|stop| match stop {
            Stop::Db(e) => fault(what, e),
            Stop::Refused(e) => e,
        })
    }

    /// Adds a new stack; a live stack of the same name is refused.
    pub fn create(&self, stack: &Stack) -> Result<()> {
        self.tx("create stack", |t| {
            if load_stack(t, &stack.name)?.is_some() {
                return Err(Error::new(
                    "AlreadyExistsException",
                    format!("Stack [{}] already exists", stack.name),
                )
                .into());
            }
            t.execute(
                "INSERT INTO stacks (id, name, active, doc, created_ms) VALUES (?1, ?2, 1, ?3, ?4)",
                args![stack.id, stack.name, to_json(stack), stack.created_ms],
            )?;
            Ok(())
        })
    }

    /// A stack by id (deleted ones too) or by name (live ones only).
    pub fn get(&self, name_or_id: &str) -> Result<Option<Stack>> {
        self.tx("read stack", |t| Ok(load_stack(t, name_or_id)?))
    }

    /// Writes a stack's document; a deleted stack stops holding its name.
    pub fn put(&self, stack: &Stack) -> Result<()> {
        let active = i64::from(stack.status != "DELETE_COMPLETE");
        self.tx("write stack", |t| {
            t.execute(
                "UPDATE stacks SET doc = ?2, active = ?3 WHERE id = ?1",
                args![stack.id, to_json(stack), active],
            )?;
            Ok(())
        })
    }

    /// Every stack, deleted ones included, newest first.
    pub fn list(&self) -> Result<Vec<Stack>> {
        self.tx("list stacks", |t| {
            let docs: Vec<String> = t.query_map(
                "SELECT doc FROM stacks ORDER BY created_ms DESC, id",
                args![],
                |r| r.get(0),
            )?;
            Ok(docs.iter().map(|d| from_json(d)).collect())
        })
    }

    pub fn resources(&self, stack_id: &str) -> Result<Vec<Resource>> {
        self.tx("read resources", |t| {
            let docs: Vec<String> = t.query_map(
                "SELECT doc FROM resources WHERE stack_id = ?1 ORDER BY logical_id",
                args![stack_id],
                |r| r.get(0),
            )?;
            Ok(docs.iter().map(|d| from_json(d)).collect())
        })
    }

    pub fn put_resource(&self, stack_id: &str, resource: &Resource) -> Result<()> {
        self.tx("write resource", |t| {
            t.execute(
                "DELETE FROM resources WHERE stack_id = ?1 AND logical_id = ?2",
                args![stack_id, resource.logical_id],
            )?;
            t.execute(
                "INSERT INTO resources (stack_id, logical_id, doc) VALUES (?1, ?2, ?3)",
                args![stack_id, resource.logical_id, to_json(resource)],
            )?;
            Ok(())
        })
    }

    pub fn remove_resource(&self, stack_id: &str, logical_id: &str) -> Result<()> {
        self.tx("remove resource", |t| {
            t.execute(
                "DELETE FROM resources WHERE stack_id = ?1 AND logical_id = ?2",
                args![stack_id, logical_id],
            )?;
            Ok(())
        })
    }

    pub fn add_event(&self, event: &Event) -> Result<()> {
        self.tx("add event", |t| {
            let seq: Option<i64> = t
                .query_opt(
                    "SELECT MAX(seq) FROM events WHERE stack_id = ?1",
                    args![event.stack_id],
                    |r| r.get::<Option<i64>>(0),
                )?
                .flatten();
            t.execute(
                "INSERT INTO events (stack_id, seq, doc) VALUES (?1, ?2, ?3)",
                args![event.stack_id, seq.unwrap_or(0) + 1, to_json(event)],
            )?;
            Ok(())
        })
    }

    /// A stack's events, newest first (as DescribeStackEvents lists them).
    pub fn events(&self, stack_id: &str) -> Result<Vec<Event>> {
        self.tx("read events", |t| {
            let docs: Vec<String> = t.query_map(
                "SELECT doc FROM events WHERE stack_id = ?1 ORDER BY seq DESC",
                args![stack_id],
                |r| r.get(0),
            )?;
            Ok(docs.iter().map(|d| from_json(d)).collect())
        })
    }

    /// Replaces a stack's exports with `exports`. A name another stack exports is refused, and
    /// so is dropping or changing an export a live stack imports.
    pub fn set_exports(&self, stack: &Stack, exports: &[(String, String)]) -> Result<()> {
        let live = self.list()?;
        self.tx("write exports", |t| {
            for (name, value) in exports {
                let owner: Option<(String, String)> = t.query_opt(
                    "SELECT stack_id, value FROM exports WHERE name = ?1",
                    args![name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if let Some((owner, old)) = owner {
                    if owner != stack.id {
                        return Err(Error::validation(format!(
                            "Export with name {name} is already exported by stack {}",
                            stack_name_of(&live, &owner)
                        ))
                        .into());
                    }
                    if &old != value {
                        if let Some(user) = importer(&live, name, &stack.id) {
                            return Err(Error::validation(format!(
                                "Export {name} cannot be updated as it is in use by {user}"
                            ))
                            .into());
                        }
                    }
                }
            }
            let mine: Vec<String> = t.query_map(
                "SELECT name FROM exports WHERE stack_id = ?1",
                args![stack.id],
                |r| r.get(0),
            )?;
            for name in mine
                .iter()
                .filter(|n| !exports.iter().any(|(e, _)| e == *n))
            {
                if let Some(user) = importer(&live, name, &stack.id) {
                    return Err(Error::validation(format!(
                        "Export {name} cannot be deleted as it is in use by {user}"
                    ))
                    .into());
                }
            }
            t.execute("DELETE FROM exports WHERE stack_id = ?1", args![stack.id])?;
            for (name, value) in exports {
                t.execute(
                    "INSERT INTO exports (name, stack_id, value) VALUES (?1, ?2, ?3)",
                    args![name, stack.id, value],
                )?;
            }
            Ok(())
        })
    }

    /// Every export: (name, exporting stack id, value).
    pub fn exports(&self) -> Result<Vec<(String, String, String)>> {
        self.tx("list exports", |t| {
            Ok(t.query_map(
                "SELECT name, stack_id, value FROM exports ORDER BY name",
                args![],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
    }

    pub fn export(&self, name: &str) -> Result<Option<String>> {
        self.tx("read export", |t| {
            Ok(t.query_opt(
                "SELECT value FROM exports WHERE name = ?1",
                args![name],
                |r| r.get(0),
            )?)
        })
    }

    pub fn put_change_set(&self, cs: &ChangeSet) -> Result<()> {
        self.tx("write change set", |t| {
            t.execute("DELETE FROM change_sets WHERE id = ?1", args![cs.id])?;
            t.execute(
                "INSERT INTO change_sets (id, stack_id, name, doc) VALUES (?1, ?2, ?3, ?4)",
                args![cs.id, cs.stack_id, cs.name, to_json(cs)],
            )?;
            Ok(())
        })
    }

    /// A change set by ARN, or by name within a stack.
    pub fn change_set(
        &self,
        name_or_id: &str,
        stack_id: Option<&str>,
    ) -> Result<Option<ChangeSet>> {
        self.tx("read change set", |t| {
            let doc: Option<String> = match stack_id {
                _ if name_or_id.starts_with("arn:") => t.query_opt(
                    "SELECT doc FROM change_sets WHERE id = ?1",
                    args![name_or_id],
                    |r| r.get(0),
                )?,
                Some(s) => t.query_opt(
                    "SELECT doc FROM change_sets WHERE stack_id = ?1 AND name = ?2",
                    args![s, name_or_id],
                    |r| r.get(0),
                )?,
                None => None,
            };
            Ok(doc.map(|d| from_json(&d)))
        })
    }

    pub fn change_sets(&self, stack_id: &str) -> Result<Vec<ChangeSet>> {
        self.tx("list change sets", |t| {
            let docs: Vec<String> = t.query_map(
                "SELECT doc FROM change_sets WHERE stack_id = ?1 ORDER BY name",
                args![stack_id],
                |r| r.get(0),
            )?;
            Ok(docs.iter().map(|d| from_json(d)).collect())
        })
    }

    pub fn delete_change_set(&self, id: &str) -> Result<()> {
        self.tx("delete change set", |t| {
            t.execute("DELETE FROM change_sets WHERE id = ?1", args![id])?;
            Ok(())
        })
    }

    pub fn delete_change_sets(&self, stack_id: &str) -> Result<()> {
        self.tx("delete change sets", |t| {
            t.execute(
                "DELETE FROM change_sets WHERE stack_id = ?1",
                args![stack_id],
            )?;
            Ok(())
        })
    }
}

fn stack_name_of(stacks: &[Stack], id: &str) -> String {
    stacks
        .iter()
        .find(|s| s.id == id)
        .map_or_else(|| id.to_string(), |s| s.name.clone())
}

/// A live stack other than `except` that imports `name`.
pub fn importer(stacks: &[Stack], name: &str, except: &str) -> Option<String> {
    stacks
        .iter()
        .filter(|s| s.id != except && s.status != "DELETE_COMPLETE")
        .find(|s| s.imports.iter().any(|i| i == name))
        .map(|s| s.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores(tag: &str) -> Vec<(Stacks, stratus_db::testing::Backend)> {
        stratus_db::testing::backends(&format!("stacks_{tag}"))
            .into_iter()
            .map(|b| (Stacks::open(&b.location).unwrap(), b))
            .collect()
    }

    fn stack(name: &str, id: &str) -> Stack {
        Stack {
            id: id.into(),
            name: name.into(),
            status: "CREATE_IN_PROGRESS".into(),
            created_ms: now_ms(),
            ..Default::default()
        }
    }

    #[test]
    fn names_are_unique_among_live_stacks() {
        for (s, _b) in stores("names") {
            s.create(&stack("app", "arn:a")).unwrap();
            assert_eq!(
                s.create(&stack("app", "arn:b")).unwrap_err().message,
                "Stack [app] already exists"
            );
            let mut a = s.get("app").unwrap().unwrap();
            a.status = "DELETE_COMPLETE".into();
            s.put(&a).unwrap();
            assert!(s.get("app").unwrap().is_none());
            assert!(s.get("arn:a").unwrap().is_some());
            s.create(&stack("app", "arn:b")).unwrap();
            assert_eq!(s.list().unwrap().len(), 2);
        }
    }

    #[test]
    fn resources_events_and_change_sets() {
        for (s, _b) in stores("records") {
            let r = Resource {
                logical_id: "B".into(),
                kind: "AWS::S3::Bucket".into(),
                ..Default::default()
            };
            s.put_resource("arn:a", &r).unwrap();
            s.put_resource("arn:a", &r).unwrap();
            assert_eq!(s.resources("arn:a").unwrap(), vec![r]);
            s.remove_resource("arn:a", "B").unwrap();
            assert!(s.resources("arn:a").unwrap().is_empty());
            for i in 0..3 {
                s.add_event(&Event {
                    stack_id: "arn:a".into(),
                    event_id: i.to_string(),
                    ..Default::default()
                })
                .unwrap();
            }
            let ids: Vec<String> = s
                .events("arn:a")
                .unwrap()
                .into_iter()
                .map(|e| e.event_id)
                .collect();
            assert_eq!(ids, vec!["2", "1", "0"]);
            let cs = ChangeSet {
                id: "arn:cs".into(),
                name: "c".into(),
                stack_id: "arn:a".into(),
                ..Default::default()
            };
            s.put_change_set(&cs).unwrap();
            assert_eq!(s.change_set("c", Some("arn:a")).unwrap(), Some(cs.clone()));
            assert_eq!(s.change_set("arn:cs", None).unwrap(), Some(cs));
            s.delete_change_set("arn:cs").unwrap();
            assert!(s.change_sets("arn:a").unwrap().is_empty());
        }
    }

    #[test]
    fn exports_are_owned_and_imports_pin_them() {
        for (s, _b) in stores("exports") {
            let a = stack("a", "arn:a");
            let mut b = stack("b", "arn:b");
            s.create(&a).unwrap();
            s.set_exports(&a, &[("Shared".into(), "v1".into())])
                .unwrap();
            assert_eq!(s.export("Shared").unwrap().as_deref(), Some("v1"));
            let e = s
                .set_exports(&b, &[("Shared".into(), "x".into())])
                .unwrap_err();
            assert_eq!(
                e.message,
                "Export with name Shared is already exported by stack a"
            );
            b.imports = vec!["Shared".into()];
            s.create(&b).unwrap();
            let e = s.set_exports(&a, &[]).unwrap_err();
            assert_eq!(
                e.message,
                "Export Shared cannot be deleted as it is in use by b"
            );
            let e = s
                .set_exports(&a, &[("Shared".into(), "v2".into())])
                .unwrap_err();
            assert_eq!(
                e.message,
                "Export Shared cannot be updated as it is in use by b"
            );
        }
    }
}
