//! `Page.navigate` on a DevTools connection of its own.
//!
//! chromiumoxide routes every `Page.navigate` a page sends through its frame manager, which
//! queues a tab's navigations and answers each only once the page fired `load` (or after its
//! command timeout). riptide's render waits in the page instead (for `load`,
//! `DOMContentLoaded`, network idle or a selector, and takes the page as it stands at the
//! deadline), and a page whose subresources never finish must not hold up the tab's next
//! navigation. So the navigation itself goes out on a second connection to the same browser,
//! with a session of that connection attached to the tab: it is answered when the browser
//! committed the response (or failed, with Chrome's network error code), as in the `chrome`
//! provider. Everything else stays on chromiumoxide's connection, whose session the tab's
//! scripts, network rules and interception belong to; they apply to the document whoever
//! navigated.

use chromiumoxide::Connection;
use chromiumoxide::cdp::browser_protocol::target::{SessionId, TargetId};
use chromiumoxide::types::{CdpJsonEventMessage, Message};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::error::BoxError;

/// A raw DevTools connection used only to navigate.
pub(super) struct Navigator {
    connection: Connection<CdpJsonEventMessage>,
}

impl Navigator {
    /// Connects to the browser at `ws_url`.
    pub(super) async fn connect(ws_url: &str) -> Result<Self, BoxError> {
        Ok(Self {
            connection: Connection::connect(ws_url).await?,
        })
    }

    /// Attaches a session of this connection to the tab `target`.
    pub(super) async fn attach(&mut self, target: &TargetId) -> Result<SessionId, BoxError> {
        let reply = self
            .call(
                "Target.attachToTarget",
                None,
                json!({ "targetId": target.as_ref(), "flatten": true }),
            )
            .await?;
        reply
            .get("sessionId")
            .and_then(Value::as_str)
            .map(|id| SessionId::from(id.to_string()))
            .ok_or_else(|| format!("Target.attachToTarget answered without a session: {reply}").into())
    }

    /// Navigates the tab of `session` to `url`; answers once the browser committed the
    /// response, with Chrome's network error code if the navigation failed.
    pub(super) async fn navigate(&mut self, session: &SessionId, url: &str) -> Result<Option<String>, BoxError> {
        let reply = self
            .call("Page.navigate", Some(session.clone()), json!({ "url": url }))
            .await?;
        Ok(reply.get("errorText").and_then(Value::as_str).map(str::to_string))
    }

    /// Sends one command and reads the connection until its answer. Events (none are enabled
    /// here) and the late answers of calls whose caller gave up are read past.
    async fn call(
        &mut self,
        method: &'static str,
        session: Option<SessionId>,
        params: Value,
    ) -> Result<Value, BoxError> {
        let id = self.connection.submit_command(method.into(), session, params)?;
        while let Some(message) = self.connection.next().await {
            match message? {
                Message::Response(response) if response.id == id => {
                    return match response.error {
                        Some(error) => Err(format!("{method} failed: {} ({})", error.message, error.code).into()),
                        None => Ok(response.result.unwrap_or(Value::Null)),
                    };
                }
                _ => {}
            }
        }
        Err("the browser closed the DevTools connection".into())
    }
}
