//! How the chrome provider sends DevTools commands: several at once, and the commands of
//! `chromium/devtools.rs` (spelled as JSON, shared with the other provider) by name.
//!
//! headless_chrome names a command by a constant of its type, so each command riptide sends by
//! name gets a type here that carries its JSON parameters and reads its JSON answer.

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::types::Method;
use serde_json::{Value, json};

use crate::backends::chromium::devtools::{Command, VERSION, stealth_user_agent};
use crate::error::BoxError;

/// Runs `calls` at once, each on a thread of its own, and gives the first error. DevTools calls
/// in flight together share one wait on headless_chrome's websocket polling (up to ~100 ms a
/// call when sent one after the other).
pub(super) fn at_once<const N: usize>(calls: [&(dyn Fn() -> Result<(), BoxError> + Sync); N]) -> Result<(), BoxError> {
    std::thread::scope(|scope| {
        let running = calls.map(|call| scope.spawn(call));
        running.into_iter().try_for_each(joined)
    })
}

/// Sends each list of `commands` in its order, the lists [`at_once`].
pub(super) fn send_all(tab: &Tab, commands: Vec<Vec<Command>>) -> Result<(), BoxError> {
    std::thread::scope(|scope| {
        let running: Vec<_> = commands
            .into_iter()
            .map(|sequence| scope.spawn(move || sequence.into_iter().try_for_each(|c| call(tab, c).map(drop))))
            .collect();
        running.into_iter().try_for_each(joined)
    })
}

/// The stealth user agent (see `chromium/devtools.rs`): the browser's version first, then
/// the override made from it.
pub(super) fn disguise_user_agent(tab: &Tab, user_agent: Option<&str>) -> Result<(), BoxError> {
    let version = call(
        tab,
        Command {
            method: VERSION,
            params: json!({}),
        },
    )?;
    call(tab, stealth_user_agent(user_agent, &version)).map(drop)
}

fn joined(call: std::thread::ScopedJoinHandle<'_, Result<(), BoxError>>) -> Result<(), BoxError> {
    call.join().unwrap_or_else(|_| Err("a DevTools call panicked".into()))
}

/// Declares a type per command sent by name, and [`call`], which sends a [`Command`] as its
/// type.
macro_rules! by_name {
    ($($ty:ident => $name:literal,)*) => {
        $(
            #[derive(Debug, serde::Serialize)]
            #[serde(transparent)]
            struct $ty(Value);

            impl Method for $ty {
                const NAME: &'static str = $name;
                type ReturnObject = Value;
            }
        )*

        /// Sends `command` on `tab` and returns its answer.
        pub(super) fn call(tab: &Tab, command: Command) -> Result<Value, BoxError> {
            match command.method {
                $($name => tab.call_method($ty(command.params)).map_err(BoxError::from),)*
                other => Err(format!("{other} is not a command the chrome provider sends by name").into()),
            }
        }
    };
}

by_name! {
    AddScript => "Page.addScriptToEvaluateOnNewDocument",
    InspectorEnable => "Inspector.enable",
    IgnoreCertificateErrors => "Security.setIgnoreCertificateErrors",
    NetworkUserAgent => "Network.setUserAgentOverride",
    NetworkEnable => "Network.enable",
    BlockedUrls => "Network.setBlockedURLs",
    ExtraHeaders => "Network.setExtraHTTPHeaders",
    Cookies => "Network.setCookies",
    HardwareConcurrency => "Emulation.setHardwareConcurrencyOverride",
    EmulationUserAgent => "Emulation.setUserAgentOverride",
    Version => "Browser.getVersion",
}
