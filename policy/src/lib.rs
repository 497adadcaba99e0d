//! The IMMERSE admission webhook: a workload runs only when each of its images is signed by the
//! authorities an [`ImagePolicy`] names, carries the SLSA provenance it requires, is pinned to
//! the digest that was verified, and, in a confidential namespace, runs on an SEV-SNP runtime
//! class.
//!
//! Entry points: [`PolicySet::load_dir`] (or [`PolicySet::compile`] over cluster resources),
//! [`Admission::decide`] (the decision, no HTTP), [`http::router`] and [`tls::serve`].
//!
//! Invariant: policy never admits on error. Every failure to decide (registry, Key Registry,
//! namespace labels, credentials, deadline, malformed input) denies.
#![forbid(unsafe_code)]

pub mod admission;
pub mod check;
pub mod cluster;
pub mod engine;
pub mod error;
pub mod glob;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod spec;
pub mod tls;
pub mod workload;

pub use admission::{Admission, AdmissionConfig, Decision, Denial, Unmatched};
pub use cluster::{DockerConfig, Namespaces, PullCredentials};
pub use engine::{CacheUse, CheckFailure, Engine, EngineConfig, Outcome, Verified};
pub use error::PolicyError;
pub use policy::{CompiledPolicy, PolicySet};
pub use spec::{ImagePolicy, ImagePolicySpec, crd_yaml};
