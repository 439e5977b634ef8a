//! `riptide serve`: the library's [`riptide::server::Server`] around the default executor,
//! until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;

use riptide::RiptideConfig;
use riptide::server::{Server, ServerOptions};

use super::interrupts::Interrupts;
use super::{CliResult, Outcome};

/// `riptide serve`'s flags; each overrides its `[server]` key. The token has no flag (a
/// command line is visible to every user of the machine): set `server.token` or
/// `RIPTIDE_SERVER_TOKEN`.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Where to listen (`server.listen`, default 127.0.0.1:7878). Anything but a loopback
    /// address needs a token.
    #[arg(long, value_name = "ADDRESS:PORT")]
    listen: Option<SocketAddr>,
    /// Pages extracted at once (`server.max_in_flight`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: Option<u32>,
    /// Requests that may wait beyond those in flight before `429` (`server.max_queued`).
    #[arg(long, value_name = "N")]
    max_queued: Option<u32>,
    /// Load pages on loopback, private and link-local addresses (`server.allow_private_addresses`).
    #[arg(long)]
    allow_private_addresses: bool,
    /// Load `file://` URLs and local paths (`server.allow_file_urls`).
    #[arg(long)]
    allow_file_urls: bool,
    /// Do not answer `GET /metrics` (`performance.export_metrics`, on by default).
    #[arg(long)]
    no_metrics: bool,
    /// Print the console's URL (`GET /`), and open it in a browser where a desktop session
    /// exists (`DISPLAY` or `WAYLAND_DISPLAY` set, or macOS).
    #[arg(long)]
    open: bool,
}

pub(crate) async fn serve(config: &RiptideConfig, home: &Path, args: ServeArgs) -> CliResult<Outcome> {
    let mut config = config.clone();
    let server = &mut config.server;
    if let Some(listen) = args.listen {
        server.listen = listen.to_string();
    }
    if let Some(n) = args.max_in_flight {
        server.max_in_flight = n;
    }
    if let Some(n) = args.max_queued {
        server.max_queued = n;
    }
    server.allow_private_addresses |= args.allow_private_addresses;
    server.allow_file_urls |= args.allow_file_urls;
    // The server's pages come from its clients: its own address rules, not the command line's.
    config.network.allow_private_addresses = config.server.allow_private_addresses;
    config.network.allow_file_urls = config.server.allow_file_urls;
    let mut options = ServerOptions::from_config(&config.server)?;
    options.metrics = config.performance.export_metrics && !args.no_metrics;
    let mut stop = Interrupts::listen().map_err(|e| format!("cannot listen for Ctrl-C and SIGTERM: {e}"))?;
    let executor = riptide::Stack::from_config(&config).home(home).build()?;
    let server = Server::bind(executor.clone(), options).await?;
    // The one line a supervisor (or a test) reads to learn the port.
    eprintln!("riptide serve: listening on http://{}", server.local_addr());
    if args.open {
        let url = console_url(server.local_addr());
        eprintln!("riptide serve: console at {url}");
        open_in_browser(&url);
    }
    server
        .run(async move {
            stop.recv().await;
        })
        .await?;
    if let Err(e) = executor.shutdown().await {
        tracing::warn!(error = %e, "could not save everything at shutdown");
    }
    eprintln!("riptide serve: stopped");
    Ok(Outcome::Done)
}

/// The console's URL for a server listening on `addr`: an address on this machine a browser
/// can reach (loopback for `0.0.0.0` and `::`).
fn console_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/", SocketAddr::new(ip, addr.port()))
}

/// Opens `url` with the desktop's opener (`open` on macOS, `xdg-open` elsewhere) when there is
/// a desktop to open it on; never fails the server (a missing opener is one debug line).
fn open_in_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
    {
        "xdg-open"
    } else {
        tracing::debug!("no desktop session (DISPLAY, WAYLAND_DISPLAY): the console is not opened");
        return;
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // Reaped on a thread of its own: the opener may outlive nothing, or take a while.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => tracing::debug!(error = %e, opener, "could not open the console"),
    }
}

#[cfg(test)]
mod tests {
    use super::console_url;

    #[test]
    fn the_console_url_is_reachable_from_this_machine() {
        let url = |addr: &str| console_url(addr.parse().expect("address"));
        assert_eq!(url("127.0.0.1:7878"), "http://127.0.0.1:7878/");
        assert_eq!(url("0.0.0.0:7878"), "http://127.0.0.1:7878/");
        assert_eq!(url("[::]:7878"), "http://[::1]:7878/");
        assert_eq!(url("192.0.2.7:80"), "http://192.0.2.7:80/");
    }
}
