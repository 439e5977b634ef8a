//! Stealth browsers (issue 10, item 3) on real Chromium: a local page runs the checks that
//! open-source bot detectors run and reports every signal; a plain headless browser fails them
//! (so the page can tell), a stealth one passes each, the same way on every page it renders.
#![cfg(feature = "chrome")]

use crate::support;

use std::path::PathBuf;

use riptide::backends::chrome::ChromiumSettings;
use riptide::traits::PageRequest;
use serde_json::Value;
use support::local_server::{LocalServer, Reply};
use support::{TestedProvider, provider_or_skip};

/// What the detectors read, reported as JSON in `<pre id="signals" data-done>`.
const SIGNALS_PAGE: &str = r#"<!doctype html><html><head><title>signals</title></head><body><pre id="signals"></pre>
<script>
const s = {};
(async () => {
  s.userAgent = navigator.userAgent;
  s.appVersion = navigator.appVersion;
  s.webdriver = navigator.webdriver;
  s.webdriverGetter = String(Object.getOwnPropertyDescriptor(Navigator.prototype, 'webdriver').get);
  s.brands = navigator.userAgentData ? navigator.userAgentData.brands.map(b => b.brand) : null;
  s.platform = navigator.userAgentData ? navigator.userAgentData.platform : null;
  s.plugins = navigator.plugins.length;
  s.mimeTypes = navigator.mimeTypes.length;
  s.languages = navigator.languages;
  s.chrome = window.chrome ? Object.keys(window.chrome).sort() : null;
  const p = await navigator.permissions.query({ name: 'notifications' });
  s.notification = Notification.permission;
  s.notificationQuery = p.state;
  const gl = document.createElement('canvas').getContext('webgl');
  const info = gl && gl.getExtension('WEBGL_debug_renderer_info');
  s.webglVendor = info ? gl.getParameter(info.UNMASKED_VENDOR_WEBGL) : null;
  s.webglRenderer = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : null;
  s.getParameterSource = gl ? String(gl.getParameter) : null;
  s.webglVersion = gl ? gl.getParameter(gl.VERSION) : null;
  s.context2d = typeof document.createElement('canvas').getContext('2d');
  s.toStringSource = String(Function.prototype.toString);
  s.screen = [screen.width, screen.height, screen.availWidth, screen.availHeight];
  s.window = [outerWidth, outerHeight, innerWidth, innerHeight];
  s.cores = navigator.hardwareConcurrency;
})().catch(e => { s.error = String(e && e.stack || e); }).finally(() => {
  const out = document.getElementById('signals');
  out.textContent = JSON.stringify(s);
  out.dataset.done = '1';
});
</script></body></html>"#;

fn server() -> LocalServer {
    LocalServer::start(|target| match target {
        "/signals" | "/signals-again" => Reply::Html(SIGNALS_PAGE.into()),
        _ => Reply::NotFound,
    })
    .expect("local server")
}

/// A stealth provider on the Chromium `chrome_or_skip` found.
fn stealth_provider<P: TestedProvider>(plain: &P, runtime_dir: PathBuf) -> P {
    P::new(ChromiumSettings {
        executable: plain.executable().map(PathBuf::from),
        runtime_dir: Some(runtime_dir),
        stealth: true,
        ..ChromiumSettings::default()
    })
    .expect("stealth provider")
}

/// Renders the signals page at each of `paths` on one browser of `provider`.
fn signals<P: TestedProvider>(provider: &P, server: &LocalServer, paths: &[&str]) -> Vec<Value> {
    let browser = provider.launch().expect("launch");
    let found = paths
        .iter()
        .map(|path| {
            let request = PageRequest::new(server.url(path)).wait_for("#signals[data-done]");
            let page = provider.fetch(&browser, &request).expect("renders");
            let body = &page.html[page.html.find("id=\"signals\"").expect("signals element")..];
            let json = &body[body.find('>').expect("tag end") + 1..body.find("</pre>").expect("element end")];
            let json = json.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("signals are JSON ({e}): {json}"))
        })
        .collect();
    provider.close(browser);
    found
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// The page can tell a plain headless browser: without this, the stealth test below could pass
/// on a page that detects nothing.
fn the_signals_page_unmasks_plain_headless<P: TestedProvider>() {
    let Some((provider, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let server = server();
    let plain = &signals(&provider, &server, &["/signals"])[0];
    assert!(plain.get("error").is_none(), "the checks threw: {plain}");
    assert!(text(plain, "userAgent").contains("HeadlessChrome"), "{plain}");
    assert_eq!(plain["webdriver"], Value::Bool(true), "{plain}");
    assert!(text(plain, "webglRenderer").contains("SwiftShader"), "{plain}");
    assert_eq!(plain["screen"][0], 800, "{plain}");
}

fn stealth_hides_each_signal_the_same_way_on_every_page<P: TestedProvider>() {
    let Some((plain, dir)) = provider_or_skip::<P>() else {
        return;
    };
    let provider = stealth_provider(&plain, dir);
    assert!(provider.settings().stealth);
    let server = server();
    let pages = signals(&provider, &server, &["/signals", "/signals-again"]);
    let s = &pages[0];
    assert!(s.get("error").is_none(), "the checks threw: {s}");

    let user_agent = text(s, "userAgent");
    assert!(
        !user_agent.contains("Headless") && user_agent.contains("Chrome/"),
        "{user_agent}"
    );
    assert!(!text(s, "appVersion").contains("Headless"), "{s}");
    let brands = s["brands"].as_array().expect("client hints");
    assert!(
        !brands.is_empty() && brands.iter().all(|b| !b.as_str().unwrap_or("").contains("Headless")),
        "{s}"
    );
    assert_eq!(s["platform"], "Linux", "{s}");

    assert_eq!(s["webdriver"], Value::Bool(false), "{s}");
    assert!(text(s, "webdriverGetter").contains("[native code]"), "{s}");

    assert!(
        s["plugins"].as_u64() > Some(0) && s["mimeTypes"].as_u64() > Some(0),
        "{s}"
    );
    assert_eq!(s["languages"], serde_json::json!(["en-US", "en"]), "{s}");
    assert_eq!(s["chrome"], serde_json::json!(["app", "csi", "loadTimes"]), "{s}");
    // Headless used to answer `denied` to one and `prompt` to the other.
    let expected_query = match text(s, "notification").as_str() {
        "default" => "prompt".to_string(),
        other => other.to_string(),
    };
    assert_eq!(text(s, "notificationQuery"), expected_query, "{s}");

    let (vendor, renderer) = (text(s, "webglVendor"), text(s, "webglRenderer"));
    assert!(vendor.contains("Intel") && renderer.contains("Intel"), "{s}");
    assert!(!renderer.contains("SwiftShader"), "{s}");
    assert!(text(s, "getParameterSource").contains("[native code]"), "{s}");
    // What is not disguised still works through the replaced functions.
    assert!(text(s, "webglVersion").starts_with("WebGL"), "{s}");
    assert_eq!(s["context2d"], "object", "{s}");
    assert!(text(s, "toStringSource").contains("[native code]"), "{s}");

    let screen: Vec<u64> = serde_json::from_value(s["screen"].clone()).expect("screen");
    let window: Vec<u64> = serde_json::from_value(s["window"].clone()).expect("window");
    assert_eq!(&screen[..2], &[1920, 1080], "{s}");
    assert!(window[0] > 0 && window[0] <= screen[0] && window[1] <= screen[1], "{s}");
    assert_eq!(s["cores"], 8, "{s}");

    assert_eq!(pages[0], pages[1], "one browser reports the same on every page");
}

/// A remote browser started with `--enable-automation` (riptide cannot choose its flags): the
/// stealth provider still hides `navigator.webdriver` (by script) and the rest (by DevTools).
fn a_remote_browser_started_for_automation_is_disguised_too<P: TestedProvider>() {
    let Some((local, _dir)) = provider_or_skip::<P>() else {
        return;
    };
    let executable = local.executable().expect("local").to_path_buf();
    let remote = support::RemoteChromium::start_with(&executable, &["--enable-automation"]);
    let server = server();

    let plain = P::new(ChromiumSettings::remote(vec![remote.ws_url.clone()])).expect("remote");
    let before = &signals(&plain, &server, &["/signals"])[0];
    assert_eq!(before["webdriver"], Value::Bool(true), "{before}");

    let provider = P::new(ChromiumSettings {
        stealth: true,
        ..ChromiumSettings::remote(vec![remote.ws_url.clone()])
    })
    .expect("remote");
    let s = &signals(&provider, &server, &["/signals"])[0];
    assert!(s.get("error").is_none(), "the checks threw: {s}");
    assert_eq!(s["webdriver"], Value::Bool(false), "{s}");
    assert!(text(s, "webdriverGetter").contains("[native code]"), "{s}");
    assert!(!text(s, "userAgent").contains("Headless"), "{s}");
    assert_eq!(s["screen"][0], 1920, "{s}");
}

/// Runs every browser test above once per provider: `chrome::NAME` and `chromiumoxide::NAME`.
macro_rules! for_each_provider {
    ($module:ident, $provider:ty) => {
        mod $module {
            type P = $provider;

            #[test]
            fn the_signals_page_unmasks_plain_headless() {
                super::the_signals_page_unmasks_plain_headless::<P>()
            }
            #[test]
            fn stealth_hides_each_signal_the_same_way_on_every_page() {
                super::stealth_hides_each_signal_the_same_way_on_every_page::<P>()
            }
            #[test]
            fn a_remote_browser_started_for_automation_is_disguised_too() {
                super::a_remote_browser_started_for_automation_is_disguised_too::<P>()
            }
        }
    };
}

for_each_provider!(chrome, riptide::backends::chrome::ChromeProvider);
#[cfg(feature = "chromiumoxide")]
for_each_provider!(chromiumoxide, riptide::backends::chromiumoxide::ChromiumoxideProvider);
