//! Real Sigstore data (staging): a v0.3 bundle from sigstore-python's test assets
//! (`test/assets/bundle_v3_alt.txt.sigstore`) and the staging trusted root from the same
//! repository. It checks our formats against what Fulcio, CT and Rekor really produce: the
//! SCT over the reconstructed precertificate, the SET's canonical JSON, the inclusion proof
//! and the checkpoint's signed note. Verification happens at the log's integrated time.
use immerse_sigstore::{
    Artifact, Bundle, Error, HashAlgorithm, IdentityPolicy, Matcher, Policy, TrustedRoot, Verifier,
};

const ROOT: &str = include_str!("data/staging_trusted_root.json");
const BUNDLE: &str = include_str!("data/bundle_v3_alt.txt.sigstore.json");
const DIGEST: &str = "4191e6b4e2b0260e6e297d4797d2a873584965afef021bf22f2bb7bec41102d0";
const IDENTITY: &str = "william@yossarian.net";
const ISSUER: &str = "https://github.com/login/oauth";

fn verifier() -> Verifier {
    Verifier::new(TrustedRoot::from_json(ROOT).expect("staging trusted root parses"))
}

fn digest() -> Vec<u8> {
    hex::decode(DIGEST).unwrap()
}

#[test]
fn real_staging_bundle_verifies() {
    let d = digest();
    let verified = verifier()
        .verify_json(
            BUNDLE,
            Some(Artifact::Digest(HashAlgorithm::Sha256, &d)),
            &Policy::identity(IdentityPolicy::exact(IDENTITY, ISSUER)),
        )
        .expect("real bundle verifies");
    assert_eq!(verified.signing_times, vec![1_712_085_616]);
    assert!(verified.log_entries[0].inclusion_proven);
}

#[test]
fn real_staging_bundle_with_regex_identity() {
    let d = digest();
    let policy = Policy::identity(IdentityPolicy {
        identity: Matcher::regex(r".*@yossarian\.net").unwrap(),
        issuer: Matcher::regex(r"https://github\.com/.*").unwrap(),
    });
    verifier()
        .verify_json(
            BUNDLE,
            Some(Artifact::Digest(HashAlgorithm::Sha256, &d)),
            &policy,
        )
        .expect("regex identity matches");
}

#[test]
fn real_staging_bundle_for_other_digest_is_refused() {
    let mut d = digest();
    d[0] ^= 1;
    let err = verifier()
        .verify_json(
            BUNDLE,
            Some(Artifact::Digest(HashAlgorithm::Sha256, &d)),
            &Policy::identity(IdentityPolicy::exact(IDENTITY, ISSUER)),
        )
        .unwrap_err();
    assert_eq!(err, Error::ArtifactDigestMismatch);
}

#[test]
fn real_staging_bundle_wrong_identity_is_refused() {
    let d = digest();
    let err = verifier()
        .verify_json(
            BUNDLE,
            Some(Artifact::Digest(HashAlgorithm::Sha256, &d)),
            &Policy::identity(IdentityPolicy::exact("someone@else.net", ISSUER)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::IdentityMismatch { .. }), "{err:?}");
}

#[test]
fn real_bundle_parses_as_v03_with_certificate() {
    let bundle = Bundle::from_json(BUNDLE).unwrap();
    assert_eq!(bundle.version, immerse_sigstore::BundleVersion::V03);
    assert!(bundle.material.leaf().is_some());
    assert_eq!(bundle.tlog_entries[0].integrated_time, 1_712_085_616);
}

const V2_BUNDLE: &str = include_str!("data/staging-rekor-v2.txt.sigstore.json");
const V2_ARTIFACT: &[u8] = include_bytes!("data/staging-rekor-v2.txt");

/// A Rekor v2 entry (hashedrekord 0.0.2, Ed25519 checkpoint, no SET) with an RFC 3161
/// timestamp from the staging TSA: the only verified time is the TSA's genTime.
#[test]
fn real_rekor_v2_bundle_with_timestamp_verifies() {
    let verified = verifier()
        .verify_json(
            V2_BUNDLE,
            Some(Artifact::Bytes(V2_ARTIFACT)),
            &Policy::identity(IdentityPolicy::exact("jku@goto.fi", ISSUER)),
        )
        .expect("real Rekor v2 bundle verifies");
    assert!(verified.log_entries[0].rekor_v2);
    assert_eq!(verified.log_entries[0].integrated_time, None);
    assert_eq!(verified.signing_times.len(), 1);
}

#[test]
fn real_rekor_v2_bundle_without_timestamp_is_refused() {
    let mut value: serde_json::Value = serde_json::from_str(V2_BUNDLE).unwrap();
    value["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] =
        serde_json::json!([]);
    let err = verifier()
        .verify_json(
            &value.to_string(),
            Some(Artifact::Bytes(V2_ARTIFACT)),
            &Policy::identity(IdentityPolicy::exact("jku@goto.fi", ISSUER)),
        )
        .unwrap_err();
    assert_eq!(err, Error::RekorV2NeedsTimestamp);
}
