//! Arbitrary bytes as a DER certificate whose extensions IMMERSE reads itself (OpenSSL exposes
//! no API for them): the extension walker, the AMD VCEK/VLEK extensions (TCB SPLs, hwID,
//! productName), the embedded SCT list of a Fulcio leaf and its precertificate TBS, and, for
//! what OpenSSL accepts as a certificate, the Fulcio identity (SANs, OIDC issuer, the
//! 1.3.6.1.4.1.57264.1 extensions) and the AMD chain parser. An error or a value, never a
//! panic.
#![no_main]
use immerse_attestation::snp::certs::parse_certificate;
use immerse_attestation::snp::{CertChain, CertRole, VcekExtensions};
use immerse_sigstore::FulcioIdentity;
use immerse_sigstore::sct::{parse_sct_list, strip_sct};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(extensions) = immerse_der::certificate_extensions(data) {
        for extension in extensions {
            let _ = immerse_der::read(extension.value);
        }
    }
    let _ = VcekExtensions::from_der(data);
    if let Ok((Some(list), tbs)) = strip_sct(data) {
        let _ = parse_sct_list(&list);
        // The precertificate TBS is DER again: one SEQUENCE.
        assert!(immerse_der::exactly(&tbs, immerse_der::TAG_SEQUENCE).is_ok());
    }
    let _ = parse_sct_list(data);
    if let Ok(cert) = parse_certificate(data, CertRole::Vcek) {
        let _ = FulcioIdentity::from_certificate(&cert);
        if let Ok(der) = cert.to_der() {
            let _ = VcekExtensions::from_der(&der);
        }
    }
    let _ = CertChain::from_pem(data);
});
