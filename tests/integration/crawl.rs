//! The crawler end to end against real local servers (several hosts as distinct loopback
//! addresses), with real reqwest, real wasmtime and, for the page whose links only a render
//! shows, real Chromium.
#![cfg(all(feature = "wasmtime", feature = "crawl"))]

use crate::{common, support};

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use riptide::backends::no_browser::NoBrowser;
use riptide::crawl::{CrawlEvent, CrawlFailure, CrawlOptions, CrawlReport, CrawledPage, Crawler, FoundVia, TrapLimits};
use riptide::{BoxExecutor, EngineChoice, RiptideConfig};
use support::local_server::{LocalServer, Reply};

fn config() -> RiptideConfig {
    let mut c = RiptideConfig::default();
    let t = &mut c.optimizations.adaptive_timeout;
    (t.default_timeout_secs, t.max_timeout_secs, t.max_retries) = (10, 30, 1);
    c.optimizations.browser_pool.max_instances = 2;
    c.optimizations.browser_pool.target_available = 1;
    c
}

fn static_executor() -> BoxExecutor {
    common::executor_builder(NoBrowser, config())
        .build()
        .expect("executor")
        .boxed()
}

/// A page with its own text (so no two pages share content) and these links.
fn page(title: &str, links: &[&str]) -> String {
    let anchors: String = links
        .iter()
        .map(|l| format!("<li><a href=\"{l}\">{l}</a></li>"))
        .collect();
    format!(
        "<!doctype html><html><head><title>{title}</title></head><body><article><h1>{title}</h1>\
         <p>This is the page called {title}. It has a paragraph of its own, long enough to read as \
         the content of the page, and it says {title} twice: {title}.</p></article>\
         <nav><ul>{anchors}</ul></nav></body></html>"
    )
}

/// Everything a crawl streamed, and its final report.
struct Outcome {
    pages: Vec<CrawledPage>,
    failures: Vec<CrawlFailure>,
    report: CrawlReport,
}

impl Outcome {
    /// Emitted page paths (of `server`), sorted.
    fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .pages
            .iter()
            .map(|p| {
                url::Url::parse(&p.content.url)
                    .map(|u| u.path().to_string())
                    .unwrap_or_default()
            })
            .collect();
        paths.sort();
        paths
    }

    fn page(&self, path: &str) -> &CrawledPage {
        self.pages
            .iter()
            .find(|p| p.content.url.ends_with(path))
            .unwrap_or_else(|| panic!("{path} emitted; got {:?}", self.paths()))
    }

    fn skipped(&self, reason: &str) -> u64 {
        self.report.skipped.get(reason).copied().unwrap_or(0)
    }
}

async fn crawl(executor: BoxExecutor, options: CrawlOptions, seeds: &[String]) -> Outcome {
    let mut crawl = Crawler::new(executor, options)
        .start(seeds.to_vec())
        .expect("crawl starts");
    let (mut pages, mut failures) = (Vec::new(), Vec::new());
    while let Some(event) = crawl.next().await {
        match event {
            CrawlEvent::Page(page) => pages.push(page),
            CrawlEvent::Failed(failure) => failures.push(failure),
            other => panic!("no recrawl here: {other:?}"),
        }
    }
    let report = crawl.report();
    Outcome {
        pages,
        failures,
        report,
    }
}

fn static_options() -> CrawlOptions {
    CrawlOptions::new().engine(EngineChoice::Static).concurrency(4)
}

/// How many times each path was requested.
fn requests(server: &LocalServer) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in server.received() {
        *counts.entry(r.target.clone()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_is_crawled_whole_and_each_page_fetched_once() {
    let server = LocalServer::start(|target| match target {
        "/" => Reply::Html(page(
            "Home",
            &[
                "/docs/",
                "/docs/a",
                "/blog/?utm_source=x",
                "#top",
                "mailto:x@y.z",
                "/docs/../docs/a#frag",
            ],
        )),
        "/docs/" => Reply::Html(page("Docs", &["a", "b", "/", "/DOCS/../docs/b?"])),
        "/docs/a" => Reply::Html(page("A", &["b", "./c", "/docs/a?PHPSESSID=1234"])),
        "/docs/b" => Reply::Html(page("B", &["/docs/a", "/docs/c#x"])),
        "/docs/c" => Reply::Html(page("C", &["/"])),
        "/blog/" => Reply::Html(page("Blog", &["/docs/"])),
        _ => Reply::NotFound,
    })
    .expect("server");
    let out = crawl(static_executor(), static_options(), &[server.url("/")]).await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    assert_eq!(out.paths(), ["/", "/blog/", "/docs/", "/docs/a", "/docs/b", "/docs/c"]);
    let requested = requests(&server);
    for path in ["/", "/blog/", "/docs/", "/docs/a", "/docs/b", "/docs/c"] {
        assert_eq!(requested.get(path), Some(&1), "{path} fetched once: {requested:?}");
    }
    assert_eq!(requested.get("/robots.txt"), Some(&1));
    let home = out.page("/");
    assert_eq!(
        (home.depth, home.parent.as_deref(), home.found_via),
        (0, None, FoundVia::Seed)
    );
    // Reached first from /docs/a (depth 1) or from /docs/b (depth 2), whichever finished first.
    let c = out.page("/docs/c");
    let parent = c.parent.as_deref().unwrap_or_default();
    let expected_depth = if parent.ends_with("/docs/a") { 2 } else { 3 };
    assert!(parent.ends_with("/docs/a") || parent.ends_with("/docs/b"), "{parent}");
    assert_eq!((c.depth, c.found_via), (expected_depth, FoundVia::Link));
    assert_eq!(out.report.emitted, 6);
    assert_eq!(out.report.ended.as_deref(), Some("done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_txt_is_obeyed_per_rfc_9309() {
    let robots = "User-agent: *\nDisallow: /\n\n\
                  User-agent: riptide\nDisallow: /private\nAllow: /private/open\nDisallow: /*.pdf$\nDisallow: /end$\n";
    let server = LocalServer::start(move |target| match target {
        "/robots.txt" => Reply::Data {
            content_type: "text/plain",
            body: robots.as_bytes().to_vec(),
        },
        "/" => Reply::Html(page(
            "Home",
            &[
                "/private/x",
                "/private/open/y",
                "/file.pdf",
                "/file.pdf?x=1",
                "/end",
                "/end/more",
                "/public",
            ],
        )),
        "/private/open/y" => Reply::Html(page("Open", &[])),
        "/file.pdf?x=1" => Reply::Html(page("Query", &[])),
        "/end/more" => Reply::Html(page("More", &[])),
        "/public" => Reply::Html(page("Public", &[])),
        _ => Reply::Html(page("Forbidden fruit", &[])),
    })
    .expect("server");
    let out = crawl(static_executor(), static_options(), &[server.url("/")]).await;
    // The riptide group applies (not `*`), the longest match wins, `$` anchors the end.
    assert_eq!(
        out.paths(),
        ["/", "/end/more", "/file.pdf", "/private/open/y", "/public"]
    );
    let requested = requests(&server);
    for forbidden in ["/private/x", "/file.pdf", "/end"] {
        assert!(
            !requested.contains_key(forbidden),
            "{forbidden} requested: {requested:?}"
        );
    }
    assert_eq!(out.skipped("robots"), 3, "{:?}", out.report.skipped);
    assert_eq!(out.report.robots_fetches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_robots_txt_allows_all_and_an_erroring_one_allows_nothing() {
    let open = LocalServer::start(|target| match target {
        "/robots.txt" => Reply::NotFound,
        "/" => Reply::Html(page("Open home", &["/a"])),
        "/a" => Reply::Html(page("Open a", &[])),
        _ => Reply::NotFound,
    })
    .expect("server");
    let closed = LocalServer::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), |target| match target {
        "/robots.txt" => Reply::Status {
            status: 503,
            content_type: "text/plain",
            headers: vec![],
            body: b"down".to_vec(),
        },
        _ => Reply::Html(page("Closed", &[])),
    })
    .expect("second host");
    let seeds = [open.url("/"), closed.url("/")];
    let out = crawl(static_executor(), static_options(), &seeds).await;
    assert_eq!(out.paths(), ["/", "/a"]);
    assert!(out.pages.iter().all(|p| p.content.url.starts_with(&open.url(""))));
    // The second host's silence is a row, not a quiet skip.
    assert_eq!(out.failures.len(), 1, "{:?}", out.failures);
    assert_eq!(out.failures[0].error.code(), "crawl.robots_unreachable");
    assert!(
        out.failures[0].error.to_string().contains("HTTP 503"),
        "{}",
        out.failures[0].error
    );
    let asked: Vec<String> = closed.received().into_iter().map(|r| r.target).collect();
    assert_eq!(asked, ["/robots.txt"], "nothing but robots.txt was requested");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sitemap_indexes_gzip_and_text_sitemaps_add_pages_no_link_reaches() {
    let base: Arc<std::sync::OnceLock<String>> = Arc::default();
    let origin = base.clone();
    let server = LocalServer::start(move |target| {
        let base = origin.get().cloned().unwrap_or_default();
        match target {
            "/robots.txt" => Reply::Data {
                content_type: "text/plain",
                body: format!("User-agent: *\nAllow: /\nSitemap: {base}/sitemap_index.xml\n").into_bytes(),
            },
            "/sitemap_index.xml" => Reply::Data {
                content_type: "application/xml",
                body: format!(
                    "<?xml version=\"1.0\"?><sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                     <sitemap><loc>{base}/pages.xml.gz</loc></sitemap>\
                     <sitemap><loc> {base}/more.txt </loc></sitemap></sitemapindex>"
                )
                .into_bytes(),
            },
            "/pages.xml.gz" => Reply::Data {
                content_type: "application/gzip",
                body: gzip(
                    format!(
                        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                         <url><loc>{base}/orphan-1</loc><lastmod>2026-01-01</lastmod></url>\
                         <url><loc>{base}/</loc></url><url><loc>http://elsewhere.invalid/x</loc></url></urlset>"
                    )
                    .as_bytes(),
                ),
            },
            "/more.txt" => Reply::Data {
                content_type: "text/plain",
                body: format!("{base}/orphan-2\n\n{base}/orphan-3\n").into_bytes(),
            },
            "/" => Reply::Html(page("Home", &["/linked"])),
            "/linked" => Reply::Html(page("Linked", &[])),
            "/orphan-1" => Reply::Html(page("Orphan one", &[])),
            "/orphan-2" => Reply::Html(page("Orphan two", &[])),
            "/orphan-3" => Reply::Html(page("Orphan three", &[])),
            _ => Reply::NotFound,
        }
    })
    .expect("server");
    base.set(server.url("")).expect("set once");
    let out = crawl(static_executor(), static_options(), &[server.url("/")]).await;
    assert_eq!(out.paths(), ["/", "/linked", "/orphan-1", "/orphan-2", "/orphan-3"]);
    assert_eq!(out.page("/orphan-1").found_via, FoundVia::Sitemap);
    assert_eq!(out.page("/orphan-3").found_via, FoundVia::Sitemap);
    assert_eq!(out.page("/").found_via, FoundVia::Seed, "a seed stays a seed");
    assert_eq!(out.report.sitemaps_fetched, 3);
    assert_eq!(out.report.sitemap_urls, 5);
    assert!(
        out.skipped("host") >= 1,
        "the other host's URL: {:?}",
        out.report.skipped
    );

    // Without sitemaps only what links reach.
    let out = crawl(static_executor(), static_options().sitemaps(false), &[server.url("/")]).await;
    assert_eq!(out.paths(), ["/", "/linked"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_are_cut_early_and_counted() {
    let server = LocalServer::start(|target| {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        match path {
            "/" => Reply::Html(page(
                "Home",
                &["/calendar?day=0", "/loop/", &format!("/long?{}", "x".repeat(300))],
            )),
            // An endless calendar: each day links to the next.
            "/calendar" => {
                let day: u64 = query.trim_start_matches("day=").parse().unwrap_or(0);
                Reply::Html(page(&format!("Day {day}"), &[&format!("/calendar?day={}", day + 1)]))
            }
            // A relative link that nests forever: /loop/a/b/, /loop/a/b/a/b/, ...
            p if p.starts_with("/loop/") => Reply::Html(page(&format!("Loop {p}"), &["a/b/"])),
            _ => Reply::Html(page(&format!("Other {target}"), &[])),
        }
    })
    .expect("server");
    let traps = TrapLimits {
        max_url_len: 200,
        max_query_variants: 10,
        max_repeated_segments: 2,
    };
    let out = crawl(static_executor(), static_options().traps(traps), &[server.url("/")]).await;
    assert_eq!(out.report.ended.as_deref(), Some("done"), "the crawl ended by itself");
    let days = out.pages.iter().filter(|p| p.content.url.contains("/calendar")).count();
    assert_eq!(days, 10, "the query budget of /calendar");
    assert_eq!(out.skipped("query_variants"), 1, "{:?}", out.report.skipped);
    assert_eq!(out.skipped("url_too_long"), 1);
    assert_eq!(out.skipped("repeated_segments"), 1);
    let loops: Vec<&str> = out
        .pages
        .iter()
        .map(|p| p.content.url.as_str())
        .filter(|u| u.contains("/loop/"))
        .collect();
    assert!(loops.len() <= 3, "{loops:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_canonicals_and_copies_collapse_to_one_page() {
    let server = LocalServer::start(|target| match target {
        "/" => Reply::Html(page("Home", &["/old", "/print", "/copy", "/new"])),
        "/old" => Reply::Redirect("/new"),
        "/new" => Reply::Html(page("The article", &[])),
        "/print" => Reply::Html(
            "<html><head><title>Print</title><link rel=\"canonical\" href=\"/new\"></head>\
             <body><p>The printable version of the article, with a paragraph of its own.</p></body></html>"
                .into(),
        ),
        "/copy" => Reply::Html(page("The article", &[])),
        _ => Reply::NotFound,
    })
    .expect("server");
    let out = crawl(static_executor(), static_options().concurrency(1), &[server.url("/")]).await;
    assert_eq!(out.paths(), ["/", "/new"], "{:?}", out.report.skipped);
    let new = out.page("/new");
    assert_eq!(new.found_via, FoundVia::Redirect, "reached first through /old");
    assert!(new.parent.as_deref().is_some_and(|p| p.ends_with("/old")));
    // /print names /new canonical, /copy is /new's content, and /new itself was brought by the
    // redirect: cut without a fetch.
    assert_eq!(out.skipped("canonical"), 1, "{:?}", out.report.skipped);
    assert_eq!(out.skipped("duplicate_content"), 1);
    assert_eq!(out.skipped("redirect_seen"), 1);
    assert_eq!(requests(&server).get("/new"), Some(&1), "one page, one fetch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nofollow_and_noindex_are_honoured() {
    let server = LocalServer::start(|target| match target {
        "/" => Reply::Html(
            "<html><head><title>Home</title></head><body><p>The home page of a small site.</p>\
             <a href=\"/sponsored\" rel=\"sponsored nofollow\">ad</a> <a href=\"/hidden\">hidden</a> \
             <a href=\"/header\">header</a> <a href=\"/meta-none\">none</a></body></html>"
                .into(),
        ),
        "/hidden" => Reply::Html(
            "<html><head><title>Hidden</title><meta name=\"robots\" content=\"noindex\"></head>\
             <body><p>Not to be indexed, but its links are followed.</p><a href=\"/behind\">behind</a></body></html>"
                .into(),
        ),
        "/behind" => Reply::Html(page("Behind", &[])),
        "/header" => Reply::HtmlWithHeaders {
            html: page("Header", &["/not-followed"]),
            headers: vec![("x-robots-tag", "otherbot: noindex"), ("x-robots-tag", "nofollow")],
        },
        "/meta-none" => Reply::Html(
            "<html><head><meta name=\"riptide\" content=\"none\"><title>None</title></head>\
             <body><p>Neither indexed nor followed.</p><a href=\"/not-followed-either\">x</a></body></html>"
                .into(),
        ),
        _ => Reply::Html(page(&format!("Should not be fetched: {target}"), &[])),
    })
    .expect("server");
    let out = crawl(static_executor(), static_options(), &[server.url("/")]).await;
    assert_eq!(out.paths(), ["/", "/behind", "/header"]);
    let requested = requests(&server);
    for never in ["/sponsored", "/not-followed", "/not-followed-either"] {
        assert!(!requested.contains_key(never), "{never} requested: {requested:?}");
    }
    assert_eq!(out.skipped("noindex"), 2, "{:?}", out.report.skipped);
    assert!(out.skipped("nofollow") >= 3, "{:?}", out.report.skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_seeds_errors_and_non_html_are_rows_and_the_crawl_goes_on() {
    let server = LocalServer::start(|target| match target {
        "/" => Reply::Html(page("Home", &["/broken", "/report.pdf", "/fine", "/missing"])),
        "/broken" => Reply::Status {
            status: 500,
            content_type: "text/html",
            headers: vec![],
            body: b"oops".to_vec(),
        },
        "/report.pdf" => Reply::Data {
            content_type: "application/pdf",
            body: b"%PDF-1.4".to_vec(),
        },
        "/fine" => Reply::Html(page("Fine", &[])),
        _ => Reply::NotFound,
    })
    .expect("server");
    // A port nothing listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let seeds = ["not a url".to_string(), format!("http://{closed}/"), server.url("/")];
    let mut config = config();
    config.optimizations.adaptive_timeout.max_retries = 0;
    let executor = common::executor_builder(NoBrowser, config)
        .build()
        .expect("executor")
        .boxed();
    let out = crawl(executor, static_options(), &seeds).await;
    assert_eq!(out.paths(), ["/", "/fine"]);
    let mut codes: BTreeMap<String, String> = BTreeMap::new();
    for f in &out.failures {
        codes.insert(f.url.clone(), f.error.code().to_string());
    }
    assert_eq!(codes.get("not a url").map(String::as_str), Some("crawl.seed"));
    assert_eq!(
        codes.get(&format!("http://{closed}/")).map(String::as_str),
        Some("crawl.robots_unreachable")
    );
    assert_eq!(
        codes.get(&server.url("/broken")).map(String::as_str),
        Some("retry.exhausted")
    );
    assert_eq!(
        codes.get(&server.url("/report.pdf")).map(String::as_str),
        Some("fetch.not_html")
    );
    assert_eq!(
        codes.get(&server.url("/missing")).map(String::as_str),
        Some("fetch.http_status")
    );
    assert_eq!(out.report.failed, 5, "{codes:?}");
    let record = out.failures[0].to_record();
    assert!(
        record.get("found_via").is_some() && record.get("hint").is_some(),
        "{record}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_limits_and_delay_hold_and_hosts_are_served_fairly() {
    let links: Vec<String> = (0..6).map(|i| format!("/p{i}")).collect();
    let index = page("Index", &links.iter().map(String::as_str).collect::<Vec<_>>());
    let slow = LocalServer::start(move |target| match target {
        "/" => Reply::Html(index.clone()),
        other => Reply::Html(page(&format!("Slow {other}"), &[])),
    })
    .expect("server");
    let fast = LocalServer::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), |target| match target {
        "/" => Reply::Html(page("Fast index", &["/f1", "/f2", "/f3"])),
        other => Reply::Html(page(&format!("Fast {other}"), &[])),
    })
    .expect("server");
    let options = static_options().per_host(1).delay(Duration::from_millis(200));
    let out = crawl(static_executor(), options, &[slow.url("/"), fast.url("/")]).await;
    assert_eq!(out.pages.len(), 11);
    for server in [&slow, &fast] {
        // Every request: robots.txt and /sitemap.xml take the host's turn like pages.
        let pages = server.received();
        for pair in pages.windows(2) {
            let gap = pair[1].at.duration_since(pair[0].at);
            assert!(
                gap >= Duration::from_millis(195),
                "{} then {} after {gap:?}",
                pair[0].target,
                pair[1].target
            );
        }
    }
    assert!(out.report.delays_applied >= 8, "{:?}", out.report);
    // Fair turns: the fast host finished long before the slow host's last page.
    let last_fast = fast.received().last().map(|r| r.at).expect("requests");
    let last_slow = slow.received().last().map(|r| r.at).expect("requests");
    assert!(last_fast < last_slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_asks_to_slow_down_is_backed_off_and_its_page_fetched_later() {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let server = LocalServer::start(move |target| match target {
        "/" => Reply::Html(page("Home", &["/busy"])),
        "/busy" if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 => Reply::Status {
            status: 429,
            content_type: "text/plain",
            headers: vec![("retry-after", "3")],
            body: b"slow down".to_vec(),
        },
        "/busy" => Reply::Html(page("Busy", &[])),
        _ => Reply::NotFound,
    })
    .expect("server");
    let mut config = config();
    config.optimizations.adaptive_timeout.max_retries = 0;
    let executor = common::executor_builder(NoBrowser, config)
        .build()
        .expect("executor")
        .boxed();
    let out = crawl(executor, static_options(), &[server.url("/")]).await;
    assert_eq!(out.paths(), ["/", "/busy"], "{:?} {:?}", out.failures, out.report);
    assert_eq!(out.report.backoffs, 2, "{:?}", out.report);
    // Its Retry-After (3 s) was honoured: more than the back-off's own 2 s the first time.
    let busy: Vec<_> = server.received().into_iter().filter(|r| r.target == "/busy").collect();
    assert_eq!(busy.len(), 3);
    for pair in busy.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(2950), "asked again after {gap:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_stop_the_crawl_and_say_why() {
    let server = LocalServer::start(|target| {
        let n: u64 = target.trim_start_matches('/').parse().unwrap_or(0);
        Reply::Html(page(
            &format!("Page {n}"),
            &[&format!("/{}", n + 1), &format!("/{}", n + 2)],
        ))
    })
    .expect("server");
    let out = crawl(static_executor(), static_options().max_pages(5), &[server.url("/0")]).await;
    assert_eq!(out.pages.len(), 5);
    assert_eq!(out.report.ended.as_deref(), Some("max_pages"));

    let out = crawl(static_executor(), static_options().max_depth(2), &[server.url("/0")]).await;
    assert_eq!(out.paths(), ["/0", "/1", "/2", "/3", "/4"]);
    assert!(out.pages.iter().all(|p| p.depth <= 2));
    assert!(out.skipped("depth") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_with_a_state_file_resumes_where_it_stopped() {
    let server = LocalServer::start(|target| {
        let n: u64 = target.trim_start_matches('/').parse().unwrap_or(0);
        let links: Vec<String> = (1..=3).map(|k| format!("/{}", n * 3 + k)).filter(|_| n < 13).collect();
        Reply::Html(page(
            &format!("Node {n}"),
            &links.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
    })
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("tree.redb");
    let options = || static_options().state_file(&state).concurrency(2);
    // The first run stops after 10 pages (dropping the crawl keeps what was handled).
    let mut first = Crawler::new(static_executor(), options())
        .start([server.url("/0")])
        .expect("starts");
    let mut seen = Vec::new();
    while let Some(event) = first.next().await {
        if let CrawlEvent::Page(p) = event {
            seen.push(p.content.url);
        }
        if seen.len() == 10 {
            break;
        }
    }
    drop(first);
    let before = server.received().len();
    let out = crawl(static_executor(), options(), &[server.url("/0")]).await;
    assert!(out.report.resumed);
    let mut all: Vec<String> = seen
        .into_iter()
        .chain(out.pages.iter().map(|p| p.content.url.clone()))
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40, "every node of the tree");
    // At least once: what the first run handed over but had not written when it was dropped
    // (at most `concurrency` pages) comes again.
    assert!((30..=32).contains(&out.pages.len()), "{}", out.pages.len());
    let refetched = server.received()[before..]
        .iter()
        .filter(|r| r.target != "/robots.txt" && r.target != "/sitemap.xml")
        .count();
    assert_eq!(refetched, out.pages.len());

    // `fresh` starts over.
    let out = crawl(static_executor(), options().fresh(true), &[server.url("/0")]).await;
    assert_eq!(out.pages.len(), 40);
    assert!(!out.report.resumed);
}

#[cfg(feature = "chrome")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_shells_script_built_links_are_followed_when_rendered() {
    let Some(_) = support::chrome_or_skip() else { return };
    let server = LocalServer::start(|target| match target {
        "/" => Reply::Html(
            "<!doctype html><html><head><title>App</title></head><body><div id=app></div><script>\
             const app = document.getElementById('app');\
             app.innerHTML = '<h1>The app</h1><p>Rendered by a script, with a link that only exists once it ran.</p>' +\
             '<a href=\"/built-by-script\">next</a>';</script></body></html>"
                .into(),
        ),
        "/built-by-script" => Reply::Html(page("Built by script", &[])),
        _ => Reply::NotFound,
    })
    .expect("server");
    let provider = riptide::backends::chrome::ChromeProvider::from_config(&config()).expect("provider");
    let executor = common::executor_builder(provider, config())
        .build()
        .expect("executor")
        .boxed();
    let out = crawl(
        executor.clone(),
        CrawlOptions::new().engine(EngineChoice::Auto),
        &[server.url("/")],
    )
    .await;
    executor.shutdown().await.expect("shutdown");
    assert_eq!(out.paths(), ["/", "/built-by-script"], "{:?}", out.failures);
    assert_eq!(out.page("/").content.engine, riptide::traits::Engine::Headless);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_links_only_crawl_maps_the_site_without_the_content_pass() {
    let server = LocalServer::start(|target| match target {
        "/" => Reply::Html(page("Home", &["/a", "/b"])),
        "/a" => Reply::Html(page("A", &["/b", "/"])),
        "/b" => Reply::Html(page("B", &[])),
        _ => Reply::NotFound,
    })
    .expect("server");
    let options = CrawlOptions::new().page(riptide::PageOptions::new().links_only(true));
    // A module cache of its own: the shared one counts the other tests' extractions.
    let executor = common::executor_builder_with_cache(NoBrowser, config(), Default::default())
        .build()
        .expect("executor")
        .boxed();
    let out = crawl(executor.clone(), options, &[server.url("/")]).await;
    assert_eq!(out.paths(), ["/", "/a", "/b"]);
    // The links are read natively: the extractor is never compiled nor loaded.
    let cache = executor.report().await.wasm_cache.expect("cache stats");
    assert_eq!((cache.compilations, cache.hits, cache.misses), (0, 0, 0), "{cache:?}");
    let a = out.page("/a");
    assert_eq!(a.content.extracted.title.as_deref(), Some("A"));
    assert!(a.content.extracted.text.is_empty(), "no content pass");
    assert_eq!(
        a.content.engine,
        riptide::traits::Engine::Static,
        "auto fetches links-only pages statically"
    );
}

/// Issue 25, item 9: a crawl run again after it finished asks for each page conditionally,
/// reports the unchanged ones without extracting them, and follows their remembered links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_crawl_run_again_recrawls_with_conditional_requests() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let version = Arc::new(AtomicU32::new(1));
    let current = version.clone();
    let server = LocalServer::start(move |target| {
        let v = current.load(Ordering::SeqCst);
        match target {
            "/" => Reply::Conditional {
                html: page("Home", &["/a", "/b"]),
                etag: "\"home-1\"".into(),
            },
            "/a" => Reply::Conditional {
                html: page(&format!("A, version {v}"), &[]),
                etag: format!("\"a-{v}\""),
            },
            "/b" => Reply::Conditional {
                html: page("B", &[]),
                etag: "\"b-1\"".into(),
            },
            _ => Reply::NotFound,
        }
    })
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let options = || static_options().state_file(dir.path().join("site.redb"));
    let first = crawl(static_executor(), options(), &[server.url("/")]).await;
    assert_eq!(first.paths(), ["/", "/a", "/b"]);
    assert!(!first.report.recrawl);
    assert!(first.pages.iter().all(|p| p.content.etag.is_some()));

    version.store(2, Ordering::SeqCst);
    let before = server.received().len();
    let mut recrawl = Crawler::new(static_executor(), options())
        .start([server.url("/")])
        .expect("starts");
    let (mut changed, mut unchanged) = (Vec::new(), Vec::new());
    while let Some(event) = recrawl.next().await {
        match event {
            CrawlEvent::Page(p) => changed.push(p.content.url),
            CrawlEvent::Unchanged(u) => unchanged.push(u.url),
            other => panic!("{other:?}"),
        }
    }
    let report = recrawl.report();
    assert!(report.recrawl, "{report:?}");
    assert_eq!(changed, [server.url("/a")], "only the changed page is extracted again");
    unchanged.sort();
    assert_eq!(unchanged, [server.url("/"), server.url("/b")]);
    assert_eq!(report.unchanged, 2);
    let asked: Vec<_> = server.received()[before..]
        .iter()
        .filter(|r| r.target == "/" || r.target == "/b")
        .map(|r| r.header("if-none-match").map(str::to_string))
        .collect();
    assert_eq!(asked, [Some("\"home-1\"".to_string()), Some("\"b-1\"".to_string())]);
}
