//! The S3 REST protocol, as pure functions and plain data.
//!
//! This crate turns the parts of an HTTP request that S3 gives meaning to into
//! validated values, and S3 results back into bytes:
//!
//! - [`route`](route()) maps method, path, query and host to an [`Operation`]
//!   (path-style and virtual-hosted-style), validating [`BucketName`],
//!   [`ObjectKey`], [`UploadId`] and [`PartNumber`] once, at the edge;
//! - [`xml`] parses request bodies (CompleteMultipartUpload, DeleteObjects,
//!   CreateBucketConfiguration) under size limits and renders every response body;
//! - [`S3Error`] / [`ErrorCode`] carry an S3 error code, its HTTP status and the
//!   `<Error>` body;
//! - [`range`], [`conditions`], [`checksum`] and [`time`] implement `Range`,
//!   `If-*` preconditions, `x-amz-checksum-*`/ETag arithmetic and S3's date formats.
//!
//! It deliberately does no I/O, reads no clock or environment and knows no HTTP
//! library: "now", configuration and header values are parameters. It never
//! panics on client input.
//!
//! # Example
//!
//! ```
//! use s3gate_protocol::{route, ErrorCode, Operation, RequestTarget, RouteConfig, S3Error};
//!
//! let cfg = RouteConfig { domains: vec!["s3.example.test".into()] };
//! let req = RequestTarget {
//!     method: "PUT",
//!     raw_path: "/photos/2024/a%20b.jpg",
//!     raw_query: Some("partNumber=3&uploadId=abc"),
//!     host: Some("my-bucket.s3.example.test:9000"),
//!     has_copy_source: false,
//! };
//! let op = route(&req, &cfg)?;
//! assert_eq!(op.name(), "UploadPart");
//! assert_eq!(op.bucket().map(|b| b.as_str()), Some("my-bucket"));
//! assert_eq!(op.key().map(|k| k.as_str()), Some("photos/2024/a b.jpg"));
//!
//! // Errors render as S3 `<Error>` bodies with their HTTP status.
//! let bad = RequestTarget { method: "GET", raw_path: "/bkt/k", raw_query: Some("torrent"),
//!                           host: None, has_copy_source: false };
//! let err = route(&bad, &cfg).unwrap_err();
//! assert_eq!((err.code, err.status()), (ErrorCode::NotImplemented, 501));
//! let body = S3Error::new(ErrorCode::NoSuchKey).to_xml("/b/k", "req-1");
//! assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"));
//! # Ok::<(), S3Error>(())
//! ```
// S3 operation and element names (PutObject, ETag, ListObjectsV2) are prose in these
// docs; backticking each of the dozens of occurrences would hurt readability.
#![allow(clippy::doc_markdown)]

pub mod acl;
pub mod checksum;
pub mod conditions;
pub mod cors;
pub mod error;
pub mod features;
pub mod form;
pub mod lifecycle;
pub mod lock;
pub mod names;
pub mod percent;
pub mod range;
pub mod route;
pub mod sosapi;
pub mod subresource;
pub mod tagging;
pub mod time;
pub mod website;
pub mod xml;

pub use acl::{
    AccessControlPolicy, AclGrant, AclGrantee, ownership_controls_xml, parse_ownership_controls,
};
pub use checksum::{
    Checksum, ChecksumAlgorithm, ChecksumType, Checksummer, composite_checksum, parse_content_md5,
};
pub use conditions::{ConditionOutcome, DeleteConditions, Preconditions};
pub use error::{ErrorCode, S3Error};
pub use features::{
    ExpectedOwners, FEATURE_HEADERS, FeatureHeader, Refusal, RefusalScope, RefusedFeature, Support,
    check_feature_headers,
};
pub use lock::{
    LockHeaders, ObjectLockConfiguration, RetentionMode, RetentionPeriod, legal_hold_xml,
    parse_legal_hold, parse_lock_headers, parse_object_lock_configuration, parse_retention,
    retention_xml,
};
pub use names::{BucketName, ETag, ObjectKey, PartNumber, UploadId};
pub use range::{ByteRange, RangeSpec, parse_range};
pub use route::{
    CopySource, GetObjectParams, ListBucketsParams, ListObjectsParams, ListObjectsV2Params,
    ListUploadsParams, ListVersionsParams, Operation, RequestTarget, RouteConfig,
    parse_copy_source, parse_rename_source, refused_operation, route,
};
pub use subresource::{SUBRESOURCES, Scope, State, SubResource, Unset, Verb, unset_answer};
pub use tagging::{check_bucket_tag_set, check_tag_set, parse_tagging_header};
pub use time::{format_http_date, format_iso8601, parse_http_date, parse_iso8601};
pub use xml::{
    AttributesPart, AttributesParts, BucketEntry, CompleteMultipartUploadResult, CompletedPart,
    CopyObjectResult, CopyPartResult, DeleteErrorEntry, DeleteRequest, DeleteResult, DeletedEntry,
    EncryptionRule, ErrorBody, GetObjectAttributesResult, InitiateMultipartUploadResult,
    ListAllMyBucketsResult, ListBucketResult, ListBucketResultV2, ListMultipartUploadsResult,
    ListPartsResult, ListVersionsResult, LocationConstraint, ObjectEntry, ObjectIdentifier, Owner,
    PartEntry, PolicyStatus, PublicAccessBlockConfiguration, Tagging, UploadEntry, VersionEntry,
    VersioningConfiguration, bucket_encryption_xml, parse_bucket_encryption,
    parse_complete_multipart_upload, parse_create_bucket_configuration, parse_delete,
    parse_error_body, parse_tagging, parse_versioning_configuration,
};
