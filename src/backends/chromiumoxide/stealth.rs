//! Stealth on a chromiumoxide tab: the overrides and script of `chromium/stealth.rs`.

use chromiumoxide::Page;
use serde_json::json;

use super::raw::Raw;
use crate::backends::chromium::stealth::{ACCEPT_LANGUAGE, CORES, script, user_agent_and_version};
use crate::error::BoxError;

/// Applies the stealth overrides and script to `page`; they are independent and go out
/// together. `user_agent` replaces the browser's own (which otherwise loses its `Headless`).
pub(super) async fn disguise(page: &Page, user_agent: Option<&str>) -> Result<(), BoxError> {
    let user_agent = async {
        let version = page.execute(Raw::new("Browser.getVersion", json!({}))).await?.result;
        let text = |key: &str| {
            version
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let (user_agent, full_version, major) =
            user_agent_and_version(user_agent, &text("userAgent"), &text("product"));
        let brand = |brand: &str, version: &str| json!({ "brand": brand, "version": version });
        page.execute(Raw::new(
            "Emulation.setUserAgentOverride",
            json!({
                "userAgent": user_agent,
                "acceptLanguage": ACCEPT_LANGUAGE,
                "platform": "Linux x86_64",
                "userAgentMetadata": {
                    "brands": [brand("Chromium", &major), brand("Not:A-Brand", "24")],
                    "fullVersionList": [brand("Chromium", &full_version), brand("Not:A-Brand", "24.0.0.0")],
                    "platform": "Linux",
                    "platformVersion": "",
                    "architecture": "x86",
                    "model": "",
                    "mobile": false,
                    "bitness": "64",
                    "wow64": false,
                },
            }),
        ))
        .await
        .map(drop)
    };
    let cores = page.execute(Raw::new(
        "Emulation.setHardwareConcurrencyOverride",
        json!({ "hardwareConcurrency": CORES }),
    ));
    let script = page.execute(Raw::new(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": script() }),
    ));
    futures_util::try_join!(user_agent, async { cores.await.map(drop) }, async {
        script.await.map(drop)
    })?;
    Ok(())
}
