//! `riptide submit`, `riptide worker` and `riptide queue status`: the NATS JetStream work queue
//! of [`riptide::queue`] (feature `nats`). The worker is a face over one executor built as
//! `riptide serve` builds its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use riptide::backends::nats_kv::NatsLearningStore;
use riptide::queue::{Job, JobOptions, Queue, QueueStatus, Results, Worker, WorkerOptions};
use riptide::traits::LearningStore;
use riptide::{BoxExecutor, EngineChoice, RiptideConfig};

use super::interrupts::Interrupts;
use super::{CliResult, Outcome};

/// `--nats`: the server (or cluster), else `queue.url`.
#[derive(clap::Args)]
pub(crate) struct NatsArgs {
    /// The NATS server, or several comma-separated (`queue.url`, default nats://127.0.0.1:4222).
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
}

impl NatsArgs {
    fn url<'a>(&'a self, config: &'a RiptideConfig) -> &'a str {
        self.nats.as_deref().unwrap_or(&config.queue.url)
    }

    async fn connect(&self, config: &RiptideConfig, name: &str) -> CliResult<Queue> {
        Ok(Queue::connect(self.url(config), name, &config.queue).await?)
    }
}

/// `riptide submit`'s arguments.
#[derive(clap::Args)]
pub(crate) struct SubmitArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// URLs to extract.
    #[arg(value_name = "URL")]
    urls: Vec<String>,
    /// Also read URLs from this file, one per line (`-`: standard input; `#` starts a comment).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// How the pages are fetched (default: each worker's choice, `auto`).
    #[arg(long, value_enum)]
    engine: Option<EngineArg>,
    /// Also produce the main content as Markdown.
    #[arg(long)]
    markdown: bool,
    /// Give up on a page after this many seconds (never longer than a worker's own limit).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Print each page's result (one JSON line, as `riptide extract --format jsonl`, with its
    /// `job_id`) as it arrives, until every page has one.
    #[arg(long)]
    wait: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum EngineArg {
    Auto,
    Static,
    Headless,
}

/// `riptide worker`'s arguments.
#[derive(clap::Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// Pages run at once (`queue.concurrency`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: Option<u32>,
    /// Its name in `riptide queue status` (default `<host name>-<process id>`).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Load pages on loopback, private and link-local addresses (`server.allow_private_addresses`:
    /// a worker, like a server, runs pages other people submit).
    #[arg(long)]
    allow_private_addresses: bool,
    /// Load `file://` URLs and local paths (`server.allow_file_urls`).
    #[arg(long)]
    allow_file_urls: bool,
}

pub(crate) async fn submit(config: &RiptideConfig, args: SubmitArgs) -> CliResult<Outcome> {
    let list = super::extract::read_url_list(args.urls.clone(), args.input.as_deref())?;
    for bad in &list.bad_lines {
        eprintln!(
            "error: {}\n  hint: {}",
            bad["error"].as_str().unwrap_or_default(),
            bad["hint"].as_str().unwrap_or_default()
        );
    }
    let urls = list.urls;
    if urls.is_empty() {
        if !list.bad_lines.is_empty() {
            return Ok(Outcome::SomeFailed);
        }
        eprintln!("error: no pages to submit; give URLs, or --input FILE");
        return Ok(Outcome::Usage);
    }
    let mut options = JobOptions::default();
    options.engine = args.engine.map(|e| match e {
        EngineArg::Auto => EngineChoice::Auto,
        EngineArg::Static => EngineChoice::Static,
        EngineArg::Headless => EngineChoice::Headless,
    });
    options.markdown = args.markdown.then_some(true);
    options.time_limit_ms = args.timeout.map(|s| s.saturating_mul(1000));
    let queue = args.nats.connect(config, "riptide-submit").await?;
    let mut ids = Vec::with_capacity(urls.len());
    let mut duplicates = 0;
    for url in &urls {
        let submitted = queue.submit(&Job::new(url.as_str(), options.clone())).await?;
        duplicates += usize::from(submitted.duplicate);
        if !args.wait {
            println!(
                "{}",
                serde_json::json!({ "job_id": submitted.id.as_str(), "url": url, "duplicate": submitted.duplicate })
            );
        }
        ids.push(submitted.id);
    }
    eprintln!(
        "riptide submit: {} job(s) submitted, {duplicates} already queued or done",
        urls.len()
    );
    if !args.wait {
        return Ok(Outcome::Done);
    }
    let mut results = Results::of(&queue, ids).await?;
    let mut stop = Interrupts::listen().map_err(|e| format!("cannot listen for Ctrl-C and SIGTERM: {e}"))?;
    let mut failed = 0usize;
    loop {
        let next = tokio::select! {
            next = results.next() => next?,
            code = stop.recv() => {
                eprintln!("riptide submit: stopped waiting with {} result(s) to come; the jobs stay queued", results.waiting());
                return Ok(Outcome::Interrupted(code));
            }
        };
        let Some((_, record)) = next else { break };
        failed += usize::from(record.get("error").is_some());
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &record)?;
        writeln!(out)?;
        out.flush()?;
    }
    eprintln!("riptide submit: {} result(s), {failed} failed", urls.len());
    Ok(if failed > 0 { Outcome::SomeFailed } else { Outcome::Done })
}

pub(crate) async fn worker(config: &RiptideConfig, home: &Path, args: WorkerArgs) -> CliResult<Outcome> {
    let mut config = config.clone();
    config.server.allow_private_addresses |= args.allow_private_addresses;
    config.server.allow_file_urls |= args.allow_file_urls;
    config.network.allow_private_addresses = config.server.allow_private_addresses;
    config.network.allow_file_urls = config.server.allow_file_urls;
    if let Some(n) = args.concurrency {
        config.queue.concurrency = n;
    }
    let mut options = WorkerOptions::from_config(&config.queue);
    if let Some(name) = args.name {
        options.name = name;
    }
    let mut stop = Interrupts::listen().map_err(|e| format!("cannot listen for Ctrl-C and SIGTERM: {e}"))?;
    let queue = args.nats.connect(&config, &options.name).await?;
    let executor = executor(&config, home, args.nats.url(&config))?;
    if let Err(e) = executor.warm_up().await {
        tracing::warn!(error = %format!("{e:#}"), "the worker could not warm up; pages that need it will fail");
    }
    let name = options.name.clone();
    // The crawls across machines (`riptide crawl --nats`) run beside the jobs, on the same
    // executor, at most `--concurrency` pages at once.
    let (crawls_stop, crawls_stopping) = tokio::sync::watch::channel(false);
    let crawls = tokio::spawn(riptide::queue::crawl::run_crawls(
        queue.clone(),
        executor.clone(),
        name.clone(),
        options.concurrency,
        crawls_stopping,
    ));
    let crawls_grace = options.shutdown_grace;
    let worker = Worker::new(queue, executor.clone(), options);
    // The one line a supervisor (or a test) reads to know the worker pulls jobs.
    eprintln!("riptide worker: {name} pulling jobs");
    let (signal_tx, signal_rx) = tokio::sync::oneshot::channel();
    let counts = worker
        .run(async move {
            let code = stop.recv().await;
            // The crawls stop with the jobs: their pages in progress get the same grace, and
            // the rest are handed back for another worker to take at once.
            crawls_stop.send_replace(true);
            let _ = signal_tx.send(code);
        })
        .await?;
    // (Also if the jobs stopped on their own: the sender is gone with the future above.)
    if tokio::time::timeout(crawls_grace + std::time::Duration::from_secs(3), crawls)
        .await
        .is_err()
    {
        tracing::debug!("the crawls did not stop in time");
    }
    if let Err(e) = executor.shutdown().await {
        tracing::warn!(error = %e, "could not save everything at shutdown");
    }
    eprintln!(
        "riptide worker: stopped ({} extracted, {} failed, {} handed back, {} dead-lettered)",
        counts.extracted, counts.failed, counts.handed_back, counts.dead_lettered
    );
    Ok(match signal_rx.await {
        Ok(code) => Outcome::Interrupted(code),
        Err(_) => Outcome::Done,
    })
}

/// The worker's executor, built as `riptide serve` builds its own except for where it keeps
/// what it learns about hosts: with `queue.share_learning`, the cluster's learning bucket on the
/// queue's server (`url`), else the home's `timeouts.redb`.
fn executor(config: &RiptideConfig, home: &Path, url: &str) -> CliResult<BoxExecutor> {
    let mut stack = riptide::Stack::from_config(config).home(home);
    if config.queue.share_learning {
        stack = stack.learning_store(shared_store(config, url)?);
    }
    Ok(stack.build()?)
}

/// The learning bucket on the NATS server at `url`, unless `persist_profiles` is off. A server
/// that cannot be reached is not an error: the store connects in the background, and the
/// worker learns in memory until then.
fn shared_store(config: &RiptideConfig, url: &str) -> CliResult<Option<Arc<dyn LearningStore>>> {
    if !config.optimizations.adaptive_timeout.persist_profiles {
        return Ok(None);
    }
    Ok(Some(Arc::new(NatsLearningStore::open(url, &config.queue)?)))
}

pub(crate) async fn status(config: &RiptideConfig, args: NatsArgs) -> CliResult<Outcome> {
    let queue = args.connect(config, "riptide-queue-status").await?;
    super::print_json(&QueueStatus::read(&queue).await?)
}
