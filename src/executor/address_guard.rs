//! The static engine's side of the [`AddressPolicy`]: a DNS resolver that drops the addresses
//! the policy refuses (so the client never connects to them, whatever name led there), and a
//! redirect policy that checks every hop's URL. Installed only when the policy refuses
//! something; the permissive default keeps reqwest's own resolver and redirects.

use std::net::{SocketAddr, ToSocketAddrs};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::policies::AddressPolicy;

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
            let addrs: Vec<SocketAddr> = tokio::task::spawn_blocking(move || (lookup.as_str(), 0).to_socket_addrs())
                .await
                .map_err(|e| Box::new(std::io::Error::other(e)) as Box<dyn std::error::Error + Send + Sync>)??
                .collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| trusted || policy.allows_ip(a.ip()))
                .collect();
            if allowed.is_empty() && !addrs.is_empty() {
                let refused = addrs.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ");
                return Err(Box::new(Refused(format!(
                    "{host} resolves only to addresses the address policy refuses ({refused}; network.allow_private_addresses = false)"
                ))) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Follows up to [`MAX_REDIRECTS`] redirects whose URLs `policy` allows.
pub(crate) fn redirect_policy(policy: AddressPolicy) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        match policy.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(why) => {
                let refused = Refused(format!("a redirect to {} is refused: {why}", attempt.url()));
                attempt.error(refused)
            }
        }
    })
}

/// The policy's refusal somewhere in `e`'s chain of causes, if that is what failed.
pub(crate) fn refusal<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e Refused> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<Refused>() {
            return Some(refused);
        }
        cause = c.source();
    }
    None
}
