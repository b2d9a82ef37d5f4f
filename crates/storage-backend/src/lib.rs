//! Object data for the s3gate gateway: blobs behind one async trait, [`BlobStore`].
//!
//! A blob is an immutable byte sequence written once from a stream and named by an id that the
//! store generates ([`BlobId`]); no user input ever reaches a file path or an upstream key.
//! Implementations: [`DiskBlobs`] (local disk: temp file, fsync, rename, fsync directory),
//! [`S3ProxyBlobs`] (feature `s3-proxy`, on by default: objects of another S3-compatible
//! service, see [`s3proxy`]) and
//! [`MemBlobs`] (for tests); [`AnyBlobs`] chooses between the first two at run time, and
//! [`CachedBlobs`] puts a bounded read cache (memory and a directory) in front of any of them, and
//! [`TieredBlobs`] routes between several named stores (*tiers*) by the tier tag in a blob id.
//! [`conformance`] holds the suite every implementation must pass.
//!
//! The store knows nothing of buckets, keys or metadata: which blobs are live is the metadata
//! store's business; this crate only writes, reads, deletes and enumerates blobs. Callers write
//! the blob first and commit metadata second, so a crash leaves at worst an unreferenced blob
//! (found by [`BlobStore::list`] and removed by the orphan sweep), never a reference to a
//! missing one.
//!
//! ```
//! use bytes::Bytes;
//! use futures_util::{StreamExt, stream};
//! use s3gate_storage_backend::{BlobStore, ByteStream, DiskBlobs};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let dir = tempfile::tempdir()?;
//! let store = DiskBlobs::open(dir.path())?;
//! let body: ByteStream = Box::pin(stream::iter([Ok(Bytes::from("hello, ")), Ok(Bytes::from("world"))]));
//! let info = store.put(body).await?; // durable once this returns
//! assert_eq!(info.size, 12);
//!
//! let mut range = store.get(&info.id, 7, Some(5)).await?;
//! let mut read = Vec::new();
//! while let Some(frame) = range.next().await {
//!     read.extend_from_slice(&frame?);
//! }
//! assert_eq!(read, b"world");
//! store.delete(&info.id).await?;
//! # Ok(())
//! # }
//! ```

mod any;
mod blob;
pub mod cache;
pub mod conformance;
mod disk;
mod mem;
mod range;
#[cfg(feature = "s3-proxy")]
pub mod s3proxy;
mod space;
mod tiered;

pub use any::AnyBlobs;
pub use blob::*;
pub use cache::policy::PolicyKind as CachePolicy;
pub use cache::{CacheConfig, CachedBlobs};
pub use disk::DiskBlobs;
pub use mem::MemBlobs;
#[cfg(feature = "s3-proxy")]
pub use s3proxy::{S3ProxyBlobs, S3ProxyConfig};
pub use space::{SPARE_BYTES, SPARE_FILE, SpaceReserve, free_bytes, reserve_for};
pub use tiered::TieredBlobs;
