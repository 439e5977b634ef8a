//! Page-level robots directives: `<meta name="robots">` and the `X-Robots-Tag` header.
//!
//! robots.txt says what may be fetched; these say what a fetched page may be used for. A
//! `noindex` page is not emitted, a `nofollow` page's links are not followed, and `none` means
//! both. Directives addressed to another crawler (`X-Robots-Tag: googlebot: noindex`) are not
//! riptide's.

/// What a page allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PageDirectives {
    /// The page must not be emitted.
    pub(crate) noindex: bool,
    /// The page's links must not be followed.
    pub(crate) nofollow: bool,
}

impl PageDirectives {
    /// The directives of the page's robots `<meta>` content (already riptide's or everyone's)
    /// and its `X-Robots-Tag` headers, for the product token `agent`.
    pub(crate) fn read(meta: Option<&str>, header: Option<&str>, agent: &str) -> Self {
        let mut directives = Self::default();
        for token in meta.into_iter().flat_map(|m| m.split(',')) {
            directives.apply(token);
        }
        // One header per line. In a header, `agent: a, b` addresses `a` and `b` (and what
        // follows, until another agent is named) to `agent`; tokens before any agent are
        // everyone's.
        for line in header.into_iter().flat_map(str::lines) {
            let mut ours = true;
            for token in line.split(',') {
                let token = match token.split_once(':') {
                    Some((name, rest)) if !name.trim().eq_ignore_ascii_case("unavailable_after") => {
                        ours = name.trim().eq_ignore_ascii_case(agent);
                        rest
                    }
                    _ => token,
                };
                if ours {
                    directives.apply(token);
                }
            }
        }
        directives
    }

    fn apply(&mut self, token: &str) {
        match token.trim().to_ascii_lowercase().as_str() {
            "noindex" => self.noindex = true,
            "nofollow" => self.nofollow = true,
            "none" => {
                self.noindex = true;
                self.nofollow = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_and_header_directives_combine() {
        let d = PageDirectives::read(Some("noindex, follow"), None, "riptide");
        assert_eq!((d.noindex, d.nofollow), (true, false));
        let d = PageDirectives::read(None, Some("NoFollow"), "riptide");
        assert_eq!((d.noindex, d.nofollow), (false, true));
        let d = PageDirectives::read(Some("none"), None, "riptide");
        assert_eq!((d.noindex, d.nofollow), (true, true));
        assert_eq!(PageDirectives::read(None, None, "riptide"), PageDirectives::default());
    }

    #[test]
    fn header_directives_for_another_agent_are_not_ours() {
        let d = PageDirectives::read(None, Some("googlebot: noindex, nofollow"), "riptide");
        assert_eq!(d, PageDirectives::default());
        let d = PageDirectives::read(None, Some("googlebot: noindex, riptide: nofollow"), "riptide");
        assert_eq!((d.noindex, d.nofollow), (false, true));
        let d = PageDirectives::read(None, Some("unavailable_after: 2020-01-01, noindex"), "riptide");
        assert!(d.noindex);
        // Each header line starts as everyone's again.
        let d = PageDirectives::read(None, Some("googlebot: noindex\nnofollow"), "riptide");
        assert_eq!((d.noindex, d.nofollow), (false, true));
    }
}
