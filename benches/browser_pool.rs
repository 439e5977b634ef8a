//! The browser pool on real Chromium against a local HTTP server, in one run.
//!
//! ```text
//! cargo bench --bench browser_pool
//! ```
//!
//! Criterion times warm checkouts, a 100 KB static page through the pool and with a browser
//! launched per request, and a JavaScript-built page with a selector wait. Then the run measures
//! checkout wait percentiles over 2,000 checkouts, pages/s with 1, 2 and 4 pooled browsers, a
//! render's time by stage (`RenderProfile`), and the PSS of an idle browser, and prints every target with its verdict (also written to
//! `target/criterion/riptide-browser-pool.md`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};

mod support;

#[path = "../examples/support/local_server.rs"]
mod local_server;

use local_server::{LocalServer, Reply};

use riptide::backends::chrome::{ChromeBrowser, ChromeProvider, ChromiumSettings};
use riptide::traits::{BrowserProvider, PageRequest};
use riptide::{BrowserPool, Isolation, PoolOptions, ResourceKind};
use support::{criterion_dir, median_ns};
use tokio::runtime::Runtime;

const PAGES_PER_THROUGHPUT_RUN: usize = 48;

/// Pictures on the image-heavy page, and the size of each.
const IMAGES_PER_PAGE: usize = 40;
const IMAGE_BYTES: usize = 100 << 10;

/// Renders of the image-heavy page per setting in the blocking comparison.
const BLOCKING_RENDERS: usize = 30;

/// Serves `/static` (~100 KB) and `/js` (built by script) on 127.0.0.1.
fn serve() -> LocalServer {
    let mut page = String::from("<!doctype html><html><head><title>static</title></head><body><main>");
    let mut i = 0;
    while page.len() < 100_000 {
        page.push_str(&format!(
            "<p>Paragraph {i} of a static page with <a href=\"/p/{i}\">a link</a>.</p>"
        ));
        i += 1;
    }
    page.push_str("</main></body></html>");
    let js = r#"<!doctype html><html><head><title>js</title></head><body><div id="app"></div>
<script>setTimeout(() => { document.getElementById("app").innerHTML = `<p id="ready" data-t="${performance.now().toFixed(3)}">built</p>`; }, 20);</script></body></html>"#;
    let mut images =
        String::from("<!doctype html><html><head><title>images</title></head><body><main><p>A page of pictures.</p>");
    for i in 0..IMAGES_PER_PAGE {
        images.push_str(&format!(
            "<figure><img src=\"/img/{i}.jpg\"><figcaption>Picture {i}</figcaption></figure>"
        ));
    }
    images.push_str("</main></body></html>");
    // Incompressible bytes, so the picture costs its full size on the wire.
    let picture: Vec<u8> = (0..IMAGE_BYTES as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    LocalServer::start(move |url| match url {
        "/js" => Reply::Html(js.to_string()),
        "/images" => Reply::Html(images.clone()),
        u if u.starts_with("/img/") => Reply::Data {
            content_type: "image/jpeg",
            body: picture.clone(),
        },
        _ => Reply::Html(page.clone()),
    })
    .expect("bind")
}

fn provider() -> ChromeProvider {
    ChromeProvider::new(ChromiumSettings::default()).expect("Chromium is installed (apt-get install -y chromium)")
}

fn pool_options(browsers: usize) -> PoolOptions {
    PoolOptions {
        min_instances: browsers,
        target_available: browsers,
        max_instances: browsers,
        health_check_interval: Duration::from_secs(3600),
        max_requests_per_instance: u32::MAX,
        ..PoolOptions::default()
    }
}

fn benches(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let server = serve();
    let base = server.url("");
    let pool = rt
        .block_on(BrowserPool::new(provider(), pool_options(2)))
        .expect("pool");

    let mut group = c.benchmark_group("pool");
    group.sample_size(50);
    group.bench_function("warm_checkout", |b| {
        b.iter(|| rt.block_on(async { black_box(pool.checkout().await.expect("checkout")) }))
    });
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    let static_url = format!("{base}/static");
    group.bench_function("static_100kb_pooled", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut browser = pool.checkout().await.expect("checkout");
                black_box(
                    browser
                        .fetch(PageRequest::new(static_url.clone()))
                        .await
                        .expect("fetch"),
                )
            })
        })
    });
    let js_url = format!("{base}/js");
    group.bench_function("js_page_selector_wait_pooled", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut browser = pool.checkout().await.expect("checkout");
                black_box(
                    browser
                        .fetch(PageRequest::new(js_url.clone()).wait_for("#ready"))
                        .await
                        .expect("fetch"),
                )
            })
        })
    });
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    let cold = provider();
    group.bench_function("static_100kb_launch_per_request", |b| {
        b.iter(|| {
            let browser = cold.launch().expect("launch");
            let html = cold
                .fetch(&browser, &PageRequest::new(static_url.clone()))
                .expect("fetch");
            cold.close(browser);
            black_box(html)
        })
    });
    group.finish();
    rt.block_on(pool.shutdown());
}

criterion_group!(pool_benches, benches);

/// Checkout wait percentiles over many warm checkouts, from the pool's own metrics.
fn checkout_percentiles(rt: &Runtime) -> riptide::pool::WaitPercentiles {
    rt.block_on(async {
        let pool = BrowserPool::new(provider(), pool_options(2)).await.expect("pool");
        for _ in 0..2000 {
            drop(pool.checkout().await.expect("checkout"));
        }
        let waits = pool.status().checkout_wait;
        pool.shutdown().await;
        waits
    })
}

/// Pages per second fetching the static page with `browsers` pooled browsers and as many workers.
fn pages_per_second(rt: &Runtime, base: &str, browsers: usize) -> f64 {
    rt.block_on(async {
        let pool = BrowserPool::new(provider(), pool_options(browsers))
            .await
            .expect("pool");
        let url = format!("{base}/static");
        let started = Instant::now();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..browsers {
            let (pool, url, next) = (pool.clone(), url.clone(), next.clone());
            workers.spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < PAGES_PER_THROUGHPUT_RUN {
                    let mut browser = pool.checkout().await.expect("checkout");
                    browser.fetch(PageRequest::new(url.clone())).await.expect("fetch");
                }
            });
        }
        while workers.join_next().await.is_some() {}
        let rate = PAGES_PER_THROUGHPUT_RUN as f64 / started.elapsed().as_secs_f64();
        pool.shutdown().await;
        rate
    })
}

/// A pseudo-random untimed pause of 0-99 ms before each render. A render's round trip is
/// quantized by headless_chrome's 100 ms websocket polling, and two browsers rendering in turn
/// can lock into different phases of it (unjittered, the same comparison came out at -50 ms and
/// +52 ms in turn); the pause breaks the lock.
struct Jitter(u64);

impl Jitter {
    fn pause(&mut self) {
        // xorshift64: any spread will do, and the same one every run.
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        std::thread::sleep(Duration::from_millis(self.0 % 100));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `renders` measurements of each of two setups, taken in turn so both see the same machine,
/// after one untimed run of each (a browser's first page pays for its renderer's start).
fn alternate<T>(renders: usize, mut first: impl FnMut() -> T, mut second: impl FnMut() -> T) -> (Vec<T>, Vec<T>) {
    first();
    second();
    (0..renders).map(|_| (first(), second())).unzip()
}

/// A fetch of `request` on `browser` after a jittered pause: the whole render in ms, and the
/// page.
fn timed(
    jitter: &mut Jitter,
    provider: &ChromeProvider,
    browser: &ChromeBrowser,
    request: &PageRequest,
) -> (f64, String) {
    jitter.pause();
    let started = Instant::now();
    let page = provider.fetch(browser, request).expect("fetch");
    (started.elapsed().as_secs_f64() * 1e3, page.html)
}

/// Renders of the JavaScript page in the stealth overhead comparison, per browser.
const STEALTH_RENDERS: usize = 80;

/// Medians of the JavaScript page rendered on a plain and on a stealth browser: (plain,
/// stealth) of the whole render as the caller sees it, and of the time inside the page from
/// navigation start to the content built (`data-t`, from `performance.now()`). The in-page
/// time has no polling noise, and it is where stealth's per-render cost (its script) would show:
/// stealth adds no DevTools call to a render.
fn stealth_overhead(base: &str) -> ((f64, f64), (f64, f64)) {
    let plain = provider();
    let stealth = ChromeProvider::new(ChromiumSettings {
        stealth: true,
        ..ChromiumSettings::default()
    })
    .expect("stealth provider");
    let (plain_browser, stealth_browser) = (plain.launch().expect("launch"), stealth.launch().expect("launch"));
    let request = PageRequest::new(format!("{base}/js")).wait_for("#ready");
    let jitter = std::cell::RefCell::new(Jitter(0x2545_f491_4f6c_dd1d));
    let render = |provider: &ChromeProvider, browser: &ChromeBrowser| {
        let (round_trip, html) = timed(&mut jitter.borrow_mut(), provider, browser, &request);
        let in_page = html
            .split("data-t=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|t| t.parse::<f64>().ok())
            .expect("the page stamps its build time");
        (round_trip, in_page)
    };
    let (p, s) = alternate(
        STEALTH_RENDERS,
        || render(&plain, &plain_browser),
        || render(&stealth, &stealth_browser),
    );
    plain.close(plain_browser);
    stealth.close(stealth_browser);
    let pick = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(v.iter().map(f).collect());
    (
        (pick(&p, |x| x.0), pick(&s, |x| x.0)),
        (pick(&p, |x| x.1), pick(&s, |x| x.1)),
    )
}

/// Renders per isolation setting in the context cost comparison.
const ISOLATION_RENDERS: usize = 60;

/// Median render of the JavaScript page alternating between two sites (`127.0.0.1` and
/// `localhost`), with [`Isolation::Shared`] (no context ever made) and with
/// [`Isolation::Site`] (a fresh context for every page, since every page changes site), on one
/// browser, the two settings interleaved; and the browser's PSS after the fresh contexts.
fn isolation_cost(base: &str) -> (f64, f64, Option<f64>) {
    let provider = provider();
    let browser = provider.launch().expect("launch");
    let sites = [
        format!("{base}/js"),
        format!("{base}/js").replace("127.0.0.1", "localhost"),
    ];
    let jitter = std::cell::RefCell::new(Jitter(0x9e37_79b9_7f4a_7c15));
    let turn = std::cell::Cell::new(0usize);
    // Each render goes to the other site than the one before.
    let render = |isolation: Isolation| {
        turn.set(turn.get() + 1);
        let request = PageRequest::new(sites[turn.get() % 2].clone())
            .wait_for("#ready")
            .isolation(isolation);
        timed(&mut jitter.borrow_mut(), &provider, &browser, &request).0
    };
    let (shared, fresh) = alternate(
        ISOLATION_RENDERS,
        || render(Isolation::Shared),
        || render(Isolation::Site),
    );
    let pss = provider.memory_bytes(&browser).map(|b| b as f64 / (1 << 20) as f64);
    provider.close(browser);
    (median(shared), median(fresh), pss)
}

/// Median render (ms) of the image-heavy page on a browser that loads pictures and on one that
/// blocks them (`ResourceKind::Image`), renders alternating between the two.
fn blocking_gain(base: &str) -> (f64, f64) {
    let plain = provider();
    let blocking = ChromeProvider::new(ChromiumSettings {
        block_resources: vec![ResourceKind::Image],
        ..ChromiumSettings::default()
    })
    .expect("blocking provider");
    let (plain_browser, blocking_browser) = (plain.launch().expect("launch"), blocking.launch().expect("launch"));
    let request = PageRequest::new(format!("{base}/images"));
    let jitter = std::cell::RefCell::new(Jitter(0xd1b5_4a32_d192_ed03));
    let (loads, blocks) = alternate(
        BLOCKING_RENDERS,
        || timed(&mut jitter.borrow_mut(), &plain, &plain_browser, &request).0,
        || timed(&mut jitter.borrow_mut(), &blocking, &blocking_browser, &request).0,
    );
    plain.close(plain_browser);
    blocking.close(blocking_browser);
    (median(loads), median(blocks))
}

/// Renders of the JavaScript page in the per-stage profile.
const PROFILE_RENDERS: usize = 40;

/// Medians, in ms, of each stage of a render of the JavaScript page (with its selector wait) on
/// one warm browser: the whole fetch as the caller sees it, then `RenderProfile`'s stages.
struct StageMedians {
    whole: f64,
    tab: f64,
    navigate: f64,
    wait_and_read: f64,
    loaded_at: f64,
    ready_at: f64,
    taken_at: f64,
}

fn render_profile(base: &str) -> StageMedians {
    let provider = provider();
    let browser = provider.launch().expect("launch");
    let request = PageRequest::new(format!("{base}/js")).wait_for("#ready");
    let mut jitter = Jitter(0x5851_f42d_4c95_7f2d);
    provider.fetch(&browser, &request).expect("a first, untimed render");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let renders: Vec<(f64, riptide::RenderProfile)> = (0..PROFILE_RENDERS)
        .map(|_| {
            jitter.pause();
            let started = Instant::now();
            let page = provider.fetch(&browser, &request).expect("fetch");
            (ms(started.elapsed()), page.profile)
        })
        .collect();
    provider.close(browser);
    let stage = |f: &dyn Fn(&(f64, riptide::RenderProfile)) -> f64| median(renders.iter().map(f).collect());
    StageMedians {
        whole: stage(&|r| r.0),
        tab: stage(&|r| ms(r.1.tab)),
        navigate: stage(&|r| ms(r.1.navigate)),
        wait_and_read: stage(&|r| ms(r.1.wait_and_read)),
        loaded_at: stage(&|r| r.1.loaded_at.map_or(f64::NAN, ms)),
        ready_at: stage(&|r| r.1.ready_at.map_or(f64::NAN, ms)),
        taken_at: stage(&|r| r.1.taken_at.map_or(f64::NAN, ms)),
    }
}

/// PSS of an idle browser's process tree, alone and as one of two (a pool of two shares the
/// binary's pages between them, and each is charged half), each after one page.
fn idle_pss_mib(base: &str) -> (Option<f64>, Option<f64>) {
    let provider = provider();
    let mib = |b: &<ChromeProvider as BrowserProvider>::Browser| {
        provider.memory_bytes(b).map(|b| b as f64 / (1 << 20) as f64)
    };
    let page = PageRequest::new(format!("{base}/static"));
    let first = provider.launch().expect("launch");
    provider.fetch(&first, &page).expect("a page");
    let alone = mib(&first);
    let second = provider.launch().expect("launch");
    provider.fetch(&second, &page).expect("a page");
    let pair = mib(&first).zip(mib(&second)).map(|(a, b)| (a + b) / 2.0);
    provider.close(first);
    provider.close(second);
    (alone, pair)
}

fn main() {
    pool_benches();
    criterion::Criterion::default().configure_from_args().final_summary();

    let rt = Runtime::new().expect("runtime");
    let server = serve();
    let base = server.url("");
    let waits = checkout_percentiles(&rt);
    let rates: Vec<(usize, f64)> = [1, 2, 4]
        .into_iter()
        .map(|n| (n, pages_per_second(&rt, &base, n)))
        .collect();
    let (pss, pss_of_two) = idle_pss_mib(&base);
    let ((plain_ms, stealth_ms), (plain_in_page, stealth_in_page)) = stealth_overhead(&base);
    let (shared_ms, fresh_ms, pss_after_contexts) = isolation_cost(&base);
    let (loading_ms, blocking_ms) = blocking_gain(&base);
    let profile = render_profile(&base);

    let ms = |ns: Option<f64>| ns.map(|n| n / 1e6);
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "not run",
    };
    let fmt = |v: Option<f64>, unit: &str| v.map(|v| format!("{v:.2} {unit}")).unwrap_or_else(|| "-".into());
    let pooled = ms(median_ns("pool", "static_100kb_pooled"));
    let per_request = ms(median_ns("pool", "static_100kb_launch_per_request"));
    let speedup = pooled.zip(per_request).map(|(p, l)| l / p);
    let mut rows = vec![
        "| measurement | value | target | verdict |".to_string(),
        "|---|---|---|---|".to_string(),
    ];
    rows.push(format!(
        "| warm checkout, criterion median | {} | (reported) | - |",
        fmt(ms(median_ns("pool", "warm_checkout")), "ms")
    ));
    rows.push(format!(
        "| warm checkout wait p50 ({} checkouts) | {} | ≤ 1 ms | {} |",
        waits.samples,
        fmt(waits.p50_ms, "ms"),
        verdict(waits.p50_ms.map(|p| p <= 1.0))
    ));
    rows.push(format!(
        "| warm checkout wait p99 | {} | ≤ 5 ms | {} |",
        fmt(waits.p99_ms, "ms"),
        verdict(waits.p99_ms.map(|p| p <= 5.0))
    ));
    rows.push(format!(
        "| 100 KB static page, pooled (median) | {} | ≤ 350 ms | {} |",
        fmt(pooled, "ms"),
        verdict(pooled.map(|p| p <= 350.0))
    ));
    rows.push(format!(
        "| 100 KB static page, browser launched per request (median) | {} | pooled ≥ 8x faster ({}) | {} |",
        fmt(per_request, "ms"),
        speedup.map(|s| format!("{s:.1}x")).unwrap_or_default(),
        verdict(speedup.map(|s| s >= 8.0))
    ));
    rows.push(format!(
        "| JavaScript page with selector wait, pooled (median) | {} | (reported) | - |",
        fmt(ms(median_ns("pool", "js_page_selector_wait_pooled")), "ms")
    ));
    for (n, rate) in &rates {
        let target = if *n == 4 { "≥ 7 pages/s" } else { "(reported)" };
        let ok = if *n == 4 { verdict(Some(*rate >= 7.0)) } else { "-" };
        rows.push(format!(
            "| pages/s with {n} pooled browser(s), {PAGES_PER_THROUGHPUT_RUN} pages | {rate:.2} | {target} | {ok} |"
        ));
    }
    rows.push(format!(
        "| JavaScript page, plain / stealth browser, whole render (medians of {STEALTH_RENDERS} alternating) | {plain_ms:.1} / {stealth_ms:.1} ms ({:+.1} ms) | (reported) | - |",
        stealth_ms - plain_ms
    ));
    rows.push(format!(
        "| JavaScript page, plain / stealth browser, in the page: navigation to content built | {plain_in_page:.2} / {stealth_in_page:.2} ms: stealth costs {:+.2} ms | ≤ 5 ms | {} |",
        stealth_in_page - plain_in_page,
        verdict(Some(stealth_in_page - plain_in_page <= 5.0))
    ));
    rows.push(format!(
        "| JavaScript page, alternating two sites: shared context / fresh context per page (medians of {ISOLATION_RENDERS} each) | {shared_ms:.1} / {fresh_ms:.1} ms: a context costs {:+.1} ms | (reported) | - |",
        fresh_ms - shared_ms
    ));
    rows.push(format!(
        "| page of {IMAGES_PER_PAGE} pictures of {} KiB, pictures loaded / blocked (medians of {BLOCKING_RENDERS} alternating renders) | {loading_ms:.1} / {blocking_ms:.1} ms: {:.2} / {:.2} pages/s per browser ({:.1}x) | (reported) | - |",
        IMAGE_BYTES >> 10,
        1e3 / loading_ms,
        1e3 / blocking_ms,
        loading_ms / blocking_ms
    ));
    rows.push(format!(
        "| PSS of that browser after {ISOLATION_RENDERS} fresh contexts | {} | (reported) | - |",
        fmt(pss_after_contexts, "MiB")
    ));
    rows.push(format!(
        "| JavaScript page, render by stage (medians of {PROFILE_RENDERS}, one warm browser): whole fetch / finding the tab / navigate / in-page wait and read | {:.1} / {:.1} / {:.1} / {:.1} ms | (reported) | - |",
        profile.whole, profile.tab, profile.navigate, profile.wait_and_read
    ));
    rows.push(format!(
        "| the same renders, in the page from navigation start: loaded / ready / taken | {:.1} / {:.1} / {:.1} ms: {:.1} ms of the fetch is outside the page | (reported) | - |",
        profile.loaded_at,
        profile.ready_at,
        profile.taken_at,
        profile.whole - profile.taken_at
    ));
    rows.push(format!(
        "| PSS of one idle browser (process tree), after a page | {} | (reported) | - |",
        fmt(pss, "MiB")
    ));
    rows.push(format!(
        "| PSS of each of two idle browsers, after a page | {} | (reported) | - |",
        fmt(pss_of_two, "MiB")
    ));
    let table = rows.join("\n");
    println!("\n{table}\n");
    let out = criterion_dir().join("riptide-browser-pool.md");
    if std::fs::write(&out, format!("{table}\n")).is_ok() {
        println!("written to {}", out.display());
    }
}
