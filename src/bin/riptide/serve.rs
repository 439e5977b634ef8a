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
