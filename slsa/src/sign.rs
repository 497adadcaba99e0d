//! The producer side: sign an image and attach attestations in both of cosign's storage
//! schemes, to a registry or an OCI layout.
//!
//! - `sign_image`: a `.sig` layer (the simple-signing payload, its base64 DER signature in
//!   `dev.cosignproject.cosign/signature`), and a Sigstore bundle v0.3 referrer holding a DSSE
//!   envelope over the in-toto statement `cosign sign` 3.x signs (predicate
//!   `https://sigstore.dev/cosign/sign/v1`, subject the image digest).
//! - `attest_image`: the DSSE envelope as a `.att` layer (with `predicateType`), and a v0.3
//!   bundle referrer holding the same envelope.
//!
//! Key signatures carry no log entry here (no Rekor on loopback); verifiers accept them only
//! with a policy that allows it. Byte formats follow cosign: the simple-signing payload and
//! the `.sig` manifest and config (immerse-oci), the DSSE envelope JSON of
//! go-securesystemslib (`payloadType`, `payload`, `signatures[{keyid, sig}]`).

use std::future::Future;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use immerse_jose::Signer;
use immerse_oci::cosign::{
    self, ANNOTATION_PREDICATE_TYPE, AttestationLayer, DSSE_MEDIA_TYPE, SIMPLE_SIGNING_MEDIA_TYPE,
    SignatureLayer, SimpleSigning,
};
use immerse_oci::manifest::{Annotations, OCI_CONFIG, OCI_EMPTY_CONTENT};
use immerse_oci::{
    Descriptor, Digest as OciDigest, ImageManifest, Manifest, OciError, OciLayout, Repository,
};
use immerse_sigstore::dsse::Envelope;
use immerse_sigstore::{Content, sign};
use serde::Deserialize;
use serde_json::Value;

use crate::chain_error::SupplyChainError;
use crate::image::COSIGN_SIGN_PREDICATE_TYPE;
use crate::statement::{IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1};

/// Where signatures and attestations are written: a registry repository or an OCI layout.
pub trait SignatureStore: Sync {
    /// Appends a layer to the image's `.sig` manifest.
    fn append_signature(
        &self,
        image: &OciDigest,
        layer: SignatureLayer,
    ) -> impl Future<Output = Result<Descriptor, OciError>> + Send;
    /// Appends a layer to the image's `.att` manifest.
    fn append_attestation(
        &self,
        image: &OciDigest,
        layer: AttestationLayer,
    ) -> impl Future<Output = Result<Descriptor, OciError>> + Send;
    /// Attaches a Sigstore bundle as a referrer of the image.
    fn attach_bundle(
        &self,
        image: &OciDigest,
        bundle_json: &[u8],
        predicate_type: Option<&str>,
    ) -> impl Future<Output = Result<Descriptor, OciError>> + Send;
}

impl SignatureStore for Repository<'_> {
    async fn append_signature(
        &self,
        image: &OciDigest,
        layer: SignatureLayer,
    ) -> Result<Descriptor, OciError> {
        cosign::push_signature(self, image, layer).await
    }

    async fn append_attestation(
        &self,
        image: &OciDigest,
        layer: AttestationLayer,
    ) -> Result<Descriptor, OciError> {
        cosign::push_attestation(self, image, layer).await
    }

    async fn attach_bundle(
        &self,
        image: &OciDigest,
        bundle_json: &[u8],
        predicate_type: Option<&str>,
    ) -> Result<Descriptor, OciError> {
        cosign::push_bundle_referrer(self, image, bundle_json, predicate_type).await
    }
}

// immerse-oci writes cosign's schemes to registries only; the layout side mirrors it here
// with the crate's pure pieces (`legacy_config`, `bundle_manifest`).
impl SignatureStore for OciLayout {
    async fn append_signature(
        &self,
        image: &OciDigest,
        layer: SignatureLayer,
    ) -> Result<Descriptor, OciError> {
        let payload = SimpleSigning::parse(&layer.payload)?;
        if payload.manifest_digest != *image {
            return Err(OciError::InvalidPayload(format!(
                "payload signs {}, not the image {image}",
                payload.manifest_digest
            )));
        }
        let annotations = cosign::material_annotations(
            &layer.signature_b64,
            &layer.bundle,
            &layer.certificate,
            &layer.chain,
        );
        layout_append(
            self,
            &cosign::signature_tag(image),
            SIMPLE_SIGNING_MEDIA_TYPE,
            &layer.payload,
            annotations,
        )
    }

    async fn append_attestation(
        &self,
        image: &OciDigest,
        layer: AttestationLayer,
    ) -> Result<Descriptor, OciError> {
        let mut annotations =
            cosign::material_annotations("", &layer.bundle, &layer.certificate, &layer.chain);
        annotations.insert(ANNOTATION_PREDICATE_TYPE.to_owned(), layer.predicate_type);
        layout_append(
            self,
            &cosign::attestation_tag(image),
            DSSE_MEDIA_TYPE,
            &layer.envelope,
            annotations,
        )
    }

    async fn attach_bundle(
        &self,
        image: &OciDigest,
        bundle_json: &[u8],
        predicate_type: Option<&str>,
    ) -> Result<Descriptor, OciError> {
        let subject = self
            .get_manifest(&image.to_string())?
            .ok_or_else(|| OciError::NotFound(format!("image {image} in the layout")))?
            .descriptor();
        let (manifest, _) =
            cosign::bundle_manifest(bundle_json, predicate_type, subject, &cosign::rfc3339_now())?;
        self.write_blob(OCI_EMPTY_CONTENT)?;
        self.write_blob(bundle_json)?;
        self.put_manifest(&Manifest::Image(manifest), None)
    }
}

/// Appends a layer to a legacy tag in a layout, keeping earlier layers (as cosign does).
fn layout_append(
    layout: &OciLayout,
    tag: &str,
    media_type: &str,
    content: &[u8],
    annotations: Annotations,
) -> Result<Descriptor, OciError> {
    let new = Descriptor::for_content(media_type, content).with_annotations(annotations);
    let mut layers = match layout.get_manifest(tag)? {
        None => Vec::new(),
        Some(existing) => match &existing.manifest {
            Manifest::Image(m) if m.layers.contains(&new) => return Ok(existing.descriptor()),
            Manifest::Image(m) => m.layers.clone(),
            Manifest::Index(_) => {
                return Err(OciError::InvalidManifest("cosign tag holds an index"));
            }
        },
    };
    layout.write_blob(content)?;
    layers.push(new);
    let config = cosign::legacy_config(&layers);
    layout.write_blob(&config)?;
    let manifest = ImageManifest::new(Descriptor::for_content(OCI_CONFIG, &config), layers);
    layout.put_manifest(&Manifest::Image(manifest), Some(tag))
}

/// What signing or attesting wrote: the legacy tag's manifest and the bundle referrer.
#[derive(Debug, Clone)]
pub struct Written {
    pub legacy: Descriptor,
    pub referrer: Descriptor,
}

fn signing(e: immerse_sigstore::Error) -> SupplyChainError {
    SupplyChainError::Signing(e)
}

/// The statement `cosign sign` 3.x signs for an image: in-toto v1, the image digest as the
/// only subject, predicate type [`COSIGN_SIGN_PREDICATE_TYPE`], an empty predicate. Members
/// in the order of the protobuf fields that cosign serialises.
pub fn cosign_sign_statement(image: &OciDigest) -> Vec<u8> {
    format!(
        r#"{{"_type":"{STATEMENT_V1}","subject":[{{"digest":{{"sha256":"{}"}},"annotations":{{}}}}],"predicateType":"{COSIGN_SIGN_PREDICATE_TYPE}","predicate":{{}}}}"#,
        image.hex()
    )
    .into_bytes()
}

/// The statement `cosign attest` makes from a predicate: in-toto v1 with the image (named by
/// its repository, as cosign names it) as the only subject.
pub fn image_statement(
    repository: &str,
    image: &OciDigest,
    predicate_type: &str,
    predicate: &Value,
) -> Result<Vec<u8>, SupplyChainError> {
    if !predicate.is_object() {
        return Err(SupplyChainError::Input(
            "the predicate must be a JSON object".into(),
        ));
    }
    let statement = serde_json::json!({
        "_type": STATEMENT_V1,
        "subject": [{"name": repository, "digest": {"sha256": image.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&statement).map_err(|e| SupplyChainError::Input(e.to_string()))
}

/// A DSSE envelope as go-securesystemslib serialises it (cosign's `.att` layers).
pub fn envelope_json(envelope: &Envelope) -> Vec<u8> {
    let signatures: Vec<String> = envelope
        .signatures
        .iter()
        .map(|s| {
            format!(
                r#"{{"keyid":{},"sig":"{}"}}"#,
                Value::String(s.keyid.clone()),
                STANDARD.encode(&s.sig)
            )
        })
        .collect();
    format!(
        r#"{{"payloadType":{},"payload":"{}","signatures":[{}]}}"#,
        Value::String(envelope.payload_type.clone()),
        STANDARD.encode(&envelope.payload),
        signatures.join(",")
    )
    .into_bytes()
}

/// Signs `image` with `signer` in both schemes. `docker_reference` is the repository the
/// signature names (`registry/repo`, as cosign writes it).
pub async fn sign_image<T: SignatureStore>(
    store: &T,
    image: &OciDigest,
    docker_reference: &str,
    signer: &dyn Signer,
) -> Result<Written, SupplyChainError> {
    let payload = SimpleSigning::new(docker_reference, *image).to_json();
    let signature = sign::sign_bytes(signer, &payload).await.map_err(signing)?;
    let legacy = store
        .append_signature(
            image,
            SignatureLayer {
                payload,
                signature_b64: STANDARD.encode(&signature),
                ..SignatureLayer::default()
            },
        )
        .await?;
    let bundle = sign::sign_dsse(signer, IN_TOTO_PAYLOAD_TYPE, &cosign_sign_statement(image))
        .await
        .map_err(signing)?;
    let json = bundle_bytes(&bundle)?;
    let referrer = store
        .attach_bundle(image, &json, Some(COSIGN_SIGN_PREDICATE_TYPE))
        .await?;
    Ok(Written { legacy, referrer })
}

/// Signs an in-toto `statement` about `image` as DSSE and attaches it in both schemes. The
/// statement must name the image among its subjects.
pub async fn attest_image<T: SignatureStore>(
    store: &T,
    image: &OciDigest,
    statement: &[u8],
    signer: &dyn Signer,
) -> Result<Written, SupplyChainError> {
    let predicate_type = check_statement(statement, image)?;
    let bundle = sign::sign_dsse(signer, IN_TOTO_PAYLOAD_TYPE, statement)
        .await
        .map_err(signing)?;
    let Content::Dsse(envelope) = &bundle.content else {
        return Err(SupplyChainError::Input(
            "signer made no DSSE envelope".into(),
        ));
    };
    let legacy = store
        .append_attestation(
            image,
            AttestationLayer {
                envelope: envelope_json(envelope),
                predicate_type: predicate_type.clone(),
                ..AttestationLayer::default()
            },
        )
        .await?;
    let json = bundle_bytes(&bundle)?;
    let referrer = store
        .attach_bundle(image, &json, Some(&predicate_type))
        .await?;
    Ok(Written { legacy, referrer })
}

fn bundle_bytes(bundle: &immerse_sigstore::Bundle) -> Result<Vec<u8>, SupplyChainError> {
    serde_json::to_vec(&bundle.to_json()).map_err(|e| SupplyChainError::Input(e.to_string()))
}

/// Refuses to sign a statement that does not name the image; returns its predicate type.
fn check_statement(statement: &[u8], image: &OciDigest) -> Result<String, SupplyChainError> {
    #[derive(Deserialize)]
    struct Subject {
        #[serde(default)]
        digest: std::collections::BTreeMap<String, String>,
    }
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "_type")]
        statement_type: String,
        #[serde(rename = "predicateType")]
        predicate_type: String,
        subject: Vec<Subject>,
    }
    let head: Head = serde_json::from_slice(statement)
        .map_err(|e| SupplyChainError::Input(format!("in-toto statement: {e}")))?;
    if !head
        .statement_type
        .starts_with("https://in-toto.io/Statement/")
    {
        return Err(SupplyChainError::Input(format!(
            "_type {:?} is not an in-toto statement",
            head.statement_type
        )));
    }
    let hex = image.hex();
    if !head
        .subject
        .iter()
        .any(|s| s.digest.get("sha256") == Some(&hex))
    {
        return Err(SupplyChainError::Input(format!(
            "the statement does not name {image} as a subject"
        )));
    }
    if head.predicate_type.is_empty() {
        return Err(SupplyChainError::Input("empty predicateType".into()));
    }
    Ok(head.predicate_type)
}
