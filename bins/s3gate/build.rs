//! Records build information for `s3gate --version` and the `s3gate_build_info` metric: the
//! git commit (from `S3GATE_GIT_COMMIT`, else `git` if it is installed and this is a checkout,
//! else "unknown"), the target and the compiler. Never fails: a build from a source tarball
//! without git is a normal build.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=S3GATE_GIT_COMMIT");
    let commit = std::env::var("S3GATE_GIT_COMMIT")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| run("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // Rebuild the version string when HEAD moves (a commit, a checkout).
    for path in [
        run("git", &["rev-parse", "--git-path", "HEAD"]),
        run("git", &["symbolic-ref", "-q", "HEAD"])
            .and_then(|r| run("git", &["rev-parse", "--git-path", &r])),
        run("git", &["rev-parse", "--git-path", "packed-refs"]),
    ]
    .into_iter()
    .flatten()
    {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_owned());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = run(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=S3GATE_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=S3GATE_BUILD_TARGET={target}");
    println!("cargo:rustc-env=S3GATE_BUILD_PROFILE={profile}");
    println!("cargo:rustc-env=S3GATE_RUSTC_VERSION={rustc_version}");
}

/// Trimmed stdout of a successful command, or `None` for any failure.
fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}
