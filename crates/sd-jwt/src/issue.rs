//! Issuance (RFC 9901 s4, s6.1): claims and a disclosure policy in, a signed SD-JWT out.
use std::collections::BTreeSet;

use immerse_jose::jws::SigningHeader;
use immerse_jose::{PublicJwk, Signer, jwt};
use serde_json::{Map, Value};

use crate::disclosure::{SD_ALG, decoy_digest};
use crate::{ClaimPath, Disclosure, Error, Limits, PathElement, SdJwt};

/// The `typ` this crate puts on issued SD-JWTs unless told otherwise (SD-JWT VC draft s3.1).
pub const DEFAULT_TYP: &str = "dc+sd-jwt";

/// Claim names RFC 9901 reserves for its own structure (s4.1.1, s4.2.4.1, s4.2.4.2): they may
/// not appear in the claims to issue.
const RESERVED: &[&str] = &["_sd", "_sd_alg", "..."];

/// Which claims are selectively disclosable: object members and array elements, named by path.
/// A path below another (`address` and `address.street_address`) gives a nested disclosure
/// (RFC 9901 s6.3): the inner claim is disclosable inside the outer disclosure's value.
#[derive(Debug, Clone, Default)]
pub struct DisclosurePolicy {
    paths: BTreeSet<ClaimPath>,
}

impl DisclosurePolicy {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the claim at `path` selectively disclosable.
    pub fn disclose(mut self, path: ClaimPath) -> Self {
        self.paths.insert(path);
        self
    }

    pub fn paths(&self) -> impl Iterator<Item = &ClaimPath> {
        self.paths.iter()
    }

    pub(crate) fn contains(&self, path: &ClaimPath) -> bool {
        self.paths.contains(path)
    }
}

/// How an SD-JWT is issued.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// The header `typ` (RFC 9901 s9.11 recommends explicit typing).
    pub typ: String,
    /// Decoy digests added to every `_sd` array the policy creates (RFC 9901 s4.2.5).
    pub decoys: usize,
    /// The holder key, put in `cnf.jwk` for Key Binding (RFC 9901 s4.1.2, RFC 7800 s3.2).
    pub holder_key: Option<PublicJwk>,
    pub limits: Limits,
}

impl Default for IssueOptions {
    fn default() -> Self {
        Self {
            typ: DEFAULT_TYP.to_owned(),
            decoys: 0,
            holder_key: None,
            limits: Limits::default(),
        }
    }
}

impl IssueOptions {
    pub fn holder_key(mut self, key: PublicJwk) -> Self {
        self.holder_key = Some(key);
        self
    }

    pub fn decoys(mut self, count: usize) -> Self {
        self.decoys = count;
        self
    }

    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = typ.into();
        self
    }
}

/// Issues `claims` (a JSON object) as an SD-JWT signed by `signer`, with the claims `policy`
/// names replaced by digests. Every path in the policy must exist in `claims`.
pub async fn issue(
    signer: &dyn Signer,
    claims: Value,
    policy: &DisclosurePolicy,
    options: &IssueOptions,
) -> Result<SdJwt, Error> {
    let Value::Object(mut claims) = claims else {
        return Err(Error::ClaimsNotObject);
    };
    if crate::json::depth(&Value::Object(claims.clone())) > options.limits.max_depth {
        return Err(Error::TooDeep(options.limits.max_depth));
    }
    if let Some(key) = &options.holder_key {
        if claims.contains_key("cnf") {
            return Err(Error::ReservedClaimName("cnf".into()));
        }
        let cnf = Map::from_iter([("jwk".to_owned(), Value::Object(key.to_object()))]);
        claims.insert("cnf".into(), Value::Object(cnf));
    }
    let mut builder = Builder {
        policy,
        decoys: options.decoys,
        disclosures: Vec::new(),
        used: BTreeSet::new(),
    };
    let mut path = ClaimPath::root();
    let mut payload = builder.object(claims, &mut path)?;
    if let Some(unused) = policy.paths().find(|path| !builder.used.contains(*path)) {
        return Err(Error::PolicyPathNotFound(unused.clone()));
    }
    if builder.disclosures.len() > options.limits.max_disclosures {
        return Err(Error::TooManyDisclosures(options.limits.max_disclosures));
    }
    // RFC 9901 s4.1.1: the hash algorithm, at the top level.
    payload.insert("_sd_alg".into(), SD_ALG.into());
    let header = SigningHeader::new(options.typ.clone());
    let jwt = jwt::sign(signer, &header, &payload)
        .await
        .map_err(Error::Signing)?;
    Ok(SdJwt::from_parts(jwt, builder.disclosures))
}

struct Builder<'a> {
    policy: &'a DisclosurePolicy,
    decoys: usize,
    disclosures: Vec<Disclosure>,
    used: BTreeSet<ClaimPath>,
}

impl Builder<'_> {
    fn value(&mut self, value: Value, path: &mut ClaimPath) -> Result<Value, Error> {
        match value {
            Value::Object(members) => Ok(Value::Object(self.object(members, path)?)),
            Value::Array(items) => Ok(Value::Array(self.array(items, path)?)),
            other => Ok(other),
        }
    }

    /// Members the policy names become `_sd` digests (RFC 9901 s4.2.4.1). Children are built
    /// first, so a disclosed value already carries its own nested digests (s6.3).
    fn object(
        &mut self,
        members: Map<String, Value>,
        path: &mut ClaimPath,
    ) -> Result<Map<String, Value>, Error> {
        let mut output = Map::new();
        let mut digests = Vec::new();
        for (name, value) in members {
            if RESERVED.contains(&name.as_str()) {
                return Err(Error::ReservedClaimName(name));
            }
            path.push(PathElement::Name(name.clone()));
            let value = self.value(value, path)?;
            if self.policy.contains(path) {
                self.used.insert(path.clone());
                let disclosure = Disclosure::new(Some(&name), value)?;
                digests.push(disclosure.digest().to_owned());
                self.disclosures.push(disclosure);
            } else {
                output.insert(name, value);
            }
            path.pop();
        }
        if !digests.is_empty() {
            for _ in 0..self.decoys {
                digests.push(decoy_digest()?);
            }
            // RFC 9901 s4.2.4.1: sorted, so that the order reveals nothing about the claims.
            digests.sort_unstable();
            output.insert(
                "_sd".into(),
                Value::Array(digests.into_iter().map(Value::String).collect()),
            );
        }
        Ok(output)
    }

    /// Elements the policy names become `{"...": digest}` (RFC 9901 s4.2.4.2).
    fn array(&mut self, items: Vec<Value>, path: &mut ClaimPath) -> Result<Vec<Value>, Error> {
        let mut output = Vec::with_capacity(items.len());
        for (position, item) in items.into_iter().enumerate() {
            path.push(PathElement::Index(position));
            let item = self.value(item, path)?;
            if self.policy.contains(path) {
                self.used.insert(path.clone());
                let disclosure = Disclosure::new(None, item)?;
                let digest = Value::String(disclosure.digest().to_owned());
                output.push(Value::Object(Map::from_iter([("...".to_owned(), digest)])));
                self.disclosures.push(disclosure);
            } else {
                output.push(item);
            }
            path.pop();
        }
        Ok(output)
    }
}
