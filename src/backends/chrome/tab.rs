//! Readying a browser's tab before its first page: the commands of `chromium/devtools.rs` (no
//! blocking dialogs, a mark on documents that are leaving for another, certificates verified as
//! configured, the request controls, the stealth overrides when asked for), and the address
//! policy and a proxy's credentials on the requests the tab makes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use headless_chrome::Tab;
use headless_chrome::browser::tab::RequestPausedDecision;
use headless_chrome::browser::transport::{SessionId, Transport};
use headless_chrome::protocol::cdp::Fetch::events::RequestPausedEvent;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Fetch, Network};

use super::devtools::{at_once, disguise_user_agent, send_all};
use crate::backends::chromium::devtools::tab_commands;
use crate::backends::chromium::tab_settings::{Refusals, TabSettings};
use crate::error::BoxError;
use crate::network::ProxyServer;

/// Readies a new tab: the commands both providers send ([`tab_commands`]), the stealth user
/// agent when asked for, and, when the address policy refuses anything, every document request
/// checked against it (documents only: intercepting every image and script would cost a
/// DevTools round trip each).
///
/// The settings are independent, so they are sent [`at_once`]: this is on the path of every
/// launch and every fresh browser context.
pub(super) fn prepare(setup: &TabSettings, tab: &Arc<Tab>) -> std::result::Result<TabReports, BoxError> {
    let reports = TabReports::default();
    let refusals = &reports.refusals;
    // Holds the flag alone, not the tab (which owns its listeners).
    let crashed = reports.crashed.clone();
    tab.add_event_listener(Arc::new(move |event: &Event| {
        if let Event::InspectorTargetCrashed(_) = event {
            crashed.store(true, Ordering::Release);
        }
    }))?;
    at_once([
        &|| send_all(tab, tab_commands(setup)),
        &|| match setup.stealth {
            true => disguise_user_agent(tab, setup.user_agent.as_deref()),
            false => Ok(()),
        },
        &|| intercept(setup, tab, refusals),
    ])?;
    Ok(reports)
}

/// What a readied tab reports while it renders, apart from its answers.
#[derive(Clone, Default)]
pub(super) struct TabReports {
    /// The address policy's last refusal.
    pub refusals: Refusals,
    /// Its renderer died (`Inspector.targetCrashed`); the render's watch reads it.
    pub crashed: Arc<AtomicBool>,
}

/// Turns on request interception in `tab` when something needs it: the address policy,
/// when it refuses anything, checks every document request (noting refusals in
/// `refusals`); a proxy's credentials answer its challenges.
///
/// Interception pauses only documents, each for one round trip; a proxy challenge is
/// answered whatever the request, and Chromium then reuses the credentials for the
/// proxy's other requests.
fn intercept(setup: &TabSettings, tab: &Arc<Tab>, refusals: &Refusals) -> std::result::Result<(), BoxError> {
    let credentials = setup.proxy.as_ref().and_then(ProxyServer::credentials);
    let answers_challenges = credentials.is_some();
    if !setup.addresses.restricts() && !answers_challenges {
        return Ok(());
    }
    if setup.addresses.restricts() {
        let policy = setup.addresses.clone();
        let refused = refusals.clone();
        let interceptor = move |_: Arc<Transport>, _: SessionId, paused: RequestPausedEvent| {
            let url = &paused.params.request.url;
            let verdict = url::Url::parse(url)
                .map_err(|e| format!("{url} is not a valid URL: {e}"))
                .and_then(|parsed| policy.check_url_resolving(&parsed).map_err(|why| why.to_string()));
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
    }
    if let Some((user, password)) = credentials {
        super::proxy_auth::answer_proxy_challenges(tab, user, password)?;
    }
    tab.enable_fetch(
        Some(&[Fetch::RequestPattern {
            url_pattern: Some("*".into()),
            resource_Type: Some(Network::ResourceType::Document),
            request_stage: Some(Fetch::RequestStage::Request),
        }]),
        Some(answers_challenges),
    )?;
    Ok(())
}
