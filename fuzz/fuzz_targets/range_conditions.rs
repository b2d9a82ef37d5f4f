//! `Range` and the conditional headers. Input: header values separated by `\n`: Range,
//! If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, then an object size.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use s3gate_protocol::{ETag, Preconditions, parse_http_date, parse_range};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let f: Vec<&str> = text.splitn(6, '\n').collect();
    let get = |i: usize| f.get(i).copied();
    let size_from_input = get(5).and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(7);
    if let Some(spec) = get(0).and_then(parse_range) {
        for size in [0, 1, 2, 100, size_from_input, u64::MAX] {
            match spec.resolve(size) {
                Ok(r) => {
                    assert!(r.start <= r.end && r.end < size, "{spec:?} on {size}: {r:?}");
                    assert!(r.len() <= size);
                    let _ = r.content_range(size);
                }
                Err(e) => assert_eq!(e.status(), 416),
            }
        }
    }
    let names = ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"];
    let lookup = |name: &str| names.iter().position(|n| *n == name).and_then(|i| get(i + 1));
    let p = Preconditions::from_headers(lookup);
    let etag = ETag::parse_quoted_or_not("\"0123456789abcdef0123456789abcdef\"");
    for secs in [0, 1_700_000_000, u64::from(u32::MAX)] {
        let _ = p.evaluate(&etag, UNIX_EPOCH + Duration::from_secs(secs));
    }
    let _ = p.check_write(Some(&etag));
    let _ = p.check_write(None);
    for v in f.iter().skip(1) {
        let _ = parse_http_date(v);
        let _ = etag.matches_list(v);
    }
});
