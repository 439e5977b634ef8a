//! [`run_crawls`]: the worker's side of the crawls across machines.
//!
//! A `riptide worker` polls the crawls' registry; for each crawl it pulls URLs from the crawl's
//! shared frontier consumer and handles each as the single-machine crawler would (the same
//! normalization, scope, trap, robots, directive, canonical and duplicate rules, from
//! `crawl::page_rules`), with the crawl's state in JetStream instead of a redb file:
//!
//! 1. robots.txt of the URL's host: read from the crawl's bucket, or fetched by the one worker
//!    that takes the host's robots lock (then its sitemaps too) and stored for the others;
//! 2. a fetch slot of the host (a lease key, one of `per_host`) and its turn (`next.<host>`,
//!    moved `delay` on with compare-and-set, plus the slow-down the workers learned from the
//!    host's answer times, shared as `slow.<host>`); the page is fetched by the executor;
//! 3. each link: normalized, depth, scope and shape checks, then *claimed* in the seen-set
//!    (`create` of `seen.<hash>`: exactly one discoverer wins) and published to the frontier
//!    with its hash as message id;
//! 4. the page: canonical and duplicate-content claims, the crawl-wide page count
//!    (compare-and-set), then its record on the results stream (message id: its hash);
//! 5. only then is the URL's frontier message acked.
//!
//! A worker killed at any step leaves the message un-acked: JetStream delivers it again after
//! `ack_wait`, and the next worker finds the claims the dead one made under the same token (the
//! URL's hash) as its own, so it publishes again what the dead one may not have published
//! (dropped by message id if it had). What is lost is at most a page's count; what is emitted
//! twice is at most the pages that were in flight.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use url::Url;

use super::spec::CrawlSpec;
use super::state::{Claim, FrontierEntry, NatsCrawl, PageMemo, digest};
use crate::crawl::page_rules::{
    MAX_SITEMAP_NESTING, MAX_SITEMAPS_PER_HOST, PageReading, deferral, emitted_mark, host_key_of, origin_of,
    sitemaps_of,
};
use crate::crawl::robots::RobotsRules;
use crate::crawl::scope::ScopeRules;
use crate::crawl::sitemap::Sitemap;
use crate::crawl::slowdown::{MAX_SLOWDOWN, SlowDown};
use crate::crawl::{
    CrawlFailure, CrawlReport, CrawledPage, FoundVia, TrapLimits, UnchangedPage, discover, normalize::normalize,
};
use crate::error::{CrawlError, Error, ErrorKind, FetchError, Result};
use crate::executor::{BoxExecutor, PageOptions, Validators};
use crate::queue::Queue;

/// How often the registry is read for new or cancelled crawls.
const REGISTRY_EVERY: Duration = Duration::from_secs(1);
/// How often a worker writes its counts for each crawl.
const STATS_EVERY: Duration = Duration::from_secs(2);
/// Links of one page claimed and published at once.
const OFFERS_IN_FLIGHT: usize = 16;

/// Runs the registry's crawls on `executor` until `shutdown` turns `true` (or its sender is
/// dropped): at most `concurrency` pages at once over all of them (each crawl's own
/// `--concurrency` holds over all workers through its consumer). `worker` names this worker's
/// counts.
///
/// On shutdown no URL is pulled any more; the pages in progress get `[queue]
/// shutdown_grace_secs` to finish, and the rest are handed back at once (a `nak`), so other
/// workers take them now rather than after `ack_wait`.
pub async fn run_crawls(
    queue: Queue,
    executor: BoxExecutor,
    worker: String,
    concurrency: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let client = match discover::client(executor.config()) {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "no crawls on this worker: its HTTP client could not be built");
            return;
        }
    };
    // Each crawl run here, with the generation of its start: a crawl cancelled and started
    // again (`--fresh`) is a new start, and the old one's task stops.
    let mut running: HashMap<String, (u64, tokio::task::JoinHandle<()>)> = HashMap::new();
    while !stopping(&shutdown) {
        match super::state::registered(&queue).await {
            Ok(registered) => {
                running.retain(|name, (generation, task)| {
                    let keep = registered.get(name) == Some(generation) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for name in registered.keys() {
                    if running.contains_key(name) {
                        continue;
                    }
                    let (crawl, spec) = match NatsCrawl::open(&queue, name).await {
                        Ok(Some(found)) => found,
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::warn!(crawl = %name, error = %format!("{e:#}"), "cannot run the crawl");
                            continue;
                        }
                    };
                    if matches!(crawl.ended().await, Ok(Some(_))) {
                        continue;
                    }
                    let generation = spec.generation;
                    let ctx = match Ctx::new(crawl, spec, executor.clone(), client.clone(), &worker) {
                        Ok(ctx) => Arc::new(ctx),
                        Err(e) => {
                            tracing::warn!(crawl = %name, error = %format!("{e:#}"), "cannot run the crawl");
                            continue;
                        }
                    };
                    tracing::info!(crawl = %name, "running the crawl");
                    let task = tokio::spawn(run_one(ctx, slots.clone(), shutdown.clone()));
                    running.insert(name.clone(), (generation, task));
                }
            }
            Err(e) => tracing::debug!(error = %format!("{e:#}"), "cannot read the crawls' registry"),
        }
        tokio::select! {
            () = tokio::time::sleep(REGISTRY_EVERY) => {}
            () = told(&mut shutdown) => {}
        }
    }
    // Each crawl hands its pages in progress back before it returns.
    for (_, (_, task)) in running {
        let _ = task.await;
    }
}

/// Whether the worker is stopping (told so, or its owner is gone).
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Resolves once `flag` is `true`, or its sender is gone.
async fn told(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

mod host;

use host::{HostRules, host_rules, observe_pace, take_slot};

/// What one worker keeps for one crawl.
struct Ctx {
    crawl: NatsCrawl,
    spec: CrawlSpec,
    scope: ScopeRules,
    traps: TrapLimits,
    executor: BoxExecutor,
    client: reqwest::Client,
    page_options: PageOptions,
    worker: String,
    /// Each host's robots.txt, once read.
    robots: Mutex<HashMap<String, Arc<HostRules>>>,
    /// URL hashes this worker knows are claimed crawl-wide (and published, when ours).
    seen: Mutex<HashSet<String>>,
    /// Each host's answer times as this worker saw them, and the slow-down it last shared.
    pace: Mutex<HashMap<String, (SlowDown, Duration)>>,
    /// Each host's shared slow-down, and when it was read.
    shared_slowdown: Mutex<HashMap<String, (tokio::time::Instant, Duration)>>,
    stats: Mutex<CrawlReport>,
}

/// What becomes of a frontier message.
enum Handled {
    /// Done with: ack it.
    Ack,
    /// Put it back, to be delivered again after this long.
    Defer(Duration),
}

impl Ctx {
    fn new(
        crawl: NatsCrawl,
        spec: CrawlSpec,
        executor: BoxExecutor,
        client: reqwest::Client,
        worker: &str,
    ) -> Result<Self> {
        Ok(Self {
            scope: spec.scope_rules()?,
            traps: spec.traps(),
            page_options: spec.page_options(),
            crawl,
            spec,
            executor,
            client,
            worker: worker.to_string(),
            robots: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashSet::new()),
            pace: Mutex::new(HashMap::new()),
            shared_slowdown: Mutex::new(HashMap::new()),
            stats: Mutex::new(CrawlReport::default()),
        })
    }

    fn skip(&self, reason: &str) {
        self.skip_n(reason, 1);
    }

    fn skip_n(&self, reason: &str, n: u64) {
        *crate::sync::lock(&self.stats)
            .skipped
            .entry(reason.to_string())
            .or_default() += n;
    }

    fn stat(&self, f: impl FnOnce(&mut CrawlReport)) {
        f(&mut crate::sync::lock(&self.stats));
    }

    async fn save_stats(&self) {
        let stats = crate::sync::lock(&self.stats).clone();
        let key = format!("stats.{}", self.worker);
        if let Err(e) = self
            .crawl
            .put(&key, serde_json::to_vec(&stats).unwrap_or_default())
            .await
        {
            tracing::debug!(error = %format!("{e:#}"), "could not write the worker's crawl counts");
        }
    }
}

/// Pulls one crawl's frontier until it ends, is cancelled, or the worker stops.
async fn run_one(ctx: Arc<Ctx>, slots: Arc<Semaphore>, mut shutdown: watch::Receiver<bool>) {
    let consumer = match ctx.crawl.frontier_consumer().await {
        Ok(consumer) => consumer,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot pull the crawl's frontier");
            return;
        }
    };
    let reporter = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(STATS_EVERY).await;
                ctx.save_stats().await;
            }
        })
    };
    let mut pages = JoinSet::new();
    let (hand_back, handing_back) = watch::channel(false);
    while !stopping(&shutdown) {
        if let Ok(Some(reason)) = ctx.crawl.ended().await {
            tracing::info!(crawl = ctx.crawl.name(), reason, "the crawl ended");
            break;
        }
        if let Ok(Some(reason)) = ctx.crawl.paused().await {
            tracing::debug!(crawl = ctx.crawl.name(), reason, "the crawl is paused");
            tokio::select! {
                () = ctx.crawl.unpaused() => {}
                () = told(&mut shutdown) => {}
            }
            while pages.try_join_next().is_some() {}
            continue;
        }
        let first = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = told(&mut shutdown) => break,
        };
        let Ok(first) = first else {
            break;
        };
        let wanted = 1 + slots.available_permits().min(15);
        let batch = consumer
            .batch()
            .max_messages(wanted)
            .expires(Duration::from_secs(1))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                tracing::debug!(error = %e, "could not ask for URLs; trying again");
                drop(first);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut first = Some(first);
        while let Some(message) = batch.next().await {
            let Ok(message) = message else { break };
            let Some(slot) = crate::queue::worker::take_slot(&mut first, &slots) else {
                let _ = message.ack_with(AckKind::Nak(None)).await;
                continue;
            };
            let (ctx, handing_back) = (ctx.clone(), handing_back.clone());
            pages.spawn(async move {
                handle_message(&ctx, message, handing_back).await;
                drop(slot);
            });
        }
        while pages.try_join_next().is_some() {}
    }
    let grace = Duration::from_secs(ctx.crawl.queue().config().shutdown_grace_secs);
    let finished = tokio::time::timeout(grace, async { while pages.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        hand_back.send_replace(true);
        while pages.join_next().await.is_some() {}
    }
    reporter.abort();
    ctx.save_stats().await;
}

/// Handles one frontier message to its end, with progress acks while it runs; or hands it
/// back when `handing_back` turns `true` (the worker stops): as if this worker had died at
/// that point, which every step allows for, only without the wait for `ack_wait`.
async fn handle_message(ctx: &Ctx, message: jetstream::Message, mut handing_back: watch::Receiver<bool>) {
    let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
    let Ok(entry) = serde_json::from_slice::<FrontierEntry>(&message.payload) else {
        tracing::warn!("a frontier message is not a URL entry; dropped");
        let _ = message.ack_with(AckKind::Term).await;
        return;
    };
    let every = ctx.crawl.lease_ttl_of().min(ack_wait(ctx)) / 3;
    let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let work = handle(ctx, &entry, delivered);
    tokio::pin!(work);
    let handled = loop {
        tokio::select! {
            handled = &mut work => break handled,
            _ = progress.tick() => {
                let _ = message.ack_with(AckKind::Progress).await;
            }
            () = told(&mut handing_back) => {
                let _ = message.ack_with(AckKind::Nak(None)).await;
                return;
            }
        }
    };
    match handled {
        Ok(Handled::Ack) => {
            if let Err(e) = message.double_ack().await {
                tracing::warn!(error = %e, url = %entry.url, "could not ack a URL; it may be handled again");
            }
        }
        Ok(Handled::Defer(wait)) => {
            let _ = message.ack_with(AckKind::Nak(Some(wait))).await;
        }
        Err(e) => {
            // The server is away or refused a write: the URL goes back, and is handled again.
            tracing::warn!(error = %format!("{e:#}"), url = %entry.url, "a URL is handed back");
            let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
        }
    }
}

fn ack_wait(ctx: &Ctx) -> Duration {
    Duration::from_secs(ctx.crawl.queue().config().ack_wait_secs.max(1))
}

fn found_via(name: &str) -> FoundVia {
    match name {
        "seed" => FoundVia::Seed,
        "sitemap" => FoundVia::Sitemap,
        "redirect" => FoundVia::Redirect,
        _ => FoundVia::Link,
    }
}

/// Offers each of `raw` (links or sitemap entries as written), a few at once.
async fn offer_all(ctx: &Ctx, raw: &[String], depth: u32, parent: &str, via: FoundVia, token: &str) -> Result<()> {
    let mut results = Vec::with_capacity(raw.len());
    for chunk in raw.chunks(OFFERS_IN_FLIGHT) {
        let offers: Vec<_> = chunk
            .iter()
            .map(|link| offer(ctx, link, depth, parent, via, token))
            .collect();
        results.extend(futures_util::future::join_all(offers).await);
    }
    results.into_iter().collect()
}

/// Queues one discovered URL on the frontier unless it was seen or a rule cuts it (counted by
/// reason). The seen-set claim decides which of two workers finding it at once queues it.
async fn offer(ctx: &Ctx, raw: &str, depth: u32, parent: &str, via: FoundVia, token: &str) -> Result<()> {
    let Some(url) = Url::parse(raw).ok().and_then(|u| normalize(&u)) else {
        ctx.skip("not_http");
        return Ok(());
    };
    let hash = digest(url.as_str());
    if crate::sync::lock(&ctx.seen).contains(&hash) {
        return Ok(());
    }
    if depth > ctx.spec.max_depth {
        ctx.skip("depth");
        return Ok(());
    }
    let cut = match ctx.scope.check(&url) {
        Err(out) => Some(out.as_str()),
        Ok(()) => ctx.traps.check_shape(&url).err().map(|t| t.as_str()),
    };
    let claim = ctx.crawl.claim(&format!("seen.{hash}"), token).await?;
    if let Some(reason) = cut {
        // Out of scope or a trap for the whole crawl: claimed, so it is counted once.
        if claim == Claim::New {
            ctx.skip(reason);
        }
        crate::sync::lock(&ctx.seen).insert(hash);
        return Ok(());
    }
    if claim == Claim::Taken {
        crate::sync::lock(&ctx.seen).insert(hash);
        return Ok(());
    }
    if claim == Claim::New
        && let Some(key) = ctx.traps.query_budget_key(&url)
        && !ctx
            .crawl
            .count_up_to(
                &format!("trap.{key:016x}"),
                Some(u64::from(ctx.traps.max_query_variants)),
            )
            .await?
    {
        ctx.skip("query_variants");
        crate::sync::lock(&ctx.seen).insert(hash);
        return Ok(());
    }
    let Some(host) = host_key_of(&url) else {
        ctx.skip("not_http");
        return Ok(());
    };
    let entry = FrontierEntry {
        url: url.into(),
        depth,
        parent: Some(parent.to_string()).filter(|p| !p.is_empty()),
        found_via: via.as_str().to_string(),
    };
    ctx.crawl.publish_url(&host, &hash, &entry).await?;
    crate::sync::lock(&ctx.seen).insert(hash);
    Ok(())
}

/// Offers the seeds of a new crawl (from `riptide crawl --nats`): claimed and published like
/// links, at depth 0. Seeds that are not URLs are returned as failure rows.
pub(crate) async fn offer_seeds(crawl: &NatsCrawl, spec: &CrawlSpec) -> Result<Vec<CrawlFailure>> {
    let mut failures = Vec::new();
    for seed in &spec.seeds {
        let url = match crate::crawl::page_rules::parse_seed(seed) {
            Ok(url) => url,
            Err(error) => {
                failures.push(CrawlFailure {
                    url: seed.clone(),
                    depth: 0,
                    parent: None,
                    found_via: FoundVia::Seed,
                    error,
                });
                continue;
            }
        };
        let Some(url) = normalize(&url) else { continue };
        let Some(host) = host_key_of(&url) else { continue };
        let hash = digest(url.as_str());
        if crawl.claim(&format!("seen.{hash}"), "seed").await? == Claim::Taken {
            continue;
        }
        let entry = FrontierEntry {
            url: url.into(),
            depth: 0,
            parent: None,
            found_via: FoundVia::Seed.as_str().into(),
        };
        crawl.publish_url(&host, &hash, &entry).await?;
    }
    Ok(failures)
}

/// Handles one URL: robots.txt, the host's slot and turn, the fetch, its links, its record.
async fn handle(ctx: &Ctx, entry: &FrontierEntry, delivered: i64) -> Result<Handled> {
    let Some(url) = Url::parse(&entry.url).ok() else {
        ctx.skip("not_http");
        return Ok(Handled::Ack);
    };
    let Some(host_key) = host_key_of(&url) else {
        ctx.skip("not_http");
        return Ok(Handled::Ack);
    };
    // The claims this URL's handling makes carry its hash: a second delivery (its first worker
    // died) recognizes them as its own.
    let token = digest(&entry.url);
    let via = found_via(&entry.found_via);
    let failure = |error: Error| CrawlFailure {
        url: entry.url.clone(),
        depth: entry.depth,
        parent: entry.parent.clone(),
        found_via: via,
        error,
    };
    if ctx
        .crawl
        .get(&format!("emitted.{}", digest(&emitted_mark(&entry.url))))
        .await?
        .is_some_and(|v| v != token.as_bytes())
    {
        // A redirect from another URL already brought this page.
        ctx.skip("redirect_seen");
        return Ok(Handled::Ack);
    }
    let rules = host_rules(ctx, &host_key, &token).await?;
    if !rules.rules.allowed(&url) {
        match &rules.unreachable {
            Some(why) => {
                let robots_url = crate::crawl::robots::robots_url(&url).to_string();
                let error = CrawlError::RobotsUnreachable {
                    robots_url,
                    why: why.clone(),
                }
                .into();
                publish_failure(ctx, failure(error)).await?;
            }
            None => ctx.skip("robots"),
        }
        return Ok(Handled::Ack);
    }
    if ctx.spec.max_pages.is_some_and(|max| max > 0) {
        let emitted = ctx.crawl.count("count.emitted").await?;
        if ctx.spec.max_pages.is_some_and(|max| emitted >= max) {
            ctx.crawl.end("max_pages").await?;
            return Ok(Handled::Defer(Duration::from_secs(5)));
        }
    }
    // A recrawl asks with what the page answered last time.
    let memo = match ctx.spec.recrawl {
        true => ctx.crawl.recall(&entry.url).await?,
        false => None,
    };
    let mut options = ctx.page_options.clone();
    options.validators = memo
        .as_ref()
        .and_then(|m| Validators::new(m.etag.clone(), m.last_modified.clone()));
    let slot = take_slot(ctx, &host_key, rules.rules.crawl_delay(), &token).await?;
    ctx.stat(|s| s.fetched += 1);
    let result = ctx.executor.extract_page(&entry.url, options).await;
    slot.release().await;
    if let Err(error) = &result
        && matches!(error.kind(), ErrorKind::Fetch(FetchError::NotModified))
    {
        return on_unchanged(ctx, entry, via, memo.unwrap_or_default(), &token).await;
    }
    let content = match result {
        Ok(content) => {
            observe_pace(ctx, &host_key, content.timings.fetch).await;
            content
        }
        Err(error) => {
            if let Some(wait) = deferral(&error) {
                let tries = u32::try_from(delivered.saturating_sub(1)).unwrap_or(u32::MAX);
                if tries < ctx.spec.max_deferrals {
                    ctx.stat(|s| s.backoffs += 1);
                    ctx.crawl.back_off(&digest(&host_key), wait).await?;
                    return Ok(Handled::Defer(wait.max(Duration::from_millis(100))));
                }
            }
            publish_failure(ctx, failure(error)).await?;
            return Ok(Handled::Ack);
        }
    };
    on_content(ctx, entry, via, content, &token).await
}

/// A page its server says is unchanged since the last run: reported (`"unchanged": true`),
/// and its remembered links followed as if it had been read again.
async fn on_unchanged(ctx: &Ctx, entry: &FrontierEntry, via: FoundVia, memo: PageMemo, token: &str) -> Result<Handled> {
    offer_all(ctx, &memo.links, entry.depth + 1, &entry.url, FoundVia::Link, token).await?;
    ctx.crawl
        .claim(&format!("emitted.{}", digest(&emitted_mark(&entry.url))), token)
        .await?;
    let record = UnchangedPage {
        url: entry.url.clone(),
        depth: entry.depth,
        parent: entry.parent.clone(),
        found_via: via,
    }
    .to_record();
    ctx.crawl
        .publish_result(&format!("u-{}", digest(&entry.url)), &record)
        .await?;
    ctx.stat(|s| s.unchanged += 1);
    Ok(Handled::Ack)
}

async fn publish_failure(ctx: &Ctx, failure: CrawlFailure) -> Result<()> {
    let id = format!("f-{}", digest(&failure.url));
    ctx.crawl.publish_result(&id, &failure.to_record()).await?;
    ctx.stat(|s| s.failed += 1);
    Ok(())
}

/// A fetched page: its links offered, then emitted unless a rule cuts it (the local crawler's
/// `on_content`, with claims in the bucket for its seen-set marks).
async fn on_content(
    ctx: &Ctx,
    entry: &FrontierEntry,
    via: FoundVia,
    mut content: crate::extract::Content,
    token: &str,
) -> Result<Handled> {
    let reading = PageReading::read(&entry.url, &content, &ctx.spec.user_agent_token);
    let mut page_url = entry.url.clone();
    let (mut parent, mut found_via) = (entry.parent.clone(), via);
    if let Some(landed) = &reading.landed {
        if ctx.scope.check(landed).is_err() {
            ctx.skip("redirect_out_of_scope");
            return Ok(Handled::Ack);
        }
        // Fetched now under its own name: never queued again for it.
        let hash = digest(landed.as_str());
        ctx.crawl.claim(&format!("seen.{hash}"), token).await?;
        crate::sync::lock(&ctx.seen).insert(hash);
        page_url = landed.to_string();
        parent = Some(entry.url.clone());
        found_via = FoundVia::Redirect;
    }
    if reading.nofollow > 0 {
        ctx.skip_n("nofollow", reading.nofollow);
    }
    offer_all(
        ctx,
        &reading.followed,
        entry.depth + 1,
        &page_url,
        FoundVia::Link,
        token,
    )
    .await?;
    // Remembered for a recrawl, under the URL the page was asked for (a redirect's too).
    if content.etag.is_some() || content.last_modified.is_some() {
        let memo = PageMemo {
            etag: content.etag.clone(),
            last_modified: content.last_modified.clone(),
            links: reading.followed.clone(),
        };
        ctx.crawl.remember(&entry.url, &memo).await?;
    }
    if reading.directives.noindex {
        ctx.skip("noindex");
        return Ok(Handled::Ack);
    }
    if let Some(canonical) = &reading.canonical
        && canonical.as_str() != page_url
        && ctx.scope.check(canonical).is_ok()
        && ctx
            .crawl
            .claim(&format!("seen.{}", digest(canonical.as_str())), token)
            .await?
            == Claim::Taken
    {
        ctx.skip("canonical");
        return Ok(Handled::Ack);
    }
    if let Some(key) = &reading.content_key
        && ctx.crawl.claim(&format!("content.{}", digest(key)), token).await? == Claim::Taken
    {
        ctx.skip("duplicate_content");
        return Ok(Handled::Ack);
    }
    match ctx
        .crawl
        .claim(&format!("emitted.{}", digest(&emitted_mark(&page_url))), token)
        .await?
    {
        Claim::Taken => {
            ctx.skip("redirect_seen");
            return Ok(Handled::Ack);
        }
        Claim::New => {
            if !ctx.crawl.count_up_to("count.emitted", ctx.spec.max_pages).await? {
                ctx.skip("max_pages");
                ctx.crawl.end("max_pages").await?;
                return Ok(Handled::Ack);
            }
        }
        // An earlier delivery counted it; its record may not have been stored.
        Claim::Ours => {}
    }
    content.url = page_url.clone();
    let page = CrawledPage {
        content,
        depth: entry.depth,
        parent,
        found_via,
    };
    ctx.crawl
        .publish_result(&format!("p-{}", digest(&page_url)), &page.to_record())
        .await?;
    ctx.stat(|s| s.emitted += 1);
    Ok(Handled::Ack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_via_reads_its_names() {
        assert_eq!(found_via("sitemap"), FoundVia::Sitemap);
    }
}
