//! What `riptide extract` accepts: its arguments, and the parsers that check them before any
//! page is fetched.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Args)]
pub(crate) struct ExtractArgs {
    /// URLs or paths to extract.
    #[arg(value_name = "URL|PATH")]
    pub(crate) inputs: Vec<String>,
    /// Also read URLs from this file, one per line (`-`: standard input; `#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// How pages are fetched.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    pub(crate) engine: EngineArg,
    /// With `--engine auto`: fetch every page statically first, never rendering a host's pages
    /// directly (engine_choice.remember_hosts = false).
    #[arg(long)]
    pub(crate) no_host_memory: bool,
    /// Which rendered pages share cookies and storage
    /// (optimizations.browser_pool.isolation; default site).
    #[arg(long, value_enum)]
    pub(crate) isolation: Option<IsolationArg>,
    /// Headless renders do not load these kinds of subresources, recognized by file extension
    /// (optimizations.browser_pool.block_resources).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KIND,...")]
    pub(crate) block: Vec<BlockArg>,
    /// Headless renders do not load subresources whose URL matches this pattern (`*` matches
    /// anything; repeat for more; optimizations.browser_pool.block_urls).
    #[arg(long, value_name = "PATTERN")]
    pub(crate) block_url: Vec<String>,
    /// The User-Agent both engines send (network.user_agent).
    #[arg(long, value_name = "UA")]
    pub(crate) user_agent: Option<String>,
    /// An extra request header both engines send, as `Name: value` (repeat for more;
    /// network.headers).
    #[arg(long, value_name = "NAME: VALUE", value_parser = parse_header)]
    pub(crate) header: Vec<(String, String)>,
    /// A cookie both engines send to the site it names, as a `Set-Cookie` line:
    /// `name=value; Domain=example.com` (repeat for more; network.cookies).
    #[arg(long, value_name = "COOKIE", value_parser = parse_cookie)]
    pub(crate) cookie: Vec<String>,
    /// The proxy both engines go through: `http://[user:password@]host:port` (network.proxy,
    /// RIPTIDE_PROXY).
    #[arg(long, value_name = "URL", value_parser = parse_proxy)]
    pub(crate) proxy: Option<String>,
    /// Give up on a page after this many seconds, every attempt included
    /// (optimizations.adaptive_timeout.request_timeout_secs; default twice max_timeout_secs).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub(crate) timeout: Option<f64>,
    /// Save a PNG of every rendered page in DIR (created if missing) and put its path in the
    /// JSON as `screenshot`; pages fetched statically have none.
    #[arg(long, value_name = "DIR")]
    pub(crate) screenshot: Option<PathBuf>,
    /// When a rendered page counts as loaded; one not loaded by its deadline is taken as it
    /// stands and marked `"partial": true`.
    #[arg(long, value_enum, default_value_t = WaitArg::Load)]
    pub(crate) wait_until: WaitArg,
    /// Rendered pages are also waited for until this CSS selector matches.
    #[arg(long, value_name = "SELECTOR")]
    pub(crate) wait_for: Option<String>,
    /// Pages extracted at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) concurrency: u16,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub(crate) format: Format,
    /// Also output the cleaned article HTML (`content_html`).
    #[arg(long)]
    pub(crate) html: bool,
    /// Write the output here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Send the pages to a running `riptide serve` at this URL (`http://host:port`) instead of
    /// extracting them here; the output is the same. The per-page flags (--wait-until,
    /// --wait-for, --isolation, --timeout, which can only shorten the server's limit, --html,
    /// --format markdown) go with the batch; the server's configuration decides the rest, so
    /// the flags that set up this process's executor are refused. Its token is `server.token`
    /// (RIPTIDE_SERVER_TOKEN).
    #[arg(long, value_name = "URL", env = "RIPTIDE_SERVER")]
    pub(crate) server: Option<String>,
}

impl ExtractArgs {
    /// The per-page settings of `POST /v1/extract` these flags ask for: what a server applies
    /// to each page of a batch sent with `--server`, and what a local run reads its render
    /// defaults from (`RenderOptions`, by the same names), so a render flag is defined here
    /// alone. `--timeout` there can only shorten the server's own time limit.
    pub(crate) fn page_settings(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut settings = serde_json::Map::new();
        let mut set = |key: &str, value: serde_json::Value| {
            settings.insert(key.into(), value);
        };
        match self.wait_until {
            WaitArg::Load => {}
            WaitArg::Domcontentloaded => set("wait_until", "domcontentloaded".into()),
            WaitArg::Networkidle => set("wait_until", "networkidle".into()),
        }
        if let Some(selector) = &self.wait_for {
            set("wait_for", selector.as_str().into());
        }
        if let Some(isolation) = self.isolation {
            let name = match isolation {
                IsolationArg::Site => "site",
                IsolationArg::Page => "page",
                IsolationArg::Shared => "shared",
            };
            set("isolation", name.into());
        }
        if self.format == Format::Markdown {
            set("markdown", true.into());
        }
        if self.html {
            set("html", true.into());
        }
        if let Some(secs) = self.timeout {
            set("timeout_secs", secs.into());
        }
        settings
    }

    /// The first flag given that only this process's executor can honour, if any: with
    /// `--server` they would be silently ignored.
    pub(crate) fn local_only_flag(&self) -> Option<&'static str> {
        [
            (self.no_host_memory, "--no-host-memory"),
            (!self.block.is_empty(), "--block"),
            (!self.block_url.is_empty(), "--block-url"),
            (self.user_agent.is_some(), "--user-agent"),
            (!self.header.is_empty(), "--header"),
            (!self.cookie.is_empty(), "--cookie"),
            (self.proxy.is_some(), "--proxy"),
            (self.screenshot.is_some(), "--screenshot"),
            (matches!(self.engine, EngineArg::Stealth), "--engine stealth"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum EngineArg {
    /// Static first; a browser when the page needs JavaScript.
    Auto,
    /// A plain HTTP fetch (or file read), never a browser.
    Static,
    /// Every page rendered in a headless browser.
    Headless,
    /// Every page rendered in a browser that hides it is automated
    /// (optimizations.browser_pool.stealth = true).
    Stealth,
}

/// A cookie line, checked (kept as written: the configuration holds lines).
pub(crate) fn parse_cookie(s: &str) -> Result<String, String> {
    s.parse::<riptide::network::RequestCookie>()
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// A proxy URL, checked.
pub(crate) fn parse_proxy(s: &str) -> Result<String, String> {
    s.parse::<riptide::network::ProxyServer>()
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// A positive number of seconds.
pub(crate) fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 => Ok(secs),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 86400 (e.g. `2.5`)"
        )),
    }
}

/// `Name: value` as a header pair.
pub(crate) fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.trim().to_string())),
        _ => Err(format!("`{s}` is not a header; write it as `Name: value`")),
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum BlockArg {
    /// Pictures (png, jpg, gif, webp, avif, svg, ico, bmp).
    Image,
    /// Audio and video.
    Media,
    /// Web fonts.
    Font,
    /// Style sheets.
    Stylesheet,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum IsolationArg {
    /// A fresh browser context whenever the site changes.
    Site,
    /// A fresh browser context for every page.
    Page,
    /// One context for every page of a browser: a session.
    Shared,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum WaitArg {
    /// The `load` event: the document and its subresources arrived.
    Load,
    /// The document was parsed; subresources may still be loading.
    Domcontentloaded,
    /// `load`, then no subresource finished for 500 ms.
    Networkidle,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One JSON array.
    Json,
    /// One JSON object per line, as pages finish.
    Jsonl,
    /// Title, URL and text, for reading.
    Text,
    /// Title, URL and the main content as Markdown.
    Markdown,
}
