//! The S3 proxy backend (`serve --backend s3`): a gateway whose blobs live in a second s3gate
//! process (disk backend) on loopback. The `BlobStore` conformance suite against that upstream
//! (and against any endpoint named by `S3GATE_TEST_UPSTREAM`), the S3 operations through the
//! proxying gateway, and the faults: upstream killed mid-download and mid-upload, and an
//! upstream answering 503 for a while (through a fault-injecting HTTP proxy in this file).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming};
use s3gate_storage_backend::{S3ProxyBlobs, S3ProxyConfig, conformance};

use crate::harness::{
    Flavour, Gateway, create_bucket, err_info, etag_of, get, put, put_streaming, random_bytes,
    random_keys, start_proxy_to,
};

/// The upstream bucket holding the proxied gateway's blobs.
const UP_BUCKET: &str = "blobs";
/// The key prefix of those blobs.
const UP_PREFIX: &str = "gw/";

/// An upstream s3gate (disk backend) with the blob bucket created.
struct Upstream {
    gw: Gateway,
    _dir: tempfile::TempDir,
}

impl Upstream {
    async fn start() -> Upstream {
        let dir = tempfile::Builder::new().prefix("s3gate-upstream-").tempdir().unwrap();
        let (ak, sk) = random_keys();
        let gw = Gateway::start_on_with(dir.path(), &ak, &sk, &[]);
        create_bucket(&gw.client(Flavour::WhenRequired), UP_BUCKET).await;
        Upstream { gw, _dir: dir }
    }

    /// Keys (and sizes) of the objects under `prefix`.
    async fn objects(&self, prefix: &str) -> Vec<(String, i64)> {
        let c = self.gw.client(Flavour::WhenRequired);
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = c
                .list_objects_v2()
                .bucket(UP_BUCKET)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            for o in page.contents() {
                out.push((o.key().unwrap().to_owned(), o.size().unwrap()));
            }
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return out;
            }
        }
    }

    fn config(&self, prefix: &str) -> S3ProxyConfig {
        let mut cfg = S3ProxyConfig::new(
            self.gw.endpoint(),
            UP_BUCKET,
            &self.gw.access_key,
            &self.gw.secret_key,
        );
        prefix.clone_into(&mut cfg.prefix);
        cfg
    }
}

/// A gateway proxying to `endpoint` (the upstream itself or a proxy in front of it) with the
/// upstream's keys, plus `extra` flags. The credentials file must outlive the start only.
fn start_proxy(up: &Upstream, endpoint: &str, extra: &[&str]) -> Gateway {
    let mut args = vec!["--upstream-prefix", UP_PREFIX];
    args.extend_from_slice(extra);
    start_proxy_to(&up.gw, endpoint, UP_BUCKET, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_blob_store_conformance() {
    let up = Upstream::start().await;
    // Small parts and ranges, so that multipart writes and windowed reads are exercised.
    let mut cfg = up.config("conformance/");
    cfg.part_size = 5 * 1024 * 1024;
    cfg.range_size = 300_000;
    cfg.window = 3;
    let store = S3ProxyBlobs::new(cfg).unwrap();
    store.check().await.unwrap();
    conformance::run_all(&store).await;
    // Every upstream object under the prefix is a listed blob, and no multipart upload is
    // left behind by the failed and dropped writes.
    let listed = conformance::listing(&store).await;
    let stored = up.objects("conformance/").await;
    assert_eq!(stored.len(), listed.len(), "upstream {stored:?} vs listed {listed:?}");
    for (id, size) in &listed {
        assert!(stored.contains(&(format!("conformance/{id}"), *size as i64)));
    }
    let uploads = up
        .gw
        .client(Flavour::WhenRequired)
        .list_multipart_uploads()
        .bucket(UP_BUCKET)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "uploads left upstream: {:?}", uploads.uploads());
}

/// The conformance suite against a real S3 service: `S3GATE_TEST_UPSTREAM` (endpoint),
/// `S3GATE_TEST_UPSTREAM_BUCKET`, `S3GATE_TEST_UPSTREAM_REGION` (default us-east-1) and the
/// keys in `S3GATE_TEST_UPSTREAM_ACCESS_KEY`/`S3GATE_TEST_UPSTREAM_SECRET_KEY`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_blob_store_conformance_external_upstream() {
    let Ok(endpoint) = std::env::var("S3GATE_TEST_UPSTREAM") else {
        eprintln!(
            "skipping: set S3GATE_TEST_UPSTREAM (and _BUCKET, _ACCESS_KEY, _SECRET_KEY) to run \
             the blob store conformance suite against an external S3 endpoint"
        );
        return;
    };
    let var =
        |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("S3GATE_TEST_UPSTREAM needs {n}"));
    let mut cfg = S3ProxyConfig::new(
        endpoint,
        var("S3GATE_TEST_UPSTREAM_BUCKET"),
        var("S3GATE_TEST_UPSTREAM_ACCESS_KEY"),
        var("S3GATE_TEST_UPSTREAM_SECRET_KEY"),
    );
    cfg.region =
        std::env::var("S3GATE_TEST_UPSTREAM_REGION").unwrap_or_else(|_| "us-east-1".into());
    cfg.prefix = format!("s3gate-conformance-{}/", hex::encode(random_bytes(6)));
    cfg.part_size = 5 * 1024 * 1024;
    cfg.range_size = 300_000;
    cfg.window = 3;
    let store = S3ProxyBlobs::new(cfg).unwrap();
    store.check().await.unwrap();
    conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_s3_operations() {
    let up = Upstream::start().await;
    let gw = start_proxy(
        &up,
        &up.gw.endpoint(),
        &[
            "--gc-grace-seconds",
            "0",
            "--gc-interval-seconds",
            "1",
            "--upstream-range-size",
            "1000000",
            "--upstream-window",
            "4",
        ],
    );
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = format!("proxy-ops-{}", flavour.tag());
        create_bucket(&c, &b).await;

        // PutObject: small, and large enough for an upstream multipart upload (8 MiB parts).
        let small = random_bytes(1000);
        assert_eq!(put(&c, &b, "small", &small).await, etag_of(&small));
        let large = random_bytes(20 * 1024 * 1024 + 17);
        assert_eq!(put_streaming(&c, &b, "large", &large).await, etag_of(&large));
        assert!(get(&c, &b, "small").await == small);
        assert!(get(&c, &b, "large").await == large, "whole GET of a 20 MiB object");

        // Ranged GETs: within one upstream range, across several, open-ended, suffix.
        for (range, from, to) in [
            ("bytes=0-0", 0, 1),
            ("bytes=999990-1000010", 999_990, 1_000_011),
            ("bytes=123-9876543", 123, 9_876_544),
            ("bytes=20000000-", 20_000_000, large.len()),
            ("bytes=-5", large.len() - 5, large.len()),
        ] {
            let out = c.get_object().bucket(&b).key("large").range(range).send().await.unwrap();
            let got = out.body.collect().await.unwrap().into_bytes();
            assert!(got[..] == large[from..to], "{range}");
        }

        // Multipart: 5 MiB + 5 MiB + 1 MiB, then whole and ranged reads across parts.
        let parts: Vec<Vec<u8>> = [5 * 1024 * 1024, 5 * 1024 * 1024, 1024 * 1024]
            .iter()
            .map(|&n| random_bytes(n))
            .collect();
        let created = c.create_multipart_upload().bucket(&b).key("mp").send().await.unwrap();
        let upload_id = created.upload_id().unwrap();
        let mut done = Vec::new();
        for (i, data) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let out = c
                .upload_part()
                .bucket(&b)
                .key("mp")
                .upload_id(upload_id)
                .part_number(n)
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .unwrap();
            done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
        }
        c.complete_multipart_upload()
            .bucket(&b)
            .key("mp")
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
            .send()
            .await
            .unwrap();
        let whole: Vec<u8> = parts.concat();
        assert!(get(&c, &b, "mp").await == whole, "whole GET of a multipart object");
        let (from, to) = (5 * 1024 * 1024 - 10, 10 * 1024 * 1024 + 10);
        let out = c
            .get_object()
            .bucket(&b)
            .key("mp")
            .range(format!("bytes={from}-{}", to - 1))
            .send()
            .await
            .unwrap();
        assert!(out.body.collect().await.unwrap().into_bytes()[..] == whole[from..to]);

        // Copy (zero-copy: the new version names the same upstream blobs) and delete.
        c.copy_object()
            .bucket(&b)
            .key("copy")
            .copy_source(format!("{b}/large"))
            .send()
            .await
            .unwrap();
        c.delete_object().bucket(&b).key("large").send().await.unwrap();
        assert!(get(&c, &b, "copy").await == large, "copy outlives its deleted source");
    }

    // The bytes live upstream under the prefix, and nothing lives in the gateway's directory.
    let stored = up.objects(UP_PREFIX).await;
    let total: i64 = stored.iter().map(|(_, s)| s).sum();
    let expected = 2 * (1000 + 20 * 1024 * 1024 + 17 + 11 * 1024 * 1024);
    assert_eq!(total, expected, "upstream holds every blob once: {stored:?}");
    assert!(stored.iter().all(|(k, _)| k.len() == UP_PREFIX.len() + 32));

    // Deleting everything lets the collector delete every upstream blob.
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = format!("proxy-ops-{}", flavour.tag());
        for k in ["small", "mp", "copy"] {
            c.delete_object().bucket(&b).key(k).send().await.unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = up.objects(UP_PREFIX).await;
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the collector left upstream blobs: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_upstream_killed_mid_download() {
    let mut up = Upstream::start().await;
    // Small ranges and window, few attempts: the gateway holds little, and gives up fast.
    let gw = start_proxy(
        &up,
        &up.gw.endpoint(),
        &[
            "--upstream-range-size",
            "1048576",
            "--upstream-window",
            "2",
            "--upstream-max-attempts",
            "2",
        ],
    );
    let c = gw.client_no_retry(Flavour::WhenRequired);
    create_bucket(&c, "kill-get").await;
    let data = random_bytes(48 * 1024 * 1024);
    put(&c, "kill-get", "big", &data).await;

    let mut out = c.get_object().bucket("kill-get").key("big").send().await.unwrap();
    let mut got = Vec::new();
    while got.len() < 1024 * 1024 {
        got.extend_from_slice(&out.body.next().await.unwrap().unwrap());
    }
    up.gw.crash();
    let mut failed = false;
    while let Some(chunk) = out.body.next().await {
        if let Ok(chunk) = chunk {
            got.extend_from_slice(&chunk);
        } else {
            failed = true;
            break;
        }
    }
    assert!(failed || got.len() < data.len(), "a download outlived its upstream");
    assert!(got[..] == data[..got.len()], "the bytes sent before the failure are right");

    // The gateway stays up: metadata answers, and a new GET fails (the response head goes out
    // before the first blob byte is fetched, so the failure is a broken body).
    c.list_buckets().send().await.unwrap();
    c.head_object().bucket("kill-get").key("big").send().await.unwrap();
    match c.get_object().bucket("kill-get").key("big").send().await {
        Ok(out) => assert!(out.body.collect().await.is_err(), "a GET without upstream succeeded"),
        Err(err) => assert_eq!(err_info(&err).0, 503, "{err:?}"),
    }
    let log = gw.stderr();
    assert!(log.contains("upstream read failed"), "the gateway logs the failed read:\n{log}");
}

/// A request body fed from a channel, so the test decides when each piece is sent.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_upstream_killed_mid_upload() {
    const MIB: usize = 1024 * 1024;
    let mut up = Upstream::start().await;
    let gw = start_proxy(&up, &up.gw.endpoint(), &["--upstream-max-attempts", "2"]);
    let c = gw.client_no_retry(Flavour::WhenRequired);
    create_bucket(&c, "kill-put").await;
    let url = c
        .put_object()
        .bucket("kill-put")
        .key("big")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap(),
        )
        .await
        .unwrap()
        .uri()
        .to_owned();
    let total = 64 * MIB;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<ChannelBody>();
    let req =
        http::Request::put(url).header("content-length", total).body(ChannelBody(rx)).unwrap();
    let response = tokio::spawn(client.request(req));
    let chunk = Bytes::from(random_bytes(MIB));
    // 20 MiB in: two upstream parts are written or being written.
    for _ in 0..20 {
        tx.send(chunk.clone()).await.unwrap();
    }
    up.gw.crash();
    let feeder = tokio::spawn(async move {
        for _ in 20..64 {
            if tx.send(chunk.clone()).await.is_err() {
                break;
            }
        }
    });
    let resp = tokio::time::timeout(Duration::from_secs(120), response)
        .await
        .expect("the gateway answers")
        .unwrap()
        .expect("an HTTP response, not a dropped connection");
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body);
    assert!(status.is_server_error(), "want a 5xx, got {status}: {body}");
    assert!(body.contains("<Code>SlowDown</Code>"), "an S3 error body: {body}");
    feeder.abort();

    // No object appeared, and the gateway still serves.
    let err = c.head_object().bucket("kill-put").key("big").send().await.unwrap_err();
    assert_eq!(err_info(&err).0, 404, "{err:?}");
    let listed = c.list_objects_v2().bucket("kill-put").send().await.unwrap();
    assert!(listed.contents().is_empty());
}

/// A loopback HTTP proxy in front of the upstream that answers the next `fail_next` requests
/// with `503 SlowDown` instead of forwarding them.
struct FaultProxy {
    port: u16,
    fail_next: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

impl FaultProxy {
    async fn start(upstream_port: u16) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fail_next = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Incoming>();
        let (f, d) = (Arc::clone(&fail_next), Arc::clone(&failed));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (client, f, d) = (client.clone(), Arc::clone(&f), Arc::clone(&d));
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let (client, f, d) = (client.clone(), Arc::clone(&f), Arc::clone(&d));
                    async move {
                        Ok::<_, Infallible>(forward(req, &client, upstream_port, &f, &d).await)
                    }
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        FaultProxy { port, fail_next, failed, task }
    }
}

async fn forward(
    req: http::Request<Incoming>,
    client: &hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Incoming,
    >,
    upstream_port: u16,
    fail_next: &AtomicUsize,
    failed: &AtomicUsize,
) -> http::Response<ProxyBody> {
    let plain = |status: u16, body: &'static str| {
        http::Response::builder()
            .status(status)
            .body(Full::new(Bytes::from_static(body.as_bytes())).map_err(|n| match n {}).boxed())
            .unwrap()
    };
    if fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        failed.fetch_add(1, Ordering::SeqCst);
        return plain(
            503,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
             <Message>Please reduce your request rate.</Message></Error>",
        );
    }
    let (mut parts, body) = req.into_parts();
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    parts.uri = format!("http://127.0.0.1:{upstream_port}{pq}").parse().unwrap();
    match client.request(http::Request::from_parts(parts, body)).await {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(_) => plain(502, ""),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_retries_upstream_503() {
    let up = Upstream::start().await;
    let fault = FaultProxy::start(up.gw.port).await;
    let endpoint = format!("http://127.0.0.1:{}", fault.port);
    let gw = start_proxy(&up, &endpoint, &[]);
    let c = gw.client_no_retry(Flavour::WhenRequired);
    create_bucket(&c, "slow").await;

    // Every upstream request of a multipart write (create, 2 parts, complete) and of a read
    // starts behind a run of 503s; each one is retried until it gets through.
    let data = random_bytes(12 * 1024 * 1024);
    fault.fail_next.store(3, Ordering::SeqCst);
    assert_eq!(put(&c, "slow", "k", &data).await, etag_of(&data));
    assert_eq!(fault.failed.load(Ordering::SeqCst), 3);
    fault.fail_next.store(4, Ordering::SeqCst);
    assert!(get(&c, "slow", "k").await == data);
    assert_eq!(fault.failed.load(Ordering::SeqCst), 7);
    assert!(gw.stderr().contains("retrying"), "retries are logged");

    // More 503s than attempts: the client gets a 503 SlowDown and no object appears.
    fault.fail_next.store(1000, Ordering::SeqCst);
    let res = c
        .put_object()
        .bucket("slow")
        .key("never")
        .body(ByteStream::from(b"x".to_vec()))
        .send()
        .await;
    let err = res.unwrap_err();
    assert_eq!(err_info(&err), (503, "SlowDown".to_owned()), "{err:?}");
    fault.fail_next.store(0, Ordering::SeqCst);
    let err = c.head_object().bucket("slow").key("never").send().await.unwrap_err();
    assert_eq!(err_info(&err).0, 404);
    assert!(get(&c, "slow", "k").await == data, "the earlier object is intact");
}

/// Scale-out with a shared upstream: three gateways on one PostgreSQL database whose blobs all
/// live in one upstream bucket (each gateway has its own data directory). A multipart upload
/// with parts through two gateways and Complete through the third, reads and listings from
/// every gateway, and a delete whose blobs the collector then removes from the upstream.
/// Needs `S3GATE_TEST_POSTGRES_URL` (set by `.ci/run`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_gateways_share_one_database_and_one_upstream() {
    let Some(db) = crate::scaleout::TestDb::create("proxy3").await else { return };
    let up = Upstream::start().await;
    let creds = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        creds.path(),
        format!("access_key_id={}\nsecret_access_key={}\n", up.gw.access_key, up.gw.secret_key),
    )
    .unwrap();
    let endpoint = up.gw.endpoint();
    let (ak, sk) = random_keys();
    let gws: Vec<Gateway> = (0..3)
        .map(|_| {
            Gateway::start_with_keys(
                &ak,
                &sk,
                &[
                    "--metadata",
                    &db.url,
                    "--pg-pool-size",
                    "4",
                    "--backend",
                    "s3",
                    "--upstream-endpoint",
                    &endpoint,
                    "--upstream-bucket",
                    UP_BUCKET,
                    "--upstream-prefix",
                    UP_PREFIX,
                    "--upstream-credentials-file",
                    creds.path().to_str().unwrap(),
                    "--gc-grace-seconds",
                    "0",
                    "--gc-interval-seconds",
                    "1",
                ],
            )
        })
        .collect();
    let cs: Vec<_> = gws.iter().map(|g| g.client(Flavour::Default)).collect();
    let b = "shared-up";
    create_bucket(&cs[0], b).await;

    let small = random_bytes(300_000);
    put(&cs[1], b, "small", &small).await;
    let parts = [random_bytes(5 * 1024 * 1024), random_bytes(1234)];
    let id = cs[0]
        .create_multipart_upload()
        .bucket(b)
        .key("mp")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut done = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out = cs[i]
            .upload_part()
            .bucket(b)
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    cs[2]
        .complete_multipart_upload()
        .bucket(b)
        .key("mp")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    let whole = parts.concat();
    for c in &cs {
        assert_eq!(get(c, b, "small").await, small);
        assert_eq!(get(c, b, "mp").await, whole);
        let keys: Vec<String> = c
            .list_objects_v2()
            .bucket(b)
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .map(|o| o.key().unwrap().to_owned())
            .collect();
        assert_eq!(keys, ["mp", "small"]);
    }
    // The bytes are in the upstream: the small object's blob and the two parts' blobs.
    assert_eq!(up.objects(UP_PREFIX).await.len(), 3);

    // A delete through one gateway; another gateway's collector may delete the blobs.
    cs[0].delete_object().bucket(b).key("mp").send().await.unwrap();
    cs[1].delete_object().bucket(b).key("small").send().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !up.objects(UP_PREFIX).await.is_empty() {
        assert!(Instant::now() < deadline, "the collectors left {:?}", up.objects(UP_PREFIX).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Veeam's SOSAPI over the proxy backend: the upstream's space is unknown, so `system.xml`
/// says `CapacityInfo` false and `capacity.xml` does not exist (never made-up figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_sosapi_reports_no_capacity() {
    let up = Upstream::start().await;
    let gw = start_proxy(&up, &up.gw.endpoint(), &[]);
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "veeam").await;
    let folder = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/";
    let system = c.get_object().bucket("veeam").key(format!("{folder}system.xml")).send().await;
    let body = system.unwrap().body.collect().await.unwrap().into_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("<CapacityInfo>false</CapacityInfo>"), "{text}");
    let cap = c.get_object().bucket("veeam").key(format!("{folder}capacity.xml")).send().await;
    assert_eq!(crate::harness::err_info(&cap.unwrap_err()), (404, "NoSuchKey".to_owned()));
}

/// The read cache (`--cache-dir`) in front of the proxy backend: a first GET fills the
/// directory tier, a second is served from it with the upstream gone, a ranged GET of a cached
/// object is right, and an object never read answers 503 (retryable) while the upstream is
/// down rather than anything stale or empty.
#[tokio::test]
async fn proxy_read_cache_serves_cached_objects_while_the_upstream_is_down() {
    let mut up = Upstream::start().await;
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let gw = start_proxy(
        &up,
        &up.gw.endpoint(),
        &["--cache-dir", cache_dir, "--cache-memory", "0", "--upstream-max-attempts", "2"],
    );
    let c = gw.client_no_retry(Flavour::WhenRequired);
    create_bucket(&c, "cached").await;
    let hot = random_bytes(3 * 1024 * 1024 + 4321);
    put(&c, "cached", "hot", &hot).await;
    put(&c, "cached", "cold", b"never read").await;
    assert!(get(&c, "cached", "hot").await == hot);
    // 4 chunks of 1 MiB, written to the cache directory in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while chunk_files(cache.path()) < 4 {
        assert!(Instant::now() < deadline, "the cache directory was never filled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    up.gw.crash();
    assert!(get(&c, "cached", "hot").await == hot, "a cached object reads back whole");
    let part = c
        .get_object()
        .bucket("cached")
        .key("hot")
        .range("bytes=1048570-2097160")
        .send()
        .await
        .unwrap();
    let part = part.body.collect().await.unwrap().into_bytes();
    assert!(part[..] == hot[1_048_570..=2_097_160]);
    match c.get_object().bucket("cached").key("cold").send().await {
        Ok(out) => {
            assert!(
                out.body.collect().await.is_err(),
                "an uncached GET without upstream succeeded"
            );
        }
        Err(err) => assert_eq!(err_info(&err).0, 503, "{err:?}"),
    }
}

/// Chunk files of a read-cache directory (one shard directory level).
fn chunk_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|shard| std::fs::read_dir(shard.path()).into_iter().flatten().flatten())
        .filter(|f| !f.file_name().to_string_lossy().ends_with(".tmp"))
        .count()
}
