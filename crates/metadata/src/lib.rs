//! Metadata for the s3gate gateway: buckets, object versions, multipart uploads and their parts,
//! users and blob references, behind one async trait, [`MetadataStore`].
//!
//! Implementations: [`SqliteMetadata`] (embedded default: WAL, durable group commit, readers on
//! their own connections) and [`MemMetadata`] (for engine tests). [`conformance`] holds the one
//! test suite every implementation must pass.
//!
//! The store never sees object data: it keeps blob ids that the storage backend generated.
//! It does not validate names or compute ETags; callers hand it validated records.
//!
//! Schema note: an object row is a *version*; unversioned buckets keep the `null` version,
//! so bucket versioning is a feature and not a migration.

pub mod conformance;
mod error;
mod list;
mod mem;
mod sqlite;
mod store;

pub use error::MetaError;
pub use mem::MemMetadata;
pub use sqlite::SqliteMetadata;
pub use store::*;
