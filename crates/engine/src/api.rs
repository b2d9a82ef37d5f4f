//! Requests and results of the engine's operations. Plain data: no HTTP types.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use s3gate_metadata::{ObjectVersion, Part, Upload, WriteCondition};
use s3gate_protocol::{
    BucketName, ByteRange, Checksum, ChecksumAlgorithm, ChecksumType, ETag, ObjectKey, PartNumber,
    Preconditions, RangeSpec, UploadId,
};

/// Who is asking: every operation checks bucket ownership against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User name.
    pub user: String,
    /// Root may act on every bucket.
    pub is_root: bool,
    /// An authorization layer above the engine (the server's bucket policies) already allowed
    /// this request on the bucket it names, so the engine's owner check does not apply. The
    /// engine alone lets only the bucket's owner and root act on a bucket.
    pub authorized: bool,
}

/// Where the expected value of a checksum comes from.
#[derive(Debug, Clone)]
pub enum ExpectedChecksum {
    /// Compute it and store it, nothing to compare (`x-amz-sdk-checksum-algorithm` or
    /// `x-amz-checksum-algorithm` without a value).
    Compute,
    /// Given up front in an `x-amz-checksum-*` header (base64).
    Header(String),
    /// Arrives in an aws-chunked trailer: the body stream fills this slot (base64 value) before it
    /// ends successfully. Empty after a successful body = the trailer was missing.
    Trailer(Arc<OnceLock<String>>),
}

/// A checksum the client asked for.
#[derive(Debug, Clone)]
pub struct ChecksumRequest {
    /// Algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// Expected value source.
    pub expected: ExpectedChecksum,
}

/// Integrity data that comes with a body.
#[derive(Debug, Clone, Default)]
pub struct BodyIntegrity {
    /// Decoded `Content-MD5` (the server answers InvalidDigest for undecodable values).
    pub content_md5: Option<[u8; 16]>,
    /// Requested checksum, if any.
    pub checksum: Option<ChecksumRequest>,
    /// Declared length of the decoded body (`Content-Length` or
    /// `x-amz-decoded-content-length`), if known: more or fewer bytes is an error.
    pub length: Option<u64>,
}

/// Who owns the version a write commits, and its ACL: the server decides both from the
/// bucket's Object Ownership and the request's ACL headers. The default is what the engine
/// does alone: the caller owns it, with the private ACL (`acl: None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionOwnership {
    /// The owner's user name; `None`: the caller.
    pub owner: Option<String>,
    /// The ACL in the server's serialization (opaque here), stored with the version.
    pub acl: Option<String>,
}

impl VersionOwnership {
    pub(crate) fn owner(&self, caller: &Caller) -> String {
        self.owner.clone().unwrap_or_else(|| caller.user.clone())
    }
}

/// PutObject.
#[derive(Debug, Clone)]
pub struct PutObjectRequest {
    /// Bucket.
    pub bucket: BucketName,
    /// Key.
    pub key: ObjectKey,
    /// Headers to store: content-type, content-encoding (with `aws-chunked` removed),
    /// content-disposition, content-language, cache-control, expires, `x-amz-meta-*`
    /// (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Tags from `x-amz-tagging`.
    pub tags: Vec<(String, String)>,
    /// Integrity data.
    pub integrity: BodyIntegrity,
    /// `If-None-Match: *` / `If-Match`.
    pub condition: WriteCondition,
    /// The encryption headers.
    pub encryption: crate::SseRequest,
    /// The object lock headers.
    pub lock: s3gate_protocol::LockHeaders,
    /// The new version's owner and ACL.
    pub ownership: VersionOwnership,
    /// `x-amz-storage-class` (`None`: `STANDARD`).
    pub storage_class: Option<String>,
}

/// Result of PutObject / CompleteMultipartUpload / CopyObject.
#[derive(Debug, Clone)]
pub struct WriteOutput {
    /// ETag of the new version.
    pub etag: ETag,
    /// Stored checksum, if any.
    pub checksum: Option<Checksum>,
    /// Checksum type of the stored checksum, if any.
    pub checksum_type: Option<ChecksumType>,
    /// The stored checksum as S3 prints it (base64; `base64-N` for a composite multipart
    /// checksum, which `checksum` cannot hold), if any. Added by the engine.
    pub checksum_value: Option<(ChecksumAlgorithm, String)>,
    /// Last-Modified of the new version.
    pub last_modified: SystemTime,
    /// Version id of the new version (`None` in an unversioned bucket, `null` in a suspended
    /// one), for `x-amz-version-id`.
    pub version_id: Option<String>,
    /// CopyObject: the version id of the source, for `x-amz-copy-source-version-id` (`None`
    /// for a source in a bucket that was never versioned, unless the request named it).
    pub source_version_id: Option<String>,
    /// How the new version is encrypted, if it is.
    pub encryption: Option<crate::SseInfo>,
}

/// Result of DeleteObject and of each DeleteObjects entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOutput {
    /// The delete marker made, or the version removed (`None` in an unversioned bucket
    /// without a version id).
    pub version_id: Option<String>,
    /// Whether that is a delete marker.
    pub delete_marker: bool,
}

/// GetObject / HeadObject.
#[derive(Debug, Clone)]
pub struct GetObjectRequest {
    /// Bucket.
    pub bucket: BucketName,
    /// Key.
    pub key: ObjectKey,
    /// Parsed `Range` header, if any.
    pub range: Option<RangeSpec>,
    /// `?partNumber=N`.
    pub part_number: Option<PartNumber>,
    /// Conditional headers.
    pub conditions: Preconditions,
    /// `versionId`.
    pub version: crate::VersionRef,
    /// The SSE-C key of the request, if any.
    pub customer_key: Option<Arc<s3gate_crypto::CustomerKey>>,
}

/// The outcome of a GET/HEAD whose preconditions passed.
pub struct GetObjectOutput {
    /// The version being read (headers, etag, checksum, size, parts).
    pub version: ObjectVersion,
    /// `Some` for a 206 response: the byte range served.
    pub range: Option<ByteRange>,
    /// Bytes in the body.
    pub content_length: u64,
    /// Number of parts when the object is multipart (for `x-amz-mp-parts-count`).
    pub parts_count: Option<u32>,
    /// The checksum to return when `x-amz-checksum-mode: ENABLED`: the object's for a whole-object
    /// response, the part's for `partNumber`, never one for a byte range.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    /// The body (empty stream for HEAD). Dropping it releases the blob leases.
    pub body: crate::BodyStream,
    /// The bucket's versioning state (whether the version id is reported).
    pub versioning: s3gate_metadata::Versioning,
}

/// CopyObject metadata directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetadataDirective {
    /// Keep the source's headers.
    #[default]
    Copy,
    /// Use the request's headers.
    Replace,
}

/// CopyObject.
#[derive(Debug, Clone)]
pub struct CopyObjectRequest {
    /// Source bucket.
    pub source_bucket: BucketName,
    /// Source key.
    pub source_key: ObjectKey,
    /// The source version (`?versionId=` of `x-amz-copy-source`).
    pub source_version: crate::VersionRef,
    /// `x-amz-copy-source-if-*`.
    pub source_conditions: Preconditions,
    /// Destination bucket.
    pub bucket: BucketName,
    /// Destination key.
    pub key: ObjectKey,
    /// COPY or REPLACE.
    pub metadata_directive: MetadataDirective,
    /// Headers for REPLACE (as in [`PutObjectRequest::headers`]).
    pub headers: Vec<(String, String)>,
    /// `x-amz-tagging-directive: REPLACE` with its tags; `None` copies the source's tags.
    pub tags: Option<Vec<(String, String)>>,
    /// Destination condition.
    pub condition: WriteCondition,
    /// The destination's encryption headers.
    pub encryption: crate::SseRequest,
    /// The source's SSE-C key (`x-amz-copy-source-server-side-encryption-customer-*`).
    pub source_customer_key: Option<Arc<s3gate_crypto::CustomerKey>>,
    /// The destination's object lock headers (a copy never takes the source's lock).
    pub lock: s3gate_protocol::LockHeaders,
    /// The copy's owner and ACL (a copy never takes the source's ACL).
    pub ownership: VersionOwnership,
    /// `x-amz-storage-class` of the copy (`None`: `STANDARD`; a copy never takes the
    /// source's class, as on AWS).
    pub storage_class: Option<String>,
}

/// CreateMultipartUpload.
#[derive(Debug, Clone)]
pub struct CreateUploadRequest {
    /// Bucket.
    pub bucket: BucketName,
    /// Key.
    pub key: ObjectKey,
    /// Headers for the final object.
    pub headers: Vec<(String, String)>,
    /// Tags for the final object.
    pub tags: Vec<(String, String)>,
    /// `x-amz-checksum-algorithm`.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `x-amz-checksum-type`.
    pub checksum_type: Option<ChecksumType>,
    /// The encryption headers.
    pub encryption: crate::SseRequest,
    /// The object lock headers (applied to the object at completion).
    pub lock: s3gate_protocol::LockHeaders,
    /// The upload's owner and the ACL its object gets at completion.
    pub ownership: VersionOwnership,
    /// `x-amz-storage-class` of the object (`None`: `STANDARD`); its parts go to its tier.
    pub storage_class: Option<String>,
}

/// UploadPart.
#[derive(Debug, Clone)]
pub struct UploadPartRequest {
    /// Bucket.
    pub bucket: BucketName,
    /// Key.
    pub key: ObjectKey,
    /// Upload.
    pub upload_id: UploadId,
    /// Part number.
    pub part_number: PartNumber,
    /// Integrity data.
    pub integrity: BodyIntegrity,
    /// The SSE-C key of the request, if any (an SSE-C upload needs it for every part).
    pub customer_key: Option<Arc<s3gate_crypto::CustomerKey>>,
}

/// Result of UploadPart / UploadPartCopy.
#[derive(Debug, Clone)]
pub struct PartOutput {
    /// The part's ETag (MD5).
    pub etag: ETag,
    /// The part's checksum, if the upload has an algorithm.
    pub checksum: Option<Checksum>,
    /// When it was stored.
    pub last_modified: SystemTime,
    /// UploadPartCopy: the source's version id, as for [`WriteOutput::source_version_id`].
    pub source_version_id: Option<String>,
    /// How the upload is encrypted, if it is.
    pub encryption: Option<crate::SseInfo>,
}

/// UploadPartCopy.
#[derive(Debug, Clone)]
pub struct UploadPartCopyRequest {
    /// Destination upload.
    pub bucket: BucketName,
    /// Destination key.
    pub key: ObjectKey,
    /// Upload.
    pub upload_id: UploadId,
    /// Part number.
    pub part_number: PartNumber,
    /// Source bucket.
    pub source_bucket: BucketName,
    /// Source key.
    pub source_key: ObjectKey,
    /// The source version (`?versionId=` of `x-amz-copy-source`).
    pub source_version: crate::VersionRef,
    /// `x-amz-copy-source-range` (`bytes=a-b` only), resolved against the source size.
    pub source_range: Option<(u64, u64)>,
    /// `x-amz-copy-source-if-*`.
    pub source_conditions: Preconditions,
    /// The destination upload's SSE-C key, if any.
    pub customer_key: Option<Arc<s3gate_crypto::CustomerKey>>,
    /// The source's SSE-C key, if any.
    pub source_customer_key: Option<Arc<s3gate_crypto::CustomerKey>>,
}

/// One part named in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompletePart {
    /// Part number as sent (validated by the engine).
    pub part_number: u32,
    /// ETag as sent (quotes optional).
    pub etag: String,
    /// Checksums as sent.
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
}

/// CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompleteUploadRequest {
    /// Bucket.
    pub bucket: BucketName,
    /// Key.
    pub key: ObjectKey,
    /// Upload.
    pub upload_id: UploadId,
    /// Parts in the order sent.
    pub parts: Vec<CompletePart>,
    /// `If-None-Match: *` / `If-Match`.
    pub condition: WriteCondition,
    /// The whole-object checksum the client sent (`x-amz-checksum-<alg>`), checked against the
    /// object's: composite `base64-N` (the `-N` may be left out) or full-object.
    pub expected_checksum: Option<(ChecksumAlgorithm, String)>,
}

/// One listing page for ListObjects (v1 and v2).
#[derive(Debug, Clone, Default)]
pub struct ListObjectsRequest {
    /// Prefix.
    pub prefix: String,
    /// Delimiter (`None` also for an empty delimiter).
    pub delimiter: Option<String>,
    /// Start strictly after this (v1 marker, v2 start-after, or the decoded continuation token).
    pub start_after: Option<String>,
    /// 0..=1000.
    pub max_keys: u32,
}

/// A page of ListParts.
#[derive(Debug, Clone)]
pub struct PartsPage {
    /// The upload.
    pub upload: Upload,
    /// The parts.
    pub parts: Vec<Part>,
    /// Whether more follow.
    pub is_truncated: bool,
}
