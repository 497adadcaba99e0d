//! Replacing digests with disclosed claims: the algorithm of RFC 9901 s7.1 step 3, shared by the
//! verifier and by the holder (who uses it to learn which disclosure is at which path).
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::{ClaimPath, Disclosure, Error, PathElement};

/// The result of processing: the payload with every disclosed claim in place and every `_sd`,
/// `_sd_alg` and `...` removed, and for each disclosure the path it was disclosed at.
pub(crate) struct Processed {
    pub claims: Map<String, Value>,
    /// Paths in the order the disclosures were found, with the index of the disclosure.
    pub disclosed: Vec<(ClaimPath, usize)>,
}

/// Processes `payload` (already signature-checked by the caller, or the holder's own
/// credential) with `disclosures`. `max_depth` bounds nesting of the output, counting every
/// object and array, including those inside disclosures.
pub(crate) fn process(
    mut payload: Map<String, Value>,
    disclosures: &[Disclosure],
    max_depth: usize,
) -> Result<Processed, Error> {
    let mut by_digest = HashMap::with_capacity(disclosures.len());
    for (index, disclosure) in disclosures.iter().enumerate() {
        // The same disclosure twice would be referenced at most once: refuse it outright.
        if by_digest.insert(disclosure.digest(), index).is_some() {
            return Err(Error::DuplicateDisclosure);
        }
    }
    // RFC 9901 s7.1 step 3.6: `_sd_alg` is removed from the top level (the caller checked it).
    payload.remove("_sd_alg");
    let mut processor = Processor {
        disclosures,
        by_digest,
        seen: HashSet::new(),
        disclosed: Vec::new(),
        max_depth,
    };
    let mut path = ClaimPath::root();
    let claims = processor.object(payload, &mut path, 1)?;
    // RFC 9901 s7.1 step 5: every disclosure must be referenced by a digest.
    if processor.disclosed.len() != disclosures.len() {
        return Err(Error::UnreferencedDisclosure);
    }
    Ok(Processed {
        claims,
        disclosed: processor.disclosed,
    })
}

struct Processor<'a> {
    disclosures: &'a [Disclosure],
    by_digest: HashMap<&'a str, usize>,
    /// Every digest met so far, real or decoy (RFC 9901 s7.1 step 4: none may repeat).
    seen: HashSet<String>,
    disclosed: Vec<(ClaimPath, usize)>,
    max_depth: usize,
}

impl Processor<'_> {
    fn value(&mut self, value: Value, path: &mut ClaimPath, depth: usize) -> Result<Value, Error> {
        match value {
            Value::Object(members) => Ok(Value::Object(self.object(members, path, depth + 1)?)),
            Value::Array(items) => Ok(Value::Array(self.array(items, path, depth + 1)?)),
            other => Ok(other),
        }
    }

    /// Records `digest` and returns the disclosure it names, or `None` for a decoy.
    fn lookup(&mut self, digest: String) -> Result<Option<usize>, Error> {
        // RFC 9901 s7.1 step 4: a digest appearing more than once, in `_sd` or `...`,
        // directly or through other disclosures, is refused.
        if self.seen.contains(&digest) {
            return Err(Error::DuplicateDigest(digest));
        }
        let found = self.by_digest.get(digest.as_str()).copied();
        self.seen.insert(digest);
        Ok(found)
    }

    fn object(
        &mut self,
        mut members: Map<String, Value>,
        path: &mut ClaimPath,
        depth: usize,
    ) -> Result<Map<String, Value>, Error> {
        if depth > self.max_depth {
            return Err(Error::TooDeep(self.max_depth));
        }
        let digests = match members.remove("_sd") {
            None => Vec::new(),
            Some(Value::Array(digests)) => digests,
            // RFC 9901 s4.2.4.1, s7.1 step 3.2.1: `_sd` is an array of digest strings.
            Some(_) => return Err(Error::MalformedSd),
        };
        let mut output = Map::new();
        for (name, value) in members {
            path.push(PathElement::Name(name.clone()));
            let value = self.value(value, path, depth)?;
            path.pop();
            output.insert(name, value);
        }
        for digest in digests {
            let Value::String(digest) = digest else {
                return Err(Error::MalformedSd);
            };
            // RFC 9901 s7.1 step 3.3.1: no matching disclosure means a decoy; ignore it.
            let Some(index) = self.lookup(digest)? else {
                continue;
            };
            let disclosure = &self.disclosures[index];
            // RFC 9901 s7.1 step 3.3.2.1: a digest in `_sd` must name a three-element
            // disclosure (the `_sd`/`...` name check of step 3.3.2.2 is done at parse).
            let Some(name) = disclosure.name() else {
                return Err(Error::ExpectedPropertyDisclosure);
            };
            // RFC 9901 s7.1 step 3.3.2.3: the name must not already exist at this level.
            if output.contains_key(name) {
                return Err(Error::ClaimAlreadyExists(name.to_owned()));
            }
            let name = name.to_owned();
            path.push(PathElement::Name(name.clone()));
            self.disclosed.push((path.clone(), index));
            // RFC 9901 s7.1 step 3.3.2.4-5: inserted, and the disclosed value is processed recursively.
            let value = self.value(disclosure.value().clone(), path, depth)?;
            path.pop();
            output.insert(name, value);
        }
        Ok(output)
    }

    fn array(
        &mut self,
        items: Vec<Value>,
        path: &mut ClaimPath,
        depth: usize,
    ) -> Result<Vec<Value>, Error> {
        if depth > self.max_depth {
            return Err(Error::TooDeep(self.max_depth));
        }
        let mut output = Vec::with_capacity(items.len());
        for (position, item) in items.into_iter().enumerate() {
            path.push(PathElement::Index(position));
            match array_digest(item)? {
                Ok(digest) => {
                    // RFC 9901 s7.1 steps 3.3.1 and 3.4: no matching disclosure means a decoy
                    // element, which is removed.
                    if let Some(index) = self.lookup(digest)? {
                        let disclosure = &self.disclosures[index];
                        // RFC 9901 s7.1 step 3.3.3.1: a `...` digest must name a two-element
                        // disclosure.
                        if disclosure.name().is_some() {
                            return Err(Error::ExpectedArrayElementDisclosure);
                        }
                        self.disclosed.push((path.clone(), index));
                        output.push(self.value(disclosure.value().clone(), path, depth)?);
                    }
                }
                Err(item) => output.push(self.value(item, path, depth)?),
            }
            path.pop();
        }
        Ok(output)
    }
}

/// RFC 9901 s4.2.4.2: an array element `{"...": "<digest>"}` stands for a disclosure. An object
/// that holds `...` next to other members, or a `...` that is not a string, is refused.
fn array_digest(item: Value) -> Result<Result<String, Value>, Error> {
    match item {
        Value::Object(mut members) if members.contains_key("...") => {
            if members.len() != 1 {
                return Err(Error::MalformedArrayDigest);
            }
            match members.remove("...") {
                Some(Value::String(digest)) => Ok(Ok(digest)),
                _ => Err(Error::MalformedArrayDigest),
            }
        }
        other => Ok(Err(other)),
    }
}
