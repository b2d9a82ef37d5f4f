//! Signature Version 2 (HMAC-SHA1) for S3: the `Authorization: AWS AccessKeyId:Signature`
//! header and presigned URLs with `AWSAccessKeyId`, `Expires` and `Signature`.
//!
//! The string to sign is `VERB\nContent-MD5\nContent-Type\nDate\n` + the canonical
//! `x-amz-*` headers + the canonical resource (AWS's "Signing and authenticating REST
//! requests"). SigV2 signs no payload hash: the body is unsigned (a `Content-MD5` is
//! signed and the server checks it against the body).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::percent_decode_str;

use crate::canonical::uri_encode;
use crate::crypto::{constant_time_eq, hmac_sha1};
use crate::detect::{SignatureVersion, has_v2_query, has_v4_query, is_v2_authorization};
use crate::request::{CredentialsProvider, RequestParts, header, query_param};
use crate::time::{abs_diff, parse_v2_date};
use crate::verify::{PayloadMode, Verifier, VerifyConfig, VerifyError};

/// The query parameters S3 signs as sub-resources of the canonical resource: botocore's
/// `HmacV1Auth.QSAOfInterest` (1.44), which contains the list of AWS's SigV2 page (acl,
/// lifecycle, location, logging, notification, partNumber, policy, requestPayment, torrent,
/// uploadId, uploads, versionId, versioning, versions, website, the `response-*`
/// overrides and `delete`) and every sub-resource s3cmd signs (cors, restore, tagging).
/// Sorted, for the binary search.
const SUB_RESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Why a Signature Version 2 request failed verification. Each variant maps to one S3
/// error code, named in its documentation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyV2Error {
    /// A failure SigV2 shares with SigV4, mapped as for SigV4: `MissingAuth`,
    /// `SignatureDoesNotMatch`, `InvalidAccessKeyId`, `MissingDate` (an absent or unparsable
    /// `Date`/`x-amz-date`), `RequestTimeTooSkewed`, `RequestExpired` and
    /// `MultipleAuthMechanisms` are the ones this verifier produces.
    #[error(transparent)]
    Common(#[from] VerifyError),
    /// `Authorization: AWS ...` is not `AWS AccessKeyId:Signature` (`InvalidArgument`, "AWS
    /// authorization header is invalid.  Expected AwsAccessKeyId:signature", with
    /// `ArgumentName` `Authorization`).
    #[error("AWS authorization header is invalid; expected AwsAccessKeyId:signature")]
    MalformedAuthorization,
    /// A presigned URL lacks `AWSAccessKeyId`, `Signature` or `Expires` (`AccessDenied`,
    /// "Query-string authentication requires the Signature, Expires and AWSAccessKeyId
    /// parameters").
    #[error(
        "query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
    )]
    MissingQueryParameters,
    /// `Expires` is not a number of seconds since the epoch (`AccessDenied`, "Invalid date
    /// (should be seconds since epoch): `value`").
    #[error("invalid date (should be seconds since epoch): {0}")]
    InvalidExpires(String),
}

/// A successfully verified Signature Version 2 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedV2 {
    /// The access key id that signed the request.
    pub access_key_id: String,
    /// Whether the request was authenticated by query parameters (presigned URL).
    pub presigned: bool,
    /// Header auth: the request time (`x-amz-date`, else `Date`). `None` for presigned URLs.
    pub request_time: Option<SystemTime>,
    /// Presigned URLs: the `Expires` time. `None` for header auth.
    pub expires: Option<SystemTime>,
    /// `x-amz-security-token` (header, or query parameter of a presigned URL); the caller
    /// validates session tokens.
    pub security_token: Option<String>,
}

impl VerifiedV2 {
    /// [`SignatureVersion::V2`], for the `s3:signatureversion` policy key.
    pub fn signature_version(&self) -> SignatureVersion {
        SignatureVersion::V2
    }

    /// SigV2 signs no payload: always [`PayloadMode::Unsigned`] (the server still checks a
    /// signed `Content-MD5` against the body).
    pub fn payload(&self) -> PayloadMode {
        PayloadMode::Unsigned
    }
}

/// Appends a header value trimmed at both ends with folded line breaks (CRLF or LF followed
/// by spaces or tabs) unfolded into one space. Other inner whitespace is kept: clients
/// (botocore, s3cmd) sign values as they send them.
fn push_v2_value(out: &mut String, value: &str) {
    let value = value.trim_matches([' ', '\t', '\r', '\n']);
    let mut rest = value;
    while let Some(at) = rest.find(['\r', '\n']) {
        out.push_str(&rest[..at]);
        let after = rest[at..].trim_start_matches(['\r', '\n', ' ', '\t']);
        out.push(' ');
        rest = after;
    }
    out.push_str(rest);
}

/// The canonical `x-amz-*` headers: names lowercased, sorted, repeated headers joined with
/// `,` in arrival order, each line `name:value\n`. `skip` names a header left out.
fn canonical_amz_headers(headers: &[(&str, &str)], skip: Option<&str>) -> String {
    let mut names: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-")))
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| Some(n.as_str()) != skip)
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = String::new();
    for name in &names {
        out.push_str(name);
        out.push(':');
        for (i, (_, v)) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            push_v2_value(&mut out, v);
        }
        out.push('\n');
    }
    out
}

/// The canonical resource: `/bucket` when the bucket is named by the Host header
/// (`host_bucket`), then the path exactly as on the wire, then the signed sub-resources
/// sorted by name (values percent-decoded, as AWS and botocore sign them). A path that names
/// only a bucket (`/bucket`) is signed as `/bucket/`, as botocore and s3cmd sign it (S3
/// accepts it); [`resource_candidates`] also accepts the literal form.
fn canonical_resource(req: &RequestParts<'_>, host_bucket: Option<&str>) -> String {
    let mut out = String::with_capacity(req.raw_path.len() + 32);
    if let Some(bucket) = host_bucket {
        out.push('/');
        out.push_str(bucket);
    }
    out.push_str(if req.raw_path.is_empty() { "/" } else { req.raw_path });
    if host_bucket.is_none() && bucket_only(req.raw_path) {
        out.push('/');
    }
    out.push_str(&sub_resources(req.raw_query));
    out
}

/// Whether a path-style path is `/bucket` (one segment, no trailing slash).
fn bucket_only(raw_path: &str) -> bool {
    raw_path.strip_prefix('/').is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// The canonical resources a signature is checked against: [`canonical_resource`], and for
/// a bucket-only path-style request also the path as sent (`/bucket` without the slash, the
/// literal reading of AWS's rule).
fn resource_candidates(req: &RequestParts<'_>, host_bucket: Option<&str>) -> Vec<String> {
    let mut out = vec![canonical_resource(req, host_bucket)];
    if host_bucket.is_none() && bucket_only(req.raw_path) {
        out.push(format!("{}{}", req.raw_path, sub_resources(req.raw_query)));
    }
    out
}

/// `?name[=value]&...` of the signed sub-resources in `raw_query`, or the empty string.
fn sub_resources(raw_query: Option<&str>) -> String {
    let mut subs: Vec<(String, Option<String>)> = Vec::new();
    for param in raw_query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (param, None),
        };
        let name = percent_decode_str(name).decode_utf8_lossy();
        if SUB_RESOURCES.binary_search(&name.as_ref()).is_ok() {
            let value = value.map(|v| percent_decode_str(v).decode_utf8_lossy().into_owned());
            subs.push((name.into_owned(), value));
        }
    }
    // Stable: repeated names keep their order, as botocore's sort keeps it.
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (i, (name, value)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

fn first_trimmed(headers: &[(&str, &str)], name: &str) -> String {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// `VERB\nContent-MD5\nContent-Type\nDate\n` + amz headers + resource.
fn string_to_sign(
    method: &str,
    headers: &[(&str, &str)],
    date_line: &str,
    skip_amz: Option<&str>,
    resource: &str,
) -> String {
    let mut sts = String::with_capacity(256 + resource.len());
    let _ = write!(
        sts,
        "{method}\n{}\n{}\n{date_line}\n",
        first_trimmed(headers, "content-md5"),
        first_trimmed(headers, "content-type")
    );
    sts.push_str(&canonical_amz_headers(headers, skip_amz));
    sts.push_str(resource);
    sts
}

fn sign(secret_key: &str, sts: &str) -> String {
    BASE64.encode(hmac_sha1(secret_key.as_bytes(), sts.as_bytes()))
}

/// The headers a presigned URL signs: its query parameters named `x-amz-*`,
/// `content-type` or `content-md5` (any case; botocore's `HmacV1QueryAuth` moves the
/// request's such headers there), then the request's headers of those names that the query
/// does not carry. The `x-amz-date` header is not used by query authentication.
fn presigned_header_view<'a>(
    req: &RequestParts<'a>,
    from_query: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    let mut view: Vec<(&str, &str)> =
        from_query.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    for (n, v) in req.headers {
        let signed = n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
            || n.eq_ignore_ascii_case("content-type")
            || n.eq_ignore_ascii_case("content-md5");
        if signed
            && !n.eq_ignore_ascii_case("x-amz-date")
            && !from_query.iter().any(|(q, _)| q.eq_ignore_ascii_case(n))
        {
            view.push((n, v));
        }
    }
    view
}

fn query_headers(raw_query: Option<&str>) -> Vec<(String, String)> {
    raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            let n = percent_decode_str(n).decode_utf8_lossy().to_ascii_lowercase();
            let hoisted = n.starts_with("x-amz-") || n == "content-type" || n == "content-md5";
            hoisted.then(|| (n, percent_decode_str(v).decode_utf8_lossy().into_owned()))
        })
        .collect()
}

/// Splits `AWS AccessKeyId:Signature`.
fn parse_authorization(value: &str) -> Result<(&str, &str), VerifyV2Error> {
    let rest = value.trim().get(3..).unwrap_or("").trim();
    let (akid, signature) = rest.split_once(':').ok_or(VerifyV2Error::MalformedAuthorization)?;
    let (akid, signature) = (akid.trim(), signature.trim());
    if akid.is_empty() || signature.is_empty() || akid.contains([' ', '\t']) {
        return Err(VerifyV2Error::MalformedAuthorization);
    }
    Ok((akid, signature))
}

/// The string to sign of a SigV2 request as this crate computes it, for diagnostics (S3
/// returns it in the `StringToSign` element of `SignatureDoesNotMatch`). Header auth uses
/// the header rules; a request with `AWSAccessKeyId`/`Signature` in the query and no
/// Authorization header uses the presigned rules (`Expires` in the date line).
pub fn string_to_sign_v2(req: &RequestParts<'_>, host_bucket: Option<&str>) -> String {
    let resource = canonical_resource(req, host_bucket);
    if header(req, "authorization").is_none() && has_v2_query(req.raw_query) {
        let from_query = query_headers(req.raw_query);
        let view = presigned_header_view(req, &from_query);
        let expires = query_param(req.raw_query, "Expires").unwrap_or_default();
        return string_to_sign(req.method, &view, &expires, None, &resource);
    }
    let date_line = if header(req, "x-amz-date").is_some() {
        String::new()
    } else {
        header(req, "date").map(|d| d.trim().to_owned()).unwrap_or_default()
    };
    string_to_sign(req.method, req.headers, &date_line, None, &resource)
}

/// Verifies a SigV2 request at time `now`: header auth (`Authorization: AWS ...`, with the
/// skew of `cfg.max_skew`) or a presigned URL (`AWSAccessKeyId`, `Expires`, `Signature`;
/// no skew, only `Expires`). `host_bucket` is the bucket named by the Host header when the
/// request is virtual-hosted-style (it becomes the start of the canonical resource); `None`
/// for path-style requests and requests that address no bucket.
///
/// ```
/// use std::collections::HashMap;
/// use std::time::{Duration, UNIX_EPOCH};
/// use s3gate_sigv4::{RequestParts, VerifyConfig, verify_v2};
///
/// // "Object GET" of AWS's SigV2 examples (bucket johnsmith, virtual-hosted).
/// let headers = [
///     ("Host", "johnsmith.s3.amazonaws.com"),
///     ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
///     ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
/// ];
/// let req = RequestParts { method: "GET", raw_path: "/photos/puppy.jpg", raw_query: None, headers: &headers };
/// let creds = HashMap::from([(
///     "AKIAIOSFODNN7EXAMPLE".to_owned(),
///     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
/// )]);
/// let now = UNIX_EPOCH + Duration::from_secs(1_175_024_202);
/// let v = verify_v2(&req, Some("johnsmith"), now, &VerifyConfig::s3("us-east-1"), &creds).unwrap();
/// assert_eq!(v.access_key_id, "AKIAIOSFODNN7EXAMPLE");
/// assert_eq!(v.signature_version().as_str(), "AWS");
/// ```
pub fn verify_v2(
    req: &RequestParts<'_>,
    host_bucket: Option<&str>,
    now: SystemTime,
    cfg: &VerifyConfig,
    creds: &impl CredentialsProvider,
) -> Result<VerifiedV2, VerifyV2Error> {
    let auth = header(req, "authorization");
    let v2_query = has_v2_query(req.raw_query);
    let v4_query = has_v4_query(req.raw_query);
    match auth {
        Some(_) if v2_query || v4_query => Err(VerifyError::MultipleAuthMechanisms.into()),
        Some(a) if is_v2_authorization(a) => verify_header(req, a, host_bucket, now, cfg, creds),
        // A SigV4 (or unknown) Authorization header is the SigV4 verifier's.
        Some(a) => Err(VerifyError::UnsupportedAlgorithm(
            a.split_whitespace().next().unwrap_or("").to_owned(),
        )
        .into()),
        None if v2_query && v4_query => Err(VerifyError::MultipleAuthMechanisms.into()),
        None if v2_query => verify_query(req, host_bucket, now, creds),
        None if v4_query => {
            Err(VerifyError::UnsupportedAlgorithm(crate::sign::ALGORITHM.to_owned()).into())
        }
        None => Err(VerifyError::MissingAuth.into()),
    }
}

fn verify_header(
    req: &RequestParts<'_>,
    auth: &str,
    host_bucket: Option<&str>,
    now: SystemTime,
    cfg: &VerifyConfig,
    creds: &impl CredentialsProvider,
) -> Result<VerifiedV2, VerifyV2Error> {
    let (akid, signature) = parse_authorization(auth)?;
    // x-amz-date, when present, replaces Date (and must itself be valid).
    let amz_date = header(req, "x-amz-date");
    let request_time = match amz_date.or_else(|| header(req, "date")) {
        Some(v) => parse_v2_date(v).ok_or(VerifyError::MissingDate)?,
        None => return Err(VerifyError::MissingDate.into()),
    };
    if abs_diff(now, request_time) > cfg.max_skew {
        return Err(VerifyError::RequestTimeTooSkewed { request_time, server_time: now }.into());
    }
    let secret = creds.secret_key(akid).ok_or(VerifyError::InvalidAccessKeyId)?;
    let date_line = match amz_date {
        Some(_) => String::new(),
        None => header(req, "date").map(|d| d.trim().to_owned()).unwrap_or_default(),
    };
    let mut ok = false;
    for resource in resource_candidates(req, host_bucket) {
        let sts = string_to_sign(req.method, req.headers, &date_line, None, &resource);
        ok = constant_time_eq(sign(&secret, &sts).as_bytes(), signature.as_bytes());
        if !ok && let Some(d) = amz_date {
            // AWS's own "Delete" example signs the x-amz-date value in the Date line and
            // leaves x-amz-date out of the amz headers; accept that reading of the rule too
            // (the same request elements are signed either way).
            let alt =
                string_to_sign(req.method, req.headers, d.trim(), Some("x-amz-date"), &resource);
            ok = constant_time_eq(sign(&secret, &alt).as_bytes(), signature.as_bytes());
        }
        if ok {
            break;
        }
    }
    if !ok {
        return Err(VerifyError::SignatureDoesNotMatch.into());
    }
    Ok(VerifiedV2 {
        access_key_id: akid.to_owned(),
        presigned: false,
        request_time: Some(request_time),
        expires: None,
        security_token: header(req, "x-amz-security-token").map(|t| t.trim().to_owned()),
    })
}

fn verify_query(
    req: &RequestParts<'_>,
    host_bucket: Option<&str>,
    now: SystemTime,
    creds: &impl CredentialsProvider,
) -> Result<VerifiedV2, VerifyV2Error> {
    let get = |name: &str| query_param(req.raw_query, name).filter(|v| !v.is_empty());
    let (Some(akid), Some(signature), Some(expires_text)) =
        (get("AWSAccessKeyId"), get("Signature"), get("Expires"))
    else {
        return Err(VerifyV2Error::MissingQueryParameters);
    };
    let expires_secs: u64 = Some(&expires_text)
        .filter(|e| e.len() <= 19 && e.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| VerifyV2Error::InvalidExpires(expires_text.clone()))?;
    let expires = UNIX_EPOCH + Duration::from_secs(expires_secs);
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now_secs > expires_secs {
        return Err(VerifyError::RequestExpired.into());
    }
    let secret = creds.secret_key(&akid).ok_or(VerifyError::InvalidAccessKeyId)?;
    let from_query = query_headers(req.raw_query);
    let view = presigned_header_view(req, &from_query);
    let ok = resource_candidates(req, host_bucket).iter().any(|resource| {
        let sts = string_to_sign(req.method, &view, &expires_text, None, resource);
        constant_time_eq(sign(&secret, &sts).as_bytes(), signature.as_bytes())
    });
    if !ok {
        return Err(VerifyError::SignatureDoesNotMatch.into());
    }
    let security_token = from_query
        .iter()
        .find(|(n, _)| n == "x-amz-security-token")
        .map(|(_, v)| v.clone())
        .or_else(|| header(req, "x-amz-security-token").map(|t| t.trim().to_owned()));
    Ok(VerifiedV2 {
        access_key_id: akid,
        presigned: true,
        request_time: None,
        expires: Some(expires),
        security_token,
    })
}

impl Verifier {
    /// [`verify_v2`] with this verifier's configuration (its skew).
    pub fn verify_v2(
        &self,
        req: &RequestParts<'_>,
        host_bucket: Option<&str>,
        now: SystemTime,
        creds: &impl CredentialsProvider,
    ) -> Result<VerifiedV2, VerifyV2Error> {
        verify_v2(req, host_bucket, now, self.config(), creds)
    }
}

/// Signs `req` with SigV2 header authentication and returns the `Authorization` value
/// (`AWS AccessKeyId:Signature`). `req` must already carry its `Date` (or `x-amz-date`),
/// `Content-Type`, `Content-MD5` and `x-amz-*` headers; see [`verify_v2`] for `host_bucket`.
pub fn sign_v2(
    req: &RequestParts<'_>,
    host_bucket: Option<&str>,
    access_key_id: &str,
    secret_key: &str,
) -> String {
    let date_line = if header(req, "x-amz-date").is_some() {
        String::new()
    } else {
        header(req, "date").map(|d| d.trim().to_owned()).unwrap_or_default()
    };
    let sts = string_to_sign(
        req.method,
        req.headers,
        &date_line,
        None,
        &canonical_resource(req, host_bucket),
    );
    format!("AWS {access_key_id}:{}", sign(secret_key, &sts))
}

/// Presigns `req` with SigV2 query authentication valid until `expires` (seconds since the
/// epoch). Returns the full query string: the original query, then `AWSAccessKeyId`,
/// `Expires` and `Signature`. The `x-amz-*`, `Content-Type` and `Content-MD5` headers of
/// `req` are signed and must be sent with the URL.
pub fn presign_v2(
    req: &RequestParts<'_>,
    host_bucket: Option<&str>,
    expires: u64,
    access_key_id: &str,
    secret_key: &str,
) -> String {
    let expires = expires.to_string();
    let from_query = query_headers(req.raw_query);
    let view = presigned_header_view(req, &from_query);
    let sts =
        string_to_sign(req.method, &view, &expires, None, &canonical_resource(req, host_bucket));
    let mut query = req.raw_query.unwrap_or("").to_owned();
    if !query.is_empty() {
        query.push('&');
    }
    let _ = write!(
        query,
        "AWSAccessKeyId={}&Expires={expires}&Signature={}",
        uri_encode(access_key_id),
        uri_encode(&sign(secret_key, &sts))
    );
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_resources_are_sorted() {
        assert!(SUB_RESOURCES.windows(2).all(|w| w[0] < w[1]), "{SUB_RESOURCES:?}");
    }

    #[test]
    fn canonical_resources() {
        let check = |path: &str, query: Option<&str>, bucket: Option<&str>, expected: &str| {
            let req =
                RequestParts { method: "GET", raw_path: path, raw_query: query, headers: &[] };
            assert_eq!(canonical_resource(&req, bucket), expected, "{path} {query:?} {bucket:?}");
        };
        check("/", None, None, "/");
        check("", None, None, "/");
        check("/", None, Some("b"), "/b/");
        check("/photos/puppy.jpg", None, Some("johnsmith"), "/johnsmith/photos/puppy.jpg");
        check("/b/a%20b+c", None, None, "/b/a%20b+c");
        check("/b/k", Some("prefix=photos&max-keys=50&marker=puppy"), None, "/b/k");
        check("/b/", Some("acl"), None, "/b/?acl");
        check("/b", Some("acl"), None, "/b/?acl");
        check("/b/", Some("acl="), None, "/b/?acl=");
        check("/b/k", Some("versionId=1&acl"), None, "/b/k?acl&versionId=1");
        check("/b/k", Some("uploadId=a%2Fb&partNumber=2"), None, "/b/k?partNumber=2&uploadId=a/b");
        check(
            "/b/k",
            Some("response-content-disposition=attachment%3B%20filename%3D%22a%20b%22"),
            None,
            "/b/k?response-content-disposition=attachment; filename=\"a b\"",
        );
        check("/b/k", Some("x-id=GetObject&tagging"), None, "/b/k?tagging");
        check("/b/k", Some("Acl&ACL"), None, "/b/k");
    }

    #[test]
    fn amz_headers() {
        let h = [
            ("X-Amz-Meta-ReviewedBy", " joe@x "),
            ("x-amz-acl", "public-read"),
            ("X-AMZ-meta-reviewedby", "jane@x"),
            ("x-amz-meta-folded", "a\r\n  b\n\tc"),
            ("x-amz-meta-spaces", "a  b"),
            ("content-type", "t"),
        ];
        assert_eq!(
            canonical_amz_headers(&h, None),
            "x-amz-acl:public-read\nx-amz-meta-folded:a b c\nx-amz-meta-reviewedby:joe@x,jane@x\nx-amz-meta-spaces:a  b\n"
        );
        assert_eq!(canonical_amz_headers(&h, Some("x-amz-acl")).lines().count(), 3);
    }

    #[test]
    fn authorization_values() {
        let check = |v: &str, expected: Option<(&str, &str)>| {
            assert_eq!(parse_authorization(v).ok(), expected, "{v:?}");
        };
        check("AWS AK:sig=", Some(("AK", "sig=")));
        check(" AWS  AK : sig= ", Some(("AK", "sig=")));
        check("AWS", None);
        check("AWS HAHAHA", None);
        check("AWS :sig", None);
        check("AWS AK:", None);
        check("AWS A K:sig", None);
    }
}
