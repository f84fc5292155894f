//! Tables themselves: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable, tags,
//! time to live, and the describe-only operations SDKs and Terraform call. A table is usable
//! as soon as CreateTable returns; CreateTable answers CREATING as AWS does and DescribeTable
//! then reports ACTIVE.

use serde_json::{json, Value};
use stratus_core::{Error, Kind};

use super::common::table_name;
use crate::store::Db;
use crate::table::{self, constraint, from_create, Table};
use crate::value::invalid;

fn table_not_found(name: &str) -> Error {
    Error::not_found(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

fn describe(db: &Db, t: &Table, region: &str, status: &str) -> Result<Value, Error> {
    let (count, bytes) = db.stats(&t.name)?;
    Ok(t.describe(region, status, count, bytes))
}

pub fn create_table(db: &mut Db, req: &Value, region: &str) -> Result<Value, Error> {
    let mut t = from_create(req)?;
    if let Some(spec) = req.get("StreamSpecification").filter(|s| !s.is_null()) {
        crate::streams::spec::parse(spec)?;
    }
    // The insert itself decides between two creators of one name; the stream is made after
    // it, in the same transaction, so a refused create leaves no stream behind.
    let plain = t.clone();
    if !db.create_table(plain)? {
        return Err(Error::new(
            "ResourceInUseException",
            Kind::Conflict,
            format!(
                "Table already exists: {}",
                req["TableName"].as_str().unwrap_or("")
            ),
        ));
    }
    if req.get("StreamSpecification").is_some_and(|s| !s.is_null()) {
        crate::streams::spec::on_create(db, &mut t, req)?;
        db.save_table(t.clone())?;
    }
    Ok(json!({"TableDescription": t.describe(region, "CREATING", 0, 0)}))
}

pub fn describe_table(db: &mut Db, req: &Value, region: &str) -> Result<Value, Error> {
    let name = table_name(req)?;
    let t = existing(db, name)?;
    Ok(json!({"Table": describe(db, &t, region, "ACTIVE")?}))
}

pub fn list_tables(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let limit = match req.get("Limit").and_then(Value::as_i64) {
        Some(n) if !(1..=100).contains(&n) => {
            return Err(constraint(
                &n.to_string(),
                "limit",
                if n < 1 {
                    "Member must have value greater than or equal to 1"
                } else {
                    "Member must have value less than or equal to 100"
                },
            ))
        }
        Some(n) => n as usize,
        None => 100,
    };
    let after = req["ExclusiveStartTableName"].as_str();
    let mut names = db.table_names(after, limit + 1)?;
    let more = names.len() > limit;
    names.truncate(limit);
    let mut resp = json!({"TableNames": names});
    if more {
        resp["LastEvaluatedTableName"] = json!(names.last());
    }
    Ok(resp)
}

pub fn delete_table(db: &mut Db, req: &Value, region: &str) -> Result<Value, Error> {
    let name = table_name(req)?;
    let t = existing(db, name)?;
    if t.deletion_protection {
        return Err(Error::validation("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first."));
    }
    let desc = deleting(describe(db, &t, region, "DELETING")?);
    db.drop_table(name)?;
    // The table's stream ends with it; its records stay readable for the retention.
    db.disable_streams(name, crate::streams::now_ms())?;
    Ok(json!({"TableDescription": desc}))
}

/// DeleteTable's description: AWS gives the table's identity, status, size and billing, and
/// leaves out its schema, indexes and streams.
fn deleting(mut desc: Value) -> Value {
    const KEPT: &[&str] = &[
        "TableName",
        "TableStatus",
        "ProvisionedThroughput",
        "TableSizeBytes",
        "ItemCount",
        "TableArn",
        "TableId",
        "BillingModeSummary",
        "TableClassSummary",
        "DeletionProtectionEnabled",
    ];
    if let Some(m) = desc.as_object_mut() {
        m.retain(|k, _| KEPT.contains(&k.as_str()));
    }
    desc
}

pub fn update_table(db: &mut Db, req: &Value, region: &str) -> Result<Value, Error> {
    let name = table_name(req)?;
    let mut t: Table = (*existing(db, name)?).clone();
    if req.get("BillingMode").is_some() || req.get("ProvisionedThroughput").is_some() {
        let (mode, tp) = table::billing(req, Some(&t.billing))?;
        if mode == "PROVISIONED" && tp == (0, 0) && t.billing != "PROVISIONED" {
            return Err(invalid(
                "ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
            ));
        }
        if mode != t.billing {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
            t.billing_updated = Some(now);
        }
        t.billing = mode;
        if tp != (0, 0) || t.billing == "PAY_PER_REQUEST" {
            t.throughput = tp;
        }
    }
    for a in req["AttributeDefinitions"].as_array().into_iter().flatten() {
        if let (Some(n), Some(ty)) = (a["AttributeName"].as_str(), a["AttributeType"].as_str()) {
            if !t.attrs.iter().any(|x| x.name == n) {
                t.attrs.push(table::KeyAttr {
                    name: n.to_string(),
                    ty: ty.to_string(),
                });
            }
        }
    }
    index_updates(&mut t, req)?;
    if let Some(s) = req.get("StreamSpecification").filter(|s| !s.is_null()) {
        crate::streams::spec::on_update(db, &mut t, s)?;
    }
    if let Some(p) = req["DeletionProtectionEnabled"].as_bool() {
        t.deletion_protection = p;
    }
    if let Some(c) = req["TableClass"].as_str() {
        t.table_class = Some(c.to_string());
    }
    let t = db.save_table(t)?;
    Ok(json!({"TableDescription": describe(db, &t, region, "UPDATING")?}))
}

/// UpdateTable's GlobalSecondaryIndexUpdates: Create (checked as CreateTable checks an index),
/// Update (throughput) and Delete.
fn index_updates(t: &mut Table, req: &Value) -> Result<(), Error> {
    for u in req["GlobalSecondaryIndexUpdates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(c) = u.get("Create") {
            // Reuse CreateTable's checks on a one-index table of the same key.
            let probe = json!({
                "TableName": t.name,
                "AttributeDefinitions": t.attrs.iter().map(|a| json!({"AttributeName": a.name, "AttributeType": a.ty})).collect::<Vec<_>>(),
                "KeySchema": t.key.to_json(),
                "GlobalSecondaryIndexes": [c],
                "BillingMode": "PAY_PER_REQUEST",
            });
            let mut probe_table = match from_create(&probe) {
                Ok(p) => p,
                Err(e) if e.message.contains("AttributeDefinitions are not used") => {
                    // Definitions for other indexes are expected here.
                    let mut p = probe.clone();
                    p["AttributeDefinitions"] = json!(t
                        .attrs
                        .iter()
                        .filter(|a| t.key.attrs().any(|k| k.name == a.name)
                            || c["KeySchema"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|k| k["AttributeName"] == a.name.as_str()))
                        .map(|a| json!({"AttributeName": a.name, "AttributeType": a.ty}))
                        .collect::<Vec<_>>());
                    from_create(&p)?
                }
                Err(e) => return Err(e),
            };
            let mut ix = probe_table.indexes.remove(0);
            if t.indexes.iter().any(|i| i.name == ix.name) {
                return Err(invalid(format!(
                    "Index with name: {} already exists",
                    ix.name
                )));
            }
            ix.throughput = c.get("ProvisionedThroughput").map(|p| {
                (
                    p["ReadCapacityUnits"].as_i64().unwrap_or(0),
                    p["WriteCapacityUnits"].as_i64().unwrap_or(0),
                )
            });
            t.indexes.push(ix);
        } else if let Some(d) = u.get("Delete") {
            let n = d["IndexName"].as_str().unwrap_or("");
            let before = t.indexes.len();
            t.indexes.retain(|i| !(i.global && i.name == n));
            if t.indexes.len() == before {
                return Err(Error::not_found(format!(
                    "Requested resource not found: Index: {n} not found"
                )));
            }
        } else if let Some(up) = u.get("Update") {
            let n = up["IndexName"].as_str().unwrap_or("");
            let ix = t
                .indexes
                .iter_mut()
                .find(|i| i.global && i.name == n)
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "Requested resource not found: Index: {n} not found"
                    ))
                })?;
            if let Some(p) = up.get("ProvisionedThroughput") {
                ix.throughput = Some((
                    p["ReadCapacityUnits"].as_i64().unwrap_or(0),
                    p["WriteCapacityUnits"].as_i64().unwrap_or(0),
                ));
            }
        }
    }
    Ok(())
}

/// The table an ARN names.
fn by_arn(db: &Db, arn: &str) -> Result<Table, Error> {
    let name = arn.rsplit_once(":table/").map(|(_, n)| n).unwrap_or("");
    let name = name.split('/').next().unwrap_or("");
    db.table_opt(name)?.map(|t| (*t).clone()).ok_or_else(|| {
        Error::not_found(format!(
            "Requested resource not found: ResourcArn: {arn} not found"
        ))
    })
}

fn arn_of(req: &Value) -> Result<&str, Error> {
    req["ResourceArn"].as_str().ok_or_else(|| {
        Error::validation(
            "1 validation error detected: Value null at 'resourceArn' failed to satisfy constraint: Member must not be null",
        )
    })
}

/// TagResource's Tags against the model: present, keys of 1 to 128 characters, values of at
/// most 256.
fn check_tags(tags: &Value) -> Result<(), Error> {
    let Some(list) = tags.as_array() else {
        return Err(Error::validation(
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
        ));
    };
    for (i, tag) in list.iter().enumerate() {
        let n = i + 1;
        let key = tag["Key"].as_str().unwrap_or("");
        let value = tag["Value"].as_str().unwrap_or("");
        let rule = match key.chars().count() {
            0 => Some("Member must have length greater than or equal to 1"),
            1..=128 => None,
            _ => Some("Member must have length less than or equal to 128"),
        };
        if let Some(rule) = rule {
            return Err(constraint(key, &format!("tags.{n}.member.key"), rule));
        }
        if value.chars().count() > 256 {
            return Err(constraint(
                value,
                &format!("tags.{n}.member.value"),
                "Member must have length less than or equal to 256",
            ));
        }
    }
    Ok(())
}

pub fn tag_resource(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let arn = arn_of(req)?;
    check_tags(&req["Tags"])?;
    let mut t = by_arn(db, arn)?;
    for tag in req["Tags"].as_array().into_iter().flatten() {
        let k = tag["Key"].as_str().unwrap_or("").to_string();
        let v = tag["Value"].as_str().unwrap_or("").to_string();
        t.tags.retain(|(x, _)| *x != k);
        t.tags.push((k, v));
    }
    db.save_table(t)?;
    Ok(json!({}))
}

pub fn untag_resource(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let mut t = by_arn(db, arn_of(req)?)?;
    let keys: Vec<&str> = req["TagKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    t.tags.retain(|(k, _)| !keys.contains(&k.as_str()));
    db.save_table(t)?;
    Ok(json!({}))
}

pub fn list_tags(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let t = by_arn(db, arn_of(req)?)?;
    let tags: Vec<Value> = t
        .tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    Ok(json!({"Tags": tags}))
}

pub fn describe_ttl(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let name = table_name(req)?;
    let t = existing(db, name)?;
    Ok(match &t.ttl {
        Some(a) => {
            json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}})
        }
        None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
    })
}

pub fn update_ttl(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let name = table_name(req)?;
    // The model's constraints come before the table is looked up, as on AWS.
    let spec = &req["TimeToLiveSpecification"];
    let (enabled, attr) = ttl_specification(spec)?;
    let mut t = (*existing(db, name)?).clone();
    if enabled && t.ttl.is_some() {
        return Err(Error::validation("TimeToLive is already enabled"));
    }
    if !enabled && t.ttl.is_none() {
        return Err(Error::validation("TimeToLive is already disabled"));
    }
    t.ttl = enabled.then_some(attr);
    db.save_table(t)?;
    Ok(json!({"TimeToLiveSpecification": spec}))
}

/// UpdateTimeToLive's specification, checked against the model: both members present, the
/// attribute's name 1 to 255 characters.
fn ttl_specification(spec: &Value) -> Result<(bool, String), Error> {
    let null = |member: &str| {
        Error::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    };
    if spec.is_null() {
        return Err(null("timeToLiveSpecification"));
    }
    let attr = spec["AttributeName"]
        .as_str()
        .ok_or_else(|| null("timeToLiveSpecification.attributeName"))?;
    let enabled = spec["Enabled"]
        .as_bool()
        .ok_or_else(|| null("timeToLiveSpecification.enabled"))?;
    let member = "timeToLiveSpecification.attributeName";
    if attr.is_empty() {
        return Err(constraint(
            attr,
            member,
            "Member must have length greater than or equal to 1",
        ));
    }
    if attr.chars().count() > 255 {
        return Err(constraint(
            attr,
            member,
            "Member must have length less than or equal to 255",
        ));
    }
    Ok((enabled, attr.to_string()))
}

/// The continuous-backup operations name a missing table with their own exception.
fn backups_table(db: &mut Db, name: &str) -> Result<Table, Error> {
    match db.table_opt(name)? {
        Some(t) => Ok((*t).clone()),
        None => Err(Error::new(
            "TableNotFoundException",
            Kind::NotFound,
            format!("Table not found: {name}"),
        )),
    }
}

/// ContinuousBackupsDescription as DescribeContinuousBackups and UpdateContinuousBackups
/// give it: backups are always on; point-in-time recovery as the table records it.
fn backups_description(t: &Table) -> Value {
    let pitr = match t.pitr_days {
        Some(days) => json!({"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": days}),
        None => json!({"PointInTimeRecoveryStatus": "DISABLED"}),
    };
    json!({
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": pitr
    })
}

pub fn describe_backups(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let t = backups_table(db, table_name(req)?)?;
    Ok(json!({"ContinuousBackupsDescription": backups_description(&t)}))
}

/// UpdateContinuousBackups: records whether point-in-time recovery is enabled, and for how
/// many days (1 to 35, 35 by default), so tools that declare it read back what they set.
pub fn update_backups(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let name = table_name(req)?;
    let spec = &req["PointInTimeRecoverySpecification"];
    let null = |member: &str| {
        Error::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    };
    if spec.is_null() {
        return Err(null("pointInTimeRecoverySpecification"));
    }
    let enabled = spec["PointInTimeRecoveryEnabled"]
        .as_bool()
        .ok_or_else(|| null("pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled"))?;
    let days = match &spec["RecoveryPeriodInDays"] {
        Value::Null => 35,
        v => match v.as_i64() {
            Some(d @ 1..=35) => d as u8,
            _ => {
                return Err(Error::validation(format!(
                    "1 validation error detected: Value '{v}' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value between 1 and 35"
                )))
            }
        },
    };
    let mut t = backups_table(db, name)?;
    t.pitr_days = enabled.then_some(days);
    let t = db.save_table(t)?;
    Ok(json!({"ContinuousBackupsDescription": backups_description(&t)}))
}

pub fn describe_limits() -> Value {
    json!({
        "AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000
    })
}

pub fn describe_endpoints(region: &str) -> Value {
    json!({"Endpoints": [{"Address": format!("dynamodb.{region}.amazonaws.com"), "CachePeriodInMinutes": 1440}]})
}

/// No Kinesis destinations (Terraform reads this after creating a table).
pub fn describe_kinesis(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let name = table_name(req)?;
    if db.table_opt(name)?.is_none() {
        return Err(table_not_found(name));
    }
    Ok(json!({"TableName": name, "KinesisDataStreamDestinations": []}))
}

pub fn describe_insights(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let name = table_name(req)?;
    if db.table_opt(name)?.is_none() {
        return Err(table_not_found(name));
    }
    let mut resp = json!({"TableName": name, "ContributorInsightsStatus": "DISABLED"});
    if let Some(ix) = req["IndexName"].as_str() {
        resp["IndexName"] = json!(ix);
    }
    Ok(resp)
}

/// Resource policies are not stored: every table has none.
pub fn get_resource_policy(db: &mut Db, req: &Value) -> Result<Value, Error> {
    let arn = arn_of(req)?;
    by_arn(db, arn)?;
    Err(Error::new(
        "PolicyNotFoundException",
        Kind::NotFound,
        format!("Resource-based policy not found for the provided ResourceArn: {arn}"),
    ))
}

/// The table called `name`, or DynamoDB's ResourceNotFoundException.
fn existing(db: &Db, name: &str) -> Result<std::sync::Arc<Table>, Error> {
    db.table_opt(name)?.ok_or_else(|| table_not_found(name))
}
