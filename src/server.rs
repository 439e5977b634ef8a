//! `riptide serve`: one executor, warm for the life of the process, behind HTTP (feature
//! `server`).
//!
//! A `riptide extract` per page pays a browser launch and a module load every time: the pool,
//! the loaded extractor and the learned timeouts live as long as one process. A [`Server`] keeps
//! one [`BoxExecutor`] for as long as it runs, as services that render pages do.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the console: a page showing the pool, cache, timeouts, crawls and recent activity, with a form to try a URL |
//! | `POST /v1/extract` `{"url": U}` | the page as `riptide extract --format json` prints it, with `schema_version` |
//! | `POST /v1/extract` `{"urls": [U, ...]}` | one such record per line (NDJSON), in completion order |
//! | `POST /v1/crawl` `{"seeds": [U, ...]}` | a crawl: each page (or failure) as `riptide crawl` writes it, one per line (NDJSON), then `{"report": ...}` |
//! | `GET /v1/crawls` | the running crawls, each with its live report |
//! | `DELETE /v1/crawls/{id}` | stops a running crawl |
//! | `GET /v1/report` | the executor's [`PerformanceReport`](crate::PerformanceReport) |
//! | `GET /v1/timeouts` | the learned timeout profiles |
//! | `GET /v1/activity` | pages, pages/s and latency percentiles over the last five minutes, in 5 s buckets |
//! | `GET /metrics` | Prometheus text, unless [`ServerOptions::metrics`] is off |
//! | `GET /healthz` | `200` while the process serves |
//! | `GET /readyz` | `200` once the pool is warm and the extractor loaded, `503` before |
//!
//! A request may also name its `"engine"` (`auto`, `static`, `headless`). A page that fails is
//! answered with the record [`Error::to_record`] makes; the status of a one-page request says
//! whose fault it was: `400` a URL that is not one, `403` an address the policy refuses, `502`
//! the page's server failed, `504` it did not answer in time, `503` no browser (or the server
//! is stopping), `422` the extractor could not handle the page.
//!
//! **Admission.** At most [`ServerOptions::max_in_flight`] pages are extracted at once, and at
//! most [`ServerOptions::max_queued`] requests wait beyond those; a request past that is answered
//! at once with `429` and `Retry-After`, never left to hang. Every page has
//! [`ServerOptions::request_deadline`] from its arrival, waiting included. A client that goes
//! away takes its work with it: the request's future is dropped, which cancels its fetches and
//! renders.
//!
//! **Safety.** It listens on `127.0.0.1` unless told otherwise, and anywhere else only with a
//! bearer token ([`ServerOptions::token`]), which every route but the health checks then
//! requires. Web pages cannot drive it: a request whose `Host` does not name the server
//! (`421`, DNS rebinding), whose `Origin` is another site's (`403`), or a `POST` whose body is
//! not `Content-Type: application/json` (`415`, what a page's form sends) is refused
//! ([`ServerOptions::allowed_hosts`] adds names). Which pages may be fetched is the
//! executor's address policy: `riptide serve` builds
//! its executor with `file://` and non-public addresses refused (checked after DNS resolution
//! and on every redirect) unless its flags allow them.
//!
//! **Shutdown.** [`Server::run`] stops accepting when its `shutdown` future completes, lets the
//! requests in progress finish for [`ServerOptions::shutdown_grace`], then cancels the rest;
//! the caller then shuts the executor down (saving what it learned, closing the browsers).

mod activity;
mod admission;
mod console;
mod crawl;
mod crawls;
mod guard;
mod metrics;
mod problem;
mod routes;
mod shared;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::executor::BoxExecutor;

use self::admission::Admission;

/// The version of the JSON records the server answers with; it changes when a field changes
/// meaning or goes away (new fields do not change it).
pub const SCHEMA_VERSION: u32 = 1;

/// How a [`Server`] listens and admits work.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Where to listen. Default `127.0.0.1:7878`.
    pub listen: SocketAddr,
    /// The bearer token every route but `/healthz` and `/readyz` requires. Required to listen
    /// on anything but a loopback address. Default none.
    pub token: Option<String>,
    /// Pages extracted at once. Default 8.
    pub max_in_flight: usize,
    /// Requests that may wait for a slot beyond those in flight; the next gets `429`. Default 64.
    pub max_queued: usize,
    /// How long a page may take from the request's arrival, waiting included. Default 120 s.
    pub request_deadline: Duration,
    /// How long requests in progress get to finish once shutdown starts. Default 10 s.
    pub shutdown_grace: Duration,
    /// Serve `GET /metrics` (Prometheus): `[performance] export_metrics`. Default on.
    pub metrics: bool,
    /// The most pages one `POST /v1/crawl` may emit (a request may ask for fewer).
    /// Default 10,000.
    pub max_crawl_pages: u64,
    /// The most URLs one `POST /v1/extract` batch may name; a larger one is refused with `413`.
    /// Default 1,000.
    pub max_batch_urls: usize,
    /// How long a client may take to send a request's headers; a slower one is disconnected.
    /// Default 10 s.
    pub header_read_timeout: Duration,
    /// Names the server answers to besides its listen address (and `localhost` on loopback):
    /// a request whose `Host` names anything else is refused with `421`, one whose `Origin` is
    /// not the server's own with `403`, so that web pages cannot drive the server. Default none.
    pub allowed_hosts: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            token: None,
            max_in_flight: 8,
            max_queued: 64,
            request_deadline: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(10),
            metrics: true,
            max_crawl_pages: 10_000,
            max_batch_urls: 1_000,
            header_read_timeout: Duration::from_secs(10),
            allowed_hosts: Vec::new(),
        }
    }
}

impl ServerOptions {
    /// Options listening on `listen`, the rest default.
    pub fn listen(listen: SocketAddr) -> Self {
        Self {
            listen,
            ..Self::default()
        }
    }

    /// The options `[server]` describes (listen address, token, limits, grace).
    pub fn from_config(c: &crate::config::ServerConfig) -> Result<Self> {
        let listen = c.listen.parse().map_err(|e| {
            Error::config(
                "server.listen",
                "the configuration",
                format!("{:?} is not an address:port such as 127.0.0.1:7878 ({e})", c.listen),
            )
        })?;
        let options = Self {
            listen,
            token: c.token.clone(),
            max_in_flight: c.max_in_flight as usize,
            max_queued: c.max_queued as usize,
            request_deadline: Duration::from_secs(c.request_deadline_secs),
            shutdown_grace: Duration::from_secs(c.shutdown_grace_secs),
            metrics: true,
            max_crawl_pages: c.max_crawl_pages,
            max_batch_urls: c.max_batch_urls as usize,
            header_read_timeout: Duration::from_secs(c.header_read_timeout_secs),
            allowed_hosts: c.allowed_hosts.clone(),
        };
        options.validate()?;
        Ok(options)
    }

    fn validate(&self) -> Result<()> {
        let invalid = |key: &str, message: String| Err(Error::config(key, "the server options", message));
        if !self.listen.ip().is_loopback() && self.token.as_deref().is_none_or(str::is_empty) {
            return invalid(
                "server.token",
                format!(
                    "listening on {} (not a loopback address) needs a bearer token; set `server.token` (or RIPTIDE_SERVER_TOKEN; a command line would show it to every user), or listen on 127.0.0.1",
                    self.listen
                ),
            );
        }
        if self.max_in_flight == 0 {
            return invalid("server.max_in_flight", "must be at least 1".into());
        }
        if self.request_deadline.is_zero() {
            return invalid("server.request_deadline", "must be longer than zero".into());
        }
        if self.header_read_timeout.is_zero() {
            return invalid("server.header_read_timeout_secs", "must be longer than zero".into());
        }
        Ok(())
    }
}

/// An HTTP server around one executor: bound by [`Server::bind`], run by [`Server::run`].
pub struct Server {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    shared: Arc<shared::Shared>,
    grace: Duration,
    header_read_timeout: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listening_on", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Checks `options` and listens. Fails with [`ConfigError`](crate::error::ConfigError) for
    /// options that are unsafe or impossible (another address than loopback without a token,
    /// nothing allowed in flight), and with [`ErrorKind::Listen`] when the address cannot be
    /// bound.
    pub async fn bind(executor: BoxExecutor, options: ServerOptions) -> Result<Self> {
        options.validate()?;
        let listener = tokio::net::TcpListener::bind(options.listen).await.map_err(|source| {
            Error::from(ErrorKind::Listen {
                addr: options.listen,
                source,
            })
        })?;
        let listen_error = |source| {
            Error::from(ErrorKind::Listen {
                addr: options.listen,
                source,
            })
        };
        let addr = listener.local_addr().map_err(listen_error)?;
        let shared = Arc::new(shared::Shared::new(
            executor,
            Admission::new(options.max_in_flight, options.max_queued),
            options.request_deadline,
            options.token.clone().filter(|t| !t.is_empty()),
            options.metrics,
            shared::Limits {
                max_crawl_pages: options.max_crawl_pages,
                max_batch_urls: options.max_batch_urls,
            },
            guard::Site::new(addr, &options.allowed_hosts),
        ));
        Ok(Self {
            listener,
            addr,
            shared,
            grace: options.shutdown_grace,
            header_read_timeout: options.header_read_timeout,
        })
    }

    /// The address it listens on (with the port the OS chose, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes: warms the executor up in the background (`/readyz`
    /// says when it is done), then, at shutdown, stops accepting, gives the requests in
    /// progress [`ServerOptions::shutdown_grace`] to finish and cancels the rest. The executor
    /// is left running: shut it down after this returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let Self {
            listener,
            addr,
            shared,
            grace,
            header_read_timeout,
        } = self;
        let warming = tokio::spawn({
            let shared = shared.clone();
            async move { shared.warm_up().await }
        });
        let (stop_accepting, accepting_stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = {
            let shared = shared.clone();
            async move {
                shutdown.await;
                let _ = stop_accepting.send(());
                tracing::info!(grace_secs = grace.as_secs_f64(), "shutting down: no new requests");
                tokio::time::sleep(grace).await;
                // Requests still running now are cancelled: they answer at once, and the
                // connections close.
                shared.stop();
            }
        };
        let cancel_after_grace = tokio::spawn(signal);
        let app = routes::router(shared);
        let served = serve_connections(listener, app, header_read_timeout, accepting_stopped).await;
        cancel_after_grace.abort();
        warming.abort();
        served.map_err(|source| Error::from(ErrorKind::Listen { addr, source }))
    }
}

/// Serves each connection with hyper until `stop` fires, then lets every connection finish its
/// request in progress and waits for them all. What `axum::serve` does, plus the limit on how
/// long a client may take to send a request's headers: a client that trickles them (one byte a
/// second, as a slow-loris attack does) is cut off instead of holding a connection for good.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_read_timeout: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let (closing, _) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, a connection reset before it was accepted: the
                // listener itself is fine; take a breath and go on.
                Err(e) => {
                    tracing::debug!(error = %e, "a connection could not be accepted");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut closing = closing.subscribe();
        connections.spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::trace!(error = %e, "a connection ended with an error");
                    }
                    return;
                }
                _ = closing.wait_for(|closing| *closing) => connection.as_mut().graceful_shutdown(),
            }
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "a connection ended with an error");
            }
        });
        // Reap the connections that ended, so the set holds only live ones.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    closing.send_replace(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}
