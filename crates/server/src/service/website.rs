//! Static website hosting: requests whose `Host` is `<bucket>.<website domain>`
//! (`ServerConfig::website_domains`).
//!
//! A website request is anonymous and read-only, as on AWS's website endpoints: GET and HEAD
//! only (anything else is `405`), no signature looked at, every object read authorized as an
//! anonymous `s3:GetObject` by the bucket's policy (so a site is public exactly when its
//! bucket policy makes its objects public). The decisions (index document of a "folder",
//! routing rules, redirect-all) are `s3gate_protocol::website`'s; this module does the
//! lookups: the stored `WebsiteConfiguration`, the object, the `key/` + index probe behind
//! AWS's `302` for a folder named without its slash, an object's
//! `x-amz-website-redirect-location`, and the error document. Errors are HTML pages, as AWS
//! answers them there.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use s3gate_metadata::MetadataStore;
use s3gate_protocol::website::{
    Step, WebsiteConfiguration, WebsiteRequest, error_page, parse_website_configuration,
};
use s3gate_protocol::{BucketName, ErrorCode, GetObjectParams, ObjectKey, Operation};
use s3gate_storage_backend::BlobStore;

use super::{Gateway, Resp, empty, set};
use crate::authz::ClientInfo;
use crate::errors::ApiError;
use crate::headers::header;
use crate::metrics::AccessInfo;

/// The kind under which a bucket's website configuration is stored.
pub(crate) const WEBSITE_KIND: &str = "website";

/// How a website answer ended, for the error page.
struct Failure {
    status: u16,
    code: &'static str,
    message: String,
}

impl Failure {
    fn of(e: &ApiError) -> Self {
        Failure { status: e.s3.status(), code: e.s3.code.as_str(), message: e.s3.message.clone() }
    }
}

impl<M: MetadataStore, B: BlobStore> Gateway<M, B> {
    /// Answers one website request for `bucket`.
    pub(super) async fn website(
        &self,
        bucket: &str,
        parts: &http::request::Parts,
        request_id: &str,
        info: &mut AccessInfo,
    ) -> Resp {
        info.operation = "WebsiteGetObject";
        bucket.clone_into(&mut info.bucket);
        let head = parts.method == Method::HEAD;
        if !head && parts.method != Method::GET {
            let f = Failure {
                status: 405,
                code: ErrorCode::MethodNotAllowed.as_str(),
                message: format!(
                    "The specified method is not allowed against this resource: {}",
                    parts.method
                ),
            };
            return page(&f, None, request_id, head);
        }
        let config = match self.website_config(bucket).await {
            Ok(c) => c,
            Err(e) => return page(&Failure::of(&e), None, request_id, head),
        };
        let raw = parts.uri.path().strip_prefix('/').unwrap_or(parts.uri.path());
        let Some(key) = s3gate_protocol::percent::decode(raw) else {
            let f = Failure {
                status: 400,
                code: "InvalidURI",
                message: "Couldn't parse the specified URI.".into(),
            };
            return page(&f, None, request_id, head);
        };
        info.key.clone_from(&key);
        let host = header(&parts.headers, "host").unwrap_or_default();
        let client = parts.extensions.get::<ClientInfo>().copied().unwrap_or_default();
        let req = WebsiteRequest { key: &key, host, https: client.tls };
        let target = match config.first_step(&req) {
            Step::Redirect { status, location } => return redirect(status, &location),
            Step::Serve { key } => key,
        };
        let failure = match self.website_object(bucket, &target, &parts.headers, client, head).await
        {
            Ok(r) => return r,
            Err(e) => e,
        };
        // A "folder" named without its slash: AWS redirects to it when its index exists. (A
        // missing key is AccessDenied to a reader that may not list the bucket.)
        if matches!(failure.s3.code, ErrorCode::NoSuchKey | ErrorCode::AccessDenied)
            && !key.is_empty()
            && !key.ends_with('/')
            && let Some(suffix) = config.index_suffix()
        {
            let index = format!("{key}/{suffix}");
            let probe = self.website_object(bucket, &index, &HeaderMap::new(), client, true).await;
            if probe.is_ok() {
                let path = s3gate_protocol::xml::url_encode(&key);
                return redirect(302, &format!("/{path}/"));
            }
        }
        let f = Failure::of(&failure);
        if let Some(Step::Redirect { status, location }) = config.after_error(&req, f.status) {
            return redirect(status, &location);
        }
        if let Some(error_key) = config.error_key()
            && (400..500).contains(&f.status)
        {
            let doc = self.website_object(bucket, error_key, &HeaderMap::new(), client, head).await;
            return match doc {
                Ok(mut r) => {
                    // The error document is served with the error's status.
                    *r.status_mut() =
                        StatusCode::from_u16(f.status).unwrap_or(StatusCode::NOT_FOUND);
                    r
                }
                Err(e) => page(&f, Some((&Failure::of(&e), error_key)), request_id, head),
            };
        }
        page(&f, None, request_id, head)
    }

    /// Get/Put/DeleteBucketWebsite (the bucket exists and the caller may act on it).
    pub(super) async fn bucket_website(
        &self,
        bucket: &BucketName,
        operation: &str,
        body: Option<Bytes>,
    ) -> Result<Resp, ApiError> {
        let meta = self.engine.metadata();
        let bucket = bucket.as_str();
        match operation {
            "GetBucketWebsite" => {
                let text = meta
                    .bucket_config(bucket, WEBSITE_KIND)
                    .await
                    .map_err(super::engine_meta)?
                    .ok_or_else(|| ApiError::code(ErrorCode::NoSuchWebsiteConfiguration))?;
                Ok(super::xml(StatusCode::OK, text))
            }
            "PutBucketWebsite" => {
                let raw = body.unwrap_or_default();
                // Kept as GetBucketWebsite renders it: one canonical document.
                let text = parse_website_configuration(&raw)?.to_xml();
                meta.put_bucket_config(bucket, WEBSITE_KIND, Some(text))
                    .await
                    .map_err(super::engine_meta)?;
                Ok(empty(StatusCode::OK))
            }
            _ => {
                meta.put_bucket_config(bucket, WEBSITE_KIND, None)
                    .await
                    .map_err(super::engine_meta)?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
        }
    }

    /// The bucket's website configuration: `NoSuchBucket` or `NoSuchWebsiteConfiguration`
    /// when there is none.
    async fn website_config(&self, bucket: &str) -> Result<WebsiteConfiguration, ApiError> {
        let meta = self.engine.metadata();
        let stored = meta.bucket_config(bucket, WEBSITE_KIND).await.map_err(super::engine_meta)?;
        let Some(text) = stored else {
            let exists = meta.bucket(bucket).await.map_err(super::engine_meta)?.is_some();
            return Err(ApiError::code(if exists {
                ErrorCode::NoSuchWebsiteConfiguration
            } else {
                ErrorCode::NoSuchBucket
            }));
        };
        parse_website_configuration(text.as_bytes()).map_err(|e| {
            ApiError::internal_error(format!(
                "the stored website configuration does not parse: {e:?}"
            ))
        })
    }

    /// One object of the site, read as an anonymous GetObject (or HeadObject) with the
    /// request's range and conditional headers; an object with
    /// `x-amz-website-redirect-location` answers `301` to it instead.
    async fn website_object(
        &self,
        bucket: &str,
        key: &str,
        headers: &HeaderMap,
        client: ClientInfo,
        head: bool,
    ) -> Result<Resp, ApiError> {
        let bucket =
            BucketName::parse(bucket).map_err(|_| ApiError::code(ErrorCode::NoSuchBucket))?;
        let key = ObjectKey::parse(key.to_owned()).map_err(ApiError::from)?;
        let params = GetObjectParams::default();
        let op = if head {
            Operation::HeadObject {
                bucket: bucket.clone(),
                key: key.clone(),
                params: params.clone(),
            }
        } else {
            Operation::GetObject {
                bucket: bucket.clone(),
                key: key.clone(),
                params: params.clone(),
            }
        };
        let mut authed = Self::anonymous();
        self.authorize(&op, headers, client, None, &mut authed).await?;
        let read =
            self.get_object(bucket, key.clone(), params, headers, &authed.caller, head).await;
        let r = match (read, &authed.grant) {
            // As on the REST endpoint: a missing key is 404 only to whoever may list it.
            (Err(e), Some(grant))
                if e.s3.code == ErrorCode::NoSuchKey && !grant.allows_list(key.as_str()) =>
            {
                return Err(ApiError::code(ErrorCode::AccessDenied));
            }
            (read, _) => read?,
        };
        if let Some(location) = header(r.headers(), "x-amz-website-redirect-location") {
            return Ok(redirect(301, location));
        }
        Ok(r)
    }
}

fn redirect(status: u16, location: &str) -> Resp {
    let mut r = empty(StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY));
    set(&mut r, "location", location);
    set(&mut r, "content-length", "0");
    r
}

/// AWS's HTML error page; `doc` is the error document's own failure, when fetching it failed.
fn page(f: &Failure, doc: Option<(&Failure, &str)>, request_id: &str, head: bool) -> Resp {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut html = error_page(f.status, reason, f.code, &f.message, request_id);
    if let Some((d, key)) = doc {
        let extra = format!(
            "<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>\n<ul>\n<li>Code: {}</li>\n<li>Message: {}</li>\n<li>Key: {}</li>\n</ul>\n<hr/>\n</body>",
            d.code,
            s3gate_protocol::xml::escape(&d.message),
            s3gate_protocol::xml::escape(key)
        );
        html = html.replacen("</body>", &extra, 1);
    }
    let len = html.len();
    let mut r = if head {
        empty(status)
    } else {
        let mut r = http::Response::new(crate::body::full(html));
        *r.status_mut() = status;
        r
    };
    set(&mut r, "content-type", "text/html; charset=utf-8");
    set(&mut r, "content-length", &len.to_string());
    r
}
