//! The upstream connection: endpoint, signing, one pooled hyper client, retries.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3gate_sigv4::{RequestParts, SigningParams, sign_headers};
use sha2::{Digest as _, Sha256};

use super::S3ProxyConfig;
use crate::blob::{BlobError, BlobId, BoxError};

/// SHA-256 of the empty payload.
pub(crate) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Characters kept as they are in a path: RFC 3986 unreserved and `/`.
const PATH: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
/// Characters kept as they are in a query value: RFC 3986 unreserved.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Largest error or listing body read into memory.
const MAX_SMALL_BODY: usize = 8 * 1024 * 1024;

/// A query value, percent-encoded as SigV4 canonicalises it.
pub(crate) fn encode_query_value(v: &str) -> String {
    utf8_percent_encode(v, QUERY).to_string()
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The upstream service: where it is, how to sign for it, and the pooled client.
pub(crate) struct Upstream {
    client: Client<Https, Full<Bytes>>,
    /// `scheme://authority`.
    origin: String,
    /// The `Host` header value (the endpoint's authority).
    host: String,
    /// Encoded path of the bucket, `/<base>/<bucket>`.
    bucket_path: String,
    pub(crate) cfg: S3ProxyConfig,
}

/// One request to the upstream; its body is in memory so that it can be replayed.
pub(crate) struct Req<'a> {
    method: Method,
    key: Option<&'a str>,
    query: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    payload_hash: Option<String>,
}

impl<'a> Req<'a> {
    /// A request without body on the bucket (`key` `None`) or on one object key.
    pub(crate) fn new(method: Method, key: Option<&'a str>) -> Self {
        Req {
            method,
            key,
            query: None,
            headers: Vec::new(),
            body: Bytes::new(),
            payload_hash: None,
        }
    }

    /// Sets the raw (already encoded) query string.
    pub(crate) fn query(mut self, query: String) -> Self {
        self.query = Some(query);
        self
    }

    /// Adds a header (signed).
    pub(crate) fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Sets the body and its hex SHA-256.
    pub(crate) fn body(mut self, body: Bytes, sha256_hex: String) -> Self {
        self.body = body;
        self.payload_hash = Some(sha256_hex);
        self
    }
}

/// Why one attempt failed before a response arrived.
struct AttemptError {
    source: BoxError,
}

impl Upstream {
    pub(crate) fn new(cfg: S3ProxyConfig) -> Result<Self, BlobError> {
        let invalid = |what: String| BlobError::Backend(what.into());
        let uri: Uri = cfg
            .endpoint
            .parse()
            .map_err(|e| invalid(format!("upstream endpoint {:?}: {e}", cfg.endpoint)))?;
        let scheme = uri.scheme_str().unwrap_or("");
        if scheme != "http" && scheme != "https" {
            return Err(invalid(format!("upstream endpoint {:?} is not http(s)", cfg.endpoint)));
        }
        let host = uri
            .authority()
            .ok_or_else(|| invalid(format!("upstream endpoint {:?} has no host", cfg.endpoint)))?
            .as_str()
            .to_owned();
        if cfg.bucket.is_empty() {
            return Err(invalid("upstream bucket is empty".to_owned()));
        }
        if cfg.part_size < 5 * 1024 * 1024 {
            return Err(invalid("upstream part size must be at least 5 MiB".to_owned()));
        }
        if cfg.range_size == 0 || cfg.window == 0 || cfg.upload_concurrency == 0 {
            return Err(invalid("upstream range size, window and concurrency must be > 0".into()));
        }
        let base = uri.path().trim_end_matches('/');
        let bucket_path = format!("{base}/{}", utf8_percent_encode(&cfg.bucket, PATH));

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(cfg.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map_err(|e| BlobError::Backend(Box::new(e)))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_mins(1))
            .pool_max_idle_per_host(256)
            .build(https);
        Ok(Upstream { client, origin: format!("{scheme}://{host}"), host, bucket_path, cfg })
    }

    /// Upstream key of a blob.
    pub(crate) fn key_of(&self, id: &BlobId) -> String {
        format!("{}{id}", self.cfg.prefix)
    }

    /// Sends `req`, retrying connection failures, timeouts and 500/502/503/504 answers with
    /// capped exponential backoff and jitter. Returns the first other response (or the last
    /// retryable one once attempts run out); [`BlobError::Unavailable`] if no response came.
    pub(crate) async fn send(&self, req: Req<'_>) -> Result<Response<Incoming>, BlobError> {
        let max = self.cfg.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let why = match self.send_once(&req).await {
                Ok(resp) if !retryable_status(resp.status()) || attempt >= max => return Ok(resp),
                Ok(resp) => format!("status {}", resp.status()),
                Err(e) if attempt >= max => {
                    return Err(BlobError::Unavailable(
                        format!(
                            "upstream unreachable after {attempt} attempts: {}",
                            chain(&*e.source)
                        )
                        .into(),
                    ));
                }
                Err(e) => chain(&*e.source),
            };
            let delay = self.backoff(attempt);
            tracing::warn!(
                method = %req.method, key = req.key.unwrap_or(""), attempt, error = %why,
                delay_ms = delay.as_millis(), "upstream request failed, retrying"
            );
            s3gate_metrics::global().upstream_retries.inc();
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, req: &Req<'_>) -> Result<Response<Incoming>, AttemptError> {
        let path = match req.key {
            Some(key) => format!("{}/{}", self.bucket_path, utf8_percent_encode(key, PATH)),
            None => self.bucket_path.clone(),
        };
        let payload_hash = req.payload_hash.as_deref().unwrap_or(EMPTY_SHA256);
        let mut pairs: Vec<(&str, &str)> = vec![("host", &self.host)];
        pairs.extend(req.headers.iter().map(|(n, v)| (*n, v.as_str())));
        let parts = RequestParts {
            method: req.method.as_str(),
            raw_path: &path,
            raw_query: req.query.as_deref(),
            headers: &pairs,
        };
        let params = SigningParams {
            access_key_id: &self.cfg.access_key_id,
            secret_key: &self.cfg.secret_key,
            region: &self.cfg.region,
            service: "s3",
            time: SystemTime::now(),
        };
        let signed = sign_headers(&parts, payload_hash, &params);
        let uri = match &req.query {
            Some(q) => format!("{}{path}?{q}", self.origin),
            None => format!("{}{path}", self.origin),
        };
        let mut builder = Request::builder().method(req.method.clone()).uri(uri);
        for (n, v) in &req.headers {
            builder = builder.header(*n, v);
        }
        for (n, v) in &signed {
            builder = builder.header(n, v);
        }
        if !req.body.is_empty() || req.method == Method::PUT || req.method == Method::POST {
            builder = builder.header(header::CONTENT_LENGTH, req.body.len());
        }
        let request = builder
            .body(Full::new(req.body.clone()))
            .map_err(|e| AttemptError { source: Box::new(e) })?;
        match tokio::time::timeout(self.cfg.request_timeout, self.client.request(request)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(AttemptError { source: Box::new(e) }),
            Err(_) => Err(AttemptError { source: "no response before the request timeout".into() }),
        }
    }

    /// Delay before retry number `attempt` (1-based): `base × 2^(attempt-1)`, capped, with
    /// full jitter over its upper half.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.cfg.backoff_base.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let delay = exp.min(self.cfg.backoff_cap);
        let mut raw = [0u8; 8];
        // Without randomness, retry without jitter rather than not at all.
        let _ = getrandom::fill(&mut raw);
        let frac =
            f64::from(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])) / f64::from(u32::MAX);
        delay.mul_f64(0.5 + frac / 2.0)
    }
}

/// An error and its sources, `: `-separated (hyper's own messages are terse).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// Hex SHA-256 of a payload, off the async workers when it is large.
pub(crate) async fn sha256_hex(data: Bytes) -> Result<String, BlobError> {
    if data.len() < 64 * 1024 {
        return Ok(hex::encode(Sha256::digest(&data)));
    }
    tokio::task::spawn_blocking(move || hex::encode(Sha256::digest(&data)))
        .await
        .map_err(|e| BlobError::Backend(Box::new(e)))
}

/// The `Content-Length` of a response.
pub(crate) fn content_length(headers: &HeaderMap) -> Result<u64, BlobError> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| BlobError::Backend("upstream response without Content-Length".into()))
}

/// Reads a (small) response body whole: listings, errors, upload results.
pub(crate) async fn read_small(resp: Response<Incoming>) -> Result<Bytes, BlobError> {
    Limited::new(resp.into_body(), MAX_SMALL_BODY)
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(BlobError::Unavailable)
}

/// The error an unexpected upstream response stands for: 503 (and a 500-class answer that
/// outlived the retries) is [`BlobError::Unavailable`], 507 is
/// [`BlobError::InsufficientStorage`], anything else [`BlobError::Backend`].
pub(crate) async fn error_of(resp: Response<Incoming>) -> BlobError {
    let status = resp.status();
    let body = read_small(resp).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let code = super::xml::error_code(&text).unwrap_or_default();
    let msg: BoxError = format!("upstream answered {status} {code}").into();
    match status.as_u16() {
        500 | 502..=504 => BlobError::Unavailable(msg),
        507 => BlobError::InsufficientStorage,
        _ => BlobError::Backend(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str) -> S3ProxyConfig {
        S3ProxyConfig::new(endpoint, "bucket", "AK", "SK")
    }

    #[test]
    fn endpoints() {
        let ok = |e: &str, origin: &str, bucket_path: &str| {
            let up = Upstream::new(config(e)).unwrap_or_else(|err| panic!("{e}: {err:?}"));
            assert_eq!((up.origin.as_str(), up.bucket_path.as_str()), (origin, bucket_path), "{e}");
        };
        ok("http://127.0.0.1:9000", "http://127.0.0.1:9000", "/bucket");
        ok("https://s3.example.com/", "https://s3.example.com", "/bucket");
        ok("https://example.com/s3/", "https://example.com", "/s3/bucket");
        for bad in ["ftp://x", "127.0.0.1:9000", "", "http://"] {
            assert!(Upstream::new(config(bad)).is_err(), "{bad}");
        }
        let mut small = config("http://x");
        small.part_size = 5 * 1024 * 1024 - 1;
        assert!(Upstream::new(small).is_err());
        let mut no_window = config("http://x");
        no_window.window = 0;
        assert!(Upstream::new(no_window).is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let up = Upstream::new(config("http://127.0.0.1:1")).unwrap();
        for (attempt, full_ms) in [(1, 50), (2, 100), (3, 200), (6, 1600), (7, 2000), (40, 2000)] {
            for _ in 0..20 {
                let d = up.backoff(attempt).as_secs_f64() * 1000.0;
                let full = f64::from(full_ms);
                assert!(d >= full / 2.0 - 0.001 && d <= full + 0.001, "attempt {attempt}: {d} ms");
            }
        }
    }

    #[test]
    fn query_values_are_encoded_as_sigv4_canonicalises_them() {
        assert_eq!(encode_query_value("a/b c+d~e_f.g-h"), "a%2Fb%20c%2Bd~e_f.g-h");
        assert_eq!(encode_query_value(""), "");
    }
}
