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
use md5::{Digest as _, Md5};
use s3gate_engine::{Caller, Engine, EngineConfig, EngineError, MIN_SHARED_ORPHAN_GRACE};
use s3gate_metadata::{
    MetadataStore, SqliteMetadata, UploadListEntry, UploadListQuery, VersionListEntry,
    VersionListQuery,
};
use s3gate_protocol::BucketName;
use s3gate_storage_backend::{AnyBlobs, BlobError, BlobId, BlobStore, DiskBlobs};

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
    /// gateway runs on the directory (a stopped gateway's debris goes at once). At least 600
    /// while a gateway runs: its writes in flight are invisible to this process.
    #[arg(long, env = "S3GATE_ORPHAN_GRACE_SECONDS", default_value_t = 3600)]
    orphan_grace_seconds: u64,
    /// The gateway's storage tiers (as `serve` takes them, or from its `--config` file): the
    /// collector, the sweep and the check then cover every tier, not only the data directory.
    #[command(flatten)]
    tiers: crate::backend::TierArgs,
    #[command(flatten)]
    data: DataDir,
}

/// Options of `s3gate check`.
#[derive(Args)]
pub(crate) struct CheckArgs {
    /// Also read every referenced blob slice and compare its MD5 with the part's ETag (reads
    /// all the data; without it only presence and sizes are checked).
    #[arg(long)]
    deep: bool,
    /// Delete the unreferenced blobs found (only those older than the orphan grace while a
    /// gateway runs). Missing data cannot be repaired: it is reported.
    #[arg(long)]
    repair: bool,
    #[command(flatten)]
    grace: GraceArgs,
}

/// The data directory opened for an administration command.
struct Opened {
    engine: Engine<SqliteMetadata, crate::backend::Blobs>,
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
    open_tiered(data_dir, region, &crate::backend::TierArgs::default()).await
}

/// [`open`] with the gateway's further tiers beside the data directory's disk store.
async fn open_tiered(
    data_dir: &Path,
    region: &str,
    tiers: &crate::backend::TierArgs,
) -> anyhow::Result<Opened> {
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
    let blobs = tiers.open(AnyBlobs::Disk(blobs)).await?;
    let engine = Engine::new(meta, blobs, EngineConfig::new(region));
    Ok(Opened { engine, running, _lock: lock })
}

fn root() -> Caller {
    Caller { user: ROOT_USER.to_owned(), is_root: true, authorized: false }
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
            let caller =
                Caller { user: user.name.clone(), is_root: user.is_root, authorized: false };
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

/// The grace an administration command deletes with: zero on a stopped gateway (the command
/// holds the lock, nothing is in flight); on a running one the given grace, refused below
/// [`MIN_SHARED_ORPHAN_GRACE`], since the gateway's writes in flight are invisible from here.
fn deletion_grace(o: &Opened, args: &GraceArgs) -> anyhow::Result<Duration> {
    if !o.running {
        return Ok(Duration::ZERO);
    }
    let grace = Duration::from_secs(args.orphan_grace_seconds);
    if grace < MIN_SHARED_ORPHAN_GRACE {
        bail!(
            "--orphan-grace-seconds {} is too short while a gateway runs on {}: its writes in \
             flight are invisible to this command, which could delete their blobs before they \
             commit; use at least {} (or stop the gateway first)",
            args.orphan_grace_seconds,
            args.data.data_dir.display(),
            MIN_SHARED_ORPHAN_GRACE.as_secs()
        );
    }
    Ok(grace)
}

impl Opened {
    /// The orphan sweep with `grace` beside a running gateway; everything unknown, however
    /// young, on a stopped one (this process holds the lock: nothing is in flight).
    async fn sweep(&self, grace: Duration) -> anyhow::Result<s3gate_engine::SweepReport> {
        Ok(if self.running {
            self.engine.sweep_orphans(grace).await?
        } else {
            self.engine.sweep_orphans_at_rest().await?
        })
    }
}

/// Runs `s3gate gc`: the collector and the orphan sweep once, with the grace the gateway's state
/// allows, and prints what they did.
pub(crate) async fn gc(args: GraceArgs) -> anyhow::Result<()> {
    let o = open_tiered(&args.data.data_dir, "us-east-1", &args.tiers).await?;
    let grace = deletion_grace(&o, &args)?;
    println!(
        "gateway {}: deleting retired and unreferenced blobs older than {}s",
        if o.running { "running" } else { "stopped" },
        grace.as_secs()
    );
    let gc = o.engine.collect_garbage_older_than(grace).await?;
    let sweep = o.sweep(grace).await?;
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
    /// Referenced blobs shorter than the slice the metadata names: (reference, stored size).
    truncated: Vec<(Reference, u64)>,
    /// Referenced slices whose MD5 is not the part's ETag (`--deep`): (reference, MD5 read).
    corrupt: Vec<(Reference, String)>,
    /// Blobs the metadata does not know, older than the grace.
    orphans: Vec<String>,
    /// Unknown blobs younger than the grace: likely writes in flight.
    young_unknown: u64,
    retired: u64,
}

impl CheckReport {
    /// Prints the report, each bad blob on a line of its own.
    fn print(&self, running: bool, grace: Duration, deep: bool) {
        println!("gateway: {}", if running { "running" } else { "stopped" });
        println!("objects: {}", self.objects);
        println!("unfinished uploads: {}", self.uploads);
        println!("blobs stored: {}", self.blobs);
        println!("retired blobs awaiting collection: {}", self.retired);
        println!("missing blobs: {}", self.missing.len());
        for (bucket, what, blob) in &self.missing {
            println!("  missing {blob} of {bucket}/{what}");
        }
        println!("truncated blobs: {}", self.truncated.len());
        for (r, size) in &self.truncated {
            println!(
                "  truncated {} of {}/{}: {size} bytes stored, {} needed",
                r.blob_id,
                r.bucket,
                r.what,
                r.end()
            );
        }
        if deep {
            println!("corrupt blobs (MD5 is not the part's ETag): {}", self.corrupt.len());
            for (r, md5) in &self.corrupt {
                println!(
                    "  corrupt {} of {}/{}: bytes {}..{} read as {md5}, ETag {}",
                    r.blob_id,
                    r.bucket,
                    r.what,
                    r.offset,
                    r.end(),
                    r.etag
                );
            }
        }
        println!("unreferenced blobs older than {}s: {}", grace.as_secs(), self.orphans.len());
        for id in &self.orphans {
            println!("  orphan {id}");
        }
        println!(
            "unreferenced blobs younger than that (writes in flight?): {}",
            self.young_unknown
        );
    }
}

/// One blob slice the metadata names: an object part or a part of an unfinished upload.
#[derive(Debug, Clone)]
struct Reference {
    bucket: String,
    /// The key, or "key (upload id)".
    what: String,
    blob_id: String,
    offset: u64,
    size: u64,
    /// The part's ETag: hex MD5 of the slice.
    etag: String,
}

impl Reference {
    /// Bytes the blob must hold for this slice to be readable.
    fn end(&self) -> u64 {
        self.offset.saturating_add(self.size)
    }
}

/// Walks every object version and every part of an unfinished upload, counting them in
/// `report`, and returns every blob slice they name.
async fn references(
    meta: &SqliteMetadata,
    report: &mut CheckReport,
) -> anyhow::Result<Vec<Reference>> {
    let mut out: Vec<Reference> = Vec::new();
    for bucket in meta.list_buckets(None).await? {
        // Every version, noncurrent ones included (a delete marker names no blob).
        let mut query = VersionListQuery { max_keys: 1000, ..VersionListQuery::default() };
        loop {
            let page = meta.list_object_versions(&bucket.name, &query).await?;
            for entry in &page.entries {
                let VersionListEntry::Version(summary) = entry else { continue };
                query.key_marker = Some(summary.key.clone());
                query.version_id_marker = Some(summary.version_id.clone());
                if summary.is_delete_marker {
                    continue;
                }
                let id = Some(summary.version_id.as_str());
                let Some(version) = meta.object_version(&bucket.name, &summary.key, id).await?
                else {
                    continue;
                };
                report.objects += 1;
                out.extend(version.parts.into_iter().map(|part| Reference {
                    bucket: bucket.name.clone(),
                    what: summary.key.clone(),
                    blob_id: part.blob_id,
                    offset: part.blob_offset,
                    size: part.size,
                    etag: part.etag,
                }));
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
                        out.push(Reference {
                            bucket: bucket.name.clone(),
                            what: format!("{} (upload {})", upload.key, upload.upload_id),
                            blob_id: part.blob_id.clone(),
                            offset: part.blob_offset,
                            size: part.size,
                            etag: part.etag.clone(),
                        });
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
    Ok(out)
}

/// Reads a blob slice whole and returns the hex MD5 of what it held, or why it could not.
async fn slice_md5(blobs: &impl BlobStore, id: &BlobId, r: &Reference) -> Result<String, String> {
    let mut stream = blobs.get(id, r.offset, Some(r.size)).await.map_err(|e| e.to_string())?;
    let mut hasher = Md5::new();
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        got += chunk.len() as u64;
        hasher.update(&chunk);
    }
    if got != r.size {
        return Err(format!("read {got} of {} bytes", r.size));
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Runs `s3gate check`: every blob the metadata names must exist and hold the slice it is named
/// for (with `--deep`: bytes whose MD5 is the part's ETag), and every blob must be known to the
/// metadata. Exits with an error, naming each bad blob, if data is missing, truncated or
/// corrupt, or if orphans remain.
pub(crate) async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let o = open_tiered(&args.grace.data.data_dir, "us-east-1", &args.grace.tiers).await?;
    // Only `--repair` deletes; a report may use any grace to tell orphans from young blobs.
    let grace = if args.repair {
        deletion_grace(&o, &args.grace)?
    } else if o.running {
        Duration::from_secs(args.grace.orphan_grace_seconds)
    } else {
        Duration::ZERO
    };
    let meta = o.engine.metadata();
    let blobs = o.engine.blobs();
    let mut report = CheckReport::default();

    // 1. Every blob the backend holds (ids and sizes; an admin pass may hold them all).
    let mut stored: HashMap<String, (SystemTime, u64)> = HashMap::new();
    let mut list = blobs.list().await?;
    while let Some(entry) = list.next().await {
        let entry = entry?;
        stored.insert(entry.id.as_str().to_owned(), (entry.modified, entry.size));
    }
    report.blobs = stored.len() as u64;

    // 2. Every blob slice the metadata names (object versions, then parts of unfinished
    // uploads) must be stored, and the blob must hold the whole slice: a short blob is
    // what GET answers 500 for.
    for r in references(meta, &mut report).await? {
        let Some(id) = BlobId::parse(&r.blob_id) else {
            report.missing.push((r.bucket, r.what, r.blob_id));
            continue;
        };
        match stored.get(&r.blob_id) {
            // The listing and the walk are not one snapshot: a blob written after the
            // listing looks missing. Ask the backend again, and keep it only if still absent
            // and still named by the metadata.
            None => {
                // A blob of a tier this command was not given is missing as far as it can
                // tell (docs/tiering.md: give `check` the gateway's tiers).
                let absent = matches!(
                    blobs.get(&id, 0, None).await,
                    Err(BlobError::NotFound | BlobError::NoSuchTier(_))
                );
                if absent && !meta.known_blobs(std::slice::from_ref(&r.blob_id)).await?.is_empty() {
                    report.missing.push((r.bucket, r.what, r.blob_id));
                }
                continue;
            }
            Some(&(_, size)) if size < r.end() => {
                report.truncated.push((r, size));
                continue;
            }
            Some(_) => {}
        }
        if args.deep {
            match slice_md5(blobs, &id, &r).await {
                Ok(md5) if md5 == r.etag => {}
                Ok(md5) => report.corrupt.push((r, md5)),
                Err(why) => report.corrupt.push((r, why)),
            }
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
            if stored.get(id).is_some_and(|(m, _)| *m <= cutoff) {
                report.orphans.push(id.clone());
            } else {
                report.young_unknown += 1;
            }
        }
    }
    report.retired = meta.retired_blobs(SystemTime::now(), u32::MAX).await?.len() as u64;

    report.print(o.running, grace, args.deep);

    let mut orphans_left = report.orphans.len();
    if args.repair && !report.orphans.is_empty() {
        // The engine's sweep re-checks each blob against the metadata just before deleting it.
        let sweep = o.sweep(grace).await?;
        println!(
            "repair: deleted {} unreferenced blobs and {} interrupted writes",
            sweep.orphans_deleted, sweep.temp_removed
        );
        orphans_left = orphans_left.saturating_sub(usize::try_from(sweep.orphans_deleted)?);
    }
    if !report.missing.is_empty() {
        bail!("{} blobs named by the metadata are missing", report.missing.len());
    }
    if !report.truncated.is_empty() {
        bail!("{} blobs named by the metadata are truncated", report.truncated.len());
    }
    if !report.corrupt.is_empty() {
        bail!("{} blob slices do not match their ETag", report.corrupt.len());
    }
    if orphans_left > 0 {
        bail!("{orphans_left} unreferenced blobs remain (run `s3gate check --repair`)");
    }
    println!("ok");
    Ok(())
}
