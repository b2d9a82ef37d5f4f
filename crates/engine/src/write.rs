//! The write path: a request body streams into a new blob while MD5 and the checksums are
//! computed in blocking jobs, one batch at a time, pipelined with the socket read and the blob
//! write. No thread is held between batches: an upload that trickles costs no hasher thread.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};
use md5::{Digest as _, Md5};
use s3gate_protocol::{Checksum, ChecksumAlgorithm, Checksummer};
use s3gate_storage_backend::{BlobError, BlobId, BlobInfo, BlobStore, BoxError, ByteStream};
use tokio::sync::oneshot;

use crate::EngineError;
use crate::api::{BodyIntegrity, ExpectedChecksum};

/// A body declared at most this long is hashed as it arrives, on the request's own task: a
/// blocking job costs more than hashing 16 KiB (~30 µs).
const INLINE_HASH: u64 = 16 * 1024;
/// Body chunks (64 KiB from an SDK's aws-chunked body) are hashed in batches of at least this
/// many bytes: one blocking job per batch instead of one per chunk.
const HASH_BATCH: usize = 256 * 1024;
/// How long the body may stall before the chunks of a partial batch are hashed: a client that
/// trickles its body then holds no chunk here while it is silent.
const STALL_HASH: std::time::Duration = std::time::Duration::from_millis(20);

/// The expected value of a checksum, resolved before the body is read where possible.
#[derive(Debug)]
enum Expected {
    /// Nothing to compare.
    None,
    /// Known up front.
    Value(Checksum),
    /// Filled by the body stream before it ends.
    Trailer(Arc<OnceLock<String>>),
}

/// What to enforce and compute while writing one body.
#[derive(Debug)]
pub(crate) struct WriteSpec {
    content_md5: Option<[u8; 16]>,
    length: Option<u64>,
    max_size: u64,
    verify: Option<(ChecksumAlgorithm, Expected)>,
    compute: Vec<ChecksumAlgorithm>,
    /// Seals the body into packages on its way to the blob (hashes stay of the plaintext).
    cipher: Option<s3gate_crypto::PartCipher>,
    /// The tier the blob is written to (`None`: the default tier).
    tier: Option<String>,
}

impl WriteSpec {
    /// Builds the spec from the request's integrity data; `store_alg` is the algorithm whose
    /// checksum is stored with the data (computed even when the client sent none). An invalid
    /// header value fails before any byte is read.
    pub(crate) fn new(
        integrity: &BodyIntegrity,
        store_alg: Option<ChecksumAlgorithm>,
        max_size: u64,
    ) -> Result<Self, EngineError> {
        let verify = match &integrity.checksum {
            None => None,
            Some(req) => {
                let expected = match &req.expected {
                    ExpectedChecksum::Compute => Expected::None,
                    ExpectedChecksum::Header(v) => {
                        Expected::Value(Checksum::from_base64(req.algorithm, v)?)
                    }
                    ExpectedChecksum::Trailer(slot) => Expected::Trailer(Arc::clone(slot)),
                };
                Some((req.algorithm, expected))
            }
        };
        let mut compute = Vec::new();
        for alg in verify.as_ref().map(|v| v.0).into_iter().chain(store_alg) {
            if !compute.contains(&alg) {
                compute.push(alg);
            }
        }
        Ok(WriteSpec {
            content_md5: integrity.content_md5,
            length: integrity.length,
            max_size,
            verify,
            compute,
            cipher: None,
            tier: None,
        })
    }

    /// Writes the blob to `tier` (`None`: the default tier).
    pub(crate) fn in_tier(mut self, tier: Option<String>) -> Self {
        self.tier = tier;
        self
    }

    /// Seals the body with `cipher` (`None`: stored as sent).
    pub(crate) fn sealed(mut self, cipher: Option<s3gate_crypto::PartCipher>) -> Self {
        self.cipher = cipher;
        self
    }

    /// A spec for data the engine itself produces (part copies): nothing to verify.
    pub(crate) fn internal(
        length: u64,
        store_alg: Option<ChecksumAlgorithm>,
        max_size: u64,
    ) -> Self {
        WriteSpec {
            content_md5: None,
            length: Some(length),
            max_size,
            verify: None,
            compute: store_alg.into_iter().collect(),
            cipher: None,
            tier: None,
        }
    }
}

/// A durable, verified blob.
#[derive(Debug)]
pub(crate) struct Written {
    /// The blob (its size is the sealed size when the body was sealed).
    pub(crate) info: BlobInfo,
    /// The body's (plaintext) size.
    pub(crate) size: u64,
    /// MD5 of the data.
    pub(crate) md5: [u8; 16],
    /// Every computed checksum (the verified one and the stored one).
    pub(crate) checksums: Vec<Checksum>,
}

impl Written {
    /// The computed checksum of an algorithm.
    pub(crate) fn checksum(&self, alg: ChecksumAlgorithm) -> Option<&Checksum> {
        self.checksums.iter().find(|c| c.algorithm == alg)
    }
}

/// Errors the engine injects into the body stream to abort the blob write.
#[derive(Debug, thiserror::Error)]
enum LimitError {
    #[error("body longer than declared")]
    TooMuch,
    #[error("body larger than allowed")]
    TooLarge,
    #[error("body shorter than declared")]
    Incomplete { expected: u64, received: u64 },
    #[error("hasher job failed")]
    HasherGone,
}

impl From<LimitError> for EngineError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::TooMuch => EngineError::TooMuchBody,
            LimitError::TooLarge => EngineError::EntityTooLarge,
            LimitError::Incomplete { expected, received } => {
                EngineError::IncompleteBody { expected, received }
            }
            LimitError::HasherGone => EngineError::internal("hasher job failed"),
        }
    }
}

/// Maps a failed `put`, recognising the engine's own injected errors.
fn put_error(e: BlobError) -> EngineError {
    match e {
        BlobError::Body(body) => match body.downcast::<LimitError>() {
            Ok(limit) => (*limit).into(),
            Err(body) => EngineError::Body(body),
        },
        other => other.into(),
    }
}

/// The state of the body adapter.
struct Feed {
    body: ByteStream,
    /// The hash state while no job holds it.
    hashes: Option<Hashes>,
    /// The hash job in flight; it gives the state back.
    job: Option<tokio::task::JoinHandle<Hashes>>,
    /// Where the final state goes when the body ends.
    out: Option<oneshot::Sender<Hashes>>,
    /// Chunks not yet hashed, and their length.
    batch: Vec<Bytes>,
    batch_len: usize,
    received: u64,
    length: Option<u64>,
    max_size: u64,
    done: bool,
}

impl Feed {
    /// The hash state, once the job in flight is done; `None` if that job failed.
    async fn state(&mut self) -> Option<Hashes> {
        match self.job.take() {
            Some(job) => job.await.ok(),
            None => self.hashes.take(),
        }
    }

    /// Hashes the pending batch in a blocking job; `false` if the hasher failed.
    async fn hand_over(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        self.batch_len = 0;
        let batch = std::mem::take(&mut self.batch);
        let Some(mut state) = self.state().await else { return false };
        self.job = Some(tokio::task::spawn_blocking(move || {
            for chunk in &batch {
                state.update(chunk);
            }
            state
        }));
        true
    }

    /// The next body item; a partial batch is hashed if the body stalls meanwhile.
    async fn next_item(&mut self) -> Option<Result<Bytes, BoxError>> {
        if let Some(item) = self.body.next().now_or_never() {
            return item;
        }
        if self.batch.is_empty() {
            return self.body.next().await;
        }
        if let Ok(item) = tokio::time::timeout(STALL_HASH, self.body.next()).await {
            return item;
        }
        if !self.hand_over().await {
            return Some(Err(Box::new(LimitError::HasherGone)));
        }
        self.body.next().await
    }
}

async fn feed_next(mut f: Feed) -> Option<(Result<Bytes, BoxError>, Feed)> {
    if f.done {
        return None;
    }
    let fail = |mut f: Feed, e: BoxError| {
        f.done = true;
        f.out = None;
        Some((Err(e), f))
    };
    match f.next_item().await {
        Some(Ok(chunk)) => {
            f.received += chunk.len() as u64;
            if f.length.is_some_and(|len| f.received > len) {
                return fail(f, Box::new(LimitError::TooMuch));
            }
            if f.received > f.max_size {
                return fail(f, Box::new(LimitError::TooLarge));
            }
            if !chunk.is_empty() {
                f.batch_len += chunk.len();
                f.batch.push(chunk.clone());
                if f.batch_len >= HASH_BATCH && !f.hand_over().await {
                    return fail(f, Box::new(LimitError::HasherGone));
                }
            }
            Some((Ok(chunk), f))
        }
        Some(Err(e)) => fail(f, e),
        None => {
            f.done = true;
            if let Some(expected) = f.length
                && f.received < expected
            {
                let received = f.received;
                return fail(f, Box::new(LimitError::Incomplete { expected, received }));
            }
            if !f.hand_over().await {
                return fail(f, Box::new(LimitError::HasherGone));
            }
            let Some(state) = f.state().await else {
                return fail(f, Box::new(LimitError::HasherGone));
            };
            if let Some(out) = f.out.take() {
                let _ = out.send(state);
            }
            None
        }
    }
}

/// Deletes a blob the engine gave up on; a failure only leaves an orphan for the sweep.
pub(crate) async fn discard<B: BlobStore>(blobs: &B, id: &BlobId) {
    if let Err(e) = blobs.delete(id).await {
        tracing::warn!(blob = %id, error = %e, "could not delete an abandoned blob; the orphan sweep will");
    }
}

/// Deletes a blob whose metadata commit failed, but only when the failure says for certain that
/// nothing was committed. A store failure (I/O error at COMMIT, lost writer, busy) leaves the
/// outcome unknown: the version may be durable and name the blob, so deleting it could destroy
/// an object. Such a blob is left to the orphan sweep, which deletes it only if the metadata
/// does not know it.
pub(crate) async fn discard_after_failed_commit<B: BlobStore>(
    blobs: &B,
    id: &BlobId,
    error: &s3gate_metadata::MetaError,
) {
    use s3gate_metadata::MetaError;
    match error {
        MetaError::Unavailable(_) | MetaError::Backend(_) => {
            tracing::warn!(blob = %id, error = %error, "metadata commit outcome unknown; leaving the blob to the orphan sweep");
        }
        _ => discard(blobs, id).await,
    }
}

/// Streams `body` into a new blob, enforcing the declared length and maximum size, then checks
/// `Content-MD5` and the checksum. On any failure nothing stays stored.
pub(crate) async fn write_blob<B: BlobStore>(
    blobs: &B,
    body: ByteStream,
    spec: WriteSpec,
) -> Result<Written, EngineError> {
    if spec.length.is_some_and(|len| len > spec.max_size) {
        return Err(EngineError::EntityTooLarge);
    }
    if spec.length.is_some_and(|len| len <= INLINE_HASH) {
        return write_small(blobs, body, spec).await;
    }
    let (out, final_hashes) = oneshot::channel();
    let feed = Feed {
        body,
        hashes: Some(Hashes::new(&spec.compute)),
        job: None,
        out: Some(out),
        batch: Vec::new(),
        batch_len: 0,
        received: 0,
        length: spec.length,
        max_size: spec.max_size,
        done: false,
    };
    let stream: ByteStream = Box::pin(futures_util::stream::unfold(feed, feed_next));
    let stream = match spec.cipher.clone() {
        Some(cipher) => crate::sse::seal_stream(stream, cipher),
        None => stream,
    };
    let info = blobs.put_to(spec.tier.as_deref(), stream).await.map_err(put_error)?;
    // The body ended whole (or the put would have failed): its hashes are waiting.
    let Ok(hashes) = final_hashes.await else {
        discard(blobs, &info.id).await;
        return Err(LimitError::HasherGone.into());
    };
    finish_write(blobs, &spec, info, hashes).await
}

/// A body declared at most [`INLINE_HASH`] bytes long: collected (it is small), hashed on the
/// way in without a blocking job, then written as one batch. The same checks, in the same
/// order, as the streaming path.
async fn write_small<B: BlobStore>(
    blobs: &B,
    mut body: ByteStream,
    spec: WriteSpec,
) -> Result<Written, EngineError> {
    let expected = spec.length.unwrap_or(0);
    let mut hashes = Hashes::new(&spec.compute);
    let mut chunks: Vec<Result<Bytes, BoxError>> = Vec::new();
    while let Some(item) = body.next().await {
        let chunk = item.map_err(EngineError::Body)?;
        if hashes.total + chunk.len() as u64 > expected {
            return Err(EngineError::TooMuchBody);
        }
        if !chunk.is_empty() {
            hashes.update(&chunk);
            chunks.push(Ok(chunk));
        }
    }
    if hashes.total < expected {
        return Err(EngineError::IncompleteBody { expected, received: hashes.total });
    }
    let stream: ByteStream = Box::pin(futures_util::stream::iter(chunks));
    let stream = match spec.cipher.clone() {
        Some(cipher) => crate::sse::seal_stream(stream, cipher),
        None => stream,
    };
    let info = blobs.put_to(spec.tier.as_deref(), stream).await.map_err(put_error)?;
    finish_write(blobs, &spec, info, hashes).await
}

/// MD5 and the checksums of one body, and its length.
struct Hashes {
    md5: Md5,
    sums: Vec<Checksummer>,
    total: u64,
}

impl Hashes {
    fn new(algs: &[ChecksumAlgorithm]) -> Self {
        Hashes {
            md5: Md5::new(),
            sums: algs.iter().map(|a| Checksummer::new(*a)).collect(),
            total: 0,
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        self.md5.update(chunk);
        for s in &mut self.sums {
            s.update(chunk);
        }
    }

    /// The MD5 and the checksums, in the order of the algorithms given to [`Hashes::new`].
    fn finish(self) -> ([u8; 16], Vec<Checksum>) {
        (self.md5.finalize().into(), self.sums.into_iter().map(Checksummer::finalize).collect())
    }
}

/// The checks after a blob was written: stored size, Content-MD5, checksum. A failed check
/// deletes the blob.
async fn finish_write<B: BlobStore>(
    blobs: &B,
    spec: &WriteSpec,
    info: BlobInfo,
    hashes: Hashes,
) -> Result<Written, EngineError> {
    let body_len = hashes.total;
    let (md5, checksums) = hashes.finish();
    // A backend that stored a different length than it was given (a short write it did not
    // report) must not produce a version whose size disagrees with its ETag and checksum.
    let stored_len =
        if spec.cipher.is_some() { s3gate_crypto::sealed_len(body_len) } else { body_len };
    if info.size != stored_len {
        discard(blobs, &info.id).await;
        return Err(EngineError::internal(format!(
            "blob store reported {} bytes stored of {stored_len} written",
            info.size
        )));
    }
    let written = Written { info, size: body_len, md5, checksums };
    if let Err(e) = verify(spec, written.md5, &written.checksums) {
        discard(blobs, &written.info.id).await;
        return Err(e);
    }
    crate::failpoint::crash_point!(crate::failpoint::BLOB_WRITTEN);
    Ok(written)
}

fn verify(spec: &WriteSpec, md5: [u8; 16], checksums: &[Checksum]) -> Result<(), EngineError> {
    if spec.content_md5.is_some_and(|expected| expected != md5) {
        return Err(EngineError::BadDigest);
    }
    let Some((alg, expected)) = &spec.verify else {
        return Ok(());
    };
    let expected = match expected {
        Expected::None => return Ok(()),
        Expected::Value(c) => c.clone(),
        Expected::Trailer(slot) => match slot.get() {
            None => return Err(EngineError::TrailerMissing(alg.header_name().to_owned())),
            Some(v) => Checksum::from_base64(*alg, v)?,
        },
    };
    match checksums.iter().find(|c| c.algorithm == *alg) {
        Some(got) if got.raw == expected.raw => Ok(()),
        Some(_) => Err(EngineError::ChecksumMismatch(*alg)),
        None => Err(EngineError::internal("requested checksum was not computed")),
    }
}

/// The MD5 and checksums of a body declared empty, verified like [`write_blob`] does but without
/// writing a blob: an empty object needs no data piece.
pub(crate) async fn verify_empty(
    mut body: ByteStream,
    spec: &WriteSpec,
) -> Result<([u8; 16], Vec<Checksum>), EngineError> {
    let mut received = 0u64;
    while let Some(chunk) = body.next().await {
        received += chunk.map_err(EngineError::Body)?.len() as u64;
        if received > 0 {
            return Err(EngineError::TooMuchBody);
        }
    }
    let (md5, checksums) = Hashes::new(&spec.compute).finish();
    verify(spec, md5, &checksums)?;
    Ok((md5, checksums))
}
