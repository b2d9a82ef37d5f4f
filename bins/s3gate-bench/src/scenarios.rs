//! The S3 scenarios. Each one checks every byte it reads back (content compare, MD5/ETag or
//! CRC-64) and fails the run on a mismatch: an unchecked benchmark counts for nothing.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use aws_smithy_types::byte_stream::Length;
use bytes::Bytes;
use s3gate_crypto::{PACKAGE_SIZE, SEALED_PACKAGE_SIZE, TAG_LEN};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::content::{self, LargeFile};
use crate::report::{Sample, latency_samples, mib_per_s};
use crate::target::Sampler;

/// Bucket of the 4 KiB scenarios.
const SMALL_BUCKET: &str = "s3gate-bench-small";
/// Bucket of the large-object scenarios.
const LARGE_BUCKET: &str = "s3gate-bench-large";
/// Bucket whose keys spread evenly over 100 prefixes.
const LIST_FLAT_BUCKET: &str = "s3gate-bench-list-flat";
/// Bucket where 90% of the keys sit under `hot/`.
const LIST_SKEW_BUCKET: &str = "s3gate-bench-list-skewed";
/// Bucket of the mixed GET/PUT run.
const MIXED_BUCKET: &str = "s3gate-bench-mixed";
/// Bucket of the server-side encryption scenario: one plaintext and one SSE-S3 object.
const SSE_BUCKET: &str = "s3gate-bench-sse";
/// Key of the single-stream large object (also the source of ranged GETs).
const SINGLE_KEY: &str = "single";
/// Key of the multipart large object.
const MULTIPART_KEY: &str = "multipart";
/// Size of the small objects.
const SMALL: usize = 4096;
/// The same as the SDK's Content-Length type.
const SMALL_LEN: i64 = 4096;
/// Size of one ranged GET.
const RANGE: u64 = 1 << 20;
/// Buffer the SDK reads upload files with; matches its 64 KiB aws-chunked framing.
const UPLOAD_BUFFER: usize = 64 << 10;

/// How big each scenario is; `--quick` shrinks them all.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    /// Operations per small-object scenario and concurrency.
    pub(crate) small_ops: usize,
    /// Size of the large object.
    pub(crate) large: u64,
    /// Multipart part size.
    pub(crate) part: u64,
    /// Parts in flight during the multipart upload.
    pub(crate) parts_in_flight: usize,
    /// Ranged GETs per round.
    pub(crate) ranged_ops: usize,
    /// Keys per listing bucket.
    pub(crate) list_keys: usize,
    /// Repetitions of the (single-page) delimiter listings per round.
    pub(crate) list_repeats: usize,
    /// Length of the mixed run.
    pub(crate) mixed: Duration,
    /// Objects the mixed run GETs from.
    pub(crate) mixed_objects: usize,
    /// Uploads, and as many downloads, of the large object at once (`concurrent`).
    pub(crate) concurrent: usize,
    /// Ranged GETs from the middle of each `sse` object per round, one at a time.
    pub(crate) sse_ranges: usize,
}

impl Sizes {
    pub(crate) fn new(quick: bool, mixed_seconds: Option<u64>) -> Self {
        let mut s = if quick {
            Self {
                small_ops: 300,
                large: 64 << 20,
                part: 16 << 20,
                parts_in_flight: 8,
                ranged_ops: 100,
                list_keys: 2_000,
                list_repeats: 10,
                mixed: Duration::from_secs(5),
                mixed_objects: 200,
                concurrent: 4,
                sse_ranges: 50,
            }
        } else {
            Self {
                small_ops: 3_000,
                large: 1 << 30,
                part: 16 << 20,
                parts_in_flight: 8,
                ranged_ops: 1_000,
                list_keys: 100_000,
                list_repeats: 30,
                mixed: Duration::from_mins(1),
                mixed_objects: 1_000,
                concurrent: 32,
                sse_ranges: 500,
            }
        };
        if let Some(secs) = mixed_seconds {
            s.mixed = Duration::from_secs(secs);
        }
        s
    }
}

/// The scenario groups `--scenarios` selects from, in run order.
pub(crate) const GROUPS: [&str; 9] =
    ["ceilings", "small", "large", "multipart", "range", "sse", "list", "mixed", "concurrent"];

/// The groups run when `--scenarios` is not given: `concurrent` moves 64 GiB per round and
/// writes 32 GiB to the data directory, so it runs only when asked for.
pub(crate) const DEFAULT_GROUPS: [&str; 8] =
    ["ceilings", "small", "large", "multipart", "range", "sse", "list", "mixed"];

/// Everything one target's scenarios need.
pub(crate) struct Ctx {
    pub(crate) client: Client,
    pub(crate) pid: Option<u32>,
    pub(crate) sizes: Sizes,
    pub(crate) large: Arc<LargeFile>,
}

/// Named results of one round of a group.
pub(crate) type RoundResult = Vec<(String, Vec<Sample>)>;

fn sdk<E: std::error::Error>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{}", DisplayErrorContext(e))
}

/// Runs `f`, adding the server's peak RSS and CPU seconds over it.
async fn measured<F>(ctx: &Ctx, name: &str, out: &mut RoundResult, f: F) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<Vec<Sample>>>,
{
    let watch = ctx.pid.map(Sampler::start);
    let mut samples = f.await.with_context(|| format!("scenario {name}"))?;
    if let Some(s) = watch {
        samples.extend(s.finish());
    }
    eprintln!("  {name}: {}", summary(&samples));
    out.push((name.to_owned(), samples));
    Ok(())
}

fn summary(samples: &[Sample]) -> String {
    samples.iter().map(|s| format!("{}={:.2}", s.metric, s.value)).collect::<Vec<_>>().join(" ")
}

/// Creates `bucket` unless the caller already owns it.
async fn ensure_bucket(c: &Client, bucket: &str) -> anyhow::Result<()> {
    match c.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(sdk(e)).with_context(|| format!("creating bucket {bucket}")),
    }
}

/// Runs `ops` operations on `concurrency` tasks; returns each one's latency and the wall time.
async fn pool<F, Fut>(
    concurrency: usize,
    ops: usize,
    op: F,
) -> anyhow::Result<(Vec<Duration>, Duration)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Duration>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..concurrency {
        let op = Arc::clone(&op);
        let next = Arc::clone(&next);
        set.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return anyhow::Ok(lat);
                }
                lat.push(op(i).await?);
            }
        });
    }
    let mut all = Vec::with_capacity(ops);
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    Ok((all, start.elapsed()))
}

/// Small xorshift generator for ranges and the mixed run's choices.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One small object: key, body and ETag.
pub(crate) struct SmallObject {
    key: String,
    data: Bytes,
    etag: String,
}

fn small_objects(prefix: &str, seed: u64, n: usize) -> Arc<Vec<SmallObject>> {
    Arc::new(
        (0..n)
            .map(|i| {
                let data = content::generate(seed.wrapping_add(i as u64), SMALL);
                SmallObject {
                    key: format!("{prefix}/{i:06}"),
                    etag: content::etag_of(&data),
                    data: Bytes::from(data),
                }
            })
            .collect(),
    )
}

async fn put_small(c: &Client, bucket: &str, o: &SmallObject) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = c
        .put_object()
        .bucket(bucket)
        .key(&o.key)
        .body(ByteStream::from(o.data.clone()))
        .send()
        .await
        .map_err(sdk)?;
    let lat = t.elapsed();
    ensure!(
        out.e_tag() == Some(o.etag.as_str()),
        "PUT {}: ETag {:?}, want {}",
        o.key,
        out.e_tag(),
        o.etag
    );
    Ok(lat)
}

async fn get_small(c: &Client, bucket: &str, o: &SmallObject) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = c.get_object().bucket(bucket).key(&o.key).send().await.map_err(sdk)?;
    let body = out.body.collect().await.map_err(sdk)?.into_bytes();
    let lat = t.elapsed();
    ensure!(body == o.data, "GET {}: body differs ({} bytes)", o.key, body.len());
    Ok(lat)
}

/// PUT, GET and HEAD of 4 KiB objects at concurrency 1, 32 and 128.
pub(crate) async fn small(ctx: &Ctx, round: usize) -> anyhow::Result<RoundResult> {
    ensure_bucket(&ctx.client, SMALL_BUCKET).await?;
    let mut out = Vec::new();
    for conc in [1usize, 32, 128] {
        let objs = small_objects(
            &format!("r{round}/c{conc}"),
            ((round as u64) << 32) | conc as u64,
            ctx.sizes.small_ops,
        );
        let ops = objs.len();
        let (c, o) = (ctx.client.clone(), Arc::clone(&objs));
        measured(ctx, &format!("put_4k_c{conc}"), &mut out, async move {
            let (lat, el) = pool(conc, ops, move |i| {
                let (c, o) = (c.clone(), Arc::clone(&o));
                async move { put_small(&c, SMALL_BUCKET, &o[i]).await }
            })
            .await?;
            Ok(latency_samples("", lat, el))
        })
        .await?;
        let (c, o) = (ctx.client.clone(), Arc::clone(&objs));
        measured(ctx, &format!("get_4k_c{conc}"), &mut out, async move {
            let (lat, el) = pool(conc, ops, move |i| {
                let (c, o) = (c.clone(), Arc::clone(&o));
                async move { get_small(&c, SMALL_BUCKET, &o[i]).await }
            })
            .await?;
            Ok(latency_samples("", lat, el))
        })
        .await?;
        let (c, o) = (ctx.client.clone(), Arc::clone(&objs));
        measured(ctx, &format!("head_4k_c{conc}"), &mut out, async move {
            let (lat, el) = pool(conc, ops, move |i| {
                let (c, o) = (c.clone(), Arc::clone(&o));
                async move {
                    let o = &o[i];
                    let t = Instant::now();
                    let h = c
                        .head_object()
                        .bucket(SMALL_BUCKET)
                        .key(&o.key)
                        .send()
                        .await
                        .map_err(sdk)?;
                    let lat = t.elapsed();
                    ensure!(
                        h.content_length() == Some(SMALL_LEN),
                        "HEAD {}: length {:?}",
                        o.key,
                        h.content_length()
                    );
                    ensure!(
                        h.e_tag() == Some(o.etag.as_str()),
                        "HEAD {}: ETag {:?}, want {}",
                        o.key,
                        h.e_tag(),
                        o.etag
                    );
                    Ok(lat)
                }
            })
            .await?;
            Ok(latency_samples("", lat, el))
        })
        .await?;
    }
    Ok(out)
}

/// Streams `key` back and checks its length and CRC-64 against the generated file.
pub(crate) async fn get_large(
    c: &Client,
    bucket: &str,
    key: &str,
    large: &LargeFile,
) -> anyhow::Result<Vec<Sample>> {
    get_large_sse(c, bucket, key, large, Sse::Unchecked).await
}

/// The server-side encryption a request asks for, and what its response must then say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sse {
    /// Nothing asked, nothing checked (every scenario but `sse`: a peer may not know SSE).
    Unchecked,
    /// Nothing asked, and the response must not name any encryption (so a plaintext figure is
    /// never taken from a gateway that encrypts by default).
    Plain,
    /// `x-amz-server-side-encryption: AES256`, and the response must say so.
    S3,
}

impl Sse {
    fn request(self) -> Option<ServerSideEncryption> {
        (self == Self::S3).then_some(ServerSideEncryption::Aes256)
    }

    fn check(self, what: &str, got: Option<&ServerSideEncryption>) -> anyhow::Result<()> {
        let want = self.request();
        if self != Self::Unchecked {
            ensure!(got == want.as_ref(), "{what}: server-side encryption {got:?}, want {want:?}");
        }
        Ok(())
    }
}

/// [`get_large`], also checking the response's `x-amz-server-side-encryption` against `sse`.
async fn get_large_sse(
    c: &Client,
    bucket: &str,
    key: &str,
    large: &LargeFile,
    sse: Sse,
) -> anyhow::Result<Vec<Sample>> {
    let t = Instant::now();
    let mut out = c.get_object().bucket(bucket).key(key).send().await.map_err(sdk)?;
    sse.check(&format!("GET {key}"), out.server_side_encryption())?;
    let mut ttfb = None;
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut got = 0u64;
    while let Some(chunk) = out.body.next().await {
        let chunk = chunk.map_err(sdk)?;
        ttfb.get_or_insert_with(|| t.elapsed());
        crc.update(&chunk);
        got += chunk.len() as u64;
    }
    let el = t.elapsed();
    ensure!(got == large.len, "GET {key}: {got} bytes, want {}", large.len);
    ensure!(crc.finalize() == large.crc64, "GET {key}: content differs (CRC-64)");
    Ok(vec![
        Sample::new("mib_per_s", "MiB/s", mib_per_s(got, el)),
        Sample::new("ttfb_ms", "ms", ttfb.unwrap_or(el).as_secs_f64() * 1000.0),
        Sample::new("seconds", "s", el.as_secs_f64()),
    ])
}

async fn put_single(c: &Client, large: &LargeFile) -> anyhow::Result<Vec<Sample>> {
    put_large(c, large, SINGLE_KEY).await
}

/// Streams the large file to `key` in one PUT and checks the returned ETag.
async fn put_large(c: &Client, large: &LargeFile, key: &str) -> anyhow::Result<Vec<Sample>> {
    put_large_sse(c, LARGE_BUCKET, large, key, Sse::Unchecked).await
}

/// [`put_large`] into `bucket`, asking for server-side encryption `sse` and checking that the
/// response names it (SSE-S3 keeps the plaintext's MD5 as the ETag, so that check stays).
async fn put_large_sse(
    c: &Client,
    bucket: &str,
    large: &LargeFile,
    key: &str,
    sse: Sse,
) -> anyhow::Result<Vec<Sample>> {
    let body = ByteStream::read_from()
        .path(&large.path)
        .buffer_size(UPLOAD_BUFFER)
        .build()
        .await
        .map_err(sdk)?;
    let t = Instant::now();
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .set_server_side_encryption(sse.request())
        .send()
        .await
        .map_err(sdk)?;
    let el = t.elapsed();
    sse.check(&format!("PUT {key}"), out.server_side_encryption())?;
    ensure!(
        out.e_tag() == Some(large.etag.as_str()),
        "PUT {key}: ETag {:?}, want {}",
        out.e_tag(),
        large.etag
    );
    Ok(vec![
        Sample::new("mib_per_s", "MiB/s", mib_per_s(large.len, el)),
        Sample::new("seconds", "s", el.as_secs_f64()),
    ])
}

/// Single-stream PUT and GET of the large object.
pub(crate) async fn large(ctx: &Ctx, _round: usize) -> anyhow::Result<RoundResult> {
    ensure_bucket(&ctx.client, LARGE_BUCKET).await?;
    let mut out = Vec::new();
    measured(ctx, "put_single_stream", &mut out, put_single(&ctx.client, &ctx.large)).await?;
    measured(
        ctx,
        "get_single_stream",
        &mut out,
        get_large(&ctx.client, LARGE_BUCKET, SINGLE_KEY, &ctx.large),
    )
    .await?;
    Ok(out)
}

/// `concurrent` large uploads (new keys) and as many downloads of the single-stream object, all
/// at once: the server's peak RSS under that load is the figure (plus aggregate throughput).
pub(crate) async fn concurrent(ctx: &Ctx, _round: usize) -> anyhow::Result<RoundResult> {
    ensure_bucket(&ctx.client, LARGE_BUCKET).await?;
    put_single(&ctx.client, &ctx.large).await?;
    let n = ctx.sizes.concurrent;
    let keys: Vec<String> = (0..n).map(|i| format!("concurrent-{i}")).collect();
    let mut out = Vec::new();
    let name = format!("concurrent_{n}_up_{n}_down");
    let run = async {
        let t = Instant::now();
        let mut tasks = JoinSet::new();
        for key in &keys {
            let (c, large, key) = (ctx.client.clone(), Arc::clone(&ctx.large), key.clone());
            tasks.spawn(async move { put_large(&c, &large, &key).await.map(|_| true) });
            let (c, large) = (ctx.client.clone(), Arc::clone(&ctx.large));
            tasks.spawn(async move {
                get_large(&c, LARGE_BUCKET, SINGLE_KEY, &large).await.map(|_| false)
            });
        }
        let (mut up_done, mut down_done) = (Duration::ZERO, Duration::ZERO);
        while let Some(r) = tasks.join_next().await {
            if r?? {
                up_done = t.elapsed();
            } else {
                down_done = t.elapsed();
            }
        }
        let bytes = ctx.large.len * n as u64;
        Ok(vec![
            Sample::new("upload_mib_per_s", "MiB/s", mib_per_s(bytes, up_done)),
            Sample::new("download_mib_per_s", "MiB/s", mib_per_s(bytes, down_done)),
            Sample::new("seconds", "s", up_done.max(down_done).as_secs_f64()),
        ])
    };
    measured(ctx, &name, &mut out, run).await?;
    for key in &keys {
        ctx.client.delete_object().bucket(LARGE_BUCKET).key(key).send().await.map_err(sdk)?;
    }
    Ok(out)
}

async fn put_multipart(
    c: &Client,
    large: &Arc<LargeFile>,
    in_flight: usize,
) -> anyhow::Result<Vec<Sample>> {
    let t = Instant::now();
    let created = c
        .create_multipart_upload()
        .bucket(LARGE_BUCKET)
        .key(MULTIPART_KEY)
        .send()
        .await
        .map_err(sdk)?;
    let upload_id = created.upload_id().context("no UploadId")?.to_owned();
    let result = upload_parts(c, large, &upload_id, in_flight).await;
    let parts = match result {
        Ok(p) => p,
        Err(e) => {
            let _ = c
                .abort_multipart_upload()
                .bucket(LARGE_BUCKET)
                .key(MULTIPART_KEY)
                .upload_id(&upload_id)
                .send()
                .await;
            return Err(e);
        }
    };
    let done = c
        .complete_multipart_upload()
        .bucket(LARGE_BUCKET)
        .key(MULTIPART_KEY)
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .map_err(sdk)?;
    let el = t.elapsed();
    let want = large.multipart_etag();
    ensure!(done.e_tag() == Some(want.as_str()), "multipart ETag {:?}, want {want}", done.e_tag());
    Ok(vec![
        Sample::new("mib_per_s", "MiB/s", mib_per_s(large.len, el)),
        Sample::new("seconds", "s", el.as_secs_f64()),
    ])
}

async fn upload_parts(
    c: &Client,
    large: &Arc<LargeFile>,
    upload_id: &str,
    in_flight: usize,
) -> anyhow::Result<Vec<CompletedPart>> {
    let sem = Arc::new(Semaphore::new(in_flight));
    let mut set = JoinSet::new();
    for (idx, md5) in large.part_md5s.iter().enumerate() {
        let permit = Arc::clone(&sem).acquire_owned().await?;
        let (c, large, upload_id) = (c.clone(), Arc::clone(large), upload_id.to_owned());
        let want = format!("\"{}\"", hex::encode(md5));
        set.spawn(async move {
            let _permit = permit;
            let offset = idx as u64 * large.part_size;
            let len = large.part_size.min(large.len - offset);
            let body = ByteStream::read_from()
                .path(&large.path)
                .offset(offset)
                .length(Length::Exact(len))
                .buffer_size(UPLOAD_BUFFER)
                .build()
                .await
                .map_err(sdk)?;
            let number = i32::try_from(idx + 1)?;
            let out = c
                .upload_part()
                .bucket(LARGE_BUCKET)
                .key(MULTIPART_KEY)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(sdk)?;
            ensure!(
                out.e_tag() == Some(want.as_str()),
                "part {number}: ETag {:?}, want {want}",
                out.e_tag()
            );
            anyhow::Ok(CompletedPart::builder().part_number(number).e_tag(want).build())
        });
    }
    let mut parts = Vec::new();
    while let Some(r) = set.join_next().await {
        parts.push(r??);
    }
    parts.sort_by_key(CompletedPart::part_number);
    Ok(parts)
}

/// Multipart PUT of the large object (parts in flight concurrently) and its GET back.
pub(crate) async fn multipart(ctx: &Ctx, _round: usize) -> anyhow::Result<RoundResult> {
    ensure_bucket(&ctx.client, LARGE_BUCKET).await?;
    let mut out = Vec::new();
    measured(
        ctx,
        "put_multipart",
        &mut out,
        put_multipart(&ctx.client, &ctx.large, ctx.sizes.parts_in_flight),
    )
    .await?;
    measured(
        ctx,
        "get_multipart",
        &mut out,
        get_large(&ctx.client, LARGE_BUCKET, MULTIPART_KEY, &ctx.large),
    )
    .await?;
    Ok(out)
}

/// Uploads the single-stream object unless the server already holds this exact one.
pub(crate) async fn setup_range(ctx: &Ctx) -> anyhow::Result<()> {
    ensure_bucket(&ctx.client, LARGE_BUCKET).await?;
    let head = ctx.client.head_object().bucket(LARGE_BUCKET).key(SINGLE_KEY).send().await;
    let present = head.as_ref().is_ok_and(|h| {
        h.e_tag() == Some(ctx.large.etag.as_str())
            && h.content_length() == i64::try_from(ctx.large.len).ok()
    });
    if !present {
        put_single(&ctx.client, &ctx.large).await?;
    }
    Ok(())
}

/// 1 MiB GETs at random offsets of the large object, 32 at a time.
pub(crate) async fn range(ctx: &Ctx, round: usize) -> anyhow::Result<RoundResult> {
    let mut out = Vec::new();
    let (c, large, ops) = (ctx.client.clone(), Arc::clone(&ctx.large), ctx.sizes.ranged_ops);
    measured(ctx, "get_range_1m_c32", &mut out, async move {
        let (lat, el) = pool(32, ops, move |i| {
            let (c, large) = (c.clone(), Arc::clone(&large));
            async move {
                let mut rng = Rng::new(((round as u64) << 32) | i as u64);
                let offset = rng.below(large.len - RANGE + 1);
                let t = Instant::now();
                let out = c
                    .get_object()
                    .bucket(LARGE_BUCKET)
                    .key(SINGLE_KEY)
                    .range(format!("bytes={offset}-{}", offset + RANGE - 1))
                    .send()
                    .await
                    .map_err(sdk)?;
                let body = out.body.collect().await.map_err(sdk)?.into_bytes();
                let lat = t.elapsed();
                let mut want = vec![0; usize::try_from(RANGE)?];
                large.read_at(offset, &mut want)?;
                ensure!(body == want, "range at {offset}: content differs ({} bytes)", body.len());
                Ok(lat)
            }
        })
        .await?;
        let n = lat.len() as u64;
        let mut s = latency_samples("", lat, el);
        s.push(Sample::new("mib_per_s", "MiB/s", mib_per_s(n * RANGE, el)));
        Ok(s)
    })
    .await?;
    Ok(out)
}

/// Offsets of the `sse` scenario's ranged GETs: `n` ranges of 1 MiB in the middle half of an
/// object of `len` (≥ 4 MiB) bytes, none starting on a package boundary: an unaligned range
/// touches the most packages, so it is the one that opens the most bytes in vain.
fn middle_offsets(len: u64, n: usize, seed: u64) -> Vec<u64> {
    let package = PACKAGE_SIZE as u64;
    let mut rng = Rng::new(seed);
    let (low, span) = (len / 4, len / 2 - RANGE);
    (0..n)
        .map(|_| {
            let offset = low + rng.below(span);
            if offset.is_multiple_of(package) { offset + 1 } else { offset }
        })
        .collect()
}

/// Plaintext bytes the gateway opens beyond a 1 MiB range at `offset` of an encrypted
/// single-part object of `len` bytes, and the packages it opens: the format's own mapping
/// (`sealed_range`, which the engine's `sealed_segments` feeds to each part's decryptor)
/// fetches and opens whole packages from the one holding the range's first byte to the one
/// holding its last.
fn range_cost(len: u64, offset: u64) -> anyhow::Result<(u64, u64)> {
    let r = s3gate_crypto::sealed_range(len, offset..offset + RANGE)?;
    let sealed = r.sealed.end - r.sealed.start;
    let packages = sealed.div_ceil(SEALED_PACKAGE_SIZE as u64);
    let opened = sealed - packages * TAG_LEN as u64;
    Ok((opened - RANGE, packages))
}

/// One ranged GET of 1 MiB at `offset` of `key` in the `sse` bucket, checked byte for byte.
async fn sse_range(
    c: &Client,
    key: &str,
    large: &LargeFile,
    offset: u64,
    sse: Sse,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = c
        .get_object()
        .bucket(SSE_BUCKET)
        .key(key)
        .range(format!("bytes={offset}-{}", offset + RANGE - 1))
        .send()
        .await
        .map_err(sdk)?;
    sse.check(&format!("GET {key} range at {offset}"), out.server_side_encryption())?;
    let body = out.body.collect().await.map_err(sdk)?.into_bytes();
    let lat = t.elapsed();
    let mut want = vec![0; usize::try_from(RANGE)?];
    large.read_at(offset, &mut want)?;
    ensure!(body == want, "{key} range at {offset}: content differs ({} bytes)", body.len());
    Ok(lat)
}

/// The value of `metric` in scenario `scenario` of this round, NaN when absent (no pid).
fn value(out: &RoundResult, scenario: &str, metric: &str) -> f64 {
    out.iter()
        .filter(|(name, _)| name == scenario)
        .flat_map(|(_, samples)| samples)
        .find(|s| s.metric == metric)
        .map_or(f64::NAN, |s| s.value)
}

/// Server-side encryption against plaintext in one round: single-stream PUT and GET of the
/// large object and `sse_ranges` 1 MiB GETs from its middle (one at a time, so each latency is
/// one request's), each on a plaintext object and on an SSE-S3 one (`x-amz-server-side-
/// encryption: AES256`), back to back; the order of the pair alternates by round so that
/// drift on a shared machine favours neither. Adds the round's ratios encrypted / plaintext
/// (`sse_ratio`) and what the ranges cost in packages (`sse_range_packages`).
pub(crate) async fn sse(ctx: &Ctx, round: usize) -> anyhow::Result<RoundResult> {
    ensure!(ctx.large.len >= 4 * RANGE, "the sse scenario needs an object of at least 4 MiB");
    ensure_bucket(&ctx.client, SSE_BUCKET).await?;
    let mut order = [("plain", Sse::Plain), ("sse_s3", Sse::S3)];
    if round % 2 == 1 {
        order.reverse();
    }
    let mut out = Vec::new();
    for (key, sse) in order {
        let put = put_large_sse(&ctx.client, SSE_BUCKET, &ctx.large, key, sse);
        measured(ctx, &format!("sse_put_{key}"), &mut out, put).await?;
    }
    for (key, sse) in order {
        let get = get_large_sse(&ctx.client, SSE_BUCKET, key, &ctx.large, sse);
        measured(ctx, &format!("sse_get_{key}"), &mut out, get).await?;
    }
    let offsets =
        Arc::new(middle_offsets(ctx.large.len, ctx.sizes.sse_ranges, 0x55E0 + round as u64));
    for (key, sse) in order {
        let (c, large, offs) = (ctx.client.clone(), Arc::clone(&ctx.large), Arc::clone(&offsets));
        let name = format!("sse_range_1m_mid_{key}");
        measured(ctx, &name, &mut out, async move {
            let n = offs.len();
            let (lat, el) = pool(1, n, move |i| {
                let (c, large, offs) = (c.clone(), Arc::clone(&large), Arc::clone(&offs));
                async move { sse_range(&c, key, &large, offs[i], sse).await }
            })
            .await?;
            let mut s = latency_samples("", lat, el);
            s.push(Sample::new("mib_per_s", "MiB/s", mib_per_s(n as u64 * RANGE, el)));
            Ok(s)
        })
        .await?;
        let n = offsets.len() as f64;
        let (cpu, read) =
            (value(&out, &name, "server_cpu_s"), value(&out, &name, "server_read_mib"));
        if let Some((_, s)) = out.last_mut() {
            s.push(Sample::new("server_cpu_ms_per_op", "ms", cpu * 1000.0 / n));
            s.push(Sample::new("server_read_kib_per_op", "KiB", read * 1024.0 / n));
        }
    }

    let ratio = |what: &str, metric: &str| {
        value(&out, &format!("sse_{what}_sse_s3"), metric)
            / value(&out, &format!("sse_{what}_plain"), metric)
    };
    let extra = |what: &str, metric: &str| {
        value(&out, &format!("sse_{what}_sse_s3"), metric)
            - value(&out, &format!("sse_{what}_plain"), metric)
    };
    let ratios = vec![
        Sample::new("put_mib_per_s_ratio", "×", ratio("put", "mib_per_s")),
        Sample::new("get_mib_per_s_ratio", "×", ratio("get", "mib_per_s")),
        Sample::new("range_mib_per_s_ratio", "×", ratio("range_1m_mid", "mib_per_s")),
        Sample::new("range_p50_ratio", "×", ratio("range_1m_mid", "p50_ms")),
        Sample::new("put_server_cpu_ratio", "×", ratio("put", "server_cpu_s")),
        Sample::new("get_server_cpu_ratio", "×", ratio("get", "server_cpu_s")),
        Sample::new("put_extra_server_cpu_s", "s", extra("put", "server_cpu_s")),
        Sample::new("get_extra_server_cpu_s", "s", extra("get", "server_cpu_s")),
        Sample::new(
            "range_extra_server_cpu_ms_per_op",
            "ms",
            extra("range_1m_mid", "server_cpu_ms_per_op"),
        ),
        Sample::new(
            "range_extra_server_read_kib_per_op",
            "KiB",
            extra("range_1m_mid", "server_read_kib_per_op"),
        ),
    ];
    eprintln!("  sse_ratio: {}", summary(&ratios));
    out.push(("sse_ratio".to_owned(), ratios));

    let (mut extra_max, mut extra_sum, mut packages_max) = (0u64, 0u64, 0u64);
    for &offset in offsets.iter() {
        let (extra, packages) = range_cost(ctx.large.len, offset)?;
        extra_max = extra_max.max(extra);
        extra_sum += extra;
        packages_max = packages_max.max(packages);
    }
    out.push((
        "sse_range_packages".to_owned(),
        vec![
            Sample::new("packages_opened_peak", "packages", packages_max as f64),
            Sample::new("extra_opened_kib_peak", "KiB", extra_max as f64 / 1024.0),
            Sample::new(
                "extra_opened_kib_mean",
                "KiB",
                extra_sum as f64 / 1024.0 / offsets.len() as f64,
            ),
        ],
    ));
    Ok(out)
}

/// Keys of the evenly spread listing bucket, sorted.
fn flat_keys(n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|i| format!("d{:02}/k{i:06}", i % 100)).collect();
    v.sort();
    v
}

/// Keys of the skewed listing bucket (90% under `hot/`), sorted.
fn skewed_keys(n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n)
        .map(|i| {
            if i % 10 == 0 {
                format!("c{:02}/k{i:06}", (i / 10) % 100)
            } else {
                format!("hot/k{i:06}")
            }
        })
        .collect();
    v.sort();
    v
}

/// The common prefixes a `/` listing at the top of `keys` returns, sorted.
fn top_prefixes(keys: &[String]) -> Vec<String> {
    let mut v: Vec<String> =
        keys.iter().filter_map(|k| k.split_once('/').map(|(p, _)| format!("{p}/"))).collect();
    v.dedup();
    v
}

/// Fills both listing buckets with empty objects (64 PUTs in flight).
pub(crate) async fn setup_list(ctx: &Ctx) -> anyhow::Result<()> {
    for (bucket, keys) in [
        (LIST_FLAT_BUCKET, flat_keys(ctx.sizes.list_keys)),
        (LIST_SKEW_BUCKET, skewed_keys(ctx.sizes.list_keys)),
    ] {
        ensure_bucket(&ctx.client, bucket).await?;
        let t = Instant::now();
        let keys = Arc::new(keys);
        let (c, k) = (ctx.client.clone(), Arc::clone(&keys));
        pool(64, keys.len(), move |i| {
            let (c, k) = (c.clone(), Arc::clone(&k));
            async move {
                let t = Instant::now();
                c.put_object()
                    .bucket(bucket)
                    .key(&k[i])
                    .body(ByteStream::from_static(b""))
                    .send()
                    .await
                    .map_err(sdk)?;
                Ok(t.elapsed())
            }
        })
        .await?;
        eprintln!(
            "  filled {bucket} with {} keys in {:.1} s",
            keys.len(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Lists `bucket` page by page; returns keys, common prefixes and each page's latency.
async fn list_all(
    c: &Client,
    bucket: &str,
    delimiter: Option<&str>,
) -> anyhow::Result<(Vec<String>, Vec<String>, Vec<Duration>)> {
    let (mut keys, mut prefixes, mut lat) = (Vec::new(), Vec::new(), Vec::new());
    let mut token: Option<String> = None;
    loop {
        let t = Instant::now();
        let page = c
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(1000)
            .set_delimiter(delimiter.map(str::to_owned))
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(sdk)?;
        lat.push(t.elapsed());
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        prefixes
            .extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
        if page.is_truncated() != Some(true) {
            break;
        }
        token = Some(
            page.next_continuation_token()
                .context("truncated page without a continuation token")?
                .to_owned(),
        );
        if lat.len() > 1_000_000 {
            bail!("listing {bucket} does not end");
        }
    }
    Ok((keys, prefixes, lat))
}

/// ListObjectsV2: full pagination, a `/` listing at the top, and the same over a skewed bucket.
pub(crate) async fn list(ctx: &Ctx, _round: usize) -> anyhow::Result<RoundResult> {
    let mut out = Vec::new();
    let flat = flat_keys(ctx.sizes.list_keys);
    let skewed = skewed_keys(ctx.sizes.list_keys);
    let c = &ctx.client;
    measured(ctx, "list_full_pages", &mut out, async {
        let t = Instant::now();
        let (keys, prefixes, lat) = list_all(c, LIST_FLAT_BUCKET, None).await?;
        let el = t.elapsed();
        ensure!(prefixes.is_empty(), "plain listing returned common prefixes");
        ensure!(
            keys == flat,
            "full listing returned {} keys, not the {} expected in order",
            keys.len(),
            flat.len()
        );
        let pages = lat.len();
        let mut s = latency_samples("page", lat, el);
        s.push(Sample::new("pages", "pages", pages as f64));
        s.push(Sample::new("keys_per_s", "keys/s", keys.len() as f64 / el.as_secs_f64()));
        Ok(s)
    })
    .await?;
    for (name, bucket, keys) in [
        ("list_delim_top", LIST_FLAT_BUCKET, &flat),
        ("list_delim_skewed", LIST_SKEW_BUCKET, &skewed),
    ] {
        let want = top_prefixes(keys);
        measured(ctx, name, &mut out, async {
            let t = Instant::now();
            let mut all = Vec::new();
            for _ in 0..ctx.sizes.list_repeats {
                let (keys, prefixes, lat) = list_all(c, bucket, Some("/")).await?;
                ensure!(
                    keys.is_empty(),
                    "delimiter listing of {bucket} returned {} keys at the top",
                    keys.len()
                );
                ensure!(
                    prefixes == want,
                    "delimiter listing of {bucket}: {prefixes:?}, want {want:?}"
                );
                all.extend(lat);
            }
            Ok(latency_samples("page", all, t.elapsed()))
        })
        .await?;
    }
    Ok(out)
}

/// PUTs the objects the mixed run reads.
pub(crate) async fn setup_mixed(ctx: &Ctx) -> anyhow::Result<Arc<Vec<SmallObject>>> {
    ensure_bucket(&ctx.client, MIXED_BUCKET).await?;
    let objs = small_objects("src", 0xABCD << 32, ctx.sizes.mixed_objects);
    let (c, o) = (ctx.client.clone(), Arc::clone(&objs));
    pool(32, objs.len(), move |i| {
        let (c, o) = (c.clone(), Arc::clone(&o));
        async move { put_small(&c, MIXED_BUCKET, &o[i]).await }
    })
    .await?;
    Ok(objs)
}

/// 70% GETs of existing 4 KiB objects, 30% PUTs of new ones, 32 in flight, for a fixed time.
pub(crate) async fn mixed(
    ctx: &Ctx,
    round: usize,
    objs: &Arc<Vec<SmallObject>>,
) -> anyhow::Result<RoundResult> {
    let mut out = Vec::new();
    let duration = ctx.sizes.mixed;
    measured(ctx, "mixed_70get_30put_c32", &mut out, async {
        let start = Instant::now();
        let mut set = JoinSet::new();
        for w in 0..32u64 {
            let (c, objs) = (ctx.client.clone(), Arc::clone(objs));
            set.spawn(async move {
                let mut rng = Rng::new(((round as u64) << 40) | (w << 20) | 7);
                let (mut gets, mut puts) = (Vec::new(), Vec::new());
                let mut n = 0u64;
                while start.elapsed() < duration {
                    if rng.below(10) < 7 {
                        let o = &objs[usize::try_from(rng.below(objs.len() as u64))?];
                        gets.push(get_small(&c, MIXED_BUCKET, o).await?);
                    } else {
                        let data = content::generate(rng.next(), SMALL);
                        let o = SmallObject {
                            key: format!("put/r{round}/w{w}/{n:08}"),
                            etag: content::etag_of(&data),
                            data: Bytes::from(data),
                        };
                        n += 1;
                        puts.push(put_small(&c, MIXED_BUCKET, &o).await?);
                    }
                }
                anyhow::Ok((gets, puts))
            });
        }
        let (mut gets, mut puts) = (Vec::new(), Vec::new());
        while let Some(r) = set.join_next().await {
            let (g, p) = r??;
            gets.extend(g);
            puts.extend(p);
        }
        let el = start.elapsed();
        let total = (gets.len() + puts.len()) as f64;
        let mut s = vec![Sample::new("ops_per_s", "ops/s", total / el.as_secs_f64())];
        s.extend(latency_samples("get", gets, el));
        s.extend(latency_samples("put", puts, el));
        Ok(s)
    })
    .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_layouts() {
        let flat = flat_keys(2_000);
        assert_eq!(top_prefixes(&flat).len(), 100);
        let skew = skewed_keys(2_000);
        let hot = skew.iter().filter(|k| k.starts_with("hot/")).count();
        assert_eq!(hot, 1_800);
        let p = top_prefixes(&skew);
        assert_eq!(p.len(), 101);
        assert_eq!(p.last().map(String::as_str), Some("hot/"));
        assert!(skew.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn middle_ranges_open_at_most_two_extra_packages() {
        let len = 1 << 30;
        let offsets = middle_offsets(len, 2_000, 3);
        assert!(offsets.iter().all(|&o| o >= len / 4 && o + RANGE <= len * 3 / 4), "{offsets:?}");
        for &o in &offsets {
            assert!(!o.is_multiple_of(PACKAGE_SIZE as u64));
            // An unaligned 1 MiB range spans 17 packages: 64 KiB opened in vain.
            assert_eq!(range_cost(len, o).unwrap(), (64 << 10, 17), "offset {o}");
        }
        // Aligned: exactly the 16 packages of the range.
        assert_eq!(range_cost(len, len / 2).unwrap(), (0, 16));
        // Ending inside the short final package of an object that is no whole number of them.
        let odd = (1 << 30) + 1000;
        assert_eq!(range_cost(odd, odd - RANGE).unwrap(), (1000, 17));
    }

    #[test]
    fn sse_checks_what_the_response_says() {
        let aes = ServerSideEncryption::Aes256;
        assert!(Sse::S3.check("x", Some(&aes)).is_ok());
        assert!(Sse::S3.check("x", None).is_err());
        assert!(Sse::Plain.check("x", None).is_ok());
        assert!(Sse::Plain.check("x", Some(&aes)).is_err());
        assert!(Sse::Unchecked.check("x", Some(&aes)).is_ok());
        assert_eq!(Sse::Plain.request(), None);
    }

    #[test]
    fn rng_stays_below_its_bound() {
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }

    #[tokio::test]
    async fn pool_runs_every_op_once() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let (lat, _) = pool(4, 50, move |i| {
            let s = Arc::clone(&s);
            async move {
                s.lock().unwrap().push(i);
                Ok(Duration::from_micros(1))
            }
        })
        .await
        .unwrap();
        assert_eq!(lat.len(), 50);
        let mut v = seen.lock().unwrap().clone();
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
    }
}
