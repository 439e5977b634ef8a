//! What the executor was asked to extract: an `http(s)://` URL, a `file://` URL, or the path of
//! a local file, resolved once with a clear error for anything else.

use std::path::PathBuf;

use url::Url;

use crate::error::{Error, FetchError, Result};

/// A resolved input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageSource {
    /// Fetched over HTTP(S).
    Http(Url),
    /// Read from disk (static engine), or loaded by `file://` URL (headless).
    File { path: PathBuf, url: Url },
}

impl PageSource {
    /// Resolves `input`: a URL with a supported scheme, or a path to an existing file.
    pub(crate) fn resolve(input: &str) -> Result<Self> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid(input, "it is empty"));
        }
        match Url::parse(trimmed) {
            Ok(url) => Self::from_url(input, url),
            Err(url::ParseError::RelativeUrlWithoutBase) => Self::from_path(input, trimmed),
            Err(e) => Err(invalid(input, &e.to_string())),
        }
    }

    fn from_url(input: &str, url: Url) -> Result<Self> {
        match url.scheme() {
            "http" => Self::checked_http(input, url),
            "https" if cfg!(feature = "rustls") => Self::checked_http(input, url),
            "https" => Err(Error::from(FetchError::UnsupportedScheme {
                scheme: "https".into(),
                advice: "this build has no TLS: enable riptide's `rustls` feature",
            })
            .with_url(url)),
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| invalid(input, "the file URL names no local path"))?;
                Self::from_path(input, &path.to_string_lossy())
            }
            other => Err(Error::from(FetchError::UnsupportedScheme {
                scheme: other.to_string(),
                advice: "use http, https or file",
            })
            .with_url(url)),
        }
    }

    fn checked_http(input: &str, url: Url) -> Result<Self> {
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(input, "the URL has no host"));
        }
        Ok(Self::Http(url))
    }

    fn from_path(input: &str, path: &str) -> Result<Self> {
        let path = crate::config::expand_tilde(std::path::Path::new(path));
        let path = match std::fs::canonicalize(&path) {
            Ok(p) if p.is_file() => p,
            Ok(_) => return Err(invalid(input, "it is a directory, not a file")),
            Err(e) => {
                return Err(invalid(
                    input,
                    &format!("it has no scheme and is not a readable file ({e})"),
                ));
            }
        };
        let url = Url::from_file_path(&path).map_err(|()| invalid(input, "the path cannot be made a file URL"))?;
        Ok(Self::File { path, url })
    }

    /// The URL, for messages, links and the browser.
    pub(crate) fn url(&self) -> &Url {
        match self {
            PageSource::Http(url) | PageSource::File { url, .. } => url,
        }
    }

    /// The circuit breaker's key: scheme, host and port (`http://127.0.0.1:8080`), so a dead
    /// port does not fail fast the pages of a live one on the same host (`file://` for files).
    pub(crate) fn origin(&self) -> String {
        match self {
            PageSource::Http(url) => url.origin().ascii_serialization(),
            PageSource::File { .. } => "file://".to_string(),
        }
    }

    /// Whether it is a local file (`file://` or a path).
    pub(crate) fn is_file(&self) -> bool {
        matches!(self, PageSource::File { .. })
    }

    /// The host timeouts are learned for (`localhost` for files).
    pub(crate) fn host(&self) -> &str {
        match self {
            PageSource::Http(url) => url.host_str().unwrap_or("localhost"),
            PageSource::File { .. } => "localhost",
        }
    }
}

fn invalid(input: &str, reason: &str) -> Error {
    FetchError::InvalidUrl {
        input: input.to_string(),
        reason: reason.to_string(),
    }
    .into()
}
