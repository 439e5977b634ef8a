//! Stealth on a headless_chrome tab: the overrides and script of `chromium/stealth.rs`, sent
//! over headless_chrome.

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::{Browser, Emulation};

use super::devtools::{add_script, at_once, send};
use crate::backends::chromium::stealth::{ACCEPT_LANGUAGE, CORES, script, user_agent_and_version};
use crate::error::BoxError;

/// Applies the stealth overrides and script to `tab` (see `chromium/stealth.rs`); the three are
/// independent, so they are sent [`at_once`]. `user_agent` replaces the browser's own (which
/// otherwise loses its `Headless`).
pub(super) fn disguise(tab: &Tab, user_agent: Option<&str>) -> Result<(), BoxError> {
    at_once([
        &|| set_user_agent(tab, user_agent),
        &|| {
            send(
                tab,
                Emulation::SetHardwareConcurrencyOverride {
                    hardware_concurrency: CORES,
                },
            )
        },
        &|| send(tab, add_script(script())),
    ])
}

/// The browser's own user agent without `Headless` (or `user_agent`), and client hints to
/// match the browser's version.
fn set_user_agent(tab: &Tab, user_agent: Option<&str>) -> Result<(), BoxError> {
    let version = tab.call_method(Browser::GetVersion(None))?;
    let (user_agent, full_version, major) = user_agent_and_version(user_agent, &version.user_agent, &version.product);
    let brand = |brand: &str, version: &str| Emulation::UserAgentBrandVersion {
        brand: brand.into(),
        version: version.into(),
    };
    send(
        tab,
        Emulation::SetUserAgentOverride {
            user_agent,
            accept_language: Some(ACCEPT_LANGUAGE.into()),
            platform: Some("Linux x86_64".into()),
            user_agent_metadata: Some(Emulation::UserAgentMetadata {
                brands: Some(vec![brand("Chromium", &major), brand("Not:A-Brand", "24")]),
                full_version_list: Some(vec![brand("Chromium", &full_version), brand("Not:A-Brand", "24.0.0.0")]),
                full_version: None,
                platform: "Linux".into(),
                platform_version: String::new(),
                architecture: "x86".into(),
                model: String::new(),
                mobile: false,
                bitness: Some("64".into()),
                wow_64: Some(false),
                form_factors: None,
            }),
        },
    )
}
