//! Registry throughput: JWKS lookups over HTTP on loopback against an in-process server, and
//! offline verification of an entity statement with its inclusion proof.
//!
//! The HTTP figures include the whole registry path (axum, SQLite in memory, JSON), measured
//! from a reqwest client on the same machine, so client and server share the cores.
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use immerse_jose::{Signer, SoftwareSigner};
use immerse_registry::client::TrustAnchor;
use immerse_registry::model::{KeyUseName, Role};
use immerse_registry::{AdminKey, Config, KeyWindow, NewEntity, Registry};
use immerse_store::Store;
use tokio::runtime::Runtime;

const REGISTRY_ID: &str = "https://registry.bench";
const ENTITY: &str = "https://issuer.bench";
/// `ENTITY` as one percent-encoded path segment.
const ENTITY_SEGMENT: &str = "https%3A%2F%2Fissuer.bench";
/// Requests in flight per iteration of the concurrent variant.
const CONCURRENT: usize = 32;

struct Fixture {
    registry: Registry,
    root: Arc<SoftwareSigner>,
    jwks_url: String,
}

/// A registry with one issuer and one key, served on 127.0.0.1 by `runtime`.
fn fixture(runtime: &Runtime) -> Fixture {
    runtime.block_on(async {
        let root = Arc::new(SoftwareSigner::generate().expect("root key"));
        let store = Store::connect_in_memory().await.expect("store");
        let registry = Registry::new(store, root.clone(), Config::new(REGISTRY_ID));
        let new = NewEntity {
            id: ENTITY.into(),
            role: Role::Issuer,
            display_name: "Bench Issuer".into(),
            allowances: Default::default(),
        };
        registry
            .create_entity("admin:bench", new)
            .await
            .expect("entity");
        let key = SoftwareSigner::generate().expect("entity key");
        let request = AdminKey {
            jwk: key.public_jwk().clone().into(),
            key_use: KeyUseName::Sig,
            alg: Some("ES256".into()),
            window: KeyWindow::default(),
        };
        registry
            .add_key("admin:bench", ENTITY, request)
            .await
            .expect("key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let router = immerse_registry::http::router(registry.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Fixture {
            registry,
            root,
            jwks_url: format!("http://{address}/v1/entities/{ENTITY_SEGMENT}/jwks"),
        }
    })
}

async fn get(http: &reqwest::Client, url: &str) -> usize {
    let response = http.get(url).send().await.expect("GET");
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.expect("body").len()
}

fn jwks_lookups(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = fixture(&runtime);
    let http = reqwest::Client::new();
    let url = fixture.jwks_url.as_str();
    runtime.block_on(get(&http, url));

    let mut group = c.benchmark_group("jwks lookups");
    group.throughput(Throughput::Elements(1));
    group.bench_function("GET one at a time", |b| {
        b.iter(|| runtime.block_on(get(&http, black_box(url))))
    });
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.bench_function("GET 32 concurrent", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut requests = tokio::task::JoinSet::new();
                for _ in 0..CONCURRENT {
                    let http = http.clone();
                    let url = fixture.jwks_url.clone();
                    requests.spawn(async move { get(&http, &url).await });
                }
                let mut bytes = 0;
                while let Some(done) = requests.join_next().await {
                    bytes += done.expect("request task");
                }
                bytes
            })
        })
    });
    group.finish();
}

fn statement_verification(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = fixture(&runtime);
    let statement = runtime
        .block_on(fixture.registry.entity_statement(ENTITY))
        .expect("statement");
    let anchor = TrustAnchor::new(REGISTRY_ID, fixture.root.public_jwk().clone());
    let now = fixture.registry.now();
    let verified = anchor
        .verify_statement(&statement, ENTITY, now)
        .expect("the statement verifies");
    assert_eq!(verified.jwks().keys.len(), 1);

    let mut group = c.benchmark_group("statement verifications");
    group.throughput(Throughput::Elements(1));
    group.bench_function("offline, one key and its inclusion proof", |b| {
        b.iter(|| {
            anchor
                .verify_statement(black_box(&statement), ENTITY, now)
                .expect("verifies")
        })
    });
    group.finish();
}

criterion_group!(benches, jwks_lookups, statement_verification);
criterion_main!(benches);
