use std::sync::atomic::AtomicUsize;

use futures_util::stream;
use tokio::sync::Semaphore;

use super::*;
use crate::{MemBlobs, conformance};

/// A store that counts the reads that reach it and can be held shut or made unavailable.
#[derive(Debug, Default)]
struct Counting {
    inner: MemBlobs,
    gets: AtomicUsize,
    bytes: AtomicU64,
    down: std::sync::atomic::AtomicBool,
    gate: Option<Arc<Semaphore>>,
}

impl Counting {
    fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
}

impl BlobStore for Counting {
    async fn put(&self, body: ByteStream) -> Result<BlobInfo, BlobError> {
        self.inner.put(body).await
    }
    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(BlobError::Unavailable("down".into()));
        }
        self.bytes.fetch_add(len.unwrap_or(0), Ordering::SeqCst);
        self.inner.get(id, offset, len).await
    }
    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        self.inner.delete(id).await
    }
    async fn list(&self) -> Result<BlobListStream, BlobError> {
        self.inner.list().await
    }
    async fn cleanup_incomplete(&self, older_than: Duration) -> Result<u64, BlobError> {
        self.inner.cleanup_incomplete(older_than).await
    }
}

const CHUNK: u64 = 64 * 1024;

fn config(name: &str, memory: u64, disk: Option<(&Path, u64)>) -> CacheConfig {
    CacheConfig {
        name: name.to_owned(),
        memory_bytes: memory,
        disk: disk.map(|(d, b)| (d.to_owned(), b)),
        chunk_size: CHUNK,
        read_ahead: 3,
        policy: PolicyKind::S3Fifo,
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| u8::try_from((i * 31 + usize::from(seed)) % 251).unwrap()).collect()
}

async fn put<S: BlobStore>(store: &S, data: &[u8]) -> BlobId {
    let body: ByteStream = Box::pin(stream::iter([Ok(Bytes::copy_from_slice(data))]));
    store.put(body).await.unwrap().id
}

async fn read<S: BlobStore>(store: &S, id: &BlobId, offset: u64, len: u64) -> Vec<u8> {
    let mut s = store.get(id, offset, Some(len)).await.unwrap();
    let mut out = Vec::new();
    while let Some(frame) = s.next().await {
        out.extend_from_slice(&frame.unwrap());
    }
    out
}

/// Waits for the background writes of the directory tier.
async fn settle(dir: &Path, files: usize) {
    for _ in 0..200 {
        if chunk_files(dir).len() >= files {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{files} chunk files never appeared: {:?}", chunk_files(dir));
}

fn chunk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for shard in fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
            if !f.file_name().to_string_lossy().ends_with(".tmp") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn passes_the_blob_store_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = CachedBlobs::open(
        MemBlobs::new(),
        &config("conformance", 1 << 20, Some((dir.path(), 4 << 20))),
    )
    .unwrap();
    conformance::run_all(&store).await;
    let memory_only = CachedBlobs::open(MemBlobs::new(), &config("conformance-mem", 1 << 20, None));
    conformance::run_all(&memory_only.unwrap()).await;
}

#[tokio::test]
async fn a_second_read_is_served_without_the_store_behind() {
    let store = CachedBlobs::open(Counting::default(), &config("hits", 1 << 20, None)).unwrap();
    let data = pattern(3 * 65_536 + 1000, 1);
    let id = put(&store, &data).await;
    assert_eq!(read(&store, &id, 0, data.len() as u64).await, data);
    let after_first = store.inner().gets();
    assert_eq!(after_first, 4, "one read per chunk");
    assert_eq!(read(&store, &id, 0, data.len() as u64).await, data);
    assert_eq!(read(&store, &id, 70_000, 100_000).await, data[70_000..170_000]);
    assert_eq!(store.inner().gets(), after_first, "hits never reach the store behind");
}

#[tokio::test]
async fn every_range_reads_the_right_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = CachedBlobs::open(
        Counting::default(),
        &config("ranges", 200_000, Some((dir.path(), 1 << 20))),
    )
    .unwrap();
    let data = pattern(3 * 65_536 + 12_345, 2);
    let size = data.len() as u64;
    let id = put(&store, &data).await;
    // The tail first as a short prefix, then longer reads of it: the prefix entry is refilled.
    let cases = [
        (size - 10, 5),
        (size - 10, 10),
        (3 * CHUNK, size - 3 * CHUNK),
        (0, 1),
        (CHUNK - 1, 2),
        (1, size - 1),
        (0, size),
        (2 * CHUNK, CHUNK),
        (100, 3 * CHUNK),
    ];
    for _round in 0..2 {
        for (offset, len) in cases {
            let got = read(&store, &id, offset, len).await;
            let (a, b) = (usize::try_from(offset).unwrap(), usize::try_from(offset + len).unwrap());
            assert!(got == data[a..b], "range {offset}+{len}");
        }
    }
    // A read past the end is the store's InvalidRange, never a cached short answer.
    assert!(matches!(store.get(&id, size - 1, Some(2)).await, Err(BlobError::InvalidRange)));
}

#[tokio::test]
async fn concurrent_misses_of_a_chunk_make_one_read() {
    let gate = Arc::new(Semaphore::new(0));
    let inner = Counting { gate: Some(Arc::clone(&gate)), ..Counting::default() };
    let store = Arc::new(CachedBlobs::open(inner, &config("coalesce", 1 << 20, None)).unwrap());
    // The put does not go through the gate.
    let data = pattern(50_000, 3);
    let id = put(&*store, &data).await;
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (Arc::clone(&store), id.clone());
            tokio::spawn(async move { read(&*store, &id, 0, 50_000).await })
        })
        .collect();
    // Let every reader reach the cache before the one fill may proceed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.add_permits(100);
    for r in readers {
        assert!(r.await.unwrap() == data);
    }
    // One fill read the store; the others waited for it (the counter counts calls that
    // reached the gate, so a second fill would show).
    assert_eq!(store.inner().gets(), 1);
}

#[tokio::test]
async fn the_directory_tier_survives_a_restart_and_stays_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let bound = 5 * CHUNK;
    let inner = Arc::new(MemBlobs::new());
    let data = pattern(4 * 65_536, 4);
    let id = put(&*inner, &data).await;
    {
        let store = CachedBlobs::open(
            SharedMem(Arc::clone(&inner)),
            &config("restart", 0, Some((dir.path(), bound))),
        )
        .unwrap();
        assert_eq!(read(&store, &id, 0, data.len() as u64).await, data);
        settle(dir.path(), 4).await;
    }
    let store = CachedBlobs::open(
        Counting { inner: MemBlobs::new(), ..Counting::default() },
        &config("restart", 0, Some((dir.path(), bound))),
    )
    .unwrap();
    // The store behind is empty: everything comes from the reopened directory.
    assert_eq!(read(&store, &id, 0, data.len() as u64).await, data);
    assert_eq!(store.inner().gets(), 0);
    // Many more chunks than the bound: the directory never holds more than it.
    for seed in 0..6u8 {
        let more = put(store.inner(), &pattern(2 * 65_536, seed)).await;
        read(&store, &more, 0, 2 * CHUNK).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held: u64 = chunk_files(dir.path())
        .iter()
        .map(|p| fs::metadata(p).unwrap().len() - HEADER - TRAILER)
        .sum();
    assert!(held <= bound, "{held} bytes held, bound {bound}");
}

/// A corrupt or truncated chunk file is detected, dropped and refetched; the reader gets the
/// right bytes either way.
#[tokio::test]
async fn a_damaged_chunk_file_is_refetched() {
    for damage in ["flip", "truncate", "grow"] {
        let dir = tempfile::tempdir().unwrap();
        let store = CachedBlobs::open(
            Counting::default(),
            &config(&format!("damage-{damage}"), 0, Some((dir.path(), 1 << 20))),
        )
        .unwrap();
        let data = pattern(40_000, 5);
        let id = put(&store, &data).await;
        assert_eq!(read(&store, &id, 0, 40_000).await, data);
        settle(dir.path(), 1).await;
        let file = chunk_files(dir.path()).remove(0);
        let mut bytes = fs::read(&file).unwrap();
        match damage {
            "flip" => bytes[100] ^= 1,
            "truncate" => bytes.truncate(bytes.len() - 3),
            _ => bytes.push(0),
        }
        fs::write(&file, bytes).unwrap();
        let corrupt = s3gate_metrics::global().cache_corrupt.with(&[&format!("damage-{damage}")]);
        let gets = store.inner().gets();
        assert_eq!(read(&store, &id, 0, 40_000).await, data, "{damage}");
        assert_eq!(store.inner().gets(), gets + 1, "{damage}: refetched");
        assert_eq!(corrupt.get(), 1, "{damage}: counted");
        // And refilled: the next read is a hit again.
        settle(dir.path(), 1).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(read(&store, &id, 0, 40_000).await, data);
        assert_eq!(store.inner().gets(), gets + 1, "{damage}: refilled");
    }
}

#[tokio::test]
async fn cached_chunks_serve_while_the_store_behind_is_down() {
    let store = CachedBlobs::open(Counting::default(), &config("down", 1 << 20, None)).unwrap();
    let data = pattern(100_000, 6);
    let id = put(&store, &data).await;
    assert_eq!(read(&store, &id, 0, 100_000).await, data);
    store.inner().down.store(true, Ordering::SeqCst);
    assert_eq!(read(&store, &id, 0, 100_000).await, data);
    let other = put(store.inner(), &pattern(10, 7)).await;
    assert!(matches!(store.get(&other, 0, Some(10)).await, Err(BlobError::Unavailable(_))));
}

#[tokio::test]
async fn a_deleted_blob_is_not_served_from_either_tier() {
    let dir = tempfile::tempdir().unwrap();
    let store = CachedBlobs::open(
        MemBlobs::new(),
        &config("deleted", 1 << 20, Some((dir.path(), 1 << 20))),
    )
    .unwrap();
    let id = put(&store, &pattern(100_000, 8)).await;
    read(&store, &id, 0, 100_000).await;
    settle(dir.path(), 2).await;
    store.delete(&id).await.unwrap();
    assert!(matches!(store.get(&id, 0, Some(100_000)).await, Err(BlobError::NotFound)));
    assert!(chunk_files(dir.path()).is_empty());
}

/// A [`MemBlobs`] shared between two caches of one test.
#[derive(Debug)]
struct SharedMem(Arc<MemBlobs>);

impl BlobStore for SharedMem {
    async fn put(&self, body: ByteStream) -> Result<BlobInfo, BlobError> {
        self.0.put(body).await
    }
    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        self.0.get(id, offset, len).await
    }
    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        self.0.delete(id).await
    }
    async fn list(&self) -> Result<BlobListStream, BlobError> {
        self.0.list().await
    }
    async fn cleanup_incomplete(&self, older_than: Duration) -> Result<u64, BlobError> {
        self.0.cleanup_incomplete(older_than).await
    }
}
