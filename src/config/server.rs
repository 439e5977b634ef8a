//! `[server]`: how `riptide serve` listens, admits work and which pages it may load.
//!
//! Its own section because a server takes its input from someone else: unlike the command line
//! (run by its own user, `[network]` permissive by default), it refuses `file://` and pages on
//! addresses that are not public unless told otherwise here.

use serde::{Deserialize, Serialize};

/// `[server]`: `riptide serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where to listen, `address:port`. Anything but a loopback address needs `token`.
    pub listen: String,
    /// The bearer token every route but the health checks requires (`RIPTIDE_SERVER_TOKEN`).
    pub token: Option<String>,
    /// Pages extracted at once.
    pub max_in_flight: u32,
    /// Requests that may wait beyond those in flight; the next is answered `429`.
    pub max_queued: u32,
    /// Seconds a page may take from its request's arrival, waiting included.
    pub request_deadline_secs: u64,
    /// Seconds the requests in progress get to finish at shutdown.
    pub shutdown_grace_secs: u64,
    /// Load `file://` URLs and local paths (off: a client could read the server's files).
    pub allow_file_urls: bool,
    /// Load pages on loopback, private, link-local (cloud metadata) and other non-public
    /// addresses, checked after DNS resolution and on every redirect. Off by default; the hosts
    /// in `network.allowed_hosts` are allowed either way.
    pub allow_private_addresses: bool,
    /// The most pages one `POST /v1/crawl` may emit; a request may ask for fewer.
    pub max_crawl_pages: u64,
    /// The most URLs one `POST /v1/extract` batch may name; a larger one is refused with `413`.
    pub max_batch_urls: u32,
    /// Seconds a client may take to send a request's headers; a slower one is disconnected.
    pub header_read_timeout_secs: u64,
    /// Names the server answers to besides its listen address (and `localhost` on loopback),
    /// e.g. its DNS name behind a proxy: a request whose `Host` names anything else is refused
    /// (`421`), and a browser's request whose `Origin` is not the server's own (`403`).
    pub allowed_hosts: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7878".into(),
            token: None,
            max_in_flight: 8,
            max_queued: 64,
            request_deadline_secs: 120,
            shutdown_grace_secs: 10,
            allow_file_urls: false,
            allow_private_addresses: false,
            max_crawl_pages: 10_000,
            max_batch_urls: 1_000,
            header_read_timeout_secs: 10,
            allowed_hosts: Vec::new(),
        }
    }
}
