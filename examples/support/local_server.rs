//! A small HTTP/1.1 server on a loopback address, for the examples, tests and benchmarks: they
//! all need pages to fetch without the internet.
//!
//! Built on hyper with a task per connection, so any number of keep-alive connections are served
//! at once. tiny_http, used before, runs each connection on one of a few pooled threads and can
//! leave a new connection unread until another one closes: with an HTTP client that keeps
//! connections alive, a burst of five or more stalled pages for a whole timeout.
//!
//! Included with `#[path]` by each target that serves pages (an `examples/` subdirectory is not
//! an example of its own); each uses only part of it.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// What the server answers for one request target (path and query).
pub(crate) enum Reply {
    /// `200`, `text/html; charset=utf-8`.
    Html(String),
    /// `200` with this content type.
    Data { content_type: &'static str, body: Vec<u8> },
    /// `200`, `text/html; charset=utf-8`, with these extra headers.
    HtmlWithHeaders {
        html: String,
        headers: Vec<(&'static str, &'static str)>,
    },
    /// `302 Found` to this location.
    Redirect(&'static str),
    /// `404`.
    NotFound,
    /// No response at all, until the server stops: a page that never answers.
    Hang,
    /// `200` with this content type and `Content-Encoding: gzip`: `body` is sent as is (already
    /// compressed), e.g. a gzip bomb.
    Gzip { content_type: &'static str, body: Vec<u8> },
    /// `200`, `text/html`: `head` at once, then one more byte every `every`, never ending.
    Trickle { head: String, every: std::time::Duration },
    /// `200`, `text/html`, with this `ETag`; `304 Not Modified` to a request whose
    /// `If-None-Match` names it.
    Conditional { html: String, etag: String },
    /// `200`, `text/html; charset=utf-8`, answered after `delay` (a page that takes time, so
    /// that requests overlap unless something keeps them apart).
    Slow { html: String, delay: std::time::Duration },
    /// Any status, content type, extra headers and body.
    Status {
        status: u16,
        content_type: &'static str,
        headers: Vec<(&'static str, &'static str)>,
        body: Vec<u8>,
    },
}

/// The body of a response: whole, or trickled.
type Body = http_body_util::Either<
    Full<Bytes>,
    http_body_util::StreamBody<futures_util::stream::BoxStream<'static, Result<hyper::body::Frame<Bytes>, Infallible>>>,
>;

/// One request as the server received it: its target and its headers (names lower-case).
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// When the request arrived.
    pub at: std::time::Instant,
}

impl Received {
    /// The value of header `name` (lower-case), if sent.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

type Log = Arc<std::sync::Mutex<Vec<Received>>>;

/// When each request was received and when its answer was ready: (target, start, finish).
pub(crate) type Span = (String, std::time::Instant, std::time::Instant);
type Spans = Arc<std::sync::Mutex<Vec<Span>>>;

/// A running server; stops (closing every connection) when dropped.
pub(crate) struct LocalServer {
    addr: SocketAddr,
    https: bool,
    log: Log,
    spans: Spans,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalServer {
    /// Serves `route` on 127.0.0.1 at a free port.
    pub(crate) fn start(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> std::io::Result<Self> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), route)
    }

    /// Serves `route` on `ip` at a free port (any 127.0.0.0/8 address works on Linux, which
    /// gives a benchmark several distinct hosts).
    pub(crate) fn start_on(ip: IpAddr, route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> std::io::Result<Self> {
        Self::serve(ip, None, route)
    }

    /// Serves `route` over HTTPS on 127.0.0.1 at a free port, with `tls` (a certificate the
    /// test made, which no client trusts unless told to).
    pub(crate) fn start_tls(
        tls: Arc<tokio_rustls::rustls::ServerConfig>,
        route: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::serve(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(tokio_rustls::TlsAcceptor::from(tls)),
            route,
        )
    }

    fn serve(
        ip: IpAddr,
        tls: Option<Acceptor>,
        route: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        // Bound here, so the caller gets the address, or the error, before any request.
        let listener = std::net::TcpListener::bind((ip, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let https = tls.is_some();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let route = Arc::new(route);
        let log = Log::default();
        let received = log.clone();
        let spans = Spans::default();
        let answered = spans.clone();
        let thread = std::thread::spawn(move || {
            runtime.block_on(accept(listener, tls, route, received, answered, stopped));
            // Dropping the runtime drops every connection task: hanging requests end here.
            drop(runtime);
        });
        Ok(Self {
            addr,
            https,
            log,
            spans,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Every request received so far, in order.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// Each answered request's target, arrival and the moment its answer was ready, in the
    /// order they were answered.
    pub(crate) fn spans(&self) -> Vec<Span> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}` (`https://` for a TLS server).
    pub(crate) fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The TLS side of an HTTPS server.
type Acceptor = tokio_rustls::TlsAcceptor;

async fn accept<F>(
    listener: std::net::TcpListener,
    tls: Option<Acceptor>,
    route: Arc<F>,
    log: Log,
    spans: Spans,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) where
    F: Fn(&str) -> Reply + Send + Sync + 'static,
{
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        let route = route.clone();
        let tls = tls.clone();
        let log = log.clone();
        let spans = spans.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let route = route.clone();
                let spans = spans.clone();
                let start = std::time::Instant::now();
                if let Ok(mut log) = log.lock() {
                    log.push(Received {
                        at: std::time::Instant::now(),
                        target: request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string(),
                        headers: request
                            .headers()
                            .iter()
                            .map(|(n, v)| {
                                (
                                    n.as_str().to_string(),
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                )
                            })
                            .collect(),
                    });
                }
                async move {
                    let response = answer(&*route, &request).await;
                    let target = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
                    if let Ok(mut spans) = spans.lock() {
                        spans.push((target, start, std::time::Instant::now()));
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let http = hyper::server::conn::http1::Builder::new();
            // A client that goes away mid-request (or refuses the certificate) is its own
            // business.
            match tls {
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                }
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            }
        });
    }
}

async fn answer<F: Fn(&str) -> Reply>(route: &F, request: &Request<hyper::body::Incoming>) -> Response<Body> {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut extra = Vec::new();
    let mut etag_header = None;
    let (status, content_type, body) = match route(target) {
        Reply::Conditional { html, etag } => {
            let asked = request.headers().get("if-none-match").and_then(|v| v.to_str().ok());
            let status = if asked == Some(etag.as_str()) {
                StatusCode::NOT_MODIFIED
            } else {
                StatusCode::OK
            };
            etag_header = Some(etag);
            let body = if status == StatusCode::OK {
                html.into_bytes()
            } else {
                Vec::new()
            };
            (status, "text/html; charset=utf-8", body)
        }
        Reply::Html(html) => (StatusCode::OK, "text/html; charset=utf-8", html.into_bytes()),
        Reply::Slow { html, delay } => {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, "text/html; charset=utf-8", html.into_bytes())
        }
        Reply::Data { content_type, body } => (StatusCode::OK, content_type, body),
        Reply::Gzip { content_type, body } => {
            extra.push(("content-encoding", "gzip"));
            (StatusCode::OK, content_type, body)
        }
        Reply::HtmlWithHeaders { html, headers } => {
            extra = headers;
            (StatusCode::OK, "text/html; charset=utf-8", html.into_bytes())
        }
        Reply::Redirect(location) => {
            extra.push(("location", location));
            (StatusCode::FOUND, "text/plain", Vec::new())
        }
        Reply::NotFound => (StatusCode::NOT_FOUND, "text/plain", b"not found".to_vec()),
        Reply::Status {
            status,
            content_type,
            headers,
            body,
        } => {
            extra = headers;
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                content_type,
                body,
            )
        }
        Reply::Hang => std::future::pending().await,
        Reply::Trickle { head, every } => {
            let first = futures_util::stream::once(async move { Ok(hyper::body::Frame::data(Bytes::from(head))) });
            let rest = futures_util::stream::unfold((), move |()| async move {
                tokio::time::sleep(every).await;
                Some((Ok(hyper::body::Frame::data(Bytes::from_static(b" "))), ()))
            });
            let body = http_body_util::StreamBody::new(futures_util::StreamExt::boxed(futures_util::StreamExt::chain(
                first, rest,
            )));
            let mut response = Response::new(http_body_util::Either::Right(body));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            return response;
        }
    };
    let mut response = Response::new(http_body_util::Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    for (name, value) in extra {
        response.headers_mut().append(
            hyper::header::HeaderName::from_static(name),
            hyper::header::HeaderValue::from_static(value),
        );
    }
    if let Some(etag) = etag_header.and_then(|e| hyper::header::HeaderValue::from_str(&e).ok()) {
        response.headers_mut().insert(hyper::header::ETAG, etag);
    }
    response
}
