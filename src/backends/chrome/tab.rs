//! Readying a browser's tab before its first page: no blocking dialogs, a mark on documents
//! that are leaving for another, the stealth overrides
//! when asked for, certificates verified as configured, and the address policy on every
//! document the tab requests.

use std::sync::Arc;

use headless_chrome::Tab;
use headless_chrome::browser::tab::RequestPausedDecision;
use headless_chrome::browser::transport::{SessionId, Transport};
use headless_chrome::protocol::cdp::Fetch::events::RequestPausedEvent;
use headless_chrome::protocol::cdp::{Fetch, Network, Security};

use super::devtools::{add_script, at_once, send};
use crate::backends::chromium::page_script::{LEAVING_MARK, NO_DIALOGS};
use crate::backends::chromium::tab_settings::{Refusals, TabSettings};
use crate::error::BoxError;
use crate::network::ProxyServer;

/// Readies a new tab: no blocking dialogs in any page it loads, certificates verified (or
/// not) as configured whatever flags the browser was started with, and, when the address
/// policy refuses anything, every document request checked against it (documents only:
/// intercepting every image and script would cost a DevTools round trip each).
///
/// The settings are independent, so they are sent [`at_once`]: this is on the path of every
/// launch and every fresh browser context.
pub(super) fn prepare(setup: &TabSettings, tab: &Arc<Tab>) -> std::result::Result<Refusals, BoxError> {
    let refusals = Refusals::default();
    at_once([
        &|| send(tab, add_script(format!("{NO_DIALOGS}\n{LEAVING_MARK}"))),
        &|| {
            send(
                tab,
                Security::SetIgnoreCertificateErrors {
                    ignore: setup.accept_invalid_certs,
                },
            )
        },
        &|| match (setup.stealth, &setup.user_agent) {
            (true, user_agent) => super::stealth::disguise(tab, user_agent.as_deref()),
            (false, Some(user_agent)) => tab.set_user_agent(user_agent, None, None).map_err(BoxError::from),
            (false, None) => Ok(()),
        },
        &|| intercept(setup, tab, &refusals),
        &|| super::blocking::network_rules(tab, &setup.blocked, &setup.headers, &setup.cookies),
    ])?;
    Ok(refusals)
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
