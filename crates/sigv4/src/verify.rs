//! Verification of incoming requests: header auth and presigned URLs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::canonical::{canonical_headers, canonical_query, canonical_request, canonical_uri};
use crate::chunked::{ChunkedDecoder, ChunkedMode};
use crate::crypto::constant_time_eq;
use crate::detect::{has_v2_query, has_v4_query};
use crate::request::{CredentialsProvider, RequestParts, header, query_param};
use crate::sign::{ALGORITHM, EMPTY_SHA256, SigningContext, UNSIGNED_PAYLOAD, derive_signing_key};
use crate::time::{abs_diff, parse_amz_date};

/// Verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyConfig {
    /// The region requests must be scoped to, e.g. `us-east-1`.
    pub region: String,
    /// The service requests must be scoped to: `s3`.
    pub service: String,
    /// Largest accepted difference between request time and `now` (S3: 15 minutes).
    pub max_skew: Duration,
}

impl VerifyConfig {
    /// S3 in `region` with the 15-minute skew S3 allows.
    pub fn s3(region: impl Into<String>) -> Self {
        Self { region: region.into(), service: "s3".to_owned(), max_skew: Duration::from_mins(15) }
    }
}

/// How the body of a verified request must be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// The body must hash to this SHA-256: check it with [`PayloadHasher`].
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD` (and presigned URLs): nothing to check.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: aws-chunked with signed chunks.
    StreamingSigned {
        /// Whether signed trailers follow the final chunk (`-TRAILER` variant).
        trailer: bool,
    },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned chunks and trailer.
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// Whether the body is aws-chunked (decode it with [`Verified::chunked_decoder`]).
    pub fn is_streaming(&self) -> bool {
        matches!(self, Self::StreamingSigned { .. } | Self::StreamingUnsignedTrailer)
    }
}

/// Why a request failed verification. Each variant maps to exactly one S3 error code,
/// named in its documentation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `SigV4` authentication at all (`AccessDenied` for a protected resource).
    #[error("request carries no authentication")]
    MissingAuth,
    /// The signature is wrong (`SignatureDoesNotMatch`).
    #[error("signature does not match")]
    SignatureDoesNotMatch,
    /// The access key id is unknown (`InvalidAccessKeyId`).
    #[error("access key id does not exist")]
    InvalidAccessKeyId,
    /// The Authorization header or its credential scope is malformed (`AuthorizationHeaderMalformed`).
    #[error("authorization header is malformed: {0}")]
    AuthorizationHeaderMalformed(String),
    /// These headers (lowercase) are present but not signed (`AccessDenied`, with `HeadersNotSigned`).
    #[error("headers present in the request were not signed: {}", .0.join(", "))]
    HeadersNotSigned(Vec<String>),
    /// Neither `x-amz-date` nor a valid `Date` header (`AccessDenied`).
    #[error("request has no valid x-amz-date or date header")]
    MissingDate,
    /// Presigned URL past `X-Amz-Date + X-Amz-Expires` (`AccessDenied` "Request has expired").
    #[error("request has expired")]
    RequestExpired,
    /// Presigned URL dated in the future beyond the allowed skew (`AccessDenied` "Request is not yet valid").
    #[error("request is not yet valid")]
    RequestNotYetValid,
    /// A presigned URL's `X-Amz-*` parameters are missing or invalid (`AuthorizationQueryParametersError`).
    #[error("authorization query parameters error: {0}")]
    AuthorizationQueryParametersError(String),
    /// Header-auth request time too far from server time (`RequestTimeTooSkewed`).
    #[error("the difference between the request time and the current time is too large")]
    RequestTimeTooSkewed {
        /// Time the request claims.
        request_time: SystemTime,
        /// Server time used for the check.
        server_time: SystemTime,
    },
    /// Header auth without `x-amz-content-sha256` for S3 (`InvalidRequest`).
    #[error("missing required header for this request: x-amz-content-sha256")]
    MissingContentSha256,
    /// `x-amz-content-sha256` is neither a hex SHA-256 nor a known mode (`InvalidArgument`).
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a valid sha256 value")]
    InvalidContentSha256,
    /// The body does not hash to `x-amz-content-sha256` (`XAmzContentSHA256Mismatch`).
    #[error("the provided x-amz-content-sha256 header does not match what was computed")]
    ContentSha256Mismatch,
    /// `SigV4A` (ECDSA) or another algorithm this crate does not implement (`NotImplemented`).
    #[error("unsupported signing algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// Both an Authorization header and query authentication (`InvalidArgument`).
    #[error("only one auth mechanism allowed")]
    MultipleAuthMechanisms,
    /// [`Verified::chunked_decoder`] on a request whose payload is not aws-chunked (`InvalidRequest`).
    #[error("request payload is not aws-chunked")]
    NotStreaming,
    /// The credential scope names another region: `error` (`AuthorizationHeaderMalformed`, or
    /// `AuthorizationQueryParametersError` for a presigned URL) whose body also carries
    /// `<Region>` with `region`, the region requests must be signed for, so that SDKs can
    /// redirect themselves as they do on AWS.
    #[error("{error}")]
    WrongRegion {
        /// The error of the request's mode, with its message.
        error: Box<VerifyError>,
        /// The region this verifier accepts.
        region: String,
    },
}

/// A successfully verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key id that signed the request.
    pub access_key_id: String,
    /// How the body must be checked.
    pub payload: PayloadMode,
    /// Whether the request was authenticated by query parameters (presigned URL).
    pub presigned: bool,
    /// Request time (`x-amz-date`, `Date` or `X-Amz-Date`).
    pub request_time: SystemTime,
    /// Lowercase signed header names, as listed by the client.
    pub signed_headers: Vec<String>,
    /// `x-amz-security-token` header or `X-Amz-Security-Token` parameter; the caller
    /// validates session tokens.
    pub security_token: Option<String>,
    /// Trailer names declared by `x-amz-trailer` (lowercase), empty when none.
    pub declared_trailers: Vec<String>,
    /// The request signature (seed of the aws-chunked signature chain).
    pub seed_signature: String,
    /// Signing key, timestamp and scope for the aws-chunked signature chain.
    pub signing: SigningContext,
}

impl Verified {
    /// Decoder for an aws-chunked body of this request (signed and unsigned streaming modes).
    /// `decoded_length` = `x-amz-decoded-content-length` (the caller requires it for streaming modes).
    pub fn chunked_decoder(&self, decoded_length: u64) -> Result<ChunkedDecoder, VerifyError> {
        self.decoder(Some(decoded_length))
    }

    /// Like [`chunked_decoder`](Self::chunked_decoder) for a body whose decoded length was not
    /// declared (botocore omits `x-amz-decoded-content-length` for unseekable streams).
    pub fn chunked_decoder_unknown_length(&self) -> Result<ChunkedDecoder, VerifyError> {
        self.decoder(None)
    }

    fn decoder(&self, decoded_length: Option<u64>) -> Result<ChunkedDecoder, VerifyError> {
        let mode = match self.payload {
            PayloadMode::StreamingSigned { trailer } => ChunkedMode::Signed {
                signing: self.signing.clone(),
                seed_signature: self.seed_signature.clone(),
                trailer,
            },
            PayloadMode::StreamingUnsignedTrailer => ChunkedMode::UnsignedTrailer,
            PayloadMode::Sha256(_) | PayloadMode::Unsigned => {
                return Err(VerifyError::NotStreaming);
            }
        };
        Ok(ChunkedDecoder::new(mode, decoded_length, self.declared_trailers.clone()))
    }
}

/// Streaming SHA-256 check of a body against `x-amz-content-sha256`.
#[derive(Debug, Clone)]
pub struct PayloadHasher {
    expected: [u8; 32],
    hasher: Sha256,
}

impl PayloadHasher {
    /// A hasher expecting the body to hash to `expected`.
    pub fn new(expected: [u8; 32]) -> Self {
        Self { expected, hasher: Sha256::new() }
    }

    /// Feeds the next body bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Checks the hash of everything fed.
    pub fn finish(self) -> Result<(), VerifyError> {
        let got: [u8; 32] = self.hasher.finalize().into();
        if got == self.expected { Ok(()) } else { Err(VerifyError::ContentSha256Mismatch) }
    }
}

/// Query authentication of either version: SigV2's is refused by [`verify`] as an
/// algorithm it does not implement (`NotImplemented`, not anonymous `AccessDenied`);
/// [`verify_v2`](crate::verify_v2) verifies it.
fn has_query_auth(req: &RequestParts<'_>) -> bool {
    has_v4_query(req.raw_query) || has_v2_query(req.raw_query)
}

/// Verifies `req` at time `now`, deriving the signing key afresh (see [`Verifier`] for a cache).
pub fn verify(
    req: &RequestParts<'_>,
    now: SystemTime,
    cfg: &VerifyConfig,
    creds: &impl CredentialsProvider,
) -> Result<Verified, VerifyError> {
    verify_with(req, now, cfg, creds, &|secret, date| {
        derive_signing_key(secret, date, &cfg.region, &cfg.service)
    })
}

/// Bound on the signing-key cache: keys change daily, so a few hundred covers many users.
const KEY_CACHE_CAP: usize = 512;

/// A verifier for one region/service with a bounded cache of derived signing keys
/// (one per secret and day; the cache is cleared when it reaches its cap).
#[derive(Debug)]
pub struct Verifier {
    cfg: VerifyConfig,
    keys: Mutex<HashMap<(String, String), [u8; 32]>>,
}

impl Verifier {
    /// A verifier with an empty key cache.
    pub fn new(cfg: VerifyConfig) -> Self {
        Self { cfg, keys: Mutex::new(HashMap::new()) }
    }

    /// The configuration.
    pub fn config(&self) -> &VerifyConfig {
        &self.cfg
    }

    /// [`verify`] with cached signing keys.
    pub fn verify(
        &self,
        req: &RequestParts<'_>,
        now: SystemTime,
        creds: &impl CredentialsProvider,
    ) -> Result<Verified, VerifyError> {
        verify_with(req, now, &self.cfg, creds, &|secret, date| self.signing_key(secret, date))
    }

    /// The signing key of `secret` on `date` (`YYYYMMDD`) for this verifier's region and
    /// service, from the cache or derived and cached.
    pub(crate) fn signing_key(&self, secret: &str, date: &str) -> [u8; 32] {
        let cache_key = (secret.to_owned(), date.to_owned());
        if let Ok(map) = self.keys.lock()
            && let Some(k) = map.get(&cache_key)
        {
            return *k;
        }
        let k = derive_signing_key(secret, date, &self.cfg.region, &self.cfg.service);
        // A poisoned lock only means another thread panicked mid-insert: skip caching.
        if let Ok(mut map) = self.keys.lock() {
            if map.len() >= KEY_CACHE_CAP {
                map.clear();
            }
            map.insert(cache_key, k);
        }
        k
    }
}

/// What both auth forms have parsed before the common checks.
struct Parsed {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: String,
    signature: String,
    timestamp: String,
    request_time: SystemTime,
    payload_line: String,
    payload: PayloadMode,
    canonical_query: String,
    presigned: bool,
    security_token: Option<String>,
}

fn parse_payload(value: &str, presigned: bool) -> Result<PayloadMode, VerifyError> {
    match value {
        UNSIGNED_PAYLOAD => Ok(PayloadMode::Unsigned),
        _ if presigned => parse_hex_sha(value),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Ok(PayloadMode::StreamingSigned { trailer: false }),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
            Ok(PayloadMode::StreamingSigned { trailer: true })
        }
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Ok(PayloadMode::StreamingUnsignedTrailer),
        v if v.starts_with("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") => {
            Err(VerifyError::UnsupportedAlgorithm(v.to_owned()))
        }
        v => parse_hex_sha(v),
    }
}

fn parse_hex_sha(v: &str) -> Result<PayloadMode, VerifyError> {
    let mut out = [0u8; 32];
    if v.len() == 64 && hex::decode_to_slice(v, &mut out).is_ok() {
        Ok(PayloadMode::Sha256(out))
    } else {
        Err(VerifyError::InvalidContentSha256)
    }
}

/// Splits `AKID/date/region/service/aws4_request` (the key id itself may not contain `/`).
pub(crate) fn split_credential(cred: &str) -> Option<(&str, &str, &str, &str, &str)> {
    let mut it = cred.rsplitn(5, '/');
    let terminator = it.next()?;
    let service = it.next()?;
    let region = it.next()?;
    let date = it.next()?;
    let akid = it.next()?;
    Some((akid, date, region, service, terminator))
}

fn parse_header_auth(
    req: &RequestParts<'_>,
    auth: &str,
    now: SystemTime,
    cfg: &VerifyConfig,
) -> Result<Parsed, VerifyError> {
    let malformed = |m: &str| VerifyError::AuthorizationHeaderMalformed(m.to_owned());
    let (algorithm, rest) = auth.trim().split_once(' ').unwrap_or((auth.trim(), ""));
    if algorithm.is_empty() {
        return Err(malformed("empty Authorization header"));
    }
    if algorithm != ALGORITHM {
        return Err(VerifyError::UnsupportedAlgorithm(algorithm.to_owned()));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| malformed("component without '='"))?;
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(malformed("unknown component")),
        };
        if slot.replace(v.trim()).is_some() {
            return Err(malformed("repeated component"));
        }
    }
    let credential = credential.ok_or_else(|| malformed("missing Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| malformed("missing SignedHeaders"))?;
    let signature = signature.ok_or_else(|| malformed("missing Signature"))?;
    let (akid, date, region, service, terminator) =
        split_credential(credential).ok_or_else(|| malformed("the Credential is mal-formed"))?;

    let (timestamp, request_time) = if let Some(v) = header(req, "x-amz-date") {
        (v.trim().to_owned(), parse_amz_date(v.trim()).ok_or(VerifyError::MissingDate)?)
    } else if let Some(v) = header(req, "date") {
        // botocore replaces a Date header it finds with `formatdate()`, which writes the zone
        // as `-0000` (RFC 2822), and drops X-Amz-Date: the SigV2 date parser reads that form.
        let t = crate::time::parse_v2_date(v).ok_or(VerifyError::MissingDate)?;
        (crate::time::format_amz_date(t), t)
    } else {
        return Err(VerifyError::MissingDate);
    };
    if abs_diff(now, request_time) > cfg.max_skew {
        return Err(VerifyError::RequestTimeTooSkewed { request_time, server_time: now });
    }
    check_scope(date, region, service, terminator, &timestamp, cfg, malformed)?;

    let (payload_line, payload) = match header(req, "x-amz-content-sha256") {
        Some(v) => (v.trim().to_owned(), parse_payload(v.trim(), false)?),
        None if cfg.service == "s3" => return Err(VerifyError::MissingContentSha256),
        // Other services sign the body hash without sending it; we can only accept an empty body.
        None => (EMPTY_SHA256.to_owned(), parse_hex_sha(EMPTY_SHA256)?),
    };
    Ok(Parsed {
        access_key_id: akid.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers: signed_headers.to_owned(),
        signature: signature.to_owned(),
        timestamp,
        request_time,
        payload_line,
        payload,
        canonical_query: canonical_query(req.raw_query, false),
        presigned: false,
        security_token: header(req, "x-amz-security-token").map(|s| s.trim().to_owned()),
    })
}

pub(crate) fn check_scope(
    date: &str,
    region: &str,
    service: &str,
    terminator: &str,
    timestamp: &str,
    cfg: &VerifyConfig,
    err: impl Fn(&str) -> VerifyError,
) -> Result<(), VerifyError> {
    if timestamp.get(..8) != Some(date) {
        return Err(err(&format!("the credential date '{date}' does not match the request date")));
    }
    if region != cfg.region {
        let error = err(&format!("the region '{region}' is wrong; expecting '{}'", cfg.region));
        return Err(VerifyError::WrongRegion {
            error: Box::new(error),
            region: cfg.region.clone(),
        });
    }
    if service != cfg.service {
        return Err(err(&format!("the service '{service}' is wrong; expecting '{}'", cfg.service)));
    }
    if terminator != "aws4_request" {
        return Err(err(&format!(
            "the credential terminator '{terminator}' is wrong; expecting 'aws4_request'"
        )));
    }
    Ok(())
}

/// Longest presigned URL lifetime S3 accepts: 7 days.
const MAX_EXPIRES: u64 = 604_800;

fn parse_query_auth(
    req: &RequestParts<'_>,
    now: SystemTime,
    cfg: &VerifyConfig,
) -> Result<Parsed, VerifyError> {
    let qerr = |m: &str| VerifyError::AuthorizationQueryParametersError(m.to_owned());
    if query_param(req.raw_query, "X-Amz-Algorithm").is_none() && has_v2_query(req.raw_query) {
        return Err(VerifyError::UnsupportedAlgorithm("AWS (Signature Version 2)".to_owned()));
    }
    let get = |name: &str| {
        query_param(req.raw_query, name).ok_or_else(|| qerr(&format!("missing {name}")))
    };
    let algorithm = get("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(VerifyError::UnsupportedAlgorithm(algorithm));
    }
    let credential = get("X-Amz-Credential")?;
    let timestamp = get("X-Amz-Date")?;
    let expires = get("X-Amz-Expires")?;
    let signed_headers = get("X-Amz-SignedHeaders")?;
    let signature = get("X-Amz-Signature")?;
    let request_time = parse_amz_date(&timestamp)
        .ok_or_else(|| qerr("X-Amz-Date must be in the ISO8601 long format"))?;
    let expires: u64 = if !expires.is_empty() && expires.bytes().all(|b| b.is_ascii_digit()) {
        expires.parse().map_err(|_| qerr("X-Amz-Expires is too large"))?
    } else {
        return Err(qerr("X-Amz-Expires should be a number"));
    };
    if expires == 0 {
        return Err(qerr("X-Amz-Expires must be non-negative and non-zero"));
    }
    if expires > MAX_EXPIRES {
        return Err(qerr(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds",
        ));
    }
    let (akid, date, region, service, terminator) =
        split_credential(&credential).ok_or_else(|| qerr("the X-Amz-Credential is mal-formed"))?;
    check_scope(date, region, service, terminator, &timestamp, cfg, qerr)?;
    if request_time > now + cfg.max_skew {
        return Err(VerifyError::RequestNotYetValid);
    }
    if now >= request_time + Duration::from_secs(expires) {
        return Err(VerifyError::RequestExpired);
    }
    let (payload_line, payload) = match query_param(req.raw_query, "X-Amz-Content-Sha256") {
        Some(v) => {
            let mode = parse_payload(&v, true)?;
            (v, mode)
        }
        None if cfg.service == "s3" => (UNSIGNED_PAYLOAD.to_owned(), PayloadMode::Unsigned),
        // Generic SigV4 presigned requests sign the body hash; only an empty body can match.
        None => (EMPTY_SHA256.to_owned(), parse_hex_sha(EMPTY_SHA256)?),
    };
    Ok(Parsed {
        access_key_id: akid.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature,
        timestamp: timestamp.clone(),
        request_time,
        payload_line,
        payload,
        canonical_query: canonical_query(req.raw_query, true),
        presigned: true,
        security_token: query_param(req.raw_query, "X-Amz-Security-Token"),
    })
}

fn verify_with(
    req: &RequestParts<'_>,
    now: SystemTime,
    cfg: &VerifyConfig,
    creds: &impl CredentialsProvider,
    key_for: &dyn Fn(&str, &str) -> [u8; 32],
) -> Result<Verified, VerifyError> {
    let auth = header(req, "authorization");
    let query_auth = has_query_auth(req);
    let p = match (auth, query_auth) {
        (Some(_), true) => return Err(VerifyError::MultipleAuthMechanisms),
        (None, false) => return Err(VerifyError::MissingAuth),
        (Some(a), false) => parse_header_auth(req, a, now, cfg)?,
        (None, true) => parse_query_auth(req, now, cfg)?,
    };

    let signed: Vec<&str> = p.signed_headers.split(';').collect();
    if signed.iter().any(|n| n.is_empty() || n.bytes().any(|b| b.is_ascii_uppercase())) {
        let m = "SignedHeaders must be lowercase names separated by ';'".to_owned();
        return Err(if p.presigned {
            VerifyError::AuthorizationQueryParametersError(m)
        } else {
            VerifyError::AuthorizationHeaderMalformed(m)
        });
    }
    // Only x-amz-* names are lowercased (allocated), so the common case stays cheap.
    let mut unsigned: Vec<String> = req
        .headers
        .iter()
        .filter(|(n, _)| n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-")))
        .filter(|(n, _)| !signed.iter().any(|s| s.eq_ignore_ascii_case(n)))
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    if !signed.contains(&"host") {
        unsigned.push("host".to_owned());
    }
    if !unsigned.is_empty() {
        unsigned.sort_unstable();
        unsigned.dedup();
        return Err(VerifyError::HeadersNotSigned(unsigned));
    }

    let secret = creds.secret_key(&p.access_key_id).ok_or(VerifyError::InvalidAccessKeyId)?;
    let scope = format!("{}/{}/{}/aws4_request", p.date, p.region, p.service);
    let signing = SigningContext::new(key_for(&secret, &p.date), p.timestamp, scope);
    let creq = canonical_request(
        req.method,
        &canonical_uri(req.raw_path),
        &p.canonical_query,
        &canonical_headers(req.headers, &signed),
        &p.signed_headers,
        &p.payload_line,
    );
    let expected = signing.sign_canonical_request(&creq);
    if !constant_time_eq(expected.as_bytes(), p.signature.as_bytes()) {
        return Err(VerifyError::SignatureDoesNotMatch);
    }
    let declared_trailers = header(req, "x-amz-trailer")
        .map(|v| {
            v.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()
        })
        .unwrap_or_default();
    Ok(Verified {
        access_key_id: p.access_key_id,
        payload: p.payload,
        presigned: p.presigned,
        request_time: p.request_time,
        signed_headers: signed.iter().map(|s| (*s).to_owned()).collect(),
        security_token: p.security_token,
        declared_trailers,
        seed_signature: expected,
        signing,
    })
}
