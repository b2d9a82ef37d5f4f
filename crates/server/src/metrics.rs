//! Instrumentation: the per-request access log, counters and span (`crate::spans`), timed
//! wrappers around the two stores, and the operations endpoints (`/metrics`, `/health/live`,
//! `/health/ready`).
//!
//! The counters themselves live in the dependency-free `s3gate-metrics` crate so that any
//! crate (the S3 proxy backend counting upstream retries, say) can bump them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use s3gate_metadata::{
    Bucket, CommitOutcome, DeleteOptions, IamChange, IamState, KeyAccess, KmsKeyRow, ListPage,
    ListQuery, MetaError, MetadataStore, ObjectVersion, Part, RenameOptions, RetiredBlob, Upload,
    UploadListQuery, UploadPage, User, VersionListQuery, VersionPage, Versioning, WriteCondition,
};
use s3gate_metrics::{Counter, Family, GaugeGuard, Histogram, global};
use s3gate_storage_backend::{
    BlobError, BlobId, BlobInfo, BlobListStream, BlobStore, BlobStream, BoxError, ByteStream,
};
use tracing::{Instrument as _, Span};

use crate::ResponseBody;

// ---------------------------------------------------------------------------------------------
// Request bodies: count bytes received.

/// hyper's request body, counting the bytes read into the process-wide counter and the
/// request's own (for its access-log line).
pub(crate) struct CountedIncoming {
    inner: Incoming,
    counted: Arc<AtomicU64>,
}

impl CountedIncoming {
    pub(crate) fn new(inner: Incoming, counted: Arc<AtomicU64>) -> Self {
        CountedIncoming { inner, counted }
    }
}

impl Body for CountedIncoming {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let n = data.len() as u64;
            self.counted.fetch_add(n, Ordering::Relaxed);
            global().received_bytes.add(n);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

// ---------------------------------------------------------------------------------------------
// Responses: the access log, written once the response body ended (or was dropped).

/// What the access-log line says about a request; filled in as the request is understood.
#[derive(Debug, Default)]
pub(crate) struct AccessInfo {
    pub(crate) operation: &'static str,
    pub(crate) user: String,
    pub(crate) bucket: String,
    pub(crate) key: String,
}

/// A response body that counts the bytes it sends, keeps the request counted as in flight
/// until it ends, and writes the request's one access-log event when it is dropped (hyper drops
/// it after the last byte, or when the client goes away).
pub(crate) struct LoggedBody {
    inner: ResponseBody,
    sent: u64,
    /// The response's length, when its head declares one: hyper stops polling once it is
    /// reached, so the end of the stream is never observed.
    expected: Option<u64>,
    done: bool,
    line: AccessLine,
    _in_flight: GaugeGuard<'static>,
}

/// The fields of the access-log event, and the request's span (`spans::request`), which
/// closes with it.
pub(crate) struct AccessLine {
    pub(crate) request_id: String,
    pub(crate) info: AccessInfo,
    pub(crate) method: http::Method,
    pub(crate) status: u16,
    pub(crate) received: Arc<AtomicU64>,
    pub(crate) started: Instant,
    pub(crate) span: Span,
}

impl LoggedBody {
    pub(crate) fn new(
        inner: ResponseBody,
        expected: Option<u64>,
        line: AccessLine,
        in_flight: GaugeGuard<'static>,
    ) -> Self {
        LoggedBody { inner, sent: 0, expected, done: false, line, _in_flight: in_flight }
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Blob reads that a streamed body starts are children of the request's span.
        let _entered = self.line.span.clone().entered();
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    self.sent += n;
                    global().sent_bytes.add(n);
                }
            }
            Poll::Ready(None) => self.done = true,
            // hyper aborts the connection after a body error, so the client sees a truncated
            // response, never a short one that looks complete; say why, with the request id.
            Poll::Ready(Some(Err(e))) => tracing::error!(
                request_id = %self.line.request_id,
                op = self.line.info.operation,
                cause = %crate::errors::chain(&**e),
                "response body failed; aborting the connection"
            ),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        let complete = self.done || self.inner.is_end_stream() || self.expected == Some(self.sent);
        self.line.emit(self.sent, complete);
    }
}

impl AccessLine {
    /// Writes the access-log event, and records the same facts on the request's span, which
    /// ends here.
    fn emit(&self, sent: u64, complete: bool) {
        let received = self.received.load(Ordering::Relaxed);
        let info = &self.info;
        crate::spans::record_request(
            &self.span,
            info.operation,
            &info.bucket,
            &info.key,
            &info.user,
        );
        crate::spans::record_response(&self.span, self.status, received, sent, complete);
        // An exporter takes a span's end time from its last exit: this moment.
        let _entered = self.span.enter();
        tracing::info!(
            target: "s3gate::access",
            request_id = %self.request_id,
            user = %self.info.user,
            operation = self.info.operation,
            bucket = %self.info.bucket,
            key = %self.info.key,
            method = %self.method,
            status = self.status,
            bytes_received = received,
            bytes_sent = sent,
            complete,
            duration_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
    }
}

/// Status logged and counted for a request whose client went away before the response head
/// (nginx's convention; S3 has none).
pub(crate) const CLIENT_CLOSED: u16 = 499;

/// The access line of a request still being answered. If the request's future is dropped
/// before a response exists (the client closed the connection mid-upload, say), dropping this
/// still writes the request's one access-log event, with status 499, and counts it.
pub(crate) struct PendingLine {
    pub(crate) line: AccessLine,
    armed: bool,
}

impl PendingLine {
    pub(crate) fn new(line: AccessLine) -> Self {
        PendingLine { line, armed: true }
    }

    /// The request got a response with `status`: the response body logs from here on.
    pub(crate) fn finish(mut self, status: u16) -> AccessLine {
        self.armed = false;
        AccessLine {
            request_id: std::mem::take(&mut self.line.request_id),
            info: std::mem::take(&mut self.line.info),
            method: self.line.method.clone(),
            status,
            received: Arc::clone(&self.line.received),
            started: self.line.started,
            span: std::mem::replace(&mut self.line.span, Span::none()),
        }
    }
}

impl Drop for PendingLine {
    fn drop(&mut self) {
        if self.armed {
            if let Ok(status) = StatusCode::from_u16(CLIENT_CLOSED) {
                record_request(self.line.info.operation, status, self.line.started);
            }
            self.line.emit(0, false);
        }
    }
}

/// Counts a request once its response head is ready.
pub(crate) fn record_request(operation: &'static str, status: StatusCode, started: Instant) {
    let m = global();
    m.requests.with(&[operation, status.as_str()]).inc();
    m.request_duration.with(&[operation]).observe_duration(started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Store wrappers: latency and failure counts per call.

fn timed_meta<T>(
    op: &'static str,
    fut: impl Future<Output = Result<T, MetaError>>,
) -> impl Future<Output = Result<T, MetaError>> {
    let m = global();
    let failed = |e: &MetaError| matches!(e, MetaError::Unavailable(_) | MetaError::Backend(_));
    let metrics = (&m.metadata_duration, &m.metadata_errors);
    timed(op, crate::spans::metadata(op), metrics, failed, fut)
}

fn timed_blob<T>(
    op: &'static str,
    fut: impl Future<Output = Result<T, BlobError>>,
) -> impl Future<Output = Result<T, BlobError>> {
    let m = global();
    let failed =
        |e: &BlobError| matches!(e, BlobError::Unavailable(_) | BlobError::InsufficientStorage);
    let metrics = (&m.backend_duration, &m.backend_errors);
    timed(op, crate::spans::blob(op), metrics, failed, fut)
}

/// Runs one store call inside its `span` (made when the store method is called, not when the
/// future is first polled, so its parent is the caller's span even if the future is polled
/// elsewhere), records its latency in `duration{op}`, and counts a store failure (`failed`:
/// not the caller's mistake) in `errors{op}` and on the span.
async fn timed<T, E: std::error::Error + 'static>(
    op: &'static str,
    span: Span,
    (duration, errors): (&'static Family<Histogram>, &'static Family<Counter>),
    failed: fn(&E) -> bool,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let r = fut.instrument(span.clone()).await;
    duration.with(&[op]).observe_duration(started.elapsed());
    if let Err(e) = &r
        && failed(e)
    {
        errors.with(&[op]).inc();
        crate::spans::record_failure(&span, e);
    }
    r
}

/// A [`MetadataStore`] that records each call's latency in
/// `s3gate_metadata_duration_seconds{operation}` and store failures in
/// `s3gate_metadata_errors_total{operation}`, and makes each call a `metadata.<op>` span
/// (`crate::spans`).
#[derive(Debug)]
pub struct TimedMetadata<M>(M);

impl<M> TimedMetadata<M> {
    /// Wraps `inner`.
    pub fn new(inner: M) -> Self {
        TimedMetadata(inner)
    }
    /// The wrapped store.
    pub fn inner(&self) -> &M {
        &self.0
    }
}

impl<M: MetadataStore> MetadataStore for TimedMetadata<M> {
    fn create_user(&self, user: User) -> impl Future<Output = Result<(), MetaError>> + Send {
        timed_meta("create_user", self.0.create_user(user))
    }
    fn delete_user(&self, name: &str) -> impl Future<Output = Result<(), MetaError>> + Send {
        timed_meta("delete_user", self.0.delete_user(name))
    }
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, MetaError>> + Send {
        timed_meta("list_users", self.0.list_users())
    }
    fn user_by_access_key(
        &self,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<User>, MetaError>> + Send {
        timed_meta("user_by_access_key", self.0.user_by_access_key(access_key_id))
    }
    fn key_access(
        &self,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<KeyAccess>, MetaError>> + Send {
        timed_meta("key_access", self.0.key_access(access_key_id))
    }
    fn change_iam(&self, change: IamChange) -> impl Future<Output = Result<(), MetaError>> + Send {
        timed_meta("change_iam", self.0.change_iam(change))
    }
    fn iam_state(&self) -> impl Future<Output = Result<IamState, MetaError>> + Send {
        timed_meta("iam_state", self.0.iam_state())
    }
    fn create_bucket(&self, bucket: Bucket) -> impl Future<Output = Result<(), MetaError>> + Send {
        timed_meta("create_bucket", self.0.create_bucket(bucket))
    }
    fn bucket(&self, name: &str) -> impl Future<Output = Result<Option<Bucket>, MetaError>> + Send {
        timed_meta("bucket", self.0.bucket(name))
    }
    fn delete_bucket(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send {
        timed_meta("delete_bucket", self.0.delete_bucket(name))
    }
    fn list_buckets(
        &self,
        owner: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Bucket>, MetaError>> + Send {
        timed_meta("list_buckets", self.0.list_buckets(owner))
    }
    fn bucket_config(
        &self,
        bucket: &str,
        kind: &str,
    ) -> impl Future<Output = Result<Option<String>, MetaError>> + Send {
        timed_meta("bucket_config", self.0.bucket_config(bucket, kind))
    }
    fn insert_kms_key(&self, key: KmsKeyRow) -> impl Future<Output = Result<(), MetaError>> + Send {
        timed_meta("insert_kms_key", self.0.insert_kms_key(key))
    }
    fn kms_key(
        &self,
        key_id: &str,
    ) -> impl Future<Output = Result<Option<KmsKeyRow>, MetaError>> + Send {
        timed_meta("kms_key", self.0.kms_key(key_id))
    }
    fn kms_key_by_alias(
        &self,
        alias: &str,
    ) -> impl Future<Output = Result<Option<KmsKeyRow>, MetaError>> + Send {
        timed_meta("kms_key_by_alias", self.0.kms_key_by_alias(alias))
    }
    fn kms_keys(&self) -> impl Future<Output = Result<Vec<KmsKeyRow>, MetaError>> + Send {
        timed_meta("kms_keys", self.0.kms_keys())
    }
    fn set_kms_key_enabled(
        &self,
        key_id: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<bool, MetaError>> + Send {
        timed_meta("set_kms_key_enabled", self.0.set_kms_key_enabled(key_id, enabled))
    }
    fn set_kms_key_material(
        &self,
        key_id: &str,
        material: Vec<u8>,
    ) -> impl Future<Output = Result<bool, MetaError>> + Send {
        timed_meta("set_kms_key_material", self.0.set_kms_key_material(key_id, material))
    }
    fn put_bucket_config(
        &self,
        bucket: &str,
        kind: &str,
        document: Option<String>,
    ) -> impl Future<Output = Result<(), MetaError>> + Send {
        timed_meta("put_bucket_config", self.0.put_bucket_config(bucket, kind, document))
    }
    fn bucket_configs(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, MetaError>> + Send {
        timed_meta("bucket_configs", self.0.bucket_configs(bucket))
    }
    fn put_object(
        &self,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send {
        timed_meta("put_object", self.0.put_object(version, condition))
    }
    fn object(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectVersion>, MetaError>> + Send {
        timed_meta("object", self.0.object(bucket, key))
    }
    fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> impl Future<Output = Result<String, MetaError>> + Send {
        timed_meta("set_object_tags", self.0.set_object_tags(bucket, key, version_id, tags))
    }
    fn encrypted_versions(
        &self,
        after: Option<(&str, &str, &str)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<s3gate_metadata::EncryptedVersion>, MetaError>> + Send
    {
        timed_meta("encrypted_versions", self.0.encrypted_versions(after, limit))
    }
    fn replace_encryption(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        expected: &str,
        record: String,
    ) -> impl Future<Output = Result<bool, MetaError>> + Send {
        timed_meta(
            "replace_encryption",
            self.0.replace_encryption(bucket, key, version_id, expected, record),
        )
    }
    fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> impl Future<Output = Result<String, MetaError>> + Send {
        timed_meta("set_object_acl", self.0.set_object_acl(bucket, key, version_id, acl))
    }
    fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: s3gate_metadata::LockChange,
        now: std::time::SystemTime,
    ) -> impl Future<Output = Result<String, MetaError>> + Send {
        timed_meta("set_object_lock", self.0.set_object_lock(bucket, key, version_id, change, now))
    }
    fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<Option<ObjectVersion>, MetaError>> + Send {
        timed_meta("object_version", self.0.object_version(bucket, key, version_id))
    }
    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        opts: DeleteOptions,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send {
        timed_meta("delete_object", self.0.delete_object(bucket, key, opts))
    }
    fn rename_object(
        &self,
        bucket: &str,
        source_key: &str,
        key: &str,
        opts: RenameOptions,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send {
        timed_meta("rename_object", self.0.rename_object(bucket, source_key, key, opts))
    }
    fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> impl Future<Output = Result<(), MetaError>> + Send {
        timed_meta("set_bucket_versioning", self.0.set_bucket_versioning(name, versioning))
    }
    fn list_object_versions(
        &self,
        bucket: &str,
        query: &VersionListQuery,
    ) -> impl Future<Output = Result<VersionPage, MetaError>> + Send {
        timed_meta("list_object_versions", self.0.list_object_versions(bucket, query))
    }
    fn list_objects(
        &self,
        bucket: &str,
        query: &ListQuery,
    ) -> impl Future<Output = Result<ListPage, MetaError>> + Send {
        timed_meta("list_objects", self.0.list_objects(bucket, query))
    }
    fn create_upload(&self, upload: Upload) -> impl Future<Output = Result<(), MetaError>> + Send {
        timed_meta("create_upload", self.0.create_upload(upload))
    }
    fn upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<Option<Upload>, MetaError>> + Send {
        timed_meta("upload", self.0.upload(bucket, upload_id))
    }
    fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: Part,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send {
        timed_meta("put_part", self.0.put_part(bucket, upload_id, part))
    }
    fn list_parts(
        &self,
        bucket: &str,
        upload_id: &str,
        after: u32,
        max: u32,
    ) -> impl Future<Output = Result<(Vec<Part>, bool), MetaError>> + Send {
        timed_meta("list_parts", self.0.list_parts(bucket, upload_id, after, max))
    }
    fn list_uploads(
        &self,
        bucket: &str,
        query: &UploadListQuery,
    ) -> impl Future<Output = Result<UploadPage, MetaError>> + Send {
        timed_meta("list_uploads", self.0.list_uploads(bucket, query))
    }
    fn complete_upload(
        &self,
        upload_id: &str,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send {
        timed_meta("complete_upload", self.0.complete_upload(upload_id, version, condition))
    }
    fn abort_upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<CommitOutcome, MetaError>> + Send {
        timed_meta("abort_upload", self.0.abort_upload(bucket, upload_id))
    }
    fn retired_blobs(
        &self,
        before: SystemTime,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RetiredBlob>, MetaError>> + Send {
        timed_meta("retired_blobs", self.0.retired_blobs(before, limit))
    }
    fn forget_blobs(
        &self,
        blob_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, MetaError>> + Send {
        timed_meta("forget_blobs", self.0.forget_blobs(blob_ids))
    }
    fn renew_leases(
        &self,
        holder: &str,
        blob_ids: &[String],
        expires: SystemTime,
    ) -> impl Future<Output = Result<(), MetaError>> + Send {
        timed_meta("renew_leases", self.0.renew_leases(holder, blob_ids, expires))
    }
    fn known_blobs(
        &self,
        blob_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, MetaError>> + Send {
        timed_meta("known_blobs", self.0.known_blobs(blob_ids))
    }
}

/// A [`BlobStore`] that records each call's latency in
/// `s3gate_backend_duration_seconds{operation}` (`get` until its stream opens, `put` until the
/// blob is durable) and failures in `s3gate_backend_errors_total{operation}`, and makes each
/// call a `blob.<op>` span (`crate::spans`).
#[derive(Debug)]
pub struct TimedBlobs<B>(B);

impl<B> TimedBlobs<B> {
    /// Wraps `inner`.
    pub fn new(inner: B) -> Self {
        TimedBlobs(inner)
    }
    /// The wrapped store.
    pub fn inner(&self) -> &B {
        &self.0
    }
}

impl<B: BlobStore> BlobStore for TimedBlobs<B> {
    fn put(&self, body: ByteStream) -> impl Future<Output = Result<BlobInfo, BlobError>> + Send {
        timed_blob("put", self.0.put(body))
    }
    fn put_to(
        &self,
        tier: Option<&str>,
        body: ByteStream,
    ) -> impl Future<Output = Result<BlobInfo, BlobError>> + Send {
        timed_blob("put", self.0.put_to(tier, body))
    }
    fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> impl Future<Output = Result<BlobStream, BlobError>> + Send {
        timed_blob("get", self.0.get(id, offset, len))
    }
    fn delete(&self, id: &BlobId) -> impl Future<Output = Result<(), BlobError>> + Send {
        timed_blob("delete", self.0.delete(id))
    }
    fn list(&self) -> impl Future<Output = Result<BlobListStream, BlobError>> + Send {
        timed_blob("list", self.0.list())
    }
    fn cleanup_incomplete(
        &self,
        older_than: std::time::Duration,
    ) -> impl Future<Output = Result<u64, BlobError>> + Send {
        timed_blob("cleanup_incomplete", self.0.cleanup_incomplete(older_than))
    }
    fn space(
        &self,
    ) -> impl Future<Output = Result<Option<s3gate_storage_backend::StoreSpace>, BlobError>> + Send
    {
        timed_blob("space", self.0.space())
    }
}

// ---------------------------------------------------------------------------------------------
// The operations endpoints.

/// A future writing extra samples at scrape time (values kept outside this process-wide
/// registry: build info, metadata group commits, the collector's backlog).
pub type ExtraMetrics =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync + 'static>;

/// What the operations listener serves.
pub struct OpsState<M, B> {
    /// The gateway whose stores `/health/ready` checks.
    pub gateway: Arc<crate::Gateway<M, B>>,
    /// Samples appended to `/metrics` after the registry's.
    pub extra: ExtraMetrics,
    /// Set when shutdown begins: `/health/ready` then answers 503 so load balancers drain.
    pub draining: Arc<AtomicBool>,
}

/// Answers `/metrics`, `/health/live` and `/health/ready` (GET or HEAD; no authentication),
/// and the admin API under `/admin/` (root-signed requests only: `service/admin.rs`).
pub(crate) async fn ops_response<M: MetadataStore, B: BlobStore>(
    state: &OpsState<M, B>,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    use http::Method;
    if req.uri().path().starts_with("/admin/") {
        return state.gateway.admin(req).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".to_owned());
    }
    match req.uri().path() {
        "/metrics" => {
            let mut out = String::with_capacity(16 * 1024);
            global().render(&mut out);
            out.push_str(&(state.extra)().await);
            let mut r = text(StatusCode::OK, out);
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        "/health/live" => text(StatusCode::OK, "ok\n".to_owned()),
        "/health/ready" => {
            if state.draining.load(Ordering::Relaxed) {
                return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".to_owned());
            }
            match state.gateway.check_ready().await {
                Ok(()) => text(StatusCode::OK, "ready\n".to_owned()),
                Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /health/live, /health/ready, /admin/v1/\n".to_owned(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<ResponseBody> {
    let mut r = Response::new(crate::body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(operation: &'static str) -> AccessLine {
        AccessLine {
            request_id: "TEST".to_owned(),
            info: AccessInfo { operation, ..AccessInfo::default() },
            method: http::Method::PUT,
            status: CLIENT_CLOSED,
            received: Arc::default(),
            started: Instant::now(),
            span: Span::none(),
        }
    }

    #[test]
    fn a_request_dropped_before_its_response_counts_as_client_closed() {
        let counter = global().requests.with(&["DroppedOp", "499"]);
        drop(PendingLine::new(line("DroppedOp")));
        assert_eq!(counter.get(), 1);
        // One that got its response is logged by its body instead, never as 499.
        let finished = PendingLine::new(line("DroppedOp")).finish(200);
        assert_eq!((finished.status, finished.request_id.as_str()), (200, "TEST"));
        assert_eq!(counter.get(), 1);
        assert_eq!(
            global().request_duration.with(&["DroppedOp"]).count(),
            1,
            "the dropped request's latency is recorded once"
        );
    }
}
