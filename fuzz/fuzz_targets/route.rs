//! Request routing: method, raw path, raw query and Host as a client sends them, plus the
//! two header parsers that also name buckets and keys (`x-amz-copy-source`, `x-amz-tagging`).
//! Input: fields separated by `\n`: method, path, query (absent if the line is `-`), host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3gate_protocol::{RequestTarget, RouteConfig, parse_copy_source, parse_tagging_header, route};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut fields = text.splitn(5, '\n');
    let method = fields.next().unwrap_or("GET");
    let raw_path = fields.next().unwrap_or("/");
    let raw_query = fields.next().filter(|q| *q != "-");
    let host = fields.next();
    let rest = fields.next().unwrap_or("");
    let cfg = RouteConfig { domains: vec!["s3.fuzz.test".to_owned()] };
    for has_copy_source in [false, true] {
        let req = RequestTarget { method, raw_path, raw_query, host, has_copy_source };
        match route(&req, &cfg) {
            Ok(op) => {
                assert!(!op.name().is_empty());
                if let Some(b) = op.bucket() {
                    let n = b.as_str().len();
                    assert!((3..=63).contains(&n), "bucket name of {n} bytes accepted");
                }
                if let Some(k) = op.key() {
                    let n = k.as_str().len();
                    assert!((1..=1024).contains(&n), "key of {n} bytes accepted");
                }
            }
            Err(e) => {
                let status = e.status();
                assert!((400..=599).contains(&status), "error status {status}");
                let _ = e.to_xml(raw_path, "fuzz");
            }
        }
    }
    if let Ok(src) = parse_copy_source(rest) {
        assert!((1..=1024).contains(&src.key.as_str().len()));
    }
    if let Ok(tags) = parse_tagging_header(rest) {
        assert!(tags.len() <= 10, "{} tags accepted", tags.len());
    }
});
