//! `riptide crawl --nats`: a crawl run by the `riptide worker`s of a NATS server, its pages
//! streamed back here; `--cancel` stops it and removes its state ([`riptide::queue::crawl`]).

use std::io::Write;
use std::time::Duration;

use riptide::RiptideConfig;
use riptide::crawl::name_for_seeds;
use riptide::error::QueueError;
use riptide::queue::Queue;
use riptide::queue::crawl::{CrawlResults, CrawlSpec, NatsCrawl, check_name, nats_name, start_crawl};

use super::super::interrupts::Interrupts;
use super::super::{CliResult, Outcome};
use super::{CrawlArgs, Sink, crawl_options, map_record, open_sink, write_markdown};

pub(super) async fn crawl(config: &RiptideConfig, args: CrawlArgs, quiet: bool) -> CliResult<Outcome> {
    let url = args.nats.clone().unwrap_or_else(|| config.queue.url.clone());
    let name = match &args.name {
        Some(name) => name.clone(),
        None => nats_name(&name_for_seeds(&args.seeds)),
    };
    check_name(&name)?;
    let queue = Queue::connect(&url, "riptide-crawl", &config.queue).await?;
    if args.cancel {
        if !NatsCrawl::cancel(&queue, &name).await? {
            return Err(riptide::Error::from(QueueError::NoSuchCrawl { name }).into());
        }
        eprintln!("riptide crawl: `{name}` cancelled and its state removed from {url}");
        return Ok(Outcome::Done);
    }
    // A fresh start is a new generation of the crawl: the old one's state goes, and a worker
    // still finishing one of its pages writes into nothing the new one reads.
    if args.fresh && NatsCrawl::cancel(&queue, &name).await? && !quiet {
        eprintln!("riptide crawl: `{name}`: its earlier state removed (--fresh)");
    }
    let spec = CrawlSpec::new(&args.seeds, &crawl_options(&args, &name));
    let (crawl, running, created, bad_seeds) = start_crawl(&queue, &name, &spec).await?;
    if !quiet {
        let verb = match (created, running.recrawl) {
            (true, _) => "started",
            (false, true) => "recrawling (it had finished: each page is asked for conditionally)",
            (false, false) => "attached to",
        };
        eprintln!("riptide crawl: {verb} `{name}` on {url}; the `riptide worker`s there run it");
        if !created && !running.same_options(&spec) {
            eprintln!("riptide crawl: `{name}` keeps the options it was started with (--cancel to start over)");
        }
    }
    let mut sink = open_sink(&args)?;
    let (mut emitted, mut failed, mut unchanged) = (0u64, 0u64, 0u64);
    for failure in bad_seeds {
        failed += 1;
        if let Sink::Lines(out) = &mut sink {
            write_line(out, &failure.to_record())?;
        }
    }
    let mut results = CrawlResults::attach(&crawl).await?;
    let mut stop = Interrupts::listen().map_err(|e| format!("cannot listen for Ctrl-C and SIGTERM: {e}"))?;
    let deadline = args
        .max_duration
        .map(|secs| tokio::time::Instant::now() + Duration::from_secs_f64(secs));
    let mut interrupted = None;
    let mut timed_out = false;
    loop {
        let next = tokio::select! {
            next = results.next() => next?,
            code = stop.recv() => {
                interrupted = Some(code);
                break;
            }
            () = sleep_until(deadline) => {
                timed_out = true;
                break;
            }
        };
        let Some(record) = next else { break };
        if record.get("error").is_some() {
            failed += 1;
            if !quiet {
                eprintln!(
                    "error: {}: {}\n  hint: {}",
                    record["url"].as_str().unwrap_or_default(),
                    record["error"].as_str().unwrap_or_default(),
                    record["hint"].as_str().unwrap_or_default()
                );
            }
            // As a local crawl: failures go to JSON lines, and to stderr above.
            if let Sink::Lines(out) = &mut sink {
                write_line(out, &record)?;
            }
            continue;
        }
        if record.get("unchanged").and_then(serde_json::Value::as_bool) == Some(true) {
            // As a local recrawl: a line in JSON lines; a Markdown file already written stays.
            unchanged += 1;
            if let Sink::Lines(out) = &mut sink {
                write_line(out, &record)?;
            }
            continue;
        }
        emitted += 1;
        match &mut sink {
            Sink::Lines(out) if args.map => write_line(out, &map_record(&record))?,
            Sink::Lines(out) => write_line(out, &record)?,
            Sink::Markdown { dir, index } => {
                write_markdown(dir, index, &record, args.map, emitted)?;
                index.flush()?;
            }
        }
    }
    // The last record was written: it is not read again on re-attach.
    results.ack_last().await;
    if timed_out {
        // As a local crawl's run: the crawl stops until it is run again.
        crawl.pause("max_duration").await?;
    }
    let ended = match (interrupted, timed_out) {
        (Some(_), _) => "interrupted (the workers go on; run the same command to re-attach)".to_string(),
        (None, true) => {
            "max_duration (paused: the workers finish their pages and take no more; run the same command to resume)"
                .to_string()
        }
        (None, false) => results.ended().unwrap_or("done").to_string(),
    };
    if !quiet {
        eprintln!(
            "riptide crawl: `{name}`: {emitted} pages, {unchanged} unchanged, {failed} failed this run; ended: {ended}"
        );
    }
    Ok(match interrupted {
        Some(code) => Outcome::Interrupted(code),
        None if emitted == 0 && failed > 0 => Outcome::SomeFailed,
        None => Outcome::Done,
    })
}

fn write_line(out: &mut Box<dyn Write>, record: &serde_json::Value) -> CliResult<()> {
    serde_json::to_writer(&mut *out, record)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
