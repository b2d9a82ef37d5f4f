//! Operations (issue #8) through the real binary: configuration layering and validation, TLS
//! with HTTP/2 by ALPN and certificate reload on SIGHUP, the metrics and health listener, the
//! access log, the admin commands and `--version`.
//!
//! These tests start the binary themselves (not through `harness::Gateway`) because they need
//! its second listener's address, TLS, or their own flags and configuration files.

// Metric samples are parsed as f64 but are small integers here, exactly representable.
#![allow(clippy::float_cmp)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::operation::RequestId as _;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::rustls;

use crate::harness::{
    Flavour, client_for, create_bucket, err_info, hyper_request, random_bytes, random_keys,
};

const BIN: &str = env!("CARGO_BIN_EXE_s3gate");

/// A gateway process started by these tests.
struct Proc {
    child: Child,
    /// S3 port on 127.0.0.1.
    port: u16,
    /// Operations listener port, unless `--metrics-listen off`.
    metrics: Option<u16>,
    dir: PathBuf,
    ak: String,
    sk: String,
    stderr: Arc<Mutex<String>>,
    tmp: Option<tempfile::TempDir>,
}

impl Proc {
    /// `s3gate serve` on a fresh data directory with random root keys, on ephemeral ports
    /// unless `args` say otherwise.
    fn start(args: &[&str]) -> Proc {
        let tmp = tempfile::Builder::new().prefix("s3gate-ops-").tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut p = Proc::start_on(&dir, &["--listen", "127.0.0.1:0"], args);
        p.tmp = Some(tmp);
        p
    }

    fn start_on(dir: &Path, base: &[&str], args: &[&str]) -> Proc {
        let (ak, sk) = random_keys();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").args(base).arg("--data-dir").arg(dir).args(args);
        Proc::spawn(cmd, dir, ak, sk)
    }

    fn spawn(mut cmd: Command, dir: &Path, ak: String, sk: String) -> Proc {
        let mut child = cmd
            .env("S3GATE_ACCESS_KEY", &ak)
            .env("S3GATE_SECRET_KEY", &sk)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn s3gate");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut r = BufReader::new(err);
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if std::env::var_os("S3GATE_TEST_LOG").is_some() {
                    eprint!("[s3gate] {line}");
                }
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                let _ = tx.send(std::mem::take(&mut line));
            }
        });
        let mut port = None;
        let mut metrics = None;
        // The listening line comes first, then the metrics line if that listener is on, then
        // the `try:` hint: read up to the hint.
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
            if let Some(p) = port_after(&line, "listening on http://127.0.0.1:")
                .or_else(|| port_after(&line, "listening on https://127.0.0.1:"))
            {
                port = Some(p);
            }
            if let Some(p) = port_after(&line, "metrics on http://127.0.0.1:") {
                metrics = Some(p);
            }
            if line.starts_with("try:") {
                break;
            }
        }
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("s3gate did not start; stderr:\n{}", stderr.lock().unwrap());
        };
        Proc { child, port, metrics, dir: dir.to_owned(), ak, sk, stderr, tmp: None }
    }

    fn client(&self) -> aws_sdk_s3::Client {
        client_for(self.port, &self.ak, &self.sk, Flavour::WhenRequired, true)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    async fn scrape(&self) -> String {
        let port = self.metrics.expect("metrics listener on");
        let r =
            hyper_request("GET", &format!("http://127.0.0.1:{port}/metrics"), &[], vec![]).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
        r.text()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    /// SIGTERM and wait for a clean exit.
    fn stop(&mut self) {
        self.signal("-TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit {status}; stderr:\n{}", self.stderr());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_after(line: &str, prefix: &str) -> Option<u16> {
    let rest = line.split(prefix).nth(1)?;
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

/// The value of one exposition sample, e.g. `s3gate_requests_total{operation="PutObject",status="200"}`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
}

/// Runs the binary with `args` (and env), returning its output whatever the status.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("S3GATE_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Configuration.

#[test]
fn config_precedence_is_flag_then_env_then_file_then_default() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("s3gate.toml");
    std::fs::write(
        &file,
        "region = \"file-region\"\nread_ahead_parts = 5\ngc_grace_seconds = 7\n\
         domains = [\"a.example\", \"b.example\"]\nlog-format = \"json\"\n",
    )
    .unwrap();
    let out = run(
        &["serve", "--config", file.to_str().unwrap(), "--read-ahead-parts", "9", "--print-config"],
        &[("S3GATE_READ_AHEAD_PARTS", "6"), ("S3GATE_GC_GRACE_SECONDS", "8")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "read_ahead_parts = 9  # flag",
        "gc_grace_seconds = 8  # env",
        "region = \"file-region\"  # file",
        "domains = [\"a.example\", \"b.example\"]  # file",
        "log_format = \"json\"  # file",
        "orphan_grace_seconds = 3600  # default",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    // S3GATE_CONFIG names the file as well as --config does.
    let out = run(&["serve", "--print-config"], &[("S3GATE_CONFIG", file.to_str().unwrap())]);
    assert!(stdout(&out).contains("region = \"file-region\"  # file"), "{}", stdout(&out));
}

#[test]
fn config_file_drives_a_real_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data-from-file");
    let file = tmp.path().join("s3gate.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nmetrics_listen = \"off\"\n",
            data.display()
        ),
    )
    .unwrap();
    let (ak, sk) = random_keys();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config", file.to_str().unwrap()]);
    let mut p = Proc::spawn(cmd, &data, ak, sk);
    assert_eq!(p.metrics, None, "metrics_listen = off in the file turns the listener off");
    assert!(data.join("metadata.sqlite").exists(), "the data dir comes from the file");
    p.stop();
}

/// An orchestrator may stop a pod the instant it says it is listening: the signal handlers are
/// in place before the banner, so SIGTERM then still drains and exits 0 (once it killed the
/// process with the signal's default action).
#[test]
fn sigterm_right_after_the_banner_exits_cleanly() {
    for _ in 0..5 {
        let mut p = Proc::start(&["--metrics-listen", "off"]);
        p.stop();
    }
}

/// A host name serves the S3 API or a website, never both: a website domain that is also a
/// virtual-hosting domain stops the gateway before it opens anything.
#[test]
fn a_website_domain_may_not_be_an_api_domain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().unwrap(),
            "--domain",
            "s3.test",
            "--website-domain",
            "S3.test",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--website-domain S3.test is also a --domain"), "{err}");
    assert!(!dir.join("metadata.sqlite").exists(), "nothing was opened");
}

#[test]
fn config_errors_name_the_option() {
    let tmp = tempfile::tempdir().unwrap();
    let check = |contents: &str, env: &[(&str, &str)], expect: &[&str]| {
        let file = tmp.path().join("c.toml");
        std::fs::write(&file, contents).unwrap();
        let out = run(&["serve", "--config", file.to_str().unwrap(), "--print-config"], env);
        assert!(!out.status.success(), "{contents:?} was accepted");
        let err = stderr(&out);
        for e in expect {
            assert!(err.contains(e), "{contents:?}: `{e}` not in:\n{err}");
        }
    };
    check("listen = \"nowhere\"\n", &[], &["--listen", "nowhere", "c.toml"]);
    check("gc_interval_seconds = 0\n", &[], &["--gc-interval-seconds"]);
    check("lisen = \"127.0.0.1:1\"\n", &[], &["unknown option `lisen`", "c.toml"]);
    check("metrics_listen = \"here\"\n", &[], &["--metrics-listen", "or off"]);
    check("tls_cert = \"/c.pem\"\n", &[], &["--tls-key"]);
    check("region = [1, {}]\n", &[], &["option `region`"]);
    check("read_ahead_parts = \n", &[], &["c.toml", "line 1"]);
    check("", &[("S3GATE_READ_AHEAD_PARTS", "many")], &["--read-ahead-parts", "many"]);
    check("log_format = \"xml\"\n", &[], &["--log-format", "xml"]);
    // A certificate that does not exist fails at start-up, naming the option.
    let out = run(
        &["serve", "--data-dir", tmp.path().join("d").to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[
            ("S3GATE_TLS_CERT", "/nonexistent/cert.pem"),
            ("S3GATE_TLS_KEY", "/nonexistent/key.pem"),
            ("S3GATE_METRICS_LISTEN", "off"),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("tls_cert"), "{}", stderr(&out));
}

#[test]
fn print_default_is_a_valid_file_listing_every_option() {
    let out = run(&["config", "print-default"], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    for key in ["listen", "data_dir", "metrics_listen", "tls_cert", "tls_key", "log_format", "log"]
    {
        assert!(text.contains(&format!("\n#{key} = ")), "`{key}` missing:\n{text}");
    }
    // Uncommented, it is a configuration file the gateway accepts, and changes nothing.
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#').filter(|l| l.contains(" = ") && !l.starts_with(' ')))
        .collect();
    let uncommented = keys.join("\n") + "\n";
    assert!(uncommented.contains("read_ahead_parts = 4"), "{uncommented}");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("default.toml");
    std::fs::write(&file, &uncommented).unwrap();
    let out = run(&["serve", "--config", file.to_str().unwrap(), "--print-config"], &[]);
    assert!(out.status.success(), "{}\n{uncommented}", stderr(&out));
    assert!(stdout(&out).contains("listen = \"127.0.0.1:9000\"  # file"));
}

/// A build without span export refuses `--otlp-endpoint` instead of silently sending nothing
/// (the export itself is tested in otlp.rs, built with the feature).
#[cfg(not(feature = "otlp"))]
#[test]
fn otlp_endpoint_needs_a_build_with_the_otlp_feature() {
    // An unusable data directory: were the option accepted, serve would fail here, not hang.
    let out = run(
        &["serve", "--data-dir", "/dev/null/s3gate", "--otlp-endpoint", "http://127.0.0.1:4318"],
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("build s3gate with `--features otlp`"), "{}", stderr(&out));
}

#[test]
fn version_names_the_commit() {
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.starts_with(&format!("s3gate {}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains("commit: "), "{text}");
    assert!(text.contains("rustc: "), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Metrics, health, access log.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_bytes_and_stores_after_traffic() {
    let p = Proc::start(&["--metrics-listen", "127.0.0.1:0", "--gc-grace-seconds", "3600"]);
    let c = p.client();
    create_bucket(&c, "metered").await;
    let sizes = [1000usize, 20_000, 300_000];
    for (i, n) in sizes.iter().enumerate() {
        let body = random_bytes(*n);
        c.put_object()
            .bucket("metered")
            .key(format!("k{i}"))
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }
    let got = c.get_object().bucket("metered").key("k2").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), sizes[2]);
    let missing = c.get_object().bucket("metered").key("nope").send().await;
    assert!(missing.is_err());
    // Overwrite k0: its old blob is retired and waits out the (one-hour) grace.
    c.put_object()
        .bucket("metered")
        .key("k0")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    // The response body is counted as it is sent; wait until the GET's accounting is done.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = p.scrape().await;
        if sample(&text, "s3gate_requests_in_flight") == Some(0.0) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no sample {s} in:\n{text}"));
    assert_eq!(v("s3gate_requests_total{operation=\"PutObject\",status=\"200\"}"), 4.0);
    assert_eq!(v("s3gate_requests_total{operation=\"GetObject\",status=\"200\"}"), 1.0);
    assert_eq!(v("s3gate_requests_total{operation=\"GetObject\",status=\"404\"}"), 1.0);
    assert_eq!(v("s3gate_requests_total{operation=\"CreateBucket\",status=\"200\"}"), 1.0);
    assert_eq!(v("s3gate_request_duration_seconds_count{operation=\"PutObject\"}"), 4.0);
    assert_eq!(
        v("s3gate_request_duration_seconds_bucket{operation=\"PutObject\",le=\"+Inf\"}"),
        4.0
    );
    assert!(v("s3gate_request_duration_seconds_sum{operation=\"PutObject\"}") > 0.0);
    let put_bytes: usize = sizes.iter().sum::<usize>() + 1;
    let received = v("s3gate_received_bytes_total");
    assert!(received >= put_bytes as f64, "received {received} < {put_bytes}");
    // Signed plain payloads: the wire bytes are the object bytes (plus CreateBucket's body).
    assert!(received < (put_bytes + 1000) as f64, "received {received}");
    assert!(v("s3gate_sent_bytes_total") >= sizes[2] as f64);
    assert_eq!(v("s3gate_requests_in_flight"), 0.0);
    assert!(v("s3gate_connections_total") >= 1.0);
    assert!(v("s3gate_backend_duration_seconds_count{operation=\"put\"}") >= 4.0);
    assert!(v("s3gate_backend_duration_seconds_count{operation=\"get\"}") >= 1.0);
    assert!(v("s3gate_metadata_duration_seconds_count{operation=\"put_object\"}") >= 4.0);
    assert!(v("s3gate_metadata_group_commits_total") >= 1.0);
    assert!(v("s3gate_metadata_group_commit_writes_total") >= 5.0);
    assert_eq!(v("s3gate_gc_backlog_blobs"), 1.0, "the overwritten blob awaits collection");
    assert_eq!(v("s3gate_upstream_retries_total"), 0.0);
    let build = text.lines().find(|l| l.starts_with("s3gate_build_info{")).expect("build info");
    assert!(build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))), "{build}");
    assert!(build.contains("commit=\"") && build.ends_with("} 1"), "{build}");
    for family in ["s3gate_requests_total", "s3gate_request_duration_seconds"] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family} has no TYPE line");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_answer_without_auth() {
    let p = Proc::start(&["--metrics-listen", "127.0.0.1:0"]);
    let m = p.metrics.unwrap();
    let live =
        hyper_request("GET", &format!("http://127.0.0.1:{m}/health/live"), &[], vec![]).await;
    assert_eq!(live.status, 200);
    let ready =
        hyper_request("GET", &format!("http://127.0.0.1:{m}/health/ready"), &[], vec![]).await;
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    let head =
        hyper_request("HEAD", &format!("http://127.0.0.1:{m}/health/ready"), &[], vec![]).await;
    assert_eq!(head.status, 200);
    let other = hyper_request("GET", &format!("http://127.0.0.1:{m}/nope"), &[], vec![]).await;
    assert_eq!(other.status, 404);
    let post = hyper_request("POST", &format!("http://127.0.0.1:{m}/metrics"), &[], vec![]).await;
    assert_eq!(post.status, 405);
    // The S3 port does not serve them: there they are anonymous S3 requests, here for a key of
    // a bucket that does not exist (NoSuchBucket, to anyone, as on AWS).
    let s3 = hyper_request("GET", &format!("http://127.0.0.1:{}/health/live", p.port), &[], vec![])
        .await;
    s3.assert_error(404, "NoSuchBucket", "/health/live on the S3 port");
}

/// The operations listener under a flood of HTTP/2 prefaces from several addresses (issue
/// 16: 64 of them used to make the probes time out, and an orchestrator restart the pod).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_under_a_connection_flood_on_the_operations_listener() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let p = Proc::start(&["--metrics-listen", "127.0.0.1:0"]);
    let m = p.metrics.unwrap();
    let connect_from = |source: u8| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, source], 0))).unwrap();
        socket.connect(std::net::SocketAddr::from(([127, 0, 0, 1], m))).await.unwrap()
    };
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    // 5 addresses × 16 connections: more than the listener's 64 slots, each address at its cap.
    let mut flood = Vec::new();
    for source in 2..7u8 {
        for _ in 0..s3gate_server::OPS_CONNECTIONS_PER_CLIENT {
            let mut c = connect_from(source).await;
            let _ = c.write_all(preface).await;
            flood.push(c);
        }
    }
    let mut over = connect_from(2).await;
    let _ = over.write_all(preface).await;
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match over.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a connection over the per-client cap was kept");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for probe in ["/health/live", "/health/ready"] {
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            hyper_request("GET", &format!("http://127.0.0.1:{m}{probe}"), &[], vec![]),
        )
        .await;
        let r = r.unwrap_or_else(|_| panic!("{probe} timed out under the flood"));
        assert_eq!(r.status, 200, "{probe}");
        println!("{probe}: {:?} under the flood", started.elapsed());
    }
    drop(flood);
}

/// The head of a header-signed PUT with an unsigned payload of `len` bytes.
fn unsigned_put_head(p: &Proc, path: &str, len: usize) -> String {
    let host = format!("127.0.0.1:{}", p.port);
    let len = len.to_string();
    let headers = [("host", host.as_str()), ("content-length", len.as_str())];
    let added = s3gate_sigv4::sign_headers(
        &s3gate_sigv4::RequestParts {
            method: "PUT",
            raw_path: path,
            raw_query: None,
            headers: &headers,
        },
        s3gate_sigv4::UNSIGNED_PAYLOAD,
        &s3gate_sigv4::SigningParams {
            access_key_id: &p.ak,
            secret_key: &p.sk,
            region: crate::harness::REGION,
            service: "s3",
            time: SystemTime::now(),
        },
    );
    let mut head = format!("PUT {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {len}\r\n");
    for (n, v) in &added {
        head.push_str(n);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_abandoned_by_its_client_is_logged_once_and_stores_nothing() {
    use tokio::io::AsyncWriteExt as _;
    let p = Proc::start(&["--metrics-listen", "127.0.0.1:0", "--log-format", "json"]);
    create_bucket(&p.client(), "aborted").await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    stream.write_all(unsigned_put_head(&p, "/aborted/half", 1000).as_bytes()).await.unwrap();
    stream.write_all(&[7u8; 400]).await.unwrap();
    stream.flush().await.unwrap();
    // Wait until the gateway has read those bytes, then vanish.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&p.scrape().await, "s3gate_received_bytes_total").unwrap() < 400.0 {
        assert!(Instant::now() < deadline, "the body never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    let event = loop {
        let found = p
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["target"] == "s3gate::access" && v["key"] == "half");
        if let Some(e) = found {
            break e;
        }
        assert!(Instant::now() < deadline, "no access event:\n{}", p.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The body read fails, so the request ends as S3's IncompleteBody (400), with the bytes
    // that did arrive; exactly one event is written for it.
    assert_eq!(event["status"], 400, "{event}");
    assert_eq!(event["operation"], "PutObject");
    assert_eq!(event["bytes_received"], 400);
    let events = p.stderr().lines().filter(|l| l.contains("\"key\":\"half\"")).count();
    assert_eq!(events, 1, "{}", p.stderr());
    let text = p.scrape().await;
    assert_eq!(
        sample(&text, "s3gate_requests_total{operation=\"PutObject\",status=\"400\"}"),
        Some(1.0)
    );
    assert!(p.client().head_object().bucket("aborted").key("half").send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readiness_off_while_requests_in_flight_finish() {
    use tokio::io::AsyncWriteExt as _;
    let mut p = Proc::start(&["--metrics-listen", "127.0.0.1:0"]);
    create_bucket(&p.client(), "drain").await;
    // A signed PUT whose body is only half sent: a request in flight.
    let head = unsigned_put_head(&p, "/drain/slow", 10);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"01234").await.unwrap();
    let ready = format!("http://127.0.0.1:{}/health/ready", p.metrics.unwrap());
    assert_eq!(hyper_request("GET", &ready, &[], vec![]).await.status, 200);

    p.signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = hyper_request("GET", &ready, &[], vec![]).await;
        if r.status == 503 {
            assert_eq!(r.text(), "shutting down\n");
            break;
        }
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The request in flight completes normally, then the process exits cleanly.
    stream.write_all(b"56789").await.unwrap();
    let resp = crate::harness::read_response(&mut stream, false).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let status = p.child.wait().unwrap();
    assert!(status.success(), "exit {status}; stderr:\n{}", p.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_blob_store_fails() {
    let p = Proc::start(&["--metrics-listen", "127.0.0.1:0"]);
    let m = p.metrics.unwrap();
    let url = format!("http://127.0.0.1:{m}/health/ready");
    assert_eq!(hyper_request("GET", &url, &[], vec![]).await.status, 200);
    // Replace the data directory's blob tree by a file: every blob read now fails with an
    // I/O error other than "not found", which readiness must report.
    let blobs = p.dir.join("blobs");
    std::fs::rename(&blobs, p.dir.join("blobs-away")).unwrap();
    std::fs::write(&blobs, b"not a directory").unwrap();
    let r = hyper_request("GET", &url, &[], vec![]).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("blob store"), "{}", r.text());
    std::fs::remove_file(&blobs).unwrap();
    std::fs::rename(p.dir.join("blobs-away"), &blobs).unwrap();
    assert_eq!(hyper_request("GET", &url, &[], vec![]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_has_one_json_event_per_request_with_its_fields() {
    let p = Proc::start(&["--metrics-listen", "off", "--log-format", "json"]);
    let c = p.client();
    create_bucket(&c, "logged").await;
    let body = random_bytes(12_345);
    let put = c
        .put_object()
        .bucket("logged")
        .key("dir/file.bin")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let get = c.get_object().bucket("logged").key("dir/file.bin").send().await.unwrap();
    let get_id = get.request_id().unwrap().to_owned();
    assert_eq!(get.body.collect().await.unwrap().into_bytes().len(), body.len());
    let put_id = put.request_id().unwrap().to_owned();

    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events: Vec<serde_json::Value> = p
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "s3gate::access")
            .collect();
        if events.iter().any(|e| e["request_id"] == get_id.as_str()) || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let one = |id: &str| {
        let found: Vec<&serde_json::Value> =
            events.iter().filter(|e| e["request_id"] == id).collect();
        assert_eq!(found.len(), 1, "one access event per request: {found:?}\n{}", p.stderr());
        found[0].clone()
    };
    let g = one(&get_id);
    assert_eq!(g["operation"], "GetObject");
    assert_eq!(g["user"], "root");
    assert_eq!(g["bucket"], "logged");
    assert_eq!(g["key"], "dir/file.bin");
    assert_eq!(g["method"], "GET");
    assert_eq!(g["status"], 200);
    assert_eq!(g["bytes_sent"], body.len());
    assert_eq!(g["complete"], true);
    assert!(g["duration_us"].as_u64().is_some(), "{g}");
    let w = one(&put_id);
    assert_eq!(w["operation"], "PutObject");
    assert_eq!(w["bytes_received"], body.len());
    assert_eq!(w["status"], 200);
    // Unauthenticated requests are logged too, with what is known of them.
    let anon = hyper_request("GET", &format!("http://127.0.0.1:{}/", p.port), &[], vec![]).await;
    let anon_id = anon.header("x-amz-request-id").unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.stderr().contains(&anon_id) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = p.stderr().lines().find(|l| l.contains(&anon_id)).map(str::to_owned).unwrap();
    let a: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!((a["status"].as_u64(), a["user"].as_str()), (Some(403), Some("")));
    assert_eq!(a["operation"], "ListBuckets");
    // Requests refused before they reach an operation still name it (issue 15): a signature
    // from an unknown key, and a sub-resource the gateway does not implement.
    let p = &p;
    let event_of = |r: &crate::harness::RawResponse| {
        let id = r.header("x-amz-request-id").unwrap().to_owned();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !p.stderr().contains(&id) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let line = p.stderr().lines().find(|l| l.contains(&id)).map(str::to_owned).unwrap();
            serde_json::from_str::<serde_json::Value>(&line).unwrap()
        }
    };
    let forged = "AWS4-HMAC-SHA256 Credential=AKNOSUCHKEY0000000/20260101/us-east-1/s3/aws4_request, \
                  SignedHeaders=host, Signature=00";
    let url = format!("http://127.0.0.1:{}/logged/dir/file.bin", p.port);
    let r = hyper_request("GET", &url, &[("authorization", forged)], vec![]).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let e = event_of(&r).await;
    assert_eq!(
        (&e["operation"], &e["bucket"], &e["key"]),
        (&"GetObject".into(), &"logged".into(), &"dir/file.bin".into()),
        "{e}"
    );
    let url = format!("http://127.0.0.1:{}/logged?analytics&id=x", p.port);
    let r = hyper_request("PUT", &url, &[], vec![]).await;
    assert_eq!(r.status, 501, "{}", r.text());
    let e = event_of(&r).await;
    assert_eq!(e["operation"], "PutBucketAnalyticsConfiguration", "{e}");
    assert_eq!(e["bucket"], "logged", "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_log_escapes_control_characters_and_has_no_colours_off_a_terminal() {
    let p = Proc::start(&["--metrics-listen", "off", "--log-format", "text"]);
    let c = p.client();
    create_bucket(&c, "logged").await;
    // A key that, written raw, would end the access line, forge a second one and colour the
    // reader's terminal.
    let key = "evil\r\n2026-01-01T00:00:00Z  INFO s3gate::access: FORGED\u{1b}[2J\u{7}\u{9b}";
    let put = c
        .put_object()
        .bucket("logged")
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let id = put.request_id().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.stderr().contains(&id) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = p.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
    assert_eq!(lines.len(), 1, "one access line for the PUT:\n{log}");
    let line = lines[0];
    assert!(line.contains("evil\\r\\n2026"), "CR/LF escaped: {line}");
    assert!(line.contains("FORGED\\u{1b}[2J\\u{7}\\u{9b}"), "ESC, BEL, CSI escaped: {line}");
    assert!(
        !log.lines().any(|l| l.contains("FORGED") && !l.contains(&id)),
        "a forged line:\n{log}"
    );
    // Nothing in the whole log is a control character but its newlines: no colours either,
    // stderr being a pipe.
    let control: Vec<char> = log.chars().filter(|c| c.is_control() && *c != '\n').collect();
    assert!(control.is_empty(), "control characters {control:?} in:\n{log}");
    // The object is stored under its real key.
    let got = c.head_object().bucket("logged").key(key).send().await;
    assert!(got.is_ok(), "{got:?}");
}

#[test]
fn user_add_refuses_names_and_keys_anyone_could_abuse() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let ak = "AKUSERADD0000000001";
    let sk = "a-secret-of-more-than-16/chars";
    let add = |name: &str, key: &str, secret: &str| {
        admin(&["user", "add", name, "--access-key", key, "--secret-key", secret], &dir)
    };
    for (name, key, secret, why) in [
        ("", ak, sk, "user name"),
        (" alice", ak, sk, "user name"),
        ("alice\nroot", ak, sk, "user name"),
        ("alice bob", ak, sk, "user name"),
        (&*"n".repeat(65), ak, sk, "user name"),
        ("alice", "", sk, "access key"),
        ("alice", "AKSHORT", sk, "access key"),
        ("alice", "AK-WITH-DASHES-0001", sk, "access key"),
        ("alice", ak, "", "secret key"),
        ("alice", ak, "short", "secret key"),
        ("alice", ak, "has a space in it, sixteen+", "secret key"),
    ] {
        let out = add(name, key, secret);
        assert!(!out.status.success(), "{name:?} {key:?} {secret:?} was accepted");
        assert!(stderr(&out).contains(why), "{name:?} {key:?} {secret:?}: {}", stderr(&out));
        // Refused before the store is opened: nothing was created.
        assert!(!dir.exists(), "{name:?} {key:?} {secret:?} created {}", dir.display());
    }
    let ok = add("svc.ci@team+1", ak, sk);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(admin_ok(&["user", "list"], &dir).contains("svc.ci@team+1\tAKUSERADD0000000001"));
    // Generated keys pass the same check.
    let generated = admin_ok(&["user", "add", "bob"], &dir);
    assert!(generated.contains("access_key_id: SG"), "{generated}");
    // Root keys from the environment are checked the same way.
    let out = run(
        &["serve", "--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[
            ("S3GATE_ACCESS_KEY", "AK"),
            ("S3GATE_SECRET_KEY", "secret"),
            ("S3GATE_METRICS_LISTEN", "off"),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("S3GATE_ACCESS_KEY"), "{}", stderr(&out));
}

/// Issue 16: buckets were owned by a user name, and a new user created with a removed user's
/// name inherited that user's buckets and data. Names are now retired on removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_users_name_is_never_given_out_again() {
    let p = Proc::start(&["--metrics-listen", "off"]);
    let dir = p.dir.clone();
    let keys = |out: &str, field: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(field))
            .map_or_else(|| panic!("no {field} in {out}"), |v| v.trim().to_owned())
    };
    let out = admin_ok(&["user", "add", "alice"], &dir);
    let (ak, sk) = (keys(&out, "access_key_id:"), keys(&out, "secret_access_key:"));
    let alice = client_for(p.port, &ak, &sk, Flavour::WhenRequired, true);
    create_bucket(&alice, "alices").await;
    alice
        .put_object()
        .bucket("alices")
        .key("diary")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();
    let removed = admin_ok(&["user", "remove", "alice"], &dir);
    assert!(removed.contains("retired"), "{removed}");
    // The name cannot be taken again, with or without the old keys.
    let again = admin(&["user", "add", "alice"], &dir);
    assert!(!again.status.success(), "a new alice was created");
    assert!(stderr(&again).contains("removed user"), "{}", stderr(&again));
    let again = admin(&["user", "add", "alice", "--access-key", &ak, "--secret-key", &sk], &dir);
    assert!(!again.status.success(), "alice came back with her old keys");
    // Her old keys no longer sign (the cache of users lasts 5 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = alice.get_object().bucket("alices").key("diary").send().await;
        if r.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "removed alice still reads her bucket");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // What she owned stays, reachable by root (who can empty and delete it).
    let root = p.client();
    let got = root.get_object().bucket("alices").key("diary").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"private");
    assert!(admin_ok(&["bucket", "list"], &dir).lines().any(|l| l.starts_with("alices\talice")));
    // Another name works, and sees none of it.
    let out = admin_ok(&["user", "add", "alice2"], &dir);
    let other = client_for(
        p.port,
        &keys(&out, "access_key_id:"),
        &keys(&out, "secret_access_key:"),
        Flavour::WhenRequired,
        true,
    );
    assert!(other.list_buckets().send().await.unwrap().buckets().is_empty());
    assert!(other.get_object().bucket("alices").key("diary").send().await.is_err());
}

// ---------------------------------------------------------------------------------------------
// TLS.

/// A CA and leaf certificates for 127.0.0.1 signed by it.
struct Pki {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "s3gate test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        Pki { ca }
    }

    /// Writes a new leaf (certificate, key) to the two files; returns the certificate's DER.
    fn leaf(&self, cert_file: &Path, key_file: &Path, name: &str) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        // Write-then-rename, as a certificate manager does, so a reload never sees half a file.
        let tmp = cert_file.with_extension("tmp");
        std::fs::write(&tmp, cert.pem()).unwrap();
        std::fs::rename(&tmp, cert_file).unwrap();
        std::fs::write(&tmp, key.serialize_pem()).unwrap();
        std::fs::rename(&tmp, key_file).unwrap();
        cert.der().to_vec()
    }

    fn client(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn tls_connect(conn: &tokio_rustls::TlsConnector, port: u16) -> (TlsStream, Vec<u8>) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = conn.connect(name, tcp).await.expect("TLS handshake with the CA-signed certificate");
    let served = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    (tls, served)
}

fn anonymous_get() -> http::Request<Empty<Bytes>> {
    http::Request::builder().uri("https://127.0.0.1/").body(Empty::new()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_http2_by_alpn_and_reloads_the_certificate_on_sighup() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let pki = Pki::new();
    let first = pki.leaf(&cert, &key, "first");
    let p = Proc::start(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);

    // HTTP/2, chosen by ALPN; the gateway answers an unsigned request with S3's 403.
    let h2 = pki.client(&[b"h2", b"http/1.1"]);
    let (tls, served) = tls_connect(&h2, p.port).await;
    assert_eq!(served, first);
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut old, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let r = old.send_request(anonymous_get()).await.unwrap();
    assert_eq!((r.version(), r.status().as_u16()), (http::Version::HTTP_2, 403));
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("<Code>AccessDenied</Code>"));

    // A client offering only HTTP/1.1 gets HTTP/1.1.
    let h1 = pki.client(&[b"http/1.1"]);
    let (tls, _) = tls_connect(&h1, p.port).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let r = s.send_request(anonymous_get()).await.unwrap();
    assert_eq!((r.version(), r.status().as_u16()), (http::Version::HTTP_11, 403));

    // Swap the files and SIGHUP: new handshakes get the new certificate ...
    let second = pki.leaf(&cert, &key, "second");
    assert_ne!(first, second);
    p.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, served) = tls_connect(&h2, p.port).await;
        if served == second {
            break;
        }
        assert_eq!(served, first, "an unknown certificate was served");
        assert!(Instant::now() < deadline, "SIGHUP did not reload; stderr:\n{}", p.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(p.stderr().contains("TLS certificate reloaded"), "{}", p.stderr());
    // ... while the connection opened before the reload still works.
    let r = old.send_request(anonymous_get()).await.expect("old connection survives the reload");
    assert_eq!(r.status().as_u16(), 403);

    // A broken pair is refused on reload; the gateway keeps serving the last good one.
    std::fs::write(&key, "not a key").unwrap();
    p.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.stderr().contains("reload failed") {
        assert!(Instant::now() < deadline, "no reload failure logged:\n{}", p.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, served) = tls_connect(&h2, p.port).await;
    assert_eq!(served, second);

    // A client that does not trust the CA fails the handshake, and it is counted.
    let untrusting = Pki::new().client(&[b"h2"]);
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    assert!(untrusting.connect(name, tcp).await.is_err());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = p.scrape().await;
        if sample(&text, "s3gate_tls_handshake_failures_total").unwrap() >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "handshake failure not counted:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_work_over_http2_and_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let pki = Pki::new();
    pki.leaf(&cert, &key, "sdk");
    let p = Proc::start(&[
        "--metrics-listen",
        "off",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    // Signed S3 requests over HTTP/2 + TLS: create a bucket, put and read back an object.
    let h2 = pki.client(&[b"h2"]);
    let (tls, _) = tls_connect(&h2, p.port).await;
    let (mut s, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let body = random_bytes(50_000);
    for (method, path, payload) in
        [("PUT", "/tls-bucket", Vec::new()), ("PUT", "/tls-bucket/obj", body.clone())]
    {
        let req = signed(method, p.port, path, &payload, &p.ak, &p.sk);
        let r = s.send_request(req).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{method} {path}");
    }
    let r =
        s.send_request(signed("GET", p.port, "/tls-bucket/obj", &[], &p.ak, &p.sk)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.into_body().collect().await.unwrap().to_bytes().to_vec(), body);
}

/// A SigV4-signed request for 127.0.0.1:port (HTTP/2 carries the host in :authority).
fn signed(
    method: &str,
    port: u16,
    path: &str,
    body: &[u8],
    ak: &str,
    sk: &str,
) -> http::Request<http_body_util::Full<Bytes>> {
    signed_query(method, port, (path, None), body, (ak, sk))
}

/// [`signed`] with a query string.
fn signed_query(
    method: &str,
    port: u16,
    (path, query): (&str, Option<&str>),
    body: &[u8],
    (ak, sk): (&str, &str),
) -> http::Request<http_body_util::Full<Bytes>> {
    use sha2::Digest as _;
    let host = format!("127.0.0.1:{port}");
    let payload_hash = hex::encode(sha2::Sha256::digest(body));
    let headers = [("host", host.as_str())];
    let added = s3gate_sigv4::sign_headers(
        &s3gate_sigv4::RequestParts { method, raw_path: path, raw_query: query, headers: &headers },
        &payload_hash,
        &s3gate_sigv4::SigningParams {
            access_key_id: ak,
            secret_key: sk,
            region: crate::harness::REGION,
            service: "s3",
            time: SystemTime::now(),
        },
    );
    let uri = match query {
        Some(q) => format!("https://{host}{path}?{q}"),
        None => format!("https://{host}{path}"),
    };
    let mut req = http::Request::builder().method(method).uri(uri);
    for (n, v) in added {
        req = req.header(n, v);
    }
    req.body(http_body_util::Full::new(Bytes::copy_from_slice(body))).unwrap()
}

/// `aws:SecureTransport` and `s3:TlsVersion` come from the connection: a policy that denies
/// reads below TLS 1.3 refuses a TLS 1.2 client and serves a TLS 1.3 one, and one that denies
/// plain HTTP never fires on the TLS listener and always on the plain one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_condition_keys_come_from_the_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let pki = Pki::new();
    pki.leaf(&cert, &key, "policy");
    let args = ["--metrics-listen", "off", "--tls-cert", cert.to_str().unwrap()];
    let p = Proc::start(&[&args[..], &["--tls-key", key.to_str().unwrap()]].concat());
    let policy = r#"{"Version": "2012-10-17", "Statement": [
        {"Sid": "Tls13Reads", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::tlsb/*",
         "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.3"}}},
        {"Sid": "NoPlainWrites", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::tlsb/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}"#;
    let connect = |versions: &[&'static rustls::SupportedProtocolVersion]| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    };
    let send = async |conn: &tokio_rustls::TlsConnector, req| {
        let (tls, _) = tls_connect(conn, p.port).await;
        let (mut s, c) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(c);
        s.send_request(req).await.unwrap().status().as_u16()
    };
    let tls13 = connect(&[&rustls::version::TLS13]);
    let tls12 = connect(&[&rustls::version::TLS12]);
    let keys = (p.ak.as_str(), p.sk.as_str());
    let put_bucket = signed("PUT", p.port, "/tlsb", &[], keys.0, keys.1);
    assert_eq!(send(&tls13, put_bucket).await, 200);
    let set = signed_query("PUT", p.port, ("/tlsb", Some("policy=")), policy.as_bytes(), keys);
    assert_eq!(send(&tls13, set).await, 204);
    // Writes over TLS of either version are not plain HTTP.
    for conn in [&tls12, &tls13] {
        let put = signed("PUT", p.port, "/tlsb/o", b"over tls", keys.0, keys.1);
        assert_eq!(send(conn, put).await, 200, "a write over TLS");
    }
    let get = || signed("GET", p.port, "/tlsb/o", &[], keys.0, keys.1);
    assert_eq!(send(&tls13, get()).await, 200, "TLS 1.3 reads");
    assert_eq!(send(&tls12, get()).await, 403, "TLS 1.2 is denied by s3:TlsVersion");

    // The plain listener: the same policy refuses every write, and reads (no TLS version:
    // NumericLessThan on an absent key does not match).
    let plain = Proc::start(&["--metrics-listen", "off"]);
    let c = client_for(plain.port, &plain.ak, &plain.sk, Flavour::Default, false);
    c.create_bucket().bucket("tlsb").send().await.unwrap();
    c.put_bucket_policy().bucket("tlsb").policy(policy).send().await.unwrap();
    let refused = c.put_object().bucket("tlsb").key("o").body(b"plain".to_vec().into()).send();
    assert_eq!(err_info(&refused.await.unwrap_err()), (403, "AccessDenied".to_owned()));
}

// ---------------------------------------------------------------------------------------------
// The admin API.

/// A request to the admin API on `port`, SigV4-signed with `keys` (unsigned when `None`).
async fn admin_api(
    port: u16,
    method: &str,
    path: &str,
    body: &[u8],
    keys: Option<(&str, &str)>,
) -> (u16, serde_json::Value) {
    use sha2::Digest as _;
    let host = format!("127.0.0.1:{port}");
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some((ak, sk)) = keys {
        let payload_hash = hex::encode(sha2::Sha256::digest(body));
        let parts = s3gate_sigv4::RequestParts {
            method,
            raw_path: path,
            raw_query: None,
            headers: &[("host", host.as_str())],
        };
        let params = s3gate_sigv4::SigningParams {
            access_key_id: ak,
            secret_key: sk,
            region: crate::harness::REGION,
            service: "s3",
            time: SystemTime::now(),
        };
        headers = s3gate_sigv4::sign_headers(&parts, &payload_hash, &params);
    }
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let url = format!("http://{host}{path}");
    let r = hyper_request(method, &url, &pairs, body.to_vec()).await;
    let value = if r.body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.text()))
    };
    (r.status, value)
}

/// The admin API through the binary: nothing without a root signature; users, keys, groups,
/// stored policies and attachments made over it take effect on the S3 API; refusals change
/// nothing and keep their meaning (400, 404, 409).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_manages_users_groups_and_policies() {
    let p = Proc::start(&["--metrics-listen", "127.0.0.1:0"]);
    let ops = p.metrics.expect("the operations listener");
    let root = Some((p.ak.as_str(), p.sk.as_str()));
    // Unsigned, or signed with a key that is not root's: 403, with a JSON error.
    let (status, err) = admin_api(ops, "GET", "/admin/v1/users", b"", None).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("AccessDenied")));
    let (status, _) = admin_api(
        ops,
        "GET",
        "/admin/v1/users",
        b"",
        Some(("AKIANOBODYNOBODY00", "x".repeat(40).as_str())),
    )
    .await;
    assert_eq!(status, 403);

    // A read-only user, made over the API, reads root's bucket and writes nothing.
    let (status, made) = admin_api(
        ops,
        "POST",
        "/admin/v1/users",
        br#"{"name":"dev","policies":["read-only"]}"#,
        root,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let (ak, sk) =
        (made["access_key_id"].as_str().unwrap(), made["secret_access_key"].as_str().unwrap());
    let (status, _) = admin_api(ops, "POST", "/admin/v1/users", br#"{"name":"dev"}"#, root).await;
    assert_eq!(status, 409, "the name is taken");
    let (status, _) =
        admin_api(ops, "POST", "/admin/v1/users", br#"{"name":"x","policies":["nope"]}"#, root)
            .await;
    assert_eq!(status, 404, "an unknown policy");
    let c = client_for(p.port, &p.ak, &p.sk, Flavour::Default, false);
    create_bucket(&c, "shared").await;
    c.put_object().bucket("shared").key("k").body(b"v".to_vec().into()).send().await.unwrap();
    let dev = client_for(p.port, ak, sk, Flavour::Default, false);
    dev.get_object().bucket("shared").key("k").send().await.unwrap();
    let put = dev.put_object().bucket("shared").key("w").body(b"w".to_vec().into()).send().await;
    assert_eq!(err_info(&put.unwrap_err()), (403, "AccessDenied".to_owned()));
    // Every decision is counted by outcome and reason.
    let text = p.scrape().await;
    let denied = r#"s3gate_authz_decisions_total{outcome="implicit_deny",reason="no_grant"}"#;
    let by_policy = r#"s3gate_authz_decisions_total{outcome="allow",reason="identity_policy"}"#;
    assert!(sample(&text, denied).is_some_and(|n| n >= 1.0), "{text}");
    assert!(sample(&text, by_policy).is_some_and(|n| n >= 1.0), "{text}");
    // The dev user's own key is no admin key.
    let (status, _) = admin_api(ops, "GET", "/admin/v1/users", b"", Some((ak, sk))).await;
    assert_eq!(status, 403);

    // A stored policy through a group lets dev upload under in/.
    let doc = br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::shared/in/*"}]}"#;
    let (status, bad) = admin_api(ops, "PUT", "/admin/v1/policies/uploads", b"{}", root).await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("MalformedPolicyDocument")));
    assert_eq!(admin_api(ops, "PUT", "/admin/v1/policies/uploads", doc, root).await.0, 201);
    assert_eq!(admin_api(ops, "PUT", "/admin/v1/groups/ci", b"", root).await.0, 201);
    assert_eq!(admin_api(ops, "PUT", "/admin/v1/groups/ci/members/dev", b"", root).await.0, 204);
    assert_eq!(
        admin_api(ops, "PUT", "/admin/v1/groups/ci/policies/uploads", b"", root).await.0,
        204
    );
    let (status, conflict) =
        admin_api(ops, "DELETE", "/admin/v1/policies/uploads", b"", root).await;
    assert_eq!((status, conflict["error"].as_str()), (409, Some("DeleteConflict")));
    let (_, users) = admin_api(ops, "GET", "/admin/v1/users", b"", root).await;
    let listed = users["users"].as_array().unwrap().iter().find(|u| u["name"] == "dev").unwrap();
    assert_eq!(listed["groups"], serde_json::json!(["ci"]));
    assert_eq!(listed["policies"], serde_json::json!(["read-only"]));
    assert!(listed["keys"][0].get("secret_access_key").is_none(), "secrets are never listed");
    let (_, got) = admin_api(ops, "GET", "/admin/v1/policies/uploads", b"", root).await;
    assert_eq!(got["document"]["Statement"][0]["Action"], "s3:PutObject");
    // Within the signer cache's 5 s the upload is allowed.
    let mut allowed = false;
    for _ in 0..40 {
        let put = dev.put_object().bucket("shared").key("in/a").body(b"a".to_vec().into()).send();
        if put.await.is_ok() {
            allowed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(allowed, "the group's policy reaches the gateway");

    // A disabled key stops working; a second key of the same user does.
    let path = format!("/admin/v1/users/dev/keys/{ak}");
    let (status, _) = admin_api(ops, "PUT", &path, br#"{"status":"Inactive"}"#, root).await;
    assert_eq!(status, 204);
    let (status, second) = admin_api(ops, "POST", "/admin/v1/users/dev/keys", b"", root).await;
    assert_eq!(status, 201);
    let dev2 = client_for(
        p.port,
        second["access_key_id"].as_str().unwrap(),
        second["secret_access_key"].as_str().unwrap(),
        Flavour::Default,
        false,
    );
    let mut refused = false;
    for _ in 0..40 {
        if let Err(e) = dev.get_object().bucket("shared").key("k").send().await {
            assert_eq!(err_info(&e), (403, "InvalidAccessKeyId".to_owned()));
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(refused, "the disabled key is refused");
    dev2.get_object().bucket("shared").key("k").send().await.unwrap();
    // Root is not managed here; unknown things are 404; bad methods 405.
    assert_eq!(admin_api(ops, "DELETE", "/admin/v1/users/root", b"", root).await.0, 400);
    assert_eq!(admin_api(ops, "DELETE", "/admin/v1/groups/nope", b"", root).await.0, 404);
    assert_eq!(admin_api(ops, "POST", "/admin/v1/groups", b"", root).await.0, 405);
    assert_eq!(admin_api(ops, "GET", "/admin/v1/nothing", b"", root).await.0, 404);
}

// ---------------------------------------------------------------------------------------------
// Admin commands.

fn admin(args: &[&str], dir: &Path) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", dir.to_str().unwrap()]);
    run(&all, &[])
}

fn admin_ok(args: &[&str], dir: &Path) -> String {
    let out = admin(args, dir);
    assert!(out.status.success(), "s3gate {args:?}: {}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn blob_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("blobs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_on_a_running_then_stopped_gateway() {
    let mut p = Proc::start(&["--metrics-listen", "off"]);
    let dir = p.dir.clone();
    let c = p.client();

    // bucket create/list/delete while the gateway runs; the gateway sees the change.
    assert!(admin_ok(&["bucket", "create", "adm-bucket"], &dir).contains("created"));
    c.head_bucket().bucket("adm-bucket").send().await.expect("created by the CLI");
    assert!(admin_ok(&["bucket", "list"], &dir).lines().any(|l| l.starts_with("adm-bucket\troot")));
    let dup = admin(&["bucket", "create", "adm-bucket"], &dir);
    assert!(!dup.status.success() && stderr(&dup).contains("already exists"));
    let bad = admin(&["bucket", "create", "Bad_Name"], &dir);
    assert!(!bad.status.success());
    let nobody = admin(&["bucket", "create", "adm-other", "--owner", "nobody"], &dir);
    assert!(!nobody.status.success() && stderr(&nobody).contains("no user named nobody"));

    create_bucket(&c, "adm-data").await;
    let data = random_bytes(10_000);
    for k in ["a", "b", "c"] {
        c.put_object()
            .bucket("adm-data")
            .key(k)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
    }
    let full = admin(&["bucket", "delete", "adm-data"], &dir);
    assert!(!full.status.success() && stderr(&full).contains("not empty"), "{}", stderr(&full));
    admin_ok(&["bucket", "delete", "adm-bucket"], &dir);
    assert!(c.head_bucket().bucket("adm-bucket").send().await.is_err());

    // A healthy directory checks clean.
    let out = admin_ok(&["check"], &dir);
    assert!(out.contains("gateway: running") && out.contains("objects: 3"), "{out}");
    assert!(out.contains("missing blobs: 0"), "{out}");

    // An orphan: a blob file no metadata names, made to look two hours old.
    let orphan_id = "0123456789abcdef0123456789abcdef";
    let orphan = dir.join("blobs/01/23").join(orphan_id);
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"debris").unwrap();
    let old = SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&orphan).unwrap().set_modified(old).unwrap();
    // A young orphan (a write in flight, as far as anyone can tell) is never touched.
    let young = dir.join("blobs/fe/dc").join("fedcba9876543210fedcba9876543210");
    std::fs::create_dir_all(young.parent().unwrap()).unwrap();
    std::fs::write(&young, b"in flight").unwrap();

    let out = admin(&["check"], &dir);
    assert!(!out.status.success(), "orphans make check fail");
    let text = stdout(&out);
    assert!(text.contains(&format!("orphan {orphan_id}")), "{text}");
    assert!(text.contains("(writes in flight?): 1"), "{text}");
    let out = admin_ok(&["check", "--repair"], &dir);
    assert!(out.contains("repair: deleted 1 unreferenced"), "{out}");
    assert!(!orphan.exists() && young.exists());

    // gc while running: an overwritten blob is younger than the grace and stays.
    c.put_object()
        .bucket("adm-data")
        .key("a")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap();
    let out = admin_ok(&["gc"], &dir);
    assert!(out.contains("gateway running") && out.contains("retired blobs deleted: 0"), "{out}");
    assert!(out.contains("retired blobs still waiting: 1"), "{out}");

    // Missing data: delete a live object's blob behind the gateway's back.
    let before: Vec<PathBuf> = blob_files(&dir);
    c.put_object()
        .bucket("adm-data")
        .key("victim")
        .body(ByteStream::from_static(b"gone"))
        .send()
        .await
        .unwrap();
    let victim = blob_files(&dir).into_iter().find(|f| !before.contains(f)).expect("new blob");
    std::fs::remove_file(&victim).unwrap();
    let out = admin(&["check"], &dir);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("missing blobs: 1") && text.contains("of adm-data/victim"), "{text}");
    c.delete_object().bucket("adm-data").key("victim").send().await.unwrap();

    // Stopped: gc collects every retired blob at once, including the young orphan's kin.
    p.stop();
    let out = admin_ok(&["gc"], &dir);
    assert!(out.contains("gateway stopped"), "{out}");
    assert!(out.contains("retired blobs deleted: 2"), "{out}");
    assert!(out.contains("unreferenced blobs deleted: 1"), "{out}");
    assert!(!young.exists());
    let out = admin_ok(&["check"], &dir);
    assert!(out.contains("gateway: stopped") && out.ends_with("ok\n"), "{out}");
    assert_eq!(blob_files(&dir).len(), 3, "one blob per live object");
}

#[test]
fn a_second_gateway_on_the_same_data_dir_is_refused() {
    let p = Proc::start(&["--metrics-listen", "off"]);
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off", "--data-dir"])
        .arg(&p.dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("in use by another s3gate process"), "{}", stderr(&out));
}
