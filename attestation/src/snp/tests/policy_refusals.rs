//! What the policy refuses in authentic evidence, one rule at a time.

use immerse_jose::PublicJwk;

use super::{
    AT,
    fixture::{
        FIXTURE, bound_fields, challenge_key, genoa_tcb, judged, policy, spec, turin_tcb,
        verify_genoa, verify_with,
    },
};
use crate::{
    AttestationError, Evidence, EvidenceVerifier, Tee,
    evidence::SnpEvidence,
    snp::{
        PolicyRefusal, Product, SnpVerifier, TcbComponent, expected_report_data, judge,
        policy::{HexBytes, MinimumTcb},
    },
};

#[test]
fn simulated_report_verifies_and_the_policy_accepts_it() {
    let fields = bound_fields(Product::Genoa, genoa_tcb());
    assert_eq!(judged(&fields, &policy()), Ok(()));
}

#[test]
fn debug_bit_is_refused() {
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.policy |= 1 << 19;
    assert_eq!(judged(&fields, &policy()), Err(PolicyRefusal::Debug));
    let mut allowing = policy();
    allowing.allow_debug = true;
    assert_eq!(judged(&fields, &allowing), Ok(()));
}

#[test]
fn migration_agent_bit_is_refused() {
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.policy |= 1 << 18;
    assert_eq!(judged(&fields, &policy()), Err(PolicyRefusal::MigrateMa));
}

#[test]
fn vmpl_other_than_the_policys_is_refused() {
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.vmpl = 1;
    assert_eq!(
        judged(&fields, &policy()),
        Err(PolicyRefusal::Vmpl {
            expected: 0,
            actual: 1
        })
    );
    let mut vmpl1 = policy();
    vmpl1.vmpl = 1;
    assert_eq!(judged(&fields, &vmpl1), Ok(()));
}

#[test]
fn measurement_not_listed_is_refused() {
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.measurement = [0x22; 48];
    assert_eq!(
        judged(&fields, &policy()),
        Err(PolicyRefusal::MeasurementNotListed {
            measurement: "22".repeat(48)
        })
    );
}

#[test]
fn host_data_other_than_the_policys_is_refused() {
    let mut policy = policy();
    policy.host_data = Some(HexBytes([0x33; 32]));
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    assert_eq!(
        judged(&fields, &policy),
        Err(PolicyRefusal::HostDataMismatch)
    );
    fields.host_data = [0x33; 32];
    assert_eq!(judged(&fields, &policy), Ok(()));
}

#[test]
fn report_version_outside_the_policy_is_refused() {
    let mut policy = policy();
    policy.accepted_report_versions = vec![3, 4, 5];
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.version = 2;
    assert_eq!(
        judged(&fields, &policy),
        Err(PolicyRefusal::VersionNotAccepted { version: 2 })
    );
}

#[test]
fn tcb_below_the_minimum_is_refused_per_component() {
    let tcb = genoa_tcb();
    let fields = bound_fields(Product::Genoa, tcb);
    for (component, actual) in [
        (TcbComponent::Bootloader, tcb.bootloader),
        (TcbComponent::Tee, tcb.tee),
        (TcbComponent::Snp, tcb.snp),
        (TcbComponent::Microcode, tcb.microcode),
    ] {
        let mut minimum = MinimumTcb::default();
        let slot = match component {
            TcbComponent::Bootloader => &mut minimum.bootloader,
            TcbComponent::Tee => &mut minimum.tee,
            TcbComponent::Snp => &mut minimum.snp,
            _ => &mut minimum.microcode,
        };
        *slot = actual + 1;
        let mut strict = policy();
        strict.minimum_tcb = minimum;
        assert_eq!(
            judged(&fields, &strict),
            Err(PolicyRefusal::TcbTooLow {
                component,
                minimum: actual + 1,
                actual
            })
        );
        // At the minimum exactly, accepted.
        *match component {
            TcbComponent::Bootloader => &mut strict.minimum_tcb.bootloader,
            TcbComponent::Tee => &mut strict.minimum_tcb.tee,
            TcbComponent::Snp => &mut strict.minimum_tcb.snp,
            _ => &mut strict.minimum_tcb.microcode,
        } = actual;
        assert_eq!(judged(&fields, &strict), Ok(()));
    }
}

#[test]
fn turin_fmc_below_the_minimum_is_refused() {
    let amd = &FIXTURE.turin;
    let vcek = amd.issue_vcek(&spec(turin_tcb())).unwrap();
    let fields = bound_fields(Product::Turin, turin_tcb());
    let claims = verify_with(amd, &vcek, &fields, &amd.chain(), AT).unwrap();
    assert_eq!(claims.report().reported_tcb.fmc, Some(1));
    let mut policy = policy();
    policy.minimum_tcb_by_product.insert(
        Product::Turin,
        MinimumTcb {
            fmc: 2,
            ..MinimumTcb::default()
        },
    );
    assert_eq!(
        judge(&policy, &claims, &fields.report_data),
        Err(PolicyRefusal::TcbTooLow {
            component: TcbComponent::Fmc,
            minimum: 2,
            actual: 1
        })
    );
    // The FMC minimum means nothing on Genoa, which has no FMC.
    assert_eq!(
        judged(&bound_fields(Product::Genoa, genoa_tcb()), &policy),
        Ok(())
    );
}

#[test]
fn report_data_not_bound_to_this_challenge_and_key_is_refused() {
    let fields = bound_fields(Product::Genoa, genoa_tcb());
    let claims = verify_genoa(&spec(genoa_tcb()), &fields).unwrap();
    let other_challenge = expected_report_data("challenge-2", &challenge_key());
    assert_eq!(
        judge(&policy(), &claims, &other_challenge),
        Err(PolicyRefusal::ReportDataMismatch)
    );
    let other_key = PublicJwk::from_json(
        r#"{"kty":"EC","crv":"P-256","x":"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0","y":"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}"#,
    )
    .unwrap();
    assert_eq!(
        judge(
            &policy(),
            &claims,
            &expected_report_data("challenge-1", &other_key)
        ),
        Err(PolicyRefusal::ReportDataMismatch)
    );
}

#[test]
fn the_evidence_trait_yields_claims_and_checks_report_data() {
    let amd = &FIXTURE.genoa;
    let vcek = amd.issue_vcek(&spec(genoa_tcb())).unwrap();
    let fields = bound_fields(Product::Genoa, genoa_tcb());
    let evidence = Evidence::SevSnp(SnpEvidence {
        report: vcek.sign_report(&fields).unwrap(),
        vcek: Some(vcek.der.clone()),
        chain: amd.chain(),
        product: None,
    });
    let verifier = SnpVerifier::new(amd.trust_anchors());
    assert_eq!(verifier.tee(), Tee::SevSnp);
    let claims = verifier.verify(&evidence, &fields.report_data, AT).unwrap();
    assert_eq!(claims.measurement, "11".repeat(48));
    assert_eq!(
        (claims.platform.as_str(), claims.report_version),
        ("Genoa", 3)
    );
    assert_eq!((claims.tcb.snp, claims.tcb.fmc), (23, None));
    assert!(!claims.debug && !claims.migrate_ma);
    let json = serde_json::to_value(&claims).unwrap();
    assert_eq!(json["tee"], "sev-snp");
    assert!(json.get("detail").is_none());
    let crate::evidence::TeeClaims::SevSnp(detail) = &claims.detail;
    assert_eq!(judge(&policy(), detail, &fields.report_data), Ok(()));

    let other = expected_report_data("challenge-2", &challenge_key());
    assert_eq!(
        verifier.verify(&evidence, &other, AT).unwrap_err(),
        AttestationError::Policy(PolicyRefusal::ReportDataMismatch)
    );
}
