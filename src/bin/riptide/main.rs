//! The `riptide` command line: extract pages, and look at what the three optimizations hold.
//!
//! Exit codes: 0 success; 1 a command failed or at least one page did not extract; 2 bad
//! arguments; 130 interrupted (Ctrl-C), after saving what was learned and closing browsers.
//! Errors are one line each (`error: ...`, with their causes) and what to do under it
//! (`  hint: ...`). JSON output names each failure's kind (`error_kind`, see
//! `riptide::Error::code`).

mod crawl;
mod extract;
mod extract_args;
mod extract_remote;
mod interrupts;
#[cfg(feature = "nats")]
mod queue;
mod serve;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use riptide::policies::simulate::{Standing, Workload, compare, generate as generate_workload, render_table, standing};
use riptide::traits::TimeoutPolicy;
use riptide::{ConfigLoader, Error, RiptideConfig};

use extract::extract;
use extract_args::ExtractArgs;

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
    /// Crawl sites from seed URLs: robots.txt, sitemaps and per-host limits obeyed, every page
    /// extracted; the same command again resumes (see --name, --fresh).
    Crawl(Box<crawl::CrawlArgs>),
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
    /// Serve extraction over HTTP with one warm executor (see `[server]` in the configuration).
    Serve(serve::ServeArgs),
    /// Run queued jobs from NATS JetStream on this machine until Ctrl-C or SIGTERM (see
    /// `[queue]`; workers on many machines share one queue).
    #[cfg(feature = "nats")]
    Worker(queue::WorkerArgs),
    /// Queue pages as jobs on NATS JetStream for `riptide worker`s to extract.
    #[cfg(feature = "nats")]
    Submit(queue::SubmitArgs),
    /// The NATS JetStream work queue.
    #[cfg(feature = "nats")]
    #[command(subcommand)]
    Queue(QueueCommand),
}

#[cfg(feature = "nats")]
#[derive(Subcommand)]
enum QueueCommand {
    /// Pending, in-flight and redelivered jobs, results, dead letters and each worker's counts,
    /// as JSON.
    Status(queue::NatsArgs),
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
        #[arg(required_unless_present = "generate", value_name = "WORKLOAD")]
        files: Vec<PathBuf>,
        /// Also play N generated workloads (random host mixes drawn from families, see README)
        /// and report how the default policy fared against the others over all of them.
        #[arg(long, value_name = "N")]
        generate: Option<u32>,
        /// The first generated workload's seed (the others take the next ones).
        #[arg(long, value_name = "S", default_value_t = 1, requires = "generate")]
        seed: u64,
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
        // chromiumoxide's connection handler warns about every DevTools message its protocol
        // types do not know (Chromium sends events newer than the crate), and then carries on:
        // its errors still show, those warnings only with RIPTIDE_LOG.
        .unwrap_or_else(|| {
            tracing_subscriber::EnvFilter::new(format!("riptide={level},chromiumoxide::handler=error,warn"))
        });
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
        Command::Crawl(args) => crawl::crawl(&config, &home, *args, cli.quiet).await,
        Command::Serve(args) => serve::serve(&config, &home, args).await,
        #[cfg(feature = "nats")]
        Command::Worker(args) => queue::worker(&config, &home, args).await,
        #[cfg(feature = "nats")]
        Command::Submit(args) => queue::submit(&config, args).await,
        #[cfg(feature = "nats")]
        Command::Queue(QueueCommand::Status(args)) => queue::status(&config, args).await,
        Command::Pool(PoolCommand::Status) => pool_status(&config).await,
        Command::Wasm(WasmCommand::CacheStats) => print_json(&serde_json::json!({
            "cache_dir": config.wasm_cache_dir(&home),
            "stats": lifetime_cache_stats(&config, &home)?,
        })),
        Command::Wasm(WasmCommand::CacheClear) => {
            if !config.wasm_cache_dir(&home).exists() {
                println!("no compiled modules in {}", config.wasm_cache_dir(&home).display());
                return Ok(Outcome::Done);
            }
            let cache = riptide::Stack::from_config(&config).home(&home).compile_cache()?;
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
            let profiles = learned_profiles(&config, &home);
            match format {
                TableFormat::Json => print_json(&profiles),
                TableFormat::Table => {
                    print_profiles(&profiles);
                    Ok(Outcome::Done)
                }
            }
        }
        Command::Timeout(TimeoutCommand::Simulate {
            files,
            generate,
            seed,
            format,
        }) => {
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
            if let Some(n) = generate {
                let runs: Vec<_> = (0..u64::from(n))
                    .map(|i| compare(&generate_workload(seed + i)))
                    .collect();
                let standing = standing(&runs);
                match format {
                    TableFormat::Table => println!("{}", render_standing(&standing, seed)),
                    TableFormat::Json => all.push(serde_json::json!({
                        "generated": n,
                        "first_seed": seed,
                        "standing": standing,
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

async fn pool_status(config: &RiptideConfig) -> CliResult<Outcome> {
    print_json(&riptide::Stack::from_config(config).pool_status().await?)
}

fn print_profiles(profiles: &[riptide::traits::ProfileView]) {
    if profiles.is_empty() {
        println!("no learned timeouts yet (they are learned by `riptide extract`)");
        return;
    }
    let secs = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{s:.2}"));
    println!(
        "{:<32} {:<8} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8} {:>20}",
        "host", "engine", "timeout_s", "samples", "p50_s", "p95_s", "p99_s", "success", "updated (UTC)"
    );
    for p in profiles {
        println!(
            "{:<32} {:<8} {:>9.2} {:>7} {:>7} {:>7} {:>7} {:>8} {:>20}",
            p.host,
            p.engine.as_str(),
            p.timeout_secs,
            p.samples,
            secs(p.p50_secs),
            secs(p.p95_secs),
            secs(p.p99_secs),
            p.success_rate.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0)),
            date(p.last_updated_unix_secs)
        );
    }
}

/// `unix_secs` as an RFC 3339 date and time in UTC (`2026-11-28T19:55:29Z`), or the number
/// itself if it is out of range.
fn date(unix_secs: u64) -> String {
    i64::try_from(unix_secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix_secs.to_string())
}

/// The module cache's lifetime numbers; `None` when it has never been written (read-only
/// commands do not create it).
fn lifetime_cache_stats(config: &RiptideConfig, home: &Path) -> CliResult<Option<riptide::CacheStats>> {
    if !config.wasm_cache_dir(home).exists() {
        return Ok(None);
    }
    Ok(Some(
        riptide::Stack::from_config(config)
            .home(home)
            .compile_cache()?
            .lifetime_stats()?,
    ))
}

/// The learned timeout profiles; none when the profile file has never been written (read-only
/// commands do not create it).
fn learned_profiles(config: &RiptideConfig, home: &Path) -> Vec<riptide::traits::ProfileView> {
    if !config.timeout_profiles_path(home).exists() {
        return Vec::new();
    }
    riptide::Stack::from_config(config)
        .home(home)
        .timeout_policy()
        .profiles()
}

fn performance_report(config: &RiptideConfig, home: &Path) -> CliResult<Outcome> {
    let last_run_file = home.join(riptide::LAST_RUN_REPORT);
    let last_run = match std::fs::read(&last_run_file) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| format!("{} is not a report ({e}); delete it", last_run_file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
        Err(e) => return Err(format!("cannot read {}: {e}", last_run_file.display()).into()),
    };
    // What one run measured, and what the home has accumulated over every run, kept apart:
    // a hit rate of the last run and one of the cache's whole life are different numbers.
    let last_crawl_file = home.join(crawl::LAST_CRAWL_REPORT);
    let last_crawl = match std::fs::read(&last_crawl_file) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| format!("{} is not a crawl report ({e}); delete it", last_crawl_file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
        Err(e) => return Err(format!("cannot read {}: {e}", last_crawl_file.display()).into()),
    };
    print_json(&serde_json::json!({
        "last_run": last_run,
        "last_run_file": last_run_file,
        "last_crawl": last_crawl,
        "lifetime": {
            "wasm_cache": lifetime_cache_stats(config, home)?,
            "learned_timeouts": learned_profiles(config, home).len(),
        },
    }))
}

/// `standing` as a table, for `timeout simulate --generate`.
fn render_standing(s: &Standing, first_seed: u64) -> String {
    format!(
        "## {} generated workloads (seeds {first_seed}..{})\n\n\
         | AdaptiveTimeout (the default) | value |\n|---|---:|\n\
         | workloads won against SeedAdaptive (less wasted wait, success no lower) | {:.1}% |\n\
         | wasted wait / SeedAdaptive's: median, worst workload | {:.3}, {:.3} |\n\
         | wasted wait / SeedAdaptive's, all workloads together | {:.3} |\n\
         | wasted wait / FixedTimeout's, all workloads together | {:.3} |\n\
         | worst success gap below FixedTimeout on one workload | {:.2} pp |\n",
        s.workloads,
        first_seed + s.workloads as u64,
        100.0 * s.won_vs_seed,
        s.median_ratio_vs_seed,
        s.worst_ratio_vs_seed,
        s.aggregate_ratio_vs_seed,
        s.aggregate_ratio_vs_fixed,
        s.worst_success_gap_vs_fixed_pp,
    )
}
