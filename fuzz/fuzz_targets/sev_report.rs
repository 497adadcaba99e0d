//! Arbitrary bytes as what the SEV-SNP path reads from outside the process: the firmware's
//! MSG_REPORT_RSP (through the host's driver), and the attestation report a wallet sends, parsed
//! alone and verified as evidence against a simulated AMD platform (pinned root, ASK, VCEK). The
//! bytes are also applied as a patch (an offset, then bytes XORed in) to a report that platform
//! signed, so that the fuzzer starts from evidence that verifies (any input under two bytes) and
//! mutates it field by field. An error or claims, never a panic; a parsed report keeps its bytes.
#![no_main]
use std::sync::LazyLock;

use immerse_attestation::snp::simulated::{
    EndorsementSpec, ReportFields, SimulatedAmd, SimulatedVcek, Validity,
};
use immerse_attestation::snp::{
    AttestationReport, CertChain, Product, SnpPolicy, SnpVerifier, TcbVersion, judge,
};
use immerse_fuzz::patched;
use libfuzzer_sys::fuzz_target;
use openssl::nid::Nid;

/// A time inside every certificate's validity.
const AT: i64 = 1_800_000_000;

struct Platform {
    verifier: SnpVerifier,
    chain: CertChain,
    vcek: SimulatedVcek,
    signed: Vec<u8>,
    report_data: [u8; 64],
    policy: SnpPolicy,
}

static PLATFORM: LazyLock<Platform> = LazyLock::new(|| {
    // 2048-bit RSA keeps start-up short; the chain checks are the same as with AMD's 4096.
    let amd = SimulatedAmd::generate(Product::Genoa, 2048).expect("simulated AMD chain");
    let tcb = TcbVersion::new(Product::Genoa, 0, 10, 0, 23, 25);
    let vcek = amd
        .issue_vcek(&EndorsementSpec {
            tcb,
            hw_id: Some([0x5A; 64]),
            validity: Validity::LONG,
            curve: Nid::SECP384R1,
        })
        .expect("simulated VCEK");
    let mut fields = ReportFields::new(Product::Genoa, tcb);
    fields.report_data = [0x42; 64];
    let signed = vcek.sign_report(&fields).expect("signed report");
    let policy = SnpPolicy::from_toml(&format!(
        "reference_measurements = [\"{}\"]",
        hex_measurement(&fields.measurement)
    ))
    .expect("policy");
    Platform {
        verifier: SnpVerifier::new(amd.trust_anchors()),
        chain: amd.chain(),
        vcek,
        signed,
        report_data: fields.report_data,
        policy,
    }
});

fn hex_measurement(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn as_evidence(platform: &Platform, report: &[u8]) {
    let verifier = &platform.verifier;
    if let Ok(claims) =
        verifier.verify_evidence(report, Some(&platform.vcek.der), &platform.chain, AT)
    {
        let _ = judge(&platform.policy, &claims, &platform.report_data);
    }
    // The cache path: a VCEK seen before, looked up by the report's CHIP_ID and TCB.
    let _ = verifier.verify_evidence(report, None, &platform.chain, AT);
    let _ = verifier.verify_evidence_for(
        report,
        Some(&platform.vcek.der),
        &platform.chain,
        Some(Product::Milan),
        AT,
    );
}

fuzz_target!(|data: &[u8]| {
    let platform = &*PLATFORM;
    let _ = immerse_sev_guest::parse_response(data);
    if let Ok(report) = AttestationReport::parse(data) {
        assert_eq!(report.as_bytes().as_slice(), data);
        for product in Product::ALL {
            let _ = report.clone().with_product(product);
        }
    }
    as_evidence(platform, data);

    as_evidence(platform, &patched(&platform.signed, data));
});
