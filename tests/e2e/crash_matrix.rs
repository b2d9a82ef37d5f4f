//! The crash matrix (the FoundationDB/sled way): several clients drive the real binary with a
//! random mix of PutObject, overwrites, multipart Create/UploadPart/Complete/Abort, DeleteObject,
//! DeleteObjects, CopyObject and RenameObject (whose two keys must change together); the
//! gateway dies by SIGKILL at a random moment or by a
//! failpoint abort at an exact step (blob written / metadata not committed, inside Complete,
//! inside the collector and the orphan sweep); after each crash the SQLite file passes
//! `PRAGMA integrity_check`, the restarted gateway holds exactly the blobs its metadata
//! references (no temp file, no orphan, reference counts exact), and every key and upload
//! matches a model of acknowledged operations, where an operation whose reply the crash lost
//! may have happened or not, but never half.
//!
//! Gated by `S3GATE_TEST_CRASH=1` (cycles: `S3GATE_TEST_CRASH_CYCLES`, default 200; replay with
//! `S3GATE_TEST_SEED`), and it needs the binary built with the `failpoints` feature:
//! `cargo test -p s3gate --features failpoints --test e2e crash_matrix` (`.ci/run` does this).
//!
//! The same module holds the broken-read check, which always runs: a GET whose blob read fails
//! halfway must end with a broken connection, never with a short body that looks complete, and
//! the gateway logs the failure with the request id.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, Delete,
    MetadataDirective, ObjectIdentifier,
};

use crate::harness::{
    Flavour, Gateway, REGION, Rng, client_for, crc32_b64, create_bucket, err_info, etag_of,
    md5_hex, multipart_etag, random_keys,
};

const BUCKET: &str = "matrix";
const CLIENTS: usize = 4;
const KEYS_PER_CLIENT: u64 = 4;
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------- the gateway process

/// A gateway process started by this module (the harness's starter cannot pass a failpoint or
/// survive a process that dies during start-up, which a collector failpoint makes happen).
struct Proc {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

enum Launch {
    Up(Proc),
    /// The process exited before listening (a failpoint in the start-up collection).
    Died(ExitStatus, String),
}

fn launch(dir: &Path, ak: &str, sk: &str, failpoint: Option<&str>) -> Launch {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3gate"));
    // No operations listener: its default port would be shared by the cycles running side by
    // side (crash_matrix and versioned_crash_cycles), and the second to start would die.
    cmd.arg("serve")
        .args(["--metrics-listen", "off"])
        .args(["--listen", "127.0.0.1:0", "--region", REGION, "--data-dir"])
        .arg(dir)
        // The collector runs at once and every second with no grace: the most aggressive
        // setting, which leases alone must make safe.
        .args(["--gc-grace-seconds", "0", "--gc-interval-seconds", "1"])
        .env("S3GATE_ACCESS_KEY", ak)
        .env("S3GATE_SECRET_KEY", sk)
        .env("S3GATE_LOG", "warn")
        .env_remove("S3GATE_FAILPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(fp) = failpoint {
        cmd.env("S3GATE_FAILPOINT", fp);
    }
    let mut child = cmd.spawn().expect("spawn s3gate");
    let stderr = Arc::new(Mutex::new(String::new()));
    let pipe = child.stderr.take().expect("stderr pipe");
    let sink = Arc::clone(&stderr);
    let err_reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if std::env::var_os("S3GATE_TEST_LOG").is_some() {
                eprint!("[s3gate] {line}");
            }
            let mut s = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if s.len() > 256 * 1024 {
                s.clear();
            }
            s.push_str(&line);
            line.clear();
        }
    });
    let out = child.stdout.take().expect("stdout pipe");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        let mut sent = false;
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if !sent
                && let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1)
                && let Ok(port) =
                    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse()
            {
                let _ = tx.send(port);
                sent = true;
            }
            line.clear();
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(port) => Launch::Up(Proc { child, port, stderr }),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = child.wait().expect("wait for s3gate");
            // The pipe is closed: the reader ends once it drained the last lines.
            let _ = err_reader.join();
            let err = stderr.lock().unwrap().clone();
            Launch::Died(status, err)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("s3gate did not start within 30 s; stderr:\n{}", stderr.lock().unwrap());
        }
    }
}

impl Proc {
    fn client(&self, ak: &str, sk: &str, flavour: Flavour, retries: bool) -> Client {
        client_for(self.port, ak, sk, flavour, retries)
    }
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    /// Waits (up to 5 s) until the stderr reader has seen `needle`: the process may exit before
    /// the reader thread drained the pipe.
    fn stderr_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let err = self.stderr();
            if err.contains(needle) || Instant::now() > deadline {
                return err;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits up to `limit` for the process to exit on its own.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------- the model

/// What a key holds: the fields a GET must return.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Obj {
    len: u64,
    md5: String,
    etag: String,
    /// `x-amz-meta-v`.
    meta: String,
    /// The stored CRC32 (PutObject with a CRC32 checksum; copies keep it); `None` for multipart
    /// objects created without a checksum algorithm.
    crc32: Option<String>,
}

/// The states a key may be in after a crash: one when every write to it was acknowledged, two
/// (the old and the new) when the crash lost a reply.
type Possible = Vec<Option<Obj>>;

/// An upload a client started.
#[derive(Debug, Clone)]
struct Up {
    /// `None` while CreateMultipartUpload is unacknowledged.
    id: Option<String>,
    key: String,
    /// Possible ETags per part number (`None`: the part may be absent).
    parts: BTreeMap<i32, Vec<Option<String>>>,
    /// Complete or Abort was sent and not acknowledged (or Create was not acknowledged).
    may_be_gone: bool,
    /// The object a pending Complete makes; tied to the upload's disappearance.
    completes_to: Option<Obj>,
}

/// A RenameObject whose reply was lost: its two keys must show it applied or not, together.
#[derive(Debug, Clone)]
struct LostRename {
    source: String,
    key: String,
    /// (source, destination) before the rename.
    before: (Option<Obj>, Option<Obj>),
}

#[derive(Debug, Default)]
struct ClientModel {
    keys: BTreeMap<String, Possible>,
    uploads: Vec<Up>,
    /// At most one: the client stops at its first lost reply.
    lost_renames: Vec<LostRename>,
    acked: u64,
}

impl ClientModel {
    fn current(&self, key: &str) -> Option<Obj> {
        let p = &self.keys[key];
        assert_eq!(p.len(), 1, "a live client only sees settled keys");
        p[0].clone()
    }
    fn pending(&mut self, key: &str, new: Option<Obj>) {
        self.keys.get_mut(key).unwrap().push(new);
    }
    fn settle(&mut self, key: &str, new: Option<Obj>) {
        self.keys.insert(key.to_owned(), vec![new]);
        self.acked += 1;
    }
}

/// How a request ended.
enum Outcome<T> {
    Ok(T),
    /// No HTTP response: the gateway died with the request in flight.
    Lost,
}

/// Maps an SDK result: a connection failure is a lost reply; an S3 error from a live gateway
/// is a bug in a workload that only sends valid requests.
fn outcome<T, E>(r: Result<T, SdkError<E>>, what: &str) -> Outcome<T>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    match r {
        Ok(v) => Outcome::Ok(v),
        Err(e) => {
            let (status, code) = err_info(&e);
            assert!(status == 0, "{what}: a live gateway answered {status} {code}: {e:?}");
            Outcome::Lost
        }
    }
}

/// Sends a request; a lost reply returns from the calling function (with `$lost`, if given).
macro_rules! send {
    ($req:expr, $what:expr $(, $lost:expr)?) => {
        match outcome($req.send().await, $what) {
            Outcome::Ok(v) => v,
            Outcome::Lost => return $($lost)?,
        }
    };
}

fn body(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(len);
    v
}

fn small_len(rng: &mut Rng) -> usize {
    match rng.range(0, 10) {
        0 => 0,
        1..=6 => usize::try_from(rng.range(1, 64 * 1024)).unwrap(),
        _ => usize::try_from(rng.range(64 * 1024, 400 * 1024)).unwrap(),
    }
}

fn key_of(client: usize, k: u64) -> String {
    format!("c{client}/k{k}")
}

/// One client: random operations on its own keys until the gateway dies or `stop` is set.
/// Each operation's expected effect is recorded as pending before it is sent and settled when
/// it is acknowledged, so a crash leaves exactly the lost operation pending.
async fn client_loop(
    c: Client,
    me: usize,
    model: &mut ClientModel,
    rng: &mut Rng,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        let key = key_of(me, rng.range(0, KEYS_PER_CLIENT));
        match rng.range(0, 100) {
            0..=34 => {
                let len = small_len(rng);
                let data = body(rng, len);
                let meta = format!("{:x}", rng.next_u64());
                let obj = Obj {
                    len: data.len() as u64,
                    md5: md5_hex(&data),
                    etag: etag_of(&data),
                    meta: meta.clone(),
                    crc32: Some(crc32_b64(&data)),
                };
                model.pending(&key, Some(obj.clone()));
                let out = send!(
                    c.put_object()
                        .bucket(BUCKET)
                        .key(&key)
                        .metadata("v", &meta)
                        .checksum_algorithm(ChecksumAlgorithm::Crc32)
                        .body(ByteStream::from(data)),
                    "PutObject"
                );
                assert_eq!(out.e_tag(), Some(obj.etag.as_str()), "PutObject ETag");
                assert_eq!(out.checksum_crc32(), obj.crc32.as_deref(), "PutObject CRC32");
                model.settle(&key, Some(obj));
            }
            35..=44 => {
                model.pending(&key, None);
                send!(c.delete_object().bucket(BUCKET).key(&key), "DeleteObject");
                model.settle(&key, None);
            }
            45..=52 => {
                let keys: BTreeSet<String> = (0..rng.range(1, 4))
                    .map(|_| key_of(me, rng.range(0, KEYS_PER_CLIENT)))
                    .collect();
                for k in &keys {
                    model.pending(k, None);
                }
                let ids: Vec<ObjectIdentifier> = keys
                    .iter()
                    .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
                    .collect();
                let delete = Delete::builder().set_objects(Some(ids)).build().unwrap();
                let out = send!(c.delete_objects().bucket(BUCKET).delete(delete), "DeleteObjects");
                assert!(out.errors().is_empty(), "DeleteObjects errors: {:?}", out.errors());
                for k in &keys {
                    model.settle(k, None);
                }
            }
            59..=64 => {
                let src = key_of(me, rng.range(0, KEYS_PER_CLIENT));
                let Some(source) = model.current(&src) else { continue };
                if src == key {
                    continue;
                }
                let before = (Some(source.clone()), model.current(&key));
                model.pending(&src, None);
                model.pending(&key, Some(source.clone()));
                let lost = LostRename { source: src.clone(), key: key.clone(), before };
                model.lost_renames.push(lost);
                send!(
                    c.rename_object()
                        .bucket(BUCKET)
                        .key(&key)
                        .rename_source(format!("{BUCKET}/{src}")),
                    "RenameObject"
                );
                model.lost_renames.clear();
                model.settle(&src, None);
                model.settle(&key, Some(source));
                // One operation, acknowledged once.
                model.acked -= 1;
            }
            53..=58 => {
                let src = key_of(me, rng.range(0, KEYS_PER_CLIENT));
                let Some(source) = model.current(&src) else { continue };
                if src == key {
                    continue;
                }
                let replace = rng.range(0, 2) == 0;
                let mut copied = source.clone();
                let mut req =
                    c.copy_object().bucket(BUCKET).key(&key).copy_source(format!("{BUCKET}/{src}"));
                if replace {
                    copied.meta = format!("{:x}", rng.next_u64());
                    req = req
                        .metadata_directive(MetadataDirective::Replace)
                        .metadata("v", &copied.meta);
                }
                model.pending(&key, Some(copied.clone()));
                let out = send!(req, "CopyObject");
                let etag = out.copy_object_result().and_then(|r| r.e_tag());
                assert_eq!(etag, Some(copied.etag.as_str()), "CopyObject ETag");
                model.settle(&key, Some(copied));
            }
            _ => {
                if !multipart(&c, &key, model, rng).await {
                    return;
                }
            }
        }
    }
}

/// One multipart sequence: Create, one to three UploadParts (re-uploads included), then
/// Complete (listing all or some parts) or Abort. `false` when a reply was lost.
async fn multipart(c: &Client, key: &str, model: &mut ClientModel, rng: &mut Rng) -> bool {
    let idx = model.uploads.len();
    model.uploads.push(Up {
        id: None,
        key: key.to_owned(),
        parts: BTreeMap::new(),
        may_be_gone: true,
        completes_to: None,
    });
    let created =
        send!(c.create_multipart_upload().bucket(BUCKET).key(key), "CreateMultipartUpload", false);
    let id = created.upload_id().expect("upload id").to_owned();
    model.uploads[idx].id = Some(id.clone());
    model.uploads[idx].may_be_gone = false;
    model.acked += 1;
    // Part 1 is 5 MiB now and then, so that a two-part Complete is valid.
    let big_first = rng.range(0, 8) == 0;
    let mut data: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
    let uploads = rng.range(1, 4);
    for i in 0..uploads {
        let n = if big_first {
            i32::try_from(i.min(1)).unwrap() + 1
        } else {
            i32::try_from(rng.range(1, 3)).unwrap()
        };
        let len = if big_first && n == 1 { 5 * MIB } else { small_len(rng).max(1) };
        let part = body(rng, len);
        let etag = etag_of(&part);
        model.uploads[idx].parts.entry(n).or_insert_with(|| vec![None]).push(Some(etag.clone()));
        let out = send!(
            c.upload_part()
                .bucket(BUCKET)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(part.clone())),
            "UploadPart",
            false
        );
        assert_eq!(out.e_tag(), Some(etag.as_str()), "UploadPart ETag");
        model.uploads[idx].parts.insert(n, vec![Some(etag)]);
        model.acked += 1;
        data.insert(n, part);
    }
    if rng.range(0, 4) == 0 {
        model.uploads[idx].may_be_gone = true;
        send!(
            c.abort_multipart_upload().bucket(BUCKET).key(key).upload_id(&id),
            "AbortMultipartUpload",
            false
        );
        model.uploads.remove(idx);
        model.acked += 1;
        return true;
    }
    // List every part, or (when part 1 is small) only one of them: the other is retired.
    let listed: Vec<i32> = if big_first || data.len() == 1 {
        data.keys().copied().collect()
    } else {
        vec![*data.keys().nth(usize::try_from(rng.range(0, 2)).unwrap()).unwrap()]
    };
    let parts: Vec<&[u8]> = listed.iter().map(|n| data[n].as_slice()).collect();
    let whole = parts.concat();
    let obj = Obj {
        len: whole.len() as u64,
        md5: md5_hex(&whole),
        etag: multipart_etag(&parts),
        meta: String::new(),
        crc32: None,
    };
    let completed: Vec<CompletedPart> = listed
        .iter()
        .map(|n| CompletedPart::builder().part_number(*n).e_tag(etag_of(&data[n])).build())
        .collect();
    model.uploads[idx].may_be_gone = true;
    model.uploads[idx].completes_to = Some(obj.clone());
    model.pending(key, Some(obj.clone()));
    let out = send!(
        c.complete_multipart_upload().bucket(BUCKET).key(key).upload_id(&id).multipart_upload(
            CompletedMultipartUpload::builder().set_parts(Some(completed)).build()
        ),
        "CompleteMultipartUpload",
        false
    );
    assert_eq!(out.e_tag(), Some(obj.etag.as_str()), "CompleteMultipartUpload ETag");
    model.uploads.remove(idx);
    model.settle(key, Some(obj));
    true
}

// ---------------------------------------------------------------- checks

/// Files under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
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

/// Blob ids the metadata references (object parts and upload parts), read from the data
/// directory's SQLite file (read-only; the gateway may be running).
pub fn referenced_blobs(dir: &Path) -> BTreeSet<String> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("metadata.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut st = conn
        .prepare("SELECT blob_id FROM object_parts UNION SELECT blob_id FROM upload_parts")
        .unwrap();
    st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

/// `PRAGMA integrity_check` and `foreign_key_check` on a copy of the crashed database (the
/// copy keeps the crash state intact for the gateway's own recovery).
fn check_database(dir: &Path, scratch: &Path, cycle: usize) {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).unwrap();
    for suffix in ["", "-wal"] {
        let from = dir.join(format!("metadata.sqlite{suffix}"));
        if from.exists() {
            std::fs::copy(&from, scratch.join(format!("metadata.sqlite{suffix}"))).unwrap();
        }
    }
    let conn = rusqlite::Connection::open(scratch.join("metadata.sqlite")).unwrap();
    let result: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(result, "ok", "cycle {cycle}: integrity_check after the crash");
    let fk: i64 =
        conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, 0, "cycle {cycle}: foreign key violations after the crash");
}

/// The restarted gateway collected and swept before listening: the blob files are exactly the
/// blobs the metadata references, each reference count is exact, nothing is retired, and no
/// temp file is left.
fn check_disk(dir: &Path, cycle: usize) {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("metadata.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut refs: BTreeMap<String, i64> = BTreeMap::new();
    for sql in ["SELECT blob_id FROM object_parts", "SELECT blob_id FROM upload_parts"] {
        let mut st = conn.prepare(sql).unwrap();
        for id in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
            *refs.entry(id.unwrap()).or_default() += 1;
        }
    }
    let mut st = conn.prepare("SELECT blob_id, refs, retired_at IS NOT NULL FROM blobs").unwrap();
    let counted: BTreeMap<String, (i64, bool)> = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let retired: Vec<&String> = counted.iter().filter(|(_, (_, r))| *r).map(|(id, _)| id).collect();
    assert!(retired.is_empty(), "cycle {cycle}: retired blobs survived start-up: {retired:?}");
    let expected: BTreeMap<String, (i64, bool)> =
        refs.iter().map(|(id, n)| (id.clone(), (*n, false))).collect();
    assert_eq!(counted, expected, "cycle {cycle}: reference counts");
    let tmp = files_under(&dir.join("tmp"));
    assert!(tmp.is_empty(), "cycle {cycle}: temp files left: {tmp:?}");
    let on_disk: BTreeSet<String> = files_under(&dir.join("blobs"))
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    let referenced: BTreeSet<String> = refs.into_keys().collect();
    let orphans: Vec<&String> = on_disk.difference(&referenced).collect();
    let lost: Vec<&String> = referenced.difference(&on_disk).collect();
    assert!(orphans.is_empty(), "cycle {cycle}: unreferenced blob files: {orphans:?}");
    assert!(lost.is_empty(), "cycle {cycle}: referenced blobs missing on disk: {lost:?}");
}

/// Reads every key and upload, checks them against the model, and settles the model to what
/// was observed. Uploads are aborted afterwards (an acknowledged operation like any other).
async fn verify(c: &Client, models: &mut [ClientModel], cycle: usize, tally: &mut Stats) {
    let mut listed = BTreeSet::new();
    let mut pages = c.list_objects_v2().bucket(BUCKET).into_paginator().send();
    while let Some(page) = pages.next().await {
        for o in page.expect("ListObjectsV2").contents() {
            listed.insert(o.key().unwrap().to_owned());
        }
    }
    let mut observed: BTreeMap<String, Option<Obj>> = BTreeMap::new();
    for m in models.iter_mut() {
        for (key, possible) in &mut m.keys {
            let got = match c
                .get_object()
                .bucket(BUCKET)
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
            {
                Ok(out) => {
                    let etag = out.e_tag().unwrap_or_default().to_owned();
                    let meta = out.metadata().and_then(|m| m.get("v")).cloned().unwrap_or_default();
                    let crc32 = out.checksum_crc32().map(str::to_owned);
                    let bytes = out.body.collect().await.expect("read body").into_bytes();
                    Some(Obj { len: bytes.len() as u64, md5: md5_hex(&bytes), etag, meta, crc32 })
                }
                Err(e) => {
                    let (status, code) = err_info(&e);
                    assert_eq!((status, code.as_str()), (404, "NoSuchKey"), "cycle {cycle}: {key}");
                    None
                }
            };
            assert!(
                possible.contains(&got),
                "cycle {cycle}: {key} reads {got:?}; allowed (acknowledged, then lost): {possible:?}"
            );
            assert_eq!(listed.contains(key), got.is_some(), "cycle {cycle}: list and GET of {key}");
            if possible.len() > 1 {
                if got == possible[0] {
                    tally.lost_not_applied += 1;
                } else {
                    tally.lost_applied += 1;
                }
            }
            *possible = vec![got.clone()];
            observed.insert(key.clone(), got);
        }
    }
    let unknown: Vec<&String> = listed.iter().filter(|k| !observed.contains_key(*k)).collect();
    assert!(unknown.is_empty(), "cycle {cycle}: keys nobody wrote: {unknown:?}");
    // A lost rename applied whole or not at all: never a source gone with no destination,
    // never both keys holding the object.
    for m in models.iter_mut() {
        for r in m.lost_renames.drain(..) {
            let got = (observed[&r.source].clone(), observed[&r.key].clone());
            let applied = (None, r.before.0.clone());
            assert!(
                got == r.before || got == applied,
                "cycle {cycle}: rename {} -> {} left {got:?}; before it {:?}",
                r.source,
                r.key,
                r.before
            );
        }
    }

    let out = c.list_multipart_uploads().bucket(BUCKET).send().await.expect("ListMultipartUploads");
    assert_ne!(out.is_truncated(), Some(true));
    let live: Vec<(String, String)> = out
        .uploads()
        .iter()
        .map(|u| (u.key().unwrap().to_owned(), u.upload_id().unwrap().to_owned()))
        .collect();
    for (key, id) in &live {
        let known = models
            .iter()
            .flat_map(|m| &m.uploads)
            .any(|u| u.id.as_deref() == Some(id.as_str()) || (u.id.is_none() && u.key == *key));
        assert!(known, "cycle {cycle}: upload {id} of {key} nobody created");
    }
    for m in models.iter() {
        for u in &m.uploads {
            let Some(id) = &u.id else { continue };
            let present = live.iter().any(|(_, l)| l == id);
            if !present {
                assert!(
                    u.may_be_gone,
                    "cycle {cycle}: acknowledged upload {id} of {} vanished",
                    u.key
                );
                if let Some(obj) = &u.completes_to {
                    assert_eq!(
                        observed[&u.key].as_ref(),
                        Some(obj),
                        "cycle {cycle}: upload {id} is gone but {} is not its object",
                        u.key
                    );
                }
                continue;
            }
            if let Some(obj) = &u.completes_to {
                assert_ne!(
                    observed[&u.key].as_ref(),
                    Some(obj),
                    "cycle {cycle}: {} shows the completed object while upload {id} is still in progress",
                    u.key
                );
            }
            let parts = c
                .list_parts()
                .bucket(BUCKET)
                .key(&u.key)
                .upload_id(id)
                .send()
                .await
                .expect("ListParts");
            let got: BTreeMap<i32, String> = parts
                .parts()
                .iter()
                .map(|p| (p.part_number().unwrap(), p.e_tag().unwrap().to_owned()))
                .collect();
            for (n, possible) in &u.parts {
                let g = got.get(n).cloned();
                assert!(
                    possible.contains(&g),
                    "cycle {cycle}: upload {id} part {n} is {g:?}, allowed {possible:?}"
                );
            }
            for n in got.keys() {
                assert!(
                    u.parts.contains_key(n),
                    "cycle {cycle}: upload {id} has part {n} nobody sent"
                );
            }
        }
    }
    for (key, id) in &live {
        c.abort_multipart_upload()
            .bucket(BUCKET)
            .key(key)
            .upload_id(id)
            .send()
            .await
            .expect("abort");
    }
    for m in models.iter_mut() {
        m.uploads.clear();
    }
}

#[derive(Debug, Default)]
struct Stats {
    sigkills: u64,
    failpoint_aborts: BTreeMap<&'static str, u64>,
    failpoint_missed: BTreeMap<&'static str, u64>,
    died_at_startup: u64,
    lost_applied: u64,
    lost_not_applied: u64,
    acked: u64,
}

/// How a cycle ends the gateway.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// SIGKILL after this many milliseconds of load.
    Sigkill(u64),
    /// Arm `name@n` and wait for the abort.
    Failpoint(&'static str, u64),
}

fn choose_kill(rng: &mut Rng) -> Kill {
    use s3gate_engine::failpoint as fp;
    // The sweep's failpoint is armed at the start of a cycle instead (see `crash_matrix`): only
    // a start-up right after a crash finds orphans to sweep.
    match rng.range(0, 10) {
        0..=4 => Kill::Sigkill(rng.range(20, 600)),
        5 | 6 => Kill::Failpoint(fp::BLOB_WRITTEN, rng.range(1, 25)),
        7 => Kill::Failpoint(fp::COMPLETE_BEFORE_COMMIT, rng.range(1, 3)),
        8 => Kill::Failpoint(fp::COMPLETE_AFTER_COMMIT, rng.range(1, 3)),
        _ => Kill::Failpoint(
            if rng.range(0, 2) == 0 { fp::GC_AFTER_FORGET } else { fp::GC_AFTER_FIRST_DELETE },
            1,
        ),
    }
}

/// Runs the clients against `p` until `stop` is set or all of them lost the gateway.
fn run_load(
    p: &Proc,
    ak: &str,
    sk: &str,
    models: &mut Vec<ClientModel>,
    rng: &mut Rng,
    stop: &Arc<AtomicBool>,
) -> tokio::task::JoinSet<(usize, ClientModel)> {
    let mut set = tokio::task::JoinSet::new();
    for (me, mut model) in std::mem::take(models).into_iter().enumerate() {
        let c = p.client(ak, sk, Flavour::ALL[me % 2], false);
        let mut crng = Rng::from_seed(rng.next_u64());
        let stop = Arc::clone(stop);
        set.spawn(async move {
            client_loop(c, me, &mut model, &mut crng, &stop).await;
            (me, model)
        });
    }
    set
}

async fn join_clients(
    mut set: tokio::task::JoinSet<(usize, ClientModel)>,
    models: &mut Vec<ClientModel>,
) {
    let mut back: Vec<(usize, ClientModel)> = Vec::new();
    while let Some(r) = set.join_next().await {
        back.push(r.expect("client task panicked"));
    }
    back.sort_by_key(|(i, _)| *i);
    *models = back.into_iter().map(|(_, m)| m).collect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_matrix() {
    if std::env::var_os("S3GATE_TEST_CRASH").is_none() {
        println!(
            "crash_matrix: skipped: set S3GATE_TEST_CRASH=1 and build with `--features failpoints` \
             (.ci/run does)"
        );
        return;
    }
    #[allow(clippy::assertions_on_constants, reason = "the constant is the build's feature set")]
    {
        assert!(
            cfg!(feature = "failpoints"),
            "S3GATE_TEST_CRASH needs the binary built with `cargo test -p s3gate --features \
             failpoints`"
        );
    }
    let cycles: usize =
        std::env::var("S3GATE_TEST_CRASH_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let tmp = tempfile::Builder::new().prefix("s3gate-matrix-").tempdir().unwrap();
    let dir = tmp.path().join("data");
    let scratch = tmp.path().join("scratch");
    let (ak, sk) = random_keys();
    let mut rng = Rng::from_os("crash_matrix");
    let mut tally = Stats::default();
    let mut models: Vec<ClientModel> = (0..CLIENTS)
        .map(|me| ClientModel {
            keys: (0..KEYS_PER_CLIENT).map(|k| (key_of(me, k), vec![None])).collect(),
            ..Default::default()
        })
        .collect();
    let started = Instant::now();
    let mut first = true;
    for cycle in 0..cycles {
        // Now and then the first start after a crash has the sweep's failpoint armed: it dies
        // in its start-up sweep if the crash left orphans (blob written, metadata not).
        if !first && rng.range(0, 3) == 0 {
            let name = s3gate_engine::failpoint::SWEEP_BEFORE_DELETE;
            match launch(&dir, &ak, &sk, Some(name)) {
                Launch::Died(status, err) => {
                    assert!(
                        err.contains(&format!("s3gate failpoint {name}: aborting")),
                        "cycle {cycle}: start-up with {name} died ({status}) elsewhere:\n{err}"
                    );
                    tally.died_at_startup += 1;
                    *tally.failpoint_aborts.entry(name).or_default() += 1;
                    check_database(&dir, &scratch, cycle);
                }
                Launch::Up(mut p) => {
                    p.kill();
                    *tally.failpoint_missed.entry(name).or_default() += 1;
                }
            }
        }
        // Recover: a clean start must succeed, collect, sweep, and hold exactly the model.
        let mut p = match launch(&dir, &ak, &sk, None) {
            Launch::Up(p) => p,
            Launch::Died(status, err) => {
                panic!("cycle {cycle}: the gateway failed to start ({status}); stderr:\n{err}")
            }
        };
        let c = p.client(&ak, &sk, Flavour::WhenRequired, true);
        if first {
            create_bucket(&c, BUCKET).await;
            first = false;
        }
        check_disk(&dir, cycle);
        verify(&c, &mut models, cycle, &mut tally).await;

        let kill = choose_kill(&mut rng);
        let stop = Arc::new(AtomicBool::new(false));
        match kill {
            Kill::Sigkill(ms) => {
                let set = run_load(&p, &ak, &sk, &mut models, &mut rng, &stop);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                p.kill();
                stop.store(true, Ordering::Relaxed);
                join_clients(set, &mut models).await;
                tally.sigkills += 1;
            }
            Kill::Failpoint(name, n) => {
                p.kill();
                let spec = format!("{name}@{n}");
                match launch(&dir, &ak, &sk, Some(&spec)) {
                    Launch::Died(status, err) => {
                        assert!(
                            err.contains(&format!("s3gate failpoint {name}: aborting")),
                            "cycle {cycle}: start-up with {spec} died ({status}) elsewhere:\n{err}"
                        );
                        tally.died_at_startup += 1;
                        *tally.failpoint_aborts.entry(name).or_default() += 1;
                    }
                    Launch::Up(mut fp) => {
                        let set = run_load(&fp, &ak, &sk, &mut models, &mut rng, &stop);
                        let exited =
                            tokio::task::block_in_place(|| fp.wait_exit(Duration::from_secs(2)));
                        if exited.is_some() {
                            let line = format!("s3gate failpoint {name}: aborting");
                            let err = fp.stderr_with(&line);
                            assert!(
                                err.contains(&line),
                                "cycle {cycle}: the gateway armed with {spec} died elsewhere \
                                 ({exited:?}):\n{err}"
                            );
                            *tally.failpoint_aborts.entry(name).or_default() += 1;
                        } else {
                            *tally.failpoint_missed.entry(name).or_default() += 1;
                        }
                        fp.kill();
                        stop.store(true, Ordering::Relaxed);
                        join_clients(set, &mut models).await;
                    }
                }
            }
        }
        check_database(&dir, &scratch, cycle);
    }
    // A last recovery and check.
    let Launch::Up(p) = launch(&dir, &ak, &sk, None) else { panic!("final start failed") };
    check_disk(&dir, cycles);
    verify(&p.client(&ak, &sk, Flavour::WhenRequired, true), &mut models, cycles, &mut tally).await;
    tally.acked = models.iter().map(|m| m.acked).sum();
    println!(
        "crash_matrix: {cycles} cycles in {:.1} s: {tally:?}",
        started.elapsed().as_secs_f64()
    );
    let aborts: u64 = tally.failpoint_aborts.values().sum();
    assert!(
        cycles < 20
            || (tally.sigkills > 0
                && aborts > 0
                && tally.lost_applied + tally.lost_not_applied > 0),
        "the matrix must crash both ways and lose replies: {tally:?}"
    );
    drop(p);
}

// ---------------------------------------------------------------- versioned buckets

const VBUCKET: &str = "matrix-versioned";
const VCLIENTS: usize = 3;
const VKEYS_PER_CLIENT: u64 = 2;

/// One entry of a key's history, newest first: (version id, MD5 of the data; `None` for a
/// delete marker).
type VEntry = (String, Option<String>);

/// The one operation of a key whose reply a crash may have lost.
#[derive(Debug, Clone)]
enum VPending {
    /// A PutObject (or a CopyObject restoring an older version) of data with this MD5.
    Write(String),
    /// A DeleteObject without a version id: a delete marker.
    Marker,
    /// A DeleteObject of this version id.
    Remove(String),
}

#[derive(Debug, Default)]
struct VModel {
    /// Acknowledged history of each key, newest first.
    keys: BTreeMap<String, Vec<VEntry>>,
    pending: Option<(String, VPending)>,
    acked: u64,
}

fn vkey(client: usize, k: u64) -> String {
    format!("v{client}/k{k}")
}

/// One client on a versioned bucket: overwrites, delete markers, permanent deletes by version
/// and restores by copy, each recorded as pending until acknowledged.
async fn versioned_client(c: Client, me: usize, model: &mut VModel, rng: &mut Rng) {
    loop {
        let key = vkey(me, rng.range(0, VKEYS_PER_CLIENT));
        let history = model.keys.get(&key).cloned().unwrap_or_default();
        match rng.range(0, 10) {
            0..=4 => {
                let len = small_len(rng);
                let data = body(rng, len);
                let md5 = md5_hex(&data);
                model.pending = Some((key.clone(), VPending::Write(md5.clone())));
                let out = send!(
                    c.put_object().bucket(VBUCKET).key(&key).body(ByteStream::from(data)),
                    "versioned PutObject"
                );
                let id = out.version_id().expect("a version id").to_owned();
                model.keys.entry(key).or_default().insert(0, (id, Some(md5)));
            }
            5 | 6 => {
                model.pending = Some((key.clone(), VPending::Marker));
                let out = send!(c.delete_object().bucket(VBUCKET).key(&key), "delete marker");
                assert_eq!(out.delete_marker(), Some(true));
                let id = out.version_id().expect("the marker's id").to_owned();
                model.keys.entry(key).or_default().insert(0, (id, None));
            }
            7 | 8 if !history.is_empty() => {
                let i = usize::try_from(rng.range(0, history.len() as u64)).unwrap();
                let id = history[i].0.clone();
                model.pending = Some((key.clone(), VPending::Remove(id.clone())));
                send!(
                    c.delete_object().bucket(VBUCKET).key(&key).version_id(&id),
                    "DeleteObject by version"
                );
                model.keys.get_mut(&key).unwrap().retain(|(v, _)| *v != id);
            }
            _ => {
                // Restore the oldest object version by copying it onto its key.
                let Some((id, Some(md5))) =
                    history.iter().rev().find(|(_, m)| m.is_some()).cloned()
                else {
                    continue;
                };
                model.pending = Some((key.clone(), VPending::Write(md5.clone())));
                let out = send!(
                    c.copy_object()
                        .bucket(VBUCKET)
                        .key(&key)
                        .copy_source(format!("{VBUCKET}/{key}?versionId={id}")),
                    "restore by copy"
                );
                assert_eq!(out.copy_source_version_id(), Some(id.as_str()));
                let new = out.version_id().expect("a version id").to_owned();
                model.keys.entry(key).or_default().insert(0, (new, Some(md5)));
            }
        }
        model.pending = None;
        model.acked += 1;
    }
}

/// The versions of `key` as listed (newest first), each object version read back by id.
async fn observed_history(c: &Client, key: &str) -> Vec<VEntry> {
    // Ids sort newest first within a key: merge versions and markers back in that order. A
    // long run makes more than a page of versions: follow the markers.
    let mut entries: Vec<(String, bool, bool)> = Vec::new();
    let mut marker: Option<(String, String)> = None;
    loop {
        let mut req = c.list_object_versions().bucket(VBUCKET).prefix(key);
        if let Some((k, v)) = &marker {
            req = req.key_marker(k).version_id_marker(v);
        }
        let r = req.send().await.expect("listing");
        entries.extend(
            r.versions()
                .iter()
                .filter(|v| v.key() == Some(key))
                .map(|v| (v.version_id().unwrap().to_owned(), false, v.is_latest().unwrap()))
                .chain(
                    r.delete_markers().iter().filter(|m| m.key() == Some(key)).map(|m| {
                        (m.version_id().unwrap().to_owned(), true, m.is_latest().unwrap())
                    }),
                ),
        );
        if r.is_truncated() != Some(true) {
            break;
        }
        let next = (r.next_key_marker(), r.next_version_id_marker());
        let (Some(k), Some(v)) = next else { panic!("{key}: a truncated page without markers") };
        marker = Some((k.to_owned(), v.to_owned()));
    }
    entries.sort();
    let latest: Vec<bool> = entries.iter().map(|e| e.2).collect();
    if !entries.is_empty() {
        assert!(latest[0] && latest[1..].iter().all(|l| !l), "{key}: IsLatest {latest:?}");
    }
    let mut out = Vec::new();
    for (id, marker, _) in entries {
        if marker {
            out.push((id, None));
            continue;
        }
        let got = c.get_object().bucket(VBUCKET).key(key).version_id(&id).send().await;
        let bytes = got.expect("GET by version id").body.collect().await.unwrap().into_bytes();
        out.push((id, Some(md5_hex(&bytes))));
    }
    out
}

/// Checks every key against the model (the lost operation happened entirely or not at all)
/// and settles the model to what was observed.
async fn verify_versioned(c: &Client, models: &mut [VModel], cycle: usize) {
    for m in models.iter_mut() {
        let pending = m.pending.take();
        for (key, history) in &mut m.keys {
            let got = observed_history(c, key).await;
            let ok = match &pending {
                Some((k, op)) if k == key => match op {
                    VPending::Write(md5) => {
                        got == *history
                            || (got.len() == history.len() + 1
                                && got[1..] == history[..]
                                && got[0].1.as_ref() == Some(md5))
                    }
                    VPending::Marker => {
                        got == *history
                            || (got.len() == history.len() + 1
                                && got[1..] == history[..]
                                && got[0].1.is_none())
                    }
                    VPending::Remove(id) => {
                        got == *history
                            || got
                                == history
                                    .iter()
                                    .filter(|(v, _)| v != id)
                                    .cloned()
                                    .collect::<Vec<_>>()
                    }
                },
                _ => got == *history,
            };
            assert!(
                ok,
                "cycle {cycle}: {key} has {got:?}; acknowledged {history:?}, lost {pending:?}"
            );
            // The current version is the newest entry, or none behind a marker.
            let current = c.get_object().bucket(VBUCKET).key(key).send().await;
            match got.first() {
                Some((id, Some(_))) => {
                    assert_eq!(current.expect("current").version_id(), Some(id.as_str()));
                }
                _ => assert_eq!(err_info(&current.unwrap_err()).0, 404),
            }
            *history = got;
        }
        // A key the lost operation created.
        if let Some((key, _)) = pending
            && !m.keys.contains_key(&key)
        {
            let got = observed_history(c, &key).await;
            assert!(got.len() <= 1, "cycle {cycle}: {key} has {got:?} after one lost write");
            m.keys.insert(key, got);
        }
    }
}

/// Versioned overwrites, markers, permanent deletes and restores by copy, killed by SIGKILL at
/// random moments: after each crash the disk holds exactly the referenced blobs and every key's
/// history is what was acknowledged, with the lost operation applied entirely or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versioned_crash_cycles() {
    if std::env::var_os("S3GATE_TEST_CRASH").is_none() {
        println!("versioned_crash_cycles: skipped: set S3GATE_TEST_CRASH=1");
        return;
    }
    let cycles: usize = std::env::var("S3GATE_TEST_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(40, |n: usize| n.div_ceil(4));
    let tmp = tempfile::Builder::new().prefix("s3gate-vmatrix-").tempdir().unwrap();
    let dir = tmp.path().join("data");
    let scratch = tmp.path().join("scratch");
    let (ak, sk) = random_keys();
    let mut rng = Rng::from_os("versioned_crash_cycles");
    let mut models: Vec<VModel> = (0..VCLIENTS).map(|_| VModel::default()).collect();
    for cycle in 0..=cycles {
        let mut p = match launch(&dir, &ak, &sk, None) {
            Launch::Up(p) => p,
            Launch::Died(status, err) => {
                panic!("cycle {cycle}: the gateway failed to start ({status}); stderr:\n{err}")
            }
        };
        let c = p.client(&ak, &sk, Flavour::WhenRequired, true);
        if cycle == 0 {
            create_bucket(&c, VBUCKET).await;
            c.put_bucket_versioning()
                .bucket(VBUCKET)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        check_disk(&dir, cycle);
        verify_versioned(&c, &mut models, cycle).await;
        if cycle == cycles {
            break;
        }
        let mut set = tokio::task::JoinSet::new();
        for (me, mut model) in std::mem::take(&mut models).into_iter().enumerate() {
            let c = p.client(&ak, &sk, Flavour::ALL[me % 2], false);
            let mut crng = Rng::from_seed(rng.next_u64());
            set.spawn(async move {
                versioned_client(c, me, &mut model, &mut crng).await;
                (me, model)
            });
        }
        tokio::time::sleep(Duration::from_millis(rng.range(50, 800))).await;
        p.kill();
        let mut back: Vec<(usize, VModel)> = Vec::new();
        while let Some(r) = set.join_next().await {
            back.push(r.expect("client task panicked"));
        }
        back.sort_by_key(|(i, _)| *i);
        models = back.into_iter().map(|(_, m)| m).collect();
        check_database(&dir, &scratch, cycle);
    }
    let acked: u64 = models.iter().map(|m| m.acked).sum();
    let versions: usize = models.iter().flat_map(|m| m.keys.values()).map(Vec::len).sum();
    println!("versioned_crash_cycles: {cycles} cycles, {acked} acknowledged, {versions} versions");
    assert!(cycles < 10 || acked > 0, "the load must make progress");
}

// ---------------------------------------------------------------- a read failing halfway

/// A GET whose second blob is truncated under the running gateway: the client receives the
/// first part, then the connection breaks before `Content-Length` bytes arrived; the gateway
/// logs the failure with the request id it sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_blob_read_breaks_the_connection_and_is_logged() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "broken").await;
    let mut rng = Rng::from_seed(7);
    let p1 = body(&mut rng, 5 * MIB);
    let p2 = body(&mut rng, 2 * MIB);
    let id = c.create_multipart_upload().bucket("broken").key("obj").send().await.unwrap();
    let id = id.upload_id().unwrap();
    let mut done = Vec::new();
    for (n, p) in [(1, &p1), (2, &p2)] {
        let out = c
            .upload_part()
            .bucket("broken")
            .key("obj")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    c.complete_multipart_upload()
        .bucket("broken")
        .key("obj")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    // Truncate the blob of part 2 (the blob files are the only ones of that size).
    let blobs = files_under(&gw.dir.join("blobs"));
    let second = blobs
        .iter()
        .find(|p| std::fs::metadata(p).unwrap().len() == 2 * MIB as u64)
        .expect("the part-2 blob");
    std::fs::OpenOptions::new().write(true).open(second).unwrap().set_len(MIB as u64).unwrap();

    let url = c
        .get_object()
        .bucket("broken")
        .key("obj")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap(),
        )
        .await
        .unwrap();
    let uri: http::Uri = url.uri().parse().unwrap();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
        uri.path_and_query().unwrap(),
        gw.port
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // The read ends at EOF or a reset; either way it must end, and short.
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the broken response must end, not hang");
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response head") + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {name} in {head}"))
    };
    let declared: usize = header("content-length").parse().unwrap();
    assert_eq!(declared, 7 * MIB);
    let received = raw.len() - head_end;
    assert!(received < declared, "received {received} of {declared} bytes: must be short");
    assert!(received >= 5 * MIB, "part 1 arrived whole before the failure ({received} bytes)");
    assert_eq!(raw[head_end..head_end + 5 * MIB], p1[..], "the bytes that arrived are right");
    // The gateway logged it with the request id it answered with.
    let request_id = header("x-amz-request-id").to_uppercase();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = gw.stderr();
        if log.lines().any(|l| l.contains("response body failed") && l.contains(&request_id)) {
            break;
        }
        assert!(Instant::now() < deadline, "no error log with request id {request_id}:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A GET of a one-blob object whose blob file is gone (lost behind the gateway's back): the
/// blob is opened before the response head, so the client gets a 500 InternalError with an XML
/// body and a request id, not a 200 whose body breaks; HEAD (which reads no data) still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_blob_is_an_error_status_not_a_broken_200() {
    use aws_sdk_s3::operation::RequestId as _;

    let gw = Gateway::start();
    let c = gw.client_no_retry(Flavour::WhenRequired);
    create_bucket(&c, "lost").await;
    let before = files_under(&gw.dir.join("blobs"));
    c.put_object()
        .bucket("lost")
        .key("obj")
        .body(ByteStream::from(vec![7u8; 300_000]))
        .send()
        .await
        .unwrap();
    let blob = files_under(&gw.dir.join("blobs"))
        .into_iter()
        .find(|p| !before.contains(p))
        .expect("the object's blob");
    std::fs::remove_file(&blob).unwrap();

    let err = c.get_object().bucket("lost").key("obj").send().await.unwrap_err();
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(500), "{err:?}");
    assert_eq!(err.code(), Some("InternalError"), "{err:?}");
    assert!(err.request_id().is_some_and(|id| !id.is_empty()), "{err:?}");
    let head = c.head_object().bucket("lost").key("obj").send().await.unwrap();
    assert_eq!(head.content_length(), Some(300_000));
}
