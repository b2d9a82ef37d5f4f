//! Signing of outgoing requests (header auth, presigned URLs, aws-chunked bodies) and
//! the HMAC/SHA-256 primitives the verifier shares.

use std::fmt;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri, uri_encode,
};
use crate::crypto::{hmac_sha256, sha256_hex};
use crate::request::{RequestParts, query_param};
use crate::time::format_amz_date;

/// The only algorithm this crate signs and verifies.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Hex SHA-256 of the empty string.
pub(crate) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Payload hash of presigned S3 URLs and of unsigned-payload requests.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Headers the signer never signs: they are changed or removed by proxies and
/// HTTP stacks, and the AWS SDKs leave them out too.
const UNSIGNABLE: &[&str] = &[
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// Derives the `SigV4` signing key: HMAC chain `"AWS4"+secret` → date → region → service → `aws4_request`.
pub fn derive_signing_key(secret_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// Signature of a browser-upload (POST Object) policy: the string to sign is the base64
/// policy text exactly as received in the form.
pub fn sign_post_policy(
    policy_base64: &str,
    secret_key: &str,
    date: &str,
    region: &str,
    service: &str,
) -> String {
    hex::encode(hmac_sha256(
        &derive_signing_key(secret_key, date, region, service),
        policy_base64.as_bytes(),
    ))
}

/// Everything needed to sign or verify the aws-chunked signature chain of one request:
/// the derived signing key, the request timestamp and the credential scope.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningContext {
    key: [u8; 32],
    timestamp: String,
    scope: String,
}

impl fmt::Debug for SigningContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is secret material: never print it.
        f.debug_struct("SigningContext")
            .field("timestamp", &self.timestamp)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl SigningContext {
    /// Builds a context from a derived key, an `YYYYMMDDTHHMMSSZ` timestamp and a scope
    /// (`date/region/service/aws4_request`).
    pub fn new(key: [u8; 32], timestamp: String, scope: String) -> Self {
        Self { key, timestamp, scope }
    }

    /// The context of requests signed with `params`.
    pub fn from_params(params: &SigningParams<'_>) -> Self {
        let timestamp = format_amz_date(params.time);
        let date = &timestamp[..8];
        let key = derive_signing_key(params.secret_key, date, params.region, params.service);
        let scope = format!("{date}/{}/{}/aws4_request", params.region, params.service);
        Self { key, timestamp, scope }
    }

    /// The request timestamp, `YYYYMMDDTHHMMSSZ`.
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// The credential scope, `YYYYMMDD/region/service/aws4_request`.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Hex signature of a string to sign built from `algorithm` line and the lines after the scope.
    fn sign_lines(&self, algorithm: &str, lines: &[&str]) -> String {
        let mut sts = String::with_capacity(256);
        let _ = write!(sts, "{algorithm}\n{}\n{}", self.timestamp, self.scope);
        for l in lines {
            sts.push('\n');
            sts.push_str(l);
        }
        hex::encode(hmac_sha256(&self.key, sts.as_bytes()))
    }

    /// Signature of a canonical request (the seed/request signature).
    pub(crate) fn sign_canonical_request(&self, creq: &str) -> String {
        self.sign_lines(ALGORITHM, &[&sha256_hex(creq.as_bytes())])
    }

    /// Signature of one aws-chunked chunk whose data hashes to `chunk_hash_hex`.
    pub(crate) fn sign_chunk(&self, previous: &str, chunk_hash_hex: &str) -> String {
        self.sign_lines("AWS4-HMAC-SHA256-PAYLOAD", &[previous, EMPTY_SHA256, chunk_hash_hex])
    }

    /// Signature of the trailer block whose canonical form (`name:value\n`...) is `canonical`.
    pub(crate) fn sign_trailer(&self, previous: &str, canonical: &str) -> String {
        self.sign_lines("AWS4-HMAC-SHA256-TRAILER", &[previous, &sha256_hex(canonical.as_bytes())])
    }
}

/// Credentials, scope and time for signing an outgoing request.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    /// Access key id.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_key: &'a str,
    /// Region of the scope, e.g. `us-east-1`.
    pub region: &'a str,
    /// Service of the scope, `s3` for S3.
    pub service: &'a str,
    /// Signing time.
    pub time: SystemTime,
}

/// Lowercase names of the headers of `req` to sign (plus `extra`), sorted and deduplicated.
fn names_to_sign(req: &RequestParts<'_>, extra: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = req
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| !UNSIGNABLE.contains(&n.as_str()))
        .chain(extra.iter().map(|s| (*s).to_owned()))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn has_header(req: &RequestParts<'_>, name: &str) -> bool {
    req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Signs `req` for header authentication. Returns the headers to add: `x-amz-date`,
/// `x-amz-content-sha256` (only for service `s3` and only if `req` lacks it) and
/// `authorization`. Every header of `req` is signed except hop-by-hop ones,
/// `user-agent`, `expect` and `x-amzn-trace-id`; put `host` (and
/// `x-amz-security-token` for session credentials) into `req.headers` before signing.
/// `req` must not already carry `x-amz-date` or `authorization`.
pub fn sign_headers(
    req: &RequestParts<'_>,
    payload_hash: &str,
    params: &SigningParams<'_>,
) -> Vec<(String, String)> {
    let ctx = SigningContext::from_params(params);
    let mut added = vec![("x-amz-date".to_owned(), ctx.timestamp.clone())];
    if params.service == "s3" && !has_header(req, "x-amz-content-sha256") {
        added.push(("x-amz-content-sha256".to_owned(), payload_hash.to_owned()));
    }
    let extra: Vec<&str> = added.iter().map(|(n, _)| n.as_str()).collect();
    let names = names_to_sign(req, &extra);
    let mut all: Vec<(&str, &str)> = req.headers.to_vec();
    all.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let signed_headers = name_refs.join(";");
    let creq = canonical_request(
        req.method,
        &canonical_uri(req.raw_path),
        &canonical_query(req.raw_query, false),
        &canonical_headers(&all, &name_refs),
        &signed_headers,
        payload_hash,
    );
    let signature = ctx.sign_canonical_request(&creq);
    added.push((
        "authorization".to_owned(),
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={signed_headers}, Signature={signature}",
            params.access_key_id, ctx.scope
        ),
    ));
    added
}

/// Presigns `req` (query authentication) for S3: the payload line is `UNSIGNED-PAYLOAD`,
/// or the value of an `X-Amz-Content-Sha256` parameter already in `req.raw_query`.
/// Returns the full query string: the original query, then `X-Amz-Algorithm`,
/// `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders` and
/// `X-Amz-Signature`. Signs `host` and the other headers of `req` (see [`sign_headers`]).
/// Session credentials: put `X-Amz-Security-Token=...` into `req.raw_query` first.
pub fn presign(req: &RequestParts<'_>, expires_in: Duration, params: &SigningParams<'_>) -> String {
    let from_query = query_param(req.raw_query, "X-Amz-Content-Sha256");
    let payload = from_query.unwrap_or_else(|| UNSIGNED_PAYLOAD.to_owned());
    presign_with_payload_hash(req, expires_in, &payload, params)
}

/// [`presign`] with an explicit payload line (non-S3 services sign the body hash).
pub fn presign_with_payload_hash(
    req: &RequestParts<'_>,
    expires_in: Duration,
    payload_hash: &str,
    params: &SigningParams<'_>,
) -> String {
    let ctx = SigningContext::from_params(params);
    let names = names_to_sign(req, &["host"]);
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let signed_headers = name_refs.join(";");
    let mut query = req.raw_query.unwrap_or("").to_owned();
    for (name, value) in [
        ("X-Amz-Algorithm", ALGORITHM.to_owned()),
        ("X-Amz-Credential", format!("{}/{}", params.access_key_id, ctx.scope)),
        ("X-Amz-Date", ctx.timestamp.clone()),
        ("X-Amz-Expires", expires_in.as_secs().to_string()),
        ("X-Amz-SignedHeaders", signed_headers.clone()),
    ] {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&uri_encode(&value));
    }
    let creq = canonical_request(
        req.method,
        &canonical_uri(req.raw_path),
        &canonical_query(Some(&query), true),
        &canonical_headers(req.headers, &name_refs),
        &signed_headers,
        payload_hash,
    );
    let signature = ctx.sign_canonical_request(&creq);
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    query
}

/// Encoder of aws-chunked bodies: signed (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`)
/// or unsigned (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`). Feed data with [`chunk`](Self::chunk)
/// (every chunk but the last must be at least 8192 bytes for S3), end with
/// [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct ChunkedSigner {
    signed: Option<(SigningContext, String)>,
}

impl ChunkedSigner {
    /// Signed chunks chained from `seed_signature` (the request's header signature).
    pub fn new(seed_signature: &str, ctx: SigningContext) -> Self {
        Self { signed: Some((ctx, seed_signature.to_owned())) }
    }

    /// Unsigned chunks (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
    pub fn unsigned() -> Self {
        Self { signed: None }
    }

    fn header(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{:x}", data.len()).as_bytes());
        if let Some((ctx, previous)) = &mut self.signed {
            let sig = ctx.sign_chunk(previous, &sha256_hex(data));
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(sig.as_bytes());
            *previous = sig;
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Frames one non-empty chunk: header line, data, CRLF. An empty `data` yields nothing
    /// (the final zero-length chunk comes from [`finish`](Self::finish)).
    pub fn chunk(&mut self, data: &[u8]) -> Vec<u8> {
        if data.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(data.len() + 100);
        self.header(data, &mut out);
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The final zero-length chunk, then `trailers` (`name:value` lines; signed with an
    /// `x-amz-trailer-signature` line in signed mode when `trailers` is not empty), then
    /// the closing empty line.
    pub fn finish(&mut self, trailers: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::with_capacity(200);
        self.header(&[], &mut out);
        let mut canonical = String::new();
        for (name, value) in trailers {
            let name = name.to_ascii_lowercase();
            let value = value.trim();
            out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
            let _ = writeln!(canonical, "{name}:{value}");
        }
        if let Some((ctx, previous)) = &self.signed
            && !trailers.is_empty()
        {
            let sig = ctx.sign_trailer(previous, &canonical);
            out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What botocore sends when a Date header is set (or set empty) before signing: it replaces
    /// the Date with `formatdate()` (zone `-0000`), drops X-Amz-Date and signs with the same
    /// timestamp. The verifier reads that Date as the request time.
    #[test]
    fn a_botocore_date_header_authenticates_without_x_amz_date() {
        const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let time = SystemTime::UNIX_EPOCH + Duration::from_hours(380_376); // 2013-05-24T00:00:00Z
        let params = SigningParams {
            access_key_id: "AKID",
            secret_key: "secret",
            region: "us-east-1",
            service: "s3",
            time,
        };
        let ctx = SigningContext::from_params(&params);
        let headers = [
            ("Host", "s3.example.test"),
            ("Date", "Fri, 24 May 2013 00:00:00 -0000"),
            ("x-amz-content-sha256", EMPTY),
        ];
        let names = ["date", "host", "x-amz-content-sha256"];
        let creq = canonical_request(
            "PUT",
            &canonical_uri("/bucket/key"),
            &canonical_query(None, false),
            &canonical_headers(&headers, &names),
            &names.join(";"),
            EMPTY,
        );
        let auth = format!(
            "{ALGORITHM} Credential=AKID/{}, SignedHeaders={}, Signature={}",
            ctx.scope,
            names.join(";"),
            ctx.sign_canonical_request(&creq)
        );
        let mut all = headers.to_vec();
        all.push(("Authorization", &auth));
        let req =
            RequestParts { method: "PUT", raw_path: "/bucket/key", raw_query: None, headers: &all };
        let creds: std::collections::HashMap<String, String> =
            [("AKID".to_owned(), "secret".to_owned())].into();
        let cfg = crate::VerifyConfig::s3("us-east-1");
        let v = crate::verify(&req, time + Duration::from_secs(5), &cfg, &creds).unwrap();
        assert_eq!(v.request_time, time);
    }

    #[test]
    fn signing_key_matches_aws_docs() {
        // The key from the IAM "create a signed request" walkthrough (secret ...EXAMPLEKEY, 20150830, us-east-1, iam).
        let key = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }
}
