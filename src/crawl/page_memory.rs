//! What a crawl remembers of each page for the next time it runs: the page's cache validators
//! (`ETag`, `Last-Modified`) and the links it followed from it.
//!
//! A crawl run again after it finished is a recrawl: every page is asked for conditionally, and
//! a page answered `304 Not Modified` is reported unchanged without being extracted again. Its
//! links are not in a `304`, so they are remembered here, and the recrawl follows them as if the
//! page had been read: an unchanged index still leads to the changed articles behind it.
//!
//! The memory is a hint, never a source of truth: it is written in batches of [`WRITE_BATCH`]
//! pages (a crash loses the batch being gathered, and those pages are fetched in full next
//! time), and a file that cannot be opened or read turns it off with a warning instead of
//! failing the crawl.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

use crate::executor::Validators;

const PAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("pages");
/// The first byte of every row: a future layout is refused, not misread.
const FORMAT: u8 = 1;
/// How many remembered pages [`PageMemory::commit`] gathers before it writes them.
const WRITE_BATCH: usize = 256;

/// One page as remembered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Remembered {
    pub(crate) validators: Option<Validators>,
    pub(crate) links: Vec<String>,
}

/// The pages a crawl fetched, by URL, in a redb file beside its frontier.
pub(crate) struct PageMemory {
    db: Database,
    path: PathBuf,
    staged: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for PageMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageMemory")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PageMemory {
    /// The memory kept beside the state file `state` (`<state>.pages.redb`); `None`, with a
    /// warning, when it cannot be opened.
    pub(crate) fn beside(state: &Path) -> Option<Self> {
        let path = Self::path_beside(state);
        let opened = catch_unwind(AssertUnwindSafe(|| Database::create(&path)));
        match opened {
            Ok(Ok(db)) => Some(Self {
                db,
                path,
                staged: Vec::new(),
            }),
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "pages will not be remembered for a recrawl");
                None
            }
            Err(_) => {
                tracing::warn!(path = %path.display(), "the page memory is damaged; pages will not be remembered");
                None
            }
        }
    }

    /// Where [`beside`](Self::beside) keeps the memory of `state`.
    pub(crate) fn path_beside(state: &Path) -> PathBuf {
        let mut name = state.as_os_str().to_owned();
        name.push(".pages");
        PathBuf::from(name)
    }

    /// What was remembered of `url`, if anything (staged writes included).
    pub(crate) fn get(&self, url: &str) -> Option<Remembered> {
        if let Some((_, row)) = self.staged.iter().rev().find(|(u, _)| u == url) {
            return decode(row);
        }
        let read = catch_unwind(AssertUnwindSafe(|| -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = match txn.open_table(PAGES) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(table.get(url)?.map(|v| v.value().to_vec()))
        }));
        match read {
            Ok(Ok(row)) => row.as_deref().and_then(decode),
            Ok(Err(e)) => {
                tracing::debug!(path = %self.path.display(), error = %e, "a remembered page could not be read");
                None
            }
            Err(_) => None,
        }
    }

    /// Remembers `url`'s validators and links (written at the next [`commit`](Self::commit)).
    pub(crate) fn remember(&mut self, url: &str, validators: Option<&Validators>, links: &[String]) {
        self.staged.push((url.to_string(), encode(validators, links)));
    }

    /// Writes what was remembered since the last commit, once [`WRITE_BATCH`] pages are staged
    /// or when `now` (the crawl's end), and waits for the disk. A transaction costs the crawl's
    /// loop about as much for one page as for hundreds, so pages are written in batches; a
    /// crash loses the batch being staged, and those pages are fetched in full next time.
    pub(crate) fn commit(&mut self, now: bool) {
        if self.staged.is_empty() || (!now && self.staged.len() < WRITE_BATCH) {
            return;
        }
        let staged = std::mem::take(&mut self.staged);
        let written = catch_unwind(AssertUnwindSafe(|| -> Result<(), redb::Error> {
            let mut txn = self.db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            {
                let mut table = txn.open_table(PAGES)?;
                for (url, row) in &staged {
                    table.insert(url.as_str(), row.as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        }));
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(path = %self.path.display(), error = %e, "remembered pages were not written"),
            Err(_) => tracing::warn!(path = %self.path.display(), "remembered pages were not written (redb panicked)"),
        }
    }
}

/// A row: the format byte, the ETag and Last-Modified (each a `u16` length, `u16::MAX` for
/// none), the number of links (`u32`) and each link (`u16` length and bytes).
fn encode(validators: Option<&Validators>, links: &[String]) -> Vec<u8> {
    let mut row = vec![FORMAT];
    let field = |row: &mut Vec<u8>, value: Option<&str>| match value.filter(|v| v.len() < usize::from(u16::MAX)) {
        Some(v) => {
            row.extend_from_slice(&(v.len() as u16).to_le_bytes());
            row.extend_from_slice(v.as_bytes());
        }
        None => row.extend_from_slice(&u16::MAX.to_le_bytes()),
    };
    field(&mut row, validators.and_then(|v| v.etag.as_deref()));
    field(&mut row, validators.and_then(|v| v.last_modified.as_deref()));
    let kept: Vec<&String> = links.iter().filter(|l| l.len() < usize::from(u16::MAX)).collect();
    row.extend_from_slice(&(kept.len() as u32).to_le_bytes());
    for link in kept {
        row.extend_from_slice(&(link.len() as u16).to_le_bytes());
        row.extend_from_slice(link.as_bytes());
    }
    row
}

fn decode(row: &[u8]) -> Option<Remembered> {
    let (&format, mut rest) = row.split_first()?;
    if format != FORMAT {
        return None;
    }
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let mut field = || -> Option<Option<String>> {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?);
        if len == u16::MAX {
            return Some(None);
        }
        Some(Some(String::from_utf8(take(usize::from(len))?.to_vec()).ok()?))
    };
    let etag = field()?;
    let last_modified = field()?;
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let mut links = Vec::with_capacity(count.min(4096) as usize);
    for _ in 0..count {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?);
        links.push(String::from_utf8(take(usize::from(len))?.to_vec()).ok()?);
    }
    Some(Remembered {
        validators: Validators::new(etag, last_modified),
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_bad_rows_are_none() {
        let v = Validators::new(Some("\"abc\"".into()), None);
        let links = vec!["https://a.example/x".to_string(), String::new()];
        let row = encode(v.as_ref(), &links);
        assert_eq!(decode(&row), Some(Remembered { validators: v, links }));
        assert_eq!(decode(&encode(None, &[])), Some(Remembered::default()));
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[2, 0, 0]), None, "another format");
        assert_eq!(decode(&row[..row.len() - 1]), None, "cut short");
    }

    #[test]
    fn remembered_pages_survive_reopening_and_staged_ones_are_read() {
        let dir = tempfile::tempdir().expect("dir");
        let state = dir.path().join("crawl.redb");
        let mut memory = PageMemory::beside(&state).expect("opens");
        let v = Validators::new(None, Some("Sun, 06 Dec 2026 01:00:00 GMT".into()));
        memory.remember("https://a.example/", v.as_ref(), &["https://a.example/b".into()]);
        assert_eq!(memory.get("https://a.example/").and_then(|r| r.validators), v, "staged");
        memory.commit(true);
        drop(memory);
        let memory = PageMemory::beside(&state).expect("reopens");
        let page = memory.get("https://a.example/").expect("remembered");
        assert_eq!(page.links, ["https://a.example/b"]);
        assert_eq!(memory.get("https://a.example/other"), None);
    }

    #[test]
    fn pages_are_written_a_batch_at_a_time() {
        let dir = tempfile::tempdir().expect("dir");
        let state = dir.path().join("crawl.redb");
        let url = |i: usize| format!("https://a.example/{i}");
        let mut memory = PageMemory::beside(&state).expect("opens");
        for i in 0..WRITE_BATCH - 1 {
            memory.remember(&url(i), None, &[]);
        }
        memory.commit(false);
        drop(memory);
        let mut memory = PageMemory::beside(&state).expect("reopens");
        assert_eq!(memory.get(&url(0)), None, "a batch short of full is not written");
        for i in 0..WRITE_BATCH {
            memory.remember(&url(i), None, &[]);
        }
        memory.commit(false);
        drop(memory);
        let memory = PageMemory::beside(&state).expect("reopens");
        assert!(memory.get(&url(0)).is_some(), "a full batch is written");
        assert!(
            memory.get(&url(WRITE_BATCH - 1)).is_some(),
            "the whole batch is written"
        );
    }

    #[test]
    fn a_damaged_file_turns_the_memory_off_instead_of_failing() {
        let dir = tempfile::tempdir().expect("dir");
        let state = dir.path().join("crawl.redb");
        std::fs::write(PageMemory::path_beside(&state), b"not a database at all").expect("write");
        assert!(PageMemory::beside(&state).is_none());
    }
}
