//! RenameObject: the current version of a key becomes another key's, in one metadata
//! transaction and without copying data (the new version names the same blobs).

use std::time::SystemTime;

use s3gate_metadata::{MetaError, MetadataStore, RenameOptions, WriteCondition};
use s3gate_protocol::{
    BucketName, ConditionOutcome, ETag, ErrorCode, LockHeaders, ObjectKey, Preconditions, S3Error,
};
use s3gate_storage_backend::BlobStore;

use crate::api::Caller;
use crate::engine::Engine;
use crate::error::EngineError;

/// How many times a rename whose source changed between its conditions and its commit is
/// judged again before the client is told to retry (`ConditionalConflict`).
const RENAME_ATTEMPTS: usize = 5;

/// RenameObject.
#[derive(Debug, Clone)]
pub struct RenameObjectRequest {
    /// The bucket of both keys.
    pub bucket: BucketName,
    /// The destination key.
    pub key: ObjectKey,
    /// The source key (`x-amz-rename-source`).
    pub source_key: ObjectKey,
    /// `x-amz-rename-source-if-*`, judged against the source's current version.
    pub source_conditions: Preconditions,
    /// `If-Match` / `If-None-Match: *` on the destination, checked in the store's transaction.
    pub condition: WriteCondition,
    /// `If-Modified-Since` / `If-Unmodified-Since` on the destination: it must exist and its
    /// Last-Modified satisfy them.
    pub destination_dates: Preconditions,
    /// `x-amz-client-token`.
    pub client_token: Option<String>,
}

/// What a rename made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenameOutput {
    /// The destination's new version (versioned buckets).
    pub version_id: Option<String>,
}

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// RenameObject. The source's conditions are judged on its current version and the rename
    /// commits only if the source still has that ETag (the store checks it in the rename's
    /// transaction); a source that changed in between is judged again.
    pub async fn rename_object(
        &self,
        caller: &Caller,
        req: RenameObjectRequest,
    ) -> Result<RenameOutput, EngineError> {
        self.owned_bucket(caller, &req.bucket).await?;
        self.room_for_metadata()?;
        if req.source_key == req.key {
            return Err(EngineError::InvalidRequest(
                "The source and the destination of a rename must be different keys.".into(),
            ));
        }
        // The new version is a new object of the bucket: it gets the default retention.
        let lock = self.resolve_lock(&req.bucket, &LockHeaders::default()).await?;
        let meta = self.metadata();
        let (bucket, source, key) =
            (req.bucket.as_str(), req.source_key.as_str(), req.key.as_str());
        for _ in 0..RENAME_ATTEMPTS {
            let judged = if req.source_conditions.is_empty() {
                None
            } else {
                let current = meta.object(bucket, source).await?.ok_or(EngineError::NoSuchKey)?;
                let etag = ETag::parse_quoted_or_not(&current.etag);
                check_source(&req.source_conditions, &etag, current.last_modified)?;
                Some(current.etag)
            };
            if !req.destination_dates.is_empty() {
                let dest = meta.object(bucket, key).await?;
                check_destination_dates(&req.destination_dates, dest.map(|d| d.last_modified))?;
            }
            let opts = RenameOptions {
                source_condition: judged
                    .clone()
                    .map_or(WriteCondition::None, WriteCondition::IfMatch),
                condition: req.condition.clone(),
                lock,
                owner: caller.user.clone(),
                now: self.now(),
                client_token: req.client_token.clone(),
            };
            match meta.rename_object(bucket, source, key, opts).await {
                Ok(out) => return Ok(RenameOutput { version_id: out.version_id }),
                // The destination's condition failed, or the source changed since it was
                // judged: only the second is worth judging again.
                Err(MetaError::PreconditionFailed) if judged.is_some() => {
                    let now = meta.object(bucket, source).await?.map(|v| v.etag);
                    if now == judged {
                        return Err(EngineError::PreconditionFailed);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::ConditionalConflict)
    }
}

/// The source's conditions, as CopyObject's source conditions are judged (every failure is a
/// 412), naming the failed `x-amz-rename-source-*` header in `<Condition>`.
fn check_source(
    conditions: &Preconditions,
    etag: &ETag,
    last_modified: SystemTime,
) -> Result<(), EngineError> {
    if conditions.evaluate_copy_source(etag, last_modified) == ConditionOutcome::Proceed {
        return Ok(());
    }
    let header = conditions.failed_header(etag, last_modified).unwrap_or("If-Match");
    Err(EngineError::Protocol(
        S3Error::new(ErrorCode::PreconditionFailed)
            .with_extra("Condition", format!("x-amz-rename-source-{header}")),
    ))
}

/// The destination's date conditions: AWS renames "if the destination exists and" it was (or
/// was not) modified since the date, so a missing destination fails them.
fn check_destination_dates(
    dates: &Preconditions,
    last_modified: Option<SystemTime>,
) -> Result<(), EngineError> {
    let seconds =
        |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let failed = |header: &str| {
        Err(EngineError::Protocol(
            S3Error::new(ErrorCode::PreconditionFailed).with_extra("Condition", header),
        ))
    };
    if let Some(since) = dates.if_modified_since
        && last_modified.is_none_or(|m| seconds(m) <= seconds(since))
    {
        return failed("If-Modified-Since");
    }
    if let Some(since) = dates.if_unmodified_since
        && last_modified.is_none_or(|m| seconds(m) > seconds(since))
    {
        return failed("If-Unmodified-Since");
    }
    Ok(())
}
