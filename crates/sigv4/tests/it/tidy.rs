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
