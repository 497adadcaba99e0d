//! Evidence that is not authentic, or not what it claims to be, is refused with a precise
//! error.

use openssl::nid::Nid;

use super::{
    AT,
    fixture::{FIXTURE, bound_fields, genoa_tcb, spec, turin_tcb, verify_genoa, verify_with},
};
use crate::snp::{
    CertChain, CertRole, Product, SnpError, SnpVerifier, TcbComponent, TcbVersion, TrustAnchors,
};

#[test]
fn the_simulated_root_is_never_trusted_by_default() {
    let amd = &FIXTURE.genoa;
    let vcek = amd.issue_vcek(&spec(genoa_tcb())).unwrap();
    let report = vcek
        .sign_report(&bound_fields(Product::Genoa, genoa_tcb()))
        .unwrap();
    let result =
        SnpVerifier::amd()
            .unwrap()
            .verify_evidence(&report, Some(&vcek.der), &amd.chain(), AT);
    assert_eq!(result.unwrap_err(), SnpError::ArkNotPinned);
    // Nor when the chain leaves the ARK out and the pinned Genoa root is used.
    let mut chain = amd.chain();
    chain.ark = None;
    let result = SnpVerifier::amd()
        .unwrap()
        .verify_evidence(&report, Some(&vcek.der), &chain, AT);
    assert_eq!(
        result.unwrap_err(),
        SnpError::ChainSignature {
            which: CertRole::Ask
        }
    );
}

#[test]
fn expired_and_not_yet_valid_vceks_are_refused() {
    let amd = &FIXTURE.genoa;
    let vcek = amd.issue_vcek(&spec(genoa_tcb())).unwrap();
    let fields = bound_fields(Product::Genoa, genoa_tcb());
    let chain = amd.chain();
    assert!(verify_with(amd, &vcek, &fields, &chain, 1_900_000_000).is_ok());
    assert_eq!(
        verify_with(amd, &vcek, &fields, &chain, 1_900_000_001).unwrap_err(),
        SnpError::CertificateExpired {
            which: CertRole::Vcek
        }
    );
    assert_eq!(
        verify_with(amd, &vcek, &fields, &chain, 1_699_999_999).unwrap_err(),
        SnpError::CertificateNotYetValid {
            which: CertRole::Vcek
        }
    );
}

#[test]
fn an_ask_from_another_hierarchy_is_refused() {
    let amd = &FIXTURE.genoa;
    let mut chain = amd.chain();
    chain.ask = Some(FIXTURE.turin.ask.clone());
    let vcek = amd.issue_vcek(&spec(genoa_tcb())).unwrap();
    let fields = bound_fields(Product::Genoa, genoa_tcb());
    assert_eq!(
        verify_with(amd, &vcek, &fields, &chain, AT).unwrap_err(),
        SnpError::ChainSignature {
            which: CertRole::Ask
        }
    );
}

#[test]
fn a_self_signed_root_that_is_not_a_trust_anchor_is_refused() {
    // The Turin hierarchy is internally consistent, but only the Genoa root is trusted.
    let turin = &FIXTURE.turin;
    let vcek = turin.issue_vcek(&spec(turin_tcb())).unwrap();
    let report = vcek
        .sign_report(&bound_fields(Product::Turin, turin_tcb()))
        .unwrap();
    let mut anchors = FIXTURE.genoa.trust_anchors();
    // Even trusted for Genoa, the root does not serve a Turin report.
    anchors.add(Product::Genoa, turin.ark.clone());
    for anchors in [FIXTURE.genoa.trust_anchors(), anchors] {
        let result =
            SnpVerifier::new(anchors).verify_evidence(&report, Some(&vcek.der), &turin.chain(), AT);
        assert_eq!(result.unwrap_err(), SnpError::ArkNotPinned);
    }
}

#[test]
fn vcek_tcb_must_equal_reported_tcb_not_current_tcb() {
    let reported = genoa_tcb();
    let newer = TcbVersion::new(Product::Genoa, 0, 10, 0, 24, 25);
    // The VCEK certifies REPORTED_TCB; CURRENT_TCB may be newer.
    let mut fields = bound_fields(Product::Genoa, reported);
    fields.current_tcb = newer;
    fields.committed_tcb = newer;
    assert!(verify_genoa(&spec(reported), &fields).is_ok());
    // A VCEK for the current TCB does not match the reported one.
    assert_eq!(
        verify_genoa(&spec(newer), &fields).unwrap_err(),
        SnpError::TcbMismatch {
            component: TcbComponent::Snp,
            report: 23,
            certificate: 24
        }
    );
    let turin = &FIXTURE.turin;
    let mut vcek_tcb = turin_tcb();
    vcek_tcb.fmc = Some(2);
    vcek_tcb.raw[0] = 2;
    let vcek = turin.issue_vcek(&spec(vcek_tcb)).unwrap();
    let fields = bound_fields(Product::Turin, turin_tcb());
    assert_eq!(
        verify_with(turin, &vcek, &fields, &turin.chain(), AT).unwrap_err(),
        SnpError::TcbMismatch {
            component: TcbComponent::Fmc,
            report: 1,
            certificate: 2
        }
    );
}

#[test]
fn hw_id_other_than_chip_id_is_refused() {
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.chip_id = [0x6B; 64];
    assert_eq!(
        verify_genoa(&spec(genoa_tcb()), &fields).unwrap_err(),
        SnpError::ChipIdMismatch
    );
}

#[test]
fn masked_chip_id_skips_the_hw_id_check_and_is_not_cached() {
    let amd = &FIXTURE.genoa;
    let vcek = amd.issue_vcek(&spec(genoa_tcb())).unwrap();
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.chip_id = [0; 64];
    let report = vcek.sign_report(&fields).unwrap();
    let verifier = SnpVerifier::new(amd.trust_anchors());
    verifier
        .verify_evidence(&report, Some(&vcek.der), &amd.chain(), AT)
        .unwrap();
    assert!(verifier.cache().is_empty());
}

#[test]
fn mask_chip_key_means_unsigned_and_is_refused() {
    // ABI Table 23 0x48 bit 1: with MASK_CHIP_KEY the firmware writes zeros, not a signature.
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.mask_chip_key = true;
    assert_eq!(
        verify_genoa(&spec(genoa_tcb()), &fields).unwrap_err(),
        SnpError::ReportNotSigned
    );
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.signing_key = 7;
    assert_eq!(
        verify_genoa(&spec(genoa_tcb()), &fields).unwrap_err(),
        SnpError::ReportNotSigned
    );
    fields.signing_key = 3;
    assert_eq!(
        verify_genoa(&spec(genoa_tcb()), &fields).unwrap_err(),
        SnpError::UnsupportedSigningKey(3)
    );
}

#[test]
fn signature_algorithm_other_than_ecdsa_p384_is_refused() {
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.signature_algo = 2;
    assert_eq!(
        verify_genoa(&spec(genoa_tcb()), &fields).unwrap_err(),
        SnpError::UnsupportedSignatureAlgorithm(2)
    );
}

#[test]
fn a_vcek_key_not_on_p384_is_refused() {
    let mut p256 = spec(genoa_tcb());
    p256.curve = Nid::X9_62_PRIME256V1;
    let fields = bound_fields(Product::Genoa, genoa_tcb());
    assert_eq!(
        verify_genoa(&p256, &fields).unwrap_err(),
        SnpError::VcekKeyNotP384
    );
}

#[test]
fn vlek_reports_verify_through_the_asvk_only() {
    let amd = &FIXTURE.genoa;
    let mut vlek_spec = spec(genoa_tcb());
    vlek_spec.hw_id = None;
    let vlek = amd.issue_vlek(&vlek_spec).unwrap();
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.signing_key = 1;
    let claims = verify_with(amd, &vlek, &fields, &amd.chain(), AT).unwrap();
    assert_eq!(claims.signed_by(), CertRole::Vlek);
    // Claimed as a VCEK, the ASK did not sign it.
    fields.signing_key = 0;
    assert_eq!(
        verify_with(amd, &vlek, &fields, &amd.chain(), AT).unwrap_err(),
        SnpError::ChainSignature {
            which: CertRole::Vcek
        }
    );
    // Without an ASVK in the chain there is nothing to verify a VLEK with.
    fields.signing_key = 1;
    let mut chain = amd.chain();
    chain.asvk = None;
    assert_eq!(
        verify_with(amd, &vlek, &fields, &chain, AT).unwrap_err(),
        SnpError::MissingCertificate(CertRole::Asvk)
    );
}

#[test]
fn unknown_cpuid_and_wrong_product_hints_are_refused() {
    let amd = &FIXTURE.genoa;
    let vcek = amd.issue_vcek(&spec(genoa_tcb())).unwrap();
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.cpuid.family = 0x17; // Rome: no SEV-SNP root
    assert_eq!(
        verify_with(amd, &vcek, &fields, &amd.chain(), AT).unwrap_err(),
        SnpError::UnknownProduct {
            family: 0x17,
            model: 0x11
        }
    );
    let report = vcek
        .sign_report(&bound_fields(Product::Genoa, genoa_tcb()))
        .unwrap();
    let result = SnpVerifier::new(amd.trust_anchors()).verify_evidence_for(
        &report,
        Some(&vcek.der),
        &amd.chain(),
        Some(Product::Milan),
        AT,
    );
    assert!(matches!(
        result.unwrap_err(),
        SnpError::ProductMismatch {
            expected: Product::Milan,
            ..
        }
    ));
}

#[test]
fn version_two_reports_take_their_product_from_the_root() {
    let amd = &FIXTURE.genoa;
    let vcek = amd.issue_vcek(&spec(genoa_tcb())).unwrap();
    let mut fields = bound_fields(Product::Genoa, genoa_tcb());
    fields.version = 2;
    let mut anchors = TrustAnchors::with_root(Product::Turin, FIXTURE.turin.ark.clone());
    anchors.add(Product::Genoa, amd.ark.clone());
    let report = vcek.sign_report(&fields).unwrap();
    let claims = SnpVerifier::new(anchors)
        .verify_evidence(&report, Some(&vcek.der), &amd.chain(), AT)
        .unwrap();
    assert_eq!(claims.product(), Product::Genoa);
    assert_eq!(claims.report().reported_tcb, genoa_tcb());
}

#[test]
fn the_vcek_cache_is_bounded_and_keyed_by_chip_and_tcb() {
    let amd = &FIXTURE.genoa;
    let verifier = SnpVerifier::with_cache_capacity(amd.trust_anchors(), 2);
    let empty = CertChain::default();
    let mut reports = Vec::new();
    for chip in 1..=3u8 {
        let mut vcek_spec = spec(genoa_tcb());
        vcek_spec.hw_id = Some([chip; 64]);
        let vcek = amd.issue_vcek(&vcek_spec).unwrap();
        let mut fields = bound_fields(Product::Genoa, genoa_tcb());
        fields.chip_id = [chip; 64];
        let report = vcek.sign_report(&fields).unwrap();
        verifier
            .verify_evidence(&report, Some(&vcek.der), &amd.chain(), AT)
            .unwrap();
        reports.push(report);
    }
    assert_eq!(verifier.cache().len(), 2);
    // The oldest chip was evicted; the two newest verify without their VCEK.
    assert_eq!(
        verifier
            .verify_evidence(&reports[0], None, &empty, AT)
            .unwrap_err(),
        SnpError::VcekNotAvailable
    );
    for report in &reports[1..] {
        verifier.verify_evidence(report, None, &empty, AT).unwrap();
    }
    // Another TCB on a cached chip is a different VCEK.
    let newer = TcbVersion::new(Product::Genoa, 0, 10, 0, 24, 25);
    let mut vcek_spec = spec(newer);
    vcek_spec.hw_id = Some([3; 64]);
    let vcek = amd.issue_vcek(&vcek_spec).unwrap();
    let mut fields = bound_fields(Product::Genoa, newer);
    fields.chip_id = [3; 64];
    let report = vcek.sign_report(&fields).unwrap();
    assert_eq!(
        verifier
            .verify_evidence(&report, None, &empty, AT)
            .unwrap_err(),
        SnpError::VcekNotAvailable
    );
}

#[test]
fn simulated_vceks_have_serial_zero_like_amds() {
    let vcek = FIXTURE.genoa.issue_vcek(&spec(genoa_tcb())).unwrap();
    assert_eq!(vcek.serial().unwrap().num_bits(), 0);
}
