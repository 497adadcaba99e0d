//! Rekor entry bodies as the real Rekor writes them (keys sorted, canonical JSON).
use serde_json::{Value, json};

use crate::keys::pem_wrap;
use crate::util::{b64, sha256};

/// The verifier: a certificate (DER) or a key (DER SPKI).
pub(crate) enum Verifier<'a> {
    Certificate(&'a [u8]),
    Key(&'a [u8]),
}

impl Verifier<'_> {
    fn pem(&self) -> String {
        match self {
            Self::Certificate(der) => pem_wrap("CERTIFICATE", &b64(der)),
            Self::Key(der) => pem_wrap("PUBLIC KEY", &b64(der)),
        }
    }

    fn v2(&self) -> Value {
        match self {
            Self::Certificate(der) => json!({
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "x509Certificate": { "rawBytes": b64(der) }
            }),
            Self::Key(der) => json!({
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "publicKey": { "rawBytes": b64(der) }
            }),
        }
    }
}

fn bytes(value: Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

pub(crate) fn hashedrekord_v001(
    digest: &[u8],
    signature: &[u8],
    verifier: &Verifier<'_>,
) -> Vec<u8> {
    bytes(json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(digest) } },
            "signature": {
                "content": b64(signature),
                "publicKey": { "content": b64(verifier.pem().as_bytes()) }
            }
        }
    }))
}

pub(crate) fn hashedrekord_v002(
    digest: &[u8],
    signature: &[u8],
    verifier: &Verifier<'_>,
) -> Vec<u8> {
    bytes(json!({
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": {
            "hashedRekordV002": {
                "data": { "algorithm": "SHA2_256", "digest": b64(digest) },
                "signature": { "content": b64(signature), "verifier": verifier.v2() }
            }
        }
    }))
}

pub(crate) fn dsse_v001(
    envelope_json: &str,
    payload: &[u8],
    signature: &[u8],
    verifier: &Verifier<'_>,
) -> Vec<u8> {
    bytes(json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": { "algorithm": "sha256", "value": hex::encode(sha256(envelope_json.as_bytes())) },
            "payloadHash": { "algorithm": "sha256", "value": hex::encode(sha256(payload)) },
            "signatures": [ { "signature": b64(signature), "verifier": b64(verifier.pem().as_bytes()) } ]
        }
    }))
}

pub(crate) fn dsse_v002(payload: &[u8], signature: &[u8], verifier: &Verifier<'_>) -> Vec<u8> {
    bytes(json!({
        "apiVersion": "0.0.2",
        "kind": "dsse",
        "spec": {
            "dsseV002": {
                "payloadHash": { "algorithm": "SHA2_256", "digest": b64(&sha256(payload)) },
                "signatures": [ { "content": b64(signature), "verifier": verifier.v2() } ]
            }
        }
    }))
}

pub(crate) fn intoto_v002(
    envelope_json: &str,
    payload_type: &str,
    payload: &[u8],
    signature: &[u8],
    verifier: &Verifier<'_>,
) -> Vec<u8> {
    bytes(json!({
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": {
                    "payloadType": payload_type,
                    // intoto 0.0.2 stores signatures base64-encoded twice.
                    "signatures": [ { "publicKey": b64(verifier.pem().as_bytes()), "sig": b64(b64(signature).as_bytes()) } ]
                },
                "hash": { "algorithm": "sha256", "value": hex::encode(sha256(envelope_json.as_bytes())) },
                "payloadHash": { "algorithm": "sha256", "value": hex::encode(sha256(payload)) }
            }
        }
    }))
}
