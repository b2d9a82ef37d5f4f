//! The client matrix: the same scenario (create bucket, small and multipart uploads, listing
//! with a delimiter, ranged download, copy, batch delete, presigned GET, every byte compared by
//! SHA-256) run by the official AWS SDK for Rust in both checksum flavours, and by boto3, the
//! AWS CLI, rclone and s3cmd through the scripts in `tests/clients/`; versioning (issue 17)
//! through boto3, the AWS CLI and rclone's `--s3-versions`, and a restic repository on a
//! versioned bucket.
//!
//! The SDK scenario always runs. The external clients need programs that `.ci/run` installs
//! (boto3 and awscli into the venv at `$S3GATE_CLIENTS_VENV`, rclone, s3cmd and restic from
//! Debian):
//! they run when `S3GATE_TEST_CLIENTS=1` and fail, naming the missing program, if they cannot;
//! without the variable each prints that it skips and why.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};

use crate::harness::{
    Flavour, Gateway, REGION, create_bucket, expect_err, get, hyper_request, put, put_streaming,
    random_bytes, sha256_hex,
};

/// Longest a client script may run before it is killed and the test fails.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

/// Whether the external clients should run; prints why not when they should not.
fn clients_enabled(test: &str) -> bool {
    if std::env::var("S3GATE_TEST_CLIENTS").is_ok_and(|v| v == "1") {
        return true;
    }
    println!(
        "SKIP {test}: set S3GATE_TEST_CLIENTS=1 to run the external client matrix (`.ci/run` \
         does, after installing boto3 + awscli into a venv and rclone + s3cmd from Debian)"
    );
    false
}

/// `PATH` for the scripts: the clients venv's `bin` first, when `S3GATE_CLIENTS_VENV` names one.
fn client_path() -> OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("S3GATE_CLIENTS_VENV") {
        dirs.push(Path::new(&venv).join("bin"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH entries without separators")
}

/// Panics (the test fails, it is not skipped) if `program --version`-style `probe` fails.
fn require(program: &str, probe: &[&str]) {
    let status = Command::new(program)
        .args(probe)
        .env("PATH", client_path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        status.as_ref().is_ok_and(std::process::ExitStatus::success),
        "S3GATE_TEST_CLIENTS=1 but `{program} {}` does not work ({status:?}); \
         `.ci/run` installs it (venv at S3GATE_CLIENTS_VENV, or apt-get install rclone s3cmd)",
        probe.join(" ")
    );
}

/// Runs one client scenario against a fresh gateway; fails with the script's output unless it
/// exits 0.
fn run_scenario(name: &str, program: &str, script: &str) {
    let gw = Gateway::start();
    let work = tempfile::Builder::new().prefix("s3gate-client-").tempdir().expect("tempdir");
    let out_path = work.path().join("output.log");
    let scratch = work.path().join("scratch");
    std::fs::create_dir(&scratch).expect("scratch dir");
    let out = std::fs::File::create(&out_path).expect("output log");
    let mut cmd = Command::new(program);
    cmd.arg(scripts_dir().join(script));
    // Nothing of the machine's own AWS or rclone configuration may reach the client.
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("AWS_") || n.starts_with("RCLONE_") || n.starts_with("BOTO") {
            cmd.env_remove(&name);
        }
    }
    let started = Instant::now();
    let mut child = cmd
        .env("PATH", client_path())
        .env("S3_ENDPOINT", gw.endpoint())
        .env("AWS_ACCESS_KEY_ID", &gw.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &gw.secret_key)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_REGION", REGION)
        .env("S3_BUCKET", format!("matrix-{name}"))
        .env("WORK_DIR", &scratch)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup log"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start {program}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the client script") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    let secs = started.elapsed().as_secs_f64();
    match status {
        Some(s) if s.success() => {
            println!("{name}: passed in {secs:.1} s\n{output}");
        }
        Some(s) => panic!(
            "{name} scenario failed ({s}) after {secs:.1} s; its output:\n{output}\n\
             --- s3gate stderr (last lines):\n{}",
            tail(&gw.stderr(), 40)
        ),
        None => panic!(
            "{name} scenario did not finish within {} s; its output:\n{output}",
            SCRIPT_TIMEOUT.as_secs()
        ),
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn boto3_matrix() {
    if !clients_enabled("boto3_matrix") {
        return;
    }
    require("python3", &["-c", "import boto3"]);
    run_scenario("boto3", "python3", "boto3_scenario.py");
}

#[test]
fn awscli_matrix() {
    if !clients_enabled("awscli_matrix") {
        return;
    }
    require("aws", &["--version"]);
    require("curl", &["--version"]);
    run_scenario("awscli", "bash", "awscli.sh");
}

#[test]
fn rclone_matrix() {
    if !clients_enabled("rclone_matrix") {
        return;
    }
    require("rclone", &["version"]);
    require("curl", &["--version"]);
    run_scenario("rclone", "bash", "rclone.sh");
}

#[test]
fn s3cmd_matrix() {
    if !clients_enabled("s3cmd_matrix") {
        return;
    }
    require("s3cmd", &["--version"]);
    require("curl", &["--version"]);
    run_scenario("s3cmd", "bash", "s3cmd.sh");
}

/// Versioning (issue 17) through boto3: its paginator over 1,100 versions, markers, restore by
/// copy, suspend, deletes by version id.
#[test]
fn boto3_versions() {
    if !clients_enabled("boto3_versions") {
        return;
    }
    require("python3", &["-c", "import boto3"]);
    run_scenario("boto3-versions", "python3", "boto3_versions.py");
}

/// Versioning through `aws s3api list-object-versions` and friends.
#[test]
fn awscli_versions() {
    if !clients_enabled("awscli_versions") {
        return;
    }
    require("aws", &["--version"]);
    run_scenario("awscli-versions", "bash", "awscli_versions.sh");
}

/// Versioning through rclone's `--s3-versions` and `backend versioning/cleanup-hidden`.
#[test]
fn rclone_versions() {
    if !clients_enabled("rclone_versions") {
        return;
    }
    require("rclone", &["version"]);
    run_scenario("rclone-versions", "bash", "rclone_versions.sh");
}

/// A restic repository on a versioned bucket: backup, prune, check --read-data, restore.
#[test]
fn restic_on_a_versioned_bucket() {
    if !clients_enabled("restic_on_a_versioned_bucket") {
        return;
    }
    require("restic", &["version"]);
    require("aws", &["--version"]);
    run_scenario("restic", "bash", "restic.sh");
}

/// The same scenario with the official Rust SDK, in both checksum flavours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_matrix() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = format!("matrix-sdk-{}", flavour.tag());
        create_bucket(&c, &b).await;

        // Small (in memory: a checksum header by default) and streamed (aws-chunked by default).
        let small = random_bytes(1000);
        put(&c, &b, "small.bin", &small).await;
        let streamed = random_bytes(300_000);
        put_streaming(&c, &b, "streamed.bin", &streamed).await;

        // Multipart: three parts, the last one short.
        let parts = [random_bytes(5 << 20), random_bytes(5 << 20), random_bytes(12_345)];
        let big: Vec<u8> = parts.concat();
        let up = c.create_multipart_upload().bucket(&b).key("big.bin").send().await.unwrap();
        let id = up.upload_id().unwrap();
        let mut done = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let out = c
                .upload_part()
                .bucket(&b)
                .key("big.bin")
                .upload_id(id)
                .part_number(n)
                .body(ByteStream::from(p.clone()))
                .send()
                .await
                .unwrap();
            done.push(CompletedPart::builder().part_number(n).set_e_tag(out.e_tag).build());
        }
        c.complete_multipart_upload()
            .bucket(&b)
            .key("big.bin")
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
            .send()
            .await
            .unwrap();
        for (key, want) in [("small.bin", &small), ("streamed.bin", &streamed), ("big.bin", &big)] {
            let got = get(&c, &b, key).await;
            assert_eq!(sha256_hex(&got), sha256_hex(want), "{flavour:?} {key}");
        }

        // Listing with a delimiter.
        for k in ["dir/a.txt", "dir/sub/b.txt"] {
            put(&c, &b, k, k.as_bytes()).await;
        }
        let l = c.list_objects_v2().bucket(&b).delimiter("/").send().await.unwrap();
        let keys: Vec<&str> = l.contents().iter().filter_map(|o| o.key()).collect();
        let prefixes: Vec<&str> = l.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
        assert_eq!(keys, ["big.bin", "small.bin", "streamed.bin"], "{flavour:?}");
        assert_eq!(prefixes, ["dir/"], "{flavour:?}");
        let l = c.list_objects_v2().bucket(&b).prefix("dir/").delimiter("/").send().await.unwrap();
        assert_eq!(l.contents().len(), 1, "{flavour:?}");
        assert_eq!(l.common_prefixes()[0].prefix(), Some("dir/sub/"), "{flavour:?}");

        // Ranged download across the first part boundary.
        let start = (5 << 20) - 1000;
        let r = c
            .get_object()
            .bucket(&b)
            .key("big.bin")
            .range(format!("bytes={start}-{}", start + 1999))
            .send()
            .await
            .unwrap();
        let got = r.body.collect().await.unwrap().into_bytes();
        assert_eq!(sha256_hex(&got), sha256_hex(&big[start..start + 2000]), "{flavour:?} range");

        // Copy.
        c.copy_object()
            .bucket(&b)
            .key("copy/big.bin")
            .copy_source(format!("{b}/big.bin"))
            .send()
            .await
            .unwrap();
        let got = get(&c, &b, "copy/big.bin").await;
        assert_eq!(sha256_hex(&got), sha256_hex(&big), "{flavour:?} copy");

        // Presigned GET through the SDK's presigner, fetched with another HTTP client.
        let p = c
            .get_object()
            .bucket(&b)
            .key("streamed.bin")
            .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
            .await
            .unwrap();
        let headers: Vec<(&str, &str)> = p.headers().collect();
        let r = hyper_request("GET", p.uri(), &headers, Vec::new()).await;
        assert_eq!(r.status, 200, "{flavour:?} presigned GET: {}", r.text());
        assert_eq!(sha256_hex(&r.body), sha256_hex(&streamed), "{flavour:?} presigned GET");

        // Batch delete, one key absent.
        let objects: Vec<ObjectIdentifier> = ["small.bin", "dir/a.txt", "copy/big.bin", "absent"]
            .iter()
            .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
            .collect();
        let d = c
            .delete_objects()
            .bucket(&b)
            .delete(Delete::builder().set_objects(Some(objects)).build().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(d.deleted().len(), 4, "{flavour:?} {d:?}");
        assert!(d.errors().is_empty(), "{flavour:?} {d:?}");
        expect_err(
            c.head_object().bucket(&b).key("small.bin").send().await,
            404,
            "",
            "deleted by DeleteObjects",
        );
        let got = get(&c, &b, "big.bin").await;
        assert_eq!(sha256_hex(&got), sha256_hex(&big), "{flavour:?} untouched by the batch");
    }
}
