//! Wire level: real clients' requests (tests/data/wire, see its PROVENANCE.md) re-signed at
//! the current time and replayed byte for byte over a `TcpStream`, plus hand-made edge cases
//! the SDK never sends (signed chunks, broken trailers, truncated bodies, unsigned headers).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use s3gate_sigv4::{
    ChunkedSigner, RequestParts, SigningContext, SigningParams, presign, sign_headers,
};
use tokio::io::AsyncWriteExt;

use crate::harness::{
    Flavour, Gateway, RawResponse, crc32_b64, etag_of, expect_err, get, raw_request, read_response,
    xml_element,
};

/// The keys of the capture corpus: the gateway runs with them so a secret with `/` and `+`
/// is exercised too.
const AK: &str = "AKIDWIRECAPTURE01";
const SK: &str = "wire/capture+secret/0123456789abcdefABCDEF";
const BUCKET: &str = "wirecap";

/// The corpus' body generator: `0\n1\n2\n...` truncated to `n` bytes.
fn generated(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(format!("{i}\n").as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

/// A captured request, parsed.
#[derive(Debug, Clone)]
struct Template {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/wire")
}

impl Template {
    fn load(name: &str) -> Template {
        let path = data_dir().join(name);
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head end");
        let head = std::str::from_utf8(&raw[..end]).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let method = first.next().unwrap().to_owned();
        let target = first.next().unwrap().to_owned();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header line");
                (n.to_owned(), v.trim().to_owned())
            })
            .collect();
        Template { method, target, headers, body: raw[end + 4..].to_vec() }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn set_header(&mut self, name: &str, value: &str) {
        match self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(h) => value.clone_into(&mut h.1),
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
    }

    fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The lowercase names the original client signed (from its Authorization header).
    fn signed_names(&self) -> Vec<String> {
        let auth = self.header("authorization").expect("header-signed template");
        let list = auth.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap();
        list.split(';').map(|s| s.trim().to_ascii_lowercase()).collect()
    }

    /// Re-signs at the current time for `127.0.0.1:port`: the same headers as the client
    /// signed, all other headers and the body kept byte for byte; adds `Connection: close`.
    fn resigned(&self, port: u16, signed: &[String]) -> Template {
        self.resigned_at(port, signed, SystemTime::now())
    }

    /// [`Self::resigned`] with an explicit signing time.
    fn resigned_at(&self, port: u16, signed: &[String], time: SystemTime) -> Template {
        let mut t = self.clone();
        t.set_header("Host", &format!("127.0.0.1:{port}"));
        t.remove_header("authorization");
        t.remove_header("x-amz-date");
        let to_sign: Vec<(&str, &str)> = t
            .headers
            .iter()
            .filter(|(n, _)| signed.contains(&n.to_ascii_lowercase()))
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let (path, query) = match t.target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (t.target.as_str(), None),
        };
        let req =
            RequestParts { method: &t.method, raw_path: path, raw_query: query, headers: &to_sign };
        let payload = t.header("x-amz-content-sha256").expect("x-amz-content-sha256").to_owned();
        let added = sign_headers(&req, &payload, &SigningParams { time, ..params() });
        let mut out = t.clone();
        for (n, v) in added {
            if n != "x-amz-content-sha256" {
                out.headers.push((n, v));
            }
        }
        out.set_header("Connection", "close");
        out
    }

    fn replace_in_target(&mut self, from: &str, to: &str) {
        self.target = self.target.replace(from, to);
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// Re-signs with the original signed-header list and sends.
    async fn replay(&self, port: u16) -> RawResponse {
        let signed = self.signed_names();
        raw_request(port, &self.resigned(port, &signed).bytes()).await
    }
}

fn params() -> SigningParams<'static> {
    SigningParams {
        access_key_id: AK,
        secret_key: SK,
        region: "us-east-1",
        service: "s3",
        time: SystemTime::now(),
    }
}

fn start() -> (Gateway, Client) {
    let gw = Gateway::start_with_keys(AK, SK, &[]);
    let c = gw.client(Flavour::WhenRequired);
    (gw, c)
}

#[track_caller]
fn assert_ok(r: &RawResponse, what: &str) {
    assert_eq!(r.status, 200, "{what}: {} {}", r.status, r.text());
    assert!(r.header("x-amz-request-id").is_some(), "{what}: x-amz-request-id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_real_client_requests() {
    let (gw, c) = start();
    let port = gw.port;
    let body100k = generated(102_400);

    let r = Template::load("boto3-14-create-bucket-plain.http").replay(port).await;
    assert_ok(&r, "boto3 CreateBucket");
    c.head_bucket().bucket(BUCKET).send().await.expect("bucket created by the replay");

    for (file, key) in [
        ("boto3-15-put-object-plain.http", "obj/100k.txt"),
        ("boto3-02-put-object-tls.http", "obj/100k.txt"),
        ("boto3-04-put-object-sha256-tls.http", "obj/sha256.txt"),
        ("boto3-17-put-object-content-md5-plain.http", "obj/md5.txt"),
        ("awscli-05-s3-cp-stdin-plain.http", "cli/stdin.txt"),
        ("curl-02-put-object-plain.http", "curl/1k.txt"),
    ] {
        let t = Template::load(file);
        assert_eq!(t.target, format!("/{BUCKET}/{key}"), "{file} target");
        let r = t.replay(port).await;
        assert_ok(&r, file);
        let want = if file.starts_with("curl") { generated(1024) } else { body100k.clone() };
        assert_eq!(r.header("etag"), Some(etag_of(&want).as_str()), "{file}: ETag");
        assert!(get(&c, BUCKET, key).await == want, "{file}: stored bytes");
    }

    // Presigned PUT (urllib): re-presign the same URL.
    let t = Template::load("urllib-presigned-02-put-object-presigned-plain.http");
    let path = t.target.split('?').next().unwrap().to_owned();
    let host = format!("127.0.0.1:{port}");
    let host_header = [("host", host.as_str())];
    let req =
        RequestParts { method: "PUT", raw_path: &path, raw_query: None, headers: &host_header };
    let query = presign(&req, Duration::from_secs(3600), &params());
    let mut t2 = t.clone();
    t2.target = format!("{path}?{query}");
    t2.set_header("Host", &host);
    let r = raw_request(port, &t2.bytes()).await;
    assert_ok(&r, "presigned PUT");
    assert!(get(&c, BUCKET, "obj/presigned.txt").await == generated(1024));

    // HEAD and CopyObject.
    let r = Template::load("boto3-23-head-object-plain.http").replay(port).await;
    assert_ok(&r, "boto3 HeadObject");
    assert_eq!(r.header("content-length"), Some("102400"));
    assert!(r.body.is_empty());
    let r = Template::load("boto3-22-copy-object-plain.http").replay(port).await;
    assert_ok(&r, "boto3 CopyObject");
    assert!(r.text().contains("CopyObjectResult"), "{}", r.text());
    assert!(get(&c, BUCKET, "obj/copy.txt").await == body100k);

    // Multipart: create by replay, part 1 (5 MiB, not in the corpus) by the SDK, part 2 and
    // Complete by replay with the real upload id substituted.
    let r = Template::load("boto3-18-create-multipart-upload-plain.http").replay(port).await;
    assert_ok(&r, "boto3 CreateMultipartUpload");
    let upload_id = xml_element(&r.text(), "UploadId").expect("UploadId");
    let part1 = generated(5 * 1024 * 1024);
    let out = c
        .upload_part()
        .bucket(BUCKET)
        .key("obj/multipart.bin")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(part1.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some("\"8423d3103aabd88aab6141b7c3bed57c\""), "part 1 as captured");
    for file in
        ["boto3-19-upload-part-2-plain.http", "boto3-20-complete-multipart-upload-plain.http"]
    {
        let mut t = Template::load(file);
        t.replace_in_target("wirecap-upload-0001", &upload_id);
        let r = t.replay(port).await;
        assert_ok(&r, file);
    }
    let mut want = part1;
    want.extend_from_slice(&generated(100));
    assert!(get(&c, BUCKET, "obj/multipart.bin").await == want, "replayed multipart object");

    // DeleteObjects of three keys, two of which do not exist.
    c.put_object()
        .bucket(BUCKET)
        .key("obj/b c.txt")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let r = Template::load("boto3-21-delete-objects-plain.http").replay(port).await;
    assert_ok(&r, "boto3 DeleteObjects");
    for k in ["obj/a.txt", "obj/b c.txt", "obj/d+e.txt"] {
        assert!(r.text().contains(&format!("<Key>{k}</Key>")), "{k} in {}", r.text());
    }
    expect_err(c.head_object().bucket(BUCKET).key("obj/b c.txt").send().await, 404, "", "gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_put() {
    let (gw, c) = start();
    c.create_bucket().bucket(BUCKET).send().await.unwrap();
    let t = Template::load("boto3-15-put-object-plain.http");
    assert_eq!(t.header("expect"), Some("100-continue"));
    let t = t.resigned(gw.port, &t.signed_names());
    let mut head = t.clone();
    head.body.clear();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(&head.bytes()).await.unwrap();
    // The server must ask for the body before we send it.
    let mut interim = Vec::new();
    while !interim.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::io::AsyncReadExt::read(&mut s, &mut b),
        )
        .await
        .expect("100 Continue within 10 s")
        .unwrap();
        assert!(n > 0, "connection closed before 100 Continue");
        interim.push(b[0]);
    }
    let interim = String::from_utf8_lossy(&interim).into_owned();
    assert!(interim.starts_with("HTTP/1.1 100"), "interim response: {interim}");
    s.write_all(&t.body).await.unwrap();
    let r = read_response(&mut s, false).await;
    assert_ok(&r, "PUT after 100-continue");
    assert!(get(&c, BUCKET, "obj/100k.txt").await == generated(102_400));
}

/// Sends a re-signed template, expects an S3 error, and checks the object was not stored.
async fn expect_rejected(
    gw: &Gateway,
    c: &Client,
    t: &Template,
    status: u16,
    code: &str,
    key: &str,
) {
    let r = raw_request(gw.port, &t.bytes()).await;
    r.assert_error(status, code, &format!("{} {}", t.method, t.target));
    expect_err(c.head_object().bucket(BUCKET).key(key).send().await, 404, "", "not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_chunked_trailer_errors() {
    let (gw, c) = start();
    c.create_bucket().bucket(BUCKET).send().await.unwrap();
    let orig = Template::load("boto3-02-put-object-tls.http");
    let signed = orig.signed_names();

    // Wrong CRC32 in the unsigned trailer (same length, so the HTTP chunking stays valid).
    let mut t = orig.clone();
    let needle = b"x-amz-checksum-crc32:/3F/8w==";
    let at = t.body.windows(needle.len()).position(|w| w == needle).expect("trailer");
    t.body[at..at + needle.len()].copy_from_slice(b"x-amz-checksum-crc32:AAAAAA==");
    expect_rejected(&gw, &c, &t.resigned(gw.port, &signed), 400, "BadDigest", "obj/100k.txt").await;

    // Declared decoded length larger than the body: IncompleteBody.
    let mut t = orig.clone();
    t.set_header("X-Amz-Decoded-Content-Length", "102401");
    expect_rejected(&gw, &c, &t.resigned(gw.port, &signed), 400, "IncompleteBody", "obj/100k.txt")
        .await;
    // Declared smaller than the body: also refused.
    let mut t = orig.clone();
    t.set_header("X-Amz-Decoded-Content-Length", "102399");
    let r = raw_request(gw.port, &t.resigned(gw.port, &signed).bytes()).await;
    assert_eq!(r.status, 400, "decoded length smaller than the body: {}", r.text());
    expect_err(c.head_object().bucket(BUCKET).key("obj/100k.txt").send().await, 404, "", "absent");

    // The original succeeds on the same gateway afterwards.
    let r = orig.replay(gw.port).await;
    assert_ok(&r, "unaltered aws-chunked PUT");
    assert!(get(&c, BUCKET, "obj/100k.txt").await == generated(102_400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_payload_errors() {
    let (gw, c) = start();
    c.create_bucket().bucket(BUCKET).send().await.unwrap();
    let mut orig = Template::load("curl-02-put-object-plain.http");
    orig.remove_header("Expect");
    let signed = orig.signed_names();

    // Body that does not hash to x-amz-content-sha256.
    let mut t = orig.resigned(gw.port, &signed);
    t.body[10] ^= 0x01;
    expect_rejected(&gw, &c, &t, 400, "XAmzContentSHA256Mismatch", "curl/1k.txt").await;

    // An x-amz-* header that is not signed.
    let mut t = orig.resigned(gw.port, &signed);
    t.headers.push(("x-amz-meta-foo".to_owned(), "bar".to_owned()));
    expect_rejected(&gw, &c, &t, 403, "AccessDenied", "curl/1k.txt").await;

    // A signature that does not match (the path changed after signing).
    let mut t = orig.resigned(gw.port, &signed);
    t.target = "/wirecap/curl/other.txt".to_owned();
    expect_rejected(&gw, &c, &t, 403, "SignatureDoesNotMatch", "curl/other.txt").await;

    // A timestamp 20 minutes old.
    let t = orig.resigned_at(gw.port, &signed, SystemTime::now() - Duration::from_secs(1200));
    expect_rejected(&gw, &c, &t, 403, "RequestTimeTooSkewed", "curl/1k.txt").await;

    // Body shorter than Content-Length, then the client goes away: nothing is stored.
    let t = orig.resigned(gw.port, &signed);
    let mut bytes = t.bytes();
    bytes.truncate(bytes.len() - 524);
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(&bytes).await.unwrap();
    s.shutdown().await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut sink),
    )
    .await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    expect_err(c.head_object().bucket(BUCKET).key("curl/1k.txt").send().await, 404, "", "short");

    // The same for an aws-chunked body cut in the middle of a chunk.
    let t = Template::load("boto3-02-put-object-tls.http");
    let t = t.resigned(gw.port, &t.signed_names());
    let mut bytes = t.bytes();
    bytes.truncate(bytes.len() - 50_000);
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(&bytes).await.unwrap();
    s.shutdown().await.unwrap();
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut sink),
    )
    .await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    expect_err(c.head_object().bucket(BUCKET).key("obj/100k.txt").send().await, 404, "", "cut");

    // And the unaltered request works.
    let r = orig.replay(gw.port).await;
    assert_ok(&r, "unaltered curl PUT");
    assert!(get(&c, BUCKET, "curl/1k.txt").await == generated(1024));
}

/// Builds a signed-chunk PUT (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`) of `data` in
/// `chunk`-byte chunks; `corrupt` flips a byte in the second chunk's signature.
fn signed_chunk_put(
    port: u16,
    key: &str,
    data: &[u8],
    chunk: usize,
    trailer: bool,
    corrupt: bool,
) -> Vec<u8> {
    let host = format!("127.0.0.1:{port}");
    let mode = if trailer {
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    } else {
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    };
    let len = data.len().to_string();
    let mut headers: Vec<(&str, &str)> = vec![
        ("host", host.as_str()),
        ("content-encoding", "aws-chunked"),
        ("x-amz-content-sha256", mode),
        ("x-amz-decoded-content-length", len.as_str()),
    ];
    if trailer {
        headers.push(("x-amz-trailer", "x-amz-checksum-crc32"));
    }
    let path = format!("/{BUCKET}/{key}");
    let req = RequestParts { method: "PUT", raw_path: &path, raw_query: None, headers: &headers };
    let p = params();
    let added = sign_headers(&req, mode, &p);
    let auth = &added.iter().find(|(n, _)| n == "authorization").unwrap().1;
    let seed = auth.rsplit("Signature=").next().unwrap().to_owned();
    let mut signer = ChunkedSigner::new(&seed, SigningContext::from_params(&p));
    let mut body = Vec::new();
    for (i, piece) in data.chunks(chunk).enumerate() {
        let mut framed = signer.chunk(piece);
        if corrupt && i == 1 {
            let at = framed.iter().position(|&b| b == b'=').unwrap() + 1;
            framed[at] = if framed[at] == b'0' { b'1' } else { b'0' };
        }
        body.extend_from_slice(&framed);
    }
    let crc = crc32_b64(data);
    let trailers: Vec<(&str, &str)> =
        if trailer { vec![("x-amz-checksum-crc32", crc.as_str())] } else { Vec::new() };
    body.extend_from_slice(&signer.finish(&trailers));
    let mut out = format!("PUT {path} HTTP/1.1\r\n").into_bytes();
    for (n, v) in headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).chain(added) {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes(),
    );
    out.extend_from_slice(&body);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_chunks() {
    let (gw, c) = start();
    c.create_bucket().bucket(BUCKET).send().await.unwrap();
    let data = crate::harness::random_bytes(200_000);
    for (key, trailer) in [("signed/plain", false), ("signed/trailer", true)] {
        let r =
            raw_request(gw.port, &signed_chunk_put(gw.port, key, &data, 65_536, trailer, false))
                .await;
        assert_ok(&r, key);
        assert_eq!(r.header("etag"), Some(etag_of(&data).as_str()), "{key}");
        assert!(get(&c, BUCKET, key).await == data, "{key}: stored bytes");
    }
    // A broken chunk signature: 403 SignatureDoesNotMatch and nothing stored.
    let bytes = signed_chunk_put(gw.port, "signed/bad", &data, 65_536, false, true);
    let r = raw_request(gw.port, &bytes).await;
    r.assert_error(403, "SignatureDoesNotMatch", "corrupted chunk signature");
    expect_err(c.head_object().bucket(BUCKET).key("signed/bad").send().await, 404, "", "bad");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_hosted_style() {
    let gw = Gateway::start_with_keys(AK, SK, &["--domain", "s3.localtest"]);
    let c = gw.client(Flavour::Default);
    c.create_bucket().bucket("vbucket").send().await.unwrap();
    let host = format!("vbucket.s3.localtest:{}", gw.port);
    let send = |method: &'static str, path: &'static str, body: Vec<u8>| {
        let host = host.clone();
        async move {
            let sha = crate::harness::sha256_hex(&body);
            let len = body.len().to_string();
            let hs = [("host", host.as_str()), ("content-length", len.as_str())];
            let (p, q) = match path.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (path, None),
            };
            let req = RequestParts { method, raw_path: p, raw_query: q, headers: &hs };
            let mut out = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
            for (n, v) in hs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .chain(sign_headers(&req, &sha, &params()))
            {
                out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
            out.extend_from_slice(b"connection: close\r\n\r\n");
            out.extend_from_slice(&body);
            raw_request(gw.port, &out).await
        }
    };
    let r = send("PUT", "/dir/v%20key", b"virtual".to_vec()).await;
    assert_ok(&r, "virtual-hosted PUT");
    assert_eq!(get(&c, "vbucket", "dir/v key").await, b"virtual", "path-style sees it");
    let r = send("GET", "/dir/v%20key", Vec::new()).await;
    assert_ok(&r, "virtual-hosted GET");
    assert_eq!(r.body, b"virtual");
    let r = send("GET", "/?list-type=2&prefix=dir%2F", Vec::new()).await;
    assert_ok(&r, "virtual-hosted ListObjectsV2");
    assert!(r.text().contains("<Key>dir/v key</Key>"), "{}", r.text());
    assert_eq!(xml_element(&r.text(), "Name").as_deref(), Some("vbucket"));
}
