//! The simple-signing payload cosign signs (containers/image `containers-signature.5.md`, "JSON
//! data format"; sigstore/sigstore `pkg/signature/payload`):
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"reg/repo"},
//!              "image":{"docker-manifest-digest":"sha256:..."},
//!              "type":"cosign container image signature"},
//!  "optional":null}
//! ```
//!
//! Parsing is strict: exact key names (Go's encoding/json would also take `Docker-manifest-digest`;
//! we do not), no unknown member in `critical` (the containers-signature format says consumers
//! must reject them), the exact cosign type string, and a sha256 digest.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::error::{OciError, Result};

/// cosign's `critical.type`.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

/// A parsed simple-signing payload.
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference`: the repository the signer named (cosign ignores it
    /// at verification, but policy may check it).
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`: the signed manifest.
    pub manifest_digest: Digest,
    /// `optional`: free-form claims (`None` is serialised as `null`, as cosign does).
    pub optional: Option<Map<String, Value>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    critical: Critical,
    #[serde(default)]
    optional: Option<Map<String, Value>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

impl SimpleSigning {
    pub fn new(docker_reference: &str, manifest_digest: Digest) -> Self {
        SimpleSigning {
            docker_reference: docker_reference.to_owned(),
            manifest_digest,
            optional: None,
        }
    }

    /// The payload bytes, in cosign's member order.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = Wire {
            critical: Critical {
                identity: Identity {
                    docker_reference: self.docker_reference.clone(),
                },
                image: Image {
                    docker_manifest_digest: self.manifest_digest.to_string(),
                },
                kind: SIMPLE_SIGNING_TYPE.to_owned(),
            },
            optional: self.optional.clone(),
        };
        // Strings and JSON values always serialise.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|e| OciError::InvalidPayload(e.to_string()))?;
        if wire.critical.kind != SIMPLE_SIGNING_TYPE {
            return Err(OciError::InvalidPayload(format!(
                "critical.type is {:?}",
                wire.critical.kind
            )));
        }
        let manifest_digest = Digest::parse(&wire.critical.image.docker_manifest_digest)
            .map_err(|e| OciError::InvalidPayload(format!("docker-manifest-digest: {e}")))?;
        Ok(SimpleSigning {
            docker_reference: wire.critical.identity.docker_reference,
            manifest_digest,
            optional: wire.optional,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:97fc222cee7991b5b061d4d4afdb5f3428fcb0c9054e1690313786befa1e4e36";

    #[test]
    fn payload_has_cosign_shape_and_round_trips() {
        let p = SimpleSigning::new("reg.io/demo", Digest::parse(D).unwrap());
        let json = String::from_utf8(p.to_json()).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"reg.io/demo"}},"image":{{"docker-manifest-digest":"{D}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        assert_eq!(SimpleSigning::parse(json.as_bytes()).unwrap(), p);
    }

    #[test]
    fn payloads_off_the_format_are_refused() {
        let ok = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{D}"}},"type":"cosign container image signature"}},"optional":{{"a":1}}}}"#
        );
        assert!(SimpleSigning::parse(ok.as_bytes()).is_ok());
        for bad in [
            ok.replace("docker-manifest-digest", "Docker-manifest-digest"),
            ok.replace(
                "cosign container image signature",
                "atomic container signature",
            ),
            ok.replace(r#""type""#, r#""extra":1,"type""#),
            ok.replace(D, "sha256:abc"),
            ok.replace(r#""identity":{"docker-reference":"r"},"#, ""),
            "[]".to_owned(),
        ] {
            assert!(
                matches!(
                    SimpleSigning::parse(bad.as_bytes()),
                    Err(OciError::InvalidPayload(_))
                ),
                "{bad}"
            );
        }
    }
}
