//! A real HTTP proxy for the proxy tests: Debian's `tinyproxy`, started on a free port of
//! 127.0.0.1 with its own configuration (Basic credentials required) and stopped on drop.
//! It adds `Via: 1.1 tinyproxy (...)` to what it forwards, so a server sees what came through it.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The user and password the proxy asks for (tinyproxy's configuration takes no `:`, `+` or
/// `@` in them; the library's decoding of those is unit-tested).
pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "s3cret-x_y";

/// A running tinyproxy.
pub(crate) struct Tinyproxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// Starts one requiring [`USER`] and [`PASSWORD`], or `None` (skip) when tinyproxy is not
    /// installed outside CI. In CI a missing tinyproxy fails the test (`.ci/run` installs it).
    pub(crate) fn start_or_skip() -> Option<Self> {
        let binary = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            if std::env::var_os("CI").is_some() {
                panic!("CI must have tinyproxy (apt-get install -y tinyproxy)");
            }
            eprintln!("SKIPPED: this test needs tinyproxy (apt-get install -y tinyproxy)");
            return None;
        };
        let dir = tempfile::tempdir().expect("proxy dir");
        // A free port, released just before tinyproxy takes it (it cannot report one it chose).
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Warning\n\
                 Allow 127.0.0.1\nBasicAuth {USER} {PASSWORD}\n"
            ),
        )
        .expect("proxy config");
        let child = Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tinyproxy");
        let mut proxy = Self { child, port, _dir: dir };
        let up = super::eventually(Duration::from_secs(20), || {
            let exited = proxy.child.try_wait().ok().flatten();
            assert!(
                exited.is_none(),
                "tinyproxy exited ({exited:?}): is its configuration valid?"
            );
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
        });
        assert!(up, "tinyproxy did not listen on port {port}");
        Some(proxy)
    }

    /// `http://127.0.0.1:PORT`, no credentials.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT`, the password percent-encoded as a URL needs it.
    pub(crate) fn url_with_credentials(&self, user: &str, password: &str) -> String {
        let encode = |s: &str| {
            s.replace('%', "%25")
                .replace(':', "%3A")
                .replace('+', "%2B")
                .replace('@', "%40")
        };
        format!("http://{}:{}@127.0.0.1:{}", encode(user), encode(password), self.port)
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
