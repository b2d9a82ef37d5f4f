//! [`S3ProxyBlobs`]: blobs kept as objects of another S3-compatible service (the *upstream*).
//!
//! Blob `<id>` is the upstream object `<prefix><id>` in one configured bucket. Requests are
//! signed with this workspace's SigV4 signer and sent with hyper's pooled client (plain HTTP,
//! or HTTPS through rustls with the `ring` provider and the webpki roots).
//!
//! - **Writes** stream: the body is cut into `part_size` buffers; a body shorter than one part
//!   is one `PutObject`, anything longer an upstream multipart upload with up to
//!   `upload_concurrency` parts in flight, so no length is needed in advance and memory per
//!   write stays below `(upload_concurrency + 1) × part_size`. The blob exists upstream only
//!   once `CompleteMultipartUpload` (or the `PutObject`) succeeded; a failed or dropped write
//!   aborts its upload (and [`BlobStore::cleanup_incomplete`] aborts any that a crash left).
//! - **Reads** map to upstream `Range` requests: a read is cut into `range_size` ranges, up to
//!   `window` of them are fetched at once, and their bytes are handed out strictly in order.
//!   Each range buffers at most its own length, so a read holds at most
//!   `window × range_size` bytes however slowly its consumer drains it.
//! - **Retries.** Every request body is in memory, so every request can be replayed:
//!   connection failures, timeouts and 500/502/503/504 answers are retried with capped
//!   exponential backoff and full jitter, up to `max_attempts` attempts. A range whose body
//!   breaks off resumes from the first missing byte under the same budget. What still fails
//!   is [`BlobError::Unavailable`] (upstream unreachable or busy) or [`BlobError::Backend`].
//! - **Listing** (for the orphan sweep) is ListObjectsV2 under the prefix, with LastModified as
//!   the blob's age; keys under the prefix that are not blob ids are ignored.

mod client;
mod download;
mod upload;
mod xml;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{TryStreamExt as _, stream};
use http::{Method, StatusCode};

use crate::blob::{
    BlobEntry, BlobError, BlobId, BlobInfo, BlobListStream, BlobStore, BlobStream, ByteStream,
};
use client::{Req, Upstream, encode_query_value};

/// Where the upstream is and how to talk to it.
#[derive(Clone)]
pub struct S3ProxyConfig {
    /// Upstream endpoint, `http://host:port` or `https://host`; requests use path style
    /// (`<endpoint>/<bucket>/<key>`).
    pub endpoint: String,
    /// Upstream bucket holding the blobs; it must exist.
    pub bucket: String,
    /// Prefix of every blob key in the bucket (may be empty; usually ends with `/`).
    pub prefix: String,
    /// Region the upstream expects signatures for.
    pub region: String,
    /// Upstream access key id.
    pub access_key_id: String,
    /// Upstream secret access key.
    pub secret_key: String,
    /// Size of one upstream part when writing (at least 5 MiB for S3).
    pub part_size: usize,
    /// Parts of one write uploaded concurrently.
    pub upload_concurrency: usize,
    /// Size of one ranged request when reading.
    pub range_size: u64,
    /// Ranged requests of one read in flight at once.
    pub window: usize,
    /// Attempts per request (and per broken-off range) before giving up.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// Timeout of a TCP (and TLS) connect.
    pub connect_timeout: Duration,
    /// Timeout until the response headers of one request arrive.
    pub request_timeout: Duration,
    /// Longest pause between two pieces of a response body.
    pub idle_timeout: Duration,
}

impl S3ProxyConfig {
    /// A configuration with the defaults: no prefix, region `us-east-1`, 8 MiB parts with 2
    /// in flight, 8 MiB ranges with a window of 8, 6 attempts with 50 ms to 2 s backoff, 10 s
    /// connect timeout, 60 s request and idle timeouts.
    pub fn new(
        endpoint: impl Into<String>,
        bucket: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        S3ProxyConfig {
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            prefix: String::new(),
            region: "us-east-1".to_owned(),
            access_key_id: access_key_id.into(),
            secret_key: secret_key.into(),
            part_size: 8 * 1024 * 1024,
            upload_concurrency: 2,
            range_size: 8 * 1024 * 1024,
            window: 8,
            max_attempts: 6,
            backoff_base: Duration::from_millis(50),
            backoff_cap: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_mins(1),
            idle_timeout: Duration::from_mins(1),
        }
    }
}

impl fmt::Debug for S3ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret key is never printed.
        f.debug_struct("S3ProxyConfig")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("part_size", &self.part_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("range_size", &self.range_size)
            .field("window", &self.window)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Blobs stored as objects of an upstream S3-compatible service (see the module docs).
#[derive(Clone)]
pub struct S3ProxyBlobs {
    up: Arc<Upstream>,
}

impl fmt::Debug for S3ProxyBlobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3ProxyBlobs").field("config", &self.up.cfg).finish()
    }
}

impl S3ProxyBlobs {
    /// A store over the upstream named by `config`. Sends nothing yet: see [`Self::check`].
    /// Fails if the endpoint is not an `http`/`https` URL or a size is zero or too small
    /// (parts must be at least 5 MiB).
    pub fn new(config: S3ProxyConfig) -> Result<Self, BlobError> {
        Ok(S3ProxyBlobs { up: Arc::new(Upstream::new(config)?) })
    }

    /// Checks that the bucket exists and the credentials are accepted (one `HeadBucket`).
    pub async fn check(&self) -> Result<(), BlobError> {
        let resp = self.up.send(Req::new(Method::HEAD, None)).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            status => Err(BlobError::Backend(
                format!(
                    "upstream bucket {:?} answered HeadBucket with {status}",
                    self.up.cfg.bucket
                )
                .into(),
            )),
        }
    }
}

/// Size of an upstream object (`HeadObject`).
async fn head_size(up: &Upstream, key: &str) -> Result<u64, BlobError> {
    let resp = up.send(Req::new(Method::HEAD, Some(key))).await?;
    match resp.status() {
        StatusCode::OK => client::content_length(resp.headers()),
        StatusCode::NOT_FOUND => Err(BlobError::NotFound),
        _ => Err(client::error_of(resp).await),
    }
}

impl BlobStore for S3ProxyBlobs {
    async fn put(&self, body: ByteStream) -> Result<BlobInfo, BlobError> {
        upload::put(&self.up, body).await
    }

    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        let key = self.up.key_of(id);
        if len == Some(0) {
            let size = head_size(&self.up, &key).await?;
            crate::range::checked_range(size, offset, len)?;
            return Ok(Box::pin(stream::empty()));
        }
        download::get(&self.up, key, offset, len).await
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        let resp = self.up.send(Req::new(Method::DELETE, Some(&self.up.key_of(id)))).await?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(client::error_of(resp).await),
        }
    }

    async fn list(&self) -> Result<BlobListStream, BlobError> {
        let up = Arc::clone(&self.up);
        // One ListObjectsV2 page per step; `None` token after the last page.
        let pages = stream::try_unfold(Some(None::<String>), move |state| {
            let up = Arc::clone(&up);
            async move {
                let Some(token) = state else { return Ok(None) };
                let page = list_page(&up, token.as_deref()).await?;
                let next = if page.is_truncated { page.next_token.map(Some) } else { None };
                Ok(Some((page.entries, next)))
            }
        });
        Ok(Box::pin(pages.map_ok(|v| stream::iter(v.into_iter().map(Ok))).try_flatten()))
    }

    async fn cleanup_incomplete(&self, older_than: Duration) -> Result<u64, BlobError> {
        let now = SystemTime::now();
        let mut removed = 0;
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut query = format!("uploads&prefix={}", encode_query_value(&self.up.cfg.prefix));
            if let Some((key_marker, id_marker)) = &markers {
                query.push_str("&key-marker=");
                query.push_str(&encode_query_value(key_marker));
                query.push_str("&upload-id-marker=");
                query.push_str(&encode_query_value(id_marker));
            }
            let resp = self.up.send(Req::new(Method::GET, None).query(query)).await?;
            if resp.status() != StatusCode::OK {
                return Err(client::error_of(resp).await);
            }
            let page: xml::ListMultipartUploadsResult =
                xml::parse(&client::read_small(resp).await?)?;
            for upload in page.uploads {
                let Some(suffix) = upload.key.strip_prefix(&self.up.cfg.prefix) else { continue };
                if BlobId::parse(suffix).is_none() {
                    continue;
                }
                let initiated = xml::parse_time(&upload.initiated).unwrap_or(now);
                if now.duration_since(initiated).unwrap_or_default() < older_than {
                    continue;
                }
                upload::abort(&self.up, &upload.key, &upload.upload_id).await?;
                removed += 1;
            }
            match (page.is_truncated, page.next_key_marker, page.next_upload_id_marker) {
                (true, Some(k), Some(u)) => markers = Some((k, u)),
                _ => return Ok(removed),
            }
        }
    }
}

/// One page of the blob listing.
struct ListPage {
    entries: Vec<BlobEntry>,
    is_truncated: bool,
    next_token: Option<String>,
}

async fn list_page(up: &Upstream, token: Option<&str>) -> Result<ListPage, BlobError> {
    let mut query = String::new();
    if let Some(t) = token {
        query.push_str("continuation-token=");
        query.push_str(&encode_query_value(t));
        query.push('&');
    }
    query.push_str("list-type=2&prefix=");
    query.push_str(&encode_query_value(&up.cfg.prefix));
    let resp = up.send(Req::new(Method::GET, None).query(query)).await?;
    if resp.status() != StatusCode::OK {
        return Err(client::error_of(resp).await);
    }
    let page: xml::ListBucketResult = xml::parse(&client::read_small(resp).await?)?;
    let mut entries = Vec::with_capacity(page.contents.len());
    for c in page.contents {
        let Some(id) = c.key.strip_prefix(&up.cfg.prefix).and_then(BlobId::parse) else {
            continue;
        };
        let modified = xml::parse_time(&c.last_modified).ok_or_else(|| {
            BlobError::Backend(format!("upstream LastModified {:?}", c.last_modified).into())
        })?;
        entries.push(BlobEntry { id, size: c.size, modified });
    }
    Ok(ListPage {
        entries,
        is_truncated: page.is_truncated,
        next_token: page.next_continuation_token,
    })
}
