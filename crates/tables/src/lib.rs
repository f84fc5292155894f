//! Stratus tables: a DynamoDB-compatible table service. Requests and answers are DynamoDB's
//! JSON (the protocol layer only moves bytes); items live in their own SQLite file.
//!
//! # Layout
//! - [`number`]: DynamoDB's decimal numbers.
//! - [`value`]: attribute values, their JSON form, sizes and key encodings.
//! - [`expr`]: the expression language (lexer, parser, evaluation, updates).
//! - [`table`]: table definitions, CreateTable validation, DescribeTable's shape.
//! - [`store`]: the SQLite file.
//! - [`ops`]: one function per operation.

pub mod expr;
pub mod number;
pub mod ops;
pub mod store;
pub mod table;
pub mod value;

use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;
use stratus_core::Error;

/// The table service. Operations are serialised on one connection: a conditional write reads,
/// checks and writes with no other request in between, and is committed before it returns.
pub struct Tables {
    db: Mutex<store::Db>,
}

impl Tables {
    pub fn open(path: &Path) -> Result<Tables, String> {
        Ok(Tables {
            db: Mutex::new(store::Db::open(path)?),
        })
    }

    /// Runs one operation (`PutItem`, …) on a request body; the answer is the response body.
    pub fn call(&self, op: &str, req: &Value, region: &str) -> Result<Value, Error> {
        if !req.is_object() {
            return Err(Error::new(
                "SerializationException",
                400,
                "Start of structure or map found where not expected.",
            ));
        }
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        ops::dispatch(&mut db, op, req, region)
    }
}
