//! The architecture rules of docs/ARCHITECTURE.md that a test can check by reading the
//! workspace: which crate may depend on which, and where the environment and anyhow live.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Names in the `[dependencies]` table of a crate's manifest (not dev- or build-dependencies).
fn dependencies(crate_dir: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(crate_dir).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                out.push(name.split('.').next().unwrap().trim_matches('"').to_owned());
            }
        }
    }
    assert!(!out.is_empty(), "{crate_dir} has no [dependencies]: the parser is broken");
    out
}

fn check_forbidden(crate_dir: &str, forbidden: &[&str]) {
    let deps = dependencies(crate_dir);
    let bad: Vec<&String> = deps.iter().filter(|d| forbidden.contains(&d.as_str())).collect();
    assert!(bad.is_empty(), "{crate_dir} must not depend on {bad:?} (docs/ARCHITECTURE.md)");
}

#[test]
fn dependency_direction() {
    let io = ["tokio", "hyper", "hyper-util", "rusqlite", "tokio-util"];
    let ours = [
        "s3gate-metadata",
        "s3gate-storage-backend",
        "s3gate-engine",
        "s3gate-server",
        "s3gate-protocol",
        "s3gate-sigv4",
    ];
    // Pure leaves: no I/O runtime, no database, no other crate of ours.
    for leaf in ["crates/s3-protocol", "crates/sigv4"] {
        check_forbidden(leaf, &io);
        check_forbidden(leaf, &ours);
    }
    // The trait crates depend on no other crate of ours (sigv4 arrives with the S3 proxy).
    check_forbidden("crates/metadata", &ours);
    check_forbidden("crates/metadata", &["hyper", "http"]);
    check_forbidden(
        "crates/storage-backend",
        &["s3gate-metadata", "s3gate-engine", "s3gate-server", "s3gate-protocol", "rusqlite"],
    );
    // The engine knows no HTTP and no concrete store.
    check_forbidden("crates/engine", &["hyper", "hyper-util", "http", "http-body", "rusqlite"]);
    check_forbidden("crates/engine", &["s3gate-server", "s3gate-sigv4"]);
    // The events crate (record format, targets) stands alone until the outbox feeds it.
    check_forbidden("crates/events", &ours);
    check_forbidden("crates/events", &["s3gate-metrics", "rusqlite", "tokio-postgres"]);
    // anyhow and the CLI live in bins/ only.
    for c in ["s3-protocol", "sigv4", "metadata", "storage-backend", "engine", "server", "events"] {
        check_forbidden(&format!("crates/{c}"), &["anyhow", "clap", "tracing-subscriber"]);
    }
}

#[test]
fn only_bins_read_the_environment() {
    let mut offenders = Vec::new();
    let crates = workspace().join("crates");
    let mut stack = vec![crates];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // Tests may read their own switches; only library sources are held to the rule.
                if path.file_name().is_some_and(|n| n == "tests" || n == "examples") {
                    continue;
                }
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("env::var") || text.contains("tracing_subscriber") {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(offenders.is_empty(), "library code reads the environment: {offenders:?}");
}

/// The packages in the normal-dependency graph of `package` built with `flags`, as
/// `cargo tree` resolves its features (only what building that package alone enables).
fn graph(package: &str, flags: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args(["tree", "--offline", "--locked", "-e", "normal", "--prefix", "none", "-p", package])
        .args(flags)
        .current_dir(workspace())
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<String> =
        text.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect();
    assert!(names.iter().any(|n| n == package), "cargo tree listed no {package}: {text}");
    names
}

/// The trait crates and the engine build without the implementations' heavy dependencies:
/// SQLite and PostgreSQL are features of `s3gate-metadata`, the S3 proxy's HTTP client and TLS
/// a feature of `s3gate-storage-backend`, and the engine enables none of them (the binary
/// does). Checked over the resolved dependency graph, so a transitive path counts too.
#[test]
fn implementations_are_features() {
    let heavy = ["hyper", "hyper-util", "rustls", "rusqlite", "tokio-postgres"];
    let cases: [(&str, &[&str]); 3] = [
        ("s3gate-engine", &[]),
        ("s3gate-metadata", &["--no-default-features"]),
        ("s3gate-storage-backend", &["--no-default-features"]),
    ];
    for (package, flags) in cases {
        let names = graph(package, flags);
        let found: Vec<&str> =
            heavy.iter().copied().filter(|h| names.iter().any(|n| n == h)).collect();
        assert!(found.is_empty(), "{package} {flags:?} pulls in {found:?} (docs/ARCHITECTURE.md)");
    }
    // And the features do bring them: the check above would pass on a broken parser otherwise.
    let full = graph("s3gate-metadata", &[]);
    assert!(full.iter().any(|n| n == "rusqlite") && full.iter().any(|n| n == "tokio-postgres"));
    let proxy = graph("s3gate-storage-backend", &[]);
    assert!(proxy.iter().any(|n| n == "hyper") && proxy.iter().any(|n| n == "rustls"));
}
