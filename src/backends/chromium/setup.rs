//! [`ProviderSetup`]: what a Chromium provider is, whichever DevTools client drives it: where
//! its browsers come from (launched here, or remote endpoints taken round-robin), the
//! [`ChromiumSettings`] it was made with, how its tabs are readied, and its render memory limit.
//!
//! Both providers used to keep these fields, their checks and their accessors each in its own
//! copy; they now hold one `ProviderSetup`, made by [`ProviderSetup::new`] from the one settings
//! value the caller built, so a check or a setting added here reaches both.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::local::LocalChromium;
use super::settings::ChromiumSettings;
use super::tab_settings::TabSettings;
use crate::error::{BrowserError, Result};

/// Where a provider's browsers come from.
pub(crate) enum BrowserSource {
    /// Launched by riptide, on this machine.
    Local(LocalChromium),
    /// Already running, reached by DevTools URL, taken in turn.
    Remote { endpoints: Vec<String>, next: AtomicUsize },
}

/// Where a provider's next browser comes from ([`ProviderSetup::next_browser`]).
pub(crate) enum NextBrowser<'a> {
    /// Started with this launcher.
    Launch(&'a LocalChromium),
    /// Connected to at this DevTools URL.
    Connect(&'a str),
}

/// What a Chromium provider is made of, apart from its DevTools client.
pub(crate) struct ProviderSetup {
    pub source: BrowserSource,
    /// The settings the provider was made with, as given.
    pub settings: ChromiumSettings,
    /// How every tab is readied; shared with the renders that ready fresh contexts' tabs.
    pub tabs: Arc<TabSettings>,
    /// The render memory limit of a local browser (a remote browser's memory cannot be read
    /// from here).
    pub render_memory_limit: Option<u64>,
}

impl ProviderSetup {
    /// Checks `settings` and resolves where browsers come from: a local binary (failing with
    /// [`BrowserError::NotFound`] when there is none, and sweeping directories left by riptide
    /// processes that no longer run), or the remote endpoints, which must be DevTools
    /// websocket URLs and come without a proxy (theirs is set where they are started).
    pub(crate) fn new(settings: ChromiumSettings) -> Result<Self> {
        let (source, render_memory_limit) = if settings.remote_endpoints.is_empty() {
            (
                BrowserSource::Local(LocalChromium::new(&settings)?),
                settings.render_memory_limit,
            )
        } else {
            settings.refuse_proxy_for_remote()?;
            if let Some(url) = settings
                .remote_endpoints
                .iter()
                .find(|url| !url.starts_with("ws://") && !url.starts_with("wss://"))
            {
                return Err(BrowserError::Connect {
                    url: url.clone(),
                    source: "not a DevTools websocket URL; pass ws://host:port/devtools/browser/<id> (the browser's /json/version lists it)".into(),
                }
                .into());
            }
            let remote = BrowserSource::Remote {
                endpoints: settings.remote_endpoints.clone(),
                next: AtomicUsize::new(0),
            };
            (remote, None)
        };
        Ok(Self {
            source,
            tabs: Arc::new(TabSettings::from_options(&settings)),
            render_memory_limit,
            settings,
        })
    }

    /// Where the next browser comes from: the local launcher, or the remote endpoint whose
    /// turn it is.
    pub(crate) fn next_browser(&self) -> NextBrowser<'_> {
        match &self.source {
            BrowserSource::Local(local) => NextBrowser::Launch(local),
            BrowserSource::Remote { endpoints, next } => {
                NextBrowser::Connect(&endpoints[next.fetch_add(1, Ordering::Relaxed) % endpoints.len()])
            }
        }
    }

    /// The local browsers' launcher (`None`: remote).
    pub(crate) fn local(&self) -> Option<&LocalChromium> {
        match &self.source {
            BrowserSource::Local(local) => Some(local),
            BrowserSource::Remote { .. } => None,
        }
    }

    /// The Chromium binary in use (local mode).
    pub(crate) fn executable(&self) -> Option<&Path> {
        self.local().map(|local| local.executable.as_path())
    }

    /// The directory per-browser directories are created in (local mode).
    pub(crate) fn runtime_dir(&self) -> Option<&Path> {
        self.local().map(|local| local.runtime_dir.as_path())
    }

    /// Writes the provider called `name` for `Debug`: its binary and directory, or its
    /// endpoints.
    pub(crate) fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            BrowserSource::Local(local) => f
                .debug_struct(name)
                .field("executable", &local.executable)
                .field("runtime_dir", &local.runtime_dir)
                .finish_non_exhaustive(),
            BrowserSource::Remote { endpoints, .. } => f
                .debug_struct(name)
                .field("endpoints", endpoints)
                .finish_non_exhaustive(),
        }
    }
}
