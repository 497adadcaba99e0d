//! Arbitrary bytes as what a registry client reads from the Key Registry: an entity statement,
//! a historical key set, a signed checkpoint, two checkpoints with a consistency proof, and an
//! inclusion proof, each verified offline with the pinned registry key ([`TrustAnchor`]).
//!
//! Forged bytes stop at the signature, so the bytes are also taken, when they are a JSON
//! object, as claims the registry key signs (`iss`, `sub`, `iat` and `exp` filled in where the
//! fuzzer left them out, and every `"checkpoint"` member that is an object signed as a
//! checkpoint first): that reaches the claim, key, log entry and Merkle proof checks behind
//! the signature. The first byte picks the document. An error or a verified value, never a
//! panic.
#![no_main]
use std::future::Future;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use immerse_jose::jws::SigningHeader;
use immerse_jose::{Signer, SoftwareSigner, jwt};
use immerse_registry::client::TrustAnchor;
use immerse_registry::log::CHECKPOINT_TYP;
use immerse_registry::model::{Retention, Role};
use immerse_registry::publish::{ENTITY_STATEMENT_TYP, HISTORICAL_KEYS_TYP, InclusionProof};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const REGISTRY_ID: &str = "https://registry.example";
const ENTITY: &str = "https://issuer.example";
const NOW: i64 = 1_800_000_000;

static REGISTRY: LazyLock<SoftwareSigner> =
    LazyLock::new(|| SoftwareSigner::generate().expect("P-256 key generation"));
static ANCHOR: LazyLock<TrustAnchor> =
    LazyLock::new(|| TrustAnchor::new(REGISTRY_ID, REGISTRY.public_jwk().clone()));

/// Signs `claims` as the registry; a software key answers at once, so one poll is enough.
fn sign(typ: &str, claims: &Map<String, Value>) -> String {
    let header = SigningHeader::new(typ);
    let future = jwt::sign(&*REGISTRY, &header, claims);
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(token) => token.expect("the registry key signs"),
        Poll::Pending => unreachable!("a software key signs without waiting"),
    }
}

fn with_defaults(mut claims: Map<String, Value>, sub: Option<&str>) -> Map<String, Value> {
    claims.entry("iss").or_insert_with(|| json!(REGISTRY_ID));
    claims.entry("iat").or_insert_with(|| json!(NOW - 10));
    if let Some(sub) = sub {
        claims.entry("sub").or_insert_with(|| json!(sub));
        claims.entry("exp").or_insert_with(|| json!(NOW + 3600));
    }
    claims
}

/// Replaces every `"checkpoint": {...}` below `value` with that object signed as a checkpoint.
fn sign_checkpoints(value: &mut Value) {
    match value {
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                if name == "checkpoint"
                    && let Value::Object(claims) = member
                {
                    let claims = with_defaults(std::mem::take(claims), None);
                    *member = Value::String(sign(CHECKPOINT_TYP, &claims));
                } else {
                    sign_checkpoints(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sign_checkpoints),
        _ => {}
    }
}

fn signed_checkpoint(value: Option<Value>) -> String {
    match value {
        Some(Value::Object(claims)) => sign(CHECKPOINT_TYP, &with_defaults(claims, None)),
        Some(Value::String(text)) => text,
        _ => String::new(),
    }
}

fn proof_hashes(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The documents as they arrive: bytes that must carry the registry's signature themselves.
fn as_received(anchor: &TrustAnchor, text: &str) {
    let _ = anchor.verify_statement(text, ENTITY, NOW);
    let _ = anchor.verify_historical_keys(text, ENTITY, NOW);
    let _ = anchor.verify_checkpoint(text, NOW);
    if let Ok(proof) = serde_json::from_str::<InclusionProof>(text) {
        let _ = proof.verify(anchor.registry_key(), REGISTRY_ID, NOW);
    }
    let mut lines = text.lines();
    if let (Some(old), Some(new), Some(proof)) = (lines.next(), lines.next(), lines.next()) {
        let proof: Vec<String> = serde_json::from_str(proof).unwrap_or_default();
        let _ = anchor.verify_consistency(old, new, &proof, NOW);
    }
}

/// The documents with claims the registry signed.
fn as_signed(anchor: &TrustAnchor, selector: u8, mut value: Value) {
    sign_checkpoints(&mut value);
    let Value::Object(mut claims) = value else {
        return;
    };
    match selector % 5 {
        0 => {
            let token = sign(ENTITY_STATEMENT_TYP, &with_defaults(claims, Some(ENTITY)));
            if let Ok(entity) = anchor.verify_statement(&token, ENTITY, NOW) {
                let _ = entity.verification_keys(NOW, Retention::default());
                let _ = entity.jwks();
                let _ = entity.require_role(Role::Issuer);
                let _ = entity.require_credential_type("https://issuer.example/vct");
            }
        }
        1 => {
            let token = sign(HISTORICAL_KEYS_TYP, &with_defaults(claims, Some(ENTITY)));
            if let Ok(keys) = anchor.verify_historical_keys(&token, ENTITY, NOW) {
                for kid in keys.kids() {
                    let found = keys.key_valid_at(kid, NOW, Retention::default());
                    assert!(found.is_ok(), "a listed kid is found");
                }
            }
        }
        2 => {
            let token = sign(CHECKPOINT_TYP, &with_defaults(claims, None));
            if let Ok(checkpoint) = anchor.verify_checkpoint(&token, NOW) {
                let _ = checkpoint.root();
            }
        }
        3 => {
            let old = signed_checkpoint(claims.remove("old"));
            let new = signed_checkpoint(claims.remove("new"));
            let proof = proof_hashes(claims.get("proof"));
            let _ = anchor.verify_consistency(&old, &new, &proof, NOW);
        }
        _ => {
            if let Ok(proof) = serde_json::from_value::<InclusionProof>(Value::Object(claims)) {
                let _ = proof.verify(anchor.registry_key(), REGISTRY_ID, NOW);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let anchor = &*ANCHOR;
    if let Ok(text) = std::str::from_utf8(body) {
        as_received(anchor, text.trim());
    }
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        as_signed(anchor, *selector, value);
    }
});
