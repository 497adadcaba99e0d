//! Image name patterns: `*` matches within one path segment, `**` across segments, `?` one
//! character other than `/`; everything else is literal. Matching is iterative (no
//! backtracking blow-up: at most |pattern| x |name| steps).

/// A validated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageGlob {
    pattern: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyChar,
    AnyInSegment,
    AnyAcrossSegments,
}

impl ImageGlob {
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("empty image pattern".into());
        }
        if pattern.contains('@') {
            return Err(format!(
                "image pattern {pattern:?} names a digest; patterns match names, the digest is what gets verified"
            ));
        }
        if pattern.contains("***") {
            return Err(format!("image pattern {pattern:?} has `***`"));
        }
        check_canonical(pattern)?;
        Ok(Self {
            pattern: pattern.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    fn tokens(&self) -> Vec<Token> {
        let mut tokens = Vec::new();
        let mut chars = self.pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    Token::AnyAcrossSegments
                }
                '*' => Token::AnyInSegment,
                '?' => Token::AnyChar,
                c => Token::Literal(c),
            });
        }
        tokens
    }

    /// Whether `name` (`registry/repository`) matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let tokens = self.tokens();
        let name: Vec<char> = name.chars().collect();
        // reachable[j]: the tokens consumed so far can match name[..j].
        let mut reachable = vec![false; name.len() + 1];
        reachable[0] = true;
        for token in tokens {
            let mut next = vec![false; name.len() + 1];
            for j in 0..=name.len() {
                if !reachable[j] {
                    continue;
                }
                match token {
                    Token::Literal(c) => {
                        if name.get(j) == Some(&c) {
                            next[j + 1] = true;
                        }
                    }
                    Token::AnyChar => {
                        if name.get(j).is_some_and(|c| *c != '/') {
                            next[j + 1] = true;
                        }
                    }
                    Token::AnyInSegment | Token::AnyAcrossSegments => {
                        next[j] = true;
                        let mut k = j;
                        while k < name.len()
                            && (token == Token::AnyAcrossSegments || name[k] != '/')
                        {
                            k += 1;
                            next[k] = true;
                        }
                    }
                }
            }
            reachable = next;
        }
        reachable[name.len()]
    }
}

/// Names are matched as the runtime pulls them (`ImageRef` normalises them): a pattern in
/// another spelling would match nothing, and silently govern nothing, so it is refused with the
/// spelling that works.
fn check_canonical(pattern: &str) -> Result<(), String> {
    let Some((host, rest)) = pattern.split_once('/') else {
        return Ok(());
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "image pattern {pattern:?}: registry hosts are compared in lower case; write {:?}",
            host.to_ascii_lowercase()
        ));
    }
    if host == immerse_oci::reference::DOCKER_HUB_LEGACY {
        return Err(format!(
            "image pattern {pattern:?}: Docker Hub is named {}; write {}/{rest}",
            immerse_oci::reference::DOCKER_HUB,
            immerse_oci::reference::DOCKER_HUB
        ));
    }
    if host == immerse_oci::reference::DOCKER_HUB && !rest.contains('/') && rest != "**" {
        return Err(format!(
            "image pattern {pattern:?}: Docker Hub names have a namespace; official images are {}/library/{rest}",
            immerse_oci::reference::DOCKER_HUB
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn patterns_match_as_documented() {
        let cases = [
            ("ghcr.io/immerse/immerse", "ghcr.io/immerse/immerse", true),
            (
                "ghcr.io/immerse/immerse",
                "ghcr.io/immerse/immerse-evil",
                false,
            ),
            ("ghcr.io/immerse/*", "ghcr.io/immerse/wallet", true),
            ("ghcr.io/immerse/*", "ghcr.io/immerse/team/wallet", false),
            ("ghcr.io/immerse/**", "ghcr.io/immerse/team/wallet", true),
            ("ghcr.io/immerse/**", "ghcr.io/immersed/wallet", false),
            ("*/library/nginx", "docker.io/library/nginx", true),
            ("127.0.0.1:5000/app-?", "127.0.0.1:5000/app-1", true),
            ("127.0.0.1:5000/app-?", "127.0.0.1:5000/app-12", false),
            ("**", "anything/at/all", true),
        ];
        for (pattern, name, expected) in cases {
            let glob = ImageGlob::new(pattern).expect("pattern");
            assert_eq!(glob.matches(name), expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn digests_and_empty_patterns_are_refused() {
        assert!(ImageGlob::new("").is_err());
        assert!(ImageGlob::new("ghcr.io/x@sha256:00").is_err());
        assert!(ImageGlob::new("ghcr.io/***").is_err());
    }

    #[test]
    fn patterns_spelled_otherwise_than_the_runtime_pulls_are_refused() {
        for (pattern, hint) in [
            ("GHCR.io/immerse/*", "\"ghcr.io\""),
            (
                "index.docker.io/library/nginx",
                "write docker.io/library/nginx",
            ),
            ("docker.io/nginx", "docker.io/library/nginx"),
            ("docker.io/*", "docker.io/library/*"),
        ] {
            let refusal = ImageGlob::new(pattern).unwrap_err();
            assert!(refusal.contains(hint), "{pattern}: {refusal}");
        }
        for pattern in ["docker.io/library/nginx", "docker.io/**", "docker.io/*/app"] {
            assert!(ImageGlob::new(pattern).is_ok(), "{pattern}");
        }
    }

    proptest! {
        #[test]
        fn a_literal_pattern_matches_only_itself(name in "[a-z0-9./:-]{1,40}", other in "[a-z0-9./:-]{1,40}") {
            prop_assume!(!name.contains('*') && !name.contains('?'));
            // A Docker Hub spelling the runtime would not pull is refused, not matched.
            let Ok(glob) = ImageGlob::new(&name) else {
                prop_assert!(name.starts_with("docker.io/") || name.starts_with("index.docker.io/"));
                return Ok(());
            };
            prop_assert!(glob.matches(&name));
            prop_assert_eq!(glob.matches(&other), other == name);
        }

        #[test]
        fn a_single_star_never_crosses_a_slash(prefix in "[a-z]{1,8}", rest in "[a-z/]{0,20}") {
            let glob = ImageGlob::new(&format!("{prefix}/*")).expect("pattern");
            let name = format!("{prefix}/{rest}");
            prop_assert_eq!(glob.matches(&name), !rest.contains('/'));
        }

        #[test]
        fn matching_never_panics(pattern in "[a-z*?/]{1,20}", name in "\\PC{0,40}") {
            if let Ok(glob) = ImageGlob::new(&pattern) {
                let _ = glob.matches(&name);
            }
        }
    }
}
