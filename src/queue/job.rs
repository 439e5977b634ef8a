//! [`Job`]: one page to extract, as it travels on the jobs stream, and its [`JobId`].
//!
//! A job is plain, versioned JSON so that any NATS client can submit one. Its id is derived
//! from what it asks for (the URL and its options in a canonical form), not drawn at random:
//! submitted twice, the same page with the same options has the same id, and JetStream's
//! message deduplication (`Nats-Msg-Id`) drops the second copy; the worker publishes the result
//! under the same id, so a job delivered twice still gives one result.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, QueueError, Result};
use crate::executor::{EngineChoice, PageOptions};

/// The version of the job message this riptide writes and reads.
pub const JOB_VERSION: u32 = 1;

/// One page to extract, with the per-page settings it asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Job {
    /// [`JOB_VERSION`] when written; a worker refuses a version it does not know.
    pub version: u32,
    /// The page.
    pub url: String,
    /// How it is extracted; the worker's own settings for what is not set.
    #[serde(default, skip_serializing_if = "JobOptions::is_default")]
    pub options: JobOptions,
}

/// The per-page settings a job can carry: the serializable part of [`PageOptions`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct JobOptions {
    /// Which engine fetches the page (`auto`, `static`, `headless`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineChoice>,
    /// A CSS selector a rendered page is also waited for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<String>,
    /// Whether the main content is also produced as Markdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markdown: Option<bool>,
    /// Whether the cleaned article HTML is produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_html: Option<bool>,
    /// Whether a rendered page's screenshot is taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<bool>,
    /// The page's time limit in milliseconds (never longer than the worker's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_ms: Option<u64>,
}

impl JobOptions {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The [`PageOptions`] a worker extracts the page with.
    pub fn page_options(&self) -> PageOptions {
        let mut o = PageOptions::new().engine(self.engine.unwrap_or_default());
        o.render.wait_for = self.wait_for.clone();
        o.markdown = self.markdown;
        o.content_html = self.content_html;
        o.render.screenshot = self.screenshot;
        o.time_limit = self.time_limit_ms.map(Duration::from_millis);
        o
    }
}

/// A job's id: the hex SHA-256 of its URL and its options in canonical JSON. It is the jobs
/// stream's `Nats-Msg-Id` and the results stream's, and the last token of the result's subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// The id as 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id read back from a subject or header, if it is 64 hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_ascii_lowercase()))
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Job {
    /// A job for `url` with `options`.
    pub fn new(url: impl Into<String>, options: JobOptions) -> Self {
        Self {
            version: JOB_VERSION,
            url: url.into(),
            options,
        }
    }

    /// Its id: the same for the same URL and options, whoever submits it.
    pub fn id(&self) -> JobId {
        // Struct fields serialize in declaration order and unset options are left out, so this
        // JSON is canonical for the options; it cannot fail (strings, booleans and numbers).
        let options = serde_json::to_string(&self.options).unwrap_or_default();
        let mut hash = Sha256::new();
        hash.update(self.url.as_bytes());
        hash.update([0]);
        hash.update(options.as_bytes());
        JobId(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The message payload.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a job message, refusing versions this riptide does not know.
    pub fn from_json(payload: &[u8]) -> Result<Self> {
        let bad = |reason: String| Error::from(QueueError::BadJob { reason });
        let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| bad(format!("not JSON ({e})")))?;
        // The version first: a newer job may have fields this riptide does not know.
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(JOB_VERSION) => {}
            Some(v) => {
                return Err(bad(format!(
                    "version {v} (this riptide runs version {JOB_VERSION}; run workers as new as the submitter)"
                )));
            }
            None => return Err(bad("no `version`".into())),
        }
        serde_json::from_value(value).map_err(|e| bad(format!("not a version {JOB_VERSION} job ({e})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_depends_on_the_url_and_the_options_only() {
        let a = Job::new("http://a/", JobOptions::default());
        assert_eq!(a.id(), Job::new("http://a/", JobOptions::default()).id());
        assert_ne!(a.id(), Job::new("http://b/", JobOptions::default()).id());
        let markdown = JobOptions {
            markdown: Some(true),
            ..JobOptions::default()
        };
        assert_ne!(a.id(), Job::new("http://a/", markdown).id());
        assert_eq!(a.id().as_str().len(), 64);
        assert_eq!(JobId::parse(a.id().as_str()), Some(a.id()));
    }

    #[test]
    fn a_job_round_trips_and_unknown_versions_are_refused() {
        let job = Job::new(
            "http://a/",
            JobOptions {
                engine: Some(EngineChoice::Static),
                ..JobOptions::default()
            },
        );
        assert_eq!(Job::from_json(&job.to_json()).ok(), Some(job));
        let e = Job::from_json(br#"{"version": 99, "url": "http://a/"}"#).err();
        assert_eq!(e.map(|e| e.code()), Some("queue.bad_job"));
        assert!(Job::from_json(b"not json").is_err());
    }
}
