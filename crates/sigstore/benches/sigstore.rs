//! Bundle verifications per second beside the raw ECDSA P-256 verification rate, in the same
//! run: a v0.3 bundle costs the leaf signature, the Fulcio chain (two ECDSA checks), the SCT,
//! the SET and the checkpoint, plus parsing, so expect roughly a sixth of the raw rate.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use immerse_sigstore::dsse::IN_TOTO_PAYLOAD_TYPE;
use immerse_sigstore::testing::{BundleOptions, TestInstance};
use immerse_sigstore::{Artifact, Bundle, Policy};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;

const ARTIFACT: &[u8] = b"benchmark artifact";

fn bench(c: &mut Criterion) {
    let mut instance = TestInstance::new();
    let verifier = instance.verifier();
    let policy = Policy::identity(instance.identity_policy());
    let v03 = instance
        .sign_blob(ARTIFACT, &BundleOptions::default())
        .to_json()
        .to_string();
    let stamped = instance
        .sign_blob(
            ARTIFACT,
            &BundleOptions {
                timestamp: true,
                ..BundleOptions::default()
            },
        )
        .to_json()
        .to_string();
    let dsse = instance
        .sign_dsse(
            IN_TOTO_PAYLOAD_TYPE,
            b"{\"subject\":[]}",
            &BundleOptions::default(),
        )
        .to_json()
        .to_string();

    let mut group = c.benchmark_group("sigstore");
    group.throughput(Throughput::Elements(1));

    let key = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
    let digest = openssl::sha::sha256(ARTIFACT);
    let sig = EcdsaSig::sign(&digest, &key).unwrap();
    group.bench_function("raw_ecdsa_p256_verify", |b| {
        b.iter(|| assert!(sig.verify(&digest, &key).unwrap()))
    });
    group.bench_function("bundle_parse_v03", |b| {
        b.iter(|| Bundle::from_json(&v03).unwrap())
    });
    group.bench_function("bundle_verify_v03_blob", |b| {
        b.iter(|| {
            verifier
                .verify_json(&v03, Some(Artifact::Bytes(ARTIFACT)), &policy)
                .unwrap()
        })
    });
    group.bench_function("bundle_verify_v03_blob_with_tsa", |b| {
        b.iter(|| {
            verifier
                .verify_json(&stamped, Some(Artifact::Bytes(ARTIFACT)), &policy)
                .unwrap()
        })
    });
    group.bench_function("bundle_verify_v03_dsse", |b| {
        b.iter(|| verifier.verify_json(&dsse, None, &policy).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
