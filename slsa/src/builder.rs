//! Builder identities `<name>[@<version>]`, matched as slsa-verifier does
//! (verifiers/utils/builder.go): a trusted id without a version matches any version of that
//! builder; with a version it must match exactly, where `v1.2.3` and `refs/tags/v1.2.3` are the
//! same version (certificates always carry the full ref).

use crate::error::SlsaError;
use crate::semver::Version;
use std::fmt;

/// A builder id split into its name (a URI) and optional version (a git ref or tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuilderId {
    name: String,
    version: Option<String>,
}

impl BuilderId {
    /// Parse `<name>` or `<name>@<version>`; more than one `@` or an empty part is refused
    /// (slsa-verifier `ParseBuilderID`).
    pub fn parse(id: &str) -> Result<Self, SlsaError> {
        let invalid = |reason| SlsaError::InvalidBuilderId {
            id: id.to_owned(),
            reason,
        };
        if id.chars().any(char::is_whitespace) {
            return Err(invalid("contains whitespace"));
        }
        let mut parts = id.split('@');
        let name = parts.next().unwrap_or("");
        let version = parts.next();
        if parts.next().is_some() {
            return Err(invalid("more than one '@'"));
        }
        if name.is_empty() {
            return Err(invalid("empty name"));
        }
        if version == Some("") {
            return Err(invalid("empty version after '@'"));
        }
        Ok(BuilderId {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        })
    }

    /// Parse an id that must carry a version, as a signing workflow identity always does
    /// (`https://github.com/org/repo/.github/workflows/x.yml@refs/tags/v1.2.3`).
    pub fn parse_versioned(id: &str) -> Result<Self, SlsaError> {
        let parsed = BuilderId::parse(id)?;
        if parsed.version.is_none() {
            return Err(SlsaError::InvalidBuilderId {
                id: id.to_owned(),
                reason: "no '@<ref>' version",
            });
        }
        Ok(parsed)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Is the version a release tag `refs/tags/vX.Y.Z` without prerelease or build metadata
    /// (slsa-verifier `IsValidBuilderTag`, non-testing branch)?
    pub fn at_release_tag(&self) -> bool {
        let Some(tag) = self
            .version
            .as_deref()
            .and_then(|v| v.strip_prefix("refs/tags/v"))
        else {
            return false;
        };
        Version::parse(tag)
            .is_some_and(|v| v.patch.is_some() && v.prerelease.is_empty() && v.build.is_empty())
    }

    /// Does `actual` satisfy this trusted id? Names must be equal; a version, when this id has
    /// one, must be the same version (slsa-verifier `MatchesLoose` with `allowRef`).
    pub fn check(&self, actual: &BuilderId) -> Result<(), SlsaError> {
        if self.name != actual.name {
            return Err(SlsaError::BuilderMismatch {
                expected: self.to_string(),
                found: actual.to_string(),
            });
        }
        if let Some(want) = &self.version
            && !same_version(Some(want), actual.version.as_deref())
        {
            return Err(SlsaError::BuilderVersionMismatch {
                expected: self.to_string(),
                found: actual.to_string(),
            });
        }
        Ok(())
    }

    /// Are these the same builder at the same version (or both without one)? Used to bind
    /// the predicate's builder to the signing workflow (slsa-verifier `MatchesFull`).
    pub fn same_as(&self, other: &BuilderId) -> bool {
        self.name == other.name && same_version(self.version.as_deref(), other.version.as_deref())
    }
}

fn same_version(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a == b
                || a.strip_prefix("refs/tags/") == Some(b)
                || b.strip_prefix("refs/tags/") == Some(a)
        }
        (None, None) => true,
        _ => false,
    }
}

impl fmt::Display for BuilderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{}", self.name, v),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEN: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml";

    fn id(s: &str) -> BuilderId {
        BuilderId::parse(s).expect("test id parses")
    }

    #[test]
    fn parse_refuses_malformed_ids() {
        for bad in ["", "@v1", "x@", "a@b@c", "a b@v1"] {
            assert!(BuilderId::parse(bad).is_err(), "{bad}");
        }
        assert!(BuilderId::parse_versioned(GEN).is_err());
        assert!(BuilderId::parse_versioned(&format!("{GEN}@refs/tags/v2.0.0")).is_ok());
    }

    #[test]
    fn trusted_id_without_version_matches_any_version() {
        let actual = id(&format!("{GEN}@refs/tags/v2.0.0"));
        assert_eq!(id(GEN).check(&actual), Ok(()));
    }

    #[test]
    fn trusted_id_with_version_matches_exactly_in_either_spelling() {
        let actual = id(&format!("{GEN}@refs/tags/v2.0.0"));
        assert_eq!(id(&format!("{GEN}@v2.0.0")).check(&actual), Ok(()));
        assert_eq!(
            id(&format!("{GEN}@refs/tags/v2.0.0")).check(&actual),
            Ok(())
        );
        assert!(matches!(
            id(&format!("{GEN}@v2.0.1")).check(&actual),
            Err(SlsaError::BuilderVersionMismatch { .. })
        ));
        assert!(matches!(
            id(&format!("{GEN}@v2.0.0")).check(&id(GEN)),
            Err(SlsaError::BuilderVersionMismatch { .. })
        ));
    }

    #[test]
    fn release_tags_are_full_semver_tags() {
        for ok in ["refs/tags/v2.0.0", "refs/tags/v10.1.22"] {
            assert!(id(&format!("{GEN}@{ok}")).at_release_tag(), "{ok}");
        }
        for bad in [
            "refs/heads/main",
            "v2.0.0",
            "refs/tags/v2.0",
            "refs/tags/2.0.0",
            "refs/tags/v2.0.0-rc.1",
            "refs/tags/v2.0.0+b",
        ] {
            assert!(!id(&format!("{GEN}@{bad}")).at_release_tag(), "{bad}");
        }
        assert!(!id(GEN).at_release_tag());
    }

    #[test]
    fn names_must_be_equal_not_prefixes() {
        let actual = id(&format!("{GEN}x@refs/tags/v2.0.0"));
        assert!(matches!(
            id(GEN).check(&actual),
            Err(SlsaError::BuilderMismatch { .. })
        ));
    }
}
