//! Semantic versions as slsa-verifier reads git tags (golang.org/x/mod/semver): `vMAJOR`,
//! `vMAJOR.MINOR` or `vMAJOR.MINOR.PATCH[-prerelease][+build]`, numbers without leading zeros,
//! the shorthand forms without prerelease or build. The leading `v` is optional here (a tag
//! `1.2.3` and a tag `v1.2.3` both denote version 1.2.3); slsa-verifier requires it.

/// A parsed version. `minor`/`patch` are `None` when the text omitted them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: Option<u64>,
    pub patch: Option<u64>,
    /// Dot-separated prerelease identifiers, empty when there are none.
    pub prerelease: String,
    /// Build metadata; ignored by every comparison (SemVer 2.0.0 item 10).
    pub build: String,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let (text, build) = match text.split_once('+') {
            Some((t, b)) => (t, Some(b)),
            None => (text, None),
        };
        let (core, prerelease) = match text.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (text, None),
        };
        let mut parts = core.split('.');
        let major = number(parts.next()?)?;
        let minor = match parts.next() {
            Some(s) => Some(number(s)?),
            None => None,
        };
        let patch = match parts.next() {
            Some(s) => Some(number(s)?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        // Go's semver: the shorthands v1 and v1.2 take no prerelease or build.
        if patch.is_none() && (prerelease.is_some() || build.is_some()) {
            return None;
        }
        if prerelease.is_some_and(|p| !identifiers(p, true))
            || build.is_some_and(|b| !identifiers(b, false))
        {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch,
            prerelease: prerelease.unwrap_or("").to_owned(),
            build: build.unwrap_or("").to_owned(),
        })
    }
}

/// A decimal number without leading zeros (SemVer 2.0.0 item 2), within u64.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Dot-separated non-empty identifiers of `[0-9A-Za-z-]`; numeric prerelease identifiers
/// have no leading zeros (SemVer 2.0.0 items 9 and 10).
fn identifiers(s: &str, prerelease: bool) -> bool {
    s.split('.').all(|id| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !(prerelease
                && id.len() > 1
                && id.starts_with('0')
                && id.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Outcome of comparing a provenance tag with the policy's versioned tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionedTagMatch {
    Match,
    Mismatch,
    /// The expected (policy) text is not a version.
    ExpectedNotSemver,
    /// The provenance's tag is not a version.
    TagNotSemver,
}

/// slsa-verifier's `VerifyVersionedTag`: the major always has to be equal; the minor when the
/// policy gives one; the patch and the prerelease when the policy gives a patch. A tag that
/// omits minor or patch reads as `.0` (Go's `semver.Canonical`). Build metadata is ignored.
///
/// `v14` accepts `v14.2.0` and refuses `v15.0.0`; `v1.2` accepts `v1.2.7` and refuses `v1.3.0`.
/// One deliberate difference: slsa-verifier compares prereleases by the text up to the first `.`
/// (so `-alpha.1` matched `-alpha.2`); this compares the whole prerelease.
pub fn versioned_tag_matches(provenance_tag: &str, expected: &str) -> VersionedTagMatch {
    let Some(want) = Version::parse(expected) else {
        return VersionedTagMatch::ExpectedNotSemver;
    };
    let Some(have) = Version::parse(provenance_tag) else {
        return VersionedTagMatch::TagNotSemver;
    };
    let have_minor = have.minor.unwrap_or(0);
    let have_patch = have.patch.unwrap_or(0);
    let ok = want.major == have.major
        && want.minor.is_none_or(|m| m == have_minor)
        && want
            .patch
            .is_none_or(|p| p == have_patch && want.prerelease == have.prerelease);
    if ok {
        VersionedTagMatch::Match
    } else {
        VersionedTagMatch::Mismatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VersionedTagMatch::*;

    #[test]
    fn parses_go_semver_forms() {
        for ok in [
            "v1",
            "v1.2",
            "v1.2.3",
            "v1.2.3-alpha.1",
            "v1.2.3+build.7",
            "1.2.3",
            "v0.0.0",
            "v10.0.1-rc-1+x",
        ] {
            assert!(Version::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "v",
            "vslsa1",
            "v1.2.3.4",
            "v01.2.3",
            "v1.02",
            "v1-alpha",
            "v1.2+123",
            "v1.2.3-",
            "v1.2.3-01",
            "v1.2.3+",
            "v1..3",
            "V1.2.3",
            "v1.2.3-al_pha",
            "v99999999999999999999",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
    }

    /// The cases of slsa-verifier's Test_VerifyVersionedTag (provenance tag, expected, result).
    #[test]
    fn slsa_verifier_table() {
        let cases = [
            ("v1.2", "1.2", Match), // slsa-verifier: invalid; here the leading v is optional
            ("vslsa1", "vslsa1", ExpectedNotSemver),
            ("vslsa1", "v1.2.3", TagNotSemver),
            ("v1.2.3", "v1.2.3", Match),
            ("v1.2.3", "v1.2", Match),
            ("v1.2.3", "v1", Match),
            ("v1.2.3", "v2", Mismatch),
            ("v1.2.3", "v1.3", Mismatch),
            ("v1.2.3", "v1.2.4", Mismatch),
            ("v1.2.3", "v1.2.2", Mismatch),
            ("v1.2", "v1.2", Match),
            ("v1.2", "v1", Match),
            ("v1.3", "v1.1", Mismatch),
            ("v1.3", "v0", Mismatch),
            ("v1.2", "v1.3", Mismatch),
            ("v1.2", "v1.2.3", Mismatch),
            ("v1.2", "v1.2.0", Match),
            ("v1.2", "v1.2.0+123", Match),
            ("v1.2", "v1.2+123", ExpectedNotSemver),
            ("v1.2", "v1.2-alpha", ExpectedNotSemver),
            ("v1.2", "v1-alpha", ExpectedNotSemver),
            ("v1.2", "v1+123", ExpectedNotSemver),
            ("v1.2.3-alpha", "v1.2.3-alpha", Match),
            ("v1.2.3-alpha", "v1.2.3", Mismatch),
            ("v1.2.3-alpha+123", "v1.2.3-alpha", Match),
            ("v1.2.3-alpha+123", "v1.2.3-alpha+456", Match),
            ("v1.2.3-alpha", "v1.2.3-beta+123", Mismatch),
            ("v1.2.3+123", "v1.2.3-alpha", Mismatch),
            ("v1.2.3+123", "v1.2.3", Match),
            ("v1.2.3", "v1.2.3-alpha", Mismatch),
            ("v1.2", "v1.2.3-beta", Mismatch),
            ("v1.2", "v1.2.0-alpha+123", Mismatch),
            ("v1", "v1", Match),
            ("v1", "v1.2", Mismatch),
            ("v1", "v0", Mismatch),
            ("v1", "v1.0", Match),
            ("v1", "v1.0.0", Match),
            // The brief's examples.
            ("v14.2.0", "v14", Match),
            ("v15.0.0", "v14", Mismatch),
            ("v1.2.9", "v1.2", Match),
            ("v1.3.0", "v1.2", Mismatch),
            ("14.2.0", "v14", Match),
            ("v14.2.0", "14", Match),
            // Where slsa-verifier's string split was too loose.
            ("v1.2.3-alpha.2", "v1.2.3-alpha.1", Mismatch),
        ];
        for (tag, expected, result) in cases {
            assert_eq!(
                versioned_tag_matches(tag, expected),
                result,
                "tag {tag} expected {expected}"
            );
        }
    }
}
