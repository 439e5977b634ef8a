//! Extraction quality on real saved pages: the committed extractor module, run by wasmtime,
//! scored on the two corpora in `../shared/corpora/` exactly as `cargo run --example evaluate`
//! scores them. The floors sit just under what the extractor reaches (BENCHMARKS.md), so a
//! change that makes extraction worse fails here. A regression guard, not a timing test.
//!
//! Every page is extracted twice, in a fresh instance and in one kept warm from the pages before
//! it (as the executor runs them), and the two answers must be the same: nothing of one page
//! reaches the next.
//!
//! The corpora live beside the repository (`$RIPTIDE_CORPORA`, else `../shared/corpora`). In CI
//! (`CI` set) a missing corpus fails the test; locally it is skipped with a message.
#![cfg(feature = "wasmtime")]

#[path = "../../examples/support/evaluate.rs"]
mod evaluate;

use std::path::PathBuf;

use evaluate::{Corpus, Extraction, Scores};
use riptide::ExtractOptions;
use riptide::GuestLimits;
use riptide::backends::wasmtime::WasmtimeRuntime;
use riptide::cache::EXTRACTOR_WASM;
use riptide::extract::{WarmInstances, run_extractor, run_extractor_warm};
use riptide::traits::WasmRuntime;

fn corpus(name: &str) -> Option<Corpus> {
    let root = std::env::var_os("RIPTIDE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"));
    let dir = root.join(name);
    if !dir.is_dir() {
        let why = format!(
            "corpus {} not found; set RIPTIDE_CORPORA to the corpora folder",
            dir.display()
        );
        if std::env::var_os("CI").is_some() {
            panic!("{why}");
        }
        eprintln!("skipping: {why}");
        return None;
    }
    Some(Corpus::open(&dir).expect("corpus reads"))
}

fn score(corpus: &Corpus) -> Scores {
    let runtime = WasmtimeRuntime::new(GuestLimits::default(), true).expect("wasmtime engine");
    let module = runtime.compile(EXTRACTOR_WASM).expect("extractor compiles");
    let warm = WarmInstances::default();
    let scores = Scores::of(corpus, |page| {
        let c = run_extractor(&runtime, &module, &page.html, Some(&page.url))
            .unwrap_or_else(|e| panic!("{}: extraction failed: {e}", page.id));
        let warmed = run_extractor_warm(
            &runtime,
            &module,
            &warm,
            &page.html,
            Some(&page.url),
            ExtractOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{}: extraction in a warm instance failed: {e}", page.id));
        assert_eq!(warmed, c, "{}: a warm instance answers as a fresh one", page.id);
        assert!(
            !c.text.trim().is_empty() || page.html.len() < 2000,
            "{}: no text from a {}-byte page",
            page.id,
            page.html.len()
        );
        Extraction::from_content(&page.id, c, None)
    });
    eprintln!("{}: {scores}", corpus.dir.display());
    scores
}

#[track_caller]
fn at_least(what: &str, got: f64, floor: f64) {
    assert!(got >= floor, "{what} fell to {got:.4}, under its floor {floor}");
}

#[test]
fn readability_pages_score_above_the_floors() {
    let Some(corpus) = corpus("readability") else { return };
    assert_eq!(corpus.pages.len(), 130, "the readability corpus has 130 pages");
    let s = score(&corpus);
    at_least("text F1", s.f1, 0.980);
    at_least("text precision", s.precision, 0.99);
    at_least("title exact", s.title_exact.unwrap_or(0.0), 0.99);
    at_least("byline exact", s.byline_exact.unwrap_or(0.0), 0.92);
    at_least("lang exact", s.lang_exact.unwrap_or(0.0), 0.98);
    at_least("excerpt F1", s.excerpt_f1.unwrap_or(0.0), 0.99);
}

#[test]
fn trafilatura_pages_score_above_the_floors() {
    let Some(corpus) = corpus("trafilatura-eval") else {
        return;
    };
    assert!(corpus.pages.len() >= 880, "trafilatura-eval has its 884 pages");
    let s = score(&corpus);
    at_least("F1", s.f1, 0.92);
    at_least("precision", s.precision, 0.905);
    at_least("recall", s.recall, 0.93);
}

/// `crawl --map` reads links natively (`riptide::extract::read_links`) instead of asking the
/// guest: on every real page of both corpora it must find what the guest's links-only mode
/// finds, or a map and a crawl of the same site would follow different links.
#[test]
fn links_read_natively_are_the_guests_links_on_every_page() {
    let runtime = WasmtimeRuntime::new(GuestLimits::default(), true).expect("wasmtime engine");
    let module = runtime.compile(EXTRACTOR_WASM).expect("extractor compiles");
    let links_only = riptide::extract::ExtractOptions {
        links_only: true,
        ..Default::default()
    };
    let mut compared = 0;
    for name in ["readability", "trafilatura-eval"] {
        let Some(corpus) = corpus(name) else { return };
        for page in &corpus.pages {
            let guest =
                riptide::extract::run_extractor_with(&runtime, &module, &page.html, Some(&page.url), links_only)
                    .unwrap_or_else(|e| panic!("{}: the guest failed: {e}", page.id));
            let native = riptide::extract::read_links(&page.html, Some(&page.url));
            assert_eq!(native.links, guest.links, "{}: links", page.id);
            assert_eq!(
                native.nofollow_links, guest.nofollow_links,
                "{}: nofollow links",
                page.id
            );
            assert_eq!(native.robots, guest.robots, "{}: robots", page.id);
            assert_eq!(native.canonical_url, guest.canonical_url, "{}: canonical", page.id);
            assert_eq!(native.title, guest.title, "{}: title", page.id);
            compared += 1;
        }
    }
    assert!(compared > 300, "only {compared} pages compared");
}
