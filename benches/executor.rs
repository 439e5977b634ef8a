//! The executor end to end: 100 local pages (70 static, 30 built by JavaScript, on two hosts)
//! with every optimization on against every optimization off, in one run.
//!
//! ```text
//! cargo bench --bench executor
//! ```
//!
//! "On" is the default stack as configured out of the box (pool, compile cache on disk,
//! adaptive timeouts); "off" is `optimizations.enabled = false` (a browser launched per rendered
//! page, the extractor compiled per page, fixed timeouts). Both use `EngineChoice::Auto` with
//! concurrency 8. Target (issue 5): on >= 2.5x the pages/s of off. Peak memory is sampled every
//! 20 ms over this process and all its descendants (the browsers), summing RSS. The table is
//! printed and written to `target/criterion/riptide-executor.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use futures_util::StreamExt;

mod support;

#[path = "../examples/support/local_server.rs"]
mod local_server;

use local_server::{LocalServer, Reply};

use riptide::{EngineChoice, RiptideConfig};
use support::{criterion_dir, median_ns};
use tokio::runtime::Runtime;

const STATIC_PAGES: usize = 70;
const JS_PAGES: usize = 30;
const CONCURRENCY: usize = 8;

/// Serves `/article/N` (~20 KB of text) and `/app/N` (an empty root filled by script) on `ip`.
fn serve(ip: [u8; 4]) -> LocalServer {
    LocalServer::start_on(ip.into(), |url| {
        Reply::Html(if url.starts_with("/app/") {
            format!(
                r#"<!doctype html><html><head><title>app {url}</title></head><body><div id="root"></div>
<script>setTimeout(() => {{ document.getElementById("root").innerHTML = "<main><h1>Built</h1><p>Rendered by script for {url}.</p></main>"; }}, 20);</script></body></html>"#
            )
        } else {
            let mut page = format!("<!doctype html><html><head><title>article {url}</title></head><body><main>");
            for i in 0..150 {
                page.push_str(&format!(
                    "<p>Paragraph {i} of {url}: static text a crawler reads without a browser, with <a href=\"/article/{i}\">a link</a>.</p>"
                ));
            }
            page.push_str("</main></body></html>");
            page
        })
    })
    .expect("bind")
}

fn urls(static_host: &str, js_host: &str, round: u64) -> Vec<String> {
    let mut urls: Vec<String> = (0..STATIC_PAGES)
        .map(|i| format!("{static_host}/article/{i}?r={round}"))
        .collect();
    // Interleaved, as a crawl would meet them.
    for i in 0..JS_PAGES {
        urls.insert(i * 3 + 1, format!("{js_host}/app/{i}?r={round}"));
    }
    urls
}

async fn run_batch(executor: &riptide::BoxExecutor, urls: Vec<String>) {
    let results: Vec<_> = executor
        .extract_many_with(urls, EngineChoice::Auto, CONCURRENCY)
        .collect()
        .await;
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "every page extracts: {failed:?}");
}

/// Samples RSS of this process and its descendants; the peak in bytes.
struct MemorySampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MemorySampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(tree_rss(std::process::id()), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// RSS of `root` and every descendant, from /proc.
fn tree_rss(root: u32) -> u64 {
    let mut parent = std::collections::HashMap::new();
    let mut rss = std::collections::HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, ...; rss is field 24.
        let Some(rest) = stat.rsplit(')').next() else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(ppid), Some(pages)) = (fields.get(1), fields.get(21)) else {
            continue;
        };
        parent.insert(pid, ppid.parse::<u32>().unwrap_or(0));
        rss.insert(pid, pages.parse::<u64>().unwrap_or(0) * 4096);
    }
    rss.iter()
        .filter(|(pid, _)| {
            let mut p = **pid;
            for _ in 0..64 {
                if p == root {
                    return true;
                }
                match parent.get(&p) {
                    Some(&pp) if pp != 0 => p = pp,
                    _ => return false,
                }
            }
            false
        })
        .map(|(_, bytes)| bytes)
        .sum()
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let (static_server, js_server) = (serve([127, 0, 0, 1]), serve([127, 0, 0, 2]));
    let (static_host, js_host) = (static_server.url(""), js_server.url(""));
    let mut peaks = Vec::new();
    let mut group = c.benchmark_group("executor");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements((STATIC_PAGES + JS_PAGES) as u64));
    for (name, enabled) in [("100_pages_optimized", true), ("100_pages_unoptimized", false)] {
        let home = tempfile::tempdir().expect("home");
        let mut config = RiptideConfig::default();
        config.optimizations.enabled = enabled;
        let executor = riptide::Stack::from_config(&config)
            .home(home.path())
            .build()
            .expect("executor");
        let sampler = MemorySampler::start();
        let mut round = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                round += 1;
                rt.block_on(run_batch(&executor, urls(&static_host, &js_host, round)));
            })
        });
        peaks.push((name, sampler.finish()));
        rt.block_on(executor.shutdown()).expect("shutdown");
    }
    group.finish();

    let pages = (STATIC_PAGES + JS_PAGES) as f64;
    let rate = |name: &str| median_ns("executor", name).map(|ns| pages / (ns / 1e9));
    let mb = |name: &str| {
        peaks
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, b)| *b as f64 / 1e6)
    };
    let (on, off) = (rate("100_pages_optimized"), rate("100_pages_unoptimized"));
    let mut table =
        String::from("| configuration | median pages/s | peak memory (process + browsers, RSS) |\n|---|---:|---:|\n");
    for (label, name, r) in [
        ("everything on", "100_pages_optimized", on),
        ("everything off", "100_pages_unoptimized", off),
    ] {
        table.push_str(&format!(
            "| {label} | {} | {:.0} MB |\n",
            r.map_or("-".into(), |r| format!("{r:.1}")),
            mb(name)
        ));
    }
    if let (Some(on), Some(off)) = (on, off) {
        let ratio = on / off;
        table.push_str(&format!(
            "\nthroughput ratio on/off: {ratio:.2}x (target >= 2.5x: {})\n",
            if ratio >= 2.5 { "met" } else { "NOT met" }
        ));
    }
    println!("\n{table}");
    let _ = std::fs::write(criterion_dir().join("riptide-executor.md"), table);
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
