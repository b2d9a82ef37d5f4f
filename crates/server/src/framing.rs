//! Checks of a request's framing headers, run first, before authentication and routing.
//!
//! These are the headers two parties on the way can read differently (a proxy, a cache, the
//! gateway): a request that carries them ambiguously is refused, not interpreted.

use http::HeaderMap;
use s3gate_protocol::ErrorCode;

use crate::errors::ApiError;

/// Refuses a request whose framing is ambiguous or unmet:
///
/// - more than one `Host` header: `400 BadRequest` (RFC 9112 §3.2: a server must answer 400);
/// - an `Expect` other than `100-continue`: `417` (RFC 9110 §10.1.1: the only expectation
///   defined, and a server that does not meet one must answer 417); an empty `Expect` states
///   no expectation and is ignored (its grammar is a list, which may be empty);
/// - a signed aws-chunked body (`STREAMING-AWS4-*` payload) without
///   `x-amz-decoded-content-length`: `411 MissingContentLength`, as AWS answers; that header
///   is what bounds the decoded object before any chunk arrives.
pub(crate) fn check_framing(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.get_all(http::header::HOST).iter().nth(1).is_some() {
        return Err(ApiError::msg(ErrorCode::BadRequest, "A request may carry one Host header."));
    }
    for expect in headers.get_all(http::header::EXPECT) {
        let value = expect.as_bytes().trim_ascii();
        if !value.is_empty() && !value.eq_ignore_ascii_case(b"100-continue") {
            return Err(ApiError::code(ErrorCode::ExpectationFailed));
        }
    }
    let signed_streaming = headers
        .get("x-amz-content-sha256")
        .is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-AWS4-"));
    if signed_streaming && !headers.contains_key("x-amz-decoded-content-length") {
        return Err(ApiError::msg(
            ErrorCode::MissingContentLength,
            "You must provide the x-amz-decoded-content-length header with a streaming signed \
             payload.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)], expected: Result<(), ErrorCode>) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        assert_eq!(check_framing(&map).map_err(|e| e.s3.code), expected, "{headers:?}");
    }

    #[test]
    fn cases() {
        use ErrorCode::{BadRequest, ExpectationFailed, MissingContentLength};
        check(&[], Ok(()));
        check(&[("host", "a")], Ok(()));
        check(&[("host", "a"), ("host", "a")], Err(BadRequest));
        check(&[("host", "a"), ("host", "b")], Err(BadRequest));
        check(&[("expect", "100-continue")], Ok(()));
        check(&[("expect", "100-Continue")], Ok(()));
        check(&[("expect", "200-ok")], Err(ExpectationFailed));
        check(&[("expect", "")], Ok(()));
        check(&[("expect", "100-continue"), ("expect", "x")], Err(ExpectationFailed));
        let signed = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
        check(&[("x-amz-content-sha256", signed)], Err(MissingContentLength));
        check(
            &[("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")],
            Err(MissingContentLength),
        );
        check(&[("x-amz-content-sha256", signed), ("x-amz-decoded-content-length", "5")], Ok(()));
        // Unsigned chunks may come without it (botocore streams unseekable bodies so).
        check(&[("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")], Ok(()));
        check(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")], Ok(()));
    }
}
