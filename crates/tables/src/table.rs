//! A table's definition: key schema, attribute definitions, secondary indexes, billing, tags
//! and time to live; CreateTable's validation and DescribeTable's shape.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_core::Error;

use crate::value::{invalid, Attr, Item};

/// One key attribute: name and scalar type (`S`, `N` or `B`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyAttr {
    pub name: String,
    pub ty: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeySchema {
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
}

impl KeySchema {
    pub fn attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        std::iter::once(&self.hash).chain(self.range.as_ref())
    }

    pub fn to_json(&self) -> Value {
        let mut v = vec![json!({"AttributeName": self.hash.name, "KeyType": "HASH"})];
        if let Some(r) = &self.range {
            v.push(json!({"AttributeName": r.name, "KeyType": "RANGE"}));
        }
        Value::Array(v)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub key: KeySchema,
    /// The Projection member as given (ProjectionType, NonKeyAttributes).
    pub projection: Value,
    pub global: bool,
    pub throughput: Option<(i64, i64)>,
}

impl Index {
    /// The attributes an index holds besides the keys (`None`: all of them).
    pub fn projected(&self) -> Option<Vec<String>> {
        match self.projection["ProjectionType"].as_str() {
            Some("ALL") => None,
            Some("INCLUDE") => Some(
                self.projection["NonKeyAttributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => Some(Vec::new()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub id: String,
    pub key: KeySchema,
    /// AttributeDefinitions: name → type.
    pub attrs: Vec<KeyAttr>,
    pub indexes: Vec<Index>,
    pub billing: String,
    pub throughput: (i64, i64),
    pub created: f64,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub ttl: Option<String>,
    /// The StreamSpecification while a stream is enabled.
    #[serde(default)]
    pub stream: Option<Value>,
    /// The label of the latest stream (kept after it is disabled, as AWS shows it).
    #[serde(default)]
    pub stream_label: Option<String>,
    #[serde(default)]
    pub deletion_protection: bool,
    #[serde(default)]
    pub table_class: Option<String>,
    /// When the billing mode was last changed by UpdateTable.
    #[serde(default)]
    pub billing_updated: Option<f64>,
    /// Point-in-time recovery's recovery period in days, while it is enabled
    /// (UpdateContinuousBackups). Recorded and reported; Stratus has no restore.
    #[serde(default)]
    pub pitr_days: Option<u8>,
}

pub fn arn(region: &str, name: &str) -> String {
    format!(
        "arn:aws:dynamodb:{region}:{}:table/{name}",
        stratus_core::ACCOUNT_ID
    )
}

/// AWS's "1 validation error detected" form for a member constraint.
pub fn constraint(value: &str, member: &str, rule: &str) -> Error {
    Error::validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

pub fn check_name(name: &str, member: &str) -> Result<(), Error> {
    if name.len() < 3 {
        return Err(constraint(
            name,
            member,
            "Member must have length greater than or equal to 3",
        ));
    }
    if name.len() > 255 {
        return Err(constraint(
            name,
            member,
            "Member must have length less than or equal to 255",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(constraint(
            name,
            member,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

fn str_of<'a>(v: &'a Value, field: &str) -> Result<&'a str, Error> {
    v[field].as_str().ok_or_else(|| {
        Error::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(field)
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// AWS's model limit on a key attribute's name: 1 to 255 bytes.
fn key_name_length(name: &str, member: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(constraint(
            name,
            member,
            "Member must have length greater than or equal to 1",
        ));
    }
    if name.len() > 255 {
        return Err(constraint(
            name,
            member,
            "Member must have length less than or equal to 255",
        ));
    }
    Ok(())
}

/// Parses a KeySchema member against the attribute definitions.
fn key_schema(v: &Value, attrs: &[KeyAttr], missing: &mut Vec<String>) -> Result<KeySchema, Error> {
    let list = v.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
        Error::validation(
            "1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: Member must not be null",
        )
    })?;
    if list.len() > 2 {
        return Err(constraint(
            &v.to_string(),
            "keySchema",
            "Member must have length less than or equal to 2",
        ));
    }
    let mut hash = None;
    let mut range = None;
    for (i, k) in list.iter().enumerate() {
        key_name_length(
            str_of(k, "AttributeName")?,
            &format!("keySchema.{}.member.attributeName", i + 1),
        )?;
    }
    if list.len() == 2 && list[0]["AttributeName"] == list[1]["AttributeName"] {
        return Err(Error::validation(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    for k in list {
        let name = str_of(k, "AttributeName")?.to_string();
        let ty = attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.ty.clone())
            .unwrap_or_else(|| {
                missing.push(name.clone());
                "S".into()
            });
        let attr = KeyAttr { name, ty };
        match str_of(k, "KeyType")? {
            "HASH" if hash.is_none() => hash = Some(attr),
            "RANGE" if range.is_none() => range = Some(attr),
            "HASH" | "RANGE" => {
                return Err(invalid(
                    "Too many hash keys or range keys specified in KeySchema",
                ))
            }
            other => {
                return Err(constraint(
                    other,
                    "keySchema.1.member.keyType",
                    "Member must satisfy enum value set: [HASH, RANGE]",
                ))
            }
        }
    }
    let hash = hash.ok_or_else(|| {
        invalid(
            "No Hash Key specified in schema.  All Dynamo DB tables must have exactly one hash key",
        )
    })?;
    Ok(KeySchema { hash, range })
}

fn throughput(v: &Value) -> Option<(i64, i64)> {
    let t = v.get("ProvisionedThroughput").filter(|t| !t.is_null())?;
    Some((
        t["ReadCapacityUnits"].as_i64().unwrap_or(0),
        t["WriteCapacityUnits"].as_i64().unwrap_or(0),
    ))
}

/// Checks billing mode against provisioned throughput as AWS does.
pub fn billing(req: &Value, current: Option<&str>) -> Result<(String, (i64, i64)), Error> {
    let mode = req["BillingMode"]
        .as_str()
        .or(current)
        .unwrap_or("PROVISIONED")
        .to_string();
    if !["PROVISIONED", "PAY_PER_REQUEST"].contains(&mode.as_str()) {
        return Err(constraint(
            &mode,
            "billingMode",
            "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]",
        ));
    }
    let tp = throughput(req);
    match (mode.as_str(), tp) {
        ("PAY_PER_REQUEST", Some(_)) if current.is_none() => Err(invalid(
            "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        )),
        ("PROVISIONED", None) if current.is_none() => Err(invalid(
            "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        )),
        ("PROVISIONED", Some((r, w))) if r < 1 || w < 1 => Err(Error::validation(
            "1 validation error detected: Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1",
        )),
        ("PAY_PER_REQUEST", _) => Ok((mode, (0, 0))),
        (_, tp) => Ok((mode, tp.unwrap_or((0, 0)))),
    }
}

fn index(
    v: &Value,
    attrs: &[KeyAttr],
    global: bool,
    missing: &mut Vec<String>,
) -> Result<Index, Error> {
    let name = str_of(v, "IndexName")?.to_string();
    let key = key_schema(&v["KeySchema"], attrs, missing)?;
    let projection = v.get("Projection").cloned().unwrap_or(json!({}));
    let ptype = projection["ProjectionType"].as_str().unwrap_or("");
    if !["ALL", "KEYS_ONLY", "INCLUDE"].contains(&ptype) {
        return Err(invalid(format!(
            "Unknown ProjectionType: {}",
            if ptype.is_empty() { "null" } else { ptype }
        )));
    }
    Ok(Index {
        name,
        key,
        projection,
        global,
        throughput: throughput(v),
    })
}

/// Builds a table from a CreateTable request, with AWS's validation.
pub fn from_create(req: &Value) -> Result<Table, Error> {
    let name = str_of(req, "TableName")?.to_string();
    check_name(&name, "tableName")?;
    let mut attrs = Vec::new();
    for (i, a) in req["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        key_name_length(
            str_of(a, "AttributeName")?,
            &format!("attributeDefinitions.{}.member.attributeName", i + 1),
        )?;
        let ty = str_of(a, "AttributeType")?;
        if !["S", "N", "B"].contains(&ty) {
            return Err(constraint(
                ty,
                "attributeDefinitions.1.member.attributeType",
                "Member must satisfy enum value set: [B, N, S]",
            ));
        }
        let name = str_of(a, "AttributeName")?.to_string();
        if attrs.iter().any(|x: &KeyAttr| x.name == name) {
            return Err(invalid("Cannot have two attributes with the same name"));
        }
        attrs.push(KeyAttr {
            name,
            ty: ty.to_string(),
        });
    }
    let mut missing = Vec::new();
    let key = key_schema(&req["KeySchema"], &attrs, &mut missing)?;
    let mut indexes = Vec::new();
    for (list, global) in [
        ("GlobalSecondaryIndexes", true),
        ("LocalSecondaryIndexes", false),
    ] {
        if let Some(l) = req.get(list).and_then(Value::as_array) {
            if l.is_empty() {
                return Err(invalid(format!("List of {list} is empty")));
            }
            for v in l {
                let ix = index(v, &attrs, global, &mut missing)?;
                if indexes.iter().any(|i: &Index| i.name == ix.name) {
                    return Err(invalid(format!("Duplicate index name: {}", ix.name)));
                }
                if !global {
                    if key.range.is_none() {
                        return Err(invalid("Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"));
                    }
                    if ix.key.hash != key.hash {
                        return Err(invalid(format!(
                            "Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                            ix.name, ix.key.hash.name, key.hash.name
                        )));
                    }
                }
                indexes.push(ix);
            }
        }
    }
    if !missing.is_empty() {
        let defined: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
        return Err(invalid(format!(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            missing.join(", "),
            defined.join(", ")
        )));
    }
    for ix in &indexes {
        check_name(&ix.name, "indexName")?;
    }
    let used: std::collections::HashSet<&str> = key
        .attrs()
        .chain(indexes.iter().flat_map(|i| i.key.attrs()))
        .map(|a| a.name.as_str())
        .collect();
    if attrs.len() != used.len() {
        return Err(invalid(if indexes.is_empty() {
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions".to_string()
        } else {
            let defined: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
            format!(
                "Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
                defined.join(", "),
                used.into_iter().collect::<Vec<_>>().join(", ")
            )
        }));
    }
    let (billing, throughput) = billing(req, None)?;
    if billing == "PROVISIONED" {
        for ix in indexes.iter().filter(|i| i.global) {
            if ix.throughput.is_none() {
                return Err(invalid(format!(
                    "ProvisionedThroughput must be specified for index: {}",
                    ix.name
                )));
            }
        }
    }
    let tags = req["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["Key"].as_str().unwrap_or("").to_string(),
                t["Value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    Ok(Table {
        name,
        id: uuid::Uuid::new_v4().to_string(),
        key,
        attrs,
        indexes,
        billing,
        throughput,
        created: now.unix_timestamp_nanos() as f64 / 1e9,
        tags,
        ttl: None,
        // Set by `streams::spec::on_create`, which also stores the stream.
        stream: None,
        stream_label: None,
        deletion_protection: req["DeletionProtectionEnabled"].as_bool().unwrap_or(false),
        table_class: req["TableClass"].as_str().map(str::to_string),
        billing_updated: None,
        pitr_days: None,
    })
}

impl Table {
    pub fn index(&self, name: &str) -> Result<&Index, Error> {
        self.indexes.iter().find(|i| i.name == name).ok_or_else(|| {
            Error::validation(format!(
                "The table does not have the specified index: {name}"
            ))
        })
    }

    /// DescribeTable's TableDescription.
    pub fn describe(&self, region: &str, status: &str, count: i64, bytes: i64) -> Value {
        let arn = arn(region, &self.name);
        let tp = |t: (i64, i64)| json!({"NumberOfDecreasesToday": 0, "ReadCapacityUnits": t.0, "WriteCapacityUnits": t.1});
        let mut d = json!({
            "AttributeDefinitions": self.attrs.iter().map(|a| json!({"AttributeName": a.name, "AttributeType": a.ty})).collect::<Vec<_>>(),
            "TableName": self.name,
            "KeySchema": self.key.to_json(),
            "TableStatus": status,
            "CreationDateTime": self.created,
            "ProvisionedThroughput": tp(self.throughput),
            "TableSizeBytes": bytes,
            "ItemCount": count,
            "TableArn": arn,
            "TableId": self.id,
            "DeletionProtectionEnabled": self.deletion_protection,
        });
        if self.billing == "PAY_PER_REQUEST" || self.billing_updated.is_some() {
            d["BillingModeSummary"] = json!({
                "BillingMode": self.billing,
                "LastUpdateToPayPerRequestDateTime": self.billing_updated.unwrap_or(self.created),
            });
        }
        if let Some(c) = &self.table_class {
            d["TableClassSummary"] = json!({"TableClass": c});
        }
        if let Some(s) = &self.stream {
            d["StreamSpecification"] = s.clone();
        }
        if let Some(label) = &self.stream_label {
            d["LatestStreamLabel"] = json!(label);
            d["LatestStreamArn"] = json!(crate::streams::arn(region, &self.name, label));
        }
        for (global, member) in [
            (true, "GlobalSecondaryIndexes"),
            (false, "LocalSecondaryIndexes"),
        ] {
            let list: Vec<Value> = self
                .indexes
                .iter()
                .filter(|i| i.global == global)
                .map(|i| {
                    let mut v = json!({
                        "IndexName": i.name,
                        "KeySchema": i.key.to_json(),
                        "Projection": i.projection,
                        "IndexSizeBytes": 0,
                        "ItemCount": 0,
                        "IndexArn": format!("{arn}/index/{}", i.name),
                    });
                    if global {
                        v["IndexStatus"] = json!("ACTIVE");
                        v["ProvisionedThroughput"] = tp(i.throughput.unwrap_or((0, 0)));
                    }
                    v
                })
                .collect();
            if !list.is_empty() {
                d[member] = Value::Array(list);
            }
        }
        d
    }

    /// The attributes an index item keeps of `item`, or `None` when the item is not in the
    /// index (it lacks an index key).
    pub fn index_item(&self, ix: &Index, item: &Item) -> Option<Item> {
        for k in ix.key.attrs() {
            item.get(&k.name)?;
        }
        let Some(extra) = ix.projected() else {
            return Some(item.clone());
        };
        let keep: Vec<&str> = self
            .key
            .attrs()
            .chain(ix.key.attrs())
            .map(|k| k.name.as_str())
            .chain(extra.iter().map(String::as_str))
            .collect();
        Some(
            item.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

/// Whether `v` has the type a key attribute requires.
pub fn key_type_matches(ty: &str, v: &Attr) -> bool {
    v.type_name() == ty
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(lsi_range: &str, key_name: &str) -> Result<Table, Error> {
        from_create(&json!({
            "TableName": "tbl",
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": key_name, "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": key_name, "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}],
            "LocalSecondaryIndexes": [{
                "IndexName": "by-sk",
                "KeySchema": [{"AttributeName": key_name, "KeyType": "HASH"},
                              {"AttributeName": lsi_range, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"}
            }]
        }))
    }

    #[test]
    fn an_index_key_of_one_attribute_twice_is_refused() {
        assert_eq!(
            create("pk", "pk").unwrap_err().message,
            "Both the Hash Key and the Range Key element in the KeySchema have the same name"
        );
        let ok = create("sk", "pk");
        assert!(ok.is_ok(), "{:?}", ok.err().map(|e| e.message));
    }

    #[test]
    fn key_attribute_names_are_1_to_255_bytes() {
        let long = "k".repeat(256);
        assert_eq!(
            create("sk", &long).unwrap_err().message,
            format!("1 validation error detected: Value '{long}' at 'attributeDefinitions.1.member.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255")
        );
        assert!(create("sk", "")
            .unwrap_err()
            .message
            .contains("Member must have length greater than or equal to 1"));
        assert!(create("sk", &"k".repeat(255)).is_ok());
    }
}
