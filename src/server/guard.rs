//! Which requests may reach the routes at all: the checks that keep web pages from driving the
//! server (issue 28, item 2).
//!
//! A page open in the user's browser can send requests to `127.0.0.1`. Three things stop it:
//!
//! - **`Host`** must name the server: an IP address it listens on (any address when it listens
//!   on `0.0.0.0` or `::`), `localhost` when it listens on loopback, or a name in
//!   `[server] allowed_hosts`. A page that makes its own name resolve to `127.0.0.1` (DNS
//!   rebinding) sends its own name, and gets `421`.
//! - **`Origin`**, when a browser sends one, must be the server's own (the `Host` it was reached
//!   by, or a name in `allowed_hosts`): a request from a page on another site gets `403`.
//!   Programs (curl, the CLI's `--server`) send none.
//! - **`Content-Type: application/json`** on every `POST`: a page's form or a `fetch` without a
//!   preflight can only send `text/plain`, `multipart/form-data` or
//!   `application/x-www-form-urlencoded`; they get `415`.
//!
//! The health checks (`/healthz`, `/readyz`) are outside these checks, as they are outside the
//! token's: a load balancer probes them by whatever name it likes, and they tell nothing.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;

use super::problem::problem;

/// Who the server is: what a request's `Host` and `Origin` are checked against.
#[derive(Debug, Clone)]
pub(super) struct Site {
    listen: SocketAddr,
    /// Lowercased, without a port or trailing dot.
    allowed_hosts: Vec<String>,
}

impl Site {
    pub(super) fn new(listen: SocketAddr, allowed_hosts: &[String]) -> Self {
        Self {
            listen,
            allowed_hosts: allowed_hosts.iter().filter_map(|h| host_name(h)).collect(),
        }
    }

    /// Whether `host` (a `Host` header's value) names this server.
    fn answers_to(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        let listen = self.listen.ip();
        if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            // An address cannot be rebound: whoever uses one reaches what it names.
            return listen.is_unspecified() || ip == listen || (ip.is_loopback() && listen.is_loopback());
        }
        (name == "localhost" && (listen.is_loopback() || listen.is_unspecified())) || self.allowed_hosts.contains(&name)
    }

    /// Whether `origin` (an `Origin` header's value) is this server's own, reached as `host`.
    fn own_origin(&self, origin: &str, host: &str) -> bool {
        let Some(authority) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false; // `null` (a sandboxed frame, a file), or another scheme
        };
        authority.eq_ignore_ascii_case(host)
            || host_name(authority).is_some_and(|name| self.allowed_hosts.contains(&name))
    }
}

/// The host of an authority (`host[:port]`), lowercased, without its port or a trailing dot;
/// `None` for what is not one (user info, a path, an empty name).
fn host_name(authority: &str) -> Option<String> {
    let authority: axum::http::uri::Authority = authority.trim().parse().ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[allow(
    clippy::result_large_err,
    reason = "the error is the answer, returned at once; never carried further"
)]
pub(super) fn check(site: &Site, method: &Method, headers: &HeaderMap) -> Result<(), Response> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST).unwrap_or_default();
    if !site.answers_to(host) {
        return Err(problem(
            StatusCode::MISDIRECTED_REQUEST,
            "server.host_not_allowed",
            &format!("the Host header {host:?} does not name this server"),
            &format!(
                "address it as http://{}/ (its listen address), or add the name to `[server] allowed_hosts`; other names are refused so that a web page cannot reach the server by making its own name resolve to it (DNS rebinding)",
                site.listen
            ),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        if !site.own_origin(origin, host) {
            return Err(problem(
                StatusCode::FORBIDDEN,
                "server.cross_origin",
                &format!("a request from the web page at {origin} is refused: it is not this server's own"),
                "web pages on other sites may not drive the server; use its console at / or a program (which sends no Origin), or add the name the pages are served under to `[server] allowed_hosts`",
            ));
        }
    }
    if method == Method::POST {
        let content_type = text(header::CONTENT_TYPE).unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "server.unsupported_media_type",
                &format!(
                    "the body's Content-Type is {}; this server reads JSON only",
                    if content_type.is_empty() {
                        "missing".to_string()
                    } else {
                        format!("{content_type:?}")
                    }
                ),
                "send `Content-Type: application/json` (curl: -H 'content-type: application/json'); other types are refused so that a web page's form cannot post to the server",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{HeaderMap, Method, Site, check};

    fn site(listen: &str, allowed: &[&str]) -> Site {
        let allowed: Vec<String> = allowed.iter().map(|h| h.to_string()).collect();
        Site::new(listen.parse().expect("address"), &allowed)
    }

    #[test]
    fn the_host_must_name_the_server() {
        let local = site("127.0.0.1:7878", &["Riptide.Internal."]);
        for host in [
            "127.0.0.1:7878",
            "127.0.0.1",
            "localhost:7878",
            "LOCALHOST",
            "[::1]:7878",
            "riptide.internal:8443",
            "riptide.internal.",
        ] {
            assert!(local.answers_to(host), "{host}");
        }
        for host in [
            "",
            "evil.example:7878",
            "10.0.0.1:7878",
            "user@127.0.0.1",
            "riptide.internal.evil.example",
        ] {
            assert!(!local.answers_to(host), "{host}");
        }
        let anywhere = site("0.0.0.0:7878", &[]);
        assert!(anywhere.answers_to("192.0.2.7:7878"));
        assert!(anywhere.answers_to("localhost:7878"));
        assert!(!anywhere.answers_to("evil.example:7878"));
        let one = site("192.0.2.7:7878", &[]);
        assert!(one.answers_to("192.0.2.7:7878"));
        assert!(!one.answers_to("localhost:7878"));
        assert!(!one.answers_to("192.0.2.8:7878"));
    }

    #[test]
    fn only_the_servers_own_origin_and_json_posts_pass() {
        let local = site("127.0.0.1:7878", &["riptide.internal"]);
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().expect("value"));
            }
            map
        };
        let status = |method: Method, pairs: &[(&'static str, &str)]| {
            check(&local, &method, &headers(pairs)).map_err(|r| r.status().as_u16())
        };
        let host = ("host", "127.0.0.1:7878");
        let json = ("content-type", "application/json; charset=utf-8");
        assert_eq!(status(Method::GET, &[host]), Ok(()));
        assert_eq!(status(Method::POST, &[host, json]), Ok(()));
        assert_eq!(
            status(Method::POST, &[host, json, ("origin", "http://127.0.0.1:7878")]),
            Ok(())
        );
        assert_eq!(
            status(Method::POST, &[host, json, ("origin", "https://riptide.internal")]),
            Ok(())
        );
        assert_eq!(
            status(Method::POST, &[host, json, ("origin", "http://127.0.0.1:8080")]),
            Err(403)
        );
        assert_eq!(status(Method::GET, &[host, ("origin", "null")]), Err(403));
        assert_eq!(status(Method::POST, &[host, ("content-type", "text/plain")]), Err(415));
        assert_eq!(status(Method::POST, &[host]), Err(415));
        assert_eq!(status(Method::DELETE, &[host]), Ok(()));
        assert_eq!(status(Method::GET, &[("host", "rebound.example:7878")]), Err(421));
        assert_eq!(status(Method::GET, &[]), Err(421));
    }
}
