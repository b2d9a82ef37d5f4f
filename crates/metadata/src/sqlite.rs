//! [`SqliteMetadata`]: the embedded store. One writer thread commits queued writes in groups
//! (one transaction and one fsync per group, a savepoint per write); reads run on a small pool
//! of their own connections on tokio's blocking threads.

mod iam;
mod ops;
mod schema;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::SystemTime;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use self::ops::{R, db_error, to_nanos};
use crate::{
    Bucket, CommitOutcome, DeleteOptions, EncryptedVersion, IamChange, IamState, KeyAccess,
    KmsKeyRow, ListPage, ListQuery, LockChange, MetaError, MetadataStore, ObjectVersion, Part,
    RenameOptions, RetiredBlob, Upload, UploadListQuery, UploadPage, User, VersionListQuery,
    VersionPage, Versioning, WriteCondition,
};

/// Most writes committed in one transaction.
const MAX_GROUP: usize = 256;
/// Read connections: at most this many reads run at once, each on a connection of its own that
/// stays open (with its prepared statements) for the next read. More readers than cores gains
/// nothing; fewer connections than concurrent reads used to mean opening and closing one per
/// read under load (schema parse, statement preparation: more than the read itself).
const READ_POOL: usize = 8;
/// How long a connection waits on a lock held by another process before giving up.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// A [`MetadataStore`] in one SQLite database file (WAL mode, `synchronous=FULL`).
///
/// Writes are durable when their future resolves: the writer thread replies only after the
/// `COMMIT` of the group holding the write. A write whose future is dropped still runs and
/// commits (or fails) as a whole. Reads never block an async worker.
pub struct SqliteMetadata {
    inner: Arc<Inner>,
    jobs: mpsc::Sender<Box<dyn Job>>,
}

struct Inner {
    path: std::path::PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// One permit per read connection: a read waits here (asynchronously) for a connection.
    read_slots: Arc<tokio::sync::Semaphore>,
    batches: AtomicU64,
    jobs: AtomicU64,
    seeks: AtomicU64,
}

impl std::fmt::Debug for SqliteMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteMetadata").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

/// One queued write: runs inside its savepoint, then learns whether the group committed.
trait Job: Send {
    /// Runs the write; `false` if it failed (its savepoint is then rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Replies to the caller once the group's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), &rusqlite::Error>);
}

struct TypedJob<T, F> {
    work: Option<F>,
    result: Option<Result<T, MetaError>>,
    reply: oneshot::Sender<Result<T, MetaError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> R<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        let result = match catch_unwind(AssertUnwindSafe(|| work(conn))) {
            Ok(r) => r.map_err(MetaError::from),
            Err(_) => Err(MetaError::Backend("metadata write panicked".into())),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &rusqlite::Error>) {
        let result = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), _) => Err(group_error(e)),
            (Ok(()), None) => Err(MetaError::Backend("write did not run".into())),
        };
        // The caller may have gone away (dropped future); the write stands regardless.
        let _ = self.reply.send(result);
    }
}

fn open_conn(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteMetadata {
    /// Opens (creating if needed) the database at `path`, applies pending schema migrations and
    /// starts the writer thread.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let mut conn = open_conn(path, OpenFlags::default()).map_err(db_error)?;
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(db_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(MetaError::Backend(format!("journal_mode is {mode}, not wal").into()));
        }
        let version: i64 =
            conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db_error)?;
        if version > schema::latest_version() {
            return Err(MetaError::Backend(
                format!("schema version {version} is newer than this build").into(),
            ));
        }
        schema::migrate(&mut conn).map_err(db_error)?;
        let inner = Arc::new(Inner {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            read_slots: Arc::new(tokio::sync::Semaphore::new(READ_POOL)),
            batches: AtomicU64::new(0),
            jobs: AtomicU64::new(0),
            seeks: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel();
        let writer_inner = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("s3gate-metadata-writer".into())
            .spawn(move || writer_loop(&conn, &rx, &writer_inner))
            .map_err(|e| MetaError::Backend(Box::new(e)))?;
        Ok(Self { inner, jobs: tx })
    }

    /// Group-commit counters since open: (transactions committed, writes they carried).
    /// `jobs / batches` is the mean group size.
    pub fn group_commit_stats(&self) -> (u64, u64) {
        (self.inner.batches.load(Ordering::Relaxed), self.inner.jobs.load(Ordering::Relaxed))
    }

    /// Index seeks made by object listings since open (each is one bounded range query).
    pub fn listing_seeks(&self) -> u64 {
        self.inner.seeks.load(Ordering::Relaxed)
    }

    /// Queues a write for the writer thread and waits for its group to commit.
    async fn write<T, F>(&self, work: F) -> Result<T, MetaError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> R<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = TypedJob {
            work: Some(move |c: &Connection| work(c, to_nanos(SystemTime::now())?)),
            result: None,
            reply,
        };
        self.jobs.send(Box::new(job)).map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }

    /// Runs `work` in a read transaction on a pooled connection, on a blocking thread.
    async fn read<T, F>(&self, work: F) -> Result<T, MetaError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Inner) -> R<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let slot = Arc::clone(&inner.read_slots)
            .acquire_owned()
            .await
            .map_err(|_| MetaError::Backend("metadata read slots closed".into()))?;
        let task = tokio::task::spawn_blocking(move || -> Result<T, MetaError> {
            let _slot = slot;
            let pooled = inner.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = if let Some(c) = pooled {
                c
            } else {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                open_conn(&inner.path, flags).map_err(db_error)?
            };
            let result = (|| -> R<T> {
                conn.prepare_cached("BEGIN")?.execute([])?;
                let r = work(&conn, &inner);
                conn.prepare_cached("COMMIT")?.execute([])?;
                r
            })();
            if conn.is_autocommit() {
                let mut pool = inner.readers.lock().unwrap_or_else(PoisonError::into_inner);
                if pool.len() < READ_POOL {
                    pool.push(conn);
                }
            }
            result.map_err(MetaError::from)
        });
        task.await.map_err(|e| MetaError::Backend(Box::new(e)))?
    }
}

/// The error each write of a failed group gets: retryable when the database was busy or the
/// disk full.
fn group_error(e: &rusqlite::Error) -> MetaError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked, DiskFull};
    let msg: Box<dyn std::error::Error + Send + Sync> =
        format!("metadata group commit failed: {e}").into();
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked | DiskFull) => MetaError::Unavailable(msg),
        _ => MetaError::Backend(msg),
    }
}

fn writer_gone() -> MetaError {
    MetaError::Unavailable("metadata writer thread stopped".into())
}

/// Takes every queued write (up to [`MAX_GROUP`]), runs them in one transaction with a
/// savepoint each, commits once, then replies. Ends when the store is dropped.
fn writer_loop(conn: &Connection, rx: &mpsc::Receiver<Box<dyn Job>>, inner: &Inner) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = rx.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let commit = run_group(conn, &mut group);
        if commit.is_ok() {
            inner.batches.fetch_add(1, Ordering::Relaxed);
            inner.jobs.fetch_add(group.len() as u64, Ordering::Relaxed);
        } else {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = &commit {
            tracing::error!(error = %e, jobs = group.len(), "metadata group commit failed");
        }
        for job in group.drain(..) {
            job.finish(commit.as_ref().map(|&()| ()));
        }
    }
}

fn run_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    for job in group.iter_mut() {
        conn.prepare_cached("SAVEPOINT job")?.execute([])?;
        if !job.run(conn) {
            conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
        }
        conn.prepare_cached("RELEASE job")?.execute([])?;
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(())
}

impl MetadataStore for SqliteMetadata {
    async fn create_user(&self, user: User) -> Result<(), MetaError> {
        self.write(move |c, _| ops::create_user(c, &user)).await
    }

    async fn delete_user(&self, name: &str) -> Result<(), MetaError> {
        let name = name.to_owned();
        self.write(move |c, _| ops::delete_user(c, &name)).await
    }

    async fn list_users(&self) -> Result<Vec<User>, MetaError> {
        self.read(|c, _| ops::list_users(c)).await
    }

    async fn user_by_access_key(&self, access_key_id: &str) -> Result<Option<User>, MetaError> {
        let key = access_key_id.to_owned();
        self.read(move |c, _| ops::user_by_access_key(c, &key)).await
    }

    async fn key_access(&self, access_key_id: &str) -> Result<Option<KeyAccess>, MetaError> {
        let key = access_key_id.to_owned();
        self.read(move |c, _| iam::key_access(c, &key)).await
    }

    async fn change_iam(&self, change: IamChange) -> Result<(), MetaError> {
        self.write(move |c, _| iam::change(c, &change)).await
    }

    async fn iam_state(&self) -> Result<IamState, MetaError> {
        self.read(|c, _| iam::state(c)).await
    }

    async fn create_bucket(&self, bucket: Bucket) -> Result<(), MetaError> {
        self.write(move |c, _| ops::create_bucket(c, &bucket)).await
    }

    async fn bucket(&self, name: &str) -> Result<Option<Bucket>, MetaError> {
        let name = name.to_owned();
        self.read(move |c, _| ops::bucket(c, &name)).await
    }

    async fn delete_bucket(&self, name: &str) -> Result<CommitOutcome, MetaError> {
        let name = name.to_owned();
        self.write(move |c, now| ops::delete_bucket(c, &name, now)).await
    }

    async fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<(), MetaError> {
        let name = name.to_owned();
        self.write(move |c, _| ops::set_bucket_versioning(c, &name, versioning)).await
    }

    async fn list_buckets(&self, owner: Option<&str>) -> Result<Vec<Bucket>, MetaError> {
        let owner = owner.map(str::to_owned);
        self.read(move |c, _| ops::list_buckets(c, owner.as_deref())).await
    }

    async fn insert_kms_key(&self, key: KmsKeyRow) -> Result<(), MetaError> {
        self.write(move |c, _| ops::insert_kms_key(c, &key)).await
    }

    async fn kms_key(&self, key_id: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        let key_id = key_id.to_owned();
        self.read(move |c, _| ops::kms_key(c, &key_id)).await
    }

    async fn kms_key_by_alias(&self, alias: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        let alias = alias.to_owned();
        self.read(move |c, _| ops::kms_key_by_alias(c, &alias)).await
    }

    async fn kms_keys(&self) -> Result<Vec<KmsKeyRow>, MetaError> {
        self.read(|c, _| ops::kms_keys(c)).await
    }

    async fn set_kms_key_enabled(&self, key_id: &str, enabled: bool) -> Result<bool, MetaError> {
        let key_id = key_id.to_owned();
        self.write(move |c, _| ops::set_kms_key_enabled(c, &key_id, enabled)).await
    }

    async fn set_kms_key_material(
        &self,
        key_id: &str,
        material: Vec<u8>,
    ) -> Result<bool, MetaError> {
        let key_id = key_id.to_owned();
        self.write(move |c, _| ops::set_kms_key_material(c, &key_id, &material)).await
    }

    async fn bucket_config(&self, bucket: &str, kind: &str) -> Result<Option<String>, MetaError> {
        let (bucket, kind) = (bucket.to_owned(), kind.to_owned());
        self.read(move |c, _| ops::bucket_config(c, &bucket, &kind)).await
    }

    async fn put_bucket_config(
        &self,
        bucket: &str,
        kind: &str,
        document: Option<String>,
    ) -> Result<(), MetaError> {
        let (bucket, kind) = (bucket.to_owned(), kind.to_owned());
        self.write(move |c, _| ops::put_bucket_config(c, &bucket, &kind, document.as_deref())).await
    }

    async fn bucket_configs(&self, bucket: &str) -> Result<Vec<(String, String)>, MetaError> {
        let bucket = bucket.to_owned();
        self.read(move |c, _| ops::bucket_configs(c, &bucket)).await
    }

    async fn put_object(
        &self,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        self.write(move |c, now| ops::put_object(c, &version, &condition, now)).await
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectVersion>, MetaError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.read(move |c, _| ops::object(c, &bucket, &key)).await
    }

    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectVersion>, MetaError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let id = version_id.map(str::to_owned);
        self.read(move |c, _| ops::object_version(c, &bucket, &key, id.as_deref())).await
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        opts: DeleteOptions,
    ) -> Result<CommitOutcome, MetaError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.write(move |c, now| ops::delete_object(c, &bucket, &key, &opts, now)).await
    }

    async fn rename_object(
        &self,
        bucket: &str,
        source_key: &str,
        key: &str,
        opts: RenameOptions,
    ) -> Result<CommitOutcome, MetaError> {
        let (bucket, source, key) = (bucket.to_owned(), source_key.to_owned(), key.to_owned());
        self.write(move |c, now| ops::rename_object(c, &bucket, &source, &key, &opts, now)).await
    }

    async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<String, MetaError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let version_id = version_id.map(str::to_owned);
        self.write(move |c, _| ops::set_object_tags(c, &bucket, &key, version_id.as_deref(), &tags))
            .await
    }

    async fn encrypted_versions(
        &self,
        after: Option<(&str, &str, &str)>,
        limit: u32,
    ) -> Result<Vec<EncryptedVersion>, MetaError> {
        let after = after.map(|(b, k, v)| (b.to_owned(), k.to_owned(), v.to_owned()));
        self.read(move |c, _| ops::encrypted_versions(c, after.as_ref(), limit)).await
    }

    async fn replace_encryption(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        expected: &str,
        record: String,
    ) -> Result<bool, MetaError> {
        let (bucket, key, version_id) = (bucket.to_owned(), key.to_owned(), version_id.to_owned());
        let expected = expected.to_owned();
        self.write(move |c, _| {
            ops::replace_encryption(c, &bucket, &key, &version_id, &expected, &record)
        })
        .await
    }

    async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> Result<String, MetaError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let version_id = version_id.map(str::to_owned);
        self.write(move |c, _| {
            ops::set_object_acl(c, &bucket, &key, version_id.as_deref(), acl.as_deref())
        })
        .await
    }

    async fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: LockChange,
        now: SystemTime,
    ) -> Result<String, MetaError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let version_id = version_id.map(str::to_owned);
        self.write(move |c, _| {
            ops::set_object_lock(c, &bucket, &key, version_id.as_deref(), change, now)
        })
        .await
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage, MetaError> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.read(move |c, inner| ops::list_objects(c, &bucket, &query, &inner.seeks)).await
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        query: &VersionListQuery,
    ) -> Result<VersionPage, MetaError> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.read(move |c, inner| ops::list_object_versions(c, &bucket, &query, &inner.seeks)).await
    }

    async fn create_upload(&self, upload: Upload) -> Result<(), MetaError> {
        self.write(move |c, _| ops::create_upload(c, &upload)).await
    }

    async fn upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>, MetaError> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.read(move |c, _| ops::upload(c, &bucket, &id)).await
    }

    async fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: Part,
    ) -> Result<CommitOutcome, MetaError> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.write(move |c, now| ops::put_part(c, &bucket, &id, &part, now)).await
    }

    async fn list_parts(
        &self,
        bucket: &str,
        upload_id: &str,
        after: u32,
        max: u32,
    ) -> Result<(Vec<Part>, bool), MetaError> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.read(move |c, _| ops::list_parts(c, &bucket, &id, after, max)).await
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        query: &UploadListQuery,
    ) -> Result<UploadPage, MetaError> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.read(move |c, _| ops::list_uploads(c, &bucket, &query)).await
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        let id = upload_id.to_owned();
        self.write(move |c, now| ops::complete_upload(c, &id, &version, &condition, now)).await
    }

    async fn abort_upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> Result<CommitOutcome, MetaError> {
        let (bucket, id) = (bucket.to_owned(), upload_id.to_owned());
        self.write(move |c, now| ops::abort_upload(c, &bucket, &id, now)).await
    }

    async fn retired_blobs(
        &self,
        before: SystemTime,
        limit: u32,
    ) -> Result<Vec<RetiredBlob>, MetaError> {
        let before = to_nanos(before).map_err(MetaError::from)?;
        self.read(move |c, _| ops::retired_blobs(c, before, limit)).await
    }

    async fn forget_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        let ids = blob_ids.to_vec();
        self.write(move |c, now| ops::forget_blobs(c, &ids, now)).await
    }

    async fn renew_leases(
        &self,
        holder: &str,
        blob_ids: &[String],
        expires: SystemTime,
    ) -> Result<(), MetaError> {
        let (holder, ids) = (holder.to_owned(), blob_ids.to_vec());
        let expires = to_nanos(expires).map_err(MetaError::from)?;
        self.write(move |c, now| ops::renew_leases(c, &holder, &ids, expires, now)).await
    }

    async fn known_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        let ids = blob_ids.to_vec();
        self.read(move |c, _| ops::known_blobs(c, &ids)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::{ListEntry, NULL_VERSION, VersionListQuery, Versioning, WriteCondition};

    fn open() -> (SqliteMetadata, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (SqliteMetadata::open(&dir.path().join("m.db")).unwrap(), dir)
    }

    fn bucket() -> Bucket {
        Bucket {
            name: "bk".into(),
            owner: "o".into(),
            region: "r".into(),
            created: SystemTime::UNIX_EPOCH,
            versioning: crate::Versioning::Unversioned,
        }
    }

    fn plain(key: &str) -> ObjectVersion {
        ObjectVersion {
            bucket: "bk".into(),
            key: key.into(),
            version_id: NULL_VERSION.into(),
            is_delete_marker: false,
            size: 0,
            etag: "e".into(),
            last_modified: SystemTime::UNIX_EPOCH,
            owner: "o".into(),
            headers: vec![],
            tags: vec![],
            checksum_algorithm: None,
            checksum_type: None,
            checksum: None,
            parts: vec![],
            encryption: None,
            lock: crate::ObjectLock::default(),
            acl: None,
            storage_class: None,
        }
    }

    fn pragma(c: &Connection, name: &str) -> R<String> {
        let v: rusqlite::types::Value = c.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?;
        Ok(match v {
            rusqlite::types::Value::Integer(n) => n.to_string(),
            rusqlite::types::Value::Text(s) => s,
            other => format!("{other:?}"),
        })
    }

    #[tokio::test]
    async fn durability_settings_apply_to_writer_and_readers() {
        let (m, _dir) = open();
        for name in ["synchronous", "journal_mode", "foreign_keys", "busy_timeout", "user_version"]
        {
            let w = m.write(move |c, _| pragma(c, name)).await.unwrap();
            let r = m.read(move |c, _| pragma(c, name)).await.unwrap();
            // user_version: the number of migrations.
            let migrations = schema::latest_version().to_string();
            let want = match name {
                "synchronous" => "2",
                "user_version" => migrations.as_str(),
                "journal_mode" => "wal",
                "foreign_keys" => "1",
                _ => "5000",
            };
            assert_eq!((w.as_str(), r.as_str()), (want, want), "{name}");
        }
        // Readers cannot write.
        let r = m.read(|c, _| Ok(c.execute("DELETE FROM users", [])?)).await;
        assert!(matches!(r, Err(MetaError::Backend(_))));
    }

    #[tokio::test]
    async fn data_survives_reopen_and_migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            let m = SqliteMetadata::open(&path).unwrap();
            m.create_bucket(bucket()).await.unwrap();
            m.put_object(plain("k"), WriteCondition::None).await.unwrap();
        }
        let m = SqliteMetadata::open(&path).unwrap();
        assert_eq!(m.object("bk", "k").await.unwrap(), Some(plain("k")));
        // A database from a newer build is refused.
        m.write(|c, _| Ok(c.pragma_update(None, "user_version", 99)?)).await.unwrap();
        drop(m);
        assert!(matches!(SqliteMetadata::open(&path), Err(MetaError::Backend(_))));
    }

    /// A database of schema 10 (one key per user, no identity policies) keeps its users'
    /// keys, and its users keep what they could do: self-service is attached to each (not to
    /// root).
    #[tokio::test]
    async fn users_of_schema_10_keep_their_keys_and_get_self_service() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            let mut c = Connection::open(&path).unwrap();
            let tx = c.transaction().unwrap();
            for sql in &schema::MIGRATIONS[..10] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 10).unwrap();
            tx.execute_batch(
                "INSERT INTO users (name, access_key_id, secret_key, is_root, created)
                     VALUES ('alice', 'AKALICE', 'sk-alice', 0, 5), ('root', 'AKROOT', 'sk', 1, 6);",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let m = SqliteMetadata::open(&path).unwrap();
        let alice = m.key_access("AKALICE").await.unwrap().unwrap();
        assert_eq!(
            (alice.user.name.as_str(), alice.user.secret_key.as_str()),
            ("alice", "sk-alice")
        );
        assert!(alice.active);
        let names: Vec<&str> = alice.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["self-service"]);
        let root = m.key_access("AKROOT").await.unwrap().unwrap();
        assert!(root.user.is_root && root.policies.is_empty());
        assert_eq!(m.list_users().await.unwrap()[0].access_key_id, "AKALICE");
        // The rebuilt users table still refuses a taken key and retires removed names.
        m.delete_user("alice").await.unwrap();
        assert!(m.key_access("AKALICE").await.unwrap().is_none());
        let again = User { name: "alice".into(), ..m.list_users().await.unwrap()[0].clone() };
        assert!(matches!(m.create_user(again).await, Err(MetaError::UserExists)));
    }

    /// A database written by the previous release (schema version 3, before versioning) opens
    /// with this one: its objects keep their meaning (the `null` version, current, same data
    /// and blob references), its buckets are unversioned, and versioning works on them.
    #[tokio::test]
    async fn a_database_of_the_previous_schema_upgrades_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            // Exactly what the previous release created and wrote.
            let c = Connection::open(&path).unwrap();
            let _: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
            for sql in &schema::MIGRATIONS[..3] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 3).unwrap();
            c.execute_batch(
                "INSERT INTO buckets (name, owner, region, created) VALUES ('bk', 'o', 'r', 0);
                 INSERT INTO objects (id, bucket, key, version_id, is_latest, is_delete_marker,
                     size, etag, last_modified, owner, headers, tags, checksum_algorithm,
                     checksum_type, checksum)
                 VALUES (1, 'bk', 'k', 'null', 1, 0, 5, 'e', 0, 'o', '[]', '[[\"t\",\"1\"]]',
                     NULL, NULL, NULL);
                 INSERT INTO object_parts (object_id, idx, part_number, blob_id, blob_offset,
                     size, etag, checksum) VALUES (1, 0, 1, 'blob-old', 0, 5, 'e', NULL);
                 INSERT INTO blobs (blob_id, refs, retired_at) VALUES ('blob-old', 1, NULL);",
            )
            .unwrap();
        }
        let m = SqliteMetadata::open(&path).unwrap();
        let bucket = m.bucket("bk").await.unwrap().unwrap();
        assert_eq!(bucket.versioning, Versioning::Unversioned);
        let v = m.object("bk", "k").await.unwrap().unwrap();
        assert_eq!((v.version_id.as_str(), v.size, v.etag.as_str()), (NULL_VERSION, 5, "e"));
        assert_eq!(v.tags, [("t".to_owned(), "1".to_owned())]);
        assert_eq!(v.parts[0].blob_id, "blob-old");
        assert_eq!(m.object_version("bk", "k", Some(NULL_VERSION)).await.unwrap(), Some(v));
        let query = VersionListQuery { max_keys: 10, ..Default::default() };
        let page = m.list_object_versions("bk", &query).await.unwrap();
        match page.entries.as_slice() {
            [crate::VersionListEntry::Version(s)] => {
                assert!(s.is_latest && !s.is_delete_marker && s.version_id == NULL_VERSION);
            }
            other => panic!("{other:?}"),
        }
        // Versioning on the old data: the null version stays beside the new one.
        m.set_bucket_versioning("bk", Versioning::Enabled).await.unwrap();
        let out = m.put_object(plain("k"), WriteCondition::None).await.unwrap();
        assert!(out.retired_blobs.is_empty());
        assert_eq!(m.list_object_versions("bk", &query).await.unwrap().entries.len(), 2);
        let out = m
            .delete_object(
                "bk",
                "k",
                crate::DeleteOptions {
                    version_id: Some(NULL_VERSION.into()),
                    condition: WriteCondition::None,
                    owner: "o".into(),
                    now: SystemTime::UNIX_EPOCH,
                    bypass_governance: false,
                },
            )
            .await
            .unwrap();
        assert_eq!(out.retired_blobs, ["blob-old"]);
        let current = m.object("bk", "k").await.unwrap().unwrap();
        assert!(current.version_id != NULL_VERSION && crate::is_version_id(&current.version_id));
    }

    #[tokio::test]
    async fn failing_write_in_a_group_does_not_undo_the_others() {
        let (m, _dir) = open();
        m.create_bucket(bucket()).await.unwrap();
        let m = Arc::new(m);
        let mut tasks = Vec::new();
        for i in 0..64 {
            let m = Arc::clone(&m);
            tasks.push(tokio::spawn(async move {
                // Odd tasks fail their condition; their savepoints roll back alone.
                let cond = if i % 2 == 0 {
                    WriteCondition::None
                } else {
                    WriteCondition::IfMatch("nope".into())
                };
                m.put_object(plain(&format!("k{i:02}")), cond).await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            assert_eq!(r.is_ok(), i % 2 == 0, "{i}: {r:?}");
        }
        let q = ListQuery { max_keys: 1000, ..Default::default() };
        assert_eq!(m.list_objects("bk", &q).await.unwrap().entries.len(), 32);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_puts_share_transactions() {
        let (m, _dir) = open();
        m.create_bucket(bucket()).await.unwrap();
        let m = Arc::new(m);
        let (b0, j0) = m.group_commit_stats();
        let mut tasks = Vec::new();
        for t in 0..32 {
            let m = Arc::clone(&m);
            tasks.push(tokio::spawn(async move {
                for i in (t..200).step_by(32) {
                    m.put_object(plain(&format!("k{i:03}")), WriteCondition::None).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let (b1, j1) = m.group_commit_stats();
        let (batches, jobs) = (b1 - b0, j1 - j0);
        assert_eq!(jobs, 200);
        assert!(batches < jobs, "{batches} transactions for {jobs} writes");
        let q = ListQuery { max_keys: 1000, ..Default::default() };
        assert_eq!(m.list_objects("bk", &q).await.unwrap().entries.len(), 200);
    }

    #[tokio::test]
    async fn listing_uses_the_latest_index() {
        let (m, _dir) = open();
        let plan = m
            .read(|c, _| {
                let mut plans = Vec::new();
                for (op, bounded) in [(">", true), (">=", false)] {
                    let sql = format!("EXPLAIN QUERY PLAN {}", ops::fetch_sql(op, bounded));
                    let mut st = c.prepare(&sql)?;
                    let upper = bounded.then_some("b");
                    let rows = st.query_map(rusqlite::params!["bk", "a", upper, 5], |r| {
                        r.get::<_, String>(3)
                    })?;
                    plans.push(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("; "));
                }
                Ok(plans.join(" | "))
            })
            .await
            .unwrap();
        assert!(
            plan.contains("USING INDEX objects_visible (bucket=? AND key>? AND key<?)"),
            "{plan}"
        );
        assert!(plan.contains("USING INDEX objects_visible (bucket=? AND key>?)"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[tokio::test]
    async fn skewed_delimiter_listing_costs_one_seek_per_prefix() {
        let (m, _dir) = open();
        m.create_bucket(bucket()).await.unwrap();
        // 90 000 keys under one prefix, 5 000 small prefixes and 5 000 plain keys, in one write.
        m.write(|c, now| {
            let none = WriteCondition::None;
            for i in 0..90_000 {
                ops::put_object(c, &plain(&format!("big/{i:05}")), &none, now)?;
            }
            for i in 0..5_000 {
                ops::put_object(c, &plain(&format!("p{i:04}/x")), &none, now)?;
                ops::put_object(c, &plain(&format!("t{i:04}")), &none, now)?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let delimited = |start_after: Option<String>, max_keys| ListQuery {
            prefix: String::new(),
            delimiter: Some("/".into()),
            start_after,
            max_keys,
        };
        // The first page rolls 90 000 keys into "big/" at the cost of one seek.
        let s0 = m.listing_seeks();
        let page = m.list_objects("bk", &delimited(None, 3)).await.unwrap();
        let sort_keys: Vec<&str> = page.entries.iter().map(ListEntry::sort_key).collect();
        assert_eq!(sort_keys, ["big/", "p0000/", "p0001/"]);
        assert!(m.listing_seeks() - s0 <= 4, "{} seeks", m.listing_seeks() - s0);
        // Paging through everything: seeks stay within a few per page beyond one per entry.
        let s0 = m.listing_seeks();
        let (mut entries, mut pages, mut cursor) = (0_u64, 0_u64, None);
        loop {
            let before = m.listing_seeks();
            let page = m.list_objects("bk", &delimited(cursor, 1000)).await.unwrap();
            let n = page.entries.len() as u64;
            assert!(
                m.listing_seeks() - before <= n + 3,
                "{} seeks for {n}",
                m.listing_seeks() - before
            );
            entries += n;
            pages += 1;
            if !page.is_truncated {
                break;
            }
            cursor = page.entries.last().map(|e| e.sort_key().to_owned());
        }
        assert_eq!(entries, 1 + 5_000 + 5_000);
        assert!(m.listing_seeks() - s0 <= entries + 3 * pages);
        // Without a delimiter a page is one range query.
        let s0 = m.listing_seeks();
        let q = ListQuery { max_keys: 1000, ..Default::default() };
        let page = m.list_objects("bk", &q).await.unwrap();
        assert_eq!((page.entries.len(), page.is_truncated), (1000, true));
        assert_eq!(m.listing_seeks() - s0, 1);
    }

    #[test]
    fn times_round_trip_in_nanoseconds() {
        for t in [
            SystemTime::UNIX_EPOCH,
            SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            SystemTime::UNIX_EPOCH - Duration::new(5, 1),
        ] {
            let n = to_nanos(t).unwrap();
            assert_eq!(ops::from_nanos(n), t);
        }
    }
}
