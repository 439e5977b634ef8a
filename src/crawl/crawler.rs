//! [`Crawler`]: seeds → frontier → executor → links → frontier, until the site is done.
//!
//! One task owns the crawl's state (the frontier, the hosts, the trap guards) and decides what
//! runs next; pages are fetched and extracted by the executor on tasks of their own, at most
//! `concurrency` at once and `per_host` per host. Hosts take turns, so a slow host holds only
//! its own slots.
//!
//! # What survives a crash
//! A page's completion (and the links it found) is written to the state file in one durable
//! transaction when the stream is next polled after yielding it, that is, after the caller has
//! handled it; and a page's fetch slot is only given back then. So a crawl killed at any moment
//! fetches again, when resumed, at most the `concurrency` pages that were in flight or handled
//! but not yet written. Those are emitted twice: delivery is at least once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::Notify;
use tokio::task::{Id as TaskId, JoinSet};
use tokio::time::Instant;
use url::Url;

use super::discover;
use super::event::{CrawlEvent, CrawlFailure, CrawledPage, UnchangedPage};
use super::frontier::{FoundVia, Frontier, QueuedUrl};
use super::host::{Host, Robots, Turn};
use super::normalize::normalize;
use super::options::CrawlOptions;
use super::page_memory::PageMemory;
use super::page_rules::{
    MAX_SITEMAP_NESTING, MAX_SITEMAPS_PER_HOST, PageReading, deferral, emitted_mark, host_key_of, origin_of,
    parse_seed, pattern_error, sitemaps_of,
};
use super::report::CrawlReport;
use super::robots::{RobotsRules, robots_url};
use super::scope::ScopeRules;
use super::sitemap::Sitemap;
use super::traps::TrapGuard;
use crate::error::{CrawlError, Error, ErrorKind, FetchError, Result};
use crate::executor::{BoxExecutor, PageOptions, Validators};
use crate::extract::Content;

/// How often the trap guards' counts are written while the crawl runs (also at its end).
const TRAPS_SAVE_EVERY: Duration = Duration::from_secs(30);

const META_EMITTED: &str = "emitted";
const META_ENDED: &str = "ended";
const ENDED_DONE: &[u8] = b"done";
const META_TRAPS: &str = "traps";

/// Crawls sites through an executor: every page through its engine choice, its warm browsers,
/// its cached extractor and its learned per-host timeouts.
///
/// ```no_run
/// # async fn run() -> riptide::Result<()> {
/// use futures_util::StreamExt;
/// use riptide::crawl::{CrawlEvent, CrawlOptions, Crawler};
///
/// let executor = riptide::Stack::from_config(&riptide::RiptideConfig::load()?).build()?;
/// let options = CrawlOptions::new().max_pages(100);
/// let mut crawl = Crawler::new(executor, options).start(["https://docs.example.com/"])?;
/// while let Some(event) = crawl.next().await {
///     match event {
///         CrawlEvent::Page(page) => println!("{} {:?}", page.content.url, page.content.extracted.title),
///         CrawlEvent::Failed(failure) => eprintln!("{}: {}", failure.url, failure.error),
///         CrawlEvent::Unchanged(page) => println!("{} unchanged", page.url),
///         _ => {} // kinds a later riptide may add
///     }
/// }
/// println!("{:?}", crawl.report());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Crawler {
    executor: BoxExecutor,
    options: CrawlOptions,
}

impl std::fmt::Debug for Crawler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crawler")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Crawler {
    /// A crawler fetching through `executor`.
    pub fn new(executor: BoxExecutor, options: CrawlOptions) -> Self {
        Self { executor, options }
    }

    /// Starts crawling from `seeds` (resuming the state file's earlier run unless `fresh`).
    ///
    /// Fails only when the crawl cannot run at all: its state file cannot be opened, or an
    /// include or exclude pattern is not a regular expression. A seed that is not a URL is the
    /// stream's first failure row.
    pub fn start<I, S>(self, seeds: I) -> Result<Crawl>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let options = self.options;
        let mut ready = VecDeque::new();
        let mut valid = Vec::new();
        for seed in seeds {
            let seed: String = seed.into();
            match parse_seed(&seed) {
                Ok(url) => valid.push(url),
                Err(error) => ready.push_back(CrawlEvent::Failed(CrawlFailure {
                    url: seed,
                    depth: 0,
                    parent: None,
                    found_via: FoundVia::Seed,
                    error,
                })),
            }
        }
        if valid.is_empty() {
            if ready.is_empty() {
                return Err(CrawlError::Seed {
                    seed: String::new(),
                    why: "no seeds were given".into(),
                }
                .into());
            }
            // Nothing to crawl: the stream is the seeds' failures.
            let report = CrawlReport {
                name: options.name.clone(),
                failed: ready.len() as u64,
                ended: Some("done".into()),
                ..CrawlReport::default()
            };
            let shared = Arc::new(Shared {
                report: Mutex::new(report),
                cancelled: AtomicBool::new(false),
                cancel: Notify::new(),
            });
            let events = futures_util::stream::iter(ready).boxed();
            return Ok(Crawl { shared, events });
        }
        let failed_seeds = ready.len() as u64;
        let scope =
            ScopeRules::new(options.scope, &valid, &options.include, &options.exclude).map_err(pattern_error)?;
        let (frontier, resumed, recrawl, memory) = match &options.state_file {
            Some(path) => {
                let state_error = |e: super::frontier::FrontierError| CrawlError::State {
                    path: path.clone(),
                    source: Box::new(e),
                };
                if options.fresh {
                    Frontier::remove(path).map_err(state_error)?;
                    remove_if_there(&PageMemory::path_beside(path))?;
                }
                let (mut frontier, mut resumed) = Frontier::open(path).map_err(state_error)?;
                // A crawl that ran to its end starts over as a recrawl, with what it remembers
                // of each page; any other end is resumed where it stopped.
                let finished = frontier.meta(META_ENDED).as_deref() == Some(ENDED_DONE);
                if finished {
                    drop(frontier);
                    Frontier::remove(path).map_err(state_error)?;
                    (frontier, resumed) = Frontier::open(path).map_err(state_error)?;
                }
                (frontier, Some(resumed), finished, PageMemory::beside(path))
            }
            None => (Frontier::memory(), None, false, None),
        };
        if !options.obey_robots {
            tracing::warn!(crawl = %options.name, "robots.txt is not obeyed (asked for explicitly)");
        }
        let client = discover::client(self.executor.config())?;
        let mut traps = TrapGuard::new(options.traps);
        if let Some(saved) = frontier.meta(META_TRAPS) {
            traps.restore(decode_counts(&saved));
        }
        let emitted = frontier
            .meta(META_EMITTED)
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, u64::from_le_bytes);
        let report = CrawlReport {
            name: options.name.clone(),
            failed: failed_seeds,
            recrawl,
            emitted,
            resumed: resumed.as_ref().is_some_and(|r| r.seen > 0),
            resumed_in_flight: resumed.as_ref().map_or(0, |r| r.requeued_in_flight),
            ..CrawlReport::default()
        };
        let now = Instant::now();
        let page_options = options.page.clone().engine(options.engine);
        let shared = Arc::new(Shared {
            report: Mutex::new(report),
            cancelled: AtomicBool::new(false),
            cancel: Notify::new(),
        });
        let mut run = Run {
            executor: self.executor,
            client,
            deadline: options.max_duration.map(|d| now + d),
            options,
            page_options,
            scope,
            traps,
            frontier,
            memory,
            recrawl,
            hosts: HashMap::new(),
            rotation: VecDeque::new(),
            in_rotation: HashSet::new(),
            tasks: JoinSet::new(),
            page_tasks: HashMap::new(),
            pages_in_flight: 0,
            ready,
            deferrals: HashMap::new(),
            sitemaps: HashMap::new(),
            sitemap_queue: HashMap::new(),
            emitted,
            started: now,
            traps_saved: now,
            next_timer: None,
            ended: false,
            shared: shared.clone(),
        };
        for host in run.frontier.queued_hosts() {
            run.enter_rotation(&host);
        }
        for url in valid {
            match normalize(&url) {
                Some(url) => run.offer(url, 0, None, FoundVia::Seed),
                None => run.skip("not_http"),
            }
        }
        run.publish();
        let events = futures_util::stream::unfold(run, |mut run| async move {
            let event = run.next().await?;
            Some((event, run))
        })
        .boxed();
        Ok(Crawl { shared, events })
    }
}

/// A running crawl: a [`Stream`] of [`CrawlEvent`]s, with its live [`CrawlReport`].
///
/// Dropping it stops the crawl: fetches in flight are abandoned (and fetched again by the next
/// run of a crawl with a state file), and what was handled is written first.
pub struct Crawl {
    shared: Arc<Shared>,
    events: BoxStream<'static, CrawlEvent>,
}

impl std::fmt::Debug for Crawl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crawl")
            .field("report", &self.report())
            .finish_non_exhaustive()
    }
}

impl Crawl {
    /// The crawl's figures so far (final once the stream has ended).
    pub fn report(&self) -> CrawlReport {
        crate::sync::lock(&self.shared.report).clone()
    }

    /// A handle to the crawl for elsewhere (a signal handler, a server's list of running
    /// crawls): it reads the live report and can stop the crawl.
    pub fn handle(&self) -> CrawlHandle {
        CrawlHandle(self.shared.clone())
    }
}

impl Stream for Crawl {
    type Item = CrawlEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<CrawlEvent>> {
        self.events.poll_next_unpin(cx)
    }
}

/// A [`Crawl`]'s report and its stop, from elsewhere (see [`Crawl::handle`]).
#[derive(Clone)]
pub struct CrawlHandle(Arc<Shared>);

impl std::fmt::Debug for CrawlHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrawlHandle").field("report", &self.report()).finish()
    }
}

impl CrawlHandle {
    /// The crawl's figures so far.
    pub fn report(&self) -> CrawlReport {
        crate::sync::lock(&self.0.report).clone()
    }

    /// Stops the crawl: no new page starts, the pages in flight are abandoned, and the stream
    /// ends.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.cancel.notify_one();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }
}

struct Shared {
    report: Mutex<CrawlReport>,
    cancelled: AtomicBool,
    cancel: Notify,
}

/// What a crawl task hands back.
#[allow(
    clippy::large_enum_variant,
    reason = "pages are nearly every task; boxing them costs each one"
)]
enum Task {
    Page {
        queued: QueuedUrl,
        result: Result<Content>,
        latency: Duration,
    },
    Robots {
        host: String,
        rules: RobotsRules,
        unreachable: Option<String>,
    },
    Sitemap {
        host: String,
        url: Url,
        nesting: u32,
        result: std::result::Result<Sitemap, String>,
    },
}

/// The crawl's state, owned by the stream.
struct Run {
    executor: BoxExecutor,
    client: reqwest::Client,
    options: CrawlOptions,
    page_options: PageOptions,
    scope: ScopeRules,
    traps: TrapGuard,
    frontier: Frontier,
    /// What is remembered of each page for a recrawl (with a state file).
    memory: Option<PageMemory>,
    /// This run asks for every page conditionally.
    recrawl: bool,
    hosts: HashMap<String, Host>,
    /// Hosts with queued URLs, in turn order.
    rotation: VecDeque<String>,
    in_rotation: HashSet<String>,
    tasks: JoinSet<Task>,
    /// The URL of each page task, for a task that panics.
    page_tasks: HashMap<TaskId, QueuedUrl>,
    pages_in_flight: u64,
    /// Events to yield before anything else runs.
    ready: VecDeque<CrawlEvent>,
    /// How often each URL was put back for its host's sake.
    deferrals: HashMap<String, u32>,
    /// Sitemaps queued per host this run.
    sitemaps: HashMap<String, usize>,
    /// Sitemaps waiting for their host's turn.
    sitemap_queue: HashMap<String, VecDeque<(Url, u32)>>,
    emitted: u64,
    started: Instant,
    deadline: Option<Instant>,
    traps_saved: Instant,
    /// When a host held back by its delay may go.
    next_timer: Option<Instant>,
    ended: bool,
    shared: Arc<Shared>,
}

impl Run {
    async fn next(&mut self) -> Option<CrawlEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            // Everything yielded so far has been handled by the caller: make it durable, then
            // give its fetch slots back.
            if let Err(e) = self.commit() {
                self.end("state_failed");
                return Some(CrawlEvent::Failed(CrawlFailure {
                    url: self
                        .options
                        .state_file
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    depth: 0,
                    parent: None,
                    found_via: FoundVia::Seed,
                    error: e,
                }));
            }
            if let Some(reason) = self.why_end() {
                self.end(reason);
                continue;
            }
            self.schedule();
            self.publish();
            self.wait().await;
        }
    }

    /// Why the crawl ends now, if it does.
    fn why_end(&self) -> Option<&'static str> {
        if self.shared.cancelled.load(Ordering::SeqCst) {
            return Some("cancelled");
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some("max_duration");
        }
        if !self.tasks.is_empty() {
            return None;
        }
        if self.page_cap_reached() {
            return Some("max_pages");
        }
        (self.frontier.queued_total() == 0 && self.sitemap_queue.values().all(VecDeque::is_empty)).then_some("done")
    }

    fn page_cap_reached(&self) -> bool {
        self.options
            .max_pages
            .is_some_and(|max| self.emitted + self.pages_in_flight >= max)
    }

    fn end(&mut self, reason: &'static str) {
        self.ended = true;
        // Abandoned fetches stay in flight in the state file: the next run fetches them again.
        self.tasks.abort_all();
        self.save_traps();
        if reason == "done" {
            self.frontier.set_meta(META_ENDED, ENDED_DONE);
        }
        if let Some(memory) = &mut self.memory {
            memory.commit(true);
        }
        if let Err(e) = self.commit() {
            tracing::warn!(error = %e, "the crawl's last state was not written");
        }
        crate::sync::lock(&self.shared.report).ended = Some(reason.to_string());
        self.publish();
    }

    fn commit(&mut self) -> Result<()> {
        if self.traps_saved.elapsed() >= TRAPS_SAVE_EVERY {
            self.save_traps();
        }
        self.frontier.set_meta(META_EMITTED, &self.emitted.to_le_bytes());
        if let Some(memory) = &mut self.memory {
            memory.commit(false);
        }
        let path = self.options.state_file.clone().unwrap_or_default();
        self.frontier.commit().map_err(|e| {
            CrawlError::State {
                path,
                source: Box::new(e),
            }
            .into()
        })
    }

    fn save_traps(&mut self) {
        self.traps_saved = Instant::now();
        let encoded = encode_counts(&self.traps.snapshot());
        self.frontier.set_meta(META_TRAPS, &encoded);
    }

    /// Starts what may start: hosts take turns, one fetch per turn, until the crawl's slots
    /// are full or no host may go.
    fn schedule(&mut self) {
        let now = Instant::now();
        self.next_timer = None;
        loop {
            let mut progressed = false;
            for _ in 0..self.rotation.len() {
                if self.tasks.len() >= self.options.concurrency || self.page_cap_reached() {
                    return;
                }
                let Some(host) = self.rotation.pop_front() else { return };
                let sitemaps_waiting = self.sitemap_queue.get(&host).is_some_and(|q| !q.is_empty());
                if self.frontier.queued_len(&host) == 0 && !sitemaps_waiting {
                    self.in_rotation.remove(&host);
                    continue;
                }
                self.rotation.push_back(host.clone());
                progressed |= self.take_turn(&host, now);
            }
            if !progressed {
                return;
            }
        }
    }

    /// `host`'s turn: fetches its robots.txt, or starts its next page. Whether anything started.
    fn take_turn(&mut self, host_key: &str, now: Instant) -> bool {
        let (delay, per_host, obey) = (self.options.delay, self.options.per_host, self.options.obey_robots);
        let host = self
            .hosts
            .entry(host_key.to_string())
            .or_insert_with(|| Host::new(delay, now));
        match &host.robots {
            Robots::Fetching => return false,
            Robots::Unknown if !obey => host.robots_ready(RobotsRules::allow_all()),
            _ => {}
        }
        // Every request to the host takes its turn: robots.txt and sitemaps as much as pages.
        match host.turn(now, per_host) {
            Turn::Now => {}
            Turn::Busy => return false,
            Turn::At(at) => {
                host.held_back = true;
                self.next_timer = Some(self.next_timer.map_or(at, |t| t.min(at)));
                return false;
            }
        }
        let rules = match &host.robots {
            Robots::Ready(rules) => rules.clone(),
            _ => {
                host.start(now);
                host.robots = Robots::Fetching;
                self.fetch_robots(host_key);
                return true;
            }
        };
        if let Some((url, nesting)) = self.sitemap_queue.get_mut(host_key).and_then(VecDeque::pop_front) {
            host.start(now);
            crate::sync::lock(&self.shared.report).sitemaps_fetched += 1;
            let client = self.client.clone();
            let host = host_key.to_string();
            self.tasks.spawn(async move {
                let result = discover::sitemap(&client, &url).await;
                Task::Sitemap {
                    host,
                    url,
                    nesting,
                    result,
                }
            });
            return true;
        }
        let queued = match self.frontier.next_for(host_key) {
            Ok(Some(queued)) => queued,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(error = %e, host = host_key, "a queued URL could not be read; the host is skipped");
                return false;
            }
        };
        if self.frontier.is_seen(&emitted_mark(&queued.url)) {
            // A redirect from another URL already brought this page.
            self.frontier.complete(&queued.url);
            self.skip("redirect_seen");
            return true;
        }
        let allowed = Url::parse(&queued.url).is_ok_and(|u| rules.allowed(&u));
        if !allowed {
            self.frontier.complete(&queued.url);
            match host.unreachable.clone() {
                // Not the site's wish but its silence: each URL is a row, so the user sees it.
                Some(why) => {
                    let robots_url = origin_of(host_key).map(|o| robots_url(&o).to_string());
                    self.fail(
                        queued,
                        CrawlError::RobotsUnreachable {
                            robots_url: robots_url.unwrap_or_default(),
                            why,
                        }
                        .into(),
                    );
                }
                None => self.skip("robots"),
            }
            return true;
        }
        if host.start(now) {
            crate::sync::lock(&self.shared.report).delays_applied += 1;
        }
        self.pages_in_flight += 1;
        let executor = self.executor.clone();
        let mut options = self.page_options.clone();
        if self.recrawl
            && let Some(memory) = &self.memory
        {
            options.validators = memory.get(&queued.url).and_then(|r| r.validators);
        }
        let url = queued.clone();
        let task = self.tasks.spawn(async move {
            let started = Instant::now();
            let result = executor.extract_page(&queued.url, options).await;
            Task::Page {
                queued,
                result,
                latency: started.elapsed(),
            }
        });
        self.page_tasks.insert(task.id(), url);
        true
    }

    fn fetch_robots(&mut self, host_key: &str) {
        let Some(origin) = origin_of(host_key) else {
            return;
        };
        let client = self.client.clone();
        let agent = self.options.user_agent_token.clone();
        let host = host_key.to_string();
        crate::sync::lock(&self.shared.report).robots_fetches += 1;
        self.tasks.spawn(async move {
            let (rules, unreachable) = discover::robots(&client, &origin, &agent).await;
            Task::Robots {
                host,
                rules,
                unreachable,
            }
        });
    }

    /// Queues a sitemap of `host`; it is fetched at one of the host's turns.
    fn queue_sitemap(&mut self, host: &str, url: Url, nesting: u32) {
        let fetched = self.sitemaps.entry(host.to_string()).or_default();
        if *fetched >= MAX_SITEMAPS_PER_HOST || nesting > MAX_SITEMAP_NESTING {
            return;
        }
        *fetched += 1;
        self.sitemap_queue
            .entry(host.to_string())
            .or_default()
            .push_back((url, nesting));
        self.enter_rotation(host);
    }

    /// Waits for a task to end (handling every one that has), a held-back host's time, the
    /// deadline, or cancellation.
    async fn wait(&mut self) {
        let timer = self.next_timer;
        let deadline = self.deadline;
        let shared = self.shared.clone();
        if self.tasks.is_empty() && timer.is_none() {
            // Nothing runs and nothing waits: the queued URLs belong to no host that may go
            // (cannot happen; ending beats hanging).
            if self.frontier.queued_total() > 0 || self.sitemap_queue.values().any(|q| !q.is_empty()) {
                tracing::warn!("queued URLs that no host can take; the crawl ends");
                self.ended = true;
                crate::sync::lock(&self.shared.report).ended = Some("stalled".into());
            }
            return;
        }
        tokio::select! {
            joined = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                if let Some(joined) = joined {
                    self.handle_joined(joined);
                }
                while let Some(joined) = self.tasks.try_join_next_with_id() {
                    self.handle_joined(joined);
                }
            }
            () = sleep_until_some(timer) => {}
            () = sleep_until_some(deadline) => {}
            () = shared.cancel.notified() => {}
        }
    }

    fn handle_joined(&mut self, joined: std::result::Result<(TaskId, Task), tokio::task::JoinError>) {
        match joined {
            Ok((
                id,
                Task::Page {
                    queued,
                    result,
                    latency,
                },
            )) => {
                self.page_tasks.remove(&id);
                self.on_page(queued, result, latency);
            }
            Ok((
                _,
                Task::Robots {
                    host,
                    rules,
                    unreachable,
                },
            )) => self.on_robots(&host, rules, unreachable),
            Ok((
                _,
                Task::Sitemap {
                    host,
                    url,
                    nesting,
                    result,
                },
            )) => self.on_sitemap(&host, &url, nesting, result),
            // A page whose extraction panicked is that page's failure, and the crawl goes on.
            Err(e) => match self.page_tasks.remove(&e.id()) {
                Some(queued) => {
                    let error = Error::from(ErrorKind::Task {
                        action: "extract a page",
                        source: e,
                    });
                    self.on_page(queued, Err(error), Duration::ZERO);
                }
                None => tracing::debug!(error = %e, "a robots.txt or sitemap task ended without a result"),
            },
        }
    }

    fn on_robots(&mut self, host_key: &str, rules: RobotsRules, unreachable: Option<String>) {
        if let Some(host) = self.hosts.get_mut(host_key) {
            host.finish(Duration::ZERO, false);
            host.robots_ready(rules);
            host.unreachable = unreachable;
        }
        if !self.options.sitemaps {
            return;
        }
        let rules = match self.hosts.get(host_key).map(|h| &h.robots) {
            Some(Robots::Ready(rules)) => rules.clone(),
            _ => return,
        };
        for url in sitemaps_of(host_key, &rules) {
            self.queue_sitemap(host_key, url, 0);
        }
    }

    fn on_sitemap(&mut self, host: &str, url: &Url, nesting: u32, result: std::result::Result<Sitemap, String>) {
        if let Some(host) = self.hosts.get_mut(host) {
            host.finish(Duration::ZERO, false);
        }
        match result {
            Ok(Sitemap::Urls { urls, truncated }) => {
                if truncated {
                    tracing::info!(sitemap = %url, "the sitemap lists more URLs than the protocol's 50,000; the rest are not read");
                }
                crate::sync::lock(&self.shared.report).sitemap_urls += urls.len() as u64;
                for entry in urls {
                    self.offer_raw(&entry.loc, 1, Some(url.as_str()), FoundVia::Sitemap);
                }
            }
            Ok(Sitemap::Index { sitemaps, truncated }) => {
                if truncated {
                    tracing::info!(sitemap = %url, "the sitemap index lists more sitemaps than the protocol's 50,000; the rest are not read");
                }
                for child in sitemaps {
                    if let Ok(child) = Url::parse(&child)
                        && host_key_of(&child).as_deref() == Some(host)
                    {
                        self.queue_sitemap(host, child, nesting + 1);
                    }
                }
            }
            // A missing `/sitemap.xml` is the common case, not news.
            Err(e) => tracing::debug!(sitemap = %url, error = %e, "sitemap not used"),
        }
    }

    fn on_page(&mut self, queued: QueuedUrl, result: Result<Content>, latency: Duration) {
        self.pages_in_flight = self.pages_in_flight.saturating_sub(1);
        let now = Instant::now();
        crate::sync::lock(&self.shared.report).fetched += 1;
        let content = match result {
            Ok(content) => content,
            Err(error) if matches!(error.kind(), ErrorKind::Fetch(FetchError::NotModified)) => {
                if let Some(host) = self.hosts.get_mut(&queued.host) {
                    host.finish(latency, true);
                }
                self.frontier.complete(&queued.url);
                self.on_unchanged(queued);
                return;
            }
            Err(error) => {
                let defer = deferral(&error);
                if let Some(host) = self.hosts.get_mut(&queued.host) {
                    host.finish(latency, false);
                    if let Some(wait) = defer {
                        host.back_off(now, wait);
                    }
                }
                let tries = self.deferrals.entry(queued.url.clone()).or_default();
                if defer.is_some() && *tries < self.options.max_deferrals {
                    *tries += 1;
                    crate::sync::lock(&self.shared.report).backoffs += 1;
                    let host = queued.host.clone();
                    if self.frontier.requeue(queued) {
                        self.enter_rotation(&host);
                    }
                    return;
                }
                self.deferrals.remove(&queued.url);
                self.frontier.complete(&queued.url);
                self.fail(queued, error);
                return;
            }
        };
        // The host is judged by how long it took to answer, not by the extraction after it:
        // on a busy machine the extraction waits for a core, and that is no sign of a
        // struggling host (it slowed every crawl down to its 5 s cap at concurrency 32).
        if let Some(host) = self.hosts.get_mut(&queued.host) {
            host.finish(content.timings.fetch.min(latency), true);
        }
        self.deferrals.remove(&queued.url);
        self.frontier.complete(&queued.url);
        self.on_content(queued, content);
    }

    /// A page its server says is unchanged since the last run: reported, and its remembered
    /// links followed as if it had been read again.
    fn on_unchanged(&mut self, queued: QueuedUrl) {
        let links = self
            .memory
            .as_ref()
            .and_then(|m| m.get(&queued.url))
            .map(|r| r.links)
            .unwrap_or_default();
        for link in &links {
            self.offer_raw(link, queued.depth + 1, Some(&queued.url), FoundVia::Link);
        }
        self.frontier.mark_seen(&emitted_mark(&queued.url));
        crate::sync::lock(&self.shared.report).unchanged += 1;
        self.ready.push_back(CrawlEvent::Unchanged(UnchangedPage {
            url: queued.url,
            depth: queued.depth,
            parent: queued.parent,
            found_via: queued.found_via,
        }));
    }

    /// Reports `queued` as a failure row.
    fn fail(&mut self, queued: QueuedUrl, error: Error) {
        crate::sync::lock(&self.shared.report).failed += 1;
        self.ready.push_back(CrawlEvent::Failed(CrawlFailure {
            url: queued.url,
            depth: queued.depth,
            parent: queued.parent,
            found_via: queued.found_via,
            error,
        }));
    }

    /// A fetched page: follow its links, then emit it unless it is a duplicate or `noindex`.
    fn on_content(&mut self, queued: QueuedUrl, mut content: Content) {
        let QueuedUrl {
            url: asked,
            depth,
            mut parent,
            mut found_via,
            ..
        } = queued;
        let reading = PageReading::read(&asked, &content, &self.options.user_agent_token);
        let mut page_url = asked.clone();
        if let Some(landed) = &reading.landed {
            if self.scope.check(landed).is_err() {
                self.skip("redirect_out_of_scope");
                return;
            }
            // The page is the redirect's target: fetched now, so never fetched again for it
            // (a queued copy is cut at its turn by its emitted mark).
            self.frontier.mark_seen(landed.as_str());
            page_url = landed.to_string();
            parent = Some(asked);
            found_via = FoundVia::Redirect;
        }
        if reading.nofollow > 0 {
            self.skip_n("nofollow", reading.nofollow);
        }
        for link in &reading.followed {
            self.offer_raw(link, depth + 1, Some(&page_url), FoundVia::Link);
        }
        if let Some(memory) = &mut self.memory {
            let validators = Validators::new(content.etag.clone(), content.last_modified.clone());
            memory.remember(&page_url, validators.as_ref(), &reading.followed);
            if let Some(asked) = &parent
                && found_via == FoundVia::Redirect
            {
                // A recrawl asks for the URL that redirected here.
                memory.remember(asked, validators.as_ref(), &reading.followed);
            }
        }
        if reading.directives.noindex {
            self.skip("noindex");
            return;
        }
        if let Some(canonical) = &reading.canonical
            && canonical.as_str() != page_url
            && self.scope.check(canonical).is_ok()
            && !self.frontier.mark_seen(canonical.as_str())
        {
            self.skip("canonical");
            return;
        }
        if let Some(key) = &reading.content_key
            && !self.frontier.mark_seen(key)
        {
            self.skip("duplicate_content");
            return;
        }
        if self.options.max_pages.is_some_and(|max| self.emitted >= max) {
            self.skip("max_pages");
            return;
        }
        if !self.frontier.mark_seen(&emitted_mark(&page_url)) {
            self.skip("redirect_seen");
            return;
        }
        self.emitted += 1;
        content.url = page_url;
        self.ready.push_back(CrawlEvent::Page(CrawledPage {
            content,
            depth,
            parent,
            found_via,
        }));
    }

    /// A link or a sitemap's URL as written.
    fn offer_raw(&mut self, raw: &str, depth: u32, parent: Option<&str>, found_via: FoundVia) {
        // Most links of a site lead to pages seen already, and the extractor writes them in the
        // form `normalize` gives (absolute, serialized by the URL parser): such a link is seen
        // as written, and parsing and normalizing it again would change nothing. Only an
        // http(s) string can be one (the seen-set also holds marks that are not URLs), and
        // `normalize` is idempotent, so a string in the seen-set normalizes to itself.
        if (raw.starts_with("http://") || raw.starts_with("https://")) && self.frontier.is_seen(raw) {
            return;
        }
        match Url::parse(raw).ok().and_then(|u| normalize(&u)) {
            Some(url) => self.offer(url, depth, parent.map(str::to_string), found_via),
            None => self.skip("not_http"),
        }
    }

    /// Queues `url` unless it was seen, or a guard cuts it (counted by reason).
    fn offer(&mut self, url: Url, depth: u32, parent: Option<String>, found_via: FoundVia) {
        if self.frontier.is_seen(url.as_str()) {
            return;
        }
        if depth > self.options.max_depth {
            self.skip("depth");
            return;
        }
        if let Err(out) = self.scope.check(&url) {
            // Out of scope for the whole crawl: remembered, so it is counted once.
            self.frontier.mark_seen(url.as_str());
            self.skip(out.as_str());
            return;
        }
        if let Err(trap) = self.traps.check(&url) {
            self.frontier.mark_seen(url.as_str());
            self.skip(trap.as_str());
            return;
        }
        let Some(host) = host_key_of(&url) else {
            self.skip("not_http");
            return;
        };
        let queued = QueuedUrl {
            url: url.into(),
            host: host.clone(),
            depth,
            parent,
            found_via,
        };
        if self.frontier.offer(queued) {
            self.enter_rotation(&host);
        }
    }

    fn enter_rotation(&mut self, host: &str) {
        if self.in_rotation.insert(host.to_string()) {
            self.rotation.push_back(host.to_string());
        }
    }

    fn skip(&mut self, reason: &str) {
        self.skip_n(reason, 1);
    }

    fn skip_n(&mut self, reason: &str, n: u64) {
        *crate::sync::lock(&self.shared.report)
            .skipped
            .entry(reason.to_string())
            .or_default() += n;
    }

    /// Copies the live figures into the shared report.
    fn publish(&self) {
        let counts = self.frontier.counts();
        let mut report = crate::sync::lock(&self.shared.report);
        report.emitted = self.emitted;
        report.queued = counts.queued;
        report.in_flight = self.pages_in_flight;
        report.seen = counts.seen;
        report.hosts = self.hosts.len().max(self.in_rotation.len()) as u64;
        report.elapsed_secs = self.started.elapsed().as_secs_f64();
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Keep what the caller was given, unless some of what is staged never reached it:
        // then nothing is kept, and the next run fetches those pages again (at most
        // `concurrency` of them).
        if !self.ended && self.ready.is_empty() {
            self.save_traps();
            if let Err(e) = self.commit() {
                tracing::warn!(error = %e, "the crawl's last state was not written");
            }
        }
    }
}

/// Deletes `path`; a missing file is fine.
fn remove_if_there(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove the crawl's page memory", path, e)),
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn encode_counts(counts: &[(u64, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(counts.len() * 12);
    for (key, count) in counts {
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
    }
    out
}

fn decode_counts(bytes: &[u8]) -> Vec<(u64, u32)> {
    bytes
        .chunks_exact(12)
        .filter_map(|c| {
            let key = u64::from_le_bytes(c.get(..8)?.try_into().ok()?);
            let count = u32::from_le_bytes(c.get(8..)?.try_into().ok()?);
            Some((key, count))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_counts_round_trip() {
        let counts = vec![(1, 2), (u64::MAX, 7)];
        assert_eq!(decode_counts(&encode_counts(&counts)), counts);
        assert!(decode_counts(&[1, 2, 3]).is_empty());
    }
}
