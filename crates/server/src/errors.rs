//! The one place where engine, authentication and body errors become S3 error codes.
//!
//! Each mapping is an exhaustive `match` without a catch-all arm, so a new variant in a lower
//! crate fails to compile here until someone decides its S3 code.

use s3gate_engine::EngineError;
use s3gate_protocol::{ErrorCode, S3Error, format_iso8601};
use s3gate_sigv4::{ChunkedError, VerifyError};

use crate::body::BodyError;

/// An error on its way to the client, plus the cause to log (never sent): `cause` for an
/// internal failure (logged as an error), `client_cause` for one the client caused, such as a
/// connection closed mid-body (logged at info: nothing is wrong with the gateway).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) s3: S3Error,
    pub(crate) cause: Option<String>,
    pub(crate) client_cause: Option<String>,
}

impl From<S3Error> for ApiError {
    fn from(s3: S3Error) -> Self {
        ApiError { s3, cause: None, client_cause: None }
    }
}

impl ApiError {
    pub(crate) fn code(code: ErrorCode) -> Self {
        S3Error::new(code).into()
    }
    pub(crate) fn msg(code: ErrorCode, message: impl Into<String>) -> Self {
        S3Error::with_message(code, message).into()
    }
    fn internal(code: ErrorCode, cause: String) -> Self {
        ApiError { s3: S3Error::new(code), cause: Some(cause), client_cause: None }
    }
}

/// Formats an error with its whole source chain, for the log.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl From<EngineError> for ApiError {
    #[allow(clippy::too_many_lines, reason = "one arm per variant is the point")]
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NoSuchBucket => ApiError::code(ErrorCode::NoSuchBucket),
            EngineError::NoSuchKey => ApiError::code(ErrorCode::NoSuchKey),
            EngineError::NoSuchUpload => ApiError::code(ErrorCode::NoSuchUpload),
            EngineError::AccessDenied => ApiError::code(ErrorCode::AccessDenied),
            EngineError::BucketAlreadyOwnedByYou => {
                ApiError::code(ErrorCode::BucketAlreadyOwnedByYou)
            }
            EngineError::BucketAlreadyExists => ApiError::code(ErrorCode::BucketAlreadyExists),
            EngineError::BucketNotEmpty => ApiError::code(ErrorCode::BucketNotEmpty),
            EngineError::InvalidLocationConstraint => ApiError::msg(
                ErrorCode::InvalidLocationConstraint,
                "The specified location-constraint is not valid",
            ),
            EngineError::PreconditionFailed => ApiError::code(ErrorCode::PreconditionFailed),
            EngineError::NotModified { .. } => ApiError::code(ErrorCode::NotModified),
            EngineError::ConditionalConflict => {
                ApiError::code(ErrorCode::ConditionalRequestConflict)
            }
            EngineError::Protocol(s3) => s3.into(),
            EngineError::BadDigest => ApiError::msg(
                ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            ),
            EngineError::ChecksumMismatch(alg) => ApiError::msg(
                ErrorCode::BadDigest,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    alg.header_name()
                ),
            ),
            EngineError::TrailerMissing(name) => ApiError::msg(
                ErrorCode::InvalidRequest,
                format!("The trailer {name} declared in x-amz-trailer was not sent."),
            ),
            EngineError::IncompleteBody { expected, received } => ApiError::msg(
                ErrorCode::IncompleteBody,
                format!(
                    "The request body terminated unexpectedly: expected {expected} bytes, received {received}."
                ),
            ),
            EngineError::TooMuchBody => ApiError::msg(
                ErrorCode::InvalidRequest,
                "The request body is longer than its declared length.",
            ),
            EngineError::EntityTooLarge => ApiError::code(ErrorCode::EntityTooLarge),
            EngineError::EntityTooSmall => ApiError::code(ErrorCode::EntityTooSmall),
            EngineError::InvalidPart(msg) => ApiError::msg(ErrorCode::InvalidPart, msg),
            EngineError::InvalidPartOrder => ApiError::code(ErrorCode::InvalidPartOrder),
            EngineError::InvalidArgument(msg) => ApiError::msg(ErrorCode::InvalidArgument, msg),
            EngineError::InvalidRequest(msg) => ApiError::msg(ErrorCode::InvalidRequest, msg),
            EngineError::Body(source) => match source.downcast::<BodyError>() {
                Ok(body) => (*body).into(),
                Err(other) => ApiError::internal(ErrorCode::InternalError, chain(&*other)),
            },
            EngineError::InsufficientStorage => ApiError::internal(
                ErrorCode::ServiceUnavailable,
                "storage backend out of space".to_owned(),
            ),
            EngineError::Unavailable(source) => {
                ApiError::internal(ErrorCode::SlowDown, chain(&*source))
            }
            EngineError::Internal(source) => {
                ApiError::internal(ErrorCode::InternalError, chain(&*source))
            }
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            // The client closed the connection or broke its framing mid-body: its fault, not
            // the gateway's.
            BodyError::Incomplete(cause) => ApiError {
                s3: S3Error::with_message(
                    ErrorCode::IncompleteBody,
                    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                ),
                cause: None,
                client_cause: Some(chain(&cause)),
            },
            BodyError::TimedOut => ApiError::code(ErrorCode::RequestTimeout),
            BodyError::Sha256(v) => v.into(),
            BodyError::Chunked(c) => c.into(),
            BodyError::UnexpectedTrailer(name) => ApiError::msg(
                ErrorCode::InvalidRequest,
                format!("The trailer {name} was not declared in x-amz-trailer."),
            ),
        }
    }
}

impl From<ChunkedError> for ApiError {
    fn from(e: ChunkedError) -> Self {
        let text = e.to_string();
        match e {
            ChunkedError::MalformedFraming(_) | ChunkedError::Incomplete => {
                ApiError::msg(ErrorCode::IncompleteBody, text)
            }
            ChunkedError::ChunkTooSmall { chunk, size } => ApiError {
                s3: S3Error::with_message(
                    ErrorCode::InvalidChunkSizeError,
                    "Only the last chunk is allowed to have a size less than 8192 bytes",
                )
                .with_extra("Chunk", chunk.to_string())
                .with_extra("BadChunkSize", size.to_string()),
                cause: None,
                client_cause: None,
            },
            ChunkedError::ChunkSignatureMismatch | ChunkedError::TrailerSignatureMismatch => {
                ApiError::msg(ErrorCode::SignatureDoesNotMatch, text)
            }
            ChunkedError::DecodedLengthMismatch { expected, actual } if actual < expected => {
                ApiError::msg(ErrorCode::IncompleteBody, text)
            }
            ChunkedError::DecodedLengthMismatch { .. }
            | ChunkedError::ChunkHeaderTooLong
            | ChunkedError::TrailerMissing(_)
            | ChunkedError::UnexpectedTrailer(_) => ApiError::msg(ErrorCode::InvalidRequest, text),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        let text = e.to_string();
        match e {
            VerifyError::MissingAuth => ApiError::code(ErrorCode::AccessDenied),
            VerifyError::SignatureDoesNotMatch => ApiError::code(ErrorCode::SignatureDoesNotMatch),
            VerifyError::InvalidAccessKeyId => ApiError::code(ErrorCode::InvalidAccessKeyId),
            VerifyError::AuthorizationHeaderMalformed(msg) => {
                ApiError::msg(ErrorCode::AuthorizationHeaderMalformed, msg)
            }
            VerifyError::HeadersNotSigned(names) => S3Error::with_message(
                ErrorCode::AccessDenied,
                "There were headers present in the request which were not signed",
            )
            .with_extra("HeadersNotSigned", names.join(", "))
            .into(),
            VerifyError::MissingDate => ApiError::msg(
                ErrorCode::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header",
            ),
            VerifyError::RequestExpired => {
                ApiError::msg(ErrorCode::AccessDenied, "Request has expired")
            }
            VerifyError::RequestNotYetValid => {
                ApiError::msg(ErrorCode::AccessDenied, "Request is not yet valid")
            }
            VerifyError::AuthorizationQueryParametersError(msg) => {
                ApiError::msg(ErrorCode::AuthorizationQueryParametersError, msg)
            }
            VerifyError::RequestTimeTooSkewed { request_time, server_time } => {
                S3Error::new(ErrorCode::RequestTimeTooSkewed)
                    .with_extra("RequestTime", format_iso8601(request_time))
                    .with_extra("ServerTime", format_iso8601(server_time))
                    .with_extra("MaxAllowedSkewMilliseconds", "900000".to_owned())
                    .into()
            }
            VerifyError::MissingContentSha256 => ApiError::msg(
                ErrorCode::InvalidRequest,
                "Missing required header for this request: x-amz-content-sha256",
            ),
            VerifyError::InvalidContentSha256 => ApiError::msg(ErrorCode::InvalidArgument, text),
            VerifyError::ContentSha256Mismatch => {
                ApiError::code(ErrorCode::XAmzContentSHA256Mismatch)
            }
            VerifyError::UnsupportedAlgorithm(_) => ApiError::msg(ErrorCode::NotImplemented, text),
            VerifyError::MultipleAuthMechanisms => ApiError::msg(
                ErrorCode::InvalidArgument,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
            ),
            VerifyError::NotStreaming => ApiError::msg(ErrorCode::InvalidRequest, text),
            VerifyError::WrongRegion { error, region } => {
                let mut api = ApiError::from(*error);
                api.s3.extra.push(("Region".to_owned(), region));
                api
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(e: EngineError, status: u16, code: ErrorCode, logged: bool) {
        let what = format!("{e:?}");
        let api = ApiError::from(e);
        assert_eq!((api.s3.status(), api.s3.code), (status, code), "{what}");
        assert_eq!(api.cause.is_some(), logged, "{what}: cause logged");
    }

    /// Faults from below: what a client sees when a store fails. Out of space is a 503 that
    /// SDKs retry with back-off (space comes back as the collector runs), as is an unavailable
    /// store; anything else is a 500. Every one logs its cause; none leaks it to the client.
    #[test]
    fn store_failures_map_to_retryable_or_internal_errors() {
        check(EngineError::InsufficientStorage, 503, ErrorCode::ServiceUnavailable, true);
        check(EngineError::Unavailable("busy".into()), 503, ErrorCode::SlowDown, true);
        check(EngineError::Internal("EIO".into()), 500, ErrorCode::InternalError, true);
        let api = ApiError::from(EngineError::Internal("/data/blobs/ab/cd: EIO".into()));
        assert!(!api.s3.message.contains("/data"), "no path in the client's message");
    }

    /// A request signed for another region names the gateway's region, so SDKs redirect.
    #[test]
    fn wrong_region_names_the_region_to_sign_for() {
        let msg = "the region 'eu-west-1' is wrong; expecting 'us-east-1'".to_owned();
        for (inner, code) in [
            (
                VerifyError::AuthorizationHeaderMalformed(msg.clone()),
                ErrorCode::AuthorizationHeaderMalformed,
            ),
            (
                VerifyError::AuthorizationQueryParametersError(msg.clone()),
                ErrorCode::AuthorizationQueryParametersError,
            ),
        ] {
            let e = VerifyError::WrongRegion { error: Box::new(inner), region: "us-east-1".into() };
            let api = ApiError::from(e);
            assert_eq!((api.s3.status(), api.s3.code), (400, code));
            assert_eq!(api.s3.message, msg);
            assert_eq!(api.s3.extra, [("Region".to_owned(), "us-east-1".to_owned())]);
        }
    }
}
