//! Copying the stream files of a SQLite data directory into the `logs` store of a database
//! (`stratus migrate` to PostgreSQL, decision 0018): every group with its creation time and
//! retention, every stream with its events, timestamps and ingestion times. Idempotent: a
//! stream the target already holds exactly is left alone, one that differs is replaced.

use std::io;
use std::path::Path;

use stratus_db::Location;

use super::database::Database;
use super::store::LogStore;

/// What was found and done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsCopy {
    pub groups: u64,
    pub streams: u64,
    pub events: u64,
    /// Streams written (the others were already identical in the target).
    pub copied_streams: u64,
}

/// Copies the stream files under `files_root` into the `logs` store at `to`.
pub fn copy_files_to_database(files_root: &Path, to: &Location) -> io::Result<LogsCopy> {
    let source = LogStore::new(files_root);
    let target = Database::open(to).map_err(io::Error::other)?;
    let mut report = LogsCopy::default();
    for group in source.groups()? {
        target.import_group(&group)?;
        report.groups += 1;
        let mut streams = source.streams(&group.name)?.unwrap_or_default();
        streams.sort_by(|a, b| a.name.cmp(&b.name));
        for stream in streams {
            // A stream deleted since the listing is skipped.
            let Some(events) = source.events(&group.name, &stream.name)? else {
                continue;
            };
            report.streams += 1;
            report.events += events.len() as u64;
            if target.import_stream(&group.name, &stream, &events)? {
                report.copied_streams += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::Captured;

    fn captured(text: &str, at: i64) -> Captured {
        Captured {
            text: text.as_bytes().to_vec(),
            stamps: vec![(0, at)],
        }
    }

    #[test]
    fn stream_files_move_into_the_database_once() {
        let files = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        let source = LogStore::new(files.path());
        source.create_group("/aws/lambda/f").unwrap();
        source.set_retention("/aws/lambda/f", Some(7)).unwrap();
        source.append("/aws/lambda/f", "s1", &captured("one\ntwo\n", 1_000));
        source.append("/aws/lambda/f", "s2", &captured("three\n", 2_000));
        source.create_group("/empty").unwrap();
        let to = Location::Sqlite(db.path().into());

        let first = copy_files_to_database(files.path(), &to).unwrap();
        assert_eq!(
            (
                first.groups,
                first.streams,
                first.events,
                first.copied_streams
            ),
            (2, 2, 3, 2)
        );
        let again = copy_files_to_database(files.path(), &to).unwrap();
        assert_eq!(again.copied_streams, 0, "already identical");

        let target = LogStore::database(&to).unwrap();
        let moved = target.events("/aws/lambda/f", "s1").unwrap().unwrap();
        let want = source.events("/aws/lambda/f", "s1").unwrap().unwrap();
        let key =
            |e: &crate::logs::store::Event| (e.timestamp, e.ingestion_time, e.message.clone());
        assert_eq!(
            moved.iter().map(key).collect::<Vec<_>>(),
            want.iter().map(key).collect::<Vec<_>>()
        );
        let group = target.group("/aws/lambda/f").unwrap().unwrap();
        let was = source.group("/aws/lambda/f").unwrap().unwrap();
        assert_eq!(
            (group.creation_time, group.retention_days),
            (was.creation_time, Some(7))
        );
        assert!(target.group_exists("/empty").unwrap());
    }
}
