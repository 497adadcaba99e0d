//! Offline Sigstore verification on OpenSSL: trusted roots, bundles v0.1 to v0.3, Fulcio
//! chains at the verified signing time, embedded SCTs (RFC 6962), Rekor SETs, inclusion
//! proofs and checkpoints (C2SP signed notes), RFC 3161 timestamps, DSSE, identity policy,
//! and key-based bundles; plus the signing side for our own keys.
//!
//! Entry points: [`TrustedRoot::from_json`], [`Bundle::from_json`], [`Verifier::verify`] with
//! a [`Policy`], and [`sign::sign_message`] / [`sign::sign_dsse`]. With the `test-instance`
//! feature, [`testing::TestInstance`] runs a whole local Sigstore in process.
//!
//! Architecture invariant: no network, no clock: every check happens at a time a signature
//! vouches for (a SET's integrated time or a TSA's genTime), never at "now".
#![forbid(unsafe_code)]

mod body;
pub mod bundle;
mod certs;
pub mod checkpoint;
pub mod dsse;
mod error;
pub mod identity;
pub mod keys;
pub mod sct;
pub mod sign;
pub mod tlog;
pub mod trust_root;
pub mod tsa;
mod util;
mod verify;

#[cfg(feature = "test-instance")]
pub mod testing;

pub use bundle::{Bundle, BundleVersion, Content, TlogEntry, VerificationMaterial};
pub use error::{Error, Result};
pub use identity::{FulcioExtensions, FulcioIdentity, IdentityPolicy, Matcher};
pub use keys::{HashAlgorithm, VerificationKey};
pub use trust_root::TrustedRoot;
pub use verify::{Artifact, Policy, SignerPolicy, VerifiedBundle, VerifiedSigner, Verifier};
