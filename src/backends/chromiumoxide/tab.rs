//! A browser's tab and one render in it: readying a tab (the commands of
//! `chromium/devtools.rs`, and the address policy on the side channel), the fresh browser context a render's isolation may
//! ask for, and the render itself (the shared in-page wait of `chromium/page_script.rs`).

use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, CaptureScreenshotParams};
use chromiumoxide::cdp::browser_protocol::target::{CreateBrowserContextParams, CreateTargetParams, SessionId};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::{Browser, Page};
use futures_util::StreamExt;

use super::raw::Raw;
use super::side_channel::{Interception, SideChannel};
use crate::backends::chromium::devtools::{VERSION, stealth_user_agent, tab_commands};
use crate::backends::chromium::isolation::{needs_fresh_context, site_of};
use crate::backends::chromium::page_script::{self, MAX_REWAITS};
use crate::backends::chromium::rendered::waited_page;
pub(super) use crate::backends::chromium::rendered::{RenderFailure, Rendered};
use crate::backends::chromium::tab_settings::{Refusals, TabSettings};
use crate::error::BoxError;
use crate::traits::PageRequest;
use serde_json::json;

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

/// Readies a new tab with the commands both providers send ([`tab_commands`]), and the stealth
/// user agent when asked for; they all go out together. (The address policy and the proxy's
/// credentials are answered on the [`SideChannel`]: see `side_channel.rs`.)
async fn prepare(setup: &TabSettings, page: &Page) -> Result<(), BoxError> {
    let sequences = tab_commands(setup).into_iter().map(|sequence| async move {
        for command in sequence {
            page.execute(Raw::from(command)).await?;
        }
        Ok::<_, chromiumoxide::error::CdpError>(())
    });
    let user_agent = async {
        if setup.stealth {
            let version = page.execute(Raw::new(VERSION, json!({}))).await?.result;
            let user_agent = stealth_user_agent(setup.user_agent.as_deref(), &version);
            page.execute(Raw::from(user_agent)).await?;
        }
        Ok::<_, chromiumoxide::error::CdpError>(())
    };
    futures_util::try_join!(futures_util::future::try_join_all(sequences), user_agent)?;
    Ok(())
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
    // The renderer's death ends the render at once: its evaluation would otherwise wait for an
    // answer that never comes, to the deadline.
    let mut crashes = current
        .page
        .event_listener::<EventTargetCrashed>()
        .await
        .map_err(|e| RenderFailure::Protocol(e.into()))?;
    let mut page = tokio::select! {
        page = load(current, side, request, started) => page?,
        Some(_) = crashes.next() => return Err(RenderFailure::Crashed),
    };
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
    let exception = reply.exception_details.map(|e| e.text);
    waited_page(exception, reply.result.value, navigated_in, waited.elapsed())
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
