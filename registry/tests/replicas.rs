//! Two registry instances on one PostgreSQL database append concurrently without forking the
//! log. Runs when IMMERSE_TEST_POSTGRES_URL is set; in CI (CI=true) its absence is a failure.
mod common;

use std::sync::Arc;

use common::*;
use immerse_registry::model::Role;
use immerse_registry::{NewEntity, Registry};
use immerse_store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_append_concurrently_without_forking_the_log() {
    let Some(database) = fresh_database("replicas").await else {
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
