//! Canonical request pieces: URI-encoding, canonical URI, query and headers.

use std::fmt::Write as _;

use percent_encoding::percent_decode_str;

/// Appends the AWS URI-encoding form of `input` to `out`: every byte except
/// `A-Z a-z 0-9 - . _ ~` (and `/` when `keep_slash`) becomes `%XX` with uppercase hex.
pub(crate) fn uri_encode_into(out: &mut String, input: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in input {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// URI-encoding of `input` with `/` encoded as `%2F` (query names and values).
pub(crate) fn uri_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    uri_encode_into(&mut out, input.as_bytes(), false);
    out
}

/// Canonical URI of a path as received: percent-decoded once, then re-encoded with
/// URI-encoding keeping `/`. S3 never normalises `.`, `..` or `//`, so neither do we.
/// Works on bytes, so a path that decodes to invalid UTF-8 is still handled.
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    let decoded: Vec<u8> = percent_decode_str(raw_path).collect();
    let mut out = String::with_capacity(decoded.len() + 8);
    uri_encode_into(&mut out, &decoded, true);
    out
}

/// Canonical query string. Each `&`-separated parameter is split at the first `=`
/// (a missing `=` means an empty value), name and value are percent-decoded once and
/// URI-encoded (so `/` becomes `%2F`), pairs are sorted by name then value.
///
/// A raw `+` is a literal plus (encoded `%2B`), not a space: the AWS SDKs (botocore,
/// smithy-rs, aws-c-auth) always send a space as `%20`, and smithy-rs' signer decodes its
/// own query with plain percent-decoding, so treating `+` as a space would break
/// signatures of URLs that carry a literal `+`.
///
/// When `skip_signature` is set (presigned URLs), `X-Amz-Signature` is left out.
pub(crate) fn canonical_query(raw_query: Option<&str>, skip_signature: bool) -> String {
    let Some(query) = raw_query else { return String::new() };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let name_bytes: Vec<u8> = percent_decode_str(name).collect();
        if skip_signature && name_bytes == b"X-Amz-Signature" {
            continue;
        }
        let value_bytes: Vec<u8> = percent_decode_str(value).collect();
        let mut n = String::with_capacity(name.len());
        uri_encode_into(&mut n, &name_bytes, false);
        let mut v = String::with_capacity(value.len());
        uri_encode_into(&mut v, &value_bytes, false);
        pairs.push((n, v));
    }
    pairs.sort_unstable();
    let mut out = String::with_capacity(query.len() + 16);
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Appends a header value with its ends trimmed and every internal run of whitespace
/// (including obs-fold line breaks) collapsed to a single space.
fn push_normalized_value(out: &mut String, value: &str) {
    let mut first = true;
    for word in value.split([' ', '\t', '\r', '\n']).filter(|w| !w.is_empty()) {
        if !first {
            out.push(' ');
        }
        out.push_str(word);
        first = false;
    }
}

/// Canonical headers block for `signed` (lowercase names, in the given order): one
/// `name:value\n` line per name; repeated headers are joined with `,` in arrival order.
/// A signed header absent from the request contributes an empty value (the signature
/// then simply does not match).
pub(crate) fn canonical_headers(headers: &[(&str, &str)], signed: &[&str]) -> String {
    let mut out = String::with_capacity(256);
    for name in signed {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for (_, v) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if !first {
                out.push(',');
            }
            push_normalized_value(&mut out, v);
            first = false;
        }
        out.push('\n');
    }
    out
}

/// The full canonical request.
pub(crate) fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(
        method.len() + canonical_uri.len() + canonical_query.len() + canonical_headers.len() + 200,
    );
    let _ = write!(
        out,
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_examples() {
        let check = |raw: &str, expected: &str| assert_eq!(canonical_uri(raw), expected, "{raw}");
        check("", "/");
        check("/", "/");
        check("/test$file.text", "/test%24file.text");
        check("/a%20b/c", "/a%20b/c");
        check("/a b", "/a%20b");
        check("//example//", "//example//");
        check("/./a/../b", "/./a/../b");
        check("/a+b", "/a%2Bb");
        check("/%e1%88%b4", "/%E1%88%B4");
        check("/%ff%fe", "/%FF%FE");
        check("/a%2Fb", "/a/b");
        check("/~-._", "/~-._");
    }

    #[test]
    fn query_examples() {
        let check = |raw: Option<&str>, expected: &str| {
            assert_eq!(canonical_query(raw, true), expected, "{raw:?}");
        };
        check(None, "");
        check(Some(""), "");
        check(Some("lifecycle"), "lifecycle=");
        check(Some("b=2&a=1"), "a=1&b=2");
        check(Some("a=2&a=1"), "a=1&a=2");
        check(Some("prefix=a/b c"), "prefix=a%2Fb%20c");
        check(Some("k=a+b"), "k=a%2Bb");
        check(Some("k=a%20b"), "k=a%20b");
        check(Some("max-keys=2&prefix=J"), "max-keys=2&prefix=J");
        check(Some("X-Amz-Signature=abc&x=1"), "x=1");
        check(Some("a=1&&b="), "a=1&b=");
        check(Some("e=a=b"), "e=a%3Db");
        assert_eq!(canonical_query(Some("X-Amz-Signature=abc"), false), "X-Amz-Signature=abc");
    }

    #[test]
    fn header_examples() {
        let h =
            [("My-Header1", "  a   b\n   c  "), ("Host", "x"), ("my-header1", "z"), ("Other", "o")];
        assert_eq!(canonical_headers(&h, &["host", "my-header1"]), "host:x\nmy-header1:a b c,z\n");
        assert_eq!(canonical_headers(&h, &["absent"]), "absent:\n");
    }
}
