//! What the wallet refuses on receipt: metadata that is unsigned, signed by a key the registry
//! does not list for the issuer, or about another issuer; credentials bound to another key,
//! signed by an unknown or revoked key, or of another type. Each against the sandbox's real
//! registry; a refusal stores nothing.
mod support;

use axum::http::header;
use axum::routing::get;
use immerse_jose::jws::SigningHeader;
use immerse_jose::{PublicJwk, Signer, SoftwareSigner, jwt};
use immerse_registry::RegistryError;
use immerse_registry::model::KeyInvalid;
use immerse_sandbox::{ISSUER_ID, Sandbox, Service, VCT};
use immerse_sd_jwt::{ClaimPath, Credential, DisclosurePolicy, IssueOptions, issue_vc};
use immerse_wallet::{Expected, Origins, Wallet, WalletError};
use serde_json::{Map, Value, json};
use support::*;

/// The issuer's signed metadata, as the real issuer serves it.
async fn real_metadata(sandbox: &Sandbox) -> Map<String, Value> {
    let token = reqwest::Client::new()
        .get(format!(
            "{}/.well-known/openid-credential-issuer",
            sandbox.url(Service::Issuer)
        ))
        .header("Accept", "application/jwt")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (_, payload) = token.split_once('.').unwrap();
    let payload = payload.split('.').next().unwrap();
    serde_json::from_slice(&immerse_jose::base64url::decode(payload, "payload").unwrap()).unwrap()
}

/// A wallet whose route for the issuer's identifier leads to an impostor that answers every
/// metadata request with `body` as `content_type`; everything else is the sandbox's.
async fn wallet_facing_impostor(
    sandbox: &Sandbox,
    content_type: &'static str,
    body: String,
) -> Wallet {
    wallet_facing_impostor_of(sandbox, ISSUER_ID, content_type, body).await
}

/// As [`wallet_facing_impostor`], for the identifier `issuer`.
async fn wallet_facing_impostor_of(
    sandbox: &Sandbox,
    issuer: &str,
    content_type: &'static str,
    body: String,
) -> Wallet {
    let router = axum::Router::new().route(
        "/.well-known/openid-credential-issuer",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, content_type)], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let impostor = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut config = config(sandbox, sandbox.evidence_provider());
    config.origins = Origins::default().route(issuer, impostor);
    Wallet::new(config).unwrap()
}

async fn signed(signer: &dyn Signer, claims: &Map<String, Value>) -> String {
    jwt::sign(
        signer,
        &SigningHeader::new("openidvci-issuer-metadata+jwt"),
        claims,
    )
    .await
    .unwrap()
}

async fn offer_uri(sandbox: &Sandbox) -> String {
    sandbox
        .create_offer(ada(), false, false)
        .await
        .unwrap()
        .offer_uri
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_metadata_is_refused() {
    let sandbox = Sandbox::start().await.unwrap();
    let plain = Value::Object(real_metadata(&sandbox).await).to_string();
    let wallet = wallet_facing_impostor(&sandbox, "application/json", plain).await;
    let err = wallet
        .accept_offer(&offer_uri(&sandbox).await, None)
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::UnsignedMetadata(_)), "{err}");
    assert!(wallet.credentials().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_signed_by_a_key_the_registry_does_not_list_is_refused() {
    let sandbox = Sandbox::start().await.unwrap();
    let stranger = SoftwareSigner::generate().unwrap();
    let token = signed(&stranger, &real_metadata(&sandbox).await).await;
    let wallet = wallet_facing_impostor(&sandbox, "application/jwt", token).await;
    let err = wallet
        .accept_offer(&offer_uri(&sandbox).await, None)
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::MetadataSignature(_)), "{err}");
    assert!(wallet.credentials().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_with_a_tampered_payload_is_refused() {
    let sandbox = Sandbox::start().await.unwrap();
    let token = reqwest::Client::new()
        .get(format!(
            "{}/.well-known/openid-credential-issuer",
            sandbox.url(Service::Issuer)
        ))
        .header("Accept", "application/jwt")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut claims = real_metadata(&sandbox).await;
    claims.insert(
        "credential_endpoint".into(),
        "https://attacker.example/credential".into(),
    );
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        immerse_jose::base64url::encode(Value::Object(claims).to_string()),
        parts[2]
    );
    let wallet = wallet_facing_impostor(&sandbox, "application/jwt", forged).await;
    let err = wallet
        .accept_offer(&offer_uri(&sandbox).await, None)
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::MetadataSignature(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_about_another_issuer_is_refused_even_when_signed_by_a_registered_key() {
    let sandbox = Sandbox::start().await.unwrap();
    let issuer_key = SoftwareSigner::generate().unwrap();
    register_key(&sandbox, ISSUER_ID, issuer_key.public_jwk()).await;
    for member in ["sub", "credential_issuer"] {
        let mut claims = real_metadata(&sandbox).await;
        claims.insert(member.into(), "https://other-issuer.example".into());
        let token = signed(&issuer_key, &claims).await;
        let wallet = wallet_facing_impostor(&sandbox, "application/jwt", token).await;
        let err = wallet
            .accept_offer(&offer_uri(&sandbox).await, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, WalletError::MetadataSubject { found, .. } if found == "https://other-issuer.example"),
            "{member}: {err}"
        );
    }
}

/// An SD-JWT VC of the sandbox type for `holder`, signed by `signer`.
async fn credential(signer: &dyn Signer, holder: &PublicJwk, vct: &str) -> String {
    credential_from(ISSUER_ID, signer, holder, vct).await
}

/// As [`credential`], with `iss` = `issuer`.
async fn credential_from(
    issuer: &str,
    signer: &dyn Signer,
    holder: &PublicJwk,
    vct: &str,
) -> String {
    let now = jwt::now();
    let mut claims = Map::new();
    claims.insert("given_name".into(), "Ada".into());
    let credential = Credential {
        vct: vct.into(),
        iss: issuer.into(),
        iat: now,
        exp: Some(now + 3600),
        status: None,
        holder_key: Some(holder.clone()),
        claims,
    };
    let policy = DisclosurePolicy::new().disclose(ClaimPath::claim("given_name"));
    issue_vc(signer, &credential, &policy, &IssueOptions::default())
        .await
        .unwrap()
        .to_compact()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_refused_unless_issuer_key_binding_and_type_all_hold() {
    let sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    let registered = SoftwareSigner::generate().unwrap();
    let kid = register_key(&sandbox, ISSUER_ID, registered.public_jwk()).await;
    let holder = SoftwareSigner::generate().unwrap();
    let expected = Expected {
        issuer: ISSUER_ID,
        vct: VCT,
        holder: holder.public_jwk(),
    };

    let good = credential(&registered, holder.public_jwk(), VCT).await;
    let verified = wallet.verify_credential(&good, &expected).await.unwrap();
    assert_eq!(verified.claims["given_name"], "Ada");

    // cnf names another key than the one the proof was made with.
    let other = SoftwareSigner::generate().unwrap();
    let bound_elsewhere = credential(&registered, other.public_jwk(), VCT).await;
    let err = wallet
        .verify_credential(&bound_elsewhere, &expected)
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::HolderKeyMismatch), "{err}");

    // Signed by a key the issuer never registered.
    let stranger = SoftwareSigner::generate().unwrap();
    let forged = credential(&stranger, holder.public_jwk(), VCT).await;
    let err = wallet
        .verify_credential(&forged, &expected)
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::IssuerKeyUnknown(_)), "{err}");

    // Another type than the configuration's.
    let retyped = credential(
        &registered,
        holder.public_jwk(),
        "https://other.example/vct",
    )
    .await;
    let err = wallet
        .verify_credential(&retyped, &expected)
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::VctMismatch { .. }), "{err}");

    // A registered key's signature does not survive a tampered payload.
    let (jwt_part, rest) = good.split_once('~').unwrap();
    let mut parts: Vec<String> = jwt_part.split('.').map(str::to_owned).collect();
    let mut payload: Map<String, Value> =
        serde_json::from_slice(&immerse_jose::base64url::decode(&parts[1], "p").unwrap()).unwrap();
    payload.insert("exp".into(), (jwt::now() + 10 * 365 * 86_400).into());
    parts[1] = immerse_jose::base64url::encode(Value::Object(payload).to_string());
    let tampered = format!("{}~{rest}", parts.join("."));
    let err = wallet
        .verify_credential(&tampered, &expected)
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::Credential(_)), "{err}");

    // Once the key is revoked, what it signed is refused.
    registry_admin(
        &sandbox,
        &["admin", "v1", "entities", ISSUER_ID, "keys", &kid, "revoke"],
        json!({"reason": "compromised"}),
    )
    .await;
    let err = wallet
        .verify_credential(&good, &expected)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WalletError::IssuerKeyInvalid {
                reason: KeyInvalid::Revoked,
                ..
            }
        ),
        "{err}"
    );
    assert!(wallet.credentials().is_empty());
}

/// The review's attack on the wallet: an enrolled entity that is not an active issuer
/// registered for the credential's `vct` signs one with its own registered key. Refused before
/// anything is stored, as the verifier would refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_only_from_an_active_issuer_registered_for_their_type() {
    let sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    let holder = SoftwareSigner::generate().unwrap();
    // (entity, role, credential types, suspended, whether the wallet must accept it)
    let cases = [
        ("https://rp.test", "verifier", vec![], false, false),
        ("https://attester.test", "attester", vec![VCT], false, false),
        (
            "https://wp.test",
            "wallet-provider",
            vec![VCT],
            false,
            false,
        ),
        ("https://no-types.test", "issuer", vec![], false, false),
        (
            "https://other.test",
            "issuer",
            vec!["urn:other"],
            false,
            false,
        ),
        ("https://suspended.test", "issuer", vec![VCT], true, false),
        (
            "https://second-issuer.test",
            "issuer",
            vec![VCT],
            false,
            true,
        ),
    ];
    for (entity, role, types, suspended, accepted) in cases {
        registry_admin(
            &sandbox,
            &["admin", "v1", "entities"],
            json!({"id": entity, "role": role, "display_name": entity,
                   "allowances": {"credential_types": types}}),
        )
        .await;
        let signer = SoftwareSigner::generate().unwrap();
        register_key(&sandbox, entity, signer.public_jwk()).await;
        if suspended {
            registry_admin(
                &sandbox,
                &["admin", "v1", "entities", entity, "suspend"],
                json!({}),
            )
            .await;
        }
        let issued = credential_from(entity, &signer, holder.public_jwk(), VCT).await;
        let expected = Expected {
            issuer: entity,
            vct: VCT,
            holder: holder.public_jwk(),
        };
        let answer = wallet.verify_credential(&issued, &expected).await;
        if accepted {
            answer.unwrap();
            continue;
        }
        let err = answer.unwrap_err();
        let refused = match &err {
            WalletError::Registry(
                RegistryError::WrongRole { .. } | RegistryError::NotAllowed(_),
            ) => !suspended,
            WalletError::IssuerKeyInvalid {
                reason: KeyInvalid::EntitySuspended,
                ..
            } => suspended,
            _ => false,
        };
        assert!(refused, "{entity}: {err:?}");
    }
    assert!(wallet.credentials().is_empty());
}

/// Signed metadata is an issuer's only: an enrolled verifier that signs issuer metadata about
/// itself with its own registered key is refused before anything else is asked of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_signed_by_an_entity_that_is_not_an_issuer_is_refused() {
    let sandbox = Sandbox::start().await.unwrap();
    let rogue = "https://rp.test";
    registry_admin(
        &sandbox,
        &["admin", "v1", "entities"],
        json!({"id": rogue, "role": "verifier", "display_name": "RP"}),
    )
    .await;
    let rogue_key = SoftwareSigner::generate().unwrap();
    register_key(&sandbox, rogue, rogue_key.public_jwk()).await;
    let mut claims = real_metadata(&sandbox).await;
    claims.insert("sub".into(), rogue.into());
    claims.insert("credential_issuer".into(), rogue.into());
    let token = signed(&rogue_key, &claims).await;
    let wallet = wallet_facing_impostor_of(&sandbox, rogue, "application/jwt", token).await;
    let offer = json!({
        "credential_issuer": rogue,
        "credential_configuration_ids": claims["credential_configurations_supported"]
            .as_object().unwrap().keys().take(1).collect::<Vec<_>>(),
        "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code":
            {"pre-authorized_code": "code-from-the-rogue"}},
    });
    let mut uri = reqwest::Url::parse("openid-credential-offer://").unwrap();
    uri.query_pairs_mut()
        .append_pair("credential_offer", &offer.to_string());
    let err = wallet.accept_offer(uri.as_str(), None).await.unwrap_err();
    assert!(
        matches!(
            &err,
            WalletError::Registry(RegistryError::WrongRole { entity, .. }) if entity == rogue
        ),
        "{err:?}"
    );
    assert!(wallet.credentials().is_empty());
}
