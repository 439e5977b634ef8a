//! [`AddressPolicy`]: which pages riptide may load, by scheme and by the addresses a host
//! resolves to.
//!
//! A crawler fed URLs by someone else (a server's clients, a link list) must not become a way
//! into the network it runs in: `http://169.254.169.254/` (cloud metadata), `http://localhost/`
//! admin pages, a public name that resolves to `10.0.0.5`, a redirect to any of those, or
//! `file:///etc/passwd`. The policy is checked where the decision is made: on the input, on the
//! addresses a host name resolves to (before connecting), and on every redirect. The CLI's
//! default allows everything, as a tool run by its own user may; a server must not.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

use crate::config::NetworkConfig;

/// Why an [`AddressPolicy`] refuses a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressRefusal {
    /// A `file://` URL or a local path, and `network.allow_file_urls` is off.
    #[error("local files are not allowed (network.allow_file_urls = false)")]
    FileUrl,
    /// A scheme riptide does not load.
    #[error("the {scheme}: scheme is not allowed")]
    Scheme {
        /// The scheme.
        scheme: String,
    },
    /// The URL's host is an address that is not public.
    #[error("{ip} is not a public address (network.allow_private_addresses = false)")]
    NotPublic {
        /// The address.
        ip: IpAddr,
    },
    /// The URL's host name resolves to an address that is not public.
    #[error("{host} resolves to {ip}, which is not a public address (network.allow_private_addresses = false)")]
    ResolvesToNotPublic {
        /// The host name.
        host: String,
        /// The address it resolved to.
        ip: IpAddr,
    },
    /// The URL's host name does not resolve, so its addresses cannot be checked.
    #[error("{host} does not resolve: {why}")]
    Unresolved {
        /// The host name.
        host: String,
        /// The resolver's error.
        why: String,
    },
}

/// Which pages may be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPolicy {
    /// `file://` URLs and local paths.
    pub allow_files: bool,
    /// Hosts on addresses that are not globally reachable: loopback, private (RFC 1918,
    /// unique-local), link-local (and so cloud metadata endpoints), carrier-grade NAT,
    /// unspecified, multicast, broadcast, documentation and reserved ranges.
    pub allow_private: bool,
    /// Hosts (names or addresses, as written in URLs) allowed whatever they resolve to: the
    /// intranet site a restricted crawler is meant to reach. Exact, case-insensitive matches.
    pub allowed_hosts: Vec<String>,
}

impl Default for AddressPolicy {
    fn default() -> Self {
        Self::PERMISSIVE
    }
}

impl AddressPolicy {
    /// Everything: what a command-line tool run by its own user may do.
    pub const PERMISSIVE: Self = Self {
        allow_files: true,
        allow_private: true,
        allowed_hosts: Vec::new(),
    };

    /// Only `http(s)` pages on public addresses: for input that comes from someone else.
    pub const PUBLIC_ONLY: Self = Self {
        allow_files: false,
        allow_private: false,
        allowed_hosts: Vec::new(),
    };

    /// The policy `[network]` describes.
    pub fn from_config(c: &NetworkConfig) -> Self {
        Self {
            allow_files: c.allow_file_urls,
            allow_private: c.allow_private_addresses,
            allowed_hosts: c.allowed_hosts.clone(),
        }
    }

    /// Whether this policy refuses anything at all (a permissive one needs no checks).
    pub fn restricts(&self) -> bool {
        !(self.allow_files && self.allow_private)
    }

    /// Whether `host` (as in a URL; IPv6 with or without brackets) is on the allow list.
    pub fn is_allowed_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed_hosts.iter().any(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .eq_ignore_ascii_case(host)
        })
    }

    /// Whether a host on `ip` may be loaded.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.allow_private || is_global(ip)
    }

    /// Checks what can be checked without DNS: the scheme, and the host when it is an address.
    /// `Err` says why the URL is refused.
    pub fn check_url(&self, url: &Url) -> Result<(), AddressRefusal> {
        match url.scheme() {
            "file" if !self.allow_files => return Err(AddressRefusal::FileUrl),
            "http" | "https" | "file" => {}
            other => {
                return Err(AddressRefusal::Scheme {
                    scheme: other.to_string(),
                });
            }
        }
        if url.host_str().is_some_and(|h| self.is_allowed_host(h)) {
            return Ok(());
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        self.check_ip(ip)
    }

    /// `Err` if `ip` is refused, saying why.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), AddressRefusal> {
        if self.allows_ip(ip) {
            Ok(())
        } else {
            Err(AddressRefusal::NotPublic { ip })
        }
    }

    /// Checks a URL fully, resolving its host name (blocking: for threads that may block).
    pub fn check_url_resolving(&self, url: &Url) -> Result<(), AddressRefusal> {
        self.check_url(url)?;
        let Some(url::Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        if self.allow_private || self.is_allowed_host(host) {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs =
            std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).map_err(|e| AddressRefusal::Unresolved {
                host: host.to_string(),
                why: e.to_string(),
            })?;
        for addr in addrs {
            if !self.allows_ip(addr.ip()) {
                return Err(AddressRefusal::ResolvesToNotPublic {
                    host: host.to_string(),
                    ip: addr.ip(),
                });
            }
        }
        Ok(())
    }
}

/// Whether `ip` is globally reachable (what `IpAddr::is_global` will say once it is stable).
fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_global_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(ip),
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Carrier-grade NAT, 100.64.0.0/10.
        || (a == 100 && (b & 0xc0) == 64)
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b & 0xfe) == 18)
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // NAT64 of any IPv4 address, 64:ff9b::/96: decided by the embedded address.
        || (ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && {
            let [.., hi, lo] = ip.segments();
            !is_global_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_recognised() {
        let refused = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ];
        let allowed = [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ];
        let policy = AddressPolicy::PUBLIC_ONLY;
        for ip in refused {
            assert!(!policy.allows_ip(ip.parse().expect(ip)), "{ip} refused");
            assert!(AddressPolicy::PERMISSIVE.allows_ip(ip.parse().expect(ip)));
        }
        for ip in allowed {
            assert!(policy.allows_ip(ip.parse().expect(ip)), "{ip} allowed");
        }
    }

    #[test]
    fn urls_are_checked_by_scheme_and_literal_address() {
        let policy = AddressPolicy::PUBLIC_ONLY;
        let check = |u: &str| policy.check_url(&Url::parse(u).expect(u));
        assert!(check("https://example.com/").is_ok());
        assert!(check("http://[::1]:8080/").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data/").is_err());
        assert_eq!(check("file:///etc/passwd"), Err(AddressRefusal::FileUrl));
        assert!(
            check("file:///etc/passwd")
                .unwrap_err()
                .to_string()
                .contains("allow_file_urls")
        );
        assert!(check("ftp://example.com/").is_err());
        assert!(
            AddressPolicy::PERMISSIVE
                .check_url(&Url::parse("file:///etc/hostname").expect("url"))
                .is_ok()
        );
        let resolving = policy.check_url_resolving(&Url::parse("http://localhost:1/").expect("url"));
        let refusal = resolving.unwrap_err();
        assert!(
            matches!(refusal, AddressRefusal::ResolvesToNotPublic { .. }),
            "{refusal:?}"
        );
        assert!(refusal.to_string().contains("localhost resolves to"));
    }
}
