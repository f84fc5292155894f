//! CloudWatch metrics and alarms without HTTP.
//!
//! - [`stats`]: samples, periods and the statistics of a period (percentiles included).
//! - [`lambda`]: the `AWS/Lambda` namespace, read from metering records.
//! - [`store`]: custom metrics' datapoints, alarms and their history (`cloudwatch.db`, or
//!   the `cloudwatch` schema on PostgreSQL).
//! - [`alarm`]: an alarm's rule, its evaluation and CloudWatch's wording of state reasons.
//! - [`math`]: metric math's arithmetic, for GetMetricData and metric-math alarms.
//!
//! The wire protocols around it are `api::services::cloudwatch`.

pub mod alarm;
pub mod lambda;
pub mod math;
pub mod stats;
pub mod store;

/// A dimension set: `(name, value)` pairs sorted by name.
pub type Dims = Vec<(String, String)>;

/// The units CloudWatch knows (`StandardUnit`), for datapoints and metric filters alike.
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];
