//! [`AnyBlobs`]: the blob store chosen at run time.

use std::time::Duration;

#[cfg(feature = "s3-proxy")]
use crate::S3ProxyBlobs;
use crate::blob::{
    BlobError, BlobId, BlobInfo, BlobListStream, BlobStore, BlobStream, ByteStream, StoreSpace,
};
use crate::{CachedBlobs, DiskBlobs};

/// One of this crate's production blob stores, chosen at run time ([`BlobStore`] is not
/// dyn-compatible, so the binary holds this enum, which delegates every call).
#[derive(Debug)]
pub enum AnyBlobs {
    /// Local disk.
    Disk(DiskBlobs),
    /// An upstream S3-compatible service.
    #[cfg(feature = "s3-proxy")]
    S3(S3ProxyBlobs),
    /// Local disk behind a read cache (a cache on a faster device than the disk's).
    CachedDisk(CachedBlobs<DiskBlobs>),
    /// An upstream S3-compatible service behind a read cache.
    #[cfg(feature = "s3-proxy")]
    CachedS3(CachedBlobs<S3ProxyBlobs>),
}

impl BlobStore for AnyBlobs {
    async fn put(&self, body: ByteStream) -> Result<BlobInfo, BlobError> {
        match self {
            AnyBlobs::Disk(s) => s.put(body).await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::S3(s) => s.put(body).await,
            AnyBlobs::CachedDisk(s) => s.put(body).await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::CachedS3(s) => s.put(body).await,
        }
    }

    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        match self {
            AnyBlobs::Disk(s) => s.get(id, offset, len).await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::S3(s) => s.get(id, offset, len).await,
            AnyBlobs::CachedDisk(s) => s.get(id, offset, len).await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::CachedS3(s) => s.get(id, offset, len).await,
        }
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        match self {
            AnyBlobs::Disk(s) => s.delete(id).await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::S3(s) => s.delete(id).await,
            AnyBlobs::CachedDisk(s) => s.delete(id).await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::CachedS3(s) => s.delete(id).await,
        }
    }

    async fn list(&self) -> Result<BlobListStream, BlobError> {
        match self {
            AnyBlobs::Disk(s) => s.list().await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::S3(s) => s.list().await,
            AnyBlobs::CachedDisk(s) => s.list().await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::CachedS3(s) => s.list().await,
        }
    }

    async fn cleanup_incomplete(&self, older_than: Duration) -> Result<u64, BlobError> {
        match self {
            AnyBlobs::Disk(s) => s.cleanup_incomplete(older_than).await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::S3(s) => s.cleanup_incomplete(older_than).await,
            AnyBlobs::CachedDisk(s) => s.cleanup_incomplete(older_than).await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::CachedS3(s) => s.cleanup_incomplete(older_than).await,
        }
    }

    async fn space(&self) -> Result<Option<StoreSpace>, BlobError> {
        match self {
            AnyBlobs::Disk(s) => s.space().await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::S3(s) => s.space().await,
            AnyBlobs::CachedDisk(s) => s.space().await,
            #[cfg(feature = "s3-proxy")]
            AnyBlobs::CachedS3(s) => s.space().await,
        }
    }
}
