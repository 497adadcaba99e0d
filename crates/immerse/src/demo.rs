//! `immerse demo`: runs what IMMERSE can do today, on embedded defaults, and checks each result.
//!
//! Each step states what must hold and fails the demo when it does not, so the demo doubles as
//! a smoke test of a fresh installation.
use clap::Args;
use immerse_jose::jwe::{self, ContentEncryption, DecryptionKey, KeyManagement, Policy};
use immerse_jose::jws::{KeySource, SigningHeader};
use immerse_jose::{Curve, Error as JoseError, PublicJwkSet, Signer, SoftwareSigner, jwt};
use immerse_store::{Replay, Store};
use serde_json::json;

use crate::CliError;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Database for the replay cache; an in-memory SQLite database when not given.
    #[arg(long, env = "IMMERSE_DATABASE_URL")]
    database_url: Option<String>,
}

const TOKEN_TYPE: &str = "openid4vci-proof+jwt";
const ISSUER: &str = "https://issuer.immerse.test";

pub async fn run(args: DemoArgs) -> Result<(), CliError> {
    let store = match &args.database_url {
        Some(url) => Store::connect(url).await?,
        None => Store::connect_in_memory().await?,
    };
    step("store opened and migrated", true)?;

    let holder = SoftwareSigner::generate()?;
    println!("  holder key {}", holder.kid());
    let now = jwt::now();
    let jti = immerse_jose::base64url::encode(holder.public_jwk().thumbprint());
    let claims =
        json!({"aud": ISSUER, "iat": now, "exp": now + 300, "nonce": "demo-nonce", "jti": jti});
    let proof = jwt::sign(
        &holder,
        &SigningHeader::new(TOKEN_TYPE).embed_jwk(),
        &claims,
    )
    .await?;
    let validation = jwt::Validation::new(TOKEN_TYPE).audience(ISSUER);
    let verified = jwt::verify(&proof, &validation, &immerse_jose::jws::EmbeddedJwk)?;
    step(
        "key proof signed with ES256 and verified",
        verified.key.thumbprint() == holder.public_jwk().thumbprint(),
    )?;

    let stranger = PublicJwkSet {
        keys: vec![SoftwareSigner::generate()?.public_jwk().clone()],
    };
    let refusal = jwt::verify(&proof, &validation, &stranger as &dyn KeySource);
    step(
        "a token whose key the verifier does not hold is refused",
        matches!(refusal, Err(JoseError::MissingKid)),
    )?;

    let wallet_key = DecryptionKey::generate(Curve::P256)?;
    let credential = b"a credential for the holder";
    let sealed = jwe::encrypt_compact(
        credential,
        wallet_key.public_jwk(),
        KeyManagement::EcdhEs,
        ContentEncryption::A128Gcm,
        &serde_json::Map::new(),
    )?;
    let opened = wallet_key.decrypt(&sealed, &Policy::default())?;
    step(
        "response encrypted with ECDH-ES/A128GCM and decrypted",
        opened.plaintext == credential,
    )?;

    let first = store
        .check_and_record("demo:proof-jti", &jti, now + 300)
        .await?;
    let second = store
        .check_and_record("demo:proof-jti", &jti, now + 300)
        .await?;
    step(
        "replay cache accepts a jti once",
        first == Replay::Fresh && second == Replay::Replayed,
    )?;

    store.close().await;
    println!("demo finished: every step held");
    Ok(())
}

fn step(what: &str, held: bool) -> Result<(), CliError> {
    if held {
        println!("ok   {what}");
        Ok(())
    } else {
        println!("FAIL {what}");
        Err(CliError::Demo(format!("demo step failed: {what}")))
    }
}
