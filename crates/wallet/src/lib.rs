//! The IMMERSE Wallet (holder agent).
#![forbid(unsafe_code)]
