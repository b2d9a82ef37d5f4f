//! Request routing: method + path + query + host → [`Operation`].
//!
//! Query parsing decodes `%XX` once (strictly: [`crate::percent::decode`]) and keeps `+` as a literal plus: SDKs always
//! send a space as `%20`, and a literal `+` in a key (which S3 allows) must
//! survive. Path-style and virtual-hosted-style addressing are both supported.

use crate::error::{ErrorCode, S3Error};
use crate::names::{BucketName, ObjectKey, PartNumber, UploadId};
use crate::subresource::{SUBRESOURCES, Scope, State, SubResource, Verb};

/// Routing configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteConfig {
    /// Base domains for virtual-hosted style, e.g. `s3.example.test`: a Host of
    /// `<bucket>.s3.example.test` addresses `<bucket>`.
    pub domains: Vec<String>,
}

impl RouteConfig {
    /// The bucket a virtual-hosted-style Host header names (`<bucket>.<domain>[:port]`), if
    /// any: SigV2 signs it as the start of its canonical resource.
    pub fn host_bucket(&self, host: Option<&str>) -> Option<String> {
        bucket_from_host(host, self)
    }
}

/// The parts of a request that decide its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTarget<'a> {
    /// HTTP method, uppercase.
    pub method: &'a str,
    /// Path as on the wire (percent-encoded), starting with `/`.
    pub raw_path: &'a str,
    /// Query string without `?`, as on the wire.
    pub raw_query: Option<&'a str>,
    /// `Host` header (or `:authority`).
    pub host: Option<&'a str>,
    /// Whether an `x-amz-copy-source` header is present.
    pub has_copy_source: bool,
}

/// Highest `max-keys`/`max-uploads`/`max-parts` S3 honours.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// Highest `max-buckets` ListBuckets accepts.
pub const MAX_BUCKETS_LIMIT: u32 = 10_000;

/// ListBuckets parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListBucketsParams {
    /// `max-buckets` (1 to [`MAX_BUCKETS_LIMIT`]); `None`: every bucket in one answer.
    pub max_buckets: Option<u32>,
    /// `continuation-token`, as sent (opaque: the server reads it).
    pub continuation_token: Option<String>,
    /// `prefix`: only buckets whose names start with it.
    pub prefix: Option<String>,
    /// `bucket-region`: only buckets in this region.
    pub bucket_region: Option<String>,
}

/// ListObjects (v1) parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsParams {
    /// `prefix` (empty if absent).
    pub prefix: String,
    /// `delimiter` (`None` if absent or empty).
    pub delimiter: Option<String>,
    /// `marker`.
    pub marker: Option<String>,
    /// `max-keys`, default 1000, clamped to 1000.
    pub max_keys: u32,
    /// `encoding-type=url`.
    pub encoding_type_url: bool,
}

/// ListObjectsV2 parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsV2Params {
    /// `prefix` (empty if absent).
    pub prefix: String,
    /// `delimiter` (`None` if absent or empty).
    pub delimiter: Option<String>,
    /// `continuation-token`, possibly empty (then the listing starts at the beginning, or
    /// after `start-after`, and the empty token is echoed).
    pub continuation_token: Option<String>,
    /// `start-after`.
    pub start_after: Option<String>,
    /// `max-keys`, default 1000, clamped to 1000.
    pub max_keys: u32,
    /// `fetch-owner=true`.
    pub fetch_owner: bool,
    /// `encoding-type=url`.
    pub encoding_type_url: bool,
}

/// ListMultipartUploads parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUploadsParams {
    /// `prefix` (empty if absent).
    pub prefix: String,
    /// `delimiter` (`None` if absent or empty).
    pub delimiter: Option<String>,
    /// `key-marker`.
    pub key_marker: Option<String>,
    /// `upload-id-marker`.
    pub upload_id_marker: Option<String>,
    /// `max-uploads`, default 1000, clamped to 1000.
    pub max_uploads: u32,
    /// `encoding-type=url`.
    pub encoding_type_url: bool,
}

/// ListObjectVersions parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListVersionsParams {
    /// `prefix` (empty if absent).
    pub prefix: String,
    /// `delimiter` (`None` if absent or empty).
    pub delimiter: Option<String>,
    /// `key-marker`.
    pub key_marker: Option<String>,
    /// `version-id-marker` (only with a key marker).
    pub version_id_marker: Option<String>,
    /// `max-keys`, default 1000, clamped to 1000.
    pub max_keys: u32,
    /// `encoding-type=url`.
    pub encoding_type_url: bool,
}

/// GetObject/HeadObject parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetObjectParams {
    /// `partNumber`.
    pub part_number: Option<PartNumber>,
    /// `versionId`.
    pub version_id: Option<String>,
    /// Response header overrides from `response-*` parameters, as
    /// (lowercase header name, value), e.g. `("content-type", "text/plain")`.
    pub response_overrides: Vec<(String, String)>,
}

/// An S3 operation with its validated arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs, reason = "fields are the operation's documented arguments")]
pub enum Operation {
    /// `GET /`.
    ListBuckets { params: ListBucketsParams },
    /// `PUT /bucket`.
    CreateBucket { bucket: BucketName },
    /// `HEAD /bucket`.
    HeadBucket { bucket: BucketName },
    /// `DELETE /bucket`.
    DeleteBucket { bucket: BucketName },
    /// `GET /bucket?location`.
    GetBucketLocation { bucket: BucketName },
    /// `GET /bucket`.
    ListObjects { bucket: BucketName, params: ListObjectsParams },
    /// `GET /bucket?list-type=2`.
    ListObjectsV2 { bucket: BucketName, params: ListObjectsV2Params },
    /// `GET /bucket?versions`.
    ListObjectVersions { bucket: BucketName, params: ListVersionsParams },
    /// `GET /bucket?versioning`.
    GetBucketVersioning { bucket: BucketName },
    /// `PUT /bucket?versioning`.
    PutBucketVersioning { bucket: BucketName },
    /// `PUT /bucket/key`.
    PutObject { bucket: BucketName, key: ObjectKey },
    /// `PUT /bucket/key` with `x-amz-copy-source`.
    CopyObject { bucket: BucketName, key: ObjectKey },
    /// `PUT /bucket/key?renameObject` (the source in `x-amz-rename-source`).
    RenameObject { bucket: BucketName, key: ObjectKey },
    /// `GET /bucket/key`.
    GetObject { bucket: BucketName, key: ObjectKey, params: GetObjectParams },
    /// `HEAD /bucket/key`.
    HeadObject { bucket: BucketName, key: ObjectKey, params: GetObjectParams },
    /// `DELETE /bucket/key`.
    DeleteObject { bucket: BucketName, key: ObjectKey, version_id: Option<String> },
    /// `POST /bucket?delete`.
    DeleteObjects { bucket: BucketName },
    /// `POST /bucket/key?uploads`.
    CreateMultipartUpload { bucket: BucketName, key: ObjectKey },
    /// `PUT /bucket/key?partNumber=N&uploadId=U`.
    UploadPart { bucket: BucketName, key: ObjectKey, upload_id: UploadId, part_number: PartNumber },
    /// `PUT /bucket/key?partNumber=N&uploadId=U` with `x-amz-copy-source`.
    UploadPartCopy {
        bucket: BucketName,
        key: ObjectKey,
        upload_id: UploadId,
        part_number: PartNumber,
    },
    /// `POST /bucket/key?uploadId=U`.
    CompleteMultipartUpload { bucket: BucketName, key: ObjectKey, upload_id: UploadId },
    /// `DELETE /bucket/key?uploadId=U`.
    AbortMultipartUpload { bucket: BucketName, key: ObjectKey, upload_id: UploadId },
    /// `GET /bucket/key?uploadId=U`.
    ListParts {
        bucket: BucketName,
        key: ObjectKey,
        upload_id: UploadId,
        max_parts: u32,
        part_number_marker: u32,
        encoding_type_url: bool,
    },
    /// `GET /bucket?uploads`.
    ListMultipartUploads { bucket: BucketName, params: ListUploadsParams },
    /// `GET /bucket/key?tagging`.
    GetObjectTagging { bucket: BucketName, key: ObjectKey, version_id: Option<String> },
    /// `PUT /bucket/key?tagging`.
    PutObjectTagging { bucket: BucketName, key: ObjectKey, version_id: Option<String> },
    /// `DELETE /bucket/key?tagging`.
    DeleteObjectTagging { bucket: BucketName, key: ObjectKey, version_id: Option<String> },
    /// `GET /bucket/key?attributes` (the attributes are named by headers).
    GetObjectAttributes { bucket: BucketName, key: ObjectKey, version_id: Option<String> },
    /// `POST /bucket`: a browser-form upload, authenticated by its form.
    PostObject { bucket: BucketName },
    /// `GET /bucket?cors`.
    GetBucketCors { bucket: BucketName },
    /// `PUT /bucket?cors`.
    PutBucketCors { bucket: BucketName },
    /// `DELETE /bucket?cors`.
    DeleteBucketCors { bucket: BucketName },
    /// `OPTIONS /bucket[/key]`: a CORS preflight, answered from the bucket's CORS
    /// configuration without authentication.
    PreflightRequest { bucket: BucketName, key: Option<ObjectKey> },
    /// `GET /bucket?<configuration>` of a configuration this gateway cannot set yet
    /// ([`State::Unset`]): answered as AWS answers for one that was never set.
    GetBucketConfiguration { bucket: BucketName, sub: &'static SubResource },
    /// `GET /bucket/key?<sub-resource>` of an object sub-resource this gateway cannot set yet.
    GetObjectConfiguration {
        bucket: BucketName,
        key: ObjectKey,
        version_id: Option<String>,
        sub: &'static SubResource,
    },
    /// `GET|PUT|DELETE /bucket?<configuration>` of a configuration the gateway keeps in its
    /// bucket configuration store ([`State::Stored`]); the server has one handler per
    /// `sub.query`. `verb` is the method's operation and permission.
    BucketConfig { bucket: BucketName, sub: &'static SubResource, verb: Verb },
    /// `GET|PUT /bucket/key?<sub-resource>` of an object sub-resource kept on the version in
    /// the metadata store ([`State::Stored`] object rows: retention, legal hold); the server
    /// has one handler per `sub.query`.
    ObjectConfig {
        bucket: BucketName,
        key: ObjectKey,
        version_id: Option<String>,
        sub: &'static SubResource,
        verb: Verb,
    },
}

impl Operation {
    /// The S3 API name, e.g. `"PutObject"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ListBuckets { .. } => "ListBuckets",
            Self::CreateBucket { .. } => "CreateBucket",
            Self::HeadBucket { .. } => "HeadBucket",
            Self::DeleteBucket { .. } => "DeleteBucket",
            Self::GetBucketLocation { .. } => "GetBucketLocation",
            Self::ListObjects { .. } => "ListObjects",
            Self::ListObjectsV2 { .. } => "ListObjectsV2",
            Self::ListObjectVersions { .. } => "ListObjectVersions",
            Self::GetBucketVersioning { .. } => "GetBucketVersioning",
            Self::PutBucketVersioning { .. } => "PutBucketVersioning",
            Self::PutObject { .. } => "PutObject",
            Self::CopyObject { .. } => "CopyObject",
            Self::RenameObject { .. } => "RenameObject",
            Self::GetObject { .. } => "GetObject",
            Self::HeadObject { .. } => "HeadObject",
            Self::DeleteObject { .. } => "DeleteObject",
            Self::DeleteObjects { .. } => "DeleteObjects",
            Self::CreateMultipartUpload { .. } => "CreateMultipartUpload",
            Self::UploadPart { .. } => "UploadPart",
            Self::UploadPartCopy { .. } => "UploadPartCopy",
            Self::CompleteMultipartUpload { .. } => "CompleteMultipartUpload",
            Self::AbortMultipartUpload { .. } => "AbortMultipartUpload",
            Self::ListParts { .. } => "ListParts",
            Self::ListMultipartUploads { .. } => "ListMultipartUploads",
            Self::GetObjectTagging { .. } => "GetObjectTagging",
            Self::PutObjectTagging { .. } => "PutObjectTagging",
            Self::DeleteObjectTagging { .. } => "DeleteObjectTagging",
            Self::GetObjectAttributes { .. } => "GetObjectAttributes",
            Self::PostObject { .. } => "PostObject",
            Self::GetBucketCors { .. } => "GetBucketCors",
            Self::PutBucketCors { .. } => "PutBucketCors",
            Self::DeleteBucketCors { .. } => "DeleteBucketCors",
            Self::PreflightRequest { .. } => "PreflightRequest",
            Self::GetBucketConfiguration { sub, .. } | Self::GetObjectConfiguration { sub, .. } => {
                sub.get.map_or("Unknown", |v| v.operation)
            }
            Self::BucketConfig { verb, .. } | Self::ObjectConfig { verb, .. } => verb.operation,
        }
    }

    /// The IAM action (without `s3:`) that authorizes the operation on its resource
    /// ([`Self::bucket`] and [`Self::key`]; the account for ListBuckets). A copy also needs
    /// `GetObject` (`GetObjectVersion`) on its source, and DeleteObjects `DeleteObject` on each
    /// key; the server checks those where it reads them.
    pub fn permission(&self) -> &'static str {
        let versioned =
            |v: &Option<String>, plain, version| if v.is_some() { version } else { plain };
        match self {
            Self::ListBuckets { .. } => "ListAllMyBuckets",
            Self::CreateBucket { .. } => "CreateBucket",
            Self::HeadBucket { .. } | Self::ListObjects { .. } | Self::ListObjectsV2 { .. } => {
                "ListBucket"
            }
            Self::DeleteBucket { .. } => "DeleteBucket",
            Self::GetBucketLocation { .. } => "GetBucketLocation",
            Self::ListObjectVersions { .. } => "ListBucketVersions",
            Self::GetBucketCors { .. } => "GetBucketCORS",
            // AWS authorizes both by s3:PutBucketCORS.
            Self::PutBucketCors { .. } | Self::DeleteBucketCors { .. } => "PutBucketCORS",
            // A preflight is answered before authentication from the CORS configuration alone;
            // the server never evaluates it (an evaluation would fail on this unknown action).
            Self::PreflightRequest { .. } => "PreflightRequest",
            Self::GetBucketVersioning { .. } => "GetBucketVersioning",
            Self::PutBucketVersioning { .. } => "PutBucketVersioning",
            // The source's s3:GetObject and s3:DeleteObject are checked too (the server).
            Self::PutObject { .. }
            | Self::CopyObject { .. }
            | Self::RenameObject { .. }
            | Self::CreateMultipartUpload { .. }
            | Self::UploadPart { .. }
            | Self::UploadPartCopy { .. }
            | Self::CompleteMultipartUpload { .. }
            | Self::PostObject { .. } => "PutObject",
            Self::GetObject { params, .. } | Self::HeadObject { params, .. } => {
                versioned(&params.version_id, "GetObject", "GetObjectVersion")
            }
            Self::DeleteObject { version_id, .. } => {
                versioned(version_id, "DeleteObject", "DeleteObjectVersion")
            }
            Self::DeleteObjects { .. } => "DeleteObject",
            Self::AbortMultipartUpload { .. } => "AbortMultipartUpload",
            Self::ListParts { .. } => "ListMultipartUploadParts",
            Self::ListMultipartUploads { .. } => "ListBucketMultipartUploads",
            Self::GetObjectTagging { version_id, .. } => {
                versioned(version_id, "GetObjectTagging", "GetObjectVersionTagging")
            }
            Self::PutObjectTagging { version_id, .. } => {
                versioned(version_id, "PutObjectTagging", "PutObjectVersionTagging")
            }
            Self::DeleteObjectTagging { version_id, .. } => {
                versioned(version_id, "DeleteObjectTagging", "DeleteObjectVersionTagging")
            }
            Self::GetObjectAttributes { version_id, .. } => {
                versioned(version_id, "GetObjectAttributes", "GetObjectVersionAttributes")
            }
            Self::GetBucketConfiguration { sub, .. } | Self::GetObjectConfiguration { sub, .. } => {
                sub.get.map_or("Unknown", |v| v.permission)
            }
            Self::BucketConfig { verb, .. } | Self::ObjectConfig { verb, .. } => verb.permission,
        }
    }

    /// The addressed bucket (`None` for ListBuckets).
    pub fn bucket(&self) -> Option<&BucketName> {
        match self {
            Self::ListBuckets { .. } => None,
            Self::CreateBucket { bucket }
            | Self::HeadBucket { bucket }
            | Self::DeleteBucket { bucket }
            | Self::GetBucketLocation { bucket }
            | Self::ListObjects { bucket, .. }
            | Self::ListObjectsV2 { bucket, .. }
            | Self::ListObjectVersions { bucket, .. }
            | Self::GetBucketVersioning { bucket }
            | Self::PutBucketVersioning { bucket }
            | Self::PutObject { bucket, .. }
            | Self::CopyObject { bucket, .. }
            | Self::RenameObject { bucket, .. }
            | Self::GetObject { bucket, .. }
            | Self::HeadObject { bucket, .. }
            | Self::DeleteObject { bucket, .. }
            | Self::DeleteObjects { bucket }
            | Self::CreateMultipartUpload { bucket, .. }
            | Self::UploadPart { bucket, .. }
            | Self::UploadPartCopy { bucket, .. }
            | Self::CompleteMultipartUpload { bucket, .. }
            | Self::AbortMultipartUpload { bucket, .. }
            | Self::ListParts { bucket, .. }
            | Self::ListMultipartUploads { bucket, .. }
            | Self::GetObjectTagging { bucket, .. }
            | Self::PutObjectTagging { bucket, .. }
            | Self::DeleteObjectTagging { bucket, .. }
            | Self::GetObjectAttributes { bucket, .. }
            | Self::PostObject { bucket }
            | Self::GetBucketCors { bucket }
            | Self::PutBucketCors { bucket }
            | Self::DeleteBucketCors { bucket }
            | Self::PreflightRequest { bucket, .. }
            | Self::GetBucketConfiguration { bucket, .. }
            | Self::GetObjectConfiguration { bucket, .. }
            | Self::BucketConfig { bucket, .. }
            | Self::ObjectConfig { bucket, .. } => Some(bucket),
        }
    }

    /// The addressed key, for object operations.
    pub fn key(&self) -> Option<&ObjectKey> {
        match self {
            Self::PutObject { key, .. }
            | Self::CopyObject { key, .. }
            | Self::RenameObject { key, .. }
            | Self::GetObject { key, .. }
            | Self::HeadObject { key, .. }
            | Self::DeleteObject { key, .. }
            | Self::CreateMultipartUpload { key, .. }
            | Self::UploadPart { key, .. }
            | Self::UploadPartCopy { key, .. }
            | Self::CompleteMultipartUpload { key, .. }
            | Self::AbortMultipartUpload { key, .. }
            | Self::ListParts { key, .. }
            | Self::GetObjectTagging { key, .. }
            | Self::PutObjectTagging { key, .. }
            | Self::DeleteObjectTagging { key, .. }
            | Self::GetObjectAttributes { key, .. }
            | Self::GetObjectConfiguration { key, .. }
            | Self::ObjectConfig { key, .. } => Some(key),
            Self::PreflightRequest { key, .. } => key.as_ref(),
            Self::ListBuckets { .. }
            | Self::CreateBucket { .. }
            | Self::HeadBucket { .. }
            | Self::DeleteBucket { .. }
            | Self::GetBucketLocation { .. }
            | Self::ListObjects { .. }
            | Self::ListObjectsV2 { .. }
            | Self::ListObjectVersions { .. }
            | Self::GetBucketVersioning { .. }
            | Self::PutBucketVersioning { .. }
            | Self::DeleteObjects { .. }
            | Self::ListMultipartUploads { .. }
            | Self::PostObject { .. }
            | Self::GetBucketCors { .. }
            | Self::PutBucketCors { .. }
            | Self::DeleteBucketCors { .. }
            | Self::GetBucketConfiguration { .. }
            | Self::BucketConfig { .. } => None,
        }
    }
}

/// `response-*` query parameters and the header each overrides.
const RESPONSE_OVERRIDES: &[(&str, &str)] = &[
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
    ("response-content-language", "content-language"),
    ("response-content-type", "content-type"),
    ("response-expires", "expires"),
];

/// Decoded query parameters in arrival order; a name without `=` has value `""`.
#[derive(Debug, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Result<Self, S3Error> {
        let mut pairs = Vec::new();
        for piece in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn owned(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_owned)
    }
}

fn invalid_uri() -> S3Error {
    S3Error::new(ErrorCode::InvalidURI)
}

/// Decodes a path segment or query piece; a broken escape or non-UTF-8 is `InvalidURI`, so
/// that no two URIs name one key.
fn decode(text: &str) -> Result<String, S3Error> {
    crate::percent::decode(text).ok_or_else(invalid_uri)
}

fn invalid_argument(name: &str, value: &str, message: &str) -> S3Error {
    S3Error::with_message(ErrorCode::InvalidArgument, message)
        .with_extra("ArgumentName", name)
        .with_extra("ArgumentValue", value)
}

/// A non-negative integer limit, clamped to 1000; absent means 1000.
fn limit(query: &Query, name: &str) -> Result<u32, S3Error> {
    match query.get(name) {
        None => Ok(MAX_LIST_LIMIT),
        Some(v) => {
            let n = non_negative(v).ok_or_else(|| {
                invalid_argument(
                    name,
                    v,
                    &format!("Provided {name} not an integer or within integer range"),
                )
            })?;
            Ok(u32::try_from(n.min(u64::from(MAX_LIST_LIMIT))).unwrap_or(MAX_LIST_LIMIT))
        }
    }
}

fn list_buckets_params(query: &Query) -> Result<ListBucketsParams, S3Error> {
    let max_buckets = match query.get("max-buckets") {
        None => None,
        Some(v) => match non_negative(v) {
            Some(n) if (1..=u64::from(MAX_BUCKETS_LIMIT)).contains(&n) => u32::try_from(n).ok(),
            _ => {
                return Err(invalid_argument(
                    "max-buckets",
                    v,
                    "Argument max-buckets must be an integer between 1 and 10000",
                ));
            }
        },
    };
    Ok(ListBucketsParams {
        max_buckets,
        continuation_token: query.get("continuation-token").map(str::to_owned),
        prefix: query.get("prefix").map(str::to_owned),
        bucket_region: query.get("bucket-region").map(str::to_owned),
    })
}

/// A decimal non-negative integer; huge values saturate.
fn non_negative(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

fn encoding_type_url(query: &Query) -> Result<bool, S3Error> {
    match query.get("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(v) => Err(invalid_argument(
            "encoding-type",
            v,
            "Invalid Encoding Method specified in Request",
        )),
    }
}

fn method_not_allowed(method: &str, resource: &str) -> S3Error {
    S3Error::new(ErrorCode::MethodNotAllowed)
        .with_extra("Method", method)
        .with_extra("ResourceType", resource)
}

/// The sub-resource a request names, if any: the first row of [`SUBRESOURCES`] for `scope`
/// present in the query. On an object, a sub-resource S3 has only on buckets (e.g.
/// `?versioning`) is not implemented.
fn subresource(scope: Scope, query: &Query) -> Result<Option<&'static SubResource>, S3Error> {
    let named = |s: &&SubResource| query.has(s.query);
    if let Some(sub) = SUBRESOURCES.iter().filter(|s| s.scope == scope).find(named) {
        return Ok(Some(sub));
    }
    match SUBRESOURCES.iter().find(named) {
        Some(other) => Err(not_implemented(&format!("The '{}' sub-resource", other.query))),
        None => Ok(None),
    }
}

fn not_implemented(what: &str) -> S3Error {
    S3Error::with_message(
        ErrorCode::NotImplemented,
        format!("{what} is not implemented by this gateway."),
    )
}

/// Splits the host header into a bucket when it is `<bucket>.<domain>`.
fn bucket_from_host<'h>(host: Option<&'h str>, cfg: &RouteConfig) -> Option<String> {
    let host: &'h str = host?.trim();
    // Strip the port; an IPv6 literal keeps its brackets and never matches a domain.
    let name =
        if host.starts_with('[') { host } else { host.rsplit_once(':').map_or(host, |(h, _)| h) };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    cfg.domains.iter().find_map(|domain| {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let prefix = name.strip_suffix(&domain)?.strip_suffix('.')?;
        (!prefix.is_empty()).then(|| prefix.to_owned())
    })
}

/// What the access log can still name of a request [`route`] refused: the bucket (when the
/// path or host names a valid one) and, for a sub-resource the gateway does not serve with
/// that method, the S3 operation it asks for (`PutBucketLifecycleConfiguration` for
/// `PUT /b?lifecycle`). Best effort: `None` where the request names nothing usable.
pub fn refused_operation(
    req: &RequestTarget<'_>,
    cfg: &RouteConfig,
) -> (Option<&'static str>, Option<BucketName>) {
    let rest = req.raw_path.strip_prefix('/').unwrap_or(req.raw_path);
    let (bucket, key) = match bucket_from_host(req.host, cfg) {
        Some(bucket) => (Some(bucket), rest),
        None => match rest.split_once('/') {
            Some((b, k)) => (decode(b).ok(), k),
            None => (decode(rest).ok().filter(|b| !b.is_empty()), ""),
        },
    };
    let bucket = bucket.and_then(|b| BucketName::parse(&b).ok());
    let scope = if key.is_empty() { Scope::Bucket } else { Scope::Object };
    let operation = bucket.as_ref().and(Query::parse(req.raw_query).ok()).and_then(|query| {
        let named = |s: &&SubResource| query.has(s.query);
        let sub = SUBRESOURCES
            .iter()
            .filter(|s| s.scope == scope)
            .find(named)
            .or_else(|| SUBRESOURCES.iter().find(named))?;
        sub.verb(req.method).map(|v| v.operation)
    });
    (operation, bucket)
}

/// Routes a request. Errors are S3 errors ready to send (400/405/501...).
pub fn route(req: &RequestTarget<'_>, cfg: &RouteConfig) -> Result<Operation, S3Error> {
    let path = req.raw_path;
    if !path.is_empty() && !path.starts_with('/') {
        return Err(invalid_uri());
    }
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = match bucket_from_host(req.host, cfg) {
        Some(bucket) => (Some(bucket), decode(rest)?),
        None => match rest.split_once('/') {
            Some((b, k)) => (Some(decode(b)?), decode(k)?),
            None if rest.is_empty() => (None, String::new()),
            None => (Some(decode(rest)?), String::new()),
        },
    };
    let query = Query::parse(req.raw_query)?;
    let method = req.method;

    let Some(bucket) = bucket else {
        return match method {
            "GET" => Ok(Operation::ListBuckets { params: list_buckets_params(&query)? }),
            "OPTIONS" => Err(S3Error::new(ErrorCode::NotImplemented)),
            _ => Err(method_not_allowed(method, "SERVICE")),
        };
    };
    let bucket = BucketName::parse(&bucket)?;

    if method == "OPTIONS" {
        // A CORS preflight, whatever the query names: browsers send it to the URL of the
        // request they are about to make.
        let key = if key.is_empty() { None } else { Some(ObjectKey::parse(key)?) };
        return Ok(Operation::PreflightRequest { bucket, key });
    }
    let scope = if key.is_empty() { Scope::Bucket } else { Scope::Object };
    if let Some(sub) = subresource(scope, &query)? {
        match (sub.state, sub.verb(method)) {
            (State::Built, _) => {}
            (State::Stored, Some(verb)) if key.is_empty() => {
                return Ok(Operation::BucketConfig { bucket, sub, verb });
            }
            (State::Stored, Some(verb)) => {
                return Ok(Operation::ObjectConfig {
                    bucket,
                    key: ObjectKey::parse(key)?,
                    version_id: query.non_empty("versionId"),
                    sub,
                    verb,
                });
            }
            (State::Stored, None) if key.is_empty() => {
                return Err(method_not_allowed(method, "BUCKET"));
            }
            (State::Stored, None) => return Err(method_not_allowed(method, "OBJECT")),
            (State::Unset(_), Some(_)) if method == "GET" => {
                return Ok(if key.is_empty() {
                    Operation::GetBucketConfiguration { bucket, sub }
                } else {
                    Operation::GetObjectConfiguration {
                        bucket,
                        key: ObjectKey::parse(key)?,
                        version_id: query.non_empty("versionId"),
                        sub,
                    }
                });
            }
            (State::Unset(_), Some(verb)) => return Err(not_implemented(verb.operation)),
            (State::Unset(_) | State::NotImplemented, _) => {
                return Err(not_implemented(&format!("The '{}' sub-resource", sub.query)));
            }
        }
    }
    if key.is_empty() {
        route_bucket(method, bucket, &query)
    } else {
        route_object(req, bucket, ObjectKey::parse(key)?, &query)
    }
}

fn route_bucket(method: &str, bucket: BucketName, query: &Query) -> Result<Operation, S3Error> {
    if query.has("delete") {
        return match method {
            "POST" => Ok(Operation::DeleteObjects { bucket }),
            _ => Err(method_not_allowed(method, "BUCKET")),
        };
    }
    if query.has("uploads") {
        return match method {
            "GET" => Ok(Operation::ListMultipartUploads {
                params: ListUploadsParams {
                    prefix: query.owned("prefix").unwrap_or_default(),
                    delimiter: query.non_empty("delimiter"),
                    key_marker: query.non_empty("key-marker"),
                    upload_id_marker: query.non_empty("upload-id-marker"),
                    max_uploads: limit(query, "max-uploads")?,
                    encoding_type_url: encoding_type_url(query)?,
                },
                bucket,
            }),
            _ => Err(method_not_allowed(method, "BUCKET")),
        };
    }
    if query.has("cors") {
        return match method {
            "GET" => Ok(Operation::GetBucketCors { bucket }),
            "PUT" => Ok(Operation::PutBucketCors { bucket }),
            "DELETE" => Ok(Operation::DeleteBucketCors { bucket }),
            _ => Err(method_not_allowed(method, "BUCKET")),
        };
    }
    if query.has("location") {
        return match method {
            "GET" => Ok(Operation::GetBucketLocation { bucket }),
            _ => Err(method_not_allowed(method, "BUCKET")),
        };
    }
    if query.has("versioning") {
        return match method {
            "GET" => Ok(Operation::GetBucketVersioning { bucket }),
            "PUT" => Ok(Operation::PutBucketVersioning { bucket }),
            _ => Err(method_not_allowed(method, "BUCKET")),
        };
    }
    if query.has("versions") {
        return match method {
            "GET" => list_versions(bucket, query),
            _ => Err(method_not_allowed(method, "BUCKET")),
        };
    }
    match method {
        "GET" => list_objects(bucket, query),
        "HEAD" => Ok(Operation::HeadBucket { bucket }),
        "PUT" => Ok(Operation::CreateBucket { bucket }),
        "DELETE" => Ok(Operation::DeleteBucket { bucket }),
        // A browser-form upload: authenticated by its form.
        "POST" => Ok(Operation::PostObject { bucket }),
        _ => Err(method_not_allowed(method, "BUCKET")),
    }
}

fn list_versions(bucket: BucketName, query: &Query) -> Result<Operation, S3Error> {
    let key_marker = query.non_empty("key-marker");
    let version_id_marker = query.non_empty("version-id-marker");
    if key_marker.is_none()
        && let Some(v) = &version_id_marker
    {
        return Err(invalid_argument(
            "version-id-marker",
            v,
            "A version-id marker cannot be specified without a key marker.",
        ));
    }
    Ok(Operation::ListObjectVersions {
        params: ListVersionsParams {
            prefix: query.owned("prefix").unwrap_or_default(),
            delimiter: query.non_empty("delimiter"),
            key_marker,
            version_id_marker,
            max_keys: limit(query, "max-keys")?,
            encoding_type_url: encoding_type_url(query)?,
        },
        bucket,
    })
}

fn list_objects(bucket: BucketName, query: &Query) -> Result<Operation, S3Error> {
    let prefix = query.owned("prefix").unwrap_or_default();
    let delimiter = query.non_empty("delimiter");
    let max_keys = limit(query, "max-keys")?;
    let encoding_type_url = encoding_type_url(query)?;
    match query.get("list-type") {
        None => Ok(Operation::ListObjects {
            bucket,
            params: ListObjectsParams {
                prefix,
                delimiter,
                marker: query.non_empty("marker"),
                max_keys,
                encoding_type_url,
            },
        }),
        Some("2") => Ok(Operation::ListObjectsV2 {
            bucket,
            params: ListObjectsV2Params {
                prefix,
                delimiter,
                // Kept when empty: S3 echoes an empty token and lists from the beginning.
                continuation_token: query.owned("continuation-token"),
                start_after: query.non_empty("start-after"),
                max_keys,
                fetch_owner: query
                    .get("fetch-owner")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                encoding_type_url,
            },
        }),
        Some(other) => {
            Err(invalid_argument("list-type", other, "Invalid List Type specified in Request"))
        }
    }
}

/// `?tagging` and `?attributes` on an object.
fn route_object_metadata(
    method: &str,
    bucket: BucketName,
    key: ObjectKey,
    query: &Query,
) -> Result<Operation, S3Error> {
    let version_id = query.non_empty("versionId");
    match (query.has("tagging"), method) {
        (true, "GET") => Ok(Operation::GetObjectTagging { bucket, key, version_id }),
        (true, "PUT") => Ok(Operation::PutObjectTagging { bucket, key, version_id }),
        (true, "DELETE") => Ok(Operation::DeleteObjectTagging { bucket, key, version_id }),
        (false, "GET") => Ok(Operation::GetObjectAttributes { bucket, key, version_id }),
        _ => Err(method_not_allowed(method, "OBJECT")),
    }
}

fn route_object(
    req: &RequestTarget<'_>,
    bucket: BucketName,
    key: ObjectKey,
    query: &Query,
) -> Result<Operation, S3Error> {
    let method = req.method;
    if query.has("renameObject") {
        return match method {
            "PUT" => Ok(Operation::RenameObject { bucket, key }),
            _ => Err(method_not_allowed(method, "OBJECT")),
        };
    }
    if query.has("tagging") || query.has("attributes") {
        return route_object_metadata(method, bucket, key, query);
    }
    if query.has("uploads") {
        return match method {
            "POST" => Ok(Operation::CreateMultipartUpload { bucket, key }),
            // Only POST is an operation on an object's `uploads`; anything else would
            // be an S3 extension we do not implement.
            _ => Err(S3Error::with_message(
                ErrorCode::NotImplemented,
                "Only POST is implemented on an object's 'uploads' sub-resource.",
            )),
        };
    }
    if let Some(id) = query.get("uploadId") {
        let upload_id = UploadId::parse(id)?;
        return match method {
            "PUT" => {
                let Some(number) = query.get("partNumber") else {
                    return Err(invalid_argument(
                        "partNumber",
                        "",
                        "Part number must be an integer between 1 and 10000, inclusive",
                    ));
                };
                let part_number = PartNumber::parse(number)?;
                Ok(if req.has_copy_source {
                    Operation::UploadPartCopy { bucket, key, upload_id, part_number }
                } else {
                    Operation::UploadPart { bucket, key, upload_id, part_number }
                })
            }
            "POST" => Ok(Operation::CompleteMultipartUpload { bucket, key, upload_id }),
            "DELETE" => Ok(Operation::AbortMultipartUpload { bucket, key, upload_id }),
            "GET" => {
                let marker = match query.get("part-number-marker") {
                    None => 0,
                    Some(v) => non_negative(v)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| {
                            invalid_argument(
                                "part-number-marker",
                                v,
                                "Provided part-number-marker not an integer or within integer range",
                            )
                        })?,
                };
                Ok(Operation::ListParts {
                    bucket,
                    key,
                    upload_id,
                    max_parts: limit(query, "max-parts")?,
                    part_number_marker: marker,
                    encoding_type_url: encoding_type_url(query)?,
                })
            }
            _ => Err(method_not_allowed(method, "OBJECT")),
        };
    }
    match method {
        "GET" | "HEAD" => {
            let params = GetObjectParams {
                part_number: query.get("partNumber").map(PartNumber::parse).transpose()?,
                version_id: query.non_empty("versionId"),
                response_overrides: RESPONSE_OVERRIDES
                    .iter()
                    .filter_map(|(param, header)| {
                        query.get(param).map(|v| ((*header).to_owned(), v.to_owned()))
                    })
                    .collect(),
            };
            Ok(if method == "GET" {
                Operation::GetObject { bucket, key, params }
            } else {
                Operation::HeadObject { bucket, key, params }
            })
        }
        "PUT" if query.has("partNumber") => Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "partNumber requires an uploadId.",
        )),
        "PUT" if req.has_copy_source => Ok(Operation::CopyObject { bucket, key }),
        "PUT" => Ok(Operation::PutObject { bucket, key }),
        "DELETE" => {
            Ok(Operation::DeleteObject { bucket, key, version_id: query.non_empty("versionId") })
        }
        _ => Err(method_not_allowed(method, "OBJECT")),
    }
}

/// A parsed `x-amz-copy-source` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    /// Source bucket.
    pub bucket: BucketName,
    /// Source key.
    pub key: ObjectKey,
    /// `?versionId=` if given.
    pub version_id: Option<String>,
}

/// Parses `x-amz-copy-source`: `[/]bucket/key[?versionId=v]`, URL-encoded.
/// The `?` is split off before decoding, so an encoded `%3F` stays in the key.
pub fn parse_copy_source(header_value: &str) -> Result<CopySource, S3Error> {
    let bad = || {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
        .with_extra("ArgumentName", "x-amz-copy-source")
        .with_extra("ArgumentValue", header_value)
    };
    let value = header_value.trim();
    let (path, query) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    let version_id = match query {
        None => None,
        Some(q) => {
            let q = Query::parse(Some(q))?;
            match q.get("versionId") {
                Some(v) if !v.is_empty() => Some(v.to_owned()),
                _ => return Err(bad()),
            }
        }
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = path.split_once('/').ok_or_else(bad)?;
    let bucket = BucketName::parse(&decode(bucket)?)?;
    let key = decode(key)?;
    if key.is_empty() {
        return Err(bad());
    }
    Ok(CopySource { bucket, key: ObjectKey::parse(key)?, version_id })
}

/// Parses `x-amz-rename-source` of RenameObject: `[/]bucket/key`, URL-encoded (AWS's pattern
/// `\/?.+\/.+`), naming `bucket`, the request's own: a rename stays within its bucket. No
/// version can be named (a rename moves the current version).
pub fn parse_rename_source(header_value: &str, bucket: &BucketName) -> Result<ObjectKey, S3Error> {
    let bad = || {
        S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Rename Source must mention the bucket and the source key: bucket/sourcekey",
        )
        .with_extra("ArgumentName", "x-amz-rename-source")
        .with_extra("ArgumentValue", header_value)
    };
    let value = header_value.trim();
    if value.contains('?') {
        return Err(bad());
    }
    let path = value.strip_prefix('/').unwrap_or(value);
    let (source_bucket, key) = path.split_once('/').ok_or_else(bad)?;
    if decode(source_bucket)? != bucket.as_str() {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "The rename source must be in the bucket of the request.",
        ));
    }
    let key = decode(key)?;
    if key.is_empty() {
        return Err(bad());
    }
    ObjectKey::parse(key)
}

#[cfg(test)]
mod tests;
