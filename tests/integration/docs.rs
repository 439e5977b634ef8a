//! The docs stay true to the code: README.md and docs/*.md are read, and
//!
//! - every `riptide ...` command line in their shell and text code blocks names a command the
//!   binary has, with flags its `--help` lists (the commands themselves are not run);
//! - every section header and `key = value` line in their `toml` code blocks, commented ones
//!   included, is a key the configuration reads (and every block's active lines load together);
//!   `toml workload` blocks are parsed as workload files, `toml cargo` blocks are a manifest
//!   and left alone;
//! - every relative link, and every `#anchor` in one, resolves.
//!
//! A failure names the file, the line and what is wrong.

#![cfg(feature = "cli")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use riptide::{ConfigLoader, RiptideConfig};

/// Subcommands the binary has only when built with `nats`.
const NATS_COMMANDS: &[&str] = &["worker", "submit", "queue"];

/// Flags of other commands the binary has only when built with `nats` (`crawl --nats`).
const NATS_FLAGS: &[&str] = &["--nats", "--cancel"];

struct Doc {
    /// Relative to the repository, as failures print it.
    name: String,
    path: PathBuf,
    text: String,
}

struct Block {
    /// The fence's info string (`sh`, `toml workload`, ...).
    info: String,
    /// (line number, line) of each line inside the fences.
    lines: Vec<(usize, String)>,
}

impl Block {
    fn language(&self) -> &str {
        self.info.split([' ', ',']).next().unwrap_or("")
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn docs() -> Vec<Doc> {
    let mut paths = vec![root().join("README.md")];
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("a docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    assert!(!chapters.is_empty(), "docs/ has no chapters");
    paths.extend(chapters);
    paths
        .into_iter()
        .map(|path| Doc {
            name: path.strip_prefix(root()).unwrap_or(&path).display().to_string(),
            text: std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            path,
        })
        .collect()
}

/// The fenced code blocks of `doc`.
fn blocks(doc: &Doc) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in doc.text.lines().enumerate() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_string(),
                    lines: Vec::new(),
                })
            }
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some(block), None) => block.lines.push((i + 1, line.to_string())),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{}: a code block is never closed", doc.name);
    blocks
}

// ---------------------------------------------------------------------------------------------
// Commands

/// The binary's help for a command path, and what it lists: (subcommands, long flags).
struct Help {
    subcommands: Vec<String>,
    flags: Vec<String>,
}

struct Binary {
    helps: HashMap<Vec<String>, Help>,
}

impl Binary {
    fn help(&mut self, path: &[String]) -> &Help {
        self.helps.entry(path.to_vec()).or_insert_with(|| {
            let out = Command::new(env!("CARGO_BIN_EXE_riptide"))
                .args(path)
                .arg("--help")
                .env(
                    "RIPTIDE_HOME",
                    std::env::temp_dir().join("riptide-docs-test-unused-home"),
                )
                .output()
                .expect("run riptide --help");
            assert!(
                out.status.success(),
                "`riptide {} --help` failed: {}",
                path.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            parse_help(&String::from_utf8_lossy(&out.stdout))
        })
    }
}

/// Reads clap's help: entries are indented at most 6 spaces (descriptions that wrap, more).
fn parse_help(help: &str) -> Help {
    let mut section = "";
    let mut subcommands = Vec::new();
    let mut flags = Vec::new();
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        let entry = line.trim_start();
        if indent == 0 && entry.ends_with(':') {
            section = entry;
            continue;
        }
        if entry.is_empty() || indent > 6 {
            continue;
        }
        if section == "Commands:" {
            subcommands.extend(entry.split_whitespace().next().map(str::to_string));
        } else if section == "Options:" && entry.starts_with('-') {
            flags.extend(long_flags(entry).into_iter().take(1));
        }
    }
    Help { subcommands, flags }
}

/// The long flags (`--name`) a piece of a command line or a help entry names.
fn long_flags(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter_map(|token| {
            let token = token.trim_start_matches(['[', '(', '\'', '"']);
            let name: String = token
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty()).then(|| format!("--{name}"))
        })
        .collect()
}

/// A `riptide` command line found in a doc: where, and its words after `riptide`.
struct CommandLine {
    at: String,
    words: Vec<String>,
}

/// The `riptide ...` command lines of a shell or text block. A shell line continues after a
/// trailing `\`; a text line continues on indented lines that start with `[` or `-` (a
/// synopsis). Comments (`#` starting a word) end a line.
fn command_lines(doc: &Doc, block: &Block) -> Vec<CommandLine> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut continues = false;
    for (n, line) in &block.lines {
        let trimmed = line.trim_start();
        let synopsis_continuation = line.starts_with(char::is_whitespace)
            && (trimmed.starts_with('[') || trimmed.starts_with("--"))
            && logical.last().is_some_and(|(_, l)| is_riptide_command(l));
        match logical.last_mut() {
            Some((_, last)) if continues || synopsis_continuation => {
                last.push(' ');
                last.push_str(trimmed);
            }
            _ => logical.push((*n, trimmed.to_string())),
        }
        continues = trimmed.ends_with('\\');
        if let Some((_, last)) = logical.last_mut()
            && continues
        {
            last.pop();
        }
    }
    logical
        .into_iter()
        .filter_map(|(n, line)| {
            let words: Vec<&str> = line.split_whitespace().take_while(|w| !w.starts_with('#')).collect();
            let start = words
                .iter()
                .enumerate()
                .position(|(i, w)| *w == "riptide" && (i == 0 || ["$", "|", "&&", ";"].contains(&words[i - 1])))?;
            let words = words[start + 1..]
                .iter()
                .take_while(|w| !["|", "&&", ";", ">", ">>", "<", "2>&1"].contains(w))
                .map(|w| w.to_string())
                .collect();
            Some(CommandLine {
                at: format!("{}:{n}", doc.name),
                words,
            })
        })
        .collect()
}

fn is_riptide_command(line: &str) -> bool {
    let line = line.trim_start().trim_start_matches("$ ");
    line == "riptide" || line.starts_with("riptide ") || line.contains("| riptide ")
}

/// Checks one command line against the binary: `Err` says what is wrong.
fn check_command(binary: &mut Binary, command: &CommandLine) -> Result<(), String> {
    let mut path: Vec<String> = Vec::new();
    let mut walking = true;
    let mut after_flag = false;
    for word in &command.words {
        if word.starts_with('-') || word.starts_with('[') {
            after_flag = true;
            continue;
        }
        if walking {
            let subcommands = &binary.help(&path).subcommands;
            if subcommands.is_empty() || word.starts_with('<') {
                walking = false;
            } else if subcommands.contains(word) {
                path.push(word.clone());
            } else if !after_flag {
                if !cfg!(feature = "nats") && path.is_empty() && NATS_COMMANDS.contains(&word.as_str()) {
                    return Ok(());
                }
                return Err(format!(
                    "`riptide {}` has no command `{word}` (it has: {})",
                    path.join(" "),
                    subcommands.join(", ")
                ));
            }
        }
        after_flag = false;
    }
    let help = binary.help(&path);
    let unknown: Vec<String> = long_flags(&command.words.join(" "))
        .into_iter()
        .filter(|flag| !help.flags.contains(flag))
        .filter(|flag| cfg!(feature = "nats") || !NATS_FLAGS.contains(&flag.as_str()))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "`riptide {}` does not accept {} (its flags: {})",
            path.join(" "),
            unknown.join(", "),
            help.flags.join(" ")
        ))
    }
}

#[test]
fn every_command_line_shown_names_real_commands_and_flags() {
    let mut binary = Binary { helps: HashMap::new() };
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in docs() {
        for block in blocks(&doc) {
            if !["sh", "shell", "bash", "console", "text", ""].contains(&block.language()) {
                continue;
            }
            for command in command_lines(&doc, &block) {
                checked += 1;
                if let Err(why) = check_command(&mut binary, &command) {
                    problems.push(format!("{}: {why}", command.at));
                }
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} command lines found: is the parser still reading the docs?"
    );
    assert!(
        problems.is_empty(),
        "command lines the binary does not accept:\n{}",
        problems.join("\n")
    );
}

/// Issue 28, item 11: a hint said to run `riptide serve --token`, a flag that does not exist.
/// Every `` `riptide ...` `` a message, hint or doc comment in the sources names must be a real
/// command with real flags.
#[test]
fn every_command_the_sources_name_is_real() {
    let mut binary = Binary { helps: HashMap::new() };
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut files = vec![root().join("src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("a source folder") {
                files.push(entry.expect("an entry").path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        for (n, line) in text.lines().enumerate() {
            for quoted in line.split('`').skip(1).step_by(2) {
                if !quoted.starts_with("riptide ") {
                    continue;
                }
                checked += 1;
                let command = CommandLine {
                    at: format!("{}:{}", path.strip_prefix(root()).unwrap_or(&path).display(), n + 1),
                    words: quoted.split_whitespace().skip(1).map(str::to_string).collect(),
                };
                if let Err(why) = check_command(&mut binary, &command) {
                    problems.push(format!("{}: {why}", command.at));
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} commands found in the sources");
    assert!(
        problems.is_empty(),
        "commands the sources name that the binary does not accept:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration keys

/// A `[section]` or `key = value` line of a `toml` block; commented ones (`# key = value`)
/// must be valid TOML once the `#` is taken away.
enum TomlLine {
    Section(String),
    Key { text: String, commented: bool },
    Other,
}

fn toml_line(line: &str) -> TomlLine {
    let trimmed = line.trim();
    let (body, commented) = match trimmed.strip_prefix('#') {
        Some(rest) => (rest.trim_start(), true),
        None => (trimmed, false),
    };
    if let Some(rest) = body.strip_prefix('[')
        && let Some(end) = rest.find(']')
        && !rest.starts_with('[')
    {
        let name = &rest[..end];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return TomlLine::Section(name.to_string());
        }
    }
    let key: String = body
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let is_key = !key.is_empty()
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && body[key.len()..].trim_start().starts_with('=');
    if is_key {
        TomlLine::Key {
            text: body.to_string(),
            commented,
        }
    } else {
        TomlLine::Other
    }
}

/// Loads `document` over the defaults as riptide's loader does (unknown keys and wrong types
/// are refused, since every section denies unknown fields), without the checks across keys.
fn load_keys(document: &str) -> Result<RiptideConfig, String> {
    Figment::from(Serialized::defaults(RiptideConfig::default()))
        .merge(Toml::string(document))
        .extract::<RiptideConfig>()
        .map_err(|e| e.to_string())
}

fn check_config_block(doc: &Doc, block: &Block, problems: &mut Vec<String>) -> usize {
    let mut section = String::new();
    let mut active = String::new();
    let mut keys = 0;
    for (n, line) in &block.lines {
        match toml_line(line) {
            TomlLine::Section(name) => {
                section = name;
                keys += 1;
                if let Err(why) = load_keys(&format!("[{section}]\n")) {
                    problems.push(format!("{}:{n}: section [{section}]: {why}", doc.name));
                }
                if !line.trim_start().starts_with('#') {
                    active.push_str(&format!("[{section}]\n"));
                }
            }
            TomlLine::Key { text, commented } => {
                keys += 1;
                let header = if section.is_empty() {
                    String::new()
                } else {
                    format!("[{section}]\n")
                };
                match load_keys(&format!("{header}{text}\n")) {
                    Err(why) => {
                        let key = text.split('=').next().unwrap_or("").trim();
                        let place = if section.is_empty() {
                            key.to_string()
                        } else {
                            format!("{section}.{key}")
                        };
                        let what = if commented { "commented key" } else { "key" };
                        problems.push(format!("{}:{n}: {what} `{place}`: {why}", doc.name));
                    }
                    Ok(_) if !commented => {
                        active.push_str(&text);
                        active.push('\n');
                    }
                    Ok(_) => {}
                }
            }
            TomlLine::Other => {}
        }
    }
    // The block's active lines together: a configuration riptide loads, checks across keys
    // included.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, &active).expect("write config");
    if let Err(e) = ConfigLoader::new().home(dir.path()).file(&file).load() {
        let first = block.lines.first().map_or(0, |(n, _)| *n);
        problems.push(format!(
            "{}:{first}: this block's keys together do not load: {e:#}",
            doc.name
        ));
    }
    keys
}

fn check_workload_block(doc: &Doc, block: &Block, problems: &mut Vec<String>) {
    let text: String = block.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    let first = block.lines.first().map_or(0, |(n, _)| *n);
    if let Err(e) = riptide::policies::simulate::Workload::from_toml_str(&text, &doc.name) {
        problems.push(format!(
            "{}:{first}: this workload file does not parse: {e:#}",
            doc.name
        ));
    }
}

#[test]
fn every_configuration_key_shown_is_one_riptide_reads() {
    let mut problems = Vec::new();
    let mut keys = 0;
    let mut workloads = 0;
    for doc in docs() {
        for block in blocks(&doc) {
            match (block.language(), block.info.split_whitespace().nth(1)) {
                ("toml", None) => keys += check_config_block(&doc, &block, &mut problems),
                ("toml", Some("workload")) => {
                    workloads += 1;
                    check_workload_block(&doc, &block, &mut problems);
                }
                ("toml", Some("cargo")) => {}
                ("toml", Some(other)) => problems.push(format!(
                    "{}: a `toml {other}` block: use `toml` (riptide's configuration), `toml workload` or `toml cargo`",
                    doc.name
                )),
                _ => {}
            }
        }
    }
    assert!(
        keys >= 80,
        "only {keys} configuration lines found: is the parser still reading the docs?"
    );
    assert!(workloads >= 1, "no workload file found in the docs");
    assert!(
        problems.is_empty(),
        "configuration shown in the docs that riptide does not read:\n{}",
        problems.join("\n")
    );
}

/// The checker itself: a made-up key, in a section or commented, is caught.
#[test]
fn the_key_check_refuses_what_riptide_would_refuse() {
    assert!(load_keys("[optimizations.browser_pool]\nmax_instances = 4\n").is_ok());
    assert!(load_keys("[optimizations.browser_pool]\nmax_instance = 4\n").is_err());
    assert!(load_keys("[optimizations.browser_pol]\n").is_err());
    assert!(
        load_keys("[network]\nproxy = \"http://proxy:3128\"\n").is_ok(),
        "an Option key, unset by default"
    );
    assert!(load_keys("[server]\nmax_queued = \"many\"\n").is_err(), "a wrong type");
    match toml_line("# chrome_path = \"/usr/bin/chromium\"   # RIPTIDE_CHROME_PATH") {
        TomlLine::Key { text, commented: true } => {
            assert!(load_keys(&format!("[optimizations.browser_pool]\n{text}")).is_ok())
        }
        _ => panic!("a commented key line is a key line"),
    }
    assert!(matches!(
        toml_line("# the keys of [optimizations.adaptive_timeout]"),
        TomlLine::Other
    ));
}

// ---------------------------------------------------------------------------------------------
// Links

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation other than `-` and
/// `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file (its headings outside code blocks; repeats get `-1`, `-2`).
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = Vec::new();
    let mut fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence || !line.starts_with('#') {
            continue;
        }
        let base = slug(line.trim_start_matches('#'));
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.push(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// The targets of the inline links `[text](target)` of a line.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                targets.push(after[..end].to_string());
                rest = &after[end..];
            }
            None => break,
        }
    }
    targets
}

#[test]
fn every_relative_link_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in docs() {
        let dir = doc.path.parent().unwrap_or(Path::new("."));
        let mut fence = false;
        for (i, line) in doc.text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                fence = !fence;
                continue;
            }
            if fence {
                continue;
            }
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (file, anchor) = match target.split_once('#') {
                    Some((file, anchor)) => (file, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let path = if file.is_empty() {
                    doc.path.clone()
                } else {
                    dir.join(file)
                };
                let at = format!("{}:{}", doc.name, i + 1);
                if !path.exists() {
                    problems.push(format!("{at}: `{target}`: {} does not exist", path.display()));
                    continue;
                }
                if let Some(anchor) = anchor {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    if !anchors(&text).iter().any(|a| a == anchor) {
                        problems.push(format!("{at}: `{target}`: no heading has the anchor #{anchor}"));
                    }
                }
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} links found: is the parser still reading the docs?"
    );
    assert!(
        problems.is_empty(),
        "links that do not resolve:\n{}",
        problems.join("\n")
    );
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(slug("The server (`riptide serve`)"), "the-server-riptide-serve");
    assert_eq!(slug("A page's time limit"), "a-pages-time-limit");
    assert_eq!(slug("robots.txt"), "robotstxt");
    assert_eq!(anchors("# A\n```\n# not a heading\n```\n## A\n"), ["a", "a-1"]);
}
