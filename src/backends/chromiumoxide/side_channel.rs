//! A second DevTools connection to the browser, for the two things chromiumoxide's own
//! connection does in a way riptide cannot use: navigating, and answering paused requests and
//! credential challenges.
//!
//! - **Navigating.** chromiumoxide routes every `Page.navigate` a page sends through its frame
//!   manager, which queues a tab's navigations and answers each only once the page fired `load`
//!   (or after its command timeout). riptide's render waits in the page instead (for `load`,
//!   `DOMContentLoaded`, network idle or a selector, and takes the page as it stands at the
//!   deadline), and a page whose subresources never finish must not hold up the tab's next
//!   navigation. Here `Page.navigate` is answered when the browser committed the response (or
//!   failed, with Chrome's network error code), as in the `chrome` provider.
//! - **Interception.** chromiumoxide answers every `Fetch.authRequired` its session receives
//!   itself, ahead of any listener: with its one set of credentials whoever asks, or with
//!   Chromium's default. Giving it a proxy's credentials would hand them to any site that asks
//!   for a password. So the `Fetch` domain is enabled on this connection's session instead, and
//!   a challenge is answered by its source: the proxy's first challenge for a request gets the
//!   proxy's credentials; a second one (the proxy refused them) and every origin's challenge
//!   are cancelled, so the page fails at once with the status it was refused with. The address
//!   policy's check of document requests is answered here too (one interception, one round
//!   trip per document).
//!
//! A task on the provider's runtime owns the connection: it sends the calls handed to it,
//! matches their answers, and answers the `Fetch` events as they come, whether or not a call
//! is waiting. The rest of a render stays on chromiumoxide's connection; both sessions are
//! attached to the same tab, so its scripts and network rules apply whoever navigated.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chromiumoxide::Connection;
use chromiumoxide::cdp::browser_protocol::target::{SessionId, TargetId};
use chromiumoxide::types::{CallId, EventMessage, Message, Method, MethodId};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::backends::chromium::tab_settings::{Refusals, TabSettings};
use crate::error::BoxError;
use crate::network::{AddressPolicy, ProxyServer};

/// The handle of a side connection; the connection closes when the handle drops.
pub(super) struct SideChannel {
    calls: mpsc::UnboundedSender<Request>,
}

/// What the connection's task is asked to do.
enum Request {
    /// Send a command and hand its answer back.
    Call {
        method: &'static str,
        session: Option<SessionId>,
        params: Value,
        answer: Reply,
    },
    /// Answer the paused requests and challenges of `session` with `interception`.
    Intercept {
        session: SessionId,
        interception: Arc<Interception>,
    },
}

/// How one tab's paused requests and credential challenges are answered.
pub(super) struct Interception {
    /// The address policy, when it refuses anything: each document request is checked.
    addresses: Option<AddressPolicy>,
    /// The proxy's user and password, for the proxy's challenges alone.
    proxy_credentials: Option<(String, String)>,
    /// Where a refusal is noted for the render to report.
    refusals: Refusals,
}

impl Interception {
    /// What a tab readied with `setup` needs answered, or `None` when nothing is intercepted.
    pub(super) fn for_tab(setup: &TabSettings, refusals: &Refusals) -> Option<Self> {
        let addresses = setup.addresses.restricts().then(|| setup.addresses.clone());
        let proxy_credentials = setup.proxy.as_ref().and_then(ProxyServer::credentials);
        (addresses.is_some() || proxy_credentials.is_some()).then(|| Self {
            addresses,
            proxy_credentials,
            refusals: refusals.clone(),
        })
    }
}

impl SideChannel {
    /// Connects to the browser at `ws_url`; the connection's task runs on the current runtime.
    pub(super) async fn connect(ws_url: &str) -> Result<Self, BoxError> {
        let connection = Connection::<SideEvent>::connect(ws_url).await?;
        let (calls, requests) = mpsc::unbounded_channel();
        tokio::spawn(serve(connection, requests));
        Ok(Self { calls })
    }

    /// Attaches a session of this connection to the tab `target`.
    pub(super) async fn attach(&self, target: &TargetId) -> Result<SessionId, BoxError> {
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

    /// Pauses the document requests of the tab of `session` and answers them, and its
    /// credential challenges, with `interception`.
    pub(super) async fn intercept(&self, session: &SessionId, interception: Interception) -> Result<(), BoxError> {
        let handles_challenges = interception.proxy_credentials.is_some();
        self.calls
            .send(Request::Intercept {
                session: session.clone(),
                interception: Arc::new(interception),
            })
            .map_err(|_| CLOSED)?;
        // Documents only: pausing every image and script would cost a round trip each. A
        // proxy's challenge comes with the first document; Chromium then reuses the answer for
        // the proxy's other requests.
        self.call(
            "Fetch.enable",
            Some(session.clone()),
            json!({
                "patterns": [{ "urlPattern": "*", "resourceType": "Document", "requestStage": "Request" }],
                "handleAuthRequests": handles_challenges,
            }),
        )
        .await
        .map(drop)
    }

    /// Navigates the tab of `session` to `url`; answers once the browser committed the
    /// response, with Chrome's network error code if the navigation failed.
    pub(super) async fn navigate(&self, session: &SessionId, url: &str) -> Result<Option<String>, BoxError> {
        let reply = self
            .call("Page.navigate", Some(session.clone()), json!({ "url": url }))
            .await?;
        Ok(reply.get("errorText").and_then(Value::as_str).map(str::to_string))
    }

    /// Sends one command and waits for its answer.
    async fn call(&self, method: &'static str, session: Option<SessionId>, params: Value) -> Result<Value, BoxError> {
        let (answer, answered) = oneshot::channel();
        self.calls
            .send(Request::Call {
                method,
                session,
                params,
                answer,
            })
            .map_err(|_| CLOSED)?;
        match answered.await {
            Ok(reply) => reply.map_err(BoxError::from),
            Err(_) => Err(CLOSED.into()),
        }
    }
}

/// An event as this connection reads it. chromiumoxide's own JSON event type does not read the
/// top-level `sessionId` of a flattened session's events, which tells the tabs apart.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SideEvent {
    method: MethodId,
    session_id: Option<String>,
    params: Value,
}

impl Method for SideEvent {
    fn identifier(&self) -> MethodId {
        self.method.clone()
    }
}

impl EventMessage for SideEvent {
    fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
}

const CLOSED: &str = "the browser closed the DevTools connection";

/// Where a call's answer (or why it failed) goes.
type Reply = oneshot::Sender<Result<Value, String>>;

/// A command the task sends on its own behalf (an answer to a paused request or challenge).
type Answer = (&'static str, SessionId, Value);

/// Runs the connection until the handle drops or the browser closes it.
async fn serve(mut connection: Connection<SideEvent>, mut requests: mpsc::UnboundedReceiver<Request>) {
    let (answers, mut answering) = mpsc::unbounded_channel::<Answer>();
    let mut waiting: HashMap<CallId, (&'static str, Reply)> = HashMap::new();
    let mut sessions = Sessions::default();
    loop {
        tokio::select! {
            request = requests.recv() => match request {
                Some(Request::Call { method, session, params, answer }) => {
                    match connection.submit_command(method.into(), session, params) {
                        Ok(id) => {
                            waiting.insert(id, (method, answer));
                        }
                        Err(e) => {
                            let _ = answer.send(Err(format!("{method} could not be sent: {e}")));
                        }
                    }
                }
                Some(Request::Intercept { session, interception }) => {
                    sessions.intercepted.insert(session.as_ref().to_string(), interception);
                }
                None => return,
            },
            Some((method, session, params)) = answering.recv() => {
                if let Err(e) = connection.submit_command(method.into(), Some(session), params) {
                    tracing::debug!(target: "riptide::chromiumoxide", "could not send {method}: {e}");
                }
            }
            message = connection.next() => match message {
                Some(Ok(Message::Response(response))) => {
                    if let Some((method, answer)) = waiting.remove(&response.id) {
                        let reply = match response.error {
                            Some(error) => Err(format!("{method} failed: {} ({})", error.message, error.code)),
                            None => Ok(response.result.unwrap_or(Value::Null)),
                        };
                        // The caller may have given up (a render past its deadline).
                        let _ = answer.send(reply);
                    }
                }
                Some(Ok(Message::Event(event))) => sessions.answer(event, &answers),
                Some(Err(e)) => {
                    tracing::debug!(target: "riptide::chromiumoxide", "the side connection failed: {e}");
                    return;
                }
                None => return,
            },
        }
    }
}

/// The intercepted sessions of a connection, and the requests whose proxy challenge was
/// answered already.
#[derive(Default)]
struct Sessions {
    intercepted: HashMap<String, Arc<Interception>>,
    answered: HashSet<String>,
}

impl Sessions {
    /// Answers a `Fetch` event (through `answers`, so the connection sends it), or forgets a
    /// session whose tab closed.
    fn answer(&mut self, event: SideEvent, answers: &mpsc::UnboundedSender<Answer>) {
        let Some(session) = event.session_id.clone() else {
            if event.method.as_ref() == "Target.detachedFromTarget"
                && let Some(id) = event.params.get("sessionId").and_then(Value::as_str)
            {
                self.intercepted.remove(id);
            }
            return;
        };
        let Some(interception) = self.intercepted.get(&session).cloned() else {
            return;
        };
        let params = event.params;
        let Some(request_id) = params.get("requestId").and_then(Value::as_str).map(str::to_string) else {
            return;
        };
        let session = SessionId::from(session);
        match event.method.as_ref() {
            "Fetch.requestPaused" => {
                let url = params
                    .pointer("/request/url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                check_paused(interception, session, request_id, url, answers.clone());
            }
            "Fetch.authRequired" => {
                let from_proxy = params.pointer("/authChallenge/source").and_then(Value::as_str) == Some("Proxy");
                let first = self.answered.insert(request_id.clone());
                let response = match &interception.proxy_credentials {
                    Some((user, password)) if from_proxy && first => {
                        json!({ "response": "ProvideCredentials", "username": user, "password": password })
                    }
                    _ => json!({ "response": "CancelAuth" }),
                };
                let continued = json!({ "requestId": request_id, "authChallengeResponse": response });
                let _ = answers.send(("Fetch.continueWithAuth", session, continued));
            }
            _ => {}
        }
    }
}

/// Continues a paused document request, or fails it when the address policy refuses it
/// (noting the refusal). Resolving the host blocks: off the runtime's workers.
fn check_paused(
    interception: Arc<Interception>,
    session: SessionId,
    request_id: String,
    url: String,
    answers: mpsc::UnboundedSender<Answer>,
) {
    let Some(policy) = interception.addresses.clone() else {
        let _ = answers.send(("Fetch.continueRequest", session, json!({ "requestId": request_id })));
        return;
    };
    tokio::spawn(async move {
        let checked = url.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            url::Url::parse(&checked)
                .map_err(|e| format!("{checked} is not a valid URL: {e}"))
                .and_then(|parsed| policy.check_url_resolving(&parsed).map_err(|why| why.to_string()))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the address check failed: {e}")));
        let answer = match verdict {
            Ok(()) => ("Fetch.continueRequest", json!({ "requestId": request_id })),
            Err(why) => {
                *crate::sync::lock(&interception.refusals) = Some(format!("{url}: {why}"));
                (
                    "Fetch.failRequest",
                    json!({ "requestId": request_id, "errorReason": "BlockedByClient" }),
                )
            }
        };
        let _ = answers.send((answer.0, session, answer.1));
    });
}
