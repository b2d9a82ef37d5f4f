//! Integration tests of `s3gate-sigv4` against AWS's vectors, S3's worked examples,
//! byte-exact captures of real clients and the official `aws-sigv4` signer.
// Test code: long table-like functions and short names read better here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::too_many_lines,
    clippy::similar_names,
    clippy::many_single_char_names,
    clippy::needless_pass_by_value,
    clippy::doc_markdown
)]

mod aws_suite;
mod errors;
mod post_policy;
mod props;
mod s3_examples;
mod sigv2;
mod tidy;
mod wire;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use s3gate_sigv4::{ChunkedDecoder, ChunkedError, RequestParts};

/// A request owned as strings, as an HTTP server would parse it.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Req {
    pub(crate) fn new(method: &str, target: &str, headers: &[(&str, &str)]) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        Self {
            method: method.to_owned(),
            path,
            query,
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            body: Vec::new(),
        }
    }

    /// Runs `f` with borrowed [`RequestParts`].
    pub(crate) fn with<R>(&self, f: impl FnOnce(&RequestParts<'_>) -> R) -> R {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let parts = RequestParts {
            method: &self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            headers: &headers,
        };
        f(&parts)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn push_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

/// Parses an HTTP/1.1 request (CRLF or LF line ends, obs-fold continuation lines kept
/// as `\n` + the line, which canonicalisation collapses). The request target may contain
/// raw spaces (the AWS suite writes paths unescaped).
pub(crate) fn parse_http(raw: &[u8]) -> Req {
    let (head_end, body_start) = find_head_end(raw);
    let head = std::str::from_utf8(&raw[..head_end]).expect("utf-8 head");
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().expect("request line");
    let (method, rest) = request_line.split_once(' ').expect("method");
    let target = rest.strip_suffix(" HTTP/1.1").expect("HTTP/1.1");
    let mut req = Req::new(method, target, &[]);
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = req.headers.last_mut().expect("continuation after a header");
            last.1.push('\n');
            last.1.push_str(line);
        } else if !line.is_empty() {
            let (n, v) = line.split_once(':').expect("header colon");
            req.headers.push((n.to_owned(), v.to_owned()));
        }
    }
    req.body = raw.get(body_start..).unwrap_or_default().to_vec();
    req
}

fn find_head_end(raw: &[u8]) -> (usize, usize) {
    if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        return (p, p + 4);
    }
    if let Some(p) = raw.windows(2).position(|w| w == b"\n\n") {
        return (p, p + 2);
    }
    (raw.len(), raw.len())
}

pub(crate) fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub(crate) fn creds(akid: &str, secret: &str) -> HashMap<String, String> {
    HashMap::from([(akid.to_owned(), secret.to_owned())])
}

/// `YYYYMMDDTHHMMSSZ` or `YYYY-MM-DDTHH:MM:SSZ` to a time.
pub(crate) fn time(s: &str) -> SystemTime {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let n = |r: std::ops::Range<usize>| digits[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    // Days from civil (proleptic Gregorian), independent of the crate's own code.
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + n(8..10) * 3600 + n(10..12) * 60 + n(12..14);
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

/// Trailer name/value pairs.
pub(crate) type Trailers = Vec<(String, String)>;

/// Feeds `body` to `dec` in pieces of the given sizes (cycled), collecting the payload.
pub(crate) fn decode_in_pieces(
    mut dec: ChunkedDecoder,
    body: &[u8],
    sizes: &[usize],
) -> Result<(Vec<u8>, Trailers), ChunkedError> {
    let mut out = Vec::with_capacity(body.len());
    let mut pos = 0;
    let mut i = 0;
    while pos < body.len() {
        let n = sizes[i % sizes.len()].max(1).min(body.len() - pos);
        i += 1;
        let mut input = Bytes::copy_from_slice(&body[pos..pos + n]);
        pos += n;
        while let Some(piece) = dec.decode(&mut input)? {
            out.extend_from_slice(&piece);
        }
        assert!(input.is_empty(), "decoder must consume all input when it returns None");
    }
    let trailers = dec.finish()?;
    Ok((out, trailers))
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
