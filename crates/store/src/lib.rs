//! Storage for IMMERSE: one [`Store`] over SQLite (the default) or PostgreSQL.
//!
//! Architecture invariant: this is the only crate that writes SQL. Every query is written once,
//! with `$N` placeholders, and runs on both backends through sqlx's `Any` driver; only the
//! migrations differ per backend (`migrations/sqlite`, `migrations/postgres`), because the DDL
//! dialects do. Features live in their own modules (`replay` for the replay cache, `one_time` for
//! the stateless nonces and challenges that only a spend records).

#![forbid(unsafe_code)]

mod issuer;
mod one_time;
mod registry;
mod replay;
mod verifier;

pub use issuer::{
    AccessTokenRow, AuthorizationKind, AuthorizationRow, CredentialRow, DeferredRow, OfferRow,
    Redemption, StatusListRow,
};
pub use one_time::OneTimeValues;
pub use registry::{
    AdminTokenRow, AuditRow, CheckpointRow, EntityRow, KeyRow, LogLeafRow, SecretUse, WriteTx,
};
pub use replay::{MAX_SCOPE_LEN, MAX_VALUE_LEN, Purger, Replay, ReplayField};
pub use verifier::{VerifierOutcome, VerifierSessionRow};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

/// Migrations for SQLite, embedded at compile time.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
/// Migrations for PostgreSQL, embedded at compile time.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up, in milliseconds.
/// Two processes (or two pools) writing the same file take turns; without a timeout the loser
/// fails at once with `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend we support. The URL itself is not echoed: it may hold a password.
    #[error("unsupported database url: expected sqlite:..., postgres://... or postgresql://...")]
    UnsupportedUrl,
    /// A replay-cache key part is empty.
    #[error("replay cache {0} is empty")]
    Empty(ReplayField),
    /// A replay-cache key part is longer than its bound.
    #[error("replay cache {field} is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Which part of the key.
        field: ReplayField,
        /// Its length in bytes.
        len: usize,
        /// The bound in bytes.
        max: usize,
    },
    /// The value would expire at or before `now`: recording it would protect nothing.
    #[error("expires_at {expires_at} is not after now {now}")]
    AlreadyExpired {
        /// The requested expiry, unix seconds.
        expires_at: i64,
        /// The current time, unix seconds.
        now: i64,
    },
    /// The system clock is before 1970 or beyond `i64` seconds.
    #[error("system clock is outside the unix-seconds range")]
    Clock,
    /// The database refused or failed a query or a connection.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The system's randomness or MAC failed (one-time values).
    #[error("cryptography failed: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    /// A one-time value key in the database is not 32 bytes of hex.
    #[error("a stored one-time value key is corrupt")]
    CorruptKey,
}

impl StoreError {
    /// A unique-key conflict: another writer got there first, and the operation may be retried.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(err)) if err.is_unique_violation())
    }
}

/// The PostgreSQL advisory lock key of [`Store::begin_write`] ("IMMERSEW" in ASCII), chosen so
/// that it does not collide with sqlx's migration lock.
const WRITE_LOCK_KEY: i64 = 0x494D_4D45_5253_4557;

/// Which database a URL names; decides the migrations and the pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// A SQLite file: WAL, busy timeout, several connections.
    SqliteFile,
    /// An in-memory SQLite database: exactly one connection (see [`Store::connect`]).
    SqliteMemory,
    /// PostgreSQL.
    Postgres,
}

/// A handle on the database. Cloning is cheap: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url` and applies the embedded migrations.
    ///
    /// - `sqlite://path/to/file.db` (or `sqlite:file.db`): the file is created if missing
    ///   (unless the URL sets its own `mode=`); WAL journal, 5 s busy timeout, foreign keys on.
    /// - `sqlite::memory:`: a private in-memory database. sqlx opens a *new* memory database for
    ///   every connection made from such a URL, so the pool holds exactly one connection that is
    ///   never recycled; the data lives as long as the `Store` (and its clones).
    /// - `postgres://...` or `postgresql://...`: PostgreSQL.
    ///
    /// Migrations are safe to run concurrently from several `Store` values or processes: on
    /// PostgreSQL sqlx holds an advisory lock, on SQLite they run inside `BEGIN IMMEDIATE`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = classify(url)?;
        let pool = match backend {
            Backend::SqliteFile => {
                AnyPoolOptions::new()
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // journal_mode persists in the file; re-asserting it is a no-op.
                            // WAL lets readers proceed while one writer commits.
                            // synchronous stays FULL (the default): a recorded nonce must survive
                            // a power cut, or a replay after reboot would be accepted.
                            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                                 PRAGMA foreign_keys = ON; \
                                 PRAGMA journal_mode = WAL;"
                            )))
                            .execute(conn)
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&sqlite_create_if_missing(url))
                    .await?
            }
            Backend::SqliteMemory => {
                AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect(url)
                    .await?
            }
            Backend::Postgres => AnyPoolOptions::new().connect(url).await?,
        };
        migrate(&pool, backend).await?;
        tracing::debug!(?backend, "store connected and migrated");
        Ok(Self { pool, backend })
    }

    /// Connects to a fresh private in-memory SQLite database, for tests and the demo.
    pub async fn connect_in_memory() -> Result<Self, StoreError> {
        Self::connect("sqlite::memory:").await
    }

    /// Starts a write transaction that holds the store's write lock until it ends, so writers
    /// queue instead of racing for the same log index: on SQLite `BEGIN IMMEDIATE`, on
    /// PostgreSQL a transaction-scoped advisory lock shared by every replica. A unique-key
    /// conflict ([`StoreError::is_conflict`]) stays possible against writers that do not take
    /// the lock, and callers still retry on it.
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let tx = match self.backend {
            Backend::SqliteFile | Backend::SqliteMemory => {
                self.pool.begin_with("BEGIN IMMEDIATE").await?
            }
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // Optimistic retries alone were not enough: two dozen concurrent appends
                // exhausted them in CI. Waiting on the lock is bounded by the pool's timeout.
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        Ok(WriteTx::new(tx))
    }

    /// Runs a trivial query: what a readiness probe asks of the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection and waits for them to finish; later calls on this `Store` or
    /// its clones fail. Call on shutdown so that SQLite checkpoints its WAL cleanly.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Applies the embedded migrations for `backend`.
async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    match backend {
        // sqlx's SQLite migrator takes no lock, so two pools migrating one file at once would
        // both try to apply version 1. BEGIN IMMEDIATE takes the write lock up front (waiting
        // through busy_timeout); sqlx nests each migration in a savepoint inside it, and the
        // second migrator sees the first one's work once it gets the lock.
        Backend::SqliteFile | Backend::SqliteMemory => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            SQLITE_MIGRATIONS.run(&mut *tx).await?;
            tx.commit().await?;
        }
        // sqlx's PostgreSQL migrator serialises itself with pg_advisory_lock.
        Backend::Postgres => POSTGRES_MIGRATIONS.run(pool).await?,
    }
    Ok(())
}

/// Tells which backend `url` names, without echoing it in errors.
fn classify(url: &str) -> Result<Backend, StoreError> {
    let (scheme, rest) = url.split_once(':').ok_or(StoreError::UnsupportedUrl)?;
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
            let in_memory = database == ":memory:" || sqlite_mode(params) == Some("memory");
            Ok(if in_memory {
                Backend::SqliteMemory
            } else {
                Backend::SqliteFile
            })
        }
        "postgres" | "postgresql" if rest.starts_with("//") => Ok(Backend::Postgres),
        _ => Err(StoreError::UnsupportedUrl),
    }
}

/// The `mode=` query parameter of a SQLite URL, if any.
fn sqlite_mode(params: &str) -> Option<&str> {
    params
        .split('&')
        .find_map(|pair| pair.strip_prefix("mode="))
}

/// Adds `mode=rwc` to a SQLite file URL that sets no mode: sqlx's default `rw` refuses to
/// create the file, and a first start should not need a separate "create database" step.
fn sqlite_create_if_missing(url: &str) -> String {
    let params = url.split_once('?').map_or("", |(_, params)| params);
    match (sqlite_mode(params), url.contains('?')) {
        (Some(_), _) => url.to_owned(),
        (None, true) => format!("{url}&mode=rwc"),
        (None, false) => format!("{url}?mode=rwc"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_to_backends() {
        let cases = [
            ("sqlite::memory:", Some(Backend::SqliteMemory)),
            ("sqlite://:memory:", Some(Backend::SqliteMemory)),
            ("sqlite://?mode=memory", Some(Backend::SqliteMemory)),
            ("sqlite://data/immerse.db", Some(Backend::SqliteFile)),
            (
                "sqlite:///var/lib/immerse.db?mode=rw",
                Some(Backend::SqliteFile),
            ),
            ("sqlite:immerse.db", Some(Backend::SqliteFile)),
            ("SQLite:immerse.db", Some(Backend::SqliteFile)),
            ("postgres://u:p@db/immerse", Some(Backend::Postgres)),
            ("postgresql://db/immerse", Some(Backend::Postgres)),
            ("postgres:db", None),
            ("mysql://db/immerse", None),
            ("immerse.db", None),
            ("", None),
        ];
        for (url, expected) in cases {
            assert_eq!(classify(url).ok(), expected, "{url}");
        }
    }

    #[test]
    fn sqlite_file_urls_create_the_file_unless_a_mode_is_set() {
        let cases = [
            ("sqlite://a.db", "sqlite://a.db?mode=rwc"),
            (
                "sqlite://a.db?cache=private",
                "sqlite://a.db?cache=private&mode=rwc",
            ),
            ("sqlite://a.db?mode=ro", "sqlite://a.db?mode=ro"),
            (
                "sqlite://a.db?cache=private&mode=rw",
                "sqlite://a.db?cache=private&mode=rw",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(sqlite_create_if_missing(url), expected, "{url}");
        }
    }

    #[test]
    fn unsupported_url_error_does_not_echo_the_url() {
        let err = classify("mysql://root:hunter2@db/x")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| !e.contains("hunter2")));
    }

    #[tokio::test]
    async fn in_memory_store_shares_one_database_across_clones() {
        let store = Store::connect_in_memory().await.expect("connect");
        let clone = store.clone();
        let first = store
            .check_and_record("s", "v", i64::MAX)
            .await
            .expect("record");
        let second = clone
            .check_and_record("s", "v", i64::MAX)
            .await
            .expect("check");
        assert_eq!((first, second), (Replay::Fresh, Replay::Replayed));
    }
}
