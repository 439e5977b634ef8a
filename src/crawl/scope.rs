//! Which discovered URLs belong to the crawl.
//!
//! A crawl starts from seed URLs and follows links; without a boundary it would follow them across
//! the whole web. [`ScopeRules`] draws that boundary around the seeds (same host, same registrable
//! domain, or under the same path prefix) and lets the user narrow it further with include and
//! exclude regexes. Every rejection names its reason ([`OutOfScope::as_str`]) so the crawl report
//! can say how many links were left out and why.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use url::{Host, Position, Url};

use super::normalize::normalize;

/// How far from its seeds a crawl may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The seed's host and port only: `docs.example.com` does not reach `example.com`.
    #[default]
    Host,
    /// Any host under the seed's registrable domain (`example.com`, `www.example.com`,
    /// `blog.example.com`), by the Public Suffix List, so `a.co.uk` never reaches `b.co.uk`.
    Domain,
    /// URLs under the seed's directory: for `https://a.com/docs/intro`, everything starting with
    /// `https://a.com/docs/`.
    Prefix,
}

impl Scope {
    /// The name used on the command line and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Host => "host",
            Scope::Domain => "domain",
            Scope::Prefix => "prefix",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "host" => Ok(Scope::Host),
            "domain" => Ok(Scope::Domain),
            "prefix" => Ok(Scope::Prefix),
            _ => Err(ScopeError::UnknownScope(s.to_owned())),
        }
    }
}

/// Why scope rules could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// A scope name other than `host`, `domain` or `prefix`.
    #[error("unknown crawl scope {0:?}: use one of \"host\", \"domain\" or \"prefix\"")]
    UnknownScope(String),
    /// An include or exclude pattern is not a valid regex.
    #[error(
        "invalid URL pattern {pattern:?}: {source}; fix the regex, or escape special characters (`\\.`, `\\?`) to match them literally"
    )]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What the regex compiler objected to.
        source: regex::Error,
    },
    /// No seeds were given, so nothing would be in scope.
    #[error("no seed URLs: give at least one http(s) URL to start the crawl from")]
    NoSeeds,
    /// A seed the crawler cannot fetch.
    #[error("seed {0:?} is not an http(s) URL with a host: give absolute http:// or https:// URLs as seeds")]
    BadSeed(String),
}

/// Why a URL is outside the crawl. [`as_str`](Self::as_str) gives stable names for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutOfScope {
    /// Not `http` or `https`.
    Scheme,
    /// Another host or port than every seed ([`Scope::Host`]).
    Host,
    /// Another registrable domain than every seed ([`Scope::Domain`]).
    Domain,
    /// Under no seed's path prefix ([`Scope::Prefix`]).
    Prefix,
    /// Matches an exclude pattern.
    Excluded,
    /// Include patterns were given and it matches none of them.
    NotIncluded,
}

impl OutOfScope {
    /// Stable snake_case name, used as a key in crawl reports.
    pub fn as_str(self) -> &'static str {
        match self {
            OutOfScope::Scheme => "scheme",
            OutOfScope::Host => "host",
            OutOfScope::Domain => "domain",
            OutOfScope::Prefix => "prefix",
            OutOfScope::Excluded => "excluded",
            OutOfScope::NotIncluded => "not_included",
        }
    }
}

impl fmt::Display for OutOfScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The crawl's boundary: built once from the seeds, then asked about every discovered URL.
#[derive(Debug, Clone)]
pub struct ScopeRules {
    scope: Scope,
    /// What each seed admits, in the form [`Scope`] compares.
    seeds: Vec<SeedKey>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SeedKey {
    /// Host and explicit port (`None` when it is the scheme's default), so `http://a.com` and
    /// `https://a.com` are one site.
    Host(String, Option<u16>),
    /// The registrable domain, or the exact host for IPs and hosts without one.
    Domain(String),
    /// The seed's directory without its scheme: `a.com/docs/`.
    Prefix(String),
}

impl ScopeRules {
    /// Builds the rules for `scope` around `seeds`.
    ///
    /// `include` and `exclude` are regexes searched (unanchored; use `^`/`$` to anchor) in the
    /// full normalized URL string. An exclude match always wins; an empty `include` admits
    /// everything the scope admits. Seeds are normalized first.
    pub fn new(scope: Scope, seeds: &[Url], include: &[String], exclude: &[String]) -> Result<Self, ScopeError> {
        if seeds.is_empty() {
            return Err(ScopeError::NoSeeds);
        }
        let seeds = seeds
            .iter()
            .map(|seed| {
                let seed = normalize(seed).ok_or_else(|| ScopeError::BadSeed(seed.to_string()))?;
                Ok(seed_key(scope, &seed))
            })
            .collect::<Result<Vec<_>, ScopeError>>()?;
        Ok(Self {
            scope,
            seeds,
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    /// The scope these rules were built with.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// `Ok` when `url` is in scope of at least one seed and passes the patterns.
    ///
    /// `url` should already be [normalized](super::normalize::normalize): patterns are matched
    /// against its string as given. A URL outside every seed's scope is reported as such even if
    /// it also matches an exclude pattern.
    pub fn check(&self, url: &Url) -> Result<(), OutOfScope> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(OutOfScope::Scheme);
        }
        let in_scope = match self.scope {
            Scope::Prefix => (self.seeds.iter()).any(|seed| matches!(seed, SeedKey::Prefix(p) if under_prefix(url, p))),
            Scope::Host | Scope::Domain => self.seeds.contains(&seed_key(self.scope, url)),
        };
        if !in_scope {
            return Err(match self.scope {
                Scope::Host => OutOfScope::Host,
                Scope::Domain => OutOfScope::Domain,
                Scope::Prefix => OutOfScope::Prefix,
            });
        }
        let text = url.as_str();
        if self.exclude.iter().any(|re| re.is_match(text)) {
            return Err(OutOfScope::Excluded);
        }
        if !self.include.is_empty() && !self.include.iter().any(|re| re.is_match(text)) {
            return Err(OutOfScope::NotIncluded);
        }
        Ok(())
    }
}

fn compile(patterns: &[String]) -> Result<Vec<Regex>, ScopeError> {
    patterns
        .iter()
        .map(|pattern| {
            Regex::new(pattern).map_err(|source| ScopeError::BadPattern {
                pattern: pattern.clone(),
                source,
            })
        })
        .collect()
}

fn seed_key(scope: Scope, url: &Url) -> SeedKey {
    let host = url.host_str().unwrap_or_default();
    match scope {
        Scope::Host => SeedKey::Host(host.to_owned(), url.port()),
        Scope::Domain => SeedKey::Domain(registrable_domain(url).unwrap_or(host).to_owned()),
        Scope::Prefix => {
            // Everything up to and including the path's last `/`: the seed's directory.
            let through_path = &url[Position::BeforeHost..Position::AfterPath];
            let dir_end = through_path.rfind('/').map_or(through_path.len(), |i| i + 1);
            SeedKey::Prefix(through_path[..dir_end].to_owned())
        }
    }
}

/// The registrable domain ("eTLD+1") of a DNS host; `None` for IP addresses and for hosts that
/// are themselves a public suffix or have no known one (`localhost`, `co.uk`).
fn registrable_domain(url: &Url) -> Option<&str> {
    match url.host()? {
        // IPs parse as `Host::Ipv4`/`Ipv6`; psl would otherwise call `0.1` the domain of 127.0.0.1.
        Host::Domain(domain) => {
            let domain = domain.strip_suffix('.').unwrap_or(domain);
            // psl applies the implicit `*` rule, so `foo` is a suffix and `a.foo` a domain;
            // a single label never has a registrable domain.
            psl::domain_str(domain).filter(|_| domain.contains('.'))
        }
        _ => None,
    }
}

/// Whether `url`, scheme aside, starts with `prefix`. The directory itself without its trailing
/// slash (`a.com/docs` for `a.com/docs/`) also counts: servers commonly redirect one to the other.
fn under_prefix(url: &Url, prefix: &str) -> bool {
    let rest = &url[Position::BeforeHost..];
    rest.starts_with(prefix)
        || prefix
            .strip_suffix('/')
            .is_some_and(|dir| dir.contains('/') && url[Position::BeforeHost..Position::AfterPath] == *dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn rules(scope: Scope, seeds: &[&str]) -> ScopeRules {
        let seeds: Vec<Url> = seeds.iter().map(|s| url(s)).collect();
        ScopeRules::new(scope, &seeds, &[], &[]).unwrap()
    }

    fn check(rules: &ScopeRules, s: &str) -> Result<(), OutOfScope> {
        rules.check(&url(s))
    }

    #[test]
    fn parses_scope_names() {
        assert_eq!("host".parse::<Scope>().unwrap(), Scope::Host);
        assert_eq!("Domain".parse::<Scope>().unwrap(), Scope::Domain);
        assert_eq!(" prefix ".parse::<Scope>().unwrap(), Scope::Prefix);
        assert_eq!(Scope::default(), Scope::Host);
        let err = "site".parse::<Scope>().unwrap_err().to_string();
        assert!(err.contains("\"site\"") && err.contains("host") && err.contains("domain") && err.contains("prefix"));
    }

    #[test]
    fn reason_names_are_stable() {
        let all = [
            (OutOfScope::Scheme, "scheme"),
            (OutOfScope::Host, "host"),
            (OutOfScope::Domain, "domain"),
            (OutOfScope::Prefix, "prefix"),
            (OutOfScope::Excluded, "excluded"),
            (OutOfScope::NotIncluded, "not_included"),
        ];
        for (reason, name) in all {
            assert_eq!(reason.as_str(), name);
            assert_eq!(reason.to_string(), name);
        }
    }

    #[test]
    fn host_scope_is_host_and_port_for_either_scheme() {
        let r = rules(Scope::Host, &["https://docs.example.com/start"]);
        assert_eq!(check(&r, "https://docs.example.com/other?x=1"), Ok(()));
        assert_eq!(check(&r, "http://docs.example.com/"), Ok(()));
        assert_eq!(check(&r, "https://DOCS.example.com:443/"), Ok(()));
        assert_eq!(check(&r, "https://example.com/"), Err(OutOfScope::Host));
        assert_eq!(check(&r, "https://api.docs.example.com/"), Err(OutOfScope::Host));
        assert_eq!(check(&r, "https://docs.example.com:8443/"), Err(OutOfScope::Host));
        assert_eq!(check(&r, "ftp://docs.example.com/"), Err(OutOfScope::Scheme));
        assert_eq!(check(&r, "mailto:a@docs.example.com"), Err(OutOfScope::Scheme));

        let r = rules(Scope::Host, &["http://localhost:3000/"]);
        assert_eq!(check(&r, "http://localhost:3000/a"), Ok(()));
        assert_eq!(check(&r, "http://localhost/a"), Err(OutOfScope::Host));
        assert_eq!(check(&r, "http://localhost:3001/a"), Err(OutOfScope::Host));
    }

    #[test]
    fn domain_scope_admits_subdomains() {
        let r = rules(Scope::Domain, &["https://www.example.com/"]);
        assert_eq!(check(&r, "https://example.com/"), Ok(()));
        assert_eq!(check(&r, "https://blog.example.com/post"), Ok(()));
        assert_eq!(check(&r, "http://a.b.example.com:8080/"), Ok(()));
        assert_eq!(check(&r, "https://example.org/"), Err(OutOfScope::Domain));
        assert_eq!(check(&r, "https://notexample.com/"), Err(OutOfScope::Domain));
        assert_eq!(check(&r, "https://example.com.evil.net/"), Err(OutOfScope::Domain));
    }

    #[test]
    fn domain_scope_respects_public_suffixes() {
        let r = rules(Scope::Domain, &["https://shop.example.co.uk/"]);
        assert_eq!(check(&r, "https://www.example.co.uk/"), Ok(()));
        assert_eq!(check(&r, "https://other.co.uk/"), Err(OutOfScope::Domain));
        assert_eq!(check(&r, "https://co.uk/"), Err(OutOfScope::Domain));

        // github.io is a public suffix: each user's site is its own domain.
        let r = rules(Scope::Domain, &["https://alice.github.io/"]);
        assert_eq!(check(&r, "https://docs.alice.github.io/"), Ok(()));
        assert_eq!(check(&r, "https://bob.github.io/"), Err(OutOfScope::Domain));
    }

    #[test]
    fn domain_scope_falls_back_to_exact_host() {
        let r = rules(Scope::Domain, &["http://127.0.0.1:8080/"]);
        assert_eq!(check(&r, "http://127.0.0.1/x"), Ok(()));
        assert_eq!(check(&r, "http://10.0.0.1/x"), Err(OutOfScope::Domain));
        assert_eq!(check(&r, "http://192.168.0.1/"), Err(OutOfScope::Domain));

        let r = rules(Scope::Domain, &["http://[::1]/"]);
        assert_eq!(check(&r, "http://[::1]:9000/"), Ok(()));
        assert_eq!(check(&r, "http://[::2]/"), Err(OutOfScope::Domain));

        let r = rules(Scope::Domain, &["http://localhost:3000/"]);
        assert_eq!(check(&r, "http://localhost/"), Ok(()));
        assert_eq!(check(&r, "http://foo/"), Err(OutOfScope::Domain));
        assert_eq!(check(&r, "http://a.localhost/"), Err(OutOfScope::Domain));
    }

    #[test]
    fn prefix_scope_is_the_seed_directory() {
        let r = rules(Scope::Prefix, &["https://a.com/docs/intro"]);
        assert_eq!(check(&r, "https://a.com/docs/"), Ok(()));
        assert_eq!(check(&r, "https://a.com/docs/api/x?y=1"), Ok(()));
        assert_eq!(check(&r, "http://a.com/docs/guide"), Ok(()));
        assert_eq!(check(&r, "https://a.com/docs"), Ok(()));
        assert_eq!(check(&r, "https://a.com/docs?x=1"), Ok(()));
        assert_eq!(check(&r, "https://a.com/docsx/"), Err(OutOfScope::Prefix));
        assert_eq!(check(&r, "https://a.com/blog/"), Err(OutOfScope::Prefix));
        assert_eq!(check(&r, "https://b.com/docs/"), Err(OutOfScope::Prefix));
        assert_eq!(check(&r, "https://a.com:8443/docs/"), Err(OutOfScope::Prefix));

        let r = rules(Scope::Prefix, &["https://a.com/docs/"]);
        assert_eq!(check(&r, "https://a.com/docs/intro"), Ok(()));
        assert_eq!(check(&r, "https://a.com/"), Err(OutOfScope::Prefix));

        // A root seed admits the whole host, but not hosts that merely start with its name.
        let r = rules(Scope::Prefix, &["https://a.com"]);
        assert_eq!(check(&r, "https://a.com/anything"), Ok(()));
        assert_eq!(check(&r, "https://a.com.evil.net/"), Err(OutOfScope::Prefix));
    }

    #[test]
    fn several_seeds_admit_the_union() {
        let r = rules(Scope::Prefix, &["https://a.com/docs/", "https://b.com/guide/"]);
        assert_eq!(check(&r, "https://a.com/docs/x"), Ok(()));
        assert_eq!(check(&r, "https://b.com/guide/y"), Ok(()));
        assert_eq!(check(&r, "https://b.com/docs/x"), Err(OutOfScope::Prefix));

        let r = rules(Scope::Host, &["https://a.com/", "https://b.com/"]);
        assert_eq!(check(&r, "https://b.com/z"), Ok(()));
        assert_eq!(check(&r, "https://c.com/z"), Err(OutOfScope::Host));
    }

    #[test]
    fn exclude_wins_over_include() {
        let seeds = [url("https://a.com/")];
        let include = vec![r"/docs/".to_owned()];
        let exclude = vec![r"\.pdf$".to_owned(), r"/docs/private/".to_owned()];
        let r = ScopeRules::new(Scope::Host, &seeds, &include, &exclude).unwrap();
        assert_eq!(check(&r, "https://a.com/docs/a"), Ok(()));
        assert_eq!(check(&r, "https://a.com/docs/a.pdf"), Err(OutOfScope::Excluded));
        assert_eq!(check(&r, "https://a.com/docs/private/x"), Err(OutOfScope::Excluded));
        assert_eq!(check(&r, "https://a.com/blog/"), Err(OutOfScope::NotIncluded));
        assert_eq!(check(&r, "https://b.com/docs/a"), Err(OutOfScope::Host));

        let r = ScopeRules::new(Scope::Host, &seeds, &[], &exclude).unwrap();
        assert_eq!(check(&r, "https://a.com/blog/"), Ok(()));
    }

    #[test]
    fn reports_bad_patterns_and_seeds() {
        let seeds = [url("https://a.com/")];
        let err = ScopeRules::new(Scope::Host, &seeds, &["(unclosed".to_owned()], &[]).unwrap_err();
        assert!(matches!(&err, ScopeError::BadPattern { pattern, .. } if pattern == "(unclosed"));
        assert!(err.to_string().contains("(unclosed") && err.to_string().contains("escape"));

        let err = ScopeRules::new(Scope::Host, &[], &[], &[]).unwrap_err();
        assert!(matches!(err, ScopeError::NoSeeds));

        let err = ScopeRules::new(Scope::Host, &[url("ftp://a.com/")], &[], &[]).unwrap_err();
        assert!(matches!(err, ScopeError::BadSeed(s) if s == "ftp://a.com/"));
    }
}
