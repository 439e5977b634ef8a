//! When a render needs a fresh browser context: the rule of [`Isolation`], on the site (scheme,
//! host and port) of the pages a context rendered.

use crate::traits::Isolation;

/// The site of `url`: scheme, host and port. `None` for what has no host (`about:`, `data:`,
/// `file:`).
pub(crate) fn site_of(url: &str) -> Option<String> {
    let origin = url::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Whether a page of `site` needs a fresh context under `isolation`, in a context that
/// `visited` pages already and whose last page was of `last_site`.
pub(crate) fn needs_fresh_context(
    isolation: Isolation,
    visited: bool,
    last_site: &Option<String>,
    site: &Option<String>,
) -> bool {
    match isolation {
        Isolation::Shared => false,
        Isolation::Page => visited,
        Isolation::Site => visited && last_site != site,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_is_scheme_host_and_port() {
        assert_eq!(
            site_of("https://Example.com/a?b").as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            site_of("http://127.0.0.1:8080/x").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_ne!(site_of("http://localhost:8080/"), site_of("http://127.0.0.1:8080/"));
        assert_eq!(site_of("about:blank"), None);
        assert_eq!(site_of("file:///tmp/a.html"), None);
    }

    #[test]
    fn a_fresh_context_when_the_isolation_says_so() {
        let (a, b) = (Some("http://a".to_string()), Some("http://b".to_string()));
        assert!(!needs_fresh_context(Isolation::Site, false, &None, &a));
        assert!(!needs_fresh_context(Isolation::Site, true, &a, &a));
        assert!(needs_fresh_context(Isolation::Site, true, &a, &b));
        assert!(needs_fresh_context(Isolation::Page, true, &a, &a));
        assert!(!needs_fresh_context(Isolation::Shared, true, &a, &b));
    }
}
