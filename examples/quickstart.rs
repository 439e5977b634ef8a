//! riptide in one run: serve a small bundled site on 127.0.0.1, extract a static page and a
//! JavaScript-built one, cold and then warm, and print where the time went.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! Offline: the site is `examples/demo_site/`. Uses the default stack (wasmtime, redb, local
//! Chromium driven by the chromiumoxide provider, four pooled browsers per Chromium process)
//! with a fresh home in a temporary directory, so "cold" really is cold. Without
//! Chromium (`apt-get install -y chromium`) the static pages still extract and the rendered ones
//! say what is missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use riptide::{Content, RiptideConfig, Stack};

#[path = "support/local_server.rs"]
mod local_server;

use local_server::{LocalServer, Reply};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = serve(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo_site"))?;
    let site = server.url("");
    let home = tempfile::tempdir()?;
    let config = RiptideConfig::default();
    let executor = Stack::from_config(&config).home(home.path()).build()?;
    let pool = &config.optimizations.browser_pool;
    println!(
        "browser provider: {} ({} pooled browsers per Chromium process)\n",
        format!("{:?}", pool.provider).to_lowercase(),
        pool.tabs_per_browser()
    );

    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "page", "engine", "choice", "fetch", "module", "extract", "total"
    );
    for (label, path) in [
        ("static, cold (compiles)", "/index.html"),
        ("static, warm", "/about.html"),
        ("JavaScript, cold (starts pool)", "/app.html"),
        ("JavaScript, warm (pooled)", "/app.html?again"),
    ] {
        match executor.extract(&format!("{site}{path}")).await {
            Ok(page) => print_row(label, &page),
            Err(e) => println!("{label:<34} error: {e}\n{:<34} hint: {}", "", e.hint()),
        }
    }

    // A second executor on the same home: the compiled extractor comes from disk.
    executor.shutdown().await?;
    drop(executor);
    let again = Stack::from_config(&config).home(home.path()).build()?;
    let page = again.extract(&format!("{site}/index.html")).await?;
    print_row("static, new process-like start", &page);
    println!("\n{}", page.extracted.title.as_deref().unwrap_or("(no title)"));
    println!("{}", page.extracted.text.lines().take(2).collect::<Vec<_>>().join("\n"));
    println!("links: {:?}", page.extracted.links);
    again.shutdown().await?;
    Ok(())
}

fn print_row(label: &str, page: &Content) {
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let t = page.timings;
    println!(
        "{label:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        format!("{:?}", page.engine).to_lowercase(),
        ms(t.engine_choice),
        ms(t.fetch),
        ms(t.module_load),
        ms(t.extraction),
        ms(t.total)
    );
}

/// Serves the files of `dir` (no subdirectories) on 127.0.0.1 at a free port.
fn serve(dir: PathBuf) -> std::io::Result<LocalServer> {
    LocalServer::start(move |target| {
        let path = target.split('?').next().unwrap_or("/").trim_start_matches('/');
        let file = if path.is_empty() { "index.html" } else { path };
        // Only the site's own files: no path separators.
        match std::fs::read_to_string(dir.join(file)) {
            Ok(html) if !file.contains('/') => Reply::Html(html),
            _ => Reply::NotFound,
        }
    })
}
