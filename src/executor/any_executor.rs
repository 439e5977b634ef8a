//! [`AnyExecutor`]: an executor with its parts erased, for code that should not name them.
//!
//! [`Executor`] is generic over four parts, which is what keeps each backend's calls static; but
//! a helper that only extracts pages should not have to repeat four type parameters and their
//! bounds. Such code takes `&dyn AnyExecutor` (or `&impl AnyExecutor`), and owners that want one
//! type for any stack keep a [`BoxExecutor`] ([`Executor::boxed`]). The cost is one boxed future
//! per call, nothing next to a fetch.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};

use super::{EngineChoice, Executor, PageOptions};
use crate::config::RiptideConfig;
use crate::error::Result;
use crate::extract::Content;
use crate::metrics::PerformanceReport;
use crate::traits::{BrowserProvider, ModuleCache, ProfileView, TimeoutPolicy, WasmRuntime};

/// Any [`Executor`], whatever its browser provider, engine, store and timeout policy.
pub trait AnyExecutor: Send + Sync {
    /// [`Executor::extract_page`].
    fn extract_page<'a>(&'a self, url: &'a str, options: PageOptions) -> BoxFuture<'a, Result<Content>>;

    /// [`Executor::extract_with`]: `url` with `engine` and the executor's own settings.
    fn extract_with<'a>(&'a self, url: &'a str, engine: EngineChoice) -> BoxFuture<'a, Result<Content>> {
        self.extract_page(url, PageOptions::new().engine(engine))
    }

    /// [`Executor::report`].
    fn report(&self) -> BoxFuture<'_, PerformanceReport>;

    /// [`Executor::shutdown`].
    fn shutdown(&self) -> BoxFuture<'_, Result<()>>;

    /// [`Executor::warm_up`].
    fn warm_up(&self) -> BoxFuture<'_, Result<()>>;

    /// The timeout policy's learned profiles ([`TimeoutPolicy::profiles`]).
    fn timeout_profiles(&self) -> Vec<ProfileView>;

    /// [`Executor::config`].
    fn config(&self) -> &RiptideConfig;

    /// [`Executor::extract`]: `url` with [`EngineChoice::Auto`].
    fn extract<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Content>> {
        self.extract_with(url, EngineChoice::Auto)
    }
}

/// An executor of any stack behind one type: cheap to clone, shared by its clones.
pub type BoxExecutor = Arc<dyn AnyExecutor>;

impl<B, R, C, T> AnyExecutor for Executor<B, R, C, T>
where
    B: BrowserProvider,
    R: WasmRuntime,
    C: ModuleCache,
    T: TimeoutPolicy,
{
    fn extract_page<'a>(&'a self, url: &'a str, options: PageOptions) -> BoxFuture<'a, Result<Content>> {
        Box::pin(Executor::extract_page(self, url, options))
    }

    fn report(&self) -> BoxFuture<'_, PerformanceReport> {
        Box::pin(Executor::report(self))
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Executor::shutdown(self))
    }

    fn warm_up(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Executor::warm_up(self))
    }

    fn timeout_profiles(&self) -> Vec<ProfileView> {
        self.timeout_policy().profiles()
    }

    fn config(&self) -> &RiptideConfig {
        Executor::config(self)
    }
}

impl dyn AnyExecutor + '_ {
    /// [`Executor::extract_many_with`] for any executor: every URL with `engine`, at most
    /// `concurrency` at a time, results in completion order.
    pub fn extract_many_with<'a, I>(
        &'a self,
        urls: I,
        engine: EngineChoice,
        concurrency: usize,
    ) -> impl Stream<Item = (String, Result<Content>)> + 'a
    where
        I: IntoIterator + 'a,
        I::Item: Into<String>,
    {
        futures_util::stream::iter(urls.into_iter().map(Into::into))
            .map(move |url: String| async move {
                let result = self.extract_with(&url, engine).await;
                (url, result)
            })
            .buffer_unordered(concurrency.max(1))
    }
}

impl<B, R, C, T> Executor<B, R, C, T>
where
    B: BrowserProvider,
    R: WasmRuntime,
    C: ModuleCache,
    T: TimeoutPolicy + 'static,
{
    /// This executor behind [`BoxExecutor`], its parts erased.
    pub fn boxed(self) -> BoxExecutor {
        Arc::new(self)
    }
}
