//! The IMMERSE Wallet (holder agent): obtains SD-JWT VCs from an Issuer over OpenID4VCI 1.0 as
//! an attested client, and presents them to Verifiers over OpenID4VP 1.0 with the holder's
//! consent.
//!
//! Keys (the Client Instance Key and one Holder Key per credential) live in process memory
//! only: nothing key-shaped is written to the database or disk, except under the opt-in sealed
//! persistence, encrypted to a key that only the same measured CVM can derive.
#![forbid(unsafe_code)]

mod credentials;

pub use credentials::{CredentialStore, StoredCredential};
