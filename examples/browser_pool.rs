//! The browser pool, cold and warm: launch a browser the slow way, then take warm ones from a
//! pool and fetch a local page with each.
//!
//! ```text
//! cargo run --release --example browser_pool
//! ```
//!
//! Needs Chromium (`apt-get install -y chromium`, or `RIPTIDE_CHROME_PATH`). Serves its own page
//! on 127.0.0.1, so it runs offline.

use std::time::{Duration, Instant};

use riptide::backends::chromiumoxide::{ChromiumSettings, ChromiumoxideProvider};
use riptide::traits::{BrowserProvider, PageRequest};
use riptide::{BrowserPool, PoolOptions};

#[path = "support/local_server.rs"]
mod local_server;

use local_server::{LocalServer, Reply};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = serve_demo_page()?;
    let url = server.url("/");

    // Cold: what every request costs without a pool. (Provider calls block; outside a runtime
    // that is fine, inside one they belong on blocking threads, as the pool does.)
    let provider = ChromiumoxideProvider::new(ChromiumSettings::default())?;
    let t = Instant::now();
    let browser = provider.launch()?;
    println!("cold launch:                  {:>8.1} ms", ms(t));
    let t = Instant::now();
    provider.fetch(&browser, &PageRequest::new(url.clone()))?;
    println!("first fetch, fresh browser:   {:>8.1} ms", ms(t));
    provider.close(browser);

    tokio::runtime::Runtime::new()?.block_on(warm(url))
}

async fn warm(url: String) -> Result<(), Box<dyn std::error::Error>> {
    // Warm: a pool launched once, up front.
    let options = PoolOptions {
        min_instances: 2,
        target_available: 2,
        max_instances: 2,
        ..PoolOptions::default()
    };
    let t = Instant::now();
    let pool = BrowserPool::new(ChromiumoxideProvider::new(ChromiumSettings::default())?, options).await?;
    println!("pool warm-up (2 in parallel): {:>8.1} ms", ms(t));
    for i in 1..=3 {
        let t = Instant::now();
        let mut browser = pool.checkout().await?;
        let checkout = t.elapsed();
        let page = browser
            .fetch(PageRequest::new(url.clone()).deadline(Duration::from_secs(10)))
            .await?;
        println!(
            "warm request {i}: checkout {:>6.3} ms, fetch {:>7.1} ms ({} bytes of HTML)",
            checkout.as_secs_f64() * 1000.0,
            (t.elapsed() - checkout).as_secs_f64() * 1000.0,
            page.html.len()
        );
    }
    println!("\npool status: {}", serde_json::to_string_pretty(&pool.status())?);
    pool.shutdown().await;
    Ok(())
}

fn serve_demo_page() -> std::io::Result<LocalServer> {
    LocalServer::start(|_| {
        Reply::Html(
            "<!doctype html><html><head><title>riptide demo</title></head><body><main>\
             <h1>Warm browsers</h1><p>This page was served locally.</p></main></body></html>"
                .into(),
        )
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
