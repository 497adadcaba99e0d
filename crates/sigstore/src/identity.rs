//! Fulcio certificate identities: the SAN (email, URI), the OIDC issuer and the other Fulcio
//! extensions (fulcio docs/oid-info.md, arc 1.3.6.1.4.1.57264.1), and the identity policy that
//! judges them. Patterns are anchored: `.*@example.com` never matches `x@example.com.evil`.
use immerse_der as der;
use openssl::x509::X509Ref;
use regex::Regex;

use crate::error::{Error, Result};

/// String matcher for an identity or issuer: exact, or a regular expression that must match
/// the whole value.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    pub fn exact(value: impl Into<String>) -> Self {
        Self::Exact(value.into())
    }

    /// Compiles `pattern` anchored at both ends (`^(?:pattern)$`), as cosign does for
    /// `--certificate-identity-regexp`, so that a suffix or prefix cannot sneak in.
    pub fn regex(pattern: &str) -> Result<Self> {
        Regex::new(&format!("^(?:{pattern})$"))
            .map(Self::Regex)
            .map_err(|err| Error::Pattern(err.to_string()))
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(expected) => expected == value,
            Self::Regex(re) => re.is_match(value),
        }
    }
}

/// Who must have signed: a SAN value and an OIDC issuer.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    pub identity: Matcher,
    pub issuer: Matcher,
}

impl IdentityPolicy {
    pub fn exact(identity: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            identity: Matcher::exact(identity),
            issuer: Matcher::exact(issuer),
        }
    }

    pub fn check(&self, cert: &FulcioIdentity) -> Result<()> {
        let sans = cert.subject_alternative_names();
        if !sans.iter().any(|san| self.identity.matches(san)) {
            return Err(Error::IdentityMismatch {
                found: sans.into_iter().map(str::to_owned).collect(),
            });
        }
        match &cert.issuer {
            Some(issuer) if self.issuer.matches(issuer) => Ok(()),
            other => Err(Error::IssuerMismatch {
                found: other.clone(),
            }),
        }
    }
}

/// The Fulcio extensions of a certificate, typed. Deprecated v1 extensions (.2 to .6) are raw
/// strings; the v2 ones (.8 onwards) are DER UTF8Strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FulcioExtensions {
    /// .1.1 (raw string, deprecated).
    pub issuer_v1: Option<String>,
    /// .1.2 GitHub Workflow Trigger, .1.3 SHA, .1.4 Name, .1.5 Repository, .1.6 Ref.
    pub github_workflow_trigger: Option<String>,
    pub github_workflow_sha: Option<String>,
    pub github_workflow_name: Option<String>,
    pub github_workflow_repository: Option<String>,
    pub github_workflow_ref: Option<String>,
    /// .1.8 Issuer (V2).
    pub issuer_v2: Option<String>,
    /// .1.9
    pub build_signer_uri: Option<String>,
    /// .1.10
    pub build_signer_digest: Option<String>,
    /// .1.11
    pub runner_environment: Option<String>,
    /// .1.12
    pub source_repository_uri: Option<String>,
    /// .1.13
    pub source_repository_digest: Option<String>,
    /// .1.14
    pub source_repository_ref: Option<String>,
    /// .1.15
    pub source_repository_identifier: Option<String>,
    /// .1.16
    pub source_repository_owner_uri: Option<String>,
    /// .1.17
    pub source_repository_owner_identifier: Option<String>,
    /// .1.18
    pub build_config_uri: Option<String>,
    /// .1.19
    pub build_config_digest: Option<String>,
    /// .1.20
    pub build_trigger: Option<String>,
    /// .1.21
    pub run_invocation_uri: Option<String>,
    /// .1.22
    pub source_repository_visibility_at_signing: Option<String>,
}

/// The identity of a Fulcio leaf certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FulcioIdentity {
    pub emails: Vec<String>,
    pub uris: Vec<String>,
    /// The OIDC issuer: .1.8 if present, else .1.1.
    pub issuer: Option<String>,
    pub extensions: FulcioExtensions,
}

impl FulcioIdentity {
    pub fn subject_alternative_names(&self) -> Vec<&str> {
        self.emails
            .iter()
            .chain(self.uris.iter())
            .map(String::as_str)
            .collect()
    }

    pub fn from_certificate(cert: &X509Ref) -> Result<Self> {
        let malformed = |what: &str| Error::CertificateMalformed(what.into());
        let mut emails = Vec::new();
        let mut uris = Vec::new();
        if let Some(names) = cert.subject_alt_names() {
            for name in names.iter() {
                if let Some(email) = name.email() {
                    emails.push(email.to_owned());
                } else if let Some(uri) = name.uri() {
                    uris.push(uri.to_owned());
                }
            }
        }
        let der_bytes = cert.to_der().map_err(|_| malformed("DER"))?;
        let extensions_list =
            der::certificate_extensions(&der_bytes).map_err(|_| malformed("extensions"))?;
        let mut ext = FulcioExtensions::default();
        let prefix = der::oid(&[1, 3, 6, 1, 4, 1, 57264, 1]);
        for e in &extensions_list {
            let Some(arc) = e.oid.strip_prefix(prefix.as_slice()) else {
                continue;
            };
            let &[arc] = arc else { continue };
            let raw =
                || String::from_utf8(e.value.to_vec()).map_err(|_| malformed("Fulcio extension"));
            // DER UTF8String (tag 12).
            let utf8 = || {
                der::exactly(e.value, 0x0C)
                    .ok()
                    .and_then(|v| String::from_utf8(v.to_vec()).ok())
                    .ok_or_else(|| malformed("Fulcio extension is not a UTF8String"))
            };
            let slot = match arc {
                1 => {
                    ext.issuer_v1 = Some(raw()?);
                    continue;
                }
                2 => &mut ext.github_workflow_trigger,
                3 => &mut ext.github_workflow_sha,
                4 => &mut ext.github_workflow_name,
                5 => &mut ext.github_workflow_repository,
                6 => &mut ext.github_workflow_ref,
                8 => &mut ext.issuer_v2,
                9 => &mut ext.build_signer_uri,
                10 => &mut ext.build_signer_digest,
                11 => &mut ext.runner_environment,
                12 => &mut ext.source_repository_uri,
                13 => &mut ext.source_repository_digest,
                14 => &mut ext.source_repository_ref,
                15 => &mut ext.source_repository_identifier,
                16 => &mut ext.source_repository_owner_uri,
                17 => &mut ext.source_repository_owner_identifier,
                18 => &mut ext.build_config_uri,
                19 => &mut ext.build_config_digest,
                20 => &mut ext.build_trigger,
                21 => &mut ext.run_invocation_uri,
                22 => &mut ext.source_repository_visibility_at_signing,
                _ => continue,
            };
            *slot = Some(if arc < 8 { raw()? } else { utf8()? });
        }
        let issuer = match (&ext.issuer_v2, &ext.issuer_v1) {
            (Some(v2), Some(v1)) if v1 != v2 => {
                return Err(malformed("the two OIDC issuer extensions disagree"));
            }
            (Some(v2), _) => Some(v2.clone()),
            (None, v1) => v1.clone(),
        };
        Ok(Self {
            emails,
            uris,
            issuer,
            extensions: ext,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored() {
        let m = Matcher::regex(".*@example.com").unwrap();
        assert!(m.matches("x@example.com"));
        assert!(!m.matches("x@example.com.evil"));
        assert!(!m.matches("evil\nx@example.com"));
        let alt = Matcher::regex("a@x.com|b@y.com").unwrap();
        assert!(!alt.matches("a@x.com.evil"));
        assert!(!alt.matches("evil.b@y.com"));
        assert!(alt.matches("b@y.com"));
        assert!(Matcher::regex("(").is_err());
    }
}
