//! Where IMMERSE's HTTP clients connect. Identifiers (issuer URLs, status list URIs) are public
//! https URLs; on one development machine the services behind them listen on loopback.
//! [`Origins`] maps one to the other for the wallet and the verifier alike.
#![forbid(unsafe_code)]

pub mod outbound;

pub use outbound::{OutboundPolicy, OutboundRefusal};

/// Where to connect for a public origin: `https://issuer.example` served on
/// `http://127.0.0.1:8443` in development, the way `/etc/hosts` points a name elsewhere.
///
/// It changes only where bytes travel, never what is trusted: identifiers, `aud`, `htu` and
/// every signature check still use the public URL, and everything fetched is verified against
/// the registry as it would be over the public network. Empty in production.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    routes: Vec<(String, String)>,
}

impl Origins {
    /// Connects to `local` (scheme://host:port) for URLs under `public` (scheme://host[:port]).
    pub fn route(mut self, public: impl Into<String>, local: impl Into<String>) -> Self {
        let trim = |url: String| url.trim_end_matches('/').to_owned();
        self.routes.push((trim(public.into()), trim(local.into())));
        self
    }

    /// The URL to connect to for `url`.
    pub fn locate(&self, url: &str) -> String {
        for (public, local) in &self.routes {
            if let Some(rest) = url.strip_prefix(public.as_str())
                && (rest.is_empty() || rest.starts_with(['/', '?']))
            {
                return format!("{local}{rest}");
            }
        }
        url.to_owned()
    }
}

/// Whether `url` lies under the origin (scheme, host, port) of `identifier`: where an entity
/// may publish what its identifier vouches for, such as an issuer's status lists.
pub fn under_origin_of(url: &str, identifier: &str) -> bool {
    match (reqwest::Url::parse(url), reqwest::Url::parse(identifier)) {
        (Ok(url), Ok(identifier)) => {
            let origin = identifier.origin();
            origin.is_tuple() && url.origin() == origin
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_under_an_origin_only_with_the_same_scheme_host_and_port() {
        let issuer = "https://issuer.test/tenant";
        assert!(under_origin_of("https://issuer.test/statuslists/1", issuer));
        assert!(under_origin_of("https://ISSUER.test:443/x", issuer));
        for foreign in [
            "http://issuer.test/statuslists/1",
            "https://issuer.test:8443/x",
            "https://issuer.test.evil/x",
            "https://evil.test/x",
            "not a url",
        ] {
            assert!(!under_origin_of(foreign, issuer), "{foreign}");
        }
        assert!(!under_origin_of("https://issuer.test/x", "urn:issuer"));
    }

    #[test]
    fn a_route_matches_whole_origins_only() {
        let origins = Origins::default().route("https://issuer.test", "http://127.0.0.1:9/");
        assert_eq!(
            origins.locate("https://issuer.test/token"),
            "http://127.0.0.1:9/token"
        );
        assert_eq!(origins.locate("https://issuer.test"), "http://127.0.0.1:9");
        assert_eq!(
            origins.locate("https://issuer.test.evil/token"),
            "https://issuer.test.evil/token"
        );
        assert_eq!(
            origins.locate("https://other.test/x"),
            "https://other.test/x"
        );
    }
}
