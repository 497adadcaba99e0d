//! SLSA provenance for IMMERSE: parse in-toto statements carrying SLSA Provenance v1 or v0.2,
//! judge them with slsa-verifier's policy, and generate v1 provenance for our own builds.
//!
//! This crate is pure: no network, no signatures. The sigstore crate verifies the DSSE envelope
//! and the Fulcio certificate and hands over the payload bytes and the signer's identity:
//!
//! ```text
//! payload, cert  --sigstore-->  VerifiedStatement::parse(payload_type, payload)
//!                               SignerIdentity { san, build_signer_uri, source_repository_* }
//!                --slsa------>  verify_provenance(&statement, &signer, &options) -> VerifiedProvenance
//! ```
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
//! Architecture invariant: untrusted bytes become typed values only in `statement.rs` (strict
//! JSON, duplicate members refused); only [`verify_provenance`] makes a [`VerifiedProvenance`];
//! nothing here panics on input.
#![forbid(unsafe_code)]

mod builder;
mod error;
mod generate;
mod git;
mod json;
mod provenance;
mod semver;
mod source;
mod statement;
mod time;
mod verify;

pub use builder::BuilderId;
pub use error::SlsaError;
pub use generate::{
    BuildDescription, GeneratedStatement, generate, subject_from_bytes, subject_from_reader,
};
pub use git::{RefKind, normalize_source_uri, parse_git_uri_and_ref, parse_ref};
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
