//! Stealth: a headless browser that does not announce itself as automation.
//!
//! Open-source bot detectors read a fixed list of signals. Measured on Chromium 156 started as
//! riptide starts it, the ones that give a headless browser away are: `HeadlessChrome` in the
//! user agent (and so in `navigator.appVersion`), `navigator.webdriver` set by
//! `--enable-automation`, a SwiftShader WebGL renderer, an 800x600 screen smaller than the
//! window, and the host's real core count. Plugins (5), MIME types (2), languages, `window.chrome`
//! (`app`, `csi`, `loadTimes`, as in a desktop Chrome) and the notification permission are
//! already what a desktop Chrome reports, so they are left alone: every override is one more
//! thing a detector can catch being inconsistent.
//!
//! What is changed, once per browser so every page of it agrees:
//! - launch flags (local browsers): no `--enable-automation`, the `AutomationControlled` Blink
//!   feature off, a 1920x1080 window;
//! - DevTools overrides on the browser's tab, which outlive navigations: the user agent without
//!   `Headless` and client hints to match it, the `en-US` language list, eight cores;
//! - [`SCRIPT`], run in every document before the page's own scripts
//!   (`Page.addScriptToEvaluateOnNewDocument`): `navigator.webdriver` false even on a remote
//!   browser started with automation flags, a 1920x1080 `screen`, and a WebGL vendor and
//!   renderer of a common Intel GPU (patched when the page first asks for a WebGL context).
//!   Its replacement functions print as native code. The screen is set here rather than with
//!   `Emulation.setDeviceMetricsOverride`, which measured a few milliseconds a page.

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::{Browser, Emulation};

use super::tab::{add_script, at_once, send};
use crate::error::BoxError;

/// Flags a stealth browser is started with (beside riptide's usual ones, less
/// `--enable-automation`).
pub(super) const LAUNCH_ARGS: &[&str] = &[
    "--disable-blink-features=AutomationControlled",
    "--window-size=1920,1080",
];

/// The flag a stealth browser is started without.
pub(super) const AUTOMATION_FLAG: &str = "--enable-automation";

/// The screen a stealth browser reports (the window is as large).
const SCREEN: (u32, u32) = (1920, 1080);

/// The core count a stealth browser reports: common on desktops, and the same on every host.
const CORES: u32 = 8;

/// The languages a stealth browser asks for (`Accept-Language`, `navigator.languages`).
const ACCEPT_LANGUAGE: &str = "en-US,en";

/// Runs in every document before its own scripts ([`script`] fills in the screen size).
/// Functions it installs print as native code (`Function.prototype.toString` is wrapped for
/// them alone), since detectors look.
const SCRIPT: &str = r#"(() => {
  const disguised = new WeakMap();
  const original = Function.prototype.toString;
  const nativeToString = function toString() {
    return disguised.has(this) ? disguised.get(this) : original.call(this);
  };
  disguised.set(nativeToString, 'function toString() { [native code] }');
  Function.prototype.toString = nativeToString;
  const native = (fn, name) => { disguised.set(fn, `function ${name}() { [native code] }`); return fn; };

  if (navigator.webdriver) {
    const get = native(function () { return false; }, 'get webdriver');
    Object.defineProperty(Navigator.prototype, 'webdriver', { get, configurable: true, enumerable: true });
  }

  const SCREEN = { width: WIDTH, height: HEIGHT, availWidth: WIDTH, availHeight: HEIGHT };
  for (const [name, value] of Object.entries(SCREEN)) {
    const get = native(function () { return value; }, `get ${name}`);
    Object.defineProperty(Screen.prototype, name, { get, configurable: true, enumerable: true });
  }

  // WebGL's interfaces are patched when a page first asks for a WebGL context, not here:
  // touching them in every document costs milliseconds a page.
  const VENDOR = 0x9245, RENDERER = 0x9246;
  const patched = new WeakSet();
  const patchWebGl = (context) => {
    const proto = Object.getPrototypeOf(context);
    if (!proto || patched.has(proto)) return;
    patched.add(proto);
    // The originals under other names: a named function expression's name is bound inside it.
    const originalGetParameter = proto.getParameter;
    proto.getParameter = native(function getParameter(name) {
      if (name === VENDOR) return 'Google Inc. (Intel)';
      if (name === RENDERER) return 'ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)';
      return originalGetParameter.call(this, name);
    }, 'getParameter');
  };
  for (const Canvas of [self.HTMLCanvasElement, self.OffscreenCanvas].filter(Boolean)) {
    const originalGetContext = Canvas.prototype.getContext;
    Canvas.prototype.getContext = native(function getContext(type, ...options) {
      const context = originalGetContext.call(this, type, ...options);
      if (context && /webgl/i.test(String(type))) patchWebGl(context);
      return context;
    }, 'getContext');
  }
})();"#;

/// [`SCRIPT`] for [`SCREEN`].
fn script() -> String {
    SCRIPT
        .replace("WIDTH", &SCREEN.0.to_string())
        .replace("HEIGHT", &SCREEN.1.to_string())
}

/// Applies the stealth overrides and script to `tab` (see the module docs); the three are
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
    let user_agent = user_agent.map_or_else(
        || version.user_agent.replace("HeadlessChrome", "Chrome"),
        str::to_string,
    );
    // `HeadlessChrome/156.0.7632.45`: the version after the slash.
    let full_version = version
        .product
        .rsplit('/')
        .next()
        .filter(|v| !v.is_empty())
        .unwrap_or("0.0.0.0")
        .to_string();
    let major = full_version.split('.').next().unwrap_or("0").to_string();
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
