//! Image references, `registry[:port]/repository[:tag][@digest]`, following the grammar of
//! distribution/reference (`reference.go`), which the distribution spec cites for names and tags.
//!
//! Normalisation follows Docker and containerd, so that a policy judges the image the runtime
//! pulls: a first component that is not a host (no `.` or `:`, and not `localhost`) means Docker
//! Hub (`docker.io`); the host is case-insensitive (kept lower case); `index.docker.io` is
//! `docker.io`; and a single-component Hub name gets `library/`, however the Hub was named.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{OciError, Result};

/// Docker Hub's registry name in references; its API lives at [`DOCKER_HUB_API_HOST`].
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's distribution API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The host that issues Docker Hub's Bearer tokens.
pub const DOCKER_HUB_TOKEN_HOST: &str = "auth.docker.io";
/// Docker Hub's legacy name, which the Docker CLI and containerd treat as [`DOCKER_HUB`].
pub const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// distribution/reference: `NameTotalLengthMax`.
const NAME_MAX: usize = 255;
/// distribution-spec: tags are at most 128 characters.
const TAG_MAX: usize = 128;

/// A parsed image reference. At least one of tag and digest may be absent; use
/// [`ImageRef::tag_or_default`] for Docker's implicit `latest`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason| OciError::InvalidReference {
            reference: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (rest, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        // The tag is after the last ':' that comes after the last '/', so a registry port is
        // never mistaken for a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(bad("tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
        }
        if name.len() > NAME_MAX {
            return Err(bad("name longer than 255 characters"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !valid_host(first) {
                    return Err(bad("invalid registry host"));
                }
                (canonical_host(first), remainder.to_owned())
            }
            Some(_) => (DOCKER_HUB.to_owned(), name.to_owned()),
            None => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !valid_repository(&repository) {
            return Err(bad(
                "repository components must match [a-z0-9]+(([._]|__|-+)[a-z0-9]+)*",
            ));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// Builds a reference from parts, validating each.
    pub fn new(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<Self> {
        let mut s = format!("{registry}/{repository}");
        if let Some(tag) = tag {
            s.push(':');
            s.push_str(tag);
        }
        let mut parsed = ImageRef::parse(&s)?;
        if parsed.registry != registry || parsed.repository != repository {
            return Err(OciError::InvalidReference {
                reference: s,
                reason: "not in canonical form",
            });
        }
        parsed.digest = digest;
        Ok(parsed)
    }

    /// The registry as named in the reference (`docker.io`, `127.0.0.1:5000`, ...).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host that serves the API for [`Self::registry`].
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `registry/repository`, normalised: the name policies match and signatures name.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The tag, or `latest` when neither tag nor digest was given (Docker's default).
    pub fn tag_or_default(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The reference to ask the registry for: the digest when pinned, else the tag.
    pub fn reference(&self) -> String {
        match (&self.digest, self.tag_or_default()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The same image pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Self {
        ImageRef {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = OciError;
    fn from_str(s: &str) -> Result<Self> {
        ImageRef::parse(s)
    }
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (distribution-spec, "Pulling manifests").
pub fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TAG_MAX
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Path components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.
pub fn valid_repository(repo: &str) -> bool {
    !repo.is_empty() && repo.len() <= NAME_MAX && repo.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let mut i = 0;
    loop {
        // One run of [a-z0-9]+.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // A separator: '.', '_', '__' or '-'+.
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += if bytes.get(i + 1) == Some(&b'_') {
                    2
                } else {
                    1
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// A registry host as the runtime compares it: lower case, Docker Hub under one name.
pub fn canonical_host(host_port: &str) -> String {
    let host = host_port.to_ascii_lowercase();
    if host == DOCKER_HUB_LEGACY {
        DOCKER_HUB.to_owned()
    } else {
        host
    }
}

/// `host[:port]`, host being DNS labels joined by '.', or a bracketed IPv6 address.
pub fn valid_host(host_port: &str) -> bool {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if host.is_empty() {
        // Only reachable for the bracketed IPv6 case, already validated.
        return host_port.starts_with('[');
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn references_parse_into_their_parts() {
        let cases: &[(&str, &str, &str, Option<&str>, bool)] = &[
            ("nginx", "docker.io", "library/nginx", None, false),
            ("user/app:1.0", "docker.io", "user/app", Some("1.0"), false),
            (
                "127.0.0.1:5000/a/b:v1",
                "127.0.0.1:5000",
                "a/b",
                Some("v1"),
                false,
            ),
            ("localhost/x", "localhost", "x", None, false),
            (
                "ghcr.io/o/r@sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                "ghcr.io",
                "o/r",
                None,
                true,
            ),
            ("[::1]:5000/r:t", "[::1]:5000", "r", Some("t"), false),
            (
                "reg.example:443/a__b/c-d.e:t",
                "reg.example:443",
                "a__b/c-d.e",
                Some("t"),
                false,
            ),
        ];
        for (s, reg, repo, tag, has_digest) in cases {
            let r = ImageRef::parse(s).unwrap();
            assert_eq!(r.registry(), *reg, "{s}");
            assert_eq!(r.repository(), *repo, "{s}");
            assert_eq!(r.tag(), *tag, "{s}");
            assert_eq!(r.digest().is_some(), *has_digest, "{s}");
        }
        // One image, however the runtime would be told its name.
        for variant in [
            "nginx",
            "docker.io/nginx",
            "docker.io/library/nginx",
            "index.docker.io/nginx",
            "index.docker.io/library/nginx",
            "Docker.IO/library/nginx",
            "INDEX.docker.io/nginx",
        ] {
            let r = ImageRef::parse(variant).unwrap();
            assert_eq!(
                (r.registry(), r.repository()),
                ("docker.io", "library/nginx"),
                "{variant}"
            );
        }
        let r = ImageRef::parse("Reg.Example:5000/team/app").unwrap();
        assert_eq!(r.registry(), "reg.example:5000");
        let r = ImageRef::parse(&format!("reg.io/app:v1@{D}")).unwrap();
        assert_eq!(r.reference(), D);
        assert_eq!(r.to_string(), format!("reg.io/app:v1@{D}"));
    }

    #[test]
    fn malformed_references_are_refused() {
        for s in [
            "",
            "UPPER/case",
            "reg.io/",
            "reg.io//x",
            "reg.io/x:",
            "reg.io/x:-t",
            "reg.io/x@sha256:00",
            "reg.io/x_",
            "reg.io/-x",
            "reg.io/x___y",
            "bad_host.io/x",
            "reg.io:port/x",
            "[::zz]/x",
            "reg.io/x:t@",
            "reg.io/a b",
        ] {
            assert!(ImageRef::parse(s).is_err(), "{s:?} accepted");
        }
        assert!(ImageRef::parse(&format!("r.io/x:{}", "a".repeat(129))).is_err());
    }
}
