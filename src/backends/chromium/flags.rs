//! What a local Chromium is started with: the usual automation flags, riptide's own flags for
//! a quiet headless browser, the stealth changes, and the features switched off to save memory,
//! merged so that Chromium reads them all. riptide starts Chromium itself (`launcher.rs`), so
//! the command line is the same whichever DevTools client then drives the browser.

use std::ffi::OsString;
use std::path::Path;

/// The flags every automation client starts Chromium with (puppeteer's and headless_chrome's
/// lists agree on these): no background networking, sync, extensions, first-run pages,
/// throttling of background pages, or `/dev/shm`.
const AUTOMATION_ARGS: &[&str] = &[
    "--disable-background-networking",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-breakpad",
    "--disable-client-side-phishing-detection",
    "--disable-component-extensions-with-background-pages",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-features=TranslateUI,BlinkGenPropertyTrees",
    "--disable-hang-monitor",
    "--disable-ipc-flooding-protection",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--disable-renderer-backgrounding",
    "--disable-sync",
    "--force-color-profile=srgb",
    "--metrics-recording-only",
    "--no-first-run",
    AUTOMATION_FLAG,
    "--password-store=basic",
    "--use-mock-keychain",
];

/// Flags for a quiet, closed-network, container-friendly headless browser, beyond
/// [`AUTOMATION_ARGS`]. The GPU "process" of a browser without a GPU only composites in
/// software and runs SwiftShader's WebGL: `--in-process-gpu` runs that in the browser process,
/// one process and its IPC fewer (with the spare renderer off, see [`DISABLED_FEATURES`]:
/// renders 10% faster and 2 MiB less per pooled browser; BENCHMARKS.md, "Fewer processes").
const QUIET_ARGS: &[&str] = &[
    "--disable-component-update",
    "--disable-gpu",
    "--in-process-gpu",
    "--disable-quic",
    "--mute-audio",
];

/// Flags a stealth browser is started with (beside the usual ones, less [`AUTOMATION_FLAG`]).
const STEALTH_ARGS: &[&str] = &[
    "--disable-blink-features=AutomationControlled",
    "--window-size=1920,1080",
];

/// The flag a stealth browser is started without: it sets `navigator.webdriver`.
const AUTOMATION_FLAG: &str = "--enable-automation";

/// Chromium features a headless renderer never needs, switched off to save memory (measured in
/// BENCHMARKS.md, "Browser memory"). Headless Chromium builds the whole browser UI, and the
/// omnibox's popups are WebUI pages with a renderer each: two processes, ~50 MiB of an idle
/// browser's ~390 MiB. They join the features headless_chrome's defaults and
/// [`ChromiumSettings::extra_args`] disable (see [`with_features_merged`]). The back-forward
/// cache keeps a tab's previous page alive for a Back that a render never makes: 3 MiB per
/// pooled browser after 100 renders (BENCHMARKS.md, "The default provider and layout"). The
/// spare renderer is a renderer process Chromium starts ahead for the next site: on a machine
/// whose cores the renders already fill, starting it costs more than it saves (BENCHMARKS.md,
/// "Fewer processes").
const DISABLED_FEATURES: &[&str] = &[
    "WebUIOmniboxPopup",
    "WebUIOmniboxFullPopup",
    "WebUIOmniboxAimPopup",
    "BackForwardCache",
    "SpareRendererForSitePerProcess",
];

/// Chromium features switched on. The network service runs inside the browser process instead
/// of a utility process of its own: 17 MiB less per idle browser (BENCHMARKS.md, "Browser
/// memory"), and a headless browser riptide drives has no use for the crash isolation. Chromium
/// 156 names the feature `NetworkServiceInProcess2`; headless_chrome's and puppeteer's lists
/// still carry the old name, which does nothing.
const ENABLED_FEATURES: &[&str] = &["NetworkService", "NetworkServiceInProcess2"];

const DISABLE_FEATURES: &str = "--disable-features=";
const ENABLE_FEATURES: &str = "--enable-features=";

/// `args` with every `flag` (`--disable-features=` or `--enable-features=`) merged into one that
/// also lists `more`: Chromium reads only the last such flag, so one given in `extra_args` would
/// otherwise undo riptide's.
fn with_features_merged(args: Vec<String>, flag: &str, more: &[&str]) -> Vec<String> {
    let (flags, mut args): (Vec<String>, Vec<String>) = args.into_iter().partition(|arg| arg.starts_with(flag));
    let mut features: Vec<&str> = Vec::new();
    let listed = flags.iter().flat_map(|given| given[flag.len()..].split(','));
    for feature in listed.chain(more.iter().copied()) {
        if !feature.is_empty() && !features.contains(&feature) {
            features.push(feature);
        }
    }
    args.push(format!("{flag}{}", features.join(",")));
    args
}

/// The command line of a local browser with its profile in `profile` (the DevTools port and
/// the first-tab flags are the launcher's).
pub(crate) fn launch_args(
    hide_automation: bool,
    profile: &Path,
    sandbox: bool,
    extra_args: &[String],
) -> Vec<OsString> {
    let mut args: Vec<String> = AUTOMATION_ARGS
        .iter()
        .chain(QUIET_ARGS)
        .filter(|arg| !(hide_automation && **arg == AUTOMATION_FLAG))
        .map(|arg| arg.to_string())
        .collect();
    if hide_automation {
        args.extend(STEALTH_ARGS.iter().map(|arg| arg.to_string()));
    }
    args.push("--headless".into());
    args.push(format!("--user-data-dir={}", profile.display()));
    if !sandbox {
        args.extend(["--no-sandbox", "--disable-setuid-sandbox"].map(String::from));
    }
    args.extend(extra_args.iter().cloned());
    let args = with_features_merged(args, DISABLE_FEATURES, DISABLED_FEATURES);
    with_features_merged(args, ENABLE_FEATURES, ENABLED_FEATURES)
        .into_iter()
        .map(OsString::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{DISABLE_FEATURES, ENABLE_FEATURES, with_features_merged};

    #[test]
    fn disabled_features_merge_into_the_one_flag_chromium_reads() {
        let args = vec![
            "--disable-features=TranslateUI,BlinkGenPropertyTrees".to_string(),
            "--headless".to_string(),
            "--disable-features=Translate,TranslateUI".to_string(),
        ];
        let args = with_features_merged(args, DISABLE_FEATURES, &["WebUIOmniboxPopup"]);
        assert_eq!(
            args,
            [
                "--headless",
                "--disable-features=TranslateUI,BlinkGenPropertyTrees,Translate,WebUIOmniboxPopup"
            ]
        );
        assert_eq!(
            with_features_merged(Vec::new(), DISABLE_FEATURES, &["A"]),
            ["--disable-features=A"]
        );
    }

    #[test]
    fn enabled_features_given_in_extra_args_keep_riptides() {
        let args = super::launch_args(
            false,
            std::path::Path::new("/tmp/profile"),
            true,
            &["--enable-features=Foo".to_string()],
        );
        let enabled: Vec<_> = args
            .iter()
            .filter_map(|a| a.to_str()?.strip_prefix(ENABLE_FEATURES))
            .collect();
        assert_eq!(enabled, ["Foo,NetworkService,NetworkServiceInProcess2"]);
    }
}
