//! The S3 proxy backend benchmark (`--proxy`): GET of a large object through a gateway whose
//! blobs live upstream, against a single-stream GET straight from that upstream, where every
//! connection to the upstream is bandwidth-limited by a throttling loopback TCP proxy.
//!
//! ```text
//! upstream s3gate (disk) <── throttle (N MiB/s per connection, each direction) <──┬── gateway (--backend s3) <── SDK GET
//!                                                                                 └── SDK GET ("direct")
//! ```
//!
//! Both GETs cross the same throttle, so the direct one is what a client of the upstream gets
//! from one connection; the gateway's window of concurrent ranged requests is what it adds.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::content::LargeFile;
use crate::report::{Sample, median};
use crate::scenarios::get_large;
use crate::target::{self, Sampler, Spawned};

/// Settings of the proxy benchmark.
pub(crate) struct ProxyBench<'a> {
    pub(crate) binary: &'a Path,
    pub(crate) work_dir: &'a Path,
    pub(crate) size: u64,
    pub(crate) throttle_mib_per_s: u64,
    pub(crate) throttle_latency_ms: u64,
    pub(crate) window: usize,
    pub(crate) range_mib: u64,
    pub(crate) rounds: usize,
}

const UP_BUCKET: &str = "blobs";
const BUCKET: &str = "proxy-bench";
const KEY: &str = "big";

fn sdk<E: std::error::Error>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{}", DisplayErrorContext(e))
}

/// Runs the benchmark and returns its markdown report.
pub(crate) async fn run(b: &ProxyBench<'_>) -> anyhow::Result<String> {
    let upstream = Spawned::start(b.binary, b.work_dir)?;
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
    eprintln!("upstream {} (pid {}), throttled at {throttled}", upstream.endpoint, upstream.pid());

    let up_fast =
        target::client(&upstream.endpoint, &upstream.access_key, &upstream.secret_key, true);
    up_fast.create_bucket().bucket(UP_BUCKET).send().await.map_err(sdk)?;
    up_fast.create_bucket().bucket(BUCKET).send().await.map_err(sdk)?;
    let window = b.window.to_string();
    let range = (b.range_mib * 1024 * 1024).to_string();
    let gateway = Spawned::start_with(
        b.binary,
        b.work_dir,
        &[
            "--backend",
            "s3",
            "--upstream-endpoint",
            &throttled,
            "--upstream-bucket",
            UP_BUCKET,
            "--upstream-prefix",
            "gw/",
            "--upstream-window",
            &window,
            "--upstream-range-size",
            &range,
        ],
        &[
            ("S3GATE_UPSTREAM_ACCESS_KEY", &upstream.access_key),
            ("S3GATE_UPSTREAM_SECRET_KEY", &upstream.secret_key),
        ],
    )?;
    eprintln!("gateway {} (pid {})", gateway.endpoint, gateway.pid());

    let file_dir = tempfile::Builder::new().prefix("s3gate-bench-proxy-").tempdir_in(b.work_dir)?;
    let path = file_dir.path().join("large.bin");
    let size = b.size;
    eprintln!("generating the {} MiB object", size >> 20);
    let large =
        tokio::task::spawn_blocking(move || LargeFile::create(&path, 7, size, 16 << 20)).await??;

    let gw = target::client(&gateway.endpoint, &gateway.access_key, &gateway.secret_key, true);
    gw.create_bucket().bucket(BUCKET).send().await.map_err(sdk)?;
    let direct = target::client(&throttled, &upstream.access_key, &upstream.secret_key, true);
    eprintln!("uploading through the gateway (and the throttle)");
    put(&gw, &large).await?;
    eprintln!("uploading straight to the upstream");
    put(&up_fast, &large).await?;

    let mut rows: Vec<Row> = Vec::new();
    for round in 0..b.rounds.max(1) {
        let d = get_large(&direct, BUCKET, KEY, &large).await?;
        let before = target::rss_mib(gateway.pid()).unwrap_or(f64::NAN);
        let sampler = Sampler::start(gateway.pid());
        let mut g = get_large(&gw, BUCKET, KEY, &large).await?;
        g.extend(sampler.finish());
        g.push(Sample::new("rss_before_mib", "MiB", before));
        eprintln!(
            "round {round}: direct {:.1} MiB/s ttfb {:.1} ms; gateway {:.1} MiB/s ttfb {:.1} ms \
             RSS {:.0} MiB before, {:.0} MiB peak",
            d[0].value, d[1].value, g[0].value, g[1].value, g[5].value, g[3].value
        );
        rows.push((d, g));
    }
    drop(gateway);
    drop(upstream);
    Ok(report(b, &rows))
}

/// One round: the direct GET's samples and the gateway's.
type Row = (Vec<Sample>, Vec<Sample>);

/// The markdown section: medians with every round's value.
fn report(b: &ProxyBench<'_>, rows: &[Row]) -> String {
    let med = |pick: fn(&Row) -> f64| median(&rows.iter().map(pick).collect::<Vec<_>>());
    let (d_rate, g_rate) = (med(|r| r.0[0].value), med(|r| r.1[0].value));
    let (d_ttfb, g_ttfb) = (med(|r| r.0[1].value), med(|r| r.1[1].value));
    let (d_secs, g_secs) = (med(|r| r.0[2].value), med(|r| r.1[2].value));
    let list = |pick: fn(&Row) -> f64| {
        rows.iter().map(|r| format!("{:.1}", pick(r))).collect::<Vec<_>>().join(", ")
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "GET of a {} MiB object, upstream limited to {} MiB/s per connection with {} ms one-way \
         delay, gateway window {} × {} MiB ranges; medians of {} rounds (each round's values in \
         brackets).\n",
        b.size >> 20,
        b.throttle_mib_per_s,
        b.throttle_latency_ms,
        b.window,
        b.range_mib,
        rows.len()
    );
    md.push_str("| path | MiB/s | seconds | time to first byte (ms) |\n|---|---|---|---|\n");
    let _ = writeln!(
        md,
        "| direct from the upstream, one stream | {d_rate:.1} [{}] | {d_secs:.1} [{}] | {d_ttfb:.1} [{}] |",
        list(|r| r.0[0].value),
        list(|r| r.0[2].value),
        list(|r| r.0[1].value)
    );
    let _ = writeln!(
        md,
        "| through the gateway (`--backend s3`) | {g_rate:.1} [{}] | {g_secs:.1} [{}] | {g_ttfb:.1} [{}] |",
        list(|r| r.1[0].value),
        list(|r| r.1[2].value),
        list(|r| r.1[1].value)
    );
    let _ = writeln!(
        md,
        "\nSpeed-up {:.2}×; time to first byte {:.2}× direct. Gateway RSS before its GET {:.0} MiB \
         [{}], peak during it {:.0} MiB [{}] (bound on the read's buffers: window × range = {} \
         MiB).",
        g_rate / d_rate,
        g_ttfb / d_ttfb,
        med(|r| r.1[5].value),
        list(|r| r.1[5].value),
        med(|r| r.1[3].value),
        list(|r| r.1[3].value),
        b.window as u64 * b.range_mib
    );
    md
}

async fn put(c: &Client, large: &LargeFile) -> anyhow::Result<()> {
    let body = ByteStream::read_from()
        .path(&large.path)
        .buffer_size(1 << 20)
        .build()
        .await
        .map_err(sdk)?;
    let out = c.put_object().bucket(BUCKET).key(KEY).body(body).send().await.map_err(sdk)?;
    ensure!(out.e_tag() == Some(large.etag.as_str()), "PUT: ETag {:?}", out.e_tag());
    Ok(())
}

/// A loopback TCP proxy that limits each connection to `rate` bytes per second in each
/// direction, optionally with a one-way delay: a stand-in for an upstream whose per-connection bandwidth is bounded (a WAN
/// link, a per-flow limit), without any test-only code in the gateway.
pub(crate) struct Throttle {
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Throttle {
    pub(crate) async fn start(
        to: SocketAddr,
        rate: u64,
        latency: Duration,
    ) -> anyhow::Result<Throttle> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(to).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let up = tokio::spawn(pump(cr, sw, rate, latency));
                    pump(sr, cw, rate, latency).await;
                    up.abort();
                });
            }
        });
        Ok(Throttle { addr, task })
    }
}

/// Copies `from` to `to`, never faster than `rate` bytes per second on average (measured from
/// the first byte, so an idle keep-alive connection earns no burst), each piece delivered
/// `latency` after it was read (a one-way delay that does not cut the bandwidth).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    rate: u64,
    latency: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, piece)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&piece).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    let mut start: Option<Instant> = None;
    let mut sent = 0u64;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // A pause of more than a second restarts the budget (a new request on a kept-alive
        // connection), so bursts stay below one second's worth.
        let now = Instant::now();
        let s = *start.get_or_insert(now);
        let due = s + Duration::from_secs_f64(sent as f64 / rate as f64);
        if now > due + Duration::from_secs(1) {
            start = Some(now);
            sent = 0;
        } else if due > now {
            tokio::time::sleep(due - now).await;
        }
        if tx.send((Instant::now() + latency, buf[..n].to_vec())).is_err() {
            break;
        }
        sent += n as u64;
    }
    drop(tx);
    let _ = writer.await;
}
