//! SD-JWT (RFC 9901) and SD-JWT VC (draft-ietf-oauth-sd-jwt-vc): issue, present, verify.
//!
//! - [`issue`] turns a claims object and a [`DisclosurePolicy`] into an [`SdJwt`]; [`issue_vc`]
//!   does the same for an SD-JWT VC [`Credential`].
//! - [`present`] reveals the disclosures for chosen [`ClaimPath`]s and appends a KB-JWT signed
//!   with the holder key.
//! - [`verify`] and [`verify_vc`] apply every MUST of RFC 9901 s7.1 and s7.3 (and the SD-JWT VC
//!   rules) and are the only way to make a [`VerifiedSdJwt`] or [`VerifiedSdJwtVc`].
//!
//! Keys and signatures go through `immerse-jose`: issuers and holders sign with a [`Signer`]
//! (software or PKCS#11), verifiers name the issuer key with a `KeySource`, the `typ` they
//! expect and the algorithms they allow. Untrusted input is bounded by [`Limits`] (size, number
//! of disclosures, nesting) before it is processed.
//!
//! [`Signer`]: immerse_jose::Signer
#![forbid(unsafe_code)]

mod compact;
mod disclosure;
mod error;
mod issue;
mod json;
mod path;
mod present;
mod process;
mod vc;
mod verify;

pub use compact::{Limits, SdJwt};
pub use disclosure::{Disclosure, SD_ALG};
pub use error::Error;
pub use issue::{DEFAULT_TYP, DisclosurePolicy, IssueOptions, issue};
pub use path::{ClaimPath, PathElement};
pub use present::{
    KB_TYP, KeyBindingInput, Revealed, key_binding_jwt, key_binding_jwt_with_claims, present,
    present_with_claims, reveal, sd_hash,
};
pub use vc::{
    Credential, LEGACY_VC_TYP, NEVER_DISCLOSABLE, StatusListRef, VC_TYP, VcValidation,
    VerifiedSdJwtVc, issue_vc, verify_vc,
};
pub use verify::{KeyBindingClaims, KeyBindingPolicy, Validation, VerifiedSdJwt, verify};
