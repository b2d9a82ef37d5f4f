//! `serve`'s choice of blob store: local disk in the data directory, or an upstream S3 service.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use s3gate_storage_backend::{
    AnyBlobs, BlobStore, CacheConfig, CachePolicy, CachedBlobs, DiskBlobs, S3ProxyBlobs,
    S3ProxyConfig,
};

/// Where object data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Backend {
    /// Blobs in the data directory.
    Disk,
    /// Blobs as objects of another S3-compatible service (see docs/proxy-backend.md).
    S3,
}

/// Flags of the blob store.
#[derive(Args, Debug)]
pub(crate) struct BackendArgs {
    /// Blob store: `disk` (in the data directory) or `s3` (an upstream S3 service; its keys
    /// come from --upstream-credentials-file, else S3GATE_UPSTREAM_ACCESS_KEY/
    /// S3GATE_UPSTREAM_SECRET_KEY, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "S3GATE_BACKEND", value_enum, default_value_t = Backend::Disk)]
    backend: Backend,
    /// Upstream endpoint for `--backend s3`, e.g. `https://s3.eu-west-1.amazonaws.com`.
    #[arg(long, env = "S3GATE_UPSTREAM_ENDPOINT")]
    upstream_endpoint: Option<String>,
    /// Upstream bucket holding the blobs (must exist).
    #[arg(long, env = "S3GATE_UPSTREAM_BUCKET")]
    upstream_bucket: Option<String>,
    /// File with the upstream keys as `access_key_id=...` and `secret_access_key=...` lines.
    #[arg(long, env = "S3GATE_UPSTREAM_CREDENTIALS_FILE")]
    upstream_credentials_file: Option<PathBuf>,
    /// Prefix of the blob keys in the upstream bucket.
    #[arg(long, env = "S3GATE_UPSTREAM_PREFIX", default_value = "")]
    upstream_prefix: String,
    /// Region the upstream signs for.
    #[arg(long, env = "S3GATE_UPSTREAM_REGION", default_value = "us-east-1")]
    upstream_region: String,
    /// Bytes per upstream part when writing (at least 5 MiB).
    #[arg(long, env = "S3GATE_UPSTREAM_PART_SIZE", default_value_t = 8 * 1024 * 1024)]
    upstream_part_size: usize,
    /// Parts of one write uploaded to the upstream concurrently.
    #[arg(long, env = "S3GATE_UPSTREAM_UPLOAD_CONCURRENCY", default_value_t = 2)]
    upstream_upload_concurrency: usize,
    /// Bytes per ranged upstream request when reading.
    #[arg(long, env = "S3GATE_UPSTREAM_RANGE_SIZE", default_value_t = 8 * 1024 * 1024)]
    upstream_range_size: u64,
    /// Ranged upstream requests of one blob read in flight at once.
    #[arg(long, env = "S3GATE_UPSTREAM_WINDOW", default_value_t = 8)]
    upstream_window: usize,
    /// Attempts per upstream request before the client's request fails.
    #[arg(long, env = "S3GATE_UPSTREAM_MAX_ATTEMPTS", default_value_t = 6)]
    upstream_max_attempts: u32,
    /// Directory of the read cache's disk tier, which the cache owns (docs/cache.md). Setting
    /// it or --cache-memory puts the read cache in front of the blob store.
    #[arg(long, env = "S3GATE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Bytes the read cache's disk tier may hold.
    #[arg(long, env = "S3GATE_CACHE_SIZE", default_value_t = 10 << 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    cache_size: u64,
    /// Bytes of the read cache's memory tier (0: none); 64 MiB when only --cache-dir is set.
    #[arg(long, env = "S3GATE_CACHE_MEMORY")]
    cache_memory: Option<u64>,
    /// Bytes per read-cache chunk: the unit of lookup, fill and eviction.
    #[arg(long, env = "S3GATE_CACHE_CHUNK", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u64).range(4096..=(64 << 20)))]
    cache_chunk: u64,
    /// Admission and eviction of the read cache: `s3fifo` (scan resistant) or `lru`.
    #[arg(long, env = "S3GATE_CACHE_POLICY", value_enum, default_value_t = CachePolicyArg::S3fifo)]
    cache_policy: CachePolicyArg,
}

/// `--cache-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CachePolicyArg {
    /// S3-FIFO: new entries must be hit again before they can displace the hot set.
    S3fifo,
    /// Least recently used (the baseline S3-FIFO is measured against).
    Lru,
}

impl BackendArgs {
    /// The read cache the flags ask for, if any.
    fn cache(&self, name: &str) -> Option<CacheConfig> {
        if self.cache_dir.is_none() && self.cache_memory.is_none() {
            return None;
        }
        let mut cfg = CacheConfig::new(name);
        cfg.chunk_size = self.cache_chunk;
        cfg.policy = match self.cache_policy {
            CachePolicyArg::S3fifo => CachePolicy::S3Fifo,
            CachePolicyArg::Lru => CachePolicy::Lru,
        };
        if let Some(bytes) = self.cache_memory {
            cfg.memory_bytes = bytes;
        }
        cfg.disk = self.cache_dir.clone().map(|dir| (dir, self.cache_size));
        Some(cfg)
    }
}

/// Puts `store` behind the read cache `cache` names (off the async workers: opening the
/// cache's directory indexes its files).
async fn cached<B: BlobStore>(store: B, cache: CacheConfig) -> anyhow::Result<CachedBlobs<B>> {
    let dir = cache.disk.as_ref().map(|(d, _)| d.display().to_string());
    let opened = tokio::task::spawn_blocking(move || CachedBlobs::open(store, &cache))
        .await
        .context("read cache open task failed")?
        .with_context(|| {
            format!("opening the read cache in {}", dir.as_deref().unwrap_or("memory"))
        })?;
    tracing::info!(cache = dir.as_deref().unwrap_or("memory only"), "read cache on");
    Ok(opened)
}

/// Opens the blob store the flags name (off the async workers for the disk).
pub(crate) async fn open(args: BackendArgs, data_dir: &Path) -> anyhow::Result<AnyBlobs> {
    let cache = args.cache(match args.backend {
        Backend::Disk => "disk",
        Backend::S3 => "upstream",
    });
    match args.backend {
        Backend::Disk => {
            if args.upstream_endpoint.is_some() || args.upstream_bucket.is_some() {
                bail!("--upstream-endpoint and --upstream-bucket need --backend s3");
            }
            let dir = data_dir.to_owned();
            let disk = tokio::task::spawn_blocking(move || DiskBlobs::open(&dir))
                .await
                .context("blob store open task failed")?
                .with_context(|| format!("opening blob store in {}", data_dir.display()))?;
            match cache {
                Some(cache) => Ok(AnyBlobs::CachedDisk(cached(disk, cache).await?)),
                None => Ok(AnyBlobs::Disk(disk)),
            }
        }
        Backend::S3 => {
            let (Some(endpoint), Some(bucket)) = (args.upstream_endpoint, args.upstream_bucket)
            else {
                bail!("--backend s3 needs --upstream-endpoint and --upstream-bucket");
            };
            let (ak, sk) = match &args.upstream_credentials_file {
                Some(path) => read_credentials_file(path)?,
                None => upstream_keys()?,
            };
            let mut cfg = S3ProxyConfig::new(endpoint, bucket, ak, sk);
            cfg.prefix = args.upstream_prefix;
            cfg.region = args.upstream_region;
            cfg.part_size = args.upstream_part_size;
            cfg.upload_concurrency = args.upstream_upload_concurrency;
            cfg.range_size = args.upstream_range_size;
            cfg.window = args.upstream_window;
            cfg.max_attempts = args.upstream_max_attempts;
            let store = S3ProxyBlobs::new(cfg).context("configuring the S3 upstream")?;
            store.check().await.context("checking the upstream bucket")?;
            tracing::info!(?store, "blobs live upstream");
            match cache {
                Some(cache) => Ok(AnyBlobs::CachedS3(cached(store, cache).await?)),
                None => Ok(AnyBlobs::S3(store)),
            }
        }
    }
}

/// Upstream keys: S3GATE_UPSTREAM_ACCESS_KEY/S3GATE_UPSTREAM_SECRET_KEY, else the AWS ones.
fn upstream_keys() -> anyhow::Result<(String, String)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    for (a, s) in [
        ("S3GATE_UPSTREAM_ACCESS_KEY", "S3GATE_UPSTREAM_SECRET_KEY"),
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ] {
        match (var(a), var(s)) {
            (Some(ak), Some(sk)) => return Ok((ak, sk)),
            (None, None) => {}
            _ => bail!("set both {a} and {s}, or neither"),
        }
    }
    bail!("--backend s3 needs S3GATE_UPSTREAM_ACCESS_KEY and S3GATE_UPSTREAM_SECRET_KEY")
}

/// Keys from a file of `access_key_id=...` and `secret_access_key=...` lines.
fn read_credentials_file(path: &Path) -> anyhow::Result<(String, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut ak = None;
    let mut sk = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("access_key_id=") {
            ak = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("secret_access_key=") {
            sk = Some(v.trim().to_owned());
        }
    }
    match (ak, sk) {
        (Some(a), Some(s)) => Ok((a, s)),
        _ => bail!("{} is not a credentials file", path.display()),
    }
}
