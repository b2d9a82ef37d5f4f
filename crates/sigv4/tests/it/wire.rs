//! Byte-exact requests of real clients (`tests/data/wire`): every signature verifies at
//! its capture time and every aws-chunked body decodes to the recorded payload.

use std::fs;

use s3gate_sigv4::{ChunkedError, PayloadHasher, PayloadMode, VerifyConfig, verify};
use serde_json::Value;

use crate::{creds, data_dir, decode_in_pieces, parse_http, sha256_hex, time};

/// Removes HTTP/1.1 `Transfer-Encoding: chunked` framing.
fn http_dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let line = std::str::from_utf8(&body[..eol]).unwrap();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[eol + 2..];
        if size == 0 {
            assert!(body.ends_with(b"\r\n"), "HTTP trailer section ends with CRLF");
            return out;
        }
        out.extend_from_slice(&body[..size]);
        assert_eq!(&body[size..size + 2], b"\r\n");
        body = &body[size + 2..];
    }
}

#[test]
fn every_capture_verifies_and_decodes() {
    let dir = data_dir().join("wire");
    let index: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let entries = index["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 34);
    let mut chunked_seen = 0;
    for e in entries {
        let file = e["file"].as_str().unwrap();
        let str_of = |k: &str| e[k].as_str().unwrap();
        let raw = fs::read(dir.join(file)).unwrap();
        assert_eq!(raw.len() as u64, e["file_size"].as_u64().unwrap(), "{file}");
        let req = parse_http(&raw);
        let cfg = VerifyConfig::s3(str_of("region"));
        let creds = creds(str_of("access_key"), str_of("secret"));
        let v = req
            .with(|p| verify(p, time(str_of("signing_time")), &cfg, &creds))
            .unwrap_or_else(|err| panic!("{file}: {err}"));
        assert_eq!(v.seed_signature, str_of("signature"), "{file}");
        assert_eq!(v.presigned, str_of("auth") == "presigned-query", "{file}");
        assert_eq!(v.signed_headers.join(";"), str_of("signed_headers"), "{file}");

        let wire_body = if e["http_chunked_transfer"].as_bool().unwrap() {
            http_dechunk(&req.body)
        } else {
            req.body.clone()
        };
        let expected_len = e["decoded_payload"]["length"].as_u64().unwrap();
        let expected_sha = e["decoded_payload"]["sha256"].as_str().unwrap();
        if e["aws_chunked"].as_bool().unwrap() {
            chunked_seen += 1;
            assert_eq!(v.payload, PayloadMode::StreamingUnsignedTrailer, "{file}");
            let sizes: Vec<u64> = e["aws_chunk_sizes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            let declared =
                e["x_amz_decoded_content_length"].as_str().map(|s| s.parse::<u64>().unwrap());
            let base = || match declared {
                Some(n) => v.chunked_decoder(n).unwrap(),
                None => v.chunked_decoder_unknown_length().unwrap(),
            };
            let small = sizes.iter().rev().skip(2).find(|&&s| s < 8192);
            let min = if let Some(&size) = small {
                // botocore's unseekable-stream chunks are below S3's 8192-byte minimum.
                let err = decode_in_pieces(base(), &wire_body, &[usize::MAX]).unwrap_err();
                assert_eq!(err, ChunkedError::ChunkTooSmall { chunk: 0, size }, "{file}");
                0
            } else {
                s3gate_sigv4::MIN_CHUNK_SIZE
            };
            let decoder = || base().with_min_chunk_size(min);
            let (payload, trailers) = decode_in_pieces(decoder(), &wire_body, &[usize::MAX])
                .unwrap_or_else(|err| panic!("{file}: {err}"));
            assert_eq!(payload.len() as u64, expected_len, "{file}");
            assert_eq!(sha256_hex(&payload), expected_sha, "{file}");
            let expected_trailers: Vec<(String, String)> = e["trailers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            assert_eq!(trailers, expected_trailers, "{file}");
            if wire_body.len() < 200_000 {
                let (one_by_one, _) = decode_in_pieces(decoder(), &wire_body, &[1]).unwrap();
                assert_eq!(one_by_one, payload, "{file}");
            }
        } else {
            assert_eq!(wire_body.len() as u64, expected_len, "{file}");
            assert_eq!(sha256_hex(&wire_body), expected_sha, "{file}");
            match v.payload {
                PayloadMode::Sha256(hash) => {
                    let mut hasher = PayloadHasher::new(hash);
                    hasher.update(&wire_body);
                    hasher.finish().unwrap_or_else(|err| panic!("{file}: {err}"));
                }
                PayloadMode::Unsigned => assert!(v.presigned, "{file}"),
                other => panic!("{file}: {other:?}"),
            }
        }
    }
    assert_eq!(chunked_seen, 9);
}
