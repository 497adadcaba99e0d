//! Replay cache behaviour, run against SQLite always and against PostgreSQL when
//! `IMMERSE_TEST_POSTGRES_URL` is set (CI sets it, and fails rather than skips without it).
//!
//! Each scenario is one `async fn(url)`; `on_both_backends!` makes a `sqlite::NAME` and a
//! `postgres::NAME` test of it. PostgreSQL tables are shared between tests and runs, so every
//! scenario works in a scope of its own, and times that other tests' purges could reach are
//! chosen so that they cannot interfere.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use immerse_store::{Replay, Store};

/// A scope no other test or run uses: the name, the process id, the time and a counter.
fn unique_scope(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{nanos}-{n}", std::process::id())
}

/// The system clock in unix seconds, as the store reads it.
fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("clock fits i64")
}

/// Connects to `url`, failing the test with the error if it cannot.
async fn connect(url: &str) -> Store {
    match Store::connect(url).await {
        Ok(store) => store,
        Err(e) => panic!("connect: {e}"),
    }
}

/// A SQLite database file in a fresh temporary folder, removed when dropped.
struct SqliteFile {
    _dir: tempfile::TempDir,
    url: String,
}

impl SqliteFile {
    /// Names a file that does not exist yet: connecting must create it.
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("immerse.db").display());
        Self { _dir: dir, url }
    }
}

/// The PostgreSQL URL to test against, or `None` (said loudly) to skip; under CI a missing
/// URL fails the test, so that a broken CI setup cannot pass by skipping.
fn postgres_url(test: &str) -> Option<String> {
    const VAR: &str = "IMMERSE_TEST_POSTGRES_URL";
    if let Some(url) = std::env::var(VAR).ok().filter(|url| !url.is_empty()) {
        return Some(url);
    }
    let in_ci = std::env::var("CI").is_ok_and(|ci| !ci.is_empty() && ci != "false" && ci != "0");
    assert!(
        !in_ci,
        "{VAR} is unset but CI is set: the PostgreSQL tests must run in CI"
    );
    // Written to stderr directly, not with eprintln!, which the test harness captures and
    // shows only for failing tests: a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED postgres::{test}: {VAR} is unset, so the PostgreSQL backend is NOT tested. \
         Set it (e.g. postgres://postgres@127.0.0.1:5432/test) to run this test. ***\n"
    );
    None
}

/// Makes `sqlite::NAME` and `postgres::NAME` tests that run the scenario `NAME(url)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::SqliteFile::new();
                    super::$name(&db.url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(url) = super::postgres_url(stringify!($name)) {
                        super::$name(&url).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    value_checked_twice_is_replayed,
    same_value_in_another_scope_is_fresh,
    expired_value_is_fresh_again_before_any_purge,
    purge_removes_expired_rows_only,
    purger_task_removes_expired_rows,
    two_stores_racing_on_one_value_get_exactly_one_fresh,
    two_stores_connecting_at_once_both_migrate,
    records_survive_closing_and_reopening_the_store,
    one_time_value_is_taken_once_and_only_while_live,
);

/// A recorded one-time value (a challenge) is taken exactly once by racing takers, never
/// after expiry, and never if it was not recorded.
async fn one_time_value_is_taken_once_and_only_while_live(url: &str) {
    let stores = [connect(url).await, connect(url).await];
    let scope = unique_scope("take");
    let t = now();
    stores[0]
        .check_and_record_at(&scope, "challenge", t + 60, t)
        .await
        .unwrap();
    stores[0]
        .check_and_record_at(&scope, "stale", t + 60, t)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = stores[i % 2].clone();
            let scope = scope.clone();
            tokio::spawn(async move { store.take_once(&scope, "challenge", t + 1).await })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        if task.await.expect("task").expect("take_once") {
            taken += 1;
        }
    }
    assert_eq!(taken, 1);
    assert!(
        !stores[0].take_once(&scope, "stale", t + 60).await.unwrap(),
        "expired"
    );
    assert!(
        !stores[0]
            .take_once(&scope, "never-issued", t)
            .await
            .unwrap(),
        "unknown"
    );
}

/// Recording a value, then checking it again before it expires, says Replayed.
async fn value_checked_twice_is_replayed(url: &str) {
    let store = connect(url).await;
    let scope = unique_scope("twice");
    let expires_at = now() + 600;
    let first = store.check_and_record(&scope, "nonce-1", expires_at).await;
    let second = store.check_and_record(&scope, "nonce-1", expires_at).await;
    assert_eq!(first.ok(), Some(Replay::Fresh));
    assert_eq!(second.ok(), Some(Replay::Replayed));
}

/// Scopes are independent: a value seen in one scope is fresh in another.
async fn same_value_in_another_scope_is_fresh(url: &str) {
    let store = connect(url).await;
    let (a, b) = (unique_scope("scope-a"), unique_scope("scope-b"));
    let expires_at = now() + 600;
    let in_a = store.check_and_record(&a, "jti-7", expires_at).await;
    let in_b = store.check_and_record(&b, "jti-7", expires_at).await;
    assert_eq!(in_a.ok(), Some(Replay::Fresh));
    assert_eq!(in_b.ok(), Some(Replay::Fresh));
}

/// A row past its expiry protects nothing: the value is fresh again even though no purge ran,
/// and is then protected until its new expiry.
async fn expired_value_is_fresh_again_before_any_purge(url: &str) {
    let store = connect(url).await;
    let scope = unique_scope("expired");
    // Far in the future of the real clock, so no other test's purge can remove these rows.
    let t = now() + 100_000;
    let check = |expires_at, at| store.check_and_record_at(&scope, "code", expires_at, at);

    assert_eq!(check(t + 10, t).await.ok(), Some(Replay::Fresh));
    assert_eq!(check(t + 50, t + 9).await.ok(), Some(Replay::Replayed));
    // At t + 10 the first record has expired (expiry is inclusive).
    assert_eq!(check(t + 20, t + 10).await.ok(), Some(Replay::Fresh));
    assert_eq!(check(t + 30, t + 19).await.ok(), Some(Replay::Replayed));
    assert_eq!(store.replay_entries(&scope).await.ok(), Some(1));
}

/// `purge_expired(now)` deletes rows with `expires_at <= now` and keeps the others.
async fn purge_removes_expired_rows_only(url: &str) {
    let store = connect(url).await;
    let scope = unique_scope("purge");
    let t = now();
    for (value, expires_at) in [("old-1", t - 50), ("old-2", t - 1), ("old-3", t)] {
        let recorded = store
            .check_and_record_at(&scope, value, expires_at, t - 100)
            .await;
        assert_eq!(recorded.ok(), Some(Replay::Fresh));
    }
    for value in ["live-1", "live-2"] {
        let recorded = store.check_and_record_at(&scope, value, t + 1_000, t).await;
        assert_eq!(recorded.ok(), Some(Replay::Fresh));
    }
    assert_eq!(store.replay_entries(&scope).await.ok(), Some(5));

    // The purge is global: other tests' expired rows may go too, so "at least".
    let purged = store.purge_expired(t).await.expect("purge");
    assert!(purged >= 3, "purged {purged}");
    assert_eq!(store.replay_entries(&scope).await.ok(), Some(2));
    for value in ["live-1", "live-2"] {
        let again = store.check_and_record_at(&scope, value, t + 1_000, t).await;
        assert_eq!(again.ok(), Some(Replay::Replayed), "{value}");
    }
}

/// The background purger removes expired rows by itself.
async fn purger_task_removes_expired_rows(url: &str) {
    let store = connect(url).await;
    let scope = unique_scope("purger");
    let t = now();
    for value in ["a", "b"] {
        let recorded = store
            .check_and_record_at(&scope, value, t - 50, t - 100)
            .await;
        assert_eq!(recorded.ok(), Some(Replay::Fresh));
    }
    let _purger = store.spawn_purger(Duration::from_millis(50));
    let emptied = tokio::time::timeout(Duration::from_secs(10), async {
        while store.replay_entries(&scope).await.ok() != Some(0) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(emptied.is_ok(), "purger did not remove the expired rows");
}

/// 32 tasks on two `Store` values (two pools, one database) race on one value: exactly one
/// wins. Then they race again once that record has expired: again exactly one wins.
async fn two_stores_racing_on_one_value_get_exactly_one_fresh(url: &str) {
    let stores = [connect(url).await, connect(url).await];
    let scope = unique_scope("race");
    let t = now() + 100_000;
    for (expires_at, at) in [(t + 10, t), (t + 20, t + 10)] {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let store = stores[i % 2].clone();
                let scope = scope.clone();
                tokio::spawn(async move {
                    store
                        .check_and_record_at(&scope, "contested", expires_at, at)
                        .await
                })
            })
            .collect();
        let mut fresh = 0;
        let mut replayed = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(Replay::Fresh) => fresh += 1,
                Ok(Replay::Replayed) => replayed += 1,
                Err(e) => panic!("check_and_record_at: {e}"),
            }
        }
        assert_eq!((fresh, replayed), (1, 31), "round at {at}");
    }
}

/// Migrations run at connect; two stores connecting to one database at the same moment must
/// both succeed (on a fresh SQLite file both find the schema missing).
async fn two_stores_connecting_at_once_both_migrate(url: &str) {
    let (a, b) = tokio::join!(Store::connect(url), Store::connect(url));
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => panic!("connect: {:?} / {:?}", a.err(), b.err()),
    };
    let scope = unique_scope("migrate");
    let expires_at = now() + 600;
    assert_eq!(
        a.check_and_record(&scope, "v", expires_at).await.ok(),
        Some(Replay::Fresh)
    );
    assert_eq!(
        b.check_and_record(&scope, "v", expires_at).await.ok(),
        Some(Replay::Replayed)
    );
}

/// What was recorded is still there after the store is closed and opened again (a restart);
/// reconnecting also re-runs the migrations, which must find nothing to do.
async fn records_survive_closing_and_reopening_the_store(url: &str) {
    let scope = unique_scope("restart");
    let expires_at = now() + 600;
    let store = connect(url).await;
    let first = store.check_and_record(&scope, "v", expires_at).await;
    assert_eq!(first.ok(), Some(Replay::Fresh));
    store.close().await;
    drop(store);

    let reopened = connect(url).await;
    let again = reopened.check_and_record(&scope, "v", expires_at).await;
    assert_eq!(again.ok(), Some(Replay::Replayed));
}
