//! One function per DynamoDB operation, each taking the request body and giving the response
//! body.
//!
//! - [`control`]: tables (CreateTable, DescribeTable, …), tags, time to live.
//! - [`items`]: PutItem, GetItem, DeleteItem, UpdateItem.
//! - [`read`]: Query and Scan.
//! - [`batch`]: BatchWriteItem, BatchGetItem, TransactWriteItems, TransactGetItems.
//! - [`legacy`]: the pre-expression parameters, translated to expressions.
//! - [`common`]: keys, options and errors they share.

pub mod batch;
pub mod common;
pub mod control;
pub mod items;
pub mod legacy;
pub mod read;

use serde_json::Value;
use stratus_core::{Error, Kind};

use crate::store::Db;

pub fn dispatch(db: &mut Db, op: &str, req: &Value, region: &str) -> Result<Value, Error> {
    match op {
        "CreateTable" => control::create_table(db, req, region),
        "DescribeTable" => control::describe_table(db, req, region),
        "ListTables" => control::list_tables(db, req),
        "DeleteTable" => control::delete_table(db, req, region),
        "UpdateTable" => control::update_table(db, req, region),
        "TagResource" => control::tag_resource(db, req),
        "UntagResource" => control::untag_resource(db, req),
        "ListTagsOfResource" => control::list_tags(db, req),
        "DescribeTimeToLive" => control::describe_ttl(db, req),
        "UpdateTimeToLive" => control::update_ttl(db, req),
        "DescribeContinuousBackups" => control::describe_backups(db, req),
        "UpdateContinuousBackups" => control::update_backups(db, req),
        "DescribeLimits" => Ok(control::describe_limits()),
        "DescribeKinesisStreamingDestination" => control::describe_kinesis(db, req),
        "DescribeContributorInsights" => control::describe_insights(db, req),
        "GetResourcePolicy" => control::get_resource_policy(db, req),
        "DescribeEndpoints" => Ok(control::describe_endpoints(region)),
        "PutItem" => items::put_item(db, req),
        "GetItem" => items::get_item(db, req),
        "DeleteItem" => items::delete_item(db, req),
        "UpdateItem" => items::update_item(db, req),
        "Query" => read::query(db, req),
        "Scan" => read::scan(db, req),
        "BatchWriteItem" => batch::batch_write(db, req),
        "BatchGetItem" => batch::batch_get(db, req),
        "TransactWriteItems" => batch::transact_write(db, req),
        "TransactGetItems" => batch::transact_get(db, req),
        _ => Err(Error::new(
            "UnknownOperationException",
            Kind::UnknownOperation,
            "",
        )),
    }
}
