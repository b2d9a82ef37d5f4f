//! S3 authorization as AWS evaluates it: bucket policies and identity policies (the IAM JSON
//! policy language), ACLs with canned ACLs and grant headers, Object Ownership, Block Public
//! Access, and one evaluator that turns a request into Allow or Deny.
//!
//! Pure: no I/O, no clock, no environment, no HTTP. The caller passes the policy text, the
//! request's principal, action, resource ARN and condition keys, and the time (inside the
//! [`Context`]); documents are compiled once and evaluated without allocating.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, UNIX_EPOCH};
//! use s3gate_policy::{
//!     evaluate, AccountId, Action, Attachment, Context, IdentityPolicy, KeyName, Outcome,
//!     Policy, Principal, Request, ResourceArn, Target, User,
//! };
//!
//! let account = AccountId::new("000000000000").expect("twelve digits");
//! // Anyone may read `site/`, but only over TLS.
//! let bucket_policy = Policy::parse_bucket_policy(r#"{
//!     "Version": "2012-10-17",
//!     "Statement": [
//!         {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
//!          "Action": "s3:GetObject", "Resource": "arn:aws:s3:::www/site/*"},
//!         {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
//!          "Resource": ["arn:aws:s3:::www", "arn:aws:s3:::www/*"],
//!          "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
//!     ]}"#, "www", &account).expect("valid policy");
//! assert!(bucket_policy.is_public());
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let mut context = Context::new(now);
//! context.set_secure_transport(true);
//! let page = ResourceArn::object("www", "site/index.html");
//! let target = Target { bucket_owner: Some("owner-id"), bucket_policy: Some(&bucket_policy), ..Target::default() };
//! let anonymous = Principal::Anonymous;
//! let request = Request { principal: &anonymous, action: Action::GetObject, resource: &page, context: &context };
//! assert_eq!(evaluate(&request, &target).outcome, Outcome::Allow);
//!
//! // Over plain HTTP the Deny wins, and says which statement decided.
//! let mut plain = context.clone();
//! plain.set_secure_transport(false);
//! let request = Request { context: &plain, ..request };
//! let decision = evaluate(&request, &target);
//! assert_eq!(decision.outcome, Outcome::ExplicitDeny);
//! assert_eq!(decision.statement.and_then(|s| s.sid), Some("TlsOnly"));
//!
//! // A user with the built-in read-only policy may read any bucket, write none.
//! let reader = User::new(&account, "ci", "AIDACI", "ci-id", false).with_policy(IdentityPolicy {
//!     name: "read-only".into(),
//!     attached: Attachment::User,
//!     policy: Arc::new(s3gate_policy::builtin("read-only").expect("built in")),
//! });
//! let reader = Principal::User(Arc::new(reader));
//! let mut context = Context::new(now);
//! context.set(KeyName::S3Prefix, "logs/");
//! let other = ResourceArn::bucket("logs");
//! let list = Request { principal: &reader, action: Action::ListBucket, resource: &other, context: &context };
//! assert!(evaluate(&list, &Target::default()).is_allowed());
//! let put = Request { action: Action::PutObject, ..list };
//! assert!(!evaluate(&put, &Target::default()).is_allowed());
//! ```
//!
//! Principal types: [`Policy`] (parse with [`Policy::parse_bucket_policy`] /
//! [`Policy::parse_identity_policy`], inspect [`Policy::document`], [`Policy::is_public`]);
//! [`Principal`] and [`User`] (with its [`IdentityPolicy`]s); [`Context`] keyed by
//! [`Key`]/[`KeyName`]; [`Action`] and its table; [`evaluate`] with [`Request`] and
//! [`Target`] → [`Decision`]; [`Acl`], [`CannedAcl`], [`AclRequest`], [`ObjectOwnership`];
//! [`PublicAccessBlock`]; the [`builtin`] policies.
//!
//! Deliberately not done here: storing policies and ACLs, resolving user or group names
//! (the caller checks [`Policy::principal_users`] exist), mapping S3 operations to actions,
//! ACL XML (s3-protocol), and choosing the S3 error code (each [`PolicyError`] variant names
//! it; `crates/server/src/errors.rs` maps them).
//!
//! s3gate's account model: the gateway is one AWS account. Users are its IAM users; the
//! root user is the account root. See docs/access-control.md for the rules and the choices
//! where AWS's multi-account model has no counterpart.

mod acl;
mod action;
mod builtin;
mod compile;
mod condition;
mod context;
mod date;
mod document;
mod error;
mod eval;
mod ip;
mod json;
mod keys;
mod pattern;
mod principal;
mod public;
mod tables;

pub use acl::{
    Acl, AclOf, AclRequest, CannedAcl, Grant, Grantee, Group, MAX_GRANTS, ObjectOwnership,
    Permission, acl_permission,
};
pub use action::{ACTION_COUNT, Access, Action, ActionSet, ResourceKinds};
pub use builtin::{BUILTIN, builtin};
pub use compile::{MAX_BUCKET_POLICY_BYTES, MAX_IDENTITY_POLICY_CHARS, Policy, PolicyKind};
pub use context::{Context, Value};
pub use document::{
    ConditionClause, Effect, Items, PolicyDocument, PrincipalValue, Principals, Statement, Version,
};
pub use error::PolicyError;
pub use eval::{
    Decision, MatchedStatement, Outcome, Reason, Request, ResourceArn, Target, evaluate,
};
pub use keys::{Key, KeyName, TagFamily, ValueType};
pub use principal::{AccountId, Attachment, IdentityPolicy, Principal, User};
pub use public::PublicAccessBlock;
