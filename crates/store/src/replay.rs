//! Replay cache: remembers each (scope, value) until it expires, so that a nonce, a `jti` or a
//! one-time code is accepted once.
//!
//! Atomicity comes from the primary key (scope, value), not from a read-then-write: one
//! `INSERT ... ON CONFLICT` statement decides, so racing callers (tasks, pools, processes) get
//! exactly one [`Replay::Fresh`]. A row whose `expires_at` has passed protects nothing any more:
//! the same statement takes it over as if it were absent, whether or not it has been purged yet.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;

use crate::{Store, StoreError};

/// Longest scope accepted, in bytes. Scopes are short names chosen by code ("dpop-jti:issuer").
pub const MAX_SCOPE_LEN: usize = 128;
/// Longest value accepted, in bytes. Nonces and `jti`s are far shorter; the bound keeps an
/// attacker from filling the database with large keys.
pub const MAX_VALUE_LEN: usize = 512;

/// The outcome of [`Store::check_and_record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Not seen within its lifetime: it is now recorded, accept it.
    Fresh,
    /// Already recorded and not expired: reject it.
    Replayed,
}

/// Names the part of a replay-cache key that an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayField {
    /// The scope (which protocol and party the value belongs to).
    Scope,
    /// The value itself (nonce, `jti`, code).
    Value,
}

impl fmt::Display for ReplayField {
    /// Lower-case field name, as used in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Scope => "scope",
            Self::Value => "value",
        })
    }
}

impl Store {
    /// Records `value` in `scope` until `expires_at` (unix seconds) and tells whether it was
    /// fresh, using the system clock for "now". See [`Store::check_and_record_at`].
    pub async fn check_and_record(
        &self,
        scope: &str,
        value: &str,
        expires_at: i64,
    ) -> Result<Replay, StoreError> {
        self.check_and_record_at(scope, value, expires_at, unix_now()?)
            .await
    }

    /// Records `value` in `scope` until `expires_at`, as of `now` (both unix seconds).
    ///
    /// Fresh if no row holds (scope, value), or if the row that does expired at or before
    /// `now`; the row then takes the new expiry. Refuses an empty or over-long scope or value,
    /// and an `expires_at` not after `now` (such a record would protect nothing, and every
    /// racing caller would see Fresh).
    pub async fn check_and_record_at(
        &self,
        scope: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<Replay, StoreError> {
        record(&self.pool, scope, value, expires_at, now).await
    }

    /// Consumes a one-time value recorded earlier with [`Store::check_and_record_at`] (a
    /// challenge, a nonce): true exactly once, while it has not expired at `now`; false if it
    /// was never recorded, has expired, or was already taken. One DELETE decides, so two racing
    /// takers cannot both succeed.
    pub async fn take_once(&self, scope: &str, value: &str, now: i64) -> Result<bool, StoreError> {
        check_len(ReplayField::Scope, scope, MAX_SCOPE_LEN)?;
        check_len(ReplayField::Value, value, MAX_VALUE_LEN)?;
        let taken = sqlx::query(
            "DELETE FROM replay_cache WHERE scope = $1 AND value = $2 AND expires_at > $3",
        )
        .bind(scope)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Deletes every row that expired at or before `now` (unix seconds), in all scopes, and
    /// returns how many it deleted. Only storage is reclaimed: expired rows already count as
    /// absent for [`Store::check_and_record_at`].
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM replay_cache WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    /// Number of rows held for `scope`, expired or not; for metrics and tests.
    pub async fn replay_entries(&self, scope: &str) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replay_cache WHERE scope = $1")
            .bind(scope)
            .fetch_one(&self.pool)
            .await?;
        // COUNT(*) is never negative; a driver returning one would be a bug, not input.
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Starts a task, on the current tokio runtime, that purges expired rows every `every`
    /// (the first purge runs at once). A failed purge is logged and retried at the next tick,
    /// because a database that is briefly away should not stop the purger for good. The task
    /// stops when the returned [`Purger`] is dropped.
    ///
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`].
    pub fn spawn_purger(&self, every: Duration) -> Purger {
        let store = self.clone();
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            // After a slow purge, wait a full period rather than purging in a burst.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match store.purge_expired_now().await {
                    Ok(purged) => tracing::debug!(purged, "replay cache purged"),
                    Err(error) => tracing::warn!(%error, "replay cache purge failed"),
                }
            }
        });
        Purger { handle }
    }

    /// [`Store::purge_expired`] as of the system clock.
    async fn purge_expired_now(&self) -> Result<u64, StoreError> {
        self.purge_expired(unix_now()?).await
    }
}

/// Owns the background purge task started by [`Store::spawn_purger`]; dropping it stops the
/// task, so a purger cannot outlive the component that started it.
#[derive(Debug)]
#[must_use = "the purger stops when this value is dropped"]
pub struct Purger {
    handle: JoinHandle<()>,
}

impl Drop for Purger {
    /// Aborts the purge task.
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Refuses an empty `text` or one longer than `max` bytes.
fn check_len(field: ReplayField, text: &str, max: usize) -> Result<(), StoreError> {
    match text.len() {
        0 => Err(StoreError::Empty(field)),
        len if len > max => Err(StoreError::TooLong { field, len, max }),
        _ => Ok(()),
    }
}

/// The check-and-record statement on any executor: the pool, or a write transaction whose
/// other changes must stand or fall with the record.
pub(crate) async fn record<'e, E>(
    executor: E,
    scope: &str,
    value: &str,
    expires_at: i64,
    now: i64,
) -> Result<Replay, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    check_len(ReplayField::Scope, scope, MAX_SCOPE_LEN)?;
    check_len(ReplayField::Value, value, MAX_VALUE_LEN)?;
    if expires_at <= now {
        return Err(StoreError::AlreadyExpired { expires_at, now });
    }
    // One statement, so the decision is atomic: a new key inserts (1 row); a live key hits
    // the conflict and the WHERE keeps it unchanged (0 rows); an expired key is updated in
    // place (1 row). SQLite >= 3.24 and PostgreSQL >= 9.5 both accept this upsert.
    let result = sqlx::query(
        "INSERT INTO replay_cache (scope, value, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE replay_cache.expires_at <= $4",
    )
    .bind(scope)
    .bind(value)
    .bind(expires_at)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(if result.rows_affected() == 1 {
        Replay::Fresh
    } else {
        Replay::Replayed
    })
}

/// The system clock in unix seconds.
fn unix_now() -> Result<i64, StoreError> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| StoreError::Clock)?;
    i64::try_from(since_epoch.as_secs()).map_err(|_| StoreError::Clock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn malformed_keys_are_refused_with_typed_errors() {
        let store = Store::connect_in_memory().await.expect("connect");
        let long_scope = "s".repeat(MAX_SCOPE_LEN + 1);
        let long_value = "v".repeat(MAX_VALUE_LEN + 1);
        let at_bound_value = "v".repeat(MAX_VALUE_LEN);

        let err = store.check_and_record_at("", "v", 10, 0).await.err();
        assert!(matches!(err, Some(StoreError::Empty(ReplayField::Scope))));
        let err = store.check_and_record_at("s", "", 10, 0).await.err();
        assert!(matches!(err, Some(StoreError::Empty(ReplayField::Value))));
        let err = store
            .check_and_record_at(&long_scope, "v", 10, 0)
            .await
            .err();
        assert!(matches!(
            err,
            Some(StoreError::TooLong {
                field: ReplayField::Scope,
                len: 129,
                max: 128
            })
        ));
        let err = store
            .check_and_record_at("s", &long_value, 10, 0)
            .await
            .err();
        assert!(matches!(
            err,
            Some(StoreError::TooLong {
                field: ReplayField::Value,
                len: 513,
                max: 512
            })
        ));
        let ok = store.check_and_record_at("s", &at_bound_value, 10, 0).await;
        assert!(matches!(ok, Ok(Replay::Fresh)));
    }

    #[tokio::test]
    async fn expiry_not_after_now_is_refused() {
        let store = Store::connect_in_memory().await.expect("connect");
        for expires_at in [99, 100] {
            let err = store
                .check_and_record_at("s", "v", expires_at, 100)
                .await
                .err();
            assert!(matches!(
                err,
                Some(StoreError::AlreadyExpired { now: 100, .. })
            ));
        }
        assert_eq!(store.replay_entries("s").await.expect("count"), 0);
    }

    #[tokio::test]
    async fn dropping_the_purger_stops_it() {
        let store = Store::connect_in_memory().await.expect("connect");
        let purger = store.spawn_purger(Duration::from_secs(3600));
        let handle = purger.handle.abort_handle();
        drop(purger);
        tokio::time::timeout(Duration::from_secs(5), async {
            while !handle.is_finished() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("purger task stops after drop");
    }
}
