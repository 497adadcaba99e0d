//! Issue 14: a flood of bogus unauthenticated requests against a real server on 127.0.0.1 grows
//! the trust anchor's database by a bounded, stated amount, on SQLite and on PostgreSQL (which
//! runs when IMMERSE_TEST_POSTGRES_URL is set; in CI its absence is a failure).
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use immerse_jose::{SoftwareSigner, base64url};
use immerse_registry::http::MAX_BODY_BYTES;
use immerse_registry::{ANONYMOUS, MAX_AUDIT_DETAIL, MAX_REFUSAL_COUNTERS, Registry};
use immerse_store::Store;
use serde_json::json;

/// How many bogus requests the flood sends.
const SUBMISSIONS: usize = 10_000;
/// Requests in flight at once, each worker on its own keep-alive connection.
const IN_FLIGHT: usize = 16;
/// The flood must be over by then (it takes seconds; the bound keeps a hang from hiding).
const DEADLINE: Duration = Duration::from_secs(300);
/// New rows anywhere in the database. The test clock does not move, so the whole flood falls in
/// one tally window, and one window writes at most one row per (action, reason, peer) counter,
/// of which there are at most MAX_REFUSAL_COUNTERS, plus one overflow row. Per request, it
/// would have been up to 10 000.
const MAX_NEW_ROWS: i64 = MAX_REFUSAL_COUNTERS as i64 + 1;
/// Bytes the tables may grow by: MAX_NEW_ROWS rows of at most MAX_AUDIT_DETAIL bytes of detail
/// and under 512 bytes of other columns and record overhead (1 KiB a row, 65 KiB), plus 64 KiB
/// for rounding to whole pages and a page split in each b-tree touched (16 pages of 4 KiB on
/// SQLite, 8 of 8 KiB on PostgreSQL): 129 KiB. Row per request it would be megabytes.
const MAX_GROWTH_BYTES: i64 = MAX_NEW_ROWS * 1024 + 64 * 1024;

const ISSUER: &str = "https://issuer.test";
const ISSUER_SEGMENT: &str = "https%3A%2F%2Fissuer.test";

/// The database under the registry, measured from a connection of the test's own.
enum Measured {
    Sqlite {
        pool: sqlx::AnyPool,
        file: std::path::PathBuf,
    },
    Postgres {
        pool: sqlx::AnyPool,
    },
}

impl Measured {
    fn pool(&self) -> &sqlx::AnyPool {
        match self {
            Self::Sqlite { pool, .. } | Self::Postgres { pool } => pool,
        }
    }

    async fn tables(&self) -> Vec<String> {
        let query = match self {
            Self::Sqlite { .. } => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            }
            Self::Postgres { .. } => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            }
        };
        sqlx::query_scalar(query)
            .fetch_all(self.pool())
            .await
            .unwrap()
    }

    /// Rows in every table.
    async fn rows(&self) -> i64 {
        let mut total = 0;
        for table in self.tables().await {
            let count: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(self.pool())
                    .await
                    .unwrap();
            total += count;
        }
        total
    }

    /// Bytes on disk: the SQLite file with its WAL folded in, or every PostgreSQL table with
    /// its indexes and TOAST.
    async fn bytes(&self) -> i64 {
        match self {
            Self::Sqlite { pool, file } => {
                sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await
                    .unwrap();
                let wal = file.with_extension("db-wal");
                [file.as_path(), wal.as_path()]
                    .iter()
                    .map(|path| std::fs::metadata(path).map_or(0, |meta| meta.len()))
                    .sum::<u64>()
                    .try_into()
                    .unwrap()
            }
            Self::Postgres { pool } => sqlx::query_scalar(
                "SELECT CAST(SUM(pg_total_relation_size(CAST(quote_ident(table_name) AS regclass))) AS BIGINT) \
                 FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .fetch_one(pool)
            .await
            .unwrap(),
        }
    }
}

/// One bogus request and the refusal it must get.
struct Bogus {
    path: String,
    token: Option<String>,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
}

/// The `i`th request of the flood: bad signatures, unknown entities, malformed ids, oversized
/// bodies, forged retirements and made-up admin tokens, in turn. Names vary per request, so
/// that a flood with many entity names cannot make many rows either.
async fn bogus(i: usize, tampered: &str, stranger: &SoftwareSigner, kid: &str, now: i64) -> Bogus {
    let submission = |proof: &str| {
        json!({"proof": proof, "enrolment_secret": format!("ime_guess_{i}")})
            .to_string()
            .into_bytes()
    };
    match i % 6 {
        0 => Bogus {
            path: format!("/v1/entities/{ISSUER_SEGMENT}/keys"),
            token: None,
            body: submission(tampered),
            status: 400,
            error: "invalid_proof",
        },
        1 => {
            let nobody = format!("https://nobody-{i}.test");
            let proof = proof(stranger, &nobody, &format!("j-{i}"), now).await;
            Bogus {
                path: format!("/v1/entities/https%3A%2F%2Fnobody-{i}.test/keys"),
                token: None,
                body: submission(&proof),
                status: 404,
                error: "not_found",
            }
        }
        2 => {
            let id = match (i / 6) % 3 {
                0 => format!("http%3A%2F%2Fplain-{i}.test"),
                1 => format!("https%3A%2F%2F{}-{i}.test", "a".repeat(300)),
                _ => format!("https%3A%2F%2Fq-{i}.test%3Fx%3D1"),
            };
            Bogus {
                path: format!("/v1/entities/{id}/keys"),
                token: None,
                body: submission(tampered),
                status: 400,
                error: "invalid_request",
            }
        }
        3 => Bogus {
            path: format!("/v1/entities/{ISSUER_SEGMENT}/keys"),
            token: None,
            body: format!(r#"{{"proof":"{}"}}"#, "a".repeat(MAX_BODY_BYTES)).into_bytes(),
            status: 413,
            error: "invalid_request",
        },
        4 => Bogus {
            path: format!("/v1/entities/{ISSUER_SEGMENT}/keys/{kid}/retire"),
            token: None,
            body: json!({"proof": retirement(stranger, ISSUER, kid, &format!("r-{i}"), now).await})
                .to_string()
                .into_bytes(),
            status: 400,
            error: "invalid_proof",
        },
        _ => Bogus {
            path: format!("/admin/v1/entities/{ISSUER_SEGMENT}/suspend"),
            token: Some(format!("imr_made_up_{i}")),
            body: b"{}".to_vec(),
            status: 401,
            error: "invalid_token",
        },
    }
}

async fn flood(backend: &str, registry: Registry, measured: Measured, clock: &TestClock) {
    enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    let request =
        serde_json::from_value(json!({"jwk": public(&key).to_object(), "alg": "ES256"})).unwrap();
    registry
        .add_key("admin:test", ISSUER, request)
        .await
        .unwrap();
    let kid = Arc::new(public(&key).thumbprint_b64());
    let stranger = Arc::new(SoftwareSigner::generate().unwrap());
    let good = proof(&stranger, ISSUER, "p", clock.now()).await;
    let (head, rest) = good.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let forged_claims = json!({"iss": ISSUER, "aud": REGISTRY_ID, "iat": clock.now(), "exp": clock.now() + 60, "jti": "x"});
    let tampered = Arc::new(format!(
        "{head}.{}.{signature}",
        base64url::encode(forged_claims.to_string())
    ));
    let base = Arc::new(serve_with_peers(registry.clone()).await);
    let log_before = registry.verify_integrity().await.unwrap().tree_size;
    let rows_before = measured.rows().await;
    let bytes_before = measured.bytes().await;

    let started = Instant::now();
    let now = clock.now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..IN_FLIGHT {
        let (base, kid, stranger, tampered) = (
            base.clone(),
            kid.clone(),
            stranger.clone(),
            tampered.clone(),
        );
        workers.spawn(async move {
            let client = reqwest::Client::new();
            let mut refused = 0;
            for i in (worker..SUBMISSIONS).step_by(IN_FLIGHT) {
                let bogus = bogus(i, &tampered, &stranger, &kid, now).await;
                let mut request = client
                    .post(format!("{base}{}", bogus.path))
                    .header("content-type", "application/json")
                    .body(bogus.body);
                if let Some(token) = &bogus.token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let answer: serde_json::Value = response.json().await.unwrap();
                assert_eq!(
                    (status, answer["error"].as_str()),
                    (bogus.status, Some(bogus.error)),
                    "request {i}: {answer}"
                );
                refused += 1;
            }
            refused
        });
    }
    let refused = tokio::time::timeout(DEADLINE, async {
        let mut refused = 0;
        while let Some(done) = workers.join_next().await {
            refused += done.unwrap();
        }
        refused
    })
    .await
    .expect("the flood finishes within the deadline");
    let elapsed = started.elapsed();
    assert_eq!(refused, SUBMISSIONS);

    let written = registry.flush_refusals().await.unwrap();
    let rows_grown = measured.rows().await - rows_before;
    let bytes_grown = measured.bytes().await - bytes_before;
    eprintln!(
        "flood on {backend}: {SUBMISSIONS} bogus requests refused in {elapsed:.1?}; \
         the database grew by {rows_grown} rows and {bytes_grown} bytes \
         (bounds {MAX_NEW_ROWS} rows, {MAX_GROWTH_BYTES} bytes)"
    );
    assert!(
        rows_grown <= MAX_NEW_ROWS,
        "{rows_grown} rows > {MAX_NEW_ROWS}"
    );
    assert!(
        bytes_grown <= MAX_GROWTH_BYTES,
        "{bytes_grown} bytes > {MAX_GROWTH_BYTES}"
    );
    assert_eq!(
        i64::try_from(written).unwrap(),
        rows_grown,
        "only the counts were written"
    );
    assert_eq!(
        registry.verify_integrity().await.unwrap().tree_size,
        log_before
    );
    assert_eq!(registry.keys(ISSUER).await.unwrap().len(), 1);
    let trail = registry
        .audit_records(i64::try_from(written).unwrap())
        .await
        .unwrap();
    let total: u64 = trail
        .iter()
        .map(|row| {
            assert_eq!(row.actor, ANONYMOUS, "{row:?}");
            assert!(row.detail.starts_with("peer 127.0.0.1: "), "{}", row.detail);
            assert!(row.detail.len() <= MAX_AUDIT_DETAIL);
            row.detail["peer 127.0.0.1: ".len()..]
                .split_once(' ')
                .and_then(|(count, _)| count.parse::<u64>().ok())
                .expect("the row states its count")
        })
        .sum();
    assert_eq!(total, SUBMISSIONS as u64, "every refusal is counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_bogus_submissions_grow_sqlite_by_a_bounded_amount() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.db");
    let url = format!("sqlite://{}", file.display());
    let clock = TestClock::new();
    let registry = registry_on(Store::connect(&url).await.unwrap(), &clock);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    flood("SQLite", registry, Measured::Sqlite { pool, file }, &clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_bogus_submissions_grow_postgres_by_a_bounded_amount() {
    let Some(database) = fresh_database("flood").await else {
        return;
    };
    let clock = TestClock::new();
    let store = Store::connect(&database.url).await.unwrap();
    let registry = registry_on(store.clone(), &clock);
    let pool = sqlx::AnyPool::connect(&database.url).await.unwrap();
    flood(
        "PostgreSQL",
        registry,
        Measured::Postgres { pool: pool.clone() },
        &clock,
    )
    .await;
    pool.close().await;
    store.close().await;
    database.drop_now().await;
}
