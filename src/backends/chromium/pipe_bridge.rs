//! Local browsers speak DevTools over a pipe, and listen on no port.
//!
//! A DevTools port (`--remote-debugging-port`) has no authentication: any user of the machine
//! could `GET http://127.0.0.1:PORT/json/list`, read a `webSocketDebuggerUrl` and take the
//! browser over (issue 28, item 1). riptide starts its browsers with `--remote-debugging-pipe`
//! instead: Chromium reads DevTools commands from its fd 3 and writes answers and events to its
//! fd 4, NUL after each message, and opens no socket at all.
//!
//! headless_chrome and chromiumoxide, the two DevTools clients riptide drives Chromium with,
//! connect only to a WebSocket URL. This module serves the pipe to them: a WebSocket endpoint on
//! 127.0.0.1 whose only path is a 128-bit secret that never leaves this process (it is in no
//! file, no command line and no listing; there are no `/json` endpoints, and any other path is
//! refused before the upgrade). Another user can connect to the port and learn nothing.
//!
//! One pipe carries every client of a browser (chromiumoxide has a connection of its own and one
//! per tab for riptide's side channel), so the bridge does what Chromium does for several
//! WebSocket clients:
//! - **Commands**: each client's `id` is replaced by one unique on the pipe, and the answer goes
//!   back to the client that asked, with its own `id`.
//! - **Session events** go to the client that owns the session: the one whose
//!   `Target.attachToTarget` made it (its answer, or the `Target.attachedToTarget` event that
//!   comes first, name the session), or that owns the session a child session was attached in.
//! - **Browser events** (no session: targets created, changed, destroyed) go to every client, as
//!   each client asked Chromium for them.
//!
//! Every bridge runs on one thread of its own with a small tokio runtime, whichever provider
//! (the `chrome` provider has no runtime of its own). A bridge ends when its browser closes the
//! pipe: its listener and client connections close with it.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_tungstenite::tokio::{TokioAdapter, accept_hdr_async};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::StatusCode;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use crate::error::BoxError;

/// A client of the bridge (one WebSocket connection).
type ClientId = u64;

/// How long a browser gets to answer its first DevTools command.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection gets to complete its WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The id of the bridge's own first command (clients' commands get ids from 1).
const READY_ID: u64 = 0;

/// Serves the browser behind `to_browser` (Chromium's fd 3) and `from_browser` (its fd 4) on a
/// fresh secret WebSocket URL, which it returns once the browser answered a first command. The
/// bridge lives until the browser closes its end of the pipe.
pub(crate) fn serve(to_browser: OwnedFd, from_browser: OwnedFd) -> Result<String, BoxError> {
    let runtime = runtime().ok_or("the DevTools bridge thread could not be started")?;
    let secret = secret()?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| format!("cannot listen on 127.0.0.1 for the DevTools bridge: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let path = format!("/devtools/browser/{secret}");
    let url = format!("ws://127.0.0.1:{port}{path}");
    // Registering the pipe and the listener needs the runtime's context.
    let _entered = runtime.enter();
    let to_browser = tokio::net::unix::pipe::Sender::from_owned_fd(to_browser)
        .map_err(|e| format!("cannot use the browser's command pipe: {e}"))?;
    let from_browser = tokio::net::unix::pipe::Receiver::from_owned_fd(from_browser)
        .map_err(|e| format!("cannot use the browser's event pipe: {e}"))?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let router = Arc::new(Mutex::new(Router::default()));
    let (commands, queued) = mpsc::unbounded_channel::<String>();
    let (closed, on_close) = oneshot::channel::<()>();
    let (ready, answered) = std::sync::mpsc::channel();
    let probe = format!("{{\"id\":{READY_ID},\"method\":\"Browser.getVersion\"}}");
    commands.send(probe).map_err(|_| "the DevTools bridge stopped")?;
    runtime.spawn(write_commands(to_browser, queued));
    runtime.spawn(read_messages(from_browser, router.clone(), ready, closed));
    runtime.spawn(accept_clients(listener, path, router, commands, on_close));
    match answered.recv_timeout(START_TIMEOUT) {
        Ok(()) => Ok(url),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err("it exited before its DevTools answered".into()),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("its DevTools did not answer within {START_TIMEOUT:?}").into())
        }
    }
}

/// The bridges' runtime: one thread that drives every bridge's I/O.
fn runtime() -> Option<&'static tokio::runtime::Handle> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Handle>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .ok()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("riptide-devtools-bridge".into())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

/// 128 random bits, hex: the path no other user can guess.
fn secret() -> Result<String, BoxError> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for the DevTools bridge's secret: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes each command to the browser, NUL after each; ends when every client and the bridge
/// are gone or the browser stops reading.
async fn write_commands(mut pipe: tokio::net::unix::pipe::Sender, mut queued: mpsc::UnboundedReceiver<String>) {
    while let Some(command) = queued.recv().await {
        let written = async {
            pipe.write_all(command.as_bytes()).await?;
            pipe.write_all(b"\0").await
        };
        if let Err(e) = written.await {
            tracing::debug!(target: "riptide::chrome", "the browser stopped reading DevTools commands: {e}");
            return;
        }
    }
}

/// Reads the browser's messages and hands each to its client; at the end of the pipe (the
/// browser exited) closes every client and the listener.
async fn read_messages(
    pipe: tokio::net::unix::pipe::Receiver,
    router: Arc<Mutex<Router>>,
    ready: std::sync::mpsc::Sender<()>,
    closed: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let ready_prefix = format!("{{\"id\":{READY_ID},");
    let mut pipe = BufReader::with_capacity(64 * 1024, pipe);
    let mut message = Vec::new();
    loop {
        message.clear();
        match pipe.read_until(0, &mut message).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if message.last() == Some(&0) {
            message.pop();
        }
        let Ok(text) = std::str::from_utf8(&message) else {
            tracing::debug!(target: "riptide::chrome", "the browser sent a DevTools message that is not UTF-8");
            continue;
        };
        if text.starts_with(&ready_prefix) {
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
            continue;
        }
        let mut router = crate::sync::lock(&router);
        for (client, text) in router.route(text) {
            router.send(client, text);
        }
    }
    crate::sync::lock(&router).clients.clear();
    let _ = closed.send(());
}

/// Accepts clients that ask for `path`, until the browser is gone.
async fn accept_clients(
    listener: tokio::net::TcpListener,
    path: String,
    router: Arc<Mutex<Router>>,
    commands: mpsc::UnboundedSender<String>,
    mut closed: oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // DevTools is many small messages each waited on: Nagle's algorithm would
                    // hold each back for the last one's acknowledgement.
                    let _ = stream.set_nodelay(true);
                    stream
                }
                Err(e) => {
                    tracing::debug!(target: "riptide::chrome", "the DevTools bridge stopped accepting: {e}");
                    return;
                }
            },
            _ = &mut closed => return,
        };
        let (path, router, commands) = (path.clone(), router.clone(), commands.clone());
        tokio::spawn(async move {
            let expected = path.clone();
            // The callback's type is tungstenite's: its refusal is a whole HTTP response.
            #[allow(clippy::result_large_err)]
            let only_the_secret = move |request: &Request, response: Response| {
                if request.uri().path() == expected {
                    Ok(response)
                } else {
                    let mut refused = ErrorResponse::new(None);
                    *refused.status_mut() = StatusCode::NOT_FOUND;
                    Err(refused)
                }
            };
            // A connection that never finishes its handshake is not kept.
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept_hdr_async(stream, only_the_secret));
            let Ok(Ok(socket)) = handshake.await else {
                return;
            };
            serve_client(socket, router, commands).await;
        });
    }
}

/// Relays one client's commands to the browser and the browser's messages for it back.
async fn serve_client(
    socket: async_tungstenite::WebSocketStream<TokioAdapter<tokio::net::TcpStream>>,
    router: Arc<Mutex<Router>>,
    commands: mpsc::UnboundedSender<String>,
) {
    let (mut to_client, mut from_client) = socket.split();
    let (outbox, mut for_client) = mpsc::unbounded_channel::<String>();
    let client = crate::sync::lock(&router).connect(outbox);
    let writer = tokio::spawn(async move {
        while let Some(text) = for_client.recv().await {
            if to_client.send(Message::text(text)).await.is_err() {
                break;
            }
        }
        let _ = to_client.close(None).await;
    });
    while let Some(Ok(message)) = from_client.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let command = crate::sync::lock(&router).command(client, text.as_str());
        let Some(command) = command else {
            tracing::debug!(target: "riptide::chrome", "a DevTools client sent a message that is not a command");
            continue;
        };
        if commands.send(command).is_err() {
            break;
        }
    }
    crate::sync::lock(&router).clients.remove(&client);
    writer.abort();
}

/// What the bridge knows to route messages: its clients, the commands awaiting answers and who
/// owns each session.
#[derive(Default)]
struct Router {
    next_client: ClientId,
    /// Connected clients, in the order they connected.
    clients: std::collections::BTreeMap<ClientId, mpsc::UnboundedSender<String>>,
    next_id: u64,
    /// Pipe id → the client that asked, its own id, and whether it was `Target.attachToTarget`.
    pending: HashMap<u64, Pending>,
    /// Session id → the client that owns it.
    sessions: HashMap<String, ClientId>,
    /// Target id → the clients whose `Target.attachToTarget` to it is not answered yet, in order.
    attaching: HashMap<String, VecDeque<ClientId>>,
}

struct Pending {
    client: ClientId,
    id: Value,
    attaches: Option<String>,
}

/// The parts of a browser message that say where it goes, read in the one pass that finds
/// them (the rest is skipped, not built).
#[derive(Deserialize)]
struct Head {
    id: Option<u64>,
    method: Option<String>,
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
    /// An event's: the session attached or detached, and its target.
    params: Option<Named>,
    /// An answer's: the session `Target.attachToTarget` made.
    result: Option<Named>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
    #[serde(rename = "targetInfo")]
    target_info: Option<TargetInfo>,
}

#[derive(Deserialize)]
struct TargetInfo {
    #[serde(rename = "targetId")]
    target_id: Option<String>,
}

impl Head {
    fn params_session(&self) -> Option<&String> {
        self.params.as_ref()?.session_id.as_ref()
    }
}

impl Router {
    fn connect(&mut self, outbox: mpsc::UnboundedSender<String>) -> ClientId {
        let client = self.next_client;
        self.next_client += 1;
        self.clients.insert(client, outbox);
        client
    }

    fn send(&mut self, client: ClientId, text: String) {
        if let Some(outbox) = self.clients.get(&client)
            && outbox.send(text).is_err()
        {
            self.clients.remove(&client);
        }
    }

    /// The first client still connected: who gets a session nobody claimed (one the browser
    /// attached by itself for a client that asked it to auto-attach).
    fn first_client(&self) -> Option<ClientId> {
        self.clients.keys().next().copied()
    }

    /// A client's command, its `id` replaced by one unique on the pipe; `None` for a message
    /// that is not a command object.
    fn command(&mut self, client: ClientId, text: &str) -> Option<String> {
        let mut command: Value = serde_json::from_str(text).ok()?;
        let object = command.as_object_mut()?;
        let id = object.get("id")?.clone();
        let attaches = match object.get("method").and_then(Value::as_str) {
            Some("Target.attachToTarget") => object
                .get("params")
                .and_then(|p| p.get("targetId"))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        if let Some(target) = &attaches {
            self.attaching.entry(target.clone()).or_default().push_back(client);
        }
        self.next_id += 1;
        let pipe_id = self.next_id;
        object.insert("id".into(), Value::from(pipe_id));
        self.pending.insert(pipe_id, Pending { client, id, attaches });
        Some(command.to_string())
    }

    /// Where a browser message goes, and its text for each client.
    fn route(&mut self, text: &str) -> Vec<(ClientId, String)> {
        let Ok(head) = serde_json::from_str::<Head>(text) else {
            return Vec::new();
        };
        if let Some(pipe_id) = head.id {
            let session = head.result.and_then(|r| r.session_id);
            return self.answer(pipe_id, session, text).into_iter().collect();
        }
        match (head.method.as_deref(), &head.session_id) {
            (Some("Target.attachedToTarget"), _) => self.attached(&head, text),
            (Some("Target.detachedFromTarget"), parent) => {
                let owner = head
                    .params_session()
                    .and_then(|s| self.sessions.remove(s))
                    .or_else(|| parent.as_ref().and_then(|p| self.sessions.get(p).copied()));
                owner.map(|c| (c, text.to_string())).into_iter().collect()
            }
            (_, Some(session)) => match self.sessions.get(session) {
                Some(owner) => vec![(*owner, text.to_string())],
                None => self.first_client().map(|c| (c, text.to_string())).into_iter().collect(),
            },
            (_, None) => self.clients.keys().map(|c| (*c, text.to_string())).collect(),
        }
    }

    /// The answer to the command the pipe knows as `pipe_id`, for the client that sent it.
    /// `session` is the one the answer names, if any.
    fn answer(&mut self, pipe_id: u64, session: Option<String>, text: &str) -> Option<(ClientId, String)> {
        let pending = self.pending.remove(&pipe_id)?;
        if let Some(target) = &pending.attaches {
            self.not_attaching(target, pending.client);
            if let Some(session) = session {
                self.sessions.insert(session, pending.client);
            }
        }
        Some((pending.client, with_id(text, pipe_id, &pending.id)?))
    }

    /// `Target.attachedToTarget`: the new session belongs to whoever attached it.
    fn attached(&mut self, head: &Head, text: &str) -> Vec<(ClientId, String)> {
        let session = head.params_session();
        let target = head
            .params
            .as_ref()
            .and_then(|p| p.target_info.as_ref())
            .and_then(|t| t.target_id.as_ref());
        let known = session.and_then(|s| self.sessions.get(s).copied());
        let owner = known
            .or_else(|| {
                let target = target?;
                let queue = self.attaching.get_mut(target)?;
                let client = queue.pop_front();
                if queue.is_empty() {
                    self.attaching.remove(target);
                }
                client
            })
            .or_else(|| head.session_id.as_ref().and_then(|p| self.sessions.get(p).copied()))
            .or_else(|| self.first_client());
        let Some(owner) = owner else {
            return Vec::new();
        };
        if let Some(session) = session {
            self.sessions.insert(session.clone(), owner);
        }
        vec![(owner, text.to_string())]
    }

    /// Forgets one unanswered attach of `client` to `target` (its event may not have come).
    fn not_attaching(&mut self, target: &str, client: ClientId) {
        if let Some(queue) = self.attaching.get_mut(target) {
            if let Some(at) = queue.iter().position(|c| *c == client) {
                queue.remove(at);
            }
            if queue.is_empty() {
                self.attaching.remove(target);
            }
        }
    }
}

/// `text` with its `id` (`pipe_id`) replaced by the client's own `id`. Chromium writes `id`
/// first, so an answer (a page's whole HTML, a screenshot) is spliced, not parsed and rebuilt.
fn with_id(text: &str, pipe_id: u64, id: &Value) -> Option<String> {
    let prefix = format!("{{\"id\":{pipe_id}");
    if let Some(rest) = text.strip_prefix(&prefix)
        && (rest.starts_with(',') || rest.starts_with('}'))
    {
        return Some(format!("{{\"id\":{id}{rest}"));
    }
    let mut message: Value = serde_json::from_str(text).ok()?;
    message.as_object_mut()?.insert("id".into(), id.clone());
    Some(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router_with(clients: usize) -> (Router, Vec<mpsc::UnboundedReceiver<String>>) {
        let mut router = Router::default();
        let mut inboxes = Vec::new();
        for _ in 0..clients {
            let (tx, rx) = mpsc::unbounded_channel();
            router.connect(tx);
            inboxes.push(rx);
        }
        (router, inboxes)
    }

    #[test]
    fn answers_go_back_to_who_asked_with_their_own_ids() {
        let (mut router, _) = router_with(2);
        let a = router
            .command(0, r#"{"id":1,"method":"Browser.getVersion"}"#)
            .expect("a command");
        let b = router
            .command(1, r#"{"id":1,"method":"Browser.getVersion"}"#)
            .expect("a command");
        assert_eq!(a, r#"{"id":1,"method":"Browser.getVersion"}"#);
        assert_eq!(b, r#"{"id":2,"method":"Browser.getVersion"}"#);
        let to_b = router.route(r#"{"id":2,"result":{"product":"x"}}"#);
        assert_eq!(to_b, vec![(1, r#"{"id":1,"result":{"product":"x"}}"#.to_string())]);
        assert!(router.route(r#"{"id":2,"result":{}}"#).is_empty(), "answered once");
    }

    #[test]
    fn a_session_s_events_go_to_the_client_that_attached_it() {
        let (mut router, _) = router_with(2);
        router.command(
            0,
            r#"{"id":7,"method":"Target.attachToTarget","params":{"targetId":"T","flatten":true}}"#,
        );
        router.command(
            1,
            r#"{"id":7,"method":"Target.attachToTarget","params":{"targetId":"T","flatten":true}}"#,
        );
        // The events come before the answers, in the order the commands were sent.
        let first = router
            .route(r#"{"method":"Target.attachedToTarget","params":{"sessionId":"S0","targetInfo":{"targetId":"T"}}}"#);
        let second = router
            .route(r#"{"method":"Target.attachedToTarget","params":{"sessionId":"S1","targetInfo":{"targetId":"T"}}}"#);
        assert_eq!(first[0].0, 0);
        assert_eq!(second[0].0, 1);
        assert_eq!(router.route(r#"{"id":2,"result":{"sessionId":"S1"}}"#)[0].0, 1);
        assert_eq!(
            router.route(r#"{"method":"Page.loadEventFired","sessionId":"S1","params":{}}"#)[0].0,
            1
        );
        assert_eq!(
            router.route(r#"{"method":"Page.loadEventFired","sessionId":"S0","params":{}}"#)[0].0,
            0
        );
        let everyone = router.route(r#"{"method":"Target.targetInfoChanged","params":{}}"#);
        assert_eq!(everyone.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![0, 1]);
        let detached = router.route(r#"{"method":"Target.detachedFromTarget","params":{"sessionId":"S1"}}"#);
        assert_eq!(detached[0].0, 1);
    }

    #[test]
    fn an_answer_not_written_id_first_is_rebuilt() {
        assert_eq!(
            with_id(r#"{"result":{},"id":3}"#, 3, &Value::from(9)).as_deref(),
            Some(r#"{"id":9,"result":{}}"#)
        );
        assert_eq!(
            with_id(r#"{"id":31,"result":{}}"#, 3, &Value::from(9)).as_deref(),
            Some(r#"{"id":9,"result":{}}"#),
            "31 is not 3"
        );
    }
}
