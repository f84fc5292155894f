//! AWS Lambda's quotas that Stratus enforces (the figures AWS documents).

pub const MAX_ZIPPED_BYTES: u64 = 52_428_800;
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
pub const MAX_SYNC_PAYLOAD: usize = 6_291_456;
pub const MAX_SYNC_RESPONSE: usize = 6_291_556;
/// A streamed response (`InvokeWithResponseStream`, function URLs in `RESPONSE_STREAM` mode):
/// AWS documents 200 MB.
pub const MAX_STREAMED_RESPONSE: usize = 209_715_200;
pub const MAX_ASYNC_PAYLOAD: usize = 1_048_576;
pub const MAX_ENV_BYTES: usize = 4096;
pub const MIN_MEMORY: u32 = 128;
pub const MAX_MEMORY: u32 = 10_240;
pub const MAX_TIMEOUT: u32 = 900;
pub const DEFAULT_TIMEOUT: u32 = 3;
pub const DEFAULT_MEMORY: u32 = 128;
pub const MIN_EPHEMERAL: u32 = 512;
pub const MAX_EPHEMERAL: u32 = 10_240;
pub const DEFAULT_ACCOUNT_CONCURRENCY: u32 = 1000;
/// Reserved concurrency must leave this much unreserved.
pub const MIN_UNRESERVED: u32 = 100;
pub const MAX_TAGS: usize = 50;
/// Items per page of ListFunctions / ListVersionsByFunction, whatever MaxItems says.
pub const MAX_PAGE: usize = 50;
