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
use crate::policies::AddressPolicy;

/// Disables the page dialogs that block a renderer until someone answers them (`alert`,
/// `confirm`, `prompt`, `print`). Installed in every document before its own scripts run.
const NO_DIALOGS: &str =
    "window.alert = () => {}; window.confirm = () => true; window.prompt = () => null; window.print = () => {};";

/// The address policy's last refusal in a tab (`url: why`), for its fetch to report.
pub(super) type Refusals = Arc<Mutex<Option<String>>>;

/// What readying a tab needs from the provider, apart from it so a render thread can ready
/// the tab of a fresh browser context itself.
#[derive(Debug, Clone)]
pub(super) struct TabSetup {
    pub accept_invalid_certs: bool,
    pub stealth: bool,
    pub addresses: AddressPolicy,
    /// URL patterns of subresources not to load (see `blocking.rs`).
    pub blocked: Vec<String>,
    pub user_agent: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl ChromeProvider {
    pub(super) fn tab_setup(&self) -> TabSetup {
        TabSetup {
            accept_invalid_certs: self.accept_invalid_certs,
            stealth: self.stealth,
            addresses: self.addresses.clone(),
            blocked: self.blocked.clone(),
            user_agent: self.user_agent.clone(),
            headers: self.headers.clone(),
        }
    }
}

impl TabSetup {
    /// Readies a new tab: no blocking dialogs in any page it loads, certificates verified (or
    /// not) as configured whatever flags the browser was started with, and, when the address
    /// policy refuses anything, every document request checked against it (documents only:
    /// intercepting every image and script would cost a DevTools round trip each).
    ///
    /// The settings are independent, so they are sent at once from threads of their own: each
    /// DevTools call waits on headless_chrome's websocket polling (up to ~100 ms), and calls in
    /// flight together share one wait. This is on the path of every launch and every fresh
    /// browser context.
    pub(super) fn prepare(&self, tab: &Tab) -> std::result::Result<Refusals, BoxError> {
        let refusals = Refusals::default();
        std::thread::scope(|scope| {
            let settings = [
                scope.spawn(|| {
                    tab.call_method(Page::AddScriptToEvaluateOnNewDocument {
                        source: NO_DIALOGS.into(),
                        world_name: None,
                        include_command_line_api: None,
                        run_immediately: None,
                    })
                    .map(drop)
                    .map_err(BoxError::from)
                }),
                scope.spawn(|| {
                    tab.call_method(Security::SetIgnoreCertificateErrors {
                        ignore: self.accept_invalid_certs,
                    })
                    .map(drop)
                    .map_err(BoxError::from)
                }),
                scope.spawn(|| match (self.stealth, &self.user_agent) {
                    (true, user_agent) => super::stealth::disguise(tab, user_agent.as_deref()),
                    (false, Some(user_agent)) => tab.set_user_agent(user_agent, None, None).map_err(BoxError::from),
                    (false, None) => Ok(()),
                }),
                scope.spawn(|| self.check_documents(tab, &refusals)),
                scope.spawn(|| super::blocking::network_rules(tab, &self.blocked, &self.headers)),
            ];
            settings.into_iter().try_for_each(|setting| {
                setting
                    .join()
                    .unwrap_or_else(|_| Err("readying the tab panicked".into()))
            })
        })?;
        Ok(refusals)
    }

    /// When the address policy refuses anything, checks every document request of `tab`
    /// against it, noting refusals in `refusals`.
    fn check_documents(&self, tab: &Tab, refusals: &Refusals) -> std::result::Result<(), BoxError> {
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
        Ok(())
    }
}
