//! Starts the real `s3gate` binary and builds clients for it: the official AWS SDK in two
//! checksum flavours, a hyper client for presigned and anonymous requests, and a raw
//! `TcpStream` client for byte-exact requests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig, retry::RetryConfig,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The region every gateway of the suite runs in.
pub const REGION: &str = "us-east-1";

/// The two client configurations every test runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// SDK defaults: CRC32 checksums on every upload (aws-chunked with a trailer for streaming
    /// bodies, an `x-amz-checksum-crc32` header for in-memory ones), response validation on.
    Default,
    /// `when_required`: the pre-2025 behaviour, plain signed payloads, no checksums.
    WhenRequired,
}

impl Flavour {
    /// Both flavours, in the order tests run them.
    pub const ALL: [Flavour; 2] = [Flavour::Default, Flavour::WhenRequired];

    /// A short tag usable in bucket names.
    pub fn tag(self) -> &'static str {
        match self {
            Flavour::Default => "dflt",
            Flavour::WhenRequired => "wreq",
        }
    }
}

/// A running `s3gate serve`. Dropping it kills the process (SIGKILL).
pub struct Gateway {
    child: Option<Child>,
    /// The TCP port it listens on (127.0.0.1).
    pub port: u16,
    /// Its data directory.
    pub dir: PathBuf,
    tmp: Option<tempfile::TempDir>,
    /// Root access key id.
    pub access_key: String,
    /// Root secret key.
    pub secret_key: String,
    stderr: Arc<Mutex<String>>,
}

/// A fresh random access key pair.
pub fn random_keys() -> (String, String) {
    let ak = format!("AKE2E{}", hex::encode_upper(random_bytes(8)));
    let sk = hex::encode(random_bytes(20));
    (ak, sk)
}

impl Gateway {
    /// Starts a gateway on a fresh temporary data directory with random root keys.
    pub fn start() -> Gateway {
        let (ak, sk) = random_keys();
        Self::start_with_keys(&ak, &sk, &[])
    }

    /// Starts a gateway on a fresh temporary data directory with the given root keys.
    pub fn start_with_keys(access_key: &str, secret_key: &str, extra: &[&str]) -> Gateway {
        Self::start_with_env(access_key, secret_key, extra, &[])
    }

    /// As [`Gateway::start_with_keys`], with extra environment variables.
    pub fn start_with_env(
        access_key: &str,
        secret_key: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Gateway {
        let tmp = tempfile::Builder::new().prefix("s3gate-e2e-").tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut gw = Self::spawn(&dir, access_key, secret_key, extra, env);
        gw.tmp = Some(tmp);
        gw
    }

    /// Starts a gateway on an existing data directory (for restarts) with the given root keys.
    pub fn start_on(dir: &Path, access_key: &str, secret_key: &str) -> Gateway {
        Self::spawn(dir, access_key, secret_key, &[], &[])
    }

    /// As [`Gateway::start_on`], with extra `serve` arguments.
    pub fn start_on_with(
        dir: &Path,
        access_key: &str,
        secret_key: &str,
        extra: &[&str],
    ) -> Gateway {
        Self::spawn(dir, access_key, secret_key, extra, &[])
    }

    fn spawn(dir: &Path, ak: &str, sk: &str, extra: &[&str], env: &[(&str, &str)]) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_s3gate"))
            .arg("serve")
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--listen", "127.0.0.1:0", "--region", REGION, "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("S3GATE_ACCESS_KEY", ak)
            .env("S3GATE_SECRET_KEY", sk)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn s3gate");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().expect("stderr pipe");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            // Keep draining so a chatty server never blocks on a full pipe.
            let mut reader = BufReader::new(err_pipe);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if std::env::var_os("S3GATE_TEST_LOG").is_some() {
                    eprint!("[s3gate] {line}");
                }
                let mut s = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Bound memory: keep the last 64 KiB.
                if s.len() > 64 * 1024 {
                    let cut = s.len() - 32 * 1024;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                    s.drain(..cut);
                }
                s.push_str(&line);
                line.clear();
            }
        });
        let out_pipe = child.stdout.take().expect("stdout pipe");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(out_pipe);
            let mut line = String::new();
            let mut sent = false;
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if !sent && let Some(port) = parse_listen_line(&line) {
                    let _ = tx.send(port);
                    sent = true;
                }
                line.clear();
            }
        });
        let Ok(port) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let status = child.wait().ok();
            std::thread::sleep(Duration::from_millis(100));
            let err = stderr.lock().map(|s| s.clone()).unwrap_or_default();
            panic!(
                "s3gate did not print `listening on http://127.0.0.1:PORT` within 30 s \
                 (exit status {status:?}); stderr:\n{err}"
            );
        };
        Gateway {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
            tmp: None,
            access_key: ak.to_owned(),
            secret_key: sk.to_owned(),
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the server wrote to stderr so far (the last 32-64 KiB).
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A root client of the given flavour.
    pub fn client(&self, flavour: Flavour) -> Client {
        self.client_as(&self.access_key, &self.secret_key, flavour)
    }

    /// A client with other credentials.
    pub fn client_as(&self, ak: &str, sk: &str, flavour: Flavour) -> Client {
        client_for(self.port, ak, sk, flavour, true)
    }

    /// A root client that never retries (for crash tests and exact error observations).
    pub fn client_no_retry(&self, flavour: Flavour) -> Client {
        client_for(self.port, &self.access_key, &self.secret_key, flavour, false)
    }

    /// Sends SIGTERM and waits (up to 30 s) for the process to exit; returns whether it exited
    /// successfully.
    pub fn stop_graceful(&mut self) -> bool {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                return st.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("s3gate did not exit within 30 s of SIGTERM; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9: the process dies wherever it is.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `s3gate user add NAME` on this gateway's data dir and returns (access key, secret).
    pub fn add_user(&self, name: &str) -> (String, String) {
        let out = run_cli(&["user", "add", name], &self.dir);
        let mut ak = None;
        let mut sk = None;
        for line in out.lines() {
            if let Some(v) = line.trim().strip_prefix("access_key_id:") {
                ak = Some(v.trim().to_owned());
            }
            if let Some(v) = line.trim().strip_prefix("secret_access_key:") {
                sk = Some(v.trim().to_owned());
            }
        }
        (
            ak.unwrap_or_else(|| panic!("no access_key_id line in `user add` output:\n{out}")),
            sk.unwrap_or_else(|| panic!("no secret_access_key line in `user add` output:\n{out}")),
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.crash();
    }
}

/// `VmRSS` of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs a CLI subcommand of the binary on `dir`; panics unless it succeeds; returns stdout.
pub fn run_cli(args: &[&str], dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run s3gate cli");
    assert!(
        out.status.success(),
        "s3gate {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the `s3gate` binary's CLI on `dir` and returns whether it succeeded, with its stdout
/// and stderr, for commands that are meant to refuse.
pub fn run_cli_status(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run s3gate cli");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn parse_listen_line(line: &str) -> Option<u16> {
    let rest = line.split("listening on http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Builds an SDK client for `127.0.0.1:port`.
pub fn client_for(port: u16, ak: &str, sk: &str, flavour: Flavour, retries: bool) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let mut conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(Credentials::new(ak, sk, None, None, "test"))
        .force_path_style(true)
        // Some tests hold a download open on purpose while other requests run.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .http_client(http);
    if !retries {
        conf = conf.retry_config(RetryConfig::disabled());
    }
    if flavour == Flavour::WhenRequired {
        conf = conf
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    Client::from_conf(conf.build())
}

/// HTTP status and S3 error code of a failed SDK call.
pub fn err_info<E>(err: &SdkError<E>) -> (u16, String)
where
    E: ProvideErrorMetadata,
{
    let status = err.raw_response().map_or(0, |r| r.status().as_u16());
    let code = err.code().unwrap_or("").to_owned();
    (status, code)
}

/// Asserts that `res` failed with `status` and S3 error `code` (empty `code`: only the status is
/// checked, for HEAD responses that carry no body).
#[track_caller]
pub fn expect_err<T: std::fmt::Debug, E>(
    res: Result<T, SdkError<E>>,
    status: u16,
    code: &str,
    what: &str,
) where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    match res {
        Ok(v) => panic!("{what}: expected {status} {code}, got success: {v:?}"),
        Err(e) => {
            let (s, c) = err_info(&e);
            assert_eq!(
                (s, c.as_str()),
                (status, if code.is_empty() { c.as_str() } else { code }),
                "{what}: expected {status} {code}, got {s} {c}: {e:?}"
            );
        }
    }
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    getrandom::fill(&mut v).expect("getrandom");
    v
}

/// A small deterministic PRNG (splitmix64) for choices that must be reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from the OS; prints the seed so a failure can be replayed.
    pub fn from_os(what: &str) -> Rng {
        let seed = std::env::var("S3GATE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| u64::from_le_bytes(random_bytes(8).try_into().expect("8 bytes")));
        println!("{what}: seed {seed} (set S3GATE_TEST_SEED to replay)");
        Rng(seed)
    }

    /// A generator with a fixed seed.
    pub fn from_seed(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// Hex MD5.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Quoted hex MD5: the ETag of a simple object.
pub fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

/// Base64 MD5 for `Content-MD5`.
pub fn md5_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Base64 big-endian CRC32 (`x-amz-checksum-crc32`).
pub fn crc32_b64(data: &[u8]) -> String {
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, data);
    let crc = u32::try_from(crc).expect("crc32 fits 32 bits");
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// The multipart ETag: quoted `md5(concat(binary md5 of each part))-N`.
pub fn multipart_etag<P: AsRef<[u8]>>(parts: &[P]) -> String {
    let mut concat = Vec::with_capacity(parts.len() * 16);
    for p in parts {
        concat.extend_from_slice(&Md5::digest(p.as_ref()));
    }
    format!("\"{}-{}\"", md5_hex(&concat), parts.len())
}

/// A unique bucket name for a test and flavour.
pub fn bucket_name(test: &str, flavour: Flavour) -> String {
    format!("{test}-{}", flavour.tag())
}

/// Creates a bucket, panicking with the error if it fails.
pub async fn create_bucket(c: &Client, bucket: &str) {
    c.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
}

/// Puts an in-memory object and returns its ETag.
pub async fn put(c: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
    out.e_tag().expect("PutObject returns an ETag").to_owned()
}

/// Puts an object from a file (the SDK streams it: aws-chunked in the default flavour).
pub async fn put_streaming(c: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), body).expect("write temp file");
    let stream = ByteStream::from_path(file.path()).await.expect("ByteStream::from_path");
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(stream)
        .send()
        .await
        .unwrap_or_else(|e| panic!("streaming put {bucket}/{key}: {e:?}"));
    out.e_tag().expect("PutObject returns an ETag").to_owned()
}

/// Gets a whole object's bytes.
pub async fn get(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"));
    out.body.collect().await.expect("read body").into_bytes().to_vec()
}

/// A response as read by [`hyper_request`] or [`raw_request`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body (HTTP chunking removed).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// First value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an XML error body.
    pub fn error_code(&self) -> Option<String> {
        xml_element(&self.text(), "Code")
    }

    /// Asserts an S3 XML error with this status and code, carrying a request id.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, what: &str) {
        assert_eq!(
            (self.status, self.error_code().as_deref()),
            (status, Some(code)),
            "{what}: expected {status} {code}, got {} with body {}",
            self.status,
            self.text()
        );
        assert!(self.header("x-amz-request-id").is_some(), "{what}: no x-amz-request-id");
        assert!(
            xml_element(&self.text(), "RequestId").is_some_and(|s| !s.is_empty()),
            "{what}: error body without RequestId: {}",
            self.text()
        );
    }
}

/// Text of the first `<name>` element of an XML document (no entity decoding).
pub fn xml_element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].to_owned())
}

/// Sends a request with hyper (plain HTTP/1.1) to an absolute `http://` URL.
pub async fn hyper_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> RawResponse {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let req = req.body(Full::new(Bytes::from(body))).expect("build request");
    let resp = tokio::time::timeout(Duration::from_secs(60), client.request(req))
        .await
        .expect("hyper request timed out")
        .expect("hyper request");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = resp.into_body().collect().await.expect("read body").to_bytes().to_vec();
    RawResponse { status, headers, body }
}

/// Writes `request` (head and body, byte exact) to a fresh connection to `127.0.0.1:port`,
/// half-closes it, and reads the final response until the server closes the connection.
pub async fn raw_request(port: u16, request: &[u8]) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    stream.flush().await.expect("flush");
    read_response(&mut stream, request.starts_with(b"HEAD ")).await
}

/// Reads one final response (skipping `1xx`) from `stream`, until the body ends (`head`: the
/// request was a HEAD, so the response has no body whatever its headers say).
pub async fn read_response(stream: &mut tokio::net::TcpStream, head: bool) -> RawResponse {
    let mut buf = Vec::new();
    let deadline = Duration::from_secs(60);
    loop {
        let (status, headers, head_len) = loop {
            if let Some(parsed) = parse_head(&buf) {
                break parsed;
            }
            let mut chunk = vec![0u8; 8192];
            let n = tokio::time::timeout(deadline, stream.read(&mut chunk))
                .await
                .expect("response timed out")
                .expect("read response");
            assert!(
                n > 0,
                "connection closed before a full response head: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        buf.drain(..head_len);
        if (100..200).contains(&status) {
            continue;
        }
        let get = |name: &str| {
            headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        };
        let chunked = get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let len: Option<usize> = get("content-length").and_then(|v| v.trim().parse().ok());
        let no_body = head || status == 204 || status == 304;
        let body = if no_body {
            Vec::new()
        } else if let Some(len) = len.filter(|_| !chunked) {
            while buf.len() < len {
                let mut chunk = vec![0u8; 65536];
                let n = tokio::time::timeout(deadline, stream.read(&mut chunk))
                    .await
                    .expect("body timed out")
                    .expect("read body");
                assert!(n > 0, "connection closed in the response body");
                buf.extend_from_slice(&chunk[..n]);
            }
            buf[..len].to_vec()
        } else {
            // Chunked or close-delimited: read to EOF (the requests say `Connection: close`).
            let _ = tokio::time::timeout(deadline, stream.read_to_end(&mut buf)).await;
            if chunked { decode_http_chunked(&buf) } else { buf.clone() }
        };
        return RawResponse { status, headers, body };
    }
}

/// Header pairs as received.
type HeaderList = Vec<(String, String)>;

fn parse_head(buf: &[u8]) -> Option<(u16, HeaderList, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((status, headers, end + 4))
}

/// Removes HTTP/1.1 chunked framing (ignores trailers).
pub fn decode_http_chunked(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else { return out };
        let line = String::from_utf8_lossy(&data[..eol]).into_owned();
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else { return out };
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
}

/// Whether any file under `dir` contains `needle` (to show that stored bytes hold no plaintext).
pub fn any_file_contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            any_file_contains(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|data| data.windows(needle.len()).any(|w| w == needle))
        }
    })
}

/// A gateway on the S3 proxy backend: its blobs go to `bucket` of the S3 service at
/// `endpoint` (`up` itself, or a proxy in front of it), signed with `up`'s keys; `extra` flags
/// follow. The credentials file must outlive the start only.
pub fn start_proxy_to(up: &Gateway, endpoint: &str, bucket: &str, extra: &[&str]) -> Gateway {
    let creds = tempfile::NamedTempFile::new().expect("credentials file");
    std::fs::write(
        creds.path(),
        format!("access_key_id={}\nsecret_access_key={}\n", up.access_key, up.secret_key),
    )
    .expect("write credentials");
    let mut args = vec![
        "--backend",
        "s3",
        "--upstream-endpoint",
        endpoint,
        "--upstream-bucket",
        bucket,
        "--upstream-credentials-file",
        creds.path().to_str().expect("utf-8 temp path"),
    ];
    args.extend_from_slice(extra);
    let (ak, sk) = random_keys();
    Gateway::start_with_keys(&ak, &sk, &args)
}
