//! [`DiskBlobs`]: blobs as files on a local filesystem.
//!
//! The layout, durability order and threading are documented on [`DiskBlobs`].

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle, spawn_blocking};

use crate::blob::{
    BlobEntry, BlobError, BlobId, BlobInfo, BlobListStream, BlobStore, BlobStream, ByteStream,
};
use crate::range::checked_range;

/// `errno` of a full filesystem.
const ENOSPC: i32 = 28;
/// Capacity of the writer's buffer: small body chunks are coalesced into writes this large.
const WRITE_BUFFER: usize = 1 << 20;
/// The async side batches body chunks until they reach this many bytes before waking the writer.
const WRITE_BATCH: usize = 256 * 1024;
/// Batches in flight between a put's async task and its writer.
const WRITE_QUEUE: usize = 8;
/// Size of the frames a read stream yields (the last one may be shorter).
const READ_FRAME: usize = 1 << 20;
/// Once a put has written this much since the flusher last started, the flusher is asked to
/// push what is written so far to the disk (see [`Flusher`]).
const FLUSH_EVERY: u64 = 16 << 20;

/// Unix permissions of blob and temp files: only the gateway's user may read object data.
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;
/// Unix permissions of the directories the store creates.
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;

/// A [`BlobStore`] keeping each blob as one file under a root directory.
///
/// Files are created with mode `0600` and directories with `0700` on Unix: only the gateway's
/// user reads object data. Cloning is cheap and shares the store.
///
/// # Layout
///
/// ```text
/// <root>/blobs/ab/cd/abcd…(32 hex)   committed blobs, two levels of 256-way fan-out
/// <root>/tmp/<id>.tmp                 writes in progress (same filesystem, so rename is atomic)
/// ```
///
/// # Durability order of a put
///
/// 1. The body is streamed into `tmp/<id>.tmp`, then the file is `fsync`ed: without it the
///    rename below could reach the disk before the data, and a crash would leave a committed
///    name on an empty or partial file.
/// 2. The fan-out directories are created; the first time this process uses one, its parent
///    directory is `fsync`ed, so that the directory entry itself survives a crash.
/// 3. The temp file is `rename`d to `blobs/ab/cd/<id>`: readers see the whole blob or none.
/// 4. The fan-out directory is `fsync`ed: this makes the rename durable *before* `put` returns
///    the id, so the metadata that the caller commits next never names a blob a crash can lose.
///
/// A delete is not `fsync`ed: a delete lost in a crash only resurrects an unreferenced blob,
/// which the orphan sweep removes again.
///
/// # A full disk
///
/// A put refuses with [`BlobError::InsufficientStorage`] (and removes its temp file) before
/// the filesystem's free space would drop below a reserve: 1/64 of the filesystem, at least
/// 4 MiB, at most 1 GiB. The reserve is for whatever shares the filesystem, above all the
/// metadata database: without it blobs fill the disk to the last byte, and then the deletes
/// that would free space cannot commit either.
///
/// # Threads
///
/// No file I/O runs on the async workers. A put hands its body, in batches of `Bytes`, to one
/// blocking writer (`spawn_blocking`) through a bounded channel; a get reads 1 MiB frames with
/// `spawn_blocking`, one frame ahead of the consumer; list and cleanup walk directories with
/// `spawn_blocking`. Each put in flight holds one blocking-pool thread until its body ends, so
/// the runtime's `max_blocking_threads` bounds concurrent uploads.
///
/// # Cancellation
///
/// Dropping a `put` future closes the channel; the writer deletes its temp file. If the drop
/// lands while the writer is already committing (between its last check and the rename), the
/// blob becomes visible without anyone knowing its id: an orphan that the sweep removes, as it
/// removes any blob older than its grace period that no metadata references. A temp file whose
/// writer died with the process stays in `tmp/` until [`BlobStore::cleanup_incomplete`].
/// Dropping a read stream lets at most one in-flight frame read finish, then closes the file.
#[derive(Debug, Clone)]
pub struct DiskBlobs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
    /// Fan-out directories ("ab", "ab/cd") whose entry in their parent this process has fsynced.
    durable_dirs: Mutex<HashSet<String>>,
    /// Free bytes a put leaves on the filesystem (see "A full disk" on [`DiskBlobs`]).
    reserve: u64,
    /// Flushes started while a put was still receiving (see [`Flusher`]).
    early_flushes: AtomicU64,
}

impl DiskBlobs {
    /// Opens (creating if needed) a store rooted at `root`, with `root/blobs/` and `root/tmp/`.
    ///
    /// This does blocking I/O: call it at startup, or from `spawn_blocking`.
    pub fn open(root: &Path) -> Result<Self, BlobError> {
        fs::create_dir_all(root).map_err(io_error)?;
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        let created_blobs = create_dir(&blobs).map_err(io_error)?;
        let created_tmp = create_dir(&tmp).map_err(io_error)?;
        if created_blobs || created_tmp {
            sync_dir(root).map_err(io_error)?;
        }
        let reserve = crate::space::reserve_for(root);
        let inner = Inner {
            root: root.to_owned(),
            blobs,
            tmp,
            durable_dirs: Mutex::new(HashSet::new()),
            reserve,
            early_flushes: AtomicU64::new(0),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Free bytes every put leaves on the filesystem.
    pub fn reserve(&self) -> u64 {
        self.inner.reserve
    }

    /// How many times since open a large put's data was pushed to the disk while the put was
    /// still receiving, so that its final `fsync` had only the tail to write.
    pub fn early_flushes(&self) -> u64 {
        self.inner.early_flushes.load(Ordering::Relaxed)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where the blob `id` lives (whether or not it exists): `root/blobs/ab/cd/<id>`.
    pub fn blob_path(&self, id: &BlobId) -> PathBuf {
        self.inner.blob_path(id)
    }
}

impl Inner {
    fn fanout(id: &BlobId) -> (&str, &str) {
        // A BlobId is always 32 ASCII hex digits, so these slices are in bounds.
        let s = id.as_str();
        (&s[0..2], &s[2..4])
    }

    fn blob_dir(&self, id: &BlobId) -> PathBuf {
        let (l1, l2) = Self::fanout(id);
        self.blobs.join(l1).join(l2)
    }

    fn blob_path(&self, id: &BlobId) -> PathBuf {
        self.blob_dir(id).join(id.as_str())
    }

    fn tmp_path(&self, id: &BlobId) -> PathBuf {
        self.tmp.join(format!("{id}.tmp"))
    }

    fn is_durable(&self, key: &str) -> bool {
        self.durable_dirs.lock().unwrap_or_else(PoisonError::into_inner).contains(key)
    }

    fn mark_durable(&self, key: String) {
        self.durable_dirs.lock().unwrap_or_else(PoisonError::into_inner).insert(key);
    }

    /// Creates the fan-out directories of `id` and makes their entries durable; returns the
    /// leaf directory.
    fn ensure_fanout(&self, id: &BlobId) -> io::Result<PathBuf> {
        let (l1, l2) = Self::fanout(id);
        let leaf_key = format!("{l1}/{l2}");
        let leaf = self.blob_dir(id);
        if self.is_durable(&leaf_key) {
            return Ok(leaf);
        }
        // Whether this thread or a concurrent one created a directory, fsyncing its parent
        // after it exists makes its entry durable; the set only spares repeating that.
        let mid = self.blobs.join(l1);
        if !self.is_durable(l1) {
            create_dir(&mid)?;
            sync_dir(&self.blobs)?;
            self.mark_durable(l1.to_owned());
        }
        create_dir(&leaf)?;
        sync_dir(&mid)?;
        self.mark_durable(leaf_key);
        Ok(leaf)
    }
}

/// Marks a put abandoned when its async side ends; see [`DiskBlobs::put`].
struct AbandonOnDrop(Arc<AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What a put's async task sends its writer.
enum Msg {
    /// More body bytes, in order.
    Data(Vec<Bytes>),
    /// The body ended: make the blob durable and visible.
    Finish,
}

/// What the writer reports: the blob's size once committed.
type WriteResult = io::Result<u64>;

impl BlobStore for DiskBlobs {
    async fn put(&self, mut body: ByteStream) -> Result<BlobInfo, BlobError> {
        let id = BlobId::generate()?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let (done_tx, done_rx) = oneshot::channel();
        let inner = Arc::clone(&self.inner);
        let writer_id = id.clone();
        let abandoned = Arc::new(AtomicBool::new(false));
        // Set when this future ends, whichever way: a writer still running then (body error,
        // dropped future) skips the batches still queued instead of writing them.
        let abandon_guard = AbandonOnDrop(Arc::clone(&abandoned));
        // The writer owns the temp file. If this future is dropped, `tx` and `done_rx` drop with
        // it: the writer sees the closed channel (or the closed result slot) and deletes the
        // file instead of committing it.
        spawn_blocking(move || write_blob(&inner, &writer_id, rx, &abandoned, done_tx));

        let mut batch = Vec::new();
        let mut batch_len = 0;
        loop {
            match body.next().await {
                Some(Ok(chunk)) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    batch_len += chunk.len();
                    batch.push(chunk);
                    if batch_len >= WRITE_BATCH {
                        batch_len = 0;
                        if tx.send(Msg::Data(std::mem::take(&mut batch))).await.is_err() {
                            // The writer failed; its error is waiting in `done_rx`.
                            break;
                        }
                    }
                }
                Some(Err(e)) => {
                    abandon_guard.0.store(true, Ordering::Relaxed);
                    drop(tx);
                    // Wait until the writer has removed its temp file, so a failed put leaves
                    // nothing behind once it returns.
                    let _ = done_rx.await;
                    return Err(BlobError::Body(e));
                }
                None => {
                    if !batch.is_empty() && tx.send(Msg::Data(batch)).await.is_err() {
                        break;
                    }
                    let _ = tx.send(Msg::Finish).await;
                    break;
                }
            }
        }
        drop(tx);
        match done_rx.await {
            Ok(Ok(size)) => Ok(BlobInfo { id, size }),
            Ok(Err(e)) => Err(io_error(e)),
            Err(_) => Err(BlobError::Backend("blob writer stopped without a result".into())),
        }
    }

    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        let path = self.inner.blob_path(id);
        // The open and the first frame share one trip to a blocking thread: a small object is
        // then one hop, not two.
        let (reader, first) = spawn_blocking(move || {
            let mut reader = open_range(&path, offset, len)?;
            let first = (reader.remaining > 0).then(|| read_frame(&mut reader));
            Ok::<_, BlobError>((reader, first))
        })
        .await
        .map_err(join_error)??;
        let start = first.map(|frame| Frame::Ready(reader, frame));
        Ok(Box::pin(stream::unfold(start, |state| async move {
            // The frame to yield now; the read of the next one starts before this frame is
            // handed out, so disk and consumer work in parallel.
            let (reader, frame) = match state? {
                Frame::Ready(reader, frame) => (reader, frame),
                Frame::Reading(pending) => match pending.await {
                    Ok(done) => done,
                    Err(e) => return Some((Err(join_error(e)), None)),
                },
            };
            match frame {
                Ok(frame) => {
                    let next = (reader.remaining > 0).then(|| Frame::Reading(spawn_read(reader)));
                    Some((Ok(frame), next))
                }
                Err(e) => Some((Err(io_error(e)), None)),
            }
        })))
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        let path = self.inner.blob_path(id);
        spawn_blocking(move || match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io_error(e)),
            _ => Ok(()),
        })
        .await
        .map_err(join_error)?
    }

    async fn list(&self) -> Result<BlobListStream, BlobError> {
        let blobs = self.inner.blobs.clone();
        let top = spawn_blocking(move || fanout_dirs(&blobs)).await.map_err(join_error)?;
        let top = top.map_err(io_error)?;
        let blobs = self.inner.blobs.clone();
        // One blocking directory walk per first-level directory keeps memory bounded to about
        // 1/256 of the store while the stream is consumed.
        let entries = stream::iter(top)
            .then(move |l1| {
                let blobs = blobs.clone();
                async move { spawn_blocking(move || scan_l1(&blobs, &l1)).await }
            })
            .flat_map(|scanned| {
                let items: Vec<Result<BlobEntry, BlobError>> = match scanned {
                    Ok(Ok(entries)) => entries.into_iter().map(Ok).collect(),
                    Ok(Err(e)) => vec![Err(io_error(e))],
                    Err(e) => vec![Err(join_error(e))],
                };
                stream::iter(items)
            });
        Ok(Box::pin(entries))
    }

    async fn cleanup_incomplete(&self, older_than: Duration) -> Result<u64, BlobError> {
        let tmp = self.inner.tmp.clone();
        spawn_blocking(move || remove_old_files(&tmp, older_than))
            .await
            .map_err(join_error)?
            .map_err(io_error)
    }
}

/// The blocking side of a put: streams the batches into a temp file, then commits it.
fn write_blob(
    inner: &Inner,
    id: &BlobId,
    mut rx: mpsc::Receiver<Msg>,
    abandoned: &AtomicBool,
    done: oneshot::Sender<WriteResult>,
) {
    let tmp = inner.tmp_path(id);
    match write_and_commit(inner, id, &tmp, &mut rx, abandoned, &done) {
        Ok(Some(size)) => {
            if done.send(Ok(size)).is_err() {
                // The put was dropped during the commit itself: the blob is durable but nobody
                // will reference it, so the orphan sweep will collect it.
                tracing::debug!(%id, "put dropped after its blob was committed");
            }
        }
        Ok(None) => remove_quietly(&tmp),
        Err(e) => {
            remove_quietly(&tmp);
            let _ = done.send(Err(e));
        }
    }
}

/// Returns `Ok(None)` when the put was abandoned (body error or future dropped).
fn write_and_commit(
    inner: &Inner,
    id: &BlobId,
    tmp: &Path,
    rx: &mut mpsc::Receiver<Msg>,
    abandoned: &AtomicBool,
    done: &oneshot::Sender<WriteResult>,
) -> io::Result<Option<u64>> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, options.open(tmp)?);
    let mut size = 0u64;
    let mut flusher: Option<Flusher> = None;
    let mut flushed_at = 0u64;
    loop {
        match rx.blocking_recv() {
            Some(Msg::Data(_)) if abandoned.load(Ordering::Relaxed) => {
                let _ = out.into_parts();
                return Ok(None);
            }
            Some(Msg::Data(batch)) => {
                // Bytes still in the buffer are not on the disk yet: count them as written.
                let coming =
                    batch.iter().map(|c| c.len() as u64).sum::<u64>() + WRITE_BUFFER as u64;
                ensure_room(&inner.tmp, coming, inner.reserve)?;
                for chunk in batch {
                    out.write_all(&chunk)?;
                    size += chunk.len() as u64;
                }
                if size - flushed_at >= FLUSH_EVERY {
                    let f = match &flusher {
                        Some(f) => f,
                        None => flusher.insert(Flusher::start(out.get_ref())?),
                    };
                    if f.kick() {
                        flushed_at = size;
                        inner.early_flushes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Some(Msg::Finish) => break,
            None => {
                // Abandoned: discard the buffer rather than flush it into a doomed file.
                let _ = out.into_parts();
                return Ok(None);
            }
        }
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    if let Some(f) = flusher {
        f.finish()?;
    }
    // Step 1: the data must be on disk before its name is (see the `DiskBlobs` docs).
    file.sync_all()?;
    drop(file);
    if done.is_closed() || abandoned.load(Ordering::Relaxed) {
        return Ok(None);
    }
    // Step 2: fan-out directories, their entries made durable once.
    let dir = inner.ensure_fanout(id)?;
    let path = dir.join(id.as_str());
    // Step 3: atomic visibility.
    fs::rename(tmp, &path)?;
    // Step 4: the rename is durable before the id is handed out.
    if let Err(e) = sync_dir(&dir) {
        // The caller gets an error and will never reference this blob: take it back.
        remove_quietly(&path);
        return Err(e);
    }
    Ok(Some(size))
}

/// Pushes a large blob's data to the disk while the rest of it is still arriving.
///
/// The kernel starts writing dirty pages back only when they pass a share of memory (gigabytes
/// here), so without this the final `fsync` of a 1 GiB blob would write all of it, after the
/// last byte arrived: at ~480 MB/s, two seconds during which the client waits for its reply.
/// The flusher is a thread with its own handle on the temp file that calls `fdatasync`
/// whenever the writer asks (every [`FLUSH_EVERY`] bytes, if it is not busy already), so the
/// disk writes overlap the upload and the final `fsync` only has the tail to write. A separate
/// thread rather than `fdatasync` on the writer: the writer keeps copying body bytes while the
/// disk works. (Linux's `sync_file_range` would start writeback without a thread, but neither
/// the standard library nor rustix offers it, and this crate forbids `unsafe`.)
struct Flusher {
    kick: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Flusher {
    fn start(file: &File) -> io::Result<Flusher> {
        let file = file.try_clone()?;
        let (kick, requests) = std::sync::mpsc::sync_channel::<()>(1);
        let thread =
            std::thread::Builder::new().name("s3gate-blob-flush".into()).spawn(move || {
                // A failed fdatasync is kept for the writer: the final fsync must not be
                // trusted to report it again.
                while requests.recv().is_ok() {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(Flusher { kick, thread })
    }

    /// Asks for a flush of everything written so far; `false` when one is already queued.
    fn kick(&self) -> bool {
        self.kick.try_send(()).is_ok()
    }

    /// Waits for the flushes asked for and reports their first error.
    fn finish(self) -> io::Result<()> {
        drop(self.kick);
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("blob flusher thread panicked")),
        }
    }
}

/// An open blob positioned at the start of the range still to read.
struct RangeReader {
    file: File,
    remaining: u64,
}

fn open_range(path: &Path, offset: u64, len: Option<u64>) -> Result<RangeReader, BlobError> {
    let mut file = File::open(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => BlobError::NotFound,
        _ => io_error(e),
    })?;
    let size = file.metadata().map_err(io_error)?.len();
    let (start, end) = checked_range(size, offset, len)?;
    if start > 0 && start < end {
        file.seek(SeekFrom::Start(start)).map_err(io_error)?;
    }
    Ok(RangeReader { file, remaining: end - start })
}

type ReadDone = (RangeReader, io::Result<Bytes>);

/// Reads the next frame (at most [`READ_FRAME`] bytes) on a blocking thread. A file shorter
/// than the range (truncated or corrupted) is an `UnexpectedEof` error, never a short frame.
fn spawn_read(mut reader: RangeReader) -> JoinHandle<ReadDone> {
    spawn_blocking(move || {
        let result = read_frame(&mut reader);
        (reader, result)
    })
}

/// Reads the next frame of `reader` (blocking).
fn read_frame(reader: &mut RangeReader) -> io::Result<Bytes> {
    let want = usize::try_from(reader.remaining).unwrap_or(READ_FRAME).min(READ_FRAME);
    let mut buf = vec![0u8; want];
    reader.file.read_exact(&mut buf)?;
    reader.remaining -= want as u64;
    Ok(Bytes::from(buf))
}

/// Where a read stream stands: a frame in hand, or the read of the next one in flight.
enum Frame {
    Ready(RangeReader, io::Result<Bytes>),
    Reading(JoinHandle<ReadDone>),
}

/// The first-level fan-out directories (two lowercase hex digits) under `blobs`.
fn fanout_dirs(blobs: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(blobs)? {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str().filter(|n| is_fanout_name(n))
            && entry.file_type()?.is_dir()
        {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

/// Every well-formed blob under `blobs/<l1>/`. Names that are not blob ids, or that sit in the
/// wrong fan-out directory (where `get` would never find them), are skipped. Files and
/// directories that vanish during the walk (concurrent deletes) are skipped too.
fn scan_l1(blobs: &Path, l1: &str) -> io::Result<Vec<BlobEntry>> {
    let mut out = Vec::new();
    let Some(l1_entries) = read_dir_if_exists(&blobs.join(l1))? else {
        return Ok(out);
    };
    for l2_entry in l1_entries {
        let l2_entry = l2_entry?;
        let Some(l2) =
            l2_entry.file_name().to_str().filter(|n| is_fanout_name(n)).map(str::to_owned)
        else {
            continue;
        };
        let Some(files) = read_dir_if_exists(&l2_entry.path())? else {
            continue;
        };
        for file in files {
            let file = file?;
            let Some(id) = file.file_name().to_str().and_then(BlobId::parse) else {
                continue;
            };
            if !(id.as_str().starts_with(l1) && id.as_str()[2..4] == l2) {
                continue;
            }
            let meta = match file.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_file() {
                out.push(BlobEntry { id, size: meta.len(), modified: meta.modified()? });
            }
        }
    }
    Ok(out)
}

fn read_dir_if_exists(dir: &Path) -> io::Result<Option<fs::ReadDir>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(Some(entries)),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_fanout_name(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Removes the regular files in `dir` last modified at least `older_than` ago.
fn remove_old_files(dir: &Path, older_than: Duration) -> io::Result<u64> {
    let Some(cutoff) = SystemTime::now().checked_sub(older_than) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !meta.is_file() || meta.modified()? > cutoff {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            // Its writer removed it first.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Creates one directory; `Ok(true)` if this call created it, `Ok(false)` if it existed.
fn create_dir(dir: &Path) -> io::Result<bool> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    match builder.create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Fails with ENOSPC if writing `coming` more bytes would leave less than `reserve` free.
fn ensure_room(path: &Path, coming: u64, reserve: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        let st = rustix::fs::statvfs(path)?;
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        if free < coming.saturating_add(reserve) {
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, coming, reserve);
    Ok(())
}

/// Makes the entries of `dir` (creations, renames) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    // Elsewhere a directory cannot be opened as a file; rename durability is the filesystem's.
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove an abandoned blob file");
    }
}

/// Maps an I/O error: out of space or quota is [`BlobError::InsufficientStorage`], anything
/// else [`BlobError::Backend`].
fn io_error(e: io::Error) -> BlobError {
    if e.raw_os_error() == Some(ENOSPC)
        || matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
    {
        BlobError::InsufficientStorage
    } else {
        BlobError::Backend(Box::new(e))
    }
}

fn join_error(e: JoinError) -> BlobError {
    BlobError::Backend(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_categories() {
        let full = io_error(io::Error::from_raw_os_error(28));
        assert!(matches!(full, BlobError::InsufficientStorage), "{full:?}");
        let quota = io_error(io::Error::from(ErrorKind::QuotaExceeded));
        assert!(matches!(quota, BlobError::InsufficientStorage), "{quota:?}");
        let other = io_error(io::Error::from(ErrorKind::PermissionDenied));
        assert!(matches!(other, BlobError::Backend(_)), "{other:?}");
    }

    #[test]
    fn fanout_names() {
        assert!(is_fanout_name("0f"));
        assert!(!is_fanout_name("0F"));
        assert!(!is_fanout_name("0"));
        assert!(!is_fanout_name("0fa"));
        assert!(!is_fanout_name("zz"));
    }
}
