//! CORS in the request path: the bucket's stored configuration, the answer to a preflight
//! `OPTIONS` (unauthenticated, as on S3), and the `Access-Control-*` headers of actual
//! responses, error responses included, so that a page can read why its request failed.
//! The decisions are `s3gate_protocol::cors`'s; this module only fetches and applies them.

use http::{HeaderMap, HeaderValue};
use s3gate_engine::EngineError;
use s3gate_metadata::MetadataStore;
use s3gate_protocol::cors::{CorsConfiguration, parse_cors_configuration, request_header_names};
use s3gate_protocol::{BucketName, ErrorCode};

use crate::errors::ApiError;
use crate::headers::header;

/// The configuration kind under which a bucket's CORS document is stored.
pub(crate) const KIND: &str = "cors";

/// The bucket's CORS configuration, `None` when it has none (or the bucket does not exist).
pub(crate) async fn load<M: MetadataStore>(
    meta: &M,
    bucket: &str,
) -> Result<Option<CorsConfiguration>, ApiError> {
    let stored = meta.bucket_config(bucket, KIND).await.map_err(EngineError::from)?;
    match stored {
        None => Ok(None),
        // Stored only after validation: a document that no longer parses is an internal fault.
        Some(doc) => parse_cors_configuration(doc.as_bytes()).map(Some).map_err(|e| {
            ApiError::from(EngineError::Internal(
                format!("stored CORS configuration of {bucket} does not parse: {}", e.message)
                    .into(),
            ))
        }),
    }
}

fn forbidden(message: &str) -> ApiError {
    ApiError::msg(ErrorCode::AccessForbidden, message)
}

/// The answer to a preflight `OPTIONS` on `bucket`: `200` with the matching rule's headers,
/// `400` without `Origin` or `Access-Control-Request-Method`, `403 AccessForbidden` when the
/// bucket is missing, has no CORS configuration, or no rule allows the request.
pub(crate) async fn preflight<M: MetadataStore>(
    meta: &M,
    bucket: &BucketName,
    headers: &HeaderMap,
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let Some(origin) = header(headers, "origin") else {
        return Err(ApiError::msg(
            ErrorCode::BadRequest,
            "Insufficient information. Origin request header needed.",
        ));
    };
    let Some(method) = header(headers, "access-control-request-method") else {
        return Err(ApiError::msg(
            ErrorCode::BadRequest,
            "Invalid Access-Control-Request-Method: null",
        ));
    };
    if meta.bucket(bucket.as_str()).await.map_err(EngineError::from)?.is_none() {
        return Err(forbidden("CORSResponse: Bucket not found"));
    }
    let Some(config) = load(meta, bucket.as_str()).await? else {
        return Err(forbidden("CORSResponse: CORS is not enabled for this bucket."));
    };
    let names =
        request_header_names(header(headers, "access-control-request-headers").unwrap_or(""));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let rule = config
        .preflight(origin, method.trim(), &names)
        .ok_or_else(|| ApiError::code(ErrorCode::AccessForbidden))?;
    Ok(rule.preflight_headers(origin, &names))
}

/// Adds the CORS headers an actual request from `origin` with `method` gets under the
/// bucket's configuration (none when no rule matches). A failure to read the configuration
/// is logged and leaves the response as it is: CORS headers only ever widen what a browser
/// may read, so their absence is the safe side.
pub(crate) async fn decorate<M: MetadataStore>(
    meta: &M,
    bucket: &str,
    origin: &str,
    method: &str,
    response: &mut HeaderMap,
) {
    let config = match load(meta, bucket).await {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(bucket, cause = ?e.cause, "cannot read the CORS configuration");
            return;
        }
    };
    // Whether a rule matches depends on the origin: caches must keep answers apart.
    response.insert("vary", HeaderValue::from_static("Origin"));
    let Some(rule) = config.actual(origin, method) else { return };
    for (name, value) in rule.response_headers(origin) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.insert(name, v);
        }
    }
}
