//! End-to-end tests of SEV-SNP verification and policy: real AMD reports from the shared test
//! data, and the simulated platform for every refusal.

mod fixture;
mod policy_refusals;
mod real;
mod verification_refusals;

/// 2026-01-01T00:00:00Z: inside the validity of the real Milan VCEK (2023-04-03 to
/// 2030-04-03), the real Genoa VCEK (2025-05-27 to 2032-05-27) and every AMD root.
pub(super) const AT: i64 = 1_767_225_600;
