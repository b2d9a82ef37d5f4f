//! The read path: an object's parts (or the slices a range needs) are streamed in order with a
//! read-ahead window of concurrently fetched parts. Memory is bounded by the window times a
//! small per-part channel, never by the object's size.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use s3gate_metadata::ObjectPart;
use s3gate_protocol::ByteRange;
use s3gate_storage_backend::{BlobError, BlobId, BlobStore, BlobStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::EngineError;
use crate::lease::LeaseGuard;

/// Chunks buffered per in-flight part.
const CHUNKS_PER_PART: usize = 3;

/// A byte range of one blob to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) blob_id: BlobId,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// The blob slices that make up `range` (inclusive) of an object made of `parts`; the whole
/// object when `range` is `None`. Empty parts contribute nothing.
pub(crate) fn segments(
    parts: &[ObjectPart],
    range: Option<ByteRange>,
) -> Result<Vec<Segment>, EngineError> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    for part in parts {
        let (start, end) = (pos, pos + part.size);
        pos = end;
        let (from, to) = match range {
            None => (start, end),
            Some(r) => (start.max(r.start), end.min(r.end.saturating_add(1))),
        };
        if from >= to {
            continue;
        }
        let blob_id = BlobId::parse(&part.blob_id)
            .ok_or_else(|| EngineError::internal(format!("invalid blob id {:?}", part.blob_id)))?;
        out.push(Segment { blob_id, offset: part.blob_offset + (from - start), len: to - from });
    }
    Ok(out)
}

/// Aborts a task when dropped, so a dropped body stream stops its readers.
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct InFlight {
    rx: mpsc::Receiver<Result<Bytes, BlobError>>,
    _task: AbortOnDrop,
    expected: u64,
    got: u64,
}

struct Reader<B> {
    blobs: Arc<B>,
    pending: VecDeque<Segment>,
    inflight: VecDeque<InFlight>,
    window: usize,
    failed: bool,
    _lease: Option<LeaseGuard>,
}

impl<B: BlobStore> Reader<B> {
    fn fill(&mut self) {
        while self.inflight.len() < self.window {
            let Some(seg) = self.pending.pop_front() else { break };
            let (tx, rx) = mpsc::channel(CHUNKS_PER_PART);
            let blobs = Arc::clone(&self.blobs);
            let expected = seg.len;
            let read = async move {
                let mut stream = match blobs.get(&seg.blob_id, seg.offset, Some(seg.len)).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                while let Some(item) = stream.next().await {
                    let is_err = item.is_err();
                    if tx.send(item).await.is_err() || is_err {
                        break;
                    }
                }
                // Close the blob before the channel, so the next part opens only after this
                // one is released: at most `window` reads are ever open.
                drop(stream);
                drop(tx);
            };
            // The part's blob read is a child of the request's span, not a trace of its own.
            let task = tokio::spawn(read.in_current_span());
            self.inflight.push_back(InFlight { rx, _task: AbortOnDrop(task), expected, got: 0 });
        }
    }

    fn fail(mut self, e: BlobError) -> (Result<Bytes, BlobError>, Self) {
        self.failed = true;
        self.inflight.clear();
        self.pending.clear();
        (Err(e), self)
    }
}

async fn next_chunk<B: BlobStore>(
    mut r: Reader<B>,
) -> Option<(Result<Bytes, BlobError>, Reader<B>)> {
    if r.failed {
        return None;
    }
    loop {
        r.fill();
        let front = r.inflight.front_mut()?;
        match front.rx.recv().await {
            Some(Ok(chunk)) => {
                front.got += chunk.len() as u64;
                if front.got > front.expected {
                    return Some(
                        r.fail(BlobError::Backend("blob returned more bytes than asked".into())),
                    );
                }
                if !chunk.is_empty() {
                    return Some((Ok(chunk), r));
                }
            }
            Some(Err(e)) => return Some(r.fail(e)),
            None => {
                if front.got < front.expected {
                    return Some(r.fail(BlobError::Backend("blob read ended early".into())));
                }
                r.inflight.pop_front();
            }
        }
    }
}

/// Streams the segments in order, keeping up to `window` of them in flight. The lease guard
/// lives as long as the stream.
///
/// One segment (most objects: one blob, whole or a range of it) is opened here, before the
/// caller answers, so that a blob that cannot be read is an error status rather than a body
/// that breaks; it is then read straight from the blob stream (the store reads ahead itself),
/// with no read-ahead task or channel. Several segments open lazily, part by part.
pub(crate) async fn open_read<B: BlobStore>(
    blobs: Arc<B>,
    mut segments: Vec<Segment>,
    window: usize,
    lease: Option<LeaseGuard>,
) -> Result<BlobStream, BlobError> {
    if segments.len() == 1
        && let Some(seg) = segments.pop()
    {
        let stream = blobs.get(&seg.blob_id, seg.offset, Some(seg.len)).await?;
        return Ok(checked(stream, seg.len, lease));
    }
    let reader = Reader {
        blobs,
        pending: segments.into(),
        inflight: VecDeque::new(),
        window: window.max(1),
        failed: false,
        _lease: lease,
    };
    Ok(Box::pin(futures_util::stream::unfold(reader, next_chunk)))
}

/// One blob's stream, failing when it gives more or fewer bytes than `expected`; the lease is
/// held until the stream ends.
fn checked(stream: BlobStream, expected: u64, lease: Option<LeaseGuard>) -> BlobStream {
    let state = Some((stream, 0u64, lease));
    Box::pin(futures_util::stream::unfold(state, move |state| async move {
        let (mut stream, mut got, lease) = state?;
        loop {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    got += chunk.len() as u64;
                    if got > expected {
                        let e = BlobError::Backend("blob returned more bytes than asked".into());
                        return Some((Err(e), None));
                    }
                    if !chunk.is_empty() {
                        return Some((Ok(chunk), Some((stream, got, lease))));
                    }
                }
                Some(Err(e)) => return Some((Err(e), None)),
                None if got < expected => {
                    let e = BlobError::Backend("blob read ended early".into());
                    return Some((Err(e), None));
                }
                None => return None,
            }
        }
    }))
}

/// A stream with no bytes.
pub(crate) fn empty_stream() -> BlobStream {
    Box::pin(futures_util::stream::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, blob: char, offset: u64, size: u64) -> ObjectPart {
        ObjectPart {
            part_number: n,
            blob_id: std::iter::repeat_n(blob, 32).collect(),
            blob_offset: offset,
            size,
            etag: String::new(),
            checksum: None,
            salt: None,
        }
    }

    fn check(range: Option<(u64, u64)>, expected: &[(char, u64, u64)]) {
        let parts =
            [part(1, 'a', 0, 5), part(2, 'b', 10, 0), part(3, 'c', 2, 7), part(4, 'd', 0, 3)];
        let got = segments(&parts, range.map(|(start, end)| ByteRange { start, end })).unwrap();
        let want: Vec<Segment> = expected
            .iter()
            .map(|&(c, offset, len)| Segment {
                blob_id: BlobId::parse(&std::iter::repeat_n(c, 32).collect::<String>()).unwrap(),
                offset,
                len,
            })
            .collect();
        assert_eq!(got, want, "range {range:?}");
    }

    #[test]
    fn segments_of_ranges() {
        check(None, &[('a', 0, 5), ('c', 2, 7), ('d', 0, 3)]);
        check(Some((0, 14)), &[('a', 0, 5), ('c', 2, 7), ('d', 0, 3)]);
        check(Some((0, 0)), &[('a', 0, 1)]);
        check(Some((4, 5)), &[('a', 4, 1), ('c', 2, 1)]);
        check(Some((5, 11)), &[('c', 2, 7)]);
        check(Some((6, 12)), &[('c', 3, 6), ('d', 0, 1)]);
        check(Some((14, 14)), &[('d', 2, 1)]);
        check(Some((3, 13)), &[('a', 3, 2), ('c', 2, 7), ('d', 0, 2)]);
    }
}
