//! End-to-end tests of the issuer over HTTP on 127.0.0.1, with a real Key Registry.
mod authorization_code;
mod credential_errors;
mod deferred;
mod flow;
mod keys;
mod notification;
mod retries;
mod support;
mod token_errors;
mod unauthenticated;
