//! Starts the Key Registry, Attestation Service, Issuer and Verifier on loopback ports with
//! SQLite in a temporary directory, enrols each entity, and hands back their URLs and admin
//! credentials: what `immerse demo` runs and what the end-to-end tests drive a wallet against.
#![forbid(unsafe_code)]
