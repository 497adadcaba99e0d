//! Presentation (RFC 9901 s4.3, s6.2): the holder picks disclosures by claim path and may bind
//! the presentation to its key with a KB-JWT.
use immerse_jose::jws::SigningHeader;
use immerse_jose::{Signer, base64url, jwt};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::compact::compact;
use crate::process::process;
use crate::{ClaimPath, Error, Limits, SdJwt};

/// The `typ` of a Key Binding JWT (RFC 9901 s4.3).
pub const KB_TYP: &str = "kb+jwt";

/// What the verifier asked the holder to bind the presentation to (RFC 9901 s4.3).
#[derive(Debug, Clone)]
pub struct KeyBindingInput<'a> {
    pub audience: &'a str,
    pub nonce: &'a str,
    /// `iat`; `None` reads the clock.
    pub issued_at: Option<i64>,
}

/// Builds a presentation of `sd_jwt` that reveals the claims at `selection`, with a KB-JWT signed
/// by `holder` when `key_binding` is given.
///
/// Selecting a path reveals the claim there completely: the disclosures on the way to it (a
/// nested claim needs its parents), the disclosure of the claim itself if it has one, and every
/// disclosure inside its value. A path that is neither disclosable nor present is refused.
pub async fn present(
    sd_jwt: &SdJwt,
    selection: &[ClaimPath],
    key_binding: Option<(&dyn Signer, KeyBindingInput<'_>)>,
    limits: &Limits,
) -> Result<String, Error> {
    let no_extra_claims = Map::new();
    let key_binding = key_binding.map(|(holder, input)| (holder, input, &no_extra_claims));
    present_with_claims(sd_jwt, selection, key_binding, limits).await
}

/// The KB-JWT claims of RFC 9901 s4.3 that [`key_binding_jwt`] sets itself.
pub(crate) const KB_CLAIMS: [&str; 4] = ["iat", "aud", "nonce", "sd_hash"];

/// [`present`], with `extra_claims` added to the KB-JWT: what a protocol on top of RFC 9901
/// binds to the presentation, for example OpenID4VP 1.0's `transaction_data_hashes`
/// (appendix B.3.3). An extra claim may not replace one of RFC 9901's four.
pub async fn present_with_claims(
    sd_jwt: &SdJwt,
    selection: &[ClaimPath],
    key_binding: Option<(&dyn Signer, KeyBindingInput<'_>, &Map<String, Value>)>,
    limits: &Limits,
) -> Result<String, Error> {
    let mask = reveal_mask(sd_jwt, selection, limits)?;
    let revealed = sd_jwt
        .disclosures()
        .iter()
        .zip(&mask)
        .filter_map(|(disclosure, keep)| keep.then_some(disclosure));
    let mut presentation = compact(sd_jwt.jwt(), revealed);
    if let Some((holder, input, extra_claims)) = key_binding {
        let kb_jwt =
            key_binding_jwt_with_claims(holder, &input, extra_claims, &presentation).await?;
        presentation.push_str(&kb_jwt);
    }
    Ok(presentation)
}

/// RFC 9901 s4.3.1: `sd_hash` is base64url(SHA-256) over the presented SD-JWT, everything up to
/// and including the last `~`.
pub fn sd_hash(sd_jwt: &str) -> String {
    base64url::encode(Sha256::digest(sd_jwt.as_bytes()))
}

/// Signs the KB-JWT of RFC 9901 s4.3: header `typ: kb+jwt`; claims `iat`, `aud`, `nonce`,
/// `sd_hash`.
pub async fn key_binding_jwt(
    holder: &dyn Signer,
    input: &KeyBindingInput<'_>,
    sd_jwt: &str,
) -> Result<String, Error> {
    key_binding_jwt_with_claims(holder, input, &Map::new(), sd_jwt).await
}

/// [`key_binding_jwt`] with `extra_claims` beside RFC 9901's four, none of which they may
/// replace ([`Error::ReservedClaimName`]).
pub async fn key_binding_jwt_with_claims(
    holder: &dyn Signer,
    input: &KeyBindingInput<'_>,
    extra_claims: &Map<String, Value>,
    sd_jwt: &str,
) -> Result<String, Error> {
    if let Some(reserved) = KB_CLAIMS
        .iter()
        .find(|name| extra_claims.contains_key(**name))
    {
        return Err(Error::ReservedClaimName((*reserved).to_owned()));
    }
    let mut claims = extra_claims.clone();
    claims.extend([
        (
            "iat".to_owned(),
            Value::from(input.issued_at.unwrap_or_else(jwt::now)),
        ),
        ("aud".to_owned(), Value::from(input.audience)),
        ("nonce".to_owned(), Value::from(input.nonce)),
        ("sd_hash".to_owned(), Value::from(sd_hash(sd_jwt))),
    ]);
    jwt::sign(holder, &SigningHeader::new(KB_TYP), &claims)
        .await
        .map_err(Error::Signing)
}

/// What presenting a selection shows the verifier: the claims as it will process them
/// (RFC 9901 s7.1) from exactly the disclosures [`present`] sends, and those disclosures' paths.
/// A holder's consent is rendered from this, never from what was asked for: an issuer that made
/// `address` disclosable as a whole sends all of it for `address.locality`.
#[derive(Debug, Clone, PartialEq)]
pub struct Revealed {
    pub claims: Map<String, Value>,
    pub disclosed: Vec<ClaimPath>,
}

impl Revealed {
    /// The outermost disclosure sent on the way to `path` (or `path` itself, when a disclosure
    /// sits there); `None` when the claim is always visible or only its members are disclosed.
    pub fn disclosure_containing(&self, path: &ClaimPath) -> Option<&ClaimPath> {
        self.disclosed
            .iter()
            .filter(|disclosed| disclosed.is_prefix_of(path))
            .min_by_key(|disclosed| disclosed.elements().len())
    }
}

/// [`Revealed`] for presenting `selection` of `sd_jwt`, refused as [`present`] refuses it.
pub fn reveal(sd_jwt: &SdJwt, selection: &[ClaimPath], limits: &Limits) -> Result<Revealed, Error> {
    let mask = reveal_mask(sd_jwt, selection, limits)?;
    let revealed: Vec<_> = sd_jwt
        .disclosures()
        .iter()
        .zip(&mask)
        .filter(|(_, keep)| **keep)
        .map(|(disclosure, _)| disclosure.clone())
        .collect();
    let payload = sd_jwt.unverified_payload(limits.max_depth)?;
    let processed = process(payload, &revealed, limits.max_depth)?;
    Ok(Revealed {
        claims: processed.claims,
        disclosed: processed
            .disclosed
            .into_iter()
            .map(|(path, _)| path)
            .collect(),
    })
}

/// Which disclosures presenting `selection` sends: for each selected path, the disclosures on
/// the way to it, its own and every one inside its value. A path that is neither disclosable
/// nor present is refused.
fn reveal_mask(
    sd_jwt: &SdJwt,
    selection: &[ClaimPath],
    limits: &Limits,
) -> Result<Vec<bool>, Error> {
    let payload = sd_jwt.unverified_payload(limits.max_depth)?;
    let processed = process(payload, sd_jwt.disclosures(), limits.max_depth)?;
    let mut mask = vec![false; sd_jwt.disclosures().len()];
    for selected in selection {
        let mut related = false;
        for (path, index) in &processed.disclosed {
            if path.is_prefix_of(selected) || selected.is_prefix_of(path) {
                mask[*index] = true;
                related = true;
            }
        }
        if !related && selected.value_in(&processed.claims).is_none() {
            return Err(Error::SelectionNotDisclosable(selected.clone()));
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use immerse_jose::SoftwareSigner;
    use serde_json::json;

    use super::*;
    use crate::{DisclosurePolicy, IssueOptions, KeyBindingPolicy, Validation, issue, verify};

    const AUDIENCE: &str = "x509_hash:verifier";
    const NONCE: &str = "n-0S6_WzA2Mj";

    async fn bound_to(issuer: &SoftwareSigner, holder: &SoftwareSigner) -> SdJwt {
        let now = jwt::now();
        let claims = json!({"iss": "https://issuer.test", "iat": now, "exp": now + 600,
            "given_name": "Erika"});
        let policy = DisclosurePolicy::new().disclose(ClaimPath::claim("given_name"));
        let options = IssueOptions::default().holder_key(holder.public_jwk().clone());
        issue(issuer, claims, &policy, &options).await.unwrap()
    }

    fn input() -> KeyBindingInput<'static> {
        KeyBindingInput {
            audience: AUDIENCE,
            nonce: NONCE,
            issued_at: None,
        }
    }

    #[tokio::test]
    async fn reveal_shows_what_a_selection_sends_not_what_was_asked() {
        let issuer = SoftwareSigner::generate().unwrap();
        let claims = json!({"iss": "https://issuer.test", "address": {
            "street_address": "Schulstr. 12", "locality": "Schulpforta", "country": "DE"}});
        let address = ClaimPath::claim("address");
        let locality = address.clone().name("locality");
        let leaves = ["street_address", "locality", "country"]
            .into_iter()
            .fold(DisclosurePolicy::new(), |policy, name| {
                policy.disclose(address.clone().name(name))
            });
        let by_leaf = issue(&issuer, claims.clone(), &leaves, &IssueOptions::default())
            .await
            .unwrap();
        let revealed = reveal(
            &by_leaf,
            std::slice::from_ref(&locality),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            revealed.claims["address"],
            json!({"locality": "Schulpforta"})
        );
        assert_eq!(revealed.disclosed, std::slice::from_ref(&locality));
        assert_eq!(revealed.disclosure_containing(&locality), Some(&locality));

        // An issuer that made the whole object disclosable: asking for one member sends all.
        let whole = DisclosurePolicy::new().disclose(address.clone());
        let by_object = issue(&issuer, claims.clone(), &whole, &IssueOptions::default())
            .await
            .unwrap();
        let revealed = reveal(
            &by_object,
            std::slice::from_ref(&locality),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(revealed.claims["address"], claims["address"]);
        assert_eq!(revealed.disclosure_containing(&locality), Some(&address));
        assert!(matches!(
            reveal(&by_object, &[ClaimPath::claim("email")], &Limits::default()),
            Err(Error::SelectionNotDisclosable(_))
        ));
    }

    #[tokio::test]
    async fn extra_kb_claims_are_signed_and_handed_to_the_verifier() {
        let (issuer, holder) = (
            SoftwareSigner::generate().unwrap(),
            SoftwareSigner::generate().unwrap(),
        );
        let sd_jwt = bound_to(&issuer, &holder).await;
        let Value::Object(extra) = json!({"transaction_data_hashes": ["abc"],
            "transaction_data_hashes_alg": "sha-256"})
        else {
            unreachable!()
        };
        let selection = [ClaimPath::claim("given_name")];
        let key_binding = Some((&holder as &dyn Signer, input(), &extra));
        let text = present_with_claims(&sd_jwt, &selection, key_binding, &Limits::default())
            .await
            .unwrap();
        let validation = Validation::new(&[crate::DEFAULT_TYP])
            .key_binding(KeyBindingPolicy::new(AUDIENCE, NONCE));
        let verified = verify(&text, &validation, issuer.public_jwk()).unwrap();
        let key_binding = verified.key_binding().unwrap();
        assert_eq!(
            key_binding.extra, extra,
            "exactly the extra claims, none of RFC 9901's"
        );

        // Without extra claims (`present`), the verifier sees none.
        let plain = present(
            &sd_jwt,
            &selection,
            Some((&holder, input())),
            &Limits::default(),
        )
        .await
        .unwrap();
        let verified = verify(&plain, &validation, issuer.public_jwk()).unwrap();
        assert!(verified.key_binding().unwrap().extra.is_empty());
    }

    #[tokio::test]
    async fn an_extra_claim_may_not_replace_a_key_binding_claim() {
        let holder = SoftwareSigner::generate().unwrap();
        for name in KB_CLAIMS {
            let extra = Map::from_iter([(name.to_owned(), Value::from("forged"))]);
            let refused = key_binding_jwt_with_claims(&holder, &input(), &extra, "jwt~").await;
            assert_eq!(refused, Err(Error::ReservedClaimName(name.to_owned())));
        }
    }
}
