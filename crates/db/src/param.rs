//! Typed values crossing into and out of both backends: a statement's parameters
//! ([`Param`]) and a row's columns ([`FromColumn`]). SQLite's own conversions are used as they
//! are; PostgreSQL's strict typing is met by converting to the type the server expects for
//! each parameter (integers are stored as `BIGINT`, so an `i32` or a `bool` binds there too).

use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type};

use crate::{Cause, Error};

/// A statement parameter.
pub trait Param: Sync {
    fn sqlite(&self) -> &dyn rusqlite::ToSql;
    fn pg(&self) -> PgArg<'_>;
}

/// A parameter as PostgreSQL receives it, converted to the column's type when bound.
#[derive(Debug, Clone, Copy)]
pub enum PgArg<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn sqlite(&self) -> &dyn rusqlite::ToSql { self }
            fn pg(&self) -> PgArg<'_> { PgArg::Int(*self as i64) }
        }
    )*};
}
int_param!(i64, i32, u32, u16, u8);

impl Param for u64 {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> PgArg<'_> {
        // SQLite refuses a u64 past i64::MAX; PostgreSQL gets the same refusal when binding.
        i64::try_from(*self).map_or(PgArg::Real(f64::NAN), PgArg::Int)
    }
}

impl Param for bool {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> PgArg<'_> {
        PgArg::Int(i64::from(*self))
    }
}

impl Param for f64 {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> PgArg<'_> {
        PgArg::Real(*self)
    }
}

impl Param for &str {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> PgArg<'_> {
        PgArg::Text(self)
    }
}

impl Param for String {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> PgArg<'_> {
        PgArg::Text(self)
    }
}

impl Param for &[u8] {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> PgArg<'_> {
        PgArg::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> PgArg<'_> {
        PgArg::Blob(self)
    }
}

impl<T: Param + rusqlite::ToSql> Param for Option<T> {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> PgArg<'_> {
        match self {
            None => PgArg::Null,
            Some(v) => v.pg(),
        }
    }
}

impl<T: Param> Param for &T {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        (**self).sqlite()
    }
    fn pg(&self) -> PgArg<'_> {
        (**self).pg()
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for PgArg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self {
            PgArg::Null => Ok(IsNull::Yes),
            PgArg::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                Type::FLOAT8 => (v as f64).to_sql(ty, out),
                Type::FLOAT4 => (v as f32).to_sql(ty, out),
                _ => v.to_string().as_str().to_sql(&Type::TEXT, out),
            },
            PgArg::Real(v) => match *ty {
                Type::FLOAT4 => (v as f32).to_sql(ty, out),
                Type::INT8 if v.fract() == 0.0 => (v as i64).to_sql(ty, out),
                _ => v.to_sql(&Type::FLOAT8, out),
            },
            PgArg::Text(v) => match *ty {
                Type::BYTEA => v.as_bytes().to_sql(ty, out),
                _ => v.to_sql(&Type::TEXT, out),
            },
            PgArg::Blob(v) => v.to_sql(&Type::BYTEA, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A column value as PostgreSQL sent it, before the caller's type is applied.
#[derive(Debug)]
pub enum PgValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => PgValue::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => PgValue::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => PgValue::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => PgValue::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => PgValue::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => PgValue::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => PgValue::Blob(raw.to_vec()),
            _ => PgValue::Text(String::from_sql(&Type::TEXT, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgValue::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A column's value read as a Rust type.
pub trait FromColumn: Sized {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self>;
    fn from_pg(v: PgValue) -> Result<Self, String>;
}

fn wrong(v: &PgValue, want: &str) -> String {
    format!("a column holds {v:?} where {want} was expected")
}

macro_rules! int_column {
    ($($t:ty),*) => {$(
        impl FromColumn for $t {
            fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> { row.get(i) }
            fn from_pg(v: PgValue) -> Result<Self, String> {
                match v {
                    PgValue::Int(n) => <$t>::try_from(n).map_err(|e| e.to_string()),
                    other => Err(wrong(&other, stringify!($t))),
                }
            }
        }
    )*};
}
int_column!(i64, i32, u32, u64, u16, u8, usize);

impl FromColumn for bool {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn from_pg(v: PgValue) -> Result<Self, String> {
        match v {
            PgValue::Int(n) => Ok(n != 0),
            other => Err(wrong(&other, "a boolean")),
        }
    }
}

impl FromColumn for f64 {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn from_pg(v: PgValue) -> Result<Self, String> {
        match v {
            PgValue::Real(n) => Ok(n),
            PgValue::Int(n) => Ok(n as f64),
            other => Err(wrong(&other, "a number")),
        }
    }
}

impl FromColumn for String {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn from_pg(v: PgValue) -> Result<Self, String> {
        match v {
            PgValue::Text(s) => Ok(s),
            other => Err(wrong(&other, "text")),
        }
    }
}

impl FromColumn for Vec<u8> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn from_pg(v: PgValue) -> Result<Self, String> {
        match v {
            PgValue::Blob(b) => Ok(b),
            PgValue::Text(s) => Ok(s.into_bytes()),
            other => Err(wrong(&other, "bytes")),
        }
    }
}

impl<T: FromColumn + rusqlite::types::FromSql> FromColumn for Option<T> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn from_pg(v: PgValue) -> Result<Self, String> {
        match v {
            PgValue::Null => Ok(None),
            v => T::from_pg(v).map(Some),
        }
    }
}

pub(crate) fn column_error(target: &str, e: String) -> Error {
    Error::new("reading a column of", target, Cause::Invalid(e))
}

/// Any column's value, for code that copies rows without knowing their shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl FromColumn for Value {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        use rusqlite::types::Value as V;
        Ok(match row.get::<_, V>(i)? {
            V::Null => Value::Null,
            V::Integer(n) => Value::Int(n),
            V::Real(n) => Value::Real(n),
            V::Text(s) => Value::Text(s),
            V::Blob(b) => Value::Blob(b),
        })
    }
    fn from_pg(v: PgValue) -> Result<Self, String> {
        Ok(match v {
            PgValue::Null => Value::Null,
            PgValue::Int(n) => Value::Int(n),
            PgValue::Real(n) => Value::Real(n),
            PgValue::Text(s) => Value::Text(s),
            PgValue::Blob(b) => Value::Blob(b),
        })
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Integer(*n),
            Value::Real(n) => ValueRef::Real(*n),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Param for Value {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> PgArg<'_> {
        match self {
            Value::Null => PgArg::Null,
            Value::Int(n) => PgArg::Int(*n),
            Value::Real(n) => PgArg::Real(*n),
            Value::Text(s) => PgArg::Text(s),
            Value::Blob(b) => PgArg::Blob(b),
        }
    }
}
