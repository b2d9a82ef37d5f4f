//! Object data for the s3gate gateway: blobs behind one async trait, [`BlobStore`].
//!
//! A blob is an immutable byte sequence written once from a stream and named by an id that the
//! store generates ([`BlobId`]); no user input ever reaches a file path or an upstream key.
//! Implementations: [`DiskBlobs`] (local disk: temp file, fsync, rename, fsync directory) and
//! [`MemBlobs`] (for tests). [`conformance`] holds the suite every implementation must pass.
//!
//! The store knows nothing of buckets, keys or metadata: which blobs are live is the metadata
//! store's business; this crate only writes, reads, deletes and enumerates blobs.

mod blob;
pub mod conformance;
mod disk;
mod mem;

pub use blob::*;
pub use disk::DiskBlobs;
pub use mem::MemBlobs;
