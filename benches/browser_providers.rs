//! The two browser providers side by side in one run, on the same Chromium and the same local
//! pages: `chrome` (headless_chrome) and `chromiumoxide`.
//!
//! ```text
//! cargo bench --bench browser_providers --features chromiumoxide
//! ```
//!
//! Measures, alternating the providers so both see the same machine: one render of a page whose
//! content a script builds after 20 ms (the pool's JavaScript page, with a selector wait) on a
//! warm browser, its stages (`RenderProfile`), and pages/s through a pool of 2 and of 4 browsers
//! with as many workers, and through a pool of 4 chromiumoxide browsers that are two tabs each of
//! two processes (`tabs_per_browser: 2`). Prints a Markdown table (also written to
//! `target/criterion/riptide-browser-providers.md`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod support;

#[path = "../examples/support/local_server.rs"]
mod local_server;

use local_server::{LocalServer, Reply};
use riptide::backends::chrome::{ChromeProvider, ChromiumSettings};
use riptide::backends::chromiumoxide::ChromiumoxideProvider;
use riptide::traits::{BrowserProvider, PageRequest, RenderProfile};
use riptide::{BrowserPool, PoolOptions};
use support::criterion_dir;
use tokio::runtime::Runtime;

/// Renders of the JavaScript page per provider on one warm browser.
const RENDERS: usize = 60;

/// Pages per throughput run.
const PAGES: usize = 80;

/// Throughput runs per provider and concurrency (the median is reported).
const RUNS: usize = 3;

fn serve() -> LocalServer {
    let js = r#"<!doctype html><html><head><title>js</title></head><body><div id="app"></div>
<script>setTimeout(() => { document.getElementById("app").innerHTML = `<p id="ready">built</p>`; }, 20);</script></body></html>"#;
    LocalServer::start(move |_| Reply::Html(js.to_string())).expect("bind")
}

fn request(base: &str, i: usize) -> PageRequest {
    // A query per page: no two renders hit the same URL, as in a batch.
    PageRequest::new(format!("{base}/js?{i}")).wait_for("#ready")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One render on a warm browser of `provider`: the whole call in ms, and its stages.
fn render<P: BrowserProvider>(provider: &P, browser: &P::Browser, base: &str, i: usize) -> (f64, RenderProfile) {
    let started = Instant::now();
    let page = provider.fetch(browser, &request(base, i)).expect("fetch");
    assert!(page.html.contains("built"), "rendered");
    (started.elapsed().as_secs_f64() * 1e3, page.profile)
}

fn pages_per_second<P: BrowserProvider>(rt: &Runtime, provider: P, base: &str, browsers: usize) -> f64 {
    rt.block_on(async {
        let options = PoolOptions {
            min_instances: browsers,
            target_available: browsers,
            max_instances: browsers,
            health_check_interval: Duration::from_secs(3600),
            max_requests_per_instance: u32::MAX,
            ..PoolOptions::default()
        };
        let pool = BrowserPool::new(provider, options).await.expect("pool");
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..browsers {
            let (pool, next, base) = (pool.clone(), next.clone(), base.to_string());
            workers.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= PAGES {
                        break;
                    }
                    let mut browser = pool.checkout().await.expect("checkout");
                    browser.fetch(request(&base, i)).await.expect("fetch");
                }
            });
        }
        while workers.join_next().await.is_some() {}
        let rate = PAGES as f64 / started.elapsed().as_secs_f64();
        pool.shutdown().await;
        rate
    })
}

/// Reads one stage of a render's profile, in ms.
type Stage = fn(&RenderProfile) -> f64;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let server = serve();
    let base = server.url("");
    let chrome =
        ChromeProvider::new(ChromiumSettings::default()).expect("Chromium is installed (apt-get install -y chromium)");
    let oxide = ChromiumoxideProvider::new(ChromiumSettings::default()).expect("Chromium is installed");
    let (chrome_browser, oxide_browser) = (chrome.launch().expect("launch"), oxide.launch().expect("launch"));
    // One untimed render each: a browser's first page pays for its renderer's start.
    render(&chrome, &chrome_browser, &base, 0);
    render(&oxide, &oxide_browser, &base, 0);
    let (mut chrome_runs, mut oxide_runs) = (Vec::new(), Vec::new());
    for i in 1..=RENDERS {
        chrome_runs.push(render(&chrome, &chrome_browser, &base, i));
        oxide_runs.push(render(&oxide, &oxide_browser, &base, i));
    }
    chrome.close(chrome_browser);
    oxide.close(oxide_browser);
    let stage =
        |runs: &[(f64, RenderProfile)], f: fn(&RenderProfile) -> f64| median(runs.iter().map(|(_, p)| f(p)).collect());
    let whole = |runs: &[(f64, RenderProfile)]| median(runs.iter().map(|(ms, _)| *ms).collect());

    let rt = Runtime::new().expect("runtime");
    let mut rates = Vec::new();
    for browsers in [2, 4] {
        let (mut c, mut o) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            c.push(pages_per_second(
                &rt,
                ChromeProvider::new(ChromiumSettings::default()).expect("provider"),
                &base,
                browsers,
            ));
            o.push(pages_per_second(
                &rt,
                ChromiumoxideProvider::new(ChromiumSettings::default()).expect("provider"),
                &base,
                browsers,
            ));
        }
        rates.push((browsers, median(c), median(o)));
    }
    // The pool of 4 again, as two chromiumoxide processes with two tabs each.
    let tabbed: Vec<f64> = (0..RUNS)
        .map(|_| {
            pages_per_second(
                &rt,
                ChromiumoxideProvider::new(ChromiumSettings {
                    tabs_per_browser: 2,
                    ..ChromiumSettings::default()
                })
                .expect("provider"),
                &base,
                4,
            )
        })
        .collect();
    let tabbed = median(tabbed);

    let mut rows = vec![
        "| measurement | chrome (headless_chrome) | chromiumoxide | chromiumoxide vs chrome |".to_string(),
        "|---|---:|---:|---:|".to_string(),
    ];
    let (c, o) = (whole(&chrome_runs), whole(&oxide_runs));
    rows.push(format!(
        "| JavaScript page, one render on a warm browser (median of {RENDERS}, alternating) | {c:.1} ms | {o:.1} ms | {:.2}x faster |",
        c / o
    ));
    let stages: [(&str, Stage); 2] = [
        ("navigate (median)", |p| ms(p.navigate)),
        ("wait in the page and read (median)", |p| ms(p.wait_and_read)),
    ];
    for (name, f) in stages {
        rows.push(format!(
            "| - {name} | {:.1} ms | {:.1} ms | |",
            stage(&chrome_runs, f),
            stage(&oxide_runs, f)
        ));
    }
    for &(browsers, c, o) in &rates {
        rows.push(format!(
            "| pages/s, {PAGES} JavaScript pages, pool of {browsers} (median of {RUNS}) | {c:.2} | {o:.2} | {:.2}x |",
            o / c
        ));
    }
    if let Some((_, c, _)) = rates.iter().find(|(browsers, ..)| *browsers == 4) {
        rows.push(format!(
            "| pages/s, pool of 4 as 2 chromiumoxide processes with 2 tabs each (median of {RUNS}) | {c:.2} | {tabbed:.2} | {:.2}x |",
            tabbed / c
        ));
    }
    let table = rows.join("\n");
    println!("\n{table}");
    let path = criterion_dir().join("riptide-browser-providers.md");
    if std::fs::create_dir_all(criterion_dir())
        .and_then(|()| std::fs::write(&path, &table))
        .is_ok()
    {
        println!("\n(written to {})", path.display());
    }
}
