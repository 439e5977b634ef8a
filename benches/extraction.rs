//! What one extraction costs inside the WASM guest, the way the executor runs it (a fresh
//! instance per page, Markdown on): a synthetic 100 KB article, a real saved page of about
//! 100 KB, and the whole batch of Readability's 130 test pages. The native build of the same
//! crate is measured beside it, in the same run, as the baseline.
//!
//! ```text
//! cargo bench --no-default-features --features wasmtime --bench extraction
//! ```
//! Target (issue 9): the guest extracts a 100 KB page in ≤ 10 ms (median). The real page and
//! the batch need `../shared/corpora` (or `$RIPTIDE_CORPORA`); without it they are left out.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group};

#[path = "../tests/integration/common/mod.rs"]
mod common;
#[path = "../examples/support/evaluate.rs"]
mod evaluate;
mod support;

use riptide::GuestLimits;
use riptide::backends::wasmtime::WasmtimeRuntime;
use riptide::cache::EXTRACTOR_WASM;
use riptide::extract::run_extractor;
use riptide::traits::WasmRuntime;

fn readability_corpus() -> Option<evaluate::Corpus> {
    let root = std::env::var_os("RIPTIDE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"));
    evaluate::Corpus::open(&root.join("readability")).ok()
}

fn bench(c: &mut Criterion) {
    let runtime = WasmtimeRuntime::new(GuestLimits::default(), true).expect("wasmtime engine");
    let module = runtime.compile(EXTRACTOR_WASM).expect("extractor compiles");
    let corpus = readability_corpus();
    let synthetic = common::large_page();
    // The saved page closest to 100 KB.
    let real = corpus.as_ref().and_then(|c| {
        c.pages
            .iter()
            .min_by_key(|p| p.html.len().abs_diff(100_000))
            .map(|p| (p.html.clone(), p.url.clone(), p.id.clone()))
    });

    let mut group = c.benchmark_group("extract_100kb");
    group.sample_size(50).measurement_time(Duration::from_secs(5));
    group.bench_function("guest_synthetic", |b| {
        b.iter(|| {
            black_box(run_extractor(&runtime, &module, &synthetic, Some("https://big.example.com/")).expect("extract"))
        })
    });
    group.bench_function("native_synthetic", |b| {
        b.iter(|| black_box(riptide_extractor::extract(&synthetic, Some("https://big.example.com/"))))
    });
    if let Some((html, url, id)) = &real {
        eprintln!("real page: {id} ({} bytes)", html.len());
        group.bench_function("guest_real", |b| {
            b.iter(|| black_box(run_extractor(&runtime, &module, html, Some(url)).expect("extract")))
        });
        group.bench_function("native_real", |b| {
            b.iter(|| black_box(riptide_extractor::extract(html, Some(url))))
        });
    }
    group.finish();

    if let Some(corpus) = &corpus {
        let mut group = c.benchmark_group("readability_batch");
        group.sample_size(10).measurement_time(Duration::from_secs(20));
        group.bench_function("guest_130_pages", |b| {
            b.iter(|| {
                for page in &corpus.pages {
                    black_box(run_extractor(&runtime, &module, &page.html, Some(&page.url)).expect("extract"));
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let ms = |bench: &str| support::median_ns("extract_100kb", bench).map(|ns| ns / 1e6);
    println!("\ntarget (issue 9): guest extraction of a 100 KB page <= 10 ms (median)");
    for (guest, native) in [("guest_synthetic", "native_synthetic"), ("guest_real", "native_real")] {
        if let (Some(g), Some(n)) = (ms(guest), ms(native)) {
            let verdict = if g <= 10.0 { "met" } else { "MISSED" };
            println!(
                "  {guest}: {g:.2} ms (native {n:.2} ms, guest/native {:.2}x) -> {verdict}",
                g / n
            );
        }
    }
    if let Some(ns) = support::median_ns("readability_batch", "guest_130_pages") {
        println!(
            "  readability batch, 130 pages in the guest: {:.0} ms ({:.1} ms a page)",
            ns / 1e6,
            ns / 1e6 / 130.0
        );
    }
}
