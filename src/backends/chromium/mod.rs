//! What both Chromium providers share, whichever DevTools client drives the browser
//! (headless_chrome for `chrome`, chromiumoxide for `chromiumoxide`): riptide starts Chromium
//! itself, so the process, its command line and its directories are the same, and a render
//! runs the same script in its page, so both take a page at the same moment. Both are made
//! from one [`settings::ChromiumSettings`] value (kept in a [`setup::ProviderSetup`]), ready
//! their tabs with the same DevTools commands (`devtools.rs`), and end a render the same way
//! (`rendered.rs`): what stays in each provider is how its DevTools client sends and waits.

pub(crate) mod blocking;
pub(crate) mod devtools;
pub(crate) mod flags;
pub(crate) mod isolation;
pub(crate) mod launcher;
pub(crate) mod local;
pub(crate) mod net_error;
pub(crate) mod page_script;
pub(crate) mod pipe_bridge;
pub(crate) mod process_tree;
pub(crate) mod rendered;
pub(crate) mod settings;
pub(crate) mod setup;
pub(crate) mod stealth;
pub(crate) mod tab_settings;
