//! [`PostgresMetadata`]: metadata in a PostgreSQL database that several gateways share.
//!
//! Every write of the trait is **one round trip**: one call of a PL/pgSQL function installed by
//! the migrations (`migrations/postgres/*.sql`), which runs as one statement and therefore one
//! implicit transaction. Inside it, writers of one key are serialised by a transaction-level
//! advisory lock on the (bucket, key) hash, so `If-None-Match: *`, `If-Match`, overwrites and
//! CompleteMultipartUpload are atomic across gateways; reference counts are updated in blob id
//! order. A serialisation failure or deadlock (rolled back by the server) is retried a few
//! times; a lost connection answers [`MetaError::Unavailable`] and is never retried, since the
//! caller cannot know whether the write committed.
//!
//! Reads are one statement each, except listings, which run their seeks in one read-only
//! `REPEATABLE READ` transaction. Connections come from a `deadpool` pool; statements are
//! prepared once per connection and cached.

mod iam;
mod migrate;

use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::list::{self, Lister, UploadMarker, VersionLister, VersionRow, VersionSeek};
use crate::store::random_u64;
use crate::{
    Bucket, CommitOutcome, DeleteOptions, EncryptedVersion, IamChange, IamState, KeyAccess,
    KmsKeyRow, ListPage, ListQuery, LockChange, MetaError, MetadataStore, ObjectLock, ObjectPart,
    ObjectSummary, ObjectVersion, Part, RENAME_TOKEN_TTL, RenameOptions, RetiredBlob, Upload,
    UploadListQuery, UploadPage, User, VersionListQuery, VersionPage, VersionSummary, Versioning,
    WriteCondition,
};

pub use migrate::latest_version;

/// How many times a write rolled back by a serialisation failure or deadlock is retried.
const WRITE_RETRIES: u32 = 5;

/// Connection and pool settings of a [`PostgresMetadata`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Most connections the pool opens.
    pub pool_size: usize,
    /// Longest wait for a free pooled connection, and for a new connection to open.
    pub connect_timeout: Duration,
    /// Longest a statement may run on the server (`statement_timeout`).
    pub statement_timeout: Duration,
    /// Apply pending migrations when connecting (under an advisory lock).
    pub migrate: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 32,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            migrate: true,
        }
    }
}

/// A [`MetadataStore`] in a PostgreSQL database (tested with PostgreSQL 15).
///
/// Several gateways may share one database: every write is atomic on the server, and the
/// schema is migrated once under an advisory lock however many gateways start together.
pub struct PostgresMetadata {
    pool: Pool,
    seeks: AtomicU64,
}

impl std::fmt::Debug for PostgresMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresMetadata")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl PostgresMetadata {
    /// Connects to `url` (`postgres://user@host:port/db`, libpq URL syntax) and, when
    /// `opts.migrate` is set, applies pending migrations. Fails if the schema is newer than this
    /// build, or (without `migrate`) older.
    pub async fn connect(url: &str, opts: &PostgresOptions) -> Result<Self, MetaError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| MetaError::Backend(format!("invalid PostgreSQL URL: {e}").into()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(opts.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("s3gate");
        }
        let ms = opts.statement_timeout.as_millis();
        config.options(format!(
            "-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms}"
        ));
        config.keepalives(true).keepalives_idle(Duration::from_secs(30));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.connect_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(|e| MetaError::Backend(Box::new(e)))?;
        let store = Self { pool, seeks: AtomicU64::new(0) };
        {
            let mut client = store.client().await?;
            if opts.migrate {
                migrate::migrate(&mut client).await?;
            } else {
                migrate::check(&client).await?;
            }
        }
        Ok(store)
    }

    /// Index seeks made by object listings since connecting.
    pub fn listing_seeks(&self) -> u64 {
        self.seeks.load(Ordering::Relaxed)
    }

    /// Pooled connections: (open, idle).
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.pool.status();
        (s.size, s.available)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, MetaError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Runs one write statement returning one row; retried when the server rolled it back for
    /// a serialisation failure or deadlock, never after a lost connection (it may have
    /// committed).
    async fn one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, MetaError> {
        let mut attempt = 0;
        loop {
            let client = self.client().await?;
            let r = match client.prepare_cached(sql).await {
                Ok(st) => client.query_one(&st, params).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(row) => return Ok(row),
                Err(e) if attempt < WRITE_RETRIES && rolled_back(&e) => {
                    attempt += 1;
                    drop(client);
                    tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
                }
                Err(e) => return Err(broken(client, e)),
            }
        }
    }

    /// Runs one read statement; a read that met a dead pooled connection is retried once on a
    /// fresh one.
    async fn read(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, MetaError> {
        let mut retried = false;
        loop {
            let client = self.client().await?;
            let r = match client.prepare_cached(sql).await {
                Ok(st) => client.query(&st, params).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(rows) => return Ok(rows),
                Err(e) if !retried && (e.is_closed() || client.is_closed()) => {
                    retried = true;
                    let _ = broken(client, e);
                }
                Err(e) => return Err(broken(client, e)),
            }
        }
    }

    async fn opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, MetaError> {
        let mut rows = self.read(sql, params).await?;
        if rows.len() > 1 {
            return Err(backend("query returned more than one row"));
        }
        Ok(rows.pop())
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, MetaError> {
        let client = self.client().await?;
        let r = match client.prepare_cached(sql).await {
            Ok(st) => client.execute(&st, params).await,
            Err(e) => Err(e),
        };
        r.map_err(|e| broken(client, e))
    }

    /// A read-only `REPEATABLE READ` transaction on a live connection (a dead pooled connection
    /// is replaced once).
    async fn snapshot(&self) -> Result<deadpool_postgres::Object, MetaError> {
        let mut retried = false;
        loop {
            let client = self.client().await?;
            match client
                .batch_execute("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await
            {
                Ok(()) => return Ok(client),
                Err(e) if !retried && (e.is_closed() || client.is_closed()) => {
                    retried = true;
                    let _ = broken(client, e);
                }
                Err(e) => return Err(broken(client, e)),
            }
        }
    }

    /// Commits a version through `s3gate_put_object` or `s3gate_complete_upload`.
    async fn commit_version(
        &self,
        upload_id: Option<&str>,
        v: &ObjectVersion,
        cond: &WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        let size = to_i64(v.size)?;
        let last_modified = to_nanos(v.last_modified)?;
        let headers = pairs_to_json(&v.headers)?;
        let tags = pairs_to_json(&v.tags)?;
        let parts = parts_to_json(&v.parts)?;
        let (cond_kind, cond_etag) = condition(cond);
        let now = to_nanos(SystemTime::now())?;
        let rand = format!("{:016x}", random_u64());
        let key = v.key.as_bytes();
        let lock = v.lock.to_column();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &v.bucket,
            &key,
            &v.is_delete_marker,
            &size,
            &v.etag,
            &last_modified,
            &v.owner,
            &headers,
            &tags,
            &v.checksum_algorithm,
            &v.checksum_type,
            &v.checksum,
            &parts,
            &cond_kind,
            &cond_etag,
            &now,
            &rand,
            &v.encryption,
            &lock,
            &v.acl,
            &v.storage_class,
        ];
        let row = if let Some(id) = &upload_id {
            params.insert(0, id);
            self.one(
                "SELECT status, replaced, retired, vid FROM s3gate_complete_upload_class($1, $2, \
                 $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text::jsonb, $15, $16, $17, \
                 $18, $19, $20, $21, $22)",
                &params,
            )
            .await?
        } else {
            self.one(
                "SELECT status, replaced, retired, vid FROM s3gate_put_object_class($1, $2, $3, \
                 $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::jsonb, $14, $15, $16, $17, $18, \
                 $19, $20, $21)",
                &params,
            )
            .await?
        };
        let mut out = outcome(&row, true)?;
        out.version_id = row.try_get("vid").map_err(pg_error)?;
        Ok(out)
    }

    /// Makes `holder`'s blob leases exactly `blob_ids`, valid until `expires`; removes every
    /// holder's expired leases.
    async fn put_leases(
        &self,
        holder: &str,
        blob_ids: &[String],
        expires: SystemTime,
    ) -> Result<(), MetaError> {
        let expires = to_nanos(expires)?;
        let now = to_nanos(SystemTime::now())?;
        self.execute(
            "WITH gone AS (DELETE FROM blob_leases WHERE (holder = $1 AND NOT blob_id = ANY($2)) \
               OR expires_at < $4) \
             INSERT INTO blob_leases (blob_id, holder, expires_at) \
             SELECT DISTINCT id, $1::text, $3::bigint FROM unnest($2::text[]) AS u(id) \
             ON CONFLICT (blob_id, holder) DO UPDATE SET expires_at = excluded.expires_at",
            &[&holder, &blob_ids, &expires, &now],
        )
        .await?;
        Ok(())
    }
}

// ---- conversions ----

fn pool_error(e: PoolError) -> MetaError {
    match e {
        PoolError::Backend(e) => pg_error(e),
        PoolError::Timeout(_) | PoolError::Closed => {
            MetaError::Unavailable(format!("PostgreSQL connection pool: {e}").into())
        }
        other => MetaError::Backend(format!("PostgreSQL connection pool: {other}").into()),
    }
}

/// Whether the server rolled the statement back and a retry may succeed.
fn rolled_back(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// Lost connections, a server shutting down or overloaded, timeouts and rolled-back
/// transactions are [`MetaError::Unavailable`] (503 SlowDown); anything else is a backend
/// failure.
fn pg_error(e: tokio_postgres::Error) -> MetaError {
    let transient = if let Some(code) = e.code() {
        rolled_back(&e)
            || code.code().starts_with("08")
            || code.code().starts_with("57P")
            || [
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::QUERY_CANCELED,
                SqlState::LOCK_NOT_AVAILABLE,
            ]
            .contains(code)
    } else {
        e.is_closed()
            || std::error::Error::source(&e)
                .is_some_and(<dyn std::error::Error>::is::<std::io::Error>)
    };
    if transient { MetaError::Unavailable(Box::new(e)) } else { MetaError::Backend(Box::new(e)) }
}

/// Maps `e`, first removing `client` from the pool if its connection is dead, so that the next
/// caller gets a fresh one.
fn broken(client: deadpool_postgres::Object, e: tokio_postgres::Error) -> MetaError {
    if e.is_closed() || client.is_closed() {
        drop(deadpool_postgres::Object::take(client));
    }
    pg_error(e)
}

/// Ends a read transaction: commits after success, rolls back after a failure; a connection
/// that cannot end it leaves the pool.
async fn finish<T>(
    client: deadpool_postgres::Object,
    r: Result<T, MetaError>,
) -> Result<T, MetaError> {
    let end = if r.is_ok() { "COMMIT" } else { "ROLLBACK" };
    match client.batch_execute(end).await {
        Ok(()) => r,
        Err(e) => {
            drop(deadpool_postgres::Object::take(client));
            r.and(Err(pg_error(e)))
        }
    }
}

fn backend(msg: &str) -> MetaError {
    MetaError::Backend(msg.into())
}

fn to_nanos(t: SystemTime) -> Result<i64, MetaError> {
    let n = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()),
        Err(e) => i64::try_from(e.duration().as_nanos()).map(|n| -n),
    };
    n.map_err(|_| backend("time out of range"))
}

fn from_nanos(n: i64) -> SystemTime {
    let d = Duration::from_nanos(n.unsigned_abs());
    if n >= 0 { SystemTime::UNIX_EPOCH + d } else { SystemTime::UNIX_EPOCH - d }
}

fn to_i64(n: u64) -> Result<i64, MetaError> {
    i64::try_from(n).map_err(|_| backend("size out of range"))
}

fn to_u64(n: i64) -> Result<u64, MetaError> {
    u64::try_from(n).map_err(|_| backend("negative size in the database"))
}

fn to_u32(n: i32) -> Result<u32, MetaError> {
    u32::try_from(n).map_err(|_| backend("negative part number in the database"))
}

fn key_of(bytes: Vec<u8>) -> Result<String, MetaError> {
    String::from_utf8(bytes).map_err(|_| backend("object key in the database is not UTF-8"))
}

type Pairs = Vec<(String, String)>;

fn pairs_to_json(p: &Pairs) -> Result<String, MetaError> {
    serde_json::to_string(p).map_err(|e| MetaError::Backend(Box::new(e)))
}

fn pairs_of(s: &str) -> Result<Pairs, MetaError> {
    serde_json::from_str(s).map_err(|e| MetaError::Backend(Box::new(e)))
}

/// One element of `objects.parts`.
#[derive(serde::Serialize, serde::Deserialize)]
struct PartJson {
    n: u32,
    b: String,
    o: u64,
    s: u64,
    e: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    /// The part salt of an encrypted part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
}

fn parts_to_json(parts: &[ObjectPart]) -> Result<String, MetaError> {
    let rows: Vec<PartJson> = parts
        .iter()
        .map(|p| PartJson {
            n: p.part_number,
            b: p.blob_id.clone(),
            o: p.blob_offset,
            s: p.size,
            e: p.etag.clone(),
            c: p.checksum.clone(),
            k: p.salt.clone(),
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| MetaError::Backend(Box::new(e)))
}

fn parts_of(s: &str) -> Result<Vec<ObjectPart>, MetaError> {
    let rows: Vec<PartJson> =
        serde_json::from_str(s).map_err(|e| MetaError::Backend(Box::new(e)))?;
    Ok(rows
        .into_iter()
        .map(|p| ObjectPart {
            part_number: p.n,
            blob_id: p.b,
            blob_offset: p.o,
            size: p.s,
            etag: p.e,
            checksum: p.c,
            salt: p.k,
        })
        .collect())
}

fn condition(c: &WriteCondition) -> (i16, Option<&str>) {
    match c {
        WriteCondition::None => (0, None),
        WriteCondition::IfNoneMatchAny => (1, None),
        WriteCondition::IfMatch(etag) => (2, Some(etag.as_str())),
    }
}

/// The outcome of a write function: (status, [replaced,] retired).
fn outcome(row: &Row, has_replaced: bool) -> Result<CommitOutcome, MetaError> {
    let status: String = row.try_get("status").map_err(pg_error)?;
    match status.as_str() {
        "ok" => {}
        "NoSuchBucket" => return Err(MetaError::NoSuchBucket),
        "NoSuchUpload" => return Err(MetaError::NoSuchUpload),
        "NoSuchKey" => return Err(MetaError::NoSuchKey),
        "PreconditionFailed" => return Err(MetaError::PreconditionFailed),
        "BucketNotEmpty" => return Err(MetaError::BucketNotEmpty),
        "Conflict" => return Err(MetaError::Conflict),
        "ObjectLocked" => return Err(MetaError::ObjectLocked),
        "IdempotencyMismatch" => return Err(MetaError::IdempotencyMismatch),
        other => return Err(MetaError::Backend(format!("unknown write status {other}").into())),
    }
    let replaced = if has_replaced { row.try_get("replaced").map_err(pg_error)? } else { false };
    let retired_blobs: Vec<String> = row.try_get("retired").map_err(pg_error)?;
    Ok(CommitOutcome { retired_blobs, replaced, ..CommitOutcome::default() })
}

fn user_row(r: &Row) -> Result<User, MetaError> {
    Ok(User {
        name: r.try_get(0).map_err(pg_error)?,
        access_key_id: r.try_get(1).map_err(pg_error)?,
        secret_key: r.try_get(2).map_err(pg_error)?,
        is_root: r.try_get(3).map_err(pg_error)?,
        created: from_nanos(r.try_get(4).map_err(pg_error)?),
    })
}

const BUCKET_COLS: &str = "name, owner, region, created, versioning";

fn versioning_code(v: Versioning) -> i16 {
    match v {
        Versioning::Unversioned => 0,
        Versioning::Enabled => 1,
        Versioning::Suspended => 2,
    }
}

fn bucket_row(r: &Row) -> Result<Bucket, MetaError> {
    let versioning: i16 = r.try_get(4).map_err(pg_error)?;
    Ok(Bucket {
        name: r.try_get(0).map_err(pg_error)?,
        owner: r.try_get(1).map_err(pg_error)?,
        region: r.try_get(2).map_err(pg_error)?,
        created: from_nanos(r.try_get(3).map_err(pg_error)?),
        versioning: match versioning {
            1 => Versioning::Enabled,
            2 => Versioning::Suspended,
            _ => Versioning::Unversioned,
        },
    })
}

/// The columns of a version listing row, and the row.
const VERSION_COLS: &str = "key, version_id, is_latest, is_delete_marker, size, etag, \
    last_modified, owner, checksum_algorithm, seq, storage_class";

fn version_row(r: &Row) -> Result<VersionRow, MetaError> {
    Ok(VersionRow {
        seq: r.try_get(9).map_err(pg_error)?,
        summary: VersionSummary {
            key: key_of(r.try_get(0).map_err(pg_error)?)?,
            version_id: r.try_get(1).map_err(pg_error)?,
            is_latest: r.try_get(2).map_err(pg_error)?,
            is_delete_marker: r.try_get(3).map_err(pg_error)?,
            size: to_u64(r.try_get(4).map_err(pg_error)?)?,
            etag: r.try_get(5).map_err(pg_error)?,
            last_modified: from_nanos(r.try_get(6).map_err(pg_error)?),
            owner: r.try_get(7).map_err(pg_error)?,
            checksum_algorithm: r.try_get(8).map_err(pg_error)?,
            storage_class: r.try_get(10).map_err(pg_error)?,
        },
    })
}

const UPLOAD_COLS: &str = "upload_id, bucket, key, initiated, owner, headers, tags, checksum_algorithm, checksum_type, \
     encryption, object_lock, acl, storage_class";

fn upload_row(r: &Row) -> Result<Upload, MetaError> {
    let headers: String = r.try_get(5).map_err(pg_error)?;
    let tags: String = r.try_get(6).map_err(pg_error)?;
    Ok(Upload {
        upload_id: r.try_get(0).map_err(pg_error)?,
        bucket: r.try_get(1).map_err(pg_error)?,
        key: key_of(r.try_get(2).map_err(pg_error)?)?,
        initiated: from_nanos(r.try_get(3).map_err(pg_error)?),
        owner: r.try_get(4).map_err(pg_error)?,
        headers: pairs_of(&headers)?,
        tags: pairs_of(&tags)?,
        checksum_algorithm: r.try_get(7).map_err(pg_error)?,
        checksum_type: r.try_get(8).map_err(pg_error)?,
        encryption: r.try_get(9).map_err(pg_error)?,
        lock: ObjectLock::from_column(
            r.try_get::<_, Option<String>>(10).map_err(pg_error)?.as_deref(),
        )?,
        acl: r.try_get(11).map_err(pg_error)?,
        storage_class: r.try_get(12).map_err(pg_error)?,
    })
}

fn part_row(r: &Row) -> Result<Part, MetaError> {
    Ok(Part {
        part_number: to_u32(r.try_get(0).map_err(pg_error)?)?,
        blob_id: r.try_get(1).map_err(pg_error)?,
        blob_offset: to_u64(r.try_get(2).map_err(pg_error)?)?,
        size: to_u64(r.try_get(3).map_err(pg_error)?)?,
        etag: r.try_get(4).map_err(pg_error)?,
        checksum: r.try_get(5).map_err(pg_error)?,
        last_modified: from_nanos(r.try_get(6).map_err(pg_error)?),
        salt: r.try_get(7).map_err(pg_error)?,
    })
}

fn summary_row(r: &Row) -> Result<ObjectSummary, MetaError> {
    Ok(ObjectSummary {
        key: key_of(r.try_get(0).map_err(pg_error)?)?,
        size: to_u64(r.try_get(1).map_err(pg_error)?)?,
        etag: r.try_get(2).map_err(pg_error)?,
        last_modified: from_nanos(r.try_get(3).map_err(pg_error)?),
        owner: r.try_get(4).map_err(pg_error)?,
        checksum_algorithm: r.try_get(5).map_err(pg_error)?,
        storage_class: r.try_get(6).map_err(pg_error)?,
    })
}

/// The range query of one listing seek (`op` is `>` or `>=`).
fn fetch_sql(op: &str, bounded: bool) -> String {
    let (upper, limit) = if bounded { ("AND key < $3", "$4") } else { ("", "$3") };
    format!(
        "SELECT key, size, etag, last_modified, owner, checksum_algorithm, storage_class \
         FROM objects WHERE bucket = $1 AND is_latest AND NOT is_delete_marker AND key {op} $2 {upper} \
         ORDER BY key LIMIT {limit}"
    )
}

const KMS_COLS: &str = "key_id, alias, description, enabled, created, material";

fn kms_row(r: &Row) -> Result<KmsKeyRow, MetaError> {
    Ok(KmsKeyRow {
        key_id: r.try_get(0).map_err(pg_error)?,
        alias: r.try_get(1).map_err(pg_error)?,
        description: r.try_get(2).map_err(pg_error)?,
        enabled: r.try_get(3).map_err(pg_error)?,
        created_unix_seconds: r.try_get(4).map_err(pg_error)?,
        material: r.try_get(5).map_err(pg_error)?,
    })
}

/// Puts `found` (a subset of `ids`) in the order of `ids`; a repeated id appears once, or as
/// often as in `ids` with `repeat`.
fn in_order_of(ids: &[String], found: Vec<String>, repeat: bool) -> Vec<String> {
    let found: std::collections::HashSet<String> = found.into_iter().collect();
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .filter(|id| found.contains(*id) && (repeat || seen.insert(id.as_str())))
        .cloned()
        .collect()
}

impl MetadataStore for PostgresMetadata {
    async fn create_user(&self, user: User) -> Result<(), MetaError> {
        let created = to_nanos(user.created)?;
        // One statement: the user and its first key, or neither.
        let r = self
            .execute(
                "WITH u AS (INSERT INTO users (name, is_root, created) \
                   SELECT $1::text, $4::boolean, $5::bigint \
                   WHERE NOT EXISTS (SELECT 1 FROM retired_users WHERE name = $1::text) \
                   RETURNING name) \
                 INSERT INTO access_keys (access_key_id, user_name, secret_key, active, created) \
                 SELECT $2::text, name, $3::text, true, $5::bigint FROM u",
                &[&user.name, &user.access_key_id, &user.secret_key, &user.is_root, &created],
            )
            .await;
        match r {
            Ok(0) => Err(MetaError::UserExists),
            Ok(_) => Ok(()),
            Err(MetaError::Backend(e)) if is_unique_violation(&*e) => Err(MetaError::UserExists),
            Err(e) => Err(e),
        }
    }

    async fn delete_user(&self, name: &str) -> Result<(), MetaError> {
        // Retired first: a failure between the two statements leaves the user in place with
        // its name already retired, which a repeated removal completes. Keys, memberships and
        // attachments go with the user (ON DELETE CASCADE).
        self.execute(
            "INSERT INTO retired_users (name) SELECT name FROM users WHERE name = $1 AND NOT is_root \
             ON CONFLICT DO NOTHING",
            &[&name],
        )
        .await?;
        match self.execute("DELETE FROM users WHERE name = $1", &[&name]).await? {
            0 => Err(MetaError::NoSuchUser),
            _ => Ok(()),
        }
    }

    async fn list_users(&self) -> Result<Vec<User>, MetaError> {
        let rows = self
            .read(
                "SELECT u.name, coalesce(k.access_key_id, ''), coalesce(k.secret_key, ''), \
                   u.is_root, u.created FROM users u \
                 LEFT JOIN LATERAL (SELECT access_key_id, secret_key FROM access_keys \
                   WHERE user_name = u.name ORDER BY created, access_key_id LIMIT 1) k ON true \
                 ORDER BY u.name",
                &[],
            )
            .await?;
        rows.iter().map(user_row).collect()
    }

    async fn user_by_access_key(&self, access_key_id: &str) -> Result<Option<User>, MetaError> {
        let row = self
            .opt(
                "SELECT u.name, k.access_key_id, k.secret_key, u.is_root, u.created \
                 FROM access_keys k JOIN users u ON u.name = k.user_name \
                 WHERE k.access_key_id = $1 AND k.active",
                &[&access_key_id],
            )
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    async fn key_access(&self, access_key_id: &str) -> Result<Option<KeyAccess>, MetaError> {
        let client = self.snapshot().await?;
        let r = iam::key_access(&client, access_key_id).await;
        finish(client, r).await
    }

    async fn change_iam(&self, change: IamChange) -> Result<(), MetaError> {
        let client = self.client().await?;
        if let Err(e) =
            client.batch_execute("START TRANSACTION ISOLATION LEVEL READ COMMITTED").await
        {
            return Err(broken(client, e));
        }
        let r = iam::change(&client, &change).await.map_err(|e| iam::settle(&change, e));
        finish(client, r).await
    }

    async fn iam_state(&self) -> Result<IamState, MetaError> {
        let client = self.snapshot().await?;
        let r = iam::state(&client).await;
        finish(client, r).await
    }

    async fn create_bucket(&self, bucket: Bucket) -> Result<(), MetaError> {
        let created = to_nanos(bucket.created)?;
        let row = self
            .one(
                "WITH ins AS (INSERT INTO buckets (name, owner, region, created, versioning) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM ins), (SELECT owner FROM buckets WHERE name = $1)",
                &[
                    &bucket.name,
                    &bucket.owner,
                    &bucket.region,
                    &created,
                    &versioning_code(bucket.versioning),
                ],
            )
            .await?;
        let inserted: bool = row.try_get(0).map_err(pg_error)?;
        let owner: Option<String> = row.try_get(1).map_err(pg_error)?;
        match (inserted, owner) {
            (true, _) => Ok(()),
            (false, Some(owner)) => Err(MetaError::BucketExists { owner }),
            // Created by a transaction that committed after this statement's snapshot.
            (false, None) => Err(MetaError::Conflict),
        }
    }

    async fn bucket(&self, name: &str) -> Result<Option<Bucket>, MetaError> {
        let row = self
            .opt(&format!("SELECT {BUCKET_COLS} FROM buckets WHERE name = $1"), &[&name])
            .await?;
        row.as_ref().map(bucket_row).transpose()
    }

    async fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<(), MetaError> {
        let row = self
            .one(
                "SELECT status FROM s3gate_set_versioning($1, $2)",
                &[&name, &versioning_code(versioning)],
            )
            .await?;
        let status: String = row.try_get("status").map_err(pg_error)?;
        match status.as_str() {
            "ok" => Ok(()),
            "NoSuchBucket" => Err(MetaError::NoSuchBucket),
            "Conflict" => Err(MetaError::Conflict),
            other => Err(MetaError::Backend(format!("unknown write status {other}").into())),
        }
    }

    async fn delete_bucket(&self, name: &str) -> Result<CommitOutcome, MetaError> {
        let now = to_nanos(SystemTime::now())?;
        let row = self
            .one("SELECT status, retired FROM s3gate_delete_bucket($1, $2)", &[&name, &now])
            .await?;
        outcome(&row, false)
    }

    async fn list_buckets(&self, owner: Option<&str>) -> Result<Vec<Bucket>, MetaError> {
        let rows = if let Some(owner) = owner {
            self.read(
                &format!("SELECT {BUCKET_COLS} FROM buckets WHERE owner = $1 ORDER BY name"),
                &[&owner],
            )
            .await?
        } else {
            self.read(&format!("SELECT {BUCKET_COLS} FROM buckets ORDER BY name"), &[]).await?
        };
        rows.iter().map(bucket_row).collect()
    }

    async fn insert_kms_key(&self, key: KmsKeyRow) -> Result<(), MetaError> {
        let r = self
            .execute(
                &format!("INSERT INTO kms_keys ({KMS_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"),
                &[
                    &key.key_id,
                    &key.alias,
                    &key.description,
                    &key.enabled,
                    &key.created_unix_seconds,
                    &key.material,
                ],
            )
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(MetaError::Backend(e)) if is_unique_violation(&*e) => Err(MetaError::KmsKeyExists),
            Err(e) => Err(e),
        }
    }

    async fn kms_key(&self, key_id: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        let sql = format!("SELECT {KMS_COLS} FROM kms_keys WHERE key_id = $1");
        self.opt(&sql, &[&key_id]).await?.as_ref().map(kms_row).transpose()
    }

    async fn kms_key_by_alias(&self, alias: &str) -> Result<Option<KmsKeyRow>, MetaError> {
        let sql = format!("SELECT {KMS_COLS} FROM kms_keys WHERE alias = $1");
        self.opt(&sql, &[&alias]).await?.as_ref().map(kms_row).transpose()
    }

    async fn kms_keys(&self) -> Result<Vec<KmsKeyRow>, MetaError> {
        let sql = format!("SELECT {KMS_COLS} FROM kms_keys ORDER BY key_id COLLATE \"C\"");
        self.read(&sql, &[]).await?.iter().map(kms_row).collect()
    }

    async fn set_kms_key_enabled(&self, key_id: &str, enabled: bool) -> Result<bool, MetaError> {
        let sql = "UPDATE kms_keys SET enabled = $2 WHERE key_id = $1";
        Ok(self.execute(sql, &[&key_id, &enabled]).await? > 0)
    }

    async fn set_kms_key_material(
        &self,
        key_id: &str,
        material: Vec<u8>,
    ) -> Result<bool, MetaError> {
        let sql = "UPDATE kms_keys SET material = $2 WHERE key_id = $1";
        Ok(self.execute(sql, &[&key_id, &material]).await? > 0)
    }

    async fn bucket_config(&self, bucket: &str, kind: &str) -> Result<Option<String>, MetaError> {
        let row = self
            .opt(
                "SELECT document FROM bucket_configs WHERE bucket = $1 AND kind = $2",
                &[&bucket, &kind],
            )
            .await?;
        row.map(|r| r.try_get(0).map_err(pg_error)).transpose()
    }

    async fn put_bucket_config(
        &self,
        bucket: &str,
        kind: &str,
        document: Option<String>,
    ) -> Result<(), MetaError> {
        // One statement: the bucket row is share-locked so a concurrent DeleteBucket either
        // runs first (NoSuchBucket) or after (and cascades the document away).
        let sql = if document.is_some() {
            "WITH b AS (SELECT 1 FROM buckets WHERE name = $1 FOR KEY SHARE), \
             w AS (INSERT INTO bucket_configs (bucket, kind, document) SELECT $1, $2, $3 FROM b \
                   ON CONFLICT (bucket, kind) DO UPDATE SET document = excluded.document \
                   RETURNING 1) \
             SELECT EXISTS (SELECT 1 FROM b)"
        } else {
            "WITH b AS (SELECT 1 FROM buckets WHERE name = $1 FOR KEY SHARE), \
             w AS (DELETE FROM bucket_configs WHERE bucket = $1 AND kind = $2 \
                   AND EXISTS (SELECT 1 FROM b) AND $3::text IS NULL RETURNING 1) \
             SELECT EXISTS (SELECT 1 FROM b)"
        };
        let row = self.one(sql, &[&bucket, &kind, &document]).await?;
        let exists: bool = row.try_get(0).map_err(pg_error)?;
        if exists { Ok(()) } else { Err(MetaError::NoSuchBucket) }
    }

    async fn bucket_configs(&self, bucket: &str) -> Result<Vec<(String, String)>, MetaError> {
        let rows = self
            .read(
                "SELECT kind, document FROM bucket_configs WHERE bucket = $1 ORDER BY kind",
                &[&bucket],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(pg_error)?, r.try_get(1).map_err(pg_error)?)))
            .collect()
    }

    async fn put_object(
        &self,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        self.commit_version(None, &version, &condition).await
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectVersion>, MetaError> {
        let v = self.object_version(bucket, key, None).await?;
        Ok(v.filter(|v| !v.is_delete_marker))
    }

    async fn object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectVersion>, MetaError> {
        let row = self
            .opt(
                "SELECT version_id, size, etag, last_modified, owner, headers, tags, \
                 checksum_algorithm, checksum_type, checksum, parts::text, is_delete_marker, \
                 encryption, object_lock, acl, storage_class FROM objects WHERE bucket = $1 \
                 AND key = $2 \
                 AND (version_id = $3 OR ($3::text IS NULL AND is_latest))",
                &[&bucket, &key.as_bytes(), &version_id],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        let headers: String = r.try_get(5).map_err(pg_error)?;
        let tags: String = r.try_get(6).map_err(pg_error)?;
        let parts: String = r.try_get(10).map_err(pg_error)?;
        Ok(Some(ObjectVersion {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: r.try_get(0).map_err(pg_error)?,
            is_delete_marker: r.try_get(11).map_err(pg_error)?,
            size: to_u64(r.try_get(1).map_err(pg_error)?)?,
            etag: r.try_get(2).map_err(pg_error)?,
            last_modified: from_nanos(r.try_get(3).map_err(pg_error)?),
            owner: r.try_get(4).map_err(pg_error)?,
            headers: pairs_of(&headers)?,
            tags: pairs_of(&tags)?,
            checksum_algorithm: r.try_get(7).map_err(pg_error)?,
            checksum_type: r.try_get(8).map_err(pg_error)?,
            checksum: r.try_get(9).map_err(pg_error)?,
            parts: parts_of(&parts)?,
            encryption: r.try_get(12).map_err(pg_error)?,
            lock: ObjectLock::from_column(
                r.try_get::<_, Option<String>>(13).map_err(pg_error)?.as_deref(),
            )?,
            acl: r.try_get(14).map_err(pg_error)?,
            storage_class: r.try_get(15).map_err(pg_error)?,
        }))
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        opts: DeleteOptions,
    ) -> Result<CommitOutcome, MetaError> {
        let (kind, etag) = self::condition(&opts.condition);
        let now = to_nanos(SystemTime::now())?;
        let last_modified = to_nanos(opts.now)?;
        let rand = format!("{:016x}", random_u64());
        let row = self
            .one(
                "SELECT status, replaced, retired, vid, dm FROM s3gate_delete_object_locked($1, \
                 $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &bucket,
                    &key.as_bytes(),
                    &opts.version_id,
                    &kind,
                    &etag,
                    &opts.owner,
                    &last_modified,
                    &now,
                    &rand,
                    &last_modified,
                    &opts.bypass_governance,
                ],
            )
            .await?;
        let mut out = outcome(&row, true)?;
        out.version_id = row.try_get("vid").map_err(pg_error)?;
        out.delete_marker = row.try_get("dm").map_err(pg_error)?;
        Ok(out)
    }

    async fn rename_object(
        &self,
        bucket: &str,
        source_key: &str,
        key: &str,
        opts: RenameOptions,
    ) -> Result<CommitOutcome, MetaError> {
        let (src_kind, src_etag) = self::condition(&opts.source_condition);
        let (kind, etag) = self::condition(&opts.condition);
        let lock = opts.lock.to_column();
        let at = to_nanos(opts.now)?;
        let ttl = i64::try_from(RENAME_TOKEN_TTL.as_nanos()).unwrap_or(i64::MAX);
        let now = to_nanos(SystemTime::now())?;
        let rand = format!("{:016x}", random_u64());
        let rand_marker = format!("{:016x}", random_u64());
        let row = self
            .one(
                "SELECT status, replaced, retired, vid FROM s3gate_rename_object_class($1, $2, $3, $4,                  $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                &[
                    &bucket,
                    &source_key.as_bytes(),
                    &key.as_bytes(),
                    &src_kind,
                    &src_etag,
                    &kind,
                    &etag,
                    &lock,
                    &opts.owner,
                    &at,
                    &opts.client_token,
                    &ttl,
                    &now,
                    &rand,
                    &rand_marker,
                ],
            )
            .await?;
        let mut out = outcome(&row, true)?;
        out.version_id = row.try_get("vid").map_err(pg_error)?;
        Ok(out)
    }

    async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> Result<String, MetaError> {
        let row = self
            .one(
                "SELECT status, version_id FROM s3gate_set_object_acl($1, $2, $3, $4)",
                &[&bucket, &key.as_bytes(), &version_id, &acl],
            )
            .await?;
        let status: String = row.try_get("status").map_err(pg_error)?;
        match status.as_str() {
            "ok" => row.try_get("version_id").map_err(pg_error),
            "NoSuchBucket" => Err(MetaError::NoSuchBucket),
            "NoSuchKey" => Err(MetaError::NoSuchKey),
            other => Err(MetaError::Backend(format!("unknown write status {other}").into())),
        }
    }

    async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<String, MetaError> {
        let tags = pairs_to_json(&tags)?;
        let row = self
            .one(
                "SELECT status, version_id FROM s3gate_set_object_tags($1, $2, $3, $4)",
                &[&bucket, &key.as_bytes(), &version_id, &tags],
            )
            .await?;
        let status: String = row.try_get("status").map_err(pg_error)?;
        match status.as_str() {
            "ok" => row.try_get("version_id").map_err(pg_error),
            "NoSuchBucket" => Err(MetaError::NoSuchBucket),
            "NoSuchKey" => Err(MetaError::NoSuchKey),
            other => Err(MetaError::Backend(format!("unknown write status {other}").into())),
        }
    }

    async fn encrypted_versions(
        &self,
        after: Option<(&str, &str, &str)>,
        limit: u32,
    ) -> Result<Vec<EncryptedVersion>, MetaError> {
        let (b, k, v) = after.unwrap_or(("", "", ""));
        let rows = self
            .read(
                "SELECT bucket, key, version_id, encryption FROM objects \
                 WHERE encryption IS NOT NULL AND ($4 OR (bucket, key, version_id) > ($1, $2, $3)) \
                 ORDER BY bucket, key, version_id LIMIT $5",
                &[&b, &k.as_bytes(), &v, &after.is_none(), &i64::from(limit)],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(EncryptedVersion {
                    bucket: r.try_get("bucket").map_err(pg_error)?,
                    key: key_of(r.try_get("key").map_err(pg_error)?)?,
                    version_id: r.try_get("version_id").map_err(pg_error)?,
                    encryption: r.try_get("encryption").map_err(pg_error)?,
                })
            })
            .collect()
    }

    async fn replace_encryption(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        expected: &str,
        record: String,
    ) -> Result<bool, MetaError> {
        let n = self
            .execute(
                "UPDATE objects SET encryption = $5 \
                 WHERE bucket = $1 AND key = $2 AND version_id = $3 AND encryption = $4",
                &[&bucket, &key.as_bytes(), &version_id, &expected, &record],
            )
            .await?;
        Ok(n == 1)
    }

    async fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: LockChange,
        now: SystemTime,
    ) -> Result<String, MetaError> {
        // The rules are decided in Rust (ObjectLock::changed) and committed by a
        // compare-and-swap on the lock column of that exact version: a concurrent change makes
        // the swap miss, and the change is decided again on what it wrote.
        for _ in 0..WRITE_RETRIES + 3 {
            if self.opt("SELECT 1 FROM buckets WHERE name = $1", &[&bucket]).await?.is_none() {
                return Err(MetaError::NoSuchBucket);
            }
            let row = self
                .opt(
                    "SELECT version_id, object_lock FROM objects WHERE bucket = $1 AND key = $2 \
                     AND (version_id = $3 OR ($3::text IS NULL AND is_latest)) \
                     AND NOT is_delete_marker",
                    &[&bucket, &key.as_bytes(), &version_id],
                )
                .await?;
            let Some(r) = row else { return Err(MetaError::NoSuchKey) };
            let id: String = r.try_get(0).map_err(pg_error)?;
            let old: Option<String> = r.try_get(1).map_err(pg_error)?;
            let new = ObjectLock::from_column(old.as_deref())?.changed(change, now)?.to_column();
            let swapped = self
                .execute(
                    "UPDATE objects SET object_lock = $5 WHERE bucket = $1 AND key = $2 \
                     AND version_id = $3 AND object_lock IS NOT DISTINCT FROM $4",
                    &[&bucket, &key.as_bytes(), &id, &old, &new],
                )
                .await?;
            if swapped == 1 {
                return Ok(id);
            }
        }
        Err(MetaError::Conflict)
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage, MetaError> {
        let tx = self.snapshot().await?;
        let r = async {
            let st = tx
                .prepare_cached("SELECT 1 FROM buckets WHERE name = $1")
                .await
                .map_err(pg_error)?;
            if tx.query_opt(&st, &[&bucket]).await.map_err(pg_error)?.is_none() {
                return Err(MetaError::NoSuchBucket);
            }
            let mut lister = Lister::new(query);
            let mut rows = Vec::new();
            while let Some(seek) = lister.seek() {
                let (op, low) = match &seek.lower {
                    std::ops::Bound::Included(s) => (">=", s.as_str()),
                    std::ops::Bound::Excluded(s) => (">", s.as_str()),
                    std::ops::Bound::Unbounded => (">=", ""),
                };
                let limit = i64::try_from(seek.limit).unwrap_or(i64::MAX);
                let st = tx
                    .prepare_cached(&fetch_sql(op, seek.upper.is_some()))
                    .await
                    .map_err(pg_error)?;
                self.seeks.fetch_add(1, Ordering::Relaxed);
                let low = low.as_bytes();
                let found = if let Some(upper) = &seek.upper {
                    tx.query(&st, &[&bucket, &low, &upper.as_bytes(), &limit]).await
                } else {
                    tx.query(&st, &[&bucket, &low, &limit]).await
                }
                .map_err(pg_error)?;
                rows.clear();
                for r in &found {
                    rows.push(summary_row(r)?);
                }
                lister.feed(&mut rows);
            }
            Ok(lister.into_page())
        }
        .await;
        finish(tx, r).await
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        query: &VersionListQuery,
    ) -> Result<VersionPage, MetaError> {
        let tx = self.snapshot().await?;
        let r = async {
            let st = tx
                .prepare_cached("SELECT 1 FROM buckets WHERE name = $1")
                .await
                .map_err(pg_error)?;
            if tx.query_opt(&st, &[&bucket]).await.map_err(pg_error)?.is_none() {
                return Err(MetaError::NoSuchBucket);
            }
            let marker_seq: Option<i64> = match (&query.key_marker, &query.version_id_marker) {
                (Some(km), Some(id)) => {
                    let st = tx
                        .prepare_cached(
                            "SELECT seq FROM objects WHERE bucket = $1 AND key = $2 \
                             AND version_id = $3",
                        )
                        .await
                        .map_err(pg_error)?;
                    let row = tx
                        .query_opt(&st, &[&bucket, &km.as_bytes(), id])
                        .await
                        .map_err(pg_error)?;
                    row.map(|r| r.try_get(0).map_err(pg_error)).transpose()?
                }
                _ => None,
            };
            let mut lister = VersionLister::new(query, marker_seq);
            let mut rows = Vec::new();
            while let Some((seek, limit)) = lister.seek() {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                self.seeks.fetch_add(1, Ordering::Relaxed);
                let found = match &seek {
                    VersionSeek::Within { key, below } => {
                        let st = tx
                            .prepare_cached(&format!(
                                "SELECT {VERSION_COLS} FROM objects WHERE bucket = $1 \
                                 AND key = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4"
                            ))
                            .await
                            .map_err(pg_error)?;
                        tx.query(&st, &[&bucket, &key.as_bytes(), below, &limit]).await
                    }
                    VersionSeek::Keys { lower, upper } => {
                        let (op, low) = match lower {
                            std::ops::Bound::Included(s) => (">=", s.as_str()),
                            std::ops::Bound::Excluded(s) => (">", s.as_str()),
                            std::ops::Bound::Unbounded => (">=", ""),
                        };
                        // Bounded and unbounded are separate statements so that the upper
                        // bound ends the index range scan rather than filtering it.
                        let upper_sql = if upper.is_some() { "AND key < $4" } else { "" };
                        let st = tx
                            .prepare_cached(&format!(
                                "SELECT {VERSION_COLS} FROM objects WHERE bucket = $1 \
                                 AND key {op} $2 {upper_sql} ORDER BY key, seq DESC LIMIT $3"
                            ))
                            .await
                            .map_err(pg_error)?;
                        if let Some(upper) = upper {
                            let params: [&(dyn ToSql + Sync); 4] =
                                [&bucket, &low.as_bytes(), &limit, &upper.as_bytes()];
                            tx.query(&st, &params).await
                        } else {
                            tx.query(&st, &[&bucket, &low.as_bytes(), &limit]).await
                        }
                    }
                }
                .map_err(pg_error)?;
                rows.clear();
                for r in &found {
                    rows.push(version_row(r)?);
                }
                lister.feed(&mut rows);
            }
            Ok(lister.into_page())
        }
        .await;
        finish(tx, r).await
    }

    async fn create_upload(&self, upload: Upload) -> Result<(), MetaError> {
        let initiated = to_nanos(upload.initiated)?;
        let headers = pairs_to_json(&upload.headers)?;
        let tags = pairs_to_json(&upload.tags)?;
        let r = self
            .execute(
                &format!(
                    "INSERT INTO uploads ({UPLOAD_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                     $10, $11, $12, $13) \
                     ON CONFLICT (bucket, upload_id) DO NOTHING"
                ),
                &[
                    &upload.upload_id,
                    &upload.bucket,
                    &upload.key.as_bytes(),
                    &initiated,
                    &upload.owner,
                    &headers,
                    &tags,
                    &upload.checksum_algorithm,
                    &upload.checksum_type,
                    &upload.encryption,
                    &upload.lock.to_column(),
                    &upload.acl,
                    &upload.storage_class,
                ],
            )
            .await;
        match r {
            Ok(0) => Err(MetaError::Conflict),
            Ok(_) => Ok(()),
            Err(MetaError::Backend(e)) if is_foreign_key_violation(&*e) => {
                Err(MetaError::NoSuchBucket)
            }
            Err(e) => Err(e),
        }
    }

    async fn upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>, MetaError> {
        let row = self
            .opt(
                &format!("SELECT {UPLOAD_COLS} FROM uploads WHERE bucket = $1 AND upload_id = $2"),
                &[&bucket, &upload_id],
            )
            .await?;
        row.as_ref().map(upload_row).transpose()
    }

    async fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: Part,
    ) -> Result<CommitOutcome, MetaError> {
        let number =
            i32::try_from(part.part_number).map_err(|_| backend("part number out of range"))?;
        let offset = to_i64(part.blob_offset)?;
        let size = to_i64(part.size)?;
        let last_modified = to_nanos(part.last_modified)?;
        let now = to_nanos(SystemTime::now())?;
        let row = self
            .one(
                "SELECT status, replaced, retired FROM s3gate_put_part_sealed($1, $2, $3, $4, $5, $6, \
                 $7, $8, $9, $10, $11)",
                &[
                    &bucket,
                    &upload_id,
                    &number,
                    &part.blob_id,
                    &offset,
                    &size,
                    &part.etag,
                    &part.checksum,
                    &last_modified,
                    &now,
                    &part.salt,
                ],
            )
            .await?;
        outcome(&row, true)
    }

    async fn list_parts(
        &self,
        bucket: &str,
        upload_id: &str,
        after: u32,
        max: u32,
    ) -> Result<(Vec<Part>, bool), MetaError> {
        let max = max.min(list::MAX_PAGE);
        let after = i32::try_from(after).unwrap_or(i32::MAX);
        let limit = i64::from(max) + 1;
        let tx = self.snapshot().await?;
        let r = async {
            let st = tx
                .prepare_cached("SELECT 1 FROM uploads WHERE bucket = $1 AND upload_id = $2")
                .await
                .map_err(pg_error)?;
            if tx.query_opt(&st, &[&bucket, &upload_id]).await.map_err(pg_error)?.is_none() {
                return Err(MetaError::NoSuchUpload);
            }
            let st = tx
                .prepare_cached(
                    "SELECT part_number, blob_id, blob_offset, size, etag, checksum, last_modified, \
                     salt FROM upload_parts WHERE bucket = $1 AND upload_id = $2 AND part_number > $3 \
                     ORDER BY part_number LIMIT $4",
                )
                .await
                .map_err(pg_error)?;
            let rows =
                tx.query(&st, &[&bucket, &upload_id, &after, &limit]).await.map_err(pg_error)?;
            let mut parts = rows.iter().map(part_row).collect::<Result<Vec<_>, _>>()?;
            let more = parts.len() > max as usize;
            parts.truncate(max as usize);
            Ok((parts, more))
        }
        .await;
        finish(tx, r).await
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        query: &UploadListQuery,
    ) -> Result<UploadPage, MetaError> {
        let tx = self.snapshot().await?;
        let r = async {
            let st = tx
                .prepare_cached("SELECT 1 FROM buckets WHERE name = $1")
                .await
                .map_err(pg_error)?;
            if tx.query_opt(&st, &[&bucket]).await.map_err(pg_error)?.is_none() {
                return Err(MetaError::NoSuchBucket);
            }
            let marker: UploadMarker = match (&query.key_marker, &query.upload_id_marker) {
                (Some(km), Some(id)) => {
                    let st = tx
                        .prepare_cached(
                            "SELECT initiated FROM uploads WHERE bucket = $1 AND upload_id = $2 \
                             AND key = $3",
                        )
                        .await
                        .map_err(pg_error)?;
                    tx.query_opt(&st, &[&bucket, id, &km.as_bytes()])
                        .await
                        .map_err(pg_error)?
                        .map(|r| r.try_get::<_, i64>(0).map_err(pg_error))
                        .transpose()?
                        .map(|n| (from_nanos(n), id.clone()))
                }
                _ => None,
            };
            let start = match query.key_marker.as_deref() {
                Some(km) if km > query.prefix.as_str() => km,
                _ => query.prefix.as_str(),
            };
            let upper = list::prefix_end(&query.prefix);
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {UPLOAD_COLS} FROM uploads WHERE bucket = $1 AND key >= $2 \
                     AND ($3::bytea IS NULL OR key < $3) ORDER BY key, initiated, upload_id"
                ))
                .await
                .map_err(pg_error)?;
            let upper = upper.as_ref().map(String::as_bytes);
            let rows =
                tx.query(&st, &[&bucket, &start.as_bytes(), &upper]).await.map_err(pg_error)?;
            list::list_uploads(rows.iter().map(upload_row), query, &marker)
        }
        .await;
        finish(tx, r).await
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        version: ObjectVersion,
        condition: WriteCondition,
    ) -> Result<CommitOutcome, MetaError> {
        self.commit_version(Some(upload_id), &version, &condition).await
    }

    async fn abort_upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> Result<CommitOutcome, MetaError> {
        let now = to_nanos(SystemTime::now())?;
        let row = self
            .one(
                "SELECT status, retired FROM s3gate_abort_upload($1, $2, $3)",
                &[&bucket, &upload_id, &now],
            )
            .await?;
        outcome(&row, false)
    }

    async fn retired_blobs(
        &self,
        before: SystemTime,
        limit: u32,
    ) -> Result<Vec<RetiredBlob>, MetaError> {
        let before = to_nanos(before)?;
        let limit = i64::from(limit);
        let rows = self
            .read(
                "SELECT blob_id, retired_at FROM blobs WHERE retired_at IS NOT NULL \
                 AND retired_at <= $1 ORDER BY retired_at, blob_id LIMIT $2",
                &[&before, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RetiredBlob {
                    blob_id: r.try_get(0).map_err(pg_error)?,
                    retired_at: from_nanos(r.try_get(1).map_err(pg_error)?),
                })
            })
            .collect()
    }

    async fn forget_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        if blob_ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = to_nanos(SystemTime::now())?;
        let rows = self
            .read(
                "DELETE FROM blobs b WHERE blob_id = ANY($1) AND refs = 0 AND NOT EXISTS \
                 (SELECT 1 FROM blob_leases l WHERE l.blob_id = b.blob_id AND l.expires_at > $2) \
                 RETURNING blob_id",
                &[&blob_ids, &now],
            )
            .await?;
        let found =
            rows.iter().map(|r| r.try_get(0).map_err(pg_error)).collect::<Result<_, _>>()?;
        Ok(in_order_of(blob_ids, found, false))
    }

    async fn known_blobs(&self, blob_ids: &[String]) -> Result<Vec<String>, MetaError> {
        if blob_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows =
            self.read("SELECT blob_id FROM blobs WHERE blob_id = ANY($1)", &[&blob_ids]).await?;
        let found =
            rows.iter().map(|r| r.try_get(0).map_err(pg_error)).collect::<Result<_, _>>()?;
        Ok(in_order_of(blob_ids, found, true))
    }

    async fn renew_leases(
        &self,
        holder: &str,
        blob_ids: &[String],
        expires: SystemTime,
    ) -> Result<(), MetaError> {
        self.put_leases(holder, blob_ids, expires).await
    }
}

fn db_code<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a SqlState> {
    e.downcast_ref::<tokio_postgres::Error>().and_then(tokio_postgres::Error::code)
}

fn is_unique_violation(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    db_code(e) == Some(&SqlState::UNIQUE_VIOLATION)
}

fn is_foreign_key_violation(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    db_code(e) == Some(&SqlState::FOREIGN_KEY_VIOLATION)
}
