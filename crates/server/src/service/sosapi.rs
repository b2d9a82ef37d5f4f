//! Veeam's SOSAPI objects (`s3gate_protocol::sosapi`): a GET or HEAD of
//! `.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml` or `capacity.xml` that finds no
//! stored object there is answered with a document made from the blob store's real space.
//!
//! The request was routed, authenticated and authorized as the GetObject it is, so a caller
//! who may not read the bucket learns nothing here. A backend that cannot tell its space (the
//! S3 proxy) says `CapacityInfo` false in `system.xml`, and `capacity.xml` stays `NoSuchKey`.
//! A `Range` is ignored (HTTP lets a server do so: the documents are a few hundred bytes); the
//! conditional headers are honoured against the document's ETag.

use std::time::SystemTime;

use http::{HeaderMap, StatusCode};
use md5::{Digest as _, Md5};
use s3gate_metadata::MetadataStore;
use s3gate_protocol::sosapi::{Capacity, SosapiObject, capacity_xml, system_xml};
use s3gate_protocol::{ConditionOutcome, ETag, ErrorCode, Preconditions, format_http_date};
use s3gate_storage_backend::BlobStore;

use super::{Gateway, Resp, empty, set, xml};
use crate::errors::ApiError;
use crate::headers::header;

/// What `system.xml` names the gateway.
const MODEL: &str = concat!("s3gate ", env!("CARGO_PKG_VERSION"));

impl<M: MetadataStore, B: BlobStore> Gateway<M, B> {
    /// Answers a read of a SOSAPI object that is not stored.
    pub(super) async fn sosapi_object(
        &self,
        object: SosapiObject,
        headers: &HeaderMap,
        head: bool,
    ) -> Result<Resp, ApiError> {
        let space = self
            .engine
            .blobs()
            .space()
            .await
            .map_err(|e| ApiError::from(s3gate_engine::EngineError::from(e)))?;
        let doc = match (object, space) {
            (SosapiObject::System, space) => system_xml(MODEL, space.is_some()),
            (SosapiObject::Capacity, Some(s)) => {
                capacity_xml(Capacity { total: s.total, available: s.available })
            }
            (SosapiObject::Capacity, None) => return Err(ApiError::code(ErrorCode::NoSuchKey)),
        };
        let etag = ETag::from_md5(&Md5::digest(doc.as_bytes()).into());
        let now = SystemTime::now();
        match Preconditions::from_headers(|n| header(headers, n)).evaluate(&etag, now) {
            ConditionOutcome::Proceed => {}
            ConditionOutcome::NotModified => {
                let mut r = empty(StatusCode::NOT_MODIFIED);
                set(&mut r, "etag", &etag.quoted());
                return Ok(r);
            }
            ConditionOutcome::PreconditionFailed => {
                let conditions = Preconditions::from_headers(|n| header(headers, n));
                return Err(ApiError::from(conditions.failure(&etag, now, false)));
            }
        }
        let len = doc.len().to_string();
        let mut r = if head {
            let mut r = empty(StatusCode::OK);
            set(&mut r, "content-type", "application/xml");
            r
        } else {
            xml(StatusCode::OK, doc)
        };
        set(&mut r, "content-length", &len);
        set(&mut r, "etag", &etag.quoted());
        set(&mut r, "last-modified", &format_http_date(now));
        // Made fresh for every read: a cache must ask again.
        set(&mut r, "cache-control", "no-store");
        Ok(r)
    }
}
