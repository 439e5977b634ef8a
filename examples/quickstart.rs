//! riptide in one run: serve a small bundled site on 127.0.0.1, extract a static page and a
//! JavaScript-built one, cold and then warm, and print where the time went.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! Offline: the site is `examples/demo_site/`. Uses the default stack (wasmtime, redb, local
//! Chromium) with a fresh home in a temporary directory, so "cold" really is cold. Without
//! Chromium (`apt-get install -y chromium`) the static pages still extract and the rendered ones
//! say what is missing.

use std::path::Path;
use std::time::Duration;

use riptide::{Content, RiptideConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let site = serve(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo_site"))?;
    let home = tempfile::tempdir()?;
    let config = RiptideConfig::default();
    let executor = riptide::default_executor_in(&config, home.path())?;

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
            Err(e) => println!("{label:<34} error: {e}"),
        }
    }

    // A second executor on the same home: the compiled extractor comes from disk.
    executor.shutdown().await?;
    drop(executor);
    let again = riptide::default_executor_in(&config, home.path())?;
    let page = again.extract(&format!("{site}/index.html")).await?;
    print_row("static, new process-like start", &page);
    println!("\n{}", page.page.title.as_deref().unwrap_or("(no title)"));
    println!("{}", page.page.text.lines().take(2).collect::<Vec<_>>().join("\n"));
    println!("links: {:?}", page.page.links);
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

/// Serves `dir` on 127.0.0.1 (an ephemeral port) from a background thread; returns the base URL.
fn serve(dir: std::path::PathBuf) -> Result<String, Box<dyn std::error::Error>> {
    let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?;
    let base = format!("http://{}", server.server_addr());
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let path = request.url().split('?').next().unwrap_or("/").trim_start_matches('/');
            let file = if path.is_empty() { "index.html" } else { path };
            // Only the site's own files: no path separators.
            let response = match std::fs::read(dir.join(file)) {
                Ok(body) if !file.contains('/') => {
                    let html = tiny_http::Header::from_bytes("Content-Type", "text/html; charset=utf-8").ok();
                    let mut r = tiny_http::Response::from_data(body);
                    if let Some(h) = html {
                        r = r.with_header(h);
                    }
                    r
                }
                _ => tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404),
            };
            let _ = request.respond(response);
        }
    });
    Ok(base)
}
