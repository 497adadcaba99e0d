//! Certificates for the test instance: a Fulcio-like CA (root + intermediate) issuing
//! short-lived leaves with Fulcio extensions and embedded SCTs, and a TSA chain.
//! Test code: OpenSSL failures on locally generated keys are bugs, so they panic.
use immerse_der as der;
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, PKeyRef, Private, Public};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509NameBuilder};

use crate::sct::{Sct, signed_data, strip_sct};
use crate::util::sha256;

pub(crate) fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256 group");
    PKey::from_ec_key(EcKey::generate(&group).expect("P-256 key")).expect("PKey")
}

pub(crate) fn public(key: &PKeyRef<Private>) -> PKey<Public> {
    PKey::public_key_from_der(&key.public_key_to_der().expect("SPKI")).expect("public key")
}

/// DER ECDSA over SHA-256, or Ed25519.
pub(crate) fn sign(key: &PKeyRef<Private>, message: &[u8]) -> Vec<u8> {
    let mut signer = if key.id() == openssl::pkey::Id::ED25519 {
        openssl::sign::Signer::new_without_digest(key)
    } else {
        openssl::sign::Signer::new(MessageDigest::sha256(), key)
    }
    .expect("signer");
    signer.sign_oneshot_to_vec(message).expect("signature")
}

fn name(cn: &str) -> openssl::x509::X509Name {
    let mut n = X509NameBuilder::new().expect("name");
    n.append_entry_by_text("O", "immerse.test").expect("O");
    n.append_entry_by_text("CN", cn).expect("CN");
    n.build()
}

fn serial(seed: &[u8]) -> Asn1Integer {
    let mut bytes = sha256(seed)[..16].to_vec();
    bytes[0] &= 0x7F;
    BigNum::from_slice(&bytes)
        .and_then(|bn| bn.to_asn1_integer())
        .expect("serial")
}

/// A CA certificate: self-signed when `issuer` is None.
pub(crate) fn ca_cert(
    cn: &str,
    key: &PKeyRef<Private>,
    issuer: Option<(&X509, &PKeyRef<Private>)>,
    not_before: i64,
    not_after: i64,
    time_stamping: bool,
) -> X509 {
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    b.set_serial_number(&serial(cn.as_bytes())).expect("serial");
    let subject = name(cn);
    b.set_subject_name(&subject).expect("subject");
    match issuer {
        Some((cert, _)) => b.set_issuer_name(cert.subject_name()),
        None => b.set_issuer_name(&subject),
    }
    .expect("issuer");
    b.set_not_before(&Asn1Time::from_unix(not_before).expect("time"))
        .expect("nbf");
    b.set_not_after(&Asn1Time::from_unix(not_after).expect("time"))
        .expect("naf");
    b.set_pubkey(&public(key)).expect("pubkey");
    if time_stamping {
        // A TSA leaf: RFC 3161 s2.3 requires the critical timeStamping EKU.
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .build()
                .expect("ku"),
        )
        .expect("ku");
        b.append_extension(
            ExtendedKeyUsage::new()
                .critical()
                .time_stamping()
                .build()
                .expect("eku"),
        )
        .expect("eku");
    } else {
        b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
            .expect("bc");
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .expect("ku"),
        )
        .expect("ku");
    }
    let signing_key = issuer.map_or(key, |(_, k)| k);
    b.sign(signing_key, MessageDigest::sha256()).expect("sign");
    b.build()
}

/// How to issue a leaf.
pub(crate) struct LeafSpec<'a> {
    pub emails: &'a [String],
    pub uris: &'a [String],
    pub issuer_url: &'a str,
    /// Further Fulcio v2 extensions (arc under 1.3.6.1.4.1.57264.1, UTF8String value).
    pub extensions: &'a [(u64, String)],
    pub not_before: i64,
    pub not_after: i64,
    pub serial_seed: &'a [u8],
    pub code_signing: bool,
}

/// The SCT a CT log would issue.
pub(crate) struct SctIssuer<'a> {
    pub key: &'a PKeyRef<Private>,
    pub log_id: [u8; 32],
    pub timestamp_ms: u64,
    /// Flip a bit of the signature after signing.
    pub corrupt: bool,
}

fn custom_extension(oid: &str, value: &[u8]) -> X509Extension {
    let oid = Asn1Object::from_str(oid).expect("oid");
    let value = Asn1OctetString::new_from_bytes(value).expect("octets");
    X509Extension::new_from_der(&oid, false, &value).expect("extension")
}

fn leaf_builder(
    spec: &LeafSpec<'_>,
    subject_key: &PKeyRef<Public>,
    issuer: &X509,
    sct_list: Option<&[u8]>,
) -> X509Builder {
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    b.set_serial_number(&serial(spec.serial_seed))
        .expect("serial");
    b.set_subject_name(&X509NameBuilder::new().expect("name").build())
        .expect("subject");
    b.set_issuer_name(issuer.subject_name()).expect("issuer");
    b.set_not_before(&Asn1Time::from_unix(spec.not_before).expect("time"))
        .expect("nbf");
    b.set_not_after(&Asn1Time::from_unix(spec.not_after).expect("time"))
        .expect("naf");
    b.set_pubkey(subject_key).expect("pubkey");
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .expect("ku"),
    )
    .expect("ku");
    let mut eku = ExtendedKeyUsage::new();
    if spec.code_signing {
        eku.code_signing();
    } else {
        eku.email_protection();
    }
    b.append_extension(eku.build().expect("eku")).expect("eku");
    let mut san = SubjectAlternativeName::new();
    san.critical(); // Fulcio leaves have an empty subject (RFC 5280 s4.2.1.6)
    for email in spec.emails {
        san.email(email);
    }
    for uri in spec.uris {
        san.uri(uri);
    }
    let san = san
        .build(&b.x509v3_context(Some(issuer), None))
        .expect("san");
    b.append_extension(san).expect("san");
    // 1.1: the issuer as raw bytes (deprecated form); 1.8: the issuer as a DER UTF8String.
    b.append_extension(custom_extension(
        "1.3.6.1.4.1.57264.1.1",
        spec.issuer_url.as_bytes(),
    ))
    .expect("ext");
    b.append_extension(custom_extension(
        "1.3.6.1.4.1.57264.1.8",
        &der::tlv(0x0C, spec.issuer_url.as_bytes()),
    ))
    .expect("ext");
    for (arc, value) in spec.extensions {
        b.append_extension(custom_extension(
            &format!("1.3.6.1.4.1.57264.1.{arc}"),
            &der::tlv(0x0C, value.as_bytes()),
        ))
        .expect("ext");
    }
    if let Some(list) = sct_list {
        // RFC 6962 s3.3: the extension value is an OCTET STRING holding the TLS list.
        b.append_extension(custom_extension(
            "1.3.6.1.4.1.11129.2.4.2",
            &der::tlv(der::TAG_OCTET_STRING, list),
        ))
        .expect("sct ext");
    }
    b
}

/// Issues a leaf with an embedded SCT: build it once without the SCT extension (the
/// precertificate TBS the log signs), then again with the list appended (RFC 6962 s3.1).
pub(crate) fn leaf_cert(
    spec: &LeafSpec<'_>,
    subject_key: &PKeyRef<Public>,
    issuer: &X509,
    issuer_key: &PKeyRef<Private>,
    sct: &SctIssuer<'_>,
) -> X509 {
    let mut pre = leaf_builder(spec, subject_key, issuer, None);
    pre.sign(issuer_key, MessageDigest::sha256()).expect("sign");
    let pre_der = pre.build().to_der().expect("DER");
    let (_, tbs) = strip_sct(&pre_der).expect("own certificate parses");
    let issuer_key_hash = sha256(
        &issuer
            .public_key()
            .and_then(|k| k.public_key_to_der())
            .expect("issuer SPKI"),
    );
    let mut entry = Sct {
        log_id: sct.log_id,
        timestamp: sct.timestamp_ms,
        extensions: Vec::new(),
        hash_algorithm: 4,      // sha256 (RFC 5246 s7.4.1.4.1)
        signature_algorithm: 3, // ecdsa
        signature: Vec::new(),
    };
    entry.signature = sign(sct.key, &signed_data(&entry, &issuer_key_hash, &tbs));
    if sct.corrupt {
        let last = entry.signature.len() - 1;
        entry.signature[last] ^= 0x01;
    }
    let list = encode_sct_list(&[entry]);
    let mut b = leaf_builder(spec, subject_key, issuer, Some(&list));
    b.sign(issuer_key, MessageDigest::sha256()).expect("sign");
    b.build()
}

/// TLS `SignedCertificateTimestampList` (RFC 6962 s3.3).
pub(crate) fn encode_sct_list(scts: &[Sct]) -> Vec<u8> {
    let mut items = Vec::new();
    for sct in scts {
        let mut one = vec![0u8];
        one.extend_from_slice(&sct.log_id);
        one.extend_from_slice(&sct.timestamp.to_be_bytes());
        one.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
        one.extend_from_slice(&sct.extensions);
        one.push(sct.hash_algorithm);
        one.push(sct.signature_algorithm);
        one.extend_from_slice(&(sct.signature.len() as u16).to_be_bytes());
        one.extend_from_slice(&sct.signature);
        items.extend_from_slice(&(one.len() as u16).to_be_bytes());
        items.extend(one);
    }
    let mut out = (items.len() as u16).to_be_bytes().to_vec();
    out.extend(items);
    out
}
