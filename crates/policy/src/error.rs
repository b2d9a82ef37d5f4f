//! The one error type of the crate. Each variant names the S3 error code the server answers
//! with; the mapping itself lives in `crates/server/src/errors.rs`.

/// Why a policy, an ACL or an ACL-bearing request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `MalformedPolicy` (400). `reason` is the message S3 puts in the error body, AWS's own
    /// wording where AWS has one ("Policy has invalid action", "Invalid principal in policy").
    #[error("malformed policy: {reason}")]
    MalformedPolicy {
        /// The message for the client.
        reason: String,
    },
    /// `MalformedACLError` (400): an ACL that names no owner, an unknown permission or group,
    /// or too many grants.
    #[error("malformed acl: {reason}")]
    MalformedAcl {
        /// The message for the client.
        reason: String,
    },
    /// `InvalidArgument` (400): an unknown canned ACL, a grant header that does not parse.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// The message for the client.
        reason: String,
    },
    /// `InvalidRequest` (400): both `x-amz-acl` and `x-amz-grant-*` on one request.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// The message for the client.
        reason: String,
    },
    /// `UnresolvableGrantByEmailAddress` (400): s3gate users have no e-mail address, and AWS
    /// no longer creates grants by e-mail address.
    #[error("grant by e-mail address")]
    GrantByEmail,
    /// `AccessControlListNotSupported` (400): the bucket's ObjectOwnership is
    /// BucketOwnerEnforced and the request sets an ACL other than the bucket owner's full
    /// control.
    #[error("the bucket does not allow ACLs")]
    AclNotSupported,
    /// `AccessDenied` (403): the bucket's public access block refuses a public ACL or policy.
    #[error("public access blocked: {reason}")]
    PublicAccessBlocked {
        /// Which setting refused it, for the client.
        reason: &'static str,
    },
    /// `NotImplemented` (501): a valid AWS value s3gate has no meaning for.
    #[error("not implemented: {reason}")]
    NotImplemented {
        /// What is not implemented.
        reason: &'static str,
    },
}

impl PolicyError {
    /// The message for the S3 error body.
    pub fn message(&self) -> &str {
        match self {
            Self::MalformedPolicy { reason }
            | Self::MalformedAcl { reason }
            | Self::InvalidArgument { reason }
            | Self::InvalidRequest { reason } => reason,
            Self::GrantByEmail => {
                "The e-mail address you provided does not match any account on record."
            }
            Self::AclNotSupported => "The bucket does not allow ACLs",
            Self::PublicAccessBlocked { reason } | Self::NotImplemented { reason } => reason,
        }
    }
}

pub(crate) fn malformed(reason: impl Into<String>) -> PolicyError {
    PolicyError::MalformedPolicy { reason: reason.into() }
}

/// AWS's reason texts, one place so tests and code agree.
pub(crate) mod reason {
    pub(crate) const INVALID_JSON: &str = "This policy contains invalid Json";
    pub(crate) const FIRST_BYTE: &str =
        "Policies must be valid JSON and the first byte must be '{'";
    pub(crate) const TOO_LARGE: &str = "Policy exceeds the maximum allowed document size.";
    pub(crate) const EMPTY_STATEMENT: &str = "Could not parse the policy: Statement is empty!";
    pub(crate) const MISSING_STATEMENT: &str = "Missing required field Statement";
    pub(crate) const INVALID_VERSION: &str = "The policy must contain a valid version string";
    pub(crate) const INVALID_ACTION: &str = "Policy has invalid action";
    pub(crate) const INVALID_RESOURCE: &str = "Policy has invalid resource";
    pub(crate) const INVALID_PRINCIPAL: &str = "Invalid principal in policy";
    pub(crate) const INVALID_CONDITION_KEY: &str = "Policy has an invalid condition key";
    pub(crate) const INVALID_IP: &str = "Invalid IP address in Conditions";
    pub(crate) const ACTION_RESOURCE_MISMATCH: &str =
        "Action does not apply to any resource(s) in statement";
    pub(crate) const CONDITION_MISMATCH: &str =
        "Conditions do not apply to combination of actions and resources in statement";
    pub(crate) const DUPLICATE_SID: &str = "Statement IDs (SID) in a single policy must be unique.";
    pub(crate) const SID_CHARSET: &str = "Statement IDs (SID) must be alpha-numeric.";
    pub(crate) const IDENTITY_PRINCIPAL: &str = "Policy document should not specify a principal.";
}
