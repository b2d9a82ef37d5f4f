//! [`CachedBlobs`]: a bounded read cache in front of a slow blob store.
//!
//! Blobs are immutable and their ids are never reused, so a cached byte is never stale: the
//! cache needs no invalidation, only a bound. Reads are cut into aligned chunks
//! ([`CacheConfig::chunk_size`], 1 MiB by default) keyed by (blob id, chunk index); each chunk
//! is looked up in a small memory tier, then in a directory tier, and only then read from the
//! store behind. Both tiers are bounded in bytes and governed by [`policy::S3Fifo`], chosen
//! for scan resistance (a backup job reading everything once does not flush the hot set).
//!
//! - **Coalescing**: concurrent misses of one chunk make one read of the store behind; the
//!   other readers wait for it.
//! - **Integrity**: a chunk file carries its length and an XXH3-64 of its bytes; a file that
//!   fails either check (a torn write, a disk error, an edit) is deleted, counted in
//!   `s3gate_cache_corrupt_total`, and the chunk is read from the store behind instead.
//! - **Durability**: none is needed. Files are written to a temporary name and renamed, never
//!   fsynced; after a crash the directory is re-indexed at open and anything torn fails its
//!   check when read.
//! - **Memory**: a reader holds at most `read_ahead` chunks; the memory tier holds at most
//!   [`CacheConfig::memory_bytes`].
//! - **What is not cached**: writes (the cache fills on read), and reads without a length
//!   (the engine always gives one). The entries of a deleted blob are not sought out; they age
//!   out like any cold entry.
//!
//! The tail chunk of a blob is cached as far as it was read: the store behind is never asked
//! for more than the caller asked for (which would cost a failed request past the end of the
//! blob), so a chunk entry may be a prefix, and a later read that needs more of it refills it.

pub mod policy;

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::sync::OnceCell;

use crate::blob::StoreSpace;
use crate::blob::{BlobError, BlobId, BlobInfo, BlobListStream, BlobStore, BlobStream, ByteStream};
use policy::{Policy, PolicyKind};

/// How a [`CachedBlobs`] is sized.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Names the cache in its metrics (label `cache`), e.g. the tier it fronts.
    pub name: String,
    /// Bytes of chunks kept in memory (0: no memory tier).
    pub memory_bytes: u64,
    /// The directory tier: a directory the cache owns, and the bytes of chunks it may hold.
    pub disk: Option<(PathBuf, u64)>,
    /// Bytes per chunk (the unit of lookup, fill and eviction).
    pub chunk_size: u64,
    /// Chunks of one read fetched ahead of the consumer.
    pub read_ahead: usize,
    /// The admission and eviction policy of both tiers.
    pub policy: PolicyKind,
}

impl CacheConfig {
    /// A cache named `name` with the defaults: 64 MiB in memory, no directory, 1 MiB chunks,
    /// 4 chunks of read-ahead.
    pub fn new(name: impl Into<String>) -> Self {
        CacheConfig {
            name: name.into(),
            memory_bytes: 64 << 20,
            disk: None,
            chunk_size: 1 << 20,
            read_ahead: 4,
            policy: PolicyKind::S3Fifo,
        }
    }
}

/// A [`BlobStore`] that serves reads of `B` through a bounded two-tier cache.
#[derive(Debug)]
pub struct CachedBlobs<B> {
    inner: Arc<B>,
    shared: Arc<Shared>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ChunkKey {
    id: BlobId,
    index: u64,
}

#[derive(Debug)]
struct Shared {
    chunk: u64,
    read_ahead: usize,
    memory: Option<Mutex<MemoryTier>>,
    disk: Option<DiskTier>,
    inflight: Mutex<HashMap<ChunkKey, Arc<Fill>>>,
    /// Deletes so far: a fill that saw one happen while it read does not keep its bytes, so
    /// that a deleted blob is never served from the cache (a read of it is `NotFound`, as the
    /// store's contract says).
    deletes: AtomicU64,
    metrics: Metrics,
}

#[derive(Debug)]
struct MemoryTier {
    policy: Box<dyn Policy<ChunkKey>>,
    data: HashMap<ChunkKey, Bytes>,
}

#[derive(Debug)]
struct DiskTier {
    dir: PathBuf,
    policy: Mutex<Box<dyn Policy<ChunkKey>>>,
}

/// One read of the store behind that concurrent misses of a chunk share.
#[derive(Debug)]
struct Fill {
    /// Bytes from the chunk's start this fill reads.
    need: u64,
    cell: OnceCell<Bytes>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the structure consistent before anything can panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<B: BlobStore> CachedBlobs<B> {
    /// Puts a cache in front of `inner`. With a directory tier, the directory is created if
    /// needed and its chunk files are indexed (blocking I/O: call it off the async workers);
    /// files beyond the size bound are deleted.
    pub fn open(inner: B, config: &CacheConfig) -> io::Result<Self> {
        if config.chunk_size == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cache chunk size is 0"));
        }
        let metrics = Metrics::new(&config.name);
        let disk = match &config.disk {
            Some((dir, bytes)) => Some(DiskTier::open(dir, config.policy.build(*bytes), &metrics)?),
            None => None,
        };
        let memory = (config.memory_bytes > 0).then(|| {
            Mutex::new(MemoryTier {
                policy: config.policy.build(config.memory_bytes),
                data: HashMap::new(),
            })
        });
        Ok(CachedBlobs {
            inner: Arc::new(inner),
            shared: Arc::new(Shared {
                chunk: config.chunk_size,
                read_ahead: config.read_ahead.max(1),
                memory,
                disk,
                inflight: Mutex::new(HashMap::new()),
                deletes: AtomicU64::new(0),
                metrics,
            }),
        })
    }

    /// The store behind the cache.
    pub fn inner(&self) -> &B {
        &self.inner
    }
}

impl<B: BlobStore> BlobStore for CachedBlobs<B> {
    async fn put(&self, body: ByteStream) -> Result<BlobInfo, BlobError> {
        self.inner.put(body).await
    }

    async fn put_to(&self, tier: Option<&str>, body: ByteStream) -> Result<BlobInfo, BlobError> {
        // The cache fronts whatever the store behind holds, tiers included.
        self.inner.put_to(tier, body).await
    }

    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        let Some(len) = len.filter(|&l| l > 0) else {
            return self.inner.get(id, offset, len).await;
        };
        let end = offset.checked_add(len).ok_or(BlobError::InvalidRange)?;
        let c = self.shared.chunk;
        let (first, last) = (offset / c, (end - 1) / c);
        // The part of chunk `k`'s bytes (read from its start) that the range covers.
        let piece = move |k: u64, bytes: Bytes| -> Result<Bytes, BlobError> {
            let start = k * c;
            let from = usize::try_from(offset.saturating_sub(start)).unwrap_or(usize::MAX);
            let to = usize::try_from((end - start).min(c)).unwrap_or(usize::MAX);
            if bytes.len() < to {
                return Err(short_read());
            }
            Ok(bytes.slice(from..to))
        };
        let need = move |k: u64| (end - k * c).min(c);
        // The first and the last chunk before the stream (at once), so that a missing blob or
        // a range past the end is the call's error rather than the stream's; the last is kept
        // for the stream's end.
        let (head, tail) = if first == last {
            (fetch(&self.shared, &self.inner, id, first, need(first)).await?, None)
        } else {
            let (h, t) = futures_util::future::try_join(
                fetch(&self.shared, &self.inner, id, first, need(first)),
                fetch(&self.shared, &self.inner, id, last, need(last)),
            )
            .await?;
            (h, Some(piece(last, t)?))
        };
        let head = piece(first, head)?;
        let (shared, inner, id) = (Arc::clone(&self.shared), Arc::clone(&self.inner), id.clone());
        let read_ahead = shared.read_ahead;
        let middle = stream::iter(first + 1..last)
            .map(move |k| {
                let (shared, inner, id) = (Arc::clone(&shared), Arc::clone(&inner), id.clone());
                async move { piece(k, fetch(&shared, &inner, &id, k, need(k)).await?) }
            })
            .buffered(read_ahead);
        let tail = stream::iter(tail.map(Ok));
        Ok(Box::pin(stream::once(async move { Ok(head) }).chain(middle).chain(tail)))
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        // The store first: a fill that starts after this reads `NotFound`; one that was reading
        // sees the count move and keeps nothing.
        self.inner.delete(id).await?;
        self.shared.deletes.fetch_add(1, Ordering::SeqCst);
        if let Some(memory) = &self.shared.memory {
            let mut guard = lock(memory);
            let t = &mut *guard;
            let keys: Vec<ChunkKey> = t.data.keys().filter(|k| k.id == *id).cloned().collect();
            for k in &keys {
                t.policy.remove(k);
                t.data.remove(k);
            }
        }
        if self.shared.disk.is_some() {
            let (shared, id) = (Arc::clone(&self.shared), id.clone());
            tokio::task::spawn_blocking(move || {
                if let Some(disk) = &shared.disk {
                    disk.forget(&id, &shared.metrics);
                }
            })
            .await
            .map_err(|e| BlobError::Backend(Box::new(e)))?;
        }
        Ok(())
    }

    async fn list(&self) -> Result<BlobListStream, BlobError> {
        self.inner.list().await
    }

    async fn cleanup_incomplete(&self, older_than: Duration) -> Result<u64, BlobError> {
        self.inner.cleanup_incomplete(older_than).await
    }

    async fn space(&self) -> Result<Option<StoreSpace>, BlobError> {
        self.inner.space().await
    }
}

fn short_read() -> BlobError {
    BlobError::Backend("the store behind the cache returned fewer bytes than asked".into())
}

/// Chunk `index` of `id`, at least `need` bytes of it from its start.
async fn fetch<B: BlobStore>(
    shared: &Arc<Shared>,
    inner: &Arc<B>,
    id: &BlobId,
    index: u64,
    need: u64,
) -> Result<Bytes, BlobError> {
    let key = ChunkKey { id: id.clone(), index };
    let m = &shared.metrics;
    if let Some(memory) = &shared.memory {
        let hit = {
            let mut guard = lock(memory);
            let t = &mut *guard;
            t.policy.get(&key).filter(|&size| size >= need).and_then(|_| t.data.get(&key).cloned())
        };
        if let Some(bytes) = hit {
            m.hit("memory", bytes.len());
            return Ok(bytes);
        }
        m.miss("memory");
    }
    if let Some(disk) = &shared.disk {
        let found = lock(&disk.policy).get(&key).is_some_and(|size| size >= need);
        if found {
            match disk.read(&key, m).await {
                Some(bytes) => {
                    m.hit("disk", bytes.len());
                    shared.remember_in_memory(key, bytes.clone());
                    return Ok(bytes);
                }
                None => lock(&disk.policy).remove(&key),
            }
        }
        m.miss("disk");
    }
    let fill = {
        let mut inflight = lock(&shared.inflight);
        match inflight.get(&key) {
            Some(f) if f.need >= need => {
                m.coalesced.inc();
                Arc::clone(f)
            }
            _ => {
                let f = Arc::new(Fill { need, cell: OnceCell::new() });
                inflight.insert(key.clone(), Arc::clone(&f));
                f
            }
        }
    };
    let deletes = shared.deletes.load(Ordering::SeqCst);
    let mut filled_here = false;
    let result = fill
        .cell
        .get_or_try_init(|| {
            filled_here = true;
            read_behind(&**inner, id, index * shared.chunk, fill.need, m)
        })
        .await
        .cloned();
    {
        let mut inflight = lock(&shared.inflight);
        if inflight.get(&key).is_some_and(|f| Arc::ptr_eq(f, &fill)) {
            inflight.remove(&key);
        }
    }
    let bytes = result?;
    if filled_here && shared.deletes.load(Ordering::SeqCst) == deletes {
        shared.remember_in_memory(key.clone(), bytes.clone());
        if shared.disk.is_some() {
            // Written in the background: the reader does not wait for the cache's disk.
            let (shared, bytes) = (Arc::clone(shared), bytes.clone());
            tokio::task::spawn_blocking(move || {
                if let Some(disk) = &shared.disk {
                    let id = key.id.clone();
                    disk.write(key, &bytes, &shared.metrics);
                    if shared.deletes.load(Ordering::SeqCst) != deletes {
                        // A delete ran meanwhile, perhaps of this very blob.
                        disk.forget(&id, &shared.metrics);
                    }
                }
            });
        }
    }
    Ok(bytes)
}

/// `len` bytes of `id` from `offset`, read from the store behind into one buffer.
async fn read_behind<B: BlobStore>(
    inner: &B,
    id: &BlobId,
    offset: u64,
    len: u64,
    m: &Metrics,
) -> Result<Bytes, BlobError> {
    let started = Instant::now();
    let mut stream = inner.get(id, offset, Some(len)).await?;
    let mut buf = BytesMut::with_capacity(usize::try_from(len).unwrap_or(0));
    while let Some(frame) = stream.try_next().await? {
        buf.extend_from_slice(&frame);
    }
    if buf.len() as u64 != len {
        return Err(short_read());
    }
    m.fill_duration.observe_duration(started.elapsed());
    m.bytes.with(&[&m.name, "behind"]).add(len);
    Ok(buf.freeze())
}

impl Shared {
    fn remember_in_memory(&self, key: ChunkKey, bytes: Bytes) {
        let Some(memory) = &self.memory else { return };
        let mut guard = lock(memory);
        let t = &mut *guard;
        let evicted = t.policy.insert(key.clone(), bytes.len() as u64);
        t.data.insert(key, bytes);
        for k in &evicted {
            t.data.remove(k);
        }
        let used = t.policy.used();
        drop(guard);
        self.metrics.evicted("memory", evicted.len());
        self.metrics.used("memory", used);
    }
}

/// A chunk file: magic, the length of the bytes, the bytes, their XXH3-64.
const MAGIC: &[u8; 8] = b"s3gcach1";
const HEADER: u64 = 16;
const TRAILER: u64 = 8;

impl DiskTier {
    fn open(dir: &Path, mut policy: Box<dyn Policy<ChunkKey>>, m: &Metrics) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut evicted = Vec::new();
        for shard in fs::read_dir(dir)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for file in fs::read_dir(shard.path())? {
                let file = file?;
                let name = file.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".tmp") {
                    // A fill interrupted by a crash.
                    let _ = fs::remove_file(file.path());
                    continue;
                }
                let Some(key) = parse_name(&name) else { continue };
                let len = file.metadata()?.len();
                if len < HEADER + TRAILER {
                    let _ = fs::remove_file(file.path());
                    continue;
                }
                evicted.extend(policy.insert(key, len - HEADER - TRAILER));
            }
        }
        let tier = DiskTier { dir: dir.to_owned(), policy: Mutex::new(policy) };
        for k in &evicted {
            let _ = fs::remove_file(tier.path(k));
        }
        m.used("disk", lock(&tier.policy).used());
        Ok(tier)
    }

    fn path(&self, key: &ChunkKey) -> PathBuf {
        let id = key.id.as_str();
        self.dir.join(&id[..2]).join(format!("{id}-{}", key.index))
    }

    /// The chunk's bytes, or `None` if its file is missing or fails its checks (then deleted).
    async fn read(&self, key: &ChunkKey, m: &Metrics) -> Option<Bytes> {
        let path = self.path(key);
        let outcome = tokio::task::spawn_blocking(move || {
            let result = read_chunk_file(&path);
            if matches!(result, Err(ref e) if e.kind() == io::ErrorKind::InvalidData) {
                let _ = fs::remove_file(&path);
            }
            result
        })
        .await;
        match outcome {
            Ok(Ok(bytes)) => Some(bytes),
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                m.corrupt.inc();
                tracing::warn!(blob = %key.id, chunk = key.index, error = %e, "corrupt cache entry dropped");
                None
            }
            Ok(Err(_)) | Err(_) => None,
        }
    }

    /// Writes a chunk file (blocking) and indexes it, deleting the files it evicts.
    fn write(&self, key: ChunkKey, bytes: &Bytes, m: &Metrics) {
        let path = self.path(&key);
        if let Err(e) = write_chunk_file(&path, bytes) {
            tracing::debug!(blob = %key.id, error = %e, "cache fill not written");
            return;
        }
        let mut policy = lock(&self.policy);
        let evicted = policy.insert(key, bytes.len() as u64);
        let used = policy.used();
        drop(policy);
        for k in &evicted {
            let _ = fs::remove_file(self.path(k));
        }
        m.evicted("disk", evicted.len());
        m.used("disk", used);
    }
}

impl DiskTier {
    /// Drops every chunk of `id` (blocking): the files of its shard directory that name it.
    fn forget(&self, id: &BlobId, m: &Metrics) {
        let Ok(entries) = fs::read_dir(self.dir.join(&id.as_str()[..2])) else { return };
        let mut policy = lock(&self.policy);
        for entry in entries.flatten() {
            let name = entry.file_name();
            if let Some(key) = parse_name(&name.to_string_lossy()).filter(|k| k.id == *id) {
                policy.remove(&key);
                let _ = fs::remove_file(entry.path());
            }
        }
        let used = policy.used();
        drop(policy);
        m.used("disk", used);
    }
}

fn parse_name(name: &str) -> Option<ChunkKey> {
    let (id, index) = name.split_once('-')?;
    Some(ChunkKey { id: BlobId::parse(id)?, index: index.parse().ok()? })
}

fn write_chunk_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("chunk path has no parent"))?;
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(MAGIC)?;
    f.write_all(&(bytes.len() as u64).to_le_bytes())?;
    f.write_all(bytes)?;
    f.write_all(&xxhash_rust::xxh3::xxh3_64(bytes).to_le_bytes())?;
    drop(f);
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

fn read_chunk_file(path: &Path) -> io::Result<Bytes> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut f = fs::File::open(path)?;
    let size = f.metadata()?.len();
    let mut header = [0u8; 16];
    f.read_exact(&mut header).map_err(|_| bad("truncated header"))?;
    if &header[..8] != MAGIC {
        return Err(bad("bad magic"));
    }
    let len = u64::from_le_bytes(header[8..].try_into().map_err(|_| bad("header"))?);
    if size != HEADER + len + TRAILER {
        return Err(bad("length does not match the file"));
    }
    let mut data = vec![0u8; usize::try_from(len).map_err(|_| bad("length"))?];
    f.read_exact(&mut data).map_err(|_| bad("truncated data"))?;
    let mut sum = [0u8; 8];
    f.read_exact(&mut sum).map_err(|_| bad("truncated checksum"))?;
    if u64::from_le_bytes(sum) != xxhash_rust::xxh3::xxh3_64(&data) {
        return Err(bad("checksum mismatch"));
    }
    Ok(Bytes::from(data))
}

/// The cache's handles into the process-wide registry.
#[derive(Debug)]
struct Metrics {
    name: String,
    lookups_hit: [Arc<s3gate_metrics::Counter>; 2],
    lookups_miss: [Arc<s3gate_metrics::Counter>; 2],
    bytes: &'static s3gate_metrics::Family<s3gate_metrics::Counter>,
    coalesced: Arc<s3gate_metrics::Counter>,
    corrupt: Arc<s3gate_metrics::Counter>,
    fill_duration: Arc<s3gate_metrics::Histogram>,
}

impl Metrics {
    fn new(name: &str) -> Self {
        let g = s3gate_metrics::global();
        let tiers = ["memory", "disk"];
        Metrics {
            name: name.to_owned(),
            lookups_hit: tiers.map(|t| g.cache_lookups.with(&[name, t, "hit"])),
            lookups_miss: tiers.map(|t| g.cache_lookups.with(&[name, t, "miss"])),
            bytes: &g.cache_bytes,
            coalesced: g.cache_coalesced.with(&[name]),
            corrupt: g.cache_corrupt.with(&[name]),
            fill_duration: g.cache_fill_duration.with(&[name]),
        }
    }

    fn slot(tier: &str) -> usize {
        usize::from(tier == "disk")
    }

    fn hit(&self, tier: &str, bytes: usize) {
        self.lookups_hit[Self::slot(tier)].inc();
        self.bytes.with(&[&self.name, tier]).add(bytes as u64);
    }

    fn miss(&self, tier: &str) {
        self.lookups_miss[Self::slot(tier)].inc();
    }

    fn evicted(&self, tier: &str, n: usize) {
        if n > 0 {
            s3gate_metrics::global().cache_evictions.with(&[&self.name, tier]).add(n as u64);
        }
    }

    fn used(&self, tier: &str, bytes: u64) {
        let v = i64::try_from(bytes).unwrap_or(i64::MAX);
        s3gate_metrics::global().cache_used_bytes.with(&[&self.name, tier]).set(v);
    }
}

#[cfg(test)]
mod tests;
