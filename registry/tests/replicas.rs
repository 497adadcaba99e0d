//! Two registry instances on one PostgreSQL database append concurrently without forking the
//! log. Runs when IMMERSE_TEST_POSTGRES_URL is set; in CI (CI=true) its absence is a failure.
mod common;

use std::io::Write;
use std::sync::Arc;

use common::*;
use immerse_registry::model::Role;
use immerse_registry::{NewEntity, Registry};
use immerse_store::Store;

const VAR: &str = "IMMERSE_TEST_POSTGRES_URL";

/// A database of its own on the test server, so that this test sees only its own log; dropped
/// when the test is done with it.
struct TestDatabase {
    admin: sqlx::AnyPool,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn drop_now(self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&self.admin)
            .await
            .unwrap();
    }
}

async fn fresh_database() -> Option<TestDatabase> {
    let Ok(base) = std::env::var(VAR) else {
        if std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false") {
            panic!("{VAR} is unset in CI: the two-replica PostgreSQL test must run");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED replicas: {VAR} is unset, PostgreSQL is NOT tested ***"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base)
        .await
        .expect("connect to the test server");
    let name = format!("immerse_registry_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let (server, _) = base.rsplit_once('/').expect("URL names a database");
    let url = format!("{server}/{name}");
    Some(TestDatabase { admin, name, url })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_append_concurrently_without_forking_the_log() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let url = database.url.clone();
    let clock = TestClock::new();
    let first = registry_on(Store::connect(&url).await.unwrap(), &clock);
    let second = registry_on(Store::connect(&url).await.unwrap(), &clock);
    const PER_INSTANCE: usize = 12;
    let mut tasks = Vec::new();
    for (name, registry) in [("a", first.clone()), ("b", second.clone())] {
        for i in 0..PER_INSTANCE {
            let registry: Registry = registry.clone();
            tasks.push(tokio::spawn(async move {
                registry
                    .create_entity(
                        "admin:test",
                        NewEntity {
                            id: format!("https://{name}{i}.test"),
                            role: Role::Verifier,
                            display_name: format!("{name}{i}"),
                            allowances: Default::default(),
                        },
                    )
                    .await
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().expect("every concurrent append lands");
    }
    let expected = (2 * PER_INSTANCE) as u64;
    for registry in [&first, &second] {
        let report = registry.verify_integrity().await.expect("one linear log");
        assert_eq!(report.tree_size, expected);
        assert_eq!(report.entities, 2 * PER_INSTANCE);
    }
    // Every checkpoint on the way is consistent with the final one: no fork anywhere.
    let root = Arc::clone(&ROOT);
    let final_checkpoint = immerse_registry::log::Checkpoint::verify(
        &first.checkpoint().await.unwrap(),
        immerse_jose::Signer::public_jwk(&*root),
        REGISTRY_ID,
        clock.now(),
    )
    .unwrap();
    for size in 1..expected {
        let row = first
            .store()
            .registry_checkpoint(size as i64)
            .await
            .unwrap()
            .expect("a checkpoint per size");
        let old = immerse_registry::log::Checkpoint::verify(
            &row.signed,
            immerse_jose::Signer::public_jwk(&*root),
            REGISTRY_ID,
            clock.now(),
        )
        .unwrap();
        let proof: Vec<[u8; 32]> = first
            .consistency_proof(size, expected)
            .await
            .unwrap()
            .iter()
            .map(|hash| {
                immerse_jose::base64url::decode(hash, "h")
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect();
        immerse_merkle::verify_consistency(
            size,
            expected,
            &old.root().unwrap(),
            &final_checkpoint.root().unwrap(),
            &proof,
        )
        .unwrap_or_else(|err| panic!("checkpoint {size} forks: {err}"));
    }
    first.store().close().await;
    second.store().close().await;
    database.drop_now().await;
}
