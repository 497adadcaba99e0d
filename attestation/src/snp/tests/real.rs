//! Reports produced by real AMD EPYC processors (shared/testdata/snp, see its README).

use std::path::{Path, PathBuf};

use openssl::x509::X509;

use super::AT;
use crate::snp::{
    CertChain, CertRole, Product, SnpError, SnpVerifier, TcbVersion, VcekExtensions,
    report::AttestationReport,
};

fn testdata() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/snp");
    assert!(
        dir.join("README.md").is_file(),
        "SEV-SNP test data missing: expected {} (shared/testdata/snp beside the repository)",
        dir.display()
    );
    dir
}

fn read(name: &str) -> Vec<u8> {
    let path = testdata().join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

struct Real {
    report: Vec<u8>,
    vcek: Vec<u8>,
    chain: CertChain,
}

fn milan() -> Real {
    let hex_text = String::from_utf8(read("milan-report.hex")).unwrap();
    let hex_text: String = hex_text.split_whitespace().collect();
    Real {
        report: hex::decode(hex_text).unwrap(),
        vcek: read("milan-vcek.der"),
        chain: CertChain::from_pem(&read("milan-ask-ark.pem")).unwrap(),
    }
}

fn genoa() -> Real {
    Real {
        report: read("genoa-report.bin"),
        vcek: read("genoa-vcek.der"),
        chain: CertChain::from_pem(&read("genoa-ask-ark-asvk.pem")).unwrap(),
    }
}

fn verify(real: &Real, report: &[u8], at: i64) -> Result<crate::snp::SnpClaims, SnpError> {
    SnpVerifier::amd()
        .unwrap()
        .verify_evidence(report, Some(&real.vcek), &real.chain, at)
}

#[test]
fn real_milan_report_verifies_against_the_pinned_milan_root() {
    let milan = milan();
    let claims = verify(&milan, &milan.report, AT).unwrap();
    let report = claims.report();
    assert_eq!(claims.product(), Product::Milan);
    assert_eq!(claims.signed_by(), CertRole::Vcek);
    assert_eq!(report.version, 2);
    assert_eq!(report.cpuid, None);
    assert_eq!((report.policy.raw, report.vmpl), (0x30000, 0));
    assert!(!report.policy.debug_allowed && !report.policy.migrate_ma_allowed);
    assert_eq!(
        report.reported_tcb,
        TcbVersion::new(Product::Milan, 0, 3, 0, 8, 0x73)
    );
}

#[test]
fn real_genoa_report_verifies_with_product_from_cpuid() {
    let genoa = genoa();
    let claims = verify(&genoa, &genoa.report, AT).unwrap();
    let report = claims.report();
    assert_eq!(claims.product(), Product::Genoa);
    assert_eq!(report.version, 3);
    let cpuid = report.cpuid.unwrap();
    assert_eq!(
        (cpuid.family, cpuid.model, cpuid.stepping),
        (0x19, 0xA0, 0x02)
    );
    assert_eq!((report.policy.raw, report.vmpl), (0x30000, 0));
    assert_eq!(
        report.reported_tcb,
        TcbVersion::new(Product::Genoa, 0, 0x0A, 0, 0x17, 0x19)
    );
}

#[test]
fn real_milan_report_verifies_with_a_product_hint_and_refuses_the_wrong_one() {
    let milan = milan();
    let verifier = SnpVerifier::amd().unwrap();
    let ok = verifier.verify_evidence_for(
        &milan.report,
        Some(&milan.vcek),
        &milan.chain,
        Some(Product::Milan),
        AT,
    );
    assert_eq!(ok.unwrap().product(), Product::Milan);
    // The Milan ARK in the chain is not the pinned Genoa root.
    let wrong = verifier.verify_evidence_for(
        &milan.report,
        Some(&milan.vcek),
        &milan.chain,
        Some(Product::Genoa),
        AT,
    );
    assert_eq!(wrong.unwrap_err(), SnpError::ArkNotPinned);
}

#[test]
fn flipping_any_signed_byte_of_a_real_report_fails_the_report_signature() {
    // Offsets across Table 23: GUEST_SVN, POLICY, FAMILY_ID, IMAGE_ID, VMPL, CURRENT_TCB,
    // PLATFORM_INFO, REPORT_DATA (first, last), MEASUREMENT (first, last), HOST_DATA,
    // ID_KEY_DIGEST, REPORT_ID, REPORTED_TCB, CHIP_ID, COMMITTED_TCB, LAUNCH_TCB, reserved,
    // and the last signed byte.
    let offsets = [
        0x04, 0x08, 0x10, 0x20, 0x30, 0x38, 0x40, 0x50, 0x8F, 0x90, 0xBF, 0xC0, 0xE0, 0x140, 0x180,
        0x1A0, 0x1DF, 0x1E0, 0x1F0, 0x250, 0x29F,
    ];
    for (name, real) in [("milan", milan()), ("genoa", genoa())] {
        for offset in offsets {
            let mut report = real.report.clone();
            report[offset] ^= 0x01;
            assert_eq!(
                verify(&real, &report, AT).unwrap_err(),
                SnpError::ReportSignature,
                "{name} offset {offset:#x}"
            );
        }
        // And the signature itself.
        for offset in [0x2A0, 0x2E8] {
            let mut report = real.report.clone();
            report[offset] ^= 0x01;
            assert_eq!(
                verify(&real, &report, AT).unwrap_err(),
                SnpError::ReportSignature
            );
        }
    }
}

#[test]
fn real_vceks_have_serial_number_zero_and_parse() {
    for der in [milan().vcek, genoa().vcek] {
        let vcek = X509::from_der(&der).unwrap();
        let serial = vcek.serial_number().to_bn().unwrap();
        assert_eq!(serial.num_bits(), 0, "serial is {serial}");
    }
}

#[test]
fn real_vcek_extensions_carry_the_reported_tcb_and_chip_id() {
    let milan = milan();
    let report = AttestationReport::parse(&milan.report).unwrap();
    let extensions = VcekExtensions::from_der(&milan.vcek).unwrap();
    assert_eq!(extensions.product_name.as_deref(), Some("Milan-B0"));
    assert_eq!(
        (
            extensions.bl_spl,
            extensions.tee_spl,
            extensions.snp_spl,
            extensions.ucode_spl,
            extensions.fmc_spl
        ),
        (Some(3), Some(0), Some(8), Some(0x73), None)
    );
    assert_eq!(extensions.hw_id, Some(report.chip_id));

    let genoa = genoa();
    let report = AttestationReport::parse(&genoa.report).unwrap();
    let extensions = VcekExtensions::from_der(&genoa.vcek).unwrap();
    assert_eq!(extensions.product_name.as_deref(), Some("Genoa"));
    assert_eq!(extensions.hw_id, Some(report.chip_id));
    extensions
        .check_tcb(&report.reported_tcb, Product::Genoa)
        .unwrap();
}

#[test]
fn real_reports_outside_certificate_validity_are_refused() {
    let milan = milan();
    // 2031-01-01: the Milan VCEK expired on 2030-04-03.
    assert_eq!(
        verify(&milan, &milan.report, 1_924_992_000).unwrap_err(),
        SnpError::CertificateExpired {
            which: CertRole::Vcek
        }
    );
    // 2020-06-01: before the Milan ARK's notBefore (2020-10-22).
    assert_eq!(
        verify(&milan, &milan.report, 1_590_969_600).unwrap_err(),
        SnpError::CertificateNotYetValid {
            which: CertRole::Ark
        }
    );
    let genoa = genoa();
    // 2025-01-01: before the Genoa VCEK was issued (2025-05-27).
    assert_eq!(
        verify(&genoa, &genoa.report, 1_735_689_600).unwrap_err(),
        SnpError::CertificateNotYetValid {
            which: CertRole::Vcek
        }
    );
}

#[test]
fn a_real_vcek_under_another_products_ask_is_refused() {
    let milan = milan();
    let genoa_chain = genoa().chain;
    // Version 2: every pinned root is tried; the Genoa root signs the Genoa ASK, which did not
    // sign the Milan VCEK.
    let result = SnpVerifier::amd().unwrap().verify_evidence(
        &milan.report,
        Some(&milan.vcek),
        &genoa_chain,
        AT,
    );
    assert_eq!(
        result.unwrap_err(),
        SnpError::ChainSignature {
            which: CertRole::Vcek
        }
    );
    // Version 3 Genoa report with the Milan chain: the Milan ARK is not Genoa's root.
    let genoa = genoa();
    let result = SnpVerifier::amd().unwrap().verify_evidence(
        &genoa.report,
        Some(&genoa.vcek),
        &milan.chain,
        AT,
    );
    assert_eq!(result.unwrap_err(), SnpError::ArkNotPinned);
}

#[test]
fn a_verified_real_vcek_is_served_from_the_cache() {
    let genoa = genoa();
    let verifier = SnpVerifier::amd().unwrap();
    let empty = CertChain::default();
    assert_eq!(
        verifier
            .verify_evidence(&genoa.report, None, &empty, AT)
            .unwrap_err(),
        SnpError::VcekNotAvailable
    );
    verifier
        .verify_evidence(&genoa.report, Some(&genoa.vcek), &genoa.chain, AT)
        .unwrap();
    assert_eq!(verifier.cache().len(), 1);
    let claims = verifier
        .verify_evidence(&genoa.report, None, &empty, AT)
        .unwrap();
    assert_eq!(claims.product(), Product::Genoa);
    // The cached chain is still held to its validity period.
    assert_eq!(
        verifier
            .verify_evidence(&genoa.report, None, &empty, 2_200_000_000)
            .unwrap_err(),
        SnpError::CertificateExpired {
            which: CertRole::Vcek
        }
    );
}

#[test]
fn pinned_arks_equal_the_arks_in_the_test_data() {
    for (product, pem) in [
        (Product::Milan, "milan-ask-ark.pem"),
        (Product::Genoa, "genoa-ask-ark-asvk.pem"),
    ] {
        let chain = CertChain::from_pem(&read(pem)).unwrap();
        let ark = chain.ark.unwrap().to_der().unwrap();
        let anchors = crate::snp::TrustAnchors::amd().unwrap();
        assert!(
            format!("{anchors:?}").contains(product.name()),
            "{product} missing from {anchors:?}"
        );
        let pinned = X509::from_pem(match product {
            Product::Milan => include_bytes!("../../../roots/ark-milan.pem").as_slice(),
            _ => include_bytes!("../../../roots/ark-genoa.pem").as_slice(),
        })
        .unwrap();
        assert_eq!(pinned.to_der().unwrap(), ark, "{product}");
    }
    assert!(genoa().chain.asvk.is_some());
}
