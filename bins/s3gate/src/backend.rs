//! `serve`'s choice of blob store: local disk in the data directory, or an upstream S3 service,
//! as the default tier; and further named tiers (`--tier`) with the storage classes stored on
//! them (`--storage-class`), see docs/tiering.md.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use s3gate_engine::StorageClasses;
use s3gate_storage_backend::{
    AnyBlobs, BlobStore, CacheConfig, CachePolicy, CachedBlobs, DiskBlobs, S3ProxyBlobs,
    S3ProxyConfig, TieredBlobs, valid_tier_name,
};

/// The name of the default tier (the `--backend` store), which holds `STANDARD`.
pub(crate) const DEFAULT_TIER: &str = "standard";

/// The blob store of the gateway: the tiers, by name.
pub(crate) type Blobs = TieredBlobs<AnyBlobs>;

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
    #[command(flatten)]
    tiers: TierArgs,
}

/// Flags of the storage tiers beside the default one.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct TierArgs {
    /// A further storage tier, repeatable: `NAME=disk:PATH` (blobs in the directory PATH) or
    /// `NAME=s3:endpoint=URL,bucket=B[,prefix=P][,region=R][,credentials-file=FILE]
    /// [,part-size=N][,upload-concurrency=N][,range-size=N][,window=N][,max-attempts=N]`
    /// (blobs in an upstream S3 bucket; without credentials-file, the keys of
    /// --backend s3). NAME: 1 to 32 of a-z, 0-9 and -; `standard` is the default tier.
    /// A tier's name is kept in every blob reference: never rename a tier that holds data.
    #[arg(long = "tier", value_name = "NAME=SPEC")]
    pub(crate) tier: Vec<TierSpec>,
    /// A storage class and the tier that stores it, repeatable: `CLASS=TIER`, e.g.
    /// `GLACIER=cold`. STANDARD is always the default tier; an unmapped class is refused
    /// (501 NotImplemented). GLACIER and DEEP_ARCHIVE objects are served without a restore.
    #[arg(long = "storage-class", value_name = "CLASS=TIER")]
    pub(crate) storage_class: Vec<ClassMapping>,
}

/// One `--tier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TierSpec {
    name: String,
    kind: TierKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TierKind {
    Disk(PathBuf),
    S3(Vec<(String, String)>),
}

/// The keys an S3 tier takes.
const S3_TIER_KEYS: &[&str] = &[
    "endpoint",
    "bucket",
    "prefix",
    "region",
    "credentials-file",
    "part-size",
    "upload-concurrency",
    "range-size",
    "window",
    "max-attempts",
];

impl FromStr for TierSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, spec) = s.split_once('=').ok_or("expected NAME=disk:PATH or NAME=s3:...")?;
        if !valid_tier_name(name) {
            return Err(format!("invalid tier name {name:?}: 1 to 32 of a-z, 0-9 and -"));
        }
        if name == DEFAULT_TIER {
            return Err(format!("{DEFAULT_TIER} is the default tier (--backend)"));
        }
        let kind = if let Some(path) = spec.strip_prefix("disk:") {
            if path.is_empty() {
                return Err("a disk tier needs a directory: NAME=disk:PATH".into());
            }
            TierKind::Disk(PathBuf::from(path))
        } else if let Some(opts) = spec.strip_prefix("s3:") {
            let mut pairs = Vec::new();
            for item in opts.split(',').filter(|i| !i.is_empty()) {
                let (k, v) = item.split_once('=').ok_or(format!("expected KEY=VALUE: {item:?}"))?;
                if !S3_TIER_KEYS.contains(&k) {
                    return Err(format!(
                        "unknown S3 tier key {k:?} (one of {})",
                        S3_TIER_KEYS.join(", ")
                    ));
                }
                if pairs.iter().any(|(p, _)| p == k) {
                    return Err(format!("{k} given twice"));
                }
                pairs.push((k.to_owned(), v.to_owned()));
            }
            for needed in ["endpoint", "bucket"] {
                if !pairs.iter().any(|(k, _)| k == needed) {
                    return Err(format!("an S3 tier needs {needed}=..."));
                }
            }
            TierKind::S3(pairs)
        } else {
            return Err("expected disk:PATH or s3:KEY=VALUE,...".into());
        };
        Ok(TierSpec { name: name.to_owned(), kind })
    }
}

/// One `--storage-class`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClassMapping {
    class: String,
    tier: String,
}

impl FromStr for ClassMapping {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (class, tier) = s.split_once('=').ok_or("expected CLASS=TIER")?;
        // The class is checked against S3's list here, so a typo fails at start-up.
        StorageClasses::new().map(class, None)?;
        if !valid_tier_name(tier) {
            return Err(format!("invalid tier name {tier:?}"));
        }
        if class == s3gate_engine::STANDARD && tier != DEFAULT_TIER {
            return Err(format!("STANDARD is always the default tier ({DEFAULT_TIER})"));
        }
        Ok(ClassMapping { class: class.to_owned(), tier: tier.to_owned() })
    }
}

impl TierArgs {
    /// The storage classes the flags map, each to a tier `names` has (the default tier is
    /// `None`).
    pub(crate) fn classes(&self, names: &[&str]) -> anyhow::Result<StorageClasses> {
        let mut classes = StorageClasses::new();
        for m in &self.storage_class {
            if !names.contains(&m.tier.as_str()) {
                bail!("--storage-class {}={}: no tier named {}", m.class, m.tier, m.tier);
            }
            if classes.tier(&m.class).is_some() && m.class != s3gate_engine::STANDARD {
                bail!("--storage-class {} given twice", m.class);
            }
            let tier = (m.tier != DEFAULT_TIER).then(|| m.tier.clone());
            classes.map(&m.class, tier).map_err(|e| anyhow::anyhow!("--storage-class: {e}"))?;
        }
        Ok(classes)
    }

    /// Opens the tiers beside `default`.
    pub(crate) async fn open(&self, default: AnyBlobs) -> anyhow::Result<Blobs> {
        let mut blobs = TieredBlobs::new(DEFAULT_TIER, default)?;
        for t in &self.tier {
            let store = open_tier(t).await.with_context(|| format!("opening tier {}", t.name))?;
            blobs.add(t.name.clone(), store).with_context(|| format!("--tier {}", t.name))?;
        }
        Ok(blobs)
    }
}

async fn open_tier(t: &TierSpec) -> anyhow::Result<AnyBlobs> {
    match &t.kind {
        TierKind::Disk(path) => open_disk(path).await,
        TierKind::S3(pairs) => {
            let get = |k: &str| pairs.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
            let num = |k: &str| -> anyhow::Result<Option<u64>> {
                get(k).map(|v| v.parse::<u64>().with_context(|| format!("{k}={v}"))).transpose()
            };
            let (ak, sk) = match get("credentials-file") {
                Some(path) => read_credentials_file(Path::new(path))?,
                None => upstream_keys()?,
            };
            let (Some(endpoint), Some(bucket)) = (get("endpoint"), get("bucket")) else {
                bail!("an S3 tier needs endpoint and bucket");
            };
            let mut cfg = S3ProxyConfig::new(endpoint, bucket, ak, sk);
            cfg.prefix = get("prefix").unwrap_or_default().to_owned();
            if let Some(r) = get("region") {
                cfg.region = r.to_owned();
            }
            let size = |v: u64| usize::try_from(v).context("too large");
            if let Some(v) = num("part-size")? {
                cfg.part_size = size(v)?;
            }
            if let Some(v) = num("upload-concurrency")? {
                cfg.upload_concurrency = size(v)?;
            }
            if let Some(v) = num("range-size")? {
                cfg.range_size = v;
            }
            if let Some(v) = num("window")? {
                cfg.window = size(v)?;
            }
            if let Some(v) = num("max-attempts")? {
                cfg.max_attempts = u32::try_from(v).context("max-attempts too large")?;
            }
            let store = S3ProxyBlobs::new(cfg).context("configuring the S3 tier")?;
            // A tier that is down at start-up is reported, not fatal: objects on it answer
            // 503 SlowDown until it is back, and the other tiers serve meanwhile.
            if let Err(e) = store.check().await {
                tracing::warn!(tier = %t.name, error = %format!("{e:#}"), "S3 tier not reachable");
            }
            Ok(AnyBlobs::S3(store))
        }
    }
}

async fn open_disk(path: &Path) -> anyhow::Result<AnyBlobs> {
    let dir = path.to_owned();
    let disk = tokio::task::spawn_blocking(move || DiskBlobs::open(&dir))
        .await
        .context("blob store open task failed")?
        .with_context(|| format!("opening blob store in {}", path.display()))?;
    Ok(AnyBlobs::Disk(disk))
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

/// Opens the tiers the flags name, and the storage classes they store.
pub(crate) async fn open(
    args: BackendArgs,
    data_dir: &Path,
) -> anyhow::Result<(Blobs, StorageClasses)> {
    let tiers = args.tiers.clone();
    let default = open_default(args, data_dir).await?;
    let blobs = tiers.open(default).await?;
    let names: Vec<&str> = blobs.tier_names().collect();
    let classes = tiers.classes(&names)?;
    if !tiers.tier.is_empty() {
        tracing::info!(tiers = ?names, classes = ?classes, "storage tiers");
    }
    Ok((blobs, classes))
}

/// Opens the default tier's store, behind the read cache if the flags ask for one (off the
/// async workers for the disk).
async fn open_default(args: BackendArgs, data_dir: &Path) -> anyhow::Result<AnyBlobs> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_specs_parse() {
        let disk: TierSpec = "warm=disk:/mnt/nas/s3gate".parse().unwrap();
        assert_eq!(disk.name, "warm");
        assert_eq!(disk.kind, TierKind::Disk(PathBuf::from("/mnt/nas/s3gate")));
        let s3: TierSpec =
            "cold=s3:endpoint=http://127.0.0.1:9000,bucket=b,prefix=p/,window=4".parse().unwrap();
        let TierKind::S3(pairs) = &s3.kind else { panic!("{s3:?}") };
        assert_eq!(pairs.len(), 4);
        assert_eq!(pairs[0], ("endpoint".to_owned(), "http://127.0.0.1:9000".to_owned()));
        for bad in [
            "cold",
            "cold=tape:/x",
            "cold=disk:",
            "Cold=disk:/x",
            "standard=disk:/x",
            "cold=s3:bucket=b",
            "cold=s3:endpoint=e,bucket=b,colour=blue",
            "cold=s3:endpoint=e,bucket=b,bucket=c",
            "cold=s3:endpoint=e,bucket",
        ] {
            assert!(bad.parse::<TierSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn class_mappings_name_known_classes_and_tiers() {
        let m: ClassMapping = "GLACIER=cold".parse().unwrap();
        assert_eq!((m.class.as_str(), m.tier.as_str()), ("GLACIER", "cold"));
        for bad in ["GLACIER", "BOGUS=cold", "glacier=cold", "GLACIER=Cold", "STANDARD=cold"] {
            assert!(bad.parse::<ClassMapping>().is_err(), "{bad}");
        }
        let args = TierArgs {
            tier: vec![],
            storage_class: vec![
                "GLACIER=cold".parse().unwrap(),
                "STANDARD_IA=standard".parse().unwrap(),
            ],
        };
        let classes = args.classes(&["standard", "cold"]).unwrap();
        assert_eq!(classes.tier("GLACIER"), Some(Some("cold")));
        assert_eq!(classes.tier("STANDARD_IA"), Some(None));
        assert_eq!(classes.tier("DEEP_ARCHIVE"), None);
        assert!(args.classes(&["standard"]).is_err(), "a class mapped to a missing tier");
        let twice = TierArgs {
            tier: vec![],
            storage_class: vec!["GLACIER=cold".parse().unwrap(), "GLACIER=cold".parse().unwrap()],
        };
        assert!(twice.classes(&["standard", "cold"]).is_err());
    }
}
