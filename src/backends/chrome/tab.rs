//! Readying a browser's tab before its first page: no blocking dialogs, the stealth overrides
//! when asked for, certificates verified as configured, and the address policy on every
//! document the tab requests.

use std::sync::{Arc, Mutex};

use headless_chrome::Tab;
use headless_chrome::browser::tab::RequestPausedDecision;
use headless_chrome::browser::transport::{SessionId, Transport};
use headless_chrome::protocol::cdp::Fetch::events::RequestPausedEvent;
use headless_chrome::protocol::cdp::{Fetch, Network, Page, Security};

use super::ChromeProvider;
use crate::error::BoxError;

/// Disables the page dialogs that block a renderer until someone answers them (`alert`,
/// `confirm`, `prompt`, `print`). Installed in every document before its own scripts run.
const NO_DIALOGS: &str =
    "window.alert = () => {}; window.confirm = () => true; window.prompt = () => null; window.print = () => {};";

/// The address policy's last refusal in a tab (`url: why`), for its fetch to report.
pub(super) type Refusals = Arc<Mutex<Option<String>>>;

impl ChromeProvider {
    /// Readies a new tab: no blocking dialogs in any page it loads, certificates verified (or
    /// not) as configured whatever flags the browser was started with, and, when the address
    /// policy refuses anything, every document request checked against it (documents only:
    /// intercepting every image and script would cost a DevTools round trip each).
    pub(super) fn prepare(&self, tab: &Tab) -> std::result::Result<Refusals, BoxError> {
        tab.call_method(Page::AddScriptToEvaluateOnNewDocument {
            source: NO_DIALOGS.into(),
            world_name: None,
            include_command_line_api: None,
            run_immediately: None,
        })?;
        if self.stealth {
            super::stealth::disguise(tab)?;
        }
        tab.call_method(Security::SetIgnoreCertificateErrors {
            ignore: self.accept_invalid_certs,
        })?;
        let refusals = Refusals::default();
        if self.addresses.restricts() {
            let policy = self.addresses.clone();
            let refused = refusals.clone();
            let interceptor = move |_: Arc<Transport>, _: SessionId, paused: RequestPausedEvent| {
                let url = &paused.params.request.url;
                let verdict = url::Url::parse(url)
                    .map_err(|e| format!("{url} is not a valid URL: {e}"))
                    .and_then(|parsed| policy.check_url_resolving(&parsed));
                match verdict {
                    Ok(()) => RequestPausedDecision::Continue(None),
                    Err(why) => {
                        *crate::sync::lock(&refused) = Some(format!("{url}: {why}"));
                        RequestPausedDecision::Fail(Fetch::FailRequest {
                            request_id: paused.params.request_id,
                            error_reason: Network::ErrorReason::BlockedByClient,
                        })
                    }
                }
            };
            tab.enable_request_interception(Arc::new(interceptor))?;
            tab.enable_fetch(
                Some(&[Fetch::RequestPattern {
                    url_pattern: Some("*".into()),
                    resource_Type: Some(Network::ResourceType::Document),
                    request_stage: Some(Fetch::RequestStage::Request),
                }]),
                None,
            )?;
        }
        Ok(refusals)
    }
}
