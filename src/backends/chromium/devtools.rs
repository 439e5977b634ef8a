//! The DevTools commands both Chromium providers send to ready a tab, spelled once, as the
//! protocol's JSON: which commands, with which parameters, in which order.
//!
//! The two providers speak DevTools through different clients (headless_chrome's typed, blocking
//! calls; chromiumoxide's async ones), and used to spell each command twice, once in each
//! client's types: the stealth overrides, the cookies, the headers, the blocked URLs. Now this
//! file says *what* is sent, and each provider only *how* (`chrome/devtools.rs`,
//! `chromiumoxide/raw.rs`): a change to what a tab is readied with is made here, for both.

use serde_json::{Value, json};

use super::page_script::{LEAVING_MARK, NO_DIALOGS};
use super::stealth::{ACCEPT_LANGUAGE, CORES, script as stealth_script, user_agent_and_version};
use super::tab_settings::TabSettings;
use crate::network::RequestCookie;

/// One DevTools command: its method, and its parameters as the protocol spells them.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub method: &'static str,
    pub params: Value,
}

impl Command {
    fn new(method: &'static str, params: Value) -> Self {
        Self { method, params }
    }
}

/// The commands that ready a new tab, whose answers are not needed: each inner list goes out
/// in its order (the network rules need the network domain on first), the lists all at once,
/// since nothing else orders them and a launch waits for the slowest. Under stealth, the user
/// agent is set apart, once the browser's version is known ([`VERSION`],
/// [`stealth_user_agent`]).
///
/// What they do: no blocking dialogs and a mark on documents leaving for another in every page;
/// the renderer's death reported (`Inspector.targetCrashed`);
/// certificates verified (or not) as configured, whatever flags the browser was started with;
/// the user agent; the subresources not loaded, extra headers and cookies; under stealth, the
/// core count and the stealth script (see `stealth.rs`). The address policy and a proxy's
/// credentials are not here: each provider answers paused requests its own way.
pub(crate) fn tab_commands(setup: &TabSettings) -> Vec<Vec<Command>> {
    let mut commands = vec![
        vec![add_script(format!("{NO_DIALOGS}\n{LEAVING_MARK}"))],
        // `Inspector.targetCrashed` tells a render at once that its renderer died (a page that
        // filled its JavaScript heap): without it the render would wait out its deadline.
        vec![Command::new("Inspector.enable", json!({}))],
        vec![Command::new(
            "Security.setIgnoreCertificateErrors",
            json!({ "ignore": setup.accept_invalid_certs }),
        )],
    ];
    if let (false, Some(user_agent)) = (setup.stealth, &setup.user_agent) {
        commands.push(vec![Command::new(
            "Network.setUserAgentOverride",
            json!({ "userAgent": user_agent }),
        )]);
    }
    let network = network_rules(setup);
    if !network.is_empty() {
        commands.push(network);
    }
    if setup.stealth {
        commands.push(vec![Command::new(
            "Emulation.setHardwareConcurrencyOverride",
            json!({ "hardwareConcurrency": CORES }),
        )]);
        commands.push(vec![add_script(stealth_script())]);
    }
    commands
}

/// `Browser.getVersion`: what a stealth user agent is made from.
pub(crate) const VERSION: &str = "Browser.getVersion";

/// `Emulation.setUserAgentOverride` for a stealth tab, from the browser's answer to
/// [`VERSION`]: the browser's own user agent without `Headless` (or `user_agent`), and client
/// hints to match its version.
pub(crate) fn stealth_user_agent(user_agent: Option<&str>, version: &Value) -> Command {
    let text = |key: &str| version.get(key).and_then(Value::as_str).unwrap_or_default();
    let (user_agent, full_version, major) = user_agent_and_version(user_agent, text("userAgent"), text("product"));
    let brand = |brand: &str, version: &str| json!({ "brand": brand, "version": version });
    Command::new(
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
    )
}

/// `Page.addScriptToEvaluateOnNewDocument`: `source` runs in every document before its own
/// scripts.
fn add_script(source: String) -> Command {
    Command::new("Page.addScriptToEvaluateOnNewDocument", json!({ "source": source }))
}

/// The subresources not loaded, the extra headers and the cookies, after turning the network
/// domain on; nothing when there is nothing to set.
fn network_rules(setup: &TabSettings) -> Vec<Command> {
    let mut rules = Vec::new();
    if !setup.blocked.is_empty() {
        rules.push(Command::new("Network.setBlockedURLs", json!({ "urls": setup.blocked })));
    }
    if !setup.headers.is_empty() {
        let headers: serde_json::Map<String, Value> = setup
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        rules.push(Command::new(
            "Network.setExtraHTTPHeaders",
            json!({ "headers": headers }),
        ));
    }
    if !setup.cookies.is_empty() {
        let cookies: Vec<Value> = setup.cookies.iter().map(cookie_param).collect();
        rules.push(Command::new("Network.setCookies", json!({ "cookies": cookies })));
    }
    if !rules.is_empty() {
        rules.insert(0, Command::new("Network.enable", json!({})));
    }
    rules
}

/// `cookie` as DevTools takes it: a cookie for an IP address is set for its URL (host-only),
/// others for their domain and its subdomains, as a `Set-Cookie` with `Domain` would be.
fn cookie_param(cookie: &RequestCookie) -> Value {
    let mut param = json!({
        "name": cookie.name(),
        "value": cookie.value(),
        "path": cookie.cookie_path(),
        "secure": cookie.is_secure(),
        "httpOnly": cookie.is_http_only(),
    });
    let (key, value) = match cookie.is_for_address() {
        true => ("url", cookie.url().to_string()),
        false => ("domain", format!(".{}", cookie.domain())),
    };
    param[key] = Value::String(value);
    param
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_rules_turn_the_network_domain_on_first_and_only_when_needed() {
        assert!(network_rules(&TabSettings::default()).is_empty());
        let setup = TabSettings {
            headers: vec![("X-Test".into(), "1".into())],
            ..TabSettings::default()
        };
        let rules = network_rules(&setup);
        let methods: Vec<_> = rules.iter().map(|c| c.method).collect();
        assert_eq!(methods, ["Network.enable", "Network.setExtraHTTPHeaders"]);
        assert_eq!(rules[1].params["headers"]["X-Test"], "1");
    }

    #[test]
    fn a_stealth_user_agent_loses_headless_and_names_the_browsers_version() {
        let version = json!({ "userAgent": "Mozilla/5.0 HeadlessChrome/156.0.1.2 Safari", "product": "HeadlessChrome/156.0.1.2" });
        let command = stealth_user_agent(None, &version);
        assert_eq!(command.params["userAgent"], "Mozilla/5.0 Chrome/156.0.1.2 Safari");
        assert_eq!(command.params["userAgentMetadata"]["brands"][0]["version"], "156");
    }
}
