//! Inputs that the fuzz targets in `fuzz/` (see docs/RELIABILITY.md) found to break a
//! property, kept as plain tests so they run on stable with the normal suite.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use s3gate_sigv4::{ChunkedDecoder, ChunkedMode};

/// Feeds `body` to `dec` whole and returns the payload bytes it handed out.
fn feed(dec: &mut ChunkedDecoder, body: &[u8]) -> Vec<u8> {
    let mut input = Bytes::copy_from_slice(body);
    let mut out = Vec::new();
    while let Ok(Some(piece)) = dec.decode(&mut input) {
        out.extend_from_slice(&piece);
    }
    out
}

/// fuzz/chunked, crash-3b50d83d: a chunk header announcing 14 bytes followed by only 7 of
/// them. `decoded_so_far` counted the announced 14 although it is documented (and used) as
/// the payload returned so far.
#[test]
fn decoded_so_far_counts_returned_bytes_not_announced_ones() {
    let mut dec = ChunkedDecoder::new(
        ChunkedMode::UnsignedTrailer,
        Some(6656),
        vec!["x-amz-checksum-crc32".to_owned()],
    )
    .with_min_chunk_size(0);
    let out = feed(&mut dec, b"e\r\nllo\x01\x00\x00\n");
    assert_eq!(out, b"llo\x01\x00\x00\n");
    assert_eq!(dec.decoded_so_far(), 7);
    assert!(dec.finish().is_err(), "an incomplete body must not finish");
}

/// The early decoded-length check still refuses a chunk that overruns the declared length
/// before any of its data is returned.
#[test]
fn chunk_overrunning_the_declared_length_is_refused_at_its_header() {
    let mut dec = ChunkedDecoder::new(
        ChunkedMode::UnsignedTrailer,
        Some(4),
        vec!["x-amz-checksum-crc32".to_owned()],
    )
    .with_min_chunk_size(0);
    let mut input = Bytes::from_static(b"5\r\nhello\r\n");
    assert!(dec.decode(&mut input).is_err());
    assert_eq!(dec.decoded_so_far(), 0);
}
