//! Reading S3 request headers into engine requests, and writing object headers into responses.

use std::sync::{Arc, OnceLock};

use http::HeaderMap;
use s3gate_engine::api::{BodyIntegrity, ChecksumRequest, ExpectedChecksum};
use s3gate_metadata::WriteCondition;
use s3gate_protocol::{ChecksumAlgorithm, ChecksumType, ErrorCode, S3Error, parse_content_md5};

use crate::errors::ApiError;

/// The declared trailer (lowercase header name) and the slot its value lands in.
pub(crate) type TrailerSlot = (String, Arc<OnceLock<String>>);

/// Headers an object keeps and returns, besides `x-amz-meta-*`.
pub(crate) const STORED_HEADERS: [&str; 7] = [
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    WEBSITE_REDIRECT,
];

/// Where a website request for the object is redirected (`service::website`).
pub(crate) const WEBSITE_REDIRECT: &str = "x-amz-website-redirect-location";

/// Longest `x-amz-website-redirect-location` AWS stores (2 KB).
const MAX_WEBSITE_REDIRECT: usize = 2048;

/// S3's limit on user metadata: names and values of `x-amz-meta-*`, in UTF-8 bytes.
const MAX_USER_METADATA: usize = 2048;

/// A header's value as text; `None` if absent or not visible ASCII/UTF-8.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The headers to store with a new object: [`STORED_HEADERS`] and `x-amz-meta-*`, lowercase
/// names. `aws-chunked` is removed from Content-Encoding: it describes the transfer, not the
/// object.
pub(crate) fn stored_headers(headers: &HeaderMap) -> Result<Vec<(String, String)>, S3Error> {
    let mut out = Vec::new();
    let mut meta_size = 0usize;
    for (name, value) in headers {
        let name = name.as_str();
        let is_meta = name.starts_with("x-amz-meta-");
        if !is_meta && !STORED_HEADERS.contains(&name) {
            continue;
        }
        let Some(value) = header_text(value) else {
            return Err(S3Error::with_message(
                ErrorCode::InvalidArgument,
                format!("header {name} is not valid UTF-8"),
            ));
        };
        let value = if name == "content-encoding" {
            // Only the aws-chunked token goes; the others stay exactly as sent
            // (`deflate, gzip`), as S3 keeps them.
            let rest: Vec<&str> = value
                .split(',')
                .filter(|c| !c.trim().is_empty() && !c.trim().eq_ignore_ascii_case("aws-chunked"))
                .collect();
            if rest.is_empty() {
                continue;
            }
            rest.join(",").trim().to_owned()
        } else {
            value
        };
        if is_meta {
            meta_size += name.len() - "x-amz-meta-".len() + value.len();
        }
        if name == WEBSITE_REDIRECT
            && (!["/", "http://", "https://"].iter().any(|p| value.starts_with(p))
                || value.len() > MAX_WEBSITE_REDIRECT)
        {
            return Err(S3Error::new(ErrorCode::InvalidRedirectLocation));
        }
        out.push((name.to_owned(), value));
    }
    if meta_size > MAX_USER_METADATA {
        return Err(S3Error::with_message(
            ErrorCode::MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size.",
        ));
    }
    Ok(out)
}

/// A header value as text: its bytes, which must be UTF-8 (`None` if not). botocore sends
/// `x-amz-meta-*` values such as `é` as their UTF-8 bytes and signs those bytes; the value is
/// stored as that text and [`header_value`] writes the same bytes back.
pub(crate) fn header_text(value: &http::HeaderValue) -> Option<String> {
    std::str::from_utf8(value.as_bytes()).ok().map(str::to_owned)
}

/// The response header value of stored text: the bytes [`header_text`] read it from. `None`
/// for a value HTTP cannot carry (a control character).
pub(crate) fn header_value(text: &str) -> Option<http::HeaderValue> {
    http::HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// Parses `x-amz-tagging` (`k1=v1&k2=v2`, URL-encoded) with S3's limits.
pub(crate) fn tags(headers: &HeaderMap) -> Result<Vec<(String, String)>, S3Error> {
    let Some(raw) = header(headers, "x-amz-tagging") else { return Ok(Vec::new()) };
    s3gate_protocol::parse_tagging_header(raw)
}

/// `If-None-Match: *` / `If-Match: etag` of a write.
pub(crate) fn write_condition(headers: &HeaderMap) -> Result<WriteCondition, S3Error> {
    if let Some(v) = header(headers, "if-none-match") {
        if v.trim() == "*" {
            return Ok(WriteCondition::IfNoneMatchAny);
        }
        return Err(S3Error::with_message(
            ErrorCode::NotImplemented,
            "A header you provided implies functionality that is not implemented: If-None-Match accepts only *",
        ));
    }
    if let Some(v) = header(headers, "if-match") {
        let v = v.trim();
        let v = v.strip_prefix("W/").unwrap_or(v);
        return Ok(WriteCondition::IfMatch(v.trim_matches('"').to_owned()));
    }
    Ok(WriteCondition::None)
}

/// A 412 of a conditional write names its header in `<Condition>`, as S3 does (fsspec's s3fs
/// turns `If-None-Match` into `FileExistsError`). Read and copy-source failures name theirs
/// already; what is left was decided by [`write_condition`]: If-None-Match when sent (it is
/// checked first), else If-Match.
pub(crate) fn name_write_condition(mut e: ApiError, headers: &HeaderMap) -> ApiError {
    if e.s3.code == ErrorCode::PreconditionFailed
        && !e.s3.extra.iter().any(|(n, _)| n == "Condition")
    {
        let name = if headers.contains_key("if-none-match") { "If-None-Match" } else { "If-Match" };
        e.s3.extra.push(("Condition".to_owned(), name.to_owned()));
    }
    e
}

/// Content-MD5, the requested checksum and the declared length of a body.
///
/// `decoded_length` is the length of the object bytes (Content-Length, or
/// x-amz-decoded-content-length for aws-chunked bodies).
pub(crate) fn body_integrity(
    headers: &HeaderMap,
    decoded_length: Option<u64>,
    declared_trailers: &[String],
) -> Result<(BodyIntegrity, Option<TrailerSlot>), S3Error> {
    let content_md5 = match header(headers, "content-md5") {
        Some(v) => Some(parse_content_md5(v)?),
        None if headers.contains_key("content-md5") => {
            return Err(S3Error::new(ErrorCode::InvalidDigest));
        }
        None => None,
    };
    let mut found: Vec<(ChecksumAlgorithm, String)> = Vec::new();
    for alg in ChecksumAlgorithm::all() {
        if let Some(v) = header(headers, alg.header_name()) {
            found.push((*alg, v.trim().to_owned()));
        }
    }
    if found.len() > 1 {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        ));
    }
    let mut trailer_slot = None;
    let mut trailer_alg = None;
    for name in declared_trailers {
        match ChecksumAlgorithm::from_header_name(name) {
            Some(alg) if trailer_alg.is_none() => trailer_alg = Some(alg),
            _ => {
                return Err(S3Error::with_message(
                    ErrorCode::InvalidRequest,
                    format!(
                        "The value specified in the x-amz-trailer header is not supported: {name}"
                    ),
                ));
            }
        }
    }
    let declared = header(headers, "x-amz-sdk-checksum-algorithm")
        .or_else(|| header(headers, "x-amz-checksum-algorithm"));
    let declared_alg = match declared {
        Some(v) => Some(ChecksumAlgorithm::parse(v).ok_or_else(|| {
            let names: Vec<&str> = ChecksumAlgorithm::all().iter().map(|a| a.as_str()).collect();
            S3Error::with_message(
                ErrorCode::InvalidRequest,
                format!(
                    "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [{}]",
                    names.join(", ")
                ),
            )
        })?),
        None => None,
    };
    let checksum = if let Some((alg, value)) = found.pop() {
        if trailer_alg.is_some() {
            return Err(S3Error::with_message(
                ErrorCode::InvalidRequest,
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
        if declared_alg.is_some_and(|d| d != alg) {
            return Err(S3Error::with_message(
                ErrorCode::InvalidRequest,
                "Value for x-amz-sdk-checksum-algorithm header is invalid.",
            ));
        }
        // Validate the encoding now so that a garbled value is a 400 before any byte is read.
        s3gate_protocol::Checksum::from_base64(alg, &value)?;
        Some(ChecksumRequest { algorithm: alg, expected: ExpectedChecksum::Header(value) })
    } else if let Some(alg) = trailer_alg {
        if declared_alg.is_some_and(|d| d != alg) {
            return Err(S3Error::with_message(
                ErrorCode::InvalidRequest,
                "Value for x-amz-sdk-checksum-algorithm header is invalid.",
            ));
        }
        let slot = Arc::new(OnceLock::new());
        trailer_slot = Some((alg.header_name().to_owned(), Arc::clone(&slot)));
        Some(ChecksumRequest { algorithm: alg, expected: ExpectedChecksum::Trailer(slot) })
    } else {
        declared_alg
            .map(|alg| ChecksumRequest { algorithm: alg, expected: ExpectedChecksum::Compute })
    };
    Ok((BodyIntegrity { content_md5, checksum, length: decoded_length }, trailer_slot))
}

/// The whole-object `x-amz-checksum-<alg>` of a CompleteMultipartUpload, if sent (at most one).
pub(crate) fn whole_object_checksum(
    headers: &HeaderMap,
) -> Result<Option<(ChecksumAlgorithm, String)>, S3Error> {
    let mut found = ChecksumAlgorithm::all()
        .iter()
        .filter_map(|alg| header(headers, alg.header_name()).map(|v| (*alg, v.trim().to_owned())));
    let first = found.next();
    if found.next().is_some() {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        ));
    }
    Ok(first)
}

/// `x-amz-checksum-algorithm` and `x-amz-checksum-type` of CreateMultipartUpload.
pub(crate) fn upload_checksum(
    headers: &HeaderMap,
) -> Result<(Option<ChecksumAlgorithm>, Option<ChecksumType>), S3Error> {
    let alg = match header(headers, "x-amz-checksum-algorithm") {
        Some(v) => Some(ChecksumAlgorithm::parse(v).ok_or_else(|| {
            S3Error::with_message(
                ErrorCode::InvalidRequest,
                "Checksum algorithm provided is unsupported.",
            )
        })?),
        None => None,
    };
    let ty = match header(headers, "x-amz-checksum-type") {
        Some(v) => Some(ChecksumType::parse(v).ok_or_else(|| {
            S3Error::with_message(
                ErrorCode::InvalidRequest,
                "Value for x-amz-checksum-type header is invalid.",
            )
        })?),
        None => None,
    };
    if ty.is_some() && alg.is_none() {
        return Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
        ));
    }
    Ok((alg, ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn content_encoding_loses_only_aws_chunked() {
        let check = |sent: &str, stored: Option<&str>| {
            let got = stored_headers(&headers(&[("content-encoding", sent.as_bytes())])).unwrap();
            let got = got.iter().find(|(n, _)| n == "content-encoding").map(|(_, v)| v.as_str());
            assert_eq!(got, stored, "{sent:?}");
        };
        check("gzip", Some("gzip"));
        check("deflate, gzip", Some("deflate, gzip"));
        check("gzip, aws-chunked", Some("gzip"));
        check("aws-chunked, gzip", Some("gzip"));
        check("aws-chunked,deflate, gzip", Some("deflate, gzip"));
        check("aws-chunked", None);
        check("aws-chunked, aws-chunked", None);
    }

    #[test]
    fn non_ascii_metadata_round_trips_byte_for_byte() {
        for sent in ["Hello World\u{e9}".as_bytes(), "caf\u{e9} \u{2603}".as_bytes()] {
            let stored = stored_headers(&headers(&[("x-amz-meta-meta1", sent)])).unwrap();
            assert_eq!(stored.len(), 1);
            let back = header_value(&stored[0].1).unwrap();
            assert_eq!(back.as_bytes(), sent);
        }
        // Bytes that are not UTF-8 are refused, not guessed at.
        let e = stored_headers(&headers(&[("x-amz-meta-m", b"Hello World\xe9")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn write_precondition_failures_name_their_header() {
        let check = |pairs: &[(&str, &[u8])], want: &str| {
            let e = ApiError::code(ErrorCode::PreconditionFailed);
            let e = name_write_condition(e, &headers(pairs));
            assert_eq!(e.s3.extra, [("Condition".to_owned(), want.to_owned())]);
        };
        check(&[("if-none-match", b"*")], "If-None-Match");
        check(&[("if-match", b"\"abc\"")], "If-Match");
        // A failure that already names its header keeps it; other errors are untouched.
        let named = ApiError::from(
            S3Error::new(ErrorCode::PreconditionFailed)
                .with_extra("Condition", "If-Unmodified-Since"),
        );
        let e = name_write_condition(named, &headers(&[("if-match", b"x")]));
        assert_eq!(e.s3.extra.len(), 1);
        let other = name_write_condition(ApiError::code(ErrorCode::NoSuchKey), &HeaderMap::new());
        assert!(other.s3.extra.is_empty());
    }
}
