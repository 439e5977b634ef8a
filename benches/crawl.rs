//! The crawler's own cost (issue 25): a 500-page site on an in-process loopback server, crawled
//! through `riptide::crawl::Crawler`, against `extract_many_with` over the same 500 known URLs
//! (no discovery) in the same run.
//!
//! ```text
//! cargo bench --bench crawl --features crawl,wasmtime
//! ```
//!
//! The executor is built as `tests/integration/crawl.rs` builds it: static engine, `NoBrowser`, wasmtime with
//! an in-memory module cache (compiled once, before the first sample). Every crawl starts
//! afresh. Rows, all at concurrency 8 (8 per host, the site being one host):
//!
//! - `extract_many_500`: the baseline, the 500 URLs through `extract_many_with`;
//! - `crawl_500`: the crawl from `/`, in-memory frontier (no state file);
//! - `crawl_500_state_file`: the same with a redb state file (`--name`/`--home` in the CLI):
//!   durable commits of what was handled, as the CLI does;
//! - `map_500`: the links-only crawl (`--map`), in-memory frontier.
//!
//! A crawl also fetches `/robots.txt` and `/sitemap.xml` (a 404). The ratios against the
//! baseline are the crawler's overhead (frontier, scheduling, normalization, robots, link
//! handling). The table is printed and written to `target/criterion/riptide-crawl.md`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use futures_util::StreamExt;

mod support;

#[path = "../examples/support/local_server.rs"]
mod local_server;

use local_server::{LocalServer, Reply};

use riptide::backends::no_browser::NoBrowser;
use riptide::backends::wasmtime::WasmtimeRuntime;
use riptide::crawl::{CrawlEvent, CrawlOptions, Crawler};
use riptide::{BoxExecutor, EngineChoice, GuestLimits, PageOptions, RiptideConfig};
use support::{criterion_dir, median_ns};
use tokio::runtime::Runtime;

const PAGES: usize = 500;
const CONCURRENCY: usize = 8;

/// Page `n`'s path: `/` for the first, `/p/N.html` for the others.
fn path(n: usize) -> String {
    if n == 0 { "/".into() } else { format!("/p/{n}.html") }
}

/// The site: every page links to the index, its neighbours and 9 others drawn by a fixed LCG
/// (so every page is a few links from `/`), with text of its own (content deduplication keeps
/// them all); about 3 KB each.
fn site() -> HashMap<String, String> {
    let words = [
        "river", "harbour", "engine", "lantern", "orchard", "signal", "copper", "meadow", "archive", "beacon",
        "canyon", "harvest", "glacier", "market", "parcel", "quarry", "ribbon", "saddle", "timber", "valley",
    ];
    let mut state: u64 = 25;
    let mut next = move |m: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % m
    };
    let mut pages = HashMap::new();
    for n in 0..PAGES {
        let mut links = vec![0, (n + 1) % PAGES, (n + PAGES - 1) % PAGES];
        links.extend((0..9).map(|_| next(PAGES)));
        let anchors: String = links
            .iter()
            .map(|&l| format!("<li><a href=\"{}\">Story {l}</a></li>", path(l)))
            .collect();
        let mut body = String::new();
        for p in 0..6 {
            body.push_str("<p>");
            for w in 0..60 {
                if w == 7 {
                    body.push_str(&format!("page-{n}-{p} "));
                }
                body.push_str(words[next(words.len())]);
                body.push(' ');
            }
            body.push_str("</p>\n");
        }
        pages.insert(
            path(n),
            format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Story {n}</title></head>\
                 <body><header><a href=\"/\">Home</a></header><main><article><h1>Story {n}</h1>\n{body}</article>\
                 <aside><ul>{anchors}</ul></aside></main></body></html>"
            ),
        );
    }
    pages
}

fn serve() -> LocalServer {
    let pages = Arc::new(site());
    LocalServer::start(move |target| match target {
        "/robots.txt" => Reply::Data {
            content_type: "text/plain",
            body: b"User-agent: *\nAllow: /\n".to_vec(),
        },
        _ => pages
            .get(target)
            .map_or(Reply::NotFound, |html| Reply::Html(html.clone())),
    })
    .expect("bind")
}

/// As `tests/integration/crawl.rs` builds it: static pages only, wasmtime, an in-memory module cache.
fn static_executor() -> BoxExecutor {
    let mut config = RiptideConfig::default();
    let t = &mut config.optimizations.adaptive_timeout;
    (t.default_timeout_secs, t.max_timeout_secs, t.max_retries) = (10, 30, 1);
    let runtime = WasmtimeRuntime::new(GuestLimits::default(), true).expect("wasmtime engine");
    let cache: Arc<riptide::backends::memory::MemoryModuleCache> = Arc::default();
    riptide::Executor::builder(
        NoBrowser,
        riptide::CompileCache::new(runtime, cache, riptide::CacheOptions::default()),
        riptide::policies::AdaptiveTimeout::new(config.optimizations.adaptive_timeout.clone()),
    )
    .config(config)
    .retry_seed(7)
    .build()
    .expect("executor")
    .boxed()
}

async fn extract_all(executor: &BoxExecutor, urls: &[String]) {
    let results: Vec<_> = executor
        .extract_many_with(urls.to_vec(), EngineChoice::Static, CONCURRENCY)
        .collect()
        .await;
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    assert_eq!((results.len(), failed), (PAGES, 0), "every page extracts");
}

async fn crawl_all(executor: &BoxExecutor, seed: &str, options: CrawlOptions) {
    let mut crawl = Crawler::new(executor.clone(), options)
        .start([seed.to_string()])
        .expect("crawl starts");
    let (mut pages, mut failed) = (0, 0);
    while let Some(event) = crawl.next().await {
        match event {
            CrawlEvent::Page(_) => pages += 1,
            _ => failed += 1,
        }
    }
    assert_eq!((pages, failed), (PAGES, 0), "the whole site: {:?}", crawl.report());
}

fn options() -> CrawlOptions {
    CrawlOptions::new()
        .engine(EngineChoice::Static)
        .concurrency(CONCURRENCY)
        .per_host(CONCURRENCY as u32)
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let server = serve();
    let urls: Vec<String> = (0..PAGES).map(|n| server.url(&path(n))).collect();
    let seed = server.url("/");
    let executor = static_executor();
    // Compiles the extractor and opens the connections before any sample.
    rt.block_on(extract_all(&executor, &urls));
    let state = tempfile::tempdir().expect("state dir");

    let mut group = c.benchmark_group("crawl");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(PAGES as u64));
    group.bench_function("extract_many_500", |b| {
        b.iter(|| rt.block_on(extract_all(&executor, &urls)))
    });
    group.bench_function("crawl_500", |b| {
        b.iter(|| rt.block_on(crawl_all(&executor, &seed, options())))
    });
    group.bench_function("crawl_500_state_file", |b| {
        b.iter(|| {
            let options = options()
                .name("bench")
                .state_file(state.path().join("bench.redb"))
                .fresh(true);
            rt.block_on(crawl_all(&executor, &seed, options))
        })
    });
    group.bench_function("map_500", |b| {
        b.iter(|| {
            let options = options().page(PageOptions::new().links_only(true));
            rt.block_on(crawl_all(&executor, &seed, options))
        })
    });
    group.finish();
    rt.block_on(executor.shutdown()).expect("shutdown");

    let ms = |name: &str| median_ns("crawl", name).map(|ns| ns / 1e6);
    let base = ms("extract_many_500");
    let mut table = String::from(
        "| row (500 pages, concurrency 8) | median | pages/s | ratio to extract_many_500 |\n|---|---:|---:|---:|\n",
    );
    for name in ["extract_many_500", "crawl_500", "crawl_500_state_file", "map_500"] {
        let Some(t) = ms(name) else { continue };
        table.push_str(&format!(
            "| {name} | {t:.1} ms | {:.0} | {} |\n",
            PAGES as f64 / (t / 1e3),
            base.map_or("-".into(), |b| format!("{:.2}", t / b))
        ));
    }
    println!("\n{table}");
    let _ = std::fs::write(criterion_dir().join("riptide-crawl.md"), table);
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
