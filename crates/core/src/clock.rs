//! Timestamps in AWS's formats.

use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};

const LAMBDA_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");

/// `LastModified` as Lambda writes it: `2020-04-10T19:06:32.563+0000`.
pub fn lambda_timestamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(LAMBDA_FORMAT)
        .expect("fixed format")
}

pub fn now_lambda() -> String {
    lambda_timestamp(OffsetDateTime::now_utc())
}

const ISO_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Now in ISO 8601 with milliseconds and `Z`, as log lines and invocation records carry it:
/// `2020-04-10T19:06:32.563Z`.
pub fn now_iso_millis() -> String {
    OffsetDateTime::now_utc()
        .format(ISO_MILLIS)
        .expect("fixed format")
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_timestamp_has_millis_and_literal_offset() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_586_545_592_563_000_000).unwrap();
        assert_eq!(lambda_timestamp(t), "2020-04-10T19:06:32.563+0000");
    }

    #[test]
    fn iso_millis_ends_in_z() {
        let now = now_iso_millis();
        assert_eq!(
            (now.len(), &now[10..11], &now[23..]),
            (24, "T", "Z"),
            "{now}"
        );
    }
}
