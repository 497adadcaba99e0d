//! A local Sigstore, in process, for tests of this crate and of downstream crates (SLSA,
//! admission): a Fulcio-like CA (root + intermediate) issuing ten-minute leaves with Fulcio
//! extensions and an embedded SCT from a CT log key, a Rekor v1-like log (ECDSA, SETs and
//! checkpoints), a Rekor v2-like log (Ed25519 checkpoints, no SET), a TSA issuing RFC 3161
//! responses, and the `trusted_root.json` naming all of them. [`Tamper`] makes the instance
//! produce a bundle that is wrong in exactly one signed place, which no byte edit of the
//! bundle could produce (a log honestly signing a body that does not match, for example).
//!
//! ```ignore
//! let mut sigstore = TestInstance::new();
//! let bundle = sigstore.sign_blob(b"artifact", &BundleOptions::default());
//! sigstore.verifier().verify(&bundle, Some(Artifact::Bytes(b"artifact")),
//!     &Policy::identity(sigstore.identity_policy()))?;
//! ```
//!
//! Test code only: it panics if OpenSSL fails on its own freshly generated keys.
mod bodies;
mod log;
mod pki;
mod tsa;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::json;

use self::bodies::Verifier as BodyVerifier;
use self::log::TestLog;
use self::pki::{LeafSpec, SctIssuer, ca_cert, leaf_cert, p256, public, sign};
use self::tsa::TestTsa;
use crate::bundle::{Bundle, BundleVersion, Content, TlogEntry, VerificationMaterial};
use crate::checkpoint::Checkpoint;
use crate::dsse::{self, Envelope};
use crate::identity::IdentityPolicy;
use crate::keys::{HashAlgorithm, VerificationKey};
use crate::trust_root::TrustedRoot;
use crate::util::{b64, format_rfc3339, sha256};
use crate::verify::Verifier;

pub const TEST_EMAIL: &str = "signer@example.com";
pub const TEST_ISSUER: &str = "https://issuer.example.com";

/// One thing the instance gets wrong on purpose (each maps to one verification error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// The log signs a checkpoint whose root is not the proof's root.
    CheckpointRoot,
    /// The checkpoint signature is by another key (under the log's key ID).
    CheckpointSignature,
    /// The embedded SCT's signature is corrupted.
    SctSignature,
    /// The SCT comes from a CT log that the trusted root does not name.
    SctUnknownLog,
    /// The leaf is issued by a CA that the trusted root does not name.
    ForeignCa,
    /// The leaf's extended key usage is emailProtection instead of codeSigning.
    NoCodeSigning,
    /// The leaf expired half an hour before the entry was integrated.
    CertificateExpired,
    /// The TSA timestamps other data than the signature.
    TimestampOtherData,
    /// The timestamp comes from a TSA that the trusted root does not name.
    TimestampUntrusted,
    /// The logged body names another artifact digest (or DSSE payload hash).
    BodyDigest,
    /// The logged body carries another (valid) signature.
    BodySignature,
    /// The logged body names another certificate or key.
    BodyCertificate,
}

/// The identity a leaf certificate is issued for.
#[derive(Debug, Clone)]
pub struct TestIdentity {
    pub emails: Vec<String>,
    pub uris: Vec<String>,
    pub issuer: String,
    /// Further Fulcio extensions: (arc under 1.3.6.1.4.1.57264.1, value), e.g.
    /// `(9, "https://github.com/org/repo/.github/workflows/build.yml@refs/heads/main")`.
    pub extensions: Vec<(u64, String)>,
}

impl Default for TestIdentity {
    fn default() -> Self {
        Self {
            emails: vec![TEST_EMAIL.to_owned()],
            uris: Vec::new(),
            issuer: TEST_ISSUER.to_owned(),
            extensions: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BundleOptions {
    pub version: BundleVersion,
    /// Log to the Rekor v2-like log (entries 0.0.2, no SET; a timestamp is added).
    pub rekor_v2: bool,
    /// Add an RFC 3161 timestamp over the signature.
    pub timestamp: bool,
    /// Log the entry at all.
    pub tlog: bool,
    /// Log DSSE envelopes as intoto 0.0.2 instead of dsse 0.0.1.
    pub intoto: bool,
    pub identity: TestIdentity,
    pub tamper: Option<Tamper>,
}

impl Default for BundleOptions {
    fn default() -> Self {
        Self {
            version: BundleVersion::V03,
            rekor_v2: false,
            timestamp: false,
            tlog: true,
            intoto: false,
            identity: TestIdentity::default(),
            tamper: None,
        }
    }
}

impl BundleOptions {
    pub fn version(version: BundleVersion) -> Self {
        Self {
            version,
            ..Self::default()
        }
    }

    pub fn tampered(tamper: Tamper) -> Self {
        Self {
            tamper: Some(tamper),
            ..Self::default()
        }
    }
}

struct Ca {
    root: X509,
    intermediate: X509,
    key: PKey<Private>,
}

impl Ca {
    fn new(name: &str, not_before: i64, not_after: i64) -> Self {
        let root_key = p256();
        let root = ca_cert(
            &format!("{name} root"),
            &root_key,
            None,
            not_before,
            not_after,
            false,
        );
        let key = p256();
        let intermediate = ca_cert(
            &format!("{name} intermediate"),
            &key,
            Some((&root, &root_key)),
            not_before,
            not_after,
            false,
        );
        Self {
            root,
            intermediate,
            key,
        }
    }
}

pub struct TestInstance {
    /// The instance's clock: leaves start one minute before, entries are integrated at it.
    pub now: i64,
    fulcio: Ca,
    foreign: Ca,
    ct_key: PKey<Private>,
    rogue_ct_key: PKey<Private>,
    rekor: TestLog,
    rekor_v2: TestLog,
    tsa: TestTsa,
    rogue_tsa: TestTsa,
    serial: u64,
}

impl Default for TestInstance {
    fn default() -> Self {
        Self::new()
    }
}

fn log_json(
    url: &str,
    key: &VerificationKey,
    log_id: &[u8],
    details: &str,
    start: i64,
) -> serde_json::Value {
    json!({
        "baseUrl": url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": b64(key.spki_der()),
            "keyDetails": details,
            "validFor": { "start": format_rfc3339(start) }
        },
        "logId": { "keyId": b64(log_id) }
    })
}

fn ca_json(uri: &str, chain: &[&X509], start: i64) -> serde_json::Value {
    let certs: Vec<_> = chain
        .iter()
        .map(|c| json!({ "rawBytes": b64(&c.to_der().expect("DER")) }))
        .collect();
    json!({
        "subject": { "organization": "immerse.test", "commonName": uri },
        "uri": uri,
        "certChain": { "certificates": certs },
        "validFor": { "start": format_rfc3339(start) }
    })
}

impl TestInstance {
    /// A fresh instance at the current wall-clock time.
    pub fn new() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1_700_000_000, |d| d.as_secs() as i64);
        Self::at(now)
    }

    /// A fresh instance whose clock reads `now` (Unix seconds).
    pub fn at(now: i64) -> Self {
        let (start, end) = (now - 86_400, now + 365 * 86_400);
        Self {
            now,
            fulcio: Ca::new("fulcio.test", start, end),
            foreign: Ca::new("foreign.test", start, end),
            ct_key: p256(),
            rogue_ct_key: p256(),
            rekor: TestLog::new("rekor.test", false),
            rekor_v2: TestLog::new("log2025.rekor.test", true),
            tsa: TestTsa::new("tsa.test", start, end),
            rogue_tsa: TestTsa::new("rogue-tsa.test", start, end),
            serial: 0,
        }
    }

    pub fn trusted_root_json(&self) -> String {
        let start = self.now - 86_400;
        let ct = VerificationKey::from_pkey(public(&self.ct_key)).expect("CT key");
        json!({
            "mediaType": crate::trust_root::TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [
                log_json(&self.rekor.base_url, &self.rekor.verification_key, &self.rekor.log_id, "PKIX_ECDSA_P256_SHA_256", start),
                log_json(&self.rekor_v2.base_url, &self.rekor_v2.verification_key, &self.rekor_v2.log_id, "PKIX_ED25519", start),
            ],
            "certificateAuthorities": [
                ca_json("https://fulcio.test", &[&self.fulcio.intermediate, &self.fulcio.root], start)
            ],
            "ctlogs": [
                log_json("https://ctfe.test", &ct, &ct.key_id(), "PKIX_ECDSA_P256_SHA_256", start)
            ],
            "timestampAuthorities": [
                ca_json("https://tsa.test", &[&self.tsa.leaf, &self.tsa.root], start)
            ]
        })
        .to_string()
    }

    pub fn trusted_root(&self) -> TrustedRoot {
        TrustedRoot::from_json(&self.trusted_root_json()).expect("own trusted root parses")
    }

    pub fn verifier(&self) -> Verifier {
        Verifier::new(self.trusted_root())
    }

    /// The policy that the default [`TestIdentity`] satisfies.
    pub fn identity_policy(&self) -> IdentityPolicy {
        IdentityPolicy::exact(TEST_EMAIL, TEST_ISSUER)
    }

    /// The Fulcio root and intermediate, for callers that want the raw chain.
    pub fn fulcio_chain(&self) -> [&X509; 2] {
        [&self.fulcio.intermediate, &self.fulcio.root]
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// A fresh key and a leaf for it.
    fn issue(&mut self, options: &BundleOptions) -> (PKey<Private>, X509) {
        let key = p256();
        let tamper = options.tamper;
        let (not_before, not_after) = if tamper == Some(Tamper::CertificateExpired) {
            (self.now - 3600, self.now - 1800)
        } else {
            (self.now - 60, self.now + 540)
        };
        let ca = if tamper == Some(Tamper::ForeignCa) {
            &self.foreign
        } else {
            &self.fulcio
        };
        let ct_key = if tamper == Some(Tamper::SctUnknownLog) {
            &self.rogue_ct_key
        } else {
            &self.ct_key
        };
        let ct_id = VerificationKey::from_pkey(public(ct_key))
            .expect("CT key")
            .key_id();
        let seed = format!("leaf {} {}", self.now, self.serial);
        let id = &options.identity;
        let leaf = leaf_cert(
            &LeafSpec {
                emails: &id.emails,
                uris: &id.uris,
                issuer_url: &id.issuer,
                extensions: &id.extensions,
                not_before,
                not_after,
                serial_seed: seed.as_bytes(),
                code_signing: tamper != Some(Tamper::NoCodeSigning),
            },
            &public(&key),
            &ca.intermediate,
            &ca.key,
            &SctIssuer {
                key: ct_key,
                log_id: ct_id,
                timestamp_ms: (not_before as u64) * 1000,
                corrupt: tamper == Some(Tamper::SctSignature),
            },
        );
        self.next_serial();
        (key, leaf)
    }

    fn material(version: BundleVersion, leaf: X509) -> VerificationMaterial {
        match version {
            BundleVersion::V03 => VerificationMaterial::Certificate(leaf),
            _ => VerificationMaterial::Chain(vec![leaf]),
        }
    }

    /// A certificate-signed bundle with a message signature over `artifact`.
    pub fn sign_blob(&mut self, artifact: &[u8], options: &BundleOptions) -> Bundle {
        let (key, leaf) = self.issue(options);
        let signature = sign(&key, artifact);
        let digest = sha256(artifact).to_vec();
        let leaf_der = leaf.to_der().expect("DER");
        let content = Content::MessageSignature {
            digest: Some((HashAlgorithm::Sha256, digest.clone())),
            signature: signature.clone(),
        };
        let other_signature = sign(&key, artifact);
        let body = self.message_body(
            &digest,
            &signature,
            &other_signature,
            BodyVerifier::Certificate(&leaf_der),
            options,
        );
        self.assemble(
            Self::material(options.version, leaf),
            content,
            &signature,
            body,
            options,
        )
    }

    /// A certificate-signed bundle with a DSSE envelope over `payload`.
    pub fn sign_dsse(
        &mut self,
        payload_type: &str,
        payload: &[u8],
        options: &BundleOptions,
    ) -> Bundle {
        let (key, leaf) = self.issue(options);
        let pae = dsse::pae(payload_type, payload);
        let signature = sign(&key, &pae);
        let other_signature = sign(&key, &pae);
        let leaf_der = leaf.to_der().expect("DER");
        let envelope = Envelope {
            payload: payload.to_vec(),
            payload_type: payload_type.to_owned(),
            signatures: vec![dsse::Signature {
                sig: signature.clone(),
                keyid: String::new(),
            }],
        };
        let body = self.dsse_body(
            &envelope,
            &signature,
            &other_signature,
            BodyVerifier::Certificate(&leaf_der),
            options,
        );
        self.assemble(
            Self::material(options.version, leaf),
            Content::Dsse(envelope),
            &signature,
            body,
            options,
        )
    }

    /// Logs (and, per the options, timestamps) a key-signed bundle made by
    /// [`crate::sign::sign_message`] or [`crate::sign::sign_dsse`], as `cosign` does when it
    /// uploads to Rekor after signing with a key. The bundle keeps its version unless the
    /// options ask for v0.1/v0.2.
    pub fn log_key_bundle(
        &mut self,
        bundle: Bundle,
        key: &VerificationKey,
        options: &BundleOptions,
    ) -> Bundle {
        let spki = key.spki_der().to_vec();
        let other_key = VerificationKey::from_pkey(public(&p256())).expect("key");
        let verifier = if options.tamper == Some(Tamper::BodyCertificate) {
            BodyVerifier::Key(other_key.spki_der())
        } else {
            BodyVerifier::Key(&spki)
        };
        let mut options = options.clone();
        if options.tamper == Some(Tamper::BodyCertificate) {
            options.tamper = None;
        }
        let (signature, body) = match &bundle.content {
            Content::MessageSignature { digest, signature } => {
                let digest = digest.as_ref().map(|(_, d)| d.clone()).unwrap_or_default();
                let mut other = signature.clone();
                other.push(0);
                let body = self.message_body(&digest, signature, &other, verifier, &options);
                (signature.clone(), body)
            }
            Content::Dsse(envelope) => {
                let sig = envelope
                    .signatures
                    .first()
                    .map(|s| s.sig.clone())
                    .unwrap_or_default();
                let mut other = sig.clone();
                other.push(0);
                let body = self.dsse_body(envelope, &sig, &other, verifier, &options);
                (sig, body)
            }
        };
        let version = options.version;
        let mut out = self.assemble(bundle.material, bundle.content, &signature, body, &options);
        out.version = version;
        out
    }

    fn message_body(
        &self,
        digest: &[u8],
        signature: &[u8],
        other_signature: &[u8],
        verifier: BodyVerifier<'_>,
        options: &BundleOptions,
    ) -> Vec<u8> {
        let mut digest = digest.to_vec();
        let mut signature = signature;
        if options.tamper == Some(Tamper::BodyDigest) {
            digest[0] ^= 0x01;
        }
        if options.tamper == Some(Tamper::BodySignature) {
            signature = other_signature;
        }
        let intermediate = self.fulcio.intermediate.to_der().expect("DER");
        let verifier = if options.tamper == Some(Tamper::BodyCertificate) {
            BodyVerifier::Certificate(&intermediate)
        } else {
            verifier
        };
        if options.rekor_v2 {
            bodies::hashedrekord_v002(&digest, signature, &verifier)
        } else {
            bodies::hashedrekord_v001(&digest, signature, &verifier)
        }
    }

    fn dsse_body(
        &self,
        envelope: &Envelope,
        signature: &[u8],
        other_signature: &[u8],
        verifier: BodyVerifier<'_>,
        options: &BundleOptions,
    ) -> Vec<u8> {
        let mut payload = envelope.payload.clone();
        let mut signature = signature;
        if options.tamper == Some(Tamper::BodyDigest) {
            payload.push(b' ');
        }
        if options.tamper == Some(Tamper::BodySignature) {
            signature = other_signature;
        }
        let intermediate = self.fulcio.intermediate.to_der().expect("DER");
        let verifier = if options.tamper == Some(Tamper::BodyCertificate) {
            BodyVerifier::Certificate(&intermediate)
        } else {
            verifier
        };
        let envelope_json = envelope.to_json().to_string();
        if options.rekor_v2 {
            bodies::dsse_v002(&payload, signature, &verifier)
        } else if options.intoto {
            bodies::intoto_v002(
                &envelope_json,
                &envelope.payload_type,
                &payload,
                signature,
                &verifier,
            )
        } else {
            bodies::dsse_v001(&envelope_json, &payload, signature, &verifier)
        }
    }

    fn assemble(
        &mut self,
        material: VerificationMaterial,
        content: Content,
        signature: &[u8],
        body: Vec<u8>,
        options: &BundleOptions,
    ) -> Bundle {
        let tamper = options.tamper;
        let mut timestamps = Vec::new();
        if options.timestamp || options.rekor_v2 {
            let serial = self.next_serial();
            let data: &[u8] = if tamper == Some(Tamper::TimestampOtherData) {
                b"some other data"
            } else {
                signature
            };
            let tsa = if tamper == Some(Tamper::TimestampUntrusted) {
                &self.rogue_tsa
            } else {
                &self.tsa
            };
            timestamps.push(tsa.timestamp(data, self.now, serial));
        }
        let mut tlog_entries = Vec::new();
        if options.tlog {
            let v2 = options.rekor_v2;
            let now = self.now;
            let log = if v2 {
                &mut self.rekor_v2
            } else {
                &mut self.rekor
            };
            let index = log.append(&body);
            let parsed: serde_json::Value = serde_json::from_slice(&body).expect("own body");
            let mut entry = TlogEntry {
                log_index: index,
                log_id: log.log_id.to_vec(),
                kind: parsed["kind"].as_str().unwrap_or_default().to_owned(),
                version: parsed["apiVersion"].as_str().unwrap_or_default().to_owned(),
                integrated_time: if v2 { 0 } else { now },
                signed_entry_timestamp: None,
                inclusion_proof: None,
                canonicalized_body: body,
            };
            if !v2 {
                entry.signed_entry_timestamp = Some(log.sign_set(&entry));
            }
            if v2 || options.version != BundleVersion::V01 {
                let note = match tamper {
                    Some(Tamper::CheckpointRoot) => {
                        let mut cp: Checkpoint = log.checkpoint();
                        cp.root_hash[0] ^= 0x01;
                        Some(log.sign_note(&cp, None))
                    }
                    Some(Tamper::CheckpointSignature) => {
                        Some(log.sign_note(&log.checkpoint(), Some(&p256())))
                    }
                    _ => None,
                };
                entry.inclusion_proof = Some(log.proof(index, note));
            }
            tlog_entries.push(entry);
        }
        Bundle {
            version: options.version,
            material,
            tlog_entries,
            timestamps,
            content,
        }
    }
}
