//! POST Object: a browser form upload (`multipart/form-data`), authenticated by the signed
//! policy it carries rather than by request headers.
//!
//! The form is streamed: the fields before the file are read (bounded by
//! `s3gate_protocol::form::FormLimits`), the policy and its signature are verified
//! (`s3gate_sigv4::verify_post`: SigV4 or SigV2, expiration, every condition, every field
//! covered), the form is authorized as the PutObject it is (its signer, or anonymous for an
//! unsigned form, against the bucket's owner and policy), and only then is the file part streamed into the engine's PutObject path, the
//! `content-length-range` enforced as it arrives. The file is never held whole, and the
//! write has PutObject's durability (blob fsynced and renamed before the one metadata
//! commit). Fields that ask for what the gateway does not do (object lock, SSE, storage
//! classes, ACLs other than the owner's) are refused as the PUT path refuses their headers.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use s3gate_engine::api::{Caller, PutObjectRequest};
use s3gate_metadata::MetadataStore;
use s3gate_protocol::form::{FileStart, FormEvent, FormField, FormLimits, FormParser};
use s3gate_protocol::xml::{escape, url_encode};
use s3gate_protocol::{BucketName, ErrorCode, ObjectKey, Operation, check_feature_headers};
use s3gate_sigv4::{ContentLengthRange, PostForm, PostPolicyError};
use s3gate_storage_backend::{BlobStore, BoxError};

use super::{Authed, Gateway, Resp, Signed, empty, set, sigv2_refused};
use crate::authz::ClientInfo;
use crate::body::{BodyError, BodyReadError, TimedBody};
use crate::errors::ApiError;
use crate::headers::{body_integrity, header, stored_headers, write_condition};

/// Form fields that are the POST mechanism itself, never object headers.
const MECHANISM_FIELDS: &[&str] = &[
    "key",
    "policy",
    "signature",
    "awsaccesskeyid",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-algorithm",
    "x-amz-date",
    "x-amz-security-token",
    "success_action_status",
    "success_action_redirect",
    "redirect",
    "tagging",
    "acl",
    "file",
];

impl<M: MetadataStore, B: BlobStore> Gateway<M, B> {
    /// Answers `POST /bucket` with a form body (see the module docs).
    pub(super) async fn post_object(
        &self,
        bucket: BucketName,
        parts: &http::request::Parts,
        body: TimedBody,
    ) -> Result<Resp, ApiError> {
        let content_type = header(&parts.headers, "content-type").unwrap_or("");
        let FormHead { fields, file, parser, pending, body } =
            read_fields(content_type, body).await?;

        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(fields.len());
        for f in &fields {
            let value = f.value_str().ok_or_else(|| {
                ApiError::msg(
                    ErrorCode::InvalidArgument,
                    format!("The form field {} is not valid UTF-8.", f.name),
                )
            })?;
            pairs.push((f.name.as_str(), value));
        }
        let form = PostForm {
            bucket: bucket.as_str(),
            fields: &pairs,
            filename: file.filename.as_deref(),
        };
        let field =
            |name: &str| pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
        if !self.sigv2 && (field("awsaccesskeyid").is_some() || field("signature").is_some()) {
            return Err(sigv2_refused());
        }
        let found = match form.access_key_id() {
            Some(ak) => self.users.lookup(self.engine.metadata(), &self.authz, ak).await?,
            None => None,
        };
        // A disabled key is no credential (InvalidAccessKeyId).
        let found = found.filter(|s| s.active);
        let creds: HashMap<String, String> = found
            .iter()
            .map(|s| (s.user.access_key_id.clone(), s.user.secret_key.clone()))
            .collect();
        let verified = self.verifier.verify_post(&form, SystemTime::now(), &creds)?;
        let key = ObjectKey::parse(verified.key.clone())?;
        let object_headers = object_headers(&pairs)?;
        // The form is a PutObject of its key by its signer, or by anyone when it is unsigned:
        // decided by the authorization layer as a PUT is (owner, bucket policy, explicit Deny),
        // with the form's fields as the request's headers for condition keys.
        let mut authed = match (&verified.auth, found) {
            (Some(auth), Some(signer)) => {
                self.record_key_use(&signer.user.access_key_id);
                Authed {
                    identity: signer.identity.clone(),
                    caller: Caller {
                        user: signer.user.name.clone(),
                        is_root: signer.user.is_root,
                        authorized: false,
                    },
                    signed: Some(Signed::Form(auth.signature_version)),
                    grant: None,
                    bucket: None,
                    bypass: false,
                    checker: None,
                }
            }
            (Some(_), None) => return Err(ApiError::code(ErrorCode::InvalidAccessKeyId)),
            (None, _) => Self::anonymous(),
        };
        let client = parts.extensions.get::<ClientInfo>().copied().unwrap_or_default();
        let op = Operation::PutObject { bucket: bucket.clone(), key: key.clone() };
        self.authorize(&op, &object_headers, client, None, &mut authed).await?;
        let bucket_facts = authed.bucket.take();
        let caller = authed.caller;
        let e = &self.engine;
        if let Err(refused) = check_feature_headers("PutObject", |n| header(&object_headers, n)) {
            e.head_bucket(&caller, &bucket).await?;
            return Err(refused.error.into());
        }
        let tags = form_tags(field("tagging"))?;
        let (integrity, _) = body_integrity(&object_headers, None, &[])?;
        let req = PutObjectRequest {
            // Lock fields of the form are honoured as their headers are on PUT.
            lock: s3gate_protocol::parse_lock_headers(|n| header(&object_headers, n))?,
            bucket: bucket.clone(),
            key: key.clone(),
            headers: stored_headers(&object_headers)?,
            tags,
            integrity,
            condition: write_condition(&HeaderMap::new())?,
            encryption: self.sse_request(&object_headers)?,
            // The `acl` field is the form's `x-amz-acl`.
            ownership: self
                .write_ownership(&caller, &bucket, &object_headers, bucket_facts.as_ref())
                .await?,
            storage_class: header(&object_headers, "x-amz-storage-class").map(str::to_owned),
        };
        let stream = FileStream {
            body,
            parser,
            pending,
            range: verified.content_length_range,
            received: 0,
            done: false,
        };
        let out = e.put_object(&caller, req, Box::pin(stream)).await?;

        let host = header(&parts.headers, "host").unwrap_or("localhost");
        Ok(answer(&bucket, &key, host, &out, &pairs))
    }
}

/// A form read up to its file part: the fields, and what reading the file needs (its
/// headers, the parser, the input the parser has not consumed yet, and the rest of the body).
struct FormHead {
    fields: Vec<FormField>,
    file: FileStart,
    parser: FormParser,
    pending: Bytes,
    body: TimedBody,
}

async fn read_fields(content_type: &str, mut body: TimedBody) -> Result<FormHead, ApiError> {
    let mut parser = FormParser::from_content_type(content_type, FormLimits::default())
        .map_err(|e| ApiError::from(BodyError::Form(e)))?;
    let mut pending = Bytes::new();
    let mut fields: Vec<FormField> = Vec::new();
    let file: FileStart = loop {
        match parser.parse(&mut pending).map_err(|e| ApiError::from(BodyError::Form(e)))? {
            Some(FormEvent::Field(f)) => fields.push(f),
            Some(FormEvent::FileStart(f)) => break f,
            Some(FormEvent::FileData(_) | FormEvent::FileEnd) => {
                return Err(ApiError::code(ErrorCode::MalformedPOSTRequest));
            }
            None => match body.frame().await {
                None => {
                    parser.finish().map_err(|e| ApiError::from(BodyError::Form(e)))?;
                    return Err(ApiError::code(ErrorCode::IncorrectNumberOfFilesInPostRequest));
                }
                Some(Err(e)) => return Err(read_error(e).into()),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        pending = data;
                    }
                }
            },
        }
    };
    Ok(FormHead { fields, file, parser, pending, body })
}

/// The answer to a stored form: a `303` to `success_action_redirect`, else
/// `success_action_status` (`200`, `201` with a `PostResponse`, anything else `204`).
fn answer(
    bucket: &BucketName,
    key: &ObjectKey,
    host: &str,
    out: &s3gate_engine::api::WriteOutput,
    pairs: &[(&str, &str)],
) -> Resp {
    let field =
        |name: &str| pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
    let etag = out.etag.quoted();
    let location = format!("http://{host}/{bucket}/{}", url_encode(key.as_str()));
    let redirect = field("success_action_redirect")
        .or_else(|| field("redirect"))
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    let mut r = if let Some(url) = redirect {
        let sep = if url.contains('?') { '&' } else { '?' };
        let target = format!(
            "{url}{sep}bucket={}&key={}&etag={}",
            form_encode(bucket.as_str()),
            form_encode(key.as_str()),
            form_encode(&etag)
        );
        let mut r = empty(StatusCode::SEE_OTHER);
        set(&mut r, "location", &target);
        r
    } else {
        match field("success_action_status").map(str::trim) {
            Some("200") => empty(StatusCode::OK),
            Some("201") => {
                let doc = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location>\
                     <Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                    escape(&location),
                    escape(bucket.as_str()),
                    escape(key.as_str()),
                    escape(&etag)
                );
                let mut r = Resp::new(crate::body::full(doc));
                *r.status_mut() = StatusCode::CREATED;
                set(&mut r, "content-type", "application/xml");
                r
            }
            // S3 answers 204 for an absent or unsupported value.
            _ => empty(StatusCode::NO_CONTENT),
        }
    };
    set(&mut r, "etag", &etag);
    if r.status() != StatusCode::SEE_OTHER {
        set(&mut r, "location", &location);
    }
    if let Some((alg, value)) = &out.checksum_value {
        set(&mut r, alg.header_name(), value);
    }
    r
}

/// The form fields that are object headers (`Content-Type`, `Cache-Control`,
/// `x-amz-meta-*`, `x-amz-checksum-*`, and the feature fields the PUT path refuses), as the
/// headers a PutObject would carry; `acl` becomes `x-amz-acl`.
fn object_headers(pairs: &[(&str, &str)]) -> Result<HeaderMap, ApiError> {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        let lower = name.to_ascii_lowercase();
        let target = if lower == "acl" {
            "x-amz-acl".to_owned()
        } else if MECHANISM_FIELDS.contains(&lower.as_str()) || lower.starts_with("x-ignore-") {
            continue;
        } else {
            lower
        };
        let bad = || {
            ApiError::msg(
                ErrorCode::InvalidArgument,
                format!("The form field {name} is not a valid header."),
            )
        };
        let n = HeaderName::from_bytes(target.as_bytes()).map_err(|_| bad())?;
        let v = HeaderValue::from_str(value).map_err(|_| bad())?;
        h.append(n, v);
    }
    Ok(h)
}

/// `application/x-www-form-urlencoded` encoding of a redirect's query value.
fn form_encode(s: &str) -> String {
    url_encode(s).replace('/', "%2F")
}

fn read_error(e: BodyReadError) -> BodyError {
    match e {
        BodyReadError::Hyper(e) => BodyError::Incomplete(e),
        BodyReadError::TimedOut => BodyError::TimedOut,
    }
}

/// The file part of a form as the engine's body stream: the parser's file pieces as they
/// arrive, the size checked against the policy's `content-length-range` on the way. It ends
/// at the file's closing boundary; what follows is S3's to ignore (and the server's to drain).
struct FileStream {
    body: TimedBody,
    parser: FormParser,
    pending: Bytes,
    range: Option<ContentLengthRange>,
    received: u64,
    done: bool,
}

impl FileStream {
    fn fail(&mut self, e: BodyError) -> Poll<Option<Result<Bytes, BoxError>>> {
        self.done = true;
        Poll::Ready(Some(Err(Box::new(e))))
    }

    fn policy(
        &mut self,
        r: Result<(), PostPolicyError>,
    ) -> Option<Poll<Option<Result<Bytes, BoxError>>>> {
        r.err().map(|e| self.fail(BodyError::PostPolicy(e)))
    }
}

impl Stream for FileStream {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.parser.parse(&mut this.pending) {
                Ok(Some(FormEvent::FileData(data))) => {
                    this.received += data.len() as u64;
                    if let Some(range) = this.range
                        && let Some(p) = this.policy(range.check_so_far(this.received))
                    {
                        return p;
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Ok(Some(FormEvent::FileEnd)) => {
                    if let Some(range) = this.range
                        && let Some(p) = this.policy(range.check_total(this.received))
                    {
                        return p;
                    }
                    this.done = true;
                    return Poll::Ready(None);
                }
                Ok(Some(FormEvent::Field(_) | FormEvent::FileStart(_))) => {
                    return this.fail(BodyError::Form(
                        s3gate_protocol::form::FormError::Malformed("a second file part"),
                    ));
                }
                Ok(None) => {}
                Err(e) => return this.fail(BodyError::Form(e)),
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    let e = this
                        .parser
                        .finish()
                        .err()
                        .unwrap_or(s3gate_protocol::form::FormError::Incomplete);
                    return this.fail(BodyError::Form(e));
                }
                Poll::Ready(Some(Err(e))) => return this.fail(read_error(e)),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.pending = data;
                    }
                }
            }
        }
    }
}

/// The object's tags from the form's `tagging` field (a `Tagging` document), if it has one.
fn form_tags(xml: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(xml) = xml else { return Ok(Vec::new()) };
    let tags = s3gate_protocol::parse_tagging(xml.as_bytes())?;
    s3gate_protocol::check_tag_set(&tags)?;
    Ok(tags)
}
