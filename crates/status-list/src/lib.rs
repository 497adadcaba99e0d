//! Token Status List (draft-ietf-oauth-status-list; section numbers as in revisions 18-21):
//! the bit-packed, ZLIB-compressed Status List, the Status List Token in JWT form
//! (`statuslist+jwt`), the `status.status_list` reference of a Referenced Token, and random
//! index allocation for issuers.
//!
//! Untrusted input becomes a typed value or a [`StatusListError`]: `bits` other than 1, 2, 4, 8,
//! non-canonical base64url, anything but one complete ZLIB stream, a stream that inflates past
//! the caller's limit (refused before the memory is allocated), an index out of range. Only
//! [`Verifier::verify`] makes a [`VerifiedStatusList`], after the JWS checks of `immerse_jose`
//! (explicit `typ`, algorithm allowlist, the caller's keys) and the claim checks of draft s8.3.
//!
//! Entry points: [`StatusList`] (get/set, `lst` encode and bounded decode),
//! [`StatusListToken::sign`], [`Verifier::verify`] / [`Verifier::status_of`],
//! [`StatusReference::from_claims`], [`IndexAllocator::allocate`].
#![forbid(unsafe_code)]

mod allocator;
mod codec;
mod error;
mod list;
mod reference;
mod token;

pub use allocator::IndexAllocator;
pub use codec::DEFAULT_MAX_DECOMPRESSED;
pub use error::StatusListError;
pub use list::{Bits, Status, StatusList};
pub use reference::StatusReference;
pub use token::{MEDIA_TYPE, StatusListToken, TYP, VerifiedStatusList, Verifier};
