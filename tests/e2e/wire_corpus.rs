//! The wire-level corpus: PutObject requests built byte by byte for every payload mode of
//! `x-amz-content-sha256` and every checksum case, including the edge cases that broke other
//! gateways (chunk framing split at every byte, a missing final chunk, missing or undeclared
//! trailers, decoded-length mismatches, small chunks, conflicting or unknown checksums, wrong
//! checksums and Content-MD5). Each row states the exact status and S3 error code; every
//! refused request is followed by a check that nothing was stored (HEAD → 404, or the old
//! version unchanged). docs/s3-compat.md lists the table.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::types::ChecksumMode;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use s3gate_sigv4::{ChunkedSigner, RequestParts, SigningContext, SigningParams, sign_headers};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use crate::harness::{
    Flavour, Gateway, RawResponse, create_bucket, expect_err, get, put, raw_request, read_response,
    sha256_hex,
};

const BUCKET: &str = "corpus";

/// The payload modes of `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// Hex SHA-256 of the body.
    SignedHex,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`.
    Streaming,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
    StreamingTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    UnsignedTrailer,
}

impl Mode {
    const ALL: [Mode; 5] = [
        Mode::Unsigned,
        Mode::SignedHex,
        Mode::Streaming,
        Mode::StreamingTrailer,
        Mode::UnsignedTrailer,
    ];

    fn header(self, body: &[u8]) -> String {
        match self {
            Mode::Unsigned => "UNSIGNED-PAYLOAD".to_owned(),
            Mode::SignedHex => sha256_hex(body),
            Mode::Streaming => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned(),
            Mode::StreamingTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER".to_owned(),
            Mode::UnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_owned(),
        }
    }

    fn chunked(self) -> bool {
        matches!(self, Mode::Streaming | Mode::StreamingTrailer | Mode::UnsignedTrailer)
    }

    fn signed_chunks(self) -> bool {
        matches!(self, Mode::Streaming | Mode::StreamingTrailer)
    }

    fn trailers(self) -> bool {
        matches!(self, Mode::StreamingTrailer | Mode::UnsignedTrailer)
    }
}

/// The checksum algorithms S3 had before 2025's additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Crc32,
    Crc32c,
    Crc64nvme,
    Sha1,
    Sha256,
    Sha512,
    Md5,
    XxHash64,
    XxHash3,
    XxHash128,
}

impl Alg {
    const ALL: [Alg; 10] = [
        Alg::Crc32,
        Alg::Crc32c,
        Alg::Crc64nvme,
        Alg::Sha1,
        Alg::Sha256,
        Alg::Sha512,
        Alg::Md5,
        Alg::XxHash64,
        Alg::XxHash3,
        Alg::XxHash128,
    ];

    fn name(self) -> &'static str {
        match self {
            Alg::Crc32 => "x-amz-checksum-crc32",
            Alg::Crc32c => "x-amz-checksum-crc32c",
            Alg::Crc64nvme => "x-amz-checksum-crc64nvme",
            Alg::Sha1 => "x-amz-checksum-sha1",
            Alg::Sha256 => "x-amz-checksum-sha256",
            Alg::Sha512 => "x-amz-checksum-sha512",
            Alg::Md5 => "x-amz-checksum-md5",
            Alg::XxHash64 => "x-amz-checksum-xxhash64",
            Alg::XxHash3 => "x-amz-checksum-xxhash3",
            Alg::XxHash128 => "x-amz-checksum-xxhash128",
        }
    }

    fn sdk_name(self) -> &'static str {
        match self {
            Alg::Crc32 => "CRC32",
            Alg::Crc32c => "CRC32C",
            Alg::Crc64nvme => "CRC64NVME",
            Alg::Sha1 => "SHA1",
            Alg::Sha256 => "SHA256",
            Alg::Sha512 => "SHA512",
            Alg::Md5 => "MD5",
            Alg::XxHash64 => "XXHASH64",
            Alg::XxHash3 => "XXHASH3",
            Alg::XxHash128 => "XXHASH128",
        }
    }

    /// Base64 of the big-endian digest of `data`.
    fn of(self, data: &[u8]) -> String {
        let raw: Vec<u8> = match self {
            Alg::Crc32 => crc(crc_fast::CrcAlgorithm::Crc32IsoHdlc, data, 4),
            Alg::Crc32c => crc(crc_fast::CrcAlgorithm::Crc32Iscsi, data, 4),
            Alg::Crc64nvme => crc(crc_fast::CrcAlgorithm::Crc64Nvme, data, 8),
            Alg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Alg::Sha256 => Sha256::digest(data).to_vec(),
            Alg::Sha512 => sha2::Sha512::digest(data).to_vec(),
            Alg::Md5 => md5::Md5::digest(data).to_vec(),
            Alg::XxHash64 => xxhash_rust::xxh64::xxh64(data, 0).to_be_bytes().to_vec(),
            Alg::XxHash3 => xxhash_rust::xxh3::xxh3_64(data).to_be_bytes().to_vec(),
            Alg::XxHash128 => xxhash_rust::xxh3::xxh3_128(data).to_be_bytes().to_vec(),
        };
        b64(&raw)
    }

    /// A well-formed value that is not the checksum of `data`.
    fn wrong(self, data: &[u8]) -> String {
        let mut other = data.to_vec();
        other.push(b'!');
        self.of(&other)
    }
}

fn crc(alg: crc_fast::CrcAlgorithm, data: &[u8], width: usize) -> Vec<u8> {
    let v = crc_fast::checksum(alg, data);
    v.to_be_bytes()[8 - width..].to_vec()
}

fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// One row of the corpus: how to build the request and what must come back.
#[allow(clippy::struct_excessive_bools, reason = "independent knobs of a table row")]
#[derive(Debug, Clone)]
struct Case {
    name: String,
    mode: Mode,
    body_len: usize,
    /// aws-chunked chunk sizes (the last one takes the rest); empty: one chunk of 64 KiB steps.
    chunks: Vec<usize>,
    /// Extra request headers (checksums, Content-MD5, x-amz-trailer, ...), all signed.
    headers: Vec<(String, String)>,
    /// Trailer lines sent after the final chunk.
    trailers: Vec<(String, String)>,
    /// Overrides `x-amz-decoded-content-length` (by default the body length).
    decoded_len: Option<String>,
    /// Leaves the final zero-length chunk (and trailers) out.
    omit_final: bool,
    /// Flips one byte of the body after signing (hex mode: the body no longer hashes right).
    corrupt_body: bool,
    /// Flips one hex digit of the first chunk signature.
    corrupt_chunk_sig: bool,
    /// Flips one hex digit of the trailer signature.
    corrupt_trailer_sig: bool,
    /// Writes every framing byte in its own TCP segment (and the data in 1000-byte pieces).
    split_everywhere: bool,
    /// `None`: 200 and the object stored; `Some((status, code))`: that S3 error.
    expect: Option<(u16, &'static str)>,
    /// After success: the checksum HEAD must report.
    stored_checksum: Option<(Alg, String)>,
    /// Raw query of the request (UploadPart's `partNumber=N&uploadId=ID`).
    query: Option<String>,
}

impl Case {
    fn ok(name: impl Into<String>, mode: Mode) -> Case {
        Case {
            name: name.into(),
            mode,
            body_len: 20_000,
            chunks: Vec::new(),
            headers: Vec::new(),
            trailers: Vec::new(),
            decoded_len: None,
            omit_final: false,
            corrupt_body: false,
            corrupt_chunk_sig: false,
            corrupt_trailer_sig: false,
            split_everywhere: false,
            expect: None,
            stored_checksum: None,
            query: None,
        }
    }

    fn err(name: impl Into<String>, mode: Mode, status: u16, code: &'static str) -> Case {
        Case { expect: Some((status, code)), ..Case::ok(name, mode) }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Case {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn trailer(mut self, name: &str, value: impl Into<String>) -> Case {
        self.trailers.push((name.to_owned(), value.into()));
        self
    }
}

/// The body of a case: deterministic per name, so a failure reproduces.
fn body_of(case: &Case) -> Vec<u8> {
    let mut seed = case
        .name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (0..case.body_len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// A built request: head bytes, body bytes, and the body ranges that are framing (for
/// [`Case::split_everywhere`]).
struct Built {
    head: Vec<u8>,
    body: Vec<u8>,
    framing: Vec<(usize, usize)>,
}

fn build(case: &Case, gw: &Gateway, key: &str, data: &[u8]) -> Built {
    let host = format!("127.0.0.1:{}", gw.port);
    let payload = case.mode.header(data);
    let decoded = case.decoded_len.clone().unwrap_or_else(|| data.len().to_string());
    let mut headers: Vec<(String, String)> =
        vec![("host".into(), host), ("x-amz-content-sha256".into(), payload.clone())];
    if case.mode.chunked() {
        headers.push(("content-encoding".into(), "aws-chunked".into()));
        headers.push(("x-amz-decoded-content-length".into(), decoded));
    }
    headers.extend(case.headers.iter().cloned());
    let path = format!("/{BUCKET}/{key}");
    let signing = SigningParams {
        access_key_id: &gw.access_key,
        secret_key: &gw.secret_key,
        region: crate::harness::REGION,
        service: "s3",
        time: SystemTime::now(),
    };
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let req = RequestParts {
        method: "PUT",
        raw_path: &path,
        raw_query: case.query.as_deref(),
        headers: &refs,
    };
    let added = sign_headers(&req, &payload, &signing);
    let seed = added
        .iter()
        .find(|(n, _)| n == "authorization")
        .and_then(|(_, v)| v.rsplit("Signature=").next())
        .expect("authorization")
        .to_owned();

    let mut body = Vec::new();
    let mut framing = Vec::new();
    if case.mode.chunked() {
        let mut signer = if case.mode.signed_chunks() {
            ChunkedSigner::new(&seed, SigningContext::from_params(&signing))
        } else {
            ChunkedSigner::unsigned()
        };
        let mut rest = data;
        let mut sizes = case.chunks.iter();
        let mut first = true;
        while !rest.is_empty() {
            let n = sizes.next().copied().unwrap_or(65_536).min(rest.len());
            let (piece, tail) = rest.split_at(n);
            rest = tail;
            let mut framed = signer.chunk(piece);
            if first && case.corrupt_chunk_sig {
                flip_after(&mut framed, b"chunk-signature=");
            }
            first = false;
            let head_len = framed.len() - piece.len() - 2;
            framing.push((body.len(), body.len() + head_len));
            framing.push((body.len() + framed.len() - 2, body.len() + framed.len()));
            body.extend_from_slice(&framed);
        }
        if !case.omit_final {
            let trailers: Vec<(&str, &str)> =
                case.trailers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut fin = signer.finish(&trailers);
            if case.corrupt_trailer_sig {
                flip_after(&mut fin, b"x-amz-trailer-signature:");
            }
            framing.push((body.len(), body.len() + fin.len()));
            body.extend_from_slice(&fin);
        }
    } else {
        body.extend_from_slice(data);
    }
    if case.corrupt_body {
        let at = body.len() / 2;
        body[at] ^= 0x20;
    }

    let target = match &case.query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let mut head = format!("PUT {target} HTTP/1.1\r\n").into_bytes();
    for (n, v) in headers.iter().chain(added.iter()) {
        head.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    head.extend_from_slice(
        format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes(),
    );
    Built { head, body, framing }
}

/// Flips the first hex digit after `marker`.
fn flip_after(buf: &mut [u8], marker: &[u8]) {
    let at = buf.windows(marker.len()).position(|w| w == marker).expect("marker") + marker.len();
    buf[at] = if buf[at] == b'0' { b'1' } else { b'0' };
}

/// Sends with every framing byte in its own write (a pause lets each reach the server alone).
async fn send_split(port: u16, built: &Built) -> RawResponse {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(&built.head).await.expect("write head");
    let mut cuts: Vec<usize> = Vec::new();
    for &(a, b) in &built.framing {
        cuts.extend(a..=b);
    }
    let mut pos = 0;
    while pos < built.body.len() {
        let next = cuts.iter().copied().find(|&c| c > pos).unwrap_or(built.body.len());
        let end = next.min(pos + 1000);
        s.write_all(&built.body[pos..end]).await.expect("write body piece");
        s.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_micros(300)).await;
        pos = end;
    }
    read_response(&mut s, false).await
}

/// Runs `cases` against one gateway. Odd rows first store an old version under their key, so
/// "nothing stored" is checked both as HEAD → 404 and as the old version unchanged.
async fn run(cases: Vec<Case>) {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, BUCKET).await;
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let key = format!("case-{i:03}");
        let old = (i % 2 == 1).then(|| format!("old version of {}", case.name).into_bytes());
        if let Some(old) = &old {
            put(&c, BUCKET, &key, old).await;
        }
        let data = body_of(case);
        let built = build(case, &gw, &key, &data);
        let r = if case.split_everywhere {
            send_split(gw.port, &built).await
        } else {
            let mut all = built.head.clone();
            all.extend_from_slice(&built.body);
            raw_request(gw.port, &all).await
        };
        if let Err(e) = check(&c, case, &key, &data, old.as_deref(), &r).await {
            failures.push(format!("[{i}] {}: {e}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

async fn check(
    c: &Client,
    case: &Case,
    key: &str,
    data: &[u8],
    old: Option<&[u8]>,
    r: &RawResponse,
) -> Result<(), String> {
    let got_code = r.error_code();
    match case.expect {
        None => {
            if r.status != 200 {
                return Err(format!("expected 200, got {} {}", r.status, r.text()));
            }
            let want = format!("\"{}\"", hex::encode(Md5::digest(data)));
            if r.header("etag") != Some(want.as_str()) {
                return Err(format!("ETag {:?}, expected {want}", r.header("etag")));
            }
            if get(c, BUCKET, key).await != data {
                return Err("stored bytes differ".into());
            }
            if let Some((alg, value)) = &case.stored_checksum {
                let h = c
                    .head_object()
                    .bucket(BUCKET)
                    .key(key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await
                    .map_err(|e| format!("HEAD: {e:?}"))?;
                let got = match alg {
                    Alg::Crc32 => h.checksum_crc32(),
                    Alg::Crc32c => h.checksum_crc32_c(),
                    Alg::Crc64nvme => h.checksum_crc64_nvme(),
                    Alg::Sha1 => h.checksum_sha1(),
                    Alg::Sha256 => h.checksum_sha256(),
                    Alg::Sha512 => h.checksum_sha512(),
                    Alg::Md5 => h.checksum_md5(),
                    Alg::XxHash64 => h.checksum_xxhash64(),
                    Alg::XxHash3 => h.checksum_xxhash3(),
                    Alg::XxHash128 => h.checksum_xxhash128(),
                };
                if got != Some(value.as_str()) {
                    return Err(format!("stored {} {got:?}, expected {value}", alg.name()));
                }
            }
        }
        Some((status, code)) => {
            if (r.status, got_code.as_deref()) != (status, Some(code)) {
                return Err(format!(
                    "expected {status} {code}, got {} {got_code:?}: {}",
                    r.status,
                    r.text()
                ));
            }
            if r.header("x-amz-request-id").is_none() || !r.text().contains("<RequestId>") {
                return Err(format!("error without a request id: {}", r.text()));
            }
            if let Some(old) = old {
                if get(c, BUCKET, key).await != old {
                    return Err("refused, but the old version changed".into());
                }
            } else if c.head_object().bucket(BUCKET).key(key).send().await.is_ok() {
                return Err("refused, but an object was stored".into());
            }
        }
    }
    Ok(())
}

/// Every payload mode with each checksum algorithm, right and wrong, in a header and (where
/// the mode has trailers) in the trailer; plus Content-MD5 right, wrong and malformed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_payload_modes_and_checksums() {
    let mut cases = Vec::new();
    for mode in Mode::ALL {
        cases.push(Case::ok(format!("{mode:?}: no checksum"), mode));
        let probe = Case::ok(format!("{mode:?}: probe"), mode);
        for alg in Alg::ALL {
            // The value depends on the body, which depends on the name: build the name first.
            let name = format!("{mode:?}: {} header", alg.sdk_name());
            let data = body_of(&Case { name: name.clone(), ..probe.clone() });
            let mut ok = Case::ok(name, mode).header(alg.name(), alg.of(&data));
            ok.stored_checksum = Some((alg, alg.of(&data)));
            cases.push(ok);
            let name = format!("{mode:?}: {} header wrong", alg.sdk_name());
            let data = body_of(&Case { name: name.clone(), ..probe.clone() });
            cases
                .push(Case::err(name, mode, 400, "BadDigest").header(alg.name(), alg.wrong(&data)));
            if mode.trailers() {
                let name = format!("{mode:?}: {} trailer", alg.sdk_name());
                let data = body_of(&Case { name: name.clone(), ..probe.clone() });
                let mut ok = Case::ok(name, mode)
                    .header("x-amz-trailer", alg.name())
                    .header("x-amz-sdk-checksum-algorithm", alg.sdk_name())
                    .trailer(alg.name(), alg.of(&data));
                ok.stored_checksum = Some((alg, alg.of(&data)));
                cases.push(ok);
                let name = format!("{mode:?}: {} trailer wrong", alg.sdk_name());
                let data = body_of(&Case { name: name.clone(), ..probe.clone() });
                cases.push(
                    Case::err(name, mode, 400, "BadDigest")
                        .header("x-amz-trailer", alg.name())
                        .trailer(alg.name(), alg.wrong(&data)),
                );
            }
        }
        let name = format!("{mode:?}: Content-MD5");
        let data = body_of(&Case { name: name.clone(), ..probe.clone() });
        cases.push(Case::ok(name, mode).header("content-md5", b64(&Md5::digest(&data))));
        cases.push(
            Case::err(format!("{mode:?}: Content-MD5 wrong"), mode, 400, "BadDigest")
                .header("content-md5", b64(&Md5::digest(b"other"))),
        );
        cases.push(
            Case::err(format!("{mode:?}: Content-MD5 malformed"), mode, 400, "InvalidDigest")
                .header("content-md5", "not-an-md5"),
        );
        cases.push(
            Case::err(format!("{mode:?}: Content-MD5 of 15 bytes"), mode, 400, "InvalidDigest")
                .header("content-md5", b64(&[7u8; 15])),
        );
    }
    run(cases).await;
}

/// Conflicting, unknown and malformed checksum declarations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_checksum_declarations() {
    let d = |name: &str, mode: Mode| body_of(&Case::ok(name, mode));
    let mut cases = Vec::new();
    for mode in Mode::ALL {
        let n = format!("{mode:?}: two checksum headers");
        let data = d(&n, mode);
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest")
                .header(Alg::Crc32.name(), Alg::Crc32.of(&data))
                .header(Alg::Sha256.name(), Alg::Sha256.of(&data)),
        );
        let n = format!("{mode:?}: unknown x-amz-sdk-checksum-algorithm");
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest")
                .header("x-amz-sdk-checksum-algorithm", "CRC99"),
        );
        let n = format!("{mode:?}: x-amz-sdk-checksum-algorithm differs from the header");
        let data = d(&n, mode);
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest")
                .header("x-amz-sdk-checksum-algorithm", "SHA256")
                .header(Alg::Crc32.name(), Alg::Crc32.of(&data)),
        );
        let n = format!("{mode:?}: checksum header not base64");
        cases.push(Case::err(n, mode, 400, "InvalidRequest").header(Alg::Crc32.name(), "%%%%"));
        let n = format!("{mode:?}: checksum header of the wrong length");
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest").header(Alg::Crc32.name(), b64(&[1u8; 8])),
        );
        let n = format!("{mode:?}: x-amz-sdk-checksum-algorithm alone (server computes)");
        cases.push(Case::ok(n, mode).header("x-amz-sdk-checksum-algorithm", "CRC32C"));
    }
    for mode in [Mode::StreamingTrailer, Mode::UnsignedTrailer] {
        let n = format!("{mode:?}: checksum header and trailer");
        let data = d(&n, mode);
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest")
                .header(Alg::Crc32.name(), Alg::Crc32.of(&data))
                .header("x-amz-trailer", Alg::Crc32c.name())
                .trailer(Alg::Crc32c.name(), Alg::Crc32c.of(&data)),
        );
        let n = format!("{mode:?}: unknown trailer algorithm declared");
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest")
                .header("x-amz-trailer", "x-amz-checksum-crc99")
                .trailer("x-amz-checksum-crc99", "AAAAAA=="),
        );
        let n = format!("{mode:?}: trailer of another algorithm than declared");
        let data = d(&n, mode);
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest")
                .header("x-amz-trailer", Alg::Crc32.name())
                .trailer(Alg::Crc32c.name(), Alg::Crc32c.of(&data)),
        );
        let n = format!("{mode:?}: trailer sent but not declared");
        let data = d(&n, mode);
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest")
                .trailer(Alg::Crc32.name(), Alg::Crc32.of(&data)),
        );
        let n = format!("{mode:?}: declared trailer missing");
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest").header("x-amz-trailer", Alg::Crc32.name()),
        );
        let n = format!("{mode:?}: trailer mode without any trailer");
        cases.push(Case::ok(n, mode));
        let n = format!("{mode:?}: x-amz-sdk-checksum-algorithm differs from the trailer");
        let data = d(&n, mode);
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest")
                .header("x-amz-sdk-checksum-algorithm", "SHA1")
                .header("x-amz-trailer", Alg::Crc32.name())
                .trailer(Alg::Crc32.name(), Alg::Crc32.of(&data)),
        );
    }
    for mode in [Mode::Unsigned, Mode::SignedHex, Mode::Streaming] {
        let n = format!("{mode:?}: x-amz-trailer on a mode without trailers");
        cases.push(
            Case::err(n, mode, 400, "InvalidRequest").header("x-amz-trailer", Alg::Crc32.name()),
        );
    }
    run(cases).await;
}

/// aws-chunked framing: split at every byte, missing final chunk, decoded length both ways,
/// small chunks, broken signatures; and the signed hex payload hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_framing_edge_cases() {
    let mut cases = Vec::new();
    for mode in [Mode::Streaming, Mode::StreamingTrailer, Mode::UnsignedTrailer] {
        // Three chunks (8 KiB, 8 KiB, rest) whose every framing byte arrives alone.
        let n = format!("{mode:?}: framing split at every byte");
        let mut case = Case::ok(n.clone(), mode);
        case.chunks = vec![8192, 8192];
        if mode.trailers() {
            let data = body_of(&case);
            case = case
                .header("x-amz-trailer", Alg::Crc32c.name())
                .trailer(Alg::Crc32c.name(), Alg::Crc32c.of(&data));
            case.stored_checksum = Some((Alg::Crc32c, Alg::Crc32c.of(&data)));
        }
        case.split_everywhere = true;
        cases.push(case);

        // One-byte body, and an empty body.
        let mut one = Case::ok(format!("{mode:?}: 1-byte body"), mode);
        one.body_len = 1;
        cases.push(one);
        let mut empty = Case::ok(format!("{mode:?}: empty body (only the final chunk)"), mode);
        empty.body_len = 0;
        cases.push(empty);

        let mut c =
            Case::err(format!("{mode:?}: final chunk missing"), mode, 400, "IncompleteBody");
        c.omit_final = true;
        cases.push(c);

        let mut c = Case::err(
            format!("{mode:?}: decoded length 1 more than sent"),
            mode,
            400,
            "IncompleteBody",
        );
        c.decoded_len = Some("20001".into());
        cases.push(c);
        let mut c = Case::err(
            format!("{mode:?}: decoded length 1 less than sent"),
            mode,
            400,
            "InvalidRequest",
        );
        c.decoded_len = Some("19999".into());
        cases.push(c);
        let mut c = Case::err(
            format!("{mode:?}: decoded length not a number"),
            mode,
            400,
            "InvalidArgument",
        );
        c.decoded_len = Some("twenty".into());
        cases.push(c);

        // A 4 KiB chunk that is not the last.
        let n = format!("{mode:?}: 4 KiB chunk before the last");
        let mut c = if mode.signed_chunks() {
            Case::err(n, mode, 403, "InvalidChunkSizeError")
        } else {
            // Documented deviation: unsigned chunks may be small (botocore sends them).
            Case::ok(n, mode)
        };
        c.chunks = vec![4096, 4096];
        cases.push(c);
        // A small last chunk is fine.
        let mut c = Case::ok(format!("{mode:?}: 8 KiB chunks, 1-byte last chunk"), mode);
        c.body_len = 16_385;
        c.chunks = vec![8192, 8192];
        cases.push(c);
    }
    for mode in [Mode::Streaming, Mode::StreamingTrailer] {
        let mut c = Case::err(
            format!("{mode:?}: first chunk signature wrong"),
            mode,
            403,
            "SignatureDoesNotMatch",
        );
        c.corrupt_chunk_sig = true;
        cases.push(c);
    }
    let n = "StreamingTrailer: trailer signature wrong";
    let mut c = Case::err(n, Mode::StreamingTrailer, 403, "SignatureDoesNotMatch");
    let data = body_of(&c);
    c = c
        .header("x-amz-trailer", Alg::Crc32.name())
        .trailer(Alg::Crc32.name(), Alg::Crc32.of(&data));
    c.corrupt_trailer_sig = true;
    cases.push(c);

    let mut c = Case::err(
        "SignedHex: body differs from x-amz-content-sha256",
        Mode::SignedHex,
        400,
        "XAmzContentSHA256Mismatch",
    );
    c.corrupt_body = true;
    cases.push(c);
    let mut c = Case::err(
        "UnsignedTrailer: chunk data altered (trailer catches it)",
        Mode::UnsignedTrailer,
        400,
        "BadDigest",
    );
    let data = body_of(&c);
    c = c
        .header("x-amz-trailer", Alg::Crc32.name())
        .trailer(Alg::Crc32.name(), Alg::Crc32.of(&data));
    c.corrupt_body = true;
    cases.push(c);
    let mut c = Case::err(
        "Streaming: chunk data altered (chunk signature catches it)",
        Mode::Streaming,
        403,
        "SignatureDoesNotMatch",
    );
    c.corrupt_body = true;
    cases.push(c);
    run(cases).await;
}

/// A request without a body where one is needed, checked apart from the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_no_length() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, BUCKET).await;
    let case = Case::ok("no Content-Length", Mode::Unsigned);
    let mut built = build(&case, &gw, "nolen", b"");
    let head = String::from_utf8(built.head.clone()).unwrap().replace("content-length: 0\r\n", "");
    built.head = head.into_bytes();
    let r = raw_request(gw.port, &built.head).await;
    r.assert_error(411, "MissingContentLength", "PUT without Content-Length");
    expect_err(c.head_object().bucket(BUCKET).key("nolen").send().await, 404, "", "not stored");
}

/// UploadPart takes the same bodies: each payload mode with a right and a wrong checksum
/// (header, or trailer where the mode has one). A refused part is not listed by ListParts;
/// the accepted ones complete into the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_upload_part() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, BUCKET).await;
    let up = c.create_multipart_upload().bucket(BUCKET).key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let mut accepted = Vec::new();
    let mut part = 0;
    for mode in Mode::ALL {
        for (right, trailer) in [(true, false), (false, false), (true, true), (false, true)] {
            if trailer && !mode.trailers() {
                continue;
            }
            part += 1;
            let name = format!("UploadPart {part} {mode:?} right={right} trailer={trailer}");
            let mut case =
                if right { Case::ok(name, mode) } else { Case::err(name, mode, 400, "BadDigest") };
            case.query = Some(format!("partNumber={part}&uploadId={id}"));
            let data = body_of(&case);
            let value = if right { Alg::Crc32c.of(&data) } else { Alg::Crc32c.wrong(&data) };
            case = if trailer {
                case.header("x-amz-trailer", Alg::Crc32c.name()).trailer(Alg::Crc32c.name(), value)
            } else {
                case.header(Alg::Crc32c.name(), value)
            };
            let built = build(&case, &gw, "mp", &data);
            let mut all = built.head.clone();
            all.extend_from_slice(&built.body);
            let r = raw_request(gw.port, &all).await;
            if right {
                assert_eq!(r.status, 200, "{}: {}", case.name, r.text());
                let want = format!("\"{}\"", hex::encode(Md5::digest(&data)));
                assert_eq!(r.header("etag"), Some(want.as_str()), "{}", case.name);
                accepted.push((part, want, data));
            } else {
                r.assert_error(400, "BadDigest", &case.name);
            }
        }
    }
    let listed = c.list_parts().bucket(BUCKET).key("mp").upload_id(&id).send().await.unwrap();
    let numbers: Vec<i32> =
        listed.parts().iter().filter_map(aws_sdk_s3::types::Part::part_number).collect();
    let want: Vec<i32> = accepted.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(numbers, want, "only the accepted parts are listed");
    // Parts are 20,000 bytes, below the 5 MiB minimum: completing only the last one is allowed.
    let (n, etag, data) = accepted.last().unwrap().clone();
    let done = aws_sdk_s3::types::CompletedPart::builder().part_number(n).e_tag(etag).build();
    c.complete_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(&id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder().parts(done).build(),
        )
        .send()
        .await
        .unwrap();
    assert!(get(&c, BUCKET, "mp").await == data, "completed from an accepted part");
}
