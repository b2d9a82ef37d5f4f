//! Crash safety: kill -9 during uploads and during CompleteMultipartUpload, restart on the same
//! data directory, and check that acknowledged writes survived whole, unacknowledged writes are
//! all-or-nothing, and no temp file or orphan blob is left behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::harness::{
    Flavour, Gateway, Rng, create_bucket, err_info, etag_of, md5_hex, multipart_etag, random_keys,
};

const BUCKET: &str = "crash";
const UPLOADERS: usize = 8;
const KEYS_PER_UPLOADER: u64 = 5;
const MIB: usize = 1024 * 1024;

/// What a write put (or tried to put) under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    len: usize,
    md5: String,
    etag: String,
}

#[derive(Debug, Default, Clone)]
struct KeyState {
    /// The last acknowledged write.
    acked: Option<Version>,
    /// A write sent after it whose outcome is unknown (the crash interrupted it).
    pending: Option<Version>,
}

type State = Arc<Mutex<BTreeMap<String, KeyState>>>;

fn body(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(len);
    v
}

fn record(state: &State, key: &str, f: impl FnOnce(&mut KeyState)) {
    let mut s = state.lock().unwrap();
    f(s.entry(key.to_owned()).or_default());
}

/// One uploader: sequential writes to its own keys until the server dies or `stop` is set.
async fn uploader(
    c: Client,
    u: usize,
    seed: u64,
    multipart_share: u64,
    state: State,
    stop: Arc<AtomicBool>,
    completes_in_flight: Arc<AtomicUsize>,
) {
    let mut rng = Rng::from_seed(seed);
    while !stop.load(Ordering::Relaxed) {
        let key = format!("u{u}/k{}", rng.range(0, KEYS_PER_UPLOADER));
        if rng.range(0, 100) < multipart_share {
            let p1 = body(&mut rng, 5 * MIB);
            let len2 = usize::try_from(rng.range(1, MIB as u64)).unwrap();
            let p2 = body(&mut rng, len2);
            let whole = [p1.as_slice(), p2.as_slice()].concat();
            let v = Version {
                len: whole.len(),
                md5: md5_hex(&whole),
                etag: multipart_etag(&[&p1, &p2]),
            };
            let Ok(created) = c.create_multipart_upload().bucket(BUCKET).key(&key).send().await
            else {
                return;
            };
            let id = created.upload_id().unwrap_or_default().to_owned();
            let mut parts = Vec::new();
            for (n, p) in [(1, p1), (2, p2)] {
                let res = c
                    .upload_part()
                    .bucket(BUCKET)
                    .key(&key)
                    .upload_id(&id)
                    .part_number(n)
                    .body(ByteStream::from(p))
                    .send()
                    .await;
                let Ok(out) = res else { return };
                parts.push(
                    CompletedPart::builder()
                        .part_number(n)
                        .e_tag(out.e_tag().unwrap_or_default())
                        .build(),
                );
            }
            record(&state, &key, |s| s.pending = Some(v.clone()));
            completes_in_flight.fetch_add(1, Ordering::SeqCst);
            let res = c
                .complete_multipart_upload()
                .bucket(BUCKET)
                .key(&key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder().set_parts(Some(parts)).build(),
                )
                .send()
                .await;
            completes_in_flight.fetch_sub(1, Ordering::SeqCst);
            match res {
                Ok(out) => {
                    assert_eq!(out.e_tag(), Some(v.etag.as_str()), "acknowledged multipart ETag");
                    record(&state, &key, |s| {
                        s.acked = Some(v);
                        s.pending = None;
                    });
                }
                Err(_) => return,
            }
        } else {
            let len = usize::try_from(rng.range(256 * 1024, 4 * MIB as u64)).unwrap();
            let data = body(&mut rng, len);
            let v = Version { len, md5: md5_hex(&data), etag: etag_of(&data) };
            record(&state, &key, |s| s.pending = Some(v.clone()));
            let res =
                c.put_object().bucket(BUCKET).key(&key).body(ByteStream::from(data)).send().await;
            match res {
                Ok(out) => {
                    assert_eq!(out.e_tag(), Some(v.etag.as_str()), "acknowledged PUT ETag");
                    record(&state, &key, |s| {
                        s.acked = Some(v);
                        s.pending = None;
                    });
                }
                Err(_) => return,
            }
        }
    }
}

/// Files under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Files in any `tmp/` folder under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(dir).unwrap_or(p);
            rel.parent().is_some_and(|d| d.components().any(|c| c.as_os_str() == "tmp"))
        })
        .collect()
}

/// The collector runs every second with no grace period, so that the final clean-up check
/// need not wait for the production defaults (30 s).
const FAST_GC: &[&str] = &["--gc-grace-seconds", "0", "--gc-interval-seconds", "1"];

/// Blob files: `DATA_DIR/blobs/ab/cd/<32 hex>`.
fn blob_files(dir: &Path) -> Vec<PathBuf> {
    files_under(&dir.join("blobs"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .collect()
}

/// Blobs the live state needs: one per part of every object (one for a simple non-empty
/// object) plus one per uploaded part of every upload in progress.
async fn needed_blobs(c: &Client) -> usize {
    let mut n = 0;
    let mut pages = c.list_objects_v2().bucket(BUCKET).into_paginator().send();
    while let Some(page) = pages.next().await {
        for o in page.expect("list objects").contents() {
            let etag = o.e_tag().unwrap_or_default().trim_matches('"');
            n += match etag.split_once('-') {
                Some((_, parts)) => parts.parse::<usize>().expect("parts count in ETag"),
                None => usize::from(o.size().unwrap_or(0) > 0),
            };
        }
    }
    let uploads = c.list_multipart_uploads().bucket(BUCKET).send().await.expect("list uploads");
    assert_ne!(uploads.is_truncated(), Some(true), "more than 1000 uploads in progress");
    for u in uploads.uploads() {
        let parts = c
            .list_parts()
            .bucket(BUCKET)
            .key(u.key().unwrap())
            .upload_id(u.upload_id().unwrap())
            .send()
            .await
            .expect("list parts");
        n += parts.parts().len();
    }
    n
}

/// Checks every key against the model and folds the observed state back into it.
async fn verify_after_restart(c: &Client, state: &State, cycle: usize) {
    let snapshot = state.lock().unwrap().clone();
    let mut listed: Vec<String> = Vec::new();
    let mut pages = c.list_objects_v2().bucket(BUCKET).into_paginator().send();
    while let Some(page) = pages.next().await {
        listed.extend(
            page.expect("list").contents().iter().filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    for k in &listed {
        assert!(snapshot.contains_key(k), "cycle {cycle}: unknown key {k} after restart");
    }
    for (key, ks) in &snapshot {
        let res = c.get_object().bucket(BUCKET).key(key).send().await;
        let observed = match res {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_owned();
                let bytes = out.body.collect().await.expect("read body").into_bytes();
                Some(Version { len: bytes.len(), md5: md5_hex(&bytes), etag })
            }
            Err(e) => {
                let (status, code) = err_info(&e);
                assert_eq!((status, code.as_str()), (404, "NoSuchKey"), "cycle {cycle}: {key}");
                None
            }
        };
        let ok = match (&observed, &ks.acked, &ks.pending) {
            (None, None, _) => true,
            (None, Some(_), _) => false,
            (Some(v), acked, pending) => acked.as_ref() == Some(v) || pending.as_ref() == Some(v),
        };
        assert!(
            ok,
            "cycle {cycle}: key {key} after restart is {observed:?}; acknowledged {:?}, \
             in flight at the crash {:?}",
            ks.acked, ks.pending
        );
        assert!(
            listed.contains(key) == observed.is_some(),
            "cycle {cycle}: listing and GET disagree on {key}"
        );
        record(state, key, |s| {
            s.acked = observed;
            s.pending = None;
        });
    }
}

/// Waits (up to 5 s, for background cleanup) until no temp files remain and the blob count
/// equals what live objects and uploads need; returns the problem otherwise, so that the data
/// checks of the later cycles still run.
async fn check_disk(gw: &Gateway, c: &Client, cycle: usize) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let tmp = temp_files(&gw.dir);
        let blobs = blob_files(&gw.dir).len();
        let needed = needed_blobs(c).await;
        if tmp.is_empty() && blobs == needed {
            return None;
        }
        if Instant::now() > deadline {
            let layout: Vec<PathBuf> = std::fs::read_dir(&gw.dir)
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            return Some(format!(
                "cycle {cycle}: after restart, temp files {tmp:?}; {blobs} blob files under \
                 blobs/ but live objects and uploads need {needed}; data dir holds {layout:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_uploads_and_completes() {
    let tmp = tempfile::Builder::new().prefix("s3gate-crash-").tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (ak, sk) = random_keys();
    let mut rng = Rng::from_os("crash test");
    let state: State = Arc::default();
    let cycles = 6;
    let mut gw = Gateway::start_on_with(&dir, &ak, &sk, FAST_GC);
    create_bucket(&gw.client(Flavour::Default), BUCKET).await;
    let mut disk_problems = Vec::new();
    for cycle in 0..cycles {
        let during_complete = cycle % 2 == 1;
        let stop = Arc::new(AtomicBool::new(false));
        let completes = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for u in 0..UPLOADERS {
            let flavour = Flavour::ALL[u % 2];
            let c = gw.client_no_retry(flavour);
            let share = if during_complete { 50 } else { 25 };
            tasks.spawn(uploader(
                c,
                u,
                rng.next_u64(),
                share,
                Arc::clone(&state),
                Arc::clone(&stop),
                Arc::clone(&completes),
            ));
        }
        if during_complete {
            let deadline = Instant::now() + Duration::from_secs(10);
            while completes.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.range(0, 4))).await;
        } else {
            tokio::time::sleep(Duration::from_millis(rng.range(300, 1500))).await;
        }
        let in_complete = completes.load(Ordering::SeqCst);
        gw.crash();
        stop.store(true, Ordering::Relaxed);
        while let Some(res) = tasks.join_next().await {
            res.expect("uploader task");
        }
        let (acked, pending) = {
            let s = state.lock().unwrap();
            (
                s.values().filter(|k| k.acked.is_some()).count(),
                s.values().filter(|k| k.pending.is_some()).count(),
            )
        };
        println!(
            "cycle {cycle}: killed with {in_complete} completes in flight; {acked} keys \
             acknowledged, {pending} writes interrupted"
        );
        gw = Gateway::start_on_with(&dir, &ak, &sk, FAST_GC);
        let c = gw.client(Flavour::Default);
        verify_after_restart(&c, &state, cycle).await;
        disk_problems.extend(check_disk(&gw, &c, cycle).await);
    }

    // Clean up everything: blobs must all go away.
    let c = gw.client(Flavour::Default);
    let uploads = c.list_multipart_uploads().bucket(BUCKET).send().await.unwrap();
    for u in uploads.uploads() {
        c.abort_multipart_upload()
            .bucket(BUCKET)
            .key(u.key().unwrap())
            .upload_id(u.upload_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    let keys: Vec<String> = state.lock().unwrap().keys().cloned().collect();
    for k in keys {
        c.delete_object().bucket(BUCKET).key(&k).send().await.unwrap();
    }
    assert_eq!(needed_blobs(&c).await, 0);
    disk_problems.extend(check_disk(&gw, &c, cycles).await);
    assert!(disk_problems.is_empty(), "leftovers on disk:\n{}", disk_problems.join("\n"));
    drop(tmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_keeps_everything() {
    let tmp = tempfile::Builder::new().prefix("s3gate-restart-").tempdir().unwrap();
    let (ak, sk) = random_keys();
    let mut gw = Gateway::start_on(tmp.path(), &ak, &sk);
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "keep").await;
    let data = crate::harness::random_bytes(1_500_000);
    crate::harness::put(&c, "keep", "a", &data).await;
    crate::harness::put_streaming(&c, "keep", "b", &data).await;
    let id = c
        .create_multipart_upload()
        .bucket("keep")
        .key("mpu")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    assert!(gw.stop_graceful(), "SIGTERM: clean exit; stderr:\n{}", gw.stderr());
    let gw = Gateway::start_on(tmp.path(), &ak, &sk);
    let c = gw.client(Flavour::WhenRequired);
    assert!(crate::harness::get(&c, "keep", "a").await == data);
    assert!(crate::harness::get(&c, "keep", "b").await == data);
    let uploads = c.list_multipart_uploads().bucket("keep").send().await.unwrap();
    let ids: Vec<&str> = uploads.uploads().iter().filter_map(|u| u.upload_id()).collect();
    assert_eq!(ids, [id.as_str()], "the upload in progress survives a restart");
    // Users added by the CLI survive too.
    let (ak2, sk2) = gw.add_user("carol");
    let carol = gw.client_as(&ak2, &sk2, Flavour::Default);
    create_bucket(&carol, "carols").await;
    drop(gw);
    let gw = Gateway::start_on(tmp.path(), &ak, &sk);
    let carol = gw.client_as(&ak2, &sk2, Flavour::Default);
    let out = carol.list_buckets().send().await.expect("carol after restart");
    assert_eq!(out.buckets().len(), 1);
}

#[test]
fn an_idle_connection_does_not_delay_shutdown() {
    // A connection that never sends a byte waits for the header timeout (30 s by default)
    // before the gateway gives up on it; SIGTERM must not wait that long.
    let (ak, sk) = random_keys();
    let mut gw = Gateway::start_with_keys(&ak, &sk, &[]);
    let idle = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert!(gw.stop_graceful(), "SIGTERM: clean exit; stderr:\n{}", gw.stderr());
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "shutdown waited {took:?} for an idle connection");
    drop(idle);
}
