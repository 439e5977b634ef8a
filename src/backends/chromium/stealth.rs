//! Stealth: a headless browser that does not announce itself as automation. What it changes,
//! and the script it runs, shared by both Chromium providers.
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

/// The screen a stealth browser reports (the window is as large).
const SCREEN: (u32, u32) = (1920, 1080);

/// The core count a stealth browser reports: common on desktops, and the same on every host.
pub(crate) const CORES: u32 = 8;

/// The languages a stealth browser asks for (`Accept-Language`, `navigator.languages`).
pub(crate) const ACCEPT_LANGUAGE: &str = "en-US,en";

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
pub(crate) fn script() -> String {
    SCRIPT
        .replace("WIDTH", &SCREEN.0.to_string())
        .replace("HEIGHT", &SCREEN.1.to_string())
}

/// The user agent a stealth browser sends (`explicit`, or the browser's own `user_agent`
/// without `Headless`), and its full and major version from the browser's `product`
/// (`HeadlessChrome/156.0.7632.45`), for the client hints.
pub(crate) fn user_agent_and_version(
    explicit: Option<&str>,
    user_agent: &str,
    product: &str,
) -> (String, String, String) {
    let user_agent = explicit.map_or_else(|| user_agent.replace("HeadlessChrome", "Chrome"), str::to_string);
    let full_version = product
        .rsplit('/')
        .next()
        .filter(|v| !v.is_empty())
        .unwrap_or("0.0.0.0")
        .to_string();
    let major = full_version.split('.').next().unwrap_or("0").to_string();
    (user_agent, full_version, major)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_loses_headless_and_the_version_comes_from_the_product() {
        let (ua, full, major) = user_agent_and_version(
            None,
            "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0.7632.45 Safari/537.36",
            "HeadlessChrome/156.0.7632.45",
        );
        assert_eq!(ua, "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.7632.45 Safari/537.36");
        assert_eq!((full.as_str(), major.as_str()), ("156.0.7632.45", "156"));
        let (ua, _, _) = user_agent_and_version(Some("mine"), "x", "");
        assert_eq!(ua, "mine");
        assert!(script().contains("width: 1920"));
    }
}
