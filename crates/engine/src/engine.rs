//! The [`Engine`]: buckets and objects.

use std::sync::Arc;
use std::time::SystemTime;

use md5::Digest as _;
use s3gate_metadata::{
    Bucket, DeleteOptions, ListPage, ListQuery, MetaError, MetadataStore, NULL_VERSION, ObjectLock,
    ObjectPart, ObjectVersion, Versioning, WriteCondition,
};
use s3gate_protocol::{
    BucketName, Checksum, ChecksumAlgorithm, ChecksumType, ConditionOutcome, DeleteConditions,
    ETag, ErrorCode, ObjectKey, S3Error,
};
use s3gate_storage_backend::{BlobStore, BoxError, ByteStream};

use crate::api::{
    Caller, CopyObjectRequest, DeleteOutput, GetObjectOutput, GetObjectRequest, ListObjectsRequest,
    MetadataDirective, PutObjectRequest, WriteOutput,
};
use crate::lease::{LeaseGuard, Leases, WriteGuard, Writes};
use crate::read::empty_stream;
use crate::sse::{Resolved, Sealing, etag_md5, part_cipher};
use crate::version::VersionRef;
use crate::write::{WriteSpec, discard, discard_after_failed_commit, verify_empty, write_blob};
use crate::{EngineConfig, EngineError};

/// The stored header of an object's website redirect (set only by a write that sends it).
const WEBSITE_REDIRECT: &str = "x-amz-website-redirect-location";

/// Header or tag pairs.
type Pairs = Vec<(String, String)>;

/// Most keys one DeleteObjects request may name.
const MAX_DELETE_KEYS: usize = 1000;

/// How often a copy retries when its source changes between reading and leasing it.
const COPY_ATTEMPTS: usize = 5;

pub(crate) struct Inner<M, B> {
    pub(crate) meta: Arc<M>,
    /// The built-in KMS over `meta`, when server-side encryption is configured.
    pub(crate) kms: Option<Arc<crate::sse::EngineKms<M>>>,
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
        version_id: None,
        source_version_id: None,
        encryption: crate::sse::sse_info(v),
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
        let meta = Arc::new(meta);
        Engine {
            inner: Arc::new(Inner {
                kms: config.encryption.as_ref().map(|c| {
                    let records = crate::sse::MetaKeyRecords::new(Arc::clone(&meta));
                    let masters = c.master_keys.current();
                    Arc::new(s3gate_crypto::BuiltinKms::new(
                        masters,
                        records,
                        &config.region,
                        &c.account_id,
                    ))
                }),
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
    /// The gateway's clock ([`crate::Clock`]).
    pub(crate) fn now(&self) -> SystemTime {
        self.inner.config.clock.now()
    }

    pub(crate) async fn owned_bucket(
        &self,
        caller: &Caller,
        bucket: &BucketName,
    ) -> Result<Bucket, EngineError> {
        let b = self.inner.meta.bucket(bucket.as_str()).await?.ok_or(EngineError::NoSuchBucket)?;
        if caller.is_root || caller.authorized || b.owner == caller.user {
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
        self.create_bucket_with_lock(caller, bucket, location, false).await
    }

    /// CreateBucket, with `x-amz-bucket-object-lock-enabled: true` when `object_lock`: the
    /// bucket is created versioned, then its lock configuration (no default retention) is
    /// stored. A crash between the two leaves a versioned bucket without lock, which protects
    /// less than asked but never accepts a lock it cannot enforce: lock headers on it are
    /// refused. The client got no answer, so it retries: a retried lock create of the
    /// caller's own versioned bucket stores the missing configuration before it answers
    /// (an idempotent retry must not report a lock bucket that has none), and one of an
    /// unversioned bucket (which cannot take lock) is `BucketAlreadyOwnedByYou` in every
    /// region, never the us-east-1 200.
    pub async fn create_bucket_with_lock(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        location: Option<&str>,
        object_lock: bool,
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
            versioning: if object_lock { Versioning::Enabled } else { Versioning::Unversioned },
        };
        match self.inner.meta.create_bucket(record).await {
            Ok(()) if object_lock => {
                let config = s3gate_protocol::ObjectLockConfiguration::default().to_xml();
                let meta = &self.inner.meta;
                Ok(meta
                    .put_bucket_config(bucket.as_str(), crate::OBJECT_LOCK_KIND, Some(config))
                    .await?)
            }
            Ok(()) => Ok(()),
            // us-east-1 keeps AWS's legacy answer to recreating a bucket you own: 200, with
            // the bucket untouched; every other region refuses.
            Err(MetaError::BucketExists { owner }) if owner == caller.user => {
                if object_lock && !self.complete_lock_create(bucket).await? {
                    return Err(EngineError::BucketAlreadyOwnedByYou);
                }
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

    /// Makes the caller's existing `bucket` a lock bucket for a retried lock create: `true`
    /// when it has lock (already, or now that its configuration is stored), `false` when it
    /// cannot (it is not versioned `Enabled`).
    async fn complete_lock_create(&self, bucket: &BucketName) -> Result<bool, EngineError> {
        if self.lock_config(bucket).await?.is_some() {
            return Ok(true);
        }
        let record = self.inner.meta.bucket(bucket.as_str()).await?;
        if record.is_none_or(|b| b.versioning != Versioning::Enabled) {
            return Ok(false);
        }
        let config = s3gate_protocol::ObjectLockConfiguration::default().to_xml();
        let meta = &self.inner.meta;
        meta.put_bucket_config(bucket.as_str(), crate::OBJECT_LOCK_KIND, Some(config)).await?;
        Ok(true)
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
        let (class, tier) =
            self.inner.config.storage_classes.resolve(req.storage_class.as_deref())?;
        self.room_for_metadata()?;
        let lock = self.resolve_lock(&req.bucket, &req.lock).await?;
        let alg =
            req.integrity.checksum.as_ref().map_or(ChecksumAlgorithm::Crc64Nvme, |c| c.algorithm);
        let mode = self.resolve_sse(&req.bucket, &req.encryption).await?;
        let sealing = self.new_sealing(&mode, &req.bucket, req.key.as_str()).await?;
        let (cipher, salt) = match &sealing {
            Some((s, key)) => {
                let (cipher, salt) = part_cipher(s, key, 1)?;
                (Some(cipher), Some(salt))
            }
            None => (None, None),
        };
        let spec = WriteSpec::new(&req.integrity, Some(alg), self.inner.config.max_put_size)?
            .sealed(cipher)
            .in_tier(tier);
        // A body declared empty needs no blob (and no fsync): only its verification.
        let (written, md5, checksums) = if req.integrity.length == Some(0) {
            let (md5, checksums) = verify_empty(body, &spec).await?;
            (None, md5, checksums)
        } else {
            let w = write_blob(&*self.inner.blobs, body, spec).await?;
            let info = (w.size > 0).then_some((w.info.clone(), w.size));
            if info.is_none() {
                // An empty object has no data pieces: its blob is not needed.
                discard(&*self.inner.blobs, &w.info.id).await;
            }
            (info, w.md5, w.checksums)
        };
        let sealing = sealing.map(|(s, _)| s);
        let etag = ETag::from_md5(&etag_md5(sealing.as_ref(), md5));
        let checksum = checksums.iter().find(|c| c.algorithm == alg).map(Checksum::to_base64);
        let version = ObjectVersion {
            bucket: req.bucket.as_str().to_owned(),
            key: req.key.as_str().to_owned(),
            version_id: NULL_VERSION.to_owned(),
            is_delete_marker: false,
            size: written.as_ref().map_or(0, |w| w.1),
            etag: etag.as_str().to_owned(),
            last_modified: SystemTime::now(),
            owner: req.ownership.owner(caller),
            headers: req.headers,
            tags: req.tags,
            checksum_algorithm: Some(alg.as_str().to_owned()),
            checksum_type: Some(ChecksumType::FullObject.as_str().to_owned()),
            checksum: checksum.clone(),
            parts: written
                .iter()
                .map(|(w, size)| ObjectPart {
                    part_number: 1,
                    blob_id: w.id.as_str().to_owned(),
                    blob_offset: 0,
                    size: *size,
                    etag: etag.as_str().to_owned(),
                    checksum: checksum.clone(),
                    salt: salt.clone(),
                })
                .collect(),
            encryption: sealing.as_ref().map(Sealing::to_record),
            lock,
            acl: req.ownership.acl,
            storage_class: class,
        };
        let out = write_output(&version);
        match self.inner.meta.put_object(version, req.condition).await {
            Ok(outcome) => Ok(WriteOutput { version_id: outcome.version_id, ..out }),
            Err(e) => {
                if let Some((w, _)) = &written {
                    discard_after_failed_commit(&*self.inner.blobs, &w.id, &e).await;
                }
                Err(e.into())
            }
        }
    }

    /// GET or HEAD: the current version after preconditions, range and part selection, with a
    /// body stream that holds leases on the blobs it reads (HEAD: an empty body, no leases).
    pub async fn get_object(
        &self,
        caller: &Caller,
        req: &GetObjectRequest,
        head: bool,
    ) -> Result<GetObjectOutput, EngineError> {
        let versioning = self.owned_bucket(caller, &req.bucket).await?.versioning;
        let version = self.readable_version(&req.bucket, &req.key, &req.version).await?;
        let sealing = Sealing::of(version.encryption.as_deref())?;
        let key = self.key_for(sealing.as_ref(), req.customer_key.as_deref()).await?;
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
            let lease = self.lease_parts(&version.parts);
            self.plain_stream(&version, sealing.as_ref(), key.as_ref(), range, Some(lease)).await?
        };
        Ok(GetObjectOutput {
            version,
            range,
            content_length,
            parts_count,
            checksum,
            body,
            versioning,
        })
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
    /// Deletes the version `version` names; without a version id, the current version of an
    /// unversioned bucket, or (versioned) adds a delete marker. A missing key or version is not
    /// an error, but an id the gateway never issued is, and nothing is deleted.
    pub async fn delete_object(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
        condition: WriteCondition,
    ) -> Result<DeleteOutput, EngineError> {
        self.owned_bucket(caller, bucket).await?;
        self.delete_version(caller, bucket, key, version, condition, false).await
    }

    /// The one deletion path of DeleteObject and DeleteObjects entries, after the bucket check.
    /// A locked version is refused by the store ([`EngineError::ObjectLocked`]) in the
    /// delete's transaction; `bypass` lifts governance retention only.
    async fn delete_version(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
        condition: WriteCondition,
        bypass: bool,
    ) -> Result<DeleteOutput, EngineError> {
        let opts = DeleteOptions {
            version_id: version.id().map(str::to_owned),
            condition,
            owner: caller.user.clone(),
            now: self.now(),
            bypass_governance: bypass,
        };
        // A delete marker grows the metadata; removing a version frees space.
        let meta = &self.inner.meta;
        let (b, k) = (bucket.as_str(), key.as_str());
        let mut result = meta.delete_object(b, k, opts.clone()).await;
        if self.retry_freeing(&result) {
            result = meta.delete_object(b, k, opts).await;
        }
        // Retired blobs are left to the collector: a reader may still stream them.
        let out = result?;
        Ok(DeleteOutput { version_id: out.version_id, delete_marker: out.delete_marker })
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
        bypass: bool,
    ) -> Result<DeleteOutput, EngineError> {
        self.owned_bucket(caller, bucket).await?;
        self.delete_version_if(caller, bucket, key, version, conditions, bypass).await
    }

    async fn delete_version_if(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionRef,
        conditions: &DeleteConditions,
        bypass: bool,
    ) -> Result<DeleteOutput, EngineError> {
        if conditions.is_empty() {
            return self
                .delete_version(caller, bucket, key, version, WriteCondition::None, bypass)
                .await;
        }
        // The conditions are decided against the current version, inside the store's
        // transaction (its ETag), whatever version the delete removes.
        let current = self.resolve_version(bucket, key, &VersionRef::Current).await?;
        let etag = current.as_ref().map(|v| ETag::parse_quoted_or_not(&v.etag));
        conditions
            .check(current.as_ref().zip(etag.as_ref()).map(|(v, e)| (e, v.size, v.last_modified)))
            .map_err(EngineError::Protocol)?;
        let etag = etag.ok_or(EngineError::NoSuchKey)?;
        let condition = WriteCondition::IfMatch(etag.as_str().to_owned());
        self.delete_version(caller, bucket, key, version, condition, bypass).await
    }

    /// Deletes many keys; each key gets its own result (an invalid key gets its validation error).
    #[allow(clippy::type_complexity, reason = "one (key, version id, result) per entry")]
    pub async fn delete_objects(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        keys: Vec<(String, Option<String>)>,
    ) -> Result<Vec<(String, Option<String>, Result<DeleteOutput, EngineError>)>, EngineError> {
        let keys = keys.into_iter().map(|(k, v)| (k, v, DeleteConditions::default())).collect();
        self.delete_objects_if(caller, bucket, keys, false).await
    }

    /// DeleteObjects with per-entry conditions (`ETag`, `Size`, `LastModifiedTime`): an entry
    /// whose conditions fail gets its own PreconditionFailed; the others proceed.
    #[allow(clippy::type_complexity, reason = "one (key, version id, result) per entry")]
    pub async fn delete_objects_if(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        keys: Vec<(String, Option<String>, DeleteConditions)>,
        bypass: bool,
    ) -> Result<Vec<(String, Option<String>, Result<DeleteOutput, EngineError>)>, EngineError> {
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
                        self.delete_version_if(caller, bucket, &k, &version, &conditions, bypass)
                            .await
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
            let source = match self.readable_version(bucket, key, version).await {
                Ok(v) => v,
                // AWS: a marker named by id cannot be a copy source; the current marker is 404.
                Err(EngineError::DeleteMarker { addressed: true, .. }) => {
                    return Err(EngineError::InvalidRequest(
                        "The source of a copy request may not specifically refer to a delete \
                         marker by version id."
                            .into(),
                    ));
                }
                Err(EngineError::DeleteMarker { addressed: false, .. }) => {
                    return Err(EngineError::NoSuchKey);
                }
                Err(e) => return Err(e),
            };
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
        let (class, tier) =
            self.inner.config.storage_classes.resolve(req.storage_class.as_deref())?;
        self.room_for_metadata()?;
        let lock = self.resolve_lock(&req.bucket, &req.lock).await?;
        let (source, lease) = self
            .lease_source(
                caller,
                &req.source_bucket,
                &req.source_key,
                &req.source_version,
                &req.source_conditions,
            )
            .await?;
        let source_sealing = Sealing::of(source.encryption.as_deref())?;
        let source_key =
            self.key_for(source_sealing.as_ref(), req.source_customer_key.as_deref()).await?;
        let mode = self.resolve_sse(&req.bucket, &req.encryption).await?;
        // The new version may name the source's sealed blobs only if it is to be encrypted
        // the same way under the same key; otherwise the content is re-encrypted.
        let same_sealing = match (&source_sealing, &mode) {
            (None, Resolved::Plain) => true,
            (Some(sealing), mode) => sealing.serves(mode),
            (None, _) => false,
        };
        // ... and only if they live on the tier of the copy's class: else the data is copied.
        let on_tier =
            source.parts.iter().all(|p| crate::class::tier_of_blob(&p.blob_id) == tier.as_deref());
        let zero_copy = same_sealing && on_tier;
        let same_key = req.source_bucket == req.bucket && req.source_key == req.key;
        let tags_unchanged = req.tags.as_ref().is_none_or(|t| *t == source.tags);
        // Copying a version named by id onto its own key restores it (a new version).
        let current_source = req.source_version == VersionRef::Current;
        let sse_unchanged = matches!(req.encryption, crate::SseRequest::Default) && same_sealing;
        let class_unchanged = class == source.storage_class;
        // The website redirect is never copied with the metadata: a copy keeps it only if the
        // request sends it again (AWS's rule), and sending it is a change of its own.
        let redirect = req.headers.iter().find(|(n, _)| n == WEBSITE_REDIRECT).cloned();
        if same_key
            && current_source
            && req.metadata_directive == MetadataDirective::Copy
            && tags_unchanged
            && sse_unchanged
            && class_unchanged
            && redirect.is_none()
        {
            return Err(EngineError::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes."
                    .into(),
            ));
        }
        let headers = match req.metadata_directive {
            MetadataDirective::Copy => {
                let kept = source.headers.iter().filter(|(n, _)| n != WEBSITE_REDIRECT).cloned();
                kept.chain(redirect).collect()
            }
            MetadataDirective::Replace => req.headers,
        };
        let source_id = source.version_id.clone();
        let tags = req.tags.unwrap_or_else(|| source.tags.clone());
        if !zero_copy {
            let out = self
                .copy_reencrypted(
                    caller,
                    &req.bucket,
                    &req.key,
                    (headers, tags, lock, req.ownership),
                    (class, tier),
                    (&source, source_sealing.as_ref(), source_key.as_ref(), lease),
                    &mode,
                    req.condition,
                )
                .await?;
            let source_version_id =
                (!current_source || source_id != NULL_VERSION).then_some(source_id);
            return Ok(WriteOutput { source_version_id, ..out });
        }
        let version = ObjectVersion {
            bucket: req.bucket.as_str().to_owned(),
            key: req.key.as_str().to_owned(),
            version_id: NULL_VERSION.to_owned(),
            is_delete_marker: false,
            last_modified: SystemTime::now(),
            owner: req.ownership.owner(caller),
            headers,
            tags,
            lock,
            acl: req.ownership.acl,
            storage_class: class,
            ..source
        };
        let out = write_output(&version);
        let outcome = self.inner.meta.put_object(version, req.condition).await?;
        drop(lease);
        let source_version_id = (!current_source || source_id != NULL_VERSION).then_some(source_id);
        Ok(WriteOutput { version_id: outcome.version_id, source_version_id, ..out })
    }

    /// A copy whose destination is encrypted otherwise than its source: the source's plaintext
    /// streams (decrypted, under its lease) into a new blob sealed for the destination, which
    /// becomes a single-part object with the MD5-based ETag of that content.
    #[allow(clippy::too_many_arguments, reason = "the parts of one copy, each used once")]
    async fn copy_reencrypted(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        (headers, tags, lock, ownership): (Pairs, Pairs, ObjectLock, crate::VersionOwnership),
        (class, tier): (Option<String>, Option<String>),
        (source, source_sealing, source_key, lease): (
            &ObjectVersion,
            Option<&Sealing>,
            Option<&s3gate_crypto::DataKey>,
            LeaseGuard,
        ),
        mode: &Resolved,
        condition: WriteCondition,
    ) -> Result<WriteOutput, EngineError> {
        let _write = self.begin_write();
        let sealing = self.new_sealing(mode, bucket, key.as_str()).await?;
        let alg = stored_checksum(source).map_or(ChecksumAlgorithm::Crc64Nvme, |(a, _)| a);
        let (cipher, salt) = match &sealing {
            Some((s, k)) => {
                let (c, salt) = part_cipher(s, k, 1)?;
                (Some(c), Some(salt))
            }
            None => (None, None),
        };
        let written = if source.size == 0 {
            None
        } else {
            let data =
                self.plain_stream(source, source_sealing, source_key, None, Some(lease)).await?;
            let body: ByteStream = Box::pin(futures_util::StreamExt::map(data, |item| {
                item.map_err(|e| Box::new(crate::multipart::SourceReadError(e)) as BoxError)
            }));
            let spec = WriteSpec::internal(source.size, Some(alg), self.inner.config.max_put_size)
                .sealed(cipher)
                .in_tier(tier);
            Some(crate::multipart::write_copy(&*self.inner.blobs, body, spec).await?)
        };
        let sealing = sealing.map(|(s, _)| s);
        let (md5, checksum) = if let Some(w) = &written {
            (w.md5, w.checksum(alg).map(Checksum::to_base64))
        } else {
            let mut c = s3gate_protocol::Checksummer::new(alg);
            c.update(&[]);
            (md5::Md5::digest([]).into(), Some(c.finalize().to_base64()))
        };
        let etag = ETag::from_md5(&etag_md5(sealing.as_ref(), md5));
        let version = ObjectVersion {
            bucket: bucket.as_str().to_owned(),
            key: key.as_str().to_owned(),
            version_id: NULL_VERSION.to_owned(),
            is_delete_marker: false,
            size: source.size,
            etag: etag.as_str().to_owned(),
            last_modified: SystemTime::now(),
            owner: ownership.owner(caller),
            headers,
            tags,
            checksum_algorithm: Some(alg.as_str().to_owned()),
            checksum_type: Some(ChecksumType::FullObject.as_str().to_owned()),
            checksum: checksum.clone(),
            parts: written
                .iter()
                .map(|w| ObjectPart {
                    part_number: 1,
                    blob_id: w.info.id.as_str().to_owned(),
                    blob_offset: 0,
                    size: w.size,
                    etag: etag.as_str().to_owned(),
                    checksum: checksum.clone(),
                    salt: salt.clone(),
                })
                .collect(),
            encryption: sealing.as_ref().map(Sealing::to_record),
            lock,
            acl: ownership.acl,
            storage_class: class,
        };
        let out = write_output(&version);
        match self.inner.meta.put_object(version, condition).await {
            Ok(outcome) => Ok(WriteOutput { version_id: outcome.version_id, ..out }),
            Err(e) => {
                if let Some(w) = &written {
                    discard_after_failed_commit(&*self.inner.blobs, &w.info.id, &e).await;
                }
                Err(e.into())
            }
        }
    }
}
