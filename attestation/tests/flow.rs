//! The attestation flow end to end on loopback: challenge, TokenReview against a local API
//! server that answers real TokenReview JSON, simulated SEV-SNP evidence, and the minted JWT.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::routing::post;
use immerse_attestation::identity::{IdentityRefusal, ServiceAccountVerifier, TokenReviewer};
use immerse_attestation::mint::CLIENT_ATTESTATION_TYP;
use immerse_attestation::provider::{EvidenceProvider, SimulatedSevGuest};
use immerse_attestation::snp::simulated::{
    EndorsementSpec, ReportFields, SimulatedAmd, SimulatedVcek, Validity,
};
use immerse_attestation::snp::{Product, SnpPolicy, SnpVerifier, TcbVersion, expected_report_data};
use immerse_attestation::{
    AttestError, AttestRequest, Attester, AttesterConfig, EvidenceRequest, TeeMode,
};
use immerse_jose::{Signer, SoftwareSigner, jwt};
use immerse_store::Store;
use serde_json::{Value, json};

const ATTESTER: &str = "https://attester.cvm-security.svc";
const NOW: i64 = 1_800_000_000;
const MEASUREMENT: [u8; 48] = [0x11; 48];

struct Platform {
    amd: SimulatedAmd,
    vcek: Arc<SimulatedVcek>,
    tcb: TcbVersion,
}

static PLATFORM: LazyLock<Platform> = LazyLock::new(|| {
    let amd = SimulatedAmd::generate(Product::Genoa, 4096).unwrap();
    let tcb = TcbVersion::new(Product::Genoa, 0, 10, 0, 23, 25);
    let vcek = amd
        .issue_vcek(&EndorsementSpec {
            tcb,
            hw_id: Some([0x5A; 64]),
            validity: Validity {
                not_before: NOW - 1000,
                not_after: NOW + 1000,
            },
            curve: openssl::nid::Nid::SECP384R1,
        })
        .unwrap();
    Platform {
        amd,
        vcek: Arc::new(vcek),
        tcb,
    }
});

/// A Kubernetes API server stand-in: TokenReview answers keyed by the token, in the exact JSON
/// shape the real API server returns.
async fn api_server() -> String {
    async fn review(Json(request): Json<Value>) -> Json<Value> {
        let token = request["spec"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let audiences = request["spec"]["audiences"].clone();
        let status = match token.as_str() {
            "wallet-token" => json!({"authenticated": true, "audiences": audiences,
                "user": {"username": "system:serviceaccount:cvm-wallets:wallet", "uid": "4c1d",
                         "groups": ["system:serviceaccounts", "system:serviceaccounts:cvm-wallets", "system:authenticated"]}}),
            "other-namespace-token" => json!({"authenticated": true, "audiences": audiences,
                "user": {"username": "system:serviceaccount:default:wallet"}}),
            "other-audience-token" => {
                json!({"authenticated": true, "audiences": ["https://kubernetes.default.svc"],
                "user": {"username": "system:serviceaccount:cvm-wallets:wallet"}})
            }
            "user-token" => {
                json!({"authenticated": true, "audiences": audiences, "user": {"username": "alice"}})
            }
            _ => json!({"authenticated": false, "error": "invalid bearer token"}),
        };
        Json(json!({
            "kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null}, "spec": request["spec"], "status": status
        }))
    }
    let app =
        axum::Router::new().route("/apis/authentication.k8s.io/v1/tokenreviews", post(review));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

async fn attester(tee: TeeMode) -> (Attester, Arc<SoftwareSigner>) {
    attester_on(Store::connect_in_memory().await.unwrap(), tee).await
}

async fn attester_on(store: Store, tee: TeeMode) -> (Attester, Arc<SoftwareSigner>) {
    let api = api_server().await;
    let reviewer = TokenReviewer::from_config(kube::Config::new(api.parse().unwrap())).unwrap();
    let a_key = Arc::new(SoftwareSigner::generate().unwrap());
    let mut config = AttesterConfig::new(ATTESTER);
    config.tee = tee;
    config.client_ids =
        BTreeMap::from([("cvm-wallets/wallet".to_owned(), "wallet-client".to_owned())]);
    let policy = SnpPolicy::from_toml(&format!(
        "reference_measurements = [\"{}\"]",
        hex::encode(MEASUREMENT)
    ))
    .unwrap();
    let attester = Attester::new(
        store,
        a_key.clone(),
        config,
        SnpVerifier::new(PLATFORM.amd.trust_anchors()),
        HashMap::from([(Product::Genoa, PLATFORM.amd.chain())]),
        Some(policy),
        ServiceAccountVerifier::TokenReview(reviewer),
        Arc::new(|| NOW),
    );
    (attester, a_key)
}

fn evidence(report_data: [u8; 64], edit: impl FnOnce(&mut ReportFields)) -> EvidenceRequest {
    let mut fields = ReportFields::new(Product::Genoa, PLATFORM.tcb);
    fields.chip_id = [0x5A; 64];
    fields.measurement = MEASUREMENT;
    edit(&mut fields);
    SimulatedSevGuest::with_vcek(PLATFORM.vcek.clone(), fields)
        .evidence(&report_data)
        .unwrap()
}

async fn request(
    attester: &Attester,
    token: &str,
    edit: impl FnOnce(&mut ReportFields),
) -> (AttestRequest, SoftwareSigner) {
    let instance = SoftwareSigner::generate().unwrap();
    let challenge = attester.challenge().await.unwrap().attestation_challenge;
    let report_data = expected_report_data(&challenge, instance.public_jwk());
    let request = AttestRequest {
        attestation_challenge: challenge,
        instance_key: Value::from(instance.public_jwk().clone()),
        service_account_token: token.into(),
        evidence: Some(evidence(report_data, edit)),
    };
    (request, instance)
}

#[tokio::test]
async fn attested_wallet_gets_a_client_attestation_bound_to_its_key() {
    let (attester, a_key) = attester(TeeMode::SevSnp).await;
    let (request, instance) = request(&attester, "wallet-token", |_| {}).await;
    let token = attester.attest(request).await.expect("attested");
    let validation = jwt::Validation::new(CLIENT_ATTESTATION_TYP)
        .issuer(ATTESTER)
        .at(NOW);
    let claims = jwt::verify(&token, &validation, a_key.public_jwk())
        .unwrap()
        .into_inner()
        .claims;
    assert_eq!(claims["sub"], "wallet-client");
    assert_eq!(claims["exp"], NOW + 300);
    let cnf = immerse_jose::PublicJwk::try_from(claims["cnf"]["jwk"].clone()).unwrap();
    assert_eq!(cnf.thumbprint(), instance.public_jwk().thumbprint());
    assert_eq!(claims["tee"], "sev-snp");
    assert_eq!(claims["evidence"]["measurement"], hex::encode(MEASUREMENT));
    assert_eq!(claims["kubernetes"]["namespace"], "cvm-wallets");
}

#[tokio::test]
async fn a_challenge_is_used_once() {
    let (attester, _) = attester(TeeMode::SevSnp).await;
    let (request, _) = request(&attester, "wallet-token", |_| {}).await;
    attester.attest(request.clone()).await.expect("first use");
    assert!(matches!(
        attester.attest(request).await,
        Err(AttestError::InvalidChallenge)
    ));
    let (mut unknown, _) = request_with_unknown_challenge(&attester).await;
    unknown.attestation_challenge = "never-issued".into();
    assert!(matches!(
        attester.attest(unknown).await,
        Err(AttestError::InvalidChallenge)
    ));
}

#[tokio::test]
async fn a_challenge_request_writes_nothing_until_the_challenge_is_spent() {
    let store = Store::connect_in_memory().await.unwrap();
    let (attester, _) = attester_on(store.clone(), TeeMode::SevSnp).await;
    for _ in 0..100 {
        attester.challenge().await.unwrap();
    }
    assert_eq!(
        store.replay_entries("attestation-challenge").await.unwrap(),
        0
    );
    let (request, _) = request(&attester, "wallet-token", |_| {}).await;
    attester.attest(request).await.expect("attested");
    assert_eq!(
        store.replay_entries("attestation-challenge").await.unwrap(),
        1
    );
}

async fn request_with_unknown_challenge(attester: &Attester) -> (AttestRequest, SoftwareSigner) {
    request(attester, "wallet-token", |_| {}).await
}

#[tokio::test]
async fn service_account_refusals() {
    let (attester, _) = attester(TeeMode::SevSnp).await;
    let cases = [
        ("bogus", IdentityRefusal::Unauthenticated),
        (
            "other-namespace-token",
            IdentityRefusal::NamespaceNotAllowed("default".into()),
        ),
        (
            "other-audience-token",
            IdentityRefusal::WrongAudience(ATTESTER.into()),
        ),
        (
            "user-token",
            IdentityRefusal::NotAServiceAccount("alice".into()),
        ),
    ];
    for (token, expected) in cases {
        let (request, _) = request(&attester, token, |_| {}).await;
        match attester.attest(request).await {
            Err(AttestError::Identity(refusal)) => assert_eq!(refusal, expected, "{token}"),
            other => panic!("{token}: expected {expected:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn evidence_not_bound_to_this_challenge_and_key_is_refused() {
    let (attester, _) = attester(TeeMode::SevSnp).await;
    let (mut request, _) = request(&attester, "wallet-token", |_| {}).await;
    // Evidence made for another challenge (or another key) than the one presented.
    let other_key = SoftwareSigner::generate().unwrap();
    let foreign = expected_report_data(&request.attestation_challenge, other_key.public_jwk());
    request.evidence = Some(evidence(foreign, |_| {}));
    assert!(matches!(
        attester.attest(request).await,
        Err(AttestError::Evidence(
            immerse_attestation::AttestationError::Policy(
                immerse_attestation::snp::PolicyRefusal::ReportDataMismatch
            )
        ))
    ));
}

#[tokio::test]
async fn policy_refusals_reach_the_caller() {
    let (attester, _) = attester(TeeMode::SevSnp).await;
    let (debug, _) = request(&attester, "wallet-token", |fields| fields.policy |= 1 << 19).await;
    assert!(matches!(
        attester.attest(debug).await,
        Err(AttestError::Evidence(
            immerse_attestation::AttestationError::Policy(
                immerse_attestation::snp::PolicyRefusal::Debug
            )
        ))
    ));
    let (unlisted, _) = request(&attester, "wallet-token", |fields| {
        fields.measurement = [0x22; 48]
    })
    .await;
    assert!(matches!(
        attester.attest(unlisted).await,
        Err(AttestError::Evidence(
            immerse_attestation::AttestationError::Policy(
                immerse_attestation::snp::PolicyRefusal::MeasurementNotListed { .. }
            )
        ))
    ));
}

#[tokio::test]
async fn instance_key_with_a_private_member_is_refused() {
    let (attester, _) = attester(TeeMode::SevSnp).await;
    let (mut request, _) = request(&attester, "wallet-token", |_| {}).await;
    request.instance_key["d"] = json!("AAAA");
    assert!(matches!(
        attester.attest(request).await,
        Err(AttestError::InvalidInstanceKey(
            immerse_jose::Error::PrivateKeyMember("d")
        ))
    ));
}

#[tokio::test]
async fn tee_none_is_explicit_and_said_in_the_jwt() {
    let (attester, a_key) = attester(TeeMode::None).await;
    let (mut request, _) = request(&attester, "wallet-token", |_| {}).await;
    assert!(matches!(
        attester.attest(request.clone()).await,
        Err(AttestError::InvalidRequest(_))
    ));
    let (mut again, _) = request_with_unknown_challenge(&attester).await;
    again.evidence = None;
    let token = attester
        .attest(again)
        .await
        .expect("identity-only attestation");
    let validation = jwt::Validation::new(CLIENT_ATTESTATION_TYP)
        .issuer(ATTESTER)
        .at(NOW);
    let claims = jwt::verify(&token, &validation, a_key.public_jwk())
        .unwrap()
        .into_inner()
        .claims;
    assert_eq!(claims["tee"], "none");
    request.evidence = None;
    // The first request's challenge was consumed by its refusal.
    assert!(matches!(
        attester.attest(request).await,
        Err(AttestError::InvalidChallenge)
    ));

    let (strict, _) = self::attester(TeeMode::SevSnp).await;
    let (mut missing, _) = self::request(&strict, "wallet-token", |_| {}).await;
    missing.evidence = None;
    assert!(matches!(
        strict.attest(missing).await,
        Err(AttestError::InvalidRequest(_))
    ));
}
