//! Administration commands on a data directory: `bucket list|create|delete`, `gc` and `check`.
//!
//! They work whether or not a gateway runs on the directory. The gateway holds an exclusive
//! lock on `DATA/s3gate.lock` while it runs; a command that finds the lock taken knows a live
//! gateway may be writing, and acts only on what no live request can still need:
//!
//! * retired blobs are collected only once retired longer than the orphan grace (a running
//!   gateway's readers hold in-process leases that this process cannot see; the grace bounds
//!   how long a read that began before the overwrite may keep streaming);
//! * unreferenced blobs and temp files are removed only once older than the orphan grace (a
//!   write in flight has stored its blob but not yet committed the metadata naming it).
//!
//! On a stopped gateway the command holds the lock itself, so a gateway cannot start under it,
//! and every retired or unreferenced blob can go, as at gateway start-up.

use std::collections::{HashMap, HashSet};
use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use futures_util::StreamExt as _;
use s3gate_engine::{Caller, Engine, EngineConfig, EngineError};
use s3gate_metadata::{
    ListEntry, ListQuery, MetadataStore, SqliteMetadata, UploadListEntry, UploadListQuery,
};
use s3gate_protocol::BucketName;
use s3gate_storage_backend::{BlobError, BlobId, BlobStore, DiskBlobs};

use crate::{DataDir, ROOT_USER};

/// Lock file the running gateway holds exclusively.
pub(crate) const LOCK_FILE: &str = "s3gate.lock";

/// Blob ids checked against the metadata per query.
const BATCH: usize = 500;

/// `s3gate bucket ...`.
#[derive(Subcommand)]
pub(crate) enum BucketCommand {
    /// List every bucket with its owner and creation time.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Create a bucket owned by a user.
    Create {
        /// Bucket name.
        name: String,
        /// Owning user.
        #[arg(long, default_value = ROOT_USER)]
        owner: String,
        /// Region recorded for the bucket (the gateway's region).
        #[arg(long, env = "S3GATE_REGION", default_value = "us-east-1")]
        region: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Delete an empty bucket (its unfinished multipart uploads go with it).
    Delete {
        /// Bucket name.
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

/// Options of `s3gate gc` and `s3gate check`.
#[derive(Args)]
pub(crate) struct GraceArgs {
    /// Seconds an unreferenced or retired blob must be old before it is deleted while a
    /// gateway runs on the directory (a stopped gateway's debris goes at once).
    #[arg(long, env = "S3GATE_ORPHAN_GRACE_SECONDS", default_value_t = 3600)]
    orphan_grace_seconds: u64,
    #[command(flatten)]
    data: DataDir,
}

/// Options of `s3gate check`.
#[derive(Args)]
pub(crate) struct CheckArgs {
    /// Delete the unreferenced blobs found (only those older than the orphan grace while a
    /// gateway runs). Missing data cannot be repaired: it is reported.
    #[arg(long)]
    repair: bool,
    #[command(flatten)]
    grace: GraceArgs,
}

/// The data directory opened for an administration command.
struct Opened {
    engine: Engine<SqliteMetadata, DiskBlobs>,
    /// Whether a gateway holds the directory's lock.
    running: bool,
    /// Held while the command runs when no gateway did.
    _lock: File,
}

/// Takes the gateway's lock without waiting: `Ok(true)` when this process now holds it,
/// `Ok(false)` when a gateway holds it.
pub(crate) fn try_lock(lock: &File) -> anyhow::Result<bool> {
    match lock.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e).context("locking the data directory"),
    }
}

/// Opens (creating) the lock file of a data directory.
pub(crate) fn lock_file(data_dir: &Path) -> anyhow::Result<File> {
    let path = data_dir.join(LOCK_FILE);
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

async fn open(data_dir: &Path, region: &str) -> anyhow::Result<Opened> {
    if !data_dir.join(crate::METADATA_FILE).exists() {
        bail!("{} holds no s3gate data (no {})", data_dir.display(), crate::METADATA_FILE);
    }
    let meta = crate::open_metadata(data_dir).await?;
    let lock = lock_file(data_dir)?;
    let running = !try_lock(&lock)?;
    let dir = data_dir.to_owned();
    let blobs = tokio::task::spawn_blocking(move || DiskBlobs::open(&dir))
        .await
        .context("blob store open task failed")?
        .with_context(|| format!("opening blob store in {}", data_dir.display()))?;
    let engine = Engine::new(meta, blobs, EngineConfig::new(region));
    Ok(Opened { engine, running, _lock: lock })
}

fn root() -> Caller {
    Caller { user: ROOT_USER.to_owned(), is_root: true }
}

/// Runs `s3gate bucket ...`.
pub(crate) async fn bucket(cmd: BucketCommand) -> anyhow::Result<()> {
    match cmd {
        BucketCommand::List { data } => {
            let meta = crate::open_metadata(&data.data_dir).await?;
            for b in meta.list_buckets(None).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    b.name,
                    b.owner,
                    b.region,
                    s3gate_protocol::format_iso8601(b.created)
                );
            }
        }
        BucketCommand::Create { name, owner, region, data } => {
            let bucket = BucketName::parse(&name).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let o = open(&data.data_dir, &region).await?;
            let users = o.engine.metadata().list_users().await?;
            let Some(user) = users.iter().find(|u| u.name == owner) else {
                bail!("no user named {owner}");
            };
            let caller = Caller { user: user.name.clone(), is_root: user.is_root };
            // The S3 answer to recreating one's own bucket is success in us-east-1; an operator
            // asking to create a bucket that exists is told so whoever owns it.
            if o.engine.metadata().bucket(bucket.as_str()).await?.is_some() {
                bail!("bucket {bucket} already exists");
            }
            match o.engine.create_bucket(&caller, &bucket, None).await {
                Ok(()) => println!("created bucket {bucket} owned by {owner}"),
                Err(EngineError::BucketAlreadyOwnedByYou | EngineError::BucketAlreadyExists) => {
                    bail!("bucket {bucket} already exists")
                }
                Err(e) => return Err(e.into()),
            }
        }
        BucketCommand::Delete { name, data } => {
            let bucket = BucketName::parse(&name).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let o = open(&data.data_dir, "us-east-1").await?;
            match o.engine.delete_bucket(&root(), &bucket).await {
                Ok(()) => println!("deleted bucket {bucket}"),
                Err(EngineError::NoSuchBucket) => bail!("no bucket named {bucket}"),
                Err(EngineError::BucketNotEmpty) => bail!("bucket {bucket} is not empty"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Runs `s3gate gc`: the collector and the orphan sweep once, with the grace the gateway's state
/// allows, and prints what they did.
pub(crate) async fn gc(args: GraceArgs) -> anyhow::Result<()> {
    let o = open(&args.data.data_dir, "us-east-1").await?;
    let grace =
        if o.running { Duration::from_secs(args.orphan_grace_seconds) } else { Duration::ZERO };
    println!(
        "gateway {}: deleting retired and unreferenced blobs older than {}s",
        if o.running { "running" } else { "stopped" },
        grace.as_secs()
    );
    let gc = o.engine.collect_garbage_older_than(grace).await?;
    let sweep = o.engine.sweep_orphans(grace).await?;
    println!("retired blobs deleted: {}", gc.deleted);
    println!("retired blobs kept (leased): {}", gc.skipped_leased);
    println!("unreferenced blobs deleted: {}", sweep.orphans_deleted);
    println!("interrupted writes removed: {}", sweep.temp_removed);
    let backlog = o.engine.metadata().retired_blobs(SystemTime::now(), u32::MAX).await?.len();
    println!("retired blobs still waiting: {backlog}");
    Ok(())
}

/// What `s3gate check` found.
#[derive(Debug, Default)]
struct CheckReport {
    objects: u64,
    uploads: u64,
    blobs: u64,
    /// (bucket, key or upload, blob id) referenced by the metadata but absent.
    missing: Vec<(String, String, String)>,
    /// Blobs the metadata does not know, older than the grace.
    orphans: Vec<String>,
    /// Unknown blobs younger than the grace: likely writes in flight.
    young_unknown: u64,
    retired: u64,
}

/// Walks every object version and every part of an unfinished upload, counting them in
/// `report`, and returns the (bucket, what, blob id) of each blob not in `stored`.
async fn unstored_references(
    meta: &SqliteMetadata,
    stored: &HashMap<String, SystemTime>,
    report: &mut CheckReport,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut candidates: Vec<(String, String, String)> = Vec::new();
    for bucket in meta.list_buckets(None).await? {
        let mut after: Option<String> = None;
        loop {
            let query = ListQuery {
                prefix: String::new(),
                delimiter: None,
                start_after: after.clone(),
                max_keys: 1000,
            };
            let page = meta.list_objects(&bucket.name, &query).await?;
            for entry in &page.entries {
                let ListEntry::Object(summary) = entry else { continue };
                after = Some(summary.key.clone());
                let Some(version) = meta.object(&bucket.name, &summary.key).await? else {
                    continue;
                };
                report.objects += 1;
                for part in version.parts {
                    if !stored.contains_key(&part.blob_id) {
                        candidates.push((bucket.name.clone(), summary.key.clone(), part.blob_id));
                    }
                }
            }
            if !page.is_truncated || page.entries.is_empty() {
                break;
            }
        }
        let mut query = UploadListQuery { max_uploads: 1000, ..UploadListQuery::default() };
        loop {
            let page = meta.list_uploads(&bucket.name, &query).await?;
            for entry in &page.entries {
                let UploadListEntry::Upload(upload) = entry else { continue };
                query.key_marker = Some(upload.key.clone());
                query.upload_id_marker = Some(upload.upload_id.clone());
                report.uploads += 1;
                let mut after = 0;
                loop {
                    let (parts, more) =
                        meta.list_parts(&bucket.name, &upload.upload_id, after, 1000).await?;
                    for part in &parts {
                        after = part.part_number;
                        if !stored.contains_key(&part.blob_id) {
                            candidates.push((
                                bucket.name.clone(),
                                format!("{} (upload {})", upload.key, upload.upload_id),
                                part.blob_id.clone(),
                            ));
                        }
                    }
                    if !more || parts.is_empty() {
                        break;
                    }
                }
            }
            if !page.is_truncated || page.entries.is_empty() {
                break;
            }
        }
    }
    Ok(candidates)
}

/// Runs `s3gate check`: every blob the metadata names must exist, and every blob must be known
/// to the metadata. Exits with an error if data is missing or orphans remain.
pub(crate) async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let o = open(&args.grace.data.data_dir, "us-east-1").await?;
    let grace = if o.running {
        Duration::from_secs(args.grace.orphan_grace_seconds)
    } else {
        Duration::ZERO
    };
    let meta = o.engine.metadata();
    let blobs = o.engine.blobs();
    let mut report = CheckReport::default();

    // 1. Every blob the backend holds (ids only; an admin pass may hold them all).
    let mut stored: HashMap<String, SystemTime> = HashMap::new();
    let mut list = blobs.list().await?;
    while let Some(entry) = list.next().await {
        let entry = entry?;
        stored.insert(entry.id.as_str().to_owned(), entry.modified);
    }
    report.blobs = stored.len() as u64;

    // 2. Every blob the metadata names: object versions, then parts of unfinished uploads.
    let candidates = unstored_references(meta, &stored, &mut report).await?;
    // The listing and the walk are not one snapshot: a blob written after the listing looks
    // missing. Ask the backend again for each candidate, and keep it only if still absent and
    // still named by the metadata.
    for (bucket, what, blob) in candidates {
        let Some(id) = BlobId::parse(&blob) else {
            report.missing.push((bucket, what, blob));
            continue;
        };
        let absent = matches!(blobs.get(&id, 0, None).await, Err(BlobError::NotFound));
        if absent && !meta.known_blobs(std::slice::from_ref(&blob)).await?.is_empty() {
            report.missing.push((bucket, what, blob));
        }
    }

    // 3. Blobs the metadata does not know.
    let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let ids: Vec<String> = stored.keys().cloned().collect();
    for chunk in ids.chunks(BATCH) {
        let known: HashSet<String> = meta.known_blobs(chunk).await?.into_iter().collect();
        for id in chunk {
            if known.contains(id) {
                continue;
            }
            if stored.get(id).is_some_and(|m| *m <= cutoff) {
                report.orphans.push(id.clone());
            } else {
                report.young_unknown += 1;
            }
        }
    }
    report.retired = meta.retired_blobs(SystemTime::now(), u32::MAX).await?.len() as u64;

    println!("gateway: {}", if o.running { "running" } else { "stopped" });
    println!("objects: {}", report.objects);
    println!("unfinished uploads: {}", report.uploads);
    println!("blobs stored: {}", report.blobs);
    println!("retired blobs awaiting collection: {}", report.retired);
    println!("missing blobs: {}", report.missing.len());
    for (bucket, what, blob) in &report.missing {
        println!("  missing {blob} of {bucket}/{what}");
    }
    println!("unreferenced blobs older than {}s: {}", grace.as_secs(), report.orphans.len());
    for id in &report.orphans {
        println!("  orphan {id}");
    }
    println!("unreferenced blobs younger than that (writes in flight?): {}", report.young_unknown);

    let mut orphans_left = report.orphans.len();
    if args.repair && !report.orphans.is_empty() {
        // The engine's sweep re-checks each blob against the metadata just before deleting it.
        let sweep = o.engine.sweep_orphans(grace).await?;
        println!(
            "repair: deleted {} unreferenced blobs and {} interrupted writes",
            sweep.orphans_deleted, sweep.temp_removed
        );
        orphans_left = orphans_left.saturating_sub(usize::try_from(sweep.orphans_deleted)?);
    }
    if !report.missing.is_empty() {
        bail!("{} blobs named by the metadata are missing", report.missing.len());
    }
    if orphans_left > 0 {
        bail!("{orphans_left} unreferenced blobs remain (run `s3gate check --repair`)");
    }
    println!("ok");
    Ok(())
}
