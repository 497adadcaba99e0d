//! A128CBC-HS256 (RFC 7518 s5.2.3) decryption that authenticates before it decrypts.
//!
//! josekit's implementation removes the CBC padding before it checks the tag, and compares the
//! tag with `!=`: a timing difference between "bad padding" and "bad tag" is the classic
//! padding oracle. RFC 7518 s5.2.2.2 orders it the other way: compute the tag over
//! `A || IV || E || AL`, compare it in constant time, and decrypt only when it matches. Encryption
//! has no such issue and stays with josekit.
use josekit::JoseError;
use josekit::jwe::JweContentEncryption;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{Cipher, decrypt};

/// RFC 7518 s5.2.3: MAC_KEY_LEN = ENC_KEY_LEN = 16, T_LEN = 16.
const KEY_LEN: usize = 32;
const HALF_KEY: usize = KEY_LEN / 2;
const IV_LEN: usize = 16;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, Copy)]
pub(crate) struct A128CbcHs256;

/// Why a ciphertext was refused; the caller reports every refusal as one opaque failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(&'static str);

fn refused(reason: &'static str) -> JoseError {
    JoseError::InvalidSignature(Refused(reason).into())
}

/// RFC 7518 s5.2.2.1 steps 5-7: HMAC-SHA-256 over `A || IV || E || AL`, first 16 bytes.
fn tag(mac_key: &[u8], aad: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, JoseError> {
    let compute = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let key = PKey::hmac(mac_key)?;
        let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
        // AL: the number of bits in A as a 64-bit big-endian integer.
        let aad_bits = (aad.len() as u64).wrapping_mul(8).to_be_bytes();
        for part in [aad, iv, ciphertext, &aad_bits] {
            signer.update(part)?;
        }
        let mut full = signer.sign_to_vec()?;
        full.truncate(TAG_LEN);
        Ok(full)
    };
    compute().map_err(|err| JoseError::InvalidSignature(err.into()))
}

impl JweContentEncryption for A128CbcHs256 {
    fn name(&self) -> &str {
        "A128CBC-HS256"
    }

    fn key_len(&self) -> usize {
        KEY_LEN
    }

    fn iv_len(&self) -> usize {
        IV_LEN
    }

    fn encrypt(
        &self,
        key: &[u8],
        iv: Option<&[u8]>,
        message: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), JoseError> {
        josekit::jwe::enc::A128CBC_HS256.encrypt(key, iv, message, aad)
    }

    /// RFC 7518 s5.2.2.2: the tag first (constant time), then CBC decryption and padding.
    fn decrypt(
        &self,
        key: &[u8],
        iv: Option<&[u8]>,
        ciphertext: &[u8],
        aad: &[u8],
        presented: Option<&[u8]>,
    ) -> Result<Vec<u8>, JoseError> {
        if key.len() != KEY_LEN {
            return Err(refused("the content encryption key is not 32 bytes"));
        }
        let iv = iv
            .filter(|iv| iv.len() == IV_LEN)
            .ok_or_else(|| refused("the IV is not 16 bytes"))?;
        let presented = presented
            .filter(|tag| tag.len() == TAG_LEN)
            .ok_or_else(|| refused("the tag is not 16 bytes"))?;
        let (mac_key, enc_key) = key.split_at(HALF_KEY);
        let expected = tag(mac_key, aad, iv, ciphertext)?;
        if !openssl::memcmp::eq(&expected, presented) {
            return Err(refused("the authentication tag does not match"));
        }
        decrypt(Cipher::aes_128_cbc(), enc_key, Some(iv), ciphertext)
            .map_err(|err| JoseError::InvalidSignature(err.into()))
    }

    fn box_clone(&self) -> Box<dyn JweContentEncryption> {
        Box::new(*self)
    }
}
