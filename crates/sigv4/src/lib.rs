//! AWS Signature Version 4 for S3: verify incoming requests (Authorization header and
//! presigned URLs), decode and verify aws-chunked bodies, and sign outgoing requests; and
//! the legacy Signature Version 2 (header and presigned URLs) and the signed policies of
//! browser POST uploads (SigV4 and SigV2).
//!
//! Pure: no I/O, no clock, no environment, no HTTP framework. The caller passes the
//! request as strings ([`RequestParts`]), the current time and a [`CredentialsProvider`].
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::{Duration, UNIX_EPOCH};
//! use s3gate_sigv4::{verify, PayloadHasher, PayloadMode, RequestParts, VerifyConfig};
//!
//! // The "GET Object" example of the S3 API reference, as any HTTP framework hands it over.
//! let headers = [
//!     ("Host", "examplebucket.s3.amazonaws.com"),
//!     ("Range", "bytes=0-9"),
//!     ("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
//!     ("x-amz-date", "20130524T000000Z"),
//!     ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
//!         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
//!         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
//! ];
//! let req = RequestParts { method: "GET", raw_path: "/test.txt", raw_query: None, headers: &headers };
//! let creds = HashMap::from([(
//!     "AKIAIOSFODNN7EXAMPLE".to_owned(),
//!     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
//! )]);
//! let now = UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
//! let verified = verify(&req, now, &VerifyConfig::s3("us-east-1"), &creds).expect("valid signature");
//! assert_eq!(verified.access_key_id, "AKIAIOSFODNN7EXAMPLE");
//!
//! // Then check the body as it streams in.
//! if let PayloadMode::Sha256(expected) = verified.payload {
//!     let mut hasher = PayloadHasher::new(expected);
//!     hasher.update(b"");
//!     hasher.finish().expect("empty body");
//! }
//! ```
//!
//! Principal types: [`verify`] / [`Verifier`] (with a signing-key cache) → [`Verified`]
//! with its [`PayloadMode`]; [`PayloadHasher`] for signed payloads; [`ChunkedDecoder`]
//! (sans-I/O, zero-copy) for aws-chunked bodies; [`sign_headers`], [`presign`] and
//! [`ChunkedSigner`] for outgoing requests. [`auth_scheme`] tells which verifier a request
//! needs; [`verify_v2`] / [`Verifier::verify_v2`] → [`VerifiedV2`] or [`VerifyV2Error`] for
//! SigV2; [`verify_post`] / [`Verifier::verify_post`] → [`VerifiedPost`] (the key to write,
//! the `content-length-range`) or [`PostPolicyError`] for POST forms.
//!
//! Deliberately not done here: mapping errors to S3 error codes and XML (the server does
//! that: each [`VerifyError`] and [`ChunkedError`] variant names its code), checking
//! trailer checksums (the caller computes CRC/SHA checksums), session-token validation,
//! path normalisation (S3 never normalises), `SigV4A`, parsing `multipart/form-data` (the
//! caller hands POST forms over as fields; `s3gate_protocol::form` parses them).
//!
//! Choices where AWS documents nothing: a raw `+` in the query is a literal plus
//! (`%2B`); a request without `x-amz-content-sha256` for a non-`s3` service is verified
//! as if its body were empty.

mod canonical;
mod chunked;
mod crypto;
mod detect;
#[cfg(feature = "http")]
mod http_adapter;
mod post_policy;
mod request;
mod sign;
mod time;
mod v2;
mod verify;

pub use chunked::{ChunkedDecoder, ChunkedError, ChunkedMode, MAX_LINE, MIN_CHUNK_SIZE};
pub use detect::{AuthScheme, SignatureVersion, access_key_id, auth_scheme, has_auth};
#[cfg(feature = "http")]
pub use http_adapter::{header_pairs, path_and_query};
pub use post_policy::{
    ContentLengthRange, PostAuth, PostForm, PostPolicyError, VerifiedPost, verify_post,
};
pub use request::{CredentialsProvider, RequestParts};
pub use sign::{
    ChunkedSigner, SigningContext, SigningParams, UNSIGNED_PAYLOAD, derive_signing_key, presign,
    presign_with_payload_hash, sign_headers, sign_post_policy,
};
pub use v2::{VerifiedV2, VerifyV2Error, presign_v2, sign_v2, string_to_sign_v2, verify_v2};
pub use verify::{
    PayloadHasher, PayloadMode, Verified, Verifier, VerifyConfig, VerifyError, verify,
};
