//! `riptide crawl`: a site (or a section of one) through the crawler, as JSON lines or as a
//! folder of Markdown files, resumable by name.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use riptide::crawl::{CrawlEvent, CrawlOptions, CrawlReport, CrawledPage, Crawler, Scope};
use riptide::{EngineChoice, PageOptions, RiptideConfig};

use super::extract_args::parse_seconds;
use super::interrupts::Interrupts;
use super::{CliResult, Outcome};

#[cfg(feature = "nats")]
mod nats;

/// The file in the home where the last crawl's report is kept (`performance report` shows it).
pub(crate) const LAST_CRAWL_REPORT: &str = "last-crawl.json";

#[derive(Args)]
pub(crate) struct CrawlArgs {
    /// Where the crawl starts: http(s) URLs (a bare `example.com/docs` means https).
    #[cfg_attr(feature = "nats", arg(value_name = "URL", required_unless_present = "cancel"))]
    #[cfg_attr(not(feature = "nats"), arg(value_name = "URL", required = true))]
    seeds: Vec<String>,
    /// Run the crawl on the `riptide worker`s of this NATS server (or cluster) and stream its
    /// pages back; the same command again (same --name) re-attaches.
    #[cfg(feature = "nats")]
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// With --nats: stop the crawl named by --name (or the seeds) and remove its state.
    #[cfg(feature = "nats")]
    #[arg(long)]
    cancel: bool,
    /// Which URLs belong to the crawl: the seeds' hosts, their registrable domains with every
    /// subdomain, or the URLs under the seeds' folders.
    #[arg(long, value_enum, default_value_t = ScopeArg::Host)]
    scope: ScopeArg,
    /// Only URLs matching this regular expression (repeat for more: any may match).
    #[arg(long, value_name = "REGEX")]
    include: Vec<String>,
    /// Never URLs matching this regular expression (repeat for more; wins over --include).
    #[arg(long, value_name = "REGEX")]
    exclude: Vec<String>,
    /// Links followed from a seed at most (seeds are depth 0).
    #[arg(long, value_name = "N", default_value_t = 32)]
    max_depth: u32,
    /// Stop after emitting this many pages (all runs of the crawl together).
    #[arg(long, value_name = "N")]
    max_pages: Option<u64>,
    /// Stop this run after this many seconds (the next run resumes).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    max_duration: Option<f64>,
    /// Pages fetched at once over all hosts.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Pages fetched at once from one host.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    per_host: u32,
    /// The least time between two requests to one host, in milliseconds (robots.txt's
    /// Crawl-delay raises it for its host).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay_ms: u64,
    /// How pages are fetched (`auto` renders only pages that need JavaScript).
    #[arg(long, value_enum, default_value_t = CrawlEngineArg::Auto)]
    engine: CrawlEngineArg,
    /// Do not read sitemaps (robots.txt `Sitemap:` lines, /sitemap.xml).
    #[arg(long)]
    no_sitemaps: bool,
    /// Do not obey robots.txt. Only for sites you own or may crawl so; a warning is logged.
    #[arg(long)]
    ignore_robots: bool,
    /// The name the crawl's state is kept under in `<home>/crawls/` (default: from the seeds).
    /// The same command again resumes it.
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    name: Option<String>,
    /// Forget what an earlier run of this crawl kept, and start over.
    #[arg(long)]
    fresh: bool,
    /// Only list the URLs found (url, depth, parent, found_via, title): each page's links are
    /// read without the content pass, and fetched statically unless `--engine headless`.
    #[arg(long)]
    map: bool,
    /// Output format: JSON lines (as `extract --format jsonl`, plus depth, parent and
    /// found_via), or Markdown files in the site's path layout (needs --output DIR).
    #[arg(long, value_enum, default_value_t = CrawlFormat::Jsonl)]
    format: CrawlFormat,
    /// Write to this file (jsonl) or folder (markdown) instead of standard output.
    #[arg(long, value_name = "FILE|DIR")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScopeArg {
    Host,
    Domain,
    Prefix,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CrawlEngineArg {
    Auto,
    Static,
    Headless,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CrawlFormat {
    Jsonl,
    Markdown,
}

/// A crawl name: a file name without separators.
fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !s.starts_with('.');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` cannot name a crawl: use up to 128 letters, digits, `-`, `_` and `.`, not starting with `.`"
        ))
    }
}

/// Where the pages go.
enum Sink {
    Lines(Box<dyn Write>),
    Markdown {
        dir: PathBuf,
        index: std::io::BufWriter<std::fs::File>,
    },
}

/// The crawl's options from its flags (without its state file).
fn crawl_options(args: &CrawlArgs, name: &str) -> CrawlOptions {
    let markdown = args.format == CrawlFormat::Markdown;
    let engine = match args.engine {
        CrawlEngineArg::Auto => EngineChoice::Auto,
        CrawlEngineArg::Static => EngineChoice::Static,
        CrawlEngineArg::Headless => EngineChoice::Headless,
    };
    let mut options = CrawlOptions::new()
        .name(name)
        .scope(match args.scope {
            ScopeArg::Host => Scope::Host,
            ScopeArg::Domain => Scope::Domain,
            ScopeArg::Prefix => Scope::Prefix,
        })
        .max_depth(args.max_depth)
        .concurrency(usize::from(args.concurrency))
        .per_host(args.per_host)
        .delay(Duration::from_millis(args.delay_ms))
        .engine(engine)
        .obey_robots(!args.ignore_robots)
        .sitemaps(!args.no_sitemaps)
        .page(PageOptions::new().markdown(markdown).links_only(args.map));
    for pattern in &args.include {
        options = options.include(pattern.clone());
    }
    for pattern in &args.exclude {
        options = options.exclude(pattern.clone());
    }
    if let Some(max) = args.max_pages {
        options = options.max_pages(max);
    }
    if let Some(secs) = args.max_duration {
        options = options.max_duration(Duration::from_secs_f64(secs));
    }
    options
}

pub(crate) async fn crawl(config: &RiptideConfig, home: &Path, args: CrawlArgs, quiet: bool) -> CliResult<Outcome> {
    #[cfg(feature = "nats")]
    if args.nats.is_some() || args.cancel {
        return nats::crawl(config, args, quiet).await;
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| riptide::crawl::name_for_seeds(&args.seeds));
    let mut sink = open_sink(&args)?;
    let state_dir = home.join("crawls");
    std::fs::create_dir_all(&state_dir)
        .map_err(|e| format!("cannot create the crawl state folder {}: {e}", state_dir.display()))?;
    let options = crawl_options(&args, &name)
        .state_file(state_dir.join(format!("{name}.redb")))
        .fresh(args.fresh);
    let mut config = config.clone();
    // A crawl's pages are never more at once than its concurrency: no browser beyond that.
    let pool = &mut config.optimizations.browser_pool;
    let at_once = u32::from(args.concurrency);
    pool.target_available = pool.target_available.min(at_once);
    pool.min_instances = pool.min_instances.min(at_once);
    let executor = riptide::Stack::from_config(&config).home(home).build()?;
    let mut stop = Interrupts::listen().map_err(|e| format!("cannot listen for Ctrl-C and SIGTERM: {e}"))?;
    let mut crawl = Crawler::new(executor.clone(), options).start(args.seeds.clone())?;
    let progress = progress_bar(quiet);
    let mut interrupted = None;
    let mut written = 0u64;
    loop {
        let event = tokio::select! {
            event = crawl.next() => event,
            code = stop.recv() => {
                interrupted = Some(code);
                break;
            }
        };
        let Some(event) = event else { break };
        match event {
            CrawlEvent::Page(page) => {
                written += 1;
                write_page(&mut sink, &page, args.map, written)?;
            }
            CrawlEvent::Failed(failure) => {
                let record = failure.to_record();
                progress.suspend(|| {
                    if !quiet {
                        eprintln!(
                            "error: {}: {}\n  hint: {}",
                            failure.url,
                            failure.error,
                            failure.error.hint()
                        );
                    }
                });
                if let Sink::Lines(out) = &mut sink {
                    serde_json::to_writer(&mut *out, &record)?;
                    writeln!(out)?;
                    out.flush()?;
                }
            }
            CrawlEvent::Unchanged(page) => {
                if let Sink::Lines(out) = &mut sink {
                    serde_json::to_writer(&mut *out, &page.to_record())?;
                    writeln!(out)?;
                    out.flush()?;
                }
            }
            other => tracing::debug!(event = ?other, "a crawl event this command does not write"),
        }
        progress.set_message(progress_line(&crawl.report()));
    }
    progress.finish_and_clear();
    if let Sink::Markdown { index, .. } = &mut sink {
        index.flush()?;
    }
    let mut report = crawl.report();
    // Dropping the crawl writes what was handled; the next run resumes from there.
    drop(crawl);
    if interrupted.is_some() {
        report.ended = Some("interrupted".into());
    }
    if let Err(e) = executor.shutdown().await {
        tracing::warn!(error = %e, "could not save everything at shutdown");
    }
    save_report(home, &report);
    if !quiet {
        eprintln!("{}", summary(&report));
    }
    Ok(match interrupted {
        Some(code) => Outcome::Interrupted(code),
        None if report.emitted == 0 && report.failed > 0 => Outcome::SomeFailed,
        None => Outcome::Done,
    })
}

fn open_sink(args: &CrawlArgs) -> CliResult<Sink> {
    match (args.format, &args.output) {
        (CrawlFormat::Markdown, None) => {
            Err("--format markdown writes one file per page: give the folder with --output DIR".into())
        }
        (CrawlFormat::Markdown, Some(dir)) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create --output {}: {e}", dir.display()))?;
            let index_path = dir.join("index.jsonl");
            let index = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&index_path)
                .map_err(|e| format!("cannot write {}: {e}", index_path.display()))?;
            Ok(Sink::Markdown {
                dir: dir.clone(),
                index: std::io::BufWriter::new(index),
            })
        }
        (CrawlFormat::Jsonl, Some(path)) => {
            // Appended: a resumed crawl adds to what its earlier runs wrote.
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot write --output {}: {e}", path.display()))?;
            Ok(Sink::Lines(Box::new(std::io::BufWriter::new(file))))
        }
        (CrawlFormat::Jsonl, None) => Ok(Sink::Lines(Box::new(std::io::BufWriter::new(std::io::stdout())))),
    }
}

fn write_page(sink: &mut Sink, page: &CrawledPage, map: bool, n: u64) -> CliResult<()> {
    let record = page.to_record();
    match sink {
        Sink::Lines(out) => {
            let record = if map { map_record(&record) } else { record };
            serde_json::to_writer(&mut *out, &record)?;
            writeln!(out)?;
            out.flush()?;
        }
        Sink::Markdown { dir, index } => write_markdown(dir, index, &record, map, n)?,
    }
    Ok(())
}

/// A page record cut to what `--map` prints.
pub(super) fn map_record(record: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "url": record["url"],
        "depth": record["depth"],
        "parent": record["parent"],
        "found_via": record["found_via"],
        "title": record["title"],
    })
}

/// Writes a page record ([`CrawledPage::to_record`], as a local crawl makes it or a worker
/// sends it) as a Markdown file under `dir`, and its line in the folder's `index`.
pub(super) fn write_markdown(
    dir: &std::path::Path,
    index: &mut std::io::BufWriter<std::fs::File>,
    record: &serde_json::Value,
    map: bool,
    n: u64,
) -> CliResult<()> {
    // The extracted fields are flattened into the record.
    let url = record["url"].as_str().unwrap_or_default();
    let title = record["title"].as_str();
    let relative = markdown_path(url, n);
    let path = dir.join(&relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut text = String::new();
    if let Some(title) = title {
        text.push_str(&format!("# {title}\n\n"));
    }
    text.push_str(
        record["markdown"]
            .as_str()
            .or_else(|| record["text"].as_str())
            .unwrap_or_default(),
    );
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut line = if map {
        map_record(record)
    } else {
        serde_json::json!({
            "url": url,
            "title": title,
            "depth": record["depth"],
            "parent": record["parent"],
            "found_via": record["found_via"],
            "word_count": record["word_count"],
        })
    };
    if let Some(fields) = line.as_object_mut() {
        fields.insert("file".into(), relative.display().to_string().into());
    }
    serde_json::to_writer(&mut *index, &line)?;
    writeln!(index)?;
    Ok(())
}

/// Where a page's Markdown goes under the output folder: `<host>/<path>.md`, a folder's page
/// as its `index.md`, a query as a short hash beside the name (two URLs never share a file).
fn markdown_path(url: &str, n: u64) -> PathBuf {
    let Ok(url) = url::Url::parse(url) else {
        return PathBuf::from(format!("page-{n}.md"));
    };
    let mut path = PathBuf::from(safe_segment(&match url.port() {
        Some(port) => format!("{}_{port}", url.host_str().unwrap_or("host")),
        None => url.host_str().unwrap_or("host").to_string(),
    }));
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).map(safe_segment).collect())
        .unwrap_or_default();
    let folder_page = url.path().ends_with('/') || segments.is_empty();
    let (folders, file) = match (folder_page, segments.split_last()) {
        (false, Some((last, rest))) => (rest.to_vec(), last.clone()),
        _ => (segments.clone(), "index".to_string()),
    };
    for folder in folders {
        path.push(folder);
    }
    let stem = file
        .rsplit_once('.')
        .map_or(file.as_str(), |(stem, _)| stem)
        .to_string();
    let stem = match url.query() {
        Some(query) => format!("{stem}_{}", short_hash(query)),
        None => stem,
    };
    path.push(format!("{stem}.md"));
    path
}

fn safe_segment(segment: &str) -> String {
    let decoded = percent_decode(segment);
    let safe: String = decoded
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    match safe.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => safe,
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Eight hex digits of `s`'s FNV-1a: a file name needs no cryptography, only stability across
/// runs and Rust releases.
fn short_hash(s: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in s.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", hash >> 32)
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The progress line: pages done, queued, hosts, errors, cuts and the rate.
fn progress_line(r: &CrawlReport) -> String {
    let skipped = |keys: &[&str]| {
        keys.iter()
            .map(|k| r.skipped.get(*k).copied().unwrap_or(0))
            .sum::<u64>()
    };
    format!(
        "{} pages, {} queued, {} in flight, {} hosts, {} errors; skipped {} robots, {} scope, {} traps; {:.1} pages/s",
        r.emitted,
        r.queued,
        r.in_flight,
        r.hosts,
        r.failed,
        skipped(&["robots"]),
        skipped(&["scheme", "host", "domain", "prefix", "excluded", "not_included"]),
        skipped(&["url_too_long", "query_variants", "repeated_segments"]),
        r.pages_per_sec()
    )
}

/// The summary printed to stderr at the end.
fn summary(r: &CrawlReport) -> String {
    let skipped: Vec<String> = r.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(
        "crawl {}: {} ({}): {} pages emitted, {} unchanged, {} failed, {} fetched, {} queued; skipped: {}; \
         {} robots.txt, {} sitemaps ({} URLs); in {:.2} s ({:.1} pages/s)",
        r.name,
        r.ended.as_deref().unwrap_or("stopped"),
        if r.recrawl {
            "recrawl"
        } else if r.resumed {
            "resumed"
        } else {
            "new"
        },
        r.emitted,
        r.unchanged,
        r.failed,
        r.fetched,
        r.queued,
        if skipped.is_empty() {
            "none".to_string()
        } else {
            skipped.join(", ")
        },
        r.robots_fetches,
        r.sitemaps_fetched,
        r.sitemap_urls,
        r.elapsed_secs,
        r.pages_per_sec()
    )
}

fn save_report(home: &Path, report: &CrawlReport) {
    let path = home.join(LAST_CRAWL_REPORT);
    let written = serde_json::to_vec_pretty(report)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&path, bytes));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "the crawl's report was not saved");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_paths_follow_the_sites_layout() {
        let p = |u: &str| markdown_path(u, 7).display().to_string();
        assert_eq!(p("http://127.0.0.1:8080/"), "127.0.0.1_8080/index.md");
        assert_eq!(p("https://docs.example.com/guide/"), "docs.example.com/guide/index.md");
        assert_eq!(
            p("https://docs.example.com/guide/intro.html"),
            "docs.example.com/guide/intro.md"
        );
        assert_eq!(p("https://a.example/x/../../etc/passwd"), "a.example/etc/passwd.md");
        assert_ne!(p("https://a.example/cal?d=1"), p("https://a.example/cal?d=2"));
        assert_eq!(p("not a url"), "page-7.md");
    }

    #[test]
    fn names_are_safe_file_names() {
        assert!(parse_name("docs-2026.v1").is_ok());
        for bad in ["", "../x", ".hidden", "a/b", "a b"] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
    }
}
