//! The engine's error type and the mappings from the two stores' errors.

use s3gate_metadata::MetaError;
use s3gate_protocol::{ChecksumAlgorithm, ETag, S3Error};
use s3gate_storage_backend::{BlobError, BoxError};

/// What went wrong in an engine operation: one variant per outcome the server maps to an S3
/// error code (or, for `Body`, to its own handling of a failed request body).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The bucket does not exist.
    #[error("no such bucket")]
    NoSuchBucket,
    /// The key has no current version.
    #[error("no such key")]
    NoSuchKey,
    /// The version a request names by id (or `null`) does not exist.
    #[error("no such version")]
    NoSuchVersion,
    /// A read addressed a delete marker: the current version of the key (`addressed == false`,
    /// answered 404) or a marker named by its version id (answered 405).
    #[error("delete marker")]
    DeleteMarker {
        /// The marker's version id.
        version_id: String,
        /// The marker's Last-Modified.
        last_modified: std::time::SystemTime,
        /// Whether the request named the marker by its version id.
        addressed: bool,
    },
    /// The upload does not exist, or belongs to another key.
    #[error("no such upload")]
    NoSuchUpload,
    /// The caller does not own the bucket.
    #[error("access denied")]
    AccessDenied,
    /// `CreateBucket` on a bucket the caller already owns.
    #[error("bucket already owned by you")]
    BucketAlreadyOwnedByYou,
    /// `CreateBucket` on a bucket another user owns.
    #[error("bucket already exists")]
    BucketAlreadyExists,
    /// `DeleteBucket` on a bucket that still holds objects.
    #[error("bucket not empty")]
    BucketNotEmpty,
    /// `CreateBucket` with a location constraint other than the gateway's region.
    #[error("invalid location constraint")]
    InvalidLocationConstraint,
    /// A precondition (read conditions, copy-source conditions, or a conditional write) failed.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A read condition answered 304 Not Modified; the validators of the version it was
    /// decided on, which a 304 response still carries.
    #[error("not modified")]
    NotModified {
        /// ETag of the current version.
        etag: ETag,
        /// Last-Modified of the current version.
        last_modified: std::time::SystemTime,
    },
    /// A conditional write raced with another write; the client should retry.
    #[error("conditional request conflict")]
    ConditionalConflict,
    /// An error the protocol crate already expressed (invalid range, key validation, ...).
    #[error(transparent)]
    Protocol(S3Error),
    /// The body's MD5 differs from `Content-MD5`.
    #[error("content-md5 mismatch")]
    BadDigest,
    /// The body's checksum differs from the expected one.
    #[error("{0} checksum mismatch")]
    ChecksumMismatch(ChecksumAlgorithm),
    /// The checksum trailer (named) never arrived.
    #[error("missing checksum trailer {0}")]
    TrailerMissing(String),
    /// The body ended before the declared length.
    #[error("incomplete body: expected {expected} bytes, received {received}")]
    IncompleteBody {
        /// Declared length.
        expected: u64,
        /// Bytes actually received.
        received: u64,
    },
    /// The body went on past the declared length.
    #[error("body longer than declared")]
    TooMuchBody,
    /// The body is larger than the configured maximum.
    #[error("entity too large")]
    EntityTooLarge,
    /// A part other than the last is smaller than the minimum part size.
    #[error("entity too small")]
    EntityTooSmall,
    /// A listed part is missing or its ETag/checksum does not match (message for the client).
    #[error("invalid part: {0}")]
    InvalidPart(String),
    /// Listed parts are not in ascending order.
    #[error("invalid part order")]
    InvalidPartOrder,
    /// The version is under object lock: deleting it, or weakening its lock, is refused.
    #[error("object is locked")]
    ObjectLocked,
    /// An argument is invalid (message for the client).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The request is invalid (message for the client).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The request body stream failed; the source is the body's own error (the server downcasts).
    #[error("request body failed")]
    Body(#[source] BoxError),
    /// The storage backend is out of space.
    #[error("insufficient storage")]
    InsufficientStorage,
    /// A store is temporarily unavailable; retrying may succeed.
    #[error("service unavailable")]
    Unavailable(#[source] BoxError),
    /// An encryption step failed or refused (a wrong SSE-C key, malformed stored keys, a
    /// package that does not authenticate); the server maps each variant.
    #[error("encryption failed")]
    Encryption(#[source] s3gate_crypto::CryptoError),
    /// Encryption was asked for, but the gateway has no master key configured.
    #[error("server-side encryption is not configured")]
    SseUnavailable,
    /// The object is SSE-C encrypted and the request carries no customer key.
    #[error("object is encrypted with a customer key")]
    SseCustomerKeyRequired,
    /// An SSE-C write to a bucket that blocks SSE-C (`BlockedEncryptionTypes`, or the
    /// operator's default for buckets that did not choose).
    #[error("SSE-C writes are blocked on this bucket")]
    SseCustomerBlocked,
    /// The request carries a customer key for an object not encrypted with one.
    #[error("customer key given for an object not encrypted with one")]
    SseNotApplicable,
    /// Any other failure (store corruption, I/O, a bug); logged, answered `InternalError`.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl EngineError {
    /// An internal error from a message.
    pub(crate) fn internal(msg: impl Into<String>) -> Self {
        EngineError::Internal(msg.into().into())
    }
}

impl From<MetaError> for EngineError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NoSuchBucket => EngineError::NoSuchBucket,
            MetaError::BucketExists { .. } => EngineError::BucketAlreadyExists,
            MetaError::BucketNotEmpty => EngineError::BucketNotEmpty,
            MetaError::NoSuchKey => EngineError::NoSuchKey,
            MetaError::NoSuchUpload => EngineError::NoSuchUpload,
            MetaError::PreconditionFailed => EngineError::PreconditionFailed,
            MetaError::Conflict => EngineError::ConditionalConflict,
            MetaError::ObjectLocked => EngineError::ObjectLocked,
            MetaError::IdempotencyMismatch => EngineError::Protocol(S3Error::with_message(
                s3gate_protocol::ErrorCode::IdempotencyParameterMismatch,
                "The client token was used for another rename within the last 10 minutes.",
            )),
            MetaError::Unavailable(e) => EngineError::Unavailable(e),
            MetaError::Backend(e) => EngineError::Internal(e),
            // UserExists, NoSuchUser and future variants are not outcomes of engine operations.
            other => EngineError::Internal(Box::new(other)),
        }
    }
}

impl From<BlobError> for EngineError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Body(e) => EngineError::Body(e),
            BlobError::InsufficientStorage => EngineError::InsufficientStorage,
            BlobError::Unavailable(e) => EngineError::Unavailable(e),
            BlobError::Backend(e) => EngineError::Internal(e),
            // NotFound / InvalidRange on a blob the metadata names is an inconsistency.
            other => EngineError::Internal(Box::new(other)),
        }
    }
}

impl From<S3Error> for EngineError {
    fn from(e: S3Error) -> Self {
        EngineError::Protocol(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(e: impl Into<EngineError>, expected: &str) {
        let got = format!("{:?}", e.into());
        assert!(got.starts_with(expected), "{got} should start with {expected}");
    }

    #[test]
    fn store_errors_map_to_outcomes() {
        check(MetaError::NoSuchBucket, "NoSuchBucket");
        check(MetaError::BucketNotEmpty, "BucketNotEmpty");
        check(MetaError::NoSuchKey, "NoSuchKey");
        check(MetaError::NoSuchUpload, "NoSuchUpload");
        check(MetaError::PreconditionFailed, "PreconditionFailed");
        check(MetaError::Conflict, "ConditionalConflict");
        check(MetaError::ObjectLocked, "ObjectLocked");
        check(
            MetaError::IdempotencyMismatch,
            "Protocol(S3Error { code: IdempotencyParameterMismatch",
        );
        check(MetaError::Unavailable("busy".into()), "Unavailable");
        check(MetaError::Backend("corrupt".into()), "Internal");
        check(MetaError::NoSuchUser, "Internal");
        check(BlobError::InsufficientStorage, "InsufficientStorage");
        check(BlobError::Unavailable("down".into()), "Unavailable");
        check(BlobError::Body("client".into()), "Body");
        check(BlobError::NotFound, "Internal");
        check(BlobError::Backend("io".into()), "Internal");
    }
}
