//! The request path: authenticate → route → decode the body → call the engine → S3 response.

mod acl;
mod admin;
pub(crate) mod console;
mod post;
mod sosapi;
mod website;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use s3gate_crypto::CustomerKey;
use s3gate_engine::api::DeleteOutput;
use s3gate_engine::api::{
    Caller, CompletePart, CompleteUploadRequest, CopyObjectRequest, CreateUploadRequest,
    GetObjectRequest, ListObjectsRequest, MetadataDirective, PutObjectRequest,
    UploadPartCopyRequest, UploadPartRequest, WriteOutput,
};
use s3gate_engine::{
    Engine, EngineError, ListVersionsRequest, RenameObjectRequest, SseInfo, SseRequest,
    VersionListEntry, VersionRef, Versioning,
};
use s3gate_metadata::{ListEntry, MetadataStore, NULL_VERSION, UploadListEntry, UploadListQuery};
use s3gate_protocol::sosapi::SosapiObject;
use s3gate_protocol::{
    AttributesPart, AttributesParts, BucketEntry, BucketName, ChecksumAlgorithm,
    CompleteMultipartUploadResult, CopyObjectResult, CopyPartResult, DeleteConditions,
    DeleteErrorEntry, DeleteResult, DeletedEntry, ETag, ErrorCode, ExpectedOwners,
    GetObjectAttributesResult, InitiateMultipartUploadResult, ListAllMyBucketsResult,
    ListBucketResult, ListBucketResultV2, ListMultipartUploadsResult, ListPartsResult,
    ListVersionsResult, LocationConstraint, ObjectEntry, ObjectKey, Operation, Owner, PartEntry,
    Preconditions, RequestTarget, RouteConfig, S3Error, Tagging, UploadEntry, VersionEntry,
    VersioningConfiguration, check_feature_headers, format_http_date, legal_hold_xml,
    parse_complete_multipart_upload, parse_copy_source, parse_create_bucket_configuration,
    parse_delete, parse_legal_hold, parse_lock_headers, parse_range, parse_retention,
    parse_tagging, parse_versioning_configuration, retention_xml, route, unset_answer,
};
use s3gate_protocol::{RefusalScope, subresource::State};
use s3gate_sigv4::{
    PayloadMode, RequestParts, SignatureVersion, Verified, VerifiedV2, Verifier, VerifyConfig,
};
use s3gate_storage_backend::{BlobError, BlobId, BlobStore};
use tracing::Instrument as _;

use crate::ServerConfig;
use crate::auth::UserCache;
use crate::authz::{self, Authz, BucketGrant, ClientInfo, Identity};
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

/// The header naming a write's storage class, and a read's (omitted for `STANDARD`).
const STORAGE_CLASS: &str = "x-amz-storage-class";

/// A version's or upload's recorded storage class as listings spell it (`None` is STANDARD).
fn class_name(class: Option<&str>) -> String {
    class.unwrap_or(s3gate_engine::STANDARD).to_owned()
}

/// The headers of a read that describe the version: its lock, its tag count, and its storage
/// class (S3 names the class of every object but a STANDARD one).
fn version_headers(r: &mut Resp, v: &s3gate_metadata::ObjectVersion) {
    lock_headers(r, &v.lock);
    if !v.tags.is_empty() {
        set(r, "x-amz-tagging-count", &v.tags.len().to_string());
    }
    if let Some(class) = &v.storage_class {
        set(r, STORAGE_CLASS, class);
    }
}

/// The kind under which a bucket's tag set is stored (rendered as GetBucketTagging answers).
const BUCKET_TAGS_KIND: &str = "tagging";

/// The S3 service over one engine: cheap to share behind an `Arc`.
pub struct Gateway<M, B> {
    engine: Engine<M, B>,
    verifier: Verifier,
    route_cfg: RouteConfig,
    /// `ServerConfig::website_domains`.
    website_domains: Vec<String>,
    users: UserCache,
    authz: Authz,
    request_ids: crate::request_id::RequestIds,
    body_read_timeout: std::time::Duration,
    span_parent: Option<crate::spans::SpanParent>,
    sigv2: bool,
    /// `ServerConfig::default_object_ownership`.
    default_object_ownership: s3gate_policy::ObjectOwnership,
    /// SSE-C keys are accepted: the gateway serves TLS, or the operator allowed them over
    /// plain HTTP (`ServerConfig::allow_sse_c_over_http`).
    sse_c_allowed: bool,
}

/// What an authenticated request carries into the operation.
struct Authed {
    caller: Caller,
    /// `None` for an anonymous request (no signature: only a bucket policy can allow it).
    signed: Option<Signed>,
    /// The evaluator's view of the caller.
    identity: Identity,
    /// When the bucket policy, not ownership, allowed the request: what it allows on the
    /// bucket, for checks made later in the request (each key of DeleteObjects).
    grant: Option<BucketGrant>,
    /// The addressed bucket's owner and ACL settings, as the authorization read them (what a
    /// write needs to give its version an owner and ACL, without reading them again).
    bucket: Option<Arc<authz::BucketFacts>>,
    /// `x-amz-bypass-governance-retention: true` from a caller allowed
    /// `s3:BypassGovernanceRetention` on the addressed object (DeleteObject,
    /// PutObjectRetention; DeleteObjects decides per key).
    bypass: bool,
    /// ListBuckets: the request's condition keys, to ask which other users' buckets the
    /// caller's identity policies let it list.
    checker: Option<authz::Checker>,
}

/// The verified signature of a request, by version.
enum Signed {
    V4(Verified),
    /// SigV2 signs no payload: the body is unsigned (a signed `Content-MD5` is checked).
    V2(VerifiedV2),
    /// A POST form: its signed policy vouches for the fields, not for the file.
    Form(SignatureVersion),
    /// A web console session: the session cookie and its CSRF token stand for a signature;
    /// the body is unsigned and plain.
    Console,
}

impl Authed {
    fn presigned(&self) -> bool {
        match &self.signed {
            Some(Signed::V4(v)) => v.presigned,
            Some(Signed::V2(v)) => v.presigned,
            Some(Signed::Form(_) | Signed::Console) | None => false,
        }
    }

    /// How and when the request was signed, for the `s3:authType`, `s3:signatureversion` and
    /// `s3:signatureAge` keys; `None` when it was not.
    fn signed_by(&self) -> Option<authz::Signing> {
        use authz::{SignedBy, Signing};
        let (by, at) = match &self.signed {
            Some(Signed::V4(v)) if v.presigned => {
                (SignedBy::Query(SignatureVersion::V4), Some(v.request_time))
            }
            Some(Signed::V4(v)) => (SignedBy::Header(SignatureVersion::V4), Some(v.request_time)),
            Some(Signed::V2(v)) if v.presigned => (SignedBy::Query(SignatureVersion::V2), None),
            Some(Signed::V2(v)) => (SignedBy::Header(SignatureVersion::V2), v.request_time),
            Some(Signed::Form(version)) => (SignedBy::Form(*version), None),
            Some(Signed::Console) | None => return None,
        };
        Some(Signing { by, at })
    }

    /// How the body is checked: an anonymous request's is unsigned.
    fn payload(&self) -> PayloadMode {
        match &self.signed {
            Some(Signed::V4(v)) => v.payload,
            Some(Signed::V2(v)) => v.payload(),
            Some(Signed::Form(_) | Signed::Console) | None => PayloadMode::Unsigned,
        }
    }
}

/// AWS's answer to a Signature Version 2 request where only SigV4 is accepted (its regions
/// opened after 2014), given when `--sigv2 off`.
fn sigv2_refused() -> ApiError {
    ApiError::msg(
        ErrorCode::InvalidRequest,
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
    )
}

impl<M: MetadataStore, B: BlobStore> Gateway<M, B> {
    /// A gateway serving `engine` with `config`.
    pub fn new(engine: Engine<M, B>, config: &ServerConfig) -> Self {
        Gateway {
            engine,
            verifier: Verifier::new(VerifyConfig::s3(config.region.clone())),
            route_cfg: RouteConfig { domains: config.domains.clone() },
            website_domains: config.website_domains.clone(),
            users: UserCache::new(),
            authz: Authz::new(
                s3gate_policy::AccountId::new(&config.account_id)
                    .or_else(|| s3gate_policy::AccountId::new(crate::DEFAULT_ACCOUNT_ID))
                    .expect("the default account id is twelve digits"),
                config.public_access_block,
            ),
            request_ids: crate::request_id::RequestIds::new(),
            body_read_timeout: config.body_read_timeout,
            span_parent: config.span_parent.clone(),
            sigv2: config.sigv2,
            default_object_ownership: config.default_object_ownership,
            sse_c_allowed: config.tls.is_some() || config.allow_sse_c_over_http,
        }
    }

    /// The encryption a write asks for with its headers (already validated by
    /// `check_feature_headers`).
    fn sse_request(&self, headers: &HeaderMap) -> Result<SseRequest, ApiError> {
        if let Some(key) = self.customer_key(headers, "x-amz-")? {
            return Ok(SseRequest::Customer(key));
        }
        Ok(match header(headers, "x-amz-server-side-encryption").map(str::trim) {
            Some("aws:kms") => SseRequest::Kms {
                key_id: header(headers, "x-amz-server-side-encryption-aws-kms-key-id")
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned),
                context: encryption_context(headers)?,
                bucket_key: header(headers, "x-amz-server-side-encryption-bucket-key-enabled")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            },
            Some(_) => SseRequest::S3,
            None => SseRequest::Default,
        })
    }

    /// The SSE-C key of a request (`prefix` `x-amz-`, or `x-amz-copy-source-` for a copy's
    /// source). Refused over plain HTTP, as AWS does, unless the operator allowed it.
    fn customer_key(
        &self,
        headers: &HeaderMap,
        prefix: &str,
    ) -> Result<Option<std::sync::Arc<CustomerKey>>, ApiError> {
        let get = |part: &str| {
            header(headers, &format!("{prefix}server-side-encryption-customer-{part}"))
        };
        let key = CustomerKey::from_headers(
            get("algorithm").map(str::trim),
            get("key").map(str::trim),
            get("key-md5").map(str::trim),
        )?;
        if key.is_some() && !self.sse_c_allowed {
            return Err(ApiError::msg(
                ErrorCode::InvalidRequest,
                "Requests specifying Server Side Encryption with Customer provided keys must be \
                 made over a secure connection.",
            ));
        }
        Ok(key.map(std::sync::Arc::new))
    }

    /// The engine this gateway serves.
    pub fn engine(&self) -> &Engine<M, B> {
        &self.engine
    }

    fn next_request_id(&self) -> String {
        self.request_ids.next()
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
        self.handle_as(req, None).await
    }

    /// [`Gateway::handle`], for a request that is `user`'s without a signature when `user` is
    /// given (the web console's, whose session stands for the signature: `service::console`).
    pub(crate) async fn handle_as(
        &self,
        req: Request<Incoming>,
        user: Option<Arc<crate::auth::Signer>>,
    ) -> Resp {
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
        let origin = header(req.headers(), "origin").map(str::to_owned);
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
            .handle_inner(
                req,
                user,
                leftover.clone(),
                &pending.line.request_id.clone(),
                &mut pending.line.info,
            )
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
                let mut r = error_response(&err.s3, &path, request_id, head);
                for (name, value) in err.headers.iter().flat_map(|h| h.0.iter()) {
                    set(&mut r, name, value);
                }
                r
            }
        };
        let info = &pending.line.info;
        if let Some(origin) = &origin
            && !info.bucket.is_empty()
            && info.operation != "PreflightRequest"
        {
            let method = pending.line.method.as_str();
            let headers = resp.headers_mut();
            crate::cors::decorate(self.engine.metadata(), &info.bucket, origin, method, headers)
                .instrument(span.clone())
                .await;
        }
        let request_id = &pending.line.request_id;
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
        user: Option<Arc<crate::auth::Signer>>,
        leftover: body::Leftover,
        request_id: &str,
        info: &mut AccessInfo,
    ) -> Result<Resp, ApiError> {
        let (mut parts, body) = req.into_parts();
        crate::framing::check_framing(&parts.headers)?;
        let body = TimedBody::new(body, self.body_read_timeout, leftover);
        let host = header(&parts.headers, "host")
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()));
        // A website host never reaches the S3 API: its requests are anonymous reads.
        if user.is_none()
            && let Some(bucket) =
                s3gate_protocol::website::website_bucket(host.as_deref(), &self.website_domains)
        {
            return Ok(self.website(&bucket, &parts, request_id, info).await);
        }
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
        // The bucket is known before authentication, so that a refused request still gets
        // the bucket's CORS headers (a page can then read why it was refused).
        let early = target(&parts);
        self.name_for_log(info, early.as_ref().ok(), &parts, host.as_deref());
        match early {
            // The console sends neither preflights nor forms.
            Ok(Operation::PreflightRequest { .. } | Operation::PostObject { .. })
                if user.is_some() =>
            {
                return Err(ApiError::code(ErrorCode::NotImplemented));
            }
            // A CORS preflight is answered without authentication, as on S3.
            Ok(Operation::PreflightRequest { bucket, .. }) => {
                info.operation = "PreflightRequest";
                let cors =
                    crate::cors::preflight(self.engine.metadata(), &bucket, &parts.headers).await?;
                let mut r = empty(StatusCode::OK);
                for (name, value) in cors {
                    set(&mut r, name, &value);
                }
                return Ok(r);
            }
            // A browser-form upload is authenticated by its form, not by headers.
            Ok(Operation::PostObject { bucket }) => {
                info.operation = "PostObject";
                return self.post_object(bucket, &parts, body).await;
            }
            _ => {}
        }
        let mut authed = match &user {
            Some(signer) => Self::console_authed(signer),
            None => self.authenticate(&parts).await?,
        };
        if authed.presigned() {
            crate::hoist::hoist_query_headers(parts.uri.query(), &mut parts.headers);
        }
        info.user.clone_from(&authed.caller.user);
        let op = target(&parts)?;
        info.operation = op.name();
        info.bucket = op.bucket().map(ToString::to_string).unwrap_or_default();
        info.key = op.key().map(ToString::to_string).unwrap_or_default();
        let client = parts.extensions.get::<ClientInfo>().copied().unwrap_or_default();
        // What a PutObjectRetention or PutObjectLegalHold sets is in its (small) body, and a
        // policy may condition on it (`s3:object-lock-*`): read before the request is decided.
        let mut body = body;
        let lock_body =
            if sets_lock(&op) { Some(read_small_body(&mut body, &authed).await?) } else { None };
        self.authorize(&op, &parts.headers, client, lock_body.as_deref(), &mut authed).await?;
        self.check_request_headers(&op, &parts.headers, &authed.caller).await?;
        let key = op.key().map(ObjectKey::to_string);
        let is_read = matches!(op, Operation::GetObject { .. } | Operation::HeadObject { .. });
        let result = self.dispatch(op, &parts.headers, body, lock_body, &authed).await;
        match (result, &authed.grant, key) {
            // A reader the bucket policy lets in learns that a key is missing only if it may
            // list it too (see `authorize`).
            (Err(e), Some(grant), Some(key))
                if is_read && e.s3.code == ErrorCode::NoSuchKey && !grant.allows_list(&key) =>
            {
                Err(ApiError::code(ErrorCode::AccessDenied))
            }
            (result, _, _) => result.map_err(|e| name_write_condition(e, &parts.headers)),
        }
    }

    /// Names the operation, bucket and key of the request in the access log before anything
    /// can refuse it (authentication, an unimplemented sub-resource): from the routed
    /// operation, or what `refused_operation` can tell of a request routing refused.
    fn name_for_log(
        &self,
        info: &mut AccessInfo,
        routed: Option<&Operation>,
        parts: &http::request::Parts,
        host: Option<&str>,
    ) {
        if let Some(op) = routed {
            info.operation = op.name();
            info.bucket = op.bucket().map(ToString::to_string).unwrap_or_default();
            info.key = op.key().map(ToString::to_string).unwrap_or_default();
        } else {
            let target = RequestTarget {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: parts.uri.query(),
                host,
                has_copy_source: false,
            };
            let (operation, bucket) = s3gate_protocol::refused_operation(&target, &self.route_cfg);
            info.operation = operation.unwrap_or(info.operation);
            info.bucket = bucket.map(|b| b.to_string()).unwrap_or_default();
        }
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

    /// An unsigned request: only a bucket policy can allow it.
    fn anonymous() -> Authed {
        Authed {
            caller: Caller { user: String::new(), is_root: false, authorized: false },
            signed: None,
            identity: Identity::anonymous(),
            grant: None,
            bucket: None,
            bypass: false,
            checker: None,
        }
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
        let Some(scheme) = s3gate_sigv4::auth_scheme(&request) else {
            return Ok(Self::anonymous());
        };
        if scheme.signature_version() == SignatureVersion::V2 && !self.sigv2 {
            return Err(sigv2_refused());
        }
        let access_key = s3gate_sigv4::access_key_id(&request);
        let found = match access_key {
            Some(ak) => self.users.lookup(self.engine.metadata(), &self.authz, &ak).await?,
            None => None,
        };
        // A disabled key is no credential: InvalidAccessKeyId, as on AWS.
        let found = found.filter(|s| s.active);
        let creds: std::collections::HashMap<String, String> = found
            .iter()
            .map(|s| (s.user.access_key_id.clone(), s.user.secret_key.clone()))
            .collect();
        let now = SystemTime::now();
        let signed = match scheme.signature_version() {
            SignatureVersion::V4 => Signed::V4(self.verifier.verify(&request, now, &creds)?),
            SignatureVersion::V2 => {
                // Virtual-hosted: the canonical resource starts with the Host's bucket.
                let host = header(&parts.headers, "host")
                    .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str));
                let host_bucket = self.route_cfg.host_bucket(host);
                Signed::V2(self.verifier.verify_v2(
                    &request,
                    host_bucket.as_deref(),
                    now,
                    &creds,
                )?)
            }
        };
        let Some(key) = found else {
            return Err(ApiError::code(ErrorCode::InvalidAccessKeyId));
        };
        self.record_key_use(&key.user.access_key_id);
        let u = &key.user;
        let caller = Caller { user: u.name.clone(), is_root: u.is_root, authorized: false };
        let identity = key.identity.clone();
        Ok(Authed {
            caller,
            signed: Some(signed),
            identity,
            grant: None,
            bucket: None,
            bypass: false,
            checker: None,
        })
    }

    /// Records that a key signed a request: at most once a minute per key (`auth`), written by
    /// a task of its own so that the request never waits for it, and outside the request's
    /// span. A failed write is logged and forgotten (the next minute's use writes it again).
    fn record_key_use(&self, access_key_id: &str) {
        if !self.users.used(access_key_id) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let engine = self.engine.clone();
        let used = vec![(access_key_id.to_owned(), SystemTime::now())];
        runtime.spawn(async move {
            let change = s3gate_metadata::IamChange::KeysUsed(used);
            if let Err(e) = engine.metadata().change_iam(change).await {
                tracing::debug!(error = %e, "recording when an access key was last used");
            }
        });
    }

    /// Decides the request before the engine sees it (module `authz`): every request on a
    /// bucket is evaluated against the bucket's owner and policy (an explicit Deny binds the
    /// owner too), and a copy also for its source. An allowed request that is not the owner's acts as the bucket owner would
    /// (`Caller::authorized`); anonymous writes belong to the bucket owner, as under AWS's
    /// BucketOwnerEnforced object ownership.
    async fn authorize(
        &self,
        op: &Operation,
        headers: &HeaderMap,
        client: ClientInfo,
        lock_body: Option<&[u8]>,
        authed: &mut Authed,
    ) -> Result<(), ApiError> {
        let anonymous = authed.signed.is_none();
        let mut checker = Authz::checker(&authed.identity, op, headers, client, authed.signed_by());
        set_body_lock_keys(&mut checker, op, lock_body);
        let bucket = match op.bucket() {
            Some(b) if !matches!(op, Operation::CreateBucket { .. }) => b,
            _ => return decide_without_bucket(op, checker, authed),
        };
        let meta = self.engine.metadata();
        // DeleteObjects is decided key by key (s3:DeleteObject on each), once its body is read.
        let action = match op {
            Operation::DeleteObjects { .. } => None,
            _ => Some(authz::action(op.permission())?),
        };
        let key = op.key().map(ObjectKey::as_str);
        // The version whose ACL may allow an object read or an ACL operation.
        let version = match op {
            Operation::GetObject { params, .. } | Operation::HeadObject { params, .. } => {
                params.version_id.as_deref()
            }
            Operation::ObjectConfig { version_id, .. } => version_id.as_deref(),
            _ => None,
        };
        let addressed = key.map(|k| (k, version));
        let upload = match op {
            Operation::AbortMultipartUpload { upload_id, .. }
            | Operation::ListParts { upload_id, .. } => Some(upload_id.as_str()),
            _ => None,
        };
        let decided =
            self.authz.decide(meta, checker.clone(), action, bucket.as_str(), addressed, upload);
        let decided = decided.await;
        let decided = match (decided, key) {
            // A read of a key that does not exist is 404 to whoever may list it (s3:ListBucket
            // with s3:prefix = the key), 403 to anyone else, as on AWS.
            (Err(denied), Some(key))
                if matches!(op, Operation::GetObject { .. } | Operation::HeadObject { .. }) =>
            {
                let missing =
                    meta.object(bucket.as_str(), key).await.map_err(engine_meta)?.is_none();
                let lister =
                    self.authz.decide(meta, checker.clone(), None, bucket.as_str(), None, None);
                return match lister.await? {
                    Some(g) if missing && g.allows_list(key) => {
                        Err(ApiError::code(ErrorCode::NoSuchKey))
                    }
                    _ => Err(denied),
                };
            }
            (other, _) => other?,
        };
        let Some(grant) = decided else {
            // No such bucket: the engine answers NoSuchBucket, to anyone, as AWS does.
            if anonymous {
                return Err(ApiError::code(ErrorCode::NoSuchBucket));
            }
            return Ok(());
        };
        authed.bucket = Some(Arc::clone(grant.facts()));
        let caller = &mut authed.caller;
        let owns = |owner: &str| !anonymous && (caller.is_root || owner == caller.user);
        let mut is_owner = owns(grant.owner());
        // A rename reads its source and deletes it: both are the caller's to do.
        if matches!(op, Operation::RenameObject { .. }) {
            let source = rename_source(headers, bucket)?;
            for name in ["GetObject", "DeleteObject"] {
                let action = Some(authz::action(name)?);
                let (bucket, key) = (bucket.as_str(), Some((source.as_str(), None)));
                self.authz.decide(meta, checker.clone(), action, bucket, key, None).await?;
            }
        }
        if matches!(op, Operation::CopyObject { .. } | Operation::UploadPartCopy { .. }) {
            let source = copy_source(headers)?;
            let read = if source.version_id.is_some() { "GetObjectVersion" } else { "GetObject" };
            let key = Some((source.key.as_str(), source.version_id.as_deref()));
            let bucket = source.bucket.as_str();
            let read = Some(authz::action(read)?);
            if let Some(source) = self.authz.decide(meta, checker, read, bucket, key, None).await? {
                is_owner &= owns(source.owner());
            }
        }
        if !is_owner {
            if anonymous {
                grant.owner().clone_into(&mut caller.user);
            }
            caller.authorized = true;
        }
        // DeleteObjects from a caller who is not the owner, on a bucket without a policy, with
        // no identity policy that could allow a delete, can delete nothing: refused whole,
        // before its body is read.
        if !is_owner && action.is_none() && !grant.has_policy() && !authed.identity.may_delete() {
            return Err(ApiError::code(ErrorCode::AccessDenied));
        }
        // Later checks: a non-owner's, and every DeleteObjects' keys (a Deny binds the owner).
        if !is_owner || action.is_none() {
            authed.grant = Some(grant);
        }
        // A governance bypass is its own permission, on the object it bypasses for.
        let bypasses = matches!(op, Operation::DeleteObject { .. })
            || matches!(op, Operation::ObjectConfig { sub, .. } if sub.query == "retention");
        if bypasses && bypass_requested(headers) {
            let checker = Authz::checker(&authed.identity, op, headers, client, authed.signed_by());
            let bypass = Some(s3gate_policy::Action::BypassGovernanceRetention);
            let decided =
                self.authz.decide(meta, checker, bypass, bucket.as_str(), addressed, None).await;
            authed.bypass = matches!(decided, Ok(Some(_)));
        }
        Ok(())
    }

    #[allow(clippy::too_many_lines, reason = "one arm per S3 operation")]
    async fn dispatch(
        &self,
        op: Operation,
        headers: &HeaderMap,
        body: TimedBody,
        lock_body: Option<Bytes>,
        authed: &Authed,
    ) -> Result<Resp, ApiError> {
        let caller = &authed.caller;
        let e = &self.engine;
        let is_head = matches!(op, Operation::HeadObject { .. });
        match op {
            Operation::ListBuckets { params } => {
                // The caller's own buckets, and (for a user with identity policies) every
                // bucket those let it list, as AWS lists an account's buckets.
                let buckets = match &authed.checker {
                    Some(checker) if authed.identity.has_policies() => {
                        let all = e.metadata().list_buckets(None).await.map_err(engine_meta)?;
                        all.into_iter()
                            .filter(|b| {
                                b.owner == caller.user || Authz::identity_lists(checker, &b.name)
                            })
                            .collect()
                    }
                    _ => e.list_buckets(caller).await?,
                };
                let region = e.config().region.as_str();
                // Every bucket is in the gateway's region.
                let in_region = params.bucket_region.as_deref().is_none_or(|r| r == region);
                let after = params.continuation_token.as_deref().map(decode_token).transpose()?;
                let mut page: Vec<BucketEntry> = buckets
                    .into_iter()
                    .filter(|_| in_region)
                    .filter(|b| params.prefix.as_deref().is_none_or(|p| b.name.starts_with(p)))
                    .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
                    .map(|b| BucketEntry { name: b.name, creation_date: b.created })
                    .collect();
                let mut continuation_token = None;
                if let Some(max) = params.max_buckets.map(|m| m as usize)
                    && page.len() > max
                {
                    page.truncate(max);
                    continuation_token = page.last().map(|b| encode_token(&b.name));
                }
                let result = ListAllMyBucketsResult {
                    owner: owner(&caller.user),
                    buckets: page,
                    continuation_token,
                    prefix: params.prefix,
                };
                Ok(xml(StatusCode::OK, result.to_xml()))
            }
            Operation::CreateBucket { bucket } => {
                // The header's value was checked by `check_feature_headers`. The ACL is
                // decided before the body is read: a refused request reads nothing.
                let ownership = header(headers, "x-amz-object-ownership")
                    .and_then(s3gate_policy::ObjectOwnership::parse)
                    .unwrap_or(self.default_object_ownership);
                let acl = self.check_create_bucket_acl(caller, headers, ownership).await?;
                let body = read_small_body(body, authed).await?;
                let location = parse_create_bucket_configuration(&body)?;
                let lock = header(headers, "x-amz-bucket-object-lock-enabled")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
                // Ownership and ACL are stored only by the request that created the bucket
                // (a retry of a create that answered 200 in us-east-1 changes nothing).
                let existed = e.metadata().bucket(bucket.as_str()).await.map_err(engine_meta)?;
                e.create_bucket_with_lock(caller, &bucket, location.as_deref(), lock).await?;
                if existed.is_none() {
                    self.create_bucket_acl(&bucket, ownership, acl.as_ref()).await?;
                }
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
                let (contents, common_prefixes, last) = split_page(page.entries, Some(authed));
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
                    split_page(page.entries, params.fetch_owner.then_some(authed));
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
                let lock = parse_lock_headers(|n| header(headers, n))?;
                if !lock.is_empty() && !has_integrity_header(headers) {
                    return Err(ApiError::msg(
                        ErrorCode::InvalidRequest,
                        "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object \
                         requests with Object Lock parameters",
                    ));
                }
                let req = PutObjectRequest {
                    lock,
                    key,
                    headers: stored_headers(headers)?,
                    tags: tags(headers)?,
                    integrity,
                    condition: write_condition(headers)?,
                    encryption: self.sse_request(headers)?,
                    ownership: self
                        .write_ownership(caller, &bucket, headers, authed.bucket.as_ref())
                        .await?,
                    storage_class: header(headers, STORAGE_CLASS).map(str::to_owned),
                    bucket,
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
                            lock: parse_lock_headers(|n| header(headers, n))?,
                            source_bucket: source.bucket,
                            source_key: source.key,
                            source_version: VersionRef::parse(source.version_id.as_deref())?,
                            source_conditions: Preconditions::from_copy_source_headers(|n| {
                                header(headers, n)
                            }),
                            key,
                            metadata_directive: directive,
                            headers: stored_headers(headers)?,
                            tags,
                            condition: write_condition(headers)?,
                            encryption: self.sse_request(headers)?,
                            source_customer_key: self
                                .customer_key(headers, "x-amz-copy-source-")?,
                            ownership: self
                                .write_ownership(caller, &bucket, headers, authed.bucket.as_ref())
                                .await?,
                            storage_class: header(headers, STORAGE_CLASS).map(str::to_owned),
                            bucket,
                        },
                    )
                    .await?;
                let result =
                    CopyObjectResult { etag: out.etag.clone(), last_modified: out.last_modified };
                let mut r = xml(StatusCode::OK, result.to_xml());
                write_output_headers(&mut r, &out);
                if let Some(id) = &out.source_version_id {
                    set(&mut r, "x-amz-copy-source-version-id", id);
                }
                Ok(r)
            }
            Operation::RenameObject { bucket, key } => {
                let source_key = rename_source(headers, &bucket)?;
                let dates = Preconditions::from_headers(|n| header(headers, n));
                let request = RenameObjectRequest {
                    source_key,
                    source_conditions: Preconditions::from_rename_source_headers(|n| {
                        header(headers, n)
                    }),
                    condition: write_condition(headers)?,
                    destination_dates: Preconditions {
                        if_match: None,
                        if_none_match: None,
                        ..dates
                    },
                    client_token: client_token(headers)?,
                    bucket,
                    key,
                };
                e.rename_object(caller, request).await?;
                Ok(empty(StatusCode::OK))
            }
            Operation::GetObject { bucket, key, params }
            | Operation::HeadObject { bucket, key, params } => {
                self.get_object(bucket, key, params, headers, caller, is_head).await
            }
            Operation::DeleteObject { bucket, key, version_id } => {
                let version = VersionRef::parse(version_id.as_deref())?;
                let conditions = DeleteConditions::from_headers(|n| header(headers, n))?;
                let out = e
                    .delete_object_if(caller, &bucket, &key, &version, &conditions, authed.bypass)
                    .await?;
                let mut r = empty(StatusCode::NO_CONTENT);
                if let Some(id) = &out.version_id {
                    set(&mut r, "x-amz-version-id", id);
                }
                if out.delete_marker {
                    set(&mut r, "x-amz-delete-marker", "true");
                }
                Ok(r)
            }
            Operation::DeleteObjects { bucket } => {
                let raw = read_small_body(body, authed).await?;
                verify_small_body_integrity(headers, &raw, true)?;
                let request = parse_delete(&raw)?;
                // A caller the bucket policy lets in needs s3:DeleteObject on each key.
                let mut out = DeleteResult { deleted: Vec::new(), errors: Vec::new() };
                let mut keys = Vec::with_capacity(request.objects.len());
                for o in request.objects {
                    let action = if o.version_id.is_some() {
                        s3gate_policy::Action::DeleteObjectVersion
                    } else {
                        s3gate_policy::Action::DeleteObject
                    };
                    if authed.grant.as_ref().is_some_and(|g| !g.allows(action, &o.key)) {
                        let denied = S3Error::new(ErrorCode::AccessDenied);
                        out.errors.push(DeleteErrorEntry {
                            key: o.key,
                            version_id: o.version_id,
                            code: denied.code,
                            message: denied.message,
                        });
                    } else {
                        keys.push((o.key, o.version_id, o.conditions));
                    }
                }
                // The bypass holds only if the caller may bypass on every key it names.
                let bypass = bypass_requested(headers)
                    && keys.iter().all(|(k, _, _)| {
                        authed.grant.as_ref().is_none_or(|g| {
                            g.allows(s3gate_policy::Action::BypassGovernanceRetention, k)
                        })
                    });
                let results = e.delete_objects_if(caller, &bucket, keys, bypass).await?;
                for (key, version_id, res) in results {
                    match res {
                        Ok(deleted) => {
                            if !request.quiet {
                                out.deleted.push(deleted_entry(key, version_id, deleted));
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
                let (upload_id, sse) = e
                    .start_upload(
                        caller,
                        CreateUploadRequest {
                            lock: parse_lock_headers(|n| header(headers, n))?,
                            bucket: bucket.clone(),
                            key: key.clone(),
                            headers: stored_headers(headers)?,
                            tags: tags(headers)?,
                            checksum_algorithm,
                            checksum_type,
                            encryption: self.sse_request(headers)?,
                            ownership: self
                                .write_ownership(caller, &bucket, headers, authed.bucket.as_ref())
                                .await?,
                            storage_class: header(headers, STORAGE_CLASS).map(str::to_owned),
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
                sse_headers(&mut r, sse.as_ref());
                Ok(r)
            }
            Operation::UploadPart { bucket, key, upload_id, part_number } => {
                let (integrity, mode) = body_setup(headers, authed)?;
                let customer_key = self.customer_key(headers, "x-amz-")?;
                let out = e
                    .upload_part(
                        caller,
                        UploadPartRequest {
                            bucket,
                            key,
                            upload_id,
                            part_number,
                            integrity,
                            customer_key,
                        },
                        body::request_stream(body, mode),
                    )
                    .await?;
                let mut r = empty(StatusCode::OK);
                set(&mut r, "etag", &out.etag.quoted());
                sse_headers(&mut r, out.encryption.as_ref());
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
                            customer_key: self.customer_key(headers, "x-amz-")?,
                            source_customer_key: self
                                .customer_key(headers, "x-amz-copy-source-")?,
                        },
                    )
                    .await?;
                let result =
                    CopyPartResult { etag: out.etag.clone(), last_modified: out.last_modified };
                let mut r = xml(StatusCode::OK, result.to_xml());
                if let Some(id) = &out.source_version_id {
                    set(&mut r, "x-amz-copy-source-version-id", id);
                }
                sse_headers(&mut r, out.encryption.as_ref());
                Ok(r)
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
                    initiator: owner(&page.upload.owner),
                    owner: owner(reported_owner(authed, &page.upload.owner)),
                    storage_class: class_name(page.upload.storage_class.as_deref()),
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
                let (id, mut tags) =
                    e.object_tagging(caller, &bucket, &key, version_id.as_deref()).await?;
                // In key order, as S3 answers (`x-amz-tagging: foo=bar&bar` reads back as bar,
                // foo).
                tags.sort();
                let mut r = xml(StatusCode::OK, Tagging(tags).to_xml());
                version_id_header(&mut r, &id, version_id.is_some());
                Ok(r)
            }
            Operation::PutObjectTagging { bucket, key, version_id } => {
                let raw = read_small_body(body, authed).await?;
                verify_small_body_integrity(headers, &raw, true)?;
                let tags = parse_tagging(&raw)?;
                let id = e
                    .put_object_tagging(caller, &bucket, &key, version_id.as_deref(), tags)
                    .await?;
                let mut r = empty(StatusCode::OK);
                version_id_header(&mut r, &id, version_id.is_some());
                Ok(r)
            }
            Operation::DeleteObjectTagging { bucket, key, version_id } => {
                let id = e
                    .put_object_tagging(caller, &bucket, &key, version_id.as_deref(), Vec::new())
                    .await?;
                let mut r = empty(StatusCode::NO_CONTENT);
                version_id_header(&mut r, &id, version_id.is_some());
                Ok(r)
            }
            Operation::GetObjectAttributes { bucket, key, version_id } => {
                let wanted = ObjectAttributes::from_headers(headers)?;
                let v = e.object_attributes(caller, &bucket, &key, version_id.as_deref()).await?;
                let customer_key = self.customer_key(headers, "x-amz-")?;
                s3gate_engine::check_customer_key(&v, customer_key.as_deref())?;
                let mut r = xml(StatusCode::OK, wanted.render(&v).to_xml());
                set(&mut r, "last-modified", &format_http_date(v.last_modified));
                version_id_header(&mut r, &v.version_id, version_id.is_some());
                Ok(r)
            }
            // Both are answered before authentication (`handle_inner`).
            Operation::PostObject { .. } | Operation::PreflightRequest { .. } => {
                Err(ApiError::code(ErrorCode::InternalError))
            }
            Operation::GetBucketCors { bucket } => {
                e.head_bucket(caller, &bucket).await?;
                match crate::cors::load(e.metadata(), bucket.as_str()).await? {
                    Some(config) => Ok(xml(StatusCode::OK, config.to_xml())),
                    None => Err(ApiError::code(ErrorCode::NoSuchCORSConfiguration)),
                }
            }
            Operation::PutBucketCors { bucket } => {
                e.head_bucket(caller, &bucket).await?;
                let raw = read_small_body(body, authed).await?;
                verify_small_body_integrity(headers, &raw, true)?;
                let config = s3gate_protocol::cors::parse_cors_configuration(&raw)?;
                e.metadata()
                    .put_bucket_config(bucket.as_str(), crate::cors::KIND, Some(config.to_xml()))
                    .await
                    .map_err(EngineError::from)?;
                Ok(empty(StatusCode::OK))
            }
            Operation::DeleteBucketCors { bucket } => {
                e.head_bucket(caller, &bucket).await?;
                e.metadata()
                    .put_bucket_config(bucket.as_str(), crate::cors::KIND, None)
                    .await
                    .map_err(EngineError::from)?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Operation::GetBucketVersioning { bucket } => {
                let status = match e.bucket_versioning(caller, &bucket).await? {
                    Versioning::Unversioned => None,
                    Versioning::Enabled => Some("Enabled".to_owned()),
                    Versioning::Suspended => Some("Suspended".to_owned()),
                };
                let config = VersioningConfiguration { status, mfa_delete: None };
                Ok(xml(StatusCode::OK, config.to_xml()))
            }
            Operation::PutBucketVersioning { bucket } => {
                let raw = read_small_body(body, authed).await?;
                verify_small_body_integrity(headers, &raw, false)?;
                let config = parse_versioning_configuration(&raw)?;
                let state = versioning_state(&config)?;
                if header(headers, "x-amz-mfa").is_some() {
                    return Err(mfa_not_implemented());
                }
                match state {
                    Some(state) => e.set_bucket_versioning(caller, &bucket, state).await?,
                    // No Status: nothing to change (the bucket must still be the caller's).
                    None => drop(e.head_bucket(caller, &bucket).await?),
                }
                Ok(empty(StatusCode::OK))
            }
            Operation::ListObjectVersions { bucket, params } => {
                self.list_object_versions(authed, &bucket, params).await
            }
            Operation::BucketConfig { bucket, sub, verb } => {
                let body = if verb.operation.starts_with("Put") {
                    let raw = read_small_body(body, authed).await?;
                    // A sent Content-MD5 or checksum is checked; AWS requires one for tags.
                    verify_small_body_integrity(headers, &raw, sub.query == "tagging")?;
                    Some(raw)
                } else {
                    None
                };
                match sub.query {
                    "acl" => self.bucket_acl(caller, &bucket, verb.operation, headers, body).await,
                    "ownershipControls" => {
                        e.head_bucket(caller, &bucket).await?;
                        self.bucket_ownership(&bucket, verb.operation, body).await
                    }
                    _ => self.bucket_config(caller, &bucket, sub.query, verb.operation, body).await,
                }
            }
            Operation::ObjectConfig { bucket, key, version_id, sub, verb } => {
                let body = if verb.operation.starts_with("Put") {
                    let raw = match lock_body {
                        Some(raw) => raw,
                        None => read_small_body(body, authed).await?,
                    };
                    verify_small_body_integrity(headers, &raw, false)?;
                    Some(raw)
                } else {
                    None
                };
                let v = version_id.as_deref();
                if sub.query == "acl" {
                    let op = verb.operation;
                    return self.object_acl(caller, &bucket, &key, v, op, headers, body).await;
                }
                let vid = match (sub.query, verb.operation, body) {
                    ("retention", "GetObjectRetention", _) => {
                        let (mode, until) = e.object_retention(caller, &bucket, &key, v).await?;
                        return Ok(xml(StatusCode::OK, retention_xml(mode, until)));
                    }
                    ("legal-hold", "GetObjectLegalHold", _) => {
                        let on = e.object_legal_hold(caller, &bucket, &key, v).await?;
                        return Ok(xml(StatusCode::OK, legal_hold_xml(on)));
                    }
                    ("retention", "PutObjectRetention", Some(raw)) => {
                        let retention = parse_retention(&raw)?;
                        let bypass = authed.bypass;
                        e.put_object_retention(caller, &bucket, &key, v, retention, bypass).await?
                    }
                    ("legal-hold", "PutObjectLegalHold", Some(raw)) => {
                        let on = parse_legal_hold(&raw)?;
                        e.put_object_legal_hold(caller, &bucket, &key, v, on).await?
                    }
                    (query, operation, _) => {
                        return Err(ApiError::internal_error(format!(
                            "no handler for the object configuration {query} ({operation})"
                        )));
                    }
                };
                let mut r = empty(StatusCode::OK);
                version_id_header(&mut r, &vid, version_id.is_some());
                Ok(r)
            }
            Operation::GetBucketConfiguration { bucket, sub }
            | Operation::GetObjectConfiguration { bucket, sub, .. } => {
                e.head_bucket(caller, &bucket).await?;
                unset_configuration(sub)
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
                                initiator: owner(&u.owner),
                                owner: owner(reported_owner(authed, &u.owner)),
                                storage_class: class_name(u.storage_class.as_deref()),
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

    /// The operations on configurations kept in the bucket configuration store
    /// ([`s3gate_protocol::State::Stored`] rows), one arm per operation.
    async fn bucket_config(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        query: &str,
        operation: &str,
        body: Option<Bytes>,
    ) -> Result<Resp, ApiError> {
        let e = &self.engine;
        // The bucket must exist and the caller may act on it (authorized above).
        e.head_bucket(caller, bucket).await?;
        let meta = e.metadata();
        let meta_err = |err| ApiError::from(EngineError::from(err));
        // The bucket's policy document, or AWS's 404 when it has none.
        let stored_policy = || async {
            meta.bucket_config(bucket.as_str(), authz::POLICY_KIND)
                .await
                .map_err(meta_err)?
                .ok_or_else(|| ApiError::code(ErrorCode::NoSuchBucketPolicy))
        };
        match (query, operation) {
            ("encryption", "GetBucketEncryption") => {
                match e.bucket_encryption(caller, bucket).await? {
                    Some(rule) => {
                        let rule = s3gate_protocol::EncryptionRule {
                            algorithm: rule.algorithm,
                            kms_key_id: rule.kms_key_id,
                            bucket_key: rule.bucket_key,
                            block_sse_c: rule.block_sse_c,
                        };
                        Ok(xml(StatusCode::OK, s3gate_protocol::bucket_encryption_xml(&rule)))
                    }
                    None => Err(ApiError::msg(
                        ErrorCode::ServerSideEncryptionConfigurationNotFoundError,
                        "The server side encryption configuration was not found",
                    )),
                }
            }
            ("encryption", "PutBucketEncryption") => {
                let rule = bucket_encryption_rule(&body.unwrap_or_default())?;
                e.set_bucket_encryption(caller, bucket, Some(rule)).await?;
                Ok(empty(StatusCode::OK))
            }
            ("encryption", "DeleteBucketEncryption") => {
                e.set_bucket_encryption(caller, bucket, None).await?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            ("policy", "GetBucketPolicy") => {
                let text = stored_policy().await?;
                let mut r = Response::new(body::full(text));
                set(&mut r, "content-type", "application/json");
                Ok(r)
            }
            ("policy", "PutBucketPolicy") => {
                let raw = body.unwrap_or_default();
                let text = std::str::from_utf8(&raw).map_err(|_| {
                    ApiError::msg(ErrorCode::MalformedPolicy, "Policies must be valid JSON")
                })?;
                let policy = self.authz.parse(bucket.as_str(), text)?;
                let block = self.authz.gateway_block();
                authz::public_access_block(meta, bucket.as_str(), block)
                    .await?
                    .check_policy(&policy)?;
                for name in policy.principal_users() {
                    if !self.user_exists(name).await? {
                        return Err(ApiError::msg(
                            ErrorCode::MalformedPolicy,
                            "Invalid principal in policy",
                        ));
                    }
                }
                meta.put_bucket_config(bucket.as_str(), authz::POLICY_KIND, Some(text.to_owned()))
                    .await
                    .map_err(meta_err)?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            ("policy", "DeleteBucketPolicy") => {
                meta.put_bucket_config(bucket.as_str(), authz::POLICY_KIND, None)
                    .await
                    .map_err(meta_err)?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            ("website", operation) => self.bucket_website(bucket, operation, body).await,
            ("tagging", operation) => self.bucket_tagging(bucket, operation, body).await,
            ("publicAccessBlock", operation) => {
                self.bucket_public_access_block(bucket, operation, body).await
            }
            ("object-lock", operation) => {
                self.bucket_object_lock(caller, bucket, operation, body).await
            }
            ("policyStatus", "GetBucketPolicyStatus") => {
                let text = stored_policy().await?;
                let public = self.authz.parse(bucket.as_str(), &text)?.is_public();
                Ok(xml(
                    StatusCode::OK,
                    s3gate_protocol::PolicyStatus { is_public: public }.to_xml(),
                ))
            }
            _ => Err(ApiError::internal_error(format!(
                "no handler for the stored configuration {query} ({operation})"
            ))),
        }
    }

    /// Get/Put/DeleteBucketTagging: the tag set is a stored configuration, kept as
    /// GetBucketTagging renders it (the bucket exists and the caller may act on it).
    async fn bucket_tagging(
        &self,
        bucket: &BucketName,
        operation: &str,
        body: Option<Bytes>,
    ) -> Result<Resp, ApiError> {
        let meta = self.engine.metadata();
        let meta_err = |err| ApiError::from(EngineError::from(err));
        match operation {
            "GetBucketTagging" => {
                let text = meta
                    .bucket_config(bucket.as_str(), BUCKET_TAGS_KIND)
                    .await
                    .map_err(meta_err)?
                    .ok_or_else(|| ApiError::code(ErrorCode::NoSuchTagSet))?;
                Ok(xml(StatusCode::OK, text))
            }
            "PutBucketTagging" => {
                let tags = parse_tagging(&body.unwrap_or_default())?;
                s3gate_protocol::check_bucket_tag_set(&tags)?;
                let text = Tagging(tags).to_xml();
                meta.put_bucket_config(bucket.as_str(), BUCKET_TAGS_KIND, Some(text))
                    .await
                    .map_err(meta_err)?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            _ => {
                meta.put_bucket_config(bucket.as_str(), BUCKET_TAGS_KIND, None)
                    .await
                    .map_err(meta_err)?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
        }
    }

    /// Get/PutObjectLockConfiguration (the engine keeps the configuration: it decides every
    /// write and delete by it).
    async fn bucket_object_lock(
        &self,
        caller: &Caller,
        bucket: &BucketName,
        operation: &str,
        body: Option<Bytes>,
    ) -> Result<Resp, ApiError> {
        let e = &self.engine;
        if operation == "GetObjectLockConfiguration" {
            return match e.object_lock_configuration(caller, bucket).await? {
                Some(config) => Ok(xml(StatusCode::OK, config.to_xml())),
                None => Err(ApiError::msg(
                    ErrorCode::ObjectLockConfigurationNotFoundError,
                    "Object Lock configuration does not exist for this bucket",
                )),
            };
        }
        let raw = body.unwrap_or_default();
        let config = s3gate_protocol::parse_object_lock_configuration(&raw)?;
        e.put_object_lock_configuration(caller, bucket, config).await?;
        Ok(empty(StatusCode::OK))
    }

    /// Get/Put/DeletePublicAccessBlock: the settings are a stored configuration, kept as
    /// GetPublicAccessBlock renders them; `authz` enforces them.
    async fn bucket_public_access_block(
        &self,
        bucket: &BucketName,
        operation: &str,
        body: Option<Bytes>,
    ) -> Result<Resp, ApiError> {
        let meta = self.engine.metadata();
        let meta_err = |err| ApiError::from(EngineError::from(err));
        let kind = authz::PUBLIC_ACCESS_BLOCK_KIND;
        match operation {
            "GetPublicAccessBlock" => {
                let text =
                    meta.bucket_config(bucket.as_str(), kind).await.map_err(meta_err)?.ok_or_else(
                        || ApiError::code(ErrorCode::NoSuchPublicAccessBlockConfiguration),
                    )?;
                Ok(xml(StatusCode::OK, text))
            }
            "PutPublicAccessBlock" => {
                let raw = body.unwrap_or_default();
                let text = s3gate_protocol::PublicAccessBlockConfiguration::parse(&raw)?.to_xml();
                meta.put_bucket_config(bucket.as_str(), kind, Some(text))
                    .await
                    .map_err(meta_err)?;
                Ok(empty(StatusCode::OK))
            }
            _ => {
                meta.put_bucket_config(bucket.as_str(), kind, None).await.map_err(meta_err)?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
        }
    }

    /// Whether a user of this name exists (a bucket policy may name only existing users).
    async fn user_exists(&self, name: &str) -> Result<bool, ApiError> {
        let users = self
            .engine
            .metadata()
            .list_users()
            .await
            .map_err(|e| ApiError::from(EngineError::from(e)))?;
        Ok(users.iter().any(|u| u.name == name))
    }

    async fn list_object_versions(
        &self,
        authed: &Authed,
        bucket: &BucketName,
        params: s3gate_protocol::ListVersionsParams,
    ) -> Result<Resp, ApiError> {
        let caller = &authed.caller;
        let req = ListVersionsRequest {
            prefix: params.prefix.clone(),
            delimiter: params.delimiter.clone(),
            key_marker: params.key_marker.clone(),
            version_id_marker: params.version_id_marker.clone(),
            max_keys: params.max_keys,
        };
        let page = self.engine.list_object_versions(caller, bucket, &req).await?;
        let mut entries = Vec::new();
        let mut common_prefixes = Vec::new();
        let mut next = (None, None);
        for entry in page.entries {
            match entry {
                VersionListEntry::Version(v) => {
                    next = (Some(v.key.clone()), Some(v.version_id.clone()));
                    let object = (!v.is_delete_marker).then(|| {
                        let alg =
                            v.checksum_algorithm.as_deref().and_then(ChecksumAlgorithm::parse);
                        let class = class_name(v.storage_class.as_deref());
                        (ETag::parse_quoted_or_not(&v.etag), v.size, class, alg)
                    });
                    entries.push(VersionEntry {
                        key: v.key,
                        version_id: v.version_id,
                        is_latest: v.is_latest,
                        last_modified: v.last_modified,
                        owner: owner(reported_owner(authed, &v.owner)),
                        object,
                    });
                }
                VersionListEntry::CommonPrefix(p) => {
                    next = (Some(p.clone()), None);
                    common_prefixes.push(p);
                }
            }
        }
        let (next_key_marker, next_version_id_marker) =
            if page.is_truncated { next } else { (None, None) };
        let result = ListVersionsResult {
            name: bucket.to_string(),
            prefix: params.prefix,
            key_marker: params.key_marker.unwrap_or_default(),
            version_id_marker: params.version_id_marker.unwrap_or_default(),
            next_key_marker,
            next_version_id_marker,
            max_keys: params.max_keys,
            delimiter: params.delimiter,
            is_truncated: page.is_truncated,
            entries,
            common_prefixes,
            encoding_type_url: params.encoding_type_url,
        };
        Ok(xml(StatusCode::OK, result.to_xml()))
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
        // A read does not choose an encryption: AWS refuses the header there.
        if headers.contains_key("x-amz-server-side-encryption") {
            return Err(ApiError::from(
                S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    "x-amz-server-side-encryption header is not supported for this operation.",
                )
                .with_extra("ArgumentName", "x-amz-server-side-encryption"),
            ));
        }
        let req_named_version = version != VersionRef::Current;
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
            customer_key: self.customer_key(headers, "x-amz-")?,
        };
        let out = match self.engine.get_object(caller, &req, head).await {
            Ok(out) => out,
            // Veeam's SOSAPI objects, when none is stored at their keys.
            Err(EngineError::NoSuchKey) if req.version == VersionRef::Current => {
                return match SosapiObject::from_key(req.key.as_str()) {
                    Some(object) => self.sosapi_object(object, headers, head).await,
                    None => Err(EngineError::NoSuchKey.into()),
                };
            }
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
        if out.versioning != Versioning::Unversioned || req_named_version {
            set(&mut r, "x-amz-version-id", &v.version_id);
        }
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
        sse_headers(&mut r, s3gate_engine::sse_info(v).as_ref());
        version_headers(&mut r, v);
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

/// `x-amz-object-lock-*` of a version on GET and HEAD.
fn lock_headers(r: &mut Resp, lock: &s3gate_metadata::ObjectLock) {
    if let Some(ret) = &lock.retention {
        set(r, "x-amz-object-lock-mode", s3gate_engine::retention_mode(ret.mode).as_str());
        let until = s3gate_protocol::format_iso8601(ret.until);
        set(r, "x-amz-object-lock-retain-until-date", &until);
    }
    if lock.legal_hold {
        set(r, "x-amz-object-lock-legal-hold", "ON");
    }
}

/// Whether the request asks to bypass governance retention.
fn bypass_requested(headers: &HeaderMap) -> bool {
    header(headers, "x-amz-bypass-governance-retention")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Whether a PutObject carries an integrity header (Content-MD5 or an `x-amz-checksum-*`,
/// sent or announced as a trailer), as AWS requires with object lock parameters.
fn has_integrity_header(headers: &HeaderMap) -> bool {
    headers.contains_key("content-md5")
        || headers.contains_key("x-amz-sdk-checksum-algorithm")
        || headers.keys().any(|n| n.as_str().starts_with("x-amz-checksum-"))
        || header(headers, "x-amz-trailer").is_some_and(|t| t.contains("x-amz-checksum-"))
}

/// `x-amz-version-id` for an operation on one version: reported for ids of versioned buckets,
/// and whenever the request named the version.
fn version_id_header(r: &mut Resp, id: &str, named: bool) {
    if named || id != NULL_VERSION {
        set(r, "x-amz-version-id", id);
    }
}

/// A DeleteObjects `<Deleted>` entry, as AWS writes it: the requested version id, and for a
/// delete marker (made, or removed by id) `DeleteMarker` with the marker's id.
fn deleted_entry(key: String, version_id: Option<String>, out: DeleteOutput) -> DeletedEntry {
    let marker_id = if out.delete_marker { out.version_id } else { None };
    DeletedEntry {
        key,
        version_id,
        delete_marker: marker_id.is_some().then_some(true),
        delete_marker_version_id: marker_id,
    }
}

/// The versioning state a PutBucketVersioning body asks for (`None`: no `Status`, no change):
/// MFA delete is not implemented; a status other than `Enabled` or `Suspended` is AWS's
/// `IllegalVersioningConfigurationException`, an `MfaDelete` other than its two values
/// `MalformedXML`.
fn versioning_state(config: &VersioningConfiguration) -> Result<Option<Versioning>, ApiError> {
    match config.mfa_delete.as_deref() {
        None | Some("Disabled") => {}
        Some("Enabled") => return Err(mfa_not_implemented()),
        Some(_) => return Err(ApiError::code(ErrorCode::MalformedXML)),
    }
    match config.status.as_deref() {
        None => Ok(None),
        Some("Enabled") => Ok(Some(Versioning::Enabled)),
        Some("Suspended") => Ok(Some(Versioning::Suspended)),
        Some(_) => Err(ApiError::msg(
            ErrorCode::IllegalVersioningConfigurationException,
            "The Versioning element must be specified",
        )),
    }
}

fn mfa_not_implemented() -> ApiError {
    ApiError::msg(ErrorCode::NotImplemented, "MFA delete is not implemented by this gateway.")
}

/// The answer to a GET of a configuration the gateway cannot set: what AWS answers when it was
/// never set.
fn unset_configuration(sub: &s3gate_protocol::SubResource) -> Result<Resp, ApiError> {
    match &sub.state {
        State::Unset(unset) => Ok(xml(StatusCode::OK, unset_answer(unset)?)),
        State::Built | State::Stored | State::NotImplemented => Err(ApiError::msg(
            ErrorCode::NotImplemented,
            format!("The '{}' sub-resource is not implemented by this gateway.", sub.query),
        )),
    }
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
            storage_class: self.storage_class.then(|| class_name(v.storage_class.as_deref())),
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
    let v = match &authed.signed {
        Some(Signed::V4(v)) => v,
        Some(Signed::V2(_) | Signed::Form(_) | Signed::Console) | None => {
            return body_setup_v2(headers);
        }
    };
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
        let (payload, trailers) = (&v.payload, &v.declared_trailers[..]);
        if !trailers.is_empty() {
            return Err(ApiError::msg(
                ErrorCode::InvalidRequest,
                "x-amz-trailer requires an aws-chunked streaming payload.",
            ));
        }
        let (integrity, _) = body_integrity(headers, content_length, &[])?;
        let mode = match *payload {
            PayloadMode::Sha256(expected) => {
                BodyMode::Sha256(s3gate_sigv4::PayloadHasher::new(expected))
            }
            _ => BodyMode::Plain,
        };
        Ok((integrity, mode))
    }
}

/// [`body_setup`] of a SigV2 request: the body is unsigned and plain; the aws-chunked encoding
/// and trailers belong to SigV4 and are refused rather than stored as object bytes.
fn body_setup_v2(
    headers: &HeaderMap,
) -> Result<(s3gate_engine::api::BodyIntegrity, BodyMode), ApiError> {
    let content_length = match header(headers, "content-length") {
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::msg(ErrorCode::InvalidArgument, "Content-Length is not a number")
        })?),
        None => None,
    };
    let chunked_transfer = header(headers, "transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if content_length.is_none() && !chunked_transfer {
        return Err(ApiError::code(ErrorCode::MissingContentLength));
    }
    if headers.contains_key("x-amz-trailer")
        || header(headers, "x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING-"))
    {
        return Err(ApiError::msg(
            ErrorCode::InvalidRequest,
            "aws-chunked payloads and trailers require Signature Version 4.",
        ));
    }
    let (integrity, _) = body_integrity(headers, content_length, &[])?;
    Ok((integrity, BodyMode::Plain))
}

/// The `s3:object-lock-*` keys of a PutObjectRetention or PutObjectLegalHold body. A body
/// that does not parse sets none: the request is refused with MalformedXML anyway.
fn set_body_lock_keys(checker: &mut authz::Checker, op: &Operation, lock_body: Option<&[u8]>) {
    match (op, lock_body) {
        (Operation::ObjectConfig { sub, .. }, Some(raw)) if sub.query == "retention" => {
            if let Ok(retention) = s3gate_protocol::parse_retention(raw) {
                checker.set_lock(retention, None);
            }
        }
        (Operation::ObjectConfig { .. }, Some(raw)) => {
            if let Ok(on) = s3gate_protocol::parse_legal_hold(raw) {
                checker.set_lock(None, Some(on));
            }
        }
        _ => {}
    }
}

/// Whether `op` sets a version's retention or legal hold (from its body).
fn sets_lock(op: &Operation) -> bool {
    matches!(
        op,
        Operation::ObjectConfig { verb, .. }
            if matches!(verb.operation, "PutObjectRetention" | "PutObjectLegalHold")
    )
}

/// Reads a small (XML) request body whole, verifying its payload hash, under [`MAX_XML_BODY`].
async fn read_small_body<B>(body: B, authed: &Authed) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes, Error = BodyReadError>,
{
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
    match authed.payload() {
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

/// The source key of a RenameObject (`x-amz-rename-source`, required).
fn rename_source(headers: &HeaderMap, bucket: &BucketName) -> Result<ObjectKey, ApiError> {
    let Some(v) = header(headers, "x-amz-rename-source") else {
        return Err(ApiError::msg(
            ErrorCode::InvalidArgument,
            "RenameObject requires the x-amz-rename-source header.",
        ));
    };
    Ok(s3gate_protocol::parse_rename_source(v, bucket)?)
}

/// RenameObject's `x-amz-client-token`: at most 64 characters of ASCII 33 to 126, as AWS
/// documents it.
fn client_token(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = header(headers, "x-amz-client-token") else { return Ok(None) };
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(ApiError::msg(
            ErrorCode::InvalidArgument,
            "x-amz-client-token must be 1 to 64 ASCII characters from '!' to '~'.",
        ));
    }
    Ok(Some(v.to_owned()))
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

/// The owner a listing reports for what `stored` wrote: under BucketOwnerEnforced the bucket
/// owner owns every object (and every upload's object), as on AWS, whoever wrote it.
fn reported_owner<'a>(authed: &'a Authed, stored: &'a str) -> &'a str {
    match authed.bucket.as_deref() {
        Some(facts) if !facts.ownership.acls_enabled() => &facts.owner,
        _ => stored,
    }
}

/// Splits a listing page into Contents and CommonPrefixes; also returns the last sort key.
fn split_page(
    entries: Vec<ListEntry>,
    with_owner: Option<&Authed>,
) -> (Vec<ObjectEntry>, Vec<String>, Option<String>) {
    let last = entries.last().map(|e| e.sort_key().to_owned());
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in entries {
        match entry {
            ListEntry::Object(o) => contents.push(ObjectEntry {
                etag: ETag::parse_quoted_or_not(&o.etag),
                owner: with_owner.map(|a| owner(reported_owner(a, &o.owner))),
                checksum_algorithm: o
                    .checksum_algorithm
                    .as_deref()
                    .and_then(ChecksumAlgorithm::parse),
                key: o.key,
                last_modified: o.last_modified,
                size: o.size,
                storage_class: class_name(o.storage_class.as_deref()),
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
    if let Some(id) = &out.version_id {
        set(r, "x-amz-version-id", id);
    }
    if let Some((alg, value)) = &out.checksum_value {
        set(r, alg.header_name(), value);
    }
    if let Some(t) = out.checksum_type {
        set(r, "x-amz-checksum-type", t.as_str());
    }
    sse_headers(r, out.encryption.as_ref());
}

/// The rule of a PutBucketEncryption body, with AWS's refusals: `aws:kms:dsse` is not built
/// (501); a key id goes with `aws:kms` only.
fn bucket_encryption_rule(raw: &[u8]) -> Result<s3gate_engine::BucketEncryption, ApiError> {
    let rule = s3gate_protocol::parse_bucket_encryption(raw)?;
    let algorithm = rule.algorithm.as_deref();
    if algorithm.is_some_and(|a| !matches!(a, "AES256" | "aws:kms")) {
        return Err(ApiError::msg(
            ErrorCode::NotImplemented,
            "Default encryption with dual-layer KMS keys (aws:kms:dsse) is not implemented by \
             this gateway.",
        ));
    }
    if algorithm != Some("aws:kms") && rule.kms_key_id.is_some() {
        return Err(ApiError::msg(
            ErrorCode::InvalidArgument,
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or \
             aws:kms:dsse",
        ));
    }
    if rule.kms_key_id.as_deref().is_some_and(|k| k.contains(char::is_whitespace)) {
        return Err(ApiError::msg(ErrorCode::KmsNotFound, "Invalid keyId"));
    }
    Ok(s3gate_engine::BucketEncryption {
        algorithm: rule.algorithm,
        kms_key_id: rule.kms_key_id.filter(|k| !k.is_empty()),
        bucket_key: rule.bucket_key,
        block_sse_c: rule.block_sse_c,
    })
}

/// `x-amz-server-side-encryption-context`: base64 of a JSON object of string values, as S3
/// takes it (`400 InvalidArgument` otherwise).
fn encryption_context(
    headers: &HeaderMap,
) -> Result<Option<s3gate_crypto::EncryptionContext>, ApiError> {
    use base64::Engine as _;
    let Some(value) = header(headers, "x-amz-server-side-encryption-context") else {
        return Ok(None);
    };
    let json = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok();
    json.as_deref().and_then(s3gate_engine::parse_context_json).map(Some).ok_or_else(|| {
        ApiError::msg(
            ErrorCode::InvalidArgument,
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 \
             string holding JSON which represents a string-string map",
        )
    })
}

/// The response headers that say how an object is encrypted, as S3 sends them.
fn sse_headers(r: &mut Resp, sse: Option<&SseInfo>) {
    match sse {
        None => {}
        Some(SseInfo::S3) => set(r, "x-amz-server-side-encryption", "AES256"),
        Some(SseInfo::Customer { key_md5 }) => {
            set(r, "x-amz-server-side-encryption-customer-algorithm", "AES256");
            set(r, "x-amz-server-side-encryption-customer-key-md5", key_md5);
        }
        Some(SseInfo::Kms { key_arn, bucket_key, context: _ }) => {
            set(r, "x-amz-server-side-encryption", "aws:kms");
            set(r, "x-amz-server-side-encryption-aws-kms-key-id", key_arn);
            if *bucket_key {
                set(r, "x-amz-server-side-encryption-bucket-key-enabled", "true");
            }
        }
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

/// ListBuckets and CreateBucket act on no existing bucket: root and identity policies decide
/// them (`s3:ListAllMyBuckets`, `s3:CreateBucket` on the new name), as on AWS. ListBuckets
/// keeps the checker, to ask which buckets the caller's policies let it list.
fn decide_without_bucket(
    op: &Operation,
    checker: authz::Checker,
    authed: &mut Authed,
) -> Result<(), ApiError> {
    if let Some(bucket) = op.bucket() {
        let create = s3gate_policy::Action::CreateBucket;
        return Authz::decide_account(&checker, create, Some(bucket.as_str()));
    }
    Authz::decide_account(&checker, s3gate_policy::Action::ListAllMyBuckets, None)?;
    authed.checker = Some(checker);
    Ok(())
}

fn engine_meta(e: s3gate_metadata::MetaError) -> ApiError {
    ApiError::from(EngineError::from(e))
}
