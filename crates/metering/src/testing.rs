//! The storage layer's per-backend test stores.

pub(crate) use stratus_db::testing::backends;
