//! Where the executor's browsers come from: a [`BrowserPool`] started on the first page that
//! needs one (so static-only work never launches a browser), or, with the pool turned off, a
//! browser launched and closed for every page (the baseline the pool is measured against).

use std::sync::Arc;

use tokio::sync::{Mutex, RwLock};
use tokio::task::JoinHandle;

use crate::error::{BrowserError, Error, PoolError, Result};
use crate::pool::{BrowserPool, PoolOptions, PoolStatus};
use crate::traits::{BrowserProvider, PageRequest, RenderedPage};

pub(crate) enum Browsers<B: BrowserProvider> {
    Pooled {
        state: Mutex<PoolState<B>>,
        options: PoolOptions,
    },
    /// A browser per render; the lock is read-held by each browser still closing, so
    /// `shutdown` can wait for them.
    PerRequest(Arc<B>, Arc<RwLock<()>>),
    /// The provider could not be made (no Chromium installed, ...): renders fail with this.
    Unavailable(Arc<Error>),
}

pub(crate) enum PoolState<B: BrowserProvider> {
    NotStarted(B),
    /// Warming up in a task of its own, so a caller that stops waiting (a time-out, Ctrl-C)
    /// leaves the start running for the next caller instead of losing the provider.
    Starting(JoinHandle<Result<BrowserPool<B>>>),
    Running(BrowserPool<B>),
    Failed(Arc<Error>),
    ShutDown,
}

impl<B: BrowserProvider> Browsers<B> {
    pub(crate) fn new(provider: std::result::Result<B, Arc<Error>>, pooled: bool, options: PoolOptions) -> Self {
        let provider = match provider {
            Ok(p) => p,
            Err(reason) => return Browsers::Unavailable(reason),
        };
        if pooled {
            Browsers::Pooled {
                state: Mutex::new(PoolState::NotStarted(provider)),
                options,
            }
        } else {
            Browsers::PerRequest(Arc::new(provider), Arc::default())
        }
    }

    /// The pool, started now if it was not (`None` with the pool turned off).
    pub(crate) async fn pool(&self) -> Result<Option<BrowserPool<B>>> {
        let (state, options) = match self {
            Browsers::Pooled { state, options } => (state, options),
            Browsers::PerRequest(..) => return Ok(None),
            Browsers::Unavailable(reason) => return Err(unavailable(reason)),
        };
        let mut state = state.lock().await;
        loop {
            match &mut *state {
                PoolState::NotStarted(_) => {
                    let PoolState::NotStarted(provider) = std::mem::replace(&mut *state, PoolState::ShutDown) else {
                        unreachable!("matched just above")
                    };
                    *state = PoolState::Starting(tokio::spawn(BrowserPool::new(provider, options.clone())));
                }
                PoolState::Starting(start) => {
                    // Awaited by reference: dropped here, the start stays in the state.
                    let started = crate::error::join_blocking(start.await, "start the browser pool");
                    *state = match started {
                        Ok(pool) => PoolState::Running(pool),
                        Err(e) => {
                            tracing::warn!(error = %e, "the browser pool could not start");
                            PoolState::Failed(Arc::new(e))
                        }
                    };
                }
                PoolState::Running(pool) => return Ok(Some(pool.clone())),
                PoolState::Failed(reason) => return Err(unavailable(reason)),
                PoolState::ShutDown => return Err(PoolError::Closed.into()),
            }
        }
    }

    /// What renders this page's attempts: the pool (started now if need be), or the provider
    /// for a browser per render. Fails at once, without retries, when there are no browsers.
    pub(crate) async fn renderer(&self) -> Result<Renderer<B>> {
        match self {
            Browsers::PerRequest(provider, closing) => Ok(Renderer::PerRequest(provider.clone(), closing.clone())),
            Browsers::Pooled { .. } | Browsers::Unavailable(_) => self
                .pool()
                .await?
                .map(Renderer::Pool)
                .ok_or_else(|| PoolError::Closed.into()),
        }
    }

    /// The pool's status, if it is running.
    pub(crate) async fn status(&self) -> Option<PoolStatus> {
        let Browsers::Pooled { state, .. } = self else {
            return None;
        };
        match &*state.lock().await {
            PoolState::Running(pool) => Some(pool.status()),
            _ => None,
        }
    }

    /// Closes the pool's browsers (later renders fail with [`PoolError::Closed`]), or waits
    /// for browsers launched per render to finish closing.
    pub(crate) async fn shutdown(&self) {
        if let Browsers::PerRequest(_, closing) = self {
            drop(closing.write().await);
        }
        let Browsers::Pooled { state, .. } = self else { return };
        let previous = std::mem::replace(&mut *state.lock().await, PoolState::ShutDown);
        let pool = match previous {
            PoolState::Running(pool) => Some(pool),
            PoolState::Starting(start) => start.await.ok().and_then(|started| started.ok()),
            _ => None,
        };
        if let Some(pool) = pool {
            pool.shutdown().await;
        }
    }
}

/// The error of a render when the browsers could not be had: the first failure, shared.
fn unavailable(reason: &Arc<Error>) -> Error {
    PoolError::Unavailable { source: reason.clone() }.into()
}

/// Renders pages for one request's attempts.
pub(crate) enum Renderer<B: BrowserProvider> {
    Pool(BrowserPool<B>),
    PerRequest(Arc<B>, Arc<RwLock<()>>),
}

impl<B: BrowserProvider> Renderer<B> {
    /// Renders `request` with a pooled browser, or a fresh one.
    pub(crate) async fn fetch(&self, request: PageRequest) -> Result<RenderedPage> {
        match self {
            Renderer::Pool(pool) => pool.checkout().await?.fetch(request).await,
            Renderer::PerRequest(provider, closing) => {
                let closing = closing.clone().read_owned().await;
                let (tx, rx) = tokio::sync::oneshot::channel();
                let launched = Arc::new(Launched::<B::Browser>::default());
                let mut guard = CancelLaunched {
                    provider: provider.clone(),
                    launched: launched.clone(),
                    armed: true,
                };
                let provider = provider.clone();
                // The page is answered before the browser closes: closing (the process tree
                // exiting, its directory removed) is no part of the render, and inside the
                // attempt's timeout it could turn a page that loaded into a time-out.
                tokio::task::spawn_blocking(move || match provider.launch() {
                    Ok(browser) => {
                        let browser = Arc::new(browser);
                        if launched.set(&browser) {
                            provider.cancel(&browser);
                        }
                        let _ = tx.send(provider.fetch(&browser, &request));
                        launched.clear();
                        if let Ok(browser) = Arc::try_unwrap(browser) {
                            provider.close(browser);
                        }
                        drop(closing);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                });
                let answer = rx.await;
                guard.armed = false;
                drop(guard);
                answer.map_err(|_| Error::from(BrowserError::dead("the render task ended without an answer")))?
            }
        }
    }
}

/// The browser of a per-request render once it is launched, for a cancel to reach it.
struct Launched<B> {
    state: std::sync::Mutex<(Option<Arc<B>>, bool)>,
}

impl<B> Default for Launched<B> {
    fn default() -> Self {
        Self {
            state: std::sync::Mutex::new((None, false)),
        }
    }
}

impl<B> Launched<B> {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<Arc<B>>, bool)> {
        crate::sync::lock(&self.state)
    }

    /// Records the launched browser; true if the render was cancelled before it launched.
    fn set(&self, browser: &Arc<B>) -> bool {
        let mut state = self.lock();
        state.0 = Some(browser.clone());
        state.1
    }

    fn clear(&self) {
        self.lock().0 = None;
    }
}

/// Cancels a per-request render when its future is dropped while armed (disarmed once
/// answered).
struct CancelLaunched<B: BrowserProvider> {
    provider: Arc<B>,
    launched: Arc<Launched<B::Browser>>,
    armed: bool,
}

impl<B: BrowserProvider> Drop for CancelLaunched<B> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let browser = {
            let mut state = self.launched.lock();
            state.1 = true;
            state.0.clone()
        };
        if let Some(browser) = browser {
            self.provider.cancel(&browser);
        }
    }
}
