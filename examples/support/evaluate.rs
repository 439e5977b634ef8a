//! Scores an extractor on a saved-page corpus, the way the corpora's sources score their own
//! extractors: the `evaluate` example prints the numbers, and `tests/integration/extraction_quality.rs`
//! fails when they fall under the floors. One scoring for riptide and for every peer it is
//! compared with, so the numbers in BENCHMARKS.md are comparable.
//!
//! Two corpus formats are read (see `../shared/corpora/README.md`):
//! - **readability**: one folder per page with `source.html.gz`, `expected.html.gz` (the article
//!   as Readability.js extracts it) and `expected-metadata.json`. Text is scored as a bag of
//!   words against the expected article's text (precision, recall, F1 averaged over pages);
//!   title, byline and lang by exact match and the excerpt by word F1, over every page (a page
//!   whose gold has no byline scores a match only when the extractor gives none either).
//! - **trafilatura**: `evaldata.json` (URL -> `file`, `with`, `without`) and `eval/FILE.gz`. A
//!   `with` segment found in the extracted text (white space collapsed) is a true positive, one
//!   missed a false negative, a `without` segment found a false positive; precision, recall and
//!   F1 over the totals of all pages.
//!
//! Included with `#[path]` by the targets that score; each uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The base URL every readability test page is extracted with (Readability's own tests use it).
pub(crate) const READABILITY_BASE_URL: &str = "http://fakehost/test/page.html";

/// A corpus read from disk: its pages and what each must give.
pub(crate) struct Corpus {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// Which format it is in.
    pub kind: CorpusKind,
    /// Its pages, in a stable order.
    pub pages: Vec<Page>,
}

/// The two gold formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CorpusKind {
    /// Readability's test pages: expected article HTML and metadata.
    Readability,
    /// trafilatura's evaluation set: segments that must and must not appear.
    Trafilatura,
}

/// One page of a corpus.
pub(crate) struct Page {
    /// Its name: the folder (readability) or the `file` (trafilatura).
    pub id: String,
    /// The URL it is extracted with.
    pub url: String,
    /// The saved HTML, decoded as a browser would (see `riptide::charset`).
    pub html: String,
    /// What it must give.
    pub gold: Gold,
}

/// What a page must give.
pub(crate) enum Gold {
    /// The expected article's text and metadata.
    Readability { text: String, meta: ExpectedMetadata },
    /// Segments that must be in the text, and segments that must not.
    Trafilatura { with: Vec<String>, without: Vec<String> },
}

/// `expected-metadata.json` of a readability page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExpectedMetadata {
    pub title: Option<String>,
    pub byline: Option<String>,
    pub lang: Option<String>,
    pub excerpt: Option<String>,
    pub site_name: Option<String>,
    pub published_time: Option<String>,
}

/// What an extractor gave for one page: the fields that are scored. Also the line format of an
/// outputs file (NDJSON, one object per page, `id` naming it), so peers run elsewhere are scored
/// by this same code.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Extraction {
    /// The page's id in the corpus.
    #[serde(default)]
    pub id: String,
    /// The main text.
    #[serde(default)]
    pub text: String,
    pub title: Option<String>,
    pub byline: Option<String>,
    pub lang: Option<String>,
    pub excerpt: Option<String>,
    /// Milliseconds the extraction took, when known.
    #[serde(default)]
    pub ms: Option<f64>,
}

impl Extraction {
    /// What riptide's extractor gave for page `id`, in the scored fields (`byline` is riptide's
    /// `author`, `lang` its `language`, `excerpt` its `description`).
    pub(crate) fn from_content(id: &str, content: riptide::ExtractedContent, ms: Option<f64>) -> Extraction {
        Extraction {
            id: id.to_string(),
            text: content.text,
            title: content.title,
            byline: content.author,
            lang: content.language,
            excerpt: content.description,
            ms,
        }
    }
}

/// Reading a corpus or an outputs file failed.
#[derive(Debug)]
pub(crate) struct CorpusError(pub String);

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CorpusError {}

/// A gzipped page, decoded as riptide decodes what it fetches (BOM, `<meta charset>`, else
/// detection), so pages saved in legacy encodings are read as a browser reads them.
fn read_gz(path: &Path) -> Result<String, CorpusError> {
    let file = std::fs::File::open(path).map_err(|e| CorpusError(format!("cannot open {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| CorpusError(format!("{} is not readable gzip: {e}", path.display())))?;
    Ok(riptide::charset::decode_html(&bytes, None))
}

impl Corpus {
    /// Reads the corpus in `dir`, recognizing its format: `evaldata.json` makes it a trafilatura
    /// corpus, page folders with `source.html.gz` a readability one.
    pub(crate) fn open(dir: &Path) -> Result<Corpus, CorpusError> {
        if dir.join("evaldata.json").is_file() {
            Self::open_trafilatura(dir)
        } else {
            Self::open_readability(dir)
        }
    }

    fn open_readability(dir: &Path) -> Result<Corpus, CorpusError> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            CorpusError(format!(
                "cannot read corpus folder {}: {e}; pass a folder of page folders or one with evaldata.json",
                dir.display()
            ))
        })?;
        let mut folders: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("source.html.gz").is_file())
            .collect();
        folders.sort();
        if folders.is_empty() {
            return Err(CorpusError(format!(
                "{} holds neither evaldata.json nor page folders with source.html.gz",
                dir.display()
            )));
        }
        let mut pages = Vec::with_capacity(folders.len());
        for folder in folders {
            let id = folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let meta_path = folder.join("expected-metadata.json");
            let meta = match std::fs::read_to_string(&meta_path) {
                Ok(json) => serde_json::from_str(&json)
                    .map_err(|e| CorpusError(format!("{} is not valid metadata JSON: {e}", meta_path.display())))?,
                Err(_) => ExpectedMetadata::default(),
            };
            let expected = read_gz(&folder.join("expected.html.gz"))?;
            pages.push(Page {
                id,
                url: READABILITY_BASE_URL.to_string(),
                html: read_gz(&folder.join("source.html.gz"))?,
                gold: Gold::Readability {
                    text: html_text(&expected),
                    meta,
                },
            });
        }
        Ok(Corpus {
            dir: dir.to_path_buf(),
            kind: CorpusKind::Readability,
            pages,
        })
    }

    fn open_trafilatura(dir: &Path) -> Result<Corpus, CorpusError> {
        #[derive(Deserialize)]
        struct Entry {
            file: String,
            #[serde(default)]
            with: Vec<String>,
            #[serde(default)]
            without: Vec<String>,
        }
        let path = dir.join("evaldata.json");
        let json =
            std::fs::read_to_string(&path).map_err(|e| CorpusError(format!("cannot read {}: {e}", path.display())))?;
        let entries: std::collections::BTreeMap<String, Entry> = serde_json::from_str(&json)
            .map_err(|e| CorpusError(format!("{} is not valid evaldata JSON: {e}", path.display())))?;
        let mut pages = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (url, entry) in entries {
            let file = dir.join("eval").join(format!("{}.gz", entry.file));
            // The evaluation set lists pages whose files it does not ship; those are skipped.
            if !file.is_file() || !seen.insert(entry.file.clone()) {
                continue;
            }
            pages.push(Page {
                id: entry.file,
                url,
                html: read_gz(&file)?,
                gold: Gold::Trafilatura {
                    with: entry.with,
                    without: entry.without,
                },
            });
        }
        pages.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Corpus {
            dir: dir.to_path_buf(),
            kind: CorpusKind::Trafilatura,
            pages,
        })
    }
}

/// Reads an outputs file: NDJSON, one [`Extraction`] per line, keyed by `id`.
pub(crate) fn read_outputs(path: &Path) -> Result<HashMap<String, Extraction>, CorpusError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CorpusError(format!("cannot read {}: {e}", path.display())))?;
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let extraction: Extraction = serde_json::from_str(line)
            .map_err(|e| CorpusError(format!("{}:{}: not an extraction object: {e}", path.display(), n + 1)))?;
        out.insert(extraction.id.clone(), extraction);
    }
    Ok(out)
}

/// The scores of one extractor on one corpus.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Scores {
    /// Pages scored.
    pub pages: usize,
    /// Text precision, recall and F1 (see the module docs for how each corpus averages them).
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Readability corpora only: exact-match rates and the excerpt's mean word F1.
    pub title_exact: Option<f64>,
    pub byline_exact: Option<f64>,
    pub lang_exact: Option<f64>,
    pub excerpt_f1: Option<f64>,
    /// Total extraction milliseconds reported, when every page reported one.
    pub total_ms: Option<f64>,
    /// Pages with their text F1 (readability) or error count (trafilatura), worst first.
    #[serde(skip)]
    pub worst: Vec<(String, f64)>,
}

impl Scores {
    /// Scores `extract`'s answers on every page of `corpus`.
    pub(crate) fn of(corpus: &Corpus, mut extract: impl FnMut(&Page) -> Extraction) -> Scores {
        let extractions: Vec<Extraction> = corpus.pages.iter().map(&mut extract).collect();
        Self::score(corpus, &extractions)
    }

    /// Scores answers already made, in the corpus's page order.
    pub(crate) fn score(corpus: &Corpus, extractions: &[Extraction]) -> Scores {
        let pages = corpus.pages.len();
        let mut scores = Scores {
            pages,
            ..Scores::default()
        };
        let ms: Option<Vec<f64>> = extractions.iter().map(|e| e.ms).collect();
        scores.total_ms = ms.map(|m| m.iter().sum());
        match corpus.kind {
            CorpusKind::Readability => {
                let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
                let (mut title, mut byline, mut lang, mut excerpt) = (0.0, 0.0, 0.0, 0.0);
                for (page, got) in corpus.pages.iter().zip(extractions) {
                    let Gold::Readability { text, meta } = &page.gold else {
                        continue;
                    };
                    let s = word_overlap(&got.text, text);
                    p += s.0;
                    r += s.1;
                    f += s.2;
                    scores.worst.push((page.id.clone(), s.2));
                    title += same(&got.title, &meta.title);
                    byline += same(&got.byline, &meta.byline);
                    lang += same(&got.lang, &meta.lang);
                    excerpt += match (&got.excerpt, &meta.excerpt) {
                        (None, None) => 1.0,
                        (Some(a), Some(b)) => word_overlap(a, b).2,
                        _ => 0.0,
                    };
                }
                let n = pages.max(1) as f64;
                (scores.precision, scores.recall, scores.f1) = (p / n, r / n, f / n);
                scores.title_exact = Some(title / n);
                scores.byline_exact = Some(byline / n);
                scores.lang_exact = Some(lang / n);
                scores.excerpt_f1 = Some(excerpt / n);
                scores.worst.sort_by(|a, b| a.1.total_cmp(&b.1));
            }
            CorpusKind::Trafilatura => {
                let (mut tp, mut fn_, mut fp) = (0usize, 0usize, 0usize);
                for (page, got) in corpus.pages.iter().zip(extractions) {
                    let Gold::Trafilatura { with, without } = &page.gold else {
                        continue;
                    };
                    let text = collapse(&got.text);
                    let found = |s: &String| text.contains(&collapse(s));
                    let hits = with.iter().filter(|s| found(s)).count();
                    let leaks = without.iter().filter(|s| found(s)).count();
                    tp += hits;
                    fn_ += with.len() - hits;
                    fp += leaks;
                    scores.worst.push((page.id.clone(), (with.len() - hits + leaks) as f64));
                }
                scores.precision = ratio(tp, tp + fp);
                scores.recall = ratio(tp, tp + fn_);
                scores.f1 = harmonic(scores.precision, scores.recall);
                scores.worst.sort_by(|a, b| b.1.total_cmp(&a.1));
            }
        }
        scores
    }
}

impl fmt::Display for Scores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pages {}  precision {:.3}  recall {:.3}  F1 {:.3}",
            self.pages, self.precision, self.recall, self.f1
        )?;
        if let (Some(t), Some(b), Some(l), Some(e)) =
            (self.title_exact, self.byline_exact, self.lang_exact, self.excerpt_f1)
        {
            write!(f, "  title {t:.3}  byline {b:.3}  lang {l:.3}  excerpt F1 {e:.3}")?;
        }
        if let Some(ms) = self.total_ms {
            write!(f, "  extraction {ms:.0} ms")?;
        }
        Ok(())
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn harmonic(p: f64, r: f64) -> f64 {
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}

/// Trims and collapses white space (what "normalized" means in both scorings).
pub(crate) fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn same(got: &Option<String>, want: &Option<String>) -> f64 {
    let norm = |s: &Option<String>| s.as_deref().map(collapse).filter(|s| !s.is_empty());
    if norm(got) == norm(want) { 1.0 } else { 0.0 }
}

/// Words for the bag-of-words score: lower-cased runs of letters and digits; each character of a
/// script written without spaces (Han, kana, Hangul, Thai) counts as a word of its own.
pub(crate) fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        if is_unspaced_script(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0E7F     // Thai
        | 0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3400..=0x4DBF   // CJK Extension A
        | 0x4E00..=0x9FFF   // CJK Unified Ideographs
        | 0xAC00..=0xD7AF   // Hangul syllables
        | 0xF900..=0xFAFF) // CJK Compatibility Ideographs
}

/// Bag-of-words precision, recall and F1 of `got` against `want`.
pub(crate) fn word_overlap(got: &str, want: &str) -> (f64, f64, f64) {
    let (got, want) = (words(got), words(want));
    if got.is_empty() && want.is_empty() {
        return (1.0, 1.0, 1.0);
    }
    let mut bag: HashMap<&str, usize> = HashMap::new();
    for w in &want {
        *bag.entry(w).or_default() += 1;
    }
    let mut common = 0usize;
    for w in &got {
        if let Some(n) = bag.get_mut(w.as_str()).filter(|n| **n > 0) {
            *n -= 1;
            common += 1;
        }
    }
    let (p, r) = (ratio(common, got.len()), ratio(common, want.len()));
    (p, r, harmonic(p, r))
}

/// The text of an HTML fragment (the expected article), parsed by a real HTML parser.
pub(crate) fn html_text(html: &str) -> String {
    let doc = scraper::Html::parse_fragment(html);
    let mut out = String::new();
    for t in doc.root_element().text() {
        out.push_str(t);
        out.push(' ');
    }
    out
}
