//! The one guard for fetching a URL that came from outside (a status list URI in a credential,
//! a `request_uri`, a `credential_offer_uri`): where such a fetch may go, so that a party who
//! hands over a URL cannot turn the fetcher against the network it sits in.
//!
//! - https only; plain http only to a loopback address (development on one machine).
//! - No private, link-local, shared, unspecified, multicast or broadcast address, whether the
//!   URL names it or a name resolves to it, unless the operator allows private networks. The
//!   check is on the addresses actually connected to ([`GuardedResolver`]), so a name that
//!   resolves differently the second time (DNS rebinding) gains nothing.
//! - No redirects; time and size bounds are the caller's (each knows its document).
//!
//! A refusal names the rule for the operator's log; the party that supplied the URL is told
//! only that the document could not be fetched.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// Which addresses outbound fetches of untrusted URLs may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Loopback addresses (and plain http to them): development, where every service listens
    /// on 127.0.0.1. On by default, as the embedded defaults run on one machine.
    pub allow_loopback: bool,
    /// RFC 1918, RFC 4193 and RFC 6598 ranges: for deployments whose issuers live on an
    /// internal network. Off by default.
    pub allow_private_networks: bool,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self {
            allow_loopback: true,
            allow_private_networks: false,
        }
    }
}

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundRefusal {
    #[error("not a URL")]
    NotAUrl,
    #[error("scheme {0} is not https")]
    Scheme(String),
    #[error("plain http is only for loopback")]
    PlainHttp,
    #[error("{0} is not a public address")]
    Address(IpAddr),
}

impl OutboundPolicy {
    /// Whether this policy lets a fetch connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        if is_private(ip) {
            return self.allow_private_networks;
        }
        !is_never_reachable(ip)
    }

    /// `url` parsed, if its scheme and (for an address literal) its host may be fetched. A host
    /// name is judged when it resolves, by [`GuardedResolver`].
    pub fn check(&self, url: &str) -> Result<reqwest::Url, OutboundRefusal> {
        let parsed = reqwest::Url::parse(url).map_err(|_| OutboundRefusal::NotAUrl)?;
        let host = parsed.host_str().ok_or(OutboundRefusal::NotAUrl)?;
        // The URL parser has normalised the host: IPv4 in dotted form, IPv6 in brackets.
        let literal = if host.eq_ignore_ascii_case("localhost") {
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        } else {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        };
        if let Some(ip) = literal
            && !self.allows(ip)
        {
            return Err(OutboundRefusal::Address(ip));
        }
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if literal.is_some_and(|ip| canonical(ip).is_loopback()) => Ok(parsed),
            "http" => Err(OutboundRefusal::PlainHttp),
            other => Err(OutboundRefusal::Scheme(other.to_owned())),
        }
    }

    /// A client builder that resolves names through this policy and follows no redirect.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy: *self }))
            .redirect(reqwest::redirect::Policy::none())
    }
}

/// Resolves with the system resolver and keeps only the addresses the policy allows; a name
/// with none left fails to resolve.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: OutboundPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| policy.allows(address.ip()))
                .collect();
            if resolved.is_empty() {
                return Err(format!("{host} resolves to no address fetches may reach").into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(resolved.into_iter());
            Ok(addresses)
        })
    }
}

/// An IPv4-mapped IPv6 address judged as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        // RFC 1918, and RFC 6598 shared address space (carrier-grade NAT).
        IpAddr::V4(v4) => v4.is_private() || (v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64),
        // RFC 4193 unique local addresses.
        IpAddr::V6(v6) => v6.segments()[0] & 0xfe00 == 0xfc00,
    }
}

/// Addresses no fetch of an untrusted URL may reach, whatever the policy: link-local (cloud
/// metadata services live at 169.254.169.254), unspecified, multicast, broadcast, reserved.
fn is_never_reachable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
                || v4.octets()[0] >= 240
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified() || v6.is_multicast() || v6.segments()[0] & 0xffc0 == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_and_public_addresses_unless_allowed() {
        let default = OutboundPolicy::default();
        for allowed in [
            "https://issuer.example/status/1",
            "https://93.184.215.14/x",
            "http://127.0.0.1:8080/status/1",
            "http://[::1]:8080/x",
            "http://localhost:1/x",
        ] {
            assert!(default.check(allowed).is_ok(), "{allowed}");
        }
        for (refused, rule) in [
            ("http://issuer.example/x", OutboundRefusal::PlainHttp),
            ("file:///etc/passwd", OutboundRefusal::NotAUrl),
            (
                "ftp://issuer.example/x",
                OutboundRefusal::Scheme("ftp".into()),
            ),
            ("not a url", OutboundRefusal::NotAUrl),
        ] {
            assert_eq!(default.check(refused).unwrap_err(), rule, "{refused}");
        }
        for address in [
            "169.254.169.254",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "[fe80::1]",
            "[fd00::1]",
            "[::]",
            "[::ffff:10.0.0.1]",
            "[::ffff:169.254.169.254]",
        ] {
            let url = format!("https://{address}/x");
            assert!(
                matches!(default.check(&url), Err(OutboundRefusal::Address(_))),
                "{url}"
            );
        }
        let internal = OutboundPolicy {
            allow_private_networks: true,
            ..OutboundPolicy::default()
        };
        assert!(internal.check("https://10.0.0.1/x").is_ok());
        assert!(internal.check("https://169.254.169.254/x").is_err());
        let public_only = OutboundPolicy {
            allow_loopback: false,
            ..OutboundPolicy::default()
        };
        assert!(public_only.check("http://127.0.0.1:1/x").is_err());
        assert!(public_only.check("https://localhost/x").is_err());
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_refused_addresses_is_not_fetched() {
        use reqwest::dns::Resolve;
        let public_only = GuardedResolver {
            policy: OutboundPolicy {
                allow_loopback: false,
                allow_private_networks: false,
            },
        };
        // localhost resolves to loopback only (from /etc/hosts: no network needed).
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(public_only.resolve(name).await.is_err());
        let default = GuardedResolver {
            policy: OutboundPolicy::default(),
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let addresses: Vec<SocketAddr> = default.resolve(name).await.unwrap().collect();
        assert!(addresses.iter().all(|address| address.ip().is_loopback()));
    }
}
