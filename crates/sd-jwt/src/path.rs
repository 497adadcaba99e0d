//! Claim paths: where a claim sits in the payload, as object member names and array indices.
use std::fmt;

use serde_json::{Map, Value};

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElement {
    /// An object member.
    Name(String),
    /// An array element, by its position in the array as issued (before any element is
    /// removed because it was not disclosed).
    Index(usize),
}

/// A path from the payload's top level to one claim, for example `address.street_address` or
/// `nationalities[1]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimPath(Vec<PathElement>);

impl ClaimPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// The path of a top-level claim.
    pub fn claim(name: impl Into<String>) -> Self {
        Self(vec![PathElement::Name(name.into())])
    }

    /// This path followed by the member `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.0.push(PathElement::Name(name.into()));
        self
    }

    /// This path followed by the array element at `index`.
    pub fn index(mut self, index: usize) -> Self {
        self.0.push(PathElement::Index(index));
        self
    }

    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }

    /// Whether `self` is `other` or lies on the way to it.
    pub fn is_prefix_of(&self, other: &ClaimPath) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The value at this path in processed `claims`, if there is one.
    pub fn value_in<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let mut elements = self.0.iter();
        let mut current = match elements.next() {
            Some(PathElement::Name(name)) => claims.get(name),
            _ => None,
        };
        for element in elements {
            current = match (current, element) {
                (Some(Value::Object(members)), PathElement::Name(name)) => members.get(name),
                (Some(Value::Array(items)), PathElement::Index(index)) => items.get(*index),
                _ => None,
            };
        }
        current
    }

    /// The top-level claim name this path starts with, if it starts with a name.
    pub fn top_level_name(&self) -> Option<&str> {
        match self.0.first() {
            Some(PathElement::Name(name)) => Some(name),
            _ => None,
        }
    }

    pub(crate) fn push(&mut self, element: PathElement) {
        self.0.push(element);
    }

    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for (position, element) in self.0.iter().enumerate() {
            match element {
                PathElement::Name(name) if position == 0 => write!(f, "{name}")?,
                PathElement::Name(name) => write!(f, ".{name}")?,
                PathElement::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}
