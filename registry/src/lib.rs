//! The IMMERSE Key Registry: binds public keys to verified entities, publishes signed
//! statements, and records every change in a transparency log with signed checkpoints.
//!
//! Entry points: [`Registry`] (the operations, no HTTP), [`http::router`] (the axum edge) and
//! [`client::RegistryClient`] (what other services use to trust keys).
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
mod config;
mod error;
pub mod http;
pub mod log;
pub mod model;
pub mod publish;
mod refusals;
mod service;

pub use config::{Config, ConfigFile};
pub use error::RegistryError;
pub use refusals::{
    ANONYMOUS, MAX_AUDIT_DETAIL, MAX_REFUSAL_COUNTERS, Peer, REFUSAL_WINDOW_SECONDS,
};
pub use service::{
    AdminKey, COUNTERSIGNATURE_TYP, Clock, Enrolment, KEY_PROOF_TYP, KEY_RETIREMENT_TYP,
    KeySubmission, KeyWindow, NewEntity, Registry,
};
