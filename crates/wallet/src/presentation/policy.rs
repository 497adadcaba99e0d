//! The wallet's privacy policy (SYSTEM.md s2 presentation step 2, s3 "malicious relying
//! party"): a verifier may ask only for the claims its registry entity is allowed to ask for,
//! and the holder is warned before disclosing an identifier that lets verifiers correlate
//! them across presentations.
use immerse_registry::model::{Allowances, AllowedClaim};
use immerse_verifier::dcql::{DcqlQuery, PathSegment};

use super::PresentationError;

/// Claim names that identify the holder uniquely, or nearly so, wherever they are shown: an
/// email address, a phone number, an account or document number. Disclosing one lets every
/// verifier that receives it link the holder's presentations together.
const CORRELATING_NAMES: &[&str] = &[
    "sub",
    "id",
    "uid",
    "unique_id",
    "email",
    "email_address",
    "phone_number",
    "personal_administrative_number",
    "document_number",
    "passport_number",
    "national_id",
    "tax_id",
    "tax_id_code",
    "social_security_number",
    "health_insurance_number",
    "iban",
];

/// The allowance that covers the claim at `path`: an allowed path equal to it or leading to
/// it (allowing `address` allows `address.locality`). A path that steps into an array before
/// the allowed path ends is not covered, since the allowance names members only.
pub(crate) fn allowance_for<'a>(
    allowances: &'a Allowances,
    path: &[PathSegment],
) -> Option<&'a AllowedClaim> {
    allowances.claims.iter().find(|allowed| {
        !allowed.path.is_empty()
            && allowed.path.len() <= path.len()
            && allowed
                .path
                .iter()
                .zip(path)
                .all(|(name, segment)| matches!(segment, PathSegment::Name(found) if found == name))
    })
}

/// Refuses the whole request when any claim path of any credential query is beyond the
/// verifier's allowances: the wallet does not offer a partial answer to an over-asking
/// verifier, since the request itself is the misbehaviour.
pub(crate) fn check_allowed(
    entity: &str,
    allowances: &Allowances,
    query: &DcqlQuery,
) -> Result<(), PresentationError> {
    for credential in &query.credentials {
        for claim in credential.claims.iter().flatten() {
            if allowance_for(allowances, &claim.path).is_none() {
                return Err(PresentationError::ClaimNotAllowed {
                    entity: entity.to_owned(),
                    path: display_path(&claim.path),
                });
            }
        }
    }
    Ok(())
}

/// Whether the claim at `path` is a correlating identifier.
pub(crate) fn is_correlating(path: &[PathSegment]) -> bool {
    path.iter().rev().find_map(|segment| match segment {
        PathSegment::Name(name) => {
            Some(CORRELATING_NAMES.contains(&name.to_ascii_lowercase().as_str()))
        }
        _ => None,
    }) == Some(true)
}

/// A claims path as the holder reads it: `address.locality`, `nationalities[*]`, `items[0]`.
pub(crate) fn display_path(path: &[PathSegment]) -> String {
    let mut text = String::new();
    for segment in path {
        match segment {
            PathSegment::Name(name) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(name);
            }
            PathSegment::Index(index) => text.push_str(&format!("[{index}]")),
            PathSegment::All(()) => text.push_str("[*]"),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(value: serde_json::Value) -> Vec<PathSegment> {
        serde_json::from_value(value).unwrap()
    }

    fn allowances() -> Allowances {
        serde_json::from_value(serde_json::json!({"claims": [
            {"path": ["given_name"], "purpose": "greeting"},
            {"path": ["address"], "purpose": "delivery"},
        ]}))
        .unwrap()
    }

    #[test]
    fn an_allowed_path_covers_itself_and_what_lies_under_it() {
        let allowances = allowances();
        let covered = |value| allowance_for(&allowances, &path(value)).map(|a| a.purpose.clone());
        assert_eq!(
            covered(serde_json::json!(["given_name"])).as_deref(),
            Some("greeting")
        );
        assert_eq!(
            covered(serde_json::json!(["address", "locality"])).as_deref(),
            Some("delivery")
        );
        assert_eq!(
            covered(serde_json::json!(["address", null])).as_deref(),
            Some("delivery")
        );
        assert_eq!(covered(serde_json::json!(["family_name"])), None);
        assert_eq!(covered(serde_json::json!(["given_name_x"])), None);
    }

    #[test]
    fn a_query_beyond_the_allowances_is_refused() {
        let query = DcqlQuery::parse(serde_json::json!({"credentials": [{
            "id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:x"]},
            "claims": [{"path": ["given_name"]}, {"path": ["birthdate"]}]
        }]}))
        .unwrap();
        let error = check_allowed("https://v.test", &allowances(), &query).unwrap_err();
        assert_eq!(error.code(), "claim_not_allowed");
        assert!(error.to_string().contains("birthdate"), "{error}");
    }

    #[test]
    fn correlating_identifiers_are_recognised_by_their_last_member_name() {
        assert!(is_correlating(&path(serde_json::json!(["email"]))));
        assert!(is_correlating(&path(serde_json::json!([
            "contact",
            "phone_number"
        ]))));
        assert!(!is_correlating(&path(serde_json::json!(["ids", 0]))));
        assert!(!is_correlating(&path(serde_json::json!(["given_name"]))));
        assert_eq!(
            display_path(&path(serde_json::json!(["a", "b", 0, null]))),
            "a.b[0][*]"
        );
    }
}
