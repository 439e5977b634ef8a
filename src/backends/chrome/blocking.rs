//! The network rules of a tab: subresources it does not load (the patterns of
//! `chromium/blocking.rs`), the extra headers it sends and the cookies it starts with.

use headless_chrome::Tab;
use headless_chrome::protocol::cdp::Network;

use crate::error::BoxError;
use crate::network::RequestCookie;

/// Tells `tab` not to load anything matching `blocked`, to send `headers` with every request,
/// and sets `cookies` in its browser context. All need the network domain on; nothing is sent
/// when there is nothing to set.
pub(super) fn network_rules(
    tab: &Tab,
    blocked: &[String],
    headers: &[(String, String)],
    cookies: &[RequestCookie],
) -> Result<(), BoxError> {
    if blocked.is_empty() && headers.is_empty() && cookies.is_empty() {
        return Ok(());
    }
    tab.call_method(Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })?;
    if !blocked.is_empty() {
        tab.call_method(Network::SetBlockedURLs { urls: blocked.to_vec() })?;
    }
    if !headers.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
            .collect();
        tab.call_method(Network::SetExtraHTTPHeaders {
            headers: Network::Headers(Some(serde_json::Value::Object(map))),
        })?;
    }
    if !cookies.is_empty() {
        tab.call_method(Network::SetCookies {
            cookies: cookies.iter().map(cookie_param).collect(),
        })?;
    }
    Ok(())
}

/// `cookie` as DevTools takes it: a cookie for an IP address is set for its URL (host-only),
/// others for their domain and its subdomains, as a `Set-Cookie` with `Domain` would be.
fn cookie_param(cookie: &RequestCookie) -> Network::CookieParam {
    let address = cookie.is_for_address();
    Network::CookieParam {
        name: cookie.name().to_string(),
        value: cookie.value().to_string(),
        url: address.then(|| cookie.url().to_string()),
        domain: (!address).then(|| format!(".{}", cookie.domain())),
        path: Some(cookie.cookie_path().to_string()),
        secure: Some(cookie.is_secure()),
        http_only: Some(cookie.is_http_only()),
        same_site: None,
        expires: None,
        priority: None,
        same_party: None,
        source_scheme: None,
        source_port: None,
        partition_key: None,
    }
}
