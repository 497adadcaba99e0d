use std::fmt;
use std::str::FromStr;

use crate::Error;

/// JWS algorithms IMMERSE can verify. `none` and the HMAC family have no variant: they cannot
/// be named, so they cannot be allowed by mistake (RFC 8725 s3.1, s3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Es256,
    Es384,
    EdDsa,
    /// RSASSA-PKCS1-v1_5; for third-party keys (Sigstore) only, and only RSA >= 2048 bits.
    Rs256,
    Ps256,
}

impl Algorithm {
    /// The allowlist used where a caller configures nothing else.
    pub const DEFAULT_ALLOWED: &'static [Algorithm] = &[Algorithm::Es256];

    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "ES256" => Ok(Self::Es256),
            "ES384" => Ok(Self::Es384),
            "EdDSA" => Ok(Self::EdDsa),
            "RS256" => Ok(Self::Rs256),
            "PS256" => Ok(Self::Ps256),
            other => Err(Error::AlgorithmNotAllowed(other.to_owned())),
        }
    }
}
