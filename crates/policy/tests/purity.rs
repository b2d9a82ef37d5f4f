//! Architecture invariant: the policy crate is pure. It depends on no runtime, HTTP server,
//! database or storage crate, and its sources touch no file, socket, clock or environment.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::Path;

#[test]
fn manifest_has_no_io_dependencies() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            deps.push(name.split('.').next().unwrap().trim().to_owned());
        }
    }
    assert_eq!(deps, ["serde", "serde_json", "thiserror"], "new dependency: is it pure?");
}

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn sources_do_no_io() {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    assert!(files.len() >= 15);
    let banned = [
        "std::fs",
        "std::env",
        "std::io::std",
        "SystemTime::now",
        "Instant::now",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "std::process",
        "std::thread",
        "tokio",
        "hyper",
    ];
    for (path, text) in files {
        for needle in banned {
            assert!(!text.contains(needle), "{path} uses {needle}");
        }
    }
}
