//! The simulated platform shared by the refusal tests: real algorithms, local roots.

use std::sync::LazyLock;

use immerse_jose::PublicJwk;
use openssl::nid::Nid;

use super::AT;
use crate::snp::{
    CertChain, PolicyRefusal, Product, SnpClaims, SnpError, SnpPolicy, SnpVerifier, TcbVersion,
    expected_report_data, judge,
    simulated::{EndorsementSpec, ReportFields, SimulatedAmd, SimulatedVcek, Validity},
};

/// Two simulated AMD hierarchies with 4096-bit keys, as AMD uses: generated once per test
/// process (each takes seconds), in parallel.
pub(super) struct Fixture {
    pub(super) genoa: SimulatedAmd,
    pub(super) turin: SimulatedAmd,
}

pub(super) static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    std::thread::scope(|scope| {
        let turin = scope.spawn(|| SimulatedAmd::generate(Product::Turin, 4096).unwrap());
        let genoa = SimulatedAmd::generate(Product::Genoa, 4096).unwrap();
        Fixture {
            genoa,
            turin: turin.join().unwrap(),
        }
    })
});

pub(super) fn genoa_tcb() -> TcbVersion {
    TcbVersion::new(Product::Genoa, 0, 10, 0, 23, 25)
}

pub(super) fn turin_tcb() -> TcbVersion {
    TcbVersion::new(Product::Turin, 1, 2, 0, 3, 0x48)
}

pub(super) fn spec(tcb: TcbVersion) -> EndorsementSpec {
    EndorsementSpec {
        tcb,
        hw_id: Some([0x5A; 64]),
        validity: Validity {
            not_before: 1_700_000_000,
            not_after: 1_900_000_000,
        },
        curve: Nid::SECP384R1,
    }
}

pub(super) fn challenge_key() -> PublicJwk {
    PublicJwk::from_json(
        r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
    )
    .unwrap()
}

pub(super) fn bound_fields(product: Product, tcb: TcbVersion) -> ReportFields {
    let mut fields = ReportFields::new(product, tcb);
    fields.report_data = expected_report_data("challenge-1", &challenge_key());
    fields
}

pub(super) fn policy() -> SnpPolicy {
    SnpPolicy::from_toml(&format!(
        "reference_measurements = [\"{}\"]",
        hex::encode([0x11u8; 48])
    ))
    .unwrap()
}

pub(super) fn verify_with(
    amd: &SimulatedAmd,
    vcek: &SimulatedVcek,
    fields: &ReportFields,
    chain: &CertChain,
    at: i64,
) -> Result<SnpClaims, SnpError> {
    let report = vcek.sign_report(fields).unwrap();
    SnpVerifier::new(amd.trust_anchors()).verify_evidence(&report, Some(&vcek.der), chain, at)
}

/// Verifies a Genoa report with a VCEK for `tcb` and the fixture's own chain.
pub(super) fn verify_genoa(
    vcek_spec: &EndorsementSpec,
    fields: &ReportFields,
) -> Result<SnpClaims, SnpError> {
    let amd = &FIXTURE.genoa;
    let vcek = amd.issue_vcek(vcek_spec).unwrap();
    verify_with(amd, &vcek, fields, &amd.chain(), AT)
}

pub(super) fn judged(fields: &ReportFields, policy: &SnpPolicy) -> Result<(), PolicyRefusal> {
    let claims = verify_genoa(&spec(genoa_tcb()), fields).unwrap();
    judge(
        policy,
        &claims,
        &expected_report_data("challenge-1", &challenge_key()),
    )
}
