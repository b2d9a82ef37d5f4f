//! Metadata for the s3gate gateway: buckets, object versions, multipart uploads and their parts,
//! users and blob references, behind one async trait, [`MetadataStore`].
//!
//! Implementations: [`SqliteMetadata`] (feature `sqlite`, on by default; the embedded default: WAL, durable group commit, readers on
//! their own connections), `PostgresMetadata` (feature `postgres`, on by default: one database
//! shared by several gateways, every write one round trip) and [`MemMetadata`] (for engine
//! tests); [`AnyMetadata`] picks SQLite or PostgreSQL at run time. [`conformance`] holds the one
//! test suite every implementation must pass; [`conformance_tests!`] turns it into tests.
//!
//! The store never sees object data: it keeps blob ids that the storage backend generated.
//! It does not validate names or compute ETags; callers hand it validated records.
//!
//! Schema note: an object row is a *version*; unversioned buckets keep the `null` version.
//! A bucket's versioning state is a column read inside every write's transaction; the versions
//! of a key are ordered by a sequence number the store assigns under the key's lock (see
//! [`ObjectVersion`]), and version listings seek the `(bucket, key, seq)` index.
//!
//! # Semantics shared by every implementation
//!
//! Listing and reference counting are written once (a private module) and driven by each
//! implementation, so the in-memory store is exactly as strict as SQLite:
//!
//! - Keys compare as UTF-8 bytes. A listing entry is included iff its sort key (the key, or its
//!   common prefix) is greater than `start_after`, so a `start_after` inside a common prefix
//!   skips that whole prefix. `max_keys` is capped at 1000; `max_keys == 0` answers an empty,
//!   untruncated page (as S3 does). An empty delimiter is no delimiter.
//! - A listing seeks the `(bucket, key)` index of current versions: without a delimiter one
//!   range query of `max_keys + 1` rows; with one, each common prefix `P` costs one seek to the
//!   smallest string above every key starting with `P` (its last code point incremented).
//! - A write nets its reference changes per blob before applying them: a blob dropped and
//!   re-added by one write is never retired. `CommitOutcome::retired_blobs` is in blob id order;
//!   `retired_blobs()` orders by (`retired_at`, blob id).
//! - Reads of a missing bucket's object or upload answer `None`; listings and writes answer
//!   `NoSuchBucket`, except that upload writes (`put_part`, `complete_upload`, `abort_upload`)
//!   and `list_parts` answer `NoSuchUpload`. `complete_upload` also answers `NoSuchUpload` when the
//!   upload belongs to another key. `create_upload` with an id already in use answers `Conflict`.
//! - Write conditions see a delete marker as no current version.
//!
//! # Example
//!
//! ```
//! use s3gate_metadata::{Bucket, MemMetadata, MetadataStore};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemMetadata::new();
//! let bucket = Bucket {
//!     name: "photos".into(),
//!     owner: "alice".into(),
//!     region: "us-east-1".into(),
//!     created: std::time::SystemTime::now(),
//!     versioning: s3gate_metadata::Versioning::Unversioned,
//! };
//! store.create_bucket(bucket.clone()).await.unwrap();
//! assert_eq!(store.bucket("photos").await.unwrap(), Some(bucket));
//! # });
//! ```

#[cfg(feature = "sqlite")]
mod any;
mod check;
pub mod conformance;
mod error;
mod list;
mod lock;
mod mem;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

#[cfg(feature = "sqlite")]
pub use any::AnyMetadata;
pub use check::{InvalidUser, check_user, generate_keys, is_iam_name};
pub use error::{IamEntity, MetaError};
pub use lock::{LockChange, LockMode, ObjectLock, Retention};
pub use mem::MemMetadata;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresMetadata, PostgresOptions, latest_version as postgres_schema_version};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteMetadata;
pub use store::*;
