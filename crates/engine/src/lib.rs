//! The s3gate engine: S3 object, multipart and streaming logic over two traits,
//! [`MetadataStore`](s3gate_metadata::MetadataStore) and
//! [`BlobStore`](s3gate_storage_backend::BlobStore). It knows no HTTP: the server calls it with
//! the plain request types of [`api`] and maps [`EngineError`] to S3 error codes.
//!
//! Principal type: [`Engine`]. Its invariants:
//! - **Data first, metadata second.** A body is streamed into a new blob while MD5 and the
//!   checksum are computed in blocking jobs of 256 KiB batches (each overlapping the receipt of
//!   the next batch; no thread is held between batches); only a durable, verified blob is
//!   committed to the metadata. Any failure deletes the blob.
//! - **Never delete what someone reads.** Blobs whose last reference a write removed are left to
//!   [`Engine::collect_garbage`], which spares blobs younger than `gc_grace` and blobs leased by
//!   an open GET body or a running copy. Copies re-read their source after leasing, so they never
//!   name a blob the collector forgot.
//! - **Bounded memory.** A GET streams its parts in order with a read-ahead window of
//!   `read_ahead_parts` parts, each behind a small channel: memory never grows with the object.
//! - **Errors mid-stream are errors.** A failing blob read ends the body stream with `Err`, never
//!   with a short `Ok` body.
//!
//! ```
//! use futures_util::StreamExt as _;
//! use s3gate_engine::{BodyIntegrity, Caller, Engine, EngineConfig, GetObjectRequest};
//! use s3gate_engine::{PutObjectRequest, WriteCondition};
//! use s3gate_metadata::MemMetadata;
//! use s3gate_protocol::{BucketName, ObjectKey, Preconditions};
//! use s3gate_storage_backend::MemBlobs;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let engine = Engine::new(MemMetadata::new(), MemBlobs::new(), EngineConfig::new("us-east-1"));
//! let alice = Caller { user: "alice".into(), is_root: false, authorized: false };
//! let bucket = BucketName::parse("photos").unwrap();
//! let key = ObjectKey::parse("cat.txt".into()).unwrap();
//! engine.create_bucket(&alice, &bucket, None).await.unwrap();
//!
//! let body = futures_util::stream::iter([Ok(bytes::Bytes::from_static(b"meow"))]);
//! let put = PutObjectRequest {
//!     lock: Default::default(),
//!     bucket: bucket.clone(),
//!     key: key.clone(),
//!     headers: vec![],
//!     tags: vec![],
//!     integrity: BodyIntegrity { length: Some(4), ..Default::default() },
//!     condition: WriteCondition::None,
//!     encryption: Default::default(),
//!     ownership: Default::default(),
//!     storage_class: None,
//! };
//! let written = engine.put_object(&alice, put, Box::pin(body)).await.unwrap();
//! assert_eq!(written.etag.as_str(), "4a4be40c96ac6314e91d93f38043a634");
//!
//! let get = GetObjectRequest {
//!     bucket,
//!     key,
//!     range: None,
//!     part_number: None,
//!     conditions: Preconditions::default(),
//!     version: Default::default(),
//!     customer_key: None,
//! };
//! let mut out = engine.get_object(&alice, &get, false).await.unwrap();
//! let mut data = Vec::new();
//! while let Some(chunk) = out.body.next().await {
//!     data.extend_from_slice(&chunk.unwrap());
//! }
//! assert_eq!(data, b"meow");
//! # });
//! ```
//!
//! Deliberately not here: authentication, XML, HTTP status codes, configuration files.

pub mod api;
mod class;
mod config;
mod engine;
mod error;
pub mod failpoint;
mod gc;
mod lease;
mod lock;
mod multipart;
mod read;
mod rename;
mod sse;
mod tagging;
mod version;
mod write;

pub use api::*;
pub use class::{AWS_STORAGE_CLASSES, STANDARD, StorageClasses};
pub use config::{Clock, EngineConfig, MIN_SHARED_ORPHAN_GRACE};
pub use engine::Engine;
pub use error::EngineError;
pub use gc::{CLOCK_SLACK, GcReport, SweepReport};
pub use lock::{OBJECT_LOCK_KIND, lock_mode, retention_mode};
pub use rename::{RenameObjectRequest, RenameOutput};
pub use s3gate_metadata::{
    Bucket, ListPage, UploadListQuery, UploadPage, VersionListEntry, VersionPage, Versioning,
    WriteCondition,
};
pub use s3gate_storage_backend::{BoxError, ByteStream};
pub use sse::{
    BUCKET_ENCRYPTION_KIND, BucketEncryption, DEFAULT_KMS_ALIAS, EngineKms, KeyReload,
    MasterKeyRing, MetaKeyRecords, SseConfig, SseInfo, SseRequest, check_customer_key,
    master_keys_in_use, parse_context_json, rewrap_data_keys, sse_info,
};
pub use version::{ListVersionsRequest, VersionRef};

/// The body of a GET: blob bytes, ending with `Err` if a read fails midway.
pub type BodyStream = s3gate_storage_backend::BlobStream;
