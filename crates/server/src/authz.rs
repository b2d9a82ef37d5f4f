//! The authorization layer between authentication and the engine: every request becomes
//! (principal, action, resource, context) and the pure evaluator of `s3gate-policy` decides it
//! against the bucket's owner and its bucket policy, as AWS does (docs/access-control.md).
//!
//! What is evaluated here: the operation's IAM action on its bucket or object (with the
//! `s3:`/`aws:` condition keys the request carries), a copy's read of its source, and each key
//! of a DeleteObjects. A user acts on a bucket as its owner, as root, through its identity
//! policies (its own and its groups', carried by the [`Identity`] the signer cache built:
//! module `auth`), through the bucket policy, or through a grant of the bucket's or the
//! object's ACL when the bucket's Object Ownership leaves ACLs on (module `acl`). Actions on no
//! existing bucket (ListBuckets, CreateBucket) only root and identity policies allow. The
//! bucket's documents are read in one `bucket_configs`; an object's ACL is read only when ACLs
//! are on and nothing else allowed the request.

use s3gate_sigv4::SignatureVersion;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::HeaderMap;
use s3gate_metadata::MetadataStore;
use s3gate_policy::{
    AccountId, Acl, AclOf, Action, Attachment, Context, IdentityPolicy, Key, KeyName,
    ObjectOwnership, Policy, PolicyError, Principal, PublicAccessBlock, Request, ResourceArn,
    TagFamily, Target, acl_permission, evaluate,
};
use s3gate_protocol::{ErrorCode, Operation};

use crate::errors::ApiError;
use crate::headers::header;

/// The configuration kind under which a bucket's policy document is stored.
pub(crate) const POLICY_KIND: &str = "policy";
/// The configuration kind of a bucket's Block Public Access settings (rendered as
/// GetPublicAccessBlock answers).
pub(crate) const PUBLIC_ACCESS_BLOCK_KIND: &str = "publicAccessBlock";

/// A bucket's Block Public Access settings: all off when it has none (see
/// docs/access-control.md for why new buckets do not start blocked, as AWS's do).
pub(crate) async fn public_access_block<M: MetadataStore>(
    meta: &M,
    bucket: &str,
    gateway: PublicAccessBlock,
) -> Result<s3gate_policy::PublicAccessBlock, ApiError> {
    let text = meta.bucket_config(bucket, PUBLIC_ACCESS_BLOCK_KIND).await.map_err(meta_error)?;
    Ok(parse_public_access_block(text.as_deref())?.merge(gateway))
}

/// The stored Block Public Access settings (all off when none).
pub(crate) fn parse_public_access_block(
    text: Option<&str>,
) -> Result<s3gate_policy::PublicAccessBlock, ApiError> {
    let Some(text) = text else {
        return Ok(s3gate_policy::PublicAccessBlock::default());
    };
    let c =
        s3gate_protocol::PublicAccessBlockConfiguration::parse(text.as_bytes()).map_err(|e| {
            ApiError::internal_error(format!(
                "the stored public access block does not parse: {e:?}"
            ))
        })?;
    Ok(s3gate_policy::PublicAccessBlock {
        block_public_acls: c.block_public_acls,
        ignore_public_acls: c.ignore_public_acls,
        block_public_policy: c.block_public_policy,
        restrict_public_buckets: c.restrict_public_buckets,
    })
}

/// Compiled policies kept at most; a document is recompiled when its text changes.
const CACHE_CAPACITY: usize = 1024;

/// Where a request came from, attached to each request by the listener.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    /// The peer's address.
    pub ip: IpAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The negotiated TLS version as `s3:TlsVersion` reports it (`1.2`, `1.3`); `None` on a
    /// plain connection.
    pub tls_version: Option<&'static str>,
}

impl Default for ClientInfo {
    fn default() -> Self {
        ClientInfo { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), tls: false, tls_version: None }
    }
}

/// How and when a request was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signing {
    /// Header, query or form, and the signature version.
    pub(crate) by: SignedBy,
    /// The signing time the signature covers (`x-amz-date`, `Date`): what `s3:signatureAge`
    /// measures from. `None` where the signature names none (a SigV2 presigned URL, a form).
    pub(crate) at: Option<SystemTime>,
}

/// How a request was signed: the values of `s3:authType` and `s3:signatureversion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignedBy {
    /// An `Authorization` header.
    Header(SignatureVersion),
    /// A presigned URL's query.
    Query(SignatureVersion),
    /// A browser form's signed policy.
    Form(SignatureVersion),
}

impl SignedBy {
    /// `s3:authType`: `REST-HEADER`, `REST-QUERY-STRING` or `POST`, as AWS names them.
    pub(crate) fn auth_type(self) -> &'static str {
        match self {
            SignedBy::Header(_) => "REST-HEADER",
            SignedBy::Query(_) => "REST-QUERY-STRING",
            SignedBy::Form(_) => "POST",
        }
    }

    /// `s3:signatureversion`: `AWS4-HMAC-SHA256` for SigV4, `AWS` for SigV2, as AWS reports
    /// them (a policy requiring SigV4 tests this).
    pub(crate) fn signature_version(self) -> &'static str {
        let (SignedBy::Header(v) | SignedBy::Query(v) | SignedBy::Form(v)) = self;
        match v {
            SignatureVersion::V4 => "AWS4-HMAC-SHA256",
            SignatureVersion::V2 => "AWS",
        }
    }
}

/// Who signed a request, as the evaluator sees them.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// `None` for an anonymous request.
    pub(crate) user: Option<Arc<s3gate_policy::User>>,
}

impl Identity {
    /// An unsigned request's.
    pub(crate) fn anonymous() -> Identity {
        Identity { user: None }
    }

    /// Whether any identity policy applies (root's never do).
    pub(crate) fn has_policies(&self) -> bool {
        self.user.as_ref().is_some_and(|u| !u.policies().is_empty())
    }

    /// Whether some identity policy has an Allow statement naming `s3:DeleteObject` or
    /// `s3:DeleteObjectVersion` (on any resource, under any condition): `false` when none
    /// could ever allow a DeleteObjects key.
    pub(crate) fn may_delete(&self) -> bool {
        let actions = [Action::DeleteObject, Action::DeleteObjectVersion];
        self.user.as_ref().is_some_and(|u| {
            u.policies().iter().any(|p| actions.iter().any(|a| p.policy.may_allow(*a)))
        })
    }

    pub(crate) fn principal(&self) -> Principal {
        self.user.clone().map_or(Principal::Anonymous, Principal::User)
    }
}

/// One decision's inputs that every check of a request shares.
#[derive(Clone)]
pub(crate) struct Checker {
    principal: Principal,
    context: Context,
}

/// What a request may do on one bucket, for checks made later in the request (each key of a
/// DeleteObjects).
pub(crate) struct BucketGrant {
    checker: Checker,
    bucket: String,
    policy: Option<Arc<Policy>>,
    facts: Arc<BucketFacts>,
}

/// A bucket's owner and the ACL settings its decisions need, read once per request (by the
/// authorization, then reused by the write that gives a new version its owner and ACL).
#[derive(Debug)]
pub(crate) struct BucketFacts {
    pub(crate) owner: String,
    pub(crate) ownership: ObjectOwnership,
    pub(crate) public_access_block: PublicAccessBlock,
    /// The bucket's ACL, parsed only when ownership leaves ACLs on.
    acl: Option<Arc<Acl>>,
}

impl BucketFacts {
    /// The facts of a bucket owned by `owner` with these stored configurations, under the
    /// gateway-wide Block Public Access `gateway` (merged: the most restrictive wins).
    pub(crate) fn from_configs(
        owner: String,
        configs: &[(String, String)],
        gateway: PublicAccessBlock,
    ) -> Result<BucketFacts, ApiError> {
        let config = |kind: &str| configs.iter().find(|(k, _)| k == kind).map(|(_, v)| v.as_str());
        let ownership = crate::acl::ownership(config(crate::acl::OWNERSHIP_KIND))?;
        let acl = if ownership.acls_enabled() {
            Some(Arc::new(crate::acl::stored(config(crate::acl::ACL_KIND), &owner)?))
        } else {
            None
        };
        let public_access_block =
            parse_public_access_block(config(PUBLIC_ACCESS_BLOCK_KIND))?.merge(gateway);
        Ok(BucketFacts { owner, ownership, public_access_block, acl })
    }

    /// The bucket's ACL (the owner's full control while ACLs are off).
    pub(crate) fn acl(&self) -> Acl {
        self.acl.as_deref().cloned().unwrap_or_else(|| Acl::private(&self.owner))
    }

    fn target<'a>(&'a self, policy: Option<&'a Policy>, object_acl: Option<&'a Acl>) -> Target<'a> {
        Target {
            bucket_owner: Some(&self.owner),
            bucket_policy: policy,
            bucket_acl: self.acl.as_deref(),
            object_acl,
            ownership: self.ownership,
            public_access_block: self.public_access_block,
            upload_initiator: None,
        }
    }
}

impl BucketGrant {
    /// The bucket's owner.
    pub(crate) fn owner(&self) -> &str {
        &self.facts.owner
    }

    /// The bucket's owner and ACL settings, as this request read them.
    pub(crate) fn facts(&self) -> &Arc<BucketFacts> {
        &self.facts
    }

    /// Whether the bucket has a policy.
    pub(crate) fn has_policy(&self) -> bool {
        self.policy.is_some()
    }

    /// Whether the request may list the bucket under `prefix` (`s3:ListBucket` with
    /// `s3:prefix`): what decides between `404 NoSuchKey` and `403 AccessDenied` for a key that
    /// does not exist, as on AWS.
    pub(crate) fn allows_list(&self, prefix: &str) -> bool {
        let mut checker = self.checker.clone();
        checker.context.set(KeyName::S3Prefix, prefix);
        let resource = ResourceArn::bucket(&self.bucket);
        checker.allows(Action::ListBucket, &resource, &self.target(None))
    }

    /// Whether the request may apply `action` to `key` (an object ACL not consulted: the
    /// per-key actions asked here, DeleteObject and BypassGovernanceRetention, are decided by
    /// the bucket's ACL and policies).
    pub(crate) fn allows(&self, action: Action, key: &str) -> bool {
        let resource = ResourceArn::object(&self.bucket, key);
        self.checker.allows(action, &resource, &self.target(None))
    }

    fn target<'a>(&'a self, object_acl: Option<&'a Acl>) -> Target<'a> {
        self.facts.target(self.policy.as_deref(), object_acl)
    }
}

/// The `s3:object-lock-*` keys of a write or of a PutObjectRetention/PutObjectLegalHold:
/// the mode, the retain-until date, the whole days from now until it (rounded up: a date 10.5
/// days away is 11 remaining days), and the legal hold.
fn set_lock_keys(
    context: &mut Context,
    retention: Option<(s3gate_protocol::RetentionMode, SystemTime)>,
    legal_hold: Option<bool>,
    now: SystemTime,
) {
    if let Some((mode, until)) = retention {
        context.set(KeyName::S3ObjectLockMode, mode.as_str());
        context.set(KeyName::S3ObjectLockRetainUntilDate, s3gate_protocol::format_iso8601(until));
        let secs = until.duration_since(now).unwrap_or_default().as_secs();
        context.set(KeyName::S3ObjectLockRemainingRetentionDays, secs.div_ceil(86_400).to_string());
    }
    if let Some(on) = legal_hold {
        context.set(KeyName::S3ObjectLockLegalHold, if on { "ON" } else { "OFF" });
    }
}

/// Counts a decision (`s3gate_authz_decisions_total`) and logs a denial with what decided it
/// (at debug level: a denial is the client's business, not the operator's, until asked).
fn record(decision: &s3gate_policy::Decision<'_>, action: Action, resource: &ResourceArn) {
    use s3gate_policy::Outcome;
    let outcome = match decision.outcome {
        Outcome::Allow => "allow",
        Outcome::ExplicitDeny => "explicit_deny",
        Outcome::ImplicitDeny => "implicit_deny",
    };
    let reason = decision.reason.as_str();
    s3gate_metrics::global().authz_decisions.with(&[outcome, reason]).inc();
    if decision.outcome != Outcome::Allow {
        let statement = decision.statement;
        tracing::debug!(
            action = action.name(),
            resource = resource.as_str(),
            outcome,
            reason,
            policy = statement.map(|s| s.policy.unwrap_or("bucket policy")),
            sid = statement.and_then(|s| s.sid),
            statement = statement.map(|s| s.index),
            "request denied"
        );
    }
}

impl Checker {
    /// Adds the lock keys of a PutObjectRetention or PutObjectLegalHold body (read before the
    /// request is decided, so that a policy can condition on what it sets).
    pub(crate) fn set_lock(
        &mut self,
        retention: Option<(s3gate_protocol::RetentionMode, SystemTime)>,
        legal_hold: Option<bool>,
    ) {
        set_lock_keys(&mut self.context, retention, legal_hold, SystemTime::now());
    }

    fn allows(&self, action: Action, resource: &ResourceArn, target: &Target<'_>) -> bool {
        let request =
            Request { principal: &self.principal, action, resource, context: &self.context };
        let decision = evaluate(&request, target);
        record(&decision, action, resource);
        decision.is_allowed()
    }
}

/// The condition keys whose value is a request header's.
const HEADER_KEYS: &[(&str, KeyName)] = &[
    ("user-agent", KeyName::AwsUserAgent),
    ("referer", KeyName::AwsReferer),
    ("x-amz-acl", KeyName::S3XAmzAcl),
    ("x-amz-grant-full-control", KeyName::S3XAmzGrantFullControl),
    ("x-amz-grant-read", KeyName::S3XAmzGrantRead),
    ("x-amz-grant-read-acp", KeyName::S3XAmzGrantReadAcp),
    ("x-amz-grant-write", KeyName::S3XAmzGrantWrite),
    ("x-amz-grant-write-acp", KeyName::S3XAmzGrantWriteAcp),
    ("x-amz-object-ownership", KeyName::S3XAmzObjectOwnership),
    ("x-amz-copy-source", KeyName::S3XAmzCopySource),
    ("x-amz-metadata-directive", KeyName::S3XAmzMetadataDirective),
    ("x-amz-server-side-encryption", KeyName::S3XAmzServerSideEncryption),
    ("x-amz-server-side-encryption-aws-kms-key-id", KeyName::S3XAmzServerSideEncryptionAwsKmsKeyId),
    (
        "x-amz-server-side-encryption-customer-algorithm",
        KeyName::S3XAmzServerSideEncryptionCustomerAlgorithm,
    ),
    ("x-amz-website-redirect-location", KeyName::S3XAmzWebsiteRedirectLocation),
    ("x-amz-storage-class", KeyName::S3XAmzStorageClass),
    ("x-amz-content-sha256", KeyName::S3XAmzContentSha256),
    ("if-match", KeyName::S3IfMatch),
    ("if-none-match", KeyName::S3IfNoneMatch),
];

/// Compiles and caches bucket and identity policies, and answers the gateway's authorization
/// questions.
pub(crate) struct Authz {
    account: AccountId,
    cache: Mutex<HashMap<String, (String, Arc<Policy>)>>,
    /// Compiled identity policies by document text (shared by every user they apply to).
    identity_cache: Mutex<HashMap<String, Arc<Policy>>>,
    /// The gateway-wide Block Public Access, merged with every bucket's.
    block: PublicAccessBlock,
}

impl Authz {
    pub(crate) fn new(account: AccountId, block: PublicAccessBlock) -> Self {
        Authz {
            account,
            cache: Mutex::new(HashMap::new()),
            identity_cache: Mutex::new(HashMap::new()),
            block,
        }
    }

    /// The evaluator's view of a gateway user: its groups and its identity policies (its own,
    /// then its groups'), compiled once per document text; a name without a stored document
    /// is a built-in policy. The canonical id is the user name, as the `Owner` of listings
    /// reports it.
    pub(crate) fn identity(
        &self,
        access: Option<&s3gate_metadata::KeyAccess>,
    ) -> Result<Identity, ApiError> {
        let Some(access) = access else { return Ok(Identity { user: None }) };
        let u = &access.user;
        let mut user =
            s3gate_policy::User::new(&self.account, &u.name, &u.name, &u.name, u.is_root)
                .with_groups(access.groups.iter().map(String::as_str));
        for applied in &access.policies {
            let text = match &applied.document {
                Some(text) => text.as_str(),
                None => builtin_text(&applied.name).ok_or_else(|| {
                    ApiError::internal_error(format!(
                        "policy {} attached to user {} is neither stored nor built in",
                        applied.name, u.name
                    ))
                })?,
            };
            let attached = match &applied.group {
                None => Attachment::User,
                Some(g) => Attachment::Group(g.as_str().into()),
            };
            let policy = self.compiled_identity(&applied.name, text)?;
            user = user.with_policy(IdentityPolicy {
                name: applied.name.as_str().into(),
                attached,
                policy,
            });
        }
        Ok(Identity { user: Some(Arc::new(user)) })
    }

    /// The compiled identity policy of `text` (named `name`, for the error).
    fn compiled_identity(&self, name: &str, text: &str) -> Result<Arc<Policy>, ApiError> {
        if let Ok(cache) = self.identity_cache.lock()
            && let Some(policy) = cache.get(text)
        {
            return Ok(Arc::clone(policy));
        }
        // A stored policy was valid when it was stored; one that no longer compiles refuses
        // every request of the users it applies to, as a bucket policy would.
        let policy = Arc::new(Policy::parse_identity_policy(text).map_err(|e| {
            ApiError::internal_error(format!("stored identity policy {name} does not compile: {e}"))
        })?);
        if let Ok(mut cache) = self.identity_cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(text.to_owned(), Arc::clone(&policy));
        }
        Ok(policy)
    }

    /// Decides an action on no existing bucket (ListAllMyBuckets on the account, CreateBucket
    /// on the new name): only identity policies (and root) can allow it, as on AWS.
    pub(crate) fn decide_account(
        checker: &Checker,
        action: Action,
        bucket: Option<&str>,
    ) -> Result<(), ApiError> {
        let resource = bucket.map_or_else(ResourceArn::account, ResourceArn::bucket);
        if checker.allows(action, &resource, &Target::default()) {
            Ok(())
        } else {
            Err(ApiError::code(ErrorCode::AccessDenied))
        }
    }

    /// Whether the caller's identity policies (or root) let it list `bucket` (`s3:ListBucket`
    /// with no prefix), which makes the bucket appear in its ListBuckets.
    pub(crate) fn identity_lists(checker: &Checker, bucket: &str) -> bool {
        checker.allows(Action::ListBucket, &ResourceArn::bucket(bucket), &Target::default())
    }

    /// The gateway-wide Block Public Access.
    pub(crate) fn gateway_block(&self) -> PublicAccessBlock {
        self.block
    }

    /// Parses a policy document for `bucket` (PutBucketPolicy's validation).
    pub(crate) fn parse(&self, bucket: &str, text: &str) -> Result<Policy, PolicyError> {
        Policy::parse_bucket_policy(text, bucket, &self.account)
    }

    /// The compiled policy of `bucket` whose stored text is `text`.
    fn compiled(&self, bucket: &str, text: &str) -> Result<Arc<Policy>, ApiError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((cached, policy)) = cache.get(bucket)
            && cached == text
        {
            return Ok(Arc::clone(policy));
        }
        // A stored policy was valid when it was put; one that no longer compiles (a newer
        // gateway's document read by an older one) refuses every request it would decide.
        let policy = Arc::new(self.parse(bucket, text).map_err(|e| {
            ApiError::internal_error(format!(
                "stored policy of bucket {bucket} does not compile: {e}"
            ))
        })?);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(bucket.to_owned(), (text.to_owned(), Arc::clone(&policy)));
        }
        Ok(policy)
    }

    /// The condition keys of a request.
    pub(crate) fn checker(
        identity: &Identity,
        op: &Operation,
        headers: &HeaderMap,
        client: ClientInfo,
        signed: Option<Signing>,
    ) -> Checker {
        let now = SystemTime::now();
        let mut context = Context::new(now);
        context.set_source_ip(client.ip).set_secure_transport(client.tls);
        if let Some(version) = client.tls_version {
            context.set(KeyName::S3TlsVersion, version);
        }
        for &(name, key) in HEADER_KEYS {
            if let Some(v) = header(headers, name) {
                context.set(key, v);
            }
        }
        // The tags a write gives its object (`x-amz-tagging`).
        if let Ok(tags) = crate::headers::tags(headers)
            && !tags.is_empty()
        {
            context.set_all(KeyName::S3RequestObjectTagKeys, tags.iter().map(|(k, _)| k.as_str()));
            for (k, v) in tags {
                context.set(Key::Tag(TagFamily::S3RequestObjectTag, k), v);
            }
        }
        if let Some(signed) = signed {
            context.set(KeyName::S3AuthType, signed.by.auth_type());
            context.set(KeyName::S3Signatureversion, signed.by.signature_version());
            // Milliseconds since the signing time; a clock skew that puts it ahead counts as 0.
            if let Some(at) = signed.at {
                let age = now.duration_since(at).unwrap_or_default().as_millis();
                context.set(KeyName::S3SignatureAge, age.to_string());
            }
        }
        // The lock a write asks for: its headers (a form's fields are its headers). Headers
        // that do not parse give no keys: the write is refused with InvalidArgument anyway.
        if let Ok(lock) = s3gate_protocol::parse_lock_headers(|n| header(headers, n)) {
            set_lock_keys(&mut context, lock.retention, lock.legal_hold, now);
        }
        // Whether the request makes the object (a multipart upload makes it at Complete).
        let creates = match op {
            Operation::PutObject { .. }
            | Operation::CopyObject { .. }
            | Operation::CompleteMultipartUpload { .. } => Some(true),
            Operation::CreateMultipartUpload { .. }
            | Operation::UploadPart { .. }
            | Operation::UploadPartCopy { .. } => Some(false),
            _ => None,
        };
        if let Some(creates) = creates {
            context.set(KeyName::S3ObjectCreationOperation, creates.to_string());
        }
        match op {
            Operation::ListObjects { params, .. } => {
                list_keys(
                    &mut context,
                    &params.prefix,
                    params.delimiter.as_deref(),
                    params.max_keys,
                );
            }
            Operation::ListObjectsV2 { params, .. } => {
                list_keys(
                    &mut context,
                    &params.prefix,
                    params.delimiter.as_deref(),
                    params.max_keys,
                );
            }
            Operation::ListObjectVersions { params, .. } => {
                let delimiter = params.delimiter.as_deref();
                list_keys(&mut context, &params.prefix, delimiter, params.max_keys);
            }
            Operation::GetObject { params, .. } | Operation::HeadObject { params, .. } => {
                if let Some(v) = &params.version_id {
                    context.set(KeyName::S3Versionid, v.as_str());
                }
            }
            Operation::DeleteObject { version_id: Some(v), .. }
            | Operation::GetObjectTagging { version_id: Some(v), .. }
            | Operation::PutObjectTagging { version_id: Some(v), .. }
            | Operation::DeleteObjectTagging { version_id: Some(v), .. } => {
                context.set(KeyName::S3Versionid, v.as_str());
            }
            _ => {}
        }
        Checker { principal: identity.principal(), context }
    }

    /// Decides `action` on `bucket` (and `key`, at `version` when named) for a request:
    /// `Ok(None)` when the bucket does not exist (the engine answers `NoSuchBucket`),
    /// `Ok(Some(grant))` when allowed, `AccessDenied` otherwise. `action: None` decides nothing
    /// yet and only returns the grant for later checks (DeleteObjects, decided key by key).
    pub(crate) async fn decide<M: MetadataStore>(
        &self,
        meta: &M,
        checker: Checker,
        action: Option<Action>,
        bucket: &str,
        key: Option<(&str, Option<&str>)>,
        upload: Option<&str>,
    ) -> Result<Option<BucketGrant>, ApiError> {
        let Some(b) = meta.bucket(bucket).await.map_err(meta_error)? else {
            return Ok(None);
        };
        let configs = meta.bucket_configs(bucket).await.map_err(meta_error)?;
        let text = configs.iter().find(|(k, _)| k == POLICY_KIND).map(|(_, v)| v.as_str());
        let facts = Arc::new(BucketFacts::from_configs(b.owner, &configs, self.block)?);
        let mut checker = checker;
        // `s3:ExistingObjectTag/<k>`: the object's tags, read only when the policy asks.
        if let (Some((key, _)), Some(text)) = (key, text)
            && text.to_ascii_lowercase().contains("existingobjecttag")
            && let Some(object) = meta.object(bucket, key).await.map_err(meta_error)?
        {
            for (k, v) in object.tags {
                checker.context.set(Key::Tag(TagFamily::S3ExistingObjectTag, k), v);
            }
        }
        let policy = text.map(|t| self.compiled(bucket, t)).transpose()?;
        // RestrictPublicBuckets: while the policy is public, what it grants reaches only the
        // account's own users (every user of the gateway), never an anonymous requester.
        if matches!(checker.principal, Principal::Anonymous)
            && policy.as_ref().is_some_and(|p| p.is_public())
            && facts.public_access_block.restrict_public_buckets
        {
            return Err(ApiError::code(ErrorCode::AccessDenied));
        }
        let resource = match key {
            Some((k, _)) => ResourceArn::object(bucket, k),
            None => ResourceArn::bucket(bucket),
        };
        let grant = BucketGrant { checker, bucket: bucket.to_owned(), policy, facts };
        let Some(action) = action else { return Ok(Some(grant)) };
        if grant.checker.allows(action, &resource, &grant.target(None)) {
            return Ok(Some(grant));
        }
        // Only an object's ACL is left to allow it: read the version's, when ACLs are on.
        if let (Some((key, version)), Some((AclOf::Object, _))) = (key, acl_permission(action))
            && grant.facts.ownership.acls_enabled()
            && let Some(v) = meta.object_version(bucket, key, version).await.map_err(meta_error)?
            && !v.is_delete_marker
        {
            let acl = crate::acl::stored(v.acl.as_deref(), &v.owner)?;
            if grant.checker.allows(action, &resource, &grant.target(Some(&acl))) {
                return Ok(Some(grant));
            }
        }
        // Whoever started a multipart upload may list its parts and abort it (AWS's initiator
        // rule): read the upload only when nothing else allowed the request.
        if let Some(id) = upload
            && matches!(action, Action::AbortMultipartUpload | Action::ListMultipartUploadParts)
            && let Some(u) = meta.upload(bucket, id).await.map_err(meta_error)?
        {
            let mut target = grant.target(None);
            target.upload_initiator = Some(&u.owner);
            if grant.checker.allows(action, &resource, &target) {
                return Ok(Some(grant));
            }
        }
        Err(ApiError::code(ErrorCode::AccessDenied))
    }
}

fn list_keys(context: &mut Context, prefix: &str, delimiter: Option<&str>, max_keys: u32) {
    if !prefix.is_empty() {
        context.set(KeyName::S3Prefix, prefix);
    }
    if let Some(d) = delimiter {
        context.set(KeyName::S3Delimiter, d);
    }
    context.set(KeyName::S3MaxKeys, max_keys.to_string());
}

pub(crate) fn meta_error(e: s3gate_metadata::MetaError) -> ApiError {
    ApiError::from(s3gate_engine::EngineError::from(e))
}

/// The document of the built-in policy `name`.
pub(crate) fn builtin_text(name: &str) -> Option<&'static str> {
    s3gate_policy::BUILTIN.iter().find(|(n, _, _)| *n == name).map(|(_, _, text)| *text)
}

/// The evaluator's action for an IAM permission name of the routing table.
pub(crate) fn action(permission: &str) -> Result<Action, ApiError> {
    Action::parse(&format!("s3:{permission}"))
        .ok_or_else(|| ApiError::internal_error(format!("unknown IAM action s3:{permission}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(context: &Context, key: KeyName) -> Option<String> {
        context
            .get(&Key::from(key))
            .map(|v| v.iter().map(s3gate_policy::Value::as_str).collect::<Vec<_>>().join(","))
    }

    /// A write's lock headers become the `s3:object-lock-*` keys; remaining days round up.
    #[test]
    fn lock_keys_of_a_write() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_hours(500_000);
        let cases =
            [(0, "0"), (1, "1"), (86_400, "1"), (86_401, "2"), (10 * 86_400 + 43_200, "11")];
        for (ahead, days) in cases {
            let mut c = Context::new(now);
            let until = now + std::time::Duration::from_secs(ahead);
            set_lock_keys(
                &mut c,
                Some((s3gate_protocol::RetentionMode::Governance, until)),
                None,
                now,
            );
            assert_eq!(
                value(&c, KeyName::S3ObjectLockRemainingRetentionDays).as_deref(),
                Some(days)
            );
            assert_eq!(value(&c, KeyName::S3ObjectLockMode).as_deref(), Some("GOVERNANCE"));
            assert_eq!(value(&c, KeyName::S3ObjectLockLegalHold), None);
        }
        // A date already past leaves no days.
        let mut c = Context::new(now);
        let past = now - std::time::Duration::from_secs(5);
        set_lock_keys(
            &mut c,
            Some((s3gate_protocol::RetentionMode::Compliance, past)),
            Some(true),
            now,
        );
        assert_eq!(value(&c, KeyName::S3ObjectLockRemainingRetentionDays).as_deref(), Some("0"));
        assert_eq!(value(&c, KeyName::S3ObjectLockLegalHold).as_deref(), Some("ON"));
        assert_eq!(
            value(&c, KeyName::S3ObjectLockRetainUntilDate).as_deref(),
            Some("2027-01-15T07:59:55.000Z")
        );
    }

    /// Which operations create an object, and the keys of how a request was signed.
    #[test]
    fn creation_signature_age_and_tls_keys() {
        let bucket = s3gate_protocol::BucketName::parse("bbb").unwrap();
        let key = s3gate_protocol::ObjectKey::parse("k".to_owned()).unwrap();
        let identity = Identity { user: None };
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-object-lock-legal-hold", http::HeaderValue::from_static("ON"));
        headers.insert(
            "x-amz-server-side-encryption-customer-algorithm",
            http::HeaderValue::from_static("AES256"),
        );
        let client = ClientInfo { tls: true, tls_version: Some("1.3"), ..ClientInfo::default() };
        let signed = Signing {
            by: SignedBy::Query(SignatureVersion::V4),
            at: Some(SystemTime::now() - std::time::Duration::from_secs(90)),
        };
        let put = Operation::PutObject { bucket: bucket.clone(), key: key.clone() };
        let c = Authz::checker(&identity, &put, &headers, client, Some(signed)).context;
        assert_eq!(value(&c, KeyName::S3ObjectCreationOperation).as_deref(), Some("true"));
        assert_eq!(value(&c, KeyName::S3TlsVersion).as_deref(), Some("1.3"));
        assert_eq!(value(&c, KeyName::S3ObjectLockLegalHold).as_deref(), Some("ON"));
        assert_eq!(
            value(&c, KeyName::S3XAmzServerSideEncryptionCustomerAlgorithm).as_deref(),
            Some("AES256")
        );
        let age: u64 = value(&c, KeyName::S3SignatureAge).unwrap().parse().unwrap();
        assert!((90_000..120_000).contains(&age), "{age} ms");
        let cmu = Operation::CreateMultipartUpload { bucket: bucket.clone(), key };
        let c =
            Authz::checker(&identity, &cmu, &HeaderMap::new(), ClientInfo::default(), None).context;
        assert_eq!(value(&c, KeyName::S3ObjectCreationOperation).as_deref(), Some("false"));
        assert_eq!(value(&c, KeyName::S3TlsVersion), None);
        assert_eq!(value(&c, KeyName::S3SignatureAge), None);
        let head = Operation::HeadBucket { bucket };
        let c = Authz::checker(&identity, &head, &HeaderMap::new(), ClientInfo::default(), None)
            .context;
        assert_eq!(value(&c, KeyName::S3ObjectCreationOperation), None);
    }

    /// The values AWS documents for `s3:authType` and `s3:signatureversion`.
    #[test]
    fn signing_condition_values() {
        use SignatureVersion::{V2, V4};
        let cases = [
            (SignedBy::Header(V4), "REST-HEADER", "AWS4-HMAC-SHA256"),
            (SignedBy::Query(V4), "REST-QUERY-STRING", "AWS4-HMAC-SHA256"),
            (SignedBy::Form(V4), "POST", "AWS4-HMAC-SHA256"),
            (SignedBy::Header(V2), "REST-HEADER", "AWS"),
            (SignedBy::Query(V2), "REST-QUERY-STRING", "AWS"),
            (SignedBy::Form(V2), "POST", "AWS"),
        ];
        for (signed, auth_type, version) in cases {
            assert_eq!((signed.auth_type(), signed.signature_version()), (auth_type, version));
        }
    }
}
