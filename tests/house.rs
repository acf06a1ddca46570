//! The shape of the house, checked by the test command: no import cycle between modules
//! (between top-level modules, and between sibling files of one folder), and no source file
//! over 600 lines unless it is on the short list below with the reason.
//!
//! The module graph is read from the source text: every `crate::…` and `super::…` path a
//! file names (including `use crate::{a, b::{c, d}}` groups), with comments, string literals
//! and `#[cfg(test)]` modules left out (tests may reach anywhere). Each check is also run on
//! small planted trees, so it is known to find what it looks for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files allowed over [`MAX_LINES`], and why: one job that would be harder to read split.
const LONG_FILES: &[(&str, &str)] = &[];

const MAX_LINES: usize = 600;

type Module = Vec<String>;

/// Every `.rs` file below `src`, as (path, module path), test-only files left out.
fn modules(src: &Path) -> Vec<(PathBuf, Module)> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    stack.push(path);
                }
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            if !name.ends_with(".rs") || name == "tests.rs" || name.ends_with("_tests.rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap_or(&path).with_extension("");
            let mut module: Module = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                module.pop();
            }
            out.push((path, module));
        }
    }
    out.sort();
    out
}

/// The text with comments, string and char literals blanked and `#[cfg(test)]` items cut.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if rest.starts_with("'\"'") || rest.starts_with("'\\\"'") {
            // A quote as a char literal opens no string.
            i += rest[1..].find('\'').map_or(rest.len(), |e| e + 2);
            out.push_str("' '");
        } else if let Some(raw) = rest.strip_prefix("r#\"") {
            i += raw.find("\"#").map_or(rest.len(), |e| e + 5);
            out.push_str("\"\"");
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() && rest.as_bytes()[j] != b'"' {
                j += if rest.as_bytes()[j] == b'\\' { 2 } else { 1 };
            }
            i += (j + 1).min(rest.len());
            out.push_str("\"\"");
        } else if rest.starts_with("#[cfg(test)]") {
            i += skip_item(rest);
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The length of the item after an attribute: up to its `;` or its matching `}`.
fn skip_item(text: &str) -> usize {
    let mut depth = 0usize;
    for (at, c) in text.char_indices().skip("#[cfg(test)]".len()) {
        match c {
            '{' => depth += 1,
            '}' if depth <= 1 => return at + 1,
            '}' => depth -= 1,
            ';' if depth == 0 => return at + 1,
            _ => {}
        }
    }
    text.len()
}

/// Every module path `code` names, from the file's module `module`.
fn references(module: &[String], code: &str) -> BTreeSet<Module> {
    let mut found = BTreeSet::new();
    for (root, base) in [("crate::", Vec::new()), ("super::", module[..module.len().saturating_sub(1)].to_vec())] {
        let mut from = 0;
        while let Some(at) = code[from..].find(root) {
            let start = from + at;
            from = start + root.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for path in use_paths(&code[from..]) {
                let mut full = base.clone();
                full.extend(path);
                found.insert(full);
            }
        }
    }
    found
}

/// The paths of a use tree: `a::b::c` → [[a, b, c]]; `{a, b::{c, d}}` → [[a], [b, c], [b, d]].
fn use_paths(text: &str) -> Vec<Module> {
    let text = text.trim_start();
    if let Some(inner) = text.strip_prefix('{') {
        let mut depth = 0usize;
        let mut parts = Vec::new();
        let mut start = 0;
        for (at, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    parts.push(&inner[start..at]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&inner[start..at]);
                    start = at + 1;
                }
                _ => {}
            }
        }
        return parts.into_iter().flat_map(use_paths).filter(|p| !p.is_empty()).collect();
    }
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.is_empty() || word == "self" {
            break;
        }
        path.push(word.to_string());
        rest = &rest[end..];
        match rest.strip_prefix("::") {
            Some(after) if after.starts_with('{') => {
                return use_paths(after).into_iter().map(|tail| [path.clone(), tail].concat()).collect();
            }
            Some(after) => rest = after,
            None => break,
        }
    }
    vec![path]
}

/// Module-to-module edges at both levels: (top-level edges, sibling edges).
fn edges(files: &[(PathBuf, Module, String)]) -> (Graph, Graph) {
    let known: BTreeSet<&Module> = files.iter().map(|(_, m, _)| m).collect();
    let resolve = |path: &Module| (1..=path.len()).rev().map(|k| path[..k].to_vec()).find(|p| known.contains(p));
    let (mut top, mut siblings) = (Graph::new(), Graph::new());
    for (_, module, code) in files {
        if module.is_empty() {
            continue;
        }
        for target in references(module, code).iter().filter_map(resolve) {
            if &target == module {
                continue;
            }
            if target[0] != module[0] {
                top.entry(vec![module[0].clone()]).or_default().insert(vec![target[0].clone()]);
            } else if module.len() >= 2
                && target.len() >= module.len()
                && target[..module.len() - 1] == module[..module.len() - 1]
            {
                let sibling = target[..module.len()].to_vec();
                if &sibling != module {
                    siblings.entry(module.clone()).or_default().insert(sibling);
                }
            }
        }
    }
    (top, siblings)
}

type Graph = BTreeMap<Module, BTreeSet<Module>>;

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a Module) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        for next in w.graph.get(v).into_iter().flatten() {
            if !w.index.contains_key(next) {
                visit(w, next);
                let low = w.low[v].min(w.low[next]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(next) {
                let low = w.low[v].min(w.index[next]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(m) = w.stack.pop() {
                w.on_stack.remove(m);
                component.push(m.join("::"));
                if m == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v) {
            visit(&mut walk, v);
        }
    }
    walk.found
}

fn read_tree(src: &Path) -> Vec<(PathBuf, Module, String)> {
    modules(src)
        .into_iter()
        .map(|(path, module)| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, module, code_only(&text))
        })
        .collect()
}

/// Every import cycle in the tree at `src`, one line each.
fn import_cycles(src: &Path) -> Vec<String> {
    let (top, siblings) = edges(&read_tree(src));
    let top = cycles(&top).into_iter().map(|c| format!("between top-level modules: {}", c.join(" <-> ")));
    let siblings = cycles(&siblings).into_iter().map(|c| format!("between sibling files: {}", c.join(" <-> ")));
    top.chain(siblings).collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let files = read_tree(&src());
    let (top, siblings) = edges(&files);
    // Not vacuous: the graph this test reads is the real one, with its layers.
    assert!(files.len() > 60, "only {} source files read", files.len());
    let top_edges: usize = top.values().map(BTreeSet::len).sum();
    assert!(top_edges > 30, "only {top_edges} edges between top-level modules read");
    assert!(top[&vec!["reconcile".to_string()]].contains(&vec!["model".to_string()]), "reconcile -> model not seen");
    let found = import_cycles(&src());
    assert!(
        found.is_empty(),
        "import cycles (types flow down: move what both sides need below both):\n{}",
        found.join("\n")
    );
    let _ = siblings;
}

#[test]
fn no_source_file_is_over_600_lines_unless_listed_with_its_reason() {
    let mut long = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let lines = std::fs::read_to_string(&path).expect("readable").lines().count();
                let rel = path.strip_prefix(src()).unwrap_or(&path).display().to_string();
                if lines > MAX_LINES && !LONG_FILES.iter().any(|(f, _)| *f == rel) {
                    long.push(format!("src/{rel}: {lines} lines"));
                }
            }
        }
    }
    long.sort();
    assert!(long.is_empty(), "split these by job (or list one in LONG_FILES with why):\n{}", long.join("\n"));
}

/// A planted tree: `a` uses `b`, `b` uses `c`; `extra` is added to `b`'s folder files.
fn planted(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

#[test]
fn a_planted_top_level_cycle_is_found() {
    let acyclic = [
        ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
        ("a.rs", "use crate::b::Thing;"),
        ("b/mod.rs", "pub mod x; pub mod y;"),
        ("b/x.rs", "use crate::{c::Low, model};"),
        ("b/y.rs", "use super::x::Z;"),
        ("c.rs", "// crate::a::Nothing: a comment names a but is no edge\nconst S: &str = \"crate::a::X\";"),
    ];
    assert!(import_cycles(planted(&acyclic).path()).is_empty());

    let mut cyclic = acyclic.to_vec();
    cyclic[5] = ("c.rs", "fn f() { let _ = crate::a::back(); }");
    let found = import_cycles(planted(&cyclic).path());
    assert_eq!(found, ["between top-level modules: a <-> b <-> c"]);

    // A nested use group is read too.
    cyclic[5] = ("c.rs", "use crate::{model, b::{x::Deep, y}};");
    let found = import_cycles(planted(&cyclic).path());
    assert_eq!(found, ["between top-level modules: b <-> c"]);
}

#[test]
fn a_planted_cycle_between_sibling_files_is_found_and_test_code_is_not_counted() {
    let mut files = vec![
        ("lib.rs", "pub mod p;"),
        ("p/mod.rs", "pub mod x; pub mod y;"),
        ("p/x.rs", "use super::y::Y;"),
        ("p/y.rs", "#[cfg(test)]\nmod tests { use super::super::x::X; }\npub struct Y;"),
    ];
    assert!(import_cycles(planted(&files).path()).is_empty());
    files[3] = ("p/y.rs", "use crate::p::x::X;\npub struct Y;");
    assert_eq!(import_cycles(planted(&files).path()), ["between sibling files: p::x <-> p::y"]);
}
