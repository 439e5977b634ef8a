//! A real NATS server with JetStream for the queue tests: Debian's `nats-server`, started on a
//! free port of 127.0.0.1 with its own store directory, restartable on the same port and store
//! (file storage survives), and killed on drop.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `nats-server -js`.
pub(crate) struct NatsServer {
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts one, or `None` (skip) when nats-server is not installed outside CI. In CI a
    /// missing nats-server fails the test (`.ci/run` installs it).
    pub(crate) fn start_or_skip() -> Option<Self> {
        let binary = [
            "/usr/bin/nats-server",
            "/usr/sbin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
        let Some(binary) = binary else {
            if std::env::var_os("CI").is_some() {
                panic!("CI must have nats-server (apt-get install -y nats-server)");
            }
            eprintln!("SKIPPED: this test needs nats-server (apt-get install -y nats-server)");
            return None;
        };
        // A free port, released just before the server takes it; a restart takes it again.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            binary,
            child: None,
            port,
            dir: tempfile::tempdir().expect("store dir"),
        };
        server.start();
        Some(server)
    }

    fn start(&mut self) {
        let child = Command::new(&self.binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let port = self.port;
        let up = super::eventually(Duration::from_secs(20), || {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none(),
                "nats-server exited ({exited:?}): is port {port} free?"
            );
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
        });
        assert!(up, "nats-server did not listen on port {port}");
    }

    /// `nats://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The store directory.
    pub(crate) fn store(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and store.
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.start();
    }

    /// Kills the server (SIGKILL); [`NatsServer::resume`] starts it again.
    pub(crate) fn stop(&mut self) {
        self.kill();
    }

    /// Starts a stopped server again on the same port and store.
    pub(crate) fn resume(&mut self) {
        self.start();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
