//! The aws-chunked decoder, fed in pieces of fuzzer-chosen size.
//!
//! First byte: bit 0 signed/unsigned, bit 1 trailer, bit 2 declared decoded length, bit 3
//! structured mode; second byte: the feeding piece size. Raw mode decodes the rest as a body.
//! Structured mode encodes the rest with `ChunkedSigner` (chunk sizes from the third byte),
//! optionally flips one byte (fourth byte), and requires the decoder to return exactly the
//! data when nothing was flipped, and never to return more bytes than were framed.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use s3gate_sigv4::{ChunkedDecoder, ChunkedMode, ChunkedSigner, SigningContext, SigningParams};

fn context() -> SigningContext {
    SigningContext::from_params(&SigningParams {
        access_key_id: "AKIDFUZZ",
        secret_key: "fuzz/secret+key",
        region: "us-east-1",
        service: "s3",
        time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    })
}

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

/// Feeds `body` in `piece`-byte pieces; returns the decoded bytes and the result of `finish`.
fn decode(
    mut dec: ChunkedDecoder,
    body: &[u8],
    piece: usize,
) -> (Vec<u8>, Result<Vec<(String, String)>, s3gate_sigv4::ChunkedError>) {
    let mut out = Vec::new();
    for part in body.chunks(piece.max(1)) {
        let mut input = Bytes::copy_from_slice(part);
        loop {
            match dec.decode(&mut input) {
                Ok(Some(bytes)) => out.extend_from_slice(&bytes),
                Ok(None) => break,
                Err(e) => return (out, Err(e)),
            }
        }
        assert!(input.is_empty(), "decode returned None with input left");
    }
    assert_eq!(dec.decoded_so_far(), out.len() as u64);
    let res = dec.finish();
    (out, res)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (flags, piece, sizes, flip) = (data[0], usize::from(data[1]) + 1, data[2], data[3]);
    let body = &data[4..];
    let signed = flags & 1 == 1;
    let trailer = flags & 2 == 2;
    let with_len = flags & 4 == 4;
    let structured = flags & 8 == 8;
    let mode = if signed {
        ChunkedMode::Signed { signing: context(), seed_signature: SEED.to_owned(), trailer }
    } else {
        ChunkedMode::UnsignedTrailer
    };
    let trailers_declared =
        if trailer || !signed { vec!["x-amz-checksum-crc32".to_owned()] } else { Vec::new() };
    if !structured {
        let declared = with_len.then_some(u64::from(sizes) * 64);
        let dec = ChunkedDecoder::new(mode, declared, trailers_declared).with_min_chunk_size(0);
        let (out, res) = decode(dec, body, piece);
        assert!(out.len() <= body.len(), "more payload than input");
        if let (Ok(_), Some(n)) = (&res, declared) {
            assert_eq!(out.len() as u64, n, "finish accepted a wrong decoded length");
        }
        return;
    }
    let mut signer =
        if signed { ChunkedSigner::new(SEED, context()) } else { ChunkedSigner::unsigned() };
    let chunk = usize::from(sizes) + 1;
    let mut framed = Vec::new();
    for c in body.chunks(chunk) {
        framed.extend_from_slice(&signer.chunk(c));
    }
    let has_trailer = trailer || !signed;
    let trailers: Vec<(&str, &str)> =
        if has_trailer { vec![("x-amz-checksum-crc32", "AAAAAA==")] } else { Vec::new() };
    framed.extend_from_slice(&signer.finish(&trailers));
    let flipped = flip != 0;
    if flipped {
        let at = usize::from(flip) * 7 % framed.len();
        framed[at] ^= 0x20;
    }
    let declared = with_len.then_some(body.len() as u64);
    let dec = ChunkedDecoder::new(mode, declared, trailers_declared).with_min_chunk_size(0);
    let (out, res) = decode(dec, &framed, piece);
    if !flipped {
        match res {
            Ok(got) => {
                assert_eq!(out, body, "decoded payload differs from what was framed");
                if has_trailer {
                    assert_eq!(got.len(), 1, "trailers: {got:?}");
                }
            }
            Err(e) => panic!("a well-formed body was refused: {e:?}"),
        }
    } else if res.is_ok() && signed {
        // A flipped byte in a signed body may only pass where the framing tolerates it
        // (hex-digit case in a chunk size); the payload must then still be intact.
        assert_eq!(out, body, "a corrupted signed body decoded to other bytes");
    }
});
