//! `riptide extract`: reading the inputs, running the batch with a progress bar and a summary,
//! stopping on a signal, and writing each page as it finishes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use riptide::{Content, EngineChoice, PageOptions, RenderOptions, RiptideConfig};

use super::extract_args::{BlockArg, EngineArg, ExtractArgs, Format};
use super::extract_remote::Records;
use super::interrupts::Interrupts;
use super::{CliResult, Outcome};

fn read_inputs(args: &ExtractArgs) -> CliResult<UrlList> {
    read_url_list(args.inputs.clone(), args.input.as_deref())
}

/// What a batch was given: the pages, and the lines of `--input` that cannot name one (each
/// the failure record of its line, reported with the batch's other failures).
pub(crate) struct UrlList {
    pub(crate) urls: Vec<String>,
    pub(crate) bad_lines: Vec<serde_json::Value>,
}

/// `inputs` followed by the lines of `file` (`-`: standard input), without blank lines, `#`
/// comments and a leading byte-order mark.
pub(crate) fn read_url_list(mut inputs: Vec<String>, file: Option<&std::path::Path>) -> CliResult<UrlList> {
    let mut bad_lines = Vec::new();
    if let Some(file) = file {
        let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(file).map_err(|e| format!("cannot read --input {}: {e}", file.display()))?;
            Box::new(std::io::BufReader::new(f))
        };
        // Read as bytes: a line that is not UTF-8 is that line's failure, named by file and
        // line, and the other lines still run.
        for (n, line) in reader.split(b'\n').enumerate() {
            let line = line.map_err(|e| format!("cannot read --input {}: {e}", file.display()))?;
            let line = match std::str::from_utf8(&line) {
                Ok(line) => line,
                Err(_) => {
                    bad_lines.push(serde_json::json!({
                        "url": String::from_utf8_lossy(&line).trim(),
                        "error": format!("--input {} line {} is not UTF-8 text", file.display(), n + 1),
                        "error_kind": "input.not_utf8",
                        "hint": "URLs and paths in --input must be UTF-8: fix or remove that line",
                    }));
                    continue;
                }
            };
            // Editors on Windows start a UTF-8 file with a byte-order mark.
            let line = if n == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                inputs.push(line.to_string());
            }
        }
    }
    Ok(UrlList {
        urls: inputs,
        bad_lines,
    })
}

pub(crate) async fn extract(config: &RiptideConfig, home: &Path, args: ExtractArgs, quiet: bool) -> CliResult<Outcome> {
    let UrlList {
        urls: inputs,
        bad_lines,
    } = read_inputs(&args)?;
    if inputs.is_empty() && bad_lines.is_empty() {
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
    if let Some(server) = &args.server {
        if let Some(flag) = args.local_only_flag() {
            return Err(format!(
                "{flag} sets up this process's executor, and with --server the pages are extracted by the server; \
                 set it in the server's configuration, or drop --server"
            )
            .into());
        }
        let token = config.server.token.as_deref();
        let total = inputs.len() + bad_lines.len();
        let started = Instant::now();
        let records = super::extract_remote::records(server, token, inputs, engine, args.page_settings()).await?;
        let records = with_bad_lines(bad_lines, records);
        let batch = run_batch(records, &mut *out, args.format, total, quiet).await?;
        return Ok(batch.finish(total, started, quiet));
    }
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
    // A batch never uses more browsers at once than it has pages, or than its concurrency: a
    // browser warmed beyond that only competes with the first render for the CPU.
    let at_once = u32::try_from(inputs.len().min(usize::from(args.concurrency))).unwrap_or(u32::MAX);
    pool.target_available = pool.target_available.min(at_once);
    pool.min_instances = pool.min_instances.min(at_once);
    config.extraction.markdown |= args.format == Format::Markdown;
    config.extraction.content_html |= args.html;
    config.engine_choice.remember_hosts &= !args.no_host_memory;
    run_local(
        riptide::Stack::from_config(&config).home(home),
        &args,
        UrlList {
            urls: inputs,
            bad_lines,
        },
        engine,
        &mut *out,
        quiet,
    )
    .await
}

/// The batch's records after the records of its bad `--input` lines.
fn with_bad_lines(bad_lines: Vec<serde_json::Value>, records: Records<'_>) -> Records<'_> {
    Box::pin(futures_util::stream::iter(bad_lines.into_iter().map(Ok)).chain(records))
}

/// Runs the batch on this process's own executor, built from `builder` and the flags.
async fn run_local(
    stack: riptide::Stack,
    args: &ExtractArgs,
    list: UrlList,
    engine: EngineChoice,
    out: &mut dyn Write,
    quiet: bool,
) -> CliResult<Outcome> {
    // The render flags, read as a server reads the same settings sent with `--server`: one
    // parse of one set of names for both.
    let mut render: RenderOptions = serde_json::from_value(serde_json::Value::Object(args.page_settings()))
        .map_err(|e| format!("the page settings are not valid: {e}"))?;
    if let Some(dir) = &args.screenshot {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create --screenshot {}: {e}", dir.display()))?;
        render.screenshot = Some(true);
    }
    let executor = stack.page_defaults(PageOptions::new().render(render)).build()?;
    let started = Instant::now();
    let UrlList {
        urls: inputs,
        bad_lines,
    } = list;
    let total = inputs.len() + bad_lines.len();
    let mut saved = 0usize;
    let screenshots = args.screenshot.clone();
    let records = executor
        .extract_many_with(inputs, engine, usize::from(args.concurrency))
        .map(move |(url, result)| match result {
            Ok(content) => {
                saved += 1;
                let screenshot = match &screenshots {
                    Some(dir) => save_screenshot(dir, saved, &content)?,
                    None => None,
                };
                let mut record = serde_json::to_value(&content)?;
                if let (Some(path), Some(fields)) = (screenshot, record.as_object_mut()) {
                    fields.insert("screenshot".into(), path.into());
                }
                Ok(record)
            }
            Err(e) => Ok(e.to_record(&url)),
        });
    let batch = run_batch(
        with_bad_lines(bad_lines, Box::pin(records)),
        out,
        args.format,
        total,
        quiet,
    )
    .await;
    if let Err(e) = executor.shutdown().await {
        tracing::warn!(error = %e, "could not save everything at shutdown");
    }
    Ok(batch?.finish(total, started, quiet))
}

/// How a batch went.
struct Batch {
    ok: usize,
    failed: usize,
    /// The exit code of the signal that stopped it, if one did.
    interrupted: Option<u8>,
}

impl Batch {
    /// Prints the summary line and gives the outcome.
    fn finish(self, total: usize, started: Instant, quiet: bool) -> Outcome {
        let Batch {
            ok,
            failed,
            interrupted,
        } = self;
        if !quiet {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{}extracted {ok} of {total} page(s), {failed} failed, in {secs:.2} s ({:.1} pages/s)",
                if interrupted.is_some() { "interrupted: " } else { "" },
                ok as f64 / secs.max(1e-9)
            );
        }
        match (interrupted, failed) {
            (Some(code), _) => Outcome::Interrupted(code),
            (None, 0) => Outcome::Done,
            (None, _) => Outcome::SomeFailed,
        }
    }
}

/// Writes every record of `records` as it comes, with a progress bar on a terminal, until they
/// end or a signal stops the batch (dropping the stream then cancels what is in flight).
async fn run_batch(
    mut records: Records<'_>,
    out: &mut dyn Write,
    format: Format,
    total: usize,
    quiet: bool,
) -> CliResult<Batch> {
    let progress = if !quiet && total > 1 && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} pages, {per_sec}, eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut array = Vec::new();
    // One listener for the whole batch, registered before the first page: a signal that
    // arrives while no listener exists (between two `tokio::signal::ctrl_c()` futures, say) is
    // lost once tokio has taken over SIGINT, and the batch would run on.
    let mut stop = Interrupts::listen().map_err(|e| format!("cannot listen for Ctrl-C and SIGTERM: {e}"))?;
    let interrupted = loop {
        let next = tokio::select! {
            next = records.next() => next,
            code = stop.recv() => break Some(code),
        };
        let Some(record) = next else { break None };
        let record = record?;
        progress.inc(1);
        if let Some(error) = record.get("error").and_then(|e| e.as_str()) {
            failed += 1;
            let url = record.get("url").and_then(|u| u.as_str()).unwrap_or_default();
            let hint = record.get("hint").and_then(|h| h.as_str()).unwrap_or_default();
            progress.suspend(|| eprintln!("error: {url}: {error}\n  hint: {hint}"));
        } else {
            ok += 1;
        }
        write_record(out, format, record, &mut array)?;
    };
    drop(records);
    progress.finish_and_clear();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &array)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(Batch {
        ok,
        failed,
        interrupted,
    })
}

fn save_screenshot(dir: &Path, n: usize, content: &Content) -> CliResult<Option<String>> {
    let Some(png) = &content.screenshot else {
        return Ok(None);
    };
    let path = dir.join(format!("{n}.png"));
    std::fs::write(&path, png).map_err(|e| format!("cannot write the screenshot {}: {e}", path.display()))?;
    Ok(Some(path.display().to_string()))
}

/// Writes one page's record in `format` (`json` collects them in `array`, written at the end).
fn write_record(
    out: &mut dyn Write,
    format: Format,
    record: serde_json::Value,
    array: &mut Vec<serde_json::Value>,
) -> CliResult<()> {
    let field = |name: &str| record.get(name).and_then(|v| v.as_str());
    let ok = record.get("error").is_none();
    match format {
        Format::Json => array.push(record),
        Format::Jsonl => {
            serde_json::to_writer(&mut *out, &record)?;
            writeln!(out)?;
            // Lines are for consumers reading as pages finish.
            out.flush()?;
        }
        Format::Text if ok => {
            writeln!(out, "# {}", field("title").unwrap_or("(no title)"))?;
            let total_ms = record
                .pointer("/timings/total_ms")
                .and_then(|t| t.as_f64())
                .unwrap_or_default();
            writeln!(
                out,
                "{} ({}, {total_ms:.0} ms)\n",
                field("final_url").unwrap_or_default(),
                field("engine").unwrap_or_default()
            )?;
            writeln!(out, "{}\n", field("text").unwrap_or_default().trim())?;
        }
        Format::Markdown if ok => {
            writeln!(out, "# {}\n", field("title").unwrap_or("(no title)"))?;
            writeln!(out, "<{}>\n", field("final_url").unwrap_or_default())?;
            let body = field("markdown").or_else(|| field("text")).unwrap_or_default();
            writeln!(out, "{}\n", body.trim())?;
        }
        Format::Text | Format::Markdown => {}
    }
    Ok(())
}
