//! SD-JWT VC (draft-ietf-oauth-sd-jwt-vc): the `dc+sd-jwt` media type, `vct`, and the claims that
//! must never be selectively disclosable.
use immerse_jose::jws::KeySource;
use immerse_jose::{PublicJwk, Signer};
use serde_json::{Map, Value};

use crate::issue::{DisclosurePolicy, IssueOptions, issue};
use crate::verify::{Validation, VerifiedSdJwt, numeric_date, verify};
use crate::{Error, SdJwt};

/// The SD-JWT VC media type (SD-JWT VC draft s3.1).
pub const VC_TYP: &str = "dc+sd-jwt";
/// The media type of earlier drafts, accepted on input only when the verifier allows it.
pub const LEGACY_VC_TYP: &str = "vc+sd-jwt";

/// SD-JWT VC draft s3.2.2.2: these claims MUST NOT be selectively disclosed.
pub const NEVER_DISCLOSABLE: &[&str] =
    &["iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"];

/// Claims the VC layer sets from typed fields; the free-form claims may not carry them.
const TYPED: &[&str] = &["vct", "iss", "iat", "exp", "cnf", "status"];

/// A Token Status List reference (`status.status_list`, Token Status List draft s6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListRef {
    pub idx: u64,
    pub uri: String,
}

/// The credential an issuer signs as an SD-JWT VC.
#[derive(Debug, Clone)]
pub struct Credential {
    pub vct: String,
    pub iss: String,
    pub iat: i64,
    pub exp: Option<i64>,
    pub status: Option<StatusListRef>,
    /// Put in `cnf.jwk` for Key Binding.
    pub holder_key: Option<PublicJwk>,
    /// The subject's claims; must not contain the claims above.
    pub claims: Map<String, Value>,
}

/// Issues `credential` as an SD-JWT VC (`typ` `dc+sd-jwt`). A policy that makes one of
/// [`NEVER_DISCLOSABLE`] (or anything inside it) selectively disclosable is refused.
pub async fn issue_vc(
    signer: &dyn Signer,
    credential: &Credential,
    policy: &DisclosurePolicy,
    options: &IssueOptions,
) -> Result<SdJwt, Error> {
    if let Some(name) = policy
        .paths()
        .filter_map(|path| path.top_level_name())
        .find(|name| NEVER_DISCLOSABLE.contains(name))
    {
        return Err(Error::VcClaimNotDisclosable(name.to_owned()));
    }
    if let Some(name) = credential
        .claims
        .keys()
        .find(|name| TYPED.contains(&name.as_str()))
    {
        return Err(Error::ReservedClaimName(name.clone()));
    }
    let mut claims = credential.claims.clone();
    claims.insert("vct".into(), credential.vct.clone().into());
    claims.insert("iss".into(), credential.iss.clone().into());
    claims.insert("iat".into(), credential.iat.into());
    if let Some(exp) = credential.exp {
        claims.insert("exp".into(), exp.into());
    }
    if let Some(status) = &credential.status {
        let list = Map::from_iter([
            ("idx".to_owned(), Value::from(status.idx)),
            ("uri".to_owned(), Value::from(status.uri.clone())),
        ]);
        let status = Map::from_iter([("status_list".to_owned(), Value::Object(list))]);
        claims.insert("status".into(), Value::Object(status));
    }
    let mut options = options.clone().typ(VC_TYP);
    options.holder_key = credential.holder_key.clone();
    issue(signer, Value::Object(claims), policy, &options).await
}

/// What a verifier demands of an SD-JWT VC beyond the SD-JWT checks.
#[derive(Debug, Clone)]
pub struct VcValidation<'a> {
    /// The SD-JWT checks; its `types` are replaced by `dc+sd-jwt` (and the legacy type when
    /// allowed).
    pub base: Validation<'a>,
    /// Accept the pre-2025 `vc+sd-jwt` media type on input.
    pub allow_legacy_typ: bool,
    /// When set, `iss` must equal it.
    pub issuer: Option<&'a str>,
}

impl<'a> VcValidation<'a> {
    pub fn new() -> Self {
        Self {
            base: Validation::new(&[VC_TYP]),
            allow_legacy_typ: false,
            issuer: None,
        }
    }
}

impl Default for VcValidation<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// A verified SD-JWT VC: the SD-JWT checks passed and the VC claims are well formed.
#[derive(Debug, Clone)]
pub struct VerifiedSdJwtVc {
    sd_jwt: VerifiedSdJwt,
    vct: String,
    iss: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    status: Option<StatusListRef>,
}

impl VerifiedSdJwtVc {
    pub fn sd_jwt(&self) -> &VerifiedSdJwt {
        &self.sd_jwt
    }
    pub fn vct(&self) -> &str {
        &self.vct
    }
    pub fn iss(&self) -> Option<&str> {
        self.iss.as_deref()
    }
    pub fn iat(&self) -> Option<i64> {
        self.iat
    }
    pub fn exp(&self) -> Option<i64> {
        self.exp
    }
    pub fn status(&self) -> Option<&StatusListRef> {
        self.status.as_ref()
    }
    pub fn holder_key(&self) -> Option<&PublicJwk> {
        self.sd_jwt.holder_key()
    }
}

/// Verifies an SD-JWT VC presentation.
pub fn verify_vc(
    presentation: &str,
    validation: &VcValidation<'_>,
    issuer_keys: &dyn KeySource,
) -> Result<VerifiedSdJwtVc, Error> {
    let mut base = validation.base.clone();
    base.types = if validation.allow_legacy_typ {
        &[VC_TYP, LEGACY_VC_TYP]
    } else {
        &[VC_TYP]
    };
    let sd_jwt = verify(presentation, &base, issuer_keys)?;
    // SD-JWT VC draft s3.2.2.2: these claims (and anything inside them) never come from a
    // disclosure.
    if let Some(name) = sd_jwt
        .disclosed_paths()
        .iter()
        .filter_map(|path| path.top_level_name())
        .find(|name| NEVER_DISCLOSABLE.contains(name))
    {
        return Err(Error::VcClaimNotDisclosable(name.to_owned()));
    }
    let claims = sd_jwt.claims();
    // SD-JWT VC draft s3.2.2.1.1: `vct` is REQUIRED and a string.
    let vct = match claims.get("vct") {
        None => return Err(Error::VcMissingVct),
        Some(Value::String(vct)) => vct.clone(),
        Some(_) => return Err(Error::VcInvalidVct),
    };
    let iss = match claims.get("iss") {
        None => None,
        Some(Value::String(iss)) => Some(iss.clone()),
        Some(_) => return Err(Error::InvalidClaim("iss")),
    };
    if let Some(expected) = validation.issuer
        && iss.as_deref() != Some(expected)
    {
        return Err(Error::VcIssuerMismatch);
    }
    let status = match claims.get("status") {
        None => None,
        Some(status) => status_list(status)?,
    };
    Ok(VerifiedSdJwtVc {
        vct,
        iss,
        iat: numeric_date(claims.get("iat"), "iat")?,
        exp: numeric_date(claims.get("exp"), "exp")?,
        status,
        sd_jwt,
    })
}

/// `status` is an object; its `status_list`, when present, is `{idx: non-negative integer,
/// uri: string}` (Token Status List draft s6.1). Other status mechanisms pass through untyped.
fn status_list(status: &Value) -> Result<Option<StatusListRef>, Error> {
    let Value::Object(status) = status else {
        return Err(Error::VcInvalidStatus);
    };
    let Some(list) = status.get("status_list") else {
        return Ok(None);
    };
    match (
        list.get("idx").and_then(Value::as_u64),
        list.get("uri").and_then(Value::as_str),
    ) {
        (Some(idx), Some(uri)) => Ok(Some(StatusListRef {
            idx,
            uri: uri.to_owned(),
        })),
        _ => Err(Error::VcInvalidStatus),
    }
}
