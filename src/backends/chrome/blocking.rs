//! The network rules of a tab: subresources it does not load (by kind and by URL pattern) and
//! the extra headers it sends.
//!
//! Chromium's `Network.setBlockedURLs` takes URL patterns and costs nothing per request once
//! set; intercepting each request to look at its type (`Fetch.requestPaused`) would cost a
//! DevTools round trip per image, which headless_chrome's 100 ms polling makes ruinous. So kinds
//! are recognized by file extension (with or without a query string): a picture served from a
//! URL without one (`/avatar?id=3`) still loads. Patterns are set once, when a tab is readied.

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::Network;

use crate::error::BoxError;
use crate::traits::ResourceKind;

/// The URL patterns that block `kinds` (by extension, query strings included) and `urls`.
pub(super) fn patterns(kinds: &[ResourceKind], urls: &[String]) -> Vec<String> {
    let mut patterns: Vec<String> = kinds
        .iter()
        .flat_map(|kind| kind.extensions())
        .flat_map(|ext| [format!("*.{ext}"), format!("*.{ext}?*")])
        .chain(urls.iter().cloned())
        .collect();
    patterns.dedup();
    patterns
}

/// Tells `tab` not to load anything matching `blocked`, and to send `headers` with every
/// request. Both need the network domain on; nothing is sent when there is nothing to set.
pub(super) fn network_rules(tab: &Tab, blocked: &[String], headers: &[(String, String)]) -> Result<(), BoxError> {
    if blocked.is_empty() && headers.is_empty() {
        return Ok(());
    }
    tab.call_method(Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })?;
    if !blocked.is_empty() {
        tab.call_method(Network::SetBlockedURLs { urls: blocked.to_vec() })?;
    }
    if !headers.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
            .collect();
        tab.call_method(Network::SetExtraHTTPHeaders {
            headers: Network::Headers(Some(serde_json::Value::Object(map))),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_become_extension_patterns_beside_the_given_ones() {
        let got = patterns(&[ResourceKind::Stylesheet], &["*://ads.test/*".into()]);
        assert_eq!(got, ["*.css", "*.css?*", "*://ads.test/*"]);
        assert!(patterns(&[], &[]).is_empty());
    }
}
