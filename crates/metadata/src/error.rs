//! Errors of the metadata store.

/// What went wrong in a [`crate::MetadataStore`] call. Variants are outcomes a caller acts on;
/// `Backend` carries a failure of the underlying database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// The bucket does not exist.
    #[error("no such bucket")]
    NoSuchBucket,
    /// The bucket name is taken.
    #[error("bucket already exists")]
    BucketExists {
        /// Name of the user owning the existing bucket.
        owner: String,
    },
    /// The bucket still holds objects.
    #[error("bucket not empty")]
    BucketNotEmpty,
    /// The key has no current version (for `If-Match` writes).
    #[error("no such key")]
    NoSuchKey,
    /// The upload does not exist (never did, completed or aborted).
    #[error("no such upload")]
    NoSuchUpload,
    /// A write condition did not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A concurrent write conflicted; the client should retry.
    #[error("conflicting concurrent write")]
    Conflict,
    /// The user name or access key is taken.
    #[error("user already exists")]
    UserExists,
    /// No user of that name.
    #[error("no such user")]
    NoSuchUser,
    /// A group, policy, membership, attachment or access key does not exist.
    #[error("no such {0}")]
    NotFound(IamEntity),
    /// A group or policy of that name exists.
    #[error("{0} already exists")]
    AlreadyExists(IamEntity),
    /// The policy is still attached to a user or group (IAM's DeleteConflict).
    #[error("policy is attached")]
    DeleteConflict,
    /// The version is under object lock (a legal hold or a retention in force) and the
    /// request would delete it or weaken its lock.
    #[error("object is locked")]
    ObjectLocked,
    /// The KMS key id or alias is taken.
    #[error("kms key already exists")]
    KmsKeyExists,
    /// A RenameObject client token was used for another rename (another source or
    /// destination) within the token's lifetime.
    #[error("client token used for another rename")]
    IdempotencyMismatch,
    /// The store is temporarily unable to serve (busy, connection lost); retrying may succeed.
    #[error("metadata store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Any other failure of the underlying database (corruption, I/O, bug).
    #[error("metadata store failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What [`MetaError::NotFound`] and [`MetaError::AlreadyExists`] are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamEntity {
    /// A group.
    Group,
    /// A stored policy.
    Policy,
    /// A user's membership of a group.
    Membership,
    /// A policy's attachment to a user or group.
    Attachment,
    /// An access key of a user.
    AccessKey,
}

impl std::fmt::Display for IamEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IamEntity::Group => "group",
            IamEntity::Policy => "policy",
            IamEntity::Membership => "group membership",
            IamEntity::Attachment => "policy attachment",
            IamEntity::AccessKey => "access key",
        })
    }
}
