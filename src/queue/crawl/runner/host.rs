//! One host as the workers of a crawl across machines share it: its robots.txt (fetched by the
//! worker that takes the host's lock, then its sitemaps), its fetch slots (leases in the
//! crawl's bucket) and its turn, and the slow-down its answer times earn.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

/// How long a worker uses a host's shared slow-down before reading it again.
const SLOWDOWN_EVERY: Duration = Duration::from_secs(1);
pub(super) struct HostRules {
    pub(super) rules: RobotsRules,
    pub(super) unreachable: Option<String>,
}

/// A lease in the crawl's leases bucket, a host's fetch slot or its robots.txt lock: renewed
/// while held, given back when released or dropped, and expired by the bucket's `max_age` when
/// its worker dies.
///
/// Renewing and giving back check the lease's revision, so a worker whose lease lapsed (its
/// renewals failed for longer than the lease lives) never renews or deletes the lease another
/// worker took since.
pub(super) struct Lease<'a> {
    ctx: &'a Ctx,
    key: String,
    /// The revision of the lease as this worker last wrote it; 0 once it is no longer held.
    revision: Arc<AtomicU64>,
    /// The renewing task, until the lease is given back.
    renew: Option<tokio::task::JoinHandle<()>>,
}

impl<'a> Lease<'a> {
    /// Holds `key`, just taken under `token` at `revision`: renews it every third of its time
    /// to live, until a renewal finds it is no longer this worker's.
    fn hold(ctx: &'a Ctx, (key, revision): (String, u64), token: &str) -> Self {
        let revision = Arc::new(AtomicU64::new(revision));
        let renew = {
            let crawl = ctx.crawl.clone();
            let (key, token, held) = (key.clone(), token.to_string(), Arc::clone(&revision));
            tokio::spawn(async move {
                let every = crawl.lease_ttl_of() / 3;
                loop {
                    tokio::time::sleep(every).await;
                    let renewed = crawl.renew(&key, &token, held.load(Ordering::SeqCst)).await;
                    held.store(renewed.unwrap_or(0), Ordering::SeqCst);
                    if renewed.is_none() {
                        return;
                    }
                }
            })
        };
        Self {
            ctx,
            key,
            revision,
            renew: Some(renew),
        }
    }

    pub(super) async fn release(mut self) {
        if let Some(renew) = self.renew.take() {
            give_back(&self.ctx.crawl, &self.key, renew, &self.revision).await;
        }
    }
}

impl Drop for Lease<'_> {
    /// A page handed back mid-fetch (the worker stops), or a robots.txt lock whose holder
    /// failed, drops its lease: it is given back as soon as can be, not left to expire after
    /// `ack_wait` with the host one slot short or its robots.txt waited for in vain.
    fn drop(&mut self) {
        let Some(renew) = self.renew.take() else { return };
        renew.abort();
        // Only on a runtime (a task dropped as the runtime itself shuts down has none left to
        // run on; its lease then expires as a dead worker's does).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (crawl, key, revision) = (
                self.ctx.crawl.clone(),
                std::mem::take(&mut self.key),
                Arc::clone(&self.revision),
            );
            runtime.spawn(async move { give_back(&crawl, &key, renew, &revision).await });
        }
    }
}

/// Stops renewing a lease and gives it back at the revision this worker last wrote. A renewal
/// under way when stopped may still land, so it is waited for first.
async fn give_back(crawl: &NatsCrawl, key: &str, renew: tokio::task::JoinHandle<()>, revision: &AtomicU64) {
    renew.abort();
    let _ = renew.await;
    let revision = revision.load(Ordering::SeqCst);
    if revision != 0 {
        crawl.release(key, revision).await;
    }
}

/// Takes a fetch slot of `host_key` and waits for its turn (`delay`, raised by its
/// `Crawl-delay`).
pub(super) async fn take_slot<'a>(
    ctx: &'a Ctx,
    host_key: &str,
    crawl_delay: Option<Duration>,
    token: &str,
) -> Result<Lease<'a>> {
    let host = digest(host_key);
    let mut pause = Duration::from_millis(2);
    let key = loop {
        if let Some(taken) = ctx.crawl.try_slot(&host, ctx.spec.per_host, token).await? {
            break taken;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    let slot = Lease::hold(ctx, key, token);
    // The delay, raised by `Crawl-delay`, plus the slow-down the workers learned together.
    let delay = ctx.spec.delay().max(crawl_delay.unwrap_or_default()) + shared_slowdown(ctx, host_key).await;
    if !delay.is_zero() {
        match ctx.crawl.wait_turn(&host, delay).await {
            Ok(true) => ctx.stat(|s| s.delays_applied += 1),
            Ok(false) => {}
            Err(e) => {
                slot.release().await;
                return Err(e);
            }
        }
    }
    Ok(slot)
}

/// The robots rules of `host_key`: from this worker's memory, the crawl's bucket, or fetched
/// now by this worker when it takes the host's robots lock (then its sitemaps are read too).
pub(super) async fn host_rules(ctx: &Ctx, host_key: &str, token: &str) -> Result<Arc<HostRules>> {
    if let Some(rules) = crate::sync::lock(&ctx.robots).get(host_key) {
        return Ok(rules.clone());
    }
    let host = digest(host_key);
    let key = format!("robots.{host}");
    let agent = &ctx.spec.user_agent_token;
    let mut pause = Duration::from_millis(5);
    let rules = loop {
        if let Some(stored) = ctx.crawl.get(&key).await? {
            let answer = decode_robots(&stored);
            let (rules, unreachable) = if ctx.spec.obey_robots {
                discover::robots_rules(&answer, agent)
            } else {
                (RobotsRules::allow_all(), None)
            };
            break Arc::new(HostRules { rules, unreachable });
        }
        if let Some(taken) = ctx.crawl.try_robots_lock(&host, token).await? {
            let lock_key = taken.0.clone();
            let lock = Lease::hold(ctx, taken, token);
            // Stored between this worker's look and its lock: the holder before has finished.
            if ctx.crawl.get(&key).await?.is_some() {
                lock.release().await;
                continue;
            }
            let answer = if ctx.spec.obey_robots {
                let origin = origin_of(host_key).ok_or_else(|| {
                    Error::from(CrawlError::Seed {
                        seed: host_key.into(),
                        why: "no origin".into(),
                    })
                })?;
                let slot = take_slot(ctx, host_key, None, token).await?;
                let answer = discover::robots_response(&ctx.client, &origin).await;
                slot.release().await;
                ctx.stat(|s| s.robots_fetches += 1);
                answer
            } else {
                Err("robots.txt is not obeyed (asked for explicitly)".to_string())
            };
            let (rules, unreachable) = if ctx.spec.obey_robots {
                discover::robots_rules(&answer, agent)
            } else {
                (RobotsRules::allow_all(), None)
            };
            let rules = Arc::new(HostRules { rules, unreachable });
            if ctx.spec.sitemaps && rules.unreachable.is_none() {
                // The sitemaps' URLs are claimed under the lock's name, not the page's that
                // brought this worker here: a holder that dies after claiming some leaves them
                // to the next holder, which claims them as its own and queues them again.
                read_sitemaps(ctx, host_key, &rules, &lock_key).await?;
            }
            // Stored last: a worker that finds it knows the host's sitemaps were read. A holder
            // that dies before this leaves the host to whoever takes the lock after its lease
            // expires; one that fails gives the lock back (on drop) for another to try.
            ctx.crawl.put(&key, encode_robots(&answer)).await?;
            lock.release().await;
            break rules;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    };
    crate::sync::lock(&ctx.robots).insert(host_key.to_string(), rules.clone());
    Ok(rules)
}

fn encode_robots(answer: &std::result::Result<(u16, Vec<u8>), String>) -> Vec<u8> {
    let value = match answer {
        Ok((status, body)) => serde_json::json!({ "status": status, "body": String::from_utf8_lossy(body) }),
        Err(e) => serde_json::json!({ "error": e }),
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

fn decode_robots(bytes: &[u8]) -> std::result::Result<(u16, Vec<u8>), String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if let Some(e) = value.get("error").and_then(serde_json::Value::as_str) {
        return Err(e.to_string());
    }
    let status = value
        .get("status")
        .and_then(serde_json::Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or("no status")?;
    let body = value
        .get("body")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    Ok((status, body.as_bytes().to_vec()))
}

/// Reads `host_key`'s sitemaps (each with a fetch slot) and offers what they list.
pub(super) async fn read_sitemaps(ctx: &Ctx, host_key: &str, rules: &HostRules, token: &str) -> Result<()> {
    let mut queue: std::collections::VecDeque<(Url, u32)> = sitemaps_of(host_key, &rules.rules)
        .into_iter()
        .map(|u| (u, 0))
        .collect();
    let mut fetched = 0usize;
    while let Some((url, nesting)) = queue.pop_front() {
        if fetched >= MAX_SITEMAPS_PER_HOST {
            break;
        }
        fetched += 1;
        let slot = take_slot(ctx, host_key, rules.rules.crawl_delay(), token).await?;
        let result = discover::sitemap(&ctx.client, &url).await;
        slot.release().await;
        ctx.stat(|s| s.sitemaps_fetched += 1);
        match result {
            Ok(Sitemap::Urls { urls, .. }) => {
                ctx.stat(|s| s.sitemap_urls += urls.len() as u64);
                let locs: Vec<String> = urls.into_iter().map(|e| e.loc).collect();
                offer_all(ctx, &locs, 1, url.as_str(), FoundVia::Sitemap, token).await?;
            }
            Ok(Sitemap::Index { sitemaps, .. }) => {
                for child in sitemaps {
                    if let Ok(child) = Url::parse(&child)
                        && host_key_of(&child).as_deref() == Some(host_key)
                        && nesting < MAX_SITEMAP_NESTING
                    {
                        queue.push_back((child, nesting + 1));
                    }
                }
            }
            Err(e) => tracing::debug!(sitemap = %url, error = %e, "sitemap not used"),
        }
    }
    Ok(())
}

/// Learns from a host's answer time (as a local crawl does, `crawl/slowdown.rs`) and, when the
/// slow-down it earns changes, shares it in the crawl's bucket (`slow.<host>`, milliseconds):
/// every worker adds it to the host's delay.
pub(super) async fn observe_pace(ctx: &Ctx, host_key: &str, answered_in: Duration) {
    let changed = {
        let mut pace = crate::sync::lock(&ctx.pace);
        let (slowdown, shared) = pace.entry(host_key.to_string()).or_default();
        let now = slowdown.observe(answered_in);
        (now != *shared).then(|| {
            *shared = now;
            now
        })
    };
    if let Some(now) = changed {
        let key = format!("slow.{}", digest(host_key));
        let ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        if let Err(e) = ctx.crawl.put(&key, ms.to_string().into_bytes()).await {
            tracing::debug!(error = %format!("{e:#}"), "could not share a host's slow-down");
        }
        crate::sync::lock(&ctx.shared_slowdown).insert(host_key.to_string(), (tokio::time::Instant::now(), now));
    }
}

/// The slow-down the workers share for `host_key`, read from the bucket at most once every
/// [`SLOWDOWN_EVERY`] per host.
pub(super) async fn shared_slowdown(ctx: &Ctx, host_key: &str) -> Duration {
    if let Some((read, slowdown)) = crate::sync::lock(&ctx.shared_slowdown).get(host_key)
        && read.elapsed() < SLOWDOWN_EVERY
    {
        return *slowdown;
    }
    let key = format!("slow.{}", digest(host_key));
    let slowdown = match ctx.crawl.get(&key).await {
        Ok(Some(ms)) => std::str::from_utf8(&ms)
            .ok()
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .map_or(Duration::ZERO, Duration::from_millis)
            .min(MAX_SLOWDOWN),
        _ => Duration::ZERO,
    };
    crate::sync::lock(&ctx.shared_slowdown).insert(host_key.to_string(), (tokio::time::Instant::now(), slowdown));
    slowdown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robots_answers_round_trip_through_the_bucket() {
        let ok: std::result::Result<(u16, Vec<u8>), String> = Ok((200, b"User-agent: *\nDisallow: /x\n".to_vec()));
        assert_eq!(decode_robots(&encode_robots(&ok)), ok);
        let gone: std::result::Result<(u16, Vec<u8>), String> = Err("connection refused".into());
        assert_eq!(decode_robots(&encode_robots(&gone)), gone);
    }
}
