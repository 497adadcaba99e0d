//! Strict base64url without padding (RFC 7515 s2): padding, other alphabets and non-canonical
//! trailing bits are refused.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::Error;

pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` bytes from OpenSSL's CSPRNG, base64url: identifiers, nonces, `jti` values and secrets.
pub fn random(n: usize) -> Result<String, Error> {
    let mut bytes = vec![0u8; n];
    openssl::rand::rand_bytes(&mut bytes).map_err(|err| Error::Key(format!("random: {err}")))?;
    Ok(encode(bytes))
}

/// Decodes `text`; `part` names what was decoded, for the error.
pub fn decode(text: &str, part: &'static str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Error::Base64(part))
}
