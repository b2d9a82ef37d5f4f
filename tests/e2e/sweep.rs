//! The collector's settings cannot lose acknowledged data, and `s3gate check` finds damaged
//! blobs (issue 16, "Data and disk").
//!
//! - `--orphan-grace-seconds 0` on a live gateway: an upload that pauses mid-body (its temp
//!   file older than the grace) and a burst of concurrent uploads all succeed and read back;
//!   the gateway's own sweep sees its writes in flight.
//! - `s3gate gc` / `s3gate check --repair` beside a live gateway cannot see its writes in
//!   flight: a grace under the documented minimum is refused.
//! - `s3gate check` fails, naming the blob, for a truncated blob (sizes) and, with `--deep`,
//!   for a blob whose bytes changed in place (MD5 against the part's ETag).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::crash_matrix::files_under;
use crate::harness::{Flavour, Gateway, create_bucket, get, put, random_bytes, read_response};
use crate::hostile::{Payload, Signer};

fn cli(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run s3gate")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn blob_set(dir: &Path) -> BTreeSet<PathBuf> {
    files_under(&dir.join("blobs")).into_iter().collect()
}

/// Puts `body` at `key` and returns the path of the one blob file the put added.
async fn put_new_blob(gw: &Gateway, bucket: &str, key: &str, body: &[u8]) -> PathBuf {
    let before = blob_set(&gw.dir);
    put(&gw.client(Flavour::WhenRequired), bucket, key, body).await;
    let added: Vec<PathBuf> = blob_set(&gw.dir).difference(&before).cloned().collect();
    assert_eq!(added.len(), 1, "one new blob for {key}: {added:?}");
    added.into_iter().next().unwrap()
}

fn blob_id(path: &Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_truncated_and_corrupt_blobs() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "chk").await;
    let whole = random_bytes(100_000);
    let victim = random_bytes(300_000);
    let whole_blob = put_new_blob(&gw, "chk", "whole", &whole).await;
    let victim_blob = put_new_blob(&gw, "chk", "victim", &victim).await;
    // An unfinished upload's part is checked too.
    let up = c.create_multipart_upload().bucket("chk").key("mp").send().await.unwrap();
    let upload_id = up.upload_id().unwrap().to_owned();
    let before = blob_set(&gw.dir);
    c.upload_part()
        .bucket("chk")
        .key("mp")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(random_bytes(50_000)))
        .send()
        .await
        .unwrap();
    let part_blob = blob_set(&gw.dir).difference(&before).next().cloned().expect("part blob");

    let out = cli(&["check", "--deep"], &gw.dir);
    assert!(out.status.success(), "a healthy directory checks clean: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("truncated blobs: 0") && stdout.contains("corrupt blobs"), "{stdout}");

    // Bytes changed in place, size kept: only --deep can tell.
    let mut bytes = std::fs::read(&whole_blob).unwrap();
    bytes[12_345] ^= 0x5a;
    std::fs::write(&whole_blob, &bytes).unwrap();
    let out = cli(&["check"], &gw.dir);
    assert!(out.status.success(), "sizes are still right: {}", text(&out));
    let out = cli(&["check", "--deep"], &gw.dir);
    assert!(!out.status.success(), "--deep finds the changed bytes: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = blob_id(&whole_blob);
    assert!(stdout.contains(&format!("corrupt {id} of chk/whole")), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("do not match their ETag"));
    std::fs::write(&whole_blob, &whole).unwrap();

    // A truncated blob: GET cannot serve it, and check fails naming it.
    let f = std::fs::OpenOptions::new().write(true).open(&victim_blob).unwrap();
    f.set_len(120_000).unwrap();
    drop(f);
    let res = c.get_object().bucket("chk").key("victim").send().await;
    let served = match res {
        Ok(out) => out.body.collect().await.map(|b| b.into_bytes().to_vec()).ok(),
        Err(_) => None,
    };
    assert_ne!(served.as_deref(), Some(victim.as_slice()), "a truncated blob cannot be served");
    let f = std::fs::OpenOptions::new().write(true).open(&part_blob).unwrap();
    f.set_len(0).unwrap();
    drop(f);
    let out = cli(&["check"], &gw.dir);
    assert!(!out.status.success(), "truncated blobs make check fail: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = blob_id(&victim_blob);
    assert!(stdout.contains("truncated blobs: 2"), "{}", text(&out));
    assert!(
        stdout
            .contains(&format!("truncated {id} of chk/victim: 120000 bytes stored, 300000 needed")),
        "{}",
        text(&out)
    );
    let part = blob_id(&part_blob);
    assert!(
        stdout.contains(&format!("truncated {part} of chk/mp (upload {upload_id})")),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("2 blobs named by the metadata are truncated")
    );
    // Also once the gateway is stopped (check then holds the lock itself).
    drop(gw.client(Flavour::WhenRequired));
    let dir = gw.dir.clone();
    let mut gw = gw;
    gw.stop_graceful();
    let out = cli(&["check", "--deep"], &dir);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("truncated {id}")));
}

/// A signed PUT whose body is sent in two halves with a pause between them.
async fn paused_put(gw: &Gateway, path: &str, body: &[u8], pause: Duration) -> u16 {
    let req = Signer::root(gw).request("PUT", path, &[], &[], body, &Payload::Sha256);
    let split = req.len() - body.len() / 2;
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(&req[..split]).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(pause).await;
    s.write_all(&req[split..]).await.unwrap();
    read_response(&mut s, false).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_orphan_grace_spares_writes_in_flight() {
    let (ak, sk) = crate::harness::random_keys();
    let gw = Gateway::start_with_keys(
        &ak,
        &sk,
        &["--orphan-grace-seconds", "0", "--gc-interval-seconds", "1"],
    );
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "zero").await;

    // The first half of the body sits in a temp file through at least two sweeps.
    let body = random_bytes(512 * 1024);
    let status = paused_put(&gw, "/zero/paused", &body, Duration::from_millis(3500)).await;
    assert_eq!(status, 200, "a paused upload survives sweeps with grace 0:\n{}", gw.stderr());
    assert_eq!(get(&c, "zero", "paused").await, body);

    // A burst of concurrent uploads across many sweeps: every acknowledged one reads back.
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut tasks = Vec::new();
    for t in 0..4 {
        let c = gw.client(Flavour::WhenRequired);
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                let body = random_bytes(64 * 1024 + (i % 7) * 100_000);
                let key = format!("t{t}-{i}");
                put(&c, "zero", &key, &body).await;
                done.push((key, body));
                i += 1;
            }
            done
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.extend(t.await.unwrap());
    }
    // Let a few more sweeps run over the committed blobs.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for (key, body) in &acknowledged {
        assert_eq!(&get(&c, "zero", key).await, body, "{key} lost its data");
    }
    println!("sweep: {} acknowledged uploads under grace 0 all read back", acknowledged.len());
    let out = cli(&["check"], &gw.dir);
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_grace_below_the_minimum_is_refused_beside_a_live_gateway() {
    let mut gw = Gateway::start();
    let dir = gw.dir.clone();
    for args in [
        &["gc", "--orphan-grace-seconds", "0"][..],
        &["gc", "--orphan-grace-seconds", "599"],
        &["check", "--repair", "--orphan-grace-seconds", "10"],
    ] {
        let out = cli(args, &dir);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("too short while a gateway runs") && err.contains("600"), "{err}");
    }
    let out = cli(&["gc", "--orphan-grace-seconds", "600"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    // A report deletes nothing: any grace is allowed.
    let out = cli(&["check", "--orphan-grace-seconds", "0"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    // A stopped gateway has nothing in flight: the command holds the lock and uses zero.
    gw.stop_graceful();
    let out = cli(&["gc", "--orphan-grace-seconds", "0"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("older than 0s"), "{}", text(&out));
}
