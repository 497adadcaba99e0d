//! Content digests (OCI image-spec `descriptor.md`, "Digests").
//!
//! Only `sha256` is supported: it is the algorithm every registry and cosign use, and refusing
//! the others is safer than carrying a digest we cannot verify. The encoded part must be exactly
//! 64 lowercase hex characters, as the image spec registers for sha256.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::error::{OciError, Result};

/// A `sha256:<64 hex>` digest. Constructed only by strict parsing or by hashing content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `content`.
    pub fn of(content: &[u8]) -> Self {
        Digest(Sha256::digest(content).into())
    }

    /// Parses `sha256:<64 lowercase hex>`; anything else is refused.
    pub fn parse(s: &str) -> Result<Self> {
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(OciError::InvalidDigest(s.to_owned()));
        };
        // image-spec descriptor.md: algorithm = [a-z0-9]+ ([+._-] [a-z0-9]+)*; we name the
        // unsupported-but-well-formed case separately so callers can tell the two apart.
        if algorithm != "sha256" {
            let well_formed = !algorithm.is_empty()
                && algorithm
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
            return Err(if well_formed {
                OciError::UnsupportedDigestAlgorithm(s.to_owned())
            } else {
                OciError::InvalidDigest(s.to_owned())
            });
        }
        if encoded.len() != 64
            || !encoded
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(OciError::InvalidDigest(s.to_owned()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(encoded, &mut bytes)
            .map_err(|_| OciError::InvalidDigest(s.to_owned()))?;
        Ok(Digest(bytes))
    }

    /// Checks that `content` hashes to this digest.
    pub fn verify(&self, content: &[u8]) -> Result<()> {
        let actual = Digest::of(content);
        if actual == *self {
            Ok(())
        } else {
            Err(OciError::DigestMismatch {
                expected: *self,
                actual,
            })
        }
    }

    /// The 64 lowercase hex characters.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The referrers tag schema tag, `<alg>-<ref>` (distribution-spec v1.1, "Referrers Tag
    /// Schema"); cosign's legacy `.sig`/`.att` tags use the same prefix.
    pub fn tag_form(&self) -> String {
        format!("sha256-{}", self.hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = OciError;
    fn from_str(s: &str) -> Result<Self> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_digest_matches_the_image_spec() {
        // image-spec manifest.md, "Guidance for an Empty Descriptor".
        assert_eq!(
            Digest::of(b"{}").to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn malformed_digests_are_refused() {
        let good = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert!(Digest::parse(good).is_ok());
        for bad in [
            "",
            "sha256:",
            "sha256",
            &good.to_uppercase(),
            &good.replace("sha256:44", "sha256:4G"),
            &good[..good.len() - 1],
            &format!("{good}0"),
            &format!(" {good}"),
            "SHA256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        ] {
            assert!(
                matches!(Digest::parse(bad), Err(OciError::InvalidDigest(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Digest::parse("sha512:abcd"),
            Err(OciError::UnsupportedDigestAlgorithm(_))
        ));
    }

    #[test]
    fn verify_detects_changed_content() {
        let d = Digest::of(b"hello");
        assert!(d.verify(b"hello").is_ok());
        assert!(matches!(
            d.verify(b"hellO"),
            Err(OciError::DigestMismatch { .. })
        ));
    }
}
