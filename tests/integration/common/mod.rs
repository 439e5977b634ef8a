//! Shared pieces of the integration tests: engines, small hand-written modules, sample pages,
//! and an observing wrapper around a real engine.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use riptide::traits::{GuestLimits, WasmRuntime};
use riptide::{ModuleSource, Result};

#[cfg(feature = "wasmer")]
pub(crate) use riptide::backends::wasmer::WasmerRuntime;
#[cfg(feature = "wasmtime")]
pub(crate) use riptide::backends::wasmtime::WasmtimeRuntime;

/// The time budget of [`tight_limits`]: far above what a small page takes (about a millisecond),
/// far below the default.
pub(crate) const TIGHT_RUN_TIME: std::time::Duration = std::time::Duration::from_millis(300);

/// Limits small enough that a runaway guest is stopped in well under a second.
pub(crate) fn tight_limits() -> GuestLimits {
    GuestLimits {
        max_memory_bytes: 32 << 20,
        fuel_base: 20_000_000,
        fuel_per_input_byte: 0,
        max_run_time: TIGHT_RUN_TIME,
        ..GuestLimits::default()
    }
}

#[cfg(feature = "wasmtime")]
pub(crate) fn wasmtime() -> WasmtimeRuntime {
    WasmtimeRuntime::new(GuestLimits::default(), true).expect("wasmtime engine")
}

/// The module cache the test executors share: one process-wide in-memory store, so the
/// extractor is compiled once per test binary instead of once per executor (a debug build's
/// Cranelift takes seconds for it). Tests that count compilations build their own cache.
pub(crate) type SharedModuleCache = Arc<riptide::backends::memory::MemoryModuleCache>;

/// The process's [`SharedModuleCache`].
pub(crate) fn shared_module_cache() -> SharedModuleCache {
    static SHARED: std::sync::OnceLock<SharedModuleCache> = std::sync::OnceLock::new();
    Arc::clone(SHARED.get_or_init(Default::default))
}

/// An executor builder for tests: `provider`, wasmtime with the [`shared_module_cache`], a
/// learned timeout policy from `config`, and a fixed retry seed. Add what a test needs, then
/// `build`.
#[cfg(feature = "wasmtime")]
pub(crate) fn executor_builder<B: riptide::traits::BrowserProvider>(
    provider: B,
    config: riptide::RiptideConfig,
) -> riptide::ExecutorBuilder<B, WasmtimeRuntime, SharedModuleCache, riptide::policies::AdaptiveTimeout> {
    executor_builder_with_cache(provider, config, shared_module_cache())
}

/// [`executor_builder`] with a module cache of its own, for a test that counts compilations.
#[cfg(feature = "wasmtime")]
pub(crate) fn executor_builder_with_cache<B: riptide::traits::BrowserProvider>(
    provider: B,
    config: riptide::RiptideConfig,
    cache: SharedModuleCache,
) -> riptide::ExecutorBuilder<B, WasmtimeRuntime, SharedModuleCache, riptide::policies::AdaptiveTimeout> {
    riptide::Executor::builder(
        provider,
        riptide::CompileCache::new(wasmtime(), cache, riptide::CacheOptions::default()),
        riptide::policies::AdaptiveTimeout::new(config.optimizations.adaptive_timeout.clone()),
    )
    .config(config)
    .retry_seed(7)
}

#[cfg(feature = "wasmer")]
pub(crate) fn wasmer() -> WasmerRuntime {
    WasmerRuntime::new(GuestLimits::default(), true).expect("wasmer engine")
}

/// A minimal module speaking the extractor ABI: replies with a fixed document. `salt` makes
/// distinct modules (distinct cache keys) of identical shape.
pub(crate) fn tiny_module(salt: u32) -> ModuleSource {
    let reply = r#"{"title":"tiny","text":"tiny","links":[],"open_graph":{}}"#;
    let wat = format!(
        r#"(module
            (memory (export "memory") 1)
            (global (export "salt") i32 (i32.const {salt}))
            (data (i32.const 0) "{escaped}")
            (func (export "alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "dealloc") (param i32 i32))
            (func (export "extract") (param i32 i32) (result i64) (i64.const {len})))"#,
        escaped = reply.replace('"', "\\\""),
        len = reply.len(),
    );
    ModuleSource::new(wat::parse_str(&wat).expect("valid WAT"))
}

/// An ABI module whose `extract` is replaced by `body` (a function body returning i64).
pub(crate) fn abi_module(body: &str) -> ModuleSource {
    let wat = format!(
        r#"(module
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "dealloc") (param i32 i32))
            (func (export "extract") (param i32 i32) (result i64) {body}))"#
    );
    ModuleSource::new(wat::parse_str(&wat).expect("valid WAT"))
}

/// Sample pages with the URL they were fetched from.
pub(crate) fn sample_pages() -> Vec<(&'static str, String, Option<&'static str>)> {
    vec![
        ("article", ARTICLE.to_string(), Some("https://news.example.com/2026/11/warm-caches")),
        ("minimal", "<p>just text".to_string(), None),
        ("og-only", r#"<html><head><meta property="og:title" content="From OG"><meta property="og:description" content="OG text"></head><body><div>Body <b>bold</b>text</div></body></html>"#.to_string(), Some("http://a.test/")),
        ("empty", String::new(), None),
        ("base-href", r##"<html><head><base href="https://cdn.example.org/docs/"></head><body><a href="page.html">p</a><a href="javascript:void(0)">x</a><a href="#top">t</a><a href="page.html">dup</a></body></html>"##.to_string(), Some("https://example.org/")),
        ("unicode", "<title>Ünïcödé — 日本語</title><main><p>Grüße aus Köln</p><p>東京</p></main>".to_string(), None),
        ("large", large_page(), Some("https://big.example.com/")),
    ]
}

/// ~100 KB of ordinary article markup.
pub(crate) fn large_page() -> String {
    let mut html = String::from(
        "<html lang=\"en\"><head><title>Large page</title></head><body><nav><a href=\"/\">home</a></nav><main>",
    );
    let mut i = 0;
    while html.len() < 100_000 {
        html.push_str(&format!(
            "<section><h2>Section {i}</h2><p>Paragraph {i} with <a href=\"/link/{i}\">a link</a> and <em>emphasis</em>, \
             long enough to look like real prose about caches, browsers and timeouts.</p></section>"
        ));
        i += 1;
    }
    html.push_str("</main><footer>footer text</footer></body></html>");
    html
}

pub(crate) const ARTICLE: &str = r#"<!doctype html>
<html lang="en-GB">
<head>
  <title>  Warm caches,   fast extractors </title>
  <meta name="description" content="How riptide keeps things warm.">
  <meta name="author" content="Ada Lovelace">
  <meta property="article:published_time" content="2026-11-27T09:00:00Z">
  <meta property="og:title" content="Warm caches (OG)">
  <meta property="og:type" content="article">
  <meta property="og:image" content="https://news.example.com/img.png">
  <link rel="canonical" href="/2026/11/warm-caches">
  <style>body { color: red }</style>
  <script>var tracking = "do not extract";</script>
</head>
<body>
  <header><a href="/">News</a> <a href="/about">About</a></header>
  <nav><a href="/sections">Sections</a></nav>
  <article>
    <header><h1>Warm caches</h1></header>
    <p>Compiling a module costs <strong>hundreds</strong> of milliseconds.</p>
    <p>Loading one costs about   one.</p>
    <ul><li>first</li><li>second</li></ul>
    <p>Read <a href="../10/older">the older post</a> or <a href="mailto:x@example.com">write</a>.</p>
    <script>document.write("nope")</script>
    <div hidden>hidden text</div>
  </article>
  <aside>Sidebar ads</aside>
  <footer>© 2026 <a href="https://other.example.net/legal">Legal</a></footer>
</body>
</html>"#;

/// A real engine wrapped to count deserializations: proves which artifacts reached the
/// engine's `unsafe` loader.
pub(crate) struct Observed<R> {
    pub inner: R,
    pub deserializes: Arc<AtomicUsize>,
}

impl<R> Observed<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            deserializes: Arc::default(),
        }
    }
}

impl<R: WasmRuntime> WasmRuntime for Observed<R> {
    type Module = R::Module;
    type Instance = R::Instance;

    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn fingerprint(&self) -> [u8; 32] {
        self.inner.fingerprint()
    }
    fn limits(&self) -> &GuestLimits {
        self.inner.limits()
    }
    fn compile(&self, wasm: &[u8]) -> Result<R::Module> {
        self.inner.compile(wasm)
    }
    fn serialize(&self, module: &R::Module) -> Result<Vec<u8>> {
        self.inner.serialize(module)
    }
    unsafe fn deserialize(&self, artifact: &[u8]) -> Result<R::Module> {
        self.deserializes.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.inner.deserialize(artifact) }
    }
    fn instantiate(&self, module: &R::Module, input_len: usize) -> Result<R::Instance> {
        self.inner.instantiate(module, input_len)
    }
}

/// Polls `done` until it holds or `guard` passes (a condition with a bound, not a delay).
pub(crate) fn eventually(guard: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + guard;
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}
