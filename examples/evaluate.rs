//! Scores riptide's extractor (or any extractor's saved answers) on a corpus of saved pages:
//! text precision, recall and F1, and for readability-style corpora the metadata scores.
//!
//! ```text
//! cargo run --release --example evaluate -- ../shared/corpora/readability
//! cargo run --release --example evaluate -- ../shared/corpora/trafilatura-eval --worst 20
//! cargo run --release --example evaluate -- CORPUS --outputs peer.ndjson   # score another tool
//! cargo run --release --example evaluate -- CORPUS --write riptide.ndjson  # keep riptide's answers
//! cargo run --release --example evaluate -- CORPUS --module my_extractor.wasm
//! ```
//!
//! The corpus formats and the scoring are described in `examples/support/evaluate.rs`. An
//! outputs file is NDJSON, one object per page: `{"id", "text", "title", "byline", "lang",
//! "excerpt"}`, `id` being the page's folder (readability) or `file` (trafilatura).

#[path = "support/evaluate.rs"]
mod evaluate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use evaluate::{Corpus, Extraction, Scores, read_outputs};
use riptide::ExtractOptions;
use riptide::backends::wasmtime::WasmtimeRuntime;
use riptide::extract::{DEFAULT_MAX_USES, WarmInstances, run_extractor_warm};
use riptide::traits::WasmRuntime;
use riptide::{GuestLimits, ModuleSource};

struct Args {
    corpus: PathBuf,
    outputs: Option<PathBuf>,
    write: Option<PathBuf>,
    module: Option<PathBuf>,
    worst: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        corpus: PathBuf::new(),
        outputs: None,
        write: None,
        module: None,
        worst: 10,
    };
    let mut corpus = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--outputs" => parsed.outputs = Some(value("--outputs")?.into()),
            "--write" => parsed.write = Some(value("--write")?.into()),
            "--module" => parsed.module = Some(value("--module")?.into()),
            "--worst" => {
                parsed.worst = value("--worst")?
                    .parse()
                    .map_err(|e| format!("--worst takes a number: {e}"))?
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => corpus = Some(PathBuf::from(other)),
        }
    }
    parsed.corpus = corpus.ok_or("give the corpus folder")?;
    Ok(parsed)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "usage: evaluate CORPUS_DIR [--outputs FILE.ndjson] [--write FILE.ndjson] [--module FILE.wasm] [--worst N]"
            );
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let corpus = Corpus::open(&args.corpus)?;
    let extractions: Vec<Extraction> = match &args.outputs {
        Some(path) => {
            let outputs = read_outputs(path)?;
            corpus
                .pages
                .iter()
                .map(|page| outputs.get(&page.id).cloned().unwrap_or_default())
                .collect()
        }
        None => {
            let source = match &args.module {
                Some(path) => ModuleSource::new(std::fs::read(path)?),
                None => ModuleSource::extractor().clone(),
            };
            let runtime = WasmtimeRuntime::new(GuestLimits::default(), true)?;
            let module = runtime.compile(source.bytes())?;
            // As the executor runs it: riptide's own extractor in instances kept between pages,
            // another module in a fresh instance for each.
            let pages_per_instance = if args.module.is_some() { 1 } else { DEFAULT_MAX_USES };
            let warm = WarmInstances::new(pages_per_instance);
            corpus
                .pages
                .iter()
                .map(|page| {
                    let t = Instant::now();
                    let result = run_extractor_warm(
                        &runtime,
                        &module,
                        &warm,
                        &page.html,
                        Some(&page.url),
                        ExtractOptions::default(),
                    );
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    match result {
                        Ok(content) => Extraction::from_content(&page.id, content, Some(ms)),
                        Err(e) => {
                            eprintln!("{}: {e}", page.id);
                            Extraction {
                                id: page.id.clone(),
                                ms: Some(ms),
                                ..Extraction::default()
                            }
                        }
                    }
                })
                .collect()
        }
    };
    if let Some(path) = &args.write {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for e in &extractions {
            serde_json::to_writer(&mut file, e)?;
            writeln!(file)?;
        }
    }
    let scores = Scores::score(&corpus, &extractions);
    println!("{}: {scores}", corpus.dir.display());
    for (id, score) in scores.worst.iter().take(args.worst) {
        println!("  {score:>6.3}  {id}");
    }
    Ok(())
}
