//! [`MemBlobs`]: an in-memory [`BlobStore`] for tests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream;

use crate::blob::{
    BlobEntry, BlobError, BlobId, BlobInfo, BlobListStream, BlobStore, BlobStream, ByteStream,
};
use crate::range::checked_range;

/// Largest frame a [`MemBlobs`] read stream yields, so that consumers see a multi-frame stream
/// for big blobs, as they would from the disk store.
const READ_FRAME: usize = 1 << 20;

/// A [`BlobStore`] that keeps every blob in memory.
///
/// It is as strict as the disk store: a missing blob is [`BlobError::NotFound`], a range past the
/// end is [`BlobError::InvalidRange`], a failing body stores nothing, and a dropped `put` future
/// stores nothing (the blob is inserted only once the whole body has been received).
/// [`Self::len`] and [`Self::ids`] let tests assert that no blob leaked.
#[derive(Debug, Default)]
pub struct MemBlobs {
    blobs: Mutex<HashMap<BlobId, Stored>>,
}

#[derive(Debug, Clone)]
struct Stored {
    data: Bytes,
    modified: SystemTime,
}

impl MemBlobs {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many blobs are stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no blob is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The ids of every stored blob, sorted.
    pub fn ids(&self) -> Vec<BlobId> {
        let mut ids: Vec<BlobId> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The whole content of a blob, if it exists.
    pub fn contents(&self, id: &BlobId) -> Option<Bytes> {
        self.lock().get(id).map(|s| s.data.clone())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<BlobId, Stored>> {
        // The map is never left half-updated by a panic (every critical section is a single
        // insert, remove or read), so a poisoned lock still guards consistent data.
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BlobStore for MemBlobs {
    async fn put(&self, mut body: ByteStream) -> Result<BlobInfo, BlobError> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk.map_err(BlobError::Body)?);
        }
        let id = BlobId::generate()?;
        let size = buf.len() as u64;
        let stored = Stored { data: buf.freeze(), modified: SystemTime::now() };
        self.lock().insert(id.clone(), stored);
        Ok(BlobInfo { id, size })
    }

    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        let data = self.lock().get(id).map(|s| s.data.clone()).ok_or(BlobError::NotFound)?;
        let (start, end) = checked_range(data.len() as u64, offset, len)?;
        // Both bounds are at most data.len(), a usize, so the conversions cannot fail.
        let start = usize::try_from(start).map_err(|_| BlobError::InvalidRange)?;
        let end = usize::try_from(end).map_err(|_| BlobError::InvalidRange)?;
        let frames: Vec<Result<Bytes, BlobError>> = (start..end)
            .step_by(READ_FRAME)
            .map(|at| Ok(data.slice(at..end.min(at + READ_FRAME))))
            .collect();
        Ok(Box::pin(stream::iter(frames)))
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        self.lock().remove(id);
        Ok(())
    }

    async fn list(&self) -> Result<BlobListStream, BlobError> {
        let entries: Vec<Result<BlobEntry, BlobError>> = self
            .lock()
            .iter()
            .map(|(id, s)| {
                Ok(BlobEntry { id: id.clone(), size: s.data.len() as u64, modified: s.modified })
            })
            .collect();
        Ok(Box::pin(stream::iter(entries)))
    }

    async fn cleanup_incomplete(&self, _older_than: Duration) -> Result<u64, BlobError> {
        // An interrupted put never leaves anything behind in memory.
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hooks_track_blobs() {
        let store = MemBlobs::new();
        assert!(store.is_empty());
        let body: ByteStream = Box::pin(stream::iter(vec![Ok(Bytes::from_static(b"abc"))]));
        let info = store.put(body).await.unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.ids(), vec![info.id.clone()]);
        assert_eq!(store.contents(&info.id).unwrap(), Bytes::from_static(b"abc"));
        store.delete(&info.id).await.unwrap();
        assert!(store.is_empty());
    }
}
