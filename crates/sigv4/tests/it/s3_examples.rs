//! The S3 API reference's worked examples (`tests/data/s3-examples`): header auth,
//! presigned URL, aws-chunked signed / signed-trailer / unsigned-trailer bodies.

use std::fs;
use std::time::Duration;

use bytes::Bytes;
use s3gate_sigv4::{
    ChunkedSigner, PayloadHasher, PayloadMode, SigningContext, SigningParams, VerifyConfig,
    VerifyError, presign, sign_headers, sign_post_policy, verify,
};
use serde_json::Value;

use crate::{Req, creds, data_dir, decode_in_pieces, sha256_hex, time};

fn load(name: &str) -> Value {
    let path = data_dir().join("s3-examples").join(name);
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn request_of(ex: &Value) -> Req {
    let headers: Vec<(&str, &str)> =
        ex["request"]["headers"].as_array().unwrap().iter().map(|h| (s(&h[0]), s(&h[1]))).collect();
    Req::new(s(&ex["request"]["method"]), s(&ex["request"]["request_target"]), &headers)
}

fn params(ex: &Value) -> SigningParams<'_> {
    SigningParams {
        access_key_id: s(&ex["access_key_id"]),
        secret_key: s(&ex["secret_access_key"]),
        region: s(&ex["region"]),
        service: s(&ex["service"]),
        time: time(s(&ex["timestamp"])),
    }
}

fn verify_example(ex: &Value, req: &Req) -> Result<s3gate_sigv4::Verified, VerifyError> {
    let creds = creds(s(&ex["access_key_id"]), s(&ex["secret_access_key"]));
    req.with(|p| verify(p, time(s(&ex["timestamp"])), &VerifyConfig::s3("us-east-1"), &creds))
}

/// Signs `req` without its `x-amz-date` (the signer adds it) and returns the signature.
fn sign_signature(ex: &Value, req: &Req, payload_hash: &str) -> String {
    // The caller decides which headers get signed: hand over those the example signed.
    let auth = s(&ex["expected"]["authorization"]);
    let signed = auth.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap();
    let signed: Vec<&str> = signed.split(';').collect();
    let mut unsigned = req.clone();
    unsigned.headers.retain(|(n, _)| {
        !n.eq_ignore_ascii_case("x-amz-date") && signed.contains(&n.to_ascii_lowercase().as_str())
    });
    let added = unsigned.with(|p| sign_headers(p, payload_hash, &params(ex)));
    assert_eq!(added[0], ("x-amz-date".to_owned(), s(&ex["timestamp"]).to_owned()));
    let auth = &added.last().unwrap().1;
    auth.rsplit("Signature=").next().unwrap().to_owned()
}

#[test]
fn header_examples_sign_and_verify() {
    for name in [
        "header-get-object.json",
        "header-put-object.json",
        "header-get-bucket-lifecycle.json",
        "header-list-objects.json",
    ] {
        let ex = load(name);
        let mut req = request_of(&ex);
        let body = s(&ex["request"]["body_utf8"]).as_bytes().to_vec();
        let expected_sig = s(&ex["expected"]["signature"]);
        assert_eq!(sign_signature(&ex, &req, &sha256_hex(&body)), expected_sig, "{name}");

        req.push_header("Authorization", s(&ex["expected"]["authorization"]));
        let v = verify_example(&ex, &req).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!v.presigned);
        assert_eq!(v.seed_signature, expected_sig);
        assert_eq!(v.signed_headers.join(";"), s(&ex["expected"]["signed_headers"]));
        let PayloadMode::Sha256(hash) = v.payload else { panic!("{name}: {:?}", v.payload) };
        let mut hasher = PayloadHasher::new(hash);
        hasher.update(&body);
        hasher.finish().unwrap();
        let mut wrong = PayloadHasher::new(hash);
        wrong.update(b"tampered");
        assert_eq!(wrong.finish(), Err(VerifyError::ContentSha256Mismatch));
        assert_eq!(v.chunked_decoder(0).err(), Some(VerifyError::NotStreaming));

        // The ", " separator of the generic suite is accepted as well as ",".
        let spaced = s(&ex["expected"]["authorization"])
            .replace(",SignedHeaders", ", SignedHeaders")
            .replace(",Signature", ", Signature");
        req.headers.last_mut().unwrap().1 = spaced;
        verify_example(&ex, &req).unwrap();
    }
}

#[test]
fn presigned_example_signs_and_verifies_within_its_window() {
    let ex = load("presigned-get-object.json");
    let url = s(&ex["request"]["url"]);
    let target = url.strip_prefix("https://examplebucket.s3.amazonaws.com").unwrap();
    let req = Req::new("GET", target, &[("Host", "examplebucket.s3.amazonaws.com")]);

    let unsigned = Req::new("GET", "/test.txt", &[("Host", "examplebucket.s3.amazonaws.com")]);
    let query = unsigned.with(|p| presign(p, Duration::from_hours(24), &params(&ex)));
    assert_eq!(Some(query.as_str()), req.query.as_deref());

    let creds = creds(s(&ex["access_key_id"]), s(&ex["secret_access_key"]));
    let cfg = VerifyConfig::s3("us-east-1");
    let at = |t: &str| req.with(|p| verify(p, time(t), &cfg, &creds));
    let v = at("20130524T000000Z").unwrap();
    assert!(v.presigned);
    assert_eq!(v.payload, PayloadMode::Unsigned);
    assert_eq!(v.seed_signature, s(&ex["expected"]["signature"]));
    // Not subject to the 15-minute rule: valid all day long.
    at("20130524T235959Z").unwrap();
    assert_eq!(at("20130525T000000Z").unwrap_err(), VerifyError::RequestExpired);
    // Slightly early is tolerated (clock skew), much earlier is not yet valid.
    at("20130523T235000Z").unwrap();
    assert_eq!(at("20130523T234000Z").unwrap_err(), VerifyError::RequestNotYetValid);
}

#[test]
fn post_policy_example() {
    let ex = load("post-object-policy.json");
    let sig = sign_post_policy(
        s(&ex["policy_base64"]),
        s(&ex["secret_access_key"]),
        s(&ex["date"]),
        s(&ex["region"]),
        s(&ex["service"]),
    );
    assert_eq!(sig, s(&ex["expected"]["signature"]));
}

/// Builds the aws-chunked body of a chunked example (65536 + 1024 bytes of `a`).
fn chunked_body(signer: &mut ChunkedSigner, trailers: &[(&str, &str)]) -> Vec<u8> {
    let mut body = signer.chunk(&vec![b'a'; 65536]);
    body.extend(signer.chunk(&vec![b'a'; 1024]));
    body.extend(signer.finish(trailers));
    body
}

fn check_chunked(name: &str, trailers: &[(&str, &str)]) {
    let ex = load(name);
    let req = request_of(&ex);
    let streaming = s(&ex["request"]["headers"][3][1]);
    let (expected_sig, signed) = match ex["expected"]["seed_signature"].as_str() {
        Some(seed) => (seed, true),
        None => (s(&ex["expected"]["signature"]), false),
    };
    assert_eq!(sign_signature(&ex, &req, streaming), expected_sig, "{name}");

    let mut signer = if signed {
        ChunkedSigner::new(expected_sig, SigningContext::from_params(&params(&ex)))
    } else {
        ChunkedSigner::unsigned()
    };
    let body = chunked_body(&mut signer, trailers);
    assert_eq!(body.len() as u64, ex["request"]["wire_body_length"].as_u64().unwrap(), "{name}");
    assert_eq!(sha256_hex(&body), s(&ex["request"]["wire_body_sha256"]), "{name}");

    let mut with_auth = req.clone();
    with_auth.push_header("Authorization", s(&ex["expected"]["authorization"]));
    let v = verify_example(&ex, &with_auth).unwrap();
    assert!(v.payload.is_streaming());
    let expected_trailers: Vec<(String, String)> =
        trailers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    for sizes in [&[usize::MAX][..], &[1], &[7, 8191, 3], &[65_600]] {
        let (payload, got_trailers) =
            decode_in_pieces(v.chunked_decoder(66560).unwrap(), &body, sizes).unwrap();
        assert_eq!(payload, vec![b'a'; 66560], "{name}");
        assert_eq!(got_trailers, expected_trailers, "{name}");
    }
    // Zero-copy: one input buffer yields slices of it.
    let mut dec = v.chunked_decoder(66560).unwrap();
    let mut input = Bytes::from(body.clone());
    let first = dec.decode(&mut input).unwrap().unwrap();
    assert_eq!(first.len(), 65536);
    assert_eq!(first.as_ptr(), body_ptr_offset(&body, &first));
}

/// Where in a fresh copy of `body` the payload slice would start: the slice must point
/// into the input buffer, not into a copy. Compares via content offset.
fn body_ptr_offset(body: &[u8], piece: &Bytes) -> *const u8 {
    let header_len = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(&body[header_len..header_len + piece.len()], &piece[..]);
    piece.as_ptr()
}

#[test]
fn chunked_signed_example() {
    check_chunked("chunked-put-object-signed.json", &[]);
    let ex = load("chunked-put-object-signed.json");
    let lines: Vec<&str> =
        ex["request"]["wire_chunk_header_lines"].as_array().unwrap().iter().map(s).collect();
    let mut signer = ChunkedSigner::new(
        s(&ex["expected"]["seed_signature"]),
        SigningContext::from_params(&params(&ex)),
    );
    let body = chunked_body(&mut signer, &[]);
    let text = String::from_utf8_lossy(&body);
    for l in lines {
        assert!(text.contains(&format!("{l}\r\n")), "{l}");
    }
}

#[test]
fn chunked_signed_trailer_example() {
    check_chunked(
        "chunked-put-object-signed-trailer.json",
        &[("x-amz-checksum-crc32c", "sOO8/Q==")],
    );
}

#[test]
fn chunked_unsigned_trailer_example() {
    check_chunked(
        "chunked-put-object-unsigned-trailer.json",
        &[("x-amz-checksum-crc32c", "sOO8/Q==")],
    );
}
