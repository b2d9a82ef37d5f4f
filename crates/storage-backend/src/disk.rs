//! [`DiskBlobs`]: blobs as files on a local filesystem.
//!
//! The layout, durability order and threading are documented on [`DiskBlobs`].

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt, stream};
use tokio::task::{JoinError, JoinHandle, spawn_blocking};

use crate::blob::{
    BlobEntry, BlobError, BlobId, BlobInfo, BlobListStream, BlobStore, BlobStream, ByteStream,
    StoreSpace,
};
use crate::range::checked_range;

/// `errno` of a full filesystem.
const ENOSPC: i32 = 28;
/// A put collects body chunks until they reach this many bytes, then writes them with one
/// vectored write on a blocking job.
const WRITE_BATCH: usize = 256 * 1024;
/// How long a put waits for more body before it writes a partial batch: a client that trickles
/// its body then holds no buffer while it is silent.
const STALL_FLUSH: Duration = Duration::from_millis(20);
/// Size of the frames a read stream yields (the last one may be shorter).
const READ_FRAME: usize = 1 << 20;
/// Once a put has written this much since its last early flush started, it starts another
/// (see `PutWriter::kick_flush`).
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
/// No file I/O runs on the async workers. A put collects body chunks into batches of 256 KiB
/// and writes each with one vectored write in a `spawn_blocking` job, one job at a time per
/// put, overlapping the receipt of the next batch; when the body stalls for 20 ms the partial
/// batch is written (so puts need a tokio runtime with its time driver enabled). Between jobs a put holds no thread, so an
/// upload that trickles costs the chunks it received in the last 20 ms and nothing else. A get
/// reads 1 MiB frames with `spawn_blocking`, one frame ahead of the consumer; list and cleanup
/// walk directories with `spawn_blocking`.
///
/// # Cancellation
///
/// Dropping a `put` future drops its temp file, or leaves it to the job writing into it, whose
/// end removes it. If the drop lands while the commit job is past its last check (between it
/// and the rename), the blob becomes visible without anyone knowing its id: an orphan that the
/// sweep removes, as it removes any blob older than its grace period that no metadata
/// references. A temp file whose writer died with the process stays in `tmp/` until
/// [`BlobStore::cleanup_incomplete`]. Dropping a read stream lets at most one in-flight frame
/// read finish, then closes the file.
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
    /// Flushes started while a put was still receiving (see `PutWriter::kick_flush`).
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

impl BlobStore for DiskBlobs {
    async fn put(&self, mut body: ByteStream) -> Result<BlobInfo, BlobError> {
        let id = BlobId::generate()?;
        // Set when this future ends, whichever way: a commit still to come then removes its
        // temp file instead of renaming it.
        let abandoned = Arc::new(AtomicBool::new(false));
        let abandon_guard = AbandonOnDrop(Arc::clone(&abandoned));
        let mut writer = PutWriter::new(Arc::clone(&self.inner), &id);
        let mut batch = Vec::new();
        let mut batch_len = 0;
        loop {
            let next = match body.next().now_or_never() {
                Some(next) => next,
                // The client is slow: what it sent so far goes to the file if nothing more
                // comes soon, so a silent upload holds no buffer (and no thread).
                None if batch_len > 0 => {
                    if let Ok(next) = tokio::time::timeout(STALL_FLUSH, body.next()).await {
                        next
                    } else {
                        batch_len = 0;
                        if let Err(e) = writer.submit(std::mem::take(&mut batch)).await {
                            writer.discard().await;
                            return Err(io_error(e));
                        }
                        body.next().await
                    }
                }
                None => body.next().await,
            };
            match next {
                Some(Ok(chunk)) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    batch_len += chunk.len();
                    batch.push(chunk);
                    if batch_len >= WRITE_BATCH {
                        batch_len = 0;
                        if let Err(e) = writer.submit(std::mem::take(&mut batch)).await {
                            writer.discard().await;
                            return Err(io_error(e));
                        }
                    }
                }
                Some(Err(e)) => {
                    abandon_guard.0.store(true, Ordering::Relaxed);
                    // The temp file is gone once this returns: a failed put leaves nothing.
                    writer.discard().await;
                    return Err(BlobError::Body(e));
                }
                None => break,
            }
        }
        if !batch.is_empty()
            && let Err(e) = writer.submit(batch).await
        {
            writer.discard().await;
            return Err(io_error(e));
        }
        let size = writer.finish(abandoned).await.map_err(io_error)?;
        drop(abandon_guard);
        Ok(BlobInfo { id, size })
    }

    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        let path = self.inner.blob_path(id);
        let blobs = self.inner.blobs.clone();
        // The open and the first frame share one trip to a blocking thread: a small object is
        // then one hop, not two.
        let (reader, first) = spawn_blocking(move || {
            let mut reader = match open_range(&path, offset, len) {
                // No `blobs/` at all is a filesystem that is not there (an unmounted NAS, a
                // disk gone), not a missing blob: the store is down, retrying may succeed.
                Err(BlobError::NotFound) if !blobs.is_dir() => {
                    return Err(BlobError::Unavailable(
                        format!("{} is not there (unmounted?)", blobs.display()).into(),
                    ));
                }
                other => other?,
            };
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

    async fn space(&self) -> Result<Option<StoreSpace>, BlobError> {
        let (root, reserve) = (self.inner.root.clone(), self.inner.reserve);
        spawn_blocking(move || {
            let Some(total) = crate::space::filesystem_size(&root) else { return Ok(None) };
            let free = crate::space::free_bytes(&root)?;
            Ok(Some(StoreSpace { total, available: free.saturating_sub(reserve) }))
        })
        .await
        .map_err(join_error)?
        .map_err(io_error)
    }
}

/// A put's temp file. Whoever drops it last without committing it removes the file: the put,
/// or, when the put was dropped meanwhile, the blocking job that held it.
struct TempBlob {
    file: Arc<File>,
    path: PathBuf,
    size: u64,
    /// Committed or removed: nothing left for `Drop` to do.
    settled: bool,
}

impl TempBlob {
    /// Creates the temp file (blocking).
    fn create(path: PathBuf) -> io::Result<TempBlob> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
        let file = Arc::new(options.open(&path)?);
        Ok(TempBlob { file, path, size: 0, settled: false })
    }

    /// Appends the chunks in order, with vectored writes (blocking).
    fn write_batch(&mut self, batch: &[Bytes]) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = batch.iter().map(|c| IoSlice::new(c)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match (&*self.file).write_vectored(rest) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.size += n as u64;
                    IoSlice::advance_slices(&mut rest, n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Removes the file now (blocking).
    fn discard(mut self) {
        self.settled = true;
        remove_quietly(&self.path);
    }

    /// Makes the blob durable and visible under `id`, in the numbered order of the
    /// [`DiskBlobs`] docs; returns its size, or `None` when the put was abandoned first
    /// (blocking).
    fn commit(
        mut self,
        inner: &Inner,
        id: &BlobId,
        abandoned: &AtomicBool,
    ) -> io::Result<Option<u64>> {
        // Step 1: the data must be on disk before its name is.
        if let Err(e) = self.file.sync_all() {
            self.discard();
            return Err(e);
        }
        if abandoned.load(Ordering::Relaxed) {
            self.discard();
            return Ok(None);
        }
        // Step 2: fan-out directories, their entries made durable once.
        let dir = match inner.ensure_fanout(id) {
            Ok(dir) => dir,
            Err(e) => {
                self.discard();
                return Err(e);
            }
        };
        let path = dir.join(id.as_str());
        // Step 3: atomic visibility.
        if let Err(e) = fs::rename(&self.path, &path) {
            self.discard();
            return Err(e);
        }
        self.settled = true;
        // Step 4: the rename is durable before the id is handed out.
        if let Err(e) = sync_dir(&dir) {
            // The caller gets an error and will never reference this blob: take it back.
            remove_quietly(&path);
            return Err(e);
        }
        Ok(Some(self.size))
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Dropped with its put (a client gone, a cancelled request): remove the file, off the
        // async workers when there are some.
        let path = std::mem::take(&mut self.path);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || remove_quietly(&path))),
            Err(_) => remove_quietly(&path),
        }
    }
}

/// The write side of one put: batches go to the temp file one blocking job at a time, each
/// job overlapping the receipt of the next batch. Between jobs no thread is held, so an
/// upload that trickles costs the batch it is filling and nothing else.
struct PutWriter {
    inner: Arc<Inner>,
    id: BlobId,
    tmp: PathBuf,
    /// The temp file while no job holds it (`None` before the first batch).
    temp: Option<TempBlob>,
    /// The batch write in flight; it gives the file back.
    job: Option<JoinHandle<io::Result<TempBlob>>>,
    /// The early flush in flight (see [`DiskBlobs::early_flushes`]).
    flush: Option<JoinHandle<io::Result<()>>>,
    /// Bytes handed to jobs, and that count when the last flush started.
    submitted: u64,
    flushed_at: u64,
}

impl PutWriter {
    fn new(inner: Arc<Inner>, id: &BlobId) -> PutWriter {
        let tmp = inner.tmp_path(id);
        PutWriter {
            inner,
            id: id.clone(),
            tmp,
            temp: None,
            job: None,
            flush: None,
            submitted: 0,
            flushed_at: 0,
        }
    }

    /// Waits for the batch write in flight; its error, if it failed (its file is gone then).
    async fn settle(&mut self) -> io::Result<()> {
        if let Some(job) = self.job.take() {
            self.temp = Some(job.await.map_err(io::Error::other)??);
        }
        Ok(())
    }

    /// Hands a batch to a blocking job, once the previous one is done.
    async fn submit(&mut self, batch: Vec<Bytes>) -> io::Result<()> {
        self.settle().await?;
        let coming: u64 = batch.iter().map(|c| c.len() as u64).sum();
        if let Some(file) = self.temp.as_ref().map(|t| Arc::clone(&t.file)) {
            self.kick_flush(file)?;
        }
        self.submitted += coming;
        let temp = self.temp.take();
        let (inner, path) = (Arc::clone(&self.inner), self.tmp.clone());
        self.job = Some(spawn_blocking(move || {
            let mut temp = match temp {
                Some(temp) => temp,
                None => TempBlob::create(path)?,
            };
            match ensure_room(&inner.tmp, coming, inner.reserve)
                .and_then(|()| temp.write_batch(&batch))
            {
                Ok(()) => Ok(temp),
                Err(e) => {
                    temp.discard();
                    Err(e)
                }
            }
        }));
        Ok(())
    }

    /// Starts an `fdatasync` of what is written so far when [`FLUSH_EVERY`] more bytes arrived
    /// and none is running: the disk writes overlap the upload, and the final `fsync` has only
    /// the tail to write. (The kernel starts writeback on its own only past a share of memory,
    /// gigabytes here: without this the final `fsync` of a 1 GiB blob would write all of it
    /// while the client waits. Linux's `sync_file_range` would do without a job, but neither
    /// the standard library nor rustix offers it, and this crate forbids `unsafe`.)
    fn kick_flush(&mut self, file: Arc<File>) -> io::Result<()> {
        if self.submitted - self.flushed_at < FLUSH_EVERY {
            return Ok(());
        }
        if let Some(flush) = &self.flush
            && !flush.is_finished()
        {
            return Ok(());
        }
        if let Some(flush) = self.flush.take() {
            // Finished: collecting its result does not block. A failed fdatasync is kept for
            // the put: the final fsync must not be trusted to report it again.
            flush.now_or_never().unwrap_or(Ok(Ok(()))).map_err(io::Error::other)??;
        }
        self.flush = Some(spawn_blocking(move || file.sync_data()));
        self.flushed_at = self.submitted;
        self.inner.early_flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Waits for the writes and the flush, then commits; the blob's size.
    async fn finish(mut self, abandoned: Arc<AtomicBool>) -> io::Result<u64> {
        if let Err(e) = self.settle().await {
            self.discard().await;
            return Err(e);
        }
        if let Some(flush) = self.flush.take()
            && let Err(e) = flush.await.map_err(io::Error::other).and_then(|r| r)
        {
            self.discard().await;
            return Err(e);
        }
        let (temp, inner, path) = (self.temp.take(), Arc::clone(&self.inner), self.tmp.clone());
        let id = self.id.clone();
        let committed = spawn_blocking(move || {
            let temp = match temp {
                Some(temp) => temp,
                None => TempBlob::create(path)?,
            };
            temp.commit(&inner, &id, &abandoned)
        })
        .await
        .map_err(io::Error::other)??;
        committed.ok_or_else(|| io::Error::other("put abandoned during its commit"))
    }

    /// Removes the temp file once no job holds it; returns when it is gone.
    async fn discard(mut self) {
        let _ = self.settle().await;
        if let Some(flush) = self.flush.take() {
            let _ = flush.await;
        }
        if let Some(temp) = self.temp.take() {
            let _ = spawn_blocking(move || temp.discard()).await;
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
    } else if matches!(
        e.kind(),
        ErrorKind::NotConnected
            | ErrorKind::TimedOut
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkDown
            | ErrorKind::StaleNetworkFileHandle
    ) {
        // A network filesystem (a NAS tier) that is not answering: retrying may succeed.
        BlobError::Unavailable(Box::new(e))
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
        let down = io_error(io::Error::from(ErrorKind::StaleNetworkFileHandle));
        assert!(matches!(down, BlobError::Unavailable(_)), "{down:?}");
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
