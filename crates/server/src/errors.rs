//! The one place where engine, authentication and body errors become S3 error codes.
//!
//! Each mapping is an exhaustive `match` without a catch-all arm, so a new variant in a lower
//! crate fails to compile here until someone decides its S3 code.

use s3gate_engine::EngineError;
use s3gate_policy::PolicyError;
use s3gate_protocol::form::FormError;
use s3gate_protocol::{ErrorCode, S3Error, format_http_date, format_iso8601};
use s3gate_sigv4::{ChunkedError, PostPolicyError, VerifyError, VerifyV2Error};

use crate::body::BodyError;

/// An error on its way to the client, plus the cause to log (never sent): `cause` for an
/// internal failure (logged as an error), `client_cause` for one the client caused, such as a
/// connection closed mid-body (logged at info: nothing is wrong with the gateway).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) s3: S3Error,
    pub(crate) cause: Option<String>,
    pub(crate) client_cause: Option<String>,
    /// Response headers the error carries (a delete marker's `x-amz-delete-marker`, ...);
    /// boxed to keep every `Result<_, ApiError>` small.
    pub(crate) headers: Option<Box<ErrorHeaders>>,
}

/// Response headers of an error response, as (lowercase name, value).
#[derive(Debug, Default)]
pub(crate) struct ErrorHeaders(pub(crate) Vec<(&'static str, String)>);

impl From<S3Error> for ApiError {
    fn from(s3: S3Error) -> Self {
        ApiError { s3, cause: None, client_cause: None, headers: None }
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
        ApiError { s3: S3Error::new(code), cause: Some(cause), client_cause: None, headers: None }
    }
    /// `500 InternalError`, logging `cause`.
    pub(crate) fn internal_error(cause: String) -> Self {
        Self::internal(ErrorCode::InternalError, cause)
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        let code = match &e {
            PolicyError::MalformedPolicy { .. } => ErrorCode::MalformedPolicy,
            PolicyError::MalformedAcl { .. } => ErrorCode::MalformedACLError,
            PolicyError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            PolicyError::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            PolicyError::GrantByEmail => ErrorCode::UnresolvableGrantByEmailAddress,
            PolicyError::AclNotSupported => ErrorCode::AccessControlListNotSupported,
            PolicyError::PublicAccessBlocked { .. } => ErrorCode::AccessDenied,
            PolicyError::NotImplemented { .. } => ErrorCode::NotImplemented,
        };
        ApiError::msg(code, e.message())
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
            EngineError::NoSuchVersion => ApiError::code(ErrorCode::NoSuchVersion),
            // AWS: the current version is a marker → 404 NoSuchKey; a marker named by its id →
            // 405 MethodNotAllowed; both with the marker's headers.
            EngineError::DeleteMarker { version_id, last_modified, addressed } => {
                let mut api = if addressed {
                    ApiError::from(
                        S3Error::new(ErrorCode::MethodNotAllowed)
                            .with_extra("Method", "GET")
                            .with_extra("ResourceType", "DeleteMarker"),
                    )
                } else {
                    ApiError::code(ErrorCode::NoSuchKey)
                };
                let mut headers = vec![
                    ("x-amz-delete-marker", "true".to_owned()),
                    ("x-amz-version-id", version_id),
                ];
                if addressed {
                    headers.push(("last-modified", format_http_date(last_modified)));
                    headers.push(("allow", "DELETE".to_owned()));
                }
                api.headers = Some(Box::new(ErrorHeaders(headers)));
                api
            }
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
            EngineError::ObjectLocked => ApiError::msg(
                ErrorCode::AccessDenied,
                "Access Denied because object protected by object lock.",
            ),
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
            EngineError::Encryption(e) => e.into(),
            EngineError::SseUnavailable => ApiError::msg(
                ErrorCode::NotImplemented,
                "Server-side encryption is not configured on this gateway (no master key).",
            ),
            EngineError::SseCustomerKeyRequired => ApiError::msg(
                ErrorCode::InvalidRequest,
                "The object was stored using a form of Server Side Encryption. The correct \
                 parameters must be provided to retrieve the object.",
            ),
            EngineError::SseNotApplicable => ApiError::msg(
                ErrorCode::InvalidRequest,
                "The encryption parameters are not applicable to this object.",
            ),
            EngineError::SseCustomerBlocked => ApiError::msg(
                ErrorCode::AccessDenied,
                "Requests specifying Server Side Encryption with Customer provided keys are \
                 blocked for this bucket (BlockedEncryptionTypes).",
            ),
        }
    }
}

impl From<s3gate_crypto::CryptoError> for ApiError {
    fn from(e: s3gate_crypto::CryptoError) -> Self {
        use s3gate_crypto::CryptoError as C;
        let invalid = |message: &str, name: &str| {
            ApiError::from(
                S3Error::with_message(ErrorCode::InvalidArgument, message)
                    .with_extra("ArgumentName", name.to_owned()),
            )
        };
        match e {
            // Tampered or unreadable stored data, broken records, operator errors: never the
            // client's doing; logged and answered InternalError.
            C::Random
            | C::UnknownFormatVersion(_)
            | C::PackageRejected { .. }
            | C::Truncated { .. }
            | C::TrailingBytes
            | C::InvalidRange { .. }
            | C::Malformed(_)
            | C::KeyFile { .. }
            | C::InvalidMasterKeyId
            | C::UnknownMasterKey(_)
            | C::DuplicateMasterKey(_)
            | C::RetireActiveKey(_)
            | C::UnwrapFailed
            | C::KmsKeyExists(_)
            | C::Storage(_) => ApiError::internal(ErrorCode::InternalError, chain(&e)),
            C::PartTooLarge => ApiError::code(ErrorCode::EntityTooLarge),
            // S3 passes KMS's refusals on as `400 KMS.NotFoundException` ("Invalid keyId" for
            // a malformed id, "Key '<arn>' does not exist" for an unknown one) and
            // `400 KMS.DisabledException` ("<arn> is disabled.").
            C::InvalidKmsKeyId(id) => {
                ApiError::msg(ErrorCode::KmsNotFound, format!("Invalid keyId {id}"))
            }
            C::KmsKeyNotFound(id) => {
                ApiError::msg(ErrorCode::KmsNotFound, format!("Key '{id}' does not exist"))
            }
            C::KmsKeyDisabled(arn) => {
                ApiError::msg(ErrorCode::KmsDisabled, format!("{arn} is disabled."))
            }
            C::SseCustomerAlgorithmMissing => invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must \
                 provide a valid encryption algorithm.",
                "x-amz-server-side-encryption-customer-algorithm",
            ),
            C::SseCustomerAlgorithmUnsupported => {
                ApiError::code(ErrorCode::InvalidEncryptionAlgorithmError)
            }
            C::SseCustomerKeyMissing => invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must \
                 provide an appropriate secret key.",
                "x-amz-server-side-encryption-customer-key",
            ),
            C::SseCustomerKeyInvalid => invalid(
                "The secret key was invalid for the specified algorithm.",
                "x-amz-server-side-encryption-customer-key",
            ),
            C::SseCustomerKeyMd5Missing => invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must \
                 provide the client calculated MD5 of the secret key.",
                "x-amz-server-side-encryption-customer-key-MD5",
            ),
            C::SseCustomerKeyMd5Mismatch => invalid(
                "The calculated MD5 hash of the key did not match the hash that was provided.",
                "x-amz-server-side-encryption-customer-key-MD5",
            ),
            // AWS: "If you provide an incorrect key, Amazon S3 returns HTTP 403 Forbidden."
            C::SseCustomerKeyMismatch => ApiError::msg(
                ErrorCode::AccessDenied,
                "The provided customer key does not match the key the object was stored with.",
            ),
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
                headers: None,
            },
            BodyError::TimedOut => ApiError::code(ErrorCode::RequestTimeout),
            BodyError::Sha256(v) => v.into(),
            BodyError::Chunked(c) => c.into(),
            BodyError::UnexpectedTrailer(name) => ApiError::msg(
                ErrorCode::InvalidRequest,
                format!("The trailer {name} was not declared in x-amz-trailer."),
            ),
            BodyError::Form(e) => e.into(),
            BodyError::PostPolicy(e) => e.into(),
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
                headers: None,
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

impl From<VerifyV2Error> for ApiError {
    fn from(e: VerifyV2Error) -> Self {
        match e {
            VerifyV2Error::Common(e) => e.into(),
            VerifyV2Error::MalformedAuthorization => S3Error::with_message(
                ErrorCode::InvalidArgument,
                "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            )
            .with_extra("ArgumentName", "Authorization".to_owned())
            .into(),
            VerifyV2Error::MissingQueryParameters => ApiError::msg(
                ErrorCode::AccessDenied,
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            ),
            VerifyV2Error::InvalidExpires(v) => ApiError::msg(
                ErrorCode::AccessDenied,
                format!("Invalid date (should be seconds since epoch): {v}"),
            ),
        }
    }
}

impl From<FormError> for ApiError {
    fn from(e: FormError) -> Self {
        match e {
            FormError::NotMultipart => S3Error::with_message(
                ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            )
            .with_extra(
                "Condition",
                "Bucket POST must be of the enclosure-type multipart/form-data".to_owned(),
            )
            .into(),
            FormError::InvalidBoundary
            | FormError::Malformed(_)
            | FormError::PartHeaderTooLarge
            | FormError::Incomplete => ApiError {
                s3: S3Error::new(ErrorCode::MalformedPOSTRequest),
                cause: None,
                client_cause: Some(e.to_string()),
                headers: None,
            },
            FormError::TooManyFields
            | FormError::FieldTooLarge { .. }
            | FormError::PreFileDataTooLarge => {
                ApiError::code(ErrorCode::MaxPostPreDataLengthExceededError)
            }
            FormError::MissingFile => {
                ApiError::code(ErrorCode::IncorrectNumberOfFilesInPostRequest)
            }
        }
    }
}

impl From<PostPolicyError> for ApiError {
    fn from(e: PostPolicyError) -> Self {
        match e {
            PostPolicyError::Verify(e) => e.into(),
            PostPolicyError::MissingField(name) => S3Error::with_message(
                ErrorCode::InvalidArgument,
                format!(
                    "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
                ),
            )
            .with_extra("ArgumentName", name.to_owned())
            .with_extra("ArgumentValue", String::new())
            .into(),
            PostPolicyError::DuplicateField(name) => ApiError::msg(
                ErrorCode::InvalidArgument,
                format!("The form field {name} appears more than once."),
            ),
            PostPolicyError::InvalidPolicyDocument(detail) => {
                ApiError::msg(ErrorCode::InvalidPolicyDocument, format!("Invalid Policy: {detail}"))
            }
            PostPolicyError::PolicyExpired => {
                ApiError::msg(ErrorCode::AccessDenied, "Invalid according to Policy: Policy expired.")
            }
            PostPolicyError::ConditionFailed(c) => ApiError::msg(
                ErrorCode::AccessDenied,
                format!("Invalid according to Policy: Policy Condition failed: {c}"),
            ),
            PostPolicyError::ExtraInputFields(names) => ApiError::msg(
                ErrorCode::AccessDenied,
                format!("Invalid according to Policy: Extra input fields: {}", names.join(", ")),
            ),
            PostPolicyError::EntityTooLarge { size, max } => {
                S3Error::new(ErrorCode::EntityTooLarge)
                    .with_extra("ProposedSize", size.to_string())
                    .with_extra("MaxSizeAllowed", max.to_string())
                    .into()
            }
            PostPolicyError::EntityTooSmall { size, min } => {
                S3Error::new(ErrorCode::EntityTooSmall)
                    .with_extra("ProposedSize", size.to_string())
                    .with_extra("MinSizeAllowed", min.to_string())
                    .into()
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
