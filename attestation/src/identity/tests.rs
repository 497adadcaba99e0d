//! Offline service-account checks against a cluster issuer, with tokens shaped like the ones
//! the API server mints (RS256, no `typ`, `kubernetes.io` claim).
use immerse_jose::{PublicJwk, base64url};
use openssl::{hash::MessageDigest, pkey::PKey, rsa::Rsa, sign::Signer};
use serde_json::{Value, json};

use super::*;

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const AUDIENCE: &str = "https://attester.immerse.test";
const NOW: i64 = 1_800_000_000;

struct ClusterKey {
    key: PKey<openssl::pkey::Private>,
    jwk: PublicJwk,
}

fn cluster_key(kid: &str) -> ClusterKey {
    let rsa = Rsa::generate(2048).unwrap();
    let jwk = PublicJwk::try_from(json!({
        "kty": "RSA",
        "kid": kid,
        "n": base64url::encode(rsa.n().to_vec()),
        "e": base64url::encode(rsa.e().to_vec()),
    }))
    .unwrap();
    ClusterKey {
        key: PKey::from_rsa(rsa).unwrap(),
        jwk,
    }
}

fn claims(namespace: &str, account: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "sub": format!("system:serviceaccount:{namespace}:{account}"),
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 600,
        "kubernetes.io": {
            "namespace": namespace,
            "pod": {"name": "wallet-0", "uid": "5f1c0a4e-0000-4000-8000-000000000001"},
            "serviceaccount": {"name": account, "uid": "5f1c0a4e-0000-4000-8000-000000000002"}
        }
    })
}

fn token(key: &ClusterKey, kid: &str, claims: &Value) -> String {
    let header =
        base64url::encode(serde_json::to_vec(&json!({"alg": "RS256", "kid": kid})).unwrap());
    let payload = base64url::encode(serde_json::to_vec(claims).unwrap());
    let input = format!("{header}.{payload}");
    let mut signer = Signer::new(MessageDigest::sha256(), &key.key).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!(
        "{input}.{}",
        base64url::encode(signer.sign_to_vec().unwrap())
    )
}

fn issuer(key: &ClusterKey) -> ClusterIssuer {
    ClusterIssuer::new(
        ISSUER,
        PublicJwkSet {
            keys: vec![key.jwk.clone()],
        },
    )
}

fn policy() -> IdentityPolicy {
    IdentityPolicy::new(AUDIENCE)
}

#[test]
fn projected_token_of_an_allowed_account_is_accepted_offline() {
    let key = cluster_key("k1");
    let identity = issuer(&key)
        .verify(
            &token(&key, "k1", &claims("cvm-wallets", "wallet")),
            &policy(),
            NOW,
        )
        .unwrap();
    assert_eq!(
        identity,
        KubernetesIdentity {
            namespace: "cvm-wallets".into(),
            service_account: "wallet".into()
        }
    );
}

#[test]
fn offline_refusals() {
    let key = cluster_key("k1");
    let other_key = cluster_key("k1");
    let issuer = issuer(&key);
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut claims = claims("cvm-wallets", "wallet");
        edit(&mut claims);
        token(&key, "k1", &claims)
    };
    type Expectation = fn(&IdentityRefusal) -> bool;
    let cases: Vec<(&str, String, Expectation)> = vec![
        (
            "signed by a key the cluster does not publish",
            token(&other_key, "k1", &claims("cvm-wallets", "wallet")),
            |e| matches!(e, IdentityRefusal::InvalidToken(m) if m.contains("signature")),
        ),
        (
            "kid not in the issuer's JWKS",
            token(&key, "k2", &claims("cvm-wallets", "wallet")),
            |e| matches!(e, IdentityRefusal::InvalidToken(_)),
        ),
        (
            "another audience",
            edited(&|c| c["aud"] = json!(["https://kubernetes.default.svc"])),
            |e| matches!(e, IdentityRefusal::WrongAudience(_)),
        ),
        (
            "another issuer",
            edited(&|c| c["iss"] = json!("https://other-cluster.example")),
            |e| matches!(e, IdentityRefusal::InvalidToken(m) if m.contains("iss")),
        ),
        (
            "expired",
            edited(&|c| {
                c["iat"] = json!(NOW - 1000);
                c["exp"] = json!(NOW - 100);
            }),
            |e| matches!(e, IdentityRefusal::InvalidToken(m) if m.contains("expired")),
        ),
        (
            "a legacy secret token without exp",
            edited(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            |e| matches!(e, IdentityRefusal::InvalidToken(m) if m.contains("exp")),
        ),
        (
            "lives longer than offline checking accepts",
            edited(&|c| c["exp"] = json!(NOW + 86_400)),
            |e| matches!(e, IdentityRefusal::LifetimeTooLong(_)),
        ),
        (
            "namespace not on the allowlist",
            token(&key, "k1", &claims("default", "wallet")),
            |e| matches!(e, IdentityRefusal::NamespaceNotAllowed(ns) if ns == "default"),
        ),
        (
            "a user, not a service account",
            edited(&|c| c["sub"] = json!("alice")),
            |e| matches!(e, IdentityRefusal::NotAServiceAccount(_)),
        ),
        (
            "kubernetes.io names another account than sub",
            edited(&|c| c["kubernetes.io"]["serviceaccount"]["name"] = json!("admin")),
            |e| matches!(e, IdentityRefusal::InvalidToken(m) if m.contains("kubernetes.io")),
        ),
    ];
    for (case, token, expected) in cases {
        let err = issuer.verify(&token, &policy(), NOW).unwrap_err();
        assert!(expected(&err), "{case}: got {err:?}");
    }
}

#[test]
fn an_explicitly_typed_jwt_is_not_a_service_account_token() {
    let key = cluster_key("k1");
    let good = token(&key, "k1", &claims("cvm-wallets", "wallet"));
    let (_, rest) = good.split_once('.').unwrap();
    let typed_header = base64url::encode(
        serde_json::to_vec(
            &json!({"alg": "RS256", "kid": "k1", "typ": "oauth-client-attestation+jwt"}),
        )
        .unwrap(),
    );
    let err = issuer(&key)
        .verify(&format!("{typed_header}.{rest}"), &policy(), NOW)
        .unwrap_err();
    assert!(
        matches!(&err, IdentityRefusal::InvalidToken(m) if m.contains("typ")),
        "{err:?}"
    );
}
