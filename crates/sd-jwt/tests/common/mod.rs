//! Helpers shared by the integration tests: keys, crafted SD-JWTs, validations.
#![allow(dead_code)]
use immerse_jose::jws::SigningHeader;
use immerse_jose::{SoftwareSigner, base64url, jwt};
use immerse_sd_jwt::{KeyBindingPolicy, Validation, sd_hash};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const NOW: i64 = 1_800_000_000;
pub const AUDIENCE: &str = "https://verifier.example.org";
pub const NONCE: &str = "n-0S6_WzA2Mj";
pub const TYP: &[&str] = &["dc+sd-jwt"];

pub fn signer() -> SoftwareSigner {
    SoftwareSigner::generate().expect("P-256 key")
}

/// A validation at `NOW` with no Key Binding.
pub fn validation() -> Validation<'static> {
    Validation::new(TYP).at(NOW)
}

/// A validation at `NOW` that requires Key Binding to `AUDIENCE` and `NONCE`.
pub fn kb_validation() -> Validation<'static> {
    validation().key_binding(KeyBindingPolicy::new(AUDIENCE, NONCE))
}

/// An encoded disclosure of `array` (any JSON, so malformed ones can be made) and its digest.
pub fn disclosure(array: Value) -> (String, String) {
    let encoded = base64url::encode(array.to_string());
    let digest = base64url::encode(Sha256::digest(encoded.as_bytes()));
    (encoded, digest)
}

/// Signs `payload` as the issuer JWT with `typ`.
pub async fn sign_payload(signer: &SoftwareSigner, typ: &str, payload: &Value) -> String {
    jwt::sign(signer, &SigningHeader::new(typ), payload)
        .await
        .expect("signs")
}

/// `jwt~d1~...~dn~`.
pub fn sd_jwt(jwt: &str, disclosures: &[&str]) -> String {
    let mut text = format!("{jwt}~");
    for disclosure in disclosures {
        text.push_str(disclosure);
        text.push('~');
    }
    text
}

/// A payload with `exp` in the future and `extra` members.
pub fn payload(extra: Value) -> Value {
    let mut base = json!({"iss": "https://issuer.example", "iat": NOW - 10, "exp": NOW + 3600});
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// Signs a KB-JWT over `sd_jwt` with custom claims and `typ`.
pub async fn kb_jwt(holder: &SoftwareSigner, typ: &str, claims: &Value) -> String {
    jwt::sign(holder, &SigningHeader::new(typ), claims)
        .await
        .expect("signs")
}

/// The standard KB-JWT claims for `sd_jwt`.
pub fn kb_claims(sd_jwt: &str) -> Value {
    json!({"iat": NOW, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": sd_hash(sd_jwt)})
}
