//! ARCHITECTURE.md's import rule stays true: no two files under `src/` import each other, even
//! through others ("Imports point down the picture above, and never in a circle").
//!
//! Every `.rs` file under `src/` is a module. A file uses another when it names a path into it
//! (`crate::a::b`, `super::b`, `self::b`, in a `use` or inline); doc comments, line comments and
//! the `#[cfg(test)] mod tests` at a file's end are left out, since they build nothing the
//! library ships. A module and its own parent or child may use each other (a parent declares
//! its children and re-exports them); any other circle is a failure that lists it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path inside its crate, e.g. `["server", "routes"]`; the crate itself is `[]`.
type ModPath = Vec<String>;

/// The library's modules and, under a key starting with `bin/riptide`, the binary's.
fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).expect("under src");
                let mut parts: ModPath = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
                let last = parts.pop().expect("a file name");
                let stem = last.trim_end_matches(".rs");
                if !matches!(stem, "mod" | "lib" | "main") {
                    parts.push(stem.to_string());
                }
                out.insert(parts, path);
            }
        }
    }
    out
}

/// The crate root a module belongs to: the binary's files live under `bin/riptide`.
fn crate_root(module: &ModPath) -> ModPath {
    if module.len() >= 2 && module[0] == "bin" {
        module[..2].to_vec()
    } else {
        Vec::new()
    }
}

/// The file's code without comments and without its trailing test module.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths `text` names that start with `crate`, `super` or `self`: each as its first
/// keyword and the identifiers after it; a `use` group (`super::{a, b::c}`) is one path per
/// item.
fn paths_in(text: &str) -> Vec<(String, Vec<String>)> {
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if is_ident(bytes[i]) && (i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':') {
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            let word = &text[start..i];
            if matches!(word, "crate" | "super" | "self") && text[i..].starts_with("::") {
                let mut rest = Vec::new();
                while text[i..].starts_with("::") {
                    let from = i + 2;
                    let mut end = from;
                    while end < bytes.len() && is_ident(bytes[end]) {
                        end += 1;
                    }
                    if end == from {
                        break;
                    }
                    rest.push(text[from..end].to_string());
                    i = end;
                }
                if text[i..].starts_with("::{") {
                    for item in group_items(&text[i + 3..]) {
                        let mut path = rest.clone();
                        path.extend(
                            item.split("::")
                                .map(str::trim)
                                .filter(|p| !p.is_empty() && *p != "self")
                                .map(String::from),
                        );
                        out.push((word.to_string(), path));
                    }
                }
                out.push((word.to_string(), rest));
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The items of a `use` group, from just after its `{`: each item's leading path (`b::c` of
/// `b::c::{d, e}` or `b::c as x`), nested groups left at their prefix.
fn group_items(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let (mut depth, mut item) = (0u32, String::new());
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => items.push(std::mem::take(&mut item)),
            c if depth == 0 => item.push(c),
            _ => {}
        }
    }
    items.push(item);
    items
        .iter()
        .map(|item| {
            let path = item.split(" as ").next().unwrap_or_default().trim();
            path.trim_end_matches("::").to_string()
        })
        .filter(|item| item.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_'))
        .collect()
}

fn is_ancestor(a: &ModPath, b: &ModPath) -> bool {
    a.len() < b.len() && b[..a.len()] == a[..]
}

/// The circles of imports among the files under `src`, each written once, plus how many files
/// and uses were read.
fn circles_in(src: &Path) -> (usize, usize, BTreeSet<String>) {
    let modules = modules(src);
    let mut uses: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (module, path) in &modules {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let targets = uses.entry(module.clone()).or_default();
        for (start, rest) in paths_in(&code_of(&text)) {
            let mut full = match start.as_str() {
                "crate" => crate_root(module),
                "super" => module[..module.len().saturating_sub(1)].to_vec(),
                _ => module.clone(),
            };
            // `super::super::x`: each further `super` is one level up.
            let ups = if start == "super" {
                rest.iter().take_while(|p| *p == "super").count()
            } else {
                0
            };
            full.truncate(full.len().saturating_sub(ups));
            full.extend(rest.into_iter().skip(ups));
            // The longest prefix that is a file is the module the path goes into.
            let target = (1..=full.len())
                .rev()
                .map(|n| full[..n].to_vec())
                .find(|m| modules.contains_key(m));
            if let Some(target) = target
                && &target != module
                && !is_ancestor(&target, module)
                && !is_ancestor(module, &target)
            {
                targets.insert(target);
            }
        }
    }

    // A circle is a path back to where it started: depth-first search with the path on a stack.
    let name = |m: &ModPath| m.join("/");
    let mut circles = BTreeSet::new();
    for start in uses.keys() {
        let mut stack: Vec<(ModPath, Vec<ModPath>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in uses.get(&at).into_iter().flatten() {
                if next == start {
                    let mut circle: Vec<String> = path.iter().map(name).collect();
                    // Written from its smallest member, so each circle is listed once.
                    let min = circle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, n)| (*n).clone())
                        .map_or(0, |(i, _)| i);
                    circle.rotate_left(min);
                    circles.insert(circle.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    (modules.len(), uses.values().map(BTreeSet::len).sum(), circles)
}

#[test]
fn no_module_under_src_imports_in_a_circle() {
    let (files, uses, circles) = circles_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        files > 100 && uses > 200,
        "the scan found too little to judge ({files} files, {uses} uses): is src/ where it was?"
    );
    assert!(
        circles.is_empty(),
        "files under src/ import each other in a circle (ARCHITECTURE.md: imports never circle; \
         move what both need into a file of its own):\n{}",
        circles.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_scan_finds_a_circle_and_allows_parents() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("server")).expect("mkdir");
    for (file, text) in [
        ("lib.rs", "mod a;\nmod b;\nmod c;\nmod server;\n"),
        ("a.rs", "use crate::b::Thing;\n// crate::server::x is a comment\n"),
        ("b.rs", "pub fn f() { crate::a::g(); }\n"),
        ("c.rs", "use crate::server::routes::Router;\n"),
        ("server.rs", "mod guard;\nmod routes;\npub use self::routes::Router;\n"),
        ("server/guard.rs", "use super::{problem, routes::Shared as S};\n"),
        (
            "server/routes.rs",
            "use super::{State, guard::{check, Site}};\nfn f() { super::super::c::g(); }\n\
             #[cfg(test)]\nmod tests {\n    use crate::a::x;\n}\n",
        ),
    ] {
        std::fs::write(src.join(file), text).expect("write");
    }
    let (files, _, circles) = circles_in(src);
    assert_eq!(files, 7);
    assert_eq!(
        circles.into_iter().collect::<Vec<_>>(),
        ["a -> b", "c -> server/routes", "server/guard -> server/routes"],
        "through a path, a `use` group and `super::super`"
    );
}
