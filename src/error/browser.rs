//! [`BrowserError`]: a browser could not be found, started, reached or kept alive.

use std::path::PathBuf;
use std::time::Duration;

use super::BoxError;

/// A browser that could not be had or that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// No browser binary was found.
    #[error(
        "no Chromium found (tried {})",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// The paths looked at.
        tried: Vec<PathBuf>,
    },

    /// A local browser did not start.
    #[error("could not launch the browser {}", executable.display())]
    Launch {
        /// The binary.
        executable: PathBuf,
        /// Why.
        #[source]
        source: BoxError,
    },

    /// A remote browser could not be reached.
    #[error("could not connect to the browser at {url:?}")]
    Connect {
        /// The DevTools URL.
        url: String,
        /// Why.
        #[source]
        source: BoxError,
    },

    /// A browser died or lost its connection.
    #[error("the browser is gone")]
    Dead {
        /// What was observed.
        #[source]
        source: BoxError,
    },

    /// A DevTools call on a browser that is still running failed (its connection, or the
    /// browser's answer). The pool probes the browser before it serves again.
    #[error("the browser failed a DevTools call")]
    Protocol {
        /// headless_chrome's error.
        #[source]
        source: BoxError,
    },

    /// The executor was built without a browser provider.
    #[error("this executor has no browser provider")]
    NoProvider,

    /// A browser did not answer a health probe in time (frozen or overloaded).
    #[error("the browser did not answer within {deadline:?}")]
    Unresponsive {
        /// The probe's deadline.
        deadline: Duration,
    },
}

impl BrowserError {
    /// A [`BrowserError::Dead`] for what was observed.
    pub fn dead(observed: impl Into<BoxError>) -> Self {
        BrowserError::Dead {
            source: observed.into(),
        }
    }

    pub(crate) fn hint(&self) -> &'static str {
        match self {
            BrowserError::NotFound { .. } => {
                "install it with `apt-get install -y chromium`, or set RIPTIDE_CHROME_PATH or optimizations.browser_pool.chrome_path to the binary"
            }
            BrowserError::Launch { .. } => {
                "check that it runs (`chromium --headless --version`) and that its runtime directory is writable"
            }
            BrowserError::Connect { .. } => {
                "check the DevTools URL (ws://host:port/devtools/browser/<id>) and that the browser runs"
            }
            BrowserError::NoProvider => {
                "build riptide with the `chrome` feature and give the executor a browser provider, or use EngineChoice::Static"
            }
            BrowserError::Dead { .. } | BrowserError::Unresponsive { .. } | BrowserError::Protocol { .. } => {
                "the pool replaces it, so retry the request"
            }
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            BrowserError::NotFound { .. } => "browser.not_found",
            BrowserError::Launch { .. } => "browser.launch",
            BrowserError::Connect { .. } => "browser.connect",
            BrowserError::Dead { .. } => "browser.dead",
            BrowserError::NoProvider => "browser.no_provider",
            BrowserError::Protocol { .. } => "browser.protocol",
            BrowserError::Unresponsive { .. } => "browser.unresponsive",
        }
    }
}
