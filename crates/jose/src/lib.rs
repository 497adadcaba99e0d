//! JOSE for IMMERSE: JWK, JWS, JWT claims and JWE, with every refusal typed.
//!
//! Untrusted bytes become types here or they become an [`Error`]: a [`PublicJwk`] cannot hold a
//! private member, a JWS verifies only when the caller names the `typ` it expects and the
//! algorithms it allows, and only [`jws::verify_compact`] and [`jwt::verify`] make a
//! [`Verified`] value. Signing goes through the [`Signer`] trait so that a software key and a
//! PKCS#11 key are used the same way.
#![forbid(unsafe_code)]

mod alg;
pub mod base64url;
mod error;
mod json;
pub mod jwe;
mod jwk;
pub mod jws;
pub mod jwt;
pub mod pkcs11;
mod signer;

pub use alg::Algorithm;
pub use error::Error;
pub use jwk::{Curve, KeyMaterial, KeyUse, PublicJwk, PublicJwkSet};
pub use signer::{SignFuture, Signer, SoftwareSigner};

/// A value that came out of a verification function: only this crate can make one, so a
/// `Verified<T>` in a signature proves the check ran.
#[derive(Debug, Clone)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// Marks a value as verified; private to the crate so that no caller can skip the check.
    pub(crate) fn new(value: T) -> Self {
        Self(value)
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
