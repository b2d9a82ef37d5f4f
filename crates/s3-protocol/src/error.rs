//! S3 error codes and the `<Error>` response body.

use std::fmt;

use crate::xml::escape;

macro_rules! error_codes {
    (@code $name:ident) => { stringify!($name) };
    (@code $name:ident $code:literal) => { $code };
    ($( $(#[$doc:meta])* $name:ident $(as $code:literal)? => $status:literal, $msg:literal; )*) => {
        /// An S3 error code, as sent in `<Code>` of an error body.
        ///
        /// Each code has a fixed HTTP status and a default message taken from the
        /// AWS error-response reference (`API/ErrorResponses.html`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name, )*
        }

        impl ErrorCode {
            /// The code exactly as S3 spells it, e.g. `"NoSuchKey"`.
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$name => error_codes!(@code $name $($code)?), )* }
            }

            /// The HTTP status S3 answers with for this code.
            pub fn status(self) -> u16 {
                match self { $( Self::$name => $status, )* }
            }

            /// S3's usual message for this code.
            pub fn default_message(self) -> &'static str {
                match self { $( Self::$name => $msg, )* }
            }

            /// The code named by an S3 `<Code>` string (e.g. from an upstream S3).
            pub fn parse(code: &str) -> Option<ErrorCode> {
                $( if code == error_codes!(@code $name $($code)?) { return Some(Self::$name); } )*
                None
            }

            /// Every code, in declaration order.
            pub fn all() -> &'static [ErrorCode] {
                &[ $( Self::$name, )* ]
            }
        }
    };
}

error_codes! {
    /// Access denied (also: unsigned `x-amz-*` headers, expired presigned URLs).
    AccessDenied => 403, "Access Denied";
    /// A CORS preflight that no rule of the bucket's CORS configuration allows (or a bucket
    /// without one).
    AccessForbidden => 403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
    /// ACLs other than the bucket owner's full control, on a bucket whose object ownership is
    /// `BucketOwnerEnforced` (every bucket of this gateway).
    AccessControlListNotSupported => 400, "The bucket does not allow ACLs";
    /// The Authorization header is malformed (or names the wrong region).
    AuthorizationHeaderMalformed => 400, "The authorization header you provided is invalid.";
    /// Presigned-URL query parameters are malformed.
    AuthorizationQueryParametersError => 400, "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed.";
    /// The body does not match `Content-MD5` or a checksum header.
    BadDigest => 400, "The Content-MD5 you specified did not match what we received.";
    /// A generic bad request (S3 uses it for more than 10 object tags).
    BadRequest => 400, "Bad Request";
    /// The bucket name is taken by another account.
    BucketAlreadyExists => 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.";
    /// The caller already owns this bucket.
    BucketAlreadyOwnedByYou => 409, "Your previous request to create the named bucket succeeded and you already own it.";
    /// DeleteBucket on a bucket that still holds objects or uploads.
    BucketNotEmpty => 409, "The bucket you tried to delete is not empty";
    /// A concurrent conflicting conditional write happened.
    ConditionalRequestConflict => 409, "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.";
    /// The upload exceeds the maximum allowed size.
    EntityTooLarge => 400, "Your proposed upload exceeds the maximum allowed size";
    /// A multipart part (other than the last) is smaller than 5 MiB.
    EntityTooSmall => 400, "Your proposed upload is smaller than the minimum allowed size";
    /// The session token has expired.
    ExpiredToken => 400, "The provided token has expired.";
    /// A RenameObject `x-amz-client-token` reused for another rename.
    IdempotencyParameterMismatch => 400, "The client token was used for another request within its lifetime.";
    /// A PutBucketVersioning `Status` other than `Enabled` or `Suspended`.
    IllegalVersioningConfigurationException => 400, "The Versioning element must be specified";
    /// Fewer bytes arrived than `Content-Length` announced.
    IncompleteBody => 400, "You did not provide the number of bytes specified by the Content-Length HTTP header";
    /// An internal failure; details are logged, never sent.
    InternalError => 500, "We encountered an internal error. Please try again.";
    /// An `Expect` header other than `100-continue` (RFC 9110 §10.1.1). Not in AWS's list
    /// of codes: S3's front ends answer it before S3 sees the request.
    ExpectationFailed => 417, "The expectation given in the Expect request header could not be met.";
    /// The access key id is unknown.
    InvalidAccessKeyId => 403, "The AWS Access Key Id you provided does not exist in our records.";
    /// A request argument is invalid.
    InvalidArgument => 400, "Invalid Argument";
    /// CreateBucket with an ACL that grants more than the owner's full control, while object
    /// ownership is `BucketOwnerEnforced`.
    InvalidBucketAclWithObjectOwnership => 400, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting";
    /// The bucket name breaks the naming rules.
    InvalidBucketName => 400, "The specified bucket is not valid.";
    /// An aws-chunked chunk other than the last is below 8 KiB.
    InvalidChunkSizeError => 403, "Only the last chunk is allowed to have a size less than 8192 bytes";
    /// `Content-MD5` is not a valid base64 MD5.
    InvalidDigest => 400, "The Content-MD5 you specified is not valid.";
    /// An SSE-C algorithm other than `AES256`.
    InvalidEncryptionAlgorithmError => 400, "The encryption request you specified is not valid. The valid value is AES256.";
    /// A tag in a tag set breaks the tagging rules.
    InvalidTag => 400, "The tag provided was not a valid tag. This error can occur if the tag did not pass input validation.";
    /// The location constraint is not valid.
    InvalidLocationConstraint => 400, "The specified location constraint is not valid.";
    /// The operation is not valid for the object's state or storage class.
    InvalidObjectState => 403, "The operation is not valid for the object's storage class";
    /// A part listed in CompleteMultipartUpload is missing or has another ETag.
    InvalidPart => 400, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    /// Parts listed in CompleteMultipartUpload are not in ascending order.
    InvalidPartOrder => 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number.";
    /// GetObject `partNumber` beyond the object's part count.
    InvalidPartNumber => 416, "The requested partnumber is not satisfiable";
    /// The Range cannot be satisfied.
    InvalidRange => 416, "The requested range is not satisfiable";
    /// A POST form's policy is not base64 of a valid policy document.
    InvalidPolicyDocument => 400, "The content of the form does not meet the conditions specified in the policy document.";
    /// The bucket's state forbids the request (object lock on a bucket not versioned, or
    /// suspending versioning on a bucket with object lock).
    InvalidBucketState => 409, "The request is not valid with the current state of the bucket.";
    /// An `x-amz-website-redirect-location` that is neither a path nor an http(s) URL.
    InvalidRedirectLocation => 400, "The website redirect location must have a prefix of 'http://' or 'https://' or '/'.";
    /// The request is invalid.
    InvalidRequest => 400, "Invalid Request";
    /// An object lock default retention period that is not a positive whole number.
    InvalidRetentionPeriod => 400, "Default retention period must be a positive integer value.";
    /// The storage class is unknown.
    InvalidStorageClass => 400, "The storage class you specified is not valid";
    /// The session token is malformed.
    InvalidToken => 400, "The provided token is malformed or otherwise invalid.";
    /// The request URI cannot be parsed (e.g. its path is not UTF-8).
    InvalidURI => 400, "Couldn't parse the specified URI.";
    /// The object key is longer than 1024 bytes.
    KeyTooLongError => 400, "Your key is too long";
    /// A bucket policy that is not valid JSON or breaks the policy grammar.
    MalformedPolicy => 400, "Policies must be valid JSON and the first byte must be '{'";
    /// An access control list that is not valid.
    MalformedACLError => 400, "The XML you provided was not well-formed or did not validate against our published schema";
    /// A grant names an e-mail address.
    UnresolvableGrantByEmailAddress => 400, "The e-mail address you provided does not match any account on record.";
    /// A POST body that is not well-formed `multipart/form-data`.
    MalformedPOSTRequest => 400, "The body of your POST request is not well-formed multipart/form-data.";
    /// The form fields before a POST's file exceed the limit.
    MaxPostPreDataLengthExceededError => 400, "Your POST request fields preceeding the upload file was too large.";
    /// A POST form with no file (or more than one).
    IncorrectNumberOfFilesInPostRequest => 400, "POST requires exactly one file upload per request.";
    /// A request body is not well-formed XML or breaks the schema.
    MalformedXML => 400, "The XML you provided was not well-formed or did not validate against our published schema";
    /// User metadata exceeds 2 KB.
    MetadataTooLarge => 400, "Your metadata headers exceed the maximum allowed metadata size.";
    /// The method is not allowed on this resource.
    MethodNotAllowed => 405, "The specified method is not allowed against this resource.";
    /// `Content-Length` is required.
    MissingContentLength => 411, "You must provide the Content-Length HTTP header.";
    /// The request body is empty but required.
    MissingRequestBodyError => 400, "Request Body is empty";
    /// A required header is missing.
    MissingSecurityHeader => 400, "Your request is missing a required header.";
    /// The bucket does not exist.
    NoSuchBucket => 404, "The specified bucket does not exist";
    /// The bucket has no bucket policy.
    NoSuchBucketPolicy => 404, "The bucket policy does not exist";
    /// The bucket has no CORS configuration.
    NoSuchCORSConfiguration => 404, "The CORS configuration does not exist";
    /// The key does not exist.
    NoSuchKey => 404, "The specified key does not exist.";
    /// The bucket has no lifecycle configuration.
    NoSuchLifecycleConfiguration => 404, "The lifecycle configuration does not exist";
    /// The bucket has no public access block configuration.
    NoSuchPublicAccessBlockConfiguration => 404, "The public access block configuration was not found";
    /// The bucket has no tag set.
    NoSuchTagSet => 404, "The TagSet does not exist";
    /// The object version has no retention (GetObjectRetention).
    NoSuchObjectLockConfiguration => 404, "The specified object does not have a ObjectLock configuration";
    /// The multipart upload does not exist.
    NoSuchUpload => 404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    /// The version does not exist.
    NoSuchVersion => 404, "The specified version does not exist.";
    /// The bucket has no website configuration.
    NoSuchWebsiteConfiguration => 404, "The specified bucket does not have a website configuration";
    /// The feature is not implemented by this gateway.
    NotImplemented => 501, "A header you provided implies functionality that is not implemented";
    /// A conditional GET/HEAD matched: 304, sent without a body.
    NotModified => 304, "Not Modified";
    /// The bucket has no object lock configuration.
    ObjectLockConfigurationNotFoundError => 404, "Object Lock configuration does not exist for this bucket";
    /// The bucket has no ownership controls.
    OwnershipControlsNotFoundError => 404, "The bucket ownership controls were not found";
    /// A precondition header did not hold.
    PreconditionFailed => 412, "At least one of the pre-conditions you specified did not hold";
    /// The bucket has no replication configuration.
    ReplicationConfigurationNotFoundError => 404, "The replication configuration was not found";
    /// The request time is more than 15 minutes from the server time.
    RequestTimeTooSkewed => 403, "The difference between the request time and the current time is too large.";
    /// The client was too slow sending the body.
    RequestTimeout => 400, "Your socket connection to the server was not read from or written to within the timeout period.";
    /// SSE-KMS with a KMS key that does not exist (or a key id that is not well formed): S3
    /// passes on KMS's `NotFoundException`.
    KmsNotFound as "KMS.NotFoundException" => 400, "Invalid keyId";
    /// SSE-KMS with a disabled KMS key: S3 passes on KMS's `DisabledException`.
    KmsDisabled as "KMS.DisabledException" => 400, "The KMS key is disabled.";
    /// The bucket has no default encryption configuration.
    ServerSideEncryptionConfigurationNotFoundError => 404, "The server side encryption configuration was not found";
    /// The service is temporarily unavailable.
    ServiceUnavailable => 503, "Service is unable to handle request.";
    /// The signature does not match.
    SignatureDoesNotMatch => 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    /// Too many requests.
    SlowDown => 503, "Please reduce your request rate.";
    /// The account already has the maximum number of buckets.
    TooManyBuckets => 400, "You have attempted to create more buckets than allowed";
    /// The request carries a body it must not have.
    UnexpectedContent => 400, "This request does not support content";
    /// The body does not hash to `x-amz-content-sha256`.
    XAmzContentSHA256Mismatch => 400, "The provided 'x-amz-content-sha256' header does not match what was computed.";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An S3 error ready to be rendered: code, message and extra body elements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct S3Error {
    /// The S3 error code (decides the HTTP status).
    pub code: ErrorCode,
    /// Human-readable message sent in `<Message>`.
    pub message: String,
    /// Extra elements placed after `<Message>`, e.g. `("BucketName", "b")`.
    pub extra: Vec<(String, String)>,
}

impl S3Error {
    /// An error with the code's default message.
    pub fn new(code: ErrorCode) -> Self {
        Self { code, message: code.default_message().to_owned(), extra: Vec::new() }
    }

    /// An error with a specific message.
    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), extra: Vec::new() }
    }

    /// Adds an extra element (`<name>value</name>`) to the body.
    #[must_use]
    pub fn with_extra(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The value of an extra element, if present.
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Renders the S3 `<Error>` body (no namespace, all text escaped).
    ///
    /// Extra element names that are not plain ASCII alphanumerics are skipped so a
    /// caller can never produce malformed XML.
    pub fn to_xml(&self, resource: &str, request_id: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push_str(crate::xml::PROLOG);
        out.push_str("<Error><Code>");
        out.push_str(self.code.as_str());
        out.push_str("</Code><Message>");
        out.push_str(&escape(&self.message));
        out.push_str("</Message>");
        for (name, value) in &self.extra {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                continue;
            }
            out.push('<');
            out.push_str(name);
            out.push('>');
            out.push_str(&escape(value));
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        out.push_str("<Resource>");
        out.push_str(&escape(resource));
        out.push_str("</Resource><RequestId>");
        out.push_str(&escape(request_id));
        out.push_str("</RequestId></Error>");
        out
    }
}

impl From<ErrorCode> for S3Error {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: ErrorCode, status: u16) {
        assert_eq!(code.status(), status, "{code}");
    }

    #[test]
    fn statuses() {
        check(ErrorCode::AccessDenied, 403);
        check(ErrorCode::NoSuchKey, 404);
        check(ErrorCode::NoSuchBucket, 404);
        check(ErrorCode::NoSuchUpload, 404);
        check(ErrorCode::InvalidRange, 416);
        check(ErrorCode::PreconditionFailed, 412);
        check(ErrorCode::NotModified, 304);
        check(ErrorCode::MethodNotAllowed, 405);
        check(ErrorCode::MissingContentLength, 411);
        check(ErrorCode::NotImplemented, 501);
        check(ErrorCode::InternalError, 500);
        check(ErrorCode::SlowDown, 503);
        check(ErrorCode::BucketNotEmpty, 409);
        check(ErrorCode::MalformedXML, 400);
        check(ErrorCode::XAmzContentSHA256Mismatch, 400);
        check(ErrorCode::KmsNotFound, 400);
        check(ErrorCode::KmsDisabled, 400);
        assert_eq!(ErrorCode::KmsNotFound.as_str(), "KMS.NotFoundException");
        assert_eq!(ErrorCode::parse("KMS.DisabledException"), Some(ErrorCode::KmsDisabled));
        assert_eq!(ErrorCode::parse("KmsDisabled"), None);
    }

    #[test]
    fn names_are_unique_and_match_variants() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::all() {
            assert!(seen.insert(code.as_str()));
            // Codes with a dot (KMS's, passed on by S3) are spelled apart from their variant.
            let spelled = code.as_str().replace("KMS.", "Kms").replace("Exception", "");
            let variant = format!("{code:?}");
            assert!(variant == code.as_str() || variant == spelled, "{variant} {}", code.as_str());
            assert!(!code.default_message().is_empty());
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
    }

    #[test]
    fn parses_unknown_code_as_none() {
        assert_eq!(ErrorCode::parse("NoSuchThing"), None);
        assert_eq!(ErrorCode::parse("nosuchkey"), None);
    }

    #[test]
    fn renders_error_body() {
        let err = S3Error::new(ErrorCode::NoSuchKey).with_extra("Key", "a<b&c");
        assert_eq!(
            err.to_xml("/bucket/a<b&c", "req-1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message><Key>a&lt;b&amp;c</Key>\
             <Resource>/bucket/a&lt;b&amp;c</Resource><RequestId>req-1</RequestId></Error>"
        );
    }

    #[test]
    fn skips_bad_extra_names() {
        let err = S3Error::with_message(ErrorCode::InvalidArgument, "m").with_extra("a b", "x");
        assert!(!err.to_xml("/", "r").contains("a b"));
        assert_eq!(err.to_string(), "InvalidArgument: m");
    }
}
