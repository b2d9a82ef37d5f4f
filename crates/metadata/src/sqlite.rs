//! [`SqliteMetadata`]: the embedded store. One writer thread commits queued writes in groups
//! (one transaction and one fsync per group, a savepoint per write); reads run on a small pool
//! of their own connections on tokio's blocking threads.

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
    Bucket, CommitOutcome, ListPage, ListQuery, MetaError, MetadataStore, ObjectVersion, Part,
    RetiredBlob, Upload, UploadListQuery, UploadPage, User, WriteCondition,
};

/// Most writes committed in one transaction.
const MAX_GROUP: usize = 256;
/// Idle read connections kept open.
const READ_POOL: usize = 4;
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
    fn finish(self: Box<Self>, commit: Result<(), &str>);
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

    fn finish(self: Box<Self>, commit: Result<(), &str>) {
        let result = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(_), Some(Err(e))) => Err(e),
            (Err(msg), _) => Err(MetaError::Backend(msg.to_owned().into())),
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
        let task = tokio::task::spawn_blocking(move || -> Result<T, MetaError> {
            let pooled = inner.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = if let Some(c) = pooled {
                c
            } else {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                open_conn(&inner.path, flags).map_err(db_error)?
            };
            let result = (|| -> R<T> {
                conn.execute_batch("BEGIN")?;
                let r = work(&conn, &inner);
                conn.execute_batch("COMMIT")?;
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
        let msg = commit.as_ref().map(|&()| ()).map_err(|e| {
            tracing::error!(error = %e, "metadata group commit failed");
            "metadata group commit failed"
        });
        for job in group.drain(..) {
            job.finish(msg);
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

    async fn list_buckets(&self, owner: Option<&str>) -> Result<Vec<Bucket>, MetaError> {
        let owner = owner.map(str::to_owned);
        self.read(move |c, _| ops::list_buckets(c, owner.as_deref())).await
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

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.write(move |c, now| ops::delete_object(c, &bucket, &key, &condition, now)).await
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage, MetaError> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.read(move |c, inner| ops::list_objects(c, &bucket, &query, &inner.seeks)).await
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
        self.write(move |c, _| ops::forget_blobs(c, &ids)).await
    }

    async fn known_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        let ids = blob_ids.to_vec();
        self.read(move |c, _| ops::known_blobs(c, &ids)).await
    }
}
