//! Architecture invariant of this crate, checked: pure (no I/O runtime, no clock, no
//! environment, no HTTP server stack).

use std::fs;
use std::path::Path;

#[test]
fn crate_stays_pure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    for forbidden in ["tokio", "hyper", "rusqlite", "reqwest", "anyhow"] {
        assert!(!deps.contains(forbidden), "{forbidden} in [dependencies]");
    }
    for entry in fs::read_dir(root.join("src")).unwrap() {
        let path = entry.unwrap().path();
        let src = fs::read_to_string(&path).unwrap();
        for forbidden in [
            "SystemTime::now",
            "Instant::now",
            "std::env",
            "std::fs",
            "std::net",
            "std::io",
            "unsafe",
        ] {
            assert!(!src.contains(forbidden), "{} uses {forbidden}", path.display());
        }
        assert_ne!(path.file_name().unwrap(), "mod.rs", "no mod.rs");
    }
}

/// The modules of `src/` form no cycle (issue #14): each `crate::module::` path outside
/// comments is an arrow, and following the arrows never comes back.
#[test]
fn modules_form_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut arrows: Vec<(String, Vec<String>)> = Vec::new();
    for entry in fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" {
            continue;
        }
        let src = fs::read_to_string(&path).unwrap();
        let mut to: Vec<String> = Vec::new();
        for line in src.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let module: String =
                    rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !module.is_empty() && rest[module.len()..].starts_with("::") && module != name {
                    to.push(module);
                }
            }
            // `use crate::{a::x, b::y}` lists several modules in one path.
            if let Some(list) = line.trim_start().strip_prefix("use crate::{") {
                for item in list.split(',') {
                    if let Some((module, _)) = item.trim().split_once("::") {
                        to.push(module.to_owned());
                    }
                }
            }
        }
        to.sort();
        to.dedup();
        arrows.push((name, to));
    }
    assert!(arrows.len() >= 6, "{arrows:?}");
    let mut done = Vec::new();
    for (m, _) in &arrows {
        visit(m, &arrows, &mut Vec::new(), &mut done);
    }
}

/// Depth-first walk of the module arrows; panics on a module met again on the current path.
fn visit(
    m: &str,
    arrows: &[(String, Vec<String>)],
    path: &mut Vec<String>,
    done: &mut Vec<String>,
) {
    if done.iter().any(|d| d == m) {
        return;
    }
    assert!(!path.iter().any(|p| p == m), "module cycle: {} -> {m}", path.join(" -> "));
    path.push(m.to_owned());
    let next = arrows.iter().find(|(n, _)| n == m).map(|(_, t)| t.clone()).unwrap_or_default();
    for n in &next {
        visit(n, arrows, path, done);
    }
    path.pop();
    done.push(m.to_owned());
}
