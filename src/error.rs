//! The one error type of the crate.
//!
//! Every subsystem reports through [`Error`], so callers match on one enum and every message has
//! the same shape: what was wrong, then what to do about it. Variants carry the values a caller
//! needs to act (a key, a path, a limit) rather than only a rendered string.

use std::path::PathBuf;

/// The result type of every fallible riptide call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in riptide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing, of the wrong type, unknown or out of range.
    #[error(
        "invalid configuration: {message} (key `{key}` from {origin}); fix it there or remove it to get the default"
    )]
    Config {
        /// The dotted key, e.g. `optimizations.browser_pool.max_instances`.
        key: String,
        /// Where the value came from: a file path or an environment variable.
        origin: String,
        /// What is wrong with it.
        message: String,
    },

    /// A simulator workload file is unreadable or describes something impossible.
    #[error("workload {origin} is invalid: {message}; see \"Workload files\" in README.md")]
    Workload {
        /// The file (or `"<string>"`).
        origin: String,
        /// What is wrong, naming the field.
        message: String,
    },

    /// The configuration sources could not be read or parsed.
    #[error("could not load configuration: {0}; fix the named file or variable")]
    ConfigLoad(String),

    /// Bytes handed to an engine are not a valid WebAssembly module.
    #[error(
        "{engine} rejected the WebAssembly module: {reason}; pass a core WebAssembly module (riptide's own is wasm/riptide_extractor.wasm, rebuilt by wasm/build.sh)"
    )]
    InvalidModule {
        /// The engine that rejected it.
        engine: &'static str,
        /// The engine's reason.
        reason: String,
    },

    /// An engine failed in a way that is not the module's fault (serialization, instantiation).
    #[error("{engine} failed to {action}: {reason}")]
    Engine {
        /// The engine.
        engine: &'static str,
        /// What riptide asked it to do.
        action: &'static str,
        /// The engine's reason.
        reason: String,
    },

    /// The extractor input is larger than the configured bound.
    #[error(
        "page of {len} bytes is larger than the extractor's input limit of {limit} bytes; raise GuestLimits::max_input_bytes or fetch less"
    )]
    InputTooLarge {
        /// The input size.
        len: usize,
        /// The limit in force.
        limit: usize,
    },

    /// The guest ran past its execution budget (it loops forever or the page is huge).
    #[error(
        "the extractor ran out of its execution budget of {fuel} units and was stopped; the module loops or the page is too large (raise GuestLimits::fuel if it is legitimate)"
    )]
    GuestOutOfFuel {
        /// The budget it was given.
        fuel: u64,
    },

    /// The guest ran past its time budget (it loops forever or the page is huge).
    #[error(
        "the extractor ran longer than its time budget of {limit:?} and was stopped; the module loops or the page is too large (raise GuestLimits::max_run_time if it is legitimate)"
    )]
    GuestTimedOut {
        /// The budget it was given.
        limit: std::time::Duration,
    },

    /// The guest tried to grow its memory past the cap.
    #[error(
        "the extractor tried to use more than {limit_bytes} bytes of memory and was stopped; raise GuestLimits::max_memory_bytes if the page legitimately needs it"
    )]
    GuestMemoryLimit {
        /// The cap in force.
        limit_bytes: usize,
    },

    /// The guest trapped (a panic, an out-of-bounds access, an unreachable).
    #[error("the extractor trapped: {0}; report it with the page that caused it")]
    GuestTrap(String),

    /// The guest broke the extractor ABI (missing export, bad pointer, bad JSON).
    #[error(
        "the extractor module broke riptide's guest ABI: {0}; rebuild it with wasm/build.sh or use the module that ships with riptide"
    )]
    GuestAbi(String),

    /// A file system operation failed.
    #[error("could not {action} {}: {source}; check that the path exists and is writable by this user", path.display())]
    Io {
        /// What riptide was doing.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// No browser binary was found.
    #[error(
        "no Chromium found (tried {}); install it with `apt-get install -y chromium`, or set RIPTIDE_CHROME_PATH or optimizations.browser_pool.chrome_path to the binary",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    BrowserNotFound {
        /// The paths looked at.
        tried: Vec<PathBuf>,
    },

    /// A local browser did not start.
    #[error(
        "could not launch the browser {}: {reason}; check that it runs (`{} --headless --version`) and that /tmp is writable",
        executable.display(), executable.display()
    )]
    BrowserLaunch {
        /// The binary.
        executable: PathBuf,
        /// Why.
        reason: String,
    },

    /// A remote browser could not be reached.
    #[error(
        "could not connect to the browser at {url:?}: {reason}; check the DevTools URL (ws://host:port/devtools/browser/<id>) and that the browser runs"
    )]
    BrowserConnect {
        /// The DevTools URL.
        url: String,
        /// Why.
        reason: String,
    },

    /// A browser died or lost its connection.
    #[error("the browser is gone ({reason}); the pool replaces it, so retry the request")]
    BrowserDead {
        /// What was observed.
        reason: String,
    },

    /// A browser did not answer a health probe in time (frozen or overloaded).
    #[error("the browser did not answer within {deadline:?}; the pool replaces it, so retry the request")]
    BrowserUnresponsive {
        /// The probe's deadline.
        deadline: std::time::Duration,
    },

    /// A page did not finish loading before its deadline.
    #[error("{url} did not load within {deadline:?}; retry with a longer deadline or check that the server answers")]
    PageTimeout {
        /// The page.
        url: String,
        /// The deadline it had.
        deadline: std::time::Duration,
    },

    /// A directory riptide would keep state in is not safely its user's.
    #[error(
        "refusing to use {path}: {reason}; use a directory you own that others cannot write to (or remove this one so riptide can create it)"
    )]
    UnsafeDirectory {
        /// The directory.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The address policy refuses a page before anything is fetched (see
    /// [`AddressPolicy`](crate::policies::AddressPolicy)).
    #[error(
        "{url} is refused by the address policy: {reason}; set network.allow_private_addresses (or allow_file_urls) = true if it is intended"
    )]
    AddressNotAllowed {
        /// The page.
        url: String,
        /// Why.
        reason: String,
    },

    /// The request was cancelled: its caller went away (a dropped future, Ctrl-C).
    #[error("the request for {url} was cancelled before it finished")]
    Cancelled {
        /// The page.
        url: String,
    },

    /// A page made its browser use more memory than the render memory limit allows. The render
    /// was stopped and the browser killed (the pool replaces it).
    #[error(
        "{url} was stopped after its browser used {} MB, over the render memory limit of {} MB; the page is not extracted (raise optimizations.browser_pool.render_memory_limit_mb if the page is legitimate)",
        used_bytes >> 20,
        limit_bytes >> 20
    )]
    RenderMemoryExceeded {
        /// The page.
        url: String,
        /// The memory the browser was seen using.
        used_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },

    /// The browser could not load a page (DNS, refused connection, TLS, aborted).
    #[error(
        "the browser could not load {url}: {reason}; check the URL and that the server is reachable from the browser"
    )]
    Navigation {
        /// The page.
        url: String,
        /// The browser's reason.
        reason: String,
    },

    /// Every browser stayed busy for the whole checkout wait.
    #[error(
        "all {max_instances} browsers stayed busy for {waited:?}; raise optimizations.browser_pool.max_instances or max_checkout_duration_secs, or send fewer requests at once"
    )]
    PoolExhausted {
        /// How long the caller waited.
        waited: std::time::Duration,
        /// The pool's ceiling.
        max_instances: usize,
    },

    /// The browser pool could not be started, so nothing can be rendered headless.
    #[error("the browser pool could not start: {reason}; headless extraction is unavailable (static pages still work)")]
    PoolUnavailable {
        /// The first start's error.
        reason: String,
    },

    /// [`PoolOptions`](crate::PoolOptions) that cannot work together.
    #[error(
        "invalid browser pool options: {message}; fix the PoolOptions (or optimizations.browser_pool in the configuration)"
    )]
    InvalidPoolOptions {
        /// What is wrong, naming the fields.
        message: String,
    },

    /// A task riptide runs its blocking work on panicked or was cancelled (by its runtime
    /// shutting down). The panic is a bug in riptide or in a backend.
    #[error(
        "riptide's task to {action} did not finish: {source}; if it panicked, report it with the page that caused it"
    )]
    Task {
        /// What the task was doing.
        action: &'static str,
        /// Why it did not finish.
        #[source]
        source: tokio::task::JoinError,
    },

    /// The pool was shut down.
    #[error("the browser pool is shut down; create a new pool")]
    PoolClosed,

    /// An attempt failed in a way retrying cannot fix (no such host, a 4xx answer, a
    /// certificate that is not accepted, a redirect loop).
    #[error("{target}: {class:?} after {attempts} attempt(s), which retrying cannot fix{}; {}", detail_suffix(detail), fix_for(*class))]
    AttemptFailed {
        /// The target.
        target: String,
        /// What failed.
        class: crate::traits::FailureClass,
        /// Attempts made.
        attempts: u32,
        /// The underlying error's message (empty when there is none).
        detail: String,
    },

    /// Every allowed attempt failed or timed out.
    #[error(
        "{target}: gave up after {attempts} attempt(s) in {elapsed:?} (last: {last}); the host may be down or need a longer max_timeout_secs"
    )]
    RetriesExhausted {
        /// The target.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent in all.
        elapsed: std::time::Duration,
        /// The last failure, and why no further attempt was made.
        last: String,
    },

    /// The retry budget is spent: too many retries lately compared to requests.
    #[error(
        "{target}: not retried because the retry budget is spent (too many recent failures); the failure is returned as is"
    )]
    RetryBudgetExhausted {
        /// The target.
        target: String,
    },

    /// The circuit breaker of a host (the executor: of an origin, scheme + host + port) is open
    /// after repeated connection failures.
    #[error(
        "{host} failed repeatedly to connect, so requests to it fail fast for another {retry_after:?}; check that it is up"
    )]
    CircuitOpen {
        /// The host, or the origin (`http://127.0.0.1:8080`) for the executor's requests.
        host: String,
        /// Until the next trial request.
        retry_after: std::time::Duration,
    },

    /// What was given as a page to extract is neither a URL nor an existing file.
    #[error(
        "`{input}` is not a page riptide can fetch: {reason}; pass an http(s):// or file:// URL, or the path of a local file"
    )]
    InvalidUrl {
        /// What was given.
        input: String,
        /// Why it is not usable.
        reason: String,
    },

    /// The URL's scheme is not one riptide fetches.
    #[error("{url}: the `{scheme}` scheme is not supported; {hint}")]
    UnsupportedScheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
        /// What to do instead.
        hint: &'static str,
    },

    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}; check the URL (4xx) or try again later (5xx)")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },

    /// The server answered with something that is not an HTML page.
    #[error("{url} is `{content_type}`, not HTML; riptide extracts HTML pages only")]
    NotHtml {
        /// The URL.
        url: String,
        /// The `Content-Type` it was served with.
        content_type: String,
    },

    /// The page is larger than the body limit.
    #[error("{url} is larger than the {limit}-byte limit; raise the executor's max_body_bytes if it must be read")]
    BodyTooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },

    /// Extracting one URL failed for the reason in `source` (a timeout after retries, an empty
    /// pool, a failed extraction...).
    #[error("{url}: {source}")]
    ForUrl {
        /// The URL (or path) that failed.
        url: String,
        /// What went wrong.
        source: Box<Error>,
    },

    /// The persistent store (redb) failed.
    #[error("the store at {} failed to {action}: {reason}; delete the file to start afresh (riptide rebuilds what it held: compiled artifacts, learned timeouts)", path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// What riptide was doing.
        action: &'static str,
        /// The store's reason.
        reason: String,
    },
}

impl Error {
    /// Whether retrying the same call elsewhere (another browser, later) may succeed: time-outs,
    /// dead or frozen browsers, an exhausted pool.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::PageTimeout { .. }
                | Error::BrowserDead { .. }
                | Error::BrowserUnresponsive { .. }
                | Error::PoolExhausted { .. }
        )
    }

    /// The URL an extraction error is about, if it is about one.
    pub fn url(&self) -> Option<&str> {
        match self {
            Error::InvalidUrl { input: url, .. }
            | Error::UnsupportedScheme { url, .. }
            | Error::HttpStatus { url, .. }
            | Error::NotHtml { url, .. }
            | Error::BodyTooLarge { url, .. }
            | Error::ForUrl { url, .. }
            | Error::PageTimeout { url, .. }
            | Error::Navigation { url, .. } => Some(url),
            _ => None,
        }
    }

    /// The error itself, without the [`Error::ForUrl`] wrapper (to match on what went wrong).
    pub fn kind(&self) -> &Error {
        match self {
            Error::ForUrl { source, .. } => source.kind(),
            other => other,
        }
    }

    /// An [`Error::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// The result of a blocking task, its join error reported as [`Error::Task`].
pub(crate) fn join_blocking<T>(
    joined: std::result::Result<Result<T>, tokio::task::JoinError>,
    action: &'static str,
) -> Result<T> {
    joined.map_err(|source| Error::Task { action, source })?
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

/// What to do about a failure that retrying cannot fix.
fn fix_for(class: crate::traits::FailureClass) -> &'static str {
    use crate::traits::FailureClass;
    match class {
        FailureClass::Tls => {
            "the server's certificate is not accepted; check the URL and the server's certificate, or set network.accept_invalid_certs = true for a server you trust"
        }
        FailureClass::ResourceLimit => "the page needs more than riptide allows it; raise the limit the message names",
        FailureClass::Blocked => {
            "the address policy refuses it; set network.allow_private_addresses (or allow_file_urls) = true if it is intended"
        }
        FailureClass::Redirect => {
            "the server redirects in a loop or to a scheme riptide does not follow; check the URL"
        }
        FailureClass::Dns => "the name does not resolve; check the URL",
        _ => "check the URL",
    }
}
