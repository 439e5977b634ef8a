//! Answering a proxy's challenge for credentials, once per request.
//!
//! headless_chrome answers every `Fetch.authRequired` of a tab with the credentials given to
//! `Tab::authenticate`, again and again. Wrong credentials would make Chromium ask forever, and
//! the render would end only at its deadline, reported as a slow host. A tab's event listeners
//! run before that answer, on the same thread, so a listener answers first where the answer
//! must differ: a second challenge for one request (the proxy refused the credentials) and any
//! challenge that is not the proxy's are cancelled, and the page fails at once with the status
//! it was refused with. Chromium ignores the built-in answer that follows for a request already
//! answered.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::Fetch;
use headless_chrome::protocol::cdp::types::Event;

use crate::error::BoxError;
use crate::sync::lock;

/// Makes `tab` answer its proxy's challenges with `user` and `password`, once per request.
pub(super) fn answer_proxy_challenges(tab: &Arc<Tab>, user: String, password: String) -> Result<(), BoxError> {
    tab.authenticate(Some(user), Some(password))?;
    // Weak: the tab owns its listeners, and a strong handle would keep it alive forever.
    let weak = Arc::downgrade(tab);
    let answered = Mutex::new(HashSet::new());
    tab.add_event_listener(Arc::new(move |event: &Event| {
        let Event::FetchAuthRequired(challenge) = event else {
            return;
        };
        let params = &challenge.params;
        let from_proxy = matches!(params.auth_challenge.source, Some(Fetch::AuthChallengeSource::Proxy));
        let first = lock(&answered).insert(params.request_id.clone());
        if from_proxy && first {
            return; // the built-in answer: the credentials
        }
        let Some(tab) = weak.upgrade() else { return };
        let cancel = Fetch::ContinueWithAuth {
            request_id: params.request_id.clone(),
            auth_challenge_response: Fetch::AuthChallengeResponse {
                response: Fetch::AuthChallengeResponseResponse::CancelAuth,
                username: None,
                password: None,
            },
        };
        if let Err(e) = tab.call_method(cancel) {
            tracing::debug!(target: "riptide::chrome", "could not cancel a refused proxy challenge: {e}");
        }
    }))?;
    Ok(())
}
