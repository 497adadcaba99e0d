//! Git source URIs and refs as slsa-verifier reads them (verifiers/utils/git.go):
//! `git+https://github.com/org/repo@refs/tags/v1.2.3` is the repository URI and a ref.

use crate::error::SlsaError;

/// `github.com/org/repo` or `https://github.com/org/repo` becomes
/// `git+https://github.com/org/repo` (slsa-verifier `NormalizeGitURI`). A ref (`@...`) is
/// refused: the policy names a repository, the ref is checked separately.
pub fn normalize_source_uri(uri: &str) -> Result<String, SlsaError> {
    let normalized = if uri.starts_with("git+") {
        uri.to_owned()
    } else if uri.contains("://") {
        format!("git+{uri}")
    } else {
        format!("git+https://{uri}")
    };
    let rest = normalized.strip_prefix("git+https://").unwrap_or("");
    // host/owner/name at least; no ref, query, fragment, whitespace, or trailing slash, so
    // that comparison is exact string equality (no prefix matching, ever).
    let segments: Vec<&str> = rest.split('/').collect();
    let well_formed = segments.len() >= 3
        && segments
            .iter()
            .all(|s| !s.is_empty() && *s != "." && *s != "..")
        && !rest.contains(['@', '?', '#', ' ', '\t', '\n', '\\']);
    if well_formed {
        Ok(normalized)
    } else {
        Err(SlsaError::InvalidSourceUri(uri.to_owned()))
    }
}

/// Split `git+<uri>[@<ref>]` at the first `@` (slsa-verifier `ParseGitURIAndRef`). The ref is
/// empty when there is none.
pub fn parse_git_uri_and_ref(uri: &str) -> Result<(&str, &str), SlsaError> {
    if uri.is_empty() {
        return Err(SlsaError::MalformedGitUri {
            uri: uri.to_owned(),
            reason: "empty",
        });
    }
    if !uri.starts_with("git+") {
        return Err(SlsaError::MalformedGitUri {
            uri: uri.to_owned(),
            reason: "not a git+ URI",
        });
    }
    Ok(uri.split_once('@').unwrap_or((uri, "")))
}

/// The kind of a fully qualified git ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Branch,
    Tag,
}

/// `refs/heads/<name>` or `refs/tags/<name>` to its kind and name (slsa-verifier
/// `ValidateGitRef`); anything else (a bare name, `refs/pull/..`, an empty name) is `None`.
pub fn parse_ref(reference: &str) -> Option<(RefKind, &str)> {
    let (kind, name) = if let Some(name) = reference.strip_prefix("refs/heads/") {
        (RefKind::Branch, name)
    } else if let Some(name) = reference.strip_prefix("refs/tags/") {
        (RefKind::Tag, name)
    } else {
        return None;
    };
    (!name.is_empty()).then_some((kind, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_slsa_verifier() {
        let cases = [
            ("github.com/org/repo", "git+https://github.com/org/repo"),
            (
                "https://github.com/org/repo",
                "git+https://github.com/org/repo",
            ),
            (
                "git+https://github.com/org/repo",
                "git+https://github.com/org/repo",
            ),
        ];
        for (input, output) in cases {
            assert_eq!(normalize_source_uri(input), Ok(output.to_owned()));
        }
        for bad in [
            "github.com/org",
            "github.com/org/repo/",
            "github.com/org/repo@refs/heads/main",
            "http://github.com/org/repo",
            "github.com/org/../repo",
            "",
        ] {
            assert_eq!(
                normalize_source_uri(bad),
                Err(SlsaError::InvalidSourceUri(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn splits_uri_and_ref() {
        assert_eq!(
            parse_git_uri_and_ref("git+https://github.com/o/r@refs/tags/v1"),
            Ok(("git+https://github.com/o/r", "refs/tags/v1"))
        );
        assert_eq!(
            parse_git_uri_and_ref("git+https://github.com/o/r"),
            Ok(("git+https://github.com/o/r", ""))
        );
        assert!(parse_git_uri_and_ref("https://github.com/o/r@x").is_err());
    }

    #[test]
    fn parses_refs() {
        assert_eq!(
            parse_ref("refs/heads/main"),
            Some((RefKind::Branch, "main"))
        );
        assert_eq!(
            parse_ref("refs/tags/v1.2.3"),
            Some((RefKind::Tag, "v1.2.3"))
        );
        assert_eq!(
            parse_ref("refs/heads/feature/x"),
            Some((RefKind::Branch, "feature/x"))
        );
        assert_eq!(parse_ref("refs/tags/"), None);
        assert_eq!(parse_ref("main"), None);
        assert_eq!(parse_ref("refs/pull/1/merge"), None);
    }
}
