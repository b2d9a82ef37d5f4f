//! The request path: authenticate → route → decode the body → call the engine → S3 response.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use s3gate_engine::api::{
    Caller, CompletePart, CompleteUploadRequest, CopyObjectRequest, CreateUploadRequest,
    GetObjectRequest, ListObjectsRequest, MetadataDirective, PutObjectRequest,
    UploadPartCopyRequest, UploadPartRequest, WriteOutput,
};
use s3gate_engine::{Engine, EngineError, VersionRef};
use s3gate_metadata::{ListEntry, MetadataStore, UploadListEntry, UploadListQuery};
use s3gate_protocol::{
    AttributesPart, AttributesParts, BucketEntry, BucketName, ChecksumAlgorithm,
    CompleteMultipartUploadResult, CopyObjectResult, CopyPartResult, DeleteConditions,
    DeleteErrorEntry, DeleteResult, DeletedEntry, ETag, ErrorCode, ExpectedOwners,
    GetObjectAttributesResult, InitiateMultipartUploadResult, ListAllMyBucketsResult,
    ListBucketResult, ListBucketResultV2, ListMultipartUploadsResult, ListPartsResult,
    LocationConstraint, ObjectEntry, ObjectKey, Operation, Owner, PartEntry, Preconditions,
    RequestTarget, RouteConfig, S3Error, Tagging, UploadEntry, check_feature_headers,
    format_http_date, parse_complete_multipart_upload, parse_copy_source,
    parse_create_bucket_configuration, parse_delete, parse_range, parse_tagging, route,
    unset_answer,
};
use s3gate_protocol::{
    RefusalScope,
    subresource::{State, Unset},
};
use s3gate_sigv4::{PayloadMode, RequestParts, Verified, Verifier, VerifyConfig};
use s3gate_storage_backend::{BlobError, BlobId, BlobStore};
use tracing::Instrument as _;

use crate::ServerConfig;
use crate::auth::UserCache;
use crate::body::{self, BodyMode, BodyReadError, ResponseBody, TimedBody};
use crate::errors::ApiError;
use crate::headers::{
    body_integrity, header, name_write_condition, stored_headers, tags, upload_checksum,
    whole_object_checksum, write_condition,
};
use crate::metrics::{
    AccessInfo, AccessLine, CLIENT_CLOSED, CountedIncoming, LoggedBody, PendingLine,
};

/// Largest XML request body accepted (CompleteMultipartUpload with 10,000 parts fits).
const MAX_XML_BODY: usize = 2 * 1024 * 1024;

type Resp = Response<ResponseBody>;

/// The S3 service over one engine: cheap to share behind an `Arc`.
pub struct Gateway<M, B> {
    engine: Engine<M, B>,
    verifier: Verifier,
    route_cfg: RouteConfig,
    users: UserCache,
    request_prefix: u64,
    request_seq: AtomicU64,
    body_read_timeout: std::time::Duration,
    span_parent: Option<crate::spans::SpanParent>,
}

/// What an authenticated request carries into the operation.
struct Authed {
    caller: Caller,
    verified: Verified,
}

impl<M: MetadataStore, B: BlobStore> Gateway<M, B> {
    /// A gateway serving `engine` with `config`.
    pub fn new(engine: Engine<M, B>, config: &ServerConfig) -> Self {
        let mut seed = [0u8; 8];
        // A failure here leaves a zero prefix: ids stay unique per process through the counter.
        let _ = getrandom::fill(&mut seed);
        Gateway {
            engine,
            verifier: Verifier::new(VerifyConfig::s3(config.region.clone())),
            route_cfg: RouteConfig { domains: config.domains.clone() },
            users: UserCache::new(),
            request_prefix: u64::from_le_bytes(seed),
            request_seq: AtomicU64::new(0),
            body_read_timeout: config.body_read_timeout,
            span_parent: config.span_parent.clone(),
        }
    }

    /// The engine this gateway serves.
    pub fn engine(&self) -> &Engine<M, B> {
        &self.engine
    }

    fn next_request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        format!("{:016X}", self.request_prefix.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
    }

    /// The `503 SlowDown` answer to a request over the in-flight limit (the body is not read).
    pub(crate) fn slow_down<T>(&self, req: &Request<T>) -> Resp {
        let request_id = self.next_request_id();
        let head = req.method() == Method::HEAD;
        let mut resp =
            error_response(&S3Error::new(ErrorCode::SlowDown), req.uri().path(), &request_id, head);
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-amz-request-id", v.clone());
            resp.headers_mut().insert("x-amz-id-2", v);
        }
        resp.headers_mut().insert("server", HeaderValue::from_static("s3gate"));
        resp.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        tracing::debug!(request_id = %request_id, "over the in-flight request limit: SlowDown");
        resp
    }

    /// A complete HTTP/1.1 `503 SlowDown` response that closes the connection, for connections
    /// over the connection limit (written before the request is read).
    pub(crate) fn slow_down_bytes(&self) -> Vec<u8> {
        let request_id = self.next_request_id();
        let body = S3Error::new(ErrorCode::SlowDown).to_xml("/", &request_id);
        tracing::debug!(request_id = %request_id, "over the connection limit: SlowDown");
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/xml\r\n\
             content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\
             x-amz-request-id: {request_id}\r\nx-amz-id-2: {request_id}\r\nserver: s3gate\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Answers one request. Never fails: errors become S3 error responses.
    ///
    /// This is the one place that instruments a request: it counts it in flight, counts its
    /// body bytes both ways, records its operation, status and latency, and writes its one
    /// access-log event (`s3gate::access`) when the response body has been sent or dropped,
    /// which also ends the request's span (`spans::request`).
    pub async fn handle(&self, req: Request<Incoming>) -> Resp {
        let started = Instant::now();
        let in_flight = s3gate_metrics::global().requests_in_flight.track();
        let request_id = self.next_request_id();
        let method = req.method().clone();
        let span = crate::spans::request(&request_id, &method);
        if let Some(parent) = &self.span_parent
            && !span.is_disabled()
        {
            (parent.0)(req.headers(), &span);
        }
        let path = req.uri().path().to_owned();
        let framing = body::Framing::of(&req);
        let leftover = body::Leftover::default();
        let received = Arc::new(AtomicU64::new(0));
        let req = req.map(|b| CountedIncoming::new(b, Arc::clone(&received)));
        let mut pending = PendingLine::new(AccessLine {
            request_id,
            info: AccessInfo { operation: "Unknown", ..AccessInfo::default() },
            method,
            status: CLIENT_CLOSED,
            received,
            started,
            span: span.clone(),
        });
        let result = self
            .handle_inner(req, leftover.clone(), &mut pending.line.info)
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        let request_id = &pending.line.request_id;
        let mut resp = match result {
            Ok(r) => r,
            Err(err) => {
                if let Some(cause) = &err.cause {
                    tracing::error!(request_id = %request_id, op = pending.line.info.operation, cause = %cause, "internal error");
                }
                if let Some(cause) = &err.client_cause {
                    tracing::info!(request_id = %request_id, op = pending.line.info.operation, cause = %cause, "client error");
                }
                let head = pending.line.method == Method::HEAD;
                error_response(&err.s3, &path, request_id, head)
            }
        };
        let headers = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("x-amz-request-id", v.clone());
            headers.insert("x-amz-id-2", v);
        }
        headers.insert("server", HeaderValue::from_static("s3gate"));
        let (resp, settled) = body::settle(resp, &leftover, framing, body::DrainLimits::ANSWERED);
        if settled != body::Settled::Nothing {
            tracing::debug!(request_id = %request_id, ?settled, "answered before the request body ended");
        }
        crate::metrics::record_request(pending.line.info.operation, resp.status(), started);
        let line = pending.finish(resp.status().as_u16());
        let expected = if line.method == Method::HEAD {
            Some(0)
        } else {
            header(resp.headers(), "content-length").and_then(|v| v.parse().ok())
        };
        resp.map(|b| LoggedBody::new(b, expected, line, in_flight).boxed_unsync())
    }

    /// Readiness: the metadata store answers a query and the blob store answers a read (a
    /// random id must come back as not found).
    pub async fn check_ready(&self) -> Result<(), String> {
        self.engine
            .metadata()
            .user_by_access_key("s3gate-readiness-probe")
            .await
            .map_err(|e| format!("metadata store: {e}"))?;
        let probe = BlobId::generate().map_err(|e| format!("blob store: {e}"))?;
        match self.engine.blobs().get(&probe, 0, None).await {
            Ok(_) | Err(BlobError::NotFound | BlobError::InvalidRange) => Ok(()),
            Err(e) => Err(format!("blob store: {e}")),
        }
    }

    async fn handle_inner(
        &self,
        req: Request<CountedIncoming>,
        leftover: body::Leftover,
        info: &mut AccessInfo,
    ) -> Result<Resp, ApiError> {
        let (mut parts, body) = req.into_parts();
        let body = TimedBody::new(body, self.body_read_timeout, leftover);
        let host = header(&parts.headers, "host")
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()));
        let target = |parts: &http::request::Parts| {
            route(
                &RequestTarget {
                    method: parts.method.as_str(),
                    raw_path: parts.uri.path(),
                    raw_query: parts.uri.query(),
                    host: host.as_deref(),
                    has_copy_source: parts.headers.contains_key("x-amz-copy-source"),
                },
                &self.route_cfg,
            )
        };
        // A browser-form upload is authenticated by its form, not by headers; it is not built,
        // so it is refused here, before authentication would refuse it for want of headers and
        // before its body is read.
        if parts.method == Method::POST
            && let Ok(op @ Operation::PostObject { .. }) = target(&parts)
        {
            info.operation = op.name();
            info.bucket = op.bucket().map(ToString::to_string).unwrap_or_default();
            return Err(ApiError::msg(
                ErrorCode::NotImplemented,
                "POST object uploads (browser forms) are not implemented by this gateway.",
            ));
        }
        let authed = self.authenticate(&parts).await?;
        if authed.verified.presigned {
            crate::hoist::hoist_query_headers(parts.uri.query(), &mut parts.headers);
        }
        info.user.clone_from(&authed.caller.user);
        let op = target(&parts)?;
        info.operation = op.name();
        info.bucket = op.bucket().map(ToString::to_string).unwrap_or_default();
        info.key = op.key().map(ToString::to_string).unwrap_or_default();
        self.check_request_headers(&op, &parts.headers, &authed.caller).await?;
        self.dispatch(op, &parts.headers, body, &authed)
            .await
            .map_err(|e| name_write_condition(e, &parts.headers))
    }

    /// Header checks every operation gets before its body is read: the expected bucket owners,
    /// then [`check_feature_headers`] (what the gateway does not do is refused, after the bucket
    /// or object it names is found, so `NoSuchBucket`/`NoSuchKey` still come first).
    async fn check_request_headers(
        &self,
        op: &Operation,
        headers: &HeaderMap,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let e = &self.engine;
        let expected = ExpectedOwners::from_headers(|n| header(headers, n));
        if let (Some(owner), Some(bucket)) = (&expected.bucket, op.bucket())
            && !matches!(op, Operation::CreateBucket { .. })
        {
            let b = e.head_bucket(caller, bucket).await?;
            ExpectedOwners::check(Some(owner), &b.owner)?;
        }
        if let Some(owner) = &expected.source_bucket
            && matches!(op, Operation::CopyObject { .. } | Operation::UploadPartCopy { .. })
        {
            let source = copy_source(headers)?;
            let b = e.head_bucket(caller, &source.bucket).await?;
            ExpectedOwners::check(Some(owner), &b.owner)?;
        }
        let Err(refused) = check_feature_headers(op.name(), |n| header(headers, n)) else {
            return Ok(());
        };
        match (refused.scope, op.bucket(), op.key()) {
            (RefusalScope::Object, Some(bucket), Some(key)) => {
                let version = match op {
                    Operation::GetObject { params, .. } | Operation::HeadObject { params, .. } => {
                        params.version_id.as_deref()
                    }
                    _ => None,
                };
                e.object_attributes(caller, bucket, key, version).await?;
            }
            (RefusalScope::Bucket | RefusalScope::Object, Some(bucket), _) => {
                e.head_bucket(caller, bucket).await?;
            }
            _ => {}
        }
        Err(refused.error.into())
    }

    async fn authenticate(&self, parts: &http::request::Parts) -> Result<Authed, ApiError> {
        // Header values are signed as their bytes: UTF-8 text such as the `é` botocore sends
        // in `x-amz-meta-*` as UTF-8; bytes that are not UTF-8 cannot be signed text.
        let mut header_pairs: Vec<(&str, &str)> = Vec::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            let Ok(v) = std::str::from_utf8(value.as_bytes()) else {
                return Err(ApiError::msg(
                    ErrorCode::InvalidArgument,
                    format!("header {name} is not valid UTF-8"),
                ));
            };
            header_pairs.push((name.as_str(), v));
        }
        // HTTP/2 carries the host in :authority, which hyper puts in the URI.
        let authority;
        if !parts.headers.contains_key("host")
            && let Some(a) = parts.uri.authority()
        {
            authority = a.as_str().to_owned();
            header_pairs.push(("host", &authority));
        }
        let request = RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query(),
            headers: &header_pairs,
        };
        if !s3gate_sigv4::has_auth(&request) {
            return Err(ApiError::code(ErrorCode::AccessDenied));
        }
        let access_key = s3gate_sigv4::access_key_id(&request);
        let found = match access_key {
            Some(ak) => self
                .users
                .lookup(self.engine.metadata(), &ak)
                .await
                .map_err(|e| ApiError::from(EngineError::from(e)))?,
            None => None,
        };
        let creds: std::collections::HashMap<String, String> =
            found.iter().map(|u| (u.access_key_id.clone(), u.secret_key.clone())).collect();
        let verified = self.verifier.verify(&request, SystemTime::now(), &creds)?;
        let Some(u) = found else { return Err(ApiError::code(ErrorCode::InvalidAccessKeyId)) };
        Ok(Authed { caller: Caller { user: u.name, is_root: u.is_root }, verified })
    }

    #[allow(clippy::too_many_lines, reason = "one arm per S3 operation")]
    async fn dispatch(
        &self,
        op: Operation,
        headers: &HeaderMap,
        body: TimedBody,
        authed: &Authed,
    ) -> Result<Resp, ApiError> {
        let caller = &authed.caller;
        let e = &self.engine;
        let is_head = matches!(op, Operation::HeadObject { .. });
        match op {
            Operation::ListBuckets => {
                let buckets = e.list_buckets(caller).await?;
                let result = ListAllMyBucketsResult {
                    owner: owner(&caller.user),
                    buckets: buckets
                        .into_iter()
                        .map(|b| BucketEntry { name: b.name, creation_date: b.created })
                        .collect(),
                };
                Ok(xml(StatusCode::OK, result.to_xml()))
            }
            Operation::CreateBucket { bucket } => {
                let body = read_small_body(body, authed).await?;
                let location = parse_create_bucket_configuration(&body)?;
                e.create_bucket(caller, &bucket, location.as_deref()).await?;
                let mut r = empty(StatusCode::OK);
                set(&mut r, "location", &format!("/{bucket}"));
                Ok(r)
            }
            Operation::HeadBucket { bucket } => {
                e.head_bucket(caller, &bucket).await?;
                let mut r = empty(StatusCode::OK);
                set(&mut r, "x-amz-bucket-region", &e.config().region);
                Ok(r)
            }
            Operation::DeleteBucket { bucket } => {
                e.delete_bucket(caller, &bucket).await?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Operation::GetBucketLocation { bucket } => {
                let region = e.bucket_location(caller, &bucket).await?;
                let loc = if region == "us-east-1" { None } else { Some(region) };
                Ok(xml(StatusCode::OK, LocationConstraint(loc).to_xml()))
            }
            Operation::ListObjects { bucket, params } => {
                let page = e
                    .list_objects(
                        caller,
                        &bucket,
                        &ListObjectsRequest {
                            prefix: params.prefix.clone(),
                            delimiter: params.delimiter.clone(),
                            start_after: params.marker.clone(),
                            max_keys: params.max_keys,
                        },
                    )
                    .await?;
                let (contents, common_prefixes, last) = split_page(page.entries, true);
                let result = ListBucketResult {
                    name: bucket.to_string(),
                    prefix: params.prefix,
                    marker: params.marker.unwrap_or_default(),
                    max_keys: params.max_keys,
                    is_truncated: page.is_truncated,
                    // AWS documents NextMarker only with a delimiter; every other server
                    // and many clients expect it on any truncated page, and it is harmless.
                    next_marker: if page.is_truncated { last } else { None },
                    delimiter: params.delimiter,
                    contents,
                    common_prefixes,
                    encoding_type_url: params.encoding_type_url,
                };
                Ok(xml(StatusCode::OK, result.to_xml()))
            }
            Operation::ListObjectsV2 { bucket, params } => {
                let start_after = match &params.continuation_token {
                    Some(token) if !token.is_empty() => Some(decode_token(token)?),
                    _ => params.start_after.clone(),
                };
                let page = e
                    .list_objects(
                        caller,
                        &bucket,
                        &ListObjectsRequest {
                            prefix: params.prefix.clone(),
                            delimiter: params.delimiter.clone(),
                            start_after,
                            max_keys: params.max_keys,
                        },
                    )
                    .await?;
                let (contents, common_prefixes, last) =
                    split_page(page.entries, params.fetch_owner);
                let key_count = u32::try_from(contents.len() + common_prefixes.len()).unwrap_or(0);
                let result = ListBucketResultV2 {
                    name: bucket.to_string(),
                    prefix: params.prefix,
                    delimiter: params.delimiter,
                    max_keys: params.max_keys,
                    key_count,
                    is_truncated: page.is_truncated,
                    continuation_token: params.continuation_token,
                    next_continuation_token: if page.is_truncated {
                        last.map(|k| encode_token(&k))
                    } else {
                        None
                    },
                    start_after: params.start_after,
                    contents,
                    common_prefixes,
                    encoding_type_url: params.encoding_type_url,
                };
                Ok(xml(StatusCode::OK, result.to_xml()))
            }
            Operation::PutObject { bucket, key } => {
                let (integrity, mode) = body_setup(headers, authed)?;
                let req = PutObjectRequest {
                    bucket,
                    key,
                    headers: stored_headers(headers)?,
                    tags: tags(headers)?,
                    integrity,
                    condition: write_condition(headers)?,
                };
                let out = e.put_object(caller, req, body::request_stream(body, mode)).await?;
                let mut r = empty(StatusCode::OK);
                write_output_headers(&mut r, &out);
                Ok(r)
            }
            Operation::CopyObject { bucket, key } => {
                let source = copy_source(headers)?;
                let directive = match header(headers, "x-amz-metadata-directive") {
                    None | Some("COPY") => MetadataDirective::Copy,
                    Some("REPLACE") => MetadataDirective::Replace,
                    Some(_) => {
                        return Err(ApiError::msg(
                            ErrorCode::InvalidArgument,
                            "Unknown metadata directive.",
                        ));
                    }
                };
                let tags = match header(headers, "x-amz-tagging-directive") {
                    None | Some("COPY") => None,
                    Some("REPLACE") => Some(tags(headers)?),
                    Some(_) => {
                        return Err(ApiError::msg(
                            ErrorCode::InvalidArgument,
                            "Unknown tagging directive.",
                        ));
                    }
                };
                let out = e
                    .copy_object(
                        caller,
                        CopyObjectRequest {
                            source_bucket: source.bucket,
                            source_key: source.key,
                            source_version: VersionRef::parse(source.version_id.as_deref())?,
                            source_conditions: Preconditions::from_copy_source_headers(|n| {
                                header(headers, n)
                            }),
                            bucket,
                            key,
                            metadata_directive: directive,
                            headers: stored_headers(headers)?,
                            tags,
                            condition: write_condition(headers)?,
                        },
                    )
                    .await?;
                let result =
                    CopyObjectResult { etag: out.etag.clone(), last_modified: out.last_modified };
                let mut r = xml(StatusCode::OK, result.to_xml());
                write_output_headers(&mut r, &out);
                Ok(r)
            }
            Operation::GetObject { bucket, key, params }
            | Operation::HeadObject { bucket, key, params } => {
                self.get_object(bucket, key, params, headers, caller, is_head).await
            }
            Operation::DeleteObject { bucket, key, version_id } => {
                let version = VersionRef::parse(version_id.as_deref())?;
                let conditions = DeleteConditions::from_headers(|n| header(headers, n))?;
                e.delete_object_if(caller, &bucket, &key, &version, &conditions).await?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Operation::DeleteObjects { bucket } => {
                let raw = read_small_body(body, authed).await?;
                verify_small_body_integrity(headers, &raw, true)?;
                let request = parse_delete(&raw)?;
                let keys = request
                    .objects
                    .into_iter()
                    .map(|o| (o.key, o.version_id, o.conditions))
                    .collect();
                let results = e.delete_objects_if(caller, &bucket, keys).await?;
                let mut out = DeleteResult { deleted: Vec::new(), errors: Vec::new() };
                for (key, version_id, res) in results {
                    match res {
                        Ok(()) => {
                            if !request.quiet {
                                out.deleted.push(DeletedEntry {
                                    key,
                                    version_id,
                                    delete_marker: None,
                                    delete_marker_version_id: None,
                                });
                            }
                        }
                        Err(err) => {
                            let api = ApiError::from(err);
                            if let Some(cause) = &api.cause {
                                tracing::error!(key = %key, cause = %cause, "DeleteObjects key failed");
                            }
                            out.errors.push(DeleteErrorEntry {
                                key,
                                version_id,
                                code: api.s3.code,
                                message: api.s3.message,
                            });
                        }
                    }
                }
                Ok(xml(StatusCode::OK, out.to_xml()))
            }
            Operation::CreateMultipartUpload { bucket, key } => {
                let (checksum_algorithm, checksum_type) = upload_checksum(headers)?;
                let upload_id = e
                    .create_upload(
                        caller,
                        CreateUploadRequest {
                            bucket: bucket.clone(),
                            key: key.clone(),
                            headers: stored_headers(headers)?,
                            tags: tags(headers)?,
                            checksum_algorithm,
                            checksum_type,
                        },
                    )
                    .await?;
                let result = InitiateMultipartUploadResult {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    upload_id: upload_id.to_string(),
                };
                let mut r = xml(StatusCode::OK, result.to_xml());
                if let Some(alg) = checksum_algorithm {
                    set(&mut r, "x-amz-checksum-algorithm", alg.as_str());
                }
                if let Some(ty) = checksum_type {
                    set(&mut r, "x-amz-checksum-type", ty.as_str());
                }
                Ok(r)
            }
            Operation::UploadPart { bucket, key, upload_id, part_number } => {
                let (integrity, mode) = body_setup(headers, authed)?;
                let out = e
                    .upload_part(
                        caller,
                        UploadPartRequest { bucket, key, upload_id, part_number, integrity },
                        body::request_stream(body, mode),
                    )
                    .await?;
                let mut r = empty(StatusCode::OK);
                set(&mut r, "etag", &out.etag.quoted());
                if let Some(c) = &out.checksum {
                    set(&mut r, c.algorithm.header_name(), &c.to_base64());
                }
                Ok(r)
            }
            Operation::UploadPartCopy { bucket, key, upload_id, part_number } => {
                let source = copy_source(headers)?;
                let source_range = match header(headers, "x-amz-copy-source-range") {
                    Some(v) => Some(parse_copy_range(v)?),
                    None => None,
                };
                let out = e
                    .upload_part_copy(
                        caller,
                        UploadPartCopyRequest {
                            bucket,
                            key,
                            upload_id,
                            part_number,
                            source_bucket: source.bucket,
                            source_key: source.key,
                            source_version: VersionRef::parse(source.version_id.as_deref())?,
                            source_range,
                            source_conditions: Preconditions::from_copy_source_headers(|n| {
                                header(headers, n)
                            }),
                        },
                    )
                    .await?;
                let result =
                    CopyPartResult { etag: out.etag.clone(), last_modified: out.last_modified };
                Ok(xml(StatusCode::OK, result.to_xml()))
            }
            Operation::CompleteMultipartUpload { bucket, key, upload_id } => {
                let raw = read_small_body(body, authed).await?;
                let parts = parse_complete_multipart_upload(&raw)?;
                let out = e
                    .complete_upload(
                        caller,
                        CompleteUploadRequest {
                            bucket: bucket.clone(),
                            key: key.clone(),
                            upload_id,
                            parts: parts
                                .into_iter()
                                .map(|p| CompletePart {
                                    part_number: p.part_number,
                                    etag: p.etag,
                                    checksums: p.checksums,
                                })
                                .collect(),
                            condition: write_condition(headers)?,
                            expected_checksum: whole_object_checksum(headers)?,
                        },
                    )
                    .await?;
                let host = header(headers, "host").unwrap_or("localhost");
                let result = CompleteMultipartUploadResult {
                    location: format!(
                        "http://{host}/{bucket}/{}",
                        s3gate_protocol::xml::url_encode(key.as_str())
                    ),
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    etag: out.etag.clone(),
                    checksums: out.checksum_value.iter().cloned().collect(),
                    checksum_type: out.checksum_type,
                };
                let mut r = xml(StatusCode::OK, result.to_xml());
                write_output_headers(&mut r, &out);
                Ok(r)
            }
            Operation::AbortMultipartUpload { bucket, key, upload_id } => {
                e.abort_upload(caller, &bucket, &key, &upload_id).await?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Operation::ListParts {
                bucket,
                key,
                upload_id,
                max_parts,
                part_number_marker,
                encoding_type_url: _,
            } => {
                let page = e
                    .list_parts(caller, &bucket, &key, &upload_id, part_number_marker, max_parts)
                    .await?;
                let next = page.parts.last().map_or(0, |p| p.part_number);
                let result = ListPartsResult {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    upload_id: upload_id.to_string(),
                    owner: owner(&page.upload.owner),
                    storage_class: "STANDARD".to_owned(),
                    part_number_marker,
                    next_part_number_marker: next,
                    max_parts,
                    is_truncated: page.is_truncated,
                    parts: page
                        .parts
                        .iter()
                        .map(|p| PartEntry {
                            part_number: u16::try_from(p.part_number).unwrap_or(u16::MAX),
                            last_modified: p.last_modified,
                            etag: ETag::parse_quoted_or_not(&p.etag),
                            size: p.size,
                            checksums: match (&page.upload.checksum_algorithm, &p.checksum) {
                                (Some(alg), Some(v)) => ChecksumAlgorithm::parse(alg)
                                    .map(|a| vec![(a, v.clone())])
                                    .unwrap_or_default(),
                                _ => Vec::new(),
                            },
                        })
                        .collect(),
                };
                Ok(xml(StatusCode::OK, result.to_xml()))
            }
            Operation::GetObjectTagging { bucket, key, version_id } => {
                let (_, mut tags) =
                    e.object_tagging(caller, &bucket, &key, version_id.as_deref()).await?;
                // In key order, as S3 answers (`x-amz-tagging: foo=bar&bar` reads back as bar,
                // foo).
                tags.sort();
                Ok(xml(StatusCode::OK, Tagging(tags).to_xml()))
            }
            Operation::PutObjectTagging { bucket, key, version_id } => {
                let raw = read_small_body(body, authed).await?;
                verify_small_body_integrity(headers, &raw, true)?;
                let tags = parse_tagging(&raw)?;
                e.put_object_tagging(caller, &bucket, &key, version_id.as_deref(), tags).await?;
                Ok(empty(StatusCode::OK))
            }
            Operation::DeleteObjectTagging { bucket, key, version_id } => {
                e.put_object_tagging(caller, &bucket, &key, version_id.as_deref(), Vec::new())
                    .await?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Operation::GetObjectAttributes { bucket, key, version_id } => {
                let wanted = ObjectAttributes::from_headers(headers)?;
                let v = e.object_attributes(caller, &bucket, &key, version_id.as_deref()).await?;
                let mut r = xml(StatusCode::OK, wanted.render(&v).to_xml());
                set(&mut r, "last-modified", &format_http_date(v.last_modified));
                Ok(r)
            }
            Operation::PostObject { .. } => Err(ApiError::msg(
                ErrorCode::NotImplemented,
                "POST object uploads (browser forms) are not implemented by this gateway.",
            )),
            Operation::GetBucketConfiguration { bucket, sub } => {
                let b = e.head_bucket(caller, &bucket).await?;
                unset_configuration(sub, &b.owner)
            }
            Operation::GetObjectConfiguration { bucket, key, version_id, sub } => {
                // Every bucket is BucketOwnerEnforced: the bucket owner owns every object.
                let b = e.head_bucket(caller, &bucket).await?;
                if sub.query == "acl" {
                    e.object_attributes(caller, &bucket, &key, version_id.as_deref()).await?;
                }
                unset_configuration(sub, &b.owner)
            }
            Operation::PutBucketConfiguration { bucket, sub } => {
                e.head_bucket(caller, &bucket).await?;
                owner_full_control_only(headers, sub)?;
                Ok(empty(StatusCode::OK))
            }
            Operation::PutObjectConfiguration { bucket, key, version_id, sub } => {
                e.object_attributes(caller, &bucket, &key, version_id.as_deref()).await?;
                if let State::Unset(Unset::Error(..)) = sub.state {
                    // PutObjectRetention/PutObjectLegalHold: no bucket has Object Lock.
                    let b = e.head_bucket(caller, &bucket).await?;
                    return unset_configuration(sub, &b.owner);
                }
                owner_full_control_only(headers, sub)?;
                Ok(empty(StatusCode::OK))
            }
            Operation::ListMultipartUploads { bucket, params } => {
                let page = e
                    .list_uploads(
                        caller,
                        &bucket,
                        &UploadListQuery {
                            prefix: params.prefix.clone(),
                            delimiter: params.delimiter.clone(),
                            key_marker: params.key_marker.clone(),
                            upload_id_marker: params.upload_id_marker.clone(),
                            max_uploads: params.max_uploads,
                        },
                    )
                    .await?;
                let mut uploads = Vec::new();
                let mut common_prefixes = Vec::new();
                let mut next_key_marker = None;
                let mut next_upload_id_marker = None;
                for entry in page.entries {
                    match entry {
                        UploadListEntry::Upload(u) => {
                            next_key_marker = Some(u.key.clone());
                            next_upload_id_marker = Some(u.upload_id.clone());
                            uploads.push(UploadEntry {
                                key: u.key,
                                upload_id: u.upload_id,
                                initiated: u.initiated,
                                owner: owner(&u.owner),
                                storage_class: "STANDARD".to_owned(),
                            });
                        }
                        UploadListEntry::CommonPrefix(p) => {
                            next_key_marker = Some(p.clone());
                            next_upload_id_marker = None;
                            common_prefixes.push(p);
                        }
                    }
                }
                let result = ListMultipartUploadsResult {
                    bucket: bucket.to_string(),
                    key_marker: params.key_marker.unwrap_or_default(),
                    upload_id_marker: params.upload_id_marker.unwrap_or_default(),
                    next_key_marker: if page.is_truncated { next_key_marker } else { None },
                    next_upload_id_marker: if page.is_truncated {
                        next_upload_id_marker
                    } else {
                        None
                    },
                    prefix: params.prefix,
                    delimiter: params.delimiter,
                    max_uploads: params.max_uploads,
                    is_truncated: page.is_truncated,
                    uploads,
                    common_prefixes,
                    encoding_type_url: params.encoding_type_url,
                };
                Ok(xml(StatusCode::OK, result.to_xml()))
            }
        }
    }

    async fn get_object(
        &self,
        bucket: BucketName,
        key: ObjectKey,
        params: s3gate_protocol::GetObjectParams,
        headers: &HeaderMap,
        caller: &Caller,
        head: bool,
    ) -> Result<Resp, ApiError> {
        let version = VersionRef::parse(params.version_id.as_deref())?;
        let range = header(headers, "range").and_then(parse_range);
        if range.is_some() && params.part_number.is_some() {
            return Err(ApiError::msg(
                ErrorCode::InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter",
            ));
        }
        let req = GetObjectRequest {
            bucket,
            key,
            range,
            part_number: params.part_number,
            conditions: Preconditions::from_headers(|n| header(headers, n)),
            version,
        };
        let out = match self.engine.get_object(caller, &req, head).await {
            Ok(out) => out,
            Err(EngineError::NotModified { etag, last_modified }) => {
                // 304 carries the validators of the version the condition was decided on.
                let mut r = empty(StatusCode::NOT_MODIFIED);
                set(&mut r, "etag", &etag.quoted());
                set(&mut r, "last-modified", &format_http_date(last_modified));
                return Ok(r);
            }
            Err(e) => return Err(e.into()),
        };
        let status = if out.range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
        let mut r = if head {
            empty(status)
        } else {
            let mut r = Response::new(body::stream(out.body));
            *r.status_mut() = status;
            r
        };
        let v = &out.version;
        set(&mut r, "content-length", &out.content_length.to_string());
        set(&mut r, "etag", &ETag::parse_quoted_or_not(&v.etag).quoted());
        set(&mut r, "last-modified", &format_http_date(v.last_modified));
        set(&mut r, "accept-ranges", "bytes");
        if let Some(range) = out.range {
            set(&mut r, "content-range", &range.content_range(v.size));
        }
        if !v.headers.iter().any(|(n, _)| n == "content-type") {
            set(&mut r, "content-type", "binary/octet-stream");
        }
        for (name, value) in &v.headers {
            if let (Ok(n), Some(val)) =
                (http::HeaderName::from_bytes(name.as_bytes()), crate::headers::header_value(value))
            {
                r.headers_mut().insert(n, val);
            }
        }
        if let Some(n) = out.parts_count {
            set(&mut r, "x-amz-mp-parts-count", &n.to_string());
        }
        if !v.tags.is_empty() {
            set(&mut r, "x-amz-tagging-count", &v.tags.len().to_string());
        }
        if header(headers, "x-amz-checksum-mode").is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"))
            && let Some((alg, value)) = &out.checksum
        {
            set(&mut r, alg.header_name(), value);
            if let Some(t) = &v.checksum_type
                && let Ok(val) = HeaderValue::from_str(t)
            {
                r.headers_mut().insert("x-amz-checksum-type", val);
            }
        }
        for (name, value) in &params.response_overrides {
            if let (Ok(n), Ok(val)) =
                (http::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value))
            {
                r.headers_mut().insert(n, val);
            }
        }
        Ok(r)
    }
}

/// The answer to a GET of a configuration the gateway cannot set: what AWS answers when it was
/// never set.
fn unset_configuration(sub: &s3gate_protocol::SubResource, owner: &str) -> Result<Resp, ApiError> {
    match &sub.state {
        State::Unset(unset) => Ok(xml(StatusCode::OK, unset_answer(unset, owner)?)),
        State::Built | State::NotImplemented => Err(ApiError::msg(
            ErrorCode::NotImplemented,
            format!("The '{}' sub-resource is not implemented by this gateway.", sub.query),
        )),
    }
}

/// PutBucketAcl/PutObjectAcl: a canned ACL that grants the owner full control and nobody
/// anything (`private`, `bucket-owner-full-control`) is what every bucket and object is, so it
/// is accepted and changes nothing (`check_feature_headers` refused every other ACL header
/// already). An `AccessControlPolicy` document is not read: not implemented.
fn owner_full_control_only(
    headers: &HeaderMap,
    sub: &s3gate_protocol::SubResource,
) -> Result<(), ApiError> {
    let has_body = header(headers, "content-length").is_some_and(|v| v.trim() != "0")
        || headers.contains_key("transfer-encoding");
    if header(headers, "x-amz-acl").is_none() || has_body {
        let op = sub.put.map_or("PutAcl", |v| v.operation);
        return Err(ApiError::msg(
            ErrorCode::NotImplemented,
            format!(
                "{op} with an AccessControlPolicy document is not implemented by this gateway; \
                 the canned ACLs private and bucket-owner-full-control are accepted."
            ),
        ));
    }
    Ok(())
}

/// What a GetObjectAttributes request asks for (`x-amz-object-attributes`, `x-amz-max-parts`,
/// `x-amz-part-number-marker`).
#[allow(clippy::struct_excessive_bools, reason = "one flag per attribute S3 defines")]
struct ObjectAttributes {
    etag: bool,
    checksum: bool,
    object_parts: bool,
    storage_class: bool,
    object_size: bool,
    max_parts: u32,
    part_number_marker: u32,
}

impl ObjectAttributes {
    fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut a = ObjectAttributes {
            etag: false,
            checksum: false,
            object_parts: false,
            storage_class: false,
            object_size: false,
            max_parts: 1000,
            part_number_marker: 0,
        };
        // Several header lines are one comma-separated list.
        let mut any = false;
        for value in headers.get_all("x-amz-object-attributes") {
            let text = value.to_str().map_err(|_| invalid_attribute())?;
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                any = true;
                match name {
                    "ETag" => a.etag = true,
                    "Checksum" => a.checksum = true,
                    "ObjectParts" => a.object_parts = true,
                    "StorageClass" => a.storage_class = true,
                    "ObjectSize" => a.object_size = true,
                    _ => return Err(invalid_attribute()),
                }
            }
        }
        if !any {
            return Err(ApiError::msg(
                ErrorCode::InvalidArgument,
                "x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
            ));
        }
        let number = |name: &str, default: u32| -> Result<u32, ApiError> {
            match header(headers, name) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u32>().map_err(|_| {
                    ApiError::msg(
                        ErrorCode::InvalidArgument,
                        format!("Provided {name} not an integer or within integer range"),
                    )
                }),
            }
        };
        a.max_parts = number("x-amz-max-parts", 1000)?.min(1000);
        a.part_number_marker = number("x-amz-part-number-marker", 0)?;
        Ok(a)
    }

    fn render(&self, v: &s3gate_metadata::ObjectVersion) -> GetObjectAttributesResult {
        let algorithm = v.checksum_algorithm.as_deref().and_then(ChecksumAlgorithm::parse);
        let checksum_type =
            v.checksum_type.as_deref().and_then(s3gate_protocol::ChecksumType::parse);
        let multipart = ETag::parse_quoted_or_not(&v.etag).part_count().is_some();
        GetObjectAttributesResult {
            etag: self.etag.then(|| v.etag.clone()),
            checksum: if self.checksum {
                algorithm.zip(v.checksum.clone()).map(|c| (c, checksum_type))
            } else {
                None
            },
            object_parts: (self.object_parts && multipart).then(|| {
                let after: Vec<_> =
                    v.parts.iter().filter(|p| p.part_number > self.part_number_marker).collect();
                let page: Vec<AttributesPart> = after
                    .iter()
                    .take(self.max_parts as usize)
                    .map(|p| AttributesPart {
                        part_number: p.part_number,
                        size: p.size,
                        checksums: algorithm
                            .zip(p.checksum.clone())
                            .map(|c| vec![c])
                            .unwrap_or_default(),
                    })
                    .collect();
                AttributesParts {
                    parts_count: u32::try_from(v.parts.len()).unwrap_or(u32::MAX),
                    part_number_marker: self.part_number_marker,
                    next_part_number_marker: page.last().map_or(0, |p| p.part_number),
                    max_parts: self.max_parts,
                    is_truncated: after.len() > page.len(),
                    parts: page,
                }
            }),
            storage_class: self.storage_class.then(|| "STANDARD".to_owned()),
            object_size: self.object_size.then_some(v.size),
        }
    }
}

fn invalid_attribute() -> ApiError {
    ApiError::msg(ErrorCode::InvalidArgument, "Invalid attribute name specified.")
}

/// Sets up reading an object body: its integrity data, the trailer slot and the decoding mode.
fn body_setup(
    headers: &HeaderMap,
    authed: &Authed,
) -> Result<(s3gate_engine::api::BodyIntegrity, BodyMode), ApiError> {
    let v = &authed.verified;
    let content_length = match header(headers, "content-length") {
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::msg(ErrorCode::InvalidArgument, "Content-Length is not a number")
        })?),
        None => None,
    };
    let chunked_transfer = header(headers, "transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if v.payload.is_streaming() {
        let decoded_len = match header(headers, "x-amz-decoded-content-length") {
            Some(s) => Some(s.parse::<u64>().map_err(|_| {
                ApiError::msg(
                    ErrorCode::InvalidArgument,
                    "x-amz-decoded-content-length is not a number",
                )
            })?),
            None => None,
        };
        if decoded_len.is_none() && content_length.is_none() && !chunked_transfer {
            return Err(ApiError::code(ErrorCode::MissingContentLength));
        }
        let (integrity, trailer) = body_integrity(headers, decoded_len, &v.declared_trailers)?;
        let mut decoder = match decoded_len {
            Some(n) => v.chunked_decoder(n)?,
            None => v.chunked_decoder_unknown_length()?,
        };
        if v.payload == PayloadMode::StreamingUnsignedTrailer {
            // botocore and the AWS CLI send unseekable bodies (`aws s3 cp - s3://...`) in
            // unsigned chunks of whatever a read returned (7,000 bytes and less); AWS accepts
            // them, so the 8 KiB minimum is enforced for signed chunks only.
            decoder = decoder.with_min_chunk_size(0);
        }
        let decoder = Box::new(decoder);
        Ok((integrity, BodyMode::Chunked { decoder, trailer }))
    } else {
        if content_length.is_none() && !chunked_transfer {
            return Err(ApiError::code(ErrorCode::MissingContentLength));
        }
        if !v.declared_trailers.is_empty() {
            return Err(ApiError::msg(
                ErrorCode::InvalidRequest,
                "x-amz-trailer requires an aws-chunked streaming payload.",
            ));
        }
        let (integrity, _) = body_integrity(headers, content_length, &[])?;
        let mode = match v.payload {
            PayloadMode::Sha256(expected) => {
                BodyMode::Sha256(s3gate_sigv4::PayloadHasher::new(expected))
            }
            _ => BodyMode::Plain,
        };
        Ok((integrity, mode))
    }
}

/// Reads a small (XML) request body whole, verifying its payload hash, under [`MAX_XML_BODY`].
async fn read_small_body(body: TimedBody, authed: &Authed) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, MAX_XML_BODY);
    let collected = limited.collect().await.map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            ApiError::msg(ErrorCode::MalformedXML, "The XML you provided was too large.")
        } else if e
            .downcast_ref::<BodyReadError>()
            .is_some_and(|e| matches!(e, BodyReadError::TimedOut))
        {
            ApiError::code(ErrorCode::RequestTimeout)
        } else {
            ApiError::msg(ErrorCode::IncompleteBody, "The request body terminated unexpectedly.")
        }
    })?;
    let raw = collected.to_bytes();
    match authed.verified.payload {
        PayloadMode::Sha256(expected) => {
            let mut h = s3gate_sigv4::PayloadHasher::new(expected);
            h.update(&raw);
            h.finish()?;
        }
        PayloadMode::Unsigned => {}
        PayloadMode::StreamingSigned { .. } | PayloadMode::StreamingUnsignedTrailer => {
            return Err(ApiError::msg(
                ErrorCode::InvalidRequest,
                "aws-chunked bodies are not accepted for this operation.",
            ));
        }
    }
    Ok(raw)
}

/// Content-MD5 or x-amz-checksum-* of a whole small body; operations S3 marks as requiring a
/// checksum (DeleteObjects, PutObjectTagging) refuse a body that has neither.
fn verify_small_body_integrity(
    headers: &HeaderMap,
    raw: &[u8],
    required: bool,
) -> Result<(), ApiError> {
    let has_checksum =
        ChecksumAlgorithm::all().iter().any(|a| headers.contains_key(a.header_name()));
    if required && !has_checksum && !headers.contains_key("content-md5") {
        return Err(ApiError::msg(
            ErrorCode::InvalidRequest,
            "Missing required header for this request: Content-Md5.",
        ));
    }
    if let Some(v) = header(headers, "content-md5") {
        let want = s3gate_protocol::parse_content_md5(v)?;
        let got: [u8; 16] = md5_of(raw);
        if want != got {
            return Err(ApiError::msg(
                ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    for alg in ChecksumAlgorithm::all() {
        if let Some(v) = header(headers, alg.header_name()) {
            let want = s3gate_protocol::Checksum::from_base64(*alg, v.trim())?;
            let got = s3gate_protocol::Checksum::compute(*alg, raw);
            if want != got {
                return Err(ApiError::msg(
                    ErrorCode::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        alg.header_name()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn md5_of(raw: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(raw).into()
}

fn copy_source(headers: &HeaderMap) -> Result<s3gate_protocol::CopySource, ApiError> {
    let v = header(headers, "x-amz-copy-source").ok_or_else(|| {
        ApiError::msg(
            ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    })?;
    Ok(parse_copy_source(v)?)
}

/// `x-amz-copy-source-range: bytes=a-b` (both ends required, inclusive).
fn parse_copy_range(v: &str) -> Result<(u64, u64), ApiError> {
    let bad = || {
        ApiError::msg(
            ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let spec = v.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

fn owner(user: &str) -> Owner {
    Owner { id: user.to_owned(), display_name: user.to_owned() }
}

/// Splits a listing page into Contents and CommonPrefixes; also returns the last sort key.
fn split_page(
    entries: Vec<ListEntry>,
    with_owner: bool,
) -> (Vec<ObjectEntry>, Vec<String>, Option<String>) {
    let last = entries.last().map(|e| e.sort_key().to_owned());
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in entries {
        match entry {
            ListEntry::Object(o) => contents.push(ObjectEntry {
                etag: ETag::parse_quoted_or_not(&o.etag),
                owner: with_owner.then(|| owner(&o.owner)),
                checksum_algorithm: o
                    .checksum_algorithm
                    .as_deref()
                    .and_then(ChecksumAlgorithm::parse),
                key: o.key,
                last_modified: o.last_modified,
                size: o.size,
                storage_class: "STANDARD".to_owned(),
            }),
            ListEntry::CommonPrefix(p) => prefixes.push(p),
        }
    }
    (contents, prefixes, last)
}

/// Continuation tokens are opaque to clients: base64 of the last key returned.
fn encode_token(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
}

fn decode_token(token: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::msg(ErrorCode::InvalidArgument, "The continuation token provided is incorrect")
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    String::from_utf8(raw).map_err(|_| bad())
}

fn write_output_headers(r: &mut Resp, out: &WriteOutput) {
    set(r, "etag", &out.etag.quoted());
    if let Some((alg, value)) = &out.checksum_value {
        set(r, alg.header_name(), value);
    }
    if let Some(t) = out.checksum_type {
        set(r, "x-amz-checksum-type", t.as_str());
    }
}

pub(crate) fn set(r: &mut Resp, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(body::empty());
    *r.status_mut() = status;
    r
}

fn xml(status: StatusCode, doc: String) -> Resp {
    let mut r = Response::new(body::full(doc));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

/// The S3 error response: XML with Code, Message, Resource and RequestId; no body for HEAD
/// and for 304.
pub(crate) fn error_response(err: &S3Error, resource: &str, request_id: &str, head: bool) -> Resp {
    let status =
        StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if head || status == StatusCode::NOT_MODIFIED {
        return empty(status);
    }
    xml(status, err.to_xml(resource, request_id))
}
