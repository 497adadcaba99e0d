//! Key-based bundles: the signing side with an `immerse_jose::Signer`, PEM and JWK keys of
//! every supported kind, the size floor, and the explicit opt-in for bundles without a log
//! entry.
mod common;

use common::*;
use immerse_jose::{Signer, SoftwareSigner};
use immerse_sigstore::dsse::IN_TOTO_PAYLOAD_TYPE;
use immerse_sigstore::testing::{BundleOptions, Tamper, TestInstance};
use immerse_sigstore::{
    Artifact, Bundle, BundleVersion, Content, Error, HashAlgorithm, Policy, VerificationKey,
    VerificationMaterial, VerifiedSigner, sign,
};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};

fn key_of(signer: &SoftwareSigner) -> VerificationKey {
    VerificationKey::from_jwk(signer.public_jwk()).expect("registry key converts")
}

#[tokio::test]
async fn signed_message_bundle_has_cosign_shape() {
    let signer = SoftwareSigner::generate().unwrap();
    let bundle = sign::sign_message(&signer, ARTIFACT).await.unwrap();
    let json = bundle.to_json();
    assert_eq!(
        json["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        json["verificationMaterial"]["publicKey"]["hint"],
        b64e(&key_of(&signer).key_id())
    );
    assert!(json["verificationMaterial"].get("tlogEntries").is_none());
    assert_eq!(
        json["messageSignature"]["messageDigest"]["algorithm"],
        "SHA2_256"
    );
    let sig = b64d(json["messageSignature"]["signature"].as_str().unwrap());
    // Sigstore wants DER, not JOSE's r || s.
    assert!(openssl::ecdsa::EcdsaSig::from_der(&sig).is_ok());
    let reparsed = Bundle::from_json(&json.to_string()).unwrap();
    assert!(matches!(
        reparsed.material,
        VerificationMaterial::PublicKey { .. }
    ));
}

#[tokio::test]
async fn key_bundle_without_log_entry_needs_explicit_permission() {
    let signer = SoftwareSigner::generate().unwrap();
    let bundle = sign::sign_message(&signer, ARTIFACT).await.unwrap();
    let instance = TestInstance::new();
    let policy = Policy::key(key_of(&signer));
    let err = verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &policy,
    )
    .unwrap_err();
    assert_eq!(err, Error::TransparencyLogRequired);
    let verified = verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &policy.allowing_missing_tlog(),
    )
    .expect("allowed by policy");
    assert!(matches!(verified.signer, VerifiedSigner::Key(_)));
    assert!(verified.signing_times.is_empty());
}

#[tokio::test]
async fn key_bundles_logged_by_the_test_instance_verify() {
    let signer = SoftwareSigner::generate().unwrap();
    let key = key_of(&signer);
    let mut instance = TestInstance::new();
    for rekor_v2 in [false, true] {
        let options = BundleOptions {
            rekor_v2,
            ..BundleOptions::default()
        };
        let message = sign::sign_message(&signer, ARTIFACT).await.unwrap();
        let message = instance.log_key_bundle(message, &key, &options);
        verify_value(
            &instance,
            &message.to_json(),
            Some(Artifact::Bytes(ARTIFACT)),
            &Policy::key(key.clone()),
        )
        .expect("logged message bundle verifies");
        let dsse = sign::sign_dsse(&signer, IN_TOTO_PAYLOAD_TYPE, &statement())
            .await
            .unwrap();
        let dsse = instance.log_key_bundle(dsse, &key, &options);
        let verified = verify_value(
            &instance,
            &dsse.to_json(),
            Some(Artifact::Bytes(ARTIFACT)),
            &Policy::key(key.clone()),
        )
        .expect("logged DSSE bundle verifies");
        assert_eq!(verified.dsse.unwrap().1, statement());
    }
}

#[tokio::test]
async fn key_bundle_whose_log_body_names_another_key_is_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    let key = key_of(&signer);
    let mut instance = TestInstance::new();
    let bundle = sign::sign_message(&signer, ARTIFACT).await.unwrap();
    let bundle = instance.log_key_bundle(
        bundle,
        &key,
        &BundleOptions::tampered(Tamper::BodyCertificate),
    );
    let err = verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::key(key),
    )
    .unwrap_err();
    assert_eq!(err, Error::BodyKeyMismatch);
}

#[tokio::test]
async fn key_bundle_verified_with_another_key_is_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    let other = key_of(&SoftwareSigner::generate().unwrap());
    let instance = TestInstance::new();
    let message = sign::sign_message(&signer, ARTIFACT).await.unwrap();
    let err = verify_value(
        &instance,
        &message.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::key(other.clone()).allowing_missing_tlog(),
    )
    .unwrap_err();
    assert_eq!(err, Error::ArtifactSignature);
    let dsse = sign::sign_dsse(&signer, IN_TOTO_PAYLOAD_TYPE, &statement())
        .await
        .unwrap();
    let err = verify_value(
        &instance,
        &dsse.to_json(),
        None,
        &Policy::key(other).allowing_missing_tlog(),
    )
    .unwrap_err();
    assert_eq!(err, Error::DsseSignature);
}

#[tokio::test]
async fn signer_material_must_fit_the_policy() {
    let signer = SoftwareSigner::generate().unwrap();
    let mut instance = TestInstance::new();
    let key_bundle = sign::sign_message(&signer, ARTIFACT).await.unwrap();
    let err = verify_value(
        &instance,
        &key_bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::MaterialMismatch);
    let cert_bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let err = verify_value(
        &instance,
        &cert_bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::key(key_of(&signer)),
    )
    .unwrap_err();
    assert_eq!(err, Error::KeyMismatch);
}

fn sign_with(key: &PKey<Private>, digest: Option<MessageDigest>, data: &[u8]) -> Vec<u8> {
    let mut signer = match digest {
        Some(md) => openssl::sign::Signer::new(md, key),
        None => openssl::sign::Signer::new_without_digest(key),
    }
    .unwrap();
    signer.sign_oneshot_to_vec(data).unwrap()
}

fn pem_bundle(
    signature: Vec<u8>,
    digest: Option<(HashAlgorithm, Vec<u8>)>,
    version: BundleVersion,
) -> String {
    Bundle {
        version,
        material: VerificationMaterial::PublicKey {
            hint: String::new(),
        },
        tlog_entries: Vec::new(),
        timestamps: Vec::new(),
        content: Content::MessageSignature { digest, signature },
    }
    .to_json()
    .to_string()
}

#[test]
fn pem_keys_of_every_supported_kind_verify() {
    let instance = TestInstance::new();
    let p384 = PKey::from_ec_key(
        openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::SECP384R1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let ed = PKey::generate_ed25519().unwrap();
    let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let cases = [
        (&p384, Some(MessageDigest::sha384()), HashAlgorithm::Sha384),
        (&ed, None, HashAlgorithm::Sha256),
        (&rsa, Some(MessageDigest::sha256()), HashAlgorithm::Sha256),
    ];
    for (key, md, alg) in cases {
        let pem = key.public_key_to_pem().unwrap();
        let verification_key = VerificationKey::from_pem(&pem).expect("supported key");
        let bundle = pem_bundle(
            sign_with(key, md, ARTIFACT),
            Some((alg, alg.digest(ARTIFACT))),
            BundleVersion::V03,
        );
        instance
            .verifier()
            .verify_json(
                &bundle,
                Some(Artifact::Bytes(ARTIFACT)),
                &Policy::key(verification_key).allowing_missing_tlog(),
            )
            .expect("PEM-key bundle verifies");
    }
}

#[test]
fn rsa_key_under_2048_bits_is_refused() {
    let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap();
    let pem = rsa.public_key_to_pem().unwrap();
    assert_eq!(
        VerificationKey::from_pem(&pem).unwrap_err(),
        Error::KeyTooSmall { bits: 1024 }
    );
}

#[test]
fn unsupported_curves_are_refused() {
    let k = PKey::from_ec_key(
        openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::SECP521R1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let pem = k.public_key_to_pem().unwrap();
    assert!(matches!(
        VerificationKey::from_pem(&pem),
        Err(Error::UnsupportedKey(_))
    ));
}

#[test]
fn ed25519_key_cannot_verify_from_a_digest_alone() {
    let instance = TestInstance::new();
    let ed = PKey::generate_ed25519().unwrap();
    let key = VerificationKey::from_pem(&ed.public_key_to_pem().unwrap()).unwrap();
    let digest = HashAlgorithm::Sha256.digest(ARTIFACT);
    let bundle = pem_bundle(
        sign_with(&ed, None, ARTIFACT),
        Some((HashAlgorithm::Sha256, digest.clone())),
        BundleVersion::V03,
    );
    let err = instance
        .verifier()
        .verify_json(
            &bundle,
            Some(Artifact::Digest(HashAlgorithm::Sha256, &digest)),
            &Policy::key(key).allowing_missing_tlog(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedKey(_)), "{err:?}");
}
