//! The static engine's side of the [`AddressPolicy`]: a DNS resolver that drops the addresses
//! the policy refuses (so the client never connects to them, whatever name led there), and a
//! redirect policy that checks every hop's URL (installed only when the policy refuses
//! something).
//!
//! The resolver is riptide's own even under the permissive default, so that a name that does not
//! resolve comes back as a [`ResolveFailed`] in the error chain: the fetch classifies it as DNS
//! by its type, never by reading reqwest's message.

use std::net::{SocketAddr, ToSocketAddrs};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::network::AddressPolicy;

/// How many redirects a fetch follows (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// Why the address policy refused a connection or a redirect; found again in the error chain
/// to classify the failure.
#[derive(Debug)]
pub(crate) struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// A name that did not resolve (or resolved to nothing): found again in the error chain to
/// classify the failure as DNS.
#[derive(Debug)]
pub(crate) struct ResolveFailed {
    host: String,
    source: Option<std::io::Error>,
}

impl std::fmt::Display for ResolveFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(e) => write!(f, "{} does not resolve: {e}", self.host),
            None => write!(f, "{} resolves to no address", self.host),
        }
    }
}

impl std::error::Error for ResolveFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Resolves with the system resolver (on a blocking thread, as reqwest's own does), then keeps
/// only the addresses `policy` allows.
pub(crate) struct GuardedResolver(pub AddressPolicy);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let trusted = policy.is_allowed_host(&host);
            let lookup = host.clone();
            let resolved = tokio::task::spawn_blocking(move || (lookup.as_str(), 0).to_socket_addrs())
                .await
                .map_err(|e| Box::new(std::io::Error::other(e)) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Vec<SocketAddr> = match resolved {
                Ok(addrs) => addrs.collect(),
                Err(e) => return Err(Box::new(ResolveFailed { host, source: Some(e) }) as _),
            };
            if addrs.is_empty() {
                return Err(Box::new(ResolveFailed { host, source: None }) as _);
            }
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| trusted || policy.allows_ip(a.ip()))
                .collect();
            if allowed.is_empty() {
                let refused = addrs.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ");
                return Err(Box::new(Refused(format!(
                    "{host} resolves only to addresses the address policy refuses ({refused}; network.allow_private_addresses = false)"
                ))) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Follows up to [`MAX_REDIRECTS`] redirects whose URLs `policy` allows. Behind a proxy
/// (`proxied`) the client never resolves a page's host, so each hop's host is resolved here,
/// blocking the thread for one lookup: reqwest's redirect policies are synchronous.
pub(crate) fn redirect_policy(policy: AddressPolicy, proxied: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        let verdict = if proxied {
            policy.check_url_resolving(attempt.url())
        } else {
            policy.check_url(attempt.url())
        };
        match verdict {
            Ok(()) => attempt.follow(),
            Err(why) => {
                let refused = Refused(format!("a redirect to {} is refused: {why}", attempt.url()));
                attempt.error(refused)
            }
        }
    })
}

/// `e` and its causes, including the errors an `io::Error` wraps (whose `source` skips them).
pub(crate) fn causes<'e>(e: &'e (dyn std::error::Error + 'static)) -> Vec<&'e (dyn std::error::Error + 'static)> {
    let mut all = Vec::new();
    let mut pending = vec![e];
    while let Some(c) = pending.pop() {
        all.push(c);
        if let Some(inner) = c.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            pending.push(inner);
        }
        if let Some(next) = c.source() {
            pending.push(next);
        }
    }
    all
}

/// The first error of type `T` among `e`'s [`causes`].
pub(crate) fn find_in_chain<'e, T: std::error::Error + 'static>(
    e: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    causes(e).into_iter().find_map(|c| c.downcast_ref::<T>())
}
