//! The evaluator: one request, the documents that govern it, one decision.
//!
//! Order (AWS's, mapped onto s3gate's one account):
//! 1. An explicit Deny in any of the user's identity policies, or in the bucket policy, wins.
//!    The bucket policy binds root too, except for Get/Put/DeleteBucketPolicy, so that root
//!    can always repair a policy that locks everyone out (as the AWS account root can).
//! 2. Root may do everything else.
//! 3. The bucket owner may do everything on the bucket and its objects.
//! 4. The user who started a multipart upload may abort it and list its parts.
//! 5. An Allow in an identity policy, in the bucket policy, or a grant of the bucket's or the
//!    object's ACL (when ObjectOwnership leaves ACLs on) allows.
//! 6. Anything else is an implicit deny.

use crate::acl::{Acl, AclOf, ObjectOwnership, acl_permission};
use crate::action::{Action, ResourceKinds};
use crate::compile::{Lookup, Policy};
use crate::context::Context;
use crate::principal::Principal;
use crate::public::PublicAccessBlock;

/// The ARN of the resource a request acts on, built once per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceArn {
    arn: String,
    kind: ResourceKinds,
}

impl ResourceArn {
    /// `arn:aws:s3:::bucket`.
    pub fn bucket(bucket: &str) -> ResourceArn {
        ResourceArn { arn: format!("arn:aws:s3:::{bucket}"), kind: ResourceKinds::BUCKET }
    }

    /// `arn:aws:s3:::bucket/key`.
    pub fn object(bucket: &str, key: &str) -> ResourceArn {
        ResourceArn { arn: format!("arn:aws:s3:::{bucket}/{key}"), kind: ResourceKinds::OBJECT }
    }

    /// The resource of an action on no bucket (ListAllMyBuckets): `arn:aws:s3:::`, which
    /// `"Resource": "*"` and `"Resource": "arn:aws:s3:::*"` both match.
    pub fn account() -> ResourceArn {
        ResourceArn { arn: "arn:aws:s3:::".to_owned(), kind: ResourceKinds::ACCOUNT }
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// Bucket, object or account.
    pub fn kind(&self) -> ResourceKinds {
        self.kind
    }
}

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who asks (with their identity policies).
    pub principal: &'a Principal,
    /// The action.
    pub action: Action,
    /// What it acts on.
    pub resource: &'a ResourceArn,
    /// The condition keys of the request.
    pub context: &'a Context,
}

/// What the server knows about the bucket and object a request acts on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// The bucket owner's canonical id (`None`: no bucket, as for ListAllMyBuckets or a
    /// CreateBucket of a new name).
    pub bucket_owner: Option<&'a str>,
    /// The bucket policy.
    pub bucket_policy: Option<&'a Policy>,
    /// The bucket's ACL.
    pub bucket_acl: Option<&'a Acl>,
    /// The object's ACL (for object actions on an existing object).
    pub object_acl: Option<&'a Acl>,
    /// The bucket's Object Ownership (BucketOwnerEnforced: ACLs count for nothing).
    pub ownership: ObjectOwnership,
    /// The PublicAccessBlock in force (gateway default merged with the bucket's).
    pub public_access_block: PublicAccessBlock,
    /// The canonical id of whoever started the multipart upload the request names.
    pub upload_initiator: Option<&'a str>,
}

/// Allowed, explicitly denied, or not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request may proceed.
    Allow,
    /// A Deny statement matched: nothing can override it.
    ExplicitDeny,
    /// Nothing allowed it.
    ImplicitDeny,
}

/// Why: one label per path through the evaluator, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Root.
    Root,
    /// The bucket owner.
    BucketOwner,
    /// The user who started the multipart upload.
    UploadInitiator,
    /// An Allow of an identity policy.
    IdentityPolicy,
    /// An Allow of the bucket policy.
    BucketPolicy,
    /// A grant of the bucket's ACL.
    BucketAcl,
    /// A grant of the object's ACL.
    ObjectAcl,
    /// A Deny of an identity policy.
    IdentityPolicyDeny,
    /// A Deny of the bucket policy.
    BucketPolicyDeny,
    /// Nothing allowed it.
    NoGrant,
}

impl Reason {
    /// A stable label (`bucket_policy_deny`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Root => "root",
            Reason::BucketOwner => "bucket_owner",
            Reason::UploadInitiator => "upload_initiator",
            Reason::IdentityPolicy => "identity_policy",
            Reason::BucketPolicy => "bucket_policy",
            Reason::BucketAcl => "bucket_acl",
            Reason::ObjectAcl => "object_acl",
            Reason::IdentityPolicyDeny => "identity_policy_deny",
            Reason::BucketPolicyDeny => "bucket_policy_deny",
            Reason::NoGrant => "no_grant",
        }
    }
}

/// The statement that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedStatement<'a> {
    /// The identity policy's name, or `None` for the bucket policy.
    pub policy: Option<&'a str>,
    /// The statement's position in its policy.
    pub index: usize,
    /// Its Sid.
    pub sid: Option<&'a str>,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// Allow or deny.
    pub outcome: Outcome,
    /// Which rule decided.
    pub reason: Reason,
    /// The statement, when a policy decided.
    pub statement: Option<MatchedStatement<'a>>,
}

impl Decision<'_> {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}

fn decision(outcome: Outcome, reason: Reason) -> Decision<'static> {
    Decision { outcome, reason, statement: None }
}

/// Decides a request. Allocates nothing.
pub fn evaluate<'a>(request: &Request<'a>, target: &Target<'a>) -> Decision<'a> {
    let lookup = Lookup { principal: request.principal, context: request.context };
    let user = request.principal.user();
    let is_root = user.is_some_and(crate::principal::User::is_root);
    let action = request.action;
    let resource = request.resource.as_str();

    let mut identity_allow = None;
    if let Some(user) = user {
        for p in user.policies() {
            let (deny, allow) = p.policy.scan(action, resource, &lookup, identity_allow.is_none());
            if let Some(index) = deny {
                return Decision {
                    outcome: Outcome::ExplicitDeny,
                    reason: Reason::IdentityPolicyDeny,
                    statement: Some(MatchedStatement {
                        policy: Some(&p.name),
                        index,
                        sid: p.policy.sid(index),
                    }),
                };
            }
            if identity_allow.is_none()
                && let Some(index) = allow
            {
                identity_allow = Some(MatchedStatement {
                    policy: Some(&p.name),
                    index,
                    sid: p.policy.sid(index),
                });
            }
        }
    }

    let mut bucket_allow = None;
    if let Some(policy) = target.bucket_policy {
        let lockout_exempt = is_root
            && matches!(
                action,
                Action::GetBucketPolicy | Action::PutBucketPolicy | Action::DeleteBucketPolicy
            );
        if !lockout_exempt {
            let restricted = user.is_none()
                && target.public_access_block.restrict_public_buckets
                && policy.is_public();
            let (deny, allow) = policy.scan(action, resource, &lookup, !restricted);
            if let Some(index) = deny {
                return Decision {
                    outcome: Outcome::ExplicitDeny,
                    reason: Reason::BucketPolicyDeny,
                    statement: Some(MatchedStatement {
                        policy: None,
                        index,
                        sid: policy.sid(index),
                    }),
                };
            }
            bucket_allow =
                allow.map(|index| MatchedStatement { policy: None, index, sid: policy.sid(index) });
        }
    }

    if is_root {
        return decision(Outcome::Allow, Reason::Root);
    }
    if let Some(user) = user {
        let on_bucket = request.resource.kind() != ResourceKinds::ACCOUNT;
        if on_bucket && target.bucket_owner == Some(user.canonical_id()) {
            return decision(Outcome::Allow, Reason::BucketOwner);
        }
        if matches!(action, Action::AbortMultipartUpload | Action::ListMultipartUploadParts)
            && target.upload_initiator == Some(user.canonical_id())
        {
            return decision(Outcome::Allow, Reason::UploadInitiator);
        }
    }
    if let Some(statement) = identity_allow {
        return Decision {
            outcome: Outcome::Allow,
            reason: Reason::IdentityPolicy,
            statement: Some(statement),
        };
    }
    if let Some(statement) = bucket_allow {
        return Decision {
            outcome: Outcome::Allow,
            reason: Reason::BucketPolicy,
            statement: Some(statement),
        };
    }
    if target.ownership.acls_enabled()
        && let Some((of, permission)) = acl_permission(action)
    {
        let ignore_public = target.public_access_block.ignore_public_acls;
        let (acl, reason) = match of {
            AclOf::Bucket => (target.bucket_acl, Reason::BucketAcl),
            AclOf::Object => (target.object_acl, Reason::ObjectAcl),
        };
        if acl.is_some_and(|acl| acl.grants_to(request.principal, permission, ignore_public)) {
            return decision(Outcome::Allow, reason);
        }
    }
    decision(Outcome::ImplicitDeny, Reason::NoGrant)
}
