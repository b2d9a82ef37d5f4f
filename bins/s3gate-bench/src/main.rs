//! `s3gate-bench`: a load generator for s3gate (and any S3 endpoint) built on the official AWS
//! SDK for Rust, with this machine's ceilings measured in the same run.
//!
//! ```text
//! cargo run --release -p s3gate-bench -- --spawn target/release/s3gate --markdown out.md
//! cargo run --release -p s3gate-bench -- --endpoint http://127.0.0.1:9000 \
//!     --access-key K --secret-key S --server-pid PID [--peer-endpoint URL ...] [--quick]
//! ```
//!
//! Scenarios (groups for `--scenarios`): `ceilings` (one-core MD5, SHA-256 and AES-256-GCM
//! seal/open of s3gate's package format, loopback TCP,
//! disk write + fdatasync, fsync latency), `small` (4 KiB PUT/GET/HEAD at concurrency 1, 32,
//! 128), `large` (single-stream PUT and GET of 1 GiB), `multipart` (1 GiB in 16 MiB parts, 8 in
//! flight, and its GET), `range` (1 MiB random ranged GETs, 32 in flight), `sse` (the large
//! PUT, GET and 1 MiB ranged GETs from the middle, plaintext against SSE-S3 in each round), `list`
//! (ListObjectsV2 over 100,000 keys: full pagination, a `/` listing at the top, and one over a
//! bucket with 90% of its keys under one prefix), `mixed` (70% GET / 30% PUT for 60 s), and,
//! only when named, `concurrent` (32 uploads and 32 downloads of 1 GiB at once, for the server's
//! peak RSS).
//! Every scenario checks what it reads; beside each one the server's peak RSS (VmRSS sampled
//! every 50 ms) and CPU seconds are recorded when its pid is known. Each figure is the median
//! of `--rounds` rounds. Output: JSON lines (stdout or `--json`) and a markdown table
//! (`--markdown`).
//!
//! It deliberately does not tune the client: SDK defaults (checksums, aws-chunked uploads)
//! unless `--when-required`, because that is what applications send.

// Rates are computed from byte and operation counts far below 2^52.
#![allow(clippy::cast_precision_loss)]
// SDK request futures are ~17 KiB and live one per task; boxing each await buys nothing here.
#![allow(clippy::large_futures)]

mod cache;
mod ceilings;
mod content;
mod proxy;
mod report;
mod scenarios;
mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;

use crate::report::{Metric, RunInfo, Sample};
use crate::scenarios::{Ctx, DEFAULT_GROUPS, GROUPS, RoundResult, Sizes};
use crate::target::{Spawned, Target};

/// Load generator for s3gate and any other S3 endpoint.
#[derive(Parser, Debug)]
#[command(name = "s3gate-bench", version)]
// Command-line switches are bools by nature (clap flags).
#[allow(clippy::struct_excessive_bools)]
struct Cli {
    /// Endpoint of the gateway under test (not needed with --spawn).
    #[arg(long, required_unless_present = "spawn")]
    endpoint: Option<String>,
    /// Access key for --endpoint.
    #[arg(long, env = "S3GATE_BENCH_ACCESS_KEY", default_value = "")]
    access_key: String,
    /// Secret key for --endpoint.
    #[arg(long, env = "S3GATE_BENCH_SECRET_KEY", default_value = "", hide_env_values = true)]
    secret_key: String,
    /// Pid of the gateway, for its RSS and CPU figures.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Start this s3gate binary on a fresh temporary data directory and a free port instead.
    #[arg(long, conflicts_with = "endpoint")]
    spawn: Option<PathBuf>,
    /// A second S3 endpoint run through the same scenarios (e.g. s3s-fs).
    #[arg(long)]
    peer_endpoint: Option<String>,
    /// Access key for --peer-endpoint.
    #[arg(long, default_value = "")]
    peer_access_key: String,
    /// Secret key for --peer-endpoint.
    #[arg(long, default_value = "")]
    peer_secret_key: String,
    /// Pid of the peer server.
    #[arg(long)]
    peer_pid: Option<u32>,
    /// Comma-separated groups: ceilings,small,large,multipart,range,sse,list,mixed,concurrent
    /// (default: all but concurrent, which moves 64 GiB per round). `sse` compares plaintext
    /// with SSE-S3 (PUT, GET, 1 MiB ranges from the middle) and fails against a server that
    /// does not encrypt; leave it out for such a peer.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Rounds per scenario; figures are medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Shrink every size and count for a smoke run.
    #[arg(long)]
    quick: bool,
    /// Seconds of the mixed run (60, or 5 with --quick).
    #[arg(long)]
    mixed_seconds: Option<u64>,
    /// Send checksums only when required (RequestChecksumCalculation::WhenRequired).
    #[arg(long)]
    when_required: bool,
    /// Where the generated upload file (and a spawned data directory) go.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Directory on the gateway's data filesystem for the disk ceilings (default: the spawned
    /// data directory, else --work-dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Write JSON lines here instead of stdout.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the markdown report here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Instead of the scenarios: the S3 proxy backend benchmark (needs --spawn). Starts an
    /// upstream s3gate, a throttling TCP proxy in front of it and a gateway with
    /// `--backend s3` through the throttle, then GETs one large object through the gateway and
    /// straight from the throttled upstream.
    #[arg(long, requires = "spawn")]
    proxy: bool,
    /// Per-connection bandwidth of the throttled upstream, MiB/s (--proxy).
    #[arg(long, default_value_t = 16)]
    throttle_mib_per_s: u64,
    /// One-way delay the throttle adds to every piece, ms (--proxy).
    #[arg(long, default_value_t = 0)]
    throttle_latency_ms: u64,
    /// Ranged upstream requests the gateway keeps in flight (--proxy).
    #[arg(long, default_value_t = 8)]
    proxy_window: usize,
    /// Size of one ranged upstream request, MiB (--proxy).
    #[arg(long, default_value_t = 8)]
    proxy_range_mib: u64,
    /// Size of the object, MiB (--proxy; 1024, or 64 with --quick).
    #[arg(long)]
    proxy_object_mib: Option<u64>,
    /// Instead of the scenarios: the read-cache benchmark (needs --spawn). An upstream
    /// s3gate behind the throttle, two gateways with `--backend s3` and the read cache (one
    /// S3-FIFO, one LRU); cold, warm and local-disk GETs, then a skewed trace on both.
    #[arg(long, requires = "spawn", conflicts_with = "proxy")]
    cache: bool,
    /// Objects of the hot set (--cache; 300, or 60 with --quick); as many more are scanned.
    #[arg(long)]
    cache_objects: Option<usize>,
    /// Size of each object, KiB (--cache).
    #[arg(long, default_value_t = 256)]
    cache_object_kib: usize,
    /// The cache's directory tier, MiB (--cache).
    #[arg(long, default_value_t = 24)]
    cache_mib: u64,
    /// GETs of the skewed trace (--cache; 4000, or 600 with --quick).
    #[arg(long)]
    cache_requests: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run(cli))
}

/// Results keyed by (target, scenario), each holding every round's samples.
#[derive(Default)]
struct Results {
    order: Vec<(String, String)>,
    rounds: Vec<Vec<Vec<Sample>>>,
}

impl Results {
    fn add(&mut self, target: &str, scenario: &str, samples: Vec<Sample>) {
        let key = (target.to_owned(), scenario.to_owned());
        let idx = self.order.iter().position(|k| *k == key).unwrap_or_else(|| {
            self.order.push(key);
            self.rounds.push(Vec::new());
            self.order.len() - 1
        });
        self.rounds[idx].push(samples);
    }

    fn add_round(&mut self, target: &str, r: RoundResult) {
        for (scenario, samples) in r {
            self.add(target, &scenario, samples);
        }
    }

    /// One metric per (target, scenario, metric name), folded over rounds.
    fn metrics(&self) -> Vec<Metric> {
        let mut out = Vec::new();
        for ((target, scenario), rounds) in self.order.iter().zip(&self.rounds) {
            let mut names: Vec<&str> = Vec::new();
            for s in rounds.iter().flatten() {
                if !names.contains(&s.metric.as_str()) {
                    names.push(&s.metric);
                }
            }
            for name in names {
                let per_round: Vec<Sample> =
                    rounds.iter().flatten().filter(|s| s.metric == name).cloned().collect();
                out.extend(Metric::fold(target, scenario, &per_round));
            }
        }
        out
    }
}

// One linear script of the run: splitting it would only move the sequence elsewhere.
#[allow(clippy::too_many_lines)]
async fn run(cli: Cli) -> anyhow::Result<()> {
    let info = RunInfo::collect();
    let groups: Vec<String> = if cli.scenarios.is_empty() {
        DEFAULT_GROUPS.iter().map(|g| (*g).to_owned()).collect()
    } else {
        cli.scenarios.clone()
    };
    if let Some(bad) = groups.iter().find(|g| !GROUPS.contains(&g.as_str())) {
        bail!("unknown scenario group {bad:?}; known: {}", GROUPS.join(","));
    }
    let rounds = cli.rounds.max(1);
    let sizes = Sizes::new(cli.quick, cli.mixed_seconds);
    let work_dir = cli.work_dir.clone().unwrap_or_else(target::default_work_dir);
    if cli.proxy {
        let object_mib = cli.proxy_object_mib.unwrap_or(if cli.quick { 64 } else { 1024 });
        let md = proxy::run(&proxy::ProxyBench {
            binary: cli.spawn.as_deref().context("--proxy needs --spawn")?,
            work_dir: &work_dir,
            size: object_mib << 20,
            throttle_mib_per_s: cli.throttle_mib_per_s.max(1),
            throttle_latency_ms: cli.throttle_latency_ms,
            window: cli.proxy_window.max(1),
            range_mib: cli.proxy_range_mib.max(1),
            rounds,
        })
        .await?;
        match &cli.markdown {
            Some(p) => {
                std::fs::write(p, &md).with_context(|| format!("writing {}", p.display()))?;
            }
            None => print!("{md}"),
        }
        return Ok(());
    }

    if cli.cache {
        let md = cache::run(&cache::CacheBench {
            binary: cli.spawn.as_deref().context("--cache needs --spawn")?,
            work_dir: &work_dir,
            throttle_mib_per_s: cli.throttle_mib_per_s.max(1),
            throttle_latency_ms: cli.throttle_latency_ms,
            objects: cli.cache_objects.unwrap_or(if cli.quick { 60 } else { 300 }).max(2),
            object_kib: cli.cache_object_kib.max(1),
            cache_mib: cli.cache_mib.max(1),
            requests: cli.cache_requests.unwrap_or(if cli.quick { 600 } else { 4000 }),
            concurrency: 4,
        })
        .await?;
        match &cli.markdown {
            Some(p) => {
                std::fs::write(p, &md).with_context(|| format!("writing {}", p.display()))?;
            }
            None => print!("{md}"),
        }
        return Ok(());
    }

    let spawned = match &cli.spawn {
        Some(bin) => {
            let s = Spawned::start(bin, &work_dir)?;
            eprintln!("spawned {} (pid {}) at {}", bin.display(), s.pid(), s.endpoint);
            Some(s)
        }
        None => None,
    };
    let (endpoint, ak, sk, pid) = match &spawned {
        Some(s) => (s.endpoint.clone(), s.access_key.clone(), s.secret_key.clone(), Some(s.pid())),
        None => (
            cli.endpoint.clone().unwrap_or_default(),
            cli.access_key.clone(),
            cli.secret_key.clone(),
            cli.server_pid,
        ),
    };
    let mut targets = vec![Target {
        name: "s3gate".to_owned(),
        client: target::client(&endpoint, &ak, &sk, cli.when_required),
        pid,
    }];
    if let Some(peer) = &cli.peer_endpoint {
        targets.push(Target {
            name: "peer".to_owned(),
            client: target::client(
                peer,
                &cli.peer_access_key,
                &cli.peer_secret_key,
                cli.when_required,
            ),
            pid: cli.peer_pid,
        });
    }

    let mut results = Results::default();
    let mut failures = Vec::new();
    for t in &targets {
        if let Some(rss) = t.pid.and_then(target::rss_mib) {
            results.add(&t.name, "idle_at_start", vec![Sample::new("server_rss_mib", "MiB", rss)]);
        }
    }

    if groups.iter().any(|g| g == "ceilings") {
        let disk_dir = cli
            .data_dir
            .clone()
            .or_else(|| spawned.as_ref().map(|s| s.data_dir.path().to_owned()))
            .unwrap_or_else(|| work_dir.clone());
        let cs = ceilings::CeilingSizes::new(cli.quick);
        eprintln!("ceilings (disk in {})", disk_dir.display());
        let buf = Arc::new(content::generate(5, cs.hash_bytes));
        for _ in 0..rounds {
            let b = Arc::clone(&buf);
            let mut samples = tokio::task::spawn_blocking(move || {
                let mut s = ceilings::hashes(&b);
                s.extend(ceilings::aead(&b)?);
                anyhow::Ok(s)
            })
            .await??;
            samples.push(ceilings::loopback(cs.tcp_bytes).await?);
            let dir = disk_dir.clone();
            samples.extend(
                tokio::task::spawn_blocking(move || ceilings::disk(&dir, cs.disk_bytes, cs.fsyncs))
                    .await??,
            );
            eprintln!(
                "  {}",
                samples
                    .iter()
                    .map(|s| format!("{}={:.2}", s.metric, s.value))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            results.add("machine", "ceiling", samples);
        }
    }

    let needs_large = groups
        .iter()
        .any(|g| matches!(g.as_str(), "large" | "multipart" | "range" | "sse" | "concurrent"));
    let file_dir = tempfile::Builder::new().prefix("s3gate-bench-file-").tempdir_in(&work_dir)?;
    let large = if needs_large {
        eprintln!("generating the {} MiB upload file", sizes.large >> 20);
        let path = file_dir.path().join("large.bin");
        let (len, part) = (sizes.large, sizes.part);
        Arc::new(
            tokio::task::spawn_blocking(move || content::LargeFile::create(&path, 42, len, part))
                .await??,
        )
    } else {
        Arc::new(content::LargeFile::create(&file_dir.path().join("large.bin"), 42, 0, sizes.part)?)
    };

    for t in &targets {
        let ctx = Ctx { client: t.client.clone(), pid: t.pid, sizes, large: Arc::clone(&large) };
        for group in groups.iter().filter(|g| *g != "ceilings") {
            eprintln!("{} / {group}", t.name);
            if let Err(e) = run_group(&ctx, group, rounds, &t.name, &mut results).await {
                let msg = format!("{} / {group}: {e:#}", t.name);
                eprintln!("FAILED {msg}");
                failures.push(msg);
            }
        }
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    for t in &targets {
        if let Some(rss) = t.pid.and_then(target::rss_mib) {
            results.add(&t.name, "idle_after_run", vec![Sample::new("server_rss_mib", "MiB", rss)]);
        }
    }

    let metrics = results.metrics();
    let mut lines: String = metrics.iter().map(|m| m.to_json() + "\n").collect();
    for f in &failures {
        lines.push_str(&serde_json::json!({ "failure": f }).to_string());
        lines.push('\n');
    }
    match &cli.json {
        Some(p) => std::fs::write(p, &lines).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{lines}"),
    }
    if let Some(p) = &cli.markdown {
        let md =
            report::markdown(&info, &metrics, &failures, &[&cli.secret_key, &cli.peer_secret_key]);
        std::fs::write(p, md).with_context(|| format!("writing {}", p.display()))?;
    }
    drop(spawned);
    if failures.is_empty() { Ok(()) } else { bail!("{} scenario group(s) failed", failures.len()) }
}

async fn run_group(
    ctx: &Ctx,
    group: &str,
    rounds: usize,
    target: &str,
    results: &mut Results,
) -> anyhow::Result<()> {
    match group {
        "range" => scenarios::setup_range(ctx).await?,
        "list" => scenarios::setup_list(ctx).await?,
        _ => {}
    }
    let mixed_objects =
        if group == "mixed" { Some(scenarios::setup_mixed(ctx).await?) } else { None };
    for round in 0..rounds {
        let r = match (group, &mixed_objects) {
            ("small", _) => scenarios::small(ctx, round).await?,
            ("large", _) => scenarios::large(ctx, round).await?,
            ("multipart", _) => scenarios::multipart(ctx, round).await?,
            ("range", _) => scenarios::range(ctx, round).await?,
            ("sse", _) => scenarios::sse(ctx, round).await?,
            ("list", _) => scenarios::list(ctx, round).await?,
            ("mixed", Some(objs)) => scenarios::mixed(ctx, round, objs).await?,
            ("concurrent", _) => scenarios::concurrent(ctx, round).await?,
            _ => bail!("unknown group {group}"),
        };
        results.add_round(target, r);
    }
    Ok(())
}
