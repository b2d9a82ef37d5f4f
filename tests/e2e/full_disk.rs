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

/// Writes zeros to `path` (appending) until the filesystem refuses, then gives back `keep`
/// bytes; returns the file's size.
fn fill_until_full(path: &Path, keep: u64) -> u64 {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "filling {}: {e}", path.display());
                break;
            }
        }
    }
    // Small writes take the last partial pages.
    while f.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
    let _ = f.sync_all();
    let size = f.metadata().unwrap().len();
    let size = size.saturating_sub(keep);
    f.set_len(size).unwrap();
    size
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_every_write_and_always_deletes() {
    if std::env::var_os("S3GATE_TEST_FULL_DISK").is_none() {
        println!("full_disk: skipped: set S3GATE_TEST_FULL_DISK=1 (mounts a tmpfs; needs root)");
        return;
    }
    let fs = Tmpfs::mount("64m");
    let dir = fs.dir.join("data");
    let filler = fs.dir.join("filler");
    let (ak, sk) = random_keys();
    let args = ["--gc-grace-seconds", "0", "--gc-interval-seconds", "1"];
    let mut gw = Gateway::start_on_with(&dir, &ak, &sk, &args);
    let c = gw.client_no_retry(Flavour::WhenRequired);
    create_bucket(&c, BUCKET).await;
    create_bucket(&c, "empty-bucket").await;
    let mut rng = Rng::from_os("full_disk_paths");
    for i in 0..6 {
        let body = data(&mut rng, 512 * 1024);
        c.put_object().bucket(BUCKET).key(format!("k{i}")).body(body.into()).send().await.unwrap();
    }
    let up = c.create_multipart_upload().bucket(BUCKET).key("mp").send().await.unwrap();
    let upload_id = up.upload_id().unwrap().to_owned();
    let part = c
        .upload_part()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(data(&mut rng, 100 * 1024)))
        .send()
        .await
        .unwrap();
    let part_etag = part.e_tag().unwrap().to_owned();
    let spare = dir.join("s3gate.spare");
    assert!(spare.exists(), "the gateway keeps a spare file on a roomy disk");

    // Below the reserve (1 MiB free, the reserve is 4 MiB): every write that grows the
    // metadata is refused, changing nothing.
    fill_until_full(&filler, 1024 * 1024);
    let empty_with_meta = c
        .put_object()
        .bucket(BUCKET)
        .key("empty")
        .metadata("m", "v")
        .body(ByteStream::from_static(b""))
        .send()
        .await;
    expect_err(empty_with_meta, 503, "ServiceUnavailable", "an empty object with metadata");
    let small =
        c.put_object().bucket(BUCKET).key("small").body(ByteStream::from_static(b"x")).send().await;
    expect_err(small, 503, "ServiceUnavailable", "a one-byte object");
    let copy =
        c.copy_object().bucket(BUCKET).key("copy").copy_source(format!("{BUCKET}/k0")).send().await;
    expect_err(copy, 503, "ServiceUnavailable", "a zero-copy CopyObject");
    let create = c.create_multipart_upload().bucket(BUCKET).key("mp2").send().await;
    expect_err(create, 503, "ServiceUnavailable", "CreateMultipartUpload");
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(aws_sdk_s3::types::Tag::builder().key("t").value("v").build().unwrap())
        .build()
        .unwrap();
    let tag = c.put_object_tagging().bucket(BUCKET).key("k0").tagging(tagging).send().await;
    expect_err(tag, 503, "ServiceUnavailable", "PutObjectTagging");
    let bucket = c.create_bucket().bucket("another-bucket").send().await;
    expect_err(bucket, 503, "ServiceUnavailable", "CreateBucket");
    let completed = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(&part_etag).build())
        .build();
    let complete = c
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(&upload_id)
        .multipart_upload(completed)
        .send()
        .await;
    expect_err(complete, 503, "ServiceUnavailable", "CompleteMultipartUpload");
    for key in ["empty", "small", "copy", "mp"] {
        let res = c.head_object().bucket(BUCKET).key(key).send().await;
        assert!(res.is_err(), "a refused {key} is not visible");
    }
    let tags = c.get_object_tagging().bucket(BUCKET).key("k0").send().await.unwrap();
    assert!(tags.tag_set().is_empty(), "refused tags are not set");
    let uploads = c.list_multipart_uploads().bucket(BUCKET).send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 1, "only the upload made before");
    assert!(c.head_bucket().bucket("another-bucket").send().await.is_err());
    c.delete_object().bucket(BUCKET).key("k0").send().await.expect("delete below the reserve");

    // Restart on a disk filled to the last byte: the gateway starts (the spare file makes
    // room for SQLite) and deletes work; writes stay refused.
    assert!(gw.stop_graceful(), "graceful stop");
    fill_until_full(&filler, 0);
    let gw2 = Gateway::start_on_with(&dir, &ak, &sk, &args);
    let c = gw2.client_no_retry(Flavour::WhenRequired);
    c.delete_object().bucket(BUCKET).key("k1").send().await.unwrap_or_else(|e| {
        panic!("DeleteObject after a restart at 0 bytes: {e:?}\n{}", gw2.stderr())
    });
    let ids = vec![ObjectIdentifier::builder().key("k2").build().unwrap()];
    let delete = Delete::builder().set_objects(Some(ids)).build().unwrap();
    let out = c.delete_objects().bucket(BUCKET).delete(delete).send().await.unwrap();
    assert!(out.errors().is_empty(), "DeleteObjects after a restart: {:?}", out.errors());
    let small =
        c.put_object().bucket(BUCKET).key("small").body(ByteStream::from_static(b"x")).send().await;
    expect_err(small, 503, "ServiceUnavailable", "a write after the restart");

    // Space back: the spare file is made again; then the live gateway's disk fills to the
    // last byte and deletes still work.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !spare.exists() {
        assert!(Instant::now() < deadline, "the spare file was not re-created\n{}", gw2.stderr());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    fill_until_full(&filler, 0);
    c.delete_object()
        .bucket(BUCKET)
        .key("k3")
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteObject at 0 bytes: {e:?}\n{}", gw2.stderr()));
    let ids = vec![ObjectIdentifier::builder().key("k4").build().unwrap()];
    let delete = Delete::builder().set_objects(Some(ids)).build().unwrap();
    let out = c.delete_objects().bucket(BUCKET).delete(delete).send().await.unwrap();
    assert!(out.errors().is_empty(), "DeleteObjects at 0 bytes: {:?}", out.errors());
    c.abort_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("AbortMultipartUpload at 0 bytes: {e:?}\n{}", gw2.stderr()));
    c.delete_bucket()
        .bucket("empty-bucket")
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteBucket at 0 bytes: {e:?}\n{}", gw2.stderr()));

    // Space back again: writes work.
    std::fs::remove_file(&filler).unwrap();
    c.put_object()
        .bucket(BUCKET)
        .key("small")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let out = c.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["k5", "small"]);
    drop(gw2);
    drop(gw);
}
