//! Block Public Access: the four settings, merged (gateway-wide default and bucket) the way
//! AWS merges account and bucket settings, most restrictive wins.

use crate::acl::Acl;
use crate::compile::Policy;
use crate::error::PolicyError;

/// A PublicAccessBlock configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(clippy::struct_excessive_bools, reason = "the four flags are the S3 API")]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL (PutBucketAcl, PutObjectAcl, PutObject,
    /// CopyObject, CreateMultipartUpload, CreateBucket with a public ACL).
    pub block_public_acls: bool,
    /// Let public grants (AllUsers, AuthenticatedUsers) allow nothing.
    pub ignore_public_acls: bool,
    /// Refuse PutBucketPolicy with a public policy.
    pub block_public_policy: bool,
    /// While the bucket policy is public, it allows nothing to anonymous requesters (only the
    /// account's own users keep what it grants).
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// All four settings on (what new AWS buckets get).
    pub const ALL: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    /// The settings in force when both `self` and `other` apply: each one on if on in either.
    #[must_use]
    pub fn merge(self, other: PublicAccessBlock) -> PublicAccessBlock {
        PublicAccessBlock {
            block_public_acls: self.block_public_acls || other.block_public_acls,
            ignore_public_acls: self.ignore_public_acls || other.ignore_public_acls,
            block_public_policy: self.block_public_policy || other.block_public_policy,
            restrict_public_buckets: self.restrict_public_buckets || other.restrict_public_buckets,
        }
    }

    /// Checks an ACL a request sets: a public one is `AccessDenied` under BlockPublicAcls.
    pub fn check_acl(&self, acl: &Acl) -> Result<(), PolicyError> {
        if self.block_public_acls && acl.is_public() {
            return Err(PolicyError::PublicAccessBlocked {
                reason: "Access Denied: BlockPublicAcls refuses a public ACL",
            });
        }
        Ok(())
    }

    /// Checks a bucket policy PutBucketPolicy stores: a public one is `AccessDenied` under
    /// BlockPublicPolicy.
    pub fn check_policy(&self, policy: &Policy) -> Result<(), PolicyError> {
        if self.block_public_policy && policy.is_public() {
            return Err(PolicyError::PublicAccessBlocked {
                reason: "Access Denied: BlockPublicPolicy refuses a public bucket policy",
            });
        }
        Ok(())
    }
}
