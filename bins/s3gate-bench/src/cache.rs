//! The read-cache benchmark (`--cache`): GETs through a gateway whose blobs live behind a
//! throttled upstream, with the read cache in front of it, against GETs from a gateway on its
//! local disk.
//!
//! ```text
//! upstream s3gate (disk) <── throttle ──┬── gateway --backend s3 --cache-policy s3fifo <── SDK GETs
//!        ▲                              └── gateway --backend s3 --cache-policy lru    <── SDK GETs
//!        └── SDK GETs of the same objects stored on its own disk ("local disk")
//! ```
//!
//! Phases: the first GET of each of a set of objects (cache cold), the second (warm), the same
//! objects from the local disk; then a skewed trace — Zipf-distributed GETs over a working set
//! larger than the cache, interleaved with scans of objects read once — run on two gateways
//! that differ only in `--cache-policy`, with the hit ratio read from each gateway's
//! `s3gate_cache_lookups_total`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::proxy::Throttle;
use crate::report::percentile_ms;
use crate::target::{self, Spawned};

/// Settings of the cache benchmark.
pub(crate) struct CacheBench<'a> {
    pub(crate) binary: &'a Path,
    pub(crate) work_dir: &'a Path,
    pub(crate) throttle_mib_per_s: u64,
    pub(crate) throttle_latency_ms: u64,
    /// Objects of the hot set, and as many read once by the scans.
    pub(crate) objects: usize,
    pub(crate) object_kib: usize,
    /// The cache's directory tier, MiB (its memory tier is off, so the disk tier is measured).
    pub(crate) cache_mib: u64,
    /// GETs of the skewed trace.
    pub(crate) requests: usize,
    pub(crate) concurrency: usize,
}

const UP_BUCKET: &str = "blobs";
const LOCAL: &str = "local";
const BUCKET: &str = "cached";
/// GETs per cold/warm/local phase.
const PHASE: usize = 50;

fn sdk<E: std::error::Error>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{}", DisplayErrorContext(e))
}

/// One gateway under test.
struct Cached {
    policy: &'static str,
    gw: Spawned,
    client: Client,
}

/// Latencies of one phase, and its wall time.
struct Phase {
    lat: Vec<Duration>,
    elapsed: Duration,
    bytes: u64,
}

impl Phase {
    fn row(&mut self, md: &mut String, name: &str) {
        self.lat.sort_unstable();
        #[allow(clippy::cast_precision_loss)]
        let rate = self.bytes as f64 / 1_048_576.0 / self.elapsed.as_secs_f64();
        let _ = writeln!(
            md,
            "| {name} | {} | {:.2} | {:.2} | {rate:.1} |",
            self.lat.len(),
            percentile_ms(&self.lat, 0.5),
            percentile_ms(&self.lat, 0.99)
        );
    }

    fn p50(&self) -> f64 {
        let mut l = self.lat.clone();
        l.sort_unstable();
        percentile_ms(&l, 0.5)
    }
}

/// Runs the benchmark and returns its markdown report.
// One linear script of the run.
#[allow(clippy::too_many_lines)]
pub(crate) async fn run(b: &CacheBench<'_>) -> anyhow::Result<String> {
    let upstream = Spawned::start_with(b.binary, b.work_dir, &["--metrics-listen", "off"], &[])?;
    let up_addr: SocketAddr = upstream
        .endpoint
        .strip_prefix("http://")
        .context("upstream endpoint")?
        .parse()
        .context("upstream address")?;
    let rate = b.throttle_mib_per_s * 1024 * 1024;
    let throttle =
        Throttle::start(up_addr, rate, Duration::from_millis(b.throttle_latency_ms)).await?;
    let throttled = format!("http://{}", throttle.addr);
    let local =
        target::client(&upstream.endpoint, &upstream.access_key, &upstream.secret_key, true);
    local.create_bucket().bucket(UP_BUCKET).send().await.map_err(sdk)?;
    local.create_bucket().bucket(LOCAL).send().await.map_err(sdk)?;

    let cache_bytes = (b.cache_mib << 20).to_string();
    let mut gateways = Vec::new();
    for policy in ["s3fifo", "lru"] {
        let cache_dir =
            b.work_dir.join(format!("s3gate-bench-cache-{policy}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache_dir);
        let prefix = format!("{policy}/");
        let gw = Spawned::start_with(
            b.binary,
            b.work_dir,
            &[
                "--metrics-listen",
                "127.0.0.1:0",
                "--backend",
                "s3",
                "--upstream-endpoint",
                &throttled,
                "--upstream-bucket",
                UP_BUCKET,
                "--upstream-prefix",
                &prefix,
                "--cache-dir",
                cache_dir.to_str().context("cache dir")?,
                "--cache-size",
                &cache_bytes,
                "--cache-memory",
                "0",
                "--cache-policy",
                policy,
            ],
            &[
                ("S3GATE_UPSTREAM_ACCESS_KEY", &upstream.access_key),
                ("S3GATE_UPSTREAM_SECRET_KEY", &upstream.secret_key),
            ],
        )?;
        let client = target::client(&gw.endpoint, &gw.access_key, &gw.secret_key, true);
        client.create_bucket().bucket(BUCKET).send().await.map_err(sdk)?;
        eprintln!("gateway {policy}: {} (pid {})", gw.endpoint, gw.pid());
        gateways.push(Cached { policy, gw, client });
    }

    let body = object_body(b.object_kib << 10);
    let keys: Vec<String> = (0..2 * b.objects).map(|i| format!("obj-{i:05}")).collect();
    eprintln!(
        "writing {} objects of {} KiB to each gateway and to the local disk",
        keys.len(),
        b.object_kib
    );
    put_all(&local, LOCAL, &keys[..PHASE], &body, b.concurrency).await?;
    for g in &gateways {
        put_all(&g.client, BUCKET, &keys, &body, b.concurrency).await?;
    }

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Objects of {} KiB; upstream limited to {} MiB/s per connection with {} ms one-way \
         delay; cache directory tier {} MiB, memory tier off; one GET at a time in the first \
         three rows, {} at a time in the trace.\n",
        b.object_kib, b.throttle_mib_per_s, b.throttle_latency_ms, b.cache_mib, b.concurrency
    );
    md.push_str("| phase | GETs | p50 ms | p99 ms | MiB/s |\n|---|---|---|---|---|\n");
    let first = &gateways[0];
    let mut cold = get_seq(&first.client, BUCKET, &keys[..PHASE], body.len()).await?;
    // The directory tier is written in the background: let the fills land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut warm = get_seq(&first.client, BUCKET, &keys[..PHASE], body.len()).await?;
    let mut disk = get_seq(&local, LOCAL, &keys[..PHASE], body.len()).await?;
    cold.row(&mut md, "cold cache (through the throttle)");
    warm.row(&mut md, "warm cache");
    disk.row(&mut md, "local disk gateway");
    let _ = writeln!(
        md,
        "\nWarm-cache GET p50 {:.2} ms is {:.0}% of the local-disk GET's speed (p50 {:.2} ms); \
         the cold GET {:.1}× slower than warm.\n",
        warm.p50(),
        100.0 * disk.p50() / warm.p50(),
        disk.p50(),
        cold.p50() / warm.p50()
    );

    let trace = skewed_trace(b.objects, b.requests);
    let _ = write!(
        md,
        "Skewed trace: {} GETs, Zipf(0.9) over {} hot objects ({} MiB, {:.1}× the cache) with a \
         scan of 100 objects read once after every 500 GETs.\n\n",
        trace.len(),
        b.objects,
        (b.objects * b.object_kib) >> 10,
        (b.objects * b.object_kib) as f64 / 1024.0 / b.cache_mib as f64
    );
    md.push_str("| policy | hit ratio | p50 ms | p99 ms | MiB/s |\n|---|---|---|---|---|\n");
    for g in &gateways {
        let before = lookups(&g.gw).await?;
        let mut phase = get_trace(&g.client, &keys, &trace, body.len(), b.concurrency).await?;
        let after = lookups(&g.gw).await?;
        let (hits, misses) = (after.0 - before.0, after.1 - before.1);
        let ratio = hits / (hits + misses).max(1.0);
        phase.lat.sort_unstable();
        #[allow(clippy::cast_precision_loss)]
        let rate = phase.bytes as f64 / 1_048_576.0 / phase.elapsed.as_secs_f64();
        let _ = writeln!(
            md,
            "| {} | {ratio:.3} ({hits} of {}) | {:.2} | {:.2} | {rate:.1} |",
            g.policy,
            hits + misses,
            percentile_ms(&phase.lat, 0.5),
            percentile_ms(&phase.lat, 0.99)
        );
        eprintln!("{}: hit ratio {ratio:.3}", g.policy);
    }
    for g in &gateways {
        let _ = std::fs::remove_dir_all(b.work_dir.join(format!(
            "s3gate-bench-cache-{}-{}",
            g.policy,
            std::process::id()
        )));
    }
    drop(throttle);
    Ok(md)
}

/// Indices into the keys: Zipf(0.9) over the first `hot`, and after every 500 a scan of the
/// next 100 keys of the second half (each read once). A fixed xorshift seed: both gateways get
/// the same trace.
fn skewed_trace(hot: usize, len: usize) -> Vec<usize> {
    #[allow(clippy::cast_precision_loss)]
    let weights: Vec<f64> = (1..=hot).map(|k| 1.0 / (k as f64).powf(0.9)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(hot);
    let mut acc = 0.0;
    for w in weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut scan = hot;
    let mut out = Vec::with_capacity(len + len / 5);
    for i in 0..len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        #[allow(clippy::cast_precision_loss)]
        let u = (state >> 11) as f64 / (1u64 << 53) as f64;
        out.push(cdf.partition_point(|&c| c < u).min(hot - 1));
        if i % 500 == 499 {
            for _ in 0..100 {
                out.push(scan);
                scan = hot + (scan + 1 - hot) % hot;
            }
        }
    }
    out
}

fn object_body(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from((i * 7 + i / 251) % 256).unwrap_or(0)).collect()
}

async fn put_all(
    c: &Client,
    bucket: &str,
    keys: &[String],
    body: &[u8],
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for chunk in keys.chunks(keys.len().div_ceil(concurrency.max(1))) {
        let (c, bucket, chunk, body) =
            (c.clone(), bucket.to_owned(), chunk.to_vec(), bytes::Bytes::copy_from_slice(body));
        set.spawn(async move {
            for key in chunk {
                c.put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await
                    .map_err(sdk)?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

async fn get_one(c: &Client, bucket: &str, key: &str, len: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = c.get_object().bucket(bucket).key(key).send().await.map_err(sdk)?;
    let data = out.body.collect().await.map_err(sdk)?.into_bytes();
    ensure!(data.len() == len, "GET {key}: {} bytes, want {len}", data.len());
    Ok(started.elapsed())
}

async fn get_seq(c: &Client, bucket: &str, keys: &[String], len: usize) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let mut lat = Vec::with_capacity(keys.len());
    for key in keys {
        lat.push(get_one(c, bucket, key, len).await?);
    }
    Ok(Phase { lat, elapsed: started.elapsed(), bytes: (keys.len() * len) as u64 })
}

async fn get_trace(
    c: &Client,
    keys: &[String],
    trace: &[usize],
    len: usize,
    concurrency: usize,
) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let n = concurrency.max(1);
    for worker in 0..n {
        let mine: Vec<String> =
            trace.iter().skip(worker).step_by(n).map(|&i| keys[i].clone()).collect();
        let c = c.clone();
        set.spawn(async move {
            let mut lat = Vec::with_capacity(mine.len());
            for key in &mine {
                lat.push(get_one(&c, BUCKET, key, len).await?);
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::with_capacity(trace.len());
    while let Some(r) = set.join_next().await {
        lat.extend(r??);
    }
    Ok(Phase { lat, elapsed: started.elapsed(), bytes: (trace.len() * len) as u64 })
}

/// (hits, misses) of the gateway's directory tier, from its /metrics.
async fn lookups(gw: &Spawned) -> anyhow::Result<(f64, f64)> {
    let addr = gw.metrics.as_deref().context("the gateway printed no metrics address")?;
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    let value = |result: &str| {
        let series = format!(
            "s3gate_cache_lookups_total{{cache=\"upstream\",tier=\"disk\",result=\"{result}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((value("hit"), value("miss")))
}
