//! DSSE envelopes (secure-systems-lab/dsse, envelope.md and protocol.md).
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::util::{b64, b64_decode};

/// The in-toto payload type (in-toto attestation framework, envelope layer).
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload: Vec<u8>,
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub sig: Vec<u8>,
    pub keyid: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawEnvelope {
    payload: String,
    payload_type: String,
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    sig: String,
    #[serde(default)]
    keyid: String,
}

/// The pre-authentication encoding (DSSE protocol.md):
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    pub(crate) fn from_raw(raw: RawEnvelope) -> Result<Self> {
        let malformed = |what: &str| Error::DsseMalformed(what.into());
        let payload = b64_decode(&raw.payload).ok_or_else(|| malformed("payload base64"))?;
        if raw.signatures.is_empty() {
            return Err(malformed("no signatures"));
        }
        let signatures = raw
            .signatures
            .into_iter()
            .map(|s| {
                Ok(Signature {
                    sig: b64_decode(&s.sig).ok_or_else(|| malformed("sig base64"))?,
                    keyid: s.keyid,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            payload,
            payload_type: raw.payload_type,
            signatures,
        })
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let raw: RawEnvelope =
            serde_json::from_str(text).map_err(|err| Error::DsseMalformed(err.to_string()))?;
        Self::from_raw(raw)
    }

    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// The envelope as JSON, as cosign writes it (`payload`, `payloadType`, `signatures`).
    pub fn to_json(&self) -> Value {
        let signatures: Vec<Value> = self
            .signatures
            .iter()
            .map(|s| {
                if s.keyid.is_empty() {
                    json!({ "sig": b64(&s.sig) })
                } else {
                    json!({ "sig": b64(&s.sig), "keyid": s.keyid })
                }
            })
            .collect();
        json!({
            "payload": b64(&self.payload),
            "payloadType": self.payload_type,
            "signatures": signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // protocol.md test vector: type "http://example.com/HelloWorld", body "hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }
}
