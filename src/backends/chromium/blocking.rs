//! Which subresources a browser does not load, as URL patterns.
//!
//! Chromium's `Network.setBlockedURLs` takes URL patterns and costs nothing per request once
//! set; intercepting each request to look at its type (`Fetch.requestPaused`) would cost a
//! DevTools round trip per image. So kinds are recognized by file extension (with or without a
//! query string): a picture served from a URL without one (`/avatar?id=3`) still loads.
//! Patterns are set once, when a tab is readied.

use crate::traits::ResourceKind;

/// The URL patterns that block `kinds` (by extension, query strings included) and `urls`.
pub(crate) fn patterns(kinds: &[ResourceKind], urls: &[String]) -> Vec<String> {
    let mut patterns: Vec<String> = kinds
        .iter()
        .flat_map(|kind| kind.extensions())
        .flat_map(|ext| [format!("*.{ext}"), format!("*.{ext}?*")])
        .chain(urls.iter().cloned())
        .collect();
    patterns.dedup();
    patterns
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
