//! When a statically fetched page needs a browser: the heuristic behind `EngineChoice::Auto`.
//!
//! A page is escalated to headless rendering when its static HTML shows it is built by
//! JavaScript. Any one of these is enough:
//! 1. **Little text, some script**: fewer than [`LITTLE_TEXT`] characters of visible text and at
//!    least one `<script>` element, unless the page's declared summary (`og:description`, which
//!    the server wrote) already opens its text: then the server rendered the text, and it is
//!    short because the page is (a photo post, a stub). Escalating such a page gains nothing and
//!    costs a render (seconds, when its third-party scripts cannot load).
//! 2. **An empty app root**: an element with `id` `root`, `app`, `__next`, `__nuxt` or `svelte`
//!    (or an `<app-root>` element) that is empty in the HTML, and fewer than [`SOME_TEXT`]
//!    characters of text elsewhere.
//! 3. **A noscript plea**: a `<noscript>` asking to enable JavaScript (or saying it is required),
//!    and fewer than [`SOME_TEXT`] characters of text.
//!
//! The thresholds keep server-rendered pages static: a long article with an empty widget root
//! or a tracking `<noscript>` has plenty of text.

use crate::extract::ExtractedContent;

/// Below this much visible text, a page with scripts is presumed to be rendered by them.
pub const LITTLE_TEXT: usize = 200;
/// Below this much visible text, an empty app root or a noscript plea means a JavaScript app.
pub const SOME_TEXT: usize = 1000;

const APP_ROOT_IDS: [&str; 5] = ["root", "app", "__next", "__nuxt", "svelte"];

/// Why `html` needs a browser, or `None` if the static HTML is the page.
pub(crate) fn needs_javascript(html: &str, page: &ExtractedContent) -> Option<&'static str> {
    let text = page.text.chars().filter(|c| !c.is_whitespace()).count();
    if text >= SOME_TEXT {
        // No rule can fire: skip lower-casing a copy of a page that may be megabytes.
        return None;
    }
    let lower = html.to_ascii_lowercase();
    if text < LITTLE_TEXT && lower.contains("<script") && !summary_opens_text(page) {
        return Some("little visible text and scripts");
    }
    if text < SOME_TEXT && has_empty_app_root(&lower) {
        return Some("an empty application root element");
    }
    if text < SOME_TEXT && has_noscript_plea(&lower) {
        return Some("a <noscript> asking for JavaScript");
    }
    None
}

/// Words of the declared summary looked for in the text: enough to be no accident, few enough
/// that a summary the server cut short (`...`) still matches.
const SUMMARY_WORDS: usize = 6;

/// Whether the opening words (at least three) of the page's `og:description` are in its text,
/// white space and case aside.
fn summary_opens_text(page: &ExtractedContent) -> bool {
    let Some(summary) = page.open_graph.get("description") else {
        return false;
    };
    let words: Vec<&str> = summary.split_whitespace().take(SUMMARY_WORDS).collect();
    if words.len() < 3 {
        return false;
    }
    let opening = words.join(" ").trim_end_matches(['…', '.']).to_lowercase();
    let text = page
        .text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    text.contains(&opening)
}

fn has_empty_app_root(lower: &str) -> bool {
    if lower.contains("<app-root></app-root>") {
        return true;
    }
    APP_ROOT_IDS.iter().any(|id| {
        [format!("id=\"{id}\""), format!("id='{id}'"), format!("id={id}>")]
            .iter()
            .any(|attr| {
                lower.match_indices(attr.as_str()).any(|(at, _)| {
                    // The rest of the opening tag, then only whitespace before a closing tag.
                    let rest = &lower[at..];
                    rest.find('>')
                        .is_some_and(|end| rest[end + 1..].trim_start().starts_with("</"))
                })
            })
    })
}

fn has_noscript_plea(lower: &str) -> bool {
    lower.match_indices("<noscript").any(|(at, _)| {
        let body = &lower[at..];
        let body = &body[..body.find("</noscript").unwrap_or(body.len())];
        body.contains("javascript")
            && (body.contains("enable") || body.contains("required") || body.contains("requires"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> ExtractedContent {
        ExtractedContent {
            text: text.into(),
            ..ExtractedContent::default()
        }
    }

    #[test]
    fn javascript_apps_are_recognised() {
        let spa = r#"<html><body><div id="root"></div><script src="/app.js"></script></body></html>"#;
        assert!(needs_javascript(spa, &page("")).is_some());
        let next = "<div id='__next'>\n  </div>";
        assert!(needs_javascript(next, &page("Loading")).is_some());
        let plea = "<noscript>You need to enable JavaScript to run this app.</noscript>";
        assert!(needs_javascript(plea, &page(&"x".repeat(300))).is_some());
    }

    #[test]
    fn server_rendered_pages_stay_static() {
        let article = "word ".repeat(400);
        let html = format!(
            r#"<div id="root"></div><noscript>Please enable JavaScript</noscript><script></script><p>{article}</p>"#
        );
        assert_eq!(needs_javascript(&html, &page(&article)), None);
        assert_eq!(
            needs_javascript("<p>Short page, no scripts.</p>", &page("Short page, no scripts.")),
            None
        );
        let filled = r#"<div id="app"><p>hello</p></div>"#;
        assert_eq!(needs_javascript(filled, &page(&"y".repeat(300))), None);
        let tracking = r#"<noscript><img src="/pixel.gif"></noscript>"#;
        assert_eq!(needs_javascript(tracking, &page(&"y".repeat(300))), None);
    }

    fn with_summary(text: &str, summary: &str) -> ExtractedContent {
        let mut page = page(text);
        page.open_graph.insert("description".into(), summary.into());
        page
    }

    #[test]
    fn a_short_page_whose_summary_opens_its_text_was_rendered_by_the_server() {
        // The trafilatura set's photo post: 144 characters, scripts, and its own summary in them.
        let html = r#"<script src="/analytics.js"></script><p>Standorte</p><p>Shuji: Japan.</p>"#;
        let text = "Standorte\n\nShuji: Japan.\n\nWalter: Deutschland.\n\nFilmmaterial\n\nFuji X-TRA 400.";
        let summary = "Standorte Shuji: Japan. Walter: Deutschland. Filmmaterial Fuji X-TRA 400. Kameras…";
        assert_eq!(needs_javascript(html, &with_summary(text, summary)), None);
        // A shell whose summary is not in its text, or too short to tell, is still escalated.
        let shell = r#"<div id="main">Loading</div><script src="/app.js"></script>"#;
        let elsewhere = with_summary("Loading", "The latest news from the city council, every morning.");
        assert!(needs_javascript(shell, &elsewhere).is_some());
        assert!(needs_javascript(shell, &with_summary("Loading the news", "Loading")).is_some());
    }
}
