//! The [`Engine`]: buckets and objects.

use std::sync::Arc;
use std::time::SystemTime;

use s3gate_metadata::{
    Bucket, ListPage, ListQuery, MetaError, MetadataStore, NULL_VERSION, ObjectPart, ObjectVersion,
    WriteCondition,
};
use s3gate_protocol::{
    BucketName, Checksum, ChecksumAlgorithm, ChecksumType, ConditionOutcome, DeleteConditions,
    ETag, ErrorCode, ObjectKey, S3Error,
};
use s3gate_storage_backend::{BlobStore, ByteStream};

use crate::api::{
    Caller, CopyObjectRequest, GetObjectOutput, GetObjectRequest, ListObjectsRequest,
    MetadataDirective, PutObjectRequest, WriteOutput,
};
use crate::lease::{LeaseGuard, Leases, WriteGuard, Writes};
use crate::read::{empty_stream, open_read, segments};
use crate::version::VersionRef;
use crate::write::{WriteSpec, discard, discard_after_failed_commit, verify_empty, write_blob};
use crate::{EngineConfig, EngineError};

/// Most keys one DeleteObjects request may name.
const MAX_DELETE_KEYS: usize = 1000;

/// How often a copy retries when its source changes between reading and leasing it.
const COPY_ATTEMPTS: usize = 5;

pub(crate) struct Inner<M, B> {
    pub(crate) meta: M,
    pub(crate) blobs: Arc<B>,
    pub(crate) config: EngineConfig,
    pub(crate) leases: Arc<Leases>,
    /// Writes in flight, which the orphan sweep spares.
    pub(crate) writes: Arc<Writes>,
    /// Names this engine's leases in the metadata store (random per process).
    pub(crate) lease_holder: String,
}

/// The S3 logic over a [`MetadataStore`] and a [`BlobStore`]. Cheap to clone (an `Arc` inside).
pub struct Engine<M, B> {
    pub(crate) inner: Arc<Inner<M, B>>,
}

impl<M, B> Clone for Engine<M, B> {
    fn clone(&self) -> Self {
        Engine { inner: Arc::clone(&self.inner) }
    }
}

impl<M, B> std::fmt::Debug for Engine<M, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// The checksum a version stores, as (algorithm, type, value).
pub(crate) fn stored_checksum(v: &ObjectVersion) -> Option<(ChecksumAlgorithm, ChecksumType)> {
    let alg = ChecksumAlgorithm::parse(v.checksum_algorithm.as_deref()?)?;
    let ty = v
        .checksum_type
        .as_deref()
        .and_then(ChecksumType::parse)
        .unwrap_or(ChecksumType::FullObject);
    Some((alg, ty))
}

/// The [`WriteOutput`] of a committed version.
pub(crate) fn write_output(v: &ObjectVersion) -> WriteOutput {
    let stored = stored_checksum(v);
    let checksum = stored.and_then(|(alg, ty)| {
        // A composite value (`base64-N`) has no raw digest: report it only through the type.
        if ty == ChecksumType::Composite {
            return None;
        }
        Checksum::from_base64(alg, v.checksum.as_deref()?).ok()
    });
    WriteOutput {
        etag: ETag::parse_quoted_or_not(&v.etag),
        checksum,
        checksum_type: stored.map(|(_, ty)| ty),
        checksum_value: stored.zip(v.checksum.clone()).map(|((alg, _), value)| (alg, value)),
        last_modified: v.last_modified,
        version_id: v.version_id.clone(),
    }
}

/// A random name for this process's leases (time and process id if randomness fails).
fn lease_holder() -> String {
    let mut raw = [0u8; 12];
    if getrandom::fill(&mut raw).is_ok() {
        return hex::encode(raw);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// An engine over the two stores.
    pub fn new(meta: M, blobs: B, config: EngineConfig) -> Self {
        Engine {
            inner: Arc::new(Inner {
                meta,
                blobs: Arc::new(blobs),
                config,
                leases: Arc::new(Leases::default()),
                writes: Arc::new(Writes::default()),
                lease_holder: lease_holder(),
            }),
        }
    }

    /// The metadata store.
    pub fn metadata(&self) -> &M {
        &self.inner.meta
    }

    /// The blob store.
    pub fn blobs(&self) -> &B {
        &self.inner.blobs
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Loads a bucket the caller may act on.
    pub(crate) async fn owned_bucket(
        &self,
        caller: &Caller,
        bucket: &BucketName,
    ) -> Result<Bucket, EngineError> {
        let b = self.inner.meta.bucket(bucket.as_str()).await?.ok_or(EngineError::NoSuchBucket)?;
        if caller.is_root || b.owner == caller.user {
            Ok(b)
        } else {
            Err(EngineError::AccessDenied)
        }
    }

    /// Leases every blob of the parts.
    pub(crate) fn lease_parts(&self, parts: &[ObjectPart]) -> LeaseGuard {
        self.inner.leases.acquire(parts.iter().map(|p| p.blob_id.clone()).collect())
    }

    /// Records a write that will store a blob, until its metadata commit is over: the orphan
    /// sweep spares its temp file and its blob meanwhile, whatever the orphan grace.
    pub(crate) fn begin_write(&self) -> WriteGuard {
        self.inner.writes.begin()
    }

    /// Refuses a write that grows the metadata (503 `ServiceUnavailable`) while the disk holding
    /// it is below its free-space reserve: what is left is kept for the deletes that free space.
    pub(crate) fn room_for_metadata(&self) -> Result<(), EngineError> {
        match &self.inner.config.space {
            Some(space) => Ok(space.check()?),
            None => Ok(()),
        }
    }

    /// Whether a metadata change that frees space (a delete) should run once more: it failed
    /// for want of room (`SQLITE_FULL` is `Unavailable`) and the spare file was released to make
    /// some. So a full disk can always be emptied.
    pub(crate) fn retry_freeing<T>(&self, result: &Result<T, MetaError>) -> bool {
        matches!(result, Err(MetaError::Unavailable(_)))
            && self.inner.config.space.as_ref().is_some_and(|s| s.release_spare())
    }

    /// Whether a blob is leased now.
    pub(crate) fn is_leased(&self, id: &str) -> bool {
        self.inner.leases.is_leased(id)
    }

    // ---- buckets ----

    /// The caller's own buckets, ordered by name.
    pub async fn list_buckets(&self, caller: &Caller) -> Result<Vec<Bucket>, EngineError> {
        // As in S3, ListBuckets lists the caller's own buckets; root's power to act on every
        // bucket does not make other users' buckets its own.
        Ok(self.inner.meta.list_buckets(Some(caller.user.as_str())).await?)
    }

    /// Creates a bucket in the gateway's region. `location` must be absent, empty or the region.
    /// Recreating a bucket the caller owns changes nothing: `Ok` in us-east-1 (AWS's legacy
    /// behaviour), [`EngineError::BucketAlreadyOwnedByYou`] elsewhere.
    pub async fn create_bucket(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        location: Option<&str>,
    ) -> Result<(), EngineError> {
        let region = &self.inner.config.region;
        if location.is_some_and(|l| !l.is_empty() && l != region) {
            return Err(EngineError::InvalidLocationConstraint);
        }
        self.room_for_metadata()?;
        let record = Bucket {
            name: bucket.as_str().to_owned(),
            owner: caller.user.clone(),
            region: region.clone(),
            created: SystemTime::now(),
        };
        match self.inner.meta.create_bucket(record).await {
            Ok(()) => Ok(()),
            // us-east-1 keeps AWS's legacy answer to recreating a bucket you own: 200, with
            // the bucket untouched; every other region refuses.
            Err(MetaError::BucketExists { owner }) if owner == caller.user => {
                if region == "us-east-1" {
                    Ok(())
                } else {
                    Err(EngineError::BucketAlreadyOwnedByYou)
                }
            }
            Err(MetaError::BucketExists { .. }) => Err(EngineError::BucketAlreadyExists),
            Err(e) => Err(e.into()),
        }
    }

    /// The bucket, if the caller may act on it.
    pub async fn head_bucket(
        &self,
        caller: &Caller,
        bucket: &BucketName,
    ) -> Result<Bucket, EngineError> {
        self.owned_bucket(caller, bucket).await
    }

    /// Deletes an empty bucket (its in-progress uploads go with it).
    pub async fn delete_bucket(
        &self,
        caller: &Caller,
        bucket: &BucketName,
    ) -> Result<(), EngineError> {
        self.owned_bucket(caller, bucket).await?;
        // Retired upload blobs are left to the collector.
        let mut result = self.inner.meta.delete_bucket(bucket.as_str()).await;
        if self.retry_freeing(&result) {
            result = self.inner.meta.delete_bucket(bucket.as_str()).await;
        }
        result?;
        Ok(())
    }

    /// The bucket's region.
    pub async fn bucket_location(
        &self,
        caller: &Caller,
        bucket: &BucketName,
    ) -> Result<String, EngineError> {
        Ok(self.owned_bucket(caller, bucket).await?.region)
    }

    /// One page of a listing (v1 and v2 alike; the server encodes tokens and markers).
    pub async fn list_objects(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        req: &ListObjectsRequest,
    ) -> Result<ListPage, EngineError> {
        self.owned_bucket(caller, bucket).await?;
        let query = ListQuery {
            prefix: req.prefix.clone(),
            delimiter: req.delimiter.clone().filter(|d| !d.is_empty()),
            start_after: req.start_after.clone().filter(|s| !s.is_empty()),
            max_keys: req.max_keys.min(1000),
        };
        Ok(self.inner.meta.list_objects(bucket.as_str(), &query).await?)
    }

    // ---- objects ----

    /// Streams the body into a new blob, verifies it, then commits the new version.
    ///
    /// Without a requested checksum, a CRC64NVME full-object checksum is computed and stored,
    /// as S3 does.
    pub async fn put_object(
        &self,
        caller: &Caller,
        req: PutObjectRequest,
        body: ByteStream,
    ) -> Result<WriteOutput, EngineError> {
        let _write = self.begin_write();
        self.owned_bucket(caller, &req.bucket).await?;
        self.room_for_metadata()?;
        let alg =
            req.integrity.checksum.as_ref().map_or(ChecksumAlgorithm::Crc64Nvme, |c| c.algorithm);
        let spec = WriteSpec::new(&req.integrity, Some(alg), self.inner.config.max_put_size)?;
        // A body declared empty needs no blob (and no fsync): only its verification.
        let (written, md5, checksums) = if req.integrity.length == Some(0) {
            let (md5, checksums) = verify_empty(body, &spec).await?;
            (None, md5, checksums)
        } else {
            let w = write_blob(&*self.inner.blobs, body, spec).await?;
            let info = (w.info.size > 0).then_some(w.info.clone());
            if info.is_none() {
                // An empty object has no data pieces: its blob is not needed.
                discard(&*self.inner.blobs, &w.info.id).await;
            }
            (info, w.md5, w.checksums)
        };
        let etag = ETag::from_md5(&md5);
        let checksum = checksums.iter().find(|c| c.algorithm == alg).map(Checksum::to_base64);
        let version = ObjectVersion {
            bucket: req.bucket.as_str().to_owned(),
            key: req.key.as_str().to_owned(),
            version_id: NULL_VERSION.to_owned(),
            is_delete_marker: false,
            size: written.as_ref().map_or(0, |w| w.size),
            etag: etag.as_str().to_owned(),
            last_modified: SystemTime::now(),
            owner: caller.user.clone(),
            headers: req.headers,
            tags: req.tags,
            checksum_algorithm: Some(alg.as_str().to_owned()),
            checksum_type: Some(ChecksumType::FullObject.as_str().to_owned()),
            checksum: checksum.clone(),
            parts: written
                .iter()
                .map(|w| ObjectPart {
                    part_number: 1,
                    blob_id: w.id.as_str().to_owned(),
                    blob_offset: 0,
                    size: w.size,
                    etag: etag.as_str().to_owned(),
                    checksum: checksum.clone(),
                })
                .collect(),
        };
        let out = write_output(&version);
        if let Err(e) = self.inner.meta.put_object(version, req.condition).await {
            if let Some(w) = &written {
                discard_after_failed_commit(&*self.inner.blobs, &w.id, &e).await;
            }
            return Err(e.into());
        }
        Ok(out)
    }

    /// GET or HEAD: the current version after preconditions, range and part selection, with a
    /// body stream that holds leases on the blobs it reads (HEAD: an empty body, no leases).
    pub async fn get_object(
        &self,
        caller: &Caller,
        req: &GetObjectRequest,
        head: bool,
    ) -> Result<GetObjectOutput, EngineError> {
        self.owned_bucket(caller, &req.bucket).await?;
        let version = self
            .resolve_version(&req.bucket, &req.key, &req.version)
            .await?
            .ok_or(EngineError::NoSuchKey)?;
        let etag = ETag::parse_quoted_or_not(&version.etag);
        match req.conditions.evaluate(&etag, version.last_modified) {
            ConditionOutcome::Proceed => {}
            ConditionOutcome::NotModified => {
                return Err(EngineError::NotModified {
                    etag,
                    last_modified: version.last_modified,
                });
            }
            ConditionOutcome::PreconditionFailed => {
                let failure = req.conditions.failure(&etag, version.last_modified, false);
                return Err(EngineError::Protocol(failure));
            }
        }
        let multipart = etag.part_count().is_some();
        let parts_count = multipart.then(|| u32::try_from(version.parts.len()).unwrap_or(u32::MAX));
        let stored = stored_checksum(&version);
        let (range, checksum) = match (req.part_number, req.range) {
            (Some(_), Some(_)) => {
                return Err(EngineError::InvalidRequest(
                    "Cannot specify both Range header and partNumber query parameter".into(),
                ));
            }
            (Some(n), None) => part_range(&version, u32::from(n.get()), multipart)?,
            (None, Some(spec)) => (Some(spec.resolve(version.size)?), None),
            (None, None) => {
                let whole = stored.zip(version.checksum.clone()).map(|((alg, _), v)| (alg, v));
                (None, whole)
            }
        };
        let content_length = range.map_or(version.size, |r| r.len());
        let body = if head || content_length == 0 {
            empty_stream()
        } else {
            let segs = segments(&version.parts, range)?;
            let lease = self
                .inner
                .leases
                .acquire(segs.iter().map(|s| s.blob_id.as_str().to_owned()).collect());
            open_read(
                Arc::clone(&self.inner.blobs),
                segs,
                self.inner.config.read_ahead_parts,
                Some(lease),
            )
            .await?
        };
        Ok(GetObjectOutput { version, range, content_length, parts_count, checksum, body })
    }
}

/// The byte range and checksum of `?partNumber=n`.
#[allow(clippy::type_complexity)]
fn part_range(
    version: &ObjectVersion,
    n: u32,
    multipart: bool,
) -> Result<(Option<s3gate_protocol::ByteRange>, Option<(ChecksumAlgorithm, String)>), EngineError>
{
    let stored = stored_checksum(version);
    if !multipart {
        if n != 1 {
            return Err(EngineError::Protocol(S3Error::new(ErrorCode::InvalidPartNumber)));
        }
        if version.size == 0 {
            return Ok((None, None));
        }
        let whole = stored.zip(version.checksum.clone()).map(|((alg, _), v)| (alg, v));
        let range = s3gate_protocol::ByteRange { start: 0, end: version.size - 1 };
        return Ok((Some(range), whole));
    }
    let mut start = 0u64;
    for p in &version.parts {
        if p.part_number == n {
            let checksum = stored.zip(p.checksum.clone()).map(|((alg, _), v)| (alg, v));
            if p.size == 0 {
                return Ok((None, checksum));
            }
            let range = s3gate_protocol::ByteRange { start, end: start + p.size - 1 };
            return Ok((Some(range), checksum));
        }
        start += p.size;
    }
    Err(EngineError::Protocol(S3Error::new(ErrorCode::InvalidPartNumber)))
}

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// Deletes the version `version` names (the current one when no id is given); a missing key
    /// or version is not an error, but an id the gateway never issued is, and nothing is deleted.
    pub async fn delete_object(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
        condition: WriteCondition,
    ) -> Result<(), EngineError> {
        self.owned_bucket(caller, bucket).await?;
        self.delete_version(bucket, key, version, condition).await
    }

    /// The one deletion path of DeleteObject and DeleteObjects entries, after the bucket check.
    async fn delete_version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
        condition: WriteCondition,
    ) -> Result<(), EngineError> {
        match version {
            VersionRef::Current => {}
            // The store's delete removes the current version, which in an unversioned bucket
            // is the null version; absent, there is nothing to delete.
            VersionRef::Null | VersionRef::Id(_) => {
                if self.resolve_version(bucket, key, version).await?.is_none() {
                    return Ok(());
                }
            }
        }
        // Retired blobs are left to the collector: a reader may still stream them.
        let meta = &self.inner.meta;
        let mut result = meta.delete_object(bucket.as_str(), key.as_str(), condition.clone()).await;
        if self.retry_freeing(&result) {
            result = meta.delete_object(bucket.as_str(), key.as_str(), condition).await;
        }
        result?;
        Ok(())
    }

    /// DeleteObject with the 2025 conditions (If-Match, size, Last-Modified): the current
    /// version is checked, then deleted on condition that its ETag is still the one checked,
    /// inside the store's transaction, so a concurrent overwrite makes it a 412, never a delete
    /// of data nobody checked.
    pub async fn delete_object_if(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
        conditions: &DeleteConditions,
    ) -> Result<(), EngineError> {
        self.owned_bucket(caller, bucket).await?;
        self.delete_version_if(bucket, key, version, conditions).await
    }

    async fn delete_version_if(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
        conditions: &DeleteConditions,
    ) -> Result<(), EngineError> {
        if conditions.is_empty() {
            return self.delete_version(bucket, key, version, WriteCondition::None).await;
        }
        let current = self.resolve_version(bucket, key, version).await?;
        let etag = current.as_ref().map(|v| ETag::parse_quoted_or_not(&v.etag));
        conditions
            .check(current.as_ref().zip(etag.as_ref()).map(|(v, e)| (e, v.size, v.last_modified)))
            .map_err(EngineError::Protocol)?;
        let etag = etag.ok_or(EngineError::NoSuchKey)?;
        self.delete_version(bucket, key, version, WriteCondition::IfMatch(etag.as_str().to_owned()))
            .await
    }

    /// Deletes many keys; each key gets its own result (an invalid key gets its validation error).
    pub async fn delete_objects(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        keys: Vec<(String, Option<String>)>,
    ) -> Result<Vec<(String, Option<String>, Result<(), EngineError>)>, EngineError> {
        let keys = keys.into_iter().map(|(k, v)| (k, v, DeleteConditions::default())).collect();
        self.delete_objects_if(caller, bucket, keys).await
    }

    /// DeleteObjects with per-entry conditions (`ETag`, `Size`, `LastModifiedTime`): an entry
    /// whose conditions fail gets its own PreconditionFailed; the others proceed.
    pub async fn delete_objects_if(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        keys: Vec<(String, Option<String>, DeleteConditions)>,
    ) -> Result<Vec<(String, Option<String>, Result<(), EngineError>)>, EngineError> {
        self.owned_bucket(caller, bucket).await?;
        if keys.len() > MAX_DELETE_KEYS {
            // The server rejects such bodies first; S3 answers MalformedXML.
            return Err(EngineError::Protocol(S3Error::new(ErrorCode::MalformedXML)));
        }
        let mut out = Vec::with_capacity(keys.len());
        for (key, version_id, conditions) in keys {
            let result =
                match (ObjectKey::parse(key.clone()), VersionRef::parse(version_id.as_deref())) {
                    (Err(e), _) => Err(EngineError::Protocol(e)),
                    (_, Err(e)) => Err(e),
                    (Ok(k), Ok(version)) => {
                        self.delete_version_if(bucket, &k, &version, &conditions).await
                    }
                };
            out.push((key, version_id, result));
        }
        Ok(out)
    }

    /// Loads a copy source, checks its conditions, and leases its blobs; the source is re-read
    /// after leasing so the leased blobs are known to be referenced (never forgotten).
    pub(crate) async fn lease_source(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
        conditions: &s3gate_protocol::Preconditions,
    ) -> Result<(ObjectVersion, LeaseGuard), EngineError> {
        self.owned_bucket(caller, bucket).await?;
        for _ in 0..COPY_ATTEMPTS {
            let source =
                self.resolve_version(bucket, key, version).await?.ok_or(EngineError::NoSuchKey)?;
            let etag = ETag::parse_quoted_or_not(&source.etag);
            if conditions.evaluate_copy_source(&etag, source.last_modified)
                != ConditionOutcome::Proceed
            {
                let failure = conditions.failure(&etag, source.last_modified, true);
                return Err(EngineError::Protocol(failure));
            }
            let lease = self.lease_parts(&source.parts);
            let again = self.resolve_version(bucket, key, version).await?;
            if again.as_ref().is_some_and(|a| a.parts == source.parts) {
                return Ok((source, lease));
            }
        }
        Err(EngineError::ConditionalConflict)
    }

    /// Copies an object by sharing its blobs (no data is copied).
    pub async fn copy_object(
        &self,
        caller: &Caller,
        req: CopyObjectRequest,
    ) -> Result<WriteOutput, EngineError> {
        self.owned_bucket(caller, &req.bucket).await?;
        self.room_for_metadata()?;
        let (source, _lease) = self
            .lease_source(
                caller,
                &req.source_bucket,
                &req.source_key,
                &req.source_version,
                &req.source_conditions,
            )
            .await?;
        let same_key = req.source_bucket == req.bucket && req.source_key == req.key;
        let tags_unchanged = req.tags.as_ref().is_none_or(|t| *t == source.tags);
        if same_key && req.metadata_directive == MetadataDirective::Copy && tags_unchanged {
            return Err(EngineError::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes."
                    .into(),
            ));
        }
        let headers = match req.metadata_directive {
            MetadataDirective::Copy => source.headers.clone(),
            MetadataDirective::Replace => req.headers,
        };
        let version = ObjectVersion {
            bucket: req.bucket.as_str().to_owned(),
            key: req.key.as_str().to_owned(),
            version_id: NULL_VERSION.to_owned(),
            is_delete_marker: false,
            last_modified: SystemTime::now(),
            owner: caller.user.clone(),
            headers,
            tags: req.tags.unwrap_or_else(|| source.tags.clone()),
            ..source
        };
        let out = write_output(&version);
        self.inner.meta.put_object(version, req.condition).await?;
        Ok(out)
    }
}
