//! Where a node keeps its state: the `database` option.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::{Cause, Error};

/// The database every store opens in.
#[derive(Clone)]
pub enum Location {
    /// A SQLite file per store in this directory (the default: the data directory).
    Sqlite(PathBuf),
    /// A PostgreSQL database, each store in its own schema.
    Postgres(Box<PgTarget>),
}

/// A PostgreSQL server: the driver's settings, and the TLS the URL asked for (see
/// [`crate::tls`]; `None`: in the clear).
#[derive(Clone)]
pub struct PgTarget {
    pub config: postgres::Config,
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl PgTarget {
    /// A new connection, encrypted if the URL asked for it.
    pub fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        crate::tls::connect(&self.config, self.tls.as_ref())
    }
}

/// Settings without TLS (tests, tools).
impl From<postgres::Config> for PgTarget {
    fn from(config: postgres::Config) -> Self {
        PgTarget { config, tls: None }
    }
}

impl std::ops::Deref for PgTarget {
    type Target = postgres::Config;

    fn deref(&self) -> &postgres::Config {
        &self.config
    }
}

impl std::ops::DerefMut for PgTarget {
    fn deref_mut(&mut self) -> &mut postgres::Config {
        &mut self.config
    }
}

impl Location {
    /// Reads the `database` option: unset, empty or `sqlite` means a file per store in
    /// `data_dir`; `postgres://` or `postgresql://` URLs (and `host=... dbname=...` strings)
    /// name a PostgreSQL server.
    pub fn parse(option: Option<&str>, data_dir: &Path) -> Result<Location, Error> {
        let option = option.map(str::trim).unwrap_or("");
        if option.is_empty() || option == "sqlite" {
            return Ok(Location::Sqlite(data_dir.to_path_buf()));
        }
        if let Some(dir) = option
            .strip_prefix("sqlite://")
            .or_else(|| option.strip_prefix("sqlite:"))
        {
            return Ok(Location::Sqlite(PathBuf::from(dir)));
        }
        let invalid =
            |why: String| Error::new("reading", "the database option", Cause::Invalid(why));
        let (url, mode, root) = crate::tls::split_url(option).map_err(invalid)?;
        let config = postgres::Config::from_str(&url)
            .map_err(|e| invalid(format!("expected `sqlite` or a postgres:// URL ({e})")))?;
        let tls = crate::tls::client_config(mode, root.as_deref()).map_err(invalid)?;
        Ok(Location::Postgres(Box::new(PgTarget { config, tls })))
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self {
            Location::Sqlite(_) => "sqlite",
            Location::Postgres(_) => "postgres",
        }
    }
}

/// The location without its password: what logs and `/health` show.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(dir) => write!(f, "sqlite:{}", dir.display()),
            Location::Postgres(c) => {
                write!(f, "postgres://")?;
                if let Some(user) = c.get_user() {
                    write!(f, "{user}@")?;
                }
                let hosts: Vec<String> = c
                    .get_hosts()
                    .iter()
                    .zip(c.get_ports().iter().chain(std::iter::repeat(&5432)))
                    .map(|(h, port)| match h {
                        postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
                        postgres::config::Host::Unix(p) => format!("{}:{port}", p.display()),
                    })
                    .collect();
                write!(f, "{}", hosts.join(","))?;
                write!(f, "/{}", c.get_dbname().unwrap_or(""))
            }
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether the database at a location answers, checked at most every few seconds (what
/// `/health` shows; never on a request's path).
pub struct Health {
    location: Location,
    last: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// How long a check's answer is reused.
const HEALTH_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Health {
    pub fn new(location: Location) -> Health {
        Health {
            location,
            last: std::sync::Mutex::new(None),
        }
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Blocking: a SQLite directory is reachable while it exists; a PostgreSQL server when a
    /// new connection answers `SELECT 1` within two seconds.
    pub fn reachable(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, ok)) = *last {
            if at.elapsed() < HEALTH_TTL {
                return ok;
            }
        }
        let ok = match &self.location {
            Location::Sqlite(dir) => dir.is_dir(),
            Location::Postgres(config) => {
                let mut config = (**config).clone();
                config.connect_timeout(std::time::Duration::from_secs(2));
                config
                    .connect()
                    .and_then(|mut c| c.simple_query("SELECT 1"))
                    .is_ok()
            }
        };
        *last = Some((std::time::Instant::now(), ok));
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_sqlite_in_the_data_directory() {
        let dir = Path::new("/data");
        for option in [None, Some(""), Some("sqlite")] {
            let l = Location::parse(option, dir).unwrap();
            assert_eq!(l.to_string(), "sqlite:/data");
        }
    }

    #[test]
    fn a_postgres_url_is_shown_without_its_password() {
        let l = Location::parse(
            Some("postgres://stratus:s3cret@127.0.0.1:5433/stratus"),
            Path::new("/d"),
        )
        .unwrap();
        assert_eq!(l.kind(), "postgres");
        let shown = l.to_string();
        assert_eq!(shown, "postgres://stratus@127.0.0.1:5433/stratus");
        assert!(!format!("{l:?}").contains("s3cret"));
    }

    #[test]
    fn nonsense_is_refused_with_what_was_expected() {
        let e = Location::parse(Some("mysql://x"), Path::new("/d")).unwrap_err();
        assert!(e.to_string().contains("postgres:// URL"), "{e}");
    }
}
