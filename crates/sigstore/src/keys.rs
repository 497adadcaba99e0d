//! Public keys that verify Sigstore signatures: ECDSA P-256/P-384, Ed25519, RSA >= 2048 bits.
//! Every key, wherever it comes from (PEM, JWK, certificate, trusted root), goes through
//! [`VerificationKey::from_pkey`], so the size floor and curve list hold everywhere.
use immerse_jose::PublicJwk;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, PKeyRef, Public};
use openssl::rsa::Rsa;
use openssl::sign::Verifier;

use crate::error::{Error, Result};
use crate::util::sha256;

/// The smallest RSA modulus accepted (SYSTEM.md s5, NIST SP 800-57).
pub const MIN_RSA_BITS: u32 = 2048;

/// Digest algorithms a Sigstore message digest or log entry may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
}

impl HashAlgorithm {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha256(data).to_vec(),
            Self::Sha384 => openssl::sha::sha384(data).to_vec(),
        }
    }

    pub(crate) fn message_digest(self) -> MessageDigest {
        match self {
            Self::Sha256 => MessageDigest::sha256(),
            Self::Sha384 => MessageDigest::sha384(),
        }
    }

    /// protobuf-specs `HashAlgorithm` enum name.
    pub fn proto_name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA2_256",
            Self::Sha384 => "SHA2_384",
        }
    }

    pub(crate) fn from_proto_name(name: &str) -> Option<Self> {
        match name {
            "SHA2_256" => Some(Self::Sha256),
            "SHA2_384" => Some(Self::Sha384),
            _ => None,
        }
    }

    /// Rekor v1 body names (`sha256`).
    pub(crate) fn from_rekor_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            _ => None,
        }
    }
}

/// What kind of key, and so which signature scheme it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa { bits: u32 },
}

/// A public key accepted for Sigstore verification.
#[derive(Clone)]
pub struct VerificationKey {
    pkey: PKey<Public>,
    kind: KeyKind,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kind", &self.kind)
            .field("key_id", &hex::encode(self.key_id()))
            .finish()
    }
}

impl PartialEq for VerificationKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl VerificationKey {
    pub fn from_pkey(pkey: PKey<Public>) -> Result<Self> {
        let kind = match pkey.id() {
            Id::EC => {
                let ec = pkey.ec_key().map_err(unsupported)?;
                match ec.group().curve_name() {
                    Some(Nid::X9_62_PRIME256V1) => KeyKind::EcdsaP256,
                    Some(Nid::SECP384R1) => KeyKind::EcdsaP384,
                    other => return Err(Error::UnsupportedKey(format!("EC curve {other:?}"))),
                }
            }
            Id::ED25519 => KeyKind::Ed25519,
            Id::RSA => {
                let bits = pkey.bits();
                if bits < MIN_RSA_BITS {
                    return Err(Error::KeyTooSmall { bits });
                }
                KeyKind::Rsa { bits }
            }
            other => return Err(Error::UnsupportedKey(format!("key type {other:?}"))),
        };
        let spki_der = pkey.public_key_to_der().map_err(unsupported)?;
        Ok(Self {
            pkey,
            kind,
            spki_der,
        })
    }

    /// A DER SubjectPublicKeyInfo (protobuf-specs `PublicKey.raw_bytes` for PKIX key details).
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let pkey = PKey::public_key_from_der(der).map_err(unsupported)?;
        let key = Self::from_pkey(pkey)?;
        // Re-encoding must give the same bytes, so that the log id computed from the input is
        // the one of this key (no trailing data, no alternative encodings).
        if key.spki_der != der {
            return Err(Error::UnsupportedKey("non-canonical SPKI encoding".into()));
        }
        Ok(key)
    }

    /// A PKCS#1 `RSAPublicKey` (protobuf-specs `PKCS1_RSA_*` key details).
    pub fn from_pkcs1_rsa_der(der: &[u8]) -> Result<Self> {
        let rsa = Rsa::public_key_from_der_pkcs1(der).map_err(unsupported)?;
        Self::from_pkey(PKey::from_rsa(rsa).map_err(unsupported)?)
    }

    /// A `-----BEGIN PUBLIC KEY-----` PEM.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let pkey = PKey::public_key_from_pem(pem).map_err(unsupported)?;
        Self::from_pkey(pkey)
    }

    /// A key from the Key Registry. [`PublicJwk`] has already refused private members, points
    /// off the curve and small RSA moduli; the SPKI round trip keeps one code path here.
    pub fn from_jwk(jwk: &PublicJwk) -> Result<Self> {
        let pem = jwk
            .to_spki_pem()
            .map_err(|err| Error::UnsupportedKey(err.to_string()))?;
        Self::from_pem(pem.as_bytes())
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn pkey(&self) -> &PKeyRef<Public> {
        &self.pkey
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub fn to_pem(&self) -> String {
        let body = crate::util::b64(&self.spki_der);
        pem_wrap("PUBLIC KEY", &body)
    }

    /// SHA-256 of the DER SPKI: the log id of RFC 6962 s3.2 and of Rekor.
    pub fn key_id(&self) -> [u8; 32] {
        sha256(&self.spki_der)
    }

    /// The hash this key signs with in Sigstore (P-384 pairs with SHA-384).
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        match self.kind {
            KeyKind::EcdsaP384 => HashAlgorithm::Sha384,
            _ => HashAlgorithm::Sha256,
        }
    }

    /// Verifies `signature` (DER for ECDSA, raw for Ed25519, PKCS#1 v1.5 for RSA) over
    /// `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let result = match self.kind {
            KeyKind::Ed25519 => Verifier::new_without_digest(&self.pkey)
                .and_then(|mut v| v.verify_oneshot(signature, message)),
            _ => Verifier::new(self.hash_algorithm().message_digest(), &self.pkey).and_then(
                |mut v| {
                    v.update(message)?;
                    v.verify(signature)
                },
            ),
        };
        result.unwrap_or(false)
    }

    /// Verifies a signature given only the message digest (a `sha256:<hex>` artifact).
    /// Ed25519 signs the message itself, so it cannot be checked from a digest: `None`.
    pub fn verify_digest(
        &self,
        algorithm: HashAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        if algorithm != self.hash_algorithm() {
            return Some(false);
        }
        match self.kind {
            KeyKind::Ed25519 => None,
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
                let ok = self.pkey.ec_key().ok().and_then(|ec| {
                    let sig = EcdsaSig::from_der(signature).ok()?;
                    sig.verify(digest, &ec).ok()
                });
                Some(ok.unwrap_or(false))
            }
            KeyKind::Rsa { .. } => {
                let ok = (|| -> Result<bool, openssl::error::ErrorStack> {
                    let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&self.pkey)?;
                    ctx.verify_init()?;
                    ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1)?;
                    ctx.set_signature_md(openssl::md::Md::sha256())?;
                    ctx.verify(digest, signature)
                })();
                Some(ok.unwrap_or(false))
            }
        }
    }
}

pub(crate) fn pem_wrap(label: &str, body: &str) -> String {
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn unsupported(err: openssl::error::ErrorStack) -> Error {
    Error::UnsupportedKey(err.to_string())
}

/// Converts JOSE's fixed-width ECDSA `r || s` (RFC 7518 s3.4) into the DER `Ecdsa-Sig-Value`
/// Sigstore uses.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(Error::Signing("ECDSA signature of odd length".into()));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let signing = |e: openssl::error::ErrorStack| Error::Signing(e.to_string());
    let r = openssl::bn::BigNum::from_slice(r).map_err(signing)?;
    let s = openssl::bn::BigNum::from_slice(s).map_err(signing)?;
    EcdsaSig::from_private_components(r, s)
        .and_then(|sig| sig.to_der())
        .map_err(signing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jose_ecdsa_signatures_become_der_that_verifies() {
        let signer = immerse_jose::SoftwareSigner::generate().unwrap();
        let key = VerificationKey::from_jwk(immerse_jose::Signer::public_jwk(&signer)).unwrap();
        let raw = futures_ready(immerse_jose::Signer::sign(&signer, b"message"));
        assert_eq!(raw.len(), 64);
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert!(key.verify(b"message", &der));
        assert!(!key.verify(b"other", &der));
        assert!(ecdsa_raw_to_der(&raw[..63]).is_err());
        assert!(ecdsa_raw_to_der(&[]).is_err());
    }

    /// The software signer's future is ready at once; poll it without a runtime.
    fn futures_ready(future: immerse_jose::SignFuture<'_>) -> Vec<u8> {
        let mut future = future;
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(result) => result.unwrap(),
            std::task::Poll::Pending => panic!("software signer is synchronous"),
        }
    }

    #[test]
    fn spki_with_trailing_bytes_is_refused() {
        let signer = immerse_jose::SoftwareSigner::generate().unwrap();
        let key = VerificationKey::from_jwk(immerse_jose::Signer::public_jwk(&signer)).unwrap();
        let mut der = key.spki_der().to_vec();
        assert!(VerificationKey::from_spki_der(&der).is_ok());
        der.push(0);
        assert!(VerificationKey::from_spki_der(&der).is_err());
    }
}
