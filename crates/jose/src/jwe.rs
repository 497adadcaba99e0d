//! JWE compact serialization (RFC 7516) with ECDH-ES key agreement (RFC 7518 s4.6).
//!
//! Before any key agreement the protected header is checked here: the algorithms must be on the
//! caller's list, `zip` is refused (no decompression of attacker input), `crit` must be
//! understood, and `epk` must parse as a [`PublicJwk`], which puts it on the curve (the
//! invalid-curve attack needs a point that is not).
use openssl::ec::{EcGroup, EcKey};
use openssl::pkey::PKey;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::jws::check_critical;
use crate::{Curve, Error, KeyMaterial, KeyUse, PublicJwk, base64url, json};

mod cbc_hmac;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyManagement {
    EcdhEs,
    EcdhEsA128Kw,
    EcdhEsA256Kw,
}

impl KeyManagement {
    pub const ALL: &'static [KeyManagement] =
        &[Self::EcdhEs, Self::EcdhEsA128Kw, Self::EcdhEsA256Kw];

    pub fn name(self) -> &'static str {
        match self {
            Self::EcdhEs => "ECDH-ES",
            Self::EcdhEsA128Kw => "ECDH-ES+A128KW",
            Self::EcdhEsA256Kw => "ECDH-ES+A256KW",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|alg| alg.name() == name)
    }

    fn josekit(self) -> josekit::jwe::alg::ecdh_es::EcdhEsJweAlgorithm {
        match self {
            Self::EcdhEs => josekit::jwe::ECDH_ES,
            Self::EcdhEsA128Kw => josekit::jwe::ECDH_ES_A128KW,
            Self::EcdhEsA256Kw => josekit::jwe::ECDH_ES_A256KW,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncryption {
    A128Gcm,
    A256Gcm,
    /// RFC 7518 s5.2.3; decrypted by [`cbc_hmac`], which checks the tag before the padding.
    A128CbcHs256,
}

impl ContentEncryption {
    /// The AES-GCM algorithms, the ones HAIP names for OpenID4VP responses and the default a
    /// decrypting [`Policy`] accepts. (It predates A128CBC-HS256; [`Self::SUPPORTED`] lists all.)
    pub const ALL: &'static [ContentEncryption] = &[Self::A128Gcm, Self::A256Gcm];
    /// Every content encryption this crate implements, e.g. for OpenID4VCI 1.0 s12.2.4
    /// credential request and response encryption.
    pub const SUPPORTED: &'static [ContentEncryption] =
        &[Self::A128Gcm, Self::A256Gcm, Self::A128CbcHs256];

    pub fn name(self) -> &'static str {
        match self {
            Self::A128Gcm => "A128GCM",
            Self::A256Gcm => "A256GCM",
            Self::A128CbcHs256 => "A128CBC-HS256",
        }
    }

    /// The IV and authentication tag lengths in bytes (RFC 7518 s5.3: a 96-bit IV and a
    /// 128-bit tag for AES-GCM; s5.2.3: a 128-bit IV and a 128-bit tag for A128CBC-HS256).
    fn iv_and_tag_lengths(self) -> (usize, usize) {
        match self {
            Self::A128Gcm | Self::A256Gcm => (12, 16),
            Self::A128CbcHs256 => (16, 16),
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::SUPPORTED
            .iter()
            .copied()
            .find(|enc| enc.name() == name)
    }
}

/// The algorithms a decrypting party accepts.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub key_management: &'a [KeyManagement],
    pub content_encryption: &'a [ContentEncryption],
}

impl Default for Policy<'_> {
    fn default() -> Self {
        Self {
            key_management: KeyManagement::ALL,
            content_encryption: ContentEncryption::ALL,
        }
    }
}

/// Encrypts `plaintext` to `recipient` (an EC P-256 or P-384 key not marked `use: sig`).
/// `extra` adds protected header members such as `typ`; `kid` is copied from the recipient.
pub fn encrypt_compact(
    plaintext: &[u8],
    recipient: &PublicJwk,
    alg: KeyManagement,
    enc: ContentEncryption,
    extra: &Map<String, Value>,
) -> Result<String, Error> {
    if !matches!(recipient.material(), KeyMaterial::Ec { .. })
        || recipient.key_use() == Some(KeyUse::Sig)
    {
        return Err(Error::KeyAlgorithmMismatch(alg.name()));
    }
    let mut header = josekit::jwe::JweHeader::new();
    for (name, value) in extra {
        header
            .set_claim(name, Some(value.clone()))
            .map_err(|err| Error::EncryptionFailed(err.to_string()))?;
    }
    header.set_content_encryption(enc.name());
    if let Some(kid) = recipient.kid() {
        header.set_key_id(kid);
    }
    let encrypter = alg
        .josekit()
        .encrypter_from_jwk(&recipient.to_josekit()?)
        .map_err(|err| Error::EncryptionFailed(err.to_string()))?;
    josekit::jwe::serialize_compact(plaintext, &header, &encrypter)
        .map_err(|err| Error::EncryptionFailed(err.to_string()))
}

/// A decrypted JWE: its protected header and plaintext.
#[derive(Debug, Clone)]
pub struct Decrypted {
    pub header: Map<String, Value>,
    pub plaintext: Vec<u8>,
}

/// An EC private key for ECDH-ES, held only in memory (OpenSSL clears it when freed), such as
/// a verifier's per-request key or a wallet's response key.
pub struct DecryptionKey {
    public: PublicJwk,
    decrypters: Vec<(
        KeyManagement,
        josekit::jwe::alg::ecdh_es::EcdhEsJweDecrypter,
    )>,
    /// josekit's context with its A128CBC-HS256 replaced by [`cbc_hmac::A128CbcHs256`].
    context: josekit::jwe::JweContext,
}

impl DecryptionKey {
    /// A fresh key pair on `curve` (P-256 or P-384).
    pub fn generate(curve: Curve) -> Result<Self, Error> {
        let nid = match curve {
            Curve::P256 => openssl::nid::Nid::X9_62_PRIME256V1,
            Curve::P384 => openssl::nid::Nid::SECP384R1,
            Curve::Ed25519 => return Err(Error::UnsupportedCurve(curve.name().into())),
        };
        let key_error = |err: openssl::error::ErrorStack| Error::Key(err.to_string());
        let group = EcGroup::from_curve_name(nid).map_err(key_error)?;
        let ec = EcKey::generate(&group).map_err(key_error)?;
        let mut point_ctx = openssl::bn::BigNumContext::new().map_err(key_error)?;
        let point = ec
            .public_key()
            .to_bytes(
                &group,
                openssl::ec::PointConversionForm::UNCOMPRESSED,
                &mut point_ctx,
            )
            .map_err(key_error)?;
        let public = PublicJwk::from_sec1_point(curve, &point)?;
        let public = public
            .clone()
            .with_kid(public.thumbprint_b64())
            .with_use(KeyUse::Enc);
        let pkcs8 = Zeroizing::new(
            PKey::from_ec_key(ec)
                .and_then(|key| key.private_key_to_pkcs8())
                .map_err(key_error)?,
        );
        let decrypters = KeyManagement::ALL
            .iter()
            .map(|alg| {
                alg.josekit()
                    .decrypter_from_der(pkcs8.as_slice())
                    .map(|decrypter| (*alg, decrypter))
                    .map_err(|err| Error::Key(err.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let mut context = josekit::jwe::JweContext::new();
        context.add_content_encryption(Box::new(cbc_hmac::A128CbcHs256));
        Ok(Self {
            public,
            decrypters,
            context,
        })
    }

    /// The public key to publish as the encryption key (`use: enc`, `kid` = thumbprint).
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// Checks the protected header against `policy`, then decrypts.
    pub fn decrypt(&self, token: &str, policy: &Policy<'_>) -> Result<Decrypted, Error> {
        let header_b64 = token
            .split('.')
            .next()
            .ok_or(Error::MalformedJwe("empty token"))?;
        if token.split('.').count() != 5 {
            return Err(Error::MalformedJwe("a compact JWE has five parts"));
        }
        let header =
            json::parse_object(&base64url::decode(header_b64, "JWE header")?, "JWE header")?;
        let (alg, enc) = self.check_header(&header, policy)?;
        check_iv_and_tag(token, enc)?;
        let decrypter = self
            .decrypters
            .iter()
            .find_map(|(candidate, decrypter)| (*candidate == alg).then_some(decrypter))
            .ok_or_else(|| Error::UnsupportedKeyManagement(alg.name().into()))?;
        let (plaintext, _) = self
            .context
            .deserialize_compact(token, decrypter)
            .map_err(|_| Error::DecryptionFailed)?;
        Ok(Decrypted { header, plaintext })
    }

    fn check_header(
        &self,
        header: &Map<String, Value>,
        policy: &Policy<'_>,
    ) -> Result<(KeyManagement, ContentEncryption), Error> {
        let alg_name = string_member(header, "alg")?;
        let alg = KeyManagement::from_name(alg_name)
            .filter(|alg| policy.key_management.contains(alg))
            .ok_or_else(|| Error::UnsupportedKeyManagement(alg_name.to_owned()))?;
        let enc_name = string_member(header, "enc")?;
        let enc = ContentEncryption::from_name(enc_name)
            .filter(|enc| policy.content_encryption.contains(enc))
            .ok_or_else(|| Error::UnsupportedContentEncryption(enc_name.to_owned()))?;
        if header.contains_key("zip") {
            return Err(Error::CompressionRefused);
        }
        check_critical(header, &[])?;
        let epk = header
            .get("epk")
            .ok_or(Error::MalformedJwe("epk is missing"))?;
        let epk = PublicJwk::try_from(epk.clone())
            .map_err(|err| Error::InvalidEphemeralKey(Box::new(err)))?;
        if epk.curve() != self.public.curve() {
            let found = epk.curve().map_or("none", Curve::name);
            return Err(Error::InvalidEphemeralKey(Box::new(
                Error::UnsupportedCurve(found.into()),
            )));
        }
        Ok((alg, enc))
    }
}

/// The IV and tag must have exactly the lengths `enc` defines: a truncated GCM tag would lower
/// the forgery bound to what its length gives (RFC 7518 s5.3), and the decrypting library
/// accepts any length.
fn check_iv_and_tag(token: &str, enc: ContentEncryption) -> Result<(), Error> {
    let (iv_len, tag_len) = enc.iv_and_tag_lengths();
    let mut parts = token.split('.');
    let iv = parts.nth(2).unwrap_or_default();
    let tag = parts.nth(1).unwrap_or_default();
    if base64url::decode(iv, "JWE IV")?.len() != iv_len {
        return Err(Error::MalformedJwe("the IV has the wrong length for enc"));
    }
    if base64url::decode(tag, "JWE authentication tag")?.len() != tag_len {
        return Err(Error::MalformedJwe(
            "the authentication tag has the wrong length for enc",
        ));
    }
    Ok(())
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("kid", &self.public.kid())
            .finish_non_exhaustive()
    }
}

fn string_member<'a>(header: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, Error> {
    match header.get(name) {
        Some(Value::String(value)) => Ok(value),
        _ => Err(Error::MalformedJwe("alg or enc is missing or not a string")),
    }
}

#[cfg(test)]
mod tests;
