//! The `riptide` command line: extract pages, and look at what the three optimizations hold.
//!
//! Exit codes: 0 success; 1 a command failed or at least one page did not extract; 2 bad
//! arguments; 130 interrupted (Ctrl-C), after saving what was learned and closing browsers.
//! Errors are one line each (`error: ...`, with their causes) and what to do under it
//! (`  hint: ...`). JSON output names each failure's kind (`error_kind`, see
//! `riptide::Error::code`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use riptide::policies::simulate::{Workload, compare, render_table};
use riptide::traits::TimeoutPolicy;
use riptide::{ConfigLoader, Content, EngineChoice, Error, RiptideConfig, WaitUntil};

#[derive(Parser)]
#[command(
    name = "riptide",
    version,
    about = "Fast web content extraction that keeps the expensive things warm"
)]
struct Cli {
    /// Read this configuration file instead of `<home>/config.toml`.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// riptide's home directory (default: $RIPTIDE_HOME, else ~/.riptide).
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// More logging (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors: no progress, no summary, no warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Extract pages: URLs (http, https, file) or paths of local files.
    Extract(Box<ExtractArgs>),
    /// The browser pool.
    #[command(subcommand)]
    Pool(PoolCommand),
    /// The compiled-extractor cache.
    #[command(subcommand)]
    Wasm(WasmCommand),
    /// Learned timeouts.
    #[command(subcommand)]
    Timeout(TimeoutCommand),
    /// Performance numbers.
    #[command(subcommand)]
    Performance(PerformanceCommand),
}

#[derive(Args)]
struct ExtractArgs {
    /// URLs or paths to extract.
    #[arg(value_name = "URL|PATH")]
    inputs: Vec<String>,
    /// Also read URLs from this file, one per line (`-`: standard input; `#` starts a comment).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// How pages are fetched.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// With `--engine auto`: fetch every page statically first, never rendering a host's pages
    /// directly (engine_choice.remember_hosts = false).
    #[arg(long)]
    no_host_memory: bool,
    /// Which rendered pages share cookies and storage
    /// (optimizations.browser_pool.isolation; default site).
    #[arg(long, value_enum)]
    isolation: Option<IsolationArg>,
    /// Headless renders do not load these kinds of subresources, recognized by file extension
    /// (optimizations.browser_pool.block_resources).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KIND,...")]
    block: Vec<BlockArg>,
    /// Headless renders do not load subresources whose URL matches this pattern (`*` matches
    /// anything; repeat for more; optimizations.browser_pool.block_urls).
    #[arg(long, value_name = "PATTERN")]
    block_url: Vec<String>,
    /// The User-Agent both engines send (network.user_agent).
    #[arg(long, value_name = "UA")]
    user_agent: Option<String>,
    /// An extra request header both engines send, as `Name: value` (repeat for more;
    /// network.headers).
    #[arg(long, value_name = "NAME: VALUE", value_parser = parse_header)]
    header: Vec<(String, String)>,
    /// A cookie both engines send to the site it names, as a `Set-Cookie` line:
    /// `name=value; Domain=example.com` (repeat for more; network.cookies).
    #[arg(long, value_name = "COOKIE", value_parser = parse_cookie)]
    cookie: Vec<String>,
    /// The proxy both engines go through: `http://[user:password@]host:port` (network.proxy,
    /// RIPTIDE_PROXY).
    #[arg(long, value_name = "URL", value_parser = parse_proxy)]
    proxy: Option<String>,
    /// Give up on a page after this many seconds, every attempt included
    /// (optimizations.adaptive_timeout.request_timeout_secs; default twice max_timeout_secs).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    timeout: Option<f64>,
    /// Save a PNG of every rendered page in DIR (created if missing) and put its path in the
    /// JSON as `screenshot`; pages fetched statically have none.
    #[arg(long, value_name = "DIR")]
    screenshot: Option<PathBuf>,
    /// When a rendered page counts as loaded; one not loaded by its deadline is taken as it
    /// stands and marked `"partial": true`.
    #[arg(long, value_enum, default_value_t = WaitArg::Load)]
    wait_until: WaitArg,
    /// Rendered pages are also waited for until this CSS selector matches.
    #[arg(long, value_name = "SELECTOR")]
    wait_for: Option<String>,
    /// Pages extracted at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Also output the cleaned article HTML (`content_html`).
    #[arg(long)]
    html: bool,
    /// Write the output here instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    /// Static first; a browser when the page needs JavaScript.
    Auto,
    /// A plain HTTP fetch (or file read), never a browser.
    Static,
    /// Every page rendered in a headless browser.
    Headless,
    /// Every page rendered in a browser that hides it is automated
    /// (optimizations.browser_pool.stealth = true).
    Stealth,
}

/// A cookie line, checked (kept as written: the configuration holds lines).
fn parse_cookie(s: &str) -> Result<String, String> {
    s.parse::<riptide::network::RequestCookie>()
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// A proxy URL, checked.
fn parse_proxy(s: &str) -> Result<String, String> {
    s.parse::<riptide::network::ProxyServer>()
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// A positive number of seconds.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 => Ok(secs),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 86400 (e.g. `2.5`)"
        )),
    }
}

/// `Name: value` as a header pair.
fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.trim().to_string())),
        _ => Err(format!("`{s}` is not a header; write it as `Name: value`")),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum BlockArg {
    /// Pictures (png, jpg, gif, webp, avif, svg, ico, bmp).
    Image,
    /// Audio and video.
    Media,
    /// Web fonts.
    Font,
    /// Style sheets.
    Stylesheet,
}

#[derive(Clone, Copy, ValueEnum)]
enum IsolationArg {
    /// A fresh browser context whenever the site changes.
    Site,
    /// A fresh browser context for every page.
    Page,
    /// One context for every page of a browser: a session.
    Shared,
}

#[derive(Clone, Copy, ValueEnum)]
enum WaitArg {
    /// The `load` event: the document and its subresources arrived.
    Load,
    /// The document was parsed; subresources may still be loading.
    Domcontentloaded,
    /// `load`, then no subresource finished for 500 ms.
    Networkidle,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON array.
    Json,
    /// One JSON object per line, as pages finish.
    Jsonl,
    /// Title, URL and text, for reading.
    Text,
    /// Title, URL and the main content as Markdown.
    Markdown,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TableFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
enum PoolCommand {
    /// Warm a pool as configured, probe it, and print its status as JSON.
    Status,
}

#[derive(Subcommand)]
enum WasmCommand {
    /// Entries, size, hit rate, load and compile times of the cache directory, as JSON.
    CacheStats,
    /// Delete every compiled module (they are recompiled on demand).
    CacheClear,
}

#[derive(Subcommand)]
enum TimeoutCommand {
    /// The learned per-domain profiles.
    Profiles {
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
    /// Compare the timeout policies on workload files (see README, "Workload files").
    Simulate {
        #[arg(required = true, value_name = "WORKLOAD")]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
}

#[derive(Subcommand)]
enum PerformanceCommand {
    /// The last run's report (browser_pool, wasm_cache, adaptive_timeout), with the cache's
    /// numbers fresh from disk, as JSON.
    Report,
}

/// How a command ended.
enum Outcome {
    Done,
    SomeFailed,
    Usage,
    /// Stopped by a signal: 130 for SIGINT (Ctrl-C), 143 for SIGTERM, as shells report them.
    Interrupted(u8),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Work still running on blocking threads (an extraction of a huge page in the guest after
    // Ctrl-C) is abandoned, not waited for: the results are written, the executor is shut down,
    // and browsers were closed (renders are cancelled when their futures drop).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => ExitCode::FAILURE,
        Ok(Outcome::Usage) => ExitCode::from(2),
        Ok(Outcome::Interrupted(code)) => ExitCode::from(code),
        Err(e) => {
            report_error(&*e);
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = std::env::var("RIPTIDE_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(format!("riptide={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// `error: what went wrong: its causes`, then what to do about it.
fn report_error(e: &(dyn std::error::Error + 'static)) {
    eprintln!("error: {}", with_causes(e, e.source()));
    if let Some(e) = e.downcast_ref::<Error>() {
        eprintln!("  hint: {}", e.hint());
    }
}

/// `what` followed by each cause, `: `-separated.
fn with_causes(what: &dyn std::fmt::Display, mut cause: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut line = what.to_string();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

type CliResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn run(cli: Cli) -> CliResult<Outcome> {
    let mut loader = ConfigLoader::from_process_env();
    if let Some(home) = &cli.home {
        loader = loader.home(home);
    }
    if let Some(file) = &cli.config {
        loader = loader.file(file);
    }
    let home = loader.resolved_home();
    let config = loader.load()?;
    match cli.command {
        Command::Extract(args) => extract(&config, &home, *args, cli.quiet).await,
        Command::Pool(PoolCommand::Status) => pool_status(&config).await,
        Command::Wasm(WasmCommand::CacheStats) => {
            let cache = riptide::default_compile_cache_in(&config, &home)?;
            print_json(&serde_json::json!({
                "cache_dir": config.wasm_cache_dir(&home),
                "stats": cache.lifetime_stats()?,
            }))
        }
        Command::Wasm(WasmCommand::CacheClear) => {
            let cache = riptide::default_compile_cache_in(&config, &home)?;
            let before = cache.lifetime_stats()?;
            cache.clear()?;
            println!(
                "removed {} compiled module(s), {} bytes, from {}",
                before.entries,
                before.bytes,
                config.wasm_cache_dir(&home).display()
            );
            Ok(Outcome::Done)
        }
        Command::Timeout(TimeoutCommand::Profiles { format }) => {
            let policy = riptide::default_timeout_policy_in(&config, &home);
            let profiles = policy.profiles();
            match format {
                TableFormat::Json => print_json(&profiles),
                TableFormat::Table => {
                    print_profiles(&profiles);
                    Ok(Outcome::Done)
                }
            }
        }
        Command::Timeout(TimeoutCommand::Simulate { files, format }) => {
            let mut all = Vec::new();
            for file in files {
                let workload = Workload::from_path(&file)?;
                let reports = compare(&workload);
                match format {
                    TableFormat::Table => {
                        println!("## {} ({} requests)\n", workload.name, workload.total_requests());
                        println!("{}", render_table(&reports));
                    }
                    TableFormat::Json => all.push(serde_json::json!({
                        "workload": workload.name,
                        "file": file,
                        "reports": reports,
                    })),
                }
            }
            if format == TableFormat::Json {
                print_json(&all)?;
            }
            Ok(Outcome::Done)
        }
        Command::Performance(PerformanceCommand::Report) => performance_report(&config, &home),
    }
}

fn print_json(value: &impl serde::Serialize) -> CliResult<Outcome> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(Outcome::Done)
}

fn read_inputs(args: &ExtractArgs) -> CliResult<Vec<String>> {
    let mut inputs = args.inputs.clone();
    if let Some(file) = &args.input {
        let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(file).map_err(|e| format!("cannot read --input {}: {e}", file.display()))?;
            Box::new(std::io::BufReader::new(f))
        };
        // Read as bytes so a line that is not UTF-8 is named (file and line) before any page is
        // fetched, instead of ending the batch half-way with a bare I/O error.
        for (n, line) in reader.split(b'\n').enumerate() {
            let line = line.map_err(|e| format!("cannot read --input {}: {e}", file.display()))?;
            let line = std::str::from_utf8(&line).map_err(|_| {
                format!(
                    "--input {} line {} is not UTF-8 text; URLs and paths there must be UTF-8 (fix or remove that line)",
                    file.display(),
                    n + 1
                )
            })?;
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                inputs.push(line.to_string());
            }
        }
    }
    Ok(inputs)
}

async fn extract(config: &RiptideConfig, home: &Path, args: ExtractArgs, quiet: bool) -> CliResult<Outcome> {
    let inputs = read_inputs(&args)?;
    if inputs.is_empty() {
        eprintln!("error: no pages to extract; give URLs or paths, or --input FILE");
        return Ok(Outcome::Usage);
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("cannot write --output {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let engine = match args.engine {
        EngineArg::Auto => EngineChoice::Auto,
        EngineArg::Static => EngineChoice::Static,
        EngineArg::Headless | EngineArg::Stealth => EngineChoice::Headless,
    };
    let mut config = config.clone();
    config.optimizations.browser_pool.stealth |= matches!(args.engine, EngineArg::Stealth);
    if let Some(user_agent) = &args.user_agent {
        config.network.user_agent = Some(user_agent.clone());
    }
    config.network.headers.extend(args.header.iter().cloned());
    config.network.cookies.extend(args.cookie.iter().cloned());
    if let Some(proxy) = &args.proxy {
        config.network.proxy = Some(proxy.clone());
    }
    if let Some(secs) = args.timeout {
        config.optimizations.adaptive_timeout.request_timeout_secs = Some(secs);
    }
    let pool = &mut config.optimizations.browser_pool;
    pool.block_resources.extend(args.block.iter().map(|kind| match kind {
        BlockArg::Image => riptide::ResourceKind::Image,
        BlockArg::Media => riptide::ResourceKind::Media,
        BlockArg::Font => riptide::ResourceKind::Font,
        BlockArg::Stylesheet => riptide::ResourceKind::Stylesheet,
    }));
    pool.block_urls.extend(args.block_url.iter().cloned());
    if let Some(isolation) = args.isolation {
        config.optimizations.browser_pool.isolation = match isolation {
            IsolationArg::Site => riptide::Isolation::Site,
            IsolationArg::Page => riptide::Isolation::Page,
            IsolationArg::Shared => riptide::Isolation::Shared,
        };
    }
    config.extraction.markdown |= args.format == Format::Markdown;
    config.extraction.content_html |= args.html;
    config.engine_choice.remember_hosts &= !args.no_host_memory;
    let mut builder = riptide::default_executor_builder_in(&config, home)?.wait_until(match args.wait_until {
        WaitArg::Load => WaitUntil::Load,
        WaitArg::Domcontentloaded => WaitUntil::DomContentLoaded,
        WaitArg::Networkidle => WaitUntil::NetworkIdle,
    });
    if let Some(selector) = &args.wait_for {
        builder = builder.wait_for(selector.clone());
    }
    if let Some(dir) = &args.screenshot {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create --screenshot {}: {e}", dir.display()))?;
        builder = builder.screenshots(true);
    }
    let executor = builder.build()?;
    let progress = if !quiet && inputs.len() > 1 && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(inputs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} pages, {per_sec}, eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let total = inputs.len();
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut array = Vec::new();
    // One listener for the whole batch, registered before the first page: a signal that
    // arrives while no listener exists (between two `tokio::signal::ctrl_c()` futures, say) is
    // lost once tokio has taken over SIGINT, and the batch would run on.
    let mut stop = Interrupts::listen().map_err(|e| format!("cannot listen for Ctrl-C and SIGTERM: {e}"))?;
    let mut results = executor.extract_many_with(inputs, engine, usize::from(args.concurrency));
    let interrupted = loop {
        let next = tokio::select! {
            next = results.next() => next,
            code = stop.recv() => break Some(code),
        };
        let Some((url, result)) = next else { break None };
        progress.inc(1);
        match &result {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                progress.suspend(|| report_error(e));
            }
        }
        let screenshot = match (&result, &args.screenshot) {
            (Ok(content), Some(dir)) => save_screenshot(dir, ok, content)?,
            _ => None,
        };
        write_result(&mut out, args.format, &url, &result, screenshot.as_deref(), &mut array)?;
    };
    // Dropping the stream cancels what is in flight: fetches stop, renders are cancelled.
    drop(results);
    progress.finish_and_clear();
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &array)?;
        writeln!(out)?;
    }
    out.flush()?;
    if let Err(e) = executor.shutdown().await {
        tracing::warn!(error = %e, "could not save everything at shutdown");
    }
    if !quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{}extracted {ok} of {total} page(s), {failed} failed, in {secs:.2} s ({:.1} pages/s)",
            if interrupted.is_some() { "interrupted: " } else { "" },
            ok as f64 / secs.max(1e-9)
        );
    }
    Ok(match (interrupted, failed) {
        (Some(code), _) => Outcome::Interrupted(code),
        (None, 0) => Outcome::Done,
        (None, _) => Outcome::SomeFailed,
    })
}

/// Ctrl-C and SIGTERM, listened for from creation on: every signal is queued until received.
#[cfg(unix)]
struct Interrupts {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Interrupts {
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal, as the exit code a shell would report for it.
    async fn recv(&mut self) -> u8 {
        tokio::select! {
            _ = self.interrupt.recv() => 130,
            _ = self.terminate.recv() => 143,
        }
    }
}

/// Ctrl-C, listened for from creation on.
#[cfg(windows)]
struct Interrupts(tokio::signal::windows::CtrlC);

#[cfg(windows)]
impl Interrupts {
    fn listen() -> std::io::Result<Self> {
        tokio::signal::windows::ctrl_c().map(Self)
    }

    async fn recv(&mut self) -> u8 {
        self.0.recv().await;
        130
    }
}

/// Writes `content`'s screenshot, if it has one, as `dir/<n>.png`; its path.
fn save_screenshot(dir: &Path, n: usize, content: &Content) -> CliResult<Option<String>> {
    let Some(png) = &content.screenshot else {
        return Ok(None);
    };
    let path = dir.join(format!("{n}.png"));
    std::fs::write(&path, png).map_err(|e| format!("cannot write the screenshot {}: {e}", path.display()))?;
    Ok(Some(path.display().to_string()))
}

fn write_result(
    out: &mut dyn Write,
    format: Format,
    url: &str,
    result: &Result<Content, Error>,
    screenshot: Option<&str>,
    array: &mut Vec<serde_json::Value>,
) -> CliResult<()> {
    let record = || match result {
        Ok(content) => {
            let mut record = serde_json::to_value(content).unwrap_or_default();
            if let (Some(path), Some(fields)) = (screenshot, record.as_object_mut()) {
                fields.insert("screenshot".into(), path.into());
            }
            record
        }
        Err(e) => serde_json::json!({
            "url": url,
            // The URL has its own field; the message keeps every cause.
            "error": with_causes(e.kind(), std::error::Error::source(e)),
            "error_kind": e.code(),
            "hint": e.hint(),
        }),
    };
    match format {
        Format::Json => array.push(record()),
        Format::Jsonl => {
            serde_json::to_writer(&mut *out, &record())?;
            writeln!(out)?;
            // Lines are for consumers reading as pages finish.
            out.flush()?;
        }
        Format::Text => {
            if let Ok(c) = result {
                writeln!(out, "# {}", c.extracted.title.as_deref().unwrap_or("(no title)"))?;
                writeln!(
                    out,
                    "{} ({:?}, {:.0} ms)\n",
                    c.final_url,
                    c.engine,
                    c.timings.total.as_secs_f64() * 1000.0
                )?;
                writeln!(out, "{}\n", c.extracted.text.trim())?;
            }
        }
        Format::Markdown => {
            if let Ok(c) = result {
                writeln!(out, "# {}\n", c.extracted.title.as_deref().unwrap_or("(no title)"))?;
                writeln!(out, "<{}>\n", c.final_url)?;
                let body = c.extracted.markdown.as_deref().unwrap_or(&c.extracted.text);
                writeln!(out, "{}\n", body.trim())?;
            }
        }
    }
    Ok(())
}

async fn pool_status(config: &RiptideConfig) -> CliResult<Outcome> {
    let provider = riptide::backends::chrome::ChromeProvider::from_config(config)?;
    let mut options = riptide::PoolOptions::from_config(&config.optimizations.browser_pool);
    options.background_warmup = false;
    let pool = riptide::BrowserPool::new(provider, options).await?;
    pool.run_maintenance().await;
    let status = pool.status();
    pool.shutdown().await;
    print_json(&status)
}

fn print_profiles(profiles: &[riptide::traits::ProfileView]) {
    if profiles.is_empty() {
        println!("no learned timeouts yet (they are learned by `riptide extract`)");
        return;
    }
    let secs = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{s:.2}"));
    println!(
        "{:<32} {:<8} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8} {:>12}",
        "host", "engine", "timeout_s", "samples", "p50_s", "p95_s", "p99_s", "success", "updated"
    );
    for p in profiles {
        let engine = match p.engine {
            riptide::traits::Engine::Static => "static",
            riptide::traits::Engine::Headless => "headless",
        };
        println!(
            "{:<32} {:<8} {:>9.2} {:>7} {:>7} {:>7} {:>7} {:>8} {:>12}",
            p.host,
            engine,
            p.timeout_secs,
            p.samples,
            secs(p.p50_secs),
            secs(p.p95_secs),
            secs(p.p99_secs),
            p.success_rate.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0)),
            p.last_updated_unix_secs
        );
    }
}

fn performance_report(config: &RiptideConfig, home: &Path) -> CliResult<Outcome> {
    let last_run = home.join(riptide::LAST_RUN_REPORT);
    let mut report = match std::fs::read(&last_run) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| format!("{} is not a report ({e}); delete it", last_run.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({
            "extraction": null, "browser_pool": null, "adaptive_timeout": null,
        }),
        Err(e) => return Err(format!("cannot read {}: {e}", last_run.display()).into()),
    };
    let cache = riptide::default_compile_cache_in(config, home)?;
    report["wasm_cache"] = serde_json::to_value(cache.lifetime_stats()?)?;
    let policy = riptide::default_timeout_policy_in(config, home);
    report["learned_timeouts"] = serde_json::json!(policy.profiles().len());
    report["last_run_file"] = serde_json::json!(last_run);
    print_json(&report)
}
