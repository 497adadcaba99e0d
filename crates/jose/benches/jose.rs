//! ES256 sign/verify, JWE ECDH-ES encrypt/decrypt and PKCS#11 signing.
//!
//! Compare with `openssl speed -seconds 3 ecdsap256 ecdhp256` on the same machine: that is what
//! the hardware allows for the raw primitives. PKCS#11 signing runs only where SoftHSM2 is
//! installed.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use immerse_jose::jwe::{ContentEncryption, DecryptionKey, KeyManagement, Policy, encrypt_compact};
use immerse_jose::jws::{self, SigningHeader, Validation, verify_signature};
use immerse_jose::pkcs11::{
    DEFAULT_MODULE, PinSource, Pkcs11Config, Pkcs11Signer, init_softhsm_token,
};
use immerse_jose::{Algorithm, Curve, Signer, SoftwareSigner};
use serde_json::Map;

const TYP: &str = "example+jwt";
/// A payload the size of a typical key proof or KB-JWT.
const PAYLOAD: &[u8] =
    br#"{"aud":"https://issuer.example","iat":1800000000,"exp":1800000300,"nonce":"n-0S6_WzA2Mj"}"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn es256(c: &mut Criterion) {
    let rt = runtime();
    let signer = SoftwareSigner::generate().unwrap();
    let header = SigningHeader::new(TYP);
    let token = rt
        .block_on(jws::sign_compact(&signer, &header, PAYLOAD))
        .unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = immerse_jose::base64url::decode(signature, "bench").unwrap();

    c.bench_function("es256/sign raw", |b| {
        b.iter(|| {
            rt.block_on(signer.sign(black_box(input.as_bytes())))
                .unwrap()
        })
    });
    c.bench_function("es256/verify raw", |b| {
        b.iter(|| {
            verify_signature(
                Algorithm::Es256,
                signer.public_jwk(),
                black_box(input.as_bytes()),
                &signature,
            )
            .unwrap()
        })
    });
    c.bench_function("es256/sign compact JWS", |b| {
        b.iter(|| {
            rt.block_on(jws::sign_compact(&signer, &header, black_box(PAYLOAD)))
                .unwrap()
        })
    });
    c.bench_function("es256/verify compact JWS", |b| {
        b.iter(|| {
            jws::verify_compact(
                black_box(&token),
                &Validation::new(TYP),
                signer.public_jwk(),
            )
            .unwrap()
        })
    });
}

fn jwe(c: &mut Criterion) {
    let key = DecryptionKey::generate(Curve::P256).unwrap();
    let encrypt = || {
        encrypt_compact(
            PAYLOAD,
            key.public_jwk(),
            KeyManagement::EcdhEs,
            ContentEncryption::A128Gcm,
            &Map::new(),
        )
        .unwrap()
    };
    let token = encrypt();
    c.bench_function("jwe/encrypt ECDH-ES A128GCM", |b| b.iter(encrypt));
    c.bench_function("jwe/decrypt ECDH-ES A128GCM", |b| {
        b.iter(|| key.decrypt(black_box(&token), &Policy::default()).unwrap())
    });
}

fn pkcs11(c: &mut Criterion) {
    if !std::path::Path::new(DEFAULT_MODULE).exists() {
        eprintln!(
            "SKIPPED: pkcs11 benchmark: {DEFAULT_MODULE} is missing (apt-get install softhsm2)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = init_softhsm_token(dir.path(), "bench", "1234").unwrap();
    // SAFETY: set before the module is first loaded, while this is the only thread.
    unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "1234").unwrap();
    let signer = Pkcs11Signer::generate(&Pkcs11Config::softhsm(
        "bench",
        "bench-key",
        PinSource::File(pin),
    ))
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    c.bench_function("pkcs11/sign ES256 (SoftHSM2)", |b| {
        b.iter(|| rt.block_on(signer.sign(black_box(PAYLOAD))).unwrap())
    });
}

criterion_group!(benches, es256, jwe, pkcs11);
criterion_main!(benches);
