//! The sandbox CA: a two-level chain (CA -> leaf) certifying the verifier's request-signing
//! key, for its `x509_hash` client identifier (OpenID4VP 1.0 s5.9.3).
use immerse_jose::PublicJwk;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509NameBuilder};

use crate::SandboxError;

/// The leaf certificate (DER) for `leaf_key` and the CA's, leaf first, as `x5c` orders them.
pub(crate) fn certificate_chain(
    leaf_key: &PublicJwk,
    leaf_name: &str,
) -> Result<Vec<Vec<u8>>, SandboxError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let ca_key: PKey<Private> = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let ca_public = PKey::public_key_from_pem(&ca_key.public_key_to_pem()?)?;
    let ca = certificate("IMMERSE sandbox CA", &ca_public, &ca_key, 1, true)?;
    let leaf_public = PKey::public_key_from_pem(leaf_key.to_spki_pem()?.as_bytes())?;
    let leaf = certificate(leaf_name, &leaf_public, &ca_key, 2, false)?;
    Ok(vec![leaf.to_der()?, ca.to_der()?])
}

fn certificate(
    subject: &str,
    key: &PKey<Public>,
    ca_key: &PKey<Private>,
    serial: u32,
    is_ca: bool,
) -> Result<X509, SandboxError> {
    let name = |cn: &str| -> Result<_, SandboxError> {
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", cn)?;
        Ok(name.build())
    };
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = BigNum::from_u32(serial)?.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    let (subject, issuer) = (name(subject)?, name("IMMERSE sandbox CA")?);
    builder.set_subject_name(&subject)?;
    builder.set_issuer_name(&issuer)?;
    builder.set_pubkey(key)?;
    let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(30)?);
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    if is_ca {
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(KeyUsage::new().critical().key_cert_sign().build()?)?;
    } else {
        builder.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    }
    builder.sign(ca_key, MessageDigest::sha256())?;
    Ok(builder.build())
}
