//! Helpers shared by the integration tests: bundle JSON surgery and verification shortcuts.
#![allow(dead_code)]
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use immerse_sigstore::testing::{BundleOptions, TestInstance};
use immerse_sigstore::{Artifact, Bundle, Error, Policy, VerifiedBundle};
use serde_json::Value;

pub const ARTIFACT: &[u8] = b"the artifact IMMERSE signs";
pub const STATEMENT: &str = r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"artifact","digest":{"sha256":"SUBJECT"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}"#;

pub fn statement() -> Vec<u8> {
    let digest = hex::encode(openssl::sha::sha256(ARTIFACT));
    STATEMENT.replace("SUBJECT", &digest).into_bytes()
}

pub fn b64d(text: &str) -> Vec<u8> {
    STANDARD.decode(text).expect("base64 in our own bundle")
}

pub fn b64e(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Flips one bit of the base64 value at `pointer` (a JSON pointer).
pub fn flip_b64(bundle: &mut Value, pointer: &str, byte: usize) {
    let slot = bundle.pointer_mut(pointer).expect("pointer exists");
    let mut bytes = b64d(slot.as_str().expect("string"));
    bytes[byte] ^= 0x01;
    *slot = Value::String(b64e(&bytes));
}

pub fn verify_value(
    instance: &TestInstance,
    bundle: &Value,
    artifact: Option<Artifact<'_>>,
    policy: &Policy,
) -> Result<VerifiedBundle, Error> {
    instance
        .verifier()
        .verify_json(&bundle.to_string(), artifact, policy)
}

/// Verifies `bundle` (after a JSON round trip, as a consumer would see it) for the
/// default identity and the blob artifact.
pub fn verify_blob(instance: &TestInstance, bundle: &Bundle) -> Result<VerifiedBundle, Error> {
    verify_value(
        instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
}

pub fn verify_dsse(instance: &TestInstance, bundle: &Bundle) -> Result<VerifiedBundle, Error> {
    verify_value(
        instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
}

pub fn blob_error(options: &BundleOptions) -> Error {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, options);
    verify_blob(&instance, &bundle).expect_err("tampered bundle must be refused")
}

pub fn dsse_error(options: &BundleOptions) -> Error {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_dsse(
        immerse_sigstore::dsse::IN_TOTO_PAYLOAD_TYPE,
        &statement(),
        options,
    );
    verify_dsse(&instance, &bundle).expect_err("tampered bundle must be refused")
}
