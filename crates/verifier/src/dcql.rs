//! DCQL, the Digital Credentials Query Language (OpenID4VP 1.0 s6): the typed query a relying
//! party sends, parsed strictly, and the check that a verified SD-JWT VC answers one of its
//! Credential Queries.
//!
//! Only the `dc+sd-jwt` format (OpenID4VP 1.0 appendix B.3) is supported; a query naming any
//! other format, or `trusted_authorities` (not implemented here), is refused when the query is
//! parsed, so that no request is ever sent that the verifier could not check.
use std::collections::HashSet;

use immerse_sd_jwt::VerifiedSdJwtVc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The one Credential Format this verifier accepts (OpenID4VP 1.0 appendix B.3.1).
pub const FORMAT_SD_JWT_VC: &str = "dc+sd-jwt";

/// Bounds on a query from a relying party (ours: the specification sets none).
const MAX_CREDENTIALS: usize = 16;
const MAX_CLAIMS: usize = 64;
const MAX_PATH_LEN: usize = 16;
const MAX_VALUES: usize = 32;
const MAX_ID_LEN: usize = 64;

/// Why a DCQL query is refused when it is parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcqlError {
    #[error("malformed DCQL query: {0}")]
    Malformed(String),
    #[error("credentials must be a non-empty array (at most {MAX_CREDENTIALS})")]
    NoCredentials,
    #[error("id {0:?} is not a non-empty string of alphanumerics, '_' and '-'")]
    InvalidId(String),
    #[error("id {0:?} appears more than once")]
    DuplicateId(String),
    #[error("format {0:?} is not supported (only dc+sd-jwt)")]
    UnsupportedFormat(String),
    #[error("meta.vct_values must be a non-empty array of strings")]
    MissingVctValues,
    #[error("claims must be a non-empty array (at most {MAX_CLAIMS})")]
    EmptyClaims,
    #[error("a claim path must be a non-empty array (at most {MAX_PATH_LEN} elements)")]
    InvalidPath,
    #[error("values must be a non-empty array of strings, integers or booleans")]
    InvalidValues,
    #[error("claim_sets needs claims, each with an id")]
    ClaimSetsWithoutIds,
    #[error("claim_sets must be a non-empty array of non-empty arrays")]
    EmptyClaimSets,
    #[error("claim_sets names {0:?}, which is not a claim id of that credential query")]
    UnknownClaimId(String),
    #[error("credential_sets must be a non-empty array of sets with non-empty options")]
    EmptyCredentialSets,
    #[error("credential_sets names {0:?}, which is not a credential query id")]
    UnknownCredentialId(String),
    #[error("trusted_authorities is not supported by this verifier")]
    TrustedAuthoritiesUnsupported,
    #[error("this verifier always requires cryptographic holder binding")]
    HolderBindingRequired,
}

/// Why a verified credential does not answer a Credential Query (OpenID4VP 1.0 s6.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcqlMismatch {
    #[error("vct {0:?} is not among the query's vct_values")]
    VctNotAccepted(String),
    #[error("the requested claim {0} is missing")]
    MissingClaim(String),
    #[error("claim {0} has none of the requested values")]
    ValueNotAccepted(String),
    #[error("no claim set of the query is satisfied")]
    NoClaimSetSatisfied,
    #[error("credential query {0:?} has no presentation")]
    MissingCredential(String),
    #[error("credential query {0:?} allows one presentation, got {1}")]
    TooManyPresentations(String, usize),
    #[error("vp_token answers {0:?}, which the query does not contain")]
    UnexpectedCredential(String),
    #[error("no option of a required credential set is satisfied")]
    CredentialSetNotSatisfied,
}

/// A DCQL query (OpenID4VP 1.0 s6.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcqlQuery {
    pub credentials: Vec<CredentialQuery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_sets: Option<Vec<CredentialSetQuery>>,
}

/// A Credential Query (OpenID4VP 1.0 s6.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialQuery {
    pub id: String,
    pub format: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multiple: bool,
    pub meta: SdJwtVcMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_authorities: Option<Value>,
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub require_cryptographic_holder_binding: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Vec<ClaimsQuery>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_sets: Option<Vec<Vec<String>>>,
}

fn default_true() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// `meta` for `dc+sd-jwt` (OpenID4VP 1.0 appendix B.3.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdJwtVcMeta {
    pub vct_values: Vec<String>,
}

/// A Claims Query (OpenID4VP 1.0 s6.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub path: Vec<PathSegment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

/// One element of a claims path pointer (OpenID4VP 1.0 s7): a member name, all elements of an
/// array (`null`), or one array index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathSegment {
    Name(String),
    Index(u64),
    All(()),
}

/// A Credential Set Query (OpenID4VP 1.0 s6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSetQuery {
    pub options: Vec<Vec<String>>,
    #[serde(default = "default_true")]
    pub required: bool,
}

impl DcqlQuery {
    /// Parses and checks a query: unknown members, wrong types and every rule of s6 refused.
    pub fn parse(value: Value) -> Result<Self, DcqlError> {
        let query: Self =
            serde_json::from_value(value).map_err(|err| DcqlError::Malformed(err.to_string()))?;
        query.check()?;
        Ok(query)
    }

    fn check(&self) -> Result<(), DcqlError> {
        // OpenID4VP 1.0 s6.1: credentials is a non-empty array.
        if self.credentials.is_empty() || self.credentials.len() > MAX_CREDENTIALS {
            return Err(DcqlError::NoCredentials);
        }
        let mut ids = HashSet::new();
        for credential in &self.credentials {
            // s6.1: ids are unique within the query.
            check_id(&credential.id)?;
            if !ids.insert(credential.id.as_str()) {
                return Err(DcqlError::DuplicateId(credential.id.clone()));
            }
            credential.check()?;
        }
        if let Some(sets) = &self.credential_sets {
            // s6.2: a non-empty array; options non-empty, each naming credential query ids.
            if sets.is_empty() {
                return Err(DcqlError::EmptyCredentialSets);
            }
            for set in sets {
                if set.options.is_empty() || set.options.iter().any(Vec::is_empty) {
                    return Err(DcqlError::EmptyCredentialSets);
                }
                for id in set.options.iter().flatten() {
                    if !ids.contains(id.as_str()) {
                        return Err(DcqlError::UnknownCredentialId(id.clone()));
                    }
                }
            }
        }
        Ok(())
    }

    pub fn credential(&self, id: &str) -> Option<&CredentialQuery> {
        self.credentials.iter().find(|query| query.id == id)
    }

    /// Which credential query ids must be answered (OpenID4VP 1.0 s6.4.2): without
    /// `credential_sets`, all; with them, each required set needs one option all answered.
    pub fn check_answered(&self, answered: &HashSet<&str>) -> Result<(), DcqlMismatch> {
        let Some(sets) = &self.credential_sets else {
            return match self
                .credentials
                .iter()
                .find(|query| !answered.contains(query.id.as_str()))
            {
                Some(missing) => Err(DcqlMismatch::MissingCredential(missing.id.clone())),
                None => Ok(()),
            };
        };
        for set in sets.iter().filter(|set| set.required) {
            let satisfied = set
                .options
                .iter()
                .any(|option| option.iter().all(|id| answered.contains(id.as_str())));
            if !satisfied {
                return Err(DcqlMismatch::CredentialSetNotSatisfied);
            }
        }
        Ok(())
    }
}

impl CredentialQuery {
    fn check(&self) -> Result<(), DcqlError> {
        // Appendix B.3: dc+sd-jwt only.
        if self.format != FORMAT_SD_JWT_VC {
            return Err(DcqlError::UnsupportedFormat(self.format.clone()));
        }
        if self.trusted_authorities.is_some() {
            return Err(DcqlError::TrustedAuthoritiesUnsupported);
        }
        // s6.1 allows `false`; we always demand a KB-JWT (HAIP s5, SYSTEM.md threat "credential
        // cloning"), so a request saying otherwise would mislead the wallet.
        if !self.require_cryptographic_holder_binding {
            return Err(DcqlError::HolderBindingRequired);
        }
        // Appendix B.3.5: vct_values is REQUIRED, an array of strings.
        if self.meta.vct_values.is_empty() || self.meta.vct_values.iter().any(String::is_empty) {
            return Err(DcqlError::MissingVctValues);
        }
        let Some(claims) = &self.claims else {
            // s6.1: claim_sets MUST NOT be present when claims is absent.
            return match self.claim_sets {
                Some(_) => Err(DcqlError::ClaimSetsWithoutIds),
                None => Ok(()),
            };
        };
        // s6.1: claims, when present, is a non-empty array.
        if claims.is_empty() || claims.len() > MAX_CLAIMS {
            return Err(DcqlError::EmptyClaims);
        }
        let mut claim_ids = HashSet::new();
        for claim in claims {
            // s6.3: id is REQUIRED when claim_sets is present, unique within the query.
            match &claim.id {
                Some(id) => {
                    check_id(id)?;
                    if !claim_ids.insert(id.as_str()) {
                        return Err(DcqlError::DuplicateId(id.clone()));
                    }
                }
                None if self.claim_sets.is_some() => return Err(DcqlError::ClaimSetsWithoutIds),
                None => {}
            }
            // s7: a non-empty array of strings, nulls and non-negative integers.
            if claim.path.is_empty() || claim.path.len() > MAX_PATH_LEN {
                return Err(DcqlError::InvalidPath);
            }
            // Appendix B.3.1 (SD-JWT VC): the path starts at a top-level claim name.
            if !matches!(claim.path.first(), Some(PathSegment::Name(_))) {
                return Err(DcqlError::InvalidPath);
            }
            // s6.3: values is a non-empty array of strings, integers or booleans.
            if let Some(values) = &claim.values {
                let scalar = |value: &Value| {
                    value.is_string() || value.is_boolean() || value.is_i64() || value.is_u64()
                };
                if values.is_empty() || values.len() > MAX_VALUES || !values.iter().all(scalar) {
                    return Err(DcqlError::InvalidValues);
                }
            }
        }
        if let Some(sets) = &self.claim_sets {
            // s6.1: a non-empty array of non-empty arrays of claim ids.
            if sets.is_empty() || sets.iter().any(Vec::is_empty) {
                return Err(DcqlError::EmptyClaimSets);
            }
            if let Some(unknown) = sets
                .iter()
                .flatten()
                .find(|id| !claim_ids.contains(id.as_str()))
            {
                return Err(DcqlError::UnknownClaimId(unknown.clone()));
            }
        }
        Ok(())
    }

    /// Does `credential` answer this query (OpenID4VP 1.0 s6.4.1)? The vct is one of
    /// `vct_values`, and every requested claim is present with an accepted value: all claims
    /// when there are no `claim_sets`, else every claim of at least one set.
    pub fn matches(&self, credential: &VerifiedSdJwtVc) -> Result<(), DcqlMismatch> {
        // Appendix B.3.5: the vct of the credential is one of vct_values.
        if !self
            .meta
            .vct_values
            .iter()
            .any(|vct| vct == credential.vct())
        {
            return Err(DcqlMismatch::VctNotAccepted(credential.vct().to_owned()));
        }
        self.matches_claims(credential.sd_jwt().claims())
    }

    /// The claims part of [`CredentialQuery::matches`], over a processed payload.
    pub fn matches_claims(&self, claims: &Map<String, Value>) -> Result<(), DcqlMismatch> {
        let Some(queries) = &self.claims else {
            return Ok(());
        };
        let Some(sets) = &self.claim_sets else {
            // s6.4.1: without claim_sets, every claim in claims is requested.
            return queries.iter().try_for_each(|query| query.matches(claims));
        };
        // s6.4.1: with claim_sets, the options are alternatives; one must be satisfied whole.
        let mut first_refusal = None;
        for set in sets {
            let outcome = set.iter().try_for_each(|id| {
                queries
                    .iter()
                    .filter(|query| query.id.as_deref() == Some(id.as_str()))
                    .try_for_each(|query| query.matches(claims))
            });
            match outcome {
                Ok(()) => return Ok(()),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        Err(match (sets.len(), first_refusal) {
            (1, Some(refusal)) => refusal,
            _ => DcqlMismatch::NoClaimSetSatisfied,
        })
    }
}

impl ClaimsQuery {
    /// Whether this one claims query is answered by `claims` (s6.3, s7.1).
    pub fn matches(&self, claims: &Map<String, Value>) -> Result<(), DcqlMismatch> {
        let selected = self.selected(claims);
        // s7.1: a path that selects nothing means the claim is missing.
        if selected.is_empty() {
            return Err(DcqlMismatch::MissingClaim(self.display_path()));
        }
        // s6.3: with values, the claim must equal one of them (type and value exactly).
        if let Some(values) = &self.values
            && !selected.iter().any(|found| values.contains(found))
        {
            return Err(DcqlMismatch::ValueNotAccepted(self.display_path()));
        }
        Ok(())
    }

    /// The values the claims path pointer selects (s7.1).
    pub fn selected<'a>(&self, claims: &'a Map<String, Value>) -> Vec<&'a Value> {
        select(claims, &self.path)
    }

    fn display_path(&self) -> String {
        serde_json::to_string(&self.path).unwrap_or_default()
    }
}

/// Processes a claims path pointer (OpenID4VP 1.0 s7.1) over the disclosed claims.
fn select<'a>(claims: &'a Map<String, Value>, path: &[PathSegment]) -> Vec<&'a Value> {
    let Some((PathSegment::Name(first), rest)) = path.split_first() else {
        return Vec::new();
    };
    let mut current: Vec<&Value> = claims.get(first).into_iter().collect();
    for segment in rest {
        current = current
            .into_iter()
            .flat_map(|value| -> Vec<&Value> {
                match (segment, value) {
                    (PathSegment::Name(name), Value::Object(members)) => {
                        members.get(name).into_iter().collect()
                    }
                    (PathSegment::All(()), Value::Array(items)) => items.iter().collect(),
                    (PathSegment::Index(index), Value::Array(items)) => usize::try_from(*index)
                        .ok()
                        .and_then(|index| items.get(index))
                        .into_iter()
                        .collect(),
                    // s7.1: a segment that does not fit the value selects nothing.
                    _ => Vec::new(),
                }
            })
            .collect();
    }
    current
}

/// s6.1, s6.3: ids are non-empty strings of alphanumerics, underscore and hyphen.
fn check_id(id: &str) -> Result<(), DcqlError> {
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    if valid {
        Ok(())
    } else {
        Err(DcqlError::InvalidId(id.to_owned()))
    }
}

#[cfg(test)]
mod tests;
