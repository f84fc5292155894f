//! Time zones for Scheduler's `ScheduleExpressionTimezone`: an IANA name read from the
//! system's time-zone database (`/usr/share/zoneinfo`, the TZif files of the `tzdata`
//! package), or UTC. Only the transitions in the file are used: past the last one the zone
//! keeps its last offset (the database's files list transitions to 2037).

use std::path::Path;

/// Where the time-zone database lives.
const ZONEINFO: &str = "/usr/share/zoneinfo";
/// The largest TZif file read (real ones are a few KiB).
const MAX_FILE: u64 = 1 << 20;

/// A zone: its UTC offsets and when they change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Zone {
    /// Transition instants (seconds since the epoch, UTC), ascending.
    transitions: Vec<i64>,
    /// The offset (seconds east of UTC) from each transition on.
    offsets: Vec<i32>,
    /// The offset before the first transition.
    initial: i32,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone::default()
    }

    /// The zone named `name` (`UTC`, `America/New_York`, …), if the database has it. Names
    /// are checked before any file is opened: no `..`, no absolute paths.
    pub fn load(name: &str) -> Option<Zone> {
        if matches!(name, "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Z") {
            return Some(Zone::utc());
        }
        Zone::load_from(Path::new(ZONEINFO), name)
    }

    fn load_from(root: &Path, name: &str) -> Option<Zone> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('/')
            && name.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
            });
        if !valid {
            return None;
        }
        let path = root.join(name);
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            return None;
        }
        parse(&std::fs::read(path).ok()?)
    }

    /// The offset from UTC at the instant `utc` (seconds since the epoch).
    pub fn offset_at(&self, utc: i64) -> i32 {
        match self.transitions.partition_point(|t| *t <= utc) {
            0 => self.initial,
            i => self.offsets[i - 1],
        }
    }

    /// The UTC instant of the local wall-clock time `local` (seconds since the epoch, as if
    /// local time were UTC). A time skipped by a forward change is taken with the offset
    /// before it; a repeated one is its first occurrence.
    pub fn to_utc(&self, local: i64) -> i64 {
        let before = local - i64::from(self.offset_at(local - 86_400));
        let after = local - i64::from(self.offset_at(local + 86_400));
        // Whichever reading is consistent with the offset at the instant it names.
        for candidate in [before.min(after), before.max(after)] {
            if candidate + i64::from(self.offset_at(candidate)) == local {
                return candidate;
            }
        }
        before
    }

    /// The local wall-clock time of the instant `utc`.
    pub fn to_local(&self, utc: i64) -> i64 {
        utc + i64::from(self.offset_at(utc))
    }
}

fn be32(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from(i32::from_be_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}

fn be64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The counts of a TZif header at `at`: (isut, isstd, leap, time, type, char).
fn counts(b: &[u8], at: usize) -> Option<[usize; 6]> {
    if b.get(at..at + 4)? != b"TZif" {
        return None;
    }
    let mut c = [0usize; 6];
    for (i, slot) in c.iter_mut().enumerate() {
        *slot = usize::try_from(be32(b, at + 20 + 4 * i)?).ok()?;
    }
    Some(c)
}

/// Parses a TZif file (version 1, or the 64-bit block of versions 2 and later).
fn parse(b: &[u8]) -> Option<Zone> {
    let c = counts(b, 0)?;
    let version = *b.get(4)?;
    let v1_len = 44 + c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
    let (at, c, wide) = if version >= b'2' {
        (v1_len, counts(b, v1_len)?, true)
    } else {
        (0, c, false)
    };
    let [_, _, _, timecnt, typecnt, _] = c;
    if typecnt == 0 {
        return None;
    }
    let width = if wide { 8 } else { 4 };
    let times_at = at + 44;
    let idx_at = times_at + timecnt * width;
    let types_at = idx_at + timecnt;
    let offset_of = |t: usize| -> Option<i32> { Some(be32(b, types_at + t * 6)? as i32) };
    let mut zone = Zone {
        initial: offset_of(0)?,
        ..Zone::default()
    };
    for i in 0..timecnt {
        let t = if wide {
            be64(b, times_at + i * 8)?
        } else {
            be32(b, times_at + i * 4)?
        };
        let ty = usize::from(*b.get(idx_at + i)?);
        if ty >= typecnt {
            return None;
        }
        zone.transitions.push(t);
        zone.offsets.push(offset_of(ty)?);
    }
    Some(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t: time::OffsetDateTime) -> i64 {
        t.unix_timestamp()
    }

    #[test]
    fn names_outside_the_database_are_refused_before_any_read() {
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "America/../../etc",
            "",
            "Mars/Olympus",
            "a b",
        ] {
            assert!(Zone::load(bad).is_none(), "{bad}");
        }
        assert_eq!(Zone::load("UTC"), Some(Zone::utc()));
    }

    #[test]
    fn new_york_keeps_daylight_saving_time() {
        let Some(ny) = Zone::load("America/New_York") else {
            // No time-zone database on this machine: nothing to read.
            return;
        };
        let winter = secs(time::macros::datetime!(2026-01-15 12:00 UTC));
        let summer = secs(time::macros::datetime!(2026-07-15 12:00 UTC));
        assert_eq!(ny.offset_at(winter), -5 * 3600);
        assert_eq!(ny.offset_at(summer), -4 * 3600);
        // 03:00 local on a July day is 07:00 UTC; in January, 08:00 UTC.
        let local = secs(time::macros::datetime!(2026-07-15 03:00 UTC));
        assert_eq!(
            ny.to_utc(local),
            secs(time::macros::datetime!(2026-07-15 07:00 UTC))
        );
        let local = secs(time::macros::datetime!(2026-01-15 03:00 UTC));
        assert_eq!(
            ny.to_utc(local),
            secs(time::macros::datetime!(2026-01-15 08:00 UTC))
        );
        assert_eq!(ny.to_local(ny.to_utc(local)), local);
    }

    #[test]
    fn truncated_files_are_not_zones() {
        assert!(parse(b"TZif2").is_none());
        assert!(parse(b"not a zone file at all, not at all, no no no no").is_none());
    }
}
