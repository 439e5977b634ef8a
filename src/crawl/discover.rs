//! Fetching what a crawl reads about a site rather than extracts: robots.txt and sitemaps.
//!
//! These go through the crawler's own HTTP client, built like the static engine's (the same
//! user agent, headers, proxy and address policy), because they are not pages: they are never
//! extracted, retried under a learned timeout, or counted as the site's latency.

use std::time::Duration;

use url::Url;

use super::robots::{RobotsKind, RobotsRules, robots_url};
use super::sitemap::{Sitemap, parse_sitemap};

/// robots.txt is read up to this size (RFC 9309 asks for at least 500 KiB).
const ROBOTS_LIMIT: usize = 512 << 10;
/// A sitemap's compressed or plain body is read up to the protocol's 50 MiB.
const SITEMAP_LIMIT: usize = 50 << 20;
/// robots.txt and sitemaps get this long: they are small files.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The crawl's client for robots.txt and sitemaps, configured like the executor's static fetch.
pub(crate) fn client(config: &crate::config::RiptideConfig) -> crate::Result<reqwest::Client> {
    let addresses = crate::network::AddressPolicy::from_config(&config.network);
    crate::executor::static_fetch::http_client(
        &crate::executor::static_fetch::configured_user_agent(config),
        Duration::from_secs(10),
        &config.network,
        addresses,
    )
}

/// The robots.txt of `page`'s origin, read as RFC 9309 says: a 4xx allows everything, a 5xx
/// or no answer disallows everything until the next run asks again. With the rules, why they
/// forbid everything when they do (the status, or the network error).
pub(crate) async fn robots(client: &reqwest::Client, page: &Url, agent: &str) -> (RobotsRules, Option<String>) {
    robots_rules(&robots_response(client, page).await, agent)
}

/// The answer to robots.txt of `page`'s origin as it came (status and the first 512 KiB), or
/// why there was none: what a crawl across machines keeps for every worker to read.
pub(crate) async fn robots_response(client: &reqwest::Client, page: &Url) -> Result<(u16, Vec<u8>), String> {
    let url = robots_url(page);
    let answer = get(client, &url, ROBOTS_LIMIT).await;
    if let Err(e) = &answer {
        tracing::debug!(url = %url, error = %e, "robots.txt unreachable: the host is not crawled");
    }
    answer
}

/// The rules of a robots.txt answer (see [`robots`]).
pub(crate) fn robots_rules(answer: &Result<(u16, Vec<u8>), String>, agent: &str) -> (RobotsRules, Option<String>) {
    match answer {
        Ok((status, body)) => {
            let rules = RobotsRules::from_response(*status, body, agent);
            let why = matches!(rules.kind(), RobotsKind::Unreachable { .. }).then(|| format!("HTTP {status}"));
            (rules, why)
        }
        Err(e) => (RobotsRules::unreachable(), Some(e.clone())),
    }
}

/// One sitemap (or sitemap index), fetched and parsed; `Err` says why it could not be used.
pub(crate) async fn sitemap(client: &reqwest::Client, url: &Url) -> Result<Sitemap, String> {
    let (status, body) = get(client, url, SITEMAP_LIMIT).await?;
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}"));
    }
    // Gzip is recognized by its first bytes, whatever the server calls it.
    parse_sitemap(&body).map_err(|e| e.to_string())
}

/// GETs `url` with at most `limit` bytes of body (the rest is not read): the status and the
/// body.
async fn get(client: &reqwest::Client, url: &Url, limit: usize) -> Result<(u16, Vec<u8>), String> {
    let request = async {
        let mut response = client.get(url.clone()).send().await.map_err(|e| format!("{e:#}"))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{e:#}"))? {
            let room = limit.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= limit {
                break;
            }
        }
        Ok((status, body))
    };
    tokio::time::timeout(TIMEOUT, request)
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
}
