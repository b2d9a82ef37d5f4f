//! Where the metadata lives: the `--metadata` option (`sqlite://PATH` or `postgres://...`), and
//! the `migrate` and `metadata copy` commands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use s3gate_metadata::{
    AnyMetadata, ListEntry, ListQuery, MetadataStore, SqliteMetadata, UploadListEntry,
    UploadListQuery, Versioning, WriteCondition,
};

/// The metadata store option shared by `serve` and `user`.
#[derive(Args, Clone, Debug)]
pub(crate) struct MetadataArgs {
    /// Metadata store: `sqlite://PATH` (default: DATA_DIR/metadata.sqlite) or
    /// `postgres://USER@HOST:PORT/DB` (several gateways may share one database).
    #[arg(long = "metadata", env = "S3GATE_METADATA")]
    pub(crate) metadata: Option<String>,
    /// Most PostgreSQL connections this process opens.
    #[arg(long, env = "S3GATE_PG_POOL_SIZE", default_value_t = 32)]
    pub(crate) pg_pool_size: usize,
    /// Seconds a PostgreSQL statement may run, and the longest wait for a pooled connection.
    #[arg(long, env = "S3GATE_PG_TIMEOUT_SECONDS", default_value_t = 30)]
    pub(crate) pg_timeout_seconds: u64,
}

/// `s3gate metadata ...`.
#[derive(Subcommand)]
pub(crate) enum MetadataCommand {
    /// Copy every user, bucket, object and multipart upload from one store into another, empty
    /// one (stop the gateways first). Retired blobs are not copied: the target's orphan sweep
    /// reclaims their data.
    Copy {
        /// Source store URL (`sqlite://PATH` or `postgres://...`).
        #[arg(long)]
        from: String,
        /// Target store URL; must hold no user and no bucket.
        #[arg(long)]
        to: String,
    },
}

/// `s3gate migrate`.
#[derive(Args)]
pub(crate) struct MigrateArgs {
    /// The PostgreSQL database to bring to this build's schema (`postgres://...`).
    #[arg(long = "metadata", env = "S3GATE_METADATA")]
    metadata: String,
}

/// A parsed store location.
enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

fn parse(url: &str, data_dir: Option<&Path>) -> anyhow::Result<Location> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            let dir = data_dir.context("sqlite:// needs a path here")?;
            return Ok(Location::Sqlite(dir.join(crate::METADATA_FILE)));
        }
        return Ok(Location::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Location::Postgres(url.to_owned()));
    }
    bail!("unsupported metadata URL {url:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DB")
}

/// The URL with any password replaced, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl MetadataArgs {
    fn postgres_options(&self, migrate: bool) -> s3gate_metadata::PostgresOptions {
        let timeout = Duration::from_secs(self.pg_timeout_seconds.max(1));
        s3gate_metadata::PostgresOptions {
            pool_size: self.pg_pool_size.max(1),
            connect_timeout: timeout.min(Duration::from_secs(10)),
            statement_timeout: timeout,
            migrate,
        }
    }

    /// The directory holding the SQLite file, when the metadata is SQLite (local disk).
    pub(crate) fn sqlite_dir(&self, data_dir: &Path) -> Option<PathBuf> {
        match self.metadata.as_deref() {
            None | Some("sqlite://") => Some(data_dir.to_owned()),
            Some(url) => match parse(url, Some(data_dir)).ok()? {
                Location::Sqlite(path) => {
                    Some(path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf))
                }
                Location::Postgres(_) => None,
            },
        }
    }

    /// Opens the store (migrating it), creating the data directory for the default SQLite file.
    pub(crate) async fn open(&self, data_dir: &Path) -> anyhow::Result<AnyMetadata> {
        match self.metadata.as_deref() {
            None | Some("sqlite://") => {
                Ok(AnyMetadata::Sqlite(crate::open_metadata(data_dir).await?))
            }
            Some(url) => self.open_url(url, Some(data_dir)).await,
        }
    }

    async fn open_url(&self, url: &str, data_dir: Option<&Path>) -> anyhow::Result<AnyMetadata> {
        match parse(url, data_dir)? {
            Location::Sqlite(path) => Ok(AnyMetadata::Sqlite(open_sqlite(path).await?)),
            Location::Postgres(url) => {
                let store =
                    s3gate_metadata::PostgresMetadata::connect(&url, &self.postgres_options(true))
                        .await
                        .with_context(|| format!("connecting to {}", redacted(&url)))?;
                Ok(AnyMetadata::Postgres(store))
            }
        }
    }
}

/// Opens a SQLite store at an explicit path, off the async workers; the file is made private.
async fn open_sqlite(path: PathBuf) -> anyhow::Result<SqliteMetadata> {
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::PermissionsExt as _;
        let meta =
            SqliteMetadata::open(&path).with_context(|| format!("opening {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
        Ok(meta)
    })
    .await
    .context("metadata open task failed")?
}

/// `s3gate migrate --metadata postgres://...`.
pub(crate) async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let Location::Postgres(url) = parse(&args.metadata, None)? else {
        bail!("migrate applies to PostgreSQL; a SQLite store migrates itself when opened")
    };
    let opts = MetadataArgs { metadata: None, pg_pool_size: 1, pg_timeout_seconds: 300 };
    s3gate_metadata::PostgresMetadata::connect(&url, &opts.postgres_options(true))
        .await
        .with_context(|| format!("migrating {}", redacted(&url)))?;
    println!(
        "{}: schema at version {}",
        redacted(&url),
        s3gate_metadata::postgres_schema_version()
    );
    Ok(())
}

/// `s3gate metadata ...`.
pub(crate) async fn metadata(cmd: MetadataCommand) -> anyhow::Result<()> {
    match cmd {
        MetadataCommand::Copy { from, to } => {
            let opts = MetadataArgs { metadata: None, pg_pool_size: 4, pg_timeout_seconds: 300 };
            let src = opts.open_url(&from, None).await.context("opening the source")?;
            let dst = opts.open_url(&to, None).await.context("opening the target")?;
            let counts = copy(&src, &dst).await?;
            println!(
                "copied {} users, {} buckets, {} objects, {} uploads with {} parts",
                counts.users, counts.buckets, counts.objects, counts.uploads, counts.parts
            );
            Ok(())
        }
    }
}

#[derive(Default)]
struct Counts {
    users: u64,
    buckets: u64,
    objects: u64,
    uploads: u64,
    parts: u64,
}

/// Copies users with all their keys (status and last use), groups, stored policies and
/// attachments; returns how many users.
async fn copy_iam(src: &impl MetadataStore, dst: &impl MetadataStore) -> anyhow::Result<u64> {
    use s3gate_metadata::{Attachee, IamChange};
    let state = src.iam_state().await?;
    let mut users = 0;
    for mut user in src.list_users().await? {
        // A user is created with a key; one that has none gets a placeholder, deleted at once.
        let placeholder = user.access_key_id.is_empty();
        if placeholder {
            user.access_key_id = format!("s3gate_copy_{users}");
            user.secret_key = user.access_key_id.clone();
        }
        let (name, first) = (user.name.clone(), user.access_key_id.clone());
        dst.create_user(user).await?;
        if placeholder {
            dst.change_iam(IamChange::DeleteKey {
                user: name.clone(),
                access_key_id: first.clone(),
            })
            .await?;
        }
        for key in state.keys.iter().filter(|k| k.user == name) {
            if key.access_key_id == first {
                if !key.active {
                    let id = key.access_key_id.clone();
                    let change = IamChange::SetKeyActive {
                        user: name.clone(),
                        access_key_id: id,
                        active: false,
                    };
                    dst.change_iam(change).await?;
                }
                if let Some(at) = key.last_used {
                    dst.change_iam(IamChange::KeysUsed(vec![(first.clone(), at)])).await?;
                }
            } else {
                dst.change_iam(IamChange::CreateKey(key.clone())).await?;
            }
        }
        users += 1;
    }
    for p in &state.policies {
        dst.change_iam(IamChange::CreatePolicy(p.clone())).await?;
    }
    for g in &state.groups {
        dst.change_iam(IamChange::CreateGroup { name: g.name.clone(), created: g.created }).await?;
        for m in &g.members {
            let change = IamChange::AddMember { group: g.name.clone(), user: m.clone() };
            dst.change_iam(change).await?;
        }
    }
    for (policy, to) in &state.attachments {
        let stored = state.policies.iter().any(|p| p.name == *policy);
        let to: Attachee = to.clone();
        dst.change_iam(IamChange::Attach { policy: policy.clone(), to, stored }).await?;
    }
    Ok(users)
}

/// Copies everything through the trait: each object's version names the same blobs, so the
/// target's reference counts come out right by construction.
async fn copy(src: &impl MetadataStore, dst: &impl MetadataStore) -> anyhow::Result<Counts> {
    if !dst.list_users().await?.is_empty() || !dst.list_buckets(None).await?.is_empty() {
        bail!("the target store is not empty (it has users or buckets)");
    }
    // A versioned bucket's history (noncurrent versions, delete markers, version ids the
    // store assigned) cannot be written through the trait: refuse rather than copy it lossily.
    let buckets = src.list_buckets(None).await?;
    if let Some(b) = buckets.iter().find(|b| b.versioning != Versioning::Unversioned) {
        bail!(
            "bucket {} has versioning enabled or suspended; copying versioned buckets is not supported",
            b.name
        );
    }
    let mut n = Counts { users: copy_iam(src, dst).await?, ..Counts::default() };
    for bucket in buckets {
        let name = bucket.name.clone();
        dst.create_bucket(bucket).await?;
        n.buckets += 1;
        let mut query = ListQuery { max_keys: 1000, ..ListQuery::default() };
        loop {
            let page = src.list_objects(&name, &query).await?;
            for entry in &page.entries {
                let ListEntry::Object(summary) = entry else { continue };
                // Gone meanwhile: the source is live; skip it.
                let Some(version) = src.object(&name, &summary.key).await? else { continue };
                dst.put_object(version, WriteCondition::None).await?;
                n.objects += 1;
            }
            if !page.is_truncated {
                break;
            }
            query.start_after = page.entries.last().map(|e| e.sort_key().to_owned());
        }
        let mut query = UploadListQuery { max_uploads: 1000, ..UploadListQuery::default() };
        loop {
            let page = src.list_uploads(&name, &query).await?;
            for entry in &page.entries {
                let UploadListEntry::Upload(upload) = entry else { continue };
                dst.create_upload(upload.clone()).await?;
                n.uploads += 1;
                let mut after = 0;
                loop {
                    let (parts, more) =
                        src.list_parts(&name, &upload.upload_id, after, 1000).await?;
                    for part in parts {
                        after = part.part_number;
                        dst.put_part(&name, &upload.upload_id, part).await?;
                        n.parts += 1;
                    }
                    if !more {
                        break;
                    }
                }
            }
            if !page.is_truncated {
                break;
            }
            match page.entries.last() {
                Some(UploadListEntry::Upload(u)) => {
                    query.key_marker = Some(u.key.clone());
                    query.upload_id_marker = Some(u.upload_id.clone());
                }
                Some(UploadListEntry::CommonPrefix(p)) => {
                    query.key_marker = Some(p.clone());
                    query.upload_id_marker = None;
                }
                None => break,
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_redact() {
        let dir = Path::new("/d");
        assert!(
            matches!(parse("sqlite://", Some(dir)), Ok(Location::Sqlite(p)) if p == dir.join("metadata.sqlite"))
        );
        assert!(
            matches!(parse("sqlite:///x/m.db", None), Ok(Location::Sqlite(p)) if p == Path::new("/x/m.db"))
        );
        assert!(matches!(parse("postgres://u@h/db", None), Ok(Location::Postgres(_))));
        assert!(parse("mysql://h", None).is_err());
        assert_eq!(redacted("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[tokio::test]
    async fn copy_moves_everything_between_stores() {
        use s3gate_metadata::{
            Bucket, MemMetadata, NULL_VERSION, ObjectPart, ObjectVersion, Part, Upload, User,
        };
        use std::time::SystemTime;
        let src = MemMetadata::new();
        let now = SystemTime::now();
        src.create_user(User {
            name: "alice".into(),
            access_key_id: "AK".into(),
            secret_key: "SK".into(),
            is_root: false,
            created: now,
        })
        .await
        .unwrap();
        src.create_bucket(Bucket {
            name: "bk".into(),
            owner: "alice".into(),
            region: "r".into(),
            created: now,
            versioning: s3gate_metadata::Versioning::Unversioned,
        })
        .await
        .unwrap();
        for i in 0..2500 {
            let v = ObjectVersion {
                bucket: "bk".into(),
                key: format!("d{}/k{i}", i % 3),
                version_id: NULL_VERSION.into(),
                is_delete_marker: false,
                size: 1,
                etag: "e".into(),
                last_modified: now,
                owner: "alice".into(),
                headers: vec![],
                tags: vec![],
                checksum_algorithm: None,
                checksum_type: None,
                checksum: None,
                parts: vec![ObjectPart {
                    part_number: 1,
                    blob_id: format!("b{}", i % 7),
                    blob_offset: 0,
                    size: 1,
                    etag: "e".into(),
                    checksum: None,
                    salt: None,
                }],
                encryption: None,
                lock: s3gate_metadata::ObjectLock::default(),
                acl: None,
                storage_class: None,
            };
            src.put_object(v, WriteCondition::None).await.unwrap();
        }
        let upload = Upload {
            upload_id: "u1".into(),
            bucket: "bk".into(),
            key: "big".into(),
            initiated: now,
            owner: "alice".into(),
            headers: vec![],
            tags: vec![],
            checksum_algorithm: None,
            checksum_type: None,
            encryption: None,
            lock: s3gate_metadata::ObjectLock::default(),
            acl: None,
            storage_class: None,
        };
        src.create_upload(upload).await.unwrap();
        for n in 1..=3 {
            let part = Part {
                part_number: n,
                blob_id: format!("p{n}"),
                blob_offset: 0,
                size: 5,
                etag: "e".into(),
                checksum: None,
                last_modified: now,
                salt: None,
            };
            src.put_part("bk", "u1", part).await.unwrap();
        }
        let dst = MemMetadata::new();
        let n = copy(&src, &dst).await.unwrap();
        assert_eq!((n.users, n.buckets, n.objects, n.uploads, n.parts), (1, 1, 2500, 1, 3));
        assert_eq!(
            dst.object("bk", "d1/k1").await.unwrap(),
            src.object("bk", "d1/k1").await.unwrap()
        );
        assert_eq!(
            dst.list_parts("bk", "u1", 0, 10).await.unwrap(),
            src.list_parts("bk", "u1", 0, 10).await.unwrap()
        );
        let ids: Vec<String> = (0..7).map(|i| format!("b{i}")).collect();
        assert_eq!(dst.known_blobs(&ids).await.unwrap(), ids);
        // A second copy into a non-empty store is refused.
        assert!(copy(&src, &dst).await.is_err());
    }
}
