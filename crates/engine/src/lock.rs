//! Object lock (WORM): the bucket's lock configuration, the lock a new version gets, and the
//! retention and legal hold operations on a version.
//!
//! What is decided here is what needs the bucket: whether it has object lock at all, its
//! default retention, and whether a requested retain-until date lies in the future by the
//! gateway's clock ([`crate::Clock`]). What protects a version (no delete by id, no shortening)
//! is decided by the metadata store inside the transaction that would change it
//! ([`ObjectLock::blocks_delete`], [`ObjectLock::changed`]).

use std::time::{Duration, SystemTime};

use s3gate_metadata::{LockChange, LockMode, MetaError, MetadataStore, ObjectLock, Retention};
use s3gate_protocol::{
    BucketName, ErrorCode, LockHeaders, ObjectKey, ObjectLockConfiguration, RetentionMode, S3Error,
    parse_object_lock_configuration,
};
use s3gate_storage_backend::BlobStore;

use crate::api::Caller;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::version::VersionRef;

/// The bucket configuration kind holding a bucket's `ObjectLockConfiguration` (its presence
/// is what makes the bucket a lock bucket; it is never removed).
pub const OBJECT_LOCK_KIND: &str = "object-lock";

/// AWS's answer for lock parameters on a bucket without object lock.
fn no_lock() -> EngineError {
    EngineError::InvalidRequest("Bucket is missing Object Lock Configuration".into())
}

fn invalid_bucket_state(msg: &str) -> EngineError {
    EngineError::Protocol(S3Error::with_message(ErrorCode::InvalidBucketState, msg))
}

/// The metadata mode of a protocol mode.
pub fn lock_mode(mode: RetentionMode) -> LockMode {
    match mode {
        RetentionMode::Governance => LockMode::Governance,
        RetentionMode::Compliance => LockMode::Compliance,
    }
}

/// AWS's refusal to suspend versioning on a lock bucket.
fn lock_present() -> EngineError {
    invalid_bucket_state(
        "An Object Lock configuration is present on this bucket, so the versioning state \
         cannot be changed.",
    )
}

/// The protocol mode of a metadata mode.
pub fn retention_mode(mode: LockMode) -> RetentionMode {
    match mode {
        LockMode::Governance => RetentionMode::Governance,
        LockMode::Compliance => RetentionMode::Compliance,
    }
}

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// The bucket's lock configuration, `None` for a bucket without object lock.
    pub(crate) async fn lock_config(
        &self,
        bucket: &BucketName,
    ) -> Result<Option<ObjectLockConfiguration>, EngineError> {
        let doc = self.metadata().bucket_config(bucket.as_str(), OBJECT_LOCK_KIND).await?;
        match doc {
            None => Ok(None),
            Some(d) => parse_object_lock_configuration(d.as_bytes()).map(Some).map_err(|e| {
                EngineError::internal(format!("stored object lock configuration: {e:?}"))
            }),
        }
    }

    /// GetObjectLockConfiguration: `None` when the bucket has no object lock.
    pub async fn object_lock_configuration(
        &self,
        caller: &Caller,
        bucket: &BucketName,
    ) -> Result<Option<ObjectLockConfiguration>, EngineError> {
        self.owned_bucket(caller, bucket).await?;
        self.lock_config(bucket).await
    }

    /// PutObjectLockConfiguration: enables object lock on a bucket whose versioning is
    /// enabled (AWS's 409 `InvalidBucketState` otherwise), or replaces its default retention.
    /// Object lock, once enabled, is never disabled.
    pub async fn put_object_lock_configuration(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        config: ObjectLockConfiguration,
    ) -> Result<(), EngineError> {
        const NOT_ENABLED: &str =
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration";
        let b = self.owned_bucket(caller, bucket).await?;
        let enabling = self.lock_config(bucket).await?.is_none();
        if enabling && b.versioning != s3gate_metadata::Versioning::Enabled {
            return Err(invalid_bucket_state(NOT_ENABLED));
        }
        self.room_for_metadata()?;
        let meta = self.metadata();
        meta.put_bucket_config(bucket.as_str(), OBJECT_LOCK_KIND, Some(config.to_xml())).await?;
        // A suspension that raced this (it checked for lock before this stored it, and stored
        // its state after this checked) must not leave a suspended lock bucket: each side
        // looks again after its write, so at least one sees the other, and backs out.
        if enabling
            && meta.bucket(bucket.as_str()).await?.map(|b| b.versioning)
                != Some(s3gate_metadata::Versioning::Enabled)
        {
            meta.put_bucket_config(bucket.as_str(), OBJECT_LOCK_KIND, None).await?;
            return Err(invalid_bucket_state(NOT_ENABLED));
        }
        Ok(())
    }

    /// Refuses suspending versioning on a bucket with object lock (AWS's 409).
    pub(crate) async fn check_versioning_change(
        &self,
        bucket: &BucketName,
        versioning: s3gate_metadata::Versioning,
    ) -> Result<(), EngineError> {
        if versioning != s3gate_metadata::Versioning::Enabled
            && self.lock_config(bucket).await?.is_some()
        {
            return Err(lock_present());
        }
        Ok(())
    }

    /// After a suspension was stored: if lock was enabled meanwhile (a race with
    /// PutObjectLockConfiguration, see there), versioning goes back to `Enabled` and the
    /// suspension is refused.
    pub(crate) async fn recheck_versioning_change(
        &self,
        bucket: &BucketName,
        versioning: s3gate_metadata::Versioning,
    ) -> Result<(), EngineError> {
        let refused = self.check_versioning_change(bucket, versioning).await;
        if refused.is_err() {
            let meta = self.metadata();
            meta.set_bucket_versioning(bucket.as_str(), s3gate_metadata::Versioning::Enabled)
                .await?;
        }
        refused
    }

    /// The lock a new version of `bucket` gets from the request's lock headers, or else from
    /// the bucket's default retention (counted from now).
    pub(crate) async fn resolve_lock(
        &self,
        bucket: &BucketName,
        headers: &LockHeaders,
    ) -> Result<ObjectLock, EngineError> {
        self.resolve_lock_with(bucket, headers, true).await
    }

    /// The lock an upload keeps for its object: the headers' only (the default retention is
    /// counted from completion, [`Self::completed_lock`]).
    pub(crate) async fn upload_lock(
        &self,
        bucket: &BucketName,
        headers: &LockHeaders,
    ) -> Result<ObjectLock, EngineError> {
        self.resolve_lock_with(bucket, headers, false).await
    }

    /// The lock of an upload's object at completion: the upload's, with the bucket's default
    /// retention from now when the upload named none.
    pub(crate) async fn completed_lock(
        &self,
        bucket: &BucketName,
        lock: ObjectLock,
    ) -> Result<ObjectLock, EngineError> {
        if lock.retention.is_some() {
            return Ok(lock);
        }
        let defaults = self.resolve_lock(bucket, &LockHeaders::default()).await?;
        Ok(ObjectLock { retention: defaults.retention, ..lock })
    }

    async fn resolve_lock_with(
        &self,
        bucket: &BucketName,
        headers: &LockHeaders,
        apply_default: bool,
    ) -> Result<ObjectLock, EngineError> {
        let Some(config) = self.lock_config(bucket).await? else {
            return if headers.is_empty() { Ok(ObjectLock::default()) } else { Err(no_lock()) };
        };
        let now = self.now();
        let retention = match (headers.retention, config.default_retention) {
            (Some((mode, until)), _) => {
                if until <= now {
                    return Err(past_date());
                }
                Some(Retention { mode: lock_mode(mode), until })
            }
            (None, Some((mode, period))) if apply_default => Some(Retention {
                mode: lock_mode(mode),
                until: now + Duration::from_secs(period.as_secs()),
            }),
            (None, _) => None,
        };
        Ok(ObjectLock { retention, legal_hold: headers.legal_hold.unwrap_or(false) })
    }

    /// The lock of the version a retention or legal hold request addresses, after the bucket
    /// and lock checks.
    async fn locked_version(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
    ) -> Result<(String, ObjectLock), EngineError> {
        let version = VersionRef::parse(version_id)?;
        self.owned_bucket(caller, bucket).await?;
        // A missing key or version is answered first, as before object lock.
        let v = self.readable_version(bucket, key, &version).await?;
        if self.lock_config(bucket).await?.is_none() {
            return Err(no_lock());
        }
        Ok((v.version_id, v.lock))
    }

    /// GetObjectRetention: AWS's 404 `NoSuchObjectLockConfiguration` for a version without one.
    pub async fn object_retention(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
    ) -> Result<(RetentionMode, SystemTime), EngineError> {
        let (_, lock) = self.locked_version(caller, bucket, key, version_id).await?;
        let r = lock.retention.ok_or_else(|| {
            EngineError::Protocol(S3Error::new(ErrorCode::NoSuchObjectLockConfiguration))
        })?;
        Ok((retention_mode(r.mode), r.until))
    }

    /// GetObjectLegalHold: whether the version's legal hold is on.
    pub async fn object_legal_hold(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
    ) -> Result<bool, EngineError> {
        Ok(self.locked_version(caller, bucket, key, version_id).await?.1.legal_hold)
    }

    /// PutObjectRetention (`None` removes it). `bypass` is a governance bypass the caller is
    /// allowed (the server checked `s3:BypassGovernanceRetention`). Refused (`AccessDenied`)
    /// when it would shorten or remove a retention in force without the right to.
    pub async fn put_object_retention(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
        retention: Option<(RetentionMode, SystemTime)>,
        bypass: bool,
    ) -> Result<String, EngineError> {
        if retention.is_some_and(|(_, until)| until <= self.now()) {
            return Err(past_date());
        }
        let retention = retention.map(|(mode, until)| Retention { mode: lock_mode(mode), until });
        self.change_lock(
            caller,
            bucket,
            key,
            version_id,
            LockChange::Retention { retention, bypass },
        )
        .await
    }

    /// PutObjectLegalHold.
    pub async fn put_object_legal_hold(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
        on: bool,
    ) -> Result<String, EngineError> {
        self.change_lock(caller, bucket, key, version_id, LockChange::LegalHold(on)).await
    }

    async fn change_lock(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&str>,
        change: LockChange,
    ) -> Result<String, EngineError> {
        let (id, _) = self.locked_version(caller, bucket, key, version_id).await?;
        self.room_for_metadata()?;
        let meta = self.metadata();
        match meta
            .set_object_lock(bucket.as_str(), key.as_str(), Some(&id), change, self.now())
            .await
        {
            Err(MetaError::NoSuchKey) => Err(EngineError::NoSuchKey),
            other => Ok(other?),
        }
    }
}

fn past_date() -> EngineError {
    EngineError::InvalidArgument("The retain until date must be in the future!".into())
}
