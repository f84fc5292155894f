//! The durable store: event buses, rules (with the next fire time of a scheduled rule),
//! targets, and the Scheduler's schedules and groups, in `events.db` (WAL mode) or the
//! `events` schema on PostgreSQL; one transaction per operation.
//!
//! Rules, targets and schedules are kept as JSON documents in AWS's own member names, so what
//! PutRule or CreateSchedule stored is what Describe answers. The columns beside them are what
//! queries select on: names for listing, target ARNs for ListRuleNamesByTarget, and the next
//! fire time a scheduler claims with a conditional UPDATE (one node wins each occurrence).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stratus_core::{Error, Kind};
use stratus_db::{args, Location, Migrations, Options, Schema, StoreSpec, Tx};

pub type Tags = BTreeMap<String, String>;

/// A JSON document in AWS's member names (a schedule, a group).
pub type Document = Map<String, Value>;

/// The bus every account has, which cannot be deleted.
pub const DEFAULT_BUS: &str = "default";
/// Most targets on one rule (AWS's quota).
pub const MAX_TARGETS: usize = 5;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS buses (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rules (
    bus TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    next_fire_ms INTEGER,
    PRIMARY KEY (bus, name)
);
CREATE INDEX IF NOT EXISTS rules_due ON rules(next_fire_ms);
CREATE TABLE IF NOT EXISTS targets (
    bus TEXT NOT NULL,
    rule TEXT NOT NULL,
    id TEXT NOT NULL,
    arn TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (bus, rule, id)
);
CREATE INDEX IF NOT EXISTS targets_by_arn ON targets(arn);
CREATE TABLE IF NOT EXISTS schedule_groups (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    next_fire_ms INTEGER,
    PRIMARY KEY (grp, name)
);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules(next_fire_ms);
"#;

/// PostgreSQL's schema: names are `COLLATE "C"` so listings page in byte order, as on SQLite.
const POSTGRES: &[&str] = &[r#"
CREATE TABLE buses (
    name TEXT COLLATE "C" PRIMARY KEY,
    doc TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE rules (
    bus TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL,
    next_fire_ms BIGINT,
    PRIMARY KEY (bus, name)
);
CREATE INDEX rules_due ON rules (next_fire_ms);
CREATE TABLE targets (
    bus TEXT COLLATE "C" NOT NULL,
    rule TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    arn TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (bus, rule, id)
);
CREATE INDEX targets_by_arn ON targets (arn);
CREATE TABLE schedule_groups (
    name TEXT COLLATE "C" PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE schedules (
    grp TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL,
    next_fire_ms BIGINT,
    PRIMARY KEY (grp, name)
);
CREATE INDEX schedules_due ON schedules (next_fire_ms);
"#];

/// The store on either backend.
pub const SPEC: StoreSpec<'static> = StoreSpec {
    name: "events",
    file: "events.db",
    options: Options {
        foreign_keys: false,
    },
    migrations: Migrations {
        sqlite: Schema::Idempotent(SCHEMA),
        postgres: POSTGRES,
    },
};

/// A rule as PutRule stored it (AWS's member names), plus what Describe adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    pub name: String,
    pub arn: String,
    pub event_bus_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When the rule was first created (epoch ms): a rate schedule counts from here.
    #[serde(default, skip_serializing)]
    pub created_ms: i64,
    #[serde(default, skip_serializing)]
    pub tags: Tags,
}

/// The part of a rule kept but not answered.
#[derive(Serialize, Deserialize)]
struct StoredRule {
    #[serde(flatten)]
    rule: Rule,
    #[serde(rename = "_created_ms", default)]
    created_ms: i64,
    #[serde(rename = "_tags", default)]
    tags: Tags,
}

/// A target: the members the platform acts on, and any others as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub id: String,
    pub arn: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Bus {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub created_ms: i64,
    pub tags: Tags,
}

/// A Scheduler schedule, as its JSON document (AWS's member names) with its group and name.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub group: String,
    pub name: String,
    pub doc: Map<String, Value>,
    pub next_fire_ms: Option<i64>,
}

pub struct Events {
    db: stratus_db::Db,
}

fn fault(what: &str, e: stratus_db::Error) -> Error {
    tracing::error!(error = %e, unavailable = e.is_unavailable(), "events store: {what}");
    Error::new("InternalException", Kind::Internal, "Internal error")
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

pub fn now_ms() -> i64 {
    stratus_core::clock::epoch_ms(time::OffsetDateTime::now_utc())
}

/// `ResourceNotFoundException` with AWS's message.
pub fn not_found(message: impl Into<String>) -> Error {
    Error::new("ResourceNotFoundException", Kind::NotFound, message)
}

pub fn bus_not_found(bus: &str) -> Error {
    not_found(format!("Event bus {bus} does not exist."))
}

pub fn rule_not_found(rule: &str, bus: &str) -> Error {
    not_found(format!("Rule {rule} does not exist on EventBus {bus}."))
}

pub fn validation(message: impl Into<String>) -> Error {
    Error::new("ValidationException", Kind::InvalidInput, message)
}

/// A bus's ARN.
pub fn bus_arn(region: &str, name: &str) -> String {
    format!(
        "arn:aws:events:{region}:{}:event-bus/{name}",
        stratus_core::ACCOUNT_ID
    )
}

/// A rule's ARN: `rule/<name>` on the default bus, `rule/<bus>/<name>` on a custom one.
pub fn rule_arn(region: &str, bus: &str, name: &str) -> String {
    let path = if bus == DEFAULT_BUS {
        name.to_string()
    } else {
        format!("{bus}/{name}")
    };
    format!(
        "arn:aws:events:{region}:{}:rule/{path}",
        stratus_core::ACCOUNT_ID
    )
}

fn read_rule(doc: &str) -> Option<Rule> {
    let stored: StoredRule = serde_json::from_str(doc).ok()?;
    let mut rule = stored.rule;
    rule.created_ms = stored.created_ms;
    rule.tags = stored.tags;
    Some(rule)
}

fn write_rule(rule: &Rule) -> String {
    to_json(&StoredRule {
        rule: rule.clone(),
        created_ms: rule.created_ms,
        tags: rule.tags.clone(),
    })
}

fn bus_row(t: &Tx<'_>, name: &str) -> Result<Option<(String, Tags, i64)>, stratus_db::Error> {
    t.query_opt(
        "SELECT doc, tags, created_ms FROM buses WHERE name = ?1",
        args![name],
        |r| {
            let doc: String = r.get(0)?;
            let tags: String = r.get(1)?;
            Ok((
                doc,
                serde_json::from_str(&tags).unwrap_or_default(),
                r.get(2)?,
            ))
        },
    )
}

fn rule_in(t: &Tx<'_>, bus: &str, name: &str) -> Result<Option<Rule>, stratus_db::Error> {
    Ok(t.query_opt(
        "SELECT doc FROM rules WHERE bus = ?1 AND name = ?2",
        args![bus, name],
        |r| r.get::<String>(0),
    )?
    .and_then(|d| read_rule(&d)))
}

fn require_bus(t: &Tx<'_>, bus: &str) -> Result<(), Stop> {
    if bus_row(t, bus)?.is_none() {
        return Err(bus_not_found(bus).into());
    }
    Ok(())
}

impl Events {
    /// Opens (or creates) the store at `location`, with the default bus in it.
    pub fn open(location: &Location) -> Result<Events, stratus_db::Error> {
        let db = stratus_db::Db::open(location, &SPEC)?;
        db.tx(|t| {
            t.execute(
                "INSERT INTO buses (name, doc, tags, created_ms) VALUES (?1, '{}', '{}', ?2)
                 ON CONFLICT (name) DO NOTHING",
                args![DEFAULT_BUS, now_ms()],
            )?;
            t.execute(
                "INSERT INTO schedule_groups (name, doc) VALUES ('default', ?1)
                 ON CONFLICT (name) DO NOTHING",
                args![to_json(&serde_json::json!({"CreationDate": now_ms()}))],
            )
        })?;
        Ok(Events { db })
    }

    fn tx<T>(&self, what: &str, mut f: impl FnMut(&Tx<'_>) -> Result<T, Stop>) -> Result<T, Error> {
        self.db.tx(|t| f(t)).map_err(|stop| match stop {
            Stop::Db(e) => fault(what, e),
            Stop::Refused(e) => e,
        })
    }

    // ---- buses ----

    pub fn create_bus(
        &self,
        region: &str,
        name: &str,
        description: Option<&str>,
        tags: &Tags,
    ) -> Result<String, Error> {
        let doc = to_json(&serde_json::json!({"Description": description}));
        self.tx("create bus", |t| {
            if bus_row(t, name)?.is_some() {
                return Err(Error::new(
                    "ResourceAlreadyExistsException",
                    Kind::Conflict,
                    format!("Event bus {name} already exists."),
                )
                .into());
            }
            t.execute(
                "INSERT INTO buses (name, doc, tags, created_ms) VALUES (?1, ?2, ?3, ?4)",
                args![name, doc, to_json(tags), now_ms()],
            )?;
            Ok(())
        })?;
        Ok(bus_arn(region, name))
    }

    pub fn bus(&self, region: &str, name: &str) -> Result<Option<Bus>, Error> {
        self.tx("read bus", |t| {
            Ok(bus_row(t, name)?
                .map(|(doc, tags, created_ms)| make_bus(region, name, &doc, tags, created_ms)))
        })
    }

    /// Buses whose names start with `prefix`, after `after`, in name order.
    pub fn list_buses(
        &self,
        region: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Bus>, Error> {
        self.tx("list buses", |t| {
            Ok(t.query_map(
                "SELECT name, doc, tags, created_ms FROM buses
                 WHERE name > ?1 AND substr(name, 1, length(CAST(?2 AS TEXT))) = CAST(?2 AS TEXT)
                 ORDER BY name LIMIT ?3",
                args![after, prefix, limit as i64],
                |r| {
                    let name: String = r.get(0)?;
                    let doc: String = r.get(1)?;
                    let tags: String = r.get(2)?;
                    Ok(make_bus(
                        region,
                        &name,
                        &doc,
                        serde_json::from_str(&tags).unwrap_or_default(),
                        r.get(3)?,
                    ))
                },
            )?)
        })
    }

    /// Deletes a custom bus with its rules and their targets; a missing bus is no error.
    pub fn delete_bus(&self, name: &str) -> Result<(), Error> {
        if name == DEFAULT_BUS {
            return Err(validation("Cannot delete event bus default."));
        }
        self.tx("delete bus", |t| {
            t.execute("DELETE FROM targets WHERE bus = ?1", args![name])?;
            t.execute("DELETE FROM rules WHERE bus = ?1", args![name])?;
            t.execute("DELETE FROM buses WHERE name = ?1", args![name])?;
            Ok(())
        })
    }

    // ---- rules ----

    /// Creates or replaces a rule on its bus (which must exist), keeping the tags and
    /// creation time of the one it replaces; `next_fire_ms` is the first fire time of a
    /// scheduled rule. Returns the rule's ARN.
    pub fn put_rule(&self, rule: &Rule, next_fire_ms: Option<i64>) -> Result<String, Error> {
        self.tx("put rule", |t| {
            require_bus(t, &rule.event_bus_name)?;
            let mut stored = rule.clone();
            match rule_in(t, &rule.event_bus_name, &rule.name)? {
                Some(old) => {
                    stored.created_ms = old.created_ms;
                    stored.tags = old.tags;
                    stored.tags.extend(rule.tags.clone());
                }
                None => stored.created_ms = now_ms(),
            }
            t.execute(
                "INSERT INTO rules (bus, name, doc, next_fire_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (bus, name) DO UPDATE SET doc = excluded.doc, next_fire_ms = excluded.next_fire_ms",
                args![rule.event_bus_name.as_str(), rule.name.as_str(), write_rule(&stored), next_fire_ms],
            )?;
            Ok(stored.arn.clone())
        })
    }

    pub fn rule(&self, bus: &str, name: &str) -> Result<Rule, Error> {
        self.tx("read rule", |t| {
            require_bus(t, bus)?;
            Ok(rule_in(t, bus, name)?.ok_or_else(|| rule_not_found(name, bus))?)
        })
    }

    /// Rules of `bus` whose names start with `prefix`, after `after`, in name order.
    pub fn list_rules(
        &self,
        bus: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Rule>, Error> {
        self.tx("list rules", |t| {
            require_bus(t, bus)?;
            let docs: Vec<String> = t.query_map(
                "SELECT doc FROM rules WHERE bus = ?1 AND name > ?2
                 AND substr(name, 1, length(CAST(?3 AS TEXT))) = CAST(?3 AS TEXT)
                 ORDER BY name LIMIT ?4",
                args![bus, after, prefix, limit as i64],
                |r| r.get(0),
            )?;
            Ok(docs.iter().filter_map(|d| read_rule(d)).collect())
        })
    }

    /// Deletes a rule, refused while it has targets (AWS's rule); a missing rule is no error.
    pub fn delete_rule(&self, bus: &str, name: &str) -> Result<(), Error> {
        self.tx("delete rule", |t| {
            require_bus(t, bus)?;
            let targets: i64 = t
                .query_opt(
                    "SELECT COUNT(*) FROM targets WHERE bus = ?1 AND rule = ?2",
                    args![bus, name],
                    |r| r.get(0),
                )?
                .unwrap_or(0);
            if targets > 0 {
                return Err(validation("Rule can't be deleted since it has targets.").into());
            }
            t.execute(
                "DELETE FROM rules WHERE bus = ?1 AND name = ?2",
                args![bus, name],
            )?;
            Ok(())
        })
    }

    /// Sets a rule's state; a rule enabled again fires from `next_fire_ms`.
    pub fn set_state(
        &self,
        bus: &str,
        name: &str,
        state: &str,
        next_fire_ms: impl Fn(&Rule) -> Option<i64>,
    ) -> Result<(), Error> {
        self.tx("set rule state", |t| {
            require_bus(t, bus)?;
            let mut rule = rule_in(t, bus, name)?.ok_or_else(|| rule_not_found(name, bus))?;
            rule.state = state.to_string();
            t.execute(
                "UPDATE rules SET doc = ?3, next_fire_ms = ?4 WHERE bus = ?1 AND name = ?2",
                args![bus, name, write_rule(&rule), next_fire_ms(&rule)],
            )?;
            Ok(())
        })
    }

    // ---- targets ----

    /// Adds or replaces targets of a rule (which must exist), within the per-rule quota.
    pub fn put_targets(&self, bus: &str, rule: &str, targets: &[Target]) -> Result<(), Error> {
        self.tx("put targets", |t| {
            require_bus(t, bus)?;
            rule_in(t, bus, rule)?.ok_or_else(|| rule_not_found(rule, bus))?;
            let existing: Vec<String> = t.query_map(
                "SELECT id FROM targets WHERE bus = ?1 AND rule = ?2",
                args![bus, rule],
                |r| r.get(0),
            )?;
            let added = targets.iter().filter(|x| !existing.contains(&x.id)).count();
            if existing.len() + added > MAX_TARGETS {
                return Err(Error::new(
                    "LimitExceededException",
                    Kind::InvalidInput,
                    "The requested resource exceeds the maximum number allowed.",
                )
                .into());
            }
            for target in targets {
                t.execute(
                    "INSERT INTO targets (bus, rule, id, arn, doc) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (bus, rule, id) DO UPDATE SET arn = excluded.arn, doc = excluded.doc",
                    args![bus, rule, target.id.as_str(), target.arn.as_str(), to_json(target)],
                )?;
            }
            Ok(())
        })
    }

    /// Removes targets by id; returns the ids the rule did not have.
    pub fn remove_targets(
        &self,
        bus: &str,
        rule: &str,
        ids: &[String],
    ) -> Result<Vec<String>, Error> {
        self.tx("remove targets", |t| {
            require_bus(t, bus)?;
            rule_in(t, bus, rule)?.ok_or_else(|| rule_not_found(rule, bus))?;
            let mut missing = Vec::new();
            for id in ids {
                let n = t.execute(
                    "DELETE FROM targets WHERE bus = ?1 AND rule = ?2 AND id = ?3",
                    args![bus, rule, id.as_str()],
                )?;
                if n == 0 {
                    missing.push(id.clone());
                }
            }
            Ok(missing)
        })
    }

    pub fn targets(&self, bus: &str, rule: &str) -> Result<Vec<Target>, Error> {
        self.tx("list targets", |t| {
            require_bus(t, bus)?;
            rule_in(t, bus, rule)?.ok_or_else(|| rule_not_found(rule, bus))?;
            Ok(targets_of(t, bus, rule)?)
        })
    }

    /// Names of the rules of `bus` with a target of ARN `arn`.
    pub fn rule_names_by_target(&self, bus: &str, arn: &str) -> Result<Vec<String>, Error> {
        self.tx("rules by target", |t| {
            require_bus(t, bus)?;
            Ok(t.query_map(
                "SELECT DISTINCT rule FROM targets WHERE bus = ?1 AND arn = ?2 ORDER BY rule",
                args![bus, arn],
                |r| r.get(0),
            )?)
        })
    }

    /// The enabled pattern rules of `bus` with their targets (what PutEvents matches against).
    pub fn pattern_rules(&self, bus: &str) -> Result<Vec<(Rule, Vec<Target>)>, Error> {
        self.tx("pattern rules", |t| {
            let docs: Vec<String> = t.query_map(
                "SELECT doc FROM rules WHERE bus = ?1 ORDER BY name",
                args![bus],
                |r| r.get(0),
            )?;
            let mut out = Vec::new();
            for rule in docs.iter().filter_map(|d| read_rule(d)) {
                if rule.state == "ENABLED" && rule.event_pattern.is_some() {
                    let targets = targets_of(t, bus, &rule.name)?;
                    out.push((rule, targets));
                }
            }
            Ok(out)
        })
    }

    // ---- tags (buses and rules, by ARN) ----

    /// The tags of the bus or rule `arn` names.
    pub fn tags(&self, arn: &str) -> Result<Tags, Error> {
        self.tx("read tags", |t| match resource_of(arn) {
            Some(Resource::Bus(bus)) => Ok(bus_row(t, &bus)?.ok_or_else(|| bus_not_found(&bus))?.1),
            Some(Resource::Rule(bus, name)) => Ok(rule_in(t, &bus, &name)?
                .ok_or_else(|| rule_not_found(&name, &bus))?
                .tags),
            None => Err(not_found(format!("Resource {arn} does not exist.")).into()),
        })
    }

    /// Changes the tags of the bus or rule `arn` names with `f`.
    pub fn update_tags(&self, arn: &str, f: impl Fn(&mut Tags)) -> Result<(), Error> {
        self.tx("update tags", |t| match resource_of(arn) {
            Some(Resource::Bus(bus)) => {
                let mut tags = bus_row(t, &bus)?.ok_or_else(|| bus_not_found(&bus))?.1;
                f(&mut tags);
                t.execute(
                    "UPDATE buses SET tags = ?2 WHERE name = ?1",
                    args![bus.as_str(), to_json(&tags)],
                )?;
                Ok(())
            }
            Some(Resource::Rule(bus, name)) => {
                let mut rule =
                    rule_in(t, &bus, &name)?.ok_or_else(|| rule_not_found(&name, &bus))?;
                f(&mut rule.tags);
                t.execute(
                    "UPDATE rules SET doc = ?3 WHERE bus = ?1 AND name = ?2",
                    args![bus.as_str(), name.as_str(), write_rule(&rule)],
                )?;
                Ok(())
            }
            None => Err(not_found(format!("Resource {arn} does not exist.")).into()),
        })
    }

    // ---- scheduled rules ----

    /// Scheduled rules due at `now`: (bus, name, next fire time).
    pub fn due_rules(&self, now: i64, limit: usize) -> Result<Vec<(String, String, i64)>, Error> {
        self.tx("due rules", |t| {
            Ok(t.query_map(
                "SELECT bus, name, next_fire_ms FROM rules WHERE next_fire_ms <= ?1
                 ORDER BY next_fire_ms LIMIT ?2",
                args![now, limit as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
    }

    /// Claims the occurrence of a scheduled rule due at `due`, moving its next fire time to
    /// `next`: true for the one caller (of any node) whose conditional UPDATE changed the row;
    /// with the rule and its targets, read in the same transaction.
    pub fn claim_rule(
        &self,
        bus: &str,
        name: &str,
        due: i64,
        next: Option<i64>,
    ) -> Result<Option<(Rule, Vec<Target>)>, Error> {
        self.tx("claim rule", |t| {
            let n = t.execute(
                "UPDATE rules SET next_fire_ms = ?4 WHERE bus = ?1 AND name = ?2 AND next_fire_ms = ?3",
                args![bus, name, due, next],
            )?;
            if n != 1 {
                return Ok(None);
            }
            let Some(rule) = rule_in(t, bus, name)? else {
                return Ok(None);
            };
            Ok(Some((rule, targets_of(t, bus, name)?)))
        })
    }

    // ---- Scheduler: groups and schedules ----

    pub fn create_group(&self, name: &str, doc: &Map<String, Value>) -> Result<(), Error> {
        self.tx("create group", |t| {
            let n = t.execute(
                "INSERT INTO schedule_groups (name, doc) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                args![name, to_json(doc)],
            )?;
            if n == 0 {
                return Err(Error::new(
                    "ConflictException",
                    Kind::Conflict,
                    format!("Schedule group {name} already exists."),
                )
                .into());
            }
            Ok(())
        })
    }

    pub fn group(&self, name: &str) -> Result<Option<Map<String, Value>>, Error> {
        self.tx("read group", |t| {
            Ok(t.query_opt(
                "SELECT doc FROM schedule_groups WHERE name = ?1",
                args![name],
                |r| r.get::<String>(0),
            )?
            .map(|d| serde_json::from_str(&d).unwrap_or_default()))
        })
    }

    pub fn list_groups(&self, prefix: &str) -> Result<Vec<(String, Document)>, Error> {
        self.tx("list groups", |t| {
            let rows: Vec<(String, String)> = t.query_map(
                "SELECT name, doc FROM schedule_groups
                 WHERE substr(name, 1, length(CAST(?1 AS TEXT))) = CAST(?1 AS TEXT) ORDER BY name",
                args![prefix],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(rows
                .into_iter()
                .map(|(n, d)| (n, serde_json::from_str(&d).unwrap_or_default()))
                .collect())
        })
    }

    /// Deletes a group and its schedules; refused for `default`, not found when missing.
    pub fn delete_group(&self, name: &str) -> Result<(), Error> {
        self.tx("delete group", |t| {
            let n = t.execute("DELETE FROM schedule_groups WHERE name = ?1", args![name])?;
            if n == 0 {
                return Err(not_found(format!("Schedule group {name} does not exist.")).into());
            }
            t.execute("DELETE FROM schedules WHERE grp = ?1", args![name])?;
            Ok(())
        })
    }

    /// Creates (`create`) or replaces (not `create`) a schedule in an existing group.
    pub fn put_schedule(&self, s: &Schedule, create: bool) -> Result<(), Error> {
        self.tx("put schedule", |t| {
            let group = t.query_opt(
                "SELECT name FROM schedule_groups WHERE name = ?1",
                args![s.group.as_str()],
                |r| r.get::<String>(0),
            )?;
            if group.is_none() {
                return Err(not_found(format!("Schedule group {} does not exist.", s.group)).into());
            }
            let exists = t
                .query_opt(
                    "SELECT name FROM schedules WHERE grp = ?1 AND name = ?2",
                    args![s.group.as_str(), s.name.as_str()],
                    |r| r.get::<String>(0),
                )?
                .is_some();
            if create && exists {
                return Err(Error::new(
                    "ConflictException",
                    Kind::Conflict,
                    format!("Schedule {} already exists.", s.name),
                )
                .into());
            }
            if !create && !exists {
                return Err(not_found(format!("Schedule {} does not exist.", s.name)).into());
            }
            t.execute(
                "INSERT INTO schedules (grp, name, doc, next_fire_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (grp, name) DO UPDATE SET doc = excluded.doc, next_fire_ms = excluded.next_fire_ms",
                args![s.group.as_str(), s.name.as_str(), to_json(&s.doc), s.next_fire_ms],
            )?;
            Ok(())
        })
    }

    pub fn schedule(&self, group: &str, name: &str) -> Result<Option<Schedule>, Error> {
        self.tx("read schedule", |t| {
            Ok(t.query_opt(
                "SELECT grp, name, doc, next_fire_ms FROM schedules WHERE grp = ?1 AND name = ?2",
                args![group, name],
                schedule_from,
            )?)
        })
    }

    /// Schedules (of `group`, or all) whose names start with `prefix`, after (group, name).
    pub fn list_schedules(
        &self,
        group: Option<&str>,
        prefix: &str,
        after: (&str, &str),
        limit: usize,
    ) -> Result<Vec<Schedule>, Error> {
        self.tx("list schedules", |t| {
            Ok(t.query_map(
                "SELECT grp, name, doc, next_fire_ms FROM schedules
                 WHERE (CAST(?1 AS TEXT) IS NULL OR grp = ?1)
                 AND substr(name, 1, length(CAST(?2 AS TEXT))) = CAST(?2 AS TEXT)
                 AND (grp > ?3 OR (grp = ?3 AND name > ?4))
                 ORDER BY grp, name LIMIT ?5",
                args![group, prefix, after.0, after.1, limit as i64],
                schedule_from,
            )?)
        })
    }

    /// Deletes a schedule; false when there was none.
    pub fn delete_schedule(&self, group: &str, name: &str) -> Result<bool, Error> {
        self.tx("delete schedule", |t| {
            Ok(t.execute(
                "DELETE FROM schedules WHERE grp = ?1 AND name = ?2",
                args![group, name],
            )? == 1)
        })
    }

    /// Schedules due at `now`: (group, name, next fire time).
    pub fn due_schedules(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(String, String, i64)>, Error> {
        self.tx("due schedules", |t| {
            Ok(t.query_map(
                "SELECT grp, name, next_fire_ms FROM schedules WHERE next_fire_ms <= ?1
                 ORDER BY next_fire_ms LIMIT ?2",
                args![now, limit as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
    }

    /// Claims a schedule's occurrence due at `due` (see [`Events::claim_rule`]); `next` is
    /// computed from the schedule read in the same transaction, and with `delete_after` a
    /// schedule with no next occurrence is deleted (ActionAfterCompletion DELETE).
    pub fn claim_schedule(
        &self,
        group: &str,
        name: &str,
        due: i64,
        next: impl Fn(&Schedule) -> Option<i64>,
    ) -> Result<Option<Schedule>, Error> {
        self.tx("claim schedule", |t| {
            let Some(s) = t.query_opt(
                "SELECT grp, name, doc, next_fire_ms FROM schedules WHERE grp = ?1 AND name = ?2",
                args![group, name],
                schedule_from,
            )?
            else {
                return Ok(None);
            };
            let following = next(&s);
            let n = t.execute(
                "UPDATE schedules SET next_fire_ms = ?4 WHERE grp = ?1 AND name = ?2 AND next_fire_ms = ?3",
                args![group, name, due, following],
            )?;
            if n != 1 {
                return Ok(None);
            }
            let delete = following.is_none()
                && s.doc.get("ActionAfterCompletion").and_then(Value::as_str) == Some("DELETE");
            if delete {
                t.execute(
                    "DELETE FROM schedules WHERE grp = ?1 AND name = ?2",
                    args![group, name],
                )?;
            }
            Ok(Some(s))
        })
    }
}

fn schedule_from(r: &stratus_db::Row<'_>) -> Result<Schedule, stratus_db::Error> {
    let doc: String = r.get(2)?;
    Ok(Schedule {
        group: r.get(0)?,
        name: r.get(1)?,
        doc: serde_json::from_str(&doc).unwrap_or_default(),
        next_fire_ms: r.get(3)?,
    })
}

fn targets_of(t: &Tx<'_>, bus: &str, rule: &str) -> Result<Vec<Target>, stratus_db::Error> {
    let docs: Vec<String> = t.query_map(
        "SELECT doc FROM targets WHERE bus = ?1 AND rule = ?2 ORDER BY id",
        args![bus, rule],
        |r| r.get(0),
    )?;
    Ok(docs
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect())
}

fn make_bus(region: &str, name: &str, doc: &str, tags: Tags, created_ms: i64) -> Bus {
    let doc: Value = serde_json::from_str(doc).unwrap_or_default();
    Bus {
        name: name.to_string(),
        arn: bus_arn(region, name),
        description: doc
            .get("Description")
            .and_then(Value::as_str)
            .map(str::to_string),
        created_ms,
        tags,
    }
}

enum Resource {
    Bus(String),
    Rule(String, String),
}

/// What an events ARN names: `event-bus/<name>`, `rule/<name>` or `rule/<bus>/<name>`.
fn resource_of(arn: &str) -> Option<Resource> {
    let rest = arn.strip_prefix("arn:aws:events:")?;
    let resource = rest.splitn(3, ':').nth(2)?;
    if let Some(bus) = resource.strip_prefix("event-bus/") {
        return Some(Resource::Bus(bus.to_string()));
    }
    let path = resource.strip_prefix("rule/")?;
    Some(match path.split_once('/') {
        Some((bus, name)) => Resource::Rule(bus.to_string(), name.to_string()),
        None => Resource::Rule(DEFAULT_BUS.to_string(), path.to_string()),
    })
}

#[cfg(test)]
mod tests;
