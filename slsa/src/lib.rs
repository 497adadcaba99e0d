//! SLSA provenance for IMMERSE: parse in-toto statements carrying SLSA Provenance v1 or v0.2,
//! judge them with slsa-verifier's policy, and generate v1 provenance for our own builds.
//!
//! Two layers. The policy layer is pure (no network, no signatures): the sigstore crate
//! verifies the DSSE envelope and the Fulcio certificate and hands over the payload bytes and
//! the signer's identity:
//!
//! ```text
//! payload, cert  --sigstore-->  VerifiedStatement::parse(payload_type, payload)
//!                               SignerIdentity { san, build_signer_uri, source_repository_* }
//!                --slsa------>  verify_provenance(&statement, &signer, &options) -> VerifiedProvenance
//! ```
//!
//! The supply-chain layer wires it to storage and cryptography: `verify_image_signatures` and
//! `verify_image_provenance` read cosign's two storage schemes from a registry or an OCI layout
//! (immerse-oci) and verify every candidate with immerse-sigstore (legacy annotations are
//! turned into the equivalent bundle in `legacy.rs`); `verify_artifact_provenance` takes a
//! provenance file; [`sign`] produces signatures and attestations in both schemes.
//!
//! Where this differs from slsa-verifier, on purpose:
//! - duplicate JSON members anywhere in the payload are refused (Go keeps the last one);
//!   member names are case-sensitive (Go matches them case-insensitively);
//! - a subject matches only if every digest algorithm it shares with the artifact agrees;
//! - a versioned-tag policy compares the whole prerelease, and `v` is optional on both sides;
//! - builders are not taken from a built-in list: the caller names the trusted builder and the
//!   delegators (signers allowed to sign for another builder, as BYOB and npm need);
//! - the release-tag requirement on builders is an option (`require_builder_release_tag`);
//! - a branch policy judges the ref that was built; it does not look up the branch a tag was
//!   pushed from (slsa-verifier reads it from the GitHub event payload).
//!
//! Architecture invariant: untrusted statement bytes become typed values only in `statement.rs`
//! (strict JSON, duplicate members refused), and only after the sigstore crate verified them;
//! only [`verify_provenance`] makes a [`VerifiedProvenance`]; image verification fails closed
//! (no verified candidate is an error listing every candidate's reason); nothing here panics
//! on input.
#![forbid(unsafe_code)]

mod artifact;
mod builder;
mod chain_error;
mod error;
mod generate;
mod git;
mod image;
mod json;
mod legacy;
mod provenance;
mod semver;
pub mod sign;
mod source;
mod statement;
mod time;
mod verify;

pub use artifact::{
    MAX_PROVENANCE_FILE, ProvenanceEntry, parse_provenance_file, verify_artifact_provenance,
};
pub use builder::BuilderId;
pub use chain_error::{RejectReason, Rejection, SupplyChainError};
pub use error::SlsaError;
pub use generate::{
    BuildDescription, GeneratedStatement, generate, subject_from_bytes, subject_from_reader,
};
pub use git::{RefKind, normalize_source_uri, parse_git_uri_and_ref, parse_ref};
pub use image::{
    COSIGN_SIGN_PREDICATE_TYPE, VerifiedImageProvenance, VerifiedImageSignature, signer_identity,
    verify_image_provenance, verify_image_signatures,
};
pub use legacy::{LegacyMaterial, legacy_material};
pub use provenance::{
    BuildDefinition, BuildMetadata, Builder, BuilderV02, Completeness, ConfigSource, Invocation,
    Material, MetadataV02, ProvenanceV1, ProvenanceV02, RunDetails,
};
pub use semver::{Version, VersionedTagMatch, versioned_tag_matches};
pub use source::{GITHUB_WORKFLOW_BUILD_TYPES, ProvenanceSource};
pub use statement::{
    DigestSet, IN_TOTO_PAYLOAD_TYPE, MAX_PAYLOAD_BYTES, Predicate, ResourceDescriptor,
    SLSA_PROVENANCE_V0_2, SLSA_PROVENANCE_V1, STATEMENT_V0_1, STATEMENT_V1, StatementType,
    VerifiedStatement,
};
pub use time::Timestamp;
pub use verify::{
    Digest, DigestAlgorithm, ProvenanceOptions, SignerIdentity, SourceRefPolicy,
    VerifiedProvenance, verify_provenance,
};
