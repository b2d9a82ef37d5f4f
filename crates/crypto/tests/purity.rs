//! Architecture invariant: s3gate-crypto does no I/O. It depends on no runtime, HTTP, database
//! or other s3gate crate, and its sources touch no file, socket, clock, environment, process or
//! thread; the one outside input is the operating system's random generator, through ring.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::Path;

fn manifest_dependencies() -> Vec<String> {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && let Some((name, _)) = line.split_once('=') {
            names.push(name.trim().split('.').next().unwrap().to_owned());
        }
    }
    names
}

#[test]
fn manifest_has_no_io_dependencies() {
    let deps = manifest_dependencies();
    assert!(deps.contains(&"ring".to_owned()), "the parser found {deps:?}");
    for dep in &deps {
        assert!(
            !dep.starts_with("s3gate-")
                && ![
                    "tokio",
                    "hyper",
                    "hyper-util",
                    "http",
                    "rusqlite",
                    "tokio-postgres",
                    "anyhow"
                ]
                .contains(&dep.as_str()),
            "s3gate-crypto must not depend on {dep}"
        );
    }
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
    assert!(files.len() >= 7);
    let banned = [
        "std::fs",
        "std::env",
        "std::io",
        "std::net",
        "SystemTime",
        "Instant::now",
        "std::process",
        "std::thread",
        "println!",
        "eprintln!",
    ];
    for (path, text) in files {
        for needle in banned {
            assert!(!text.contains(needle), "{path} uses {needle}");
        }
    }
}
