//! Hostile requests: a table of malformed, oversized, lying and slow requests sent as raw
//! bytes (signed with `s3gate_sigv4::sign_headers` where the request must get past
//! authentication), each with the status and S3 error code AWS answers, and a check that
//! nothing changed: the S3 view (buckets, objects, uploads, parts) and the data directory's
//! files, and the directory *around* the data directory, are listed before and after.
//!
//! The helpers here ([`Signer`], [`exchange`], [`World`]) are shared with `auth_attacks.rs`
//! and `load.rs`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use s3gate_sigv4::{RequestParts, SigningParams, sign_headers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{
    Flavour, Gateway, REGION, RawResponse, decode_http_chunked, md5_b64, random_keys, sha256_hex,
};

/// How the payload line of a signed request is chosen.
#[derive(Debug, Clone)]
pub enum Payload {
    /// `x-amz-content-sha256` = hex SHA-256 of the body as sent.
    Sha256,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// This literal value.
    Literal(String),
}

/// Signs raw requests for one gateway and one set of credentials.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Gateway port.
    pub port: u16,
    /// Access key id.
    pub ak: String,
    /// Secret key.
    pub sk: String,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// Signing time (`None`: now).
    pub time: Option<SystemTime>,
}

impl Signer {
    /// Root credentials of `gw`, region and service as the gateway expects.
    pub fn root(gw: &Gateway) -> Signer {
        Signer {
            port: gw.port,
            ak: gw.access_key.clone(),
            sk: gw.secret_key.clone(),
            region: REGION.to_owned(),
            service: "s3".to_owned(),
            time: None,
        }
    }

    /// `host` header value.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A request: request line, `host` and the `signed` headers (signed), the `unsigned` headers
    /// (added after signing, byte for byte), a `content-length` of the body unless `unsigned`
    /// sets `content-length` or `transfer-encoding`, `connection: close`, then the body.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        signed: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        body: &[u8],
        payload: &Payload,
    ) -> Vec<u8> {
        self.build(method, target, signed, unsigned, body, payload, true)
    }

    /// [`Signer::request`] without `connection: close` (for keep-alive connections).
    pub fn keep_alive(&self, method: &str, target: &str, body: &[u8]) -> Vec<u8> {
        self.build(method, target, &[], &[], body, &Payload::Sha256, false)
    }

    /// [`Signer::request`] without `connection: close`, with headers and payload mode.
    pub fn keep_alive_with(
        &self,
        method: &str,
        target: &str,
        signed: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        body: &[u8],
        payload: &Payload,
    ) -> Vec<u8> {
        self.build(method, target, signed, unsigned, body, payload, false)
    }

    #[allow(clippy::too_many_arguments, reason = "the parts of a request")]
    fn build(
        &self,
        method: &str,
        target: &str,
        signed: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        body: &[u8],
        payload: &Payload,
        close: bool,
    ) -> Vec<u8> {
        let host = self.host();
        let mut to_sign: Vec<(&str, &str)> = vec![("host", host.as_str())];
        to_sign.extend_from_slice(signed);
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let req = RequestParts { method, raw_path: path, raw_query: query, headers: &to_sign };
        let hash = match payload {
            Payload::Sha256 => sha256_hex(body),
            Payload::Unsigned => "UNSIGNED-PAYLOAD".to_owned(),
            Payload::Literal(s) => s.clone(),
        };
        let params = SigningParams {
            access_key_id: &self.ak,
            secret_key: &self.sk,
            region: &self.region,
            service: &self.service,
            time: self.time.unwrap_or_else(SystemTime::now),
        };
        let added = sign_headers(&req, &hash, &params);
        let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
        for (n, v) in &to_sign {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        for (n, v) in &added {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        for (n, v) in unsigned {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let framed = unsigned.iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
        });
        if !framed {
            out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    }

    /// A signed request with a SHA-256 payload and no extra headers.
    pub fn simple(&self, method: &str, target: &str, body: &[u8]) -> Vec<u8> {
        self.request(method, target, &[], &[], body, &Payload::Sha256)
    }
}

/// Parses a response head and body out of `buf` (everything the server sent).
pub fn parse_response(buf: &[u8], head_request: bool) -> Option<RawResponse> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    if (100..200).contains(&status) {
        return parse_response(&buf[end + 4..], head_request);
    }
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &buf[end + 4..];
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let body = if head_request {
        Vec::new()
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        decode_http_chunked(rest)
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    Some(RawResponse { status, headers, body })
}

/// Writes `request` to a fresh connection (half-closing it when `half_close`), reads until the
/// server closes the connection (or 60 s pass), and parses the first final response. `None`:
/// the server closed the connection without answering.
pub async fn exchange(port: u16, request: &[u8], half_close: bool) -> Option<RawResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    // A server that answers early and closes may reset the rest of a long write: ignore that.
    let _ = s.write_all(request).await;
    if half_close {
        let _ = s.shutdown().await;
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        let mut chunk = vec![0u8; 65536];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer and no close within 60 s");
    parse_response(&buf, request.starts_with(b"HEAD "))
}

/// The bucket every hostile case aims at, and the state that must survive every case.
pub struct World {
    /// The gateway (its data dir is `root/data`).
    pub gw: Gateway,
    /// The directory holding the data dir and the sentinel files next to it.
    pub root: PathBuf,
    _tmp: tempfile::TempDir,
    /// Root SDK client.
    pub c: Client,
}

/// Name of the hostile suite's bucket.
pub const BUCKET: &str = "hostile";

impl World {
    /// A gateway whose data dir sits in a fresh directory next to sentinel files, with
    /// `extra` serve arguments.
    pub fn start(extra: &[&str]) -> World {
        let tmp = tempfile::Builder::new().prefix("s3gate-hostile-").tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        std::fs::write(root.join("sentinel"), b"outside the data dir").unwrap();
        std::fs::create_dir(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"not yours").unwrap();
        let (ak, sk) = random_keys();
        let gw = Gateway::start_on_with(&root.join("data"), &ak, &sk, extra);
        let c = gw.client(Flavour::WhenRequired);
        World { gw, root, _tmp: tmp, c }
    }

    /// Everything a hostile request must not change.
    pub async fn snapshot(&self) -> Snapshot {
        Snapshot {
            s3: s3_state(&self.c).await,
            // Files only: a refused write may leave the blob store's fan-out directories
            // (`blobs/ab/cd/`, at most 65,536) behind, but never a file.
            data_files: walk(&self.gw.dir, &|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !name.starts_with("metadata.sqlite")
            })
            .into_iter()
            .filter(|(name, _)| !name.ends_with('/'))
            .collect(),
            outside: walk(&self.root, &|p| !p.starts_with(&self.gw.dir)),
        }
    }

    /// Waits (up to 10 s, for the deferred clean-up of aborted writes) until the state equals
    /// `before`; else returns both states.
    pub async fn wait_unchanged(&self, before: &Snapshot) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.snapshot().await;
            if now == *before {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("state changed\nbefore: {before:#?}\nafter: {now:#?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// [`World::wait_unchanged`], panicking.
    pub async fn assert_unchanged(&self, before: &Snapshot, what: &str) {
        if let Err(e) = self.wait_unchanged(before).await {
            panic!("{what}: {e}");
        }
    }
}

/// What hostile requests must leave alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Buckets, objects (key, ETag, size), uploads and their parts, as S3 lists them.
    pub s3: String,
    /// Files in the data dir (path and size), the metadata database excepted.
    pub data_files: BTreeSet<(String, u64)>,
    /// Files and directories next to the data dir.
    pub outside: BTreeSet<(String, u64)>,
}

/// Files and directories under `dir` accepted by `keep`, with sizes (0 for directories).
pub fn walk(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if !keep(&p) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
            let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
            if meta.is_dir() {
                out.insert((format!("{rel}/"), 0));
                stack.push(p);
            } else {
                out.insert((rel, meta.len()));
            }
        }
    }
    out
}

/// The S3-visible state of the root user: buckets, objects, uploads, parts.
pub async fn s3_state(c: &Client) -> String {
    let mut s = String::new();
    let buckets = c.list_buckets().send().await.expect("ListBuckets");
    for b in buckets.buckets() {
        let name = b.name().unwrap_or_default();
        let _ = writeln!(s, "bucket {name}");
        let mut pages = c.list_objects_v2().bucket(name).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.expect("ListObjectsV2").contents() {
                let _ = writeln!(
                    s,
                    "  {:?} {} {}",
                    o.key().unwrap_or_default(),
                    o.e_tag().unwrap_or_default(),
                    o.size().unwrap_or_default()
                );
            }
        }
        let ups = c.list_multipart_uploads().bucket(name).send().await.expect("ListUploads");
        for u in ups.uploads() {
            let (key, id) = (u.key().unwrap_or_default(), u.upload_id().unwrap_or_default());
            let _ = writeln!(s, "  upload {key:?} {id}");
            let parts =
                c.list_parts().bucket(name).key(key).upload_id(id).send().await.expect("ListParts");
            for p in parts.parts() {
                let _ = writeln!(
                    s,
                    "    part {} {} {}",
                    p.part_number().unwrap_or_default(),
                    p.e_tag().unwrap_or_default(),
                    p.size().unwrap_or_default()
                );
            }
        }
    }
    s
}

/// What a hostile case must get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// An S3 XML error with this status and code, and a request id.
    Error(u16, &'static str),
    /// This status from the HTTP layer, before any S3 processing (no XML body possible).
    Http(u16),
    /// A success status (GETs whose hostile header S3 ignores).
    Ok(u16),
}

/// One row of the table.
struct Case {
    name: String,
    request: Vec<u8>,
    half_close: bool,
    want: Want,
}

fn case(name: impl Into<String>, request: Vec<u8>, want: Want) -> Case {
    Case { name: name.into(), request, half_close: false, want }
}

/// Checks one response against `want`.
#[track_caller]
pub fn check(r: Option<&RawResponse>, want: Want, what: &str) {
    let Some(r) = r else { panic!("{what}: connection closed without a response, want {want:?}") };
    match want {
        Want::Error(status, code) => r.assert_error(status, code, what),
        Want::Http(status) => assert_eq!(r.status, status, "{what}: {}", r.text()),
        Want::Ok(status) => {
            assert_eq!(r.status, status, "{what}: {}", r.text());
            assert!(r.header("x-amz-request-id").is_some(), "{what}: no request id");
        }
    }
}

fn complete_xml(parts: &[(u32, &str)]) -> Vec<u8> {
    let mut x = String::from("<CompleteMultipartUpload>");
    for (n, etag) in parts {
        let _ = write!(x, "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>");
    }
    x.push_str("</CompleteMultipartUpload>");
    x.into_bytes()
}

fn delete_xml(keys: usize) -> Vec<u8> {
    let mut x = String::from("<Delete>");
    for i in 0..keys {
        let _ = write!(x, "<Object><Key>existing{i}</Key></Object>");
    }
    x.push_str("</Delete>");
    x.into_bytes()
}

const LOL: &str = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>"#;

/// Builds the table. `upload` is an upload of key `mp` with parts 1 and 2 (`etags`).
#[allow(clippy::too_many_lines, reason = "the table is the test")]
fn cases(s: &Signer, upload: &str, etags: &[String; 2]) -> Vec<Case> {
    let b = BUCKET;
    let mut v = Vec::new();
    let err = Want::Error;
    let md5 = |body: &[u8]| md5_b64(body);

    // --- XML bodies: DeleteObjects (POST ?delete with Content-MD5).
    let post_delete = |body: &[u8]| {
        let m = md5(body);
        s.request(
            "POST",
            &format!("/{b}?delete"),
            &[("content-md5", &m)],
            &[],
            body,
            &Payload::Sha256,
        )
    };
    for (name, body) in [
        ("delete: not XML", b"this is not xml".to_vec()),
        ("delete: truncated", b"<Delete><Object><Key>existing0</Key></Obj".to_vec()),
        ("delete: wrong root", b"<Remove><Object><Key>existing0</Key></Object></Remove>".to_vec()),
        ("delete: no objects", b"<Delete></Delete>".to_vec()),
        ("delete: 1001 objects", delete_xml(1001)),
        ("delete: mismatched end tag", b"<Delete><Object><Key>existing0</Key></Wrong></Delete>".to_vec()),
        ("delete: two roots", b"<Delete><Object><Key>a</Key></Object></Delete><Delete/>".to_vec()),
        (
            "delete: entity expansion (billion laughs)",
            format!("{LOL}<Delete><Object><Key>&lol4;</Key></Object></Delete>").into_bytes(),
        ),
        (
            "delete: external entity",
            br#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;</Key></Object></Delete>"#.to_vec(),
        ),
        (
            "delete: 10000-deep nesting",
            format!("<Delete>{}{}</Delete>", "<a>".repeat(10_000), "</a>".repeat(10_000)).into_bytes(),
        ),
        ("delete: 3 MiB body", {
            let mut x = b"<Delete><Object><Key>".to_vec();
            x.resize(3 * 1024 * 1024, b'k');
            x.extend_from_slice(b"</Key></Object></Delete>");
            x
        }),
        ("delete: undefined entity", b"<Delete><Object><Key>&nope;</Key></Object></Delete>".to_vec()),
        ("delete: quiet not boolean", b"<Delete><Quiet>maybe</Quiet><Object><Key>existing0</Key></Object></Delete>".to_vec()),
    ] {
        v.push(case(name, post_delete(&body), err(400, "MalformedXML")));
    }
    let body = delete_xml(1);
    v.push(case(
        "delete: Content-MD5 of another body",
        s.request(
            "POST",
            &format!("/{b}?delete"),
            &[("content-md5", &md5(b"other"))],
            &[],
            &body,
            &Payload::Sha256,
        ),
        err(400, "BadDigest"),
    ));
    v.push(case(
        "delete: Content-MD5 not base64",
        s.request(
            "POST",
            &format!("/{b}?delete"),
            &[("content-md5", "!!!notbase64")],
            &[],
            &body,
            &Payload::Sha256,
        ),
        err(400, "InvalidDigest"),
    ));

    // --- XML bodies: CompleteMultipartUpload.
    let complete =
        |body: &[u8], id: &str| s.simple("POST", &format!("/{b}/mp?uploadId={id}"), body);
    let (e1, e2) = (etags[0].as_str(), etags[1].as_str());
    v.push(case(
        "complete: not XML",
        complete(b"{\"parts\": []}", upload),
        err(400, "MalformedXML"),
    ));
    v.push(case(
        "complete: no parts",
        complete(b"<CompleteMultipartUpload></CompleteMultipartUpload>", upload),
        err(400, "MalformedXML"),
    ));
    v.push(case(
        "complete: part number not a number",
        complete(b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>", upload),
        // As for 0 and 10001 (AWS): the XML is well formed, the number is not one.
        err(400, "InvalidArgument"),
    ));
    v.push(case(
        "complete: entity expansion",
        complete(format!("{LOL}<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&lol4;</ETag></Part></CompleteMultipartUpload>").as_bytes(), upload),
        err(400, "MalformedXML"),
    ));
    v.push(case(
        "complete: 100-deep nesting",
        complete(
            format!(
                "<CompleteMultipartUpload>{}{}</CompleteMultipartUpload>",
                "<Part>".repeat(100),
                "</Part>".repeat(100)
            )
            .as_bytes(),
            upload,
        ),
        err(400, "MalformedXML"),
    ));
    v.push(case(
        "complete: parts out of order",
        complete(&complete_xml(&[(2, e2), (1, e1)]), upload),
        err(400, "InvalidPartOrder"),
    ));
    v.push(case(
        "complete: a part listed twice",
        complete(&complete_xml(&[(1, e1), (1, e1), (2, e2)]), upload),
        err(400, "InvalidPartOrder"),
    ));
    v.push(case(
        "complete: part number 0",
        complete(&complete_xml(&[(0, e1), (1, e1)]), upload),
        err(400, "InvalidArgument"),
    ));
    v.push(case(
        "complete: part number 10001",
        complete(&complete_xml(&[(1, e1), (10_001, e2)]), upload),
        err(400, "InvalidArgument"),
    ));
    let many: Vec<(u32, &str)> = (1..=10_001).map(|n| (n, e1)).collect();
    v.push(case(
        "complete: 10,001 parts",
        complete(&complete_xml(&many), upload),
        err(400, "InvalidArgument"),
    ));
    v.push(case(
        "complete: part never uploaded",
        complete(&complete_xml(&[(3, e2)]), upload),
        err(400, "InvalidPart"),
    ));
    v.push(case(
        "complete: wrong ETag",
        complete(&complete_xml(&[(1, e2)]), upload),
        err(400, "InvalidPart"),
    ));
    v.push(case(
        "complete: unknown upload id",
        complete(&complete_xml(&[(1, e1)]), "nosuchupload"),
        err(404, "NoSuchUpload"),
    ));
    v.push(case(
        "complete: upload id of another key",
        s.simple("POST", &format!("/{b}/other?uploadId={upload}"), &complete_xml(&[(1, e1)])),
        err(404, "NoSuchUpload"),
    ));

    // --- XML bodies: CreateBucket.
    for (name, body, code) in [
        ("create bucket: not XML", b"<<<>>>".to_vec(), "MalformedXML"),
        ("create bucket: entity expansion", format!("{LOL}<CreateBucketConfiguration><LocationConstraint>&lol4;</LocationConstraint></CreateBucketConfiguration>").into_bytes(), "MalformedXML"),
        ("create bucket: deep nesting", format!("<CreateBucketConfiguration>{}{}</CreateBucketConfiguration>", "<x>".repeat(5000), "</x>".repeat(5000)).into_bytes(), "MalformedXML"),
        ("create bucket: 100 KiB body", { let mut x = b"<CreateBucketConfiguration><LocationConstraint>".to_vec(); x.resize(100 * 1024, b'a'); x }, "MalformedXML"),
        ("create bucket: another region", b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>".to_vec(), "InvalidLocationConstraint"),
    ] {
        v.push(case(name, s.simple("PUT", "/newbucket", &body), err(400, code)));
    }

    // --- Part numbers and upload ids.
    for pn in ["0", "10001", "-1", "abc", "1.5", "99999999999999999999", ""] {
        v.push(case(
            format!("upload part: partNumber={pn:?}"),
            s.simple("PUT", &format!("/{b}/mp?partNumber={pn}&uploadId={upload}"), b"data"),
            err(400, "InvalidArgument"),
        ));
    }
    for id in ["nosuch", "..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "%00", &"u".repeat(300)] {
        v.push(case(
            format!("upload part: uploadId={id:.40}"),
            s.simple("PUT", &format!("/{b}/mp?partNumber=1&uploadId={id}"), b"data"),
            err(404, "NoSuchUpload"),
        ));
    }
    v.push(case(
        "abort: traversal upload id",
        s.simple("DELETE", &format!("/{b}/mp?uploadId=..%2F..%2F..%2Fsentinel"), b""),
        err(404, "NoSuchUpload"),
    ));
    v.push(case(
        "get: partNumber=0",
        s.simple("GET", &format!("/{b}/existing?partNumber=0"), b""),
        err(400, "InvalidArgument"),
    ));
    v.push(case(
        "get: partNumber=10001",
        s.simple("GET", &format!("/{b}/existing?partNumber=10001"), b""),
        err(400, "InvalidArgument"),
    ));

    // --- Keys.
    let long_key = "k".repeat(1025);
    v.push(case(
        "put: key of 1025 bytes",
        s.simple("PUT", &format!("/{b}/{long_key}"), b"x"),
        err(400, "KeyTooLongError"),
    ));
    let long_utf8 = "%C3%A9".repeat(513); // 1026 bytes of UTF-8
    v.push(case(
        "put: key of 1026 UTF-8 bytes",
        s.simple("PUT", &format!("/{b}/{long_utf8}"), b"x"),
        err(400, "KeyTooLongError"),
    ));
    v.push(case(
        "put: invalid UTF-8 escape",
        s.simple("PUT", &format!("/{b}/bad%FFkey"), b"x"),
        err(400, "InvalidURI"),
    ));
    v.push(case(
        "put: overlong UTF-8 escape",
        s.simple("PUT", &format!("/{b}/%C0%AE%C0%AE/x"), b"x"),
        err(400, "InvalidURI"),
    ));
    v.push(case(
        "put: lone surrogate escape",
        s.simple("PUT", &format!("/{b}/%ED%A0%80"), b"x"),
        err(400, "InvalidURI"),
    ));
    for (name, path) in [
        ("get: ../ in the key", format!("/{b}/../../etc/passwd")),
        ("get: encoded ../ in the key", format!("/{b}/..%2F..%2Fetc%2Fpasswd")),
        ("get: // in the key", format!("/{b}//etc//passwd")),
        ("get: NUL in the key", format!("/{b}/existing%00")),
        ("get: key of only dots", format!("/{b}/..")),
    ] {
        v.push(case(name, s.simple("GET", &path, b""), err(404, "NoSuchKey")));
    }
    v.push(case(
        "copy: source ../ traversal",
        s.request(
            "PUT",
            &format!("/{b}/copied"),
            &[("x-amz-copy-source", "/hostile/../../etc/passwd")],
            &[],
            b"",
            &Payload::Sha256,
        ),
        err(404, "NoSuchKey"),
    ));
    v.push(case(
        "copy: source bucket ..",
        s.request(
            "PUT",
            &format!("/{b}/copied"),
            &[("x-amz-copy-source", "../etc/passwd")],
            &[],
            b"",
            &Payload::Sha256,
        ),
        err(400, "InvalidBucketName"),
    ));

    // --- Bucket names.
    for name in [
        "AB",
        "ab",
        "Upper",
        "a_b_c",
        "192.168.1.1",
        "bad..name",
        "-leading",
        "trailing-",
        "xn--punycode",
        "bucket%00x",
        &"a".repeat(64),
        "amzn-s3-demo-bucket",
        "bucket.",
        "sthree-bucket",
        "x-s3alias-s3alias",
    ] {
        v.push(case(
            format!("create bucket: {name:.30}"),
            s.simple("PUT", &format!("/{name}"), b""),
            err(400, "InvalidBucketName"),
        ));
    }

    // --- Bodies and their lengths.
    let mut r = s.simple("PUT", &format!("/{b}/short"), &[7u8; 1000]);
    r.truncate(r.len() - 400);
    v.push(Case {
        name: "put: Content-Length larger than the body".into(),
        request: r,
        half_close: true,
        want: err(400, "IncompleteBody"),
    });
    let body = [9u8; 100];
    let mut r = s.request(
        "PUT",
        &format!("/{b}/lie"),
        &[],
        &[("content-length", "60")],
        &body,
        &Payload::Sha256,
    );
    r.truncate(r.len() - 40); // the server reads 60 bytes, hashes them against the 100's hash
    v.push(case(
        "put: Content-Length smaller than the body",
        r,
        err(400, "XAmzContentSHA256Mismatch"),
    ));
    let mut r = s.request(
        "PUT",
        &format!("/{b}/chunk"),
        &[],
        &[("transfer-encoding", "chunked")],
        b"",
        &Payload::Unsigned,
    );
    r.extend_from_slice(b"400\r\n");
    r.extend_from_slice(&[1u8; 100]);
    v.push(Case {
        name: "put: chunked body stops mid-chunk".into(),
        request: r,
        half_close: true,
        want: err(400, "IncompleteBody"),
    });
    let mut r = s.request(
        "PUT",
        &format!("/{b}/awschunk"),
        &[("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", "5000")],
        &[("content-length", "9000")],
        b"",
        &Payload::Literal("STREAMING-UNSIGNED-PAYLOAD-TRAILER".into()),
    );
    r.extend_from_slice(b"1388\r\n");
    r.extend_from_slice(&[2u8; 3000]);
    v.push(Case {
        name: "put: aws-chunked body stops early".into(),
        request: r,
        half_close: true,
        want: err(400, "IncompleteBody"),
    });
    let big = (6u64 << 30).to_string();
    v.push(case(
        "put: Content-Length of 6 GiB",
        s.request(
            "PUT",
            &format!("/{b}/huge"),
            &[],
            &[("content-length", &big)],
            b"",
            &Payload::Unsigned,
        ),
        err(400, "EntityTooLarge"),
    ));
    v.push(case(
        "put: aws-chunked decoded length of 6 GiB",
        s.request(
            "PUT",
            &format!("/{b}/huge"),
            &[("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", &big)],
            &[("content-length", &big)],
            b"",
            &Payload::Literal("STREAMING-UNSIGNED-PAYLOAD-TRAILER".into()),
        ),
        err(400, "EntityTooLarge"),
    ));
    v.push(case(
        "put: Content-MD5 of another body",
        s.request(
            "PUT",
            &format!("/{b}/md5"),
            &[("content-md5", &md5(b"other"))],
            &[],
            b"body",
            &Payload::Sha256,
        ),
        err(400, "BadDigest"),
    ));
    v.push(case(
        "put: Content-MD5 not base64",
        s.request(
            "PUT",
            &format!("/{b}/md5"),
            &[("content-md5", "zzz")],
            &[],
            b"body",
            &Payload::Sha256,
        ),
        err(400, "InvalidDigest"),
    ));
    v.push(case(
        "put: x-amz-checksum-crc32 of another body",
        s.request(
            "PUT",
            &format!("/{b}/crc"),
            &[("x-amz-checksum-crc32", "AAAAAA==")],
            &[],
            b"body",
            &Payload::Sha256,
        ),
        err(400, "BadDigest"),
    ));
    v.push(case(
        "put: x-amz-content-sha256 of another body",
        s.request(
            "PUT",
            &format!("/{b}/sha"),
            &[],
            &[],
            b"body",
            &Payload::Literal(sha256_hex(b"other")),
        ),
        err(400, "XAmzContentSHA256Mismatch"),
    ));
    let r = s.simple("PUT", &format!("/{b}/nolen"), b"");
    let r = String::from_utf8(r).unwrap().replace("content-length: 0\r\n", "").into_bytes();
    v.push(case("put: no Content-Length", r, err(411, "MissingContentLength")));
    v.push(case(
        "put: 3 KiB of user metadata",
        s.request(
            "PUT",
            &format!("/{b}/meta"),
            &[("x-amz-meta-big", &"m".repeat(3 * 1024))],
            &[],
            b"x",
            &Payload::Sha256,
        ),
        err(400, "MetadataTooLarge"),
    ));
    v.push(case(
        "put: malformed x-amz-tagging",
        s.request(
            "PUT",
            &format!("/{b}/tag"),
            &[("x-amz-tagging", "a=1&a=2")],
            &[],
            b"x",
            &Payload::Sha256,
        ),
        err(400, "InvalidArgument"),
    ));

    // --- Headers.
    let flood: Vec<(String, String)> =
        (0..200).map(|i| (format!("x-flood-{i}"), "v".to_owned())).collect();
    let flood_refs: Vec<(&str, &str)> =
        flood.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    v.push(case(
        "header flood: 200 headers",
        s.request("GET", &format!("/{b}/existing"), &[], &flood_refs, b"", &Payload::Sha256),
        Want::Http(431),
    ));
    let mib = "h".repeat(1024 * 1024);
    v.push(case(
        "one header of 1 MiB",
        s.request("GET", &format!("/{b}/existing"), &[], &[("x-big", &mib)], b"", &Payload::Sha256),
        Want::Http(431),
    ));
    // UTF-8 bytes above 0x7F in a header (botocore sends `é` so) are not a reason to refuse a
    // request; an unsigned header that is not x-amz-* changes nothing.
    let nonascii = String::from_utf8_lossy(b"caf\xc3\xa9").into_owned();
    v.push(case(
        "non-ASCII header value",
        s.request(
            "GET",
            &format!("/{b}/existing"),
            &[],
            &[("x-odd", &nonascii)],
            b"",
            &Payload::Sha256,
        ),
        Want::Ok(200),
    ));
    v.push(case(
        "unknown method",
        s.simple("PATCH", &format!("/{b}/existing"), b""),
        err(405, "MethodNotAllowed"),
    ));
    v.push(case(
        "unsupported subresource",
        s.simple("GET", &format!("/{b}/existing?torrent"), b""),
        err(501, "NotImplemented"),
    ));
    v.push(case(
        "list: max-keys=-1",
        s.simple("GET", &format!("/{b}?list-type=2&max-keys=-1"), b""),
        err(400, "InvalidArgument"),
    ));
    v.push(case(
        "list: garbage continuation token",
        s.simple("GET", &format!("/{b}?list-type=2&continuation-token=!!!"), b""),
        err(400, "InvalidArgument"),
    ));
    v.push(case(
        "list: invalid UTF-8 in the query",
        s.simple("GET", &format!("/{b}?list-type=2&prefix=%FF%FE"), b""),
        err(400, "InvalidURI"),
    ));

    // --- Ranges.
    for (range, want) in [
        ("bytes=5-", err(416, "InvalidRange")),
        ("bytes=100-200", err(416, "InvalidRange")),
        ("bytes=18446744073709551615-", err(416, "InvalidRange")),
        ("bytes=-0", err(416, "InvalidRange")),
        ("bytes=18446744073709551616-", Want::Ok(200)),
        ("bytes=-99999999999999999999", Want::Ok(200)),
        ("bytes=3-1", Want::Ok(200)),
        ("bytes=-1-2", Want::Ok(200)),
        ("bytes=0-1,3-4", Want::Ok(200)),
        ("bytes=-18446744073709551615", Want::Ok(206)),
    ] {
        v.push(case(
            format!("get: Range {range}"),
            s.request(
                "GET",
                &format!("/{b}/existing"),
                &[("range", range)],
                &[],
                b"",
                &Payload::Sha256,
            ),
            want,
        ));
    }
    v.push(case(
        "get: Range with partNumber",
        s.request(
            "GET",
            &format!("/{b}/existing?partNumber=1"),
            &[("range", "bytes=0-1")],
            &[],
            b"",
            &Payload::Sha256,
        ),
        err(400, "InvalidRequest"),
    ));
    v.push(case(
        "copy part: bad x-amz-copy-source-range",
        s.request(
            "PUT",
            &format!("/{b}/mp?partNumber=3&uploadId={upload}"),
            &[("x-amz-copy-source", "/hostile/existing"), ("x-amz-copy-source-range", "bytes=4-2")],
            &[],
            b"",
            &Payload::Sha256,
        ),
        err(400, "InvalidArgument"),
    ));

    // --- Ambiguous input (issue 16): each would otherwise be read one way here and another
    // way by a proxy, a log reader or a second parser.
    for (name, target) in [
        ("put: a lone % in the key", format!("/{b}/a%")),
        ("put: %f in the key", format!("/{b}/a%f")),
        ("put: %zz in the key", format!("/{b}/a%zzb")),
        ("put: %%41 in the key", format!("/{b}/a%%41")),
        ("put: broken escape in the bucket", format!("/{b}%zz/k")),
    ] {
        v.push(case(name, s.simple("PUT", &target, b"x"), err(400, "InvalidURI")));
    }
    v.push(case(
        "get: %zz in the key",
        s.simple("GET", &format!("/{b}/existing%zz"), b""),
        err(400, "InvalidURI"),
    ));
    v.push(case(
        "list: broken escape in the query",
        s.simple("GET", &format!("/{b}?list-type=2&prefix=a%2"), b""),
        err(400, "InvalidURI"),
    ));
    for tagging in ["aws:k=v", "AWS%3Acreated=1", "ok=1&Aws:x=2"] {
        v.push(case(
            format!("put: x-amz-tagging {tagging}"),
            s.request(
                "PUT",
                &format!("/{b}/tag"),
                &[("x-amz-tagging", tagging)],
                &[],
                b"x",
                &Payload::Sha256,
            ),
            err(400, "InvalidTag"),
        ));
    }
    let tag_body =
        b"<Tagging><TagSet><Tag><Key>aws:owner</Key><Value>me</Value></Tag></TagSet></Tagging>";
    v.push(case(
        "put object tagging: aws: key",
        s.request(
            "PUT",
            &format!("/{b}/existing?tagging"),
            &[("content-md5", &md5(tag_body))],
            &[],
            tag_body,
            &Payload::Sha256,
        ),
        err(400, "InvalidTag"),
    ));
    v.push(case(
        "delete: two Keys in one Object",
        post_delete(b"<Delete><Object><Key>existing</Key><Key>existing0</Key></Object></Delete>"),
        err(400, "MalformedXML"),
    ));
    v.push(case(
        "delete: two Quiet elements",
        post_delete(
            b"<Delete><Quiet>true</Quiet><Quiet>false</Quiet><Object><Key>existing</Key></Object></Delete>",
        ),
        err(400, "MalformedXML"),
    ));
    let twice = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber>\
         <ETag>{}</ETag></Part></CompleteMultipartUpload>",
        etags[0]
    );
    v.push(case(
        "complete: two PartNumbers in one Part",
        s.simple("POST", &format!("/{b}/mp?uploadId={upload}"), twice.as_bytes()),
        err(400, "MalformedXML"),
    ));
    v.push(case(
        "two Host headers",
        s.request(
            "GET",
            &format!("/{b}/existing"),
            &[],
            &[("host", "elsewhere.example")],
            b"",
            &Payload::Sha256,
        ),
        err(400, "BadRequest"),
    ));
    v.push(case(
        "put: Expect of an unknown expectation",
        s.request(
            "PUT",
            &format!("/{b}/expect"),
            &[],
            &[("expect", "200-ok")],
            b"x",
            &Payload::Sha256,
        ),
        err(417, "ExpectationFailed"),
    ));
    let chunked_body = b"1;chunk-signature=00\r\nx\r\n0;chunk-signature=00\r\n\r\n";
    v.push(case(
        "put: signed aws-chunked without x-amz-decoded-content-length",
        s.request(
            "PUT",
            &format!("/{b}/streamed"),
            &[("content-encoding", "aws-chunked")],
            &[],
            chunked_body,
            &Payload::Literal("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned()),
        ),
        err(411, "MissingContentLength"),
    ));
    v
}

/// Puts `existing` (5 bytes) and starts an upload of `mp` with two parts; returns the upload
/// id and the part ETags.
pub async fn populate(c: &Client) -> (String, [String; 2]) {
    c.create_bucket().bucket(BUCKET).send().await.unwrap();
    c.put_object()
        .bucket(BUCKET)
        .key("existing")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket(BUCKET)
        .key("existing0")
        .body(ByteStream::from_static(b"zero"))
        .send()
        .await
        .unwrap();
    let up = c.create_multipart_upload().bucket(BUCKET).key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let mut etags = Vec::new();
    for (n, body) in [(1, &b"part one"[..]), (2, &b"part two"[..])] {
        let out = c
            .upload_part()
            .bucket(BUCKET)
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from_static(body))
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_owned());
    }
    (id, [etags[0].clone(), etags[1].clone()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_request_table() {
    let w = World::start(&[]);
    let (upload, etags) = populate(&w.c).await;
    let s = Signer::root(&w.gw);
    let table = cases(&s, &upload, &etags);
    assert!(table.len() >= 60, "the table has {} cases", table.len());
    println!("{} hostile requests", table.len());
    let mut failures = Vec::new();
    for c in &table {
        let before = w.snapshot().await;
        let r = exchange(w.gw.port, &c.request, c.half_close).await;
        if let Err(p) = catch(|| check(r.as_ref(), c.want, &c.name)) {
            failures.push(p);
        }
        if let Err(p) = w.wait_unchanged(&before).await {
            failures.push(format!("{}: {p}", c.name));
        }
    }
    // The gateway still works, and the upload survived every attack on it.
    let got = w.c.get_object().bucket(BUCKET).key("existing").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello");
    let parts = w.c.list_parts().bucket(BUCKET).key("mp").upload_id(&upload).send().await.unwrap();
    assert_eq!(parts.parts().len(), 2);
    let done =
        w.c.complete_multipart_upload()
            .bucket(BUCKET)
            .key("mp")
            .upload_id(&upload)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(&etags[0]).build())
                    .parts(CompletedPart::builder().part_number(2).e_tag(&etags[1]).build())
                    .build(),
            )
            .send()
            .await;
    // Part 1 is 8 bytes: S3 refuses to complete with a non-last part under 5 MiB.
    crate::harness::expect_err(done, 400, "EntityTooSmall", "complete after the table");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

/// Runs `check`, turning a panic into an `Err` with its message (so that one run of the
/// table reports every failing row).
fn catch(f: impl FnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

/// Reads from `s` until `needle` appears (or the connection ends / 30 s pass); returns what
/// was read.
pub async fn read_until(s: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        let mut b = [0u8; 4096];
        while !buf.windows(needle.len()).any(|w| w == needle) {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&b[..n]),
            }
        }
    })
    .await;
    buf
}

/// Reads until the server closes the connection (60 s at most); returns what was read and
/// whether it closed.
pub async fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(60), async {
        let mut b = [0u8; 4096];
        loop {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&b[..n]),
            }
        }
    })
    .await
    .is_ok();
    (buf, closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_headers_are_cut_off() {
    let w = World::start(&["--header-read-timeout-seconds", "2"]);
    populate(&w.c).await;
    let before = w.snapshot().await;
    // One connection that never sends a byte, one that sends its head a byte at a time, one
    // that stops before the blank line.
    let mut silent = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
    let mut partial = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
    partial.write_all(b"GET /hostile/existing HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut trickle = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
    let head = Signer::root(&w.gw).simple("GET", "/hostile/existing", b"");
    let trickler = tokio::spawn(async move {
        // 8 bytes a second: far too slow for a 2-second head deadline.
        for piece in head.chunks(4) {
            if trickle.write_all(piece).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        read_to_close(&mut trickle).await
    });
    // A keep-alive connection that served one request and then idles.
    let mut idle = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
    idle.write_all(&Signer::root(&w.gw).keep_alive("GET", "/hostile/existing", b"")).await.unwrap();
    let first = crate::harness::read_response(&mut idle, false).await;
    assert_eq!(first.status, 200, "keep-alive GET: {}", first.text());
    for (name, s) in
        [("silent", &mut silent), ("partial head", &mut partial), ("idle keep-alive", &mut idle)]
    {
        let (got, closed) = read_to_close(s).await;
        assert!(closed, "{name}: connection still open");
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
            "{name}: {}",
            String::from_utf8_lossy(&got)
        );
    }
    let (got, closed) = trickler.await.unwrap();
    assert!(closed, "trickled head: connection still open");
    assert!(!got.starts_with(b"HTTP/1.1 200"), "a trickled head was served");
    w.assert_unchanged(&before, "slowloris heads").await;
    // The gateway still serves.
    let r =
        exchange(w.gw.port, &Signer::root(&w.gw).simple("GET", "/hostile/existing", b""), false)
            .await
            .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_stalled_bodies_time_out() {
    let w = World::start(&["--body-read-timeout-seconds", "2"]);
    populate(&w.c).await;
    let before = w.snapshot().await;
    let s = Signer::root(&w.gw);

    // A body that stops after 10 of its 1000 bytes, connection kept open.
    let mut r = s.simple("PUT", "/hostile/stalled", &[5u8; 1000]);
    r.truncate(r.len() - 990);
    let mut c = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
    c.write_all(&r).await.unwrap();
    let (got, _) = read_to_close(&mut c).await;
    let resp = parse_response(&got, false);
    check(resp.as_ref(), Want::Error(400, "RequestTimeout"), "stalled body");

    // Expect: 100-continue, then never a body.
    let r = s.request(
        "PUT",
        "/hostile/expect",
        &[],
        &[("expect", "100-continue")],
        b"",
        &Payload::Unsigned,
    );
    let r = String::from_utf8(r).unwrap().replace("content-length: 0", "content-length: 4096");
    let mut c = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
    c.write_all(r.as_bytes()).await.unwrap();
    let interim = read_until(&mut c, b"\r\n\r\n").await;
    assert!(interim.starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&interim));
    let (got, _) = read_to_close(&mut c).await;
    check(parse_response(&got, false).as_ref(), Want::Error(400, "RequestTimeout"), "100-continue");

    // An XML body (DeleteObjects) that stalls.
    let body = delete_xml(1);
    let m = md5_b64(&body);
    let mut r =
        s.request("POST", "/hostile?delete", &[("content-md5", &m)], &[], &body, &Payload::Sha256);
    r.truncate(r.len() - 5);
    let mut c = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
    c.write_all(&r).await.unwrap();
    let (got, _) = read_to_close(&mut c).await;
    check(parse_response(&got, false).as_ref(), Want::Error(400, "RequestTimeout"), "stalled XML");

    w.assert_unchanged(&before, "slow bodies").await;

    // A slow body whose bytes keep coming (each gap under the timeout) is served.
    let data = vec![3u8; 64];
    let r = s.simple("PUT", "/hostile/slow-but-alive", &data);
    let (head, body) = r.split_at(r.len() - data.len());
    let mut c = TcpStream::connect(("127.0.0.1", w.gw.port)).await.unwrap();
    c.write_all(head).await.unwrap();
    for piece in body.chunks(16) {
        tokio::time::sleep(Duration::from_millis(700)).await;
        c.write_all(piece).await.unwrap();
    }
    let (got, _) = read_to_close(&mut c).await;
    let resp = parse_response(&got, false).expect("a response");
    assert_eq!(resp.status, 200, "slow body: {}", resp.text());
    let got = w.c.get_object().bucket(BUCKET).key("slow-but-alive").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), data.as_slice());
}
