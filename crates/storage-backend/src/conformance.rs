//! The conformance suite every [`BlobStore`] implementation must pass.
//!
//! Each case is a public `async fn` taking the store under test; it panics (like `assert!`) on
//! the first violation of the [`BlobStore`] contract. The cases compare [`BlobStore::list`]
//! before and after their own writes, so they do not need an empty store, but
//! [`cleanup_incomplete`] removes every leftover of interrupted writes, so the store should not
//! be shared with writers outside the test. Run them all with [`run_all`], or generate one test
//! per case (as `tests/conformance.rs` does for [`crate::MemBlobs`] and [`crate::DiskBlobs`]).
//!
//! The module is compiled in every build (not only under `cfg(test)`) so that backends living
//! in other crates, or configured against real services, can run the same suite.

// The suite reports violations by panicking, like any test helper.
#![allow(clippy::missing_panics_doc, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::{self, Either};
use futures_util::{StreamExt, stream};
use tokio::sync::oneshot;

use crate::blob::{BlobError, BlobId, BlobInfo, BlobStore, ByteStream};

/// Runs every case, one after the other, against `store`.
pub async fn run_all<S: BlobStore>(store: &S) {
    put_get_empty(store).await;
    put_get_one_byte(store).await;
    put_get_large_odd_chunks(store).await;
    ranged_get(store).await;
    get_missing_is_not_found(store).await;
    delete_is_idempotent(store).await;
    body_error_stores_nothing(store).await;
    list_returns_committed_blobs(store).await;
    dropped_put_leaves_nothing(store).await;
    concurrent_puts(store).await;
    cleanup_incomplete(store).await;
}

/// An empty body makes an empty blob that reads back empty.
pub async fn put_get_empty<S: BlobStore>(store: &S) {
    round_trip(store, &[]).await;
    round_trip_chunks(store, vec![Bytes::new(), Bytes::new()]).await;
}

/// A one-byte body round-trips.
pub async fn put_get_one_byte<S: BlobStore>(store: &S) {
    round_trip(store, &[0x5a]).await;
}

/// A multi-MiB body sent in odd-sized chunks (including empty ones) reads back byte for byte.
pub async fn put_get_large_odd_chunks<S: BlobStore>(store: &S) {
    let data = pattern(5 * 1024 * 1024 + 12_345, 1);
    let sizes = [1, 0, 7, 4093, 65_537, 1_000_003, 3, 2_500_001, 131_071];
    let mut chunks = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at == data.len() {
            break;
        }
        let end = data.len().min(at + size);
        chunks.push(Bytes::copy_from_slice(&data[at..end]));
        at = end;
    }
    let info = round_trip_chunks(store, chunks).await;
    store.delete(&info.id).await.unwrap();
}

/// Ranged reads: start, middle (across 1 MiB frame boundaries), end, open-ended, zero-length,
/// and ranges past the end, which are [`BlobError::InvalidRange`].
pub async fn ranged_get<S: BlobStore>(store: &S) {
    let data = pattern(2 * 1024 * 1024 + 777, 2);
    let size = data.len() as u64;
    let info = store.put(body_of(&data, 100_000)).await.unwrap();
    assert_eq!(info.size, size);
    let ok_cases: &[(u64, Option<u64>)] = &[
        (0, Some(10)),
        (0, Some(1)),
        (1_048_570, Some(20)),
        (1_000_000, Some(1_090_000)),
        (size - 10, Some(10)),
        (size - 1, None),
        (123_456, None),
        (0, None),
        (size, None),
        (size, Some(0)),
        (500, Some(0)),
        (0, Some(size)),
    ];
    for &(offset, len) in ok_cases {
        let got = read(store, &info.id, offset, len)
            .await
            .unwrap_or_else(|e| panic!("get({offset}, {len:?}) of {size} bytes: {e:?}"));
        let start = usize::try_from(offset).unwrap();
        let end = len.map_or(data.len(), |len| start + usize::try_from(len).unwrap());
        assert!(got == data[start..end], "get({offset}, {len:?}) of {size} bytes: wrong bytes");
    }
    let bad_cases: &[(u64, Option<u64>)] = &[
        (size - 5, Some(10)),
        (size, Some(1)),
        (size + 1, None),
        (size + 1, Some(0)),
        (0, Some(size + 1)),
        (1, Some(u64::MAX)),
        (u64::MAX, None),
    ];
    for &(offset, len) in bad_cases {
        match store.get(&info.id, offset, len).await {
            Err(BlobError::InvalidRange) => {}
            Err(e) => {
                panic!("get({offset}, {len:?}) of {size} bytes: want InvalidRange, got {e:?}")
            }
            Ok(_) => panic!("get({offset}, {len:?}) of {size} bytes: want InvalidRange, got Ok"),
        }
    }
    store.delete(&info.id).await.unwrap();
}

/// Reading an id that was never written, or was deleted, is [`BlobError::NotFound`].
pub async fn get_missing_is_not_found<S: BlobStore>(store: &S) {
    let never = BlobId::generate().unwrap();
    assert_not_found(store, &never).await;
    let info = store.put(body_of(b"soon gone", 4)).await.unwrap();
    store.delete(&info.id).await.unwrap();
    assert_not_found(store, &info.id).await;
}

/// Deleting twice, or deleting an id that never existed, succeeds; the deleted blob is gone
/// from reads and from the listing, and other blobs are untouched.
pub async fn delete_is_idempotent<S: BlobStore>(store: &S) {
    let before = listing(store).await;
    let keep = store.put(body_of(b"keep me", 3)).await.unwrap();
    let gone = store.put(body_of(b"delete me", 3)).await.unwrap();
    store.delete(&gone.id).await.unwrap();
    store.delete(&gone.id).await.unwrap();
    store.delete(&BlobId::generate().unwrap()).await.unwrap();
    assert_not_found(store, &gone.id).await;
    assert_eq!(read(store, &keep.id, 0, None).await.unwrap(), b"keep me");
    let mut expected = before.clone();
    expected.insert(keep.id.clone(), keep.size);
    assert_eq!(listing(store).await, expected);
    store.delete(&keep.id).await.unwrap();
    assert_eq!(listing(store).await, before);
}

/// A body that fails midway (after several MiB) makes `put` return [`BlobError::Body`] carrying
/// that very error, and stores nothing.
pub async fn body_error_stores_nothing<S: BlobStore>(store: &S) {
    let before = listing(store).await;
    for good_bytes in [0, 10, 3 * 1024 * 1024] {
        let data = pattern(good_bytes, 3);
        let chunks = data.chunks(300_000).map(|c| Ok(Bytes::copy_from_slice(c)));
        let failure: Result<Bytes, crate::BoxError> = Err(Box::new(InjectedFailure(good_bytes)));
        let after = Ok(Bytes::from_static(b"never read"));
        let body: ByteStream =
            Box::pin(stream::iter(chunks.chain([failure, after]).collect::<Vec<_>>()));
        match store.put(body).await {
            Err(BlobError::Body(e)) => {
                assert_eq!(e.downcast_ref::<InjectedFailure>(), Some(&InjectedFailure(good_bytes)));
            }
            other => {
                panic!("body failing after {good_bytes} bytes: want Body error, got {other:?}")
            }
        }
        assert_eq!(listing(store).await, before, "a failed put left a blob behind");
    }
}

/// The listing holds exactly the committed blobs, with their sizes and a plausible mtime.
pub async fn list_returns_committed_blobs<S: BlobStore>(store: &S) {
    let start = SystemTime::now();
    let before = listing(store).await;
    let mut expected = before.clone();
    let mut mine = Vec::new();
    for len in [0, 1, 1000, 70_000] {
        let info = store.put(body_of(&pattern(len, 4), 999)).await.unwrap();
        assert_eq!(info.size, len as u64);
        expected.insert(info.id.clone(), info.size);
        mine.push(info.id);
    }
    assert_eq!(listing(store).await, expected);
    let mut list = store.list().await.unwrap();
    let slack = Duration::from_mins(2);
    while let Some(entry) = list.next().await {
        let entry = entry.unwrap();
        if mine.contains(&entry.id) {
            assert!(entry.modified + slack >= start, "mtime of a fresh blob is too old");
            assert!(entry.modified <= SystemTime::now() + slack, "mtime in the future");
        }
    }
    for id in &mine {
        store.delete(id).await.unwrap();
    }
    assert_eq!(listing(store).await, before);
}

/// Dropping a `put` future while the body is still streaming leaves no visible blob.
pub async fn dropped_put_leaves_nothing<S: BlobStore>(store: &S) {
    let before = listing(store).await;
    for sent in [0, 5, 3 * 1024 * 1024] {
        let data = pattern(sent, 5);
        let (reached_tx, reached_rx) = oneshot::channel::<()>();
        let mut reached_tx = Some(reached_tx);
        let head = stream::iter(
            data.chunks(256 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
        );
        // After the head, the body tells the test it was drained, then never yields again:
        // a client that stalls mid-upload.
        let stall = stream::poll_fn(move |_| {
            if let Some(tx) = reached_tx.take() {
                let _ = tx.send(());
            }
            Poll::<Option<Result<Bytes, crate::BoxError>>>::Pending
        });
        let put = Box::pin(store.put(Box::pin(head.chain(stall))));
        match future::select(put, reached_rx).await {
            Either::Left((result, _)) => panic!("put of a stalled body returned {result:?}"),
            // Dropping the remaining put future here is the point of the case.
            Either::Right((reached, put)) => {
                reached.unwrap();
                drop(put);
            }
        }
        assert_eq!(listing(store).await, before, "a dropped put left a visible blob");
    }
}

/// Many puts in flight at once each get their own id and their own bytes.
pub async fn concurrent_puts<S: BlobStore>(store: &S) {
    let before = listing(store).await;
    let datas: Vec<Vec<u8>> = (0..16u8).map(|i| pattern(usize::from(i) * 37_003, i)).collect();
    let infos = future::join_all(datas.iter().map(|d| store.put(body_of(d, 8191)))).await;
    let infos: Vec<BlobInfo> = infos.into_iter().map(Result::unwrap).collect();
    let mut expected = before.clone();
    for (info, data) in infos.iter().zip(&datas) {
        assert_eq!(info.size, data.len() as u64);
        assert!(expected.insert(info.id.clone(), info.size).is_none(), "duplicate blob id");
    }
    let reads = future::join_all(infos.iter().map(|i| read(store, &i.id, 0, None))).await;
    for (got, data) in reads.into_iter().zip(&datas) {
        assert!(got.unwrap() == *data, "concurrent put read back wrong bytes");
    }
    assert_eq!(listing(store).await, expected);
    future::join_all(infos.iter().map(|i| store.delete(&i.id))).await;
    assert_eq!(listing(store).await, before);
}

/// `cleanup_incomplete` never touches committed blobs, even with a zero age, and once it has
/// run with a zero age nothing old is left for a second run.
pub async fn cleanup_incomplete<S: BlobStore>(store: &S) {
    let before = listing(store).await;
    let info = store.put(body_of(b"committed", 2)).await.unwrap();
    dropped_put_leaves_nothing(store).await;
    store.cleanup_incomplete(Duration::ZERO).await.unwrap();
    assert_eq!(read(store, &info.id, 0, None).await.unwrap(), b"committed");
    assert_eq!(store.cleanup_incomplete(Duration::from_hours(1)).await.unwrap(), 0);
    let mut expected = before.clone();
    expected.insert(info.id.clone(), info.size);
    assert_eq!(listing(store).await, expected);
    store.delete(&info.id).await.unwrap();
}

/// The error a conformance body injects, to check that [`BlobError::Body`] carries it.
#[derive(Debug, PartialEq, Eq)]
pub struct InjectedFailure(pub usize);

impl fmt::Display for InjectedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected body failure after {} bytes", self.0)
    }
}

impl std::error::Error for InjectedFailure {}

/// `len` deterministic pseudo-random bytes; `seed` makes different blobs differ, so a read of
/// the wrong blob or at the wrong offset is caught.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(seed);
    (0..len)
        .map(|_| {
            // xorshift64: fast and never repeats within the sizes used here.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A body yielding `data` in chunks of `chunk` bytes.
pub fn body_of(data: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes, crate::BoxError>> =
        data.chunks(chunk.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(stream::iter(chunks))
}

/// Reads a range and collects it; a stream error is returned as the error.
pub async fn read<S: BlobStore>(
    store: &S,
    id: &BlobId,
    offset: u64,
    len: Option<u64>,
) -> Result<Vec<u8>, BlobError> {
    let mut stream = store.get(id, offset, len).await?;
    let mut out = Vec::new();
    while let Some(frame) = stream.next().await {
        out.extend_from_slice(&frame?);
    }
    Ok(out)
}

/// Every listed blob with its size.
pub async fn listing<S: BlobStore>(store: &S) -> BTreeMap<BlobId, u64> {
    let mut list = store.list().await.unwrap();
    let mut out = BTreeMap::new();
    while let Some(entry) = list.next().await {
        let entry = entry.unwrap();
        assert!(out.insert(entry.id, entry.size).is_none(), "a blob was listed twice");
    }
    out
}

async fn round_trip<S: BlobStore>(store: &S, data: &[u8]) -> BlobInfo {
    round_trip_chunks(store, vec![Bytes::copy_from_slice(data)]).await
}

async fn round_trip_chunks<S: BlobStore>(store: &S, chunks: Vec<Bytes>) -> BlobInfo {
    let data: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let before = listing(store).await;
    let body: ByteStream = Box::pin(stream::iter(chunks.into_iter().map(Ok)));
    let info = store.put(body).await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert!(BlobId::parse(info.id.as_str()).is_some(), "put returned a malformed id");
    let got = read(store, &info.id, 0, None).await.unwrap();
    assert!(got == data, "round trip of {} bytes read back different bytes", data.len());
    let mut expected = before;
    expected.insert(info.id.clone(), info.size);
    assert_eq!(listing(store).await, expected);
    info
}

async fn assert_not_found<S: BlobStore>(store: &S, id: &BlobId) {
    match store.get(id, 0, None).await {
        Err(BlobError::NotFound) => {}
        Err(e) => panic!("get of a missing blob: want NotFound, got {e:?}"),
        Ok(_) => panic!("get of a missing blob: want NotFound, got Ok"),
    }
}
