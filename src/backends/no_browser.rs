//! [`NoBrowser`]: a [`BrowserProvider`] for executors that only fetch statically (builds
//! without the `chrome` feature, or code that must never start a browser). Every launch fails
//! with a clear error, so a page that needs JavaScript fails instead of hanging.

use std::time::Duration;

use crate::error::{BrowserError, Result};
use crate::traits::{BrowserProvider, PageRequest, RenderedPage};

/// Provides no browsers: static extraction only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBrowser;

/// The browser type of [`NoBrowser`]; never constructed.
#[derive(Debug)]
pub enum Never {}

impl BrowserProvider for NoBrowser {
    type Browser = Never;

    fn name(&self) -> &'static str {
        "none"
    }

    fn launch(&self) -> Result<Never> {
        Err(BrowserError::NoProvider.into())
    }

    fn probe(&self, browser: &Never, _deadline: Duration) -> Result<()> {
        match *browser {}
    }

    fn fetch(&self, browser: &Never, _request: &PageRequest) -> Result<RenderedPage> {
        match *browser {}
    }

    fn memory_bytes(&self, browser: &Never) -> Option<u64> {
        match *browser {}
    }

    fn close(&self, browser: Never) {
        match browser {}
    }
}
