//! Multipart uploads.

use std::collections::HashMap;
use std::time::SystemTime;

use s3gate_metadata::{
    MetadataStore, NULL_VERSION, ObjectPart, ObjectVersion, Part, Upload, UploadListQuery,
    UploadPage, Versioning,
};
use s3gate_protocol::{
    BucketName, Checksum, ChecksumAlgorithm, ChecksumType, ETag, ObjectKey, UploadId,
};
use s3gate_storage_backend::{BlobError, BlobStore, BoxError, ByteStream};

use crate::SseInfo;
use crate::api::{
    Caller, CompleteUploadRequest, CreateUploadRequest, PartOutput, PartsPage,
    UploadPartCopyRequest, UploadPartRequest, WriteOutput,
};
use crate::engine::write_output;
use crate::sse::{Sealing, etag_md5, part_cipher};
use crate::write::{WriteSpec, Written, discard_after_failed_commit, write_blob};
use crate::{Engine, EngineError};

/// An upload's sealing, a new part's cipher and its salt (all `None` for plaintext).
type PartSealing = (Option<Sealing>, Option<s3gate_crypto::PartCipher>, Option<String>);

/// Highest part number S3 allows.
const MAX_PART_NUMBER: u32 = 10_000;

/// Page size used to read all parts of an upload at completion.
const PART_PAGE: u32 = 1000;

const INVALID_PART: &str = "One or more of the specified parts could not be found. The part may \
     not have been uploaded, or the specified entity tag may not match the part's entity tag.";

/// A fresh upload id: 128 random bits as 32 lowercase hex digits.
fn new_upload_id() -> Result<String, EngineError> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| EngineError::Internal(Box::new(e)))?;
    Ok(hex::encode(raw))
}

/// The upload's checksum algorithm and type.
fn upload_checksum(upload: &Upload) -> Option<(ChecksumAlgorithm, ChecksumType)> {
    let alg = ChecksumAlgorithm::parse(upload.checksum_algorithm.as_deref()?)?;
    let ty = upload.checksum_type.as_deref().and_then(ChecksumType::parse).unwrap_or(
        if alg.supports_composite() { ChecksumType::Composite } else { ChecksumType::FullObject },
    );
    Some((alg, ty))
}

/// The checksum every part of the upload is stored with, and how the object's checksum is made
/// from them: the upload's own, else CRC64NVME full-object, which AWS gives an upload created
/// without an algorithm.
fn storage_checksum(upload: &Upload) -> (ChecksumAlgorithm, ChecksumType) {
    upload_checksum(upload).unwrap_or((ChecksumAlgorithm::Crc64Nvme, ChecksumType::FullObject))
}

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// Loads an upload of the caller's bucket that belongs to `key`.
    async fn owned_upload(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<Upload, EngineError> {
        self.owned_bucket(caller, bucket).await?;
        let upload = self
            .inner
            .meta
            .upload(bucket.as_str(), upload_id.as_str())
            .await?
            .ok_or(EngineError::NoSuchUpload)?;
        if upload.key != key.as_str() {
            return Err(EngineError::NoSuchUpload);
        }
        Ok(upload)
    }

    /// The tier an upload's parts are written to: that of its class.
    fn upload_tier(&self, upload: &Upload) -> Option<String> {
        self.inner.config.storage_classes.tier_of_recorded(upload.storage_class.as_deref())
    }

    /// Starts an upload and returns its id.
    pub async fn create_upload(
        &self,
        caller: &Caller,
        req: CreateUploadRequest,
    ) -> Result<UploadId, EngineError> {
        Ok(self.start_upload(caller, req).await?.0)
    }

    /// Starts an upload; returns its id and how its parts will be encrypted.
    pub async fn start_upload(
        &self,
        caller: &Caller,
        req: CreateUploadRequest,
    ) -> Result<(UploadId, Option<SseInfo>), EngineError> {
        self.owned_bucket(caller, &req.bucket).await?;
        let (class, _) = self.inner.config.storage_classes.resolve(req.storage_class.as_deref())?;
        self.room_for_metadata()?;
        match (req.checksum_algorithm, req.checksum_type) {
            (None, Some(_)) => {
                return Err(EngineError::InvalidRequest(
                    "The x-amz-checksum-type header can only be used with the \
                     x-amz-checksum-algorithm header."
                        .into(),
                ));
            }
            (Some(alg), Some(ChecksumType::FullObject)) if !alg.supports_full_object() => {
                return Err(EngineError::InvalidRequest(format!(
                    "The FULL_OBJECT checksum type cannot be used with the {alg} checksum algorithm."
                )));
            }
            (Some(alg), Some(ChecksumType::Composite)) if !alg.supports_composite() => {
                return Err(EngineError::InvalidRequest(format!(
                    "The COMPOSITE checksum type cannot be used with the {alg} checksum algorithm."
                )));
            }
            _ => {}
        }
        let lock = self.upload_lock(&req.bucket, &req.lock).await?;
        let mode = self.resolve_sse(&req.bucket, &req.encryption).await?;
        let sealing = self.new_sealing(&mode, &req.bucket, req.key.as_str()).await?.map(|(s, _)| s);
        let id = new_upload_id()?;
        let upload = Upload {
            upload_id: id.clone(),
            bucket: req.bucket.as_str().to_owned(),
            key: req.key.as_str().to_owned(),
            initiated: SystemTime::now(),
            owner: req.ownership.owner(caller),
            headers: req.headers,
            tags: req.tags,
            checksum_algorithm: req.checksum_algorithm.map(|a| a.as_str().to_owned()),
            checksum_type: req.checksum_type.map(|t| t.as_str().to_owned()),
            encryption: sealing.as_ref().map(Sealing::to_record),
            lock,
            acl: req.ownership.acl,
            storage_class: class,
        };
        self.inner.meta.create_upload(upload).await?;
        let id = UploadId::parse(&id).map_err(EngineError::Protocol)?;
        Ok((id, sealing.map(|s| s.info())))
    }

    /// The sealing of an upload, the part cipher of a new part and its salt, for a request
    /// carrying `customer` (SSE-C headers).
    async fn part_sealing(
        &self,
        upload: &Upload,
        part_number: u32,
        customer: Option<&s3gate_crypto::CustomerKey>,
    ) -> Result<PartSealing, EngineError> {
        let sealing = Sealing::of(upload.encryption.as_deref())?;
        let Some(key) = self.key_for(sealing.as_ref(), customer).await? else {
            return Ok((sealing, None, None));
        };
        let Some(s) = &sealing else { return Ok((None, None, None)) };
        let (cipher, salt) = part_cipher(s, &key, part_number)?;
        Ok((sealing, Some(cipher), Some(salt)))
    }

    /// Records a written blob as a part; deletes the blob if the upload is gone. `client_alg`
    /// is the algorithm of a checksum the client sent with the part.
    async fn commit_part(
        &self,
        upload: &Upload,
        part_number: u32,
        written: Written,
        client_alg: Option<ChecksumAlgorithm>,
        (sealing, salt): (Option<Sealing>, Option<String>),
    ) -> Result<PartOutput, EngineError> {
        let stored = written.checksum(storage_checksum(upload).0).cloned();
        let etag = ETag::from_md5(&etag_md5(sealing.as_ref(), written.md5));
        let part = Part {
            part_number,
            blob_id: written.info.id.as_str().to_owned(),
            blob_offset: 0,
            size: written.size,
            etag: etag.as_str().to_owned(),
            checksum: stored.as_ref().map(Checksum::to_base64),
            last_modified: SystemTime::now(),
            salt,
        };
        let last_modified = part.last_modified;
        if let Err(e) = self.inner.meta.put_part(&upload.bucket, &upload.upload_id, part).await {
            discard_after_failed_commit(&*self.inner.blobs, &written.info.id, &e).await;
            return Err(e.into());
        }
        // With an upload algorithm, the part's checksum in it; without, echo the checksum the
        // client sent (verified; the default CRC64NVME is stored but not announced).
        let checksum = if upload_checksum(upload).is_some() {
            stored
        } else {
            client_alg.and_then(|a| written.checksum(a)).cloned()
        };
        Ok(PartOutput {
            etag,
            checksum,
            last_modified,
            source_version_id: None,
            encryption: sealing.map(|s| s.info()),
        })
    }

    /// Stores one part (a re-upload of the same number replaces it).
    ///
    /// The part's checksum in the upload's algorithm is always computed and stored; a checksum
    /// the client sends in another algorithm is verified but not stored.
    pub async fn upload_part(
        &self,
        caller: &Caller,
        req: UploadPartRequest,
        body: ByteStream,
    ) -> Result<PartOutput, EngineError> {
        let _write = self.begin_write();
        let upload = self.owned_upload(caller, &req.bucket, &req.key, &req.upload_id).await?;
        self.room_for_metadata()?;
        if let (Some((want, _)), Some(sent)) = (upload_checksum(&upload), &req.integrity.checksum)
            && sent.algorithm != want
        {
            return Err(type_mismatch(Some(want), sent.algorithm));
        }
        let number = u32::from(req.part_number.get());
        let (sealing, cipher, salt) =
            self.part_sealing(&upload, number, req.customer_key.as_deref()).await?;
        let alg = Some(storage_checksum(&upload).0);
        let spec = WriteSpec::new(&req.integrity, alg, self.inner.config.max_put_size)?
            .sealed(cipher)
            .in_tier(self.upload_tier(&upload));
        let written = write_blob(&*self.inner.blobs, body, spec).await?;
        let client_alg = req.integrity.checksum.as_ref().map(|c| c.algorithm);
        self.commit_part(&upload, number, written, client_alg, (sealing, salt)).await
    }

    /// Stores a byte range of another object as a part: the bytes are read (under lease) and
    /// written to a new blob, so the part's ETag is the MD5 of exactly those bytes.
    pub async fn upload_part_copy(
        &self,
        caller: &Caller,
        req: UploadPartCopyRequest,
    ) -> Result<PartOutput, EngineError> {
        let _write = self.begin_write();
        let upload = self.owned_upload(caller, &req.bucket, &req.key, &req.upload_id).await?;
        self.room_for_metadata()?;
        let (source, lease) = self
            .lease_source(
                caller,
                &req.source_bucket,
                &req.source_key,
                &req.source_version,
                &req.source_conditions,
            )
            .await?;
        let range = match req.source_range {
            None => (source.size > 0)
                .then(|| s3gate_protocol::ByteRange { start: 0, end: source.size - 1 }),
            Some((a, b)) if a > b => {
                return Err(EngineError::InvalidArgument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last \
                     where first and last are the zero-based offsets of the first and last bytes \
                     to copy"
                        .into(),
                ));
            }
            Some((a, b)) if b >= source.size => {
                return Err(EngineError::Protocol(
                    s3gate_protocol::S3Error::with_message(
                        s3gate_protocol::ErrorCode::InvalidRange,
                        "The requested range is not satisfiable",
                    )
                    .with_extra("RangeRequested", format!("bytes={a}-{b}"))
                    .with_extra("ActualObjectSize", source.size.to_string()),
                ));
            }
            Some((a, b)) => Some(s3gate_protocol::ByteRange { start: a, end: b }),
        };
        let len = range.map_or(0, |r| r.len());
        let source_sealing = Sealing::of(source.encryption.as_deref())?;
        let source_key =
            self.key_for(source_sealing.as_ref(), req.source_customer_key.as_deref()).await?;
        let number = u32::from(req.part_number.get());
        let (sealing, cipher, salt) =
            self.part_sealing(&upload, number, req.customer_key.as_deref()).await?;
        let data = if range.is_some() {
            self.plain_stream(
                &source,
                source_sealing.as_ref(),
                source_key.as_ref(),
                range,
                Some(lease),
            )
            .await?
        } else {
            crate::read::empty_stream()
        };
        let body: ByteStream = Box::pin(futures_util::StreamExt::map(data, |item| {
            item.map_err(|e| Box::new(SourceReadError(e)) as BoxError)
        }));
        let alg = Some(storage_checksum(&upload).0);
        let spec = WriteSpec::internal(len, alg, self.inner.config.max_put_size)
            .sealed(cipher)
            .in_tier(self.upload_tier(&upload));
        let written = write_copy(&*self.inner.blobs, body, spec).await?;
        let named = req.source_version != crate::VersionRef::Current;
        let source_version_id =
            (named || source.version_id != NULL_VERSION).then(|| source.version_id.clone());
        let out = self.commit_part(&upload, number, written, None, (sealing, salt)).await?;
        Ok(PartOutput { source_version_id, ..out })
    }

    /// Completes an upload: validates the listed parts and commits the object made of them.
    pub async fn complete_upload(
        &self,
        caller: &Caller,
        req: CompleteUploadRequest,
    ) -> Result<WriteOutput, EngineError> {
        let upload = match self.owned_upload(caller, &req.bucket, &req.key, &req.upload_id).await {
            Err(EngineError::NoSuchUpload) => return self.completed_before(caller, &req).await,
            other => other?,
        };
        self.room_for_metadata()?;
        check_listed_parts(&req)?;
        let stored = self.all_parts(&upload).await?;
        let checksum_kind = upload_checksum(&upload);
        let mut chosen = Vec::with_capacity(req.parts.len());
        for (i, listed) in req.parts.iter().enumerate() {
            let part = stored
                .get(&listed.part_number)
                .ok_or_else(|| EngineError::InvalidPart(INVALID_PART.into()))?;
            let etag = ETag::parse_quoted_or_not(&listed.etag);
            if etag.as_str() != part.etag {
                return Err(EngineError::InvalidPart(INVALID_PART.into()));
            }
            if let Some((alg, _)) = checksum_kind {
                for (given_alg, value) in &listed.checksums {
                    if *given_alg == alg && part.checksum.as_deref() != Some(value.trim()) {
                        return Err(EngineError::InvalidPart(INVALID_PART.into()));
                    }
                }
            }
            if i + 1 < req.parts.len() && part.size < self.inner.config.min_part_size {
                return Err(EngineError::EntityTooSmall);
            }
            chosen.push(part.clone());
        }
        let mut md5s = Vec::with_capacity(chosen.len());
        for p in &chosen {
            let md5 = ETag::parse_quoted_or_not(&p.etag)
                .md5_bytes()
                .ok_or_else(|| EngineError::internal("stored part etag is not an md5"))?;
            md5s.push(md5);
        }
        let etag = ETag::multipart(&md5s);
        // Parts stored before every part carried a checksum leave the object without one.
        let computed = object_checksum(storage_checksum(&upload), &chosen);
        check_expected_checksum(
            req.expected_checksum.as_ref(),
            upload_checksum(&upload).map(|(a, _)| a),
            computed.as_ref().map(|(a, _, v)| (*a, v.as_str())),
        )?;
        let (checksum_algorithm, checksum_type, checksum) = match computed {
            Some((alg, ty, value)) => {
                (Some(alg.as_str().to_owned()), Some(ty.as_str().to_owned()), Some(value))
            }
            None => (None, None, None),
        };
        let version = ObjectVersion {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            version_id: NULL_VERSION.to_owned(),
            is_delete_marker: false,
            size: chosen.iter().map(|p| p.size).sum(),
            etag: etag.as_str().to_owned(),
            last_modified: SystemTime::now(),
            // An upload with an ACL (a bucket whose ACLs are on) gives its object the owner it
            // was started for; otherwise the completer owns it, as before ACLs.
            owner: if upload.acl.is_some() { upload.owner.clone() } else { caller.user.clone() },
            headers: upload.headers.clone(),
            tags: upload.tags.clone(),
            checksum_algorithm,
            checksum_type,
            checksum,
            parts: chosen
                .iter()
                .map(|p| ObjectPart {
                    part_number: p.part_number,
                    blob_id: p.blob_id.clone(),
                    blob_offset: p.blob_offset,
                    size: p.size,
                    etag: p.etag.clone(),
                    checksum: p.checksum.clone(),
                    salt: p.salt.clone(),
                })
                .collect(),
            encryption: upload.encryption.clone(),
            lock: self.completed_lock(&req.bucket, upload.lock).await?,
            acl: upload.acl.clone(),
            storage_class: upload.storage_class.clone(),
        };
        let out = write_output(&version);
        // A concurrent re-upload may retire a listed part's blob before the commit revives it:
        // the lease keeps the collector away from it meanwhile.
        let _lease = self.lease_parts(&version.parts);
        crate::failpoint::crash_point!(crate::failpoint::COMPLETE_BEFORE_COMMIT);
        let outcome =
            self.inner.meta.complete_upload(&upload.upload_id, version, req.condition).await?;
        crate::failpoint::crash_point!(crate::failpoint::COMPLETE_AFTER_COMMIT);
        Ok(WriteOutput { version_id: outcome.version_id, ..out })
    }

    /// A retried CompleteMultipartUpload whose upload is gone: if the key's current object is
    /// exactly the object these parts make (the same part numbers and ETags, hence the same
    /// multipart ETag) and the caller wrote it, the earlier Complete succeeded and its reply was
    /// lost, so the answer is that object again and nothing changes, as on AWS. SDKs retry
    /// Complete on a lost reply; anything else is [`EngineError::NoSuchUpload`].
    ///
    /// The check is on content, not on the upload id (an object does not remember the upload
    /// it came from): a different upload of identical parts is indistinguishable, and
    /// answering it with the same ETag and no change is equally true.
    async fn completed_before(
        &self,
        caller: &Caller,
        req: &CompleteUploadRequest,
    ) -> Result<WriteOutput, EngineError> {
        let Some(current) = self.inner.meta.object(req.bucket.as_str(), req.key.as_str()).await?
        else {
            return Err(EngineError::NoSuchUpload);
        };
        let same_parts = current.parts.len() == req.parts.len()
            && current.parts.iter().zip(&req.parts).all(|(have, listed)| {
                have.part_number == listed.part_number
                    && have.etag == ETag::parse_quoted_or_not(&listed.etag).as_str()
            });
        let md5s: Option<Vec<[u8; 16]>> =
            current.parts.iter().map(|p| ETag::parse_quoted_or_not(&p.etag).md5_bytes()).collect();
        let is_that_object = same_parts
            && md5s.is_some_and(|m| ETag::multipart(&m).as_str() == current.etag)
            && (current.owner == caller.user || caller.is_root);
        if !is_that_object {
            return Err(EngineError::NoSuchUpload);
        }
        // The retry is held to the same whole-object checksum as the first Complete.
        let alg = current.checksum_algorithm.as_deref().and_then(ChecksumAlgorithm::parse);
        check_expected_checksum(
            req.expected_checksum.as_ref(),
            alg,
            alg.zip(current.checksum.as_deref()),
        )?;
        // The version it made is the current one; its id is reported as the first answer did
        // (only in an enabled bucket).
        let bucket = self.inner.meta.bucket(req.bucket.as_str()).await?;
        let versioned = bucket.is_some_and(|b| b.versioning == Versioning::Enabled);
        let version_id = versioned.then(|| current.version_id.clone());
        Ok(WriteOutput { version_id, ..write_output(&current) })
    }

    /// Every part of an upload by number.
    async fn all_parts(&self, upload: &Upload) -> Result<HashMap<u32, Part>, EngineError> {
        let mut out = HashMap::new();
        let mut after = 0;
        loop {
            let (parts, more) = self
                .inner
                .meta
                .list_parts(&upload.bucket, &upload.upload_id, after, PART_PAGE)
                .await?;
            let Some(last) = parts.last() else { break };
            after = last.part_number;
            out.extend(parts.into_iter().map(|p| (p.part_number, p)));
            if !more {
                break;
            }
        }
        Ok(out)
    }

    /// Aborts an upload; its blobs are left to the collector.
    pub async fn abort_upload(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<(), EngineError> {
        self.owned_upload(caller, bucket, key, upload_id).await?;
        let mut result = self.inner.meta.abort_upload(bucket.as_str(), upload_id.as_str()).await;
        if self.retry_freeing(&result) {
            result = self.inner.meta.abort_upload(bucket.as_str(), upload_id.as_str()).await;
        }
        result?;
        Ok(())
    }

    /// Parts numbered after `after`, at most `max`.
    pub async fn list_parts(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
        after: u32,
        max: u32,
    ) -> Result<PartsPage, EngineError> {
        let upload = self.owned_upload(caller, bucket, key, upload_id).await?;
        let (parts, is_truncated) =
            self.inner.meta.list_parts(bucket.as_str(), upload_id.as_str(), after, max).await?;
        Ok(PartsPage { upload, parts, is_truncated })
    }

    /// One page of the bucket's uploads in progress.
    pub async fn list_uploads(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        query: &UploadListQuery,
    ) -> Result<UploadPage, EngineError> {
        self.owned_bucket(caller, bucket).await?;
        Ok(self.inner.meta.list_uploads(bucket.as_str(), query).await?)
    }
}

/// S3's refusal of a checksum in another algorithm than the upload's (`null`: none declared).
fn type_mismatch(expected: Option<ChecksumAlgorithm>, actual: ChecksumAlgorithm) -> EngineError {
    let expected = expected.map_or_else(|| "null".to_owned(), |a| a.as_str().to_ascii_lowercase());
    EngineError::InvalidRequest(format!(
        "Checksum Type mismatch occurred, expected checksum Type: {expected}, actual checksum \
         Type: {}",
        actual.as_str().to_ascii_lowercase()
    ))
}

/// Checks the whole-object checksum a CompleteMultipartUpload carried against the object's
/// (`object`: its algorithm and value; `declared`: the upload's own algorithm, for the
/// message). A composite value may be sent with or without its `-N` suffix.
fn check_expected_checksum(
    expected: Option<&(ChecksumAlgorithm, String)>,
    declared: Option<ChecksumAlgorithm>,
    object: Option<(ChecksumAlgorithm, &str)>,
) -> Result<(), EngineError> {
    let Some((alg, sent)) = expected else { return Ok(()) };
    match object {
        Some((have, value)) if have == *alg => {
            let sent = sent.trim();
            let bare = value.split_once('-').map_or(value, |(b, _)| b);
            if sent == value || sent == bare {
                Ok(())
            } else {
                Err(EngineError::ChecksumMismatch(*alg))
            }
        }
        _ => Err(type_mismatch(declared, *alg)),
    }
}

/// The object checksum of a completed upload: composite (`base64-N`) or combined full-object
/// CRC. `None` if a part lacks its checksum.
fn object_checksum(
    (alg, ty): (ChecksumAlgorithm, ChecksumType),
    parts: &[Part],
) -> Option<(ChecksumAlgorithm, ChecksumType, String)> {
    let sums = parts
        .iter()
        .map(|p| Checksum::from_base64(alg, p.checksum.as_deref()?).ok())
        .collect::<Option<Vec<_>>>()?;
    match ty {
        ChecksumType::Composite => Some((alg, ty, s3gate_protocol::composite_checksum(alg, &sums))),
        ChecksumType::FullObject => {
            let with_len: Vec<(Checksum, u64)> =
                sums.into_iter().zip(parts.iter().map(|p| p.size)).collect();
            let combined = Checksum::combine_full_object(alg, &with_len)?;
            Some((alg, ty, combined.to_base64()))
        }
    }
}

/// A failure reading a copy source, carried through the body stream of the new blob.
#[derive(Debug, thiserror::Error)]
#[error("reading the copy source failed")]
pub(crate) struct SourceReadError(#[source] pub(crate) BlobError);

/// Writes a copy's body (the source's plaintext), answering a failed source read as the
/// source's error rather than as a broken request body.
/// The part list of a CompleteMultipartUpload: not empty, valid numbers, ascending.
fn check_listed_parts(req: &CompleteUploadRequest) -> Result<(), EngineError> {
    if req.parts.is_empty() {
        return Err(EngineError::InvalidRequest("You must specify at least one part".into()));
    }
    for p in &req.parts {
        if p.part_number == 0 || p.part_number > MAX_PART_NUMBER {
            return Err(EngineError::InvalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive".into(),
            ));
        }
    }
    if req.parts.windows(2).any(|w| w[0].part_number >= w[1].part_number) {
        return Err(EngineError::InvalidPartOrder);
    }
    Ok(())
}

pub(crate) async fn write_copy<B: BlobStore>(
    blobs: &B,
    body: ByteStream,
    spec: WriteSpec,
) -> Result<Written, EngineError> {
    match write_blob(blobs, body, spec).await {
        Ok(w) => Ok(w),
        Err(EngineError::Body(e)) => Err(match e.downcast::<SourceReadError>() {
            Ok(source_err) => source_err.0.into(),
            Err(e) => EngineError::Body(e),
        }),
        Err(e) => Err(e),
    }
}
