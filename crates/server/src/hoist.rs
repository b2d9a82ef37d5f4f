//! Presigned URLs may carry `x-amz-*` request headers as signed query parameters: the AWS SDK
//! for JavaScript v3 hoists `x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm`, `x-amz-meta-*`
//! and others into the query of the URLs it presigns, and S3 honours them as headers. Every
//! query parameter of a presigned URL is covered by its signature, so treating them as
//! headers trusts nothing that was not signed.

use http::{HeaderMap, HeaderName, HeaderValue};
use s3gate_protocol::percent::decode as percent_decode;

/// Parameters of the presigned-URL mechanism itself: never request headers.
const AUTH_PARAMS: [&str; 8] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Copies the `x-amz-*` parameters of `raw_query` (a verified presigned request's) into
/// `headers`, unless a header of that name is already present. Parameters that do not decode
/// to a valid header name and value are left alone.
pub(crate) fn hoist_query_headers(raw_query: Option<&str>, headers: &mut HeaderMap) {
    let Some(query) = raw_query else { return };
    for pair in query.split('&') {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(name) = percent_decode(raw_name).map(|n| n.to_ascii_lowercase()) else {
            continue;
        };
        if !name.starts_with("x-amz-") || AUTH_PARAMS.contains(&name.as_str()) {
            continue;
        }
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else { continue };
        let Some(value) = percent_decode(raw_value) else { continue };
        let Ok(value) = HeaderValue::from_str(&value) else { continue };
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hoists_signed_amz_parameters_only() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-meta-kept", HeaderValue::from_static("header wins"));
        hoist_query_headers(
            Some(
                "x-id=PutObject&X-Amz-Algorithm=AWS4-HMAC-SHA256&x-amz-checksum-crc32=AA%2B%2FAA%3D%3D\
                 &X-Amz-Sdk-Checksum-Algorithm=CRC32&x-amz-meta-kept=query&x-amz-meta-x=a+b%20c\
                 &X-Amz-Signature=00&x-amz-bad=%ZZ&uploadId=1",
            ),
            &mut h,
        );
        let get = |n: &str| h.get(n).map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(get("x-amz-checksum-crc32").as_deref(), Some("AA+/AA=="));
        assert_eq!(get("x-amz-sdk-checksum-algorithm").as_deref(), Some("CRC32"));
        assert_eq!(get("x-amz-meta-kept").as_deref(), Some("header wins"));
        assert_eq!(get("x-amz-meta-x").as_deref(), Some("a+b c"));
        for absent in ["x-amz-algorithm", "x-amz-signature", "x-amz-bad", "x-id", "uploadid"] {
            assert!(h.get(absent).is_none(), "{absent}");
        }
        assert_eq!(h.len(), 4);
    }
}
