//! Faults from below: the engine over a [`BlobStore`] and a [`MetadataStore`] that fail on
//! command (errors, ENOSPC, EIO mid-read, short writes, commits whose reply is lost, latency).
//! Each fault must give the caller the error the server maps to the right S3 code, keep the
//! previous version readable, and leak nothing once the collector and the orphan sweep ran.
#![allow(clippy::unwrap_used, clippy::too_many_lines, missing_docs)]

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt as _;
use s3gate_engine::*;
use s3gate_metadata::{
    Bucket, CommitOutcome, DeleteOptions, IamChange, IamState, KeyAccess, KmsKeyRow, ListPage,
    ListQuery, MemMetadata, MetaError, MetadataStore, ObjectVersion, Part, RenameOptions,
    RetiredBlob, Upload, UploadListQuery, UploadPage, User, VersionListQuery, VersionPage,
    Versioning, WriteCondition,
};
use s3gate_protocol::{BucketName, ObjectKey, PartNumber, Preconditions, UploadId};
use s3gate_storage_backend::{
    BlobError, BlobId, BlobInfo, BlobListStream, BlobStore, BlobStream, MemBlobs,
};

// ---------------------------------------------------------------- the fault wrappers

/// The kind of error a fault injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// ENOSPC / quota: `InsufficientStorage`.
    NoSpace,
    /// EIO and other failures: `Backend`.
    Io,
    /// Temporarily unavailable: `Unavailable`.
    Unavailable,
}

fn blob_error(kind: Kind) -> BlobError {
    match kind {
        Kind::NoSpace => BlobError::InsufficientStorage,
        Kind::Io => BlobError::Backend(Box::new(std::io::Error::other("injected EIO"))),
        Kind::Unavailable => BlobError::Unavailable("injected outage".into()),
    }
}

fn meta_error(kind: Kind) -> MetaError {
    match kind {
        Kind::NoSpace | Kind::Io => MetaError::Backend("injected disk I/O error".into()),
        Kind::Unavailable => MetaError::Unavailable("injected busy database".into()),
    }
}

/// What the next blob operations do.
#[derive(Debug, Default, Clone)]
struct BlobFaults {
    /// `put` reads this many body bytes, then fails with the kind; nothing is stored.
    put_fails_after: Option<(u64, Kind)>,
    /// `put` stores only this many bytes and reports the size it stored.
    short_write: Option<u64>,
    /// `put` stores only this many bytes but reports the whole body's size (a lying device).
    short_write_unreported: Option<u64>,
    /// A read stream yields this many bytes, then fails with the kind.
    read_fails_after: Option<(u64, Kind)>,
    /// `delete` fails with EIO.
    delete_fails: bool,
    /// `list` fails with EIO.
    list_fails: bool,
    /// Every `put` waits this long before storing.
    put_latency: Option<Duration>,
}

/// [`MemBlobs`] with injectable faults.
#[derive(Clone, Default)]
struct FaultyBlobs {
    inner: Arc<MemBlobs>,
    faults: Arc<Mutex<BlobFaults>>,
}

impl FaultyBlobs {
    fn set(&self, f: impl FnOnce(&mut BlobFaults)) {
        f(&mut self.faults.lock().unwrap());
    }
    fn clear(&self) {
        *self.faults.lock().unwrap() = BlobFaults::default();
    }
    fn now(&self) -> BlobFaults {
        self.faults.lock().unwrap().clone()
    }
    fn ids(&self) -> BTreeSet<String> {
        self.inner.ids().into_iter().map(|i| i.as_str().to_owned()).collect()
    }
}

impl BlobStore for FaultyBlobs {
    async fn put(&self, mut body: ByteStream) -> Result<BlobInfo, BlobError> {
        let faults = self.now();
        if let Some(d) = faults.put_latency {
            tokio::time::sleep(d).await;
        }
        let mut data = Vec::new();
        while let Some(chunk) = body.next().await {
            data.extend_from_slice(&chunk.map_err(BlobError::Body)?);
            if let Some((after, kind)) = faults.put_fails_after
                && data.len() as u64 >= after
            {
                return Err(blob_error(kind));
            }
        }
        let whole = data.len() as u64;
        let keep = faults.short_write.or(faults.short_write_unreported).unwrap_or(whole);
        data.truncate(usize::try_from(keep).unwrap());
        let stored: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from(data))]));
        let info = self.inner.put(stored).await?;
        if faults.short_write_unreported.is_some() {
            return Ok(BlobInfo { id: info.id, size: whole });
        }
        Ok(info)
    }

    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        let stream = self.inner.get(id, offset, len).await?;
        let Some((after, kind)) = self.now().read_fails_after else { return Ok(stream) };
        // Pass `after` bytes through, then fail: the EIO of a bad sector halfway into the file.
        let mut left = after;
        let mut failed = false;
        Ok(Box::pin(stream.filter_map(move |item| {
            let out = match item {
                _ if failed => None,
                Ok(chunk) if (chunk.len() as u64) <= left => {
                    left -= chunk.len() as u64;
                    Some(Ok(chunk))
                }
                Ok(chunk) if left > 0 => {
                    let head = chunk.slice(..usize::try_from(left).unwrap());
                    left = 0;
                    Some(Ok(head))
                }
                Ok(_) => {
                    failed = true;
                    Some(Err(blob_error(kind)))
                }
                Err(e) => Some(Err(e)),
            };
            std::future::ready(out)
        })))
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        if self.now().delete_fails {
            return Err(blob_error(Kind::Io));
        }
        self.inner.delete(id).await
    }

    async fn list(&self) -> Result<BlobListStream, BlobError> {
        if self.now().list_fails {
            return Err(blob_error(Kind::Io));
        }
        self.inner.list().await
    }

    async fn cleanup_incomplete(&self, older_than: Duration) -> Result<u64, BlobError> {
        self.inner.cleanup_incomplete(older_than).await
    }
}

/// A fault on one metadata method.
#[derive(Debug, Clone, Copy)]
struct MetaFault {
    kind: Kind,
    /// The write commits, then the caller gets the error (the reply is lost: an fsync error at
    /// COMMIT after the WAL frames reached the disk, a writer thread dying after its commit).
    after_commit: bool,
}

/// [`MemMetadata`] with injectable faults per method name, and latency on writes.
#[derive(Clone, Default)]
struct FaultyMeta {
    inner: Arc<MemMetadata>,
    faults: Arc<Mutex<HashMap<&'static str, MetaFault>>>,
    write_latency: Arc<Mutex<Option<Duration>>>,
}

impl FaultyMeta {
    fn fail(&self, method: &'static str, kind: Kind, after_commit: bool) {
        self.faults.lock().unwrap().insert(method, MetaFault { kind, after_commit });
    }
    fn clear(&self) {
        self.faults.lock().unwrap().clear();
        *self.write_latency.lock().unwrap() = None;
    }
    fn fault(&self, method: &str) -> Option<MetaFault> {
        self.faults.lock().unwrap().get(method).copied()
    }
    /// Runs a write under the method's fault and the write latency.
    async fn write<T>(
        &self,
        method: &'static str,
        op: impl Future<Output = Result<T, MetaError>>,
    ) -> Result<T, MetaError> {
        let latency = *self.write_latency.lock().unwrap();
        if let Some(d) = latency {
            tokio::time::sleep(d).await;
        }
        match self.fault(method) {
            None => op.await,
            Some(MetaFault { kind, after_commit: false }) => Err(meta_error(kind)),
            Some(MetaFault { kind, after_commit: true }) => {
                op.await?;
                Err(meta_error(kind))
            }
        }
    }
    /// Runs a read under the method's fault.
    async fn read<T>(
        &self,
        method: &'static str,
        op: impl Future<Output = Result<T, MetaError>>,
    ) -> Result<T, MetaError> {
        match self.fault(method) {
            None => op.await,
            Some(f) => Err(meta_error(f.kind)),
        }
    }
}

impl MetadataStore for FaultyMeta {
    async fn create_user(&self, user: User) -> Result<(), MetaError> {
        self.write("create_user", self.inner.create_user(user)).await
    }
    async fn delete_user(&self, name: &str) -> Result<(), MetaError> {
        self.write("delete_user", self.inner.delete_user(name)).await
    }
    async fn list_users(&self) -> Result<Vec<User>, MetaError> {
        self.read("list_users", self.inner.list_users()).await
    }
    async fn user_by_access_key(&self, access_key_id: &str) -> Result<Option<User>, MetaError> {
        self.read("user_by_access_key", self.inner.user_by_access_key(access_key_id)).await
    }
    async fn key_access(&self, access_key_id: &str) -> Result<Option<KeyAccess>, MetaError> {
        self.read("key_access", self.inner.key_access(access_key_id)).await
    }
    async fn change_iam(&self, change: IamChange) -> Result<(), MetaError> {
        self.write("change_iam", self.inner.change_iam(change)).await
    }
    async fn iam_state(&self) -> Result<IamState, MetaError> {
        self.read("iam_state", self.inner.iam_state()).await
    }
    async fn create_bucket(&self, bucket: Bucket) -> Result<(), MetaError> {
        self.write("create_bucket", self.inner.create_bucket(bucket)).await
    }
    async fn bucket(&self, name: &str) -> Result<Option<Bucket>, MetaError> {
        self.read("bucket", self.inner.bucket(name)).await
    }
    async fn delete_bucket(&self, name: &str) -> Result<CommitOutcome, MetaError> {
        self.write("delete_bucket", self.inner.delete_bucket(name)).await
    }
    async fn list_buckets(&self, owner: Option<&str>) -> Result<Vec<Bucket>, MetaError> {
        self.read("list_buckets", self.inner.list_buckets(owner)).await
    }
    async fn bucket_config(&self, bucket: &str, kind: &str) -> Result<Option<String>, MetaError> {
        self.read("bucket_config", self.inner.bucket_config(bucket, kind)).await
    }
    async fn insert_kms_key(&self, key: KmsKeyRow) -> Result<(), MetaError> {
        self.write("insert_kms_key", self.inner.insert_kms_key(key)).await
    }
    async fn kms_key(&self, key_id: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        self.read("kms_key", self.inner.kms_key(key_id)).await
    }
    async fn kms_key_by_alias(&self, alias: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        self.read("kms_key_by_alias", self.inner.kms_key_by_alias(alias)).await
    }
    async fn kms_keys(&self) -> Result<Vec<KmsKeyRow>, MetaError> {
        self.read("kms_keys", self.inner.kms_keys()).await
    }
    async fn set_kms_key_enabled(&self, key_id: &str, enabled: bool) -> Result<bool, MetaError> {
        self.write("set_kms_key_enabled", self.inner.set_kms_key_enabled(key_id, enabled)).await
    }
    async fn set_kms_key_material(
        &self,
        key_id: &str,
        material: Vec<u8>,
    ) -> Result<bool, MetaError> {
        self.write("set_kms_key_material", self.inner.set_kms_key_material(key_id, material)).await
    }
    async fn put_bucket_config(
        &self,
        bucket: &str,
        kind: &str,
        document: Option<String>,
    ) -> Result<(), MetaError> {
        self.write("put_bucket_config", self.inner.put_bucket_config(bucket, kind, document)).await
    }
    async fn bucket_configs(&self, bucket: &str) -> Result<Vec<(String, String)>, MetaError> {
        self.read("bucket_configs", self.inner.bucket_configs(bucket)).await
    }
    async fn put_object(
        &self,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        self.write("put_object", self.inner.put_object(version, condition)).await
    }
    async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectVersion>, MetaError> {
        self.read("object", self.inner.object(bucket, key)).await
    }
    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectVersion>, MetaError> {
        self.read("object_version", self.inner.object_version(bucket, key, version_id)).await
    }
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        opts: DeleteOptions,
    ) -> Result<CommitOutcome, MetaError> {
        self.write("delete_object", self.inner.delete_object(bucket, key, opts)).await
    }
    async fn rename_object(
        &self,
        bucket: &str,
        source_key: &str,
        key: &str,
        opts: RenameOptions,
    ) -> Result<CommitOutcome, MetaError> {
        self.write("rename_object", self.inner.rename_object(bucket, source_key, key, opts)).await
    }
    async fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<(), MetaError> {
        self.write("set_bucket_versioning", self.inner.set_bucket_versioning(name, versioning))
            .await
    }
    async fn list_object_versions(
        &self,
        bucket: &str,
        query: &VersionListQuery,
    ) -> Result<VersionPage, MetaError> {
        self.read("list_object_versions", self.inner.list_object_versions(bucket, query)).await
    }
    async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<String, MetaError> {
        self.write("set_object_tags", self.inner.set_object_tags(bucket, key, version_id, tags))
            .await
    }
    async fn encrypted_versions(
        &self,
        after: Option<(&str, &str, &str)>,
        limit: u32,
    ) -> Result<Vec<s3gate_metadata::EncryptedVersion>, MetaError> {
        self.read("encrypted_versions", self.inner.encrypted_versions(after, limit)).await
    }
    async fn replace_encryption(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        expected: &str,
        record: String,
    ) -> Result<bool, MetaError> {
        self.write(
            "replace_encryption",
            self.inner.replace_encryption(bucket, key, version_id, expected, record),
        )
        .await
    }
    async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> Result<String, MetaError> {
        self.write("set_object_acl", self.inner.set_object_acl(bucket, key, version_id, acl)).await
    }
    async fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: s3gate_metadata::LockChange,
        now: std::time::SystemTime,
    ) -> Result<String, MetaError> {
        let inner = self.inner.set_object_lock(bucket, key, version_id, change, now);
        self.write("set_object_lock", inner).await
    }
    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage, MetaError> {
        self.read("list_objects", self.inner.list_objects(bucket, query)).await
    }
    async fn create_upload(&self, upload: Upload) -> Result<(), MetaError> {
        self.write("create_upload", self.inner.create_upload(upload)).await
    }
    async fn upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>, MetaError> {
        self.read("upload", self.inner.upload(bucket, upload_id)).await
    }
    async fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: Part,
    ) -> Result<CommitOutcome, MetaError> {
        self.write("put_part", self.inner.put_part(bucket, upload_id, part)).await
    }
    async fn list_parts(
        &self,
        bucket: &str,
        upload_id: &str,
        after: u32,
        max: u32,
    ) -> Result<(Vec<Part>, bool), MetaError> {
        self.read("list_parts", self.inner.list_parts(bucket, upload_id, after, max)).await
    }
    async fn list_uploads(
        &self,
        bucket: &str,
        query: &UploadListQuery,
    ) -> Result<UploadPage, MetaError> {
        self.read("list_uploads", self.inner.list_uploads(bucket, query)).await
    }
    async fn complete_upload(
        &self,
        upload_id: &str,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        self.write("complete_upload", self.inner.complete_upload(upload_id, version, condition))
            .await
    }
    async fn abort_upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> Result<CommitOutcome, MetaError> {
        self.write("abort_upload", self.inner.abort_upload(bucket, upload_id)).await
    }
    async fn retired_blobs(
        &self,
        before: SystemTime,
        limit: u32,
    ) -> Result<Vec<RetiredBlob>, MetaError> {
        self.read("retired_blobs", self.inner.retired_blobs(before, limit)).await
    }
    async fn forget_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        self.write("forget_blobs", self.inner.forget_blobs(blob_ids)).await
    }
    async fn renew_leases(
        &self,
        holder: &str,
        blob_ids: &[String],
        expires: std::time::SystemTime,
    ) -> Result<(), MetaError> {
        self.write("renew_leases", self.inner.renew_leases(holder, blob_ids, expires)).await
    }
    async fn known_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        self.read("known_blobs", self.inner.known_blobs(blob_ids)).await
    }
}

// ---------------------------------------------------------------- helpers

type FaultyEngine = Engine<FaultyMeta, FaultyBlobs>;

struct Rig {
    e: FaultyEngine,
    meta: FaultyMeta,
    blobs: FaultyBlobs,
}

impl Rig {
    async fn new() -> Rig {
        let meta = FaultyMeta::default();
        let blobs = FaultyBlobs::default();
        let mut config = EngineConfig::new("us-east-1");
        config.min_part_size = 5;
        config.gc_grace = Duration::ZERO;
        let e = Engine::new(meta.clone(), blobs.clone(), config);
        e.create_bucket(&alice(), &bn("bkt"), None).await.unwrap();
        Rig { e, meta, blobs }
    }

    fn clear(&self) {
        self.meta.clear();
        self.blobs.clear();
    }

    async fn put(&self, k: &str, data: &[u8]) -> Result<WriteOutput, EngineError> {
        self.e.put_object(&alice(), put_req(k, data.len()), body(data)).await
    }

    /// The whole object, or the error that ended its body (or, for a one-blob object, that
    /// failed its opening before the response head: `Backend`).
    async fn get(&self, k: &str) -> Result<Vec<u8>, BlobError> {
        let out = match self.e.get_object(&alice(), &get_req(k), false).await {
            Ok(out) => out,
            Err(EngineError::Internal(e)) => return Err(BlobError::Backend(e)),
            Err(e) => panic!("GET {k}: {e:?}"),
        };
        let mut data = Vec::new();
        let mut body = out.body;
        while let Some(chunk) = body.next().await {
            data.extend_from_slice(&chunk?);
        }
        assert_eq!(data.len() as u64, out.content_length, "a body that ends Ok is whole");
        Ok(data)
    }

    /// Blob ids that committed versions and uploads in progress reference.
    async fn referenced(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let q = ListQuery { max_keys: 1000, ..Default::default() };
        for entry in self.meta.inner.list_objects("bkt", &q).await.unwrap().entries {
            if let s3gate_metadata::ListEntry::Object(o) = entry {
                let v = self.meta.inner.object("bkt", &o.key).await.unwrap().unwrap();
                out.extend(v.parts.into_iter().map(|p| p.blob_id));
            }
        }
        let uq = UploadListQuery { max_uploads: 1000, ..Default::default() };
        for entry in self.meta.inner.list_uploads("bkt", &uq).await.unwrap().entries {
            if let s3gate_metadata::UploadListEntry::Upload(u) = entry {
                let (parts, _) =
                    self.meta.inner.list_parts("bkt", &u.upload_id, 0, 10_000).await.unwrap();
                out.extend(parts.into_iter().map(|p| p.blob_id));
            }
        }
        out
    }

    /// With faults cleared, the collector and a zero-grace sweep leave exactly the referenced
    /// blobs.
    async fn assert_no_leak(&self) {
        self.clear();
        self.e.collect_garbage().await.unwrap();
        self.e.sweep_orphans_at_rest().await.unwrap();
        assert_eq!(self.blobs.ids(), self.referenced().await, "stored blobs == referenced blobs");
    }
}

fn alice() -> Caller {
    Caller { user: "alice".into(), is_root: false, authorized: false }
}
fn bn(s: &str) -> BucketName {
    BucketName::parse(s).unwrap()
}
fn key(s: &str) -> ObjectKey {
    ObjectKey::parse(s.to_owned()).unwrap()
}
fn body(data: &[u8]) -> ByteStream {
    let chunks: Vec<Result<Bytes, BoxError>> =
        data.chunks(4096).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(futures_util::stream::iter(chunks))
}
fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 256).unwrap().wrapping_mul(31).wrapping_add(seed)).collect()
}
fn put_req(k: &str, len: usize) -> PutObjectRequest {
    PutObjectRequest {
        lock: s3gate_protocol::LockHeaders::default(),
        bucket: bn("bkt"),
        key: key(k),
        headers: vec![],
        tags: vec![],
        integrity: BodyIntegrity { length: Some(len as u64), ..Default::default() },
        condition: WriteCondition::None,
        encryption: SseRequest::Default,
        ownership: s3gate_engine::VersionOwnership::default(),
        storage_class: None,
    }
}
fn get_req(k: &str) -> GetObjectRequest {
    GetObjectRequest {
        bucket: bn("bkt"),
        key: key(k),
        range: None,
        part_number: None,
        conditions: Preconditions::default(),
        version: VersionRef::Current,
        customer_key: None,
    }
}

async fn create_upload(e: &FaultyEngine, k: &str) -> UploadId {
    let req = CreateUploadRequest {
        lock: s3gate_protocol::LockHeaders::default(),
        ownership: s3gate_engine::VersionOwnership::default(),
        storage_class: None,
        bucket: bn("bkt"),
        key: key(k),
        headers: vec![],
        tags: vec![],
        checksum_algorithm: None,
        checksum_type: None,
        encryption: SseRequest::Default,
    };
    e.create_upload(&alice(), req).await.unwrap()
}

async fn upload_part(
    e: &FaultyEngine,
    k: &str,
    id: &UploadId,
    n: u32,
    data: &[u8],
) -> Result<PartOutput, EngineError> {
    let req = UploadPartRequest {
        bucket: bn("bkt"),
        key: key(k),
        upload_id: id.clone(),
        part_number: PartNumber::from_u32(n).unwrap(),
        integrity: BodyIntegrity { length: Some(data.len() as u64), ..Default::default() },
        customer_key: None,
    };
    e.upload_part(&alice(), req, body(data)).await
}

fn complete_req(k: &str, id: &UploadId, parts: &[(u32, &PartOutput)]) -> CompleteUploadRequest {
    CompleteUploadRequest {
        bucket: bn("bkt"),
        key: key(k),
        upload_id: id.clone(),
        parts: parts
            .iter()
            .map(|(n, p)| CompletePart {
                part_number: *n,
                etag: p.etag.as_str().to_owned(),
                checksums: vec![],
            })
            .collect(),
        condition: WriteCondition::None,
        expected_checksum: None,
    }
}

// ---------------------------------------------------------------- blob write faults

#[tokio::test]
async fn put_failures_map_and_keep_the_old_version() {
    let rig = Rig::new().await;
    let old = data(20_000, 1);
    rig.put("k", &old).await.unwrap();
    let new = data(20_000, 2);
    // ENOSPC before the first byte and halfway; EIO; an unavailable backend.
    for (after, kind) in
        [(0, Kind::NoSpace), (10_000, Kind::NoSpace), (10_000, Kind::Io), (4096, Kind::Unavailable)]
    {
        rig.blobs.set(|f| f.put_fails_after = Some((after, kind)));
        let err = rig.put("k", &new).await.unwrap_err();
        let ok = match kind {
            Kind::NoSpace => matches!(err, EngineError::InsufficientStorage),
            Kind::Io => matches!(err, EngineError::Internal(_)),
            Kind::Unavailable => matches!(err, EngineError::Unavailable(_)),
        };
        assert!(ok, "{kind:?} after {after} bytes gave {err:?}");
        rig.blobs.clear();
        assert_eq!(rig.get("k").await.unwrap(), old, "{kind:?}: the old version stays readable");
        // A new key written under the fault does not appear.
        rig.blobs.set(|f| f.put_fails_after = Some((after, kind)));
        rig.put("fresh", &new).await.unwrap_err();
        rig.blobs.clear();
        let missing = rig.e.get_object(&alice(), &get_req("fresh"), false).await;
        assert!(matches!(missing, Err(EngineError::NoSuchKey)));
        rig.assert_no_leak().await;
    }
}

#[tokio::test]
async fn part_upload_failures_keep_the_upload_intact() {
    let rig = Rig::new().await;
    let id = create_upload(&rig.e, "mp").await;
    let p1 = upload_part(&rig.e, "mp", &id, 1, &data(100, 1)).await.unwrap();
    rig.blobs.set(|f| f.put_fails_after = Some((50, Kind::NoSpace)));
    let err = upload_part(&rig.e, "mp", &id, 1, &data(100, 9)).await.unwrap_err();
    assert!(matches!(err, EngineError::InsufficientStorage), "{err:?}");
    rig.blobs.clear();
    // Part 1 is still the first upload's.
    let out = rig.e.complete_upload(&alice(), complete_req("mp", &id, &[(1, &p1)])).await.unwrap();
    assert_eq!(out.etag.part_count(), Some(1));
    assert_eq!(rig.get("mp").await.unwrap(), data(100, 1));
    rig.assert_no_leak().await;
}

#[tokio::test]
async fn reported_short_write_is_refused() {
    // Regression: the engine took the size the backend reported for the version, so a short
    // write produced an object whose length disagreed with its ETag and checksum.
    let rig = Rig::new().await;
    let old = data(10_000, 1);
    rig.put("k", &old).await.unwrap();
    rig.blobs.set(|f| f.short_write = Some(6000));
    let err = rig.put("k", &data(10_000, 2)).await.unwrap_err();
    assert!(matches!(err, EngineError::Internal(_)), "{err:?}");
    let id = create_upload(&rig.e, "mp").await;
    let err = upload_part(&rig.e, "mp", &id, 1, &data(10_000, 3)).await.unwrap_err();
    assert!(matches!(err, EngineError::Internal(_)), "{err:?}");
    rig.blobs.clear();
    assert_eq!(rig.get("k").await.unwrap(), old);
    let (parts, _) = rig.meta.inner.list_parts("bkt", id.as_str(), 0, 100).await.unwrap();
    assert!(parts.is_empty(), "no part recorded from a short write");
    rig.assert_no_leak().await;
}

#[tokio::test]
async fn unreported_short_write_fails_the_read_instead_of_shortening_it() {
    let rig = Rig::new().await;
    rig.blobs.set(|f| f.short_write_unreported = Some(3000));
    rig.put("k", &data(10_000, 1)).await.unwrap();
    rig.blobs.clear();
    let err = rig.get("k").await.unwrap_err();
    assert!(matches!(err, BlobError::InvalidRange | BlobError::Backend(_)), "{err:?}");
}

// ---------------------------------------------------------------- blob read faults

#[tokio::test]
async fn eio_mid_read_ends_the_body_with_an_error() {
    let rig = Rig::new().await;
    // A simple object larger than one read frame, and a multipart object read with read-ahead.
    let big = data(3 * 1024 * 1024 + 17, 4);
    rig.put("big", &big).await.unwrap();
    let id = create_upload(&rig.e, "mp").await;
    let p1 = upload_part(&rig.e, "mp", &id, 1, &data(300_000, 5)).await.unwrap();
    let p2 = upload_part(&rig.e, "mp", &id, 2, &data(300_000, 6)).await.unwrap();
    let p3 = upload_part(&rig.e, "mp", &id, 3, &data(1000, 7)).await.unwrap();
    rig.e
        .complete_upload(&alice(), complete_req("mp", &id, &[(1, &p1), (2, &p2), (3, &p3)]))
        .await
        .unwrap();
    for k in ["big", "mp"] {
        for (after, kind) in
            [(0, Kind::Io), (1, Kind::Io), (150_000, Kind::Io), (0, Kind::Unavailable)]
        {
            rig.blobs.set(|f| f.read_fails_after = Some((after, kind)));
            let out = rig.e.get_object(&alice(), &get_req(k), false).await.unwrap();
            let mut body = out.body;
            let mut got = 0u64;
            let mut ended_with_error = false;
            while let Some(chunk) = body.next().await {
                if let Ok(c) = chunk {
                    got += c.len() as u64;
                } else {
                    ended_with_error = true;
                    break;
                }
            }
            assert!(ended_with_error, "{k}: a failed read must end the body with Err");
            assert!(got < out.content_length, "{k}: {got} bytes before the error");
            assert!(body.next().await.is_none(), "{k}: nothing follows the error");
        }
        rig.blobs.clear();
    }
    assert_eq!(rig.get("big").await.unwrap(), big, "readable again once the fault is gone");
}

// ---------------------------------------------------------------- metadata faults

#[tokio::test]
async fn failed_commits_keep_the_old_version_and_leak_nothing() {
    let rig = Rig::new().await;
    let old = data(5000, 1);
    rig.put("k", &old).await.unwrap();
    for kind in [Kind::Unavailable, Kind::Io] {
        rig.meta.fail("put_object", kind, false);
        let err = rig.put("k", &data(5000, 2)).await.unwrap_err();
        let ok = match kind {
            Kind::Unavailable => matches!(err, EngineError::Unavailable(_)),
            _ => matches!(err, EngineError::Internal(_)),
        };
        assert!(ok, "{kind:?}: {err:?}");
        rig.meta.clear();
        assert_eq!(rig.get("k").await.unwrap(), old);
        // The blob of the failed write is an orphan the sweep removes.
        rig.assert_no_leak().await;
    }
    // A read failing before the write: nothing is stored at all.
    rig.meta.fail("bucket", Kind::Unavailable, false);
    let err = rig.put("k", &data(5000, 3)).await.unwrap_err();
    assert!(matches!(err, EngineError::Unavailable(_)), "{err:?}");
    rig.meta.clear();
    assert_eq!(rig.get("k").await.unwrap(), old);
    rig.assert_no_leak().await;
}

#[tokio::test]
async fn a_commit_whose_reply_is_lost_keeps_its_blob() {
    // Regression: on any metadata error the engine deleted the new blob, but an error at COMMIT
    // (fsync failure after the WAL frames were written, a writer that died after committing)
    // does not mean nothing was committed: the version could name a deleted blob.
    let rig = Rig::new().await;
    rig.put("k", &data(5000, 1)).await.unwrap();
    let new = data(5000, 2);
    rig.meta.fail("put_object", Kind::Io, true);
    let err = rig.put("k", &new).await.unwrap_err();
    assert!(matches!(err, EngineError::Internal(_)), "{err:?}");
    rig.meta.clear();
    assert_eq!(rig.get("k").await.unwrap(), new, "the committed version reads back whole");

    let id = create_upload(&rig.e, "mp").await;
    rig.meta.fail("put_part", Kind::Unavailable, true);
    let err = upload_part(&rig.e, "mp", &id, 1, &data(700, 3)).await.unwrap_err();
    assert!(matches!(err, EngineError::Unavailable(_)), "{err:?}");
    rig.meta.clear();
    let (parts, _) = rig.meta.inner.list_parts("bkt", id.as_str(), 0, 100).await.unwrap();
    assert_eq!(parts.len(), 1);
    let p1 = PartOutput {
        etag: s3gate_protocol::ETag::parse_quoted_or_not(&parts[0].etag),
        checksum: None,
        last_modified: parts[0].last_modified,
        source_version_id: None,
        encryption: None,
    };
    rig.e.complete_upload(&alice(), complete_req("mp", &id, &[(1, &p1)])).await.unwrap();
    assert_eq!(rig.get("mp").await.unwrap(), data(700, 3));
    rig.assert_no_leak().await;
    assert_eq!(rig.get("k").await.unwrap(), new, "the sweep spared the committed blob");
}

#[tokio::test]
async fn a_failed_complete_leaves_the_upload_in_progress() {
    let rig = Rig::new().await;
    rig.put("mp", &data(100, 1)).await.unwrap();
    let id = create_upload(&rig.e, "mp").await;
    let p1 = upload_part(&rig.e, "mp", &id, 1, &data(100, 2)).await.unwrap();
    let p2 = upload_part(&rig.e, "mp", &id, 2, &data(50, 3)).await.unwrap();
    for kind in [Kind::Unavailable, Kind::Io] {
        rig.meta.fail("complete_upload", kind, false);
        let err = rig
            .e
            .complete_upload(&alice(), complete_req("mp", &id, &[(1, &p1), (2, &p2)]))
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::Unavailable(_) | EngineError::Internal(_)), "{err:?}");
        rig.meta.clear();
        assert_eq!(rig.get("mp").await.unwrap(), data(100, 1), "the old object is untouched");
        let (parts, _) = rig.meta.inner.list_parts("bkt", id.as_str(), 0, 100).await.unwrap();
        assert_eq!(parts.len(), 2, "{kind:?}: the upload keeps both parts");
        rig.assert_no_leak().await;
    }
    // The client's retry completes it.
    rig.e.complete_upload(&alice(), complete_req("mp", &id, &[(1, &p1), (2, &p2)])).await.unwrap();
    assert_eq!(rig.get("mp").await.unwrap(), [data(100, 2), data(50, 3)].concat());
    rig.assert_no_leak().await;
}

#[tokio::test]
async fn delete_failures_change_nothing() {
    let rig = Rig::new().await;
    rig.put("k", &data(100, 1)).await.unwrap();
    rig.meta.fail("delete_object", Kind::Io, false);
    let err = rig
        .e
        .delete_object(&alice(), &bn("bkt"), &key("k"), &VersionRef::Current, WriteCondition::None)
        .await;
    assert!(matches!(err, Err(EngineError::Internal(_))), "{err:?}");
    let many = rig.e.delete_objects(&alice(), &bn("bkt"), vec![("k".into(), None)]).await.unwrap();
    assert!(matches!(many[0].2, Err(EngineError::Internal(_))), "{:?}", many[0].2);
    rig.meta.clear();
    assert_eq!(rig.get("k").await.unwrap(), data(100, 1));
    rig.assert_no_leak().await;
}

// ---------------------------------------------------------------- collector and sweep faults

#[tokio::test]
async fn collector_faults_never_lose_live_data_and_recover() {
    let rig = Rig::new().await;
    for i in 0..5u8 {
        rig.put("k", &data(1000, i)).await.unwrap();
    }
    rig.put("other", &data(1000, 99)).await.unwrap();
    // Forgetting fails: nothing is deleted.
    rig.meta.fail("forget_blobs", Kind::Io, false);
    assert!(rig.e.collect_garbage().await.is_err());
    assert_eq!(rig.blobs.ids().len(), 6);
    rig.meta.clear();
    // Forgotten, but the deletes fail: the collector reports no deletion and the blobs become
    // orphans for the sweep.
    rig.blobs.set(|f| f.delete_fails = true);
    let report = rig.e.collect_garbage().await.unwrap();
    assert_eq!(report.deleted, 0);
    assert_eq!(rig.blobs.ids().len(), 6);
    // The sweep cannot delete either while deletes fail, nor list while listing fails.
    assert_eq!(rig.e.sweep_orphans_at_rest().await.unwrap().orphans_deleted, 0);
    rig.blobs.set(|f| f.list_fails = true);
    assert!(rig.e.sweep_orphans_at_rest().await.is_err());
    // The metadata cannot tell which blobs it knows: the sweep must not guess.
    rig.blobs.clear();
    rig.meta.fail("known_blobs", Kind::Unavailable, false);
    assert!(rig.e.sweep_orphans_at_rest().await.is_err());
    assert_eq!(rig.blobs.ids().len(), 6);
    assert_eq!(rig.get("k").await.unwrap(), data(1000, 4));
    assert_eq!(rig.get("other").await.unwrap(), data(1000, 99));
    rig.assert_no_leak().await;
    assert_eq!(rig.blobs.ids().len(), 2);
}

// ---------------------------------------------------------------- latency and cancellation

#[tokio::test]
async fn slow_stores_and_cancelled_writes_leave_nothing_visible() {
    let rig = Rig::new().await;
    let old = data(3000, 1);
    rig.put("k", &old).await.unwrap();
    // The client goes away while the metadata commit is slow (the request future is dropped).
    *rig.meta.write_latency.lock().unwrap() = Some(Duration::from_secs(5));
    let new = data(3000, 2);
    let slow = rig.put("k", &new);
    assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err());
    rig.meta.clear();
    assert_eq!(rig.get("k").await.unwrap(), old);
    // ... and while the blob write is slow.
    rig.blobs.set(|f| f.put_latency = Some(Duration::from_secs(5)));
    let new = data(3000, 3);
    let slow = rig.put("k", &new);
    assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err());
    rig.blobs.clear();
    assert_eq!(rig.get("k").await.unwrap(), old);
    // A slow but patient write succeeds.
    *rig.meta.write_latency.lock().unwrap() = Some(Duration::from_millis(20));
    rig.blobs.set(|f| f.put_latency = Some(Duration::from_millis(20)));
    rig.put("k", &data(3000, 4)).await.unwrap();
    rig.assert_no_leak().await;
    assert_eq!(rig.get("k").await.unwrap(), data(3000, 4));
}
