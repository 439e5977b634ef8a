//! The extractor module under both engines: the committed module is current, it extracts what
//! it promises, and a hostile or broken guest is stopped with a clear error.

use crate::common;

use common::{abi_module, sample_pages, tight_limits};
use riptide::ExtractOptions;
use riptide::error::{ErrorKind, WasmError};
use riptide::extract::{ExtractedContent, WarmInstances, run_extractor, run_extractor_warm, run_extractor_with};
use riptide::traits::WasmRuntime;
use riptide::{GuestLimits, ModuleSource};

/// The native build of the guest crate, in the host's type.
fn native(html: &str, url: Option<&str>) -> ExtractedContent {
    let json = serde_json::to_string(&riptide_extractor::extract(html, url)).expect("serializes");
    serde_json::from_str(&json).expect("guest output matches the host schema")
}

fn extract_with<R: WasmRuntime>(
    runtime: &R,
    source: &ModuleSource,
    html: &str,
    url: Option<&str>,
) -> riptide::Result<ExtractedContent> {
    let module = runtime.compile(source.bytes())?;
    run_extractor(runtime, &module, html, url)
}

/// If this fails, `wasm/riptide_extractor.wasm` is stale: run `wasm/build.sh` and commit it.
fn check_committed_module_is_current<R: WasmRuntime>((runtime, module): &(R, R::Module)) {
    for (name, html, url) in sample_pages() {
        let from_wasm = run_extractor(runtime, module, &html, url).expect("extracts");
        assert_eq!(
            from_wasm,
            native(&html, url),
            "{name}: wasm/riptide_extractor.wasm is stale; run wasm/build.sh"
        );
    }
}

fn check_article_fields<R: WasmRuntime>((runtime, module): &(R, R::Module)) {
    let page = run_extractor(
        runtime,
        module,
        common::ARTICLE,
        Some("https://news.example.com/2026/11/warm-caches"),
    )
    .expect("extracts");
    // Readability's order: og:title before the cleaned <title>, which stays in raw_title.
    assert_eq!(page.title.as_deref(), Some("Warm caches (OG)"));
    assert_eq!(page.raw_title.as_deref(), Some("Warm caches, fast extractors"));
    assert!(page.is_article);
    assert_eq!(page.word_count, 20);
    assert_eq!(page.image.as_deref(), Some("https://news.example.com/img.png"));
    assert_eq!(page.description.as_deref(), Some("How riptide keeps things warm."));
    assert_eq!(page.author.as_deref(), Some("Ada Lovelace"));
    assert_eq!(page.published_time.as_deref(), Some("2026-11-27T09:00:00Z"));
    assert_eq!(page.language.as_deref(), Some("en-GB"));
    assert_eq!(
        page.canonical_url.as_deref(),
        Some("https://news.example.com/2026/11/warm-caches")
    );
    assert_eq!(page.open_graph.get("type").map(String::as_str), Some("article"));
    assert_eq!(
        page.open_graph.get("title").map(String::as_str),
        Some("Warm caches (OG)")
    );
    assert_eq!(
        page.text,
        "Compiling a module costs hundreds of milliseconds.\n\nLoading one costs about one.\n\nfirst\nsecond\n\nRead the older post or write."
    );
    assert_eq!(
        page.markdown.as_deref(),
        Some(
            "Compiling a module costs **hundreds** of milliseconds.\n\nLoading one costs about one.\n\n- first\n- second\n\nRead [the older post](https://news.example.com/2026/10/older) or [write](mailto:x@example.com)."
        )
    );
    assert_eq!(page.content_html, None, "cleaned HTML is opt-in");
    for boilerplate in [
        "tracking",
        "nope",
        "Sections",
        "Sidebar",
        "Legal",
        "hidden text",
        "color",
    ] {
        assert!(!page.text.contains(boilerplate), "{boilerplate:?} leaked into the text");
    }
    assert_eq!(
        page.links,
        vec![
            "https://news.example.com/",
            "https://news.example.com/about",
            "https://news.example.com/sections",
            "https://news.example.com/2026/10/older",
            "https://other.example.net/legal",
        ]
    );
}

fn check_fallbacks<R: WasmRuntime>((runtime, module): &(R, R::Module)) {
    let pages = sample_pages();
    let get = |name: &str| pages.iter().find(|p| p.0 == name).expect("sample page").clone();
    let (_, html, url) = get("og-only");
    let page = run_extractor(runtime, module, &html, url).expect("extracts");
    assert_eq!(
        page.title.as_deref(),
        Some("From OG"),
        "og:title stands in for a missing <title>"
    );
    assert_eq!(page.description.as_deref(), Some("OG text"));
    assert_eq!(
        page.text, "Body boldtext",
        "inline elements join without invented spaces"
    );

    let (_, html, url) = get("base-href");
    let page = run_extractor(runtime, module, &html, url).expect("extracts");
    assert_eq!(
        page.links,
        vec!["https://cdn.example.org/docs/page.html"],
        "<base href>, dedup, no javascript:/fragments"
    );

    let page = run_extractor(runtime, module, "", None).expect("empty page is fine");
    assert_eq!(page, ExtractedContent::default());
}

/// The text inside the deep pages' nesting, and after it.
const INSIDE: &str = "The text inside the nesting.";
const AFTER: &str = "The text after the nesting.";

/// A link inside the deep pages' nesting.
const DEEP_LINK: &str = "https://example.com/deep";

/// Pages nested far deeper than a browser keeps (Chromium stops at 512 levels).
fn deep_pages() -> Vec<(&'static str, String)> {
    let nested = |tag: &str, depth: usize| {
        format!(
            "<html><head><title>deep</title></head><body><p>Before the nesting.</p>{}<p>{INSIDE} <a href=\"{DEEP_LINK}\">A link.</a></p>{}<p>{AFTER}</p></body></html>",
            format!("<{tag}>").repeat(depth),
            format!("</{tag}>").repeat(depth)
        )
    };
    vec![
        (
            "1,000 unclosed <b>",
            format!(
                "<html><body><p>Before the nesting.</p>{}{INSIDE} <a href=\"{DEEP_LINK}\">A link.</a><p>{AFTER}</p></body></html>",
                "<b>".repeat(1000)
            ),
        ),
        ("2,000 nested <div>", nested("div", 2000)),
        ("100,000 nested <div>", nested("div", 100_000)),
    ]
}

/// Issue 28, item 3: 1,000 unclosed `<b>` and 2,000 nested `<div>` exhausted the guest's call
/// stack (`wasm.trap`) or its fuel, 100,000 levels its whole time or fuel budget. They now
/// extract, with the text inside and after the nesting and the link inside it, as the native
/// build does.
fn check_deep_nesting<R: WasmRuntime>((runtime, module): &(R, R::Module)) {
    for (name, html) in deep_pages() {
        let page = run_extractor(runtime, module, &html, None).unwrap_or_else(|e| panic!("{name}: {e} ({})", e.code()));
        for text in [INSIDE, AFTER] {
            assert!(page.text.contains(text), "{name}: {text:?} in {:?}", page.text);
        }
        assert_eq!(page.links, [DEEP_LINK], "{name}: the link inside the nesting is kept");
        assert_eq!(page, native(&html, None), "{name}: the module runs the current code");
    }

    // The parser reopens each `<b>` that `</div>` closed inside the next `<div>`: the tree grows
    // a level a turn, half a million elements in all, with no tag nested in the page. It traps
    // no more (1,000 turns did under wasmtime); at worst it stops at its budget.
    let reopened: String = (0..1000).map(|i| format!("<div><b id={i}></div>")).collect::<String>() + AFTER;
    match run_extractor(runtime, module, &reopened, None) {
        Ok(page) => assert!(page.text.contains(AFTER), "{:?}", page.text),
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::Wasm(
                    WasmError::OutOfFuel { .. } | WasmError::TimedOut { .. } | WasmError::MemoryLimit { .. }
                )
            ),
            "stopped by its budget, not a trap: {e} ({})",
            e.code()
        ),
    }
}

fn check_runaway_guests_are_stopped<R: WasmRuntime>(runtime: R) {
    let forever = abi_module("(loop $l (br $l)) (i64.const 0)");
    let err = extract_with(&runtime, &forever, "<p>x</p>", None)
        .map(|_| ())
        .expect_err("a guest that loops forever is stopped");
    // wasmer meters fuel; wasmtime interrupts by time (epochs).
    match err.kind() {
        ErrorKind::Wasm(WasmError::OutOfFuel { fuel }) => {
            assert_eq!(*fuel, 20_000_000);
            assert!(err.to_string().contains("execution budget"), "{err}");
        }
        ErrorKind::Wasm(WasmError::TimedOut { limit }) => {
            assert_eq!(*limit, common::TIGHT_RUN_TIME);
            assert!(err.to_string().contains("time budget"), "{err}");
        }
        other => panic!("a runaway guest must be stopped by its budget, got {other:?}"),
    }

    // Grows memory a page at a time until refused, then traps like an allocator would.
    let hungry = abi_module("(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable");
    let err = extract_with(&runtime, &hungry, "<p>x</p>", None)
        .map(|_| ())
        .expect_err("a guest that allocates without bound is stopped");
    assert!(
        matches!(err.kind(), ErrorKind::Wasm(WasmError::MemoryLimit { limit_bytes }) if *limit_bytes == 32 << 20),
        "{err:?}"
    );

    // The real extractor under the same caps still works: they stop runaways, not real pages.
    let page = extract_with(&runtime, ModuleSource::extractor(), common::ARTICLE, None).expect("an ordinary page fits");
    assert_eq!(page.raw_title.as_deref(), Some("Warm caches, fast extractors"));
}

fn check_abi_violations<R: WasmRuntime>(runtime: R) {
    let cases = [
        ("reply outside memory", "(i64.const 0x7fff000000000010)"),
        ("reply larger than the limit", "(i64.const 0x7fffffff)"),
        (
            "reply not UTF-8",
            "(i32.store (i32.const 0) (i32.const 0xffffffff)) (i64.const 4)",
        ),
        (
            "reply not JSON",
            "(i32.store (i32.const 0) (i32.const 0x2a2a2a2a)) (i64.const 4)",
        ),
        ("guest refuses", "(i64.const 0)"),
        ("trap", "unreachable"),
    ];
    for (name, body) in cases {
        let err = extract_with(&runtime, &abi_module(body), "<p>x</p>", None)
            .map(|_| ())
            .expect_err(name);
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Wasm(WasmError::Abi { .. } | WasmError::Trap { .. })
            ),
            "{name}: {err:?}"
        );
    }

    let missing_export = ModuleSource::new(wat::parse_str(r#"(module (memory (export "memory") 1))"#).expect("wat"));
    let err = extract_with(&runtime, &missing_export, "x", None)
        .map(|_| ())
        .expect_err("no alloc export");
    assert!(
        matches!(err.kind(), ErrorKind::Wasm(WasmError::Abi { message }) if message.contains("alloc")),
        "{err:?}"
    );

    let with_import = ModuleSource::new(
        wat::parse_str(r#"(module (import "env" "f" (func)) (memory (export "memory") 1))"#).expect("wat"),
    );
    let err = extract_with(&runtime, &with_import, "x", None)
        .map(|_| ())
        .expect_err("imports are refused");
    assert!(
        matches!(err.kind(), ErrorKind::Wasm(WasmError::InvalidModule { .. })),
        "{err:?}"
    );
}

fn check_input_bound<R: WasmRuntime>(runtime: R) {
    let limit = runtime.limits().max_input_bytes;
    let html = "x".repeat(limit + 1);
    // The host refuses the input before any guest runs, so a one-line guest will do.
    let err = extract_with(&runtime, &abi_module("(i64.const 0)"), &html, None)
        .map(|_| ())
        .expect_err("oversized input");
    assert!(
        matches!(err.kind(), ErrorKind::Wasm(WasmError::InputTooLarge { limit: l, .. }) if *l == limit),
        "{err:?}"
    );
}

/// An instance kept warm answers every page as a fresh one does, page after page and whatever
/// came before (small, large, deep, empty pages in turn), and is used for up to its share.
fn check_warm_instances<R: WasmRuntime>((runtime, module): &(R, R::Module)) {
    let warm = WarmInstances::new(5);
    let options = ExtractOptions::default();
    let mut pages: Vec<(String, String, Option<&str>)> = sample_pages()
        .into_iter()
        .map(|(name, html, url)| (name.to_string(), html, url))
        .collect();
    pages.extend(
        deep_pages()
            .into_iter()
            .map(|(name, html)| (name.to_string(), html, None)),
    );
    let mut most_uses = 0;
    for round in 0..3 {
        for (name, html, url) in &pages {
            let fresh = run_extractor_with(runtime, module, html, *url, options).expect("fresh");
            let warmed = run_extractor_warm(runtime, module, &warm, html, *url, options).expect("warm");
            assert_eq!(warmed, fresh, "{name}, round {round}");
            most_uses = most_uses.max(warm.held_here().unwrap_or(0));
        }
    }
    assert_eq!(
        most_uses, 4,
        "an instance served several pages, and never more than its 5"
    );
}

/// A call that fails retires its instance: the next page gets a fresh one and the right answer.
fn check_failed_warm_instance_is_dropped<R: WasmRuntime>(runtime: R) {
    let module = runtime.compile(riptide::cache::EXTRACTOR_WASM).expect("compiles");
    let warm = WarmInstances::new(8);
    let options = ExtractOptions::default();
    let url = Some("https://news.example.com/2026/11/warm-caches");
    let fresh = run_extractor_with(&runtime, &module, common::ARTICLE, url, options).expect("fresh");
    assert_eq!(
        run_extractor_warm(&runtime, &module, &warm, common::ARTICLE, url, options).expect("warm"),
        fresh
    );
    assert_eq!(warm.held_here(), Some(1));
    // Past the tight budget and memory cap: the call fails and the instance goes with it.
    let huge = format!("<p>{}</p>", "word ".repeat(2_000_000));
    run_extractor_warm(&runtime, &module, &warm, &huge, None, options).expect_err("over the limits");
    assert_eq!(warm.held_here(), None, "the failed instance is not kept");
    assert_eq!(
        run_extractor_warm(&runtime, &module, &warm, common::ARTICLE, url, options).expect("warm"),
        fresh
    );
    assert_eq!(warm.held_here(), Some(1), "a fresh instance served it");
}

fn small_input_limits() -> GuestLimits {
    GuestLimits {
        max_input_bytes: 64 << 10,
        ..GuestLimits::default()
    }
}

macro_rules! suite {
    ($name:ident, $runtime:ty) => {
        mod $name {
            use super::*;
            fn runtime(limits: GuestLimits) -> $runtime {
                <$runtime>::new(limits, true).expect("engine")
            }
            /// The extractor compiled once for the tests with default limits (a debug build's
            /// compile takes seconds).
            fn extractor() -> &'static ($runtime, <$runtime as WasmRuntime>::Module) {
                static COMPILED: std::sync::OnceLock<($runtime, <$runtime as WasmRuntime>::Module)> =
                    std::sync::OnceLock::new();
                COMPILED.get_or_init(|| {
                    let runtime = runtime(GuestLimits::default());
                    let module = runtime
                        .compile(riptide::cache::EXTRACTOR_WASM)
                        .expect("extractor compiles");
                    (runtime, module)
                })
            }
            #[test]
            fn committed_module_is_current() {
                check_committed_module_is_current(extractor());
            }
            #[test]
            fn article_fields() {
                check_article_fields(extractor());
            }
            #[test]
            fn fallbacks_links_and_empty_pages() {
                check_fallbacks(extractor());
            }
            #[test]
            fn deep_nesting_extracts() {
                check_deep_nesting(extractor());
            }
            #[test]
            fn runaway_guests_are_stopped() {
                check_runaway_guests_are_stopped(runtime(tight_limits()));
            }
            #[test]
            fn abi_violations_are_errors() {
                check_abi_violations(runtime(GuestLimits::default()));
            }
            #[test]
            fn warm_instances_answer_as_fresh_ones() {
                check_warm_instances(extractor());
            }
            #[test]
            fn a_failed_warm_instance_is_dropped() {
                check_failed_warm_instance_is_dropped(runtime(tight_limits()));
            }
            #[test]
            fn input_is_bounded() {
                check_input_bound(runtime(small_input_limits()));
            }
        }
    };
}

#[cfg(feature = "wasmtime")]
suite!(wasmtime, common::WasmtimeRuntime);
#[cfg(feature = "wasmer")]
suite!(wasmer, common::WasmerRuntime);

/// The module is plain core WebAssembly: no imports, so every engine runs it unchanged.
#[cfg(feature = "wasmtime")]
#[test]
fn extractor_imports_nothing() {
    let runtime = common::wasmtime();
    let module = runtime.compile(riptide::cache::EXTRACTOR_WASM).expect("compiles");
    let imports: Vec<_> = module
        .module()
        .imports()
        .map(|i| format!("{}::{}", i.module(), i.name()))
        .collect();
    assert!(imports.is_empty(), "extractor imports {imports:?}");
    let exports: Vec<_> = module.module().exports().map(|e| e.name().to_string()).collect();
    for name in ["memory", "alloc", "dealloc", "extract"] {
        assert!(exports.iter().any(|e| e == name), "missing export {name}: {exports:?}");
    }
}
