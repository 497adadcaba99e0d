//! The signing side: a v0.3 bundle for a message signature or a DSSE envelope, signed by an
//! [`immerse_jose::Signer`] (software or PKCS#11 key), with a `publicKey` hint naming the key.
//! The bundle carries no log entry; a verifier accepts it only with a policy that allows that
//! (or after a log entry is added, as the test instance does).
use immerse_jose::{Algorithm, Signer};

use crate::bundle::{Bundle, BundleVersion, Content, VerificationMaterial};
use crate::dsse::{self, Envelope};
use crate::error::{Error, Result};
use crate::keys::{HashAlgorithm, VerificationKey, ecdsa_raw_to_der};

/// Signs `message` and returns the signature as Sigstore encodes it: DER for ECDSA (JOSE
/// returns `r || s`), raw for Ed25519, PKCS#1 v1.5 for RSA.
pub async fn sign_bytes(signer: &dyn Signer, message: &[u8]) -> Result<Vec<u8>> {
    let raw = signer
        .sign(message)
        .await
        .map_err(|e| Error::Signing(e.to_string()))?;
    match signer.algorithm() {
        Algorithm::Es256 | Algorithm::Es384 => ecdsa_raw_to_der(&raw),
        Algorithm::EdDsa | Algorithm::Rs256 => Ok(raw),
        // Sigstore's RSA key details are PKCS#1 v1.5; a PSS signature would not verify there.
        other => Err(Error::Signing(format!(
            "{other} is not a Sigstore signature scheme"
        ))),
    }
}

/// The signer's public key as a [`VerificationKey`].
pub fn signer_key(signer: &dyn Signer) -> Result<VerificationKey> {
    VerificationKey::from_jwk(signer.public_jwk())
}

fn hash_for(signer: &dyn Signer) -> HashAlgorithm {
    match signer.algorithm() {
        Algorithm::Es384 => HashAlgorithm::Sha384,
        _ => HashAlgorithm::Sha256,
    }
}

/// The `publicKey.hint` sigstore-go and cosign write: base64 of SHA-256 over the DER SPKI.
pub fn key_hint(key: &VerificationKey) -> String {
    crate::util::b64(&key.key_id())
}

fn key_bundle(signer: &dyn Signer, content: Content) -> Result<Bundle> {
    Ok(Bundle {
        version: BundleVersion::V03,
        material: VerificationMaterial::PublicKey {
            hint: key_hint(&signer_key(signer)?),
        },
        tlog_entries: Vec::new(),
        timestamps: Vec::new(),
        content,
    })
}

/// A v0.3 bundle with a `messageSignature` over `artifact` (cosign `sign-blob --bundle`).
pub async fn sign_message(signer: &dyn Signer, artifact: &[u8]) -> Result<Bundle> {
    let signature = sign_bytes(signer, artifact).await?;
    let alg = hash_for(signer);
    key_bundle(
        signer,
        Content::MessageSignature {
            digest: Some((alg, alg.digest(artifact))),
            signature,
        },
    )
}

/// A v0.3 bundle with a DSSE envelope over `payload` (cosign `attest-blob`).
pub async fn sign_dsse(signer: &dyn Signer, payload_type: &str, payload: &[u8]) -> Result<Bundle> {
    let sig = sign_bytes(signer, &dsse::pae(payload_type, payload)).await?;
    key_bundle(
        signer,
        Content::Dsse(Envelope {
            payload: payload.to_vec(),
            payload_type: payload_type.to_owned(),
            signatures: vec![dsse::Signature {
                sig,
                keyid: String::new(),
            }],
        }),
    )
}
