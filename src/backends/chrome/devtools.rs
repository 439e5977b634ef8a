//! Small DevTools helpers the chrome provider's files share: several calls at once, one call
//! whose answer is not needed, and the script-on-every-document command. Kept apart so that
//! readying a tab (`tab.rs`) and disguising it (`stealth.rs`) both use them without importing
//! each other.

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::Page;
use headless_chrome::protocol::cdp::types::Method;

use crate::error::BoxError;

/// Runs `calls` at once, each on a thread of its own, and gives the first error. DevTools calls
/// in flight together share one wait on headless_chrome's websocket polling (up to ~100 ms a
/// call when sent one after the other).
pub(super) fn at_once<const N: usize>(calls: [&(dyn Fn() -> Result<(), BoxError> + Sync); N]) -> Result<(), BoxError> {
    std::thread::scope(|scope| {
        let running = calls.map(|call| scope.spawn(call));
        running
            .into_iter()
            .try_for_each(|call| call.join().unwrap_or_else(|_| Err("a DevTools call panicked".into())))
    })
}

/// One DevTools call on `tab` whose answer is not needed.
pub(super) fn send<C>(tab: &Tab, method: C) -> Result<(), BoxError>
where
    C: Method + serde::Serialize + std::fmt::Debug,
{
    tab.call_method(method).map(drop).map_err(BoxError::from)
}

/// `Page.addScriptToEvaluateOnNewDocument`: `source` runs in every document before its own
/// scripts.
pub(super) fn add_script(source: String) -> Page::AddScriptToEvaluateOnNewDocument {
    Page::AddScriptToEvaluateOnNewDocument {
        source,
        world_name: None,
        include_command_line_api: None,
        run_immediately: None,
    }
}
