//! The one error type of the crate.

use std::error::Error as StdError;

/// Every failure of `s3gate-crypto`.
///
/// The S3 answer of each variant is decided in `crates/server/src/errors.rs`; the line
/// "S3:" of each variant says what AWS answers for the same condition, so the mapping can be
/// written without guessing. A variant that S3 never shows a client (a tampered package, a
/// wrapped key that does not open) is an internal error: it is logged and the response is
/// cut or answered `500 InternalError`, never served as plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The operating system's random generator failed.
    /// S3: 500 InternalError.
    #[error("the system random generator failed")]
    Random,

    /// A format version this build does not know (stored in the object's metadata).
    /// S3: 500 InternalError.
    #[error("unknown encrypted-object format version {0}")]
    UnknownFormatVersion(u8),

    /// A sealed package did not authenticate: a wrong key, flipped bytes, packages reordered
    /// or swapped between parts or objects, a final flag that does not match (truncation at a
    /// package border), or a package of the wrong length.
    /// S3: never shown as data; the response is cut (or 500 InternalError before its head).
    #[error("package {package} of part {part_number} failed authentication")]
    PackageRejected {
        /// The part the package belongs to.
        part_number: u32,
        /// The package's index in its part.
        package: u64,
    },

    /// The sealed bytes of a part ended before its plaintext size says they should.
    /// S3: as [`CryptoError::PackageRejected`].
    #[error("sealed part ended after {received} of {expected} bytes")]
    Truncated {
        /// Sealed bytes the decryptor expected.
        expected: u64,
        /// Sealed bytes it received.
        received: u64,
    },

    /// More sealed bytes arrived than the part's plaintext size allows.
    /// S3: as [`CryptoError::PackageRejected`].
    #[error("sealed part is longer than its plaintext size allows")]
    TrailingBytes,

    /// A part of more than 2^32 packages (256 TiB), beyond the format.
    /// S3: 400 EntityTooLarge (S3 refuses such a body long before).
    #[error("part exceeds the format's package limit")]
    PartTooLarge,

    /// A plaintext range that is empty or not inside the part: a caller bug, since S3 ranges
    /// are resolved against the object size before this crate is asked.
    /// S3: 500 InternalError.
    #[error("range {start}..{end} is not inside a part of {len} bytes")]
    InvalidRange {
        /// First byte of the range.
        start: u64,
        /// One past its last byte.
        end: u64,
        /// The part's plaintext size.
        len: u64,
    },

    /// A stored value (wrapped key, key check record, id, salt, key record) has the wrong
    /// length or shape.
    /// S3: 500 InternalError.
    #[error("malformed {0}")]
    Malformed(&'static str),

    /// A line of a master key file (or key list) could not be used.
    /// S3: none; the binary refuses to start.
    #[error("master key file line {line}: {reason}")]
    KeyFile {
        /// 1-based line number (entry number for a comma-separated key list).
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A master key id outside `[A-Za-z0-9._-]{1,64}`.
    /// S3: none; an operator error.
    #[error("invalid master key id")]
    InvalidMasterKeyId,

    /// A wrapped key names a master key the key ring does not hold (retired or never known).
    /// S3: 500 InternalError.
    #[error("master key {0:?} is not in the key ring")]
    UnknownMasterKey(String),

    /// A second master key with an id already in the key ring.
    /// S3: none; an operator error.
    #[error("master key {0:?} is already in the key ring")]
    DuplicateMasterKey(String),

    /// Retiring the active master key.
    /// S3: none; an operator error.
    #[error("master key {0:?} is active and cannot be retired")]
    RetireActiveKey(String),

    /// A wrapped data key did not open: the key ring holds its master key id but the bytes
    /// or the context (object id, encryption context) do not match.
    /// S3: 500 InternalError (the metadata was altered).
    #[error("wrapped key did not open under its key and context")]
    UnwrapFailed,

    /// No KMS key with this id, ARN or alias (or an ARN of another region or account).
    /// S3: 400 KMS.NotFoundException.
    #[error("kms key {0:?} does not exist")]
    KmsKeyNotFound(String),

    /// The KMS key is disabled: it neither generates nor decrypts data keys.
    /// S3: 400 KMS.DisabledException.
    #[error("kms key {0:?} is disabled")]
    KmsKeyDisabled(String),

    /// Creating a KMS key whose id or alias is taken.
    /// S3: none (an admin command); KMS itself answers AlreadyExistsException.
    #[error("kms key id or alias {0:?} already exists")]
    KmsKeyExists(String),

    /// A KMS key id, ARN or alias that is not well formed.
    /// S3: 400 KMS.NotFoundException (AWS answers "Invalid keyId").
    #[error("invalid kms key id {0:?}")]
    InvalidKmsKeyId(String),

    /// The storage behind the built-in key store failed.
    /// S3: 500 InternalError (503 SlowDown if the store reports itself unavailable).
    #[error("kms key storage failed")]
    Storage(#[source] Box<dyn StdError + Send + Sync>),

    /// SSE-C key or key-MD5 header without the algorithm header.
    /// S3: 400 InvalidArgument "Requests specifying Server Side Encryption with Customer
    /// provided keys must provide a valid encryption algorithm."
    #[error("sse-c request without the customer algorithm")]
    SseCustomerAlgorithmMissing,

    /// SSE-C algorithm header other than `AES256`.
    /// S3: 400 InvalidEncryptionAlgorithmError "The encryption request you specified is not
    /// valid. Supported value: AES256."
    #[error("sse-c algorithm is not AES256")]
    SseCustomerAlgorithmUnsupported,

    /// SSE-C algorithm without the key header.
    /// S3: 400 InvalidArgument "Requests specifying Server Side Encryption with Customer
    /// provided keys must provide an appropriate secret key."
    #[error("sse-c request without the customer key")]
    SseCustomerKeyMissing,

    /// SSE-C key that is not base64 of 32 bytes.
    /// S3: 400 InvalidArgument "The secret key was invalid for the specified algorithm."
    #[error("sse-c customer key is not 256 bits of base64")]
    SseCustomerKeyInvalid,

    /// SSE-C key without the key-MD5 header.
    /// S3: 400 InvalidArgument "Requests specifying Server Side Encryption with Customer
    /// provided keys must provide the client calculated MD5 of the secret key."
    #[error("sse-c request without the customer key md5")]
    SseCustomerKeyMd5Missing,

    /// SSE-C key-MD5 header that is not the MD5 of the key.
    /// S3: 400 InvalidArgument "The calculated MD5 hash of the key did not match the hash
    /// that was provided."
    #[error("sse-c customer key md5 does not match the key")]
    SseCustomerKeyMd5Mismatch,

    /// A well-formed SSE-C key that is not the key the object (or upload) was stored with.
    /// S3: 403 AccessDenied (ceph/s3-tests expects a 400 on GET; see docs/s3-compat.md once
    /// the server decides).
    #[error("sse-c customer key does not match the object's key")]
    SseCustomerKeyMismatch,
}
