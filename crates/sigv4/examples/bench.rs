//! Micro-benchmark of `s3gate-sigv4`: verification cost per request, aws-chunked
//! decode + signature-chain throughput on 64 KiB chunks, and plain SHA-256 throughput
//! in the same run (the decoder's floor: every payload byte is hashed once).
//!
//! Run: `cargo run --release -p s3gate-sigv4 --example bench` (add `-- --quick` for a
//! short smoke run).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use s3gate_sigv4::{
    ChunkedSigner, RequestParts, SigningContext, SigningParams, Verifier, VerifyConfig,
    sign_headers, verify,
};
use sha2::{Digest, Sha256};

const AKID: &str = "AKIDBENCH";
const SECRET: &str = "bench/secret+key";
const CHUNK: usize = 64 * 1024;

fn params(service_time: u64) -> SigningParams<'static> {
    SigningParams {
        access_key_id: AKID,
        secret_key: SECRET,
        region: "us-east-1",
        service: "s3",
        time: UNIX_EPOCH + Duration::from_secs(service_time),
    }
}

fn mbps(bytes: usize, elapsed: Duration) -> f64 {
    // Benchmark sizes are far below 2^52: the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / elapsed.as_secs_f64() / 1e6
}

#[allow(clippy::too_many_lines)] // One linear script reads best for a benchmark.
fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (requests, payload_mib): (u32, usize) = if quick { (2_000, 4) } else { (200_000, 256) };
    let t = 1_700_000_000;
    let now = UNIX_EPOCH + Duration::from_secs(t);
    let creds = HashMap::from([(AKID.to_owned(), SECRET.to_owned())]);
    let cfg = VerifyConfig::s3("us-east-1");

    // A typical boto3 PutObject header set.
    let base: Vec<(String, String)> = [
        ("host", "s3.example.test:9000"),
        ("content-type", "application/octet-stream"),
        ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ("x-amz-meta-owner", "bench"),
        ("user-agent", "Boto3/1.43.11 md/Botocore#1.43.11"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    let mut headers = base.clone();
    {
        let refs: Vec<(&str, &str)> = base.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let req = RequestParts {
            method: "PUT",
            raw_path: "/bucket/some/key%20with%20spaces.txt",
            raw_query: Some("x-id=PutObject"),
            headers: &refs,
        };
        headers.extend(sign_headers(&req, "UNSIGNED-PAYLOAD", &params(t)));
    }
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let req = RequestParts {
        method: "PUT",
        raw_path: "/bucket/some/key%20with%20spaces.txt",
        raw_query: Some("x-id=PutObject"),
        headers: &refs,
    };

    let verifier = Verifier::new(cfg.clone());
    verifier.verify(&req, now, &creds).expect("bench request verifies");
    let start = Instant::now();
    for _ in 0..requests {
        black_box(verifier.verify(black_box(&req), now, &creds).expect("verifies"));
    }
    let cached = start.elapsed();
    let start = Instant::now();
    for _ in 0..requests {
        black_box(verify(black_box(&req), now, &cfg, &creds).expect("verifies"));
    }
    let uncached = start.elapsed();
    let per = |d: Duration| d.as_nanos() / u128::from(requests);
    println!("verify (header auth, cached signing key):   {:>8} ns/request", per(cached));
    println!("verify (header auth, key derived each time): {:>8} ns/request", per(uncached));

    // aws-chunked signed body of 64 KiB chunks.
    let payload: Vec<u8> =
        (0..payload_mib * 1024 * 1024).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect();
    let stream_headers = [
        ("host", "s3.example.test"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("x-amz-decoded-content-length", "0"),
    ];
    let mut signed_headers: Vec<(String, String)> =
        stream_headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let len = payload.len().to_string();
    signed_headers[2].1.clone_from(&len);
    let refs: Vec<(&str, &str)> =
        signed_headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let sreq =
        RequestParts { method: "PUT", raw_path: "/bucket/big", raw_query: None, headers: &refs };
    let added = sign_headers(&sreq, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", &params(t));
    signed_headers.extend(added);
    let refs: Vec<(&str, &str)> =
        signed_headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let sreq =
        RequestParts { method: "PUT", raw_path: "/bucket/big", raw_query: None, headers: &refs };
    let streaming = verify(&sreq, now, &cfg, &creds).expect("streaming request verifies");
    let mut signer =
        ChunkedSigner::new(&streaming.seed_signature, SigningContext::from_params(&params(t)));
    let mut body = Vec::with_capacity(payload.len() + payload.len() / 600);
    for c in payload.chunks(CHUNK) {
        body.extend(signer.chunk(c));
    }
    body.extend(signer.finish(&[]));
    let body = Bytes::from(body);

    let start = Instant::now();
    let mut dec = streaming.chunked_decoder(payload.len() as u64).expect("streaming");
    let mut decoded = 0usize;
    // Feed it as a socket would: 64 KiB reads, not aligned with the chunks.
    let mut offset = 0;
    while offset < body.len() {
        let end = (offset + CHUNK).min(body.len());
        let mut input = body.slice(offset..end);
        offset = end;
        while let Some(piece) = dec.decode(&mut input).expect("decodes") {
            decoded += piece.len();
        }
    }
    dec.finish().expect("complete");
    let chunked = start.elapsed();
    assert_eq!(decoded, payload.len());

    let start = Instant::now();
    let mut h = Sha256::new();
    for c in payload.chunks(CHUNK) {
        h.update(c);
    }
    black_box(h.finalize());
    let sha = start.elapsed();

    let (c, s) = (mbps(payload.len(), chunked), mbps(payload.len(), sha));
    println!("aws-chunked decode + chunk signatures (64 KiB chunks): {c:>8.0} MB/s");
    println!("plain SHA-256 (sha2) over the same payload:            {s:>8.0} MB/s");
    println!("ratio decode / sha256:                                  {:>8.2}", c / s);
}
