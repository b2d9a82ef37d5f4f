//! A real full disk: the gateway runs on a 64 MiB tmpfs (data and metadata on it), uploads
//! fill it until it refuses; every refused upload must answer a retryable 503 and leave
//! nothing behind, every accepted one must read back; after deletes and a collector run the
//! gateway accepts writes again.
//!
//! Gated by `S3GATE_TEST_FULL_DISK=1`: it mounts a tmpfs, which needs root (CI runs as root and
//! sets the variable).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::crash_matrix::{files_under, referenced_blobs};
use crate::harness::{
    Flavour, Gateway, Rng, create_bucket, err_info, expect_err, md5_hex, random_keys,
};

const BUCKET: &str = "full";
const MIB: usize = 1024 * 1024;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let parent = tempfile::Builder::new().prefix("s3gate-full-").tempdir().unwrap();
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "S3GATE_TEST_FULL_DISK is set but `mount -t tmpfs` failed (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir, _parent: parent }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn data(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// No temp file, and the blob files are exactly the referenced blobs (none retired: nothing
/// was overwritten).
fn assert_nothing_behind(dir: &Path, what: &str) {
    let tmp = files_under(&dir.join("tmp"));
    assert!(tmp.is_empty(), "{what}: temp files left: {tmp:?}");
    let on_disk: BTreeSet<String> = files_under(&dir.join("blobs"))
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(on_disk, referenced_blobs(dir), "{what}: blob files == referenced blobs");
}

async fn read_md5(c: &Client, key: &str) -> String {
    let out = c.get_object().bucket(BUCKET).key(key).send().await.unwrap();
    md5_hex(&out.body.collect().await.unwrap().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_cleanly_and_recovers() {
    if std::env::var_os("S3GATE_TEST_FULL_DISK").is_none() {
        println!("full_disk: skipped: set S3GATE_TEST_FULL_DISK=1 (mounts a tmpfs; needs root)");
        return;
    }
    let fs = Tmpfs::mount("64m");
    let dir = fs.dir.join("data");
    let (ak, sk) = random_keys();
    let gw = Gateway::start_on_with(
        &dir,
        &ak,
        &sk,
        &["--gc-grace-seconds", "0", "--gc-interval-seconds", "1"],
    );
    // No retries: each refusal is observed as sent.
    let c = gw.client_no_retry(Flavour::WhenRequired);
    let streaming = gw.client_no_retry(Flavour::Default);
    create_bucket(&c, BUCKET).await;
    let mut rng = Rng::from_os("full_disk");
    let mut accepted: Vec<(String, String)> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for i in 0..200 {
        let len = if i % 3 == 2 { 700 * 1024 } else { 3 * MIB };
        let body = data(&mut rng, len);
        let key = format!("k{i}");
        // Alternate plain PUTs and aws-chunked ones with a trailer.
        let client = if i % 2 == 0 { &c } else { &streaming };
        let res = client
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await;
        match res {
            Ok(_) => accepted.push((key, md5_hex(&body))),
            Err(e) => {
                let (status, code) = err_info(&e);
                assert_eq!(
                    (status, code.as_str()),
                    (503, "ServiceUnavailable"),
                    "a full disk refuses with a retryable 503: {e:?}\nserver log:\n{}",
                    gw.stderr()
                );
                refused.push(key);
                if refused.len() >= 4 {
                    break;
                }
            }
        }
    }
    println!("full_disk: {} uploads accepted, {} refused", accepted.len(), refused.len());
    assert!(refused.len() >= 4, "64 MiB never filled up");
    assert!(accepted.len() >= 8, "most of 64 MiB should hold objects");

    // A part upload is refused the same way, and the upload survives it.
    let id = c.create_multipart_upload().bucket(BUCKET).key("mp").send().await;
    if let Ok(created) = id {
        let id = created.upload_id().unwrap();
        let res = c
            .upload_part()
            .bucket(BUCKET)
            .key("mp")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from(data(&mut rng, 8 * MIB)))
            .send()
            .await;
        expect_err(res, 503, "ServiceUnavailable", "UploadPart on a full disk");
        c.abort_multipart_upload().bucket(BUCKET).key("mp").upload_id(id).send().await.unwrap();
    }

    for key in &refused {
        let res = c.get_object().bucket(BUCKET).key(key).send().await;
        expect_err(res, 404, "NoSuchKey", "a refused upload is not visible");
    }
    for (key, md5) in &accepted {
        assert_eq!(&read_md5(&c, key).await, md5, "accepted {key} reads back");
    }
    assert_nothing_behind(&dir, "after the refusals");

    // Free space: delete every other accepted object; the collector runs every second.
    let gone: Vec<(String, String)> = accepted.iter().step_by(2).cloned().collect();
    let ids: Vec<ObjectIdentifier> =
        gone.iter().map(|(k, _)| ObjectIdentifier::builder().key(k).build().unwrap()).collect();
    let delete = Delete::builder().set_objects(Some(ids)).build().unwrap();
    let out = c.delete_objects().bucket(BUCKET).delete(delete).send().await.unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let deadline = Instant::now() + Duration::from_secs(20);
    let fresh = data(&mut rng, 3 * MIB);
    loop {
        let res = c
            .put_object()
            .bucket(BUCKET)
            .key("after")
            .body(ByteStream::from(fresh.clone()))
            .send()
            .await;
        match res {
            Ok(_) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "no space came back: {e:?}\n{}", gw.stderr());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert_eq!(read_md5(&c, "after").await, md5_hex(&fresh));
    for (key, md5) in accepted.iter().skip(1).step_by(2) {
        assert_eq!(&read_md5(&c, key).await, md5, "kept {key} still reads back");
    }
    // Once collected, nothing of the deleted objects remains.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let on_disk = files_under(&dir.join("blobs")).len();
        if on_disk == referenced_blobs(&dir).len() {
            break;
        }
        assert!(Instant::now() < deadline, "the collector left {on_disk} blob files");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_nothing_behind(&dir, "after the collector");
    drop(gw);
}
