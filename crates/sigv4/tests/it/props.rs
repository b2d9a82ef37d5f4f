//! Property tests: requests signed by the official `aws-sigv4` crate verify, any one-byte
//! mutation of them is rejected, and the aws-chunked decoder is split-invariant.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use proptest::prelude::*;
use s3gate_sigv4::{
    ChunkedSigner, PayloadMode, SigningContext, SigningParams, Verified, VerifyConfig,
    sign_headers, verify,
};

use crate::{Req, creds, decode_in_pieces, sha256_hex};

const AKID: &str = "AKIDPROPTEST";
const SECRET: &str = "prop/test+secret/key";

/// URI-encodes like the AWS SDKs (unreserved kept, uppercase hex).
fn enc(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    path: String,
    query: Vec<(String, Option<String>)>,
    meta: Vec<(String, String)>,
    body: Vec<u8>,
    unsigned_payload: bool,
    presigned: bool,
    secs: u64,
}

fn case() -> impl Strategy<Value = Case> {
    let key = "[a-zA-Z0-9 ._~$+!*'()&=,;:@é/-]{0,24}";
    (
        prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD"]),
        key,
        prop::collection::vec(
            ("[a-zA-Z0-9._~-]{1,8}", prop::option::of("[a-zA-Z0-9 /=+&%é._~-]{0,10}")),
            0..4,
        ),
        prop::collection::vec(("[a-z0-9]{1,8}", "[!-~]{1,6}( {1,3}[!-~]{1,6}){0,2}"), 0..3),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
        any::<bool>(),
        946_684_800u64..1_900_000_000,
    )
        .prop_map(|(method, path, query, meta, body, unsigned_payload, presigned, secs)| {
            Case {
                method,
                path: format!("/bucket/{path}"),
                query,
                meta,
                body,
                unsigned_payload,
                presigned,
                secs,
            }
        })
}

/// Signs `case` with the official `aws-sigv4` crate and returns the request as received.
fn official_sign(case: &Case) -> Req {
    let time = UNIX_EPOCH + Duration::from_secs(case.secs);
    let mut target = enc(&case.path, true);
    let query: Vec<String> = case
        .query
        .iter()
        .map(|(n, v)| match v {
            Some(v) => format!("{}={}", enc(n, false), enc(v, false)),
            None => enc(n, false),
        })
        .collect();
    if !query.is_empty() {
        target = format!("{target}?{}", query.join("&"));
    }
    let mut headers: Vec<(String, String)> = vec![("host".into(), "s3.example.test".into())];
    for (n, v) in &case.meta {
        headers.push((format!("x-amz-meta-{n}"), v.clone()));
    }
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    if case.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_mins(15));
    } else {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let identity: Identity = Credentials::new(AKID, SECRET, None, None, "proptest").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let body = if case.unsigned_payload || case.presigned {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(&case.body)
    };
    let signable = SignableRequest::new(
        case.method,
        format!("https://s3.example.test{target}"),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        body,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (added_headers, added_params) = instructions.into_parts();
    for h in added_headers {
        headers.push((h.name().to_owned(), h.value().to_owned()));
    }
    for (n, v) in added_params {
        target.push(if target.contains('?') { '&' } else { '?' });
        let _ = write!(target, "{n}={}", enc(&v, false));
    }
    let mut req = Req::new(case.method, &target, &[]);
    req.headers = headers;
    req.body.clone_from(&case.body);
    req
}

fn check(req: &Req, secs: u64) -> Result<Verified, s3gate_sigv4::VerifyError> {
    let creds = creds(AKID, SECRET);
    let now = UNIX_EPOCH + Duration::from_secs(secs + 60);
    req.with(|p| verify(p, now, &VerifyConfig::s3("us-east-1"), &creds))
}

/// Replaces byte `i` of `s` by a letter that differs from it in every case-insensitive way
/// that could keep the canonical form (so the request really changes).
fn mutate(s: &str, i: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    let i = i % b.len();
    b[i] = if b[i].eq_ignore_ascii_case(&b'q') { b'z' } else { b'q' };
    String::from_utf8_lossy(&b).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn official_signatures_verify_and_mutations_fail(case in case(), which in 0usize..6, pos in any::<usize>()) {
        let req = official_sign(&case);
        let v = check(&req, case.secs).map_err(|e| TestCaseError::fail(format!("{e}: {req:?}")))?;
        prop_assert_eq!(v.presigned, case.presigned);
        prop_assert_eq!(&v.access_key_id, AKID);
        let expected_payload = if case.presigned || case.unsigned_payload {
            PayloadMode::Unsigned
        } else {
            let h: [u8; 32] = hex::decode(sha256_hex(&case.body)).unwrap().try_into().unwrap();
            PayloadMode::Sha256(h)
        };
        prop_assert_eq!(v.payload, expected_payload);

        let mut bad = req.clone();
        match which {
            0 => bad.method = mutate(&bad.method, pos),
            1 => bad.path = mutate(&bad.path, pos),
            2 => match &bad.query {
                Some(q) if !case.presigned || pos % 2 == 0 => bad.query = Some(mutate(q, pos)),
                _ => bad.query = Some("extra=1".into()),
            },
            3 => {
                let i = pos % bad.headers.len();
                let (n, v) = bad.headers[i].clone();
                if n.eq_ignore_ascii_case("authorization") {
                    let sig_start = v.rfind('=').unwrap() + 1;
                    let mut b = v.clone().into_bytes();
                    let j = sig_start + pos % 64;
                    b[j] = if b[j] == b'0' { b'1' } else { b'0' };
                    bad.headers[i].1 = String::from_utf8(b).unwrap();
                } else {
                    bad.headers[i].1 = mutate(&v, pos);
                }
            }
            4 => {
                // The date: header or X-Amz-Date parameter.
                if case.presigned {
                    let q = bad.query.clone().unwrap();
                    let start = q.find("X-Amz-Date=").unwrap() + "X-Amz-Date=".len();
                    let mut b = q.into_bytes();
                    let j = start + pos % 15;
                    b[j] = if b[j] == b'1' { b'2' } else { b'1' };
                    bad.query = Some(String::from_utf8(b).unwrap());
                } else {
                    let i = bad.headers.iter().position(|(n, _)| n == "x-amz-date").unwrap();
                    let mut b = bad.headers[i].1.clone().into_bytes();
                    let j = pos % 15;
                    b[j] = if b[j] == b'1' { b'2' } else { b'1' };
                    bad.headers[i].1 = String::from_utf8(b).unwrap();
                }
            }
            _ => {
                // The signature.
                let flip = |s: &str, start: usize| {
                    let mut b = s.as_bytes().to_vec();
                    let j = start + pos % 64;
                    b[j] = if b[j] == b'a' { b'b' } else { b'a' };
                    String::from_utf8(b).unwrap()
                };
                if case.presigned {
                    let q = bad.query.clone().unwrap();
                    let start = q.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
                    bad.query = Some(flip(&q, start));
                } else {
                    let i = bad.headers.iter().position(|(n, _)| n == "authorization").unwrap();
                    let v = bad.headers[i].1.clone();
                    bad.headers[i].1 = flip(&v, v.rfind('=').unwrap() + 1);
                }
            }
        }
        prop_assert!(check(&bad, case.secs).is_err(), "mutation {} accepted: {:?}", which, bad);
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Signed,
    SignedTrailer,
    UnsignedTrailer,
}

/// A verified streaming request plus its encoded body.
pub(crate) fn streaming(mode: Mode, payload: &[u8], chunk: usize) -> (Verified, Vec<u8>) {
    let content_sha = match mode {
        Mode::Signed => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        Mode::SignedTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        Mode::UnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    };
    let len = payload.len().to_string();
    let mut headers = vec![
        ("host", "s3.example.test"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", len.as_str()),
        ("x-amz-content-sha256", content_sha),
    ];
    let trailers: &[(&str, &str)] = match mode {
        Mode::Signed => &[],
        _ => &[("x-amz-checksum-crc32", "AAAAAA==")],
    };
    if !trailers.is_empty() {
        headers.push(("x-amz-trailer", "x-amz-checksum-crc32"));
    }
    let mut req = Req::new("PUT", "/bucket/key", &headers);
    let params = SigningParams {
        access_key_id: AKID,
        secret_key: SECRET,
        region: "us-east-1",
        service: "s3",
        time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    for (n, v) in req.with(|p| sign_headers(p, content_sha, &params)) {
        req.push_header(&n, &v);
    }
    let v = check(&req, 1_700_000_000).unwrap();
    let mut signer = match mode {
        Mode::UnsignedTrailer => ChunkedSigner::unsigned(),
        _ => ChunkedSigner::new(&v.seed_signature, SigningContext::from_params(&params)),
    };
    let mut body = Vec::new();
    for c in payload.chunks(chunk) {
        body.extend(signer.chunk(c));
    }
    body.extend(signer.finish(trailers));
    (v, body)
}

fn mode() -> impl Strategy<Value = Mode> {
    prop::sample::select(vec![Mode::Signed, Mode::SignedTrailer, Mode::UnsignedTrailer])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn chunked_decoding_is_split_invariant(
        mode in mode(),
        payload in prop::collection::vec(any::<u8>(), 0..20_000),
        chunk in 8192usize..12_000,
        sizes in prop::collection::vec(1usize..3000, 1..8),
    ) {
        let (v, body) = streaming(mode, &payload, chunk);
        let len = payload.len() as u64;
        let (whole, trailers) = decode_in_pieces(v.chunked_decoder(len).unwrap(), &body, &[usize::MAX]).unwrap();
        prop_assert_eq!(&whole, &payload);
        prop_assert_eq!(trailers.len(), usize::from(!matches!(mode, Mode::Signed)));
        let (split, _) = decode_in_pieces(v.chunked_decoder(len).unwrap(), &body, &sizes).unwrap();
        prop_assert_eq!(&split, &payload);
        let (bytewise, _) = decode_in_pieces(v.chunked_decoder(len).unwrap(), &body, &[1]).unwrap();
        prop_assert_eq!(&bytewise, &payload);
    }

    #[test]
    fn any_byte_change_of_a_signed_body_is_rejected(
        trailer in any::<bool>(),
        payload in prop::collection::vec(any::<u8>(), 0..17_000),
        pos in any::<usize>(),
        delta in 1u8..=255,
    ) {
        let mode = if trailer { Mode::SignedTrailer } else { Mode::Signed };
        let (v, mut body) = streaming(mode, &payload, 8192);
        let i = pos % body.len();
        body[i] = body[i].wrapping_add(delta);
        let got = decode_in_pieces(v.chunked_decoder(payload.len() as u64).unwrap(), &body, &[4096]);
        prop_assert!(got.is_err(), "byte {} changed, still accepted", i);
    }

    #[test]
    fn garbage_never_panics(mode in mode(), data in prop::collection::vec(any::<u8>(), 0..600), n in 1usize..50) {
        let (v, _) = streaming(mode, b"", 8192);
        let mut dec = v.chunked_decoder(10).unwrap();
        for piece in data.chunks(n) {
            let mut input = Bytes::copy_from_slice(piece);
            match dec.decode(&mut input) {
                Ok(Some(_) | None) => {}
                Err(_) => return Ok(()),
            }
        }
    }
}

fn auth_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "AWS4-HMAC-SHA256 [A-Za-z=/,; 0-9_-]{0,120}",
        "AWS4-HMAC-SHA256 Credential=[A-Z/0-9a-z_]{0,40}, ?SignedHeaders=[a-z;-]{0,30}, ?Signature=[0-9a-f]{0,70}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn verify_never_panics(
        method in "[A-Z]{0,7}",
        path in "\\PC{0,40}",
        query in prop::option::of("[A-Za-z0-9%&=+/._~-]{0,60}|X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[A-Za-z0-9%/_]{0,50}&X-Amz-Date=[0-9TZ]{0,17}&X-Amz-Expires=[0-9-]{0,8}&X-Amz-SignedHeaders=[a-z%;]{0,20}&X-Amz-Signature=[0-9a-f]{0,64}"),
        auth in prop::option::of(auth_like()),
        date in prop::option::of("[0-9TZ]{0,17}|\\PC{0,30}"),
        sha in prop::option::of("[0-9a-fA-F]{64}|[A-Z0-9-]{0,50}|\\PC{0,10}"),
        extra in prop::collection::vec(("[A-Za-z-]{1,12}", "\\PC{0,20}"), 0..4),
        secs in 0u64..4_000_000_000,
    ) {
        let mut headers: Vec<(String, String)> = vec![("host".into(), "h".into())];
        if let Some(a) = auth { headers.push(("Authorization".into(), a)); }
        if let Some(d) = date { headers.push(("x-amz-date".into(), d)); }
        if let Some(s) = sha { headers.push(("x-amz-content-sha256".into(), s)); }
        headers.extend(extra);
        let mut req = Req::new(&method, "/", &[]);
        req.path = path;
        req.query = query;
        req.headers = headers;
        let creds = creds("AKIDEXAMPLE", "secret");
        let now = UNIX_EPOCH + Duration::from_secs(secs);
        let _ = req.with(|p| (s3gate_sigv4::has_auth(p), s3gate_sigv4::access_key_id(p)));
        let result = req.with(|p| verify(p, now, &VerifyConfig::s3("us-east-1"), &creds));
        prop_assert!(result.is_err());
    }
}
