//! What every route of the server shares: the executor, the admission limits, the readiness of
//! the warm-up, the stop that cancels what runs past the shutdown grace, and the registries the
//! routes report from. It sits below the routes, which import it; it imports none of them.

use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::sync::watch;

use super::activity::Activity;
use super::admission::Admission;
use super::crawls::Crawls;
use super::guard::Site;
use super::metrics::ServerMetrics;
use super::problem::problem;
use crate::executor::BoxExecutor;

/// What every route shares.
pub(super) struct Shared {
    pub(super) executor: BoxExecutor,
    pub(super) admission: Admission,
    pub(super) deadline: Duration,
    pub(super) token: Option<String>,
    pub(super) warm_up: Mutex<WarmUp>,
    pub(super) stopped: watch::Sender<bool>,
    /// `GET /metrics`, when turned on.
    pub(super) metrics: Option<ServerMetrics>,
    /// The crawls running, and what the ended ones did.
    pub(super) crawls: Crawls,
    /// The most pages one crawl may emit.
    pub(super) max_crawl_pages: u64,
    /// The most URLs one extract batch may name.
    pub(super) max_batch_urls: usize,
    /// Who the server is, for the `Host` and `Origin` checks.
    pub(super) site: Site,
    /// The pages of the last minutes (`GET /v1/activity`).
    pub(super) activity: Activity,
}

/// What one request may ask for at most.
pub(super) struct Limits {
    pub(super) max_crawl_pages: u64,
    pub(super) max_batch_urls: usize,
}

/// Where the executor's warm-up stands (`/readyz`).
pub(super) enum WarmUp {
    Running,
    Done,
    Failed(String),
}

impl Shared {
    pub(super) fn new(
        executor: BoxExecutor,
        admission: Admission,
        deadline: Duration,
        token: Option<String>,
        metrics: bool,
        limits: Limits,
        site: Site,
    ) -> Self {
        Self {
            executor,
            admission,
            deadline,
            token,
            warm_up: Mutex::new(WarmUp::Running),
            stopped: watch::channel(false).0,
            metrics: metrics.then(ServerMetrics::new),
            crawls: Crawls::default(),
            max_crawl_pages: limits.max_crawl_pages,
            max_batch_urls: limits.max_batch_urls,
            site,
            activity: Activity::default(),
        }
    }

    /// Starts the pool and loads the extractor, and records how that went.
    pub(super) async fn warm_up(&self) {
        let outcome = match self.executor.warm_up().await {
            Ok(()) => WarmUp::Done,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "the server could not warm up; pages that need it will fail");
                WarmUp::Failed(format!("{e:#}"))
            }
        };
        *crate::sync::lock(&self.warm_up) = outcome;
    }

    /// Cancels the requests still running: past the shutdown grace.
    pub(super) fn stop(&self) {
        self.admission.close();
        self.stopped.send_replace(true);
    }
}

/// `429` with `Retry-After`: the server holds as many requests as it admits.
pub(super) fn busy(shared: &Shared) -> Response {
    let mut response = problem(
        StatusCode::TOO_MANY_REQUESTS,
        "server.busy",
        &format!(
            "the server holds {} requests already (in flight and queued)",
            shared.admission.capacity()
        ),
        "retry after the seconds in Retry-After",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
