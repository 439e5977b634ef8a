//! A browser's tab and one render in it: readying a tab (no dialogs, the leaving mark, the
//! request controls, the address policy), the fresh browser context a render's isolation may
//! ask for, and the render itself (the shared in-page wait of `chromium/page_script.rs`).

use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::network::{
    CookieParam, Headers, SetCookiesParams, SetExtraHttpHeadersParams, SetUserAgentOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, CaptureScreenshotFormat, CaptureScreenshotParams,
};
use chromiumoxide::cdp::browser_protocol::security::SetIgnoreCertificateErrorsParams;
use chromiumoxide::cdp::browser_protocol::target::{CreateBrowserContextParams, CreateTargetParams, SessionId};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::{Browser, Page};

use super::raw::Raw;
use super::side_channel::{Interception, SideChannel};
use crate::backends::chromium::isolation::{needs_fresh_context, site_of};
use crate::backends::chromium::page_script::{self, LEAVING_MARK, MAX_REWAITS, NO_DIALOGS};
use crate::backends::chromium::rendered::read_wait_reply;
pub(super) use crate::backends::chromium::rendered::{RenderFailure, Rendered};
use crate::backends::chromium::tab_settings::{Refusals, TabSettings};
use crate::error::BoxError;
use crate::network::RequestCookie;
use crate::traits::PageRequest;

/// What a browser renders with: its readied tab, and the side connection that navigates it
/// and answers its paused requests.
pub(super) struct Renderer {
    pub tab: Tab,
    pub side: SideChannel,
}

/// A readied tab, the context it is in, and what it rendered.
pub(super) struct Tab {
    pub page: Page,
    /// The tab's session on the [`SideChannel`].
    navigation: SessionId,
    /// The browser context riptide made for this tab (`None`: the browser's default one).
    context: Option<BrowserContextId>,
    refusals: Refusals,
    /// The site of the last page rendered here (`None`: one without a host).
    site: Option<String>,
    /// Whether anything was rendered here yet.
    visited: bool,
}

impl Tab {
    /// Opens a tab in `context` (the browser's default one when `None`) and readies it.
    pub(super) async fn open(
        browser: &Browser,
        side: &SideChannel,
        context: Option<BrowserContextId>,
        setup: &TabSettings,
    ) -> Result<Tab, BoxError> {
        let mut target = CreateTargetParams::new("about:blank");
        target.browser_context_id = context.clone();
        let page = browser.new_page(target).await?;
        let navigation = match side.attach(page.target_id()).await {
            Ok(session) => session,
            Err(e) => {
                let _ = page.close().await;
                return Err(e);
            }
        };
        let tab = Tab {
            page,
            navigation,
            context,
            refusals: Refusals::default(),
            site: None,
            visited: false,
        };
        let intercepted = async {
            match Interception::for_tab(setup, &tab.refusals) {
                Some(interception) => side.intercept(&tab.navigation, interception).await,
                None => Ok(()),
            }
        };
        match futures_util::try_join!(prepare(setup, &tab.page), intercepted) {
            Ok(_) => Ok(tab),
            Err(e) => {
                tab.close(browser).await;
                Err(e)
            }
        }
    }

    /// Closes the tab, which ends its pages and their scripts, and disposes of the context
    /// riptide made for it.
    pub(super) async fn close(&self, browser: &Browser) {
        if let Err(e) = self.page.clone().close().await {
            tracing::debug!(target: "riptide::chromiumoxide", "could not close a tab: {e}");
        }
        if let Some(context) = self.context.clone()
            && let Err(e) = browser.dispose_browser_context(context).await
        {
            tracing::debug!(target: "riptide::chromiumoxide", "could not dispose of a browser context: {e}");
        }
    }

    /// The address policy's refusal since the last call, if any.
    pub(super) fn take_refusal(&self) -> Option<String> {
        crate::sync::lock(&self.refusals).take()
    }
}

/// Readies a new tab: no blocking dialogs in any page it loads and documents marked when
/// they leave, certificates verified (or not) as configured whatever flags the browser was
/// started with, and the request controls. The calls go out together. (The address policy and
/// the proxy's credentials are answered on the [`SideChannel`]: see `side_channel.rs`.)
async fn prepare(setup: &TabSettings, page: &Page) -> Result<(), BoxError> {
    let scripts = async {
        page.execute(AddScriptToEvaluateOnNewDocumentParams::new(format!(
            "{NO_DIALOGS}\n{LEAVING_MARK}"
        )))
        .await
        .map(drop)
    };
    let certificates = async {
        page.execute(SetIgnoreCertificateErrorsParams::new(setup.accept_invalid_certs))
            .await
            .map(drop)
    };
    let user_agent = async {
        match (setup.stealth, &setup.user_agent) {
            (true, user_agent) => super::stealth::disguise(page, user_agent.as_deref()).await,
            (false, Some(user_agent)) => page
                .execute(SetUserAgentOverrideParams::new(user_agent.clone()))
                .await
                .map(drop)
                .map_err(BoxError::from),
            (false, None) => Ok(()),
        }
    };
    let blocked = async {
        if setup.blocked.is_empty() {
            return Ok(());
        }
        page.execute(Raw::new(
            "Network.setBlockedURLs",
            serde_json::json!({ "urls": setup.blocked }),
        ))
        .await
        .map(drop)
    };
    let headers = async {
        if setup.headers.is_empty() {
            return Ok(());
        }
        let map: serde_json::Map<String, serde_json::Value> = setup
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
            .collect();
        page.execute(SetExtraHttpHeadersParams::new(Headers::new(serde_json::Value::Object(
            map,
        ))))
        .await
        .map(drop)
    };
    let cookies = async {
        if setup.cookies.is_empty() {
            return Ok(());
        }
        page.execute(SetCookiesParams::new(setup.cookies.iter().map(cookie_param).collect()))
            .await
            .map(drop)
    };
    let others = async { futures_util::try_join!(scripts, certificates, blocked, headers, cookies) };
    futures_util::try_join!(async { others.await.map_err(BoxError::from) }, user_agent)?;
    Ok(())
}

/// `cookie` as DevTools takes it: a cookie for an IP address is set for its URL (host-only),
/// others for their domain and its subdomains, as a `Set-Cookie` with `Domain` would be.
fn cookie_param(cookie: &RequestCookie) -> CookieParam {
    let address = cookie.is_for_address();
    let mut param = CookieParam::new(cookie.name().to_string(), cookie.value().to_string());
    param.url = address.then(|| cookie.url().to_string());
    param.domain = (!address).then(|| format!(".{}", cookie.domain()));
    param.path = Some(cookie.cookie_path().to_string());
    param.secure = Some(cookie.is_secure());
    param.http_only = Some(cookie.is_http_only());
    param
}

/// Renders `request` in the renderer's tab, or in a fresh context's tab when the request's
/// isolation asks for one (the old tab closed, its context disposed of).
pub(super) async fn render(
    browser: &Browser,
    renderer: &mut Renderer,
    setup: &TabSettings,
    request: &PageRequest,
    started: Instant,
) -> Rendered {
    let Renderer { tab: current, side } = renderer;
    let site = site_of(&request.url);
    if needs_fresh_context(request.isolation, current.visited, &current.site, &site) {
        let context = browser
            .create_browser_context(CreateBrowserContextParams::default())
            .await
            .map_err(|e| RenderFailure::Protocol(e.into()))?;
        let fresh = Tab::open(browser, side, Some(context), setup)
            .await
            .map_err(RenderFailure::Protocol)?;
        // Closing costs a round trip or two, which chromiumoxide answers in about a millisecond.
        std::mem::replace(current, fresh).close(browser).await;
    }
    current.visited = true;
    current.site = site;
    let tab_found_in = started.elapsed();
    let mut page = load(current, side, request, started).await?;
    if let Some(page) = &mut page {
        page.profile.tab = tab_found_in;
        if request.screenshot {
            let taking = Instant::now();
            let png = current
                .page
                .screenshot(
                    CaptureScreenshotParams::builder()
                        .format(CaptureScreenshotFormat::Png)
                        .build(),
                )
                .await
                .map_err(|e| RenderFailure::Protocol(e.into()))?;
            page.screenshot = Some(png);
            page.profile.screenshot = taking.elapsed();
        }
    }
    Ok(page)
}

/// Navigates, then waits inside the page for readiness and returns the HTML and the page's
/// URL in the same call; see `chromium/page_script.rs`. The navigation goes out on the
/// [`SideChannel`].
async fn load(tab: &Tab, side: &SideChannel, request: &PageRequest, started: Instant) -> Rendered {
    let page = &tab.page;
    let navigating = Instant::now();
    let navigated = side
        .navigate(&tab.navigation, &request.url)
        .await
        .map_err(RenderFailure::Protocol)?;
    if let Some(code) = navigated {
        return Err(RenderFailure::Navigation(code));
    }
    let navigated_in = navigating.elapsed();
    let remaining = request.deadline.saturating_sub(started.elapsed());
    let mut evaluate = EvaluateParams::new(page_script::wait_expression(request, remaining));
    evaluate.return_by_value = Some(true);
    evaluate.await_promise = Some(true);
    evaluate.silent = Some(true);
    let waited = Instant::now();
    let reply = wait_in_page(page, evaluate, started, request.deadline).await?;
    let waited = waited.elapsed();
    let exception = reply.exception_details.map(|e| e.text);
    Ok(read_wait_reply(exception, reply.result.value)?.map(|mut rendered| {
        rendered.profile.navigate = navigated_in;
        rendered.profile.wait_and_read = waited;
        rendered
    }))
}

/// Runs the in-page wait. When the document it ran in goes away (the page navigated: the
/// evaluation fails, and the tab still answers), it runs again in the new document, up to
/// [`MAX_REWAITS`] times and while the deadline allows.
async fn wait_in_page(
    page: &Page,
    evaluate: EvaluateParams,
    started: Instant,
    deadline: Duration,
) -> Result<chromiumoxide::cdp::js_protocol::runtime::EvaluateReturns, RenderFailure> {
    let mut rewaits = 0;
    loop {
        match page.execute(evaluate.clone()).await {
            Ok(reply) => return Ok(reply.result),
            Err(e) => {
                let time_left = started.elapsed() < deadline;
                if rewaits < MAX_REWAITS && time_left && page.execute(EvaluateParams::new("1")).await.is_ok() {
                    rewaits += 1;
                    tracing::debug!(target: "riptide::chromiumoxide", rewaits, "the page left its document; waiting in the next");
                    continue;
                }
                return Err(RenderFailure::Protocol(e.into()));
            }
        }
    }
}
